"""Garmin FIT files: the RR intervals of their HRV messages. Needs fitdecode (``pip install
"biobreath[research]"``), imported only here, when a FIT file is read.

A FIT file (the FIT protocol: a 12- or 14-byte header with ``.FIT`` at bytes 8-11, definition
and data records, a CRC) records RR intervals, when the device logs them (on Garmin watches,
"Log HRV"), in **HRV messages** (global message 78): field 0, ``time``, an array of up to 5 RR
intervals per message, unsigned 16-bit in 1/1000 s (so 1 ms resolution), 0xFFFF marking an
unused slot. The intervals are read in file order and laid end to end from the first (HRV
messages carry no timestamps). The CRCs are checked: a damaged or cut file is one line with the
byte offset where reading failed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biobreath.errors import SessionFileError
from biobreath.files.beatseries import check_rr
from biobreath.files.optional import brief, need
from biobreath.files.readers import RRRecording

FORMAT = "FIT file"
HRV_MESSAGE = 78
TIME_FIELD = 0
INVALID = 0xFFFF


def is_fit(head: bytes) -> bool:
    """A FIT header: size 12 or 14, ``.FIT`` at bytes 8-11."""
    return len(head) >= 12 and head[0] in (12, 14) and head[8:12] == b".FIT"


def read_fit(path: Path) -> list[RRRecording]:
    """The RR intervals of a FIT file's HRV messages (see the module doc)."""
    fitdecode = need("fitdecode", path, "reading FIT files")
    where = f"{path}: {FORMAT}"
    rr: list[int] = []
    where_from: list[int] = []
    n_msgs = 0
    try:
        with fitdecode.FitReader(str(path), check_crc=fitdecode.CrcCheck.RAISE,
                                 error_handling=fitdecode.ErrorHandling.RAISE) as reader:
            for frame in reader:
                if not isinstance(frame, fitdecode.FitDataMessage) or \
                        frame.global_mesg_num != HRV_MESSAGE:
                    continue
                n_msgs += 1
                for field in frame.fields:
                    if field.def_num != TIME_FIELD:
                        continue
                    raw = field.raw_value
                    values = raw if isinstance(raw, tuple | list) else (raw,)
                    for v in values:
                        if v is not None and v != INVALID:
                            rr.append(int(v))
                            where_from.append(n_msgs)
    except fitdecode.FitHeaderError as e:
        raise SessionFileError(f"{where}: bad header ({brief(e)})") from None
    except fitdecode.FitCRCError as e:
        raise SessionFileError(f"{where}: CRC mismatch, the file is damaged ({brief(e)})"
                               ) from None
    except fitdecode.FitEOFError as e:
        raise SessionFileError(f"{where}: cut short ({brief(e)})") from None
    except fitdecode.FitError as e:
        raise SessionFileError(f"{where}: damaged ({brief(e)})") from None
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:  # damaged bytes also fail inside the library's own decoding
        raise SessionFileError(f"{where}: damaged ({type(e).__name__}: {brief(e)})") from None
    if not rr:
        what = (f"{n_msgs} HRV messages without RR intervals" if n_msgs else
                "no HRV messages (message 78)")
        raise SessionFileError(f"{where}: {what}; the device did not log RR intervals (on Garmin "
                               "watches, turn on Log HRV)")
    ms = np.asarray(rr, dtype=float)
    check_rr(ms, np.asarray(where_from), where, "RR", at="HRV message {}")
    return [RRRecording(path, "fit", ms, np.cumsum(ms) / 1000.0, np.zeros(ms.size, bool), "s",
                        notes=(f"{FORMAT}: {ms.size} RR intervals from {n_msgs} HRV messages "
                               "(field 'time', 1 ms resolution), laid end to end",))]

"""Which format a beat file is in, from its content, and the reader for each.

Detection never goes by the file name alone; it looks at the content, first match wins:

==================  ===========================================================================
``session``         an SQLite file with biobreath's application id (a session recording)
``edf``             EDF/EDF+ (version ``0`` and a numeric header size) or BDF (``\\xffBIOSEMI``)
``fit``             a FIT header: size 12 or 14 and ``.FIT`` at bytes 8-11
``wfdb``            a ``.hea`` file whose first record line names the file's record; also any
                    other file of a record (``16265.atr``) or the bare record name, when the
                    header beside it is one
``biobreath-json``  a JSON object whose ``"format"`` is ``"biobreath-export"``
``kubios``          a Kubios HRV results file (a line starting ``Kubios HRV`` near the top)
``biobreath-csv``   the header ``time_s,rr_ms,rr_ticks,artifact,device,person``
``polar``           a header naming ``Phone timestamp`` and ``RR-interval [ms]``
``hrvlogger``       a header naming ``rr``, ``since start`` and ``date`` or ``timestamp``
``text``            anything else: plain RR text or CSV (:mod:`biobreath.files.readers`)
==================  ===========================================================================

``elitehrv`` (one RR in ms per line) is read only when named: the same content is detected as
``text`` and read the same way; ``kubios`` named on a file that is no results file reads it as
Kubios RR text (one RR column, or time and RR). ``csv`` and ``txt`` are other names for
``text``. The readers of EDF, WFDB and FIT need optional packages (``pip install
"biobreath[research]"``), imported only when such a file is read.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biobreath.errors import SessionFileError
from biobreath.files.edf import is_edf
from biobreath.files.fit import is_fit
from biobreath.files.readers import RRRecording
from biobreath.files.recording import is_session_file
from biobreath.files.rr_exports import is_hrv_logger, is_kubios_report, is_polar_sensor_logger
from biobreath.files.wfdb_records import looks_like_header, record_of

SNIFF_BYTES = 64 * 1024
BEATS_CSV_HEADER = "time_s,rr_ms,rr_ticks,artifact,device,person"
"""The header of the beats CSV that ``export --to csv`` writes."""
_JSON_EXPORT = re.compile(r'^\s*\{\s*"format"\s*:\s*"biobreath-export"')


@dataclass(frozen=True, slots=True)
class Format:
    """A format biobreath reads beats from: its name (``format=``), what it is, its reader
    (``module:function`` taking the path, returning the series) and the package it needs."""

    name: str
    title: str
    reader: str
    detected: bool = True
    package: str | None = None

    def read(self, path: Path) -> list[RRRecording]:
        module, function = self.reader.split(":")
        read: Callable[[Path], list[RRRecording]] = getattr(importlib.import_module(module),
                                                            function)
        return read(path)


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("session", "biobreath session file", "biobreath.files.readers:read_session_rr"),
    Format("text", "plain RR text or CSV (ms or s)", "biobreath.files.readers:read_text_rr"),
    Format("kubios", "Kubios HRV results (.txt) or Kubios RR text",
           "biobreath.files.rr_exports:read_kubios"),
    Format("polar", "Polar Sensor Logger RR file", "biobreath.files.rr_exports:"
           "read_polar_sensor_logger"),
    Format("hrvlogger", "HRV Logger RR file", "biobreath.files.rr_exports:read_hrv_logger"),
    Format("elitehrv", "Elite HRV export", "biobreath.files.rr_exports:read_elite_hrv",
           detected=False),
    Format("edf", "EDF/EDF+ (beat annotations or ECG)", "biobreath.files.edf:read_edf",
           package="pyedflib"),
    Format("wfdb", "WFDB record (beat annotations)", "biobreath.files.wfdb_records:read_wfdb",
           package="wfdb"),
    Format("fit", "Garmin FIT file (HRV messages)", "biobreath.files.fit:read_fit",
           package="fitdecode"),
    Format("biobreath-csv", "biobreath beats CSV export", "biobreath.files.export:read_beats_csv"),
    Format("biobreath-json", "biobreath JSON export", "biobreath.files.export:read_export_json"),
)}
ALIASES = {"csv": "text", "txt": "text", "edf+": "edf", "bdf": "edf", "json": "biobreath-json",
           "hrv-logger": "hrvlogger", "elite": "elitehrv", "elite-hrv": "elitehrv",
           "polar-sensor-logger": "polar"}
FORMAT_NAMES = tuple(FORMATS) + tuple(ALIASES)
"""Every name ``format=`` (and ``analyze --format``) accepts."""


def canonical(name: str, path: str | Path = "") -> str:
    """The registry name for ``name`` (an alias resolved), or one line listing the names."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in FORMATS:
        where = f"{path}: " if str(path) else ""
        raise SessionFileError(f"{where}unknown format {name!r}; known formats: "
                               f"{', '.join(FORMATS)}")
    return key


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#")), "")


def detect_format(path: str | Path) -> str:
    """The name of the format of the file at ``path``, from its content (see the module doc);
    one line if it is missing or unreadable. Anything unrecognised is ``text``."""
    path = Path(path)
    if not path.exists():
        if Path(f"{path}.hea").is_file() and _header_fits(path):
            return "wfdb"  # a WFDB record named without a suffix, as WFDB tools take it
        raise SessionFileError(f"{path}: no such file")
    if path.is_dir():
        raise SessionFileError(f"{path}: is a folder, not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if is_session_file(path):
        return "session"
    if is_edf(head):
        return "edf"
    if is_fit(head):
        return "fit"
    found = record_of(path)
    if found is not None and _header_fits(found[0]):
        return "wfdb"
    if head.startswith(b"SQLite format 3"):
        return "text"  # its reader says it is no session
    text = head.decode("utf-8-sig", errors="replace")
    if _JSON_EXPORT.match(text):
        return "biobreath-json"
    if is_kubios_report(text.splitlines()[:12]):
        return "kubios"
    first = _first_line(text)
    if first == BEATS_CSV_HEADER:
        return "biobreath-csv"
    if is_polar_sensor_logger(first):
        return "polar"
    if is_hrv_logger(first):
        return "hrvlogger"
    return "text"


def _header_fits(record: Path) -> bool:
    try:
        with open(f"{record}.hea", "rb") as f:
            text = f.read(SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    return looks_like_header(record, text)


def read_all(path: Path, format: str | None = None) -> list[RRRecording]:
    """Every series of beats in the file at ``path``, read as ``format`` (a name of
    :data:`FORMATS` or :data:`ALIASES`) or as its content says."""
    if format is None:
        name = detect_format(path)
    else:
        name = canonical(format, path)
        if not path.exists() and not (name == "wfdb" and Path(f"{path}.hea").is_file()):
            raise SessionFileError(f"{path}: no such file")
        if path.is_dir():
            raise SessionFileError(f"{path}: is a folder, not a file")
    return FORMATS[name].read(path)

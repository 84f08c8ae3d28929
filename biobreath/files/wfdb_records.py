"""WFDB records (PhysioNet): beats read from a beat annotation file, and the record that
``export --to wfdb`` writes. Needs the wfdb package (``pip install "biobreath[research]"``),
imported only here, when a record is read or written.

**Reading.** A record is named by its header (``16265.hea``), by any of its files
(``16265.atr``: then that annotation file is used), or by its name without a suffix
(``nsrdb/16265``), as WFDB tools do. The header's record line is checked first (one line naming
the field); then the beats come from the record's annotation file: the one named, else the first
of ``.atr``, ``.ecg`` (Fantasia, NSR2DB), ``.qrs``, ``.ann``, ... found beside the header. Only
beat codes count as beats (``N``, ``V``, ``A``, ``Q``, ...; rhythm, noise and comment
annotations do not); an interval next to a beat that is not ``N`` is flagged as an artifact (see
:mod:`biobreath.files.beatseries`). Sample numbers become seconds at the annotation file's own
time resolution if it states one, else the header's sampling frequency, from sample 0 (or from
where a ``time origin: sample 0 is X s`` comment, as biobreath writes, puts it). A record without
annotations but with an ECG signal gets R-peaks from biobreath's detector. Header comments
``device: ...`` and ``person: ...`` (biobreath's exports) name the strap and the person. NOTE
annotations (``"``) in the annotation file are the record's markers and protocol steps (see
:mod:`biobreath.files.annotations`), their text the aux string.

**Writing** (:func:`write_wfdb`): beat annotations (``N``; ``Q``, unclassifiable, for a beat
judged an artifact live) at 1024 samples per second, the strap's own resolution (1/1024 s), with
the ECG as a 1-signal record (µV, 1 µV per unit, at its own rate, invalid samples in gaps) when it
was recorded, else a header with no signals. Notes (a session's markers and protocol steps) are
comment annotations in the same file (code ``"``, NOTE), their text in the annotation's aux
string: one line, UTF-8, at most 255 bytes (the aux string's length is one byte). The wfdb
package reads each aux byte as a character: ``aux.encode("latin-1").decode("utf-8")`` restores a
note beyond ASCII. A note at the record's first sample is written at the second (1/1024 s
later): WFDB keeps the annotation file's own definitions in notes at sample 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np

from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.annotations import markers_of, steps_of
from biobreath.files.beatseries import BEAT_CODES, NORMAL_CODE, series_from_beats, series_from_ecg
from biobreath.files.optional import brief, need
from biobreath.files.readers import RRRecording
from biobreath.files.recording import cut_utf8, one_line, without_accents

FORMAT = "WFDB record"
ANNOTATION_FS = 1024.0
"""Samples per second of the annotations biobreath writes (the strap's 1/1024 s ticks)."""
NOTE_CODE = '"'
"""WFDB's comment annotation (NOTE): its text is the aux string."""
AUX_BYTES = 255
"""Longest aux string of a WFDB annotation (bytes)."""
ANNOTATION_EXTS = ("atr", "ecg", "qrs", "ann", "beat", "ari", "atr_", "sqrs", "wqrs", "gqrs",
                   "man", "pu", "pu0", "pu1")
SIGNAL_FILES = frozenset({"hea", "dat", "mat", "wav", "xyz"})
"""Files of a record that hold no annotations."""
OTHER_FILES = frozenset({"edf", "csv", "txt", "json", "sqlite", "fit", "zip", "gz", "png", "pdf",
                         "html", "md5", "sha256"})
"""Files that are no part of a WFDB record, whatever lies beside them."""
NOT_ANNOTATIONS = SIGNAL_FILES | OTHER_FILES
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def record_of(path: Path) -> tuple[Path, str | None] | None:
    """(the record path without a suffix, the annotation extension the path names) when
    ``path`` names a WFDB record: its header, one of its files beside a header, or the record
    name itself; else None."""
    if path.suffix.lower() == ".hea" and path.is_file():
        return path.with_suffix(""), None
    if not path.exists() and Path(f"{path}.hea").is_file():
        return path, None
    ext = path.suffix[1:]
    if path.is_file() and ext and ext.lower() not in OTHER_FILES \
            and path.with_suffix(".hea").is_file():
        return path.with_suffix(""), (None if ext.lower() in SIGNAL_FILES else ext)
    return None


def looks_like_header(record: Path, text: str) -> bool:
    """Whether ``text`` starts like the header of ``record``: its first line that is not a
    comment is a record line naming ``record`` with a whole number of signals."""
    line = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip()
                 .startswith("#")), "")
    tokens = line.split()
    return (len(tokens) >= 2 and tokens[0].split("/")[0] == record.name
            and tokens[1].isdigit())


def _check_record_line(record: Path, header: Path) -> list[str]:
    """The header's comment lines; one line naming the malformed field of its record line."""
    where = f"{header}: {FORMAT} header"
    try:
        text = header.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise SessionFileError(f"{header}: cannot read ({e.strerror or e})") from None
    lines = text.splitlines()
    at = next((k for k, ln in enumerate(lines) if ln.strip() and not ln.lstrip()
               .startswith("#")), None)
    if at is None:
        raise SessionFileError(f"{where}: no record line (the header is empty or all comments)")
    tokens = lines[at].split()
    name = tokens[0].split("/")
    if name[0] != record.name:
        raise SessionFileError(f"{where}: line {at + 1}: record name {name[0]!r} is not "
                               f"{record.name!r}, the file's name")
    if len(name) > 1:
        raise SessionFileError(f"{where}: line {at + 1}: a multi-segment record ({tokens[0]!r}); "
                               "read one of its segments")
    if len(tokens) < 2 or not tokens[1].isdigit():
        raise SessionFileError(f"{where}: line {at + 1}: number of signals "
                               f"{tokens[1] if len(tokens) > 1 else ''!r} is not a whole number")
    if len(tokens) > 2:
        fs = re.split(r"[/(]", tokens[2])[0]
        if not _NUMBER.fullmatch(fs) or not 0 < float(fs) < math.inf:
            raise SessionFileError(f"{where}: line {at + 1}: sampling frequency {tokens[2]!r} is "
                                   "not a positive number")
    if len(tokens) > 3 and not tokens[3].isdigit():
        raise SessionFileError(f"{where}: line {at + 1}: number of samples {tokens[3]!r} is not "
                               "a whole number")
    return [ln.lstrip()[1:].strip() for ln in lines if ln.lstrip().startswith("#")]


def _annotation_file(record: Path, named: str | None) -> str | None:
    if named is not None:
        return named
    for ext in ANNOTATION_EXTS:
        if Path(f"{record}.{ext}").is_file():
            return ext
    others = sorted(p.suffix[1:] for p in record.parent.glob(f"{record.name}.*")
                    if p.suffix and p.suffix[1:].lower() not in NOT_ANNOTATIONS
                    and p.stem == record.name)
    return others[0] if others else None


def read_wfdb(path: Path) -> list[RRRecording]:
    """The beats of a WFDB record (see the module doc)."""
    found = record_of(path)
    if found is None:
        raise SessionFileError(f"{path}: not a {FORMAT} (no header {path.with_suffix('.hea').name}"
                               " beside it)")
    record, named = found
    header = Path(f"{record}.hea")
    comments = _check_record_line(record, header)
    wfdb = need("wfdb", path, "reading WFDB records")
    where = f"{path}: {FORMAT} {record.name}"
    try:
        head = wfdb.rdheader(str(record))
    except Exception as e:  # the library's parser raises many kinds on a malformed header
        raise SessionFileError(f"{header}: {FORMAT} header: {brief(e)}") from None
    meta = {k.strip().lower(): v.strip() for k, _, v in (c.partition(":") for c in comments)}
    device = DeviceInfo(name=meta["device"]) if meta.get("device") else None
    person = meta.get("person", "")
    # biobreath's exports say where sample 0 lies on the session clock: times come back on it.
    found = re.match(r"sample 0 is (\S+) s", meta.get("time origin", ""))
    origin = float(found[1]) if found and _NUMBER.fullmatch(found[1]) else 0.0
    ext = _annotation_file(record, named)
    if ext is not None:
        ann_path = Path(f"{record}.{ext}")
        try:
            ann = wfdb.rdann(str(record), ext)
        except FileNotFoundError:
            raise SessionFileError(f"{where}: no annotation file {ann_path.name}") from None
        except Exception as e:  # a damaged binary file fails in many ways inside the library
            raise SessionFileError(f"{where}: annotation file {ann_path.name} is damaged "
                                   f"({brief(e)})") from None
        fs = float(ann.fs or head.fs or 0.0)
        if not fs > 0:
            raise SessionFileError(f"{where}: neither {ann_path.name} nor the header gives a "
                                   "sampling frequency")
        symbols = [str(s) for s in ann.symbol]
        beat = np.array([s in BEAT_CODES for s in symbols], dtype=bool)
        if not beat.any():
            raise SessionFileError(f"{where}: annotation file {ann_path.name} holds no beat "
                                   f"annotations ({len(symbols)} annotations, none a beat code "
                                   "such as N or V)")
        t = np.asarray(ann.sample, dtype=float)[beat] / fs + origin
        ours = bool(comments) and comments[0].startswith("biobreath")
        aux = ann.aux_note or [""] * len(symbols)
        noted = [(n / fs + origin, _aux_text(a)) for n, sym, a in
                 zip(ann.sample.tolist(), symbols, aux) if sym == NOTE_CODE]
        markers, steps = markers_of(noted, ours), steps_of(noted, ours)
        normal = np.array([s == NORMAL_CODE for s, b in zip(symbols, beat) if b], dtype=bool)
        rr, bt, art, notes = series_from_beats(t, normal, f"{where} ({ann_path.name})")
        notes = (f"{FORMAT}: beats from {int(beat.sum())} beat annotations in {ann_path.name} at "
                 f"{fs:g} samples/s (times to {1000 / fs:.3g} ms)", *notes)
        return [RRRecording(path, "wfdb", rr, bt, art, "samples", device=device, notes=notes,
                            person=person, markers=markers, steps=steps)]
    names = [str(n) for n in (head.sig_name or [])]
    ecg = next((i for i, n in enumerate(names) if _is_ecg(n)), None)
    if ecg is None:
        raise SessionFileError(f"{where}: no annotation file beside its header (looked for "
                               f"{', '.join('.' + e for e in ANNOTATION_EXTS[:4])}, ...) and no "
                               "ECG signal")
    try:
        rec = wfdb.rdrecord(str(record), channels=[ecg], physical=True)
    except Exception as e:  # damaged signal files fail in many ways inside the library
        raise SessionFileError(f"{where}: signal file is damaged ({brief(e)})") from None
    fs = float(rec.fs)
    unit = str((rec.units or ["uV"])[0]).lower().replace("µ", "u")
    factor = {"uv": 1.0, "mv": 1e3, "v": 1e6}.get(unit, 1.0)
    uv = rec.p_signal[:, 0] * factor
    rr, bt, art, notes = series_from_ecg(np.arange(uv.size) / fs + origin, uv, fs, where,
                                         names[ecg])
    return [RRRecording(path, "wfdb", rr, bt, art, "s", device=device, notes=notes,
                        person=person)]


def _aux_text(aux: str | None) -> str:
    """A note's aux string as text: the wfdb package hands each byte over as a character, and
    the bytes are UTF-8 (as biobreath writes them) or, in old records, Latin-1."""
    raw = (aux or "").encode("latin-1", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _is_ecg(label: str) -> bool:
    low = label.strip().lower()
    return "ecg" in low or "ekg" in low or low in ("i", "ii", "iii", "mlii", "v1", "v2", "v3",
                                                   "v4", "v5", "v6", "avr", "avl", "avf")


def record_name(text: str) -> str:
    """A valid WFDB record name made from ``text`` (ASCII letters, digits, ``_`` and ``-``:
    accents dropped, Latin letters of their own spelt in ASCII, other characters as ``_``, which a
    ``-`` beside absorbs)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", without_accents(text).translate(_LATIN))
    return re.sub(r"_*-[-_]*", "-", name).strip("_-") or "record"


#: Latin letters that are no letter with an accent, as ASCII (for record names).
_LATIN = str.maketrans({"Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe",
                        "ß": "ss", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th",
                        "ı": "i"})


def write_wfdb(base: Path, *, start: datetime, origin_s: float, beats_t: np.ndarray,
               beats_normal: np.ndarray, ecg: tuple[np.ndarray, float] | None,
               comments: list[str], notes: Sequence[tuple[float, str]] = ()) -> list[Path]:
    """Write the record ``base.name`` in ``base.parent``: ``.atr`` beat annotations (times
    ``beats_t``, s on the session clock, ``origin_s`` at sample 0) and a NOTE annotation for
    each of ``notes`` (time s on the session clock, text), ``.hea`` and, with ``ecg`` (samples
    in µV on a grid from ``origin_s``, NaN where missing; its rate in Hz), ``.dat``. Returns the
    files written; none of them may exist yet."""
    wfdb = need("wfdb", base, "writing WFDB records")
    name = base.name
    if not _NAME.fullmatch(name):
        raise RecordingError(f"{base}: {name!r} is not a WFDB record name (letters, digits, _ "
                             "and - only)")
    files = [Path(f"{base}.hea"), Path(f"{base}.atr")] + ([Path(f"{base}.dat")] if ecg else [])
    for f in files:
        if f.exists():
            raise RecordingError(f"{f} already exists; exporting never overwrites a file")
    times = np.r_[np.asarray(beats_t, dtype=float), [t for t, _ in notes]]
    samples = np.rint((times - origin_s) * ANNOTATION_FS).astype(np.int64)
    # A note at sample 0 is where WFDB keeps the file's own definitions (time resolution,
    # labels), and readers take it as one: the first sample is one tick on.
    samples[len(beats_t):] = np.maximum(samples[len(beats_t):], 1)
    order = np.argsort(samples, kind="stable")
    samples = samples[order]
    symbols = [NORMAL_CODE if n else "Q" for n in np.asarray(beats_normal, dtype=bool)]
    symbols = [*symbols, *[NOTE_CODE] * len(notes)]
    symbols = [symbols[i] for i in order]
    # The package writes each character of an aux string as one byte: UTF-8 goes in as the
    # characters of its bytes.
    aux = [""] * len(beats_t) + [cut_utf8(one_line(text), AUX_BYTES).encode("utf-8")
                                 .decode("latin-1") for _, text in notes]
    aux = [aux[i] for i in order]
    comments = [" ".join(c.split()) for c in comments]
    try:
        if ecg is not None:
            values, fs = ecg
            finite = values[np.isfinite(values)]
            fmt = "16" if finite.size == 0 or np.abs(finite).max() < 32767 else "32"
            wfdb.wrsamp(name, fs=fs, units=["uV"], sig_name=["ECG"],
                        p_signal=np.asarray(values, dtype=float)[:, None], fmt=[fmt],
                        adc_gain=[1.0], baseline=[0], write_dir=str(base.parent),
                        comments=comments, base_time=start.time(), base_date=start.date())
        else:
            n = int(samples.max(initial=0)) + 1
            lines = [f"{name} 0 {ANNOTATION_FS:g} {n} {start:%H:%M:%S} {start:%d/%m/%Y}"]
            lines += [f"# {c}" for c in comments]
            with open(files[0], "x", encoding="ascii", errors="replace") as f:
                f.write("\n".join(lines) + "\n")
        wfdb.wrann(name, "atr", samples, symbol=symbols, aux_note=aux, fs=ANNOTATION_FS,
                   write_dir=str(base.parent))
    except FileExistsError as e:
        raise RecordingError(f"{e.filename} already exists; exporting never overwrites a file"
                             ) from None
    except (OSError, ValueError, TypeError) as e:
        raise RecordingError(f"{base}: cannot write the WFDB record ({brief(e)})") from None
    return files

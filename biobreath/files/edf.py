"""EDF/EDF+ (and BDF) files: beats read from annotations or an ECG signal, and the EDF+ that
``export --to edf`` writes. Needs pyedflib (``pip install "biobreath[research]"``), imported only
here, when such a file is read or written.

**Reading.** Beats come from the EDF+ annotations when some name heartbeats: a PhysioNet beat code
(``N`` normal; ``V``, ``A``, ``Q``, ... flag the intervals next to them) or a word such as
``R-peak``, ``R``, ``beat``, ``QRS`` (normal), with `` (artifact)`` appended for a flagged beat.
Without beat annotations, the first ECG signal (label with ``ECG``/``EKG``, or a standard lead
name such as ``II``) is searched for R-peaks by :func:`biobreath.core.ecg.detect_r_peaks`, in µV
(``uV``, ``mV``, ``V`` dimensions converted). Times are seconds from the file's start (records
taken as contiguous, also in EDF+D), less the onset of a ``session start`` annotation if there is
one (biobreath's exports, so times come back on the session clock). The other annotations are the
file's markers and protocol steps (see :mod:`biobreath.files.annotations`). The fixed header is
checked first, so a damaged file gets one line naming the field.

**Writing** (:func:`write_edf`): EDF+C with 1 s data records; signals ECG (µV, 1 µV steps, at the
strap's rate), accelerometer X/Y/Z (mg), RR (ms, each interval's value from the beat that opens it
to the beat that closes it, 4 Hz) and pacer phase (0-1 of the current breath, 4 Hz); annotations
for every beat (``R-peak``, or ``R-peak (artifact)`` for a beat judged an artifact live; onsets to
0.1 ms, the EDF+ resolution), plus any the caller gives (protocol steps, markers, gaps). Samples
are placed on the record grid by their times; gaps are filled with 0 and annotated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.annotations import markers_of, steps_of
from biobreath.files.beatseries import BEAT_CODES, NORMAL_CODE, series_from_beats, series_from_ecg
from biobreath.files.optional import brief, need
from biobreath.files.readers import RRRecording
from biobreath.files.recording import cut_utf8, one_line

FORMAT = "EDF"
SESSION_START = "session start"
BEAT_TEXT = "R-peak"
ARTIFACT_SUFFIX = " (artifact)"
NORMAL_WORDS = frozenset({"r", "r-peak", "r peak", "rpeak", "r-wave", "r wave", "beat",
                          "heartbeat", "heart beat", "normal beat", "qrs", "normal"})
LEADS = frozenset({"i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6",
                   "mlii", "ml2", "mli", "mliii", "lead i", "lead ii", "lead iii"})
TO_UV = {"uv": 1.0, "nv": 1e-3, "mv": 1e3, "v": 1e6}
EDF_MAGIC = b"0       "
BDF_MAGIC = b"\xffBIOSEMI"
ANNOTATION_RESOLUTION_S = 1e-4  # pyedflib writes onsets in units of 100 µs


def is_edf(head: bytes) -> bool:
    """An EDF/EDF+ header (version ``0``, numeric header size) or a BDF one."""
    return head[:8] == BDF_MAGIC or (head[:8] == EDF_MAGIC and len(head) >= 256
                                     and head[184:192].strip().isdigit())


# -- Reading ------------------------------------------------------------------------------------


_FIELDS = (("version", 0, 8), ("patient", 8, 80), ("recording", 88, 80), ("startdate", 168, 8),
           ("starttime", 176, 8), ("header bytes", 184, 8), ("reserved", 192, 44),
           ("number of data records", 236, 8), ("data record duration", 244, 8),
           ("number of signals", 252, 4))


def _check_header(path: Path) -> None:
    """One line naming the first malformed field of the fixed header, or the size."""
    where = f"{path}: {FORMAT} header"
    try:
        with open(path, "rb") as f:
            head = f.read(256)
            size = path.stat().st_size
            fields = {name: head[at:at + n] for name, at, n in _FIELDS}
            if len(head) < 256:
                raise SessionFileError(f"{where}: the file is {len(head)} bytes, shorter than the "
                                       "256-byte header")

            def whole(name: str, lo: int) -> int:
                text = fields[name].decode("ascii", "replace").strip()
                if not text.lstrip("-").isdigit() or int(text) < lo:
                    raise SessionFileError(f"{where}: field '{name}' (bytes {_at(name)}) is "
                                           f"{text!r}, not a whole number >= {lo}")
                return int(text)

            ns = whole("number of signals", 1)
            header_bytes = whole("header bytes", 256)
            records = whole("number of data records", -1)
            text = fields["data record duration"].decode("ascii", "replace").strip()
            try:
                duration = float(text)
            except ValueError:
                duration = math.nan
            if not (math.isfinite(duration) and duration >= 0):
                raise SessionFileError(f"{where}: field 'data record duration' (bytes "
                                       f"{_at('data record duration')}) is {text!r}, not a "
                                       "number of seconds")
            if header_bytes != 256 * (ns + 1):
                raise SessionFileError(f"{where}: field 'header bytes' is {header_bytes}, but "
                                       f"{ns} signals need {256 * (ns + 1)}")
            f.seek(256 + 216 * ns)
            spr = f.read(8 * ns)
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None
    counts = []
    for k in range(ns):
        text = spr[8 * k:8 * k + 8].decode("ascii", "replace").strip()
        if not text.isdigit():
            raise SessionFileError(f"{where}: signal {k + 1}: field 'number of samples in each "
                                   f"data record' is {text!r}, not a whole number")
        counts.append(int(text))
    width = 3 if head[:8] == BDF_MAGIC else 2
    expected = header_bytes + max(records, 0) * sum(counts) * width
    if records >= 0 and size != expected:
        raise SessionFileError(f"{path}: {FORMAT}: the file is {size} bytes, but its header "
                               f"({records} data records of {sum(counts)} samples) needs "
                               f"{expected}: truncated or damaged")


def _at(name: str) -> str:
    at, n = next((a, n) for f, a, n in _FIELDS if f == name)
    return f"{at}-{at + n - 1}"


def _beat_label(text: str) -> bool | None:
    """True for a normal beat annotation, False for a flagged beat, None for no beat."""
    t = text.strip()
    if t in BEAT_CODES:  # PhysioNet codes are case-sensitive ("n" is no "N")
        return t == NORMAL_CODE
    low = t.lower()
    if low.endswith(ARTIFACT_SUFFIX) and low[:-len(ARTIFACT_SUFFIX)].strip() in NORMAL_WORDS:
        return False
    return True if low in NORMAL_WORDS else None


def _is_ecg(label: str) -> bool:
    low = label.strip().lower()
    return "ecg" in low or "ekg" in low or low in LEADS


def read_edf(path: Path) -> list[RRRecording]:
    """The beats of an EDF/EDF+ file (see the module doc)."""
    _check_header(path)  # first: a file that is no EDF is told so, whatever is installed
    pyedflib = need("pyedflib", path, "reading EDF")
    where = f"{path}: {FORMAT}"
    try:
        reader = pyedflib.EdfReader(str(path))
    except OSError as e:
        msg = brief(e).replace(str(path), "").lstrip(": ")
        raise SessionFileError(f"{where}: {msg}") from None
    except Exception as e:  # damaged bytes also fail inside the library's own decoding
        raise SessionFileError(f"{where}: damaged ({type(e).__name__}: {brief(e)})") from None
    try:
        onsets, _, texts = reader.readAnnotations()
        labels = [str(x) for x in reader.getSignalLabels()]
        ours = str(reader.getRecordingAdditional()).startswith("biobreath")
        device = person = None
        if ours:
            equipment = str(reader.getEquipment()).replace("_", " ").strip()
            device = DeviceInfo(name=equipment) if equipment else None
            person = str(reader.getPatientCode()).replace("_", " ").strip()
        origin = next((float(o) for o, x in zip(onsets, texts) if str(x) == SESSION_START), 0.0)
        kinds = [_beat_label(str(x)) for x in texts]
        noted = [(float(o) - origin, str(x)) for o, x, k in zip(onsets, texts, kinds)
                 if k is None and str(x) != SESSION_START]
        markers, steps = markers_of(noted, ours), steps_of(noted, ours)
        beats = np.array([k is not None for k in kinds], dtype=bool)
        if beats.any():
            t = np.asarray(onsets, dtype=float)[beats] - origin
            normal = np.array([k for k in kinds if k is not None], dtype=bool)
            rr, bt, art, notes = series_from_beats(t, normal, f"{where} annotations")
            notes = (f"{FORMAT}: beats from {int(beats.sum())} beat annotations (onsets to 0.1 "
                     "ms)", *notes)
            unit = "s"
        else:
            ecg = next((i for i, lab in enumerate(labels) if _is_ecg(lab)), None)
            if ecg is None:
                shown = ", ".join(repr(x) for x in labels[:6]) + (", ..." if len(labels) > 6
                                                                   else "")
                raise SessionFileError(f"{where}: no beat annotations and no ECG signal (signals: "
                                       f"{shown or 'none'}); beats come from annotations such as "
                                       "'R-peak' or 'N', or from a signal labelled ECG")
            fs = float(reader.getSampleFrequency(ecg))
            dim = str(reader.getPhysicalDimension(ecg)).strip()
            factor = TO_UV.get(dim.lower().replace("µ", "u").replace("μ", "u"))
            uv = np.asarray(reader.readSignal(ecg), dtype=float) * (factor or 1.0)
            t = np.arange(uv.size) / fs - origin
            rr, bt, art, notes = series_from_ecg(t, uv, fs, where, labels[ecg])
            extra = [] if factor else [f"ECG unit {dim!r} is not a voltage; read as µV"]
            others = sum(_is_ecg(x) for x in labels) - 1
            if others:
                extra.append(f"{others} other ECG signal(s) not used")
            notes = (*notes, *extra)
            unit = "s"
    except SessionFileError:
        raise
    except Exception as e:  # damaged bytes also fail inside the library's own decoding
        raise SessionFileError(f"{where}: damaged ({type(e).__name__}: {brief(e)})") from None
    finally:
        reader.close()
    return [RRRecording(path, "edf", rr, bt, art, unit, device=device, notes=tuple(notes),
                        person=person or "", markers=markers, steps=steps)]


# -- Writing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class EdfSignal:
    """One signal to write: samples already on the grid (``fs_hz`` times the record count)."""

    label: str
    dimension: str
    fs_hz: float
    values: np.ndarray
    lo: float
    hi: float


def write_edf(path: Path, *, start: datetime, origin_s: float, n_records: int,
              signals: Sequence[EdfSignal], beats_t: np.ndarray, beats_normal: np.ndarray,
              annotations: Sequence[tuple[float, float, str]], patient: str, equipment: str,
              additional: str, progress: Callable[[], None] | None = None) -> None:
    """Write an EDF+C file at ``path`` (which must not exist): 1 s records from ``start`` (the
    session time ``origin_s``), the ``signals``, a beat annotation at each of ``beats_t`` (s,
    session clock) and ``annotations`` (onset s on the session clock, duration s or -1, text)."""
    pyedflib = need("pyedflib", path, "writing EDF")
    if path.exists():
        raise RecordingError(f"{path} already exists; exporting never overwrites a file")
    n_annot = len(beats_t) + len(annotations) + 1
    writer = None
    try:
        writer = pyedflib.EdfWriter(str(path), len(signals), file_type=pyedflib.FILETYPE_EDFPLUS)
        writer.setSignalHeaders([
            {"label": s.label[:16], "dimension": s.dimension[:8], "sample_frequency": s.fs_hz,
             "physical_min": s.lo, "physical_max": s.hi, "digital_min": -32768,
             "digital_max": 32767, "transducer": "", "prefilter": ""} for s in signals])
        writer.set_number_of_annotation_signals(
            int(min(64, max(1, math.ceil(n_annot / max(n_records, 1)) + 1))))
        writer.setStartdatetime(start)
        writer.setPatientCode(_ascii(patient)[:30])
        writer.setEquipment(_ascii(equipment)[:30])
        writer.setRecordingAdditional(_ascii(additional)[:30])
        writer.writeSamples([np.clip(s.values, s.lo, s.hi) for s in signals])
        writer.writeAnnotation(-origin_s, -1, SESSION_START)
        for t, normal in zip(beats_t, beats_normal):
            writer.writeAnnotation(float(t) - origin_s, -1,
                                   BEAT_TEXT if normal else BEAT_TEXT + ARTIFACT_SUFFIX)
        for onset, duration, text in annotations:
            writer.writeAnnotation(float(onset) - origin_s, duration, _annotation_text(text))
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise RecordingError(f"{path}: cannot write EDF ({brief(e)})") from None
    finally:
        if writer is not None:
            writer.close()


def _ascii(text: str) -> str:
    """EDF header text: printable ASCII, spaces as underscores (EDF+ subfields are words)."""
    out = "".join(c if 32 < ord(c) < 127 else "_" for c in text.strip())
    return out or "X"


#: Longest annotation text edflib writes (bytes of UTF-8); it cuts longer ones.
ANNOTATION_BYTES = 40


def _annotation_text(text: str) -> str:
    """Annotation text: one line of printable characters, UTF-8 as EDF+ has them (a note in any
    language stays readable), cut to :data:`ANNOTATION_BYTES` at a character's boundary."""
    return cut_utf8(one_line(text), ANNOTATION_BYTES)

"""Readers for RR data: biobreath session files and plain RR text/CSV files.

Plain text: one RR interval per line, in milliseconds or seconds. The unit is detected as Kubios
does for text RR files: values whose median is below 10 are seconds, otherwise milliseconds. A
non-numeric first line is taken as a header; a CSV (comma, semicolon or tab) uses its ``rr``
column (also ``rr_ms``, ``rr_s``, ``rri``, ``ibi``, ``nni``; a ``_s`` suffix means seconds).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biobreath.core.protocol import BreathingProtocol
from biobreath.errors import SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.recording import is_session_file, read_session

MAX_BYTES = 200 * 1024 * 1024  # a week of beats in text is ~5 MB; refuse absurd files early
_TIME_COLUMNS = ("time", "t", "time_s", "t_s", "timestamp", "beat_time_s")
_RR_COLUMNS = ("rr", "rr_ms", "rri", "ibi", "nni", "nn", "rr_s", "rr_interval", "rr (ms)")


@dataclass(frozen=True, slots=True)
class RRRecording:
    """RR intervals (ms) from any supported file, with beat times (s) and any recorded flags."""

    path: Path
    kind: str                 # "session" or "text"
    rr_ms: np.ndarray
    beat_time_s: np.ndarray
    artifact: np.ndarray      # flags recorded live (all False for text files)
    unit: str                 # unit found in the file: "ms", "s" or "ticks"
    device: DeviceInfo | None = None          # the strap, for sessions
    protocol: BreathingProtocol | None = None  # what the session was breathed to


def read_rr(path: str | Path) -> RRRecording:
    """Read a session file (its first strap) or an RR text file; raise
    :class:`SessionFileError` with one line."""
    return read_rr_all(path)[0]


def read_rr_all(path: str | Path) -> list[RRRecording]:
    """Every strap's beats in a session file (one per person), or the one series of a text file."""
    path = Path(path)
    if not path.exists():
        raise SessionFileError(f"{path}: no such file")
    if path.is_dir():
        raise SessionFileError(f"{path}: is a folder, not a file")
    if is_session_file(path):
        s = read_session(path)
        protocol = s.protocol()
        ids = [i for i in range(1, len(s.devices) + 1) if np.any(s.device_ids == i)]
        if not ids:
            raise SessionFileError(f"{path}: the session holds no beats")
        return [RRRecording(path, "session", s.rr_ms[m], s.beat_time_s[m], s.artifact[m], "ticks",
                            s.devices[i - 1], protocol)
                for i in ids for m in [s.device_ids == i]]
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"SQLite format 3"):
        raise SessionFileError(f"{path}: an SQLite file, but not a biobreath session")
    if path.stat().st_size > MAX_BYTES:
        raise SessionFileError(f"{path}: too large for an RR file ({path.stat().st_size >> 20} MB)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SessionFileError(f"{path}: not a text file nor a biobreath session") from None
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror})") from None
    values, unit = parse_rr_text(text, str(path))
    return [RRRecording(path, "text", values, np.cumsum(values) / 1000.0,
                        np.zeros(values.size, bool), unit)]


def parse_rr_text(text: str, name: str = "<text>") -> tuple[np.ndarray, str]:
    """RR intervals (ms) and the unit found, from RR text or CSV content."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise SessionFileError(f"{name}: no RR values in the file")
    delim = next((d for d in (",", ";", "\t") if d in lines[0]), None)
    seconds_hint = None
    if delim:
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delim))
        header = [h.strip().lower() for h in rows[0]]
        col = next((header.index(c) for c in _RR_COLUMNS if c in header), None)
        if col is None:
            if all(_is_number(h) for h in header) and len(header) == 1:
                col, body = 0, rows
            else:
                raise SessionFileError(f"{name}: CSV without an RR column (expected one named "
                                       f"{', '.join(_RR_COLUMNS[:5])}, …)")
        else:
            body = rows[1:]
            seconds_hint = header[col].endswith("_s")
            _check_times(header, body, name)
        raw = [r[col].strip() for r in body if len(r) > col and r[col].strip()]
    else:
        raw = [ln.split()[0] for ln in lines]
        if raw and not _is_number(raw[0]):
            raw = raw[1:]  # header line
    bad = next((v for v in raw if not _is_number(v)), None)
    if bad is not None:
        raise SessionFileError(f"{name}: {bad!r} is not a number (one RR value per line expected)")
    if not raw:
        raise SessionFileError(f"{name}: no RR values in the file")
    values = np.array([float(v) for v in raw])
    if not np.all(np.isfinite(values)):
        raise SessionFileError(f"{name}: RR values must be finite numbers")
    seconds = seconds_hint if seconds_hint is not None else float(np.median(values)) < 10.0
    with np.errstate(over="ignore"):
        ms = values * 1000.0 if seconds else values
    if not np.all(np.isfinite(ms)):
        raise SessionFileError(f"{name}: RR values must be finite numbers")
    if np.any(ms <= 0):
        raise SessionFileError(f"{name}: RR values must be positive")
    med = float(np.median(ms))
    if not 200.0 <= med <= 3000.0:
        raise SessionFileError(f"{name}: RR values (median {med:g} ms) are outside the "
                               "physiological range 200-3000 ms; is the unit right?")
    return ms, "s" if seconds else "ms"


def _check_times(header: list[str], body: list[list[str]], name: str) -> None:
    """A CSV's time column, if it has one, must increase: otherwise rows are out of order."""
    col = next((header.index(c) for c in _TIME_COLUMNS if c in header), None)
    if col is None:
        return
    try:
        times = np.array([float(r[col]) for r in body if len(r) > col and r[col].strip()])
    except ValueError:
        return  # clock-time strings: not ours to judge
    bad = np.flatnonzero(np.diff(times) <= 0)
    if bad.size:
        raise SessionFileError(f"{name}: times are not increasing (row {bad[0] + 3}: "
                               f"{times[bad[0] + 1]:g} after {times[bad[0]]:g})")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True

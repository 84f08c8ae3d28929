"""Readers for RR data: biobreath session files and plain RR text/CSV files.

Plain text holds RR intervals in milliseconds or seconds, one beat per line. Columns are split
by tab, ``;`` or ``,`` (whichever the first line has, in that order) or else by white space;
blank lines and lines starting with ``#`` are skipped. Which column holds the RR intervals:

- a header (a first line with a word in it) naming an RR column decides: ``rr``, ``rri``,
  ``ibi``, ``nni``, ``nn``, ``rr_interval``, optionally with a unit (``rr_ms``, ``rr_s``,
  ``RR (ms)``, ``ibi [s]``);
- a single column is unambiguous (a header line above it is allowed);
- two columns whose first increases and whose second holds plausible RR intervals (median
  250-2500 ms) are the known ``time, RR`` layout;
- anything else is refused, asking for a header that names the RR column.

The unit is the header's when it gives one, otherwise detected as Kubios does: a median below 10
means seconds, else milliseconds. Every value must be a finite number from 1 ms to 60 s (an RR
interval in ms or s can be nothing else); the first that is not is reported with its line. The
column and unit used are stated in :attr:`RRRecording.notes`.
"""

from __future__ import annotations

import csv
import io
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biobreath.core.protocol import BreathingProtocol
from biobreath.errors import SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.recording import is_session_file, read_session

MAX_BYTES = 200 * 1024 * 1024  # a week of beats in text is ~5 MB; refuse absurd files early
RR_RANGE_MS = (1.0, 60_000.0)
"""What can be an RR interval at all (1 ms to 60 s); physiology is judged later, by analysis."""
MEDIAN_RANGE_MS = (200.0, 3000.0)
"""The median RR of a recording in a plausible unit (300 to 20 bpm)."""
LAYOUT_RR_MS = (250.0, 2500.0)
"""Median RR (ms) for a second column to be taken as RR intervals in a ``time, RR`` layout."""
SECONDS_BELOW = 10.0  # Kubios: a median below 10 means the values are seconds

_RR_NAME = re.compile(
    r"(?:rr|rri|ibi|nni|nn|r-r|rr[ _-]?intervals?|inter[ _-]?beat[ _-]?intervals?)"
    r"(?:[ _]?[(\[]?(?P<unit>ms|msec|s|sec)[)\]]?)?", re.ASCII)
_TIME_NAME = re.compile(r"(?:t|time|timestamp|beat[ _]?time)(?:[ _]?[(\[]?(?:ms|s|sec)[)\]]?)?",
                        re.ASCII)
_NOT_RR_NAME = re.compile(r"hr|bpm|heart[ _-]?rate|pulse|rate", re.ASCII)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan)", re.ASCII | re.IGNORECASE)
_NUMERIC = re.compile(f"{_NUMBER.pattern}|{_NON_FINITE.pattern}", re.ASCII | re.IGNORECASE)
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+", re.ASCII)
_RR_EXAMPLES = "rr, rr_ms, rr_s, ibi, …"


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
    notes: tuple[str, ...] = ()               # how the file was read (column, unit)


@dataclass(frozen=True, slots=True)
class RRText:
    """What :func:`parse_rr_table` found: RR intervals (ms), the file's unit and how it read
    them (which column, which unit and why)."""

    rr_ms: np.ndarray
    unit: str
    notes: tuple[str, ...]


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
        # What the reader skipped as malformed is said in the notes, not dropped silently.
        notes = tuple(f"session file: {w}" for w in getattr(s, "warnings", ()))
        return [RRRecording(path, "session", s.rr_ms[m], s.beat_time_s[m], s.artifact[m], "ticks",
                            s.devices[i - 1], protocol, notes)
                for i in ids for m in [s.device_ids == i]]
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None
    if head.startswith(b"SQLite format 3"):
        raise SessionFileError(f"{path}: an SQLite file, but not a biobreath session")
    if size > MAX_BYTES:
        raise SessionFileError(f"{path}: too large for an RR file ({size >> 20} MB)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SessionFileError(f"{path}: not a text file nor a biobreath session") from None
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None
    parsed = parse_rr_table(text, str(path))
    values = parsed.rr_ms
    return [RRRecording(path, "text", values, np.cumsum(values) / 1000.0,
                        np.zeros(values.size, bool), parsed.unit, notes=parsed.notes)]


def parse_rr_text(text: str, name: str = "<text>") -> tuple[np.ndarray, str]:
    """RR intervals (ms) and the unit found, from RR text or CSV content (see the module doc);
    :class:`SessionFileError` with one line naming ``name`` (and the line) if unusable."""
    parsed = parse_rr_table(text, name)
    return parsed.rr_ms, parsed.unit


def _show(cell: str) -> str:
    text = repr(cell)
    return text if len(text) <= 32 else text[:29] + "..."


def _kind(cell: str) -> str:
    """'number', 'non-finite', 'empty' or 'text'."""
    if _NUMBER.fullmatch(cell):
        return "number"
    if _NON_FINITE.fullmatch(cell):
        return "non-finite"
    return "empty" if not cell else "text"


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    if '"' in line:
        cells = next(csv.reader([line], delimiter=delim), [])
    else:
        cells = line.split(delim)
    cells = [c.strip() for c in cells]
    while cells and not cells[-1]:
        cells.pop()  # a trailing delimiter ("800;") adds no column
    return cells


def _not_a_number(name: str, lineno: int, cell: str, col_note: str = "") -> SessionFileError:
    hint = " (use a decimal point)" if _DECIMAL_COMMA.fullmatch(cell) else ""
    if _kind(cell) == "non-finite":
        return SessionFileError(f"{name}: line {lineno}: {_show(cell)}{col_note} is not a finite "
                                "number")
    if not cell:
        return SessionFileError(f"{name}: line {lineno}: no value{col_note}")
    return SessionFileError(f"{name}: line {lineno}: {_show(cell)}{col_note} is not a "
                            f"number{hint}")


class _Column:
    """The numbers of one column as they are read, with the line each came from."""

    def __init__(self) -> None:
        self.values = array("d")
        self.lines = array("q")
        self.first_bad: tuple[int, str] | None = None  # (line, cell) of the first non-number

    def add(self, lineno: int, cell: str, _numeric=_NUMERIC.fullmatch) -> None:
        if _numeric(cell):
            # "1e999" overflows to inf: judged with inf and nan, after the layout is known
            self.values.append(float(cell))
            self.lines.append(lineno)
        elif self.first_bad is None:
            self.first_bad = (lineno, cell)


def parse_rr_table(text: str, name: str = "<text>") -> RRText:
    """RR intervals (ms), the unit found and notes on how they were read, from RR text or CSV
    content (see the module doc); :class:`SessionFileError` with one line if unusable."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = ((n, ln.strip()) for n, ln in enumerate(io.StringIO(text, newline=None), 1))
    rows = ((n, ln) for n, ln in rows if ln and not ln.startswith("#"))
    first = next(rows, None)
    if first is None:
        raise SessionFileError(f"{name}: no RR values in the file")
    first_line, line = first
    delim = next((d for d in ("\t", ";", ",") if d in line), None)
    head = _split(line, delim)
    if delim is None and len(head) > 1 and _RR_NAME.fullmatch(line.strip("\"' ").lower()):
        head = [line]  # a one-column header with a space in it: "RR (ms)", "rr interval"
    # A header has a word in it; "1_000" or "９００" is a malformed number, not a header.
    has_header = any(_kind(c) == "text" and any(ch.isalpha() for ch in c) for c in head)
    width = len(head)
    if has_header:
        names = [c.strip("\"' ").lower() for c in head]
        rr_cols = [i for i, h in enumerate(names) if _RR_NAME.fullmatch(h)]
        if len(rr_cols) > 1:
            listed = " and ".join(f"{i + 1} ({_show(head[i])})" for i in rr_cols[:2])
            raise SessionFileError(f"{name}: columns {listed} both look like RR intervals; "
                                   "keep one RR column, or rename the other")
        time_col = next((i for i, h in enumerate(names) if _TIME_NAME.fullmatch(h)), None)
    else:
        names, rr_cols, time_col = [], [], None
    if rr_cols:
        col = rr_cols[0]
        m = _RR_NAME.fullmatch(names[col])
        unit_hint = {"ms": "ms", "msec": "ms", "s": "s", "sec": "s"}.get(m["unit"] or "")
        col_note = f"RR from column {col + 1} ({_show(head[col])})" + (
            f" of {width}; the other columns are not used" if width > 1 else "")
        layout = "named"
    elif width == 1:
        if has_header and (time_col is not None or _NOT_RR_NAME.fullmatch(names[0])):
            raise SessionFileError(f"{name}: the only column is named {_show(head[0])}, not as RR "
                                   f"intervals; name it as RR ({_RR_EXAMPLES}) if it holds them")
        col, unit_hint, time_col, layout = 0, None, None, "single"
        col_note = f"RR from column 1 ({_show(head[0])}); line {first_line} is its header" \
            if has_header else ""
    elif width == 2:
        col, unit_hint, layout, col_note = 1, None, "time-rr", ""
    else:
        shown = f" ({', '.join(_show(h) for h in head[:4])}{', …' if width > 4 else ''})" \
            if has_header else ""
        raise SessionFileError(f"{name}: {width} columns{shown} and none named as RR intervals; "
                               "add a header line naming the RR column "
                               f"({_RR_EXAMPLES})")

    rr, times = _Column(), _Column()
    where = f" in column {col + 1}" if width > 1 else ""
    all_rows = rows if has_header else _chain(first, rows)
    named, pair = layout == "named", layout == "time-rr"
    tcol = 0 if pair else time_col
    for lineno, line in all_rows:
        cells = _split(line, delim)
        if named:
            if len(cells) > width:
                raise SessionFileError(f"{name}: line {lineno}: {len(cells)} values, but the "
                                       f"header (line {first_line}) names {width} columns")
        elif len(cells) != width:
            raise SessionFileError(f"{name}: line {lineno}: {len(cells)} values, but line "
                                   f"{first_line} has {width}"
                                   + (" (one RR value per line expected)" if width == 1 else ""))
        cell = cells[col] if col < len(cells) else ""
        rr.add(lineno, cell)
        if rr.first_bad is not None and not pair:
            raise _not_a_number(name, lineno, cell, where)
        if tcol is not None:
            times.add(lineno, cells[tcol] if tcol < len(cells) else "")
    if not rr.values and rr.first_bad is None:
        raise SessionFileError(f"{name}: no RR values in the file"
                               + (f" (only the header, line {first_line})" if has_header else ""))

    values = np.frombuffer(rr.values, dtype=float)
    lines = np.frombuffer(rr.lines, dtype=np.int64)
    if layout == "time-rr":
        col_note = _time_rr_layout(name, head if has_header else None, times, rr)
    elif time_col is not None and times.first_bad is None:
        _check_times(name, head[time_col], times)

    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise SessionFileError(f"{name}: line {lines[bad[0]]}: {values[bad[0]]:g}{where} is not a "
                               "finite number")
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise SessionFileError(f"{name}: line {lines[bad[0]]}: {values[bad[0]]:g}{where} is not a "
                               "positive RR interval")
    median = float(np.median(values))
    if unit_hint is not None:
        unit = unit_hint
        unit_note = f"RR in {unit}, as the header {_show(head[col])} says"
    else:
        unit = "s" if median < SECONDS_BELOW else "ms"
        unit_note = (f"RR in {unit} (detected: median {median:.4g} "
                     f"{'<' if unit == 's' else '>='} {SECONDS_BELOW:g})")
    scale = 1000.0 if unit == "s" else 1.0
    med_ms = median * scale
    lo, hi = MEDIAN_RANGE_MS
    if not lo <= med_ms <= hi:
        raise SessionFileError(f"{name}: RR values (median {med_ms:.4g} ms) are outside the "
                               f"physiological range {lo:g}-{hi:g} ms; is the unit right?")
    lo, hi = (v / scale for v in RR_RANGE_MS)
    bad = np.flatnonzero((values < lo) | (values > hi))
    if bad.size:
        v = values[bad[0]]
        raise SessionFileError(f"{name}: line {lines[bad[0]]}: {v:g} {unit}{where} cannot be an "
                               f"RR interval (the file is in {unit}; an RR interval is 1 ms to "
                               "60 s)")
    ms = values * scale
    if unit == "s":
        unit_note += ", converted to ms"
    return RRText(ms, unit, tuple(n for n in (col_note, unit_note) if n))


def _chain(first, rest):
    yield first
    yield from rest


def _time_rr_layout(name: str, head: list[str] | None, times: _Column, rr: _Column) -> str:
    """Accept two columns as ``time, RR`` (the note saying so) or refuse with why not."""
    why = None
    if times.first_bad is not None or rr.first_bad is not None:
        lineno, cell = min(b for b in (times.first_bad, rr.first_bad) if b is not None)
        why = f"line {lineno}: {_show(cell)} is not a number"
    elif len(times.values) < 2:
        why = "a single row"
    else:
        t = np.frombuffer(times.values, dtype=float)
        v = np.frombuffer(rr.values, dtype=float)
        ok = np.isfinite(v) & (v > 0)
        down = np.flatnonzero(~(np.diff(t) > 0))
        if not np.all(np.isfinite(t)) or down.size:
            at = times.lines[down[0] + 1] if down.size else times.lines[
                int(np.flatnonzero(~np.isfinite(t))[0])]
            why = f"column 1 does not increase at line {at}"
        elif not ok.any():
            why = "column 2 holds no positive numbers"
        else:
            med = float(np.median(v[ok]))
            med_ms = med * 1000.0 if med < SECONDS_BELOW else med
            lo, hi = LAYOUT_RR_MS
            if not lo <= med_ms <= hi:
                why = f"column 2 (median {med:.4g}) does not look like RR intervals"
    if why is not None:
        cols = f" ({', '.join(_show(h) for h in head)})" if head else ""
        raise SessionFileError(f"{name}: 2 columns{cols}, none named as RR intervals, and not a "
                               f"time,RR layout ({why}); add a header line naming the RR column "
                               f"({_RR_EXAMPLES})")
    named = f" ({_show(head[1])})" if head else ""
    return (f"RR from column 2{named} of 2: column 1 increases, so the file was read as "
            "time, RR")


def _check_times(name: str, header: str, times: _Column) -> None:
    """A time column, if the header names one, must increase: otherwise rows are out of
    order. (A column of clock-time strings is not ours to judge.)"""
    t = np.frombuffer(times.values, dtype=float)
    bad = np.flatnonzero(~(np.diff(t) > 0))
    if bad.size:
        k = bad[0]
        raise SessionFileError(f"{name}: times ({_show(header)}) are not increasing (line "
                               f"{times.lines[k + 1]}: {t[k + 1]:g} after {t[k]:g})")

"""Readers for the RR exports of other HRV software: Kubios HRV, Polar Sensor Logger, HRV Logger
and Elite HRV. Each error is one line naming the file, the format and the line.

Layouts (what each reader expects, and how :mod:`biobreath.files.formats` recognises it):

- **Kubios HRV results** (the ``.txt`` report that Kubios HRV Standard/Premium saves): comma
  separated; a line starting ``Kubios HRV`` near the top; the section ``RR INTERVAL DATA and
  SPECTRUM ESTIMATES`` holds, per analysed sample (``SAMPLE 1``, ...), a ``Time`` and an ``RR
  interval`` column with their units on the next row (``(s)``), then one beat per row. The
  ``Time`` column is the beat time (the end of each interval). Each sample is one series.
- **Kubios RR text** (what Kubios imports, and what ``export --to kubios`` writes): one RR column,
  or ``time<TAB>RR`` columns, with or without a header line, ``#`` comment lines allowed; read by
  the plain RR text rules of :mod:`biobreath.files.readers`. Named only (``format="kubios"``):
  the same content is detected as plain text.
- **Polar Sensor Logger** RR file: ``Phone timestamp;RR-interval [ms]`` (``;`` or ``,``), the
  phone's clock as ``2026-11-01T10:51:05.262`` (or with a space for the ``T``), RR in ms. The
  timestamps are when the phone logged each RR: they give the beat times only if their steps
  follow the RRs; otherwise the beats are laid end to end.
- **HRV Logger** RR file: ``date,rr,since start`` (``timestamp`` in newer versions, as Unix ms),
  RR and ``since start`` in ms. ``since start`` gives the beat times when it follows the RRs
  (whether it marks each interval's start or end is taken from the fit). Rows repeated exactly
  (HRV Logger writes some twice) are left out, and counted in the notes.
- **Elite HRV** export: one RR interval (ms) per line, no header. Named only
  (``format="elitehrv"``): the same content is detected as plain RR text and read the same way.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from biobreath.errors import SessionFileError
from biobreath.files.beatseries import check_rr, not_later
from biobreath.files.readers import (
    SECONDS_BELOW,
    RRRecording,
    beat_times,
    load_text,
    parse_rr_table,
    text_recording,
)

KUBIOS_REPORT = "Kubios HRV results"
KUBIOS_TEXT = "Kubios RR text"
POLAR = "Polar Sensor Logger RR file"
HRV_LOGGER = "HRV Logger RR file"
ELITE = "Elite HRV export"

_POLAR_RR = re.compile(r"rr[- ]?intervals?\s*[\[(]ms[\])]", re.ASCII)
_KUBIOS_SECTION = "RR INTERVAL DATA"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                     r"|[+-]?(?:inf|infinity|nan)", re.ASCII | re.IGNORECASE)


def _show(cell: str) -> str:
    text = repr(cell)
    return text if len(text) <= 32 else text[:29] + "..."


def _cells(line: str, delim: str) -> list[str]:
    cells = next(csv.reader([line], delimiter=delim), []) if '"' in line else line.split(delim)
    cells = [c.strip() for c in cells]
    while cells and not cells[-1]:
        cells.pop()  # a trailing delimiter adds no column
    return cells


def _names(line: str) -> list[str]:
    return [c.strip().strip("\"'").lower() for c in re.split(r"[;,\t]", line)]


# -- Recognising the layouts (from the first lines of the content) -----------------------------


def is_kubios_report(lines: list[str]) -> bool:
    """A Kubios HRV results file: a line starting ``Kubios HRV`` among the first ones."""
    return any(ln.strip().lower().startswith("kubios hrv") for ln in lines[:12])


def is_polar_sensor_logger(first_line: str) -> bool:
    """A Polar Sensor Logger RR file: a header naming ``Phone timestamp`` and ``RR-interval
    [ms]``."""
    names = _names(first_line)
    return "phone timestamp" in names and any(_POLAR_RR.fullmatch(n) for n in names)


def is_hrv_logger(first_line: str) -> bool:
    """An HRV Logger RR file: a header naming ``rr``, ``since start`` and ``date`` or
    ``timestamp``."""
    names = _names(first_line)
    return ("rr" in names and bool({"since start", "since_start"} & set(names))
            and bool({"date", "timestamp"} & set(names)))


# -- Kubios HRV ---------------------------------------------------------------------------------


def read_kubios(path: Path) -> list[RRRecording]:
    """A Kubios HRV results file (one series per analysed sample), or Kubios RR text."""
    text = load_text(path)
    lines = text.splitlines()
    if not is_kubios_report(lines):
        where = f"{path}: {KUBIOS_TEXT}"
        parsed = parse_rr_table(text, where)
        return [text_recording(path, "kubios", parsed, extra_notes=(f"read as {KUBIOS_TEXT}",))]
    return _kubios_report(path, lines)


def _kubios_report(path: Path, lines: list[str]) -> list[RRRecording]:
    where = f"{path}: {KUBIOS_REPORT}"
    start = next((k for k, ln in enumerate(lines) if ln.strip().upper().startswith(
        _KUBIOS_SECTION)), None)
    if start is None:
        raise SessionFileError(f"{where}: no '{_KUBIOS_SECTION}' section in lines 1-"
                               f"{len(lines)}; save the results with the RR data, or export the "
                               "RR series as text")
    header = None
    for k in range(start + 1, min(start + 8, len(lines))):
        cells = [c.lower() for c in _cells(lines[k], ",")]
        pairs = [j for j in range(len(cells) - 1)
                 if cells[j] == "time" and cells[j + 1].startswith("rr interval")]
        if pairs:
            header = k
            break
    if header is None:
        raise SessionFileError(f"{where}: line {start + 1}: the '{_KUBIOS_SECTION}' section has "
                               "no 'Time, RR interval' header row in its next lines")
    # Sample names: the nearest "SAMPLE n" cell at or left of each Time column, rows above.
    names = {j: f"sample {n}" for n, j in enumerate(pairs, 1)}
    for k in range(start + 1, header):
        cells = _cells(lines[k], ",")
        found = [(j, c) for j, c in enumerate(cells) if c.lower().startswith("sample")]
        for j in pairs:
            left = [c for i, c in found if i <= j]
            if left:
                names[j] = left[-1].lower()
    units: dict[int, str | None] = {j: None for j in pairs}
    first = header + 1
    if first < len(lines):
        cells = _cells(lines[first], ",")
        if any(c.startswith("(") for c in cells):
            for j in pairs:
                u = cells[j + 1].strip("()").lower() if j + 1 < len(cells) else ""
                if u in ("s", "ms"):
                    units[j] = u
                elif u:
                    raise SessionFileError(f"{where}: line {first + 1}: RR interval unit "
                                           f"{_show(cells[j + 1])} is neither (s) nor (ms)")
            first += 1
    values = {j: ([], [], []) for j in pairs}   # times, RRs, line numbers
    ended = {j: False for j in pairs}
    for k in range(first, len(lines)):
        cells = _cells(lines[k], ",")
        if not cells or (cells[0] and not _is_number(cells[0])):
            break  # a blank line or the next section
        for j in pairs:
            t_cell = cells[j] if j < len(cells) else ""
            rr_cell = cells[j + 1] if j + 1 < len(cells) else ""
            if not t_cell and not rr_cell:
                ended[j] = True
                continue
            if ended[j]:
                raise SessionFileError(f"{where}: line {k + 1}: {names[j]} goes on after an "
                                       "empty row")
            if not t_cell or not rr_cell:
                raise SessionFileError(f"{where}: line {k + 1}: {names[j]} has a time without an "
                                       "RR interval, or an RR interval without a time (columns "
                                       f"{j + 1}-{j + 2})")
            for cell, what in ((t_cell, f"column {j + 1} ('Time', {names[j]})"),
                               (rr_cell, f"column {j + 2} ('RR interval', {names[j]})")):
                if not _is_number(cell):
                    raise SessionFileError(f"{where}: line {k + 1}: {_show(cell)} in {what} is "
                                           "not a number")
            values[j][0].append(float(t_cell))
            values[j][1].append(float(rr_cell))
            values[j][2].append(k + 1)
    out = []
    for j in pairs:
        t, rr, at = (np.asarray(v) for v in values[j])
        if rr.size == 0:
            raise SessionFileError(f"{where}: {names[j]} has no RR intervals (line {first + 1} "
                                   "on is empty)")
        unit = units[j] or ("s" if float(np.median(rr)) < SECONDS_BELOW else "ms")
        ms = rr * (1000.0 if unit == "s" else 1.0)
        check_rr(ms, at, where, f"{names[j]} RR")
        bad = np.flatnonzero(~np.isfinite(t))
        if bad.size:
            raise SessionFileError(f"{where}: line {at[bad[0]]}: {names[j]} time {t[bad[0]]:g} is "
                                   "not a finite number")
        down = not_later(t)
        if down.size:
            raise SessionFileError(f"{where}: line {at[down[0] + 1]}: {names[j]} time "
                                   f"{t[down[0] + 1]:g} s does not come after {t[down[0]]:g} s")
        fit = beat_times(t, ms, units=("s",))
        notes = [f"{KUBIOS_REPORT}, {names[j]}: RR from column {j + 2} ('RR interval') in {unit}"
                 + (" (from its unit row)" if units[j] else " (detected)")]
        if fit is not None:
            times = fit[0]
            notes.append(f"beat times from column {j + 1} ('Time'), {fit[1]}")
        else:
            times = np.cumsum(ms) / 1000.0 + (t[0] - ms[0] / 1000.0)
            notes.append(f"column {j + 1} ('Time') does not follow the RR intervals; the beats are "
                         "laid end to end from the first time")
        out.append(RRRecording(path, "kubios", ms, times, np.zeros(ms.size, bool), unit,
                               notes=tuple(notes), person=names[j] if len(pairs) > 1 else ""))
    return out


def _is_number(cell: str) -> bool:
    """A decimal number as written in these files (``inf`` and ``nan`` too: the range checks
    report those with their line); not ``1_000`` nor ``８００``, which Python's float takes."""
    return bool(_NUMBER.fullmatch(cell))


# -- Polar Sensor Logger and HRV Logger ---------------------------------------------------------


def _clock(cell: str) -> datetime | None:
    """A phone clock time: ISO 8601 (``2026-11-01T10:51:05.262``, a space for the ``T``),
    ``2025-04-25 06:37:37 +0000``, or Unix milliseconds (13 digits)."""
    if cell.isascii() and cell.isdigit() and 10 <= len(cell) <= 14:
        return datetime(1970, 1, 1) + timedelta(milliseconds=int(cell))
    try:
        return datetime.fromisoformat(cell)
    except ValueError:
        pass
    try:
        return datetime.strptime(cell, "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return None


def _seconds(clocks: list[datetime], lines: list[int], where: str, column: str) -> np.ndarray:
    aware = {c.tzinfo is not None for c in clocks}
    if len(aware) > 1:
        k = next(i for i, c in enumerate(clocks) if (c.tzinfo is not None) != (
            clocks[0].tzinfo is not None))
        raise SessionFileError(f"{where}: line {lines[k]}: {column} mixes times with and without "
                               "a time zone")
    return np.array([(c - clocks[0]).total_seconds() for c in clocks])


def _table(path: Path, fmt: str, text: str, required: dict[str, tuple[str, ...]]):
    """The rows of a delimited table with a header: (where, header line, {role: column},
    [(line number, cells)])."""
    where = f"{path}: {fmt}"
    rows = [(n, ln.strip()) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not rows:
        raise SessionFileError(f"{where}: the file is empty")
    head_line, head = rows[0]
    delim = next((d for d in (";", ",", "\t") if d in head), ",")
    shown = [c.strip("\"'") for c in _cells(head, delim)]
    names = [c.lower() for c in shown]
    cols = {}
    for role, accepted in required.items():
        col = next((i for i, n in enumerate(names) if n in accepted or (
            role == "rr" and _POLAR_RR.fullmatch(n))), None)
        if col is None:
            raise SessionFileError(f"{where}: line {head_line}: no column named "
                                   f"{' or '.join(repr(a) for a in accepted)}")
        cols[role] = col
    body = []
    for n, line in rows[1:]:
        cells = _cells(line, delim)
        if len(cells) > len(names):
            raise SessionFileError(f"{where}: line {n}: {len(cells)} values, but the header (line "
                                   f"{head_line}) names {len(names)} columns")
        body.append((n, cells))
    if not body:
        raise SessionFileError(f"{where}: no RR intervals (only the header, line {head_line})")
    return where, head_line, cols, body, shown


def _number(cells: list[str], col: int, n: int, where: str, column: str) -> float:
    cell = cells[col] if col < len(cells) else ""
    if not cell:
        raise SessionFileError(f"{where}: line {n}: no value in column {col + 1} ({column})")
    if not _is_number(cell):
        raise SessionFileError(f"{where}: line {n}: {_show(cell)} in column {col + 1} ({column}) "
                               "is not a number")
    return float(cell)


def _clock_cell(cells: list[str], col: int, n: int, where: str, column: str) -> datetime:
    cell = cells[col] if col < len(cells) else ""
    when = _clock(cell) if cell else None
    if when is None:
        raise SessionFileError(f"{where}: line {n}: {_show(cell)} in column {col + 1} ({column}) "
                               "is not a date and time (e.g. 2026-11-01T10:51:05.262)")
    return when


def read_polar_sensor_logger(path: Path) -> list[RRRecording]:
    """A Polar Sensor Logger RR file (see the module doc)."""
    where, _, cols, body, names = _table(path, POLAR, load_text(path), {
        "time": ("phone timestamp",), "rr": ("rr-interval [ms]",)})
    tname, rname = names[cols["time"]], names[cols["rr"]]
    lines = np.array([n for n, _ in body])
    rr = np.array([_number(c, cols["rr"], n, where, repr(rname)) for n, c in body])
    check_rr(rr, lines, where)
    clocks = [_clock_cell(c, cols["time"], n, where, repr(tname)) for n, c in body]
    t = _seconds(clocks, list(lines), where, repr(tname))
    notes = [f"{POLAR}: RR from column {cols['rr'] + 1} ({rname!r}) in ms; the phone clock "
             f"read {clocks[0].isoformat(sep=' ')} at the first RR"]
    fit = beat_times(t, rr, units=("s",))
    if fit is not None:  # from the start of the first interval, as when laid end to end
        times = fit[0] - fit[0][0] + rr[0] / 1000.0
        notes.append(f"beat times from the phone timestamps, {fit[1]}")
    else:
        times = np.cumsum(rr) / 1000.0
        notes.append("the phone timestamps are when the phone logged each RR, not the beats; "
                     "the beats are laid end to end from the first RR")
    return [RRRecording(path, "polar", rr, times, np.zeros(rr.size, bool), "ms",
                        notes=tuple(notes))]


def read_hrv_logger(path: Path) -> list[RRRecording]:
    """An HRV Logger RR file (see the module doc)."""
    where, _, cols, body, names = _table(path, HRV_LOGGER, load_text(path), {
        "time": ("date", "timestamp"), "rr": ("rr",), "since": ("since start", "since_start")})
    seen: dict[tuple[str, ...], int] = {}
    kept = []
    repeats = []
    for n, cells in body:
        key = tuple(cells)
        if key in seen:
            repeats.append((n, seen[key]))
            continue
        seen[key] = n
        kept.append((n, cells))
    lines = np.array([n for n, _ in kept])
    rr = np.array([_number(c, cols["rr"], n, where, "'rr'") for n, c in kept])
    check_rr(rr, lines, where)
    since = np.array([_number(c, cols["since"], n, where, repr(names[cols["since"]]))
                      for n, c in kept])
    tname = names[cols["time"]]
    clocks = [_clock_cell(c, cols["time"], n, where, repr(tname)) for n, c in kept]
    notes = [f"{HRV_LOGGER}: RR from column {cols['rr'] + 1} ('rr') in ms; the phone clock read "
             f"{clocks[0].isoformat(sep=' ')} at the first RR"]
    if repeats:
        notes.append(f"{len(repeats)} rows repeat an earlier row exactly and were left out (first: "
                     f"line {repeats[0][0]}, as line {repeats[0][1]})")
    fit = beat_times(since, rr, units=("ms",))
    if fit is not None:
        times = fit[0]
        notes.append(f"beat times from column {cols['since'] + 1} ('since start'), {fit[1]}")
    else:
        times = np.cumsum(rr) / 1000.0
        notes.append("column 'since start' does not follow the RR intervals; the beats are laid "
                     "end to end from the first RR")
    return [RRRecording(path, "hrvlogger", rr, times, np.zeros(rr.size, bool), "ms",
                        notes=tuple(notes))]


# -- Elite HRV ----------------------------------------------------------------------------------


def read_elite_hrv(path: Path) -> list[RRRecording]:
    """An Elite HRV export: one RR interval (ms) per line, no header."""
    where = f"{path}: {ELITE}"
    text = load_text(path)
    for n, line in enumerate(text.splitlines(), 1):
        cells = line.split()
        if not cells or cells[0].startswith("#"):
            continue
        if len(cells) > 1 or re.search(r"[;,\t]", line.strip()):
            raise SessionFileError(f"{where}: line {n}: more than one value; Elite HRV writes one "
                                   "RR interval (ms) per line")
        if not _is_number(cells[0]):
            raise SessionFileError(f"{where}: line {n}: {_show(cells[0])} is not a number (Elite "
                                   "HRV writes no header)")
    parsed = parse_rr_table(text, where)
    return [text_recording(path, "elitehrv", parsed, extra_notes=(f"read as an {ELITE}",))]

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

**Beat times.** A time column (the ``time, RR`` layout, or one the header names) gives the beat
times when its steps follow the RR intervals (median mismatch under 5 ms or 2 % of the median RR):
its unit (s or ms) and whether it marks each interval's end (the beat, as Kubios writes) or its
start are taken from the fit. Otherwise, and without a time column, the beats are laid end to end
from the first RR (the running sum), as before; the notes say which.

**Other formats.** :func:`read_rr_all` and :func:`read_rr` take ``format=`` or detect the format
from the content (see :mod:`biobreath.files.formats`): session files, this plain RR text, Kubios,
Polar Sensor Logger, HRV Logger and Elite HRV exports, EDF/EDF+, WFDB records, Garmin FIT files
and biobreath's own exports. A file that holds several people's beats (a group session) gives one
:class:`RRRecording` each from :func:`read_rr_all`; :func:`read_rr` then needs ``device=`` or
``person=`` and never picks one itself.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biobreath.core.protocol import BreathingProtocol
from biobreath.errors import SessionFileError
from biobreath.events import DeviceInfo
from biobreath.files.beatseries import not_later
from biobreath.files.recording import SessionData, read_session

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
# A one-column file of nothing but plain numbers is read in one go (see _plain_column).
_PLAIN_CHARS = re.compile(r"[0-9.eE+\- \t\r\n]*", re.ASCII)
_TWO_ON_A_LINE = re.compile(r"[^ \t\r\n][ \t]+[^ \t\r\n]", re.ASCII)


@dataclass(frozen=True, slots=True)
class RRRecording:
    """RR intervals (ms) from any supported file, with beat times (s) and any recorded flags.

    ``kind`` names the format read (see :data:`biobreath.files.formats.FORMATS`): "session",
    "text", "kubios", "polar", "hrvlogger", "elitehrv", "edf", "wfdb", "fit",
    "biobreath-csv" or "biobreath-json". ``beat_time_s[k]`` is the time (s) of the beat that
    ends ``rr_ms[k]``: on the session clock for sessions and their exports, from the file's
    start (or its first beat) otherwise. ``person`` names whose beats these are when a file
    holds several series (a group session's people, a Kubios report's samples).
    """

    path: Path
    kind: str
    rr_ms: np.ndarray
    beat_time_s: np.ndarray
    artifact: np.ndarray      # flagged beats: the live verdict, non-N annotations (else False)
    unit: str                 # unit found in the file: "ms", "s" or "ticks"
    device: DeviceInfo | None = None          # the strap, for sessions
    protocol: BreathingProtocol | None = None  # what the session was breathed to
    notes: tuple[str, ...] = ()               # how the file was read (column, unit)
    person: str = ""                          # whose beats, when a file holds several series
    markers: tuple[tuple[float, str], ...] = ()  # (time s, text) noted in EDF+/WFDB annotations
    steps: tuple[tuple[float, str], ...] = ()    # (start s, label) of protocol steps noted there


@dataclass(frozen=True, slots=True)
class RRText:
    """What :func:`parse_rr_table` found: RR intervals (ms), the file's unit and how it read
    them (which column, which unit and why); ``time_s``: the beat times (s) a time column
    gave, or None (then the beats are laid end to end)."""

    rr_ms: np.ndarray
    unit: str
    notes: tuple[str, ...]
    time_s: np.ndarray | None = None


def read_rr(path: str | Path, format: str | None = None, *, device: str | int | None = None,
            person: str | None = None) -> RRRecording:
    """One series of beats from any supported file (``format`` named, or detected from the
    content); raise :class:`SessionFileError` with one line.

    A file with several series (a group session, one per person) needs ``device`` (the strap's
    name or address, or its number from 1) or ``person`` (as recorded, e.g. "person 2"): it is
    refused, listing them, rather than one being picked. Use :func:`read_rr_all` for all."""
    return select_recording(read_rr_all(path, format), path, device=device, person=person)


def read_rr_all(path: str | Path, format: str | None = None) -> list[RRRecording]:
    """Every series in a file: each strap's (person's) beats of a session, each sample of a
    Kubios report, or the one series of other files. ``format``: a name from
    :data:`biobreath.files.formats.FORMATS`, or None to detect it from the content."""
    from biobreath.files.formats import read_all  # the registry imports this module

    return read_all(Path(path), format)


def _label(k: int, rec: RRRecording) -> str:
    dev = rec.device
    name = (f"{dev.name} ({dev.address})" if dev.address and dev.address != dev.name
            else dev.name) if dev else ""
    return f"{k}: " + ", ".join(x for x in (name, rec.person) if x)


def select_recording(recs: list[RRRecording], path: str | Path, *, device: str | int | None = None,
                     person: str | None = None) -> RRRecording:
    """The one series of ``recs`` that ``device`` (name, address or number from 1) and
    ``person`` select; with neither, the only one. Anything else is one line that lists them."""
    listed = "; ".join(_label(k, r) for k, r in enumerate(recs, 1))
    if device is None and person is None:
        if len(recs) == 1:
            return recs[0]
        what = "people" if recs[0].kind in ("session", "biobreath-json") else "series"
        raise SessionFileError(f"{path}: holds {len(recs)} {what} ({listed}); choose one with "
                               "device= (name, address or number) or person=, or read them all "
                               "with read_rr_all")
    chosen = list(enumerate(recs, 1))
    if device is not None:
        key = str(device).strip()
        chosen = [(k, r) for k, r in chosen
                  if key == str(k) or (r.device is not None and key.casefold() in (
                      r.device.name.casefold(), r.device.address.casefold()))]
    if person is not None:
        chosen = [(k, r) for k, r in chosen if r.person.casefold() == person.strip().casefold()]
    if len(chosen) == 1:
        return chosen[0][1]
    asked = " and ".join(f"{n}={v!r}" for n, v in (("device", device), ("person", person))
                         if v is not None)
    how = "no series matches" if not chosen else f"{len(chosen)} series match"
    raise SessionFileError(f"{path}: {how} {asked} (the file holds: {listed})")


def session_people(s: SessionData) -> list[tuple[int, DeviceInfo, str]]:
    """(device number from 1, strap, person) for every strap of a session: the person recorded
    with the strap (the wearer named live, else "person N", as the recorder writes when nobody
    was named), "person N" for a file that recorded nobody."""
    persons = s.persons if len(s.persons) == len(s.devices) else ("",) * len(s.devices)
    return [(i, dev, person or f"person {i}")
            for i, (dev, person) in enumerate(zip(s.devices, persons), 1)]


def read_session_rr(path: Path) -> list[RRRecording]:
    """Every strap's beats in a session file, one :class:`RRRecording` per person."""
    return session_recordings(read_session(path))


def session_recordings(s: SessionData) -> list[RRRecording]:
    """Every strap's beats in a session already read, one :class:`RRRecording` per person."""
    path = s.path
    protocol = s.protocol()
    people = [(i, dev, person) for i, dev, person in session_people(s)
              if np.any(s.device_ids == i)]
    if not people:
        raise SessionFileError(f"{path}: the session holds no beats")
    # What the reader skipped as malformed is said in the notes, not dropped silently.
    notes = tuple(f"session file: {w}" for w in getattr(s, "warnings", ()))
    return [RRRecording(path, "session", s.rr_ms[m], s.beat_time_s[m], s.artifact[m], "ticks",
                        dev, protocol, notes, person)
            for i, dev, person in people for m in [s.device_ids == i]]


def load_text(path: Path) -> str:
    """The text of an RR file (UTF-8, a BOM allowed), or one line saying why it is none."""
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
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SessionFileError(f"{path}: not a text file nor a biobreath session") from None
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({e.strerror or e})") from None


def read_text_rr(path: Path) -> list[RRRecording]:
    """The one series of a plain RR text or CSV file (see the module doc)."""
    parsed = parse_rr_table(load_text(path), str(path))
    return [text_recording(path, "text", parsed)]


def text_recording(path: Path, kind: str, parsed: RRText, *, person: str = "",
                   device: DeviceInfo | None = None,
                   extra_notes: tuple[str, ...] = ()) -> RRRecording:
    """An :class:`RRRecording` of parsed RR text: beat times from its time column when it has
    one that fits, else laid end to end."""
    values = parsed.rr_ms
    times = parsed.time_s if parsed.time_s is not None else np.cumsum(values) / 1000.0
    return RRRecording(path, kind, values, times, np.zeros(values.size, bool), parsed.unit,
                       device=device, notes=(*extra_notes, *parsed.notes), person=person)


def beat_times(t: np.ndarray, rr_ms: np.ndarray, units: tuple[str, ...] = ("s", "ms")
               ) -> tuple[np.ndarray, str] | None:
    """Beat times (s) from a column of times ``t`` that goes with ``rr_ms``, and how it was
    read; None when its steps do not follow the RR intervals.

    ``t`` may be in any of ``units`` (s or ms) and mark each interval's end (the beat that
    closes it, as Kubios writes) or its start: whichever fits the RRs best (median mismatch of
    the steps under 5 ms or 2 % of the median RR; ties go to seconds and to the end)."""
    t = np.asarray(t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    if t.size != rr_ms.size or t.size < 2 or not np.all(np.isfinite(t)):
        return None
    step = np.diff(t)
    if np.any(step <= 0):
        return None
    best = None
    for unit in units:
        scale = 1.0 if unit == "s" else 1e-3
        for where, ref in (("end", rr_ms[1:]), ("start", rr_ms[:-1])):
            err = float(np.median(np.abs(step * scale * 1000.0 - ref)))
            if best is None or err < best[0]:
                best = (err, scale, unit, where)
    err, scale, unit, where = best
    if not err <= max(5.0, 0.02 * float(np.median(rr_ms))):
        return None
    times = t * scale
    if where == "start":
        times = times + rr_ms / 1000.0
    note = ("each beat at the end of its interval" if where == "end" else
            "each marking the start of its interval, so each beat is its time plus its RR")
    return times, f"in {unit}, {note}"


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


def _rows(text: str):
    """(line number, stripped line) of each line that is neither blank nor a comment."""
    rows = ((n, ln.strip()) for n, ln in enumerate(io.StringIO(text, newline=None), 1))
    return ((n, ln) for n, ln in rows if ln and not ln.startswith("#"))


def _plain_column(text: str, skip: int) -> np.ndarray | None:
    """The values of a one-column file after its first ``skip`` lines, read in one go when they
    are plain numbers, one a line, and nothing else (no comment, no bare CR line end); None
    otherwise, and the line-by-line reading decides (and words any error). Each value is
    ``float`` of its cell, as there: the same numbers."""
    if text.count("\r") != text.count("\r\n"):
        return None
    parts = text.split("\n", skip)
    if len(parts) <= skip:
        return None
    body = parts[skip]
    if not _PLAIN_CHARS.fullmatch(body) or (
            (" " in body or "\t" in body) and _TWO_ON_A_LINE.search(body)):
        return None
    try:
        values = np.array([float(cell) for cell in body.split()])
    except ValueError:  # "1.2.3", "e5": not numbers, whose line the slow reading names
        return None
    return values if values.size else None


def _value_line(text: str, has_header: bool, i: int) -> int:
    """The line number of the ``i``-th value of a one-column file."""
    rows = _rows(text)
    if has_header:
        next(rows)
    return next(itertools.islice(rows, i, None))[0]


def parse_rr_table(text: str, name: str = "<text>") -> RRText:
    """RR intervals (ms), the unit found and notes on how they were read, from RR text or CSV
    content (see the module doc); :class:`SessionFileError` with one line if unusable."""
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = _rows(text)
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
    plain = None
    if width == 1 and delim is None:
        plain = _plain_column(text, first_line if has_header else first_line - 1)
        if plain is not None:
            all_rows = ()
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
    if plain is None and not rr.values and rr.first_bad is None:
        raise SessionFileError(f"{name}: no RR values in the file"
                               + (f" (only the header, line {first_line})" if has_header else ""))

    if plain is None:
        values = np.frombuffer(rr.values, dtype=float)
        lines = np.frombuffer(rr.lines, dtype=np.int64)
    else:
        values = plain

    def line_of(i: int) -> int:
        """The line number of value ``i``, for a message."""
        return int(lines[i]) if plain is None else _value_line(text, has_header, i)

    if layout == "time-rr":
        col_note = _time_rr_layout(name, head if has_header else None, times, rr)
    elif time_col is not None and times.first_bad is None:
        _check_times(name, head[time_col], times)

    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise SessionFileError(f"{name}: line {line_of(bad[0])}: {values[bad[0]]:g}{where} is "
                               "not a finite number")
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise SessionFileError(f"{name}: line {line_of(bad[0])}: {values[bad[0]]:g}{where} is "
                               "not a positive RR interval")
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
        raise SessionFileError(f"{name}: line {line_of(bad[0])}: {v:g} {unit}{where} cannot be an "
                               f"RR interval (the file is in {unit}; an RR interval is 1 ms to "
                               "60 s)")
    ms = values * scale
    if unit == "s":
        unit_note += ", converted to ms"
    time_s, time_note = None, ""
    if tcol is not None and times.first_bad is None and len(times.values) == ms.size:
        label = f"column {tcol + 1}" + (f" ({_show(head[tcol])})" if has_header else "")
        fit = beat_times(np.frombuffer(times.values, dtype=float), ms)
        if fit is not None:
            time_s, time_note = fit[0], f"beat times from {label}, {fit[1]}"
        else:
            time_note = (f"{label} does not follow the RR intervals; the beats are laid end to "
                         "end from the first RR")
    return RRText(ms, unit, tuple(n for n in (col_note, unit_note, time_note) if n), time_s)


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
        down = not_later(t)
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
    bad = not_later(t)
    if bad.size:
        k = bad[0]
        raise SessionFileError(f"{name}: times ({_show(header)}) are not increasing (line "
                               f"{times.lines[k + 1]}: {t[k + 1]:g} after {t[k]:g})")

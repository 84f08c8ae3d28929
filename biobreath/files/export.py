"""A session exported to what other HRV tools read (``biobreath export``), and biobreath's own
exports read back as beats.

:func:`export_session` writes one set of files per person (a group session gets one per strap,
the person and strap in each file name: ``NAME-person1-E0A0B3C2D310...``); it never overwrites a
file: every file it would write is checked first, and one that exists is one line, with nothing
written. Files go beside the session (``out=None``), into a folder (``out`` an existing folder) or
under a name of one's choice (``out`` a path without the suffixes below). Times are seconds on
the session clock (0 = the session start, ``meta.created_utc``). EDF and WFDB files start at a
whole second at or before the first thing recorded (usually 0, or -1 s when the first beat's
interval began before the session did); their start date and time is that moment in UTC (to the
second in EDF), and each says where the session clock's 0 lies (EDF+: a ``session start``
annotation; WFDB: a ``time origin`` header comment), so biobreath reads their times back on the
session clock. Signals are placed on their sample grid by their times; gaps hold 0 (EDF, with an
annotation) or invalid samples (WFDB).

======  ============================================================  ========================
to      files                                                         beat times and RRs
======  ============================================================  ========================
kubios  ``.kubios.txt``: ``#`` comment lines, then ``time<TAB>RR``:    time 1 µs, RR 0.001 ms
        beat time (s) and RR (ms), what Kubios HRV imports as ASCII
csv     ``.beats.csv`` (time_s, rr_ms, rr_ticks, artifact, device,    time 1 µs, RR exact
        person), ``.breaths.csv`` (pacer breaths), ``.markers.csv``    (ticks)
        (events of kind ``marker``), ``.ecg.csv`` (t_s, ecg_uv),
        ``.acc.csv`` (t_s, x_mg, y_mg, z_mg): each when recorded
edf     ``.edf``: EDF+ with ECG, accelerometer, RR and pacer phase     time 0.1 ms; RR as
        signals; beats, protocol steps, markers as annotations         differences of times
        (see :mod:`biobreath.files.edf`)
wfdb    ``.hea`` + ``.atr`` beat annotations, protocol steps and       time 1/1024 s; RR as
        markers as notes (+ ``.dat`` ECG when recorded; see            differences of times
        :mod:`biobreath.files.wfdb_records`)
json    ``.json``: meta, devices, beats (with raw ticks, arrival       exact (floats as
        times, verdicts), events, ECG and ACC samples                  written by Python)
======  ============================================================  ========================

**Beat times and RRs.** A session stores each beat's RR (the strap's 1/1024 s ticks) and its
time on the session clock; the times are placed by the beat timer (:mod:`biobreath.core.timing`),
so successive times differ from the RRs by the timer's corrections. Formats with both columns
(Kubios text, CSV, JSON) keep both. EDF and WFDB annotations hold times only, and every EDF or
WFDB tool takes RRs as their differences: there, beats are annotated on the strap's own clock
(:func:`biobreath.core.timing.chain_times`: the sums of the RRs, each unbroken stretch placed at
the timer's median offset over it), and so is the beat that opened the first interval, so a
reader gets back every RR exactly (to the format's time resolution) rather than with the timer's
steps, which in five minutes of a simulated session raised RMSSD by 12 %. A beat's annotated time
lies within those steps of its recorded one (about 20 ms once settled, about 200 ms in the first
half minute). The EDF's RR signal steps at the beats as annotated; the markers stay where the
session placed them. A beat judged an artifact live is ``R-peak (artifact)`` (EDF) or ``Q``
(WFDB); biobreath's readers then flag the intervals on both sides of it (the NN rule of
:mod:`biobreath.files.beatseries`).

:func:`read_beats_csv` and :func:`read_export_json` read the CSV and JSON exports back
(:mod:`biobreath.files.formats` detects them); the other exports are read by their formats'
readers.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np

from biobreath import __version__
from biobreath.core.pacer import Pacer
from biobreath.core.timing import chain_times
from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import TICKS_PER_S, DeviceInfo
from biobreath.files import edf, wfdb_records
from biobreath.files.annotations import marker_text, step_text
from biobreath.files.beatseries import check_rr
from biobreath.files.formats import BEATS_CSV_HEADER
from biobreath.files.readers import RRRecording, load_text, session_people
from biobreath.files.recording import (
    SessionData,
    marker_note,
    one_line,
    read_session,
    without_accents,
)

EXPORT_FORMATS = ("kubios", "csv", "edf", "wfdb", "json")
JSON_FORMAT = "biobreath-export"
JSON_VERSION = 1
RR_SIGNAL_HZ = 4.0
PACER_SIGNAL_HZ = 4.0
ECG_RANGE_UV = (-32768.0, 32767.0)
ACC_RANGE_MG = (-32768.0, 32767.0)
CSV_FILE = "biobreath beats CSV"
JSON_FILE = "biobreath JSON export"
_SUFFIXES = (".edf", ".json", ".txt", ".csv", ".hea", ".atr", ".dat")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)


class Samples(Protocol):
    """A recorded signal as :class:`biobreath.files.recording.SessionData` gives it: sample
    times (s) and values (µV for ECG; milli-g x, y, z for ACC)."""

    t: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, slots=True, eq=False)
class _Person:
    """One person's part of a session: their strap, beats, signals and events."""

    number: int                 # the strap's number from 1, as in the session's devices
    device: DeviceInfo
    person: str
    tag: str                    # added to file names in a group session, else ""
    beats: np.ndarray           # mask over the session's beats
    ecg: Samples | None
    acc: Samples | None
    events: tuple               # (t, device number or None, kind, value): this person's and shared


def _slug(text: str) -> str:
    """``text`` as part of a file name: its letters and digits in any script, accents dropped
    ("Zoë Ødegård" -> "ZoeØdegard"), so the name still reads as the person's."""
    return re.sub(r"[\W_]+", "", without_accents(text))


def _people(data: SessionData) -> list[_Person]:
    people = [(i, dev, person) for i, dev, person in session_people(data)
              if np.any(data.device_ids == i)]
    out = []
    for i, dev, person in people:
        tag = "" if len(people) == 1 else \
            f"-{_slug(person) or f'person{i}'}-{_slug(dev.address or dev.name) or f'strap{i}'}"
        out.append(_Person(
            i, dev, person, tag, data.device_ids == i,
            next((s for s in data.ecg if s.device_id == i and s.t.size), None),
            next((s for s in data.acc if s.device_id == i and s.t.size), None),
            tuple(e for e in data.events if e[1] is None or e[1] == i)))
    return out


def _base(path: Path, out: str | Path | None) -> Path:
    if out is None:
        return path.with_suffix("")
    out = Path(out)
    if out.is_dir():
        return out / path.stem
    if not out.parent.is_dir():
        raise RecordingError(f"{out.parent}: no such folder to export into")
    return out.with_suffix("") if out.suffix.lower() in _SUFFIXES else out


def _has(p: _Person, kind: str) -> bool:
    return any(e[2] == kind for e in p.events)


def _targets(to: str, base: Path, p: _Person) -> dict[str, Path]:
    stem = f"{base}{p.tag}"
    if to == "kubios":
        return {"rr": Path(f"{stem}.kubios.txt")}
    if to == "csv":
        files = {"beats": Path(f"{stem}.beats.csv")}
        for what, present in (("breaths", _has(p, "breath")), ("markers", _has(p, "marker")),
                              ("ecg", p.ecg is not None), ("acc", p.acc is not None)):
            if present:
                files[what] = Path(f"{stem}.{what}.csv")
        return files
    if to == "edf":
        return {"edf": Path(f"{stem}.edf")}
    if to == "wfdb":
        record = base.parent / wfdb_records.record_name(f"{base.name}{p.tag}")
        return {ext: Path(f"{record}.{ext}") for ext in ("hea", "atr")
                + (("dat",) if p.ecg is not None else ())}
    return {"json": Path(f"{stem}.json")}


def export_session(path: str | Path, to: str, out: str | Path | None = None) -> list[Path]:
    """Export the session at ``path`` as ``to`` (one of :data:`EXPORT_FORMATS`; see the
    module doc) beside it, into the folder ``out`` or under the name ``out``; returns the files
    written. Never overwrites: an existing file is one :class:`RecordingError` line, and then
    nothing is written. A file that is no session is one :class:`SessionFileError` line."""
    path = Path(path)
    if to not in EXPORT_FORMATS:
        raise RecordingError(f"unknown export format {to!r}; choose one of "
                             f"{', '.join(EXPORT_FORMATS)}")
    data = read_session(path)
    people = _people(data)
    if not people:
        raise SessionFileError(f"{path}: the session holds no beats to export")
    base = _base(path, out)
    plans = [(p, _targets(to, base, p)) for p in people]
    files = [f for _, targets in plans for f in targets.values()]
    if path.resolve() in {f.resolve() for f in files}:
        raise RecordingError(f"{path}: exporting would write over the session itself; choose "
                             "another --out")
    for f in files:
        if f.exists() or f.is_symlink():
            raise RecordingError(f"{f} already exists; exporting never overwrites a file "
                                 "(choose another --out)")
    try:
        for p, targets in plans:
            _WRITERS[to](path, data, p, targets)
    except BaseException:
        for f in files:  # none existed before: what is there now is ours, and incomplete
            if f.exists():
                f.unlink()
        raise
    return [f for f in files if f.exists()]


# -- What every format needs --------------------------------------------------------------------


def _beats(data: SessionData, p: _Person):
    """This person's beat times (s), RRs (ms), ticks, arrival times (s) and live verdicts."""
    m = p.beats
    return (data.beat_time_s[m], data.rr_ms[m], data.rr_ticks[m], data.arrival_s[m],
            data.artifact[m])


def _span(data: SessionData, p: _Person) -> tuple[float, float]:
    """(origin, end) in session seconds: the origin is 0, or the whole second before the first
    thing written (the beat that opened the first interval, as annotated: see
    :func:`_opening_beats`; a signal's first sample)."""
    beats_t, _ = _opening_beats(data, p)
    first = [0.0, float(beats_t.min())]
    last = [data.duration_s, float(_beats(data, p)[0].max()), float(beats_t.max())]
    for s in (p.ecg, p.acc):
        if s is not None:
            first.append(float(s.t.min()))
            last.append(float(s.t.max()))
    return float(math.floor(min(first))), max(last)


def _start(data: SessionData, origin_s: float) -> datetime:
    """Wall-clock (UTC, naive) time of session time ``origin_s``."""
    created = data.meta.get("created_utc")
    try:
        when = datetime.fromisoformat(str(created)).astimezone(UTC).replace(tzinfo=None)
    except ValueError:
        when = datetime.fromtimestamp(data.path.stat().st_mtime, UTC).replace(tzinfo=None)
    return when + timedelta(seconds=origin_s)


def _rate(s: Samples) -> float:
    """A signal's sample rate (Hz), from the median spacing of its samples."""
    step = np.diff(s.t)
    step = step[step > 0]
    return float(1.0 / np.median(step)) if step.size else 1.0


def _open(path: Path):
    """A new text file (never an existing one)."""
    try:
        return open(path, "x", encoding="utf-8", newline="")
    except FileExistsError:
        raise RecordingError(f"{path} already exists; exporting never overwrites a file"
                             ) from None
    except OSError as e:
        raise RecordingError(f"{path}: cannot write ({e.strerror or e})") from None


def _markers(p: _Person) -> list[tuple[float, float, str]]:
    """The person's markers as (time s, -1 for no duration, text), for annotations."""
    return [(t_s, -1.0, marker_text(one_line(marker_note(v))))
            for t_s, _, kind, v in p.events if kind == "marker"]


def _steps(data: SessionData) -> list[tuple[float, float, str]]:
    """Protocol steps the session reached as (onset s, duration s, text): each from where the
    pacer began it (a breath boundary, as ``analyze --segments steps`` has it) to the next."""
    protocol = data.protocol()
    starts = [t0 for t0 in Pacer(protocol).step_starts() if t0 < data.duration_s]
    ends = [*starts[1:], data.duration_s]
    return [(t0, end - t0, step_text(k, step.label, step.shape.rate_bpm if step.shape else None))
            for k, (step, t0, end) in enumerate(zip(protocol.steps, starts, ends), 1)]


# -- Kubios -------------------------------------------------------------------------------------


def _write_kubios(path: Path, data: SessionData, p: _Person, targets: dict[str, Path]) -> None:
    t, rr, _, _, art = _beats(data, p)
    head = [
        "# biobreath RR export for Kubios HRV (ASCII RR data)",
        f"# session: {one_line(path.name)}, started {data.meta.get('created_utc', '?')} (UTC)",
        f"# strap: {one_line(p.device.name)} ({one_line(p.device.address)}), "
        f"{one_line(p.person)}",
        f"# beats: {t.size}, of which {int(art.sum())} judged artifacts live (kept as recorded; "
        "let Kubios correct them)",
        "# columns: beat time (s from the session start), RR interval (ms)",
    ]
    with _open(targets["rr"]) as f:
        f.write("\n".join(head) + "\n")
        f.writelines(f"{a:.6f}\t{b:.3f}\n" for a, b in zip(t, rr))


# -- CSV ----------------------------------------------------------------------------------------


def _write_csv(path: Path, data: SessionData, p: _Person, targets: dict[str, Path]) -> None:
    t, rr, ticks, _, art = _beats(data, p)
    name = one_line(p.device.name)
    with _open(targets["beats"]) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(BEATS_CSV_HEADER.split(","))
        w.writerows((f"{a:.6f}", f"{b:.3f}", int(c), int(d), name, p.person)
                    for a, b, c, d in zip(t, rr, ticks, art))
    if "breaths" in targets:
        keys = ("n", "label", "inhale_s", "hold_in_s", "exhale_s", "hold_out_s")
        with _open(targets["breaths"]) as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("t_s", *keys))
            for t_s, _, kind, value in p.events:
                if kind == "breath":
                    v = value if isinstance(value, dict) else {}
                    w.writerow((f"{t_s:.6f}", *("" if v.get(k) is None else v[k] for k in keys)))
    if "markers" in targets:
        with _open(targets["markers"]) as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(("t_s", "device", "value"))
            for t_s, d, kind, value in p.events:
                if kind == "marker":
                    w.writerow((f"{t_s:.6f}", name if d is not None else "",
                                one_line(marker_note(value))))
    if "ecg" in targets:
        with _open(targets["ecg"]) as f:
            f.write("t_s,ecg_uv\n")
            f.writelines(f"{a:.6f},{int(b)}\n" for a, b in zip(p.ecg.t, p.ecg.values))
    if "acc" in targets:
        with _open(targets["acc"]) as f:
            f.write("t_s,x_mg,y_mg,z_mg\n")
            f.writelines(f"{a:.6f},{int(x)},{int(y)},{int(z)}\n"
                         for a, (x, y, z) in zip(p.acc.t, p.acc.values))


# -- EDF+ ---------------------------------------------------------------------------------------


def _opening_beats(data: SessionData, p: _Person) -> tuple[np.ndarray, np.ndarray]:
    """Every beat's time on the strap's clock (s) and whether it is normal, led by the beat that
    opened the first interval: what EDF and WFDB annotate (see the module doc)."""
    t, _, ticks, _, art = _beats(data, p)
    gap = data.gap[p.beats] if data.gap is not None else np.zeros(t.size, dtype=bool)
    on_strap = chain_times(ticks, t, gap)
    return np.r_[on_strap[0] - ticks[0] / TICKS_PER_S, on_strap], np.r_[True, ~art]


def _write_edf(path: Path, data: SessionData, p: _Person, targets: dict[str, Path]) -> None:
    origin, end = _span(data, p)
    n_records = max(1, math.ceil(end - origin + 1e-9))
    signals: list[edf.EdfSignal] = []
    notes: list[tuple[float, float, str]] = []
    if p.ecg is not None:
        fs = max(1, round(_rate(p.ecg)))
        grid, gaps = on_grid(p.ecg.t, p.ecg.values.astype(float), fs, origin, n_records * fs)
        signals.append(edf.EdfSignal("ECG", "uV", fs, grid, *ECG_RANGE_UV))
        notes += [(a, d, "ECG gap (no samples; 0 written)") for a, d in gaps]
    if p.acc is not None:
        fs = max(1, round(_rate(p.acc)))
        grid, gaps = on_grid(p.acc.t, p.acc.values.astype(float), fs, origin, n_records * fs)
        signals += [edf.EdfSignal(f"Accel {axis}", "mg", fs, grid[:, k], *ACC_RANGE_MG)
                    for k, axis in enumerate("XYZ")]
        notes += [(a, d, "ACC gap (no samples; 0 written)") for a, d in gaps]
    # The RR signal steps at the beats as annotated (on the strap's clock).
    rr = _beats(data, p)[1]
    beats_t, normal = _opening_beats(data, p)
    t = beats_t[1:]
    g = origin + np.arange(round(n_records * RR_SIGNAL_HZ)) / RR_SIGNAL_HZ
    order = np.argsort(t, kind="stable")
    k = np.clip(np.searchsorted(t[order], g), 0, t.size - 1)
    rr_hi = float(max(2000.0, math.ceil(rr.max() / 100.0) * 100.0))
    signals.append(edf.EdfSignal("RR", "ms", RR_SIGNAL_HZ, rr[order][k], 0.0, rr_hi))
    pacer = Pacer(data.protocol())
    g = origin + np.arange(round(n_records * PACER_SIGNAL_HZ)) / PACER_SIGNAL_HZ
    signals.append(edf.EdfSignal("Pacer phase", "cycle", PACER_SIGNAL_HZ,
                             np.mod(np.asarray(pacer.phase(g), dtype=float), 1.0), 0.0, 1.0))
    sid = str(data.meta.get("session_id", ""))[:8]
    edf.write_edf(targets["edf"], start=_start(data, origin), origin_s=origin,
                  n_records=n_records, signals=signals, beats_t=beats_t, beats_normal=normal,
                  annotations=[*_steps(data), *_markers(p), *notes], patient=p.person,
                  equipment=p.device.name, additional=f"biobreath {__version__} {sid}".strip())


def on_grid(t_s: np.ndarray, values: np.ndarray, fs_hz: float, origin_s: float, n: int,
            fill: float = 0.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """``values`` at times ``t_s`` (s) placed on a grid of ``n`` samples at ``fs_hz`` from
    ``origin_s`` (nearest sample; ``fill`` where none fell) and the gaps (start s, length s) of
    0.1 s or more between the first and last sample. Where the strap's frames were re-anchored
    by a fraction of a sample, two samples can round to one grid point: the later one is kept
    (about 1 in 2000 for the Polar H10's ECG)."""
    grid = np.full((n,) + values.shape[1:], fill, dtype=float)
    filled = np.zeros(n, dtype=bool)
    idx = np.rint((np.asarray(t_s) - origin_s) * fs_hz).astype(np.int64)
    ok = (idx >= 0) & (idx < n)
    grid[idx[ok]] = values[ok]
    filled[idx[ok]] = True
    gaps = []
    if filled.any():
        first, last = np.flatnonzero(filled)[[0, -1]]
        holes = ~filled[first:last + 1]
        edges = np.diff(np.r_[0, holes.astype(np.int8), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if (b - a) / fs_hz >= 0.1:
                gaps.append((origin_s + (first + a) / fs_hz, (b - a) / fs_hz))
    return grid, gaps


# -- WFDB ---------------------------------------------------------------------------------------


def _write_wfdb(path: Path, data: SessionData, p: _Person, targets: dict[str, Path]) -> None:
    origin, end = _span(data, p)
    ecg = None
    if p.ecg is not None:
        fs = max(1, round(_rate(p.ecg)))
        n = math.ceil((end - origin) * fs) + 1
        grid, _ = on_grid(p.ecg.t, p.ecg.values.astype(float), fs, origin, n, fill=np.nan)
        ecg = (grid, float(fs))
    beats_t, normal = _opening_beats(data, p)
    comments = [f"biobreath {__version__} export of session {data.meta.get('session_id', '?')}",
                f"source: {path.name}",
                f"device: {p.device.name}", f"address: {p.device.address}",
                f"person: {p.person}",
                f"time origin: sample 0 is {origin:g} s on the session clock (session start "
                f"{data.meta.get('created_utc', '?')} UTC)",
                "beats: N normal, Q judged an artifact live; the first annotation is the beat "
                "that opened the first RR interval",
                'notes (" annotations): protocol steps and markers, their text in aux as UTF-8']
    notes = [(t_s, text) for t_s, _, text in [*_steps(data), *_markers(p)]]
    wfdb_records.write_wfdb(targets["hea"].with_suffix(""), start=_start(data, origin),
                            origin_s=origin, beats_t=beats_t, beats_normal=normal, ecg=ecg,
                            comments=comments, notes=notes)


# -- JSON ---------------------------------------------------------------------------------------


def _write_json(path: Path, data: SessionData, p: _Person, targets: dict[str, Path]) -> None:
    t, rr, ticks, arrival, art = _beats(data, p)
    numbers = {d: person for d, _, person in session_people(data)}
    devices = [{**asdict(dev), "number": i, "person": numbers[i]}
               for i, dev in enumerate(data.devices, 1)]
    signals: dict[str, object] = {"ecg": None, "acc": None}
    if p.ecg is not None:
        signals["ecg"] = {"t_s": p.ecg.t.tolist(), "uv": p.ecg.values.tolist()}
    if p.acc is not None:
        signals["acc"] = {"t_s": p.acc.t.tolist(), "mg": p.acc.values.tolist()}
    obj = {
        "format": JSON_FORMAT, "format_version": JSON_VERSION, "software_version": __version__,
        "source_file": path.name, "person": p.person,
        "device": {**asdict(p.device), "number": p.number},
        "meta": data.meta, "devices": devices,
        "beats": {"time_s": t.tolist(), "rr_ms": rr.tolist(), "rr_ticks": ticks.tolist(),
                  "arrival_s": arrival.tolist(), "artifact": art.tolist()},
        "events": [{"t_s": t_s, "device": d, "kind": kind, "value": v}
                   for t_s, d, kind, v in p.events],
        "signals": signals,
        "warnings": list(data.warnings),
    }
    try:
        text = json.dumps(obj, allow_nan=False, ensure_ascii=False)
    except ValueError as e:
        raise RecordingError(f"{targets['json']}: cannot write JSON ({e})") from None
    with _open(targets["json"]) as f:
        f.write(text + "\n")


_WRITERS: dict[str, Callable[[Path, SessionData, _Person, dict[str, Path]], None]] = {
    "kubios": _write_kubios, "csv": _write_csv, "edf": _write_edf, "wfdb": _write_wfdb,
    "json": _write_json}


# -- Reading biobreath's exports back -----------------------------------------------------------


def _float(cell: str, where: str, line: int, column: str) -> float:
    if not _NUMBER.fullmatch(cell):
        raise SessionFileError(f"{where}: line {line}: {cell[:24]!r} in column {column!r} is not "
                               "a number")
    return float(cell)


def read_beats_csv(path: Path) -> list[RRRecording]:
    """The beats of an exported ``.beats.csv`` (one series per device and person in it). RRs
    come from the exact ``rr_ticks`` when given (``rr_ms`` must agree), else from ``rr_ms``."""
    where = f"{path}: {CSV_FILE}"
    reader = csv.reader(io.StringIO(load_text(path)))
    columns = BEATS_CSV_HEADER.split(",")
    series: dict[tuple[str, str], list] = {}
    try:
        header = next(reader, None)
        if header != columns:
            raise SessionFileError(f"{where}: line 1: the header is not {BEATS_CSV_HEADER!r}")
        for row in reader:
            n = reader.line_num
            if not row or not any(c.strip() for c in row):
                continue
            if len(row) != len(columns):
                raise SessionFileError(f"{where}: line {n}: {len(row)} values, but the header "
                                       f"names {len(columns)} columns")
            t_s, ms, ticks, art, device, person = (c.strip() for c in row)
            t_v = _float(t_s, where, n, "time_s")
            ms_v = _float(ms, where, n, "rr_ms")
            if ticks:
                if not ticks.isascii() or not ticks.isdigit():
                    raise SessionFileError(f"{where}: line {n}: {ticks[:24]!r} in column "
                                           "'rr_ticks' is not a whole number")
                exact = int(ticks) * 1000.0 / TICKS_PER_S
                if not abs(exact - ms_v) <= 0.5:
                    raise SessionFileError(f"{where}: line {n}: rr_ms {ms_v:g} disagrees with "
                                           f"rr_ticks {ticks} ({exact:g} ms)")
                ms_v = exact
            if art not in ("0", "1", ""):
                raise SessionFileError(f"{where}: line {n}: {art[:24]!r} in column 'artifact' is "
                                       "not 0 or 1")
            series.setdefault((device, person), []).append((t_v, ms_v, art == "1", n,
                                                            bool(ticks)))
    except csv.Error as e:
        raise SessionFileError(f"{where}: line {reader.line_num}: {e}") from None
    if not series:
        raise SessionFileError(f"{where}: no beats (only the header)")
    out = []
    for (device, person), rows in series.items():
        t, ms, art, lines, exact = (np.array(x) for x in zip(*rows))
        check_rr(ms, lines, where)
        out.append(RRRecording(
            path, "biobreath-csv", ms, t, art.astype(bool), "ticks" if exact.all() else "ms",
            device=DeviceInfo(name=device) if device else None,
            notes=(f"{CSV_FILE}: RR from "
                   + ("rr_ticks (exact)" if exact.all() else "rr_ms") + ", times from time_s",),
            person=person))
    return out


def _array(obj: dict, key: str, where: str, n: int | None, kind: type = float) -> np.ndarray:
    values = obj.get(key)
    if not isinstance(values, list):
        raise SessionFileError(f"{where}: field 'beats.{key}' is not a list")
    if n is not None and len(values) != n:
        raise SessionFileError(f"{where}: field 'beats.{key}' has {len(values)} items, but "
                               f"'beats.time_s' has {n}")
    for k, v in enumerate(values):
        ok = isinstance(v, bool) if kind is bool else (
            isinstance(v, int | float) and not isinstance(v, bool)
            and (kind is float or (abs(v) < 2 ** 62 and float(v).is_integer())))
        if not ok or (kind is float and not math.isfinite(v)):
            what = {bool: "true or false", int: "a whole number"}.get(kind, "a finite number")
            raise SessionFileError(f"{where}: field 'beats.{key}[{k}]' is {str(v)[:24]!r}, not "
                                   f"{what}")
    return np.array(values, dtype=kind if kind is not int else np.int64)


def read_export_json(path: Path) -> list[RRRecording]:
    """The beats of an exported ``.json`` (its person's), with the strap and person it names."""
    where = f"{path}: {JSON_FILE}"
    try:
        obj = json.loads(load_text(path))
    except json.JSONDecodeError as e:
        raise SessionFileError(f"{where}: line {e.lineno}: {e.msg}") from None
    except RecursionError:
        raise SessionFileError(f"{where}: nested too deeply to be an export") from None
    if not isinstance(obj, dict) or obj.get("format") != JSON_FORMAT:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise SessionFileError(f"{where}: field 'format' is {str(found)[:24]!r}, not "
                               f"{JSON_FORMAT!r}")
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SessionFileError(f"{where}: field 'format_version' is {str(version)[:24]!r}, not a "
                               "version number")
    if version > JSON_VERSION:
        raise SessionFileError(f"{where}: format_version {version} is newer than this biobreath "
                               f"reads ({JSON_VERSION}); please upgrade")
    beats = obj.get("beats")
    if not isinstance(beats, dict):
        raise SessionFileError(f"{where}: field 'beats' is not an object")
    t = _array(beats, "time_s", where, None)
    if t.size == 0:
        raise SessionFileError(f"{where}: no beats (field 'beats.time_s' is empty)")
    ms = _array(beats, "rr_ms", where, t.size)
    exact = "rr_ticks" in beats
    if exact:
        ticks = _array(beats, "rr_ticks", where, t.size, int)
        bad = np.flatnonzero(~(np.abs(ticks * 1000.0 / TICKS_PER_S - ms) <= 0.5))
        if bad.size:
            raise SessionFileError(f"{where}: field 'beats.rr_ms[{bad[0]}]' ({ms[bad[0]]:g}) "
                                   f"disagrees with 'beats.rr_ticks[{bad[0]}]' ({ticks[bad[0]]})")
        ms = ticks * 1000.0 / TICKS_PER_S
    check_rr(ms, np.arange(ms.size), where, at="field 'beats.rr_ms[{}]'")
    art = _array(beats, "artifact", where, t.size, bool) if "artifact" in beats else \
        np.zeros(t.size, bool)
    dev = obj.get("device")
    device = None
    if isinstance(dev, dict) and isinstance(dev.get("name"), str):
        fields = {k: dev[k] for k in ("name", "address", "model", "manufacturer", "firmware",
                                      "profile") if isinstance(dev.get(k), str)}
        device = DeviceInfo(**fields)
    person = obj.get("person") if isinstance(obj.get("person"), str) else ""
    return [RRRecording(path, "biobreath-json", ms, t, art, "ticks" if exact else "ms",
                        device=device, person=person,
                        notes=(f"{JSON_FILE} of {str(obj.get('source_file', '?'))[:80]}",))]

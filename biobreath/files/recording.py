"""Crash-safe session recording in one self-describing SQLite file.

The file is written as the session happens, one transaction per notification (or at least once a
second), in WAL mode: a process killed at any moment loses at most the last second. Its schema is
documented in the README ("Session file") so it can be read without biobreath:

- ``meta(key, value)``: JSON values; ``format`` = "biobreath-session", ``format_version``,
  ``software_version``, ``created_utc``, ``source`` (kind and parameters), ``protocol``,
  ``parameters`` (every live-analysis setting), ``ended_utc`` once the session closed cleanly.
- ``devices(id, name, address, model, manufacturer, firmware, profile, person)``: one row per
  strap; every other table's ``device_id`` points here, which keeps people apart.
- ``beats(id, device_id, rr_ticks, rr_ms, beat_time_s, arrival_s, artifact, artifact_reason,
  seq, gap)``: a beat is written when it arrives; ``artifact`` (0/1) is filled in when the live
  detector has judged it, two beats later (NULL if the session ended before); ``gap`` (0/1) marks
  a beat after which the beat chain broke (lost RRs, a re-anchored timer).
- ``notifications(id, device_id, arrival_s, payload, seq)``: the raw 0x2A37 bytes as received.
- ``ecg(id, device_id, t0_s, fs_hz, samples, arrival_s, seq)`` and ``acc(...)``: raw Polar PMD
  frames, one row per frame; ``samples`` is little-endian int32 µV (ECG) or int16 milli-g x, y, z
  interleaved (ACC), the first sample at ``t0_s``, the rest every ``1 / fs_hz`` s.
- ``events(id, t_s, device_id, kind, value, seq)``: session start/stop, breaths, link
  lost/reconnected, battery, contact, the strap's own heart rate, and clock ticks (the session
  time reached with no event); ``value`` is JSON.

``seq`` numbers every event the session received from its source, in the order it received them
(format 2; NULL for what the session itself wrote), so a replay feeds the same events in the same
order (:func:`read_events`). Times are seconds from the session start (``meta.created_utc``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from biobreath import __version__
from biobreath.core.protocol import BreathingProtocol, parse_protocol
from biobreath.errors import RecordingError, SessionFileError
from biobreath.events import (
    AccSamples,
    Battery,
    Beat,
    Contact,
    DeviceInfo,
    EcgSamples,
    Event,
    HeartRate,
    Link,
    LinkState,
    Notification,
    Tick,
)

FORMAT = "biobreath-session"
FORMAT_VERSION = 2
APPLICATION_ID = 0x62627265  # "bbre": marks the SQLite file as ours

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY, name TEXT, address TEXT, model TEXT, manufacturer TEXT,
    firmware TEXT, profile TEXT, person TEXT);
CREATE TABLE beats (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    rr_ticks INTEGER NOT NULL, rr_ms REAL NOT NULL, beat_time_s REAL NOT NULL,
    arrival_s REAL NOT NULL, artifact INTEGER, artifact_reason TEXT, seq INTEGER,
    gap INTEGER);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    arrival_s REAL NOT NULL, payload BLOB NOT NULL, seq INTEGER);
CREATE TABLE ecg (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    t0_s REAL NOT NULL, fs_hz REAL NOT NULL, samples BLOB NOT NULL, arrival_s REAL, seq INTEGER);
CREATE TABLE acc (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL REFERENCES devices(id),
    t0_s REAL NOT NULL, fs_hz REAL NOT NULL, samples BLOB NOT NULL, arrival_s REAL, seq INTEGER);
CREATE TABLE events (
    id INTEGER PRIMARY KEY, t_s REAL NOT NULL, device_id INTEGER REFERENCES devices(id),
    kind TEXT NOT NULL, value TEXT, seq INTEGER);
"""


def default_session_dir() -> Path:
    """The per-user folder sessions go to unless ``--out`` says otherwise."""
    from platformdirs import user_data_dir

    return Path(os.environ.get("BIOBREATH_DATA_DIR") or user_data_dir("biobreath")) / "sessions"


def default_session_path() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    d = default_session_dir()
    path = d / f"session-{stamp}.sqlite"
    n = 1
    while path.exists():
        n += 1
        path = d / f"session-{stamp}-{n}.sqlite"
    return path


class Recorder:
    """Writes one session file. Never overwrites: the file must not exist yet."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise RecordingError(f"{self.path} already exists; choose another --out (recordings "
                                 "are never overwritten)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # "x" mode: create atomically, fail if another process created it meanwhile.
            with open(self.path, "xb"):
                pass
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            # Fold the write-ahead log into the main file often, so a copy of the file alone
            # (without its -wal companion) after a crash misses little.
            self._db.execute("PRAGMA wal_autocheckpoint = 64")
            self._db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise RecordingError(f"cannot write a recording at {self.path}: "
                                 f"{getattr(e, 'strerror', None) or e}") from None
        self._devices: dict[str, int] = {}
        self._flush_interval = flush_interval_s
        self._last_flush = time.monotonic()
        self._in_tx = False
        self.set_meta(format=FORMAT, format_version=FORMAT_VERSION, software_version=__version__,
                      created_utc=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def _begin(self) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True

    def set_meta(self, **items: object) -> None:
        self._begin()
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in items.items()])
        self.commit()

    def device_id(self, info: DeviceInfo | str, person: str = "") -> int:
        """Row id for a strap (by address), adding it on first sight."""
        key = info.address if isinstance(info, DeviceInfo) else info
        if key not in self._devices:
            d = info if isinstance(info, DeviceInfo) else DeviceInfo(name=key, address=key)
            self._begin()
            cur = self._db.execute(
                "INSERT INTO devices (name, address, model, manufacturer, firmware, profile, person)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (d.name, d.address, d.model, d.manufacturer, d.firmware, d.profile,
                 person or f"person {len(self._devices) + 1}"))
            self._devices[key] = cur.lastrowid
        return self._devices[key]

    def beat(self, device: str, rr_ticks: int, rr_ms: float, beat_time_s: float,
             arrival_s: float, seq: int | None = None, gap: bool = False) -> int:
        """Write a beat as it arrives; returns its row id for :meth:`judge`."""
        self._begin()
        cur = self._db.execute(
            "INSERT INTO beats (device_id, rr_ticks, rr_ms, beat_time_s, arrival_s, seq, gap)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.device_id(device), rr_ticks, rr_ms, beat_time_s, arrival_s, seq, int(gap)))
        return cur.lastrowid

    def judge(self, row_id: int, artifact: bool, reason: str) -> None:
        """Record the live artifact verdict for a beat written earlier."""
        self._begin()
        self._db.execute("UPDATE beats SET artifact = ?, artifact_reason = ? WHERE id = ?",
                         (int(artifact), reason or None, row_id))

    def notification(self, device: str, arrival_s: float, payload: bytes,
                     seq: int | None = None) -> None:
        self._begin()
        self._db.execute("INSERT INTO notifications (device_id, arrival_s, payload, seq)"
                         " VALUES (?, ?, ?, ?)", (self.device_id(device), arrival_s, payload, seq))

    def ecg(self, device: str, t0_s: float, fs_hz: float, uv: np.ndarray,
            arrival_s: float | None = None, seq: int | None = None) -> None:
        self._frame("ecg", device, t0_s, fs_hz, np.asarray(uv, "<i4"), arrival_s, seq)

    def acc(self, device: str, t0_s: float, fs_hz: float, mg: np.ndarray,
            arrival_s: float | None = None, seq: int | None = None) -> None:
        self._frame("acc", device, t0_s, fs_hz, np.asarray(mg, "<i2"), arrival_s, seq)

    def _frame(self, table: str, device: str, t0_s: float, fs_hz: float, samples: np.ndarray,
               arrival_s: float | None, seq: int | None) -> None:
        self._begin()
        self._db.execute(f"INSERT INTO {table} (device_id, t0_s, fs_hz, samples, arrival_s, seq)"
                         " VALUES (?, ?, ?, ?, ?, ?)",
                         (self.device_id(device), t0_s, fs_hz, samples.tobytes(), arrival_s, seq))

    def event(self, t_s: float, kind: str, value: object = None, device: str | None = None,
              seq: int | None = None) -> None:
        self._begin()
        self._db.execute("INSERT INTO events (t_s, device_id, kind, value, seq)"
                         " VALUES (?, ?, ?, ?, ?)",
                         (t_s, None if device is None else self.device_id(device), kind,
                          None if value is None else json.dumps(value), seq))

    def commit(self) -> None:
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False
        self._last_flush = time.monotonic()

    def maybe_commit(self) -> None:
        """Commit if the last commit is older than the flush interval (wall time)."""
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.commit()

    def discard_if_empty(self) -> bool:
        """Delete the file if the session ended without a single beat or notification (it
        failed to start, e.g. no strap found); returns whether it did. Call after :meth:`close`.
        Only this recorder's own, just-closed file is ever deleted."""
        try:
            db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                empty = not db.execute("SELECT 1 FROM beats UNION ALL SELECT 1 FROM "
                                       "notifications LIMIT 1").fetchone()
            finally:
                db.close()
        except sqlite3.Error:
            return False
        if empty:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        return empty

    def close(self) -> None:
        if self._db is None:
            return
        self.set_meta(ended_utc=datetime.now(timezone.utc).isoformat(timespec="milliseconds"))
        self.commit()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
        self._db = None


@dataclass(frozen=True, slots=True)
class SessionData:
    """A session file read back: beats per device in arrival order, events and metadata."""

    path: Path
    meta: dict[str, object]
    devices: tuple[DeviceInfo, ...]
    device_ids: np.ndarray   # per beat
    rr_ticks: np.ndarray
    rr_ms: np.ndarray
    beat_time_s: np.ndarray
    arrival_s: np.ndarray
    artifact: np.ndarray     # bool: judged an artifact live (False if never judged)
    events: tuple[tuple[float, int | None, str, object], ...]
    ecg: tuple["Signal", ...] = ()   # raw ECG per device (Polar H10), if recorded
    acc: tuple["Signal", ...] = ()   # raw chest acceleration per device, if recorded

    @property
    def complete(self) -> bool:
        """True when the session was closed cleanly (not killed mid-way)."""
        return "ended_utc" in self.meta

    @property
    def duration_s(self) -> float:
        """How long (s) the session ran: until its stop event, or its last beat if cut short."""
        stops = [t for t, _, kind, _ in self.events if kind == "session_stop"]
        return max(stops + [float(self.arrival_s.max(initial=0.0))])

    @property
    def planned_duration_s(self) -> float:
        """How long (s) the session was set to last (a replay ends where the recording did)."""
        planned = self.meta.get("planned_duration_s", self.meta.get("duration_s"))
        return float(planned) if isinstance(planned, int | float) else self.duration_s

    def protocol(self) -> BreathingProtocol:
        """The protocol the session was breathed to, rebuilt from its metadata."""
        meta = self.meta.get("protocol") or {}
        steps = []
        for s in meta.get("steps") or []:
            step = {"label": s.get("label", ""), "seconds": max(3.0, float(s["duration_s"]))}
            if s.get("inhale_s") is None:
                step["paced"] = False
            else:
                step.update(inhale_s=s["inhale_s"], exhale_s=s["exhale_s"],
                            hold_in_s=s["hold_in_s"], hold_out_s=s["hold_out_s"])
            steps.append(step)
        if not steps:
            steps = [{"seconds": max(3.0, self.duration_s), "paced": False}]
        return parse_protocol({"name": meta.get("name") or "recorded", "step": steps},
                              str(self.path))


def is_session_file(path: str | Path) -> bool:
    """True when ``path`` starts like an SQLite file with our application id."""
    try:
        with open(path, "rb") as f:
            head = f.read(100)
    except OSError:
        return False
    return (head[:16] == b"SQLite format 3\x00" and len(head) == 100
            and int.from_bytes(head[68:72], "big") == APPLICATION_ID)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection, so reading never changes a recording in progress."""
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


def read_session(path: str | Path) -> SessionData:
    """Read a session file (also one still being written, or cut short by a crash)."""
    path = Path(path)
    if not path.exists():
        raise SessionFileError(f"{path}: no such file")
    if not is_session_file(path):
        raise SessionFileError(f"{path}: not a biobreath session file")
    try:
        with _read_only(path) as db:
            meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
            if meta.get("format") != FORMAT:
                raise SessionFileError(f"{path}: not a biobreath session file")
            if int(meta.get("format_version", 0)) > FORMAT_VERSION:
                raise SessionFileError(f"{path}: written by a newer biobreath (format "
                                       f"{meta['format_version']}); please upgrade")
            devs = db.execute("SELECT id, name, address, model, manufacturer, firmware, profile"
                              " FROM devices ORDER BY id").fetchall()
            rows = db.execute("SELECT device_id, rr_ticks, rr_ms, beat_time_s, arrival_s, artifact"
                              " FROM beats ORDER BY id").fetchall()
            evs = db.execute("SELECT t_s, device_id, kind, value FROM events ORDER BY id").fetchall()
            ecg = db.execute("SELECT device_id, t0_s, fs_hz, samples FROM ecg ORDER BY id").fetchall()
            acc = db.execute("SELECT device_id, t0_s, fs_hz, samples FROM acc ORDER BY id").fetchall()
    except sqlite3.DatabaseError as e:
        raise SessionFileError(f"{path}: unreadable or damaged session file ({e})") from None
    except (OSError, ValueError) as e:
        raise SessionFileError(f"{path}: unreadable session file ({e})") from None
    arr = np.array([r[:5] + (r[5] or 0,) for r in rows], dtype=float).reshape(-1, 6)
    return SessionData(
        path=path, meta=meta,
        devices=tuple(DeviceInfo(name=n or "", address=a or "", model=m or "", manufacturer=mf or "",
                                 firmware=fw or "", profile=pr or "generic")
                      for _, n, a, m, mf, fw, pr in devs),
        device_ids=arr[:, 0].astype(int), rr_ticks=arr[:, 1].astype(int), rr_ms=arr[:, 2],
        beat_time_s=arr[:, 3], arrival_s=arr[:, 4], artifact=arr[:, 5].astype(bool),
        events=tuple((t, d, k, json.loads(v) if v else None) for t, d, k, v in evs),
        ecg=_signal(ecg, "<i4", 1), acc=_signal(acc, "<i2", 3))


@dataclass(frozen=True, slots=True, eq=False)
class Signal:
    """Raw samples of one device read back from a session: times (s) and values."""

    device_id: int
    t: np.ndarray
    values: np.ndarray  # (n,) for ECG in µV, (n, 3) for ACC in milli-g


def _signal(rows, dtype: str, channels: int) -> tuple[Signal, ...]:
    """Concatenate stored frames per device, each sample at its frame's t0 + k / fs."""
    by_dev: dict[int, tuple[list, list]] = {}
    for dev, t0, fs, blob in rows:
        v = np.frombuffer(blob, dtype=dtype).astype(np.int64)
        v = v.reshape(-1, channels) if channels > 1 else v
        ts, vs = by_dev.setdefault(dev, ([], []))
        ts.append(t0 + np.arange(len(v)) / fs)
        vs.append(v)
    return tuple(Signal(d, np.concatenate(ts), np.concatenate(vs)) for d, (ts, vs) in by_dev.items())


_LINK = {f"link_{s.value}": s for s in LinkState}


def read_events(data: SessionData) -> list[Event]:
    """Every event the recorded session received from its source, in the order it received them
    (format 2 numbers them; older files are ordered by time), ending with a :class:`Tick` at the
    time the session stopped."""
    addr = {i + 1: dev.address for i, dev in enumerate(data.devices)}
    # Format 1 files have no order numbers nor frame arrival times.
    v2 = int(data.meta.get("format_version", 1)) >= 2
    seq, frame_t, gap = (("seq", "COALESCE(arrival_s, t0_s)", "COALESCE(gap, 0)") if v2
                         else ("NULL", "t0_s", "0"))
    with _read_only(data.path) as db:
        def rows(kind: str, rank: int, query: str):
            return [(q, (t, rank, i), kind, r) for i, q, t, *r in db.execute(query)]

        stream = [
            *rows("beat", 2, f"SELECT id, {seq}, arrival_s, device_id, beat_time_s, rr_ticks,"
                             f" {gap} FROM beats"),
            *rows("notification", 0, f"SELECT id, {seq}, arrival_s, device_id, payload"
                                     " FROM notifications"),
            *rows("ecg", 3, f"SELECT id, {seq}, {frame_t}, device_id, t0_s, fs_hz, samples FROM ecg"),
            *rows("acc", 3, f"SELECT id, {seq}, {frame_t}, device_id, t0_s, fs_hz, samples FROM acc"),
            *rows("event", 1, f"SELECT id, {seq}, t_s, kind, device_id, value FROM events")]
    # What the session wrote itself (start, stop, breaths) has no number and is left out.
    stream = [x for x in stream if x[2] != "event" or x[3][0] in _STREAM_KINDS]
    stream.sort(key=(lambda x: x[0]) if v2 else (lambda x: x[1]))
    out: list[Event] = []
    for _, (t, _, _), kind, r in stream:
        if kind == "beat":
            dev, beat_t, ticks, gap_before = r
            out.append(Beat(beat_t, ticks, t, addr.get(dev, ""), gap=bool(gap_before)))
        elif kind == "notification":
            out.append(Notification(t, bytes(r[1]), addr.get(r[0], "")))
        elif kind == "ecg":
            dev, t0, fs, blob = r
            out.append(EcgSamples(t, t0, fs, np.frombuffer(blob, "<i4").astype(np.int64),
                                  addr.get(dev, "")))
        elif kind == "acc":
            dev, t0, fs, blob = r
            out.append(AccSamples(t, t0, fs, np.frombuffer(blob, "<i2").astype(np.int64)
                                  .reshape(-1, 3), addr.get(dev, "")))
        else:
            kind, dev, value = r
            value = json.loads(value) if value else None
            dev = addr.get(dev, "") if dev is not None else ""
            if kind in _LINK:
                out.append(Link(t, _LINK[kind], value or "", dev))
            elif kind == "battery":
                out.append(Battery(t, int(value), dev))
            elif kind == "contact":
                out.append(Contact(t, value, dev))
            elif kind == "heart_rate":
                out.append(HeartRate(t, int(value), dev))
            elif kind == "tick":
                out.append(Tick(t))
    out.append(Tick(data.duration_s))
    return out


_STREAM_KINDS = {*_LINK, "battery", "contact", "heart_rate", "tick"}

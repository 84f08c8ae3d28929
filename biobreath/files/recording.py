"""Crash-safe session recording in one self-describing SQLite file.

**Writing.** The file is written as the session happens, one transaction per notification (or at
least once a second), in WAL mode: a process killed at any moment loses at most the last second.
Rows wait in memory for the commit that ends their transaction and are then written many to a
statement.
While it is written, and after a crash, the file has ``-wal`` and ``-shm`` companions that hold
its latest transactions. :meth:`Recorder.close` folds the write-ahead log into the file and
switches it to SQLite's rollback journal (``journal_mode=DELETE``): a closed recording is one
self-contained file, to be copied alone or read from a read-only folder. A recording never
replaces anything: neither the file nor a ``-wal``, ``-shm`` or ``-journal`` beside it may exist
yet. A write that fails (disk full, I/O error) stops the recording with one
:class:`~biobreath.errors.RecordingError` that says what was kept; everything committed before it
stays readable.

**Schema** (format 2), documented in the README ("Session file") so it can be read without
biobreath:

- ``meta(key, value)``: JSON values; ``format`` = "biobreath-session", ``format_version``,
  ``software_version``, ``created_utc``, ``session_id`` (random, 32 hex digits), ``source`` (kind
  and parameters), ``protocol``, ``parameters`` (every live-analysis setting), ``ended_utc`` once
  the session closed, ``stopped_by_error`` (the message) if a failed write stopped it.
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
- The SQLite header: ``application_id`` 0x62627265 ("bbre") marks the file as ours;
  ``user_version`` is the session's stamp (the first 31 bits of ``session_id``), written again by
  every transaction, so a ``-wal`` file from another recording is recognised and never mixed in.

``seq`` numbers every event the session received from its source, in the order it received them
(format 2; NULL for what the session itself wrote), so a replay feeds the same events in the same
order (:func:`read_events`); within each table the numbers increase with the row id, and a
replay leaves out a row whose number is missing or breaks that order. Times are seconds from the
session start (``meta.created_utc``); a beat is never placed after its notification arrived.

**Reading** never writes to a recording nor leaves anything beside it. A closed file (rollback
journal) is opened ``immutable=1``: no lock, no ``-shm``, and any ``-wal`` or ``-journal`` lying
beside it is ignored. A file still in WAL mode (being recorded, or left by a crash) is read
through its ``-wal``: in place (``mode=ro&readonly_shm=1``, the ``-shm`` only read) when its
``-shm`` is there too, which is how a live recording is shared; from a private copy of the file
and its ``-wal`` when the ``-shm`` is missing (opening in place would create one); and
``immutable=1`` when there is no ``-wal``. A ``-wal`` whose stamp differs from the file's is
refused, never merged. Malformed rows are skipped and counted in :attr:`SessionData.warnings`
(logged as one line); a file that is unusable as a whole raises one
:class:`~biobreath.errors.SessionFileError` line.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import errno
import functools
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from biobreath import __version__
from biobreath.core.protocol import BreathingProtocol, parse_protocol
from biobreath.errors import ProtocolError, RecordingError, SessionFileError
from biobreath.events import (
    TICKS_PER_S,
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
    Marker,
    Notification,
    PacerChange,
    Tick,
    Timing,
    ticks_to_ms,
)

FORMAT = "biobreath-session"
FORMAT_VERSION = 2
APPLICATION_ID = 0x62627265  # "bbre": marks the SQLite file as ours
COMPANIONS = ("-wal", "-shm", "-journal")  # files SQLite keeps beside a database

# What a well-formed row can hold; anything else is damage (a row is then skipped).
MAX_RR_TICKS = 0xFFFF                  # the strap's RR field is 16 bits of 1/1024 s
T_MIN_S, T_MAX_S = -3600.0, 7 * 86400.0  # session times: an hour before the start to a week on
FS_MIN_HZ, FS_MAX_HZ = 10.0, 10_000.0  # raw ECG / ACC sample rates
MAX_PAYLOAD = 512                      # a Bluetooth attribute value holds at most 512 bytes
BEAT_AFTER_ARRIVAL_S = 2.0  # a beat is never placed after its notification arrived (timing.py)

_log = logging.getLogger("biobreath")

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


def _taken(path: Path) -> bool:
    """Whether ``path`` or a companion SQLite would use for it exists."""
    return any(os.path.lexists(f"{path}{suffix}") for suffix in ("", *COMPANIONS))


def default_session_path() -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    d = default_session_dir()
    path = d / f"session-{stamp}.sqlite"
    n = 1
    while _taken(path):
        n += 1
        path = d / f"session-{stamp}-{n}.sqlite"
    return path


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _clock(t: float) -> str:
    """Session time as m:ss or h:mm:ss."""
    s = max(0, int(t))
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _brief(e: object, limit: int = 160) -> str:
    """An error's text on one line (SQLite quotes schema text, newlines included)."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _error_code(e: BaseException) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _what_failed(e: BaseException) -> str:
    """A few words on why a write failed."""
    code, err = _error_code(e), getattr(e, "errno", None)
    if code == sqlite3.SQLITE_FULL or err in (errno.ENOSPC, errno.EFBIG,
                                              getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "disk full"
    if code == sqlite3.SQLITE_READONLY or err in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write ({_brief(e)})"
    if code == sqlite3.SQLITE_IOERR:
        return "disk I/O error"
    if isinstance(e, OSError):
        return f"I/O error ({_brief(e.strerror or e)})"
    return f"SQLite error ({_brief(e)})"


_INSERT_BEAT = ("INSERT INTO beats (id, device_id, rr_ticks, rr_ms, beat_time_s, arrival_s,"
                " artifact, artifact_reason, seq, gap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _writes(default: object = None):
    """Guard a :class:`Recorder` write: a failure becomes one :class:`RecordingError` that stops
    the recording; after it every write is ignored (returns ``default``)."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self: Recorder, *args, **kwargs):
            if self.failed is not None:
                return default
            if self._db is None:
                raise RecordingError(f"the recording to {self.path} is already closed")
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as e:
                raise self._fail(e) from None
        return guarded
    return wrap


class Recorder:
    """Writes one session file. Never overwrites: the file must not exist yet, nor its
    ``-wal``, ``-shm`` or ``-journal`` companions.

    A write that fails (disk full, I/O error) raises one :class:`RecordingError` naming the file
    and what is kept, and stops the recording: later writes are ignored, and :meth:`close` still
    finishes the file as far as it can (without raising again)."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = 1.0) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self.failed: RecordingError | None = None
        self.session_id = os.urandom(16).hex()  # secrets.token_hex(16), without its imports
        self._stamp = int(self.session_id[:8], 16) & 0x7FFFFFFF or 1  # 0 would mean "none"
        self._devices: dict[str, int] = {}
        self._flush_interval = flush_interval_s
        # Rows wait in memory for the commit that ends their transaction and are written then,
        # many to a statement: what a crash can lose is the uncommitted transaction either way.
        self._beats: list[list] = []  # beat rows, whose verdicts are filled in while they wait
        self._first_beat = 1           # the id of the first of them (the beats table is new)
        self._rows: dict[str, list[tuple]] = {}  # other rows, by the INSERT that writes them
        self._verdicts: list[tuple[int, str | None, int]] = []  # on beats already written
        self._in_tx = False
        self._pending_t: float | None = None  # latest session time written since the commit
        self._kept_t: float | None = None     # latest session time committed
        self._kept_at: datetime | None = None  # wall time of that commit
        for suffix in ("", *COMPANIONS):
            other = Path(f"{self.path}{suffix}")
            if os.path.lexists(other):
                if suffix:
                    raise RecordingError(
                        f"{other} already exists beside {self.path.name} (left by another "
                        "recording?); choose another --out or move it away (recordings are never "
                        "overwritten)")
                raise RecordingError(f"{self.path} already exists; choose another --out "
                                     "(recordings are never overwritten)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RecordingError(f"cannot write a recording at {self.path}: "
                                 f"{_brief(e.strerror or e)}") from None
        try:
            # O_EXCL: create atomically, fail if another process created it meanwhile.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise RecordingError(f"{self.path} already exists; choose another --out "
                                 "(recordings are never overwritten)") from None
        except OSError as e:
            raise RecordingError(f"cannot write a recording at {self.path}: "
                                 f"{_brief(e.strerror or e)}") from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._identity = (st.st_dev, st.st_ino)  # the file this recorder made (and may remove)
        try:
            self._create()
        except (OSError, sqlite3.Error) as e:
            self._abandon()
            raise RecordingError(f"cannot write a recording at {self.path}: "
                                 f"{_brief(getattr(e, 'strerror', None) or e)}") from None
        self._last_flush = time.monotonic()

    def _create(self) -> None:
        db = self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        # Written in the file itself before the log exists: the stamp a -wal must match.
        db.execute("BEGIN")
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {self._stamp}")
        db.execute("COMMIT")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        # Fold the write-ahead log into the main file often, so a copy of the file alone
        # (without its -wal companion) after a crash misses little.
        db.execute("PRAGMA wal_autocheckpoint = 64")
        db.execute("BEGIN")
        self._in_tx = True
        for statement in SCHEMA.split(";"):
            if statement.strip():
                db.execute(statement)
        db.executemany("INSERT INTO meta VALUES (?, ?)", [
            (k, json.dumps(v)) for k, v in (
                ("format", FORMAT), ("format_version", FORMAT_VERSION),
                ("software_version", __version__), ("created_utc", _utc_now()),
                ("session_id", self.session_id))])
        self._commit_tx()
        # The empty session in the main file: a copy of it alone is already a valid recording.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _is_own_file(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._identity

    def _abandon(self) -> None:
        """Creation failed half-way: close, and remove what this recorder created (its
        companions did not exist before it, and the file is removed only if it is still the one
        it made), so nothing blocks the name next time."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        if self._is_own_file():
            for suffix in COMPANIONS:
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.path}{suffix}")
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _fail(self, e: BaseException) -> RecordingError:
        """Stop the recording after a failed write: roll back what was not committed."""
        self._rollback()
        self.failed = RecordingError(f"{_what_failed(e)} while recording to {self.path}: the "
                                     f"session was stopped; {self._kept()}")
        return self.failed

    def _kept(self) -> str:
        if self._kept_at is None or self._kept_t is None:
            return "nothing had been recorded yet"
        return (f"everything up to {self._kept_at:%H:%M:%S} ({_clock(self._kept_t)} into the "
                "session) is kept")

    def _rollback(self) -> None:
        self._in_tx = False
        self._pending_t = None
        self._beats, self._verdicts = [], []
        self._rows.clear()
        if self._db is not None and self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _begin(self, t: float | None = None) -> None:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        if t is not None and math.isfinite(t):
            self._pending_t = t if self._pending_t is None else max(self._pending_t, t)

    def _write_waiting(self) -> None:
        """Write the rows waiting for the commit (beats first: verdicts may update them)."""
        db = self._db
        if self._beats:
            db.executemany(_INSERT_BEAT, self._beats)
            self._first_beat += len(self._beats)
            self._beats = []
        for statement, rows in self._rows.items():
            db.executemany(statement, rows)
        self._rows.clear()
        if self._verdicts:
            db.executemany("UPDATE beats SET artifact = ?, artifact_reason = ? WHERE id = ?",
                           self._verdicts)
            self._verdicts = []

    def _wait(self, statement: str, row: tuple) -> None:
        self._rows.setdefault(statement, []).append(row)

    def _commit_tx(self) -> None:
        self._write_waiting()
        # Every transaction rewrites the stamp, so the last commit in any -wal carries it.
        self._db.execute(f"PRAGMA user_version = {self._stamp}")
        self._db.execute("COMMIT")
        self._in_tx = False
        if self._pending_t is not None:
            self._kept_t = max(self._pending_t, self._kept_t or self._pending_t)
            self._kept_at = datetime.now()
        self._pending_t = None

    @_writes()
    def set_meta(self, **items: object) -> None:
        self._begin()
        self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in items.items()])
        self.commit()

    @_writes(0)
    def device_id(self, info: DeviceInfo | str, person: str = "") -> int:
        """Row id for a strap (by address), adding it on first sight."""
        return self._add_device(info, person)

    def _device(self, address: str) -> int:
        """:meth:`device_id` within a write already guarded (most often known: ids start at 1)."""
        return self._devices.get(address) or self._add_device(address, "")

    def _add_device(self, info: DeviceInfo | str, person: str) -> int:
        key = info.address if isinstance(info, DeviceInfo) else info
        if key not in self._devices:
            d = info if isinstance(info, DeviceInfo) else DeviceInfo(name=key, address=key)
            self._begin()
            cur = self._db.execute(
                "INSERT INTO devices (name, address, model, manufacturer, firmware, profile,"
                " person) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (d.name, d.address, d.model, d.manufacturer, d.firmware, d.profile,
                 person or f"person {len(self._devices) + 1}"))
            self._devices[key] = cur.lastrowid
        return self._devices[key]

    @_writes(0)
    def beat(self, device: str, rr_ticks: int, rr_ms: float, beat_time_s: float,
             arrival_s: float, seq: int | None = None, gap: bool = False) -> int:
        """Take a beat as it arrives (written with its transaction's commit); returns its row id
        for :meth:`judge`."""
        self._begin(arrival_s)
        row_id = self._first_beat + len(self._beats)
        self._beats.append([row_id, self._device(device), rr_ticks, rr_ms, beat_time_s,
                            arrival_s, None, None, seq, int(gap)])
        return row_id

    @_writes()
    def judge(self, row_id: int, artifact: bool, reason: str) -> None:
        """Record the live artifact verdict for a beat written earlier."""
        self._begin()
        waiting = row_id - self._first_beat
        if 0 <= waiting < len(self._beats):
            row = self._beats[waiting]
            row[6], row[7] = int(artifact), reason or None
        else:
            self._verdicts.append((int(artifact), reason or None, row_id))

    @_writes()
    def notification(self, device: str, arrival_s: float, payload: bytes,
                     seq: int | None = None) -> None:
        self._begin(arrival_s)
        self._wait("INSERT INTO notifications (device_id, arrival_s, payload, seq)"
                   " VALUES (?, ?, ?, ?)", (self._device(device), arrival_s, payload, seq))

    def ecg(self, device: str, t0_s: float, fs_hz: float, uv: np.ndarray,
            arrival_s: float | None = None, seq: int | None = None) -> None:
        self._frame("ecg", device, t0_s, fs_hz, np.asarray(uv, "<i4"), arrival_s, seq)

    def acc(self, device: str, t0_s: float, fs_hz: float, mg: np.ndarray,
            arrival_s: float | None = None, seq: int | None = None) -> None:
        self._frame("acc", device, t0_s, fs_hz, np.asarray(mg, "<i2"), arrival_s, seq)

    @_writes()
    def _frame(self, table: str, device: str, t0_s: float, fs_hz: float, samples: np.ndarray,
               arrival_s: float | None, seq: int | None) -> None:
        self._begin(t0_s if arrival_s is None else arrival_s)
        self._wait(f"INSERT INTO {table} (device_id, t0_s, fs_hz, samples, arrival_s, seq)"
                   " VALUES (?, ?, ?, ?, ?, ?)",
                   (self._device(device), t0_s, fs_hz, samples.tobytes(), arrival_s, seq))

    @_writes()
    def event(self, t_s: float, kind: str, value: object = None, device: str | None = None,
              seq: int | None = None) -> None:
        self._begin(t_s)
        self._wait("INSERT INTO events (t_s, device_id, kind, value, seq) VALUES (?, ?, ?, ?, ?)",
                   (t_s, None if device is None else self._device(device), kind,
                    None if value is None else json.dumps(value), seq))

    @_writes()
    def commit(self) -> None:
        if self._in_tx:
            self._commit_tx()
        self._last_flush = time.monotonic()

    def maybe_commit(self) -> None:
        """Commit if the last commit is older than the flush interval (wall time)."""
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.commit()

    def discard_if_empty(self) -> bool:
        """Delete the file if the session ended without a single beat or notification (it
        failed to start, e.g. no strap found); returns whether it did. Call after :meth:`close`.
        Only this recorder's own, just-closed file is ever deleted."""
        if self._db is not None or not self._is_own_file():
            return False
        try:
            with _reading(self.path) as db:
                empty = not db.execute("SELECT 1 FROM beats UNION ALL SELECT 1 FROM "
                                       "notifications LIMIT 1").fetchone()
        except (sqlite3.Error, OSError, ValueError, SessionFileError):
            return False
        if not empty:
            return False
        try:
            for suffix in COMPANIONS:  # first, so none is left to block the name
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{self.path}{suffix}")
            self.path.unlink(missing_ok=True)
        except OSError:
            return False
        return True

    def close(self) -> None:
        """Finish the file: mark it ended, fold the write-ahead log in and leave WAL mode, so the
        closed recording is one self-contained file. After a failed write this still does what
        it can and does not raise; if even that fails, the file stays readable as a crashed one
        (in WAL mode, its ``-wal`` beside it)."""
        db = self._db
        if db is None:
            return
        if self.failed is not None:
            self._rollback()
        ended: dict[str, object] = {"ended_utc": _utc_now()}
        if self.failed is not None:
            ended["stopped_by_error"] = str(self.failed)

        def attempt(step) -> BaseException | None:
            try:
                step()
            except (sqlite3.Error, OSError) as e:
                self._rollback()
                return e
            return None

        def mark_ended() -> None:
            self._begin()
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in ended.items()])
            self._commit_tx()

        problem = attempt(mark_ended)
        if problem is not None and attempt(
                lambda: db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()) is None:
            problem = attempt(mark_ended)  # the log had no room to grow; folded in, it has
        folded = False
        try:
            busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            folded = not busy
            if folded:
                # Leaving WAL mode deletes the -wal and -shm. If another connection still has
                # the file open this fails harmlessly: the file is then whole in WAL mode.
                db.execute("PRAGMA journal_mode = DELETE").fetchall()
        except (sqlite3.Error, OSError) as e:
            if not folded and _error_code(e) not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                problem = problem or e
        finally:
            self._db = None
            with contextlib.suppress(sqlite3.Error):
                db.close()
        if problem is not None and self.failed is None:
            where = ("" if folded else
                     f"; keep {self.path.name}-wal beside it, it holds the latest part")
            self.failed = RecordingError(f"{_what_failed(problem)} while finishing {self.path}: "
                                         f"{self._kept()}{where}")
            raise self.failed


def add_meta(path: str | Path, **items: object) -> None:
    """Add ``items`` to the meta of a closed recording (such as the check-in a person gives in
    the window once the session has ended), in one transaction. Only a closed recording of ours
    is written: a file still in WAL mode (being recorded, or left by a crash) is refused."""
    path = Path(path)
    try:
        head = _head(path)
    except OSError as e:
        raise RecordingError(f"cannot add to {path}: {_brief(e.strerror or e)}") from None
    if not _is_ours(head):
        raise RecordingError(f"cannot add to {path}: not a biobreath session file")
    if b"\x02" in head[18:20]:
        raise RecordingError(f"cannot add to {path}: the recording is not closed")
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [(k, json.dumps(v)) for k, v in items.items()])
            db.execute("COMMIT")
    except (sqlite3.Error, OSError) as e:
        raise RecordingError(f"{_what_failed(e)} while adding to {path}") from None


@dataclass(frozen=True, slots=True)
class SessionData:
    """A session file read back: beats per device in arrival order, events and metadata.

    ``device_ids`` (per beat, per event, per signal) number the straps from 1 in the order of
    :attr:`devices`. Rows that were malformed are left out and counted in :attr:`warnings`."""

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
    ecg: tuple[Signal, ...] = ()   # raw ECG per device (Polar H10), if recorded
    acc: tuple[Signal, ...] = ()   # raw chest acceleration per device, if recorded
    warnings: tuple[str, ...] = ()  # what was malformed and skipped, one sentence each
    persons: tuple[str, ...] = ()  # who wore each strap of ``devices`` ("" where not recorded)
    gap: np.ndarray | None = None  # bool per beat: the beat chain broke just before it
    # The rows as read, kept for :func:`read_events` when asked (``read_session(keep_rows=True)``)
    rows: _Loaded | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """True when the session was closed (not killed mid-way)."""
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
        if isinstance(planned, int | float) and not isinstance(planned, bool) \
                and math.isfinite(planned) and planned >= 0:
            return float(planned)
        return self.duration_s

    def protocol(self) -> BreathingProtocol:
        """The protocol the session was breathed to, rebuilt from its metadata; malformed
        metadata raises :class:`SessionFileError`."""
        try:
            return _protocol(self.meta.get("protocol"), self.duration_s, str(self.path))
        except (_Bad, ProtocolError, TypeError, ValueError, KeyError, AttributeError,
                OverflowError) as e:
            detail = _brief(str(e).removeprefix(f"{self.path}: "))
            raise SessionFileError(
                f"{self.path}: meta 'protocol' is malformed ({detail})") from None


def _protocol(meta: object, duration_s: float, source: str) -> BreathingProtocol:
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise _Bad(f"a {type(meta).__name__}, not an object")
    raw_steps = meta.get("steps") or []
    if not isinstance(raw_steps, list):
        raise _Bad("'steps' is not a list")
    steps = []
    for k, s in enumerate(raw_steps, 1):
        if not isinstance(s, dict):
            raise _Bad(f"step {k} is not an object")
        label = s.get("label") or ""
        if not isinstance(label, str):
            raise _Bad(f"step {k}: 'label' is not text")
        seconds = _number(s.get("duration_s"), f"step {k}: 'duration_s'", 0.0, 24 * 3600.0)
        step: dict[str, object] = {"label": label, "seconds": max(3.0, seconds)}
        if s.get("inhale_s") is None:
            step["paced"] = False
        else:
            step.update({key: s[key] for key in ("inhale_s", "exhale_s", "hold_in_s",
                                                 "hold_out_s", "top_up_s")
                         if s.get(key) is not None})
            if s.get("adaptive") is True:
                step["adaptive"] = True
        steps.append(step)
    if not steps:
        steps = [{"seconds": min(max(3.0, duration_s), 24 * 3600.0), "paced": False}]
    name = meta.get("name") or "recorded"
    if not isinstance(name, str):
        raise _Bad("'name' is not text")
    # Recordings made before the safety bounds existed were paced under the old, wider limits.
    extreme = meta.get("allow_extreme_pacing", True)
    if not isinstance(extreme, bool):
        raise _Bad("'allow_extreme_pacing' is not true or false")
    return parse_protocol({"name": name, "allow_extreme_pacing": extreme, "step": steps}, source)


def _is_ours(head: bytes) -> bool:
    return (head[:16] == b"SQLite format 3\x00" and len(head) == 100
            and int.from_bytes(head[68:72], "big") == APPLICATION_ID)


def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(100)


def is_session_file(path: str | Path) -> bool:
    """True when ``path`` starts like an SQLite file with our application id."""
    try:
        return _is_ours(_head(Path(path)))
    except OSError:
        return False


# -- Opening a recording for reading ----------------------------------------------------------


class _BadText:
    """A TEXT value that is not UTF-8 (read without failing the whole query)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return "<text that is not UTF-8>"


def _text_factory(raw: bytes) -> str | _BadText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _BadText(raw)


def _connect(target: Path, flags: str) -> sqlite3.Connection:
    db = sqlite3.connect(f"{target.as_uri()}?{flags}", uri=True, check_same_thread=False)
    db.text_factory = _text_factory
    return db


def _check_length(path: Path, real: Path, head: bytes) -> None:
    """Refuse a file shorter than its header says (cut short when copied)."""
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        raise SessionFileError(f"{path}: damaged session file (its header gives a page size of "
                               f"{page} bytes)")
    pages = int.from_bytes(head[28:32], "big")
    size = real.stat().st_size
    if pages and head[24:28] == head[92:96] and size < pages * page:
        raise SessionFileError(f"{path}: damaged session file: truncated ({size} of "
                               f"{pages * page} bytes; was it cut short when copied?)")


@contextlib.contextmanager
def _reading(path: Path, head: bytes | None = None) -> Iterator[sqlite3.Connection]:
    """A connection that reads the recording at ``path`` without ever writing it or leaving a
    file beside it (see the module docstring for which way a file is opened)."""
    real = path.resolve()
    if head is None:
        head = _head(real)
    wal, shm = Path(f"{real}-wal"), Path(f"{real}-shm")
    stamp = int.from_bytes(head[60:64], "big") if len(head) >= 64 else 0
    with contextlib.ExitStack() as stack:
        how = "immutable"
        if b"\x02" in head[18:20]:  # WAL mode: still being written, or left by a crash
            try:
                wal_size = wal.stat().st_size
            except FileNotFoundError:
                wal_size = None
            if wal_size is not None and shm.exists():
                how = "shared"
            elif wal_size:
                how = "copy"
        db = None
        if how == "shared":
            # How a live recording is shared. readonly_shm: the -shm is only read; with no
            # writer there (a crash) SQLite reads the -wal into its own memory instead.
            db = _connect(real, "mode=ro&readonly_shm=1")
            try:
                db.execute("PRAGMA user_version").fetchone()
            except sqlite3.OperationalError as e:
                db.close()
                db = None
                if _error_code(e) not in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
                    raise
                how = "copy"  # a -shm we may not open: nobody is writing, read a copy
        if how == "copy":
            # A -wal without its -shm: no writer is there. Opening in place would create a -shm
            # beside the file; read a private copy of the two instead.
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="biobreath-")))
            target = tmp / "session.sqlite"
            shutil.copyfile(real, target)
            shutil.copyfile(wal, f"{target}-wal")
            db = _connect(target, "mode=ro")
        elif how == "immutable":
            # Nothing to fold in: no lock, no -shm, and any -wal or -journal is ignored.
            _check_length(path, real, head)
            db = _connect(real, "mode=ro&immutable=1")
        stack.callback(db.close)
        if how != "immutable" and stamp:
            (merged,) = db.execute("PRAGMA user_version").fetchone()
            if merged != stamp:
                raise SessionFileError(
                    f"{path}: the {path.name}-wal beside it comes from another recording and was "
                    f"not read; move that file away to read {path.name} without it")
        yield db


# -- Validating what is read --------------------------------------------------------------------


class _Bad(Exception):
    """One malformed value; its message names the field."""


def _show(v: object) -> str:
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    s = repr(v)
    return s if len(s) <= 24 else s[:21] + "..."


def _whole(v: object, field: str, lo: int, hi: int) -> int:
    if type(v) is not int:
        raise _Bad(f"{field} {_show(v)} is not a whole number")
    if not lo <= v <= hi:
        raise _Bad(f"{field} {v} is outside {lo}..{hi}")
    return v


def _number(v: object, field: str, lo: float, hi: float, *, above: bool = False) -> float:
    if type(v) not in (int, float):
        raise _Bad(f"{field} {_show(v)} is not a number")
    x = float(v)
    if not math.isfinite(x):
        raise _Bad(f"{field} {x} is not finite")
    if x < lo or x > hi or (above and x == lo):
        raise _Bad(f"{field} {x:g} is outside {'(' if above else '['}{lo:g}, {hi:g}]")
    return x


def _time(v: object, field: str) -> float:
    return _number(v, field, T_MIN_S, T_MAX_S)


def _flag(v: object, field: str) -> int | None:
    if v is None or (type(v) is int and v in (0, 1)):
        return v
    raise _Bad(f"{field} {_show(v)} is not 0 or 1")


def _json(v: object, field: str) -> object:
    if not isinstance(v, str):
        raise _Bad(f"{field} {_show(v)} is not JSON text")
    try:
        return json.loads(v)
    except (ValueError, RecursionError):
        raise _Bad(f"{field} is not valid JSON") from None


def _ref(v: object, devices: dict[int, int], field: str = "device_id") -> int:
    if type(v) is not int or v not in devices:
        raise _Bad(f"{field} {_show(v)} is not in devices")
    return devices[v]


class _Report:
    """What was wrong in a file: notes, and rows skipped per table (with the first reason)."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.totals: dict[str, int] = {}
        self._skipped: dict[tuple[str, str], list] = {}

    def skip(self, table: str, row: object, reason: str, kind: str = "damaged") -> None:
        entry = self._skipped.setdefault((table, kind), [0, f"row {_show(row)}: {reason}"])
        entry[0] += 1

    def skipped(self, table: str) -> int:
        return sum(n for (t, _), (n, _) in self._skipped.items() if t == table)

    def first(self, table: str) -> str:
        return next((first for (t, _), (_, first) in self._skipped.items() if t == table), "")

    def warnings(self) -> tuple[str, ...]:
        out = list(self.notes)
        for (table, kind), (n, first) in self._skipped.items():
            total = self.totals.get(table, n)
            if kind == "damaged":
                out.append(f"{table}: skipped {n} of {total} rows ({first})")
            else:
                out.append(f"{table}: {n} of {total} rows left out of the replay, without a valid "
                           f"order number ({first})")
        return tuple(out)


_META_NUMBERS = ("duration_s", "planned_duration_s")
_META_TEXTS = ("software_version", "created_utc", "ended_utc", "session_id", "stopped_by_error")
_META_OBJECTS = ("source", "parameters", "protocol")


def _check_meta(raw: dict[object, object], path: Path, report: _Report
                ) -> tuple[dict[str, object], int]:
    try:
        fmt = _json(raw.get("format"), "meta 'format'") if "format" in raw else None
    except _Bad as e:
        raise SessionFileError(f"{path}: damaged session file ({e})") from None
    if fmt != FORMAT:
        raise SessionFileError(f"{path}: not a biobreath session file")
    meta: dict[str, object] = {"format": fmt}
    for key, value in raw.items():
        if key == "format":
            continue
        if not isinstance(key, str):
            report.notes.append(f"meta: a row keyed {_show(key)} ignored")
            continue
        field = f"meta '{key}'"
        try:
            v = _json(value, field)
            if key == "format_version":
                v = _whole(v, field, 1, 2**31 - 1)
            elif key in _META_NUMBERS:
                v = _number(v, field, 0.0, T_MAX_S)
            elif key in _META_TEXTS and not isinstance(v, str):
                raise _Bad(f"{field} {_show(v)} is not text")
            elif key in _META_OBJECTS and not isinstance(v, dict):
                raise _Bad(f"{field} {_show(v)} is not an object")
        except _Bad as e:
            if key == "format_version":
                raise SessionFileError(f"{path}: damaged session file ({e})") from None
            report.notes.append(f"{e}; ignored")
            continue
        meta[key] = v
    version = meta.get("format_version", 1)
    if version > FORMAT_VERSION:
        raise SessionFileError(f"{path}: written by a newer biobreath (format {version}); "
                               "please upgrade")
    return meta, version


def _device_text(v: object, field: str, row: int, report: _Report) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    raw = v.raw if isinstance(v, _BadText) else v if isinstance(v, bytes) else None
    text = raw.decode("utf-8", "replace") if raw is not None else str(v)
    report.notes.append(f"devices row {row}: {field} is not text; read as {_show(text)}")
    return text


@dataclass
class _Loaded:
    """Every well-formed row of a recording, device ids renumbered from 1 as in ``devices``."""

    meta: dict[str, object]
    version: int
    devices: tuple[DeviceInfo, ...]
    persons: tuple[str, ...]    # who wore each strap, as recorded ("" where nobody is)
    beats: list[tuple]          # id, device, rr_ticks, rr_ms, beat_time_s, arrival_s, artifact,
                                # seq, gap
    notifications: list[tuple]  # id, device, arrival_s, payload, seq
    ecg: list[tuple]            # id, device, t0_s, fs_hz, samples, arrival_s, seq
    acc: list[tuple]
    events: list[tuple]         # id, t_s, device or None, kind, value, seq
    report: _Report
    # The rows a replay leaves out for want of a valid order number (table, row id); None when
    # the file has no order numbers (format 1) and is replayed in time order.
    unordered: frozenset[tuple[str, int]] | None = None


def _load(path: Path) -> _Loaded:
    """Read and check every table of the recording at ``path``: raises one
    :class:`SessionFileError` line for a file unusable as a whole, skips malformed rows."""
    if not path.exists():
        raise SessionFileError(f"{path}: no such file")
    if path.is_dir():
        raise SessionFileError(f"{path}: is a folder, not a session file")
    try:
        head = _head(path)
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({_brief(e.strerror or e)})") from None
    if not _is_ours(head):
        raise SessionFileError(f"{path}: not a biobreath session file")
    try:
        with _reading(path, head) as db:
            return _load_tables(db, path)
    except sqlite3.Error as e:
        code = _error_code(e)
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_FORMAT,
                    sqlite3.SQLITE_RANGE, sqlite3.SQLITE_TOOBIG, sqlite3.SQLITE_SCHEMA):
            raise SessionFileError(f"{path}: damaged session file ({_brief(e)})") from None
        if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM,
                    sqlite3.SQLITE_AUTH, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise SessionFileError(f"{path}: cannot read ({_brief(e)})") from None
        raise SessionFileError(f"{path}: unreadable or damaged session file ({_brief(e)})"
                               ) from None
    except OSError as e:
        raise SessionFileError(f"{path}: cannot read ({_brief(e.strerror or e)})") from None
    except UnicodeDecodeError:
        # Python could not even decode SQLite's message about it: a damaged schema.
        raise SessionFileError(f"{path}: damaged session file (its schema is not UTF-8 text)"
                               ) from None
    except MemoryError:
        raise SessionFileError(f"{path}: damaged session file (absurd sizes)") from None


def _load_tables(db: sqlite3.Connection, path: Path) -> _Loaded:
    report = _Report()
    tables: dict[str, set[str]] = {}
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        if isinstance(name, str):
            tables[name] = {c for (c,) in db.execute("SELECT name FROM pragma_table_info(?)",
                                                     (name,)) if isinstance(c, str)}
    needed = {"meta": ("key", "value"), "devices": ("id",),
              "beats": ("id", "device_id", "rr_ticks", "rr_ms", "beat_time_s", "arrival_s"),
              "events": ("id", "t_s", "device_id", "kind", "value"),
              "notifications": ("id", "device_id", "arrival_s", "payload"),
              "ecg": ("id", "device_id", "t0_s", "fs_hz", "samples"),
              "acc": ("id", "device_id", "t0_s", "fs_hz", "samples")}
    for table, columns in needed.items():
        missing = [c for c in columns if c not in tables.get(table, ())]
        if table not in tables or missing:
            what = f"no {table} table" if table not in tables else \
                f"no column {missing[0]} in table {table}"
            raise SessionFileError(f"{path}: damaged session file ({what})")

    def col(table: str, column: str) -> str:
        return column if column in tables[table] else "NULL"

    raw_meta = {k: v for k, v in db.execute("SELECT key, value FROM meta")}
    meta, version = _check_meta(raw_meta, path, report)

    index: dict[int, int] = {}
    devices, persons = [], []
    text_cols = ("name", "address", "model", "manufacturer", "firmware", "profile", "person")
    for row in db.execute(f"SELECT id, {', '.join(col('devices', c) for c in text_cols)} "
                          "FROM devices ORDER BY id"):
        if type(row[0]) is not int:
            continue
        fields = [_device_text(v, c, row[0], report) for c, v in zip(text_cols, row[1:])]
        devices.append(DeviceInfo(*fields[:5], profile=fields[5] or "generic"))
        persons.append(fields[6])
        index[row[0]] = len(devices)

    def rows(table: str, query: str, check, clean: str = "", fast=None):
        """The rows of ``query`` that pass ``check``. ``clean``: an SQL condition that only rows
        ``check`` accepts can meet; when every row meets it (as in any file we wrote), ``fast``
        converts them all at once, as ``check`` would, without testing them one by one."""
        if clean and fast is not None:
            bad = db.execute(f"SELECT count(*) FROM {table} WHERE ({clean}) IS NOT 1").fetchone()
            if bad[0] == 0:
                good = fast(db.execute(query).fetchall())
                report.totals[table] = len(good)
                return good
        good, n = [], 0
        for r in db.execute(query):
            n += 1
            try:
                good.append(check(r))
            except _Bad as e:
                report.skip(table, r[0], str(e))
        report.totals[table] = n
        return good

    ids = ", ".join(str(i) for i in index) or "NULL"
    number = "typeof({0}) IN ('integer', 'real')"
    # Conditions that imply the checks below (stricter where rounding could differ): SQLite
    # stores NaN as NULL, and an infinity fails every bound.
    device_ok = f"typeof(device_id) = 'integer' AND device_id IN ({ids})"
    flag_ok = "({0} IS NULL OR (typeof({0}) = 'integer' AND {0} IN (0, 1)))"
    time_ok = f"{number} AND {{0}} BETWEEN {T_MIN_S!r} AND {T_MAX_S!r}"

    def beat(r):
        rid, dev, ticks, ms, bt, at, artifact, seq, gap = r
        d = _ref(dev, index)
        ticks = _whole(ticks, "rr_ticks", 1, MAX_RR_TICKS)
        ms = _number(ms, "rr_ms", 0.0, ticks_to_ms(MAX_RR_TICKS), above=True)
        if abs(ms - ticks_to_ms(ticks)) > 0.5:
            raise _Bad(f"rr_ms {ms:g} disagrees with rr_ticks {ticks}")
        bt, at = _time(bt, "beat_time_s"), _time(at, "arrival_s")
        if bt > at + BEAT_AFTER_ARRIVAL_S:
            raise _Bad(f"beat_time_s {bt:g} is after its arrival_s {at:g}")
        return (rid, d, ticks, ms, bt, at, _flag(artifact, "artifact") or 0, seq,
                _flag(gap, "gap") or 0)

    def notification(r):
        rid, dev, at, payload, seq = r
        if type(payload) is not bytes:
            raise _Bad(f"payload {_show(payload)} is not bytes")
        if len(payload) > MAX_PAYLOAD:
            raise _Bad(f"payload of {len(payload)} bytes is longer than a notification")
        return (rid, _ref(dev, index), _time(at, "arrival_s"), payload, seq)

    def frame(width: int, unit: str):
        def check(r):
            rid, dev, t0, fs, samples, at, seq = r
            if type(samples) is not bytes:
                raise _Bad(f"samples {_show(samples)} is not bytes")
            if not samples or len(samples) % width:
                raise _Bad(f"samples of {len(samples)} bytes is not a whole number of {unit}")
            return (rid, _ref(dev, index), _time(t0, "t0_s"),
                    _number(fs, "fs_hz", FS_MIN_HZ, FS_MAX_HZ), samples,
                    None if at is None else _time(at, "arrival_s"), seq)
        return check

    scalars: dict[str, object] = {}  # JSON text of plain values, decoded once (heart rates)

    def event(r):
        rid, t, dev, kind, value, seq = r
        t = _time(t, "t_s")
        d = None if dev is None else _ref(dev, index)
        if not isinstance(kind, str) or not kind:
            raise _Bad(f"kind {_show(kind)} is not a name")
        if isinstance(value, str) and value in scalars:
            value = scalars[value]
        elif value is not None:
            text, value = value, _json(value, "value")
            if isinstance(value, int | float | str | bool):  # immutable: safe to share
                scalars[text] = value
        _check_event_value(kind, value)
        return (rid, t, d, kind, value, seq)

    artifact, gap = col("beats", "artifact"), col("beats", "gap")
    beats_clean = " AND ".join((
        device_ok, f"typeof(rr_ticks) = 'integer' AND rr_ticks BETWEEN 1 AND {MAX_RR_TICKS}",
        number.format("rr_ms"), f"rr_ms > 0 AND rr_ms <= {ticks_to_ms(MAX_RR_TICKS)!r}",
        f"abs(rr_ms - rr_ticks * 1000.0 / {TICKS_PER_S}) <= 0.499",
        time_ok.format("beat_time_s"), time_ok.format("arrival_s"),
        f"beat_time_s <= arrival_s + {BEAT_AFTER_ARRIVAL_S!r}",
        flag_ok.format(artifact), flag_ok.format(gap)))
    beats = rows("beats", "SELECT id, device_id, rr_ticks, rr_ms, beat_time_s, arrival_s, "
                          f"{artifact}, {col('beats', 'seq')}, {gap} FROM beats ORDER BY id",
                 beat, beats_clean,
                 lambda all_rows: [(rid, index[d], ticks, float(ms), float(bt), float(at),
                                    a or 0, seq, g or 0)
                                   for rid, d, ticks, ms, bt, at, a, seq, g in all_rows])
    if report.totals["beats"] and not beats:
        raise SessionFileError(f"{path}: no usable beats: all {report.totals['beats']} rows of "
                               f"table beats are damaged ({report.first('beats')})")
    notes = rows("notifications", "SELECT id, device_id, arrival_s, payload, "
                                  f"{col('notifications', 'seq')} FROM notifications ORDER BY id",
                 notification,
                 f"{device_ok} AND {time_ok.format('arrival_s')} AND typeof(payload) = 'blob' "
                 f"AND length(payload) <= {MAX_PAYLOAD}",
                 lambda all_rows: [(rid, index[d], float(at), payload, seq)
                                   for rid, d, at, payload, seq in all_rows])
    frames = {table: rows(table, f"SELECT id, device_id, t0_s, fs_hz, samples, "
                                 f"{col(table, 'arrival_s')}, {col(table, 'seq')} FROM {table} "
                                 "ORDER BY id", frame(width, unit))
              for table, width, unit in (("ecg", 4, "int32 samples"),
                                         ("acc", 6, "int16 x, y, z samples"))}
    events = rows("events", f"SELECT id, t_s, device_id, kind, value, {col('events', 'seq')} "
                            "FROM events ORDER BY id", event)
    stream = {"beats": [(r[0], r[7]) for r in beats],
              "notifications": [(r[0], r[4]) for r in notes],
              "ecg": [(r[0], r[6]) for r in frames["ecg"]],
              "acc": [(r[0], r[6]) for r in frames["acc"]],
              "events": [(r[0], r[5]) for r in events if r[3] in _STREAM_KINDS]}
    return _Loaded(meta, version, tuple(devices), tuple(persons), beats, notes, frames["ecg"],
                   frames["acc"], events, report, _check_order(version, stream, report))


def _check_order(version: int, stream: dict[str, list[tuple[int, object]]], report: _Report
                 ) -> frozenset[tuple[str, int]] | None:
    """The rows (table, id) of the session's event stream whose order number (``seq``) is
    missing, malformed or out of order. Each table's rows were written in the order the session
    received them, so their numbers increase with the row id: the longest increasing run of
    them is kept, a number that breaks it is damage."""
    if version < 2 or all(seq is None for rows in stream.values() for _, seq in rows):
        return None  # no numbers: replayed in the order of their times
    out: set[tuple[str, int]] = set()
    for table, rows in stream.items():
        numbered = []
        for rid, seq in rows:
            if _order(seq):
                numbered.append((rid, seq))
            else:
                report.skip(table, rid, f"seq {_show(seq)} is not an order number", kind="order")
                out.add((table, rid))
        seqs = [seq for _, seq in numbered]
        if all(a < b for a, b in zip(seqs, seqs[1:])):
            continue  # in order, as written: nothing to find
        for (rid, seq), ok in zip(numbered, _increasing(seqs)):
            if not ok:
                report.skip(table, rid, f"seq {seq} is out of order", kind="order")
                out.add((table, rid))
    return frozenset(out)


def _check_event_value(kind: str, value: object) -> None:
    """The value an event of a known kind must hold (as the live session made it)."""
    if kind == "battery":
        _whole(value, "battery value", 0, 255)
    elif kind == "heart_rate":
        _whole(value, "heart_rate value", 0, 0xFFFF)
    elif kind == "contact":
        if value is not None and type(value) is not bool:
            raise _Bad(f"contact value {_show(value)} is not true, false or null")
    elif kind in _LINK:
        if value is not None and not isinstance(value, str):
            raise _Bad(f"{kind} value {_show(value)} is not text")
    elif kind == "breath":
        if value is not None and not isinstance(value, dict):
            raise _Bad(f"breath value {_show(value)} is not an object")
    elif kind == "marker":  # our markers hold text; a note as an object is kept, as JSON text
        if not isinstance(value, str | dict | None):
            raise _Bad(f"marker value {_show(value)} is neither text nor an object")
    elif kind == "pacer_change":
        if not isinstance(value, dict):
            raise _Bad(f"pacer_change value {_show(value)} is not an object")
        _number(value.get("rate_bpm"), "pacer_change rate_bpm", 1.0, 30.0)
        if value.get("inhale_ratio") is not None:
            _number(value.get("inhale_ratio"), "pacer_change inhale_ratio", 0.1, 0.9)
    elif kind == "timing":
        if not (isinstance(value, dict) and type(value.get("degraded")) is bool):
            raise _Bad(f"timing value {_show(value)} is not an object with 'degraded'")
        for key in ("uncertainty_ms", "lateness_ms"):
            _number(value.get(key), f"timing {key}", 0.0, math.inf)


def read_session(path: str | Path, *, keep_rows: bool = False) -> SessionData:
    """Read a session file (also one still being written, or cut short by a crash).

    ``keep_rows``: keep the rows read, so that :func:`read_events` (a replay) takes them rather
    than reading the file again.

    Raises :class:`SessionFileError` (one line) for a file that cannot be used; malformed rows
    are skipped, counted in :attr:`SessionData.warnings` and logged as one line."""
    path = Path(path)
    ld = _load(path)
    b = ld.beats
    arr = np.array([r[1:7] for r in b], dtype=float).reshape(-1, 6)
    data = SessionData(
        path=path, meta=ld.meta, devices=ld.devices,
        device_ids=arr[:, 0].astype(int), rr_ticks=arr[:, 1].astype(int), rr_ms=arr[:, 2],
        beat_time_s=arr[:, 3], arrival_s=arr[:, 4], artifact=arr[:, 5].astype(bool),
        events=tuple((t, d, kind, value) for _, t, d, kind, value, _ in ld.events),
        ecg=_signal(ld.ecg, "<i4", 1), acc=_signal(ld.acc, "<i2", 3),
        warnings=ld.report.warnings(), persons=ld.persons,
        gap=np.array([r[8] for r in b], dtype=bool), rows=ld if keep_rows else None)
    try:
        data.protocol()
    except SessionFileError as e:
        meta = {k: v for k, v in data.meta.items() if k != "protocol"}
        note = str(e).removeprefix(f"{path}: ") + "; read as breathed freely"
        data = dataclasses.replace(data, meta=meta, warnings=(*data.warnings, note))
    if data.warnings:
        _log.warning("%s: %s", path, "; ".join(data.warnings))
    return data


@dataclass(frozen=True, slots=True, eq=False)
class Signal:
    """Raw samples of one device read back from a session: times (s) and values."""

    device_id: int
    t: np.ndarray
    values: np.ndarray  # (n,) for ECG in µV, (n, 3) for ACC in milli-g


def _signal(rows, dtype: str, channels: int) -> tuple[Signal, ...]:
    """Concatenate stored frames per device, each sample at its frame's t0 + k / fs."""
    by_dev: dict[int, tuple[list, list]] = {}
    for _, dev, t0, fs, blob, _, _ in rows:
        v = np.frombuffer(blob, dtype=dtype).astype(np.int64)
        v = v.reshape(-1, channels) if channels > 1 else v
        ts, vs = by_dev.setdefault(dev, ([], []))
        ts.append(t0 + np.arange(len(v)) / fs)
        vs.append(v)
    return tuple(Signal(d, np.concatenate(ts), np.concatenate(vs))
                 for d, (ts, vs) in by_dev.items())


_LINK = {f"link_{s.value}": s for s in LinkState}


def _order(seq: object) -> bool:
    return type(seq) is int and seq >= 0


def _increasing(values: list[int]) -> list[bool]:
    """Which of ``values`` form their longest strictly increasing subsequence."""
    tails: list[int] = []      # the least last value of an increasing run of each length
    tail_at: list[int] = []    # where that run ends
    before = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_at.append(i)
        else:
            tails[k], tail_at[k] = v, i
        before[i] = tail_at[k - 1] if k else -1
    keep = [False] * len(values)
    i = tail_at[-1] if tail_at else -1
    while i >= 0:
        keep[i] = True
        i = before[i]
    return keep


def one_line(text: str) -> str:
    """A note or a name as one line for a file or a figure: runs of white space (tabs, line
    breaks) as one space, control characters left out."""
    return "".join(c for c in " ".join(text.split()) if c.isprintable())


def without_accents(text: str) -> str:
    """``text`` with accents and other combining marks dropped ("Zoë" -> "Zoe"), for file
    names."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def cut_utf8(text: str, n_bytes: int) -> str:
    """``text`` cut to at most ``n_bytes`` bytes of UTF-8 at a character's boundary (for formats
    that hold a note in a fixed number of bytes)."""
    return text.encode("utf-8")[:n_bytes].decode("utf-8", "ignore")


def marker_note(value: object) -> str:
    """A marker event's value as its note: text as written, none as "", an object (a note
    another tool wrote) as its JSON text."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def recorded_wearers(data: SessionData) -> Callable[[DeviceInfo], str]:
    """Who wore a strap of the recording ``data`` (by its address) as the live session was told
    (meta ``wearers``; "" for a strap nobody was named for): for
    :class:`~biobreath.session.Session`'s ``wearers``, so a replay names the straps as live. A
    plain function, so that copying a session (the replay timeline's snapshots) does not copy
    the recording with it."""
    told = data.meta.get("wearers")
    by_address = {k: v for k, v in told.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(told, dict) else {}
    return lambda info: by_address.get(info.address, "")


def read_events(data: SessionData) -> list[Event]:
    """Every event the recorded session received from its source, in the order it received them
    (format 2 numbers them; older files are ordered by time), ending with a :class:`Tick` at the
    time the session stopped. Malformed rows are left out, and so are rows whose order number is
    missing or out of order (:func:`read_session` reports both; anything found only now, the file
    having changed since, is logged; with rows kept by :func:`read_session`, the file is not read
    again)."""
    ld = data.rows or _load(data.path)
    v2 = ld.version >= 2
    addr = {i + 1: dev.address for i, dev in enumerate(ld.devices)}
    # (table, row id, seq, time order: (time, rank, row id), event)
    items: list[tuple[str, int, object, tuple, Event]] = []
    for rid, d, ticks, _, beat_t, t, _, seq, gap in ld.beats:
        items.append(("beats", rid, seq, (t, 2, rid), Beat(beat_t, ticks, t, addr[d],
                                                           gap=bool(gap))))
    for rid, d, t, payload, seq in ld.notifications:
        items.append(("notifications", rid, seq, (t, 0, rid), Notification(t, payload, addr[d])))
    for rid, d, t0, fs, blob, arrival, seq in ld.ecg:
        # Format 1 files have no frame arrival times.
        t = arrival if v2 and arrival is not None else t0
        uv = np.frombuffer(blob, "<i4").astype(np.int64)
        items.append(("ecg", rid, seq, (t, 3, rid), EcgSamples(t, t0, fs, uv, addr[d])))
    for rid, d, t0, fs, blob, arrival, seq in ld.acc:
        t = arrival if v2 and arrival is not None else t0
        mg = np.frombuffer(blob, "<i2").astype(np.int64).reshape(-1, 3)
        items.append(("acc", rid, seq, (t, 3, rid), AccSamples(t, t0, fs, mg, addr[d])))
    for rid, t, d, kind, value, seq in ld.events:
        # What the session wrote itself (start, stop, breaths) has no number and is left out.
        if kind not in _STREAM_KINDS:
            continue
        dev = addr[d] if d is not None else ""
        if kind in _LINK:
            ev: Event = Link(t, _LINK[kind], value or "", dev)
        elif kind == "battery":
            ev = Battery(t, value, dev)
        elif kind == "contact":
            ev = Contact(t, value, dev)
        elif kind == "heart_rate":
            ev = HeartRate(t, value, dev)
        elif kind == "timing":
            ev = Timing(t, value["degraded"], float(value["uncertainty_ms"]),
                        float(value["lateness_ms"]), dev)
        elif kind == "marker":
            ev = Marker(t, marker_note(value))
        elif kind == "pacer_change":
            ev = PacerChange(t, float(value["rate_bpm"]), value.get("inhale_ratio"))
        else:
            ev = Tick(t)
        items.append(("events", rid, seq, (t, 1, rid), ev))
    if ld.unordered is None:  # format 1, or rows written without numbers: in time order
        items.sort(key=lambda x: x[3])
    else:
        items = [x for x in items if (x[0], x[1]) not in ld.unordered]
        items.sort(key=lambda x: (x[2], x[3]))
    new = [w for w in ld.report.warnings() if w not in data.warnings]
    if new:
        _log.warning("%s: %s", data.path, "; ".join(new))
    return [x[4] for x in items] + [Tick(data.duration_s)]


_STREAM_KINDS = {*_LINK, "battery", "contact", "heart_rate", "timing", "tick", "marker",
                 "pacer_change"}

"""The people who practise on this computer, and the index of their sessions: one SQLite file,
``people.sqlite``, in the per-user data folder beside the ``sessions`` folder.

A person has a name (free text: a name or a pseudonym), a resonance rate (breaths/min; every value
set is kept with its UTC time and where it came from), preferences (protocol, sound, session
length in s, the strap last used) and their sessions. The session files stay the source of truth:
the ``sessions`` table only indexes them (:class:`SessionEntry`, computed from a file by
:mod:`biobreath.offline.progress`) and ``biobreath history --rebuild`` makes it again from them.
People, resonance rates and preferences live only here.

Several programs may use the file at once (two sessions ending together, a history while a session
runs): it is in WAL mode, every write is one short ``BEGIN IMMEDIATE`` transaction, and a writer
waits up to :data:`BUSY_TIMEOUT_MS` for another. Names and texts only ever travel as SQL
parameters; printing them is the caller's business (escape them, see
:func:`biobreath.ui.formatting.one_line`).

Schema (``application_id`` 0x62627070, ``user_version`` 1):

- ``people(name, resonance_bpm, protocol, sound, session_s, strap, created_utc)``; names compare
  without regard to ASCII case ("Anna" and "anna" are one person, spelt as first given).
- ``resonance(id, person, utc, bpm, source, file)``: every resonance rate set, oldest first.
- ``sessions(session_id, file, person, started_utc, duration_s, complete, source_kind, protocol,
  strap, n_beats, coherence_mean, low_s, medium_s, high_s, hr_swing_bpm, mean_hr_bpm,
  before_suds, before_note, after_suds, after_note)``: one row per recording; NULL for a figure
  the recording is too short for.
- ``state(key, value)``: ``last_person``.
"""

from __future__ import annotations

import contextlib
import math
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from biobreath.errors import BiobreathError
from biobreath.files.recording import default_session_dir

DEFAULT_PERSON = "me"
APPLICATION_ID = 0x62627070  # "bbpp"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 15_000
MAX_NAME = 100  # characters: a name or pseudonym, never a paragraph
MAX_NOTE = 500  # characters of a check-in's note (one journal line)
SOUNDS = ("tone", "chime", "off")
SIMULATED_KINDS = ("sim", "virtual")  # source kinds with no real heart behind them

_SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    name TEXT PRIMARY KEY COLLATE NOCASE, resonance_bpm REAL, protocol TEXT, sound TEXT,
    session_s REAL, strap TEXT, created_utc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resonance (
    id INTEGER PRIMARY KEY, person TEXT NOT NULL COLLATE NOCASE, utc TEXT NOT NULL,
    bpm REAL NOT NULL, source TEXT NOT NULL, file TEXT);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, file TEXT NOT NULL, person TEXT NOT NULL COLLATE NOCASE,
    started_utc TEXT NOT NULL, duration_s REAL NOT NULL, complete INTEGER NOT NULL,
    source_kind TEXT NOT NULL, protocol TEXT NOT NULL, strap TEXT NOT NULL,
    n_beats INTEGER NOT NULL, coherence_mean REAL, low_s REAL, medium_s REAL, high_s REAL,
    hr_swing_bpm REAL, mean_hr_bpm REAL, before_suds INTEGER, before_note TEXT,
    after_suds INTEGER, after_note TEXT);
CREATE INDEX IF NOT EXISTS sessions_by_person ON sessions (person, started_utc);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
"""


def people_path() -> Path:
    """The per-user people database: beside the sessions folder."""
    return default_session_dir().parent / "people.sqlite"


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_name(name: str) -> str:
    """A person's name as stored: surrounding spaces removed; one line saying what is wrong with
    an empty, overlong or control-character name."""
    if not isinstance(name, str):
        raise BiobreathError(f"a person's name must be text, not {type(name).__name__}")
    text = name.strip()
    if not text:
        raise BiobreathError("a person's name cannot be empty")
    if len(text) > MAX_NAME:
        raise BiobreathError(f"a person's name has at most {MAX_NAME} characters")
    if not text.isprintable():
        raise BiobreathError("a person's name cannot hold control characters (a new line, a tab)")
    return text


@dataclass(frozen=True, slots=True)
class Person:
    """One person and their preferences; None where nothing was set yet."""

    name: str
    resonance_bpm: float | None     # last assessed or set by hand, breaths/min
    protocol: str | None            # preferred protocol name
    sound: str | None               # "tone" | "chime" | "off"
    session_s: float | None         # preferred session length, s
    strap: str | None               # last strap used (name)


_PREFERENCES = ("protocol", "sound", "session_s", "strap")


@dataclass(frozen=True, slots=True)
class Checkin:
    """How a person felt before or after a session: ``suds`` 0-10 (subjective units of distress;
    None when only a note was given) and a one-line ``note``."""

    suds: int | None
    note: str = ""

    def __post_init__(self) -> None:
        if self.suds is not None and (type(self.suds) is not int or not 0 <= self.suds <= 10):
            raise BiobreathError(f"a check-in is a whole number from 0 to 10, not {self.suds!r}")
        if not isinstance(self.note, str) or len(self.note) > MAX_NOTE:
            raise BiobreathError(f"a check-in's note is one line of at most {MAX_NOTE} "
                                 "characters")

    def as_meta(self) -> dict[str, object]:
        """The object stored in a recording's meta: ``{"suds": N, "note": "..."}``."""
        return {"suds": self.suds, "note": self.note}

    @classmethod
    def from_meta(cls, value: object) -> Checkin | None:
        """A check-in read back from a recording's meta; None when absent or malformed."""
        if not isinstance(value, dict):
            return None
        suds, note = value.get("suds"), value.get("note") or ""
        try:
            checkin = cls(suds, note)
        except BiobreathError:
            return None
        return None if checkin.suds is None and not checkin.note else checkin


@dataclass(frozen=True, slots=True)
class SessionEntry:
    """One recorded session as the history lists it. Figures are NaN where the recording is too
    short for them: ``coherence_mean`` (0-100) is ``biobreath analyze``'s (64 s windows every 5 s
    of the artifact-corrected series); ``low_s``/``medium_s``/``high_s`` are the seconds of those
    windows at each coherence level (each window counts for its 5 s step);
    ``hr_swing_bpm`` is the mean peak-to-trough heart rate per pacer breath (bpm) of that series;
    ``duration_s`` what the session lasted (s)."""

    session_id: str
    file: str
    person: str
    started_utc: str
    duration_s: float
    complete: bool           # False: the session was stopped early (killed, crashed)
    source_kind: str         # "ble", "sim", "virtual"
    protocol: str
    strap: str
    n_beats: int
    coherence_mean: float
    low_s: float
    medium_s: float
    high_s: float
    hr_swing_bpm: float
    mean_hr_bpm: float
    before: Checkin | None = None
    after: Checkin | None = None

    @property
    def simulated(self) -> bool:
        """True for the simulated and the virtual strap: no real heart behind the figures."""
        return self.source_kind in SIMULATED_KINDS

    @property
    def minutes(self) -> float:
        return self.duration_s / 60.0


_FIGURES = ("coherence_mean", "low_s", "medium_s", "high_s", "hr_swing_bpm", "mean_hr_bpm")
_SESSION_COLUMNS = ("session_id", "file", "person", "started_utc", "duration_s", "complete",
                    "source_kind", "protocol", "strap", "n_beats", *_FIGURES, "before_suds",
                    "before_note", "after_suds", "after_note")


def _row(e: SessionEntry) -> tuple:
    def figure(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return (e.session_id, e.file, e.person, e.started_utc, e.duration_s, int(e.complete),
            e.source_kind, e.protocol, e.strap, e.n_beats,
            *(figure(getattr(e, f)) for f in _FIGURES),
            e.before.suds if e.before else None, e.before.note if e.before else None,
            e.after.suds if e.after else None, e.after.note if e.after else None)


def _entry(r: sqlite3.Row) -> SessionEntry:
    def checkin(suds: object, note: object) -> Checkin | None:
        return Checkin.from_meta({"suds": suds, "note": note})

    return SessionEntry(
        r["session_id"], r["file"], r["person"], r["started_utc"], r["duration_s"],
        bool(r["complete"]), r["source_kind"], r["protocol"], r["strap"], r["n_beats"],
        *(math.nan if r[f] is None else float(r[f]) for f in _FIGURES),
        before=checkin(r["before_suds"], r["before_note"]),
        after=checkin(r["after_suds"], r["after_note"]))


class People:
    """The people database at ``path`` (None: :func:`people_path`); created on first use. Every
    failure to open or write it is one :class:`BiobreathError` line."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else people_path()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise BiobreathError(f"cannot open the people database {self.path}: {e}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            (app_id,) = self._db.execute("PRAGMA application_id").fetchone()
            tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app_id != APPLICATION_ID and (app_id or tables):
                raise BiobreathError(f"{self.path} is not a biobreath people database; move it "
                                     "away (it is never overwritten)")
            self._db.execute("PRAGMA journal_mode = WAL")
            with self._write() as db:
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
        except sqlite3.Error as e:
            self._db.close()
            raise BiobreathError(f"the people database {self.path} cannot be used ({e}); move "
                                 "it away to start a new one (sessions stay in their files: "
                                 "'biobreath history --rebuild' indexes them again)") from None
        except BiobreathError:
            self._db.close()
            raise

    def __enter__(self) -> People:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so that two writers queue
        on the busy timeout rather than fail half-way."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise BiobreathError(f"cannot write the people database {self.path}: {e}") from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise BiobreathError(f"cannot write the people database {self.path}: {e}") from None

    # -- people ----------------------------------------------------------------------------

    def _ensure(self, db: sqlite3.Connection, name: str) -> str:
        """The stored spelling of ``name``, adding the person if new (inside a write)."""
        db.execute("INSERT OR IGNORE INTO people (name, created_utc) VALUES (?, ?)",
                   (name, _utc_now()))
        return db.execute("SELECT name FROM people WHERE name = ?", (name,)).fetchone()[0]

    def get(self, name: str) -> Person | None:
        """The person called ``name``, or None if there is nobody of that name."""
        r = self._db.execute("SELECT * FROM people WHERE name = ?", (check_name(name),)
                             ).fetchone()
        if r is None:
            return None
        return Person(r["name"], r["resonance_bpm"], r["protocol"], r["sound"], r["session_s"],
                      r["strap"])

    def names(self) -> list[str]:
        """Everybody's name, in alphabetical order."""
        return [r[0] for r in self._db.execute("SELECT name FROM people ORDER BY name")]

    def last_person(self) -> str | None:
        r = self._db.execute("SELECT value FROM state WHERE key = 'last_person'").fetchone()
        return r[0] if r else None

    def resolve(self, name: str | None) -> Person:
        """The person ``name`` (None: the last person used, else :data:`DEFAULT_PERSON`),
        created on first use and remembered as the last person used."""
        wanted = check_name(name if name is not None else self.last_person() or DEFAULT_PERSON)
        with self._write() as db:
            stored = self._ensure(db, wanted)
            db.execute("INSERT OR REPLACE INTO state VALUES ('last_person', ?)", (stored,))
        return self.get(stored)

    def set_resonance(self, name: str, bpm: float, *, source: str = "assessment",
                      file: str | None = None) -> None:
        """Set the person's resonance rate (breaths/min), kept in their history with the UTC
        time, where it came from (``source``) and the recording it came from (``file``)."""
        if not (isinstance(bpm, int | float) and 2.0 <= bpm <= 30.0):
            raise BiobreathError(f"a resonance rate is 2-30 breaths/min, not {bpm!r}")
        with self._write() as db:
            stored = self._ensure(db, check_name(name))
            db.execute("UPDATE people SET resonance_bpm = ? WHERE name = ?", (float(bpm), stored))
            db.execute("INSERT INTO resonance (person, utc, bpm, source, file) VALUES "
                       "(?, ?, ?, ?, ?)", (stored, _utc_now(), float(bpm), source, file))

    def resonance_history(self, name: str) -> list[tuple[str, float, str]]:
        """Every resonance rate set for the person: (UTC time, breaths/min, source), oldest
        first."""
        return [(r["utc"], r["bpm"], r["source"]) for r in self._db.execute(
            "SELECT utc, bpm, source FROM resonance WHERE person = ? ORDER BY utc, id",
            (check_name(name),))]

    def set_preferences(self, name: str, **prefs: object) -> None:
        """Set any of ``protocol``, ``sound`` ("tone", "chime" or "off"), ``session_s`` (s) and
        ``strap`` (a name); None clears one."""
        unknown = set(prefs) - set(_PREFERENCES)
        if unknown:
            raise BiobreathError(f"unknown preference {sorted(unknown)[0]!r}; known: "
                                 f"{', '.join(_PREFERENCES)}")
        sound = prefs.get("sound")
        if sound is not None and sound not in SOUNDS:
            raise BiobreathError(f"sound is one of {', '.join(SOUNDS)}, not {sound!r}")
        length = prefs.get("session_s")
        if length is not None and not (isinstance(length, int | float) and 0 < length < 86400):
            raise BiobreathError(f"a session length is 0-86400 s, not {length!r}")
        with self._write() as db:
            stored = self._ensure(db, check_name(name))
            for key, value in prefs.items():  # keys checked above: never user text in the SQL
                db.execute(f"UPDATE people SET {key} = ? WHERE name = ?", (value, stored))

    # -- the sessions index ----------------------------------------------------------------

    def add_session(self, entry: SessionEntry) -> None:
        """Index one recording (again, replacing its earlier row)."""
        with self._write() as db:
            self._insert(db, entry)

    def _insert(self, db: sqlite3.Connection, entry: SessionEntry) -> None:
        person = self._ensure(db, check_name(entry.person))
        row = list(_row(entry))
        row[2] = person  # as the person is spelt in the people table
        db.execute(f"INSERT OR REPLACE INTO sessions ({', '.join(_SESSION_COLUMNS)}) VALUES "
                   f"({', '.join('?' * len(_SESSION_COLUMNS))})", row)

    def replace_sessions(self, entries: list[SessionEntry]) -> None:
        """Make the index hold exactly ``entries`` (a rebuild), in one transaction."""
        with self._write() as db:
            db.execute("DELETE FROM sessions")
            for entry in entries:
                self._insert(db, entry)

    def sessions(self, person: str | None = None, *, include_simulated: bool = False
                 ) -> list[SessionEntry]:
        """The indexed sessions of ``person`` (None: everybody's), oldest first; simulated and
        virtual-strap sessions only with ``include_simulated``."""
        where, params = [], []
        if person is not None:
            where.append("person = ?")
            params.append(check_name(person))
        if not include_simulated:
            where.append(f"source_kind NOT IN ({', '.join('?' * len(SIMULATED_KINDS))})")
            params.extend(SIMULATED_KINDS)
        sql = "SELECT * FROM sessions" + (" WHERE " + " AND ".join(where) if where else "")
        return [_entry(r) for r in self._db.execute(sql + " ORDER BY started_utc, session_id",
                                                    params)]

    def files(self) -> list[str]:
        """Every recording the index names."""
        return [r[0] for r in self._db.execute("SELECT file FROM sessions ORDER BY file")]


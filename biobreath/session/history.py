"""The person a session is for, and the listener that adds each session to their history.

:class:`Practice` carries who is practising and their check-ins into the session (the recorder
stores them in the recording) and what their history makes of it afterwards: the session indexed
in the people database and one sentence comparing it with their recent ones. A window asks the
check-in after the session ends: :meth:`Practice.record_after` adds it to the closed recording
and indexes it again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from biobreath.errors import BiobreathError
from biobreath.files.people import Checkin, People, SessionEntry
from biobreath.files.recording import add_meta
from biobreath.offline.progress import (
    History,
    checkin_sentence,
    index_session,
    person_history,
    recent_comparison,
)
from biobreath.session.listener import SessionListener, SessionSummary

if TYPE_CHECKING:
    from biobreath.session.session import Session

log = logging.getLogger(__name__)


class Practice:
    """``person``'s practice, kept in the people database at ``people_path`` (None: the per-user
    one). ``before`` and ``after`` are the check-ins the next session records (a window sets
    them as the person answers; ``checkins`` False: never ask, as for a replay). ``simulated``:
    the sessions run on a simulated or virtual strap, so the history shown includes such
    sessions (else it leaves them out). After a session, ``file`` is its recording, ``entry``
    its line in the history, ``comparison`` the sentence comparing it with the person's recent
    sessions, and ``problem`` says why it could not be indexed (empty when it was).
    ``resonance_bpm``: the person's resonance rate (breaths/min), when known."""

    def __init__(self, person: str, people_path: Path | None = None, *,
                 before: Checkin | None = None, after: Checkin | None = None,
                 checkins: bool = True, resonance_bpm: float | None = None) -> None:
        self.person = person
        self.resonance_bpm = resonance_bpm  # the person's rate, for protocols paced "resonance"
        self.people_path = people_path
        self.before = before
        self.after = after
        self.checkins = checkins
        self.simulated = False
        self.file = ""  # the last session's recording
        self.entry: SessionEntry | None = None
        self.comparison = ""
        self.problem = ""

    def listener(self) -> HistoryListener:
        """A listener that indexes the session it follows for this person."""
        return HistoryListener(self)

    def index(self, path: str | Path) -> None:
        """Index the recording at ``path`` and compare it with the person's recent sessions."""
        self.file = str(path)
        try:
            with People(self.people_path) as people:
                self.entry = index_session(people, path)
                self.comparison = recent_comparison(people, self.entry)
                self.problem = ""
        except Exception as e:  # noqa: BLE001 - the history must never spoil a session's end
            self.problem = f"the session was not added to the history: {e}"
            log.warning("%s", self.problem)

    def record_after(self, checkin: Checkin | None) -> None:
        """The check-in given after the last session ended (None: skipped): added to its closed
        recording, which is indexed again."""
        if checkin is None or not self.file:
            return
        try:
            add_meta(self.file, checkin_after=checkin.as_meta())
        except BiobreathError as e:
            self.problem = f"the check-in was not saved: {e}"
            log.warning("%s", self.problem)
            return
        self.index(self.file)

    def words(self) -> str:
        """What the last session means for the person's practice, in plain words: how it
        compares with their recent sessions, and how they felt before and after."""
        checkin = checkin_sentence(self.entry) if self.entry is not None else ""
        return " ".join(x for x in (self.comparison, checkin) if x)

    def remember_strap(self, name: str) -> None:
        """Remember the strap the person used (a convenience: a failure is only logged)."""
        try:
            with People(self.people_path) as people:
                people.set_preferences(self.person, strap=name)
        except BiobreathError as e:
            log.warning("%s", e)

    def history(self) -> History:
        """The person's history, as the history view shows it."""
        with People(self.people_path) as people:
            return person_history(people, self.person, include_simulated=self.simulated)


class HistoryListener(SessionListener):
    """Adds the session it follows to its person's history once the session has ended (and its
    recording is closed), and remembers the Bluetooth strap the person used."""

    def __init__(self, practice: Practice) -> None:
        self.practice = practice
        self._session: Session | None = None

    def on_start(self, session: Session) -> None:
        self._session = session
        # Nothing of an earlier session carries over (one that leaves no recording has none).
        p = self.practice
        p.file, p.entry, p.comparison, p.problem = "", None, "", ""

    def on_end(self, summary: SessionSummary) -> None:
        session = self._session
        if session is not None and session.source.kind == "ble" and session.primary:
            info = next((d for d in session.source.devices if d.address == session.primary),
                        None)
            # By name: addresses differ between computers (macOS gives each its own).
            self.practice.remember_strap(info.name if info and info.name else session.primary)
        if summary.path:
            self.practice.index(summary.path)

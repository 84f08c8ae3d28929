"""A person's practice over days: each session's figures read from its recording (what the
people database indexes), and what they add up to: minutes per week, the current streak of days,
and how a session compares with the person's recent ones, in plain words.

The figures are the offline ones, as ``biobreath analyze`` computes them from the recording:
artifacts corrected with the whole session in view, then the coherence score of every 64 s window
every 5 s (their mean is analyze's ``coherence_mean``; the seconds at each level count every
window for its 5 s step) and the peak-to-trough heart rate within each pacer breath the session
recorded. The window's live summary may differ by a few points (the README says why).

Days and weeks are the person's local ones (weeks start on Monday); every function that needs
them takes ``tz`` (None: this computer's time zone) and ``today``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path

import numpy as np

from biobreath.core.coherence import coherence_scores, peak_to_trough, score_level
from biobreath.errors import BiobreathError
from biobreath.files.people import DEFAULT_PERSON, Checkin, People, SessionEntry, check_name
from biobreath.files.readers import session_recordings
from biobreath.files.recording import (
    SessionData,
    default_session_dir,
    is_session_file,
    read_session,
)
from biobreath.offline.analysis import analyze_recording

RECENT = 7
"""How many earlier sessions a session is compared with."""


def _breaths(data: SessionData) -> list[tuple[float, float]]:
    """(start, end) in s of every pacer breath the recording holds."""
    starts = [(t, v) for t, _, kind, v in data.events if kind == "breath"]
    out = []
    for k, (t0, shape) in enumerate(starts):
        parts = [shape.get(key) for key in ("inhale_s", "hold_in_s", "exhale_s", "hold_out_s")
                 ] if isinstance(shape, dict) else [None]
        if parts[0] is not None and all(isinstance(p, int | float) for p in parts):
            t1 = t0 + float(sum(parts))
        else:  # breathing freely: until the next breath, or the session's end
            t1 = starts[k + 1][0] if k + 1 < len(starts) else data.duration_s
        out.append((t0, t1))
    return out


def session_entry(path: str | Path) -> SessionEntry:
    """The history's line for one recording; one :class:`BiobreathError` line when the file
    cannot be read. A session killed mid-way (no ``ended_utc``) is read as far as it got and
    marked incomplete."""
    path = Path(path)
    data = read_session(path)
    meta = data.meta
    figures = dict(coherence_mean=math.nan, low_s=math.nan, medium_s=math.nan, high_s=math.nan,
                   hr_swing_bpm=math.nan, mean_hr_bpm=math.nan)
    n_beats = 0
    if data.rr_ms.size:
        # The first strap's beats (the person the session was for); no protocol: the history
        # needs no resonance criteria.
        rec = dataclasses.replace(session_recordings(data)[0], protocol=None)
        n_beats = int(rec.rr_ms.size)
        try:
            a = analyze_recording(rec)
        except BiobreathError:
            a = None  # too few beats for any figure
        if a is not None:
            _, scores = coherence_scores(a.nn_time_s, a.nn_ms, a.coherence_params)
            levels = [score_level(s) for s in scores[np.isfinite(scores)]]
            step = a.coherence_params.step_s
            swings = [peak_to_trough(a.nn_time_s, 60000.0 / a.nn_ms, t0, t1)
                      for t0, t1 in _breaths(data)]
            swings = [s for s in swings if math.isfinite(s)]
            figures.update(
                coherence_mean=a.coherence_mean,
                low_s=step * levels.count("low"), medium_s=step * levels.count("medium"),
                high_s=step * levels.count("high"),
                hr_swing_bpm=float(np.mean(swings)) if swings else math.nan,
                mean_hr_bpm=a.hrv.time.mean_hr_bpm)
    source = meta.get("source")
    kind = source.get("kind") if isinstance(source, dict) else None
    protocol = meta.get("protocol")
    name = protocol.get("name") if isinstance(protocol, dict) else None
    return SessionEntry(
        session_id=str(meta.get("session_id") or path.resolve()),
        file=str(path.resolve()), person=_person(meta.get("person")),
        started_utc=str(meta.get("created_utc") or ""), duration_s=data.duration_s,
        complete=data.complete, source_kind=kind if isinstance(kind, str) else "unknown",
        protocol=name if isinstance(name, str) else "free", n_beats=n_beats,
        strap=data.devices[0].name if data.devices else "",
        before=Checkin.from_meta(meta.get("checkin_before")),
        after=Checkin.from_meta(meta.get("checkin_after")), **figures)


def _person(value: object) -> str:
    """Whose session it was: the recording's ``person``; recordings made before people existed
    (or with a malformed name) belong to :data:`DEFAULT_PERSON`."""
    try:
        return check_name(value) if isinstance(value, str) else DEFAULT_PERSON
    except BiobreathError:
        return DEFAULT_PERSON


def index_session(people: People, path: str | Path) -> SessionEntry:
    """Read one recording and add it to the index (replacing its earlier line)."""
    entry = session_entry(path)
    people.add_session(entry)
    return entry


def rebuild_index(people: People, folder: Path | None = None) -> tuple[int, list[str]]:
    """Index again every recording in ``folder`` (None: the per-user sessions folder) and every
    recording elsewhere that the index named and that still exists (made with ``--out``); the
    index then holds exactly those. Returns how many were indexed and one line per file that
    could not be read (left out)."""
    folder = folder if folder is not None else default_session_dir()
    paths = {p.resolve() for p in folder.glob("*.sqlite") if is_session_file(p)} \
        if folder.is_dir() else set()
    paths |= {Path(f) for f in people.files() if is_session_file(f)}
    entries, problems = [], []
    for path in sorted(paths):
        try:
            entries.append(session_entry(path))
        except BiobreathError as e:
            problems.append(str(e))
    people.replace_sessions(entries)
    return len(entries), problems


# -- what the sessions add up to ---------------------------------------------------------------


def local_time(utc: str, tz: tzinfo | None = None) -> datetime:
    """A stored UTC time on the person's clock (``tz``; None: this computer's)."""
    return datetime.fromisoformat(utc).astimezone(tz)


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def weekly_minutes(entries: Sequence[SessionEntry], today: date, tz: tzinfo | None = None
                   ) -> list[tuple[date, float]]:
    """Minutes practised per week, (Monday, minutes), from the first session's week to
    ``today``'s, weeks without practice included (as 0)."""
    if not entries:
        return []
    totals: dict[date, float] = {}
    for e in entries:
        week = _monday(local_time(e.started_utc, tz).date())
        totals[week] = totals.get(week, 0.0) + e.minutes
    week, last = min(totals), max(max(totals), _monday(today))
    out = []
    while week <= last:
        out.append((week, totals.get(week, 0.0)))
        week += timedelta(days=7)
    return out


def streak_days(entries: Sequence[SessionEntry], today: date, tz: tzinfo | None = None) -> int:
    """The current streak: consecutive days with at least one session, ending today, or
    yesterday when today's practice is still to come (then the streak is not broken yet)."""
    days = {local_time(e.started_utc, tz).date() for e in entries}
    day = today if today in days else today - timedelta(days=1)
    n = 0
    while day in days:
        n += 1
        day -= timedelta(days=1)
    return n


def compare_with_recent(today: SessionEntry, earlier: Sequence[SessionEntry],
                        n: int = RECENT) -> str:
    """How ``today``'s coherence compares, in plain words, with the mean of the last ``n``
    ``earlier`` sessions that have a score (oldest first); the numbers as shown, rounded."""
    now = today.coherence_mean
    if not math.isfinite(now):
        return ("This session was too short for a coherence score (it takes about a minute of "
                "heartbeats), so it is not compared with your others.")
    scored = [e.coherence_mean for e in earlier if math.isfinite(e.coherence_mean)][-n:]
    shown = round(now)
    if not scored:
        return (f"{WHOLE}your coherence today was {shown}. This is your first session with a "
                "score; the next ones will be compared with it.")
    before = round(float(np.mean(scored)))
    what = ("in your previous session" if len(scored) == 1
            else f"your average of the last {len(scored)} sessions")
    if shown == before:
        return f"{WHOLE}your coherence today, {shown}, was the same as {what}."
    way = "higher" if shown > before else "lower"
    than = "than in your previous session" if len(scored) == 1 else f"than {what}"
    return f"{WHOLE}your coherence today, {shown}, was {way} {than}, {before}."


#: Said first: the history's score is the whole recording's (as ``analyze`` gives it), which can
#: differ by a point or two from the mean of the live scores the session showed.
WHOLE = "Scored over the whole recording, "


def checkin_change(entry: SessionEntry) -> int | None:
    """After minus before (0-10 scale: negative means less distress), when both were rated."""
    if entry.before is None or entry.after is None or None in (entry.before.suds,
                                                               entry.after.suds):
        return None
    return entry.after.suds - entry.before.suds


def checkin_sentence(entry: SessionEntry) -> str:
    """The check-ins in plain words ("" when there was none with a rating)."""
    before = entry.before.suds if entry.before else None
    after = entry.after.suds if entry.after else None
    if before is None and after is None:
        return ""
    if before is None or after is None:
        when, value = ("before", before) if after is None else ("after", after)
        return f"You rated how you felt {value} out of 10 {when} the session."
    change = after - before
    how = ("less distress than before" if change < 0 else "more distress than before"
           if change > 0 else "the same as before")
    return f"You felt {before} out of 10 before and {after} after: {how}."


@dataclass(frozen=True, slots=True)
class History:
    """One person's practice: sessions (oldest first), minutes per week (Monday, minutes),
    the current streak in days and every resonance rate set (UTC time, breaths/min, source)."""

    person: str
    sessions: tuple[SessionEntry, ...]
    weekly: tuple[tuple[date, float], ...]
    streak_days: int
    resonance: tuple[tuple[str, float, str], ...]


def person_history(people: People, person: str, *, include_simulated: bool = False,
                   today: date | None = None, tz: tzinfo | None = None) -> History:
    """``person``'s history from the index (simulated sessions only with
    ``include_simulated``)."""
    today = today or datetime.now(tz).date()
    entries = people.sessions(person, include_simulated=include_simulated)
    return History(person, tuple(entries), tuple(weekly_minutes(entries, today, tz)),
                   streak_days(entries, today, tz), tuple(people.resonance_history(person)))


def recent_comparison(people: People, entry: SessionEntry, n: int = RECENT) -> str:
    """:func:`compare_with_recent` for a session just indexed, against the same person's earlier
    sessions of the same kind (real strap with real strap, simulated with simulated)."""
    earlier = [e for e in people.sessions(entry.person, include_simulated=True)
               if e.simulated == entry.simulated and e.session_id != entry.session_id
               and e.started_utc < entry.started_utc]
    return compare_with_recent(entry, earlier, n)

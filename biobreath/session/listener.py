"""What a session publishes, and the interface of those who follow it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from biobreath.core.adaptive import RateChange
from biobreath.core.coherence import CoherenceResult
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.core.respiration import BreathingEstimate
from biobreath.events import Event, LinkState, Marker, SignalQuality

if TYPE_CHECKING:
    from biobreath.session.session import Session


@dataclass(frozen=True, slots=True)
class StrapStatus:
    """What the window's status line shows for one strap."""

    device: str
    name: str = ""
    link: LinkState = LinkState.CONNECTING
    battery_pct: int | None = None
    contact: bool | None = None
    quality: SignalQuality = SignalQuality.UNKNOWN
    timing_degraded: bool = False  # beat times uncertain (late or irregular notifications)
    person: str = ""  # who wears the strap, when the session was told ("": not known)


@dataclass(frozen=True, slots=True)
class BreathReport:
    """One completed pacer breath ``n`` from ``t0`` to ``t1`` (s) for the primary strap."""

    n: int
    t0: float
    t1: float
    rate_bpm: float | None
    hr_bpm: float
    swing_bpm: float
    coherence_score: float
    phase_deg: float  # heart rate vs the pacer's breathing over the last 64 s (0 = in phase)
    measured_rate_bpm: float = math.nan  # breathing measured by the strap (Polar H10 ACC)
    following_score: float = math.nan    # 0-100: how closely that breathing follows the pacer


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """Whole-session figures for the primary strap: HR in bpm, RMSSD over all adjacent accepted
    beats in ms, coherence scores 0-100, mean peak-to-trough swing per breath in bpm."""

    duration_s: float
    n_beats: int
    n_artifacts: int
    mean_hr_bpm: float
    rmssd_ms: float
    coherence_mean: float
    coherence_max: float
    mean_swing_bpm: float
    gaps: int
    path: str
    following_mean: float = math.nan  # mean following score, when the strap measures breathing
    markers: tuple[Marker, ...] = ()  # what was marked during the session, in time order


class SessionListener:
    """Follows a session: override what you need. Every call runs on the session's event loop,
    in this order: :meth:`on_start` once; then, as they happen, :meth:`on_event` for each event
    from the source (before the session acts on it), :meth:`on_idle` whenever the session has
    caught up with its source, and the published results (beats with their verdicts, coherence,
    breaths, strap status, measured breathing, the adaptive pacer's rate changes);
    :meth:`on_stop` once the source is closed; and :meth:`on_end` with the summary last.

    A listener that saves the session sets :attr:`saved_path` (the summary reports it).
    """

    saved_path: str = ""

    def on_start(self, session: Session) -> None: ...
    def on_event(self, event: Event) -> None: ...
    def on_idle(self) -> None: ...
    def on_stop(self, t: float) -> None: ...
    def on_beat(self, device: str, verdict: BeatVerdict, state: LiveState) -> None: ...
    def on_coherence(self, device: str, result: CoherenceResult) -> None: ...
    def on_breath(self, report: BreathReport) -> None: ...
    def on_status(self, status: StrapStatus) -> None: ...
    def on_breathing(self, device: str, estimate: BreathingEstimate) -> None: ...
    def on_pacer_rate(self, change: RateChange) -> None: ...
    def on_end(self, summary: SessionSummary) -> None: ...

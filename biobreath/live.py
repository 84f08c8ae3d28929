"""The live core: one small stateful stream object over the pure science functions.

Each beat does bounded work: an artifact verdict (physiological bounds, then a causal median test
against the preceding accepted beats), heart rate, RMSSD over the last 60 s; every 5 s of beat
time the coherence of the last 64 s is recomputed. Buffers are fixed-size rings, so memory stays
flat however long the session runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biobreath.coherence import CoherenceParams, CoherenceResult, coherence, peak_to_trough


@dataclass(frozen=True, slots=True)
class LiveParams:
    """Every parameter of the live analysis (stored with each recording)."""

    bounds_ms: tuple[float, float] = (273.0, 2000.0)  # physiological RR range (OpenHRV's too)
    median_beats: int = 11          # causal median over this many preceding accepted beats
    median_tolerance: float = 0.30  # reject |RR - median| > tolerance x median
    rmssd_window_s: float = 60.0
    buffer_s: float = 180.0         # history kept for coherence, breath swings and the display
    coherence: CoherenceParams = field(default_factory=CoherenceParams)


@dataclass(frozen=True, slots=True)
class BeatVerdict:
    """The live core's judgement of one beat."""

    t: float
    rr_ms: float
    hr_bpm: float
    artifact: bool
    reason: str  # "" for a normal beat, else "out of range" or "median test"


@dataclass(frozen=True, slots=True)
class LiveState:
    """What the core knows after the latest beat (NaN until there is enough data)."""

    t: float
    n_beats: int
    n_artifacts: int
    hr_bpm: float
    rmssd_ms: float
    coherence: CoherenceResult | None

    @property
    def artifact_pct(self) -> float:
        return 100.0 * self.n_artifacts / self.n_beats if self.n_beats else math.nan


def rmssd(rr_ms: np.ndarray, valid_pairs: np.ndarray | None = None) -> float:
    """Root mean square of successive RR differences (ms); ``valid_pairs`` masks the diffs."""
    d = np.diff(rr_ms)
    if valid_pairs is not None:
        d = d[valid_pairs]
    return float(np.sqrt(np.mean(d * d))) if d.size else math.nan


class _Ring:
    """Fixed-capacity float ring buffer; ``last(n)`` returns the newest ``n`` in order."""

    def __init__(self, capacity: int) -> None:
        self.data = np.zeros(capacity)
        self.n = 0

    def push(self, x: float) -> None:
        self.data[self.n % self.data.size] = x
        self.n += 1

    def last(self, n: int | None = None) -> np.ndarray:
        cap = self.data.size
        n = min(self.n, cap) if n is None else min(n, self.n, cap)
        end = self.n % cap
        if n <= end:
            return self.data[end - n:end].copy()
        return np.concatenate((self.data[cap - (n - end):], self.data[:end]))


class LiveCore:
    """Feed beats with :meth:`add_beat`; read :attr:`state`, :meth:`recent` and breath swings."""

    def __init__(self, params: LiveParams = LiveParams()) -> None:
        self.params = params
        cap = int(params.buffer_s * 220 / 60) + 16  # enough beats for buffer_s at 220 bpm
        self._t, self._rr, self._ok = _Ring(cap), _Ring(cap), _Ring(cap)
        self._accepted_rr = _Ring(params.median_beats)
        self._n_art = 0
        self._next_coherence: float | None = None
        self.state = LiveState(math.nan, 0, 0, math.nan, math.nan, None)

    def add_beat(self, t: float, rr_ms: float) -> BeatVerdict:
        """Judge and store one beat that ended at ``t`` (s) with interval ``rr_ms`` (ms)."""
        p = self.params
        reason = ""
        if not (p.bounds_ms[0] <= rr_ms <= p.bounds_ms[1]):
            reason = "out of range"
        elif self._accepted_rr.n >= 3:
            med = float(np.median(self._accepted_rr.last()))
            if abs(rr_ms - med) > p.median_tolerance * med:
                reason = "median test"
        ok = not reason
        if ok:
            self._accepted_rr.push(rr_ms)
        else:
            self._n_art += 1
        self._t.push(t)
        self._rr.push(rr_ms)
        self._ok.push(1.0 if ok else 0.0)
        hr = 60000.0 / rr_ms if rr_ms > 0 else math.nan
        coh = self.state.coherence
        if self._next_coherence is None:
            self._next_coherence = t + p.coherence.step_s
        elif t >= self._next_coherence:
            coh = self._coherence_at(self._next_coherence)
            self._next_coherence += p.coherence.step_s * max(1, math.ceil(
                (t - self._next_coherence) / p.coherence.step_s))
        self.state = LiveState(t, self._t.n, self._n_art,
                               hr if ok else self.state.hr_bpm, self._rmssd(), coh)
        return BeatVerdict(t, rr_ms, hr, not ok, reason)

    def recent(self, seconds: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beat times (s), RR (ms) and artifact mask of the last ``seconds`` of beats."""
        t = self._t.last()
        m = t >= (t[-1] - seconds) if t.size else np.zeros(0, bool)
        return t[m], self._rr.last()[m], self._ok.last()[m] == 0.0

    def breath_swing(self, t0: float, t1: float) -> float:
        """Peak-to-trough heart rate (bpm) over accepted beats between ``t0`` and ``t1`` (s)."""
        t, rr, art = self.recent(self.params.buffer_s)
        return peak_to_trough(t[~art], 60000.0 / rr[~art], t0, t1)

    def _rmssd(self) -> float:
        t, rr, art = self.recent(self.params.rmssd_window_s)
        # Successive differences only between two accepted, adjacent beats.
        return rmssd(rr, ~art[1:] & ~art[:-1]) if rr.size > 2 else math.nan

    def _coherence_at(self, t_end: float) -> CoherenceResult:
        t, rr, art = self.recent(self.params.coherence.window_s + 5.0)
        return coherence(t[~art], rr[~art], t_end, self.params.coherence)

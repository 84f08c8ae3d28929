"""The live core: one small stateful stream object over the pure science functions.

Each beat does bounded work. The causal Lipponen-Tarvainen detector
(:class:`biobreath.core.artifacts.CausalDetector`) judges every beat two beats after it arrived;
heart rate, RMSSD over the last 60 s and, every 5 s of beat time, the coherence of the last 64 s
are computed over judged beats only, artifacts left out. Buffers are fixed-size rings, so memory
stays flat however long the session runs. The display may show the newest beats before they are
judged (:meth:`LiveCore.recent`).

**Breaks.** :meth:`LiveCore.flush` marks a break in the series: the session calls it when the link
was lost and when the strap's beat chain broke (``Beat.gap``: RRs were lost, or the beat timer
re-anchored). Across a break neither the RR sequence nor the time axis can be trusted to join up:
beats are missing between the two sides, and after a re-anchor the new side's times may be off by
up to a notification period against the old side's until the timer settles again. So:

* RMSSD takes successive differences only between beats adjacent on the same side of a break, as
  it already does only between adjacent normal beats (the Task Force definition: differences of
  *successive* NN intervals). Differences from both sides of a break inside the 60 s window still
  count: each is a valid pair, as those on both sides of an artifact are.
* Coherence, a spectrum, needs one evenly resampled tachogram: splicing two segments whose
  relative timing is unknown would put a step in it and leak power across the band. It is
  computed over the beats since the last break only, and stays NaN, as at the start of a
  session, until they cover ``min_coverage`` of its window (48 s of 64 s by default), rather than
  bridging the break by interpolation.
* The artifact detector restarts (:meth:`biobreath.core.artifacts.CausalDetector.flush`): its
  windows never mix the two sides either.

:attr:`LiveCore.segment_start` is the time of the first beat after the last break, for callers
that analyse windows of their own (the breathing phase, for one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biobreath.core.artifacts import ArtifactKind, ArtifactParams, CausalDetector
from biobreath.core.coherence import (
    CoherenceParams,
    CoherenceResult,
    coherence,
    peak_to_trough,
    window_spectrum,
)


@dataclass(frozen=True, slots=True)
class LiveParams:
    """Every parameter of the live analysis (stored with each recording)."""

    artifacts: ArtifactParams = field(default_factory=ArtifactParams)
    warmup_beats: int = 20          # first beats of a series judged by the RR bounds alone
    rmssd_window_s: float = 60.0
    buffer_s: float = 180.0         # history kept for coherence, breath swings and the display
    coherence: CoherenceParams = field(default_factory=CoherenceParams)


@dataclass(frozen=True, slots=True)
class BeatVerdict:
    """The live core's judgement of beat number ``index`` (0-based, in arrival order)."""

    index: int
    t: float
    rr_ms: float
    hr_bpm: float
    kind: ArtifactKind

    @property
    def artifact(self) -> bool:
        return self.kind != ArtifactKind.NONE

    @property
    def reason(self) -> str:
        """"" for a normal beat, else the artifact kind ("ectopic", "missed", ...)."""
        return "" if self.kind == ArtifactKind.NONE else self.kind.name.lower().replace("_", " ")


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
    rr_ms = np.asarray(rr_ms, dtype=float)
    d = rr_ms[1:] - rr_ms[:-1]
    if valid_pairs is not None:
        d = d[valid_pairs]
    # np.mean's own sum and division, without its per-call overhead (this runs every beat).
    return math.sqrt(np.add.reduce(d * d) / d.size) if d.size else math.nan


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
        self._start = _Ring(cap)  # 1.0 for the first beat after a break (or ever)
        self._after_break = True
        self.segment_start = math.nan  # time (s) of the first beat since the last break
        self._detector = CausalDetector(params.artifacts, warmup_beats=params.warmup_beats)
        self._judged = 0
        self._n_art = 0
        self._next_coherence: float | None = None
        self.state = LiveState(math.nan, 0, 0, math.nan, math.nan, None)

    def add_beat(self, t: float, rr_ms: float) -> list[BeatVerdict]:
        """Store one beat that ended at ``t`` (s) with interval ``rr_ms`` (ms).

        Returns the verdicts that became possible (normally one: the beat two before this one).
        """
        self._t.push(t)
        self._rr.push(rr_ms)
        self._ok.push(1.0)  # provisional until judged
        self._start.push(1.0 if self._after_break else 0.0)
        if self._after_break:
            self._after_break, self.segment_start = False, t
        # A zero RR from a faulty strap is judged (out of range) like any other nonsense value.
        return self._apply(self._detector.push(max(rr_ms, 1e-3)))

    def flush(self) -> list[BeatVerdict]:
        """Judge the beats still waiting (at a break: a link gap, a broken beat chain, the end):
        the series restarts, and nothing computed later spans the break (module docstring)."""
        verdicts = self._apply(self._detector.flush())
        self._after_break = True
        return verdicts

    def _apply(self, verdicts: list[tuple[int, ArtifactKind]]) -> list[BeatVerdict]:
        p = self.params
        out = []
        for index, kind in verdicts:
            back = self._t.n - 1 - index  # how far behind the newest beat the judged one is
            slot = index % self._ok.data.size
            t, rr = float(self._t.data[slot]), float(self._rr.data[slot])
            ok = kind == ArtifactKind.NONE
            self._ok.data[slot] = 1.0 if ok else 0.0
            if kind == ArtifactKind.EXTRA and index + 1 < self._t.n:
                # A spurious detection split one interval in two: the next beat closes the whole
                # interval (the detector judges it on the merged value too).
                self._rr.data[(index + 1) % self._rr.data.size] += rr
            self._judged = index + 1
            if not ok:
                self._n_art += 1
            hr = 60000.0 / rr if rr > 0 else math.nan
            coh = self.state.coherence
            if self._next_coherence is None:
                self._next_coherence = t + p.coherence.step_s
            elif t >= self._next_coherence:
                coh = self._coherence_at(self._next_coherence, back)
                self._next_coherence += p.coherence.step_s * max(1, math.ceil(
                    (t - self._next_coherence) / p.coherence.step_s))
            self.state = LiveState(t, self._judged, self._n_art, hr if ok else self.state.hr_bpm,
                                   self._rmssd(back), coh)
            out.append(BeatVerdict(index, t, rr, hr, kind))
        return out

    def recent(self, seconds: float, *, judged_only: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Beat times (s), RR (ms) and artifact mask of the last ``seconds`` of beats.

        Beats not yet judged count as normal unless ``judged_only`` leaves them out.
        """
        skip = self._t.n - self._judged if judged_only else 0
        return self._window(seconds, skip)

    def _window(self, seconds: float, skip: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`recent`, leaving out the newest ``skip`` beats."""
        return self._window_breaks(seconds, skip)[:3]

    def _window_breaks(self, seconds: float, skip: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_window` and, per beat, whether it is the first after a break."""
        n = max(0, min(self._t.n, self._t.data.size) - skip)
        t = self._t.last(n + skip)[:n]
        m = t >= (t[-1] - seconds) if t.size else np.zeros(0, bool)
        return (t[m], self._rr.last(n + skip)[:n][m], self._ok.last(n + skip)[:n][m] == 0.0,
                self._start.last(n + skip)[:n][m] == 1.0)

    def breath_swing(self, t0: float, t1: float) -> float:
        """Peak-to-trough heart rate (bpm) over normal beats between ``t0`` and ``t1`` (s)."""
        t, rr, art = self.recent(self.params.buffer_s)
        return peak_to_trough(t[~art], 60000.0 / rr[~art], t0, t1)

    def _rmssd(self, skip: int) -> float:
        t, rr, art, first = self._window_breaks(self.params.rmssd_window_s, skip)
        # Successive differences only between two normal beats adjacent on one side of a break.
        return rmssd(rr, ~art[1:] & ~art[:-1] & ~first[1:]) if rr.size > 2 else math.nan

    def _coherence_beats(self, skip: int) -> tuple[np.ndarray, np.ndarray]:
        """Beat times (s) and RR (ms) a coherence score is read from, leaving out the newest
        ``skip`` beats: the normal beats of the last window since the last break (too few of
        them give NaN, never a spliced series)."""
        t, rr, art, first = self._window_breaks(self.params.coherence.window_s + 5.0, skip)
        since = np.flatnonzero(first)
        keep = ~art
        if since.size:
            keep[:since[-1]] = False
        return t[keep], rr[keep]

    def _coherence_at(self, t_end: float, skip: int) -> CoherenceResult:
        return coherence(*self._coherence_beats(skip), t_end, self.params.coherence)

    def coherence_spectrum(self, t_end: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Frequencies (Hz) and PSD (ms²/Hz) the coherence score at ``t_end`` (s, a time this
        core scored, such as ``state.coherence.t``) was read from: the same beats, as they were
        when the score was taken (a score is taken when the first beat after ``t_end`` is
        judged); None when too few or no longer held."""
        unjudged = self._t.n - self._judged
        t = self._window(self.params.buffer_s, unjudged)[0]
        later = int(np.count_nonzero(t > t_end))
        return window_spectrum(*self._coherence_beats(unjudged + max(0, later - 1)), t_end,
                               self.params.coherence)

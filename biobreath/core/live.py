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
    return _root_mean(d * d)


def _root_mean(squares: np.ndarray) -> float:
    """Square root of the mean of ``squares`` (NaN if none)."""
    # np.mean's own sum and division, without its per-call overhead (this runs every beat).
    return math.sqrt(np.add.reduce(squares) / squares.size) if squares.size else math.nan


class _Beats:
    """The last ``capacity`` beats: time (s), RR (ms), artifact flag, first-after-a-break flag,
    and the RMSSD term of each beat's pair with the one before (:meth:`judged`).

    Arrays of twice the capacity fill from the front; when full, their newer half moves down (one
    copy per ``capacity`` beats), so the newest beats are always one contiguous slice, read
    without copying.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.t = np.zeros(2 * capacity)
        self.rr = np.zeros(2 * capacity)
        self.art = np.zeros(2 * capacity, bool)
        self.first = np.zeros(2 * capacity, bool)
        self.pair_sq = np.zeros(2 * capacity)     # (RR - RR before)², ms²
        self.pair_ok = np.zeros(2 * capacity, bool)  # both normal, no break between
        self.n = 0                # beats pushed ever
        self._end = 0             # array position after the newest beat
        self._last_drop = 0       # index of the newest beat whose time fell below the one before

    def push(self, t: float, rr_ms: float, first: bool) -> None:
        cap = self.capacity
        if self._end == 2 * cap:
            for a in (self.t, self.rr, self.art, self.first, self.pair_sq, self.pair_ok):
                a[:cap] = a[cap:]
            self._end = cap
        e = self._end
        if e and not t >= self.t[e - 1]:
            self._last_drop = self.n
        self.t[e], self.rr[e], self.art[e], self.first[e] = t, rr_ms, False, first
        self._end += 1
        self.n += 1

    def judged(self, slot: int, artifact: bool) -> None:
        """Record the verdict on the beat at position ``slot``, judged after every earlier beat:
        its pair with the beat before is then final (an extra beat's merge into the next RR
        happens when the extra beat is judged, before the next one is)."""
        self.art[slot] = artifact
        if slot:
            d = float(self.rr[slot]) - float(self.rr[slot - 1])
            self.pair_sq[slot] = d * d
            self.pair_ok[slot] = not (artifact or self.art[slot - 1] or self.first[slot])

    def pos(self, index: int) -> int:
        """Array position of beat ``index`` (one of the last ``capacity``)."""
        return self._end - (self.n - index)

    def window(self, seconds: float, skip: int) -> slice | np.ndarray:
        """Positions of the beats held, less the newest ``skip``, whose time is within
        ``seconds`` of the last of them: a slice while their times never fall (the usual case),
        else an index array."""
        held = min(self.n, self.capacity)
        hi = self._end - min(skip, held)
        lo = self._end - held
        if hi <= lo:
            return slice(hi, hi)
        t = self.t[lo:hi]
        # Times that never fall make the window a suffix: its start is found by bisection.
        if self._last_drop <= self.n - held:
            return slice(lo + int(t.searchsorted(t[-1] - seconds)), hi)
        return lo + np.flatnonzero(t >= (t[-1] - seconds))


class LiveCore:
    """Feed beats with :meth:`add_beat`; read :attr:`state`, :meth:`recent` and breath swings."""

    def __init__(self, params: LiveParams = LiveParams()) -> None:
        self.params = params
        cap = int(params.buffer_s * 220 / 60) + 16  # enough beats for buffer_s at 220 bpm
        self._beats = _Beats(cap)
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
        self._beats.push(t, rr_ms, self._after_break)  # normal until judged
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
        beats = self._beats
        out = []
        for index, kind in verdicts:
            back = beats.n - 1 - index  # how far behind the newest beat the judged one is
            slot = beats.pos(index)
            t, rr = float(beats.t[slot]), float(beats.rr[slot])
            ok = kind == ArtifactKind.NONE
            beats.judged(slot, not ok)
            if kind == ArtifactKind.EXTRA and index + 1 < beats.n:
                # A spurious detection split one interval in two: the next beat closes the whole
                # interval (the detector judges it on the merged value too).
                beats.rr[slot + 1] += rr
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
        skip = self._beats.n - self._judged if judged_only else 0
        return tuple(a.copy() for a in self._window_breaks(seconds, skip)[:3])

    def _window_breaks(self, seconds: float, skip: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Beat times (s), RR (ms), artifact flags and first-after-a-break flags of the last
        ``seconds`` of beats, leaving out the newest ``skip``; views into the buffer where they
        can be (read them before the next beat)."""
        b = self._beats
        w = b.window(seconds, skip)
        return b.t[w], b.rr[w], b.art[w], b.first[w]

    def breath_swing(self, t0: float, t1: float) -> float:
        """Peak-to-trough heart rate (bpm) over normal beats between ``t0`` and ``t1`` (s).

        Beats not yet judged count as normal, except an RR of 0 or less (a faulty strap's), which
        the detector will reject and which has no heart rate."""
        t, rr, art = self.recent(self.params.buffer_s)
        ok = ~art & (rr > 0)
        return peak_to_trough(t[ok], 60000.0 / rr[ok], t0, t1)

    def _rmssd(self, skip: int) -> float:
        b = self._beats
        w = b.window(self.params.rmssd_window_s, skip)
        if isinstance(w, slice):
            if w.stop - w.start <= 2:
                return math.nan
            # Beats adjacent in the window are adjacent beats: each pair's term, kept when its
            # second beat was judged, is the one the definition below would compute.
            pairs = slice(w.start + 1, w.stop)
            return _root_mean(b.pair_sq[pairs][b.pair_ok[pairs]])
        rr, art, first = b.rr[w], b.art[w], b.first[w]
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
        unjudged = self._beats.n - self._judged
        t = self._window_breaks(self.params.buffer_s, unjudged)[0]
        later = int(np.count_nonzero(t > t_end))
        return window_spectrum(*self._coherence_beats(unjudged + max(0, later - 1)), t_end,
                               self.params.coherence)

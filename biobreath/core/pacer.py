"""The breathing pacer: a waveform whose phase stays continuous when the rate changes.

Phase is counted in breaths (cycles): its integer part numbers the breath, its fraction says where
in the breath the pacer is. Within a breath the lung-volume curve (0 = empty, 1 = full) rises as a
raised cosine while inhaling, stays full during a hold, falls while exhaling, stays empty during a
hold after exhaling; a sigh's second inhale (a top-up) follows the first at once. A protocol's
next step starts at the breath boundary nearest its nominal start, so no breath is ever cut; a
rate change from the user (:meth:`Pacer.set_rate`) is immediate and keeps phase and volume
continuous.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from biobreath.core.protocol import (
    INHALE_SHARE,
    TOP_UP_FROM,
    BreathingProtocol,
    BreathShape,
    Step,
    check_breath,
)
from biobreath.errors import ProtocolError

FREE_PERIOD_S = 10.0
"""Breath length (s) the pacer counts in free-breathing steps, so reports keep a steady rhythm."""


class Stage(enum.Enum):
    INHALE = "breathe in"
    TOP_UP = "breathe in again"
    HOLD_IN = "hold"
    EXHALE = "breathe out"
    HOLD_OUT = "hold "
    FREE = "breathe freely"


STAGES = (Stage.INHALE, Stage.TOP_UP, Stage.HOLD_IN, Stage.EXHALE, Stage.HOLD_OUT, Stage.FREE)
"""Stages in breath order (free last): :meth:`Pacer.stages` returns indices into this."""


@dataclass(frozen=True, slots=True)
class Segment:
    """From ``t0`` (s) at phase ``phase0`` (breaths), the pacer runs at ``shape`` (None: free).
    ``continues``: a gradual change of the pace before it (adaptive pacing), not a new pace."""

    t0: float
    phase0: float
    shape: BreathShape | None
    label: str
    continues: bool = False

    @property
    def period_s(self) -> float:
        return self.shape.period_s if self.shape else FREE_PERIOD_S


@dataclass(frozen=True, slots=True)
class PacerState:
    """What the pacer shows at one moment."""

    t: float
    phase: float
    volume: float
    stage: Stage
    stage_left_s: float
    rate_bpm: float | None
    label: str


def _schedule(t: float, phase: float, steps: list[tuple[float, Step]]) -> list[Segment]:
    """Segments for ``steps`` (each with its nominal end time) starting at ``t`` and ``phase``."""
    segments = []
    for i, (end, step) in enumerate(steps):
        seg = Segment(t, phase, step.shape, step.label)
        segments.append(seg)
        if i == len(steps) - 1:
            break
        breaths = max(1, round(phase + (end - t) / seg.period_s - math.floor(phase + 1e-9)))
        next_phase = math.floor(phase + 1e-9) + breaths
        t += (next_phase - phase) * seg.period_s
        phase = float(next_phase)
    return segments


class Pacer:
    """Breathing pacer for one protocol; all queries take session time ``t`` (s)."""

    def __init__(self, protocol: BreathingProtocol) -> None:
        self.protocol = protocol
        ends = np.cumsum([s.duration_s for s in protocol.steps])
        self._steps = list(zip(ends.tolist(), protocol.steps))
        self._segments = _schedule(0.0, 0.0, self._steps)
        self._reindex()

    def _reindex(self) -> None:
        self._t0 = np.array([s.t0 for s in self._segments])
        self._p0 = np.array([s.phase0 for s in self._segments])
        self._period = np.array([s.period_s for s in self._segments])

    @property
    def duration_s(self) -> float:
        return self.protocol.duration_s

    def segment(self, t: float) -> Segment:
        return self._segments[max(0, int(np.searchsorted(self._t0, t, side="right")) - 1)]

    def _locate(self, ta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Segment index and phase (breaths) at each time of ``ta`` (s)."""
        # np.maximum rather than np.clip: the same indices without the wrapper's overhead.
        idx = np.maximum(self._t0.searchsorted(ta, side="right") - 1, 0)
        return idx, self._p0[idx] + (ta - self._t0[idx]) / self._period[idx]

    def _sole_segment(self, ta: np.ndarray) -> int | None:
        """The index of the one segment holding every time of ``ta`` (s), else None."""
        if self._t0.size == 1:
            return 0
        if not ta.size:
            return None
        lo, hi = ta.min(), ta.max()
        if lo != lo:  # NaN: min and max do not bound it
            return None
        first, last = np.maximum(self._t0.searchsorted((lo, hi), side="right") - 1, 0).tolist()
        return first if first == last else None

    def phase(self, t):
        """Phase in breaths at time(s) ``t`` (s); vectorised over arrays."""
        out = self._locate(np.asarray(t, dtype=float))[1]
        return float(out) if np.ndim(out) == 0 else out

    def volume(self, t):
        """Target lung volume 0-1 at time(s) ``t`` (s); vectorised; NaN where breathing is free."""
        ta = np.atleast_1d(np.asarray(t, dtype=float))
        sole = self._sole_segment(ta)
        if sole is not None and self._segments[sole].shape is not None:
            # The usual case (a window of the current breaths): one shape, no per-segment masks;
            # segment ``sole``'s scalars give the very values the gathered arrays below would.
            out = _shape_volume(self._segments[sole].shape, np.mod(
                self._p0[sole] + (ta - self._t0[sole]) / self._period[sole], 1.0))
        else:
            out = np.full(ta.shape, np.nan)
            idx, phase = self._locate(ta)
            frac = np.mod(phase, 1.0)
            for k in _present(idx):
                shape = self._segments[k].shape
                if shape is None:
                    continue
                m = idx == k
                out[m] = _shape_volume(shape, frac[m])
        return float(out[0]) if np.ndim(t) == 0 else out

    def stages(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where in its breath the pacer is at each time of the array ``t`` (s): the stage
        (an index into :data:`STAGES`; ``FREE`` where breathing is free), the seconds since that
        stage began and the seconds it has left."""
        ta = np.atleast_1d(np.asarray(t, dtype=float))
        idx = np.clip(np.searchsorted(self._t0, ta, side="right") - 1, 0, None)
        frac = np.mod(self._p0[idx] + (ta - self._t0[idx]) / self._period[idx], 1.0)
        stage = np.full(ta.shape, STAGES.index(Stage.FREE))
        since = frac * FREE_PERIOD_S
        left = (1.0 - frac) * FREE_PERIOD_S
        for k in _present(idx):
            s = self._segments[k].shape
            if s is None:
                continue
            m = idx == k
            pos = frac[m] * s.period_s
            # Stages in breath order; side="right" never enters a zero-length hold.
            ends = np.cumsum(s.parts)
            i = np.minimum(np.searchsorted(ends, pos, side="right"), len(ends) - 1)
            start = np.r_[0.0, ends][i]
            stage[m], since[m], left[m] = i, pos - start, ends[i] - pos
        return stage, since, left

    def state(self, t: float) -> PacerState:
        seg = self.segment(t)
        phase = self.phase(t)
        stage, _, left = self.stages(t)
        rate = seg.shape.rate_bpm if seg.shape else None
        return PacerState(t, phase, float(self.volume(t)), STAGES[int(stage[0])], float(left[0]),
                          rate, seg.label)

    def step_starts(self) -> list[float]:
        """When (s) each protocol step begins as the pacer first schedules it: at the breath
        boundary nearest the step's nominal start (changes of pace made since not counted)."""
        return [seg.t0 for seg in _schedule(0.0, 0.0, self._steps)]

    def step_at(self, t: float) -> Step:
        """The protocol's step whose nominal stretch holds time ``t`` (s) (the last after the
        end), whatever rate changes the pacer has made since."""
        k = int(np.searchsorted([end for end, _ in self._steps], t, side="right"))
        return self._steps[min(k, len(self._steps) - 1)][1]

    def breath_start(self, n: int) -> float:
        """Session time (s) at which breath number ``n`` starts."""
        k = max(0, int(np.searchsorted(self._p0, n, side="right")) - 1)
        seg = self._segments[k]
        return seg.t0 + (n - seg.phase0) * seg.period_s

    def pace_start(self, t: float) -> float:
        """When (s) the pace at ``t`` began: gradual changes (adaptive pacing) continue a pace."""
        k = max(0, int(np.searchsorted(self._t0, t, side="right")) - 1)
        while k > 0 and self._segments[k].continues:
            k -= 1
        return self._segments[k].t0

    def check_pace(self, t: float, rate_bpm: float, inhale_ratio: float | None = None
                   ) -> BreathShape:
        """The breath :meth:`set_rate` would pace from ``t`` (s), or :class:`ProtocolError`
        (one line) if the protocol's safety rules forbid it."""
        seg = self.segment(t)
        base = seg.shape or BreathShape(FREE_PERIOD_S * 0.4, FREE_PERIOD_S * 0.6)
        if not (math.isfinite(rate_bpm) and rate_bpm > 0):
            raise ProtocolError(f"{rate_bpm:g} breaths/min: a rate must be a positive number")
        if inhale_ratio is not None:
            lo, hi = INHALE_SHARE
            if not (math.isfinite(inhale_ratio) and lo <= inhale_ratio <= hi):
                raise ProtocolError(f"inhale share {inhale_ratio:g}: it must be from {lo:g} to "
                                    f"{hi:g}")
            both = base.inhale_s + base.exhale_s
            base = BreathShape(both * inhale_ratio, both * (1 - inhale_ratio), base.hold_in_s,
                               base.hold_out_s, base.top_up_s)
        return check_breath(base.at_rate(rate_bpm), where=f"{rate_bpm:g} breaths/min",
                            allow_extreme_pacing=self.protocol.allow_extreme_pacing)

    def set_rate(self, t: float, rate_bpm: float, inhale_ratio: float | None = None, *,
                 gradual: bool = False) -> None:
        """Change the pace now, keeping phase and the breath's proportions (so volume too);
        ``inhale_ratio`` (inhale share of inhale + exhale) changes the proportions as well, which
        keeps volume continuous at a breath boundary. ``gradual``: a small step of a slowly
        moving pace (:meth:`pace_start` then looks through it).

        The new breath meets the protocol's own safety rules (2-30 breaths/min, holds up to 10 s,
        unless the protocol allows extreme pacing); else :class:`ProtocolError`.
        """
        shape = self.check_pace(t, rate_bpm, inhale_ratio)
        remaining = [(end, step) for end, step in self._steps if end > t]
        current = remaining[0] if remaining else (math.inf, Step(math.inf, None))
        # A gradual change keeps the step's own words; a new pace says what it is.
        label = self.segment(t).label if gradual else f"{rate_bpm:.3g} breaths/min"
        manual = Step(current[1].duration_s, shape, label)
        keep = [s for s in self._segments if s.t0 < t]
        new = _schedule(t, self.phase(t), [(current[0], manual)] + remaining[1:])
        new[0] = replace(new[0], continues=gradual)
        self._segments = keep + new
        self._reindex()


@lru_cache(maxsize=64)
def _stage_table(s: BreathShape) -> tuple[np.ndarray, np.ndarray]:
    """Ends (s into the breath) of the stages of ``s`` and, per stage (inhale, top-up, hold,
    exhale, hold, then past the breath's end), the columns start (s), length (s), cap, h, g,
    scale, base of its volume ``base + scale * (h + g * cos(min(pi * (pos - start) / length,
    cap)))``: the raised cosines' own expressions; a cap of 0 keeps the cosine finite (a NaN
    position included) where a constant stage multiplies it by zero. Read-only (cached: a pace
    is asked again and again)."""
    ends = np.cumsum(s.parts)
    a, b = ends[0], ends[2]  # ends of the inhale and of the hold after it
    first = TOP_UP_FROM if s.top_up_s > 0 else 1.0  # how full the first inhale fills
    flat = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0)  # start, length, cap, h, g, scale of a constant
    table = np.array([(0.0, a, np.inf, 0.5, -0.5, first, 0.0),            # 0.5 - 0.5 cos
                      (a, s.top_up_s, np.inf, 0.5, -0.5, 1 - first, first),
                      (*flat, 1.0),
                      (b, s.exhale_s, np.inf, 0.5, 0.5, 1.0, 0.0),         # 0.5 + 0.5 cos
                      (*flat, 0.0),
                      (*flat, 0.0)]).T.copy()
    ends.setflags(write=False)
    table.setflags(write=False)
    return ends, table


def _shape_volume(s: BreathShape, frac: np.ndarray) -> np.ndarray:
    """Lung volume 0-1 at breath fractions ``frac`` (0-1) for one breath shape (0 past the
    breath and at NaN)."""
    pos = frac * s.period_s
    ends, table = _stage_table(s)
    # One gather of every stage's constants rather than a mask and an assignment per stage;
    # side="right" never enters a zero-length stage.
    start, length, cap, h, g, scale, base = table[:, ends.searchsorted(pos, side="right")]
    return base + scale * (h + g * np.cos(np.fmin(np.pi * (pos - start) / length, cap)))


def _present(idx: np.ndarray) -> np.ndarray:
    """The distinct segment indices in ``idx``, in order (``np.unique`` without its import of
    ``numpy.ma``, some 20 ms at a session's start)."""
    return np.flatnonzero(np.bincount(idx.ravel())) if idx.size else idx.ravel()

"""The breathing pacer: a waveform whose phase stays continuous when the rate changes.

Phase is counted in breaths (cycles): its integer part numbers the breath, its fraction says where
in the breath the pacer is. Within a breath the lung-volume curve (0 = empty, 1 = full) rises as a
raised cosine while inhaling, stays full during a hold, falls while exhaling, stays empty during a
hold after exhaling. A protocol's next step starts at the breath boundary nearest its nominal
start, so no breath is ever cut; a rate change from the user (:meth:`Pacer.set_rate`) is
immediate and keeps phase and volume continuous.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from biobreath.core.protocol import BreathingProtocol, BreathShape, Step, check_breath
from biobreath.errors import ProtocolError

FREE_PERIOD_S = 10.0
"""Breath length (s) the pacer counts in free-breathing steps, so reports keep a steady rhythm."""


class Stage(enum.Enum):
    INHALE = "breathe in"
    HOLD_IN = "hold"
    EXHALE = "breathe out"
    HOLD_OUT = "hold "
    FREE = "breathe freely"


@dataclass(frozen=True, slots=True)
class Segment:
    """From ``t0`` (s) at phase ``phase0`` (breaths), the pacer runs at ``shape`` (None: free)."""

    t0: float
    phase0: float
    shape: BreathShape | None
    label: str

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

    def phase(self, t):
        """Phase in breaths at time(s) ``t`` (s); vectorised over arrays."""
        ta = np.asarray(t, dtype=float)
        idx = np.clip(np.searchsorted(self._t0, ta, side="right") - 1, 0, None)
        out = self._p0[idx] + (ta - self._t0[idx]) / self._period[idx]
        return float(out) if np.ndim(out) == 0 else out

    def volume(self, t):
        """Target lung volume 0-1 at time(s) ``t`` (s); vectorised; NaN where breathing is free."""
        ta = np.atleast_1d(np.asarray(t, dtype=float))
        out = np.full(ta.shape, np.nan)
        idx = np.clip(np.searchsorted(self._t0, ta, side="right") - 1, 0, None)
        frac = np.mod(np.atleast_1d(self.phase(ta)), 1.0)
        for k in np.unique(idx):
            shape = self._segments[k].shape
            if shape is None:
                continue
            m = idx == k
            out[m] = _shape_volume(shape, frac[m])
        return float(out[0]) if np.ndim(t) == 0 else out

    def state(self, t: float) -> PacerState:
        seg = self.segment(t)
        phase = self.phase(t)
        frac = phase % 1.0
        if seg.shape is None:
            left = (1.0 - frac) * FREE_PERIOD_S
            return PacerState(t, phase, math.nan, Stage.FREE, left, None, seg.label)
        s = seg.shape
        pos = frac * s.period_s
        # The stage the loop stops at is the answer (B007 misses its use after the loop).
        for stage, length in ((Stage.INHALE, s.inhale_s), (Stage.HOLD_IN, s.hold_in_s),  # noqa: B007
                              (Stage.EXHALE, s.exhale_s), (Stage.HOLD_OUT, s.hold_out_s)):
            if pos < length:
                break
            pos -= length
        return PacerState(t, phase, float(_shape_volume(s, np.array([frac]))[0]), stage,
                          length - pos, s.rate_bpm, seg.label)

    def breath_start(self, n: int) -> float:
        """Session time (s) at which breath number ``n`` starts."""
        k = max(0, int(np.searchsorted(self._p0, n, side="right")) - 1)
        seg = self._segments[k]
        return seg.t0 + (n - seg.phase0) * seg.period_s

    def set_rate(self, t: float, rate_bpm: float) -> None:
        """Change the pace now, keeping phase and the breath's proportions (so volume too).

        The new breath meets the protocol's own safety rules (2-30 breaths/min, holds up to 10 s,
        unless the protocol allows extreme pacing); else :class:`ProtocolError`.
        """
        seg = self.segment(t)
        base = seg.shape or BreathShape(FREE_PERIOD_S * 0.4, FREE_PERIOD_S * 0.6)
        if not (math.isfinite(rate_bpm) and rate_bpm > 0):
            raise ProtocolError(f"{rate_bpm:g} breaths/min: a rate must be a positive number")
        shape = check_breath(base.at_rate(rate_bpm), where=f"{rate_bpm:g} breaths/min",
                             allow_extreme_pacing=self.protocol.allow_extreme_pacing)
        remaining = [(end, step) for end, step in self._steps if end > t]
        current = remaining[0] if remaining else (math.inf, Step(math.inf, None))
        manual = Step(current[1].duration_s, shape, f"{rate_bpm:.3g} breaths/min")
        keep = [s for s in self._segments if s.t0 < t]
        self._segments = keep + _schedule(t, self.phase(t), [(current[0], manual)] + remaining[1:])
        self._reindex()


def _shape_volume(s: BreathShape, frac: np.ndarray) -> np.ndarray:
    """Lung volume 0-1 at breath fractions ``frac`` (0-1) for one breath shape."""
    pos = frac * s.period_s
    a, b, c = s.inhale_s, s.inhale_s + s.hold_in_s, s.inhale_s + s.hold_in_s + s.exhale_s
    vol = np.zeros_like(pos)
    inh = pos < a
    vol[inh] = 0.5 - 0.5 * np.cos(np.pi * pos[inh] / a)
    vol[(pos >= a) & (pos < b)] = 1.0
    exh = (pos >= b) & (pos < c)
    vol[exh] = 0.5 + 0.5 * np.cos(np.pi * (pos[exh] - b) / s.exhale_s)
    return vol

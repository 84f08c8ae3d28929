"""Adaptive resonance pacing: slowly steer the pacer toward the rate at which heart rate swings
most, within a narrow band around the person's resonance rate.

**Method: phase-guided extremum seeking.** In the resonance model of heart-rate variability
(Vaschillo, Lehrer, Rishe & Konstantinov 2002; Vaschillo et al. 2006; Lehrer & Gevirtz 2014),
breathing drives heart rate through the resonant baroreflex loop: breathing slower than the
resonance rate, heart rate *leads* breathing; faster, it *lags*; at the resonance rate the two are
in phase (0 degrees) and the swing is largest. Shaffer & Meehan (2020) list this phase synchrony
first among the criteria of a resonance assessment. The sign of the phase therefore says on which
side of the swing maximum the pacer is, and its size roughly how far, which comparing swing sizes
cannot tell at the maximum (the swing hardly changes within a few tenths of a breath/min of it,
while beat-to-beat noise and Mayer waves make each minute's swing uncertain by about a tenth).

The rule: at every breath boundary, measure the phase of heart rate against the pacer's
breathing at the pacing frequency over the last :attr:`AdaptiveSettings.window_s` (the rate moves
so slowly that the window holds one rhythm), and turn it into an estimate of the rate of zero
phase, ``rate + phase / slope`` (heart rate leading: the resonance is faster). The pacer moves
toward the mean of the recent estimates (:attr:`~AdaptiveSettings.memory_s`), never faster than
:attr:`~AdaptiveSettings.max_bpm_per_min` and never further than
:attr:`~AdaptiveSettings.span_bpm` from the protocol's rate (the person's resonance rate from their
assessment). The assumed ``slope`` only sets how quickly the pacer responds: wherever it settles,
the mean phase there is zero, whatever the slope. Averaging over minutes is what makes it work:
one minute's phase is uncertain by about 10 degrees (the person's own breathing drifts around the
pacer's, and Mayer waves share the frequency).

Everything here is a pure function of the beats and the pacer, so a replay of the recorded events
recomputes the same changes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from biobreath.core.resonance import hr_breathing_phase


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """How the adaptive pacer moves (rates in breaths/min, times in s, phase in degrees)."""

    span_bpm: float = 0.5           # stays within this of the protocol's rate
    max_bpm_per_min: float = 0.1    # never changes faster than this
    window_s: float = 60.0          # phase measured over this
    settle_s: float = 15.0          # ... once heart rate has followed the pacer this long
    memory_s: float = 600.0         # the estimates averaged: the last ten minutes'
    # Assumed fall of the phase per breath/min faster: the simulated person's (damping 0.15);
    # it only sets how fast the pacer answers, not where it settles.
    slope_deg_per_bpm: float = 40.0


@dataclass(frozen=True, slots=True)
class RateChange:
    """The pacer moved to ``rate_bpm`` at ``t`` (s), from ``from_bpm``, toward ``target_bpm``
    (the mean estimate of the zero-phase rate); heart rate was ``phase_deg`` (positive: leading)
    against breathing over the last window."""

    t: float
    rate_bpm: float
    from_bpm: float
    target_bpm: float
    phase_deg: float


def next_rate(rate_bpm: float, target_bpm: float, center_bpm: float, minutes_since: float,
              settings: AdaptiveSettings = AdaptiveSettings()) -> float:
    """The rate (breaths/min) ``minutes_since`` the last change, moving from ``rate_bpm`` toward
    ``target_bpm`` no faster than allowed and staying around ``center_bpm``."""
    limit = settings.max_bpm_per_min * max(minutes_since, 0.0)
    step = min(max(target_bpm - rate_bpm, -limit), limit)
    return min(max(rate_bpm + step, center_bpm - settings.span_bpm),
               center_bpm + settings.span_bpm)


class AdaptivePacing:
    """Decides at each breath boundary of an adaptive step where the pacer goes; feed it every
    boundary in order with the clean beats so far."""

    def __init__(self, settings: AdaptiveSettings = AdaptiveSettings()) -> None:
        self.settings = settings
        self.since: float | None = None   # when the beats to measure began (step start, break)
        self._last: float | None = None   # the previous boundary
        self._estimates: deque[tuple[float, float]] = deque()  # (t, zero-phase rate estimate)

    def reset(self) -> None:
        """The pacer left adaptive pacing: start afresh next time."""
        self.since = self._last = None
        self._estimates.clear()

    def decide(self, t: float, center_bpm: float, rate_bpm: float, beat_t: np.ndarray,
               rr_ms: np.ndarray, series_start: float, volume) -> RateChange | None:
        """At breath boundary ``t`` (s), paced at ``rate_bpm`` around ``center_bpm``: the change
        to make now, or None. ``beat_t``/``rr_ms`` are the accepted beats (s, ms) of the last
        window at least, from an unbroken series that began at ``series_start`` (s);
        ``volume(times)`` is the pacer's breathing curve."""
        s = self.settings
        last, self._last = self._last, t
        if self.since is None:
            self.since = t
        self.since = max(self.since, series_start)  # across a break beat times are unknown
        start = t - s.window_s
        phase = math.nan
        if start >= self.since + s.settle_s:
            grid = np.arange(start, t, 0.25)
            phase = hr_breathing_phase(beat_t, rr_ms, grid, volume(grid), rate_bpm / 60.0,
                                       start, t).phase_deg
            if math.isfinite(phase):
                self._estimates.append((t, rate_bpm + phase / s.slope_deg_per_bpm))
        while self._estimates and self._estimates[0][0] < t - s.memory_s:
            self._estimates.popleft()
        if not self._estimates or last is None:
            return None
        target = float(np.mean([e for _, e in self._estimates]))
        new = next_rate(rate_bpm, target, center_bpm, (t - last) / 60.0, s)
        if new == rate_bpm:
            return None
        return RateChange(t, new, rate_bpm, target, phase)

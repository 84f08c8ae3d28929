"""Beat times rebuilt from RR intervals and notification arrival times.

Heart Rate Measurement notifications carry RR intervals but no timestamps, arrive up to about a
second after the beats they report, and the strap's clock drifts against the computer's. We chain
beats by their RR intervals (the strap's own, precise clock) and anchor the chain to arrivals with
one physical constraint: a beat cannot happen after the notification that reports it arrives.

Method (per notification, arrival ``a``, RRs ``r_1..r_k`` in s):
1. Extend the chain: ``t_j = t_last + r_1 + ... + r_j``.
2. If the chain's last beat falls after ``a`` (the strap clock ran slower than ours, or the chain
   started late), shift the whole new group back so the last beat sits at ``a``.
3. If the chain's last beat lags ``a`` by more than ``max_lag_s`` plus the notification's
   duration, RRs were lost between notifications (a dropped notification or link): re-anchor,
   placing the last beat ``anchor_lag_s`` before ``a``, and report the gap.
4. Between anchors, the lag ``a - t_last`` drifts slowly; ``drift_gain`` pulls the chain toward
   the smallest lag seen recently, so the chain follows the computer's clock over hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

from biobreath.events import TICKS_PER_S


@dataclass(frozen=True, slots=True)
class TimingParams:
    max_lag_s: float = 1.6
    anchor_lag_s: float = 0.05
    drift_gain: float = 0.02
    envelope_notifications: int = 30


@dataclass(frozen=True, slots=True)
class PlacedBeats:
    """Beat times (s, session clock) for one notification's RRs, and whether a gap preceded."""

    times: np.ndarray
    gap_before: bool


class BeatTimer:
    """Places the beats of successive notifications of one strap on the session clock."""

    def __init__(self, params: TimingParams = TimingParams()) -> None:
        self.params = params
        self._last: float | None = None
        self._lags: list[float] = []

    def reset(self) -> None:
        """Forget the chain (after a reconnection the next RRs start a new one)."""
        self._last = None
        self._lags.clear()

    def place(self, arrival: float, rr_ticks: Sequence[int]) -> PlacedBeats:
        p = self.params
        rr_s = np.asarray(rr_ticks, dtype=float) / TICKS_PER_S
        if rr_s.size == 0:
            return PlacedBeats(np.empty(0), False)
        span = float(rr_s.sum())
        gap = False
        if self._last is None:
            end = arrival - p.anchor_lag_s
        else:
            end = self._last + span
            lag = arrival - end
            if lag > p.max_lag_s + span:
                gap = True
                end = arrival - p.anchor_lag_s
                self._lags.clear()
            elif lag < 0:
                end = arrival
            else:
                self._lags.append(lag)
                del self._lags[:-p.envelope_notifications]
                floor = min(self._lags)
                # Pull the chain toward the lower envelope of lags: slow drift correction.
                end += p.drift_gain * (floor - p.anchor_lag_s) if floor > p.anchor_lag_s else 0.0
        times = end - (span - np.cumsum(rr_s))
        self._last = float(times[-1])
        return PlacedBeats(times, gap)

"""Beat times rebuilt from RR intervals and notification arrival times.

Heart Rate Measurement notifications carry RR intervals (1/1024 s ticks of the strap's crystal) but
no timestamps; they arrive some time after the beats they report, and the strap's clock drifts
against the computer's. Summing the RRs gives every beat's time on a *chain* (strap seconds from an
arbitrary origin) exactly, because the RRs are differences of the strap's tick counter. What is
unknown is the *offset* that maps the chain onto the session clock: beat time = chain + offset.

**Bounds.** Each notification (arrival ``a``, oldest beat at chain ``c_first``, newest at
``c_last``) bounds the offset from both sides, from two facts of how straps send:

* a beat is reported no later than the notification carrying it is sent, at least
  ``latency_min_s`` before it arrives: ``offset <= a - latency_min_s - c_last``;
* every beat of a notification came after the previous notification was sent, which was at most
  ``latency_max_s`` before that one arrived and at most one notification period (learned as the
  median arrival gap) before this one was sent:
  ``offset >= max(a_prev, a - period) - latency_max_s - c_first``.

The tightest bounds so far form an interval that shrinks as the moment of sending wanders through
the heartbeat cycle; beats are placed at its middle. The clocks drift (tens of ppm), so the
interval is widened by ``drift_ppm`` of the chain time that passes, and follows the drift for hours.

**Lost RRs.** A gap in the arrivals (about two periods instead of one) means notifications were
lost, and with them RRs: the chain is short by their sum, which is unknown but close to a whole
number ``k`` of local RRs. The timer keeps one hypothesis (offset interval) per plausible ``k``,
each the previous interval moved by ``k`` mean RRs and widened by ``fill_spread`` of them, and
drops a hypothesis as soon as a later notification's bounds leave no room for it (by more than
``tolerance_s``, which absorbs late arrival stamps). Beats are placed with the hypothesis whose
``k`` is nearest the expected count (missed periods times the period over the RR), until the
bounds rule it out. When no hypothesis is left (RRs lost without a gap in arrivals, a nonsense RR),
the timer re-anchors on the most recent notifications whose bounds agree with each other.
Beats placed after lost RRs or a re-anchoring are marked ``gap_before``.

When the heart rate is close to one beat per notification period, the moment of sending stays
at the same point of the heartbeat cycle, the bounds shrink slowly, and after a lost notification
the count of lost beats can stay ambiguous for several seconds: that is where the largest errors
come from. Against the project's strap emulator (10-60 ms latency, 20 ppm drift;
``benchmarks/bench_ble.py``) the error is 13 ms median (mostly the part of the latency no
notification reveals, nearly constant) and 28 ms p99 after the first 30 s, 77 ms p99 with 1 % of
notifications lost. ``tests/test_timing.py`` checks such figures on its own synthetic strap.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biobreath.events import TICKS_PER_S


@dataclass(frozen=True, slots=True)
class TimingParams:
    """Assumptions of the beat timer; every default is the value shown.

    latency_min_s: shortest time from a strap sending a notification to its arrival (0.005 s).
    latency_max_s: longest such time, for the lower bound (0.1 s); later stamps are absorbed up
        to ``tolerance_s``.
    period_s: notification period assumed until ``period_window`` arrival gaps were seen (1.0 s).
    period_window: arrival gaps whose median is the learned notification period (15).
    drift_ppm: largest drift between strap and computer clocks (50 ppm).
    tolerance_s: how far bounds may cross before a hypothesis is dropped (0.1 s).
    fill_spread: how far a lost RR may differ from the mean of its neighbours, as a fraction (0.12).
    max_hypotheses: hypotheses kept at once about lost beats (4).
    history: notifications kept to re-anchor on (40).
    """

    latency_min_s: float = 0.005
    latency_max_s: float = 0.1
    period_s: float = 1.0
    period_window: int = 15
    drift_ppm: float = 50.0
    tolerance_s: float = 0.1
    fill_spread: float = 0.12
    max_hypotheses: int = 4
    history: int = 40


@dataclass(frozen=True, slots=True)
class PlacedBeats:
    """Beat times (s, session clock) for one notification's RRs, and whether RRs were lost (or
    the chain re-anchored) just before them."""

    times: np.ndarray
    gap_before: bool


@dataclass(slots=True)
class _Hypothesis:
    lo: float       # lower bound of the offset (s)
    hi: float       # upper bound of the offset (s)
    log_weight: float  # log of its probability, up to a constant shared by all hypotheses
    lost: bool      # it assumes beats were lost since the last placement


_PERIOD_MARGIN = 1.02  # a strap's timer can run a little late against the learned period
_MIN_STEP_S = 1.0 / TICKS_PER_S
_RR_CONTEXT = 2        # RRs on each side of a gap whose mean stands for a lost RR
_MIN_WIDTH_S = 0.005   # intervals narrower than this count as this wide when weighing evidence
_UNEXPECTED_COUNT = 0.02  # prior probability of a lost-beat count off the expected ones
_SAME_S = 0.002        # hypotheses whose bounds differ by less than this are one


class BeatTimer:
    """Places the beats of successive notifications of one strap on the session clock."""

    def __init__(self, params: TimingParams = TimingParams()) -> None:
        self.params = params
        self._gaps: deque[float] = deque(maxlen=params.period_window)
        self.reset()

    def reset(self) -> None:
        """Forget the chain (after a reconnection the next RRs start a new one)."""
        self._ticks: int | None = None  # chain position of the newest beat (ticks)
        self._hyps: list[_Hypothesis] = []
        self._points: deque[tuple[int, float, float]] = deque(maxlen=self.params.history)
        self._recent_rr: deque[int] = deque(maxlen=_RR_CONTEXT)
        self._prev_arrival: float | None = None
        self._last_time = -math.inf

    @property
    def period_s(self) -> float:
        """The notification period (s): the median arrival gap once enough were seen."""
        if len(self._gaps) < self._gaps.maxlen:
            return self.params.period_s
        return statistics.median(self._gaps)

    @property
    def interval_s(self) -> float:
        """Width (s) of the offset interval in use: the placement's remaining uncertainty."""
        return self._best().hi - self._best().lo if self._hyps else math.inf

    def place(self, arrival: float, rr_ticks: Sequence[int]) -> PlacedBeats:
        """Times (s) of the beats closing ``rr_ticks`` (oldest first) of a notification that
        arrived at ``arrival`` (s, session clock)."""
        p = self.params
        prev = self._prev_arrival
        period = self.period_s
        missed = 0 if prev is None else max(0, round((arrival - prev) / period) - 1)
        if prev is not None and arrival - prev < 1.5 * period:
            self._gaps.append(arrival - prev)
        self._prev_arrival = arrival
        if len(rr_ticks) == 0:
            return PlacedBeats(np.empty(0), False)
        rr = np.asarray(rr_ticks, dtype=np.int64)
        cum = np.cumsum(rr)
        base = 0 if self._ticks is None else self._ticks
        ticks_last = base + int(cum[-1])
        sent_before = arrival - period * _PERIOD_MARGIN
        if prev is not None:
            sent_before = max(sent_before, prev)
        upper = arrival - p.latency_min_s - ticks_last / TICKS_PER_S
        lower = min(sent_before - p.latency_max_s - (base + int(cum[0])) / TICKS_PER_S, upper)
        gap = False
        if self._ticks is None:
            self._hyps = [_Hypothesis(lower, upper, 0.0, False)]
        else:
            self._age((ticks_last - self._ticks) / TICKS_PER_S)
            for h in self._hyps:
                h.lost = False
            if missed:
                self._branch(missed, rr)
            survivors = [h for h in self._hyps if self._narrow(h, lower, upper)]
            if survivors:
                self._hyps = survivors
                gap = self._best().lost
            else:
                gap = True
                self._hyps = [self._reanchor(ticks_last, lower, upper)]
        self._points.append((ticks_last, upper, lower))
        self._ticks = ticks_last
        self._recent_rr.extend(rr[-_RR_CONTEXT:].tolist())
        best = self._best()
        offset = min(0.5 * (best.lo + best.hi), best.hi)
        times = (base + cum) / TICKS_PER_S + offset
        if times[0] <= self._last_time:
            # A beat never precedes the one before it, even when the offset moved a lot early on.
            times = times + (self._last_time + _MIN_STEP_S - times[0])
        self._last_time = float(times[-1])
        return PlacedBeats(times, gap)

    def _best(self) -> _Hypothesis:
        return max(self._hyps, key=lambda h: h.log_weight)

    def _age(self, chain_s: float) -> None:
        """Widen every interval by the drift the clocks may make over ``chain_s`` (s)."""
        loosen = self.params.drift_ppm * 1e-6 * chain_s
        for h in self._hyps:
            h.lo -= loosen
            h.hi += loosen

    def _branch(self, missed: int, rr: np.ndarray) -> None:
        """Split every hypothesis by the number of beats lost with ``missed`` notifications.

        The lost stretch lasted about ``missed`` periods, so with a local RR ``r`` it held
        ``floor(missed * period / r)`` beats, or one more with a probability equal to the
        fractional part; other counts get a small probability for heart-rate changes.
        """
        p = self.params
        context = list(self._recent_rr) + rr[:_RR_CONTEXT].tolist()
        mean_rr = sum(context) / len(context) / TICKS_PER_S
        expected = missed * self.period_s / mean_rr
        k0 = math.floor(expected)
        frac = expected - k0
        prior = {k0 - 1: _UNEXPECTED_COUNT, k0: 1.0 - frac, k0 + 1: frac, k0 + 2: _UNEXPECTED_COUNT}
        branched = []
        for h in self._hyps:
            for k, pk in prior.items():
                if k < 0 or pk <= 0:
                    continue
                widen = p.fill_spread * k * mean_rr
                branched.append(_Hypothesis(h.lo + k * mean_rr - widen, h.hi + k * mean_rr + widen,
                                            h.log_weight + math.log(pk), k > 0))
        merged: list[_Hypothesis] = []
        for h in sorted(branched, key=lambda h: -h.log_weight):
            # Two parents with different counts can land on the same interval: one hypothesis.
            twin = next((m for m in merged
                         if abs(m.lo - h.lo) < _SAME_S and abs(m.hi - h.hi) < _SAME_S), None)
            if twin is None:
                merged.append(h)
            else:
                twin.log_weight = float(np.logaddexp(twin.log_weight, h.log_weight))
        self._hyps = merged[:p.max_hypotheses]

    def _narrow(self, h: _Hypothesis, lower: float, upper: float) -> bool:
        """Intersect ``h`` with a notification's bounds and weigh it by the share of its interval
        that they leave (the evidence for ``h`` when the offset is uniform over its interval).
        False when the bounds leave no room for it, beyond ``tolerance_s``."""
        lo, hi = max(h.lo, lower), min(h.hi, upper)
        width = max(h.hi - h.lo, _MIN_WIDTH_S)
        if lo > hi + self.params.tolerance_s:
            return False
        if lo > hi:
            # Crossed within tolerance (a late stamp, or the wrong count of lost beats): keep the
            # interval and count the crossing against the hypothesis.
            h.log_weight += math.log(_MIN_WIDTH_S / width) - (lo - hi) / _MIN_WIDTH_S
            return True
        h.log_weight += math.log(max(hi - lo, _MIN_WIDTH_S) / width)
        h.lo, h.hi = lo, hi
        return True

    def _reanchor(self, ticks: int, lower: float, upper: float) -> _Hypothesis:
        """An interval from this notification and the run of recent ones that agree with it."""
        p = self.params
        lo, hi = lower, upper
        kept = 0
        for t_m, u_m, l_m in reversed(self._points):
            age = p.drift_ppm * 1e-6 * (ticks - t_m) / TICKS_PER_S
            l, h = max(lo, l_m - age), min(hi, u_m + age)
            if l > h:
                break
            lo, hi = l, h
            kept += 1
        for _ in range(len(self._points) - kept):
            self._points.popleft()
        return _Hypothesis(lo, hi, 0.0, True)

"""Beat times rebuilt from RR intervals and notification arrival times.

Heart Rate Measurement notifications carry RR intervals (1/1024 s ticks of the strap's crystal) but
no timestamps; they arrive some time after the beats they report, and the strap's clock drifts
against the computer's. Summing the RRs gives every beat's time on a *chain* (strap seconds from an
arbitrary origin) exactly, because the RRs are differences of the strap's tick counter. What is
unknown is the *offset* that maps the chain onto the session clock: beat time = chain + offset.
Beats are placed by the chain; the arrival clock only bounds the offset, through the lower
envelope of the arrivals, so a notification that arrives late, or in a burst, never moves a beat.

**The send schedule.** A strap sends a notification every period ``P`` of its own clock (1 s for
the straps we know), carrying the beats since the previous send. On the chain, send ``n`` happens
at ``sigma_n = sigma_ref + (n - ref) P`` and notification ``n``'s beats lie in ``(sigma_{n-1},
sigma_n]``, the beat before them at or before ``sigma_{n-1}``: exact constraints (up to
``tolerance_s`` of tick rounding) with no arrival time in them. The pairs ``(sigma_ref, P)`` they
leave form a convex polygon that shrinks as the beats wander through the send cycle. Arrivals
narrow ``P`` further: sends ``k`` apart arrive ``k P`` apart up to the difference of two delays,
so the quickest notification of the older and of the newer half of those kept bound ``P``.
Sends are counted in arrival order (a notification can be lost, never overtaken).

**The offset.** Notification ``n`` arrives at ``a_n = sigma_n + offset + d_n``, ``d_n`` its delay.
Delays are never shorter than ``latency_min_s``, late ones are just longer, so the offset is the
lower envelope ``min(a_n - sigma_n) - latency_min_s`` over the last ``history`` notifications
(the best of those that left them is kept), each point loosened by ``drift_ppm`` of the chain time
since it. A late notification lies above the envelope and changes nothing; only a quicker one
moves it, so beats move only when the timer learns something, and by what it learns. Its own
point bounds each notification's beats, which are therefore never placed after it arrived. The
delay no notification escapes cannot be seen in the data and stays in the beat times as a
constant: the part of the Bluetooth latency above ``latency_min_s``, and on a link that delivers
only at connection events, the wait of the quickest notifications for theirs.

**The link, learned.** ``a_n - sigma_n - envelope`` is each notification's *lateness*: zero for the
quickest, up to the latency spread for the others, seconds in an event-loop stall or a frozen
delivery. Its recent 95th percentile is the link's delay spread (``TimingQuality``). When the
lateness settles on ``m`` levels ``I / m`` apart, the link delivers at connection events every
``I`` (``P / I`` has denominator ``m``); the quickest level then waited between 0 and ``I / m``
for its event, nothing tells how long, and beats are placed assuming half of it.

**Lost notifications and a broken chain.** A lost notification looks, when the next one arrives,
exactly like a late one: late by about a period. Only the one after tells them apart: after a loss
every notification stays late by whole periods, after a stall the next one is on time. So a
notification over ``late_periods`` late is placed as late (the chain intact) and its constraints
are held back; the timer counts ``k`` lost sends when the next one, not delivered together with it,
is late by ``k`` whole periods too. If the lost sends could have carried no beat (a slow heart)
the chain goes on; otherwise RRs were lost and the chain breaks: the schedule's position on the
chain is learned anew (its period kept), narrowed to where the likeliest number of RRs of the
recent mean length would put it, a guess the beats may still overrule. The chain also breaks when
beats leave no room in the schedule (RRs a strap dropped from an overfull notification, a nonsense
RR), or when the chain's period leaves the arrivals' (a break nobody saw, the schedule bent to fit
it). The first beats after a break carry ``gap_before``: nothing may take differences across it.
A loss is thus told one notification late, and the beats of the first notification after it are
placed off by the RRs lost; a stall, delayed as long, moves nothing and breaks nothing.

**Doubtful RRs.** Some straps (Garmin) now and then add a short RR that is no interval of the tick
counter; a spurious detection splits a true interval in two short ones. RRs under ``min_rr_s``
(250 ms, 240 bpm, beyond any adult heart) are left out of the chain (``PlacedBeats.in_chain``)
unless a neighbour is short too and the two add up to a usual RR (a split); the other reading is
kept aside and takes over, without a break, if later beats rule the first out.

Against the project's strap emulator and its link profiles (:data:`biobreath.sim.emulator.
LINK_PROFILES`), last 20 minutes of 30-minute runs (``benchmarks/bench_timing.py``): 8 ms median
and 15 ms p99 on the ideal, stalled, frozen and Garmin-like links, where the replaced timer had
p99s of 0.7-3.3 s and 35-75 re-anchors per 20 minutes; 15/22 ms at a 30 ms connection interval;
66/91 ms at a 400 ms one (beats against each other: 15 ms p99), the unseen event wait; no
re-anchor without RRs lost. ``tests/test_timing.py`` and ``tests/test_link_profiles.py`` check
such bounds.

Limits: a strap that sends at each beat rather than on a period breaks the schedule model (beats
would be placed a good part of a period early); and when a strap drops RRs from overfull
notifications every few seconds (about 190 bpm at 3 RRs a notification), the chain seldom settles
between breaks and beats can be off by a third of an RR (110 ms median on the emulator; the
replaced timer: 300 ms).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from biobreath.events import TICKS_PER_S


@dataclass(frozen=True, slots=True)
class TimingParams:
    """Assumptions of the beat timer; every default is the value shown.

    latency_min_s: shortest time from a strap sending a notification to its arrival (0.005 s); the
        envelope of arrivals, less this, is the offset.
    min_rr_s: RRs shorter than this are left out of the chain as bogus (0.25 s = 240 bpm).
    period_s: the notification period assumed, +/- a quarter, until arrivals show it (1 s).
    period_range_s: the strap's notification period is looked for in this range (0.25-4 s).
    tolerance_s: how far a beat may sit on the wrong side of a send, for tick rounding (0.004 s).
    drift_ppm: largest drift between strap and computer clocks (50 ppm).
    history: notifications whose arrivals the envelope is taken over (600, ten minutes at 1 Hz).
    late_periods: a notification later than this many periods may follow lost ones (0.5).
    pending_max: late notifications held back before the link is taken as merely slower (10).
    degraded_ms: placement uncertainty beyond which timing counts as degraded (50 ms).
    late_ms: lateness beyond which timing counts as degraded (1000 ms).
    """

    latency_min_s: float = 0.005
    min_rr_s: float = 0.25
    period_s: float = 1.0
    period_range_s: tuple[float, float] = (0.25, 4.0)
    tolerance_s: float = 0.004
    drift_ppm: float = 50.0
    history: int = 600
    late_periods: float = 0.5
    pending_max: int = 10
    degraded_ms: float = 50.0
    late_ms: float = 1000.0

    def __post_init__(self) -> None:
        lo, hi = self.period_range_s
        if not 0 < lo < hi:
            raise ValueError(f"period_range_s must satisfy 0 < low < high, got {(lo, hi)}")
        if self.history < 2 or self.pending_max < 1:
            raise ValueError("history must be >= 2 and pending_max >= 1")


@dataclass(frozen=True, slots=True)
class PlacedBeats:
    """Beat times (s, session clock) for one notification's RRs, oldest first, one per RR given.

    ``in_chain`` is False for an RR left out of the chain (shorter than ``min_rr_s``): its time is
    where the strap's RR would put it (the previous beat plus the RR) but no later beat depends on
    it. ``gap_before``: the chain broke just before these beats (RRs were lost, or the chain had
    to be re-anchored), so no successive difference or spectrum may span the break.
    """

    times: np.ndarray
    gap_before: bool
    in_chain: np.ndarray


@dataclass(frozen=True, slots=True)
class TimingQuality:
    """How much the latest beat times can be trusted, for the display ("timing degraded").

    uncertainty_ms: half the width of the interval the send schedule leaves for the latest beats
        (ms); large right after the start or a break, a few ms once settled. Not included: the
        delay every notification has, which no data reveals (see the module docstring).
    lateness_ms: how late the latest notification arrived beyond the quickest ones (ms); it moves
        no beat, but the display shows beats that much later.
    delay_spread_ms: 95th percentile of recent lateness (ms): the link's usual delay spread.
    connection_interval_s: the Bluetooth connection interval when the arrivals show one (s), NaN
        when they do not (short intervals vanish in the latency spread).
    event_wait_ms: on such a link, how long the quickest notifications may have waited for their
        connection event (ms, 0 otherwise): no data reveals it, so every beat time carries an
        unknown constant error of up to half of it (beats are placed assuming half of it).
    period_s: the strap's notification period (s, strap clock); NaN before the first beats.
    reanchors: times the chain broke since the timer started.
    degraded: ``uncertainty_ms`` > ``TimingParams.degraded_ms`` or ``lateness_ms`` >
        ``TimingParams.late_ms``.
    """

    uncertainty_ms: float
    lateness_ms: float
    delay_spread_ms: float
    connection_interval_s: float
    event_wait_ms: float
    period_s: float
    reanchors: int
    degraded: bool


@dataclass(frozen=True, slots=True)
class _Note:
    n: int                # number of the send that carried it
    arrival: float        # s, session clock
    first: float | None   # chain time (s) of its oldest beat in the chain; None: no beat
    last: float | None    # chain time (s) of its newest beat
    before: float | None  # chain time (s) of the beat before ``first`` (reported or lost);
    #                       None: the chain's first beats, that beat maybe the strap's first


_MIN_STEP_S = 1.0 / TICKS_PER_S
_SPREAD_NOTES = 120     # recent on-time notifications the delay spread is taken over
_LEVEL_MIN_S = 0.015    # lateness levels closer than this are not told apart (latency spread)
_LEVEL_SHARE = 0.15     # a lateness level holds at least this share of the notifications
_MAX_VERTICES = 48      # the schedule polygon is simplified (outwards) beyond this
_RR_CONTEXT = 8         # recent RRs whose mean stands for the RRs lost in a gap
_FILL_SPREAD = 0.12     # how far the sum of j lost RRs may be from j mean RRs, as a fraction
_PRIOR_NOTES = 16       # arrivals before their period is trusted to tell a bent chain
_COUNT_NOTES = 8        # arrivals before lateness counts lost sends
_WAIT_CHECK = 20        # notifications between looks at the lateness levels
_FALLBACK_NOTES = 120   # notifications after which a guess across a gap is no longer doubted


class _Schedule:
    """The send schedule: every ``(sigma, P)`` still possible, a convex polygon.

    ``sigma`` is the chain time (s) of send number ``ref``, ``P`` the period (s, strap clock);
    send ``n`` happens at ``sigma + (n - ref) P``. The vertices are ``(x[i], y[i])``, kept as
    Python floats: a polygon has a handful of them, too few for NumPy to pay off per call.
    """

    __slots__ = ("ref", "x", "y")

    def __init__(self, ref: int, sigma: tuple[float, float], period: tuple[float, float]) -> None:
        (x0, x1), (y0, y1) = (float(v) for v in sigma), (float(v) for v in period)
        self.ref = ref
        self.x = [x0, x1, x1, x0]
        self.y = [y0, y0, y1, y1]

    def copy(self) -> _Schedule:
        other = _Schedule.__new__(_Schedule)
        other.ref, other.x, other.y = self.ref, self.x[:], self.y[:]
        return other

    def recentre(self, ref: int) -> None:
        """Keep ``ref`` near the newest send so the numbers stay small."""
        d = ref - self.ref
        self.x = [x + d * y for x, y in zip(self.x, self.y)]
        self.ref = ref

    def shift(self, s: float) -> None:
        """Move every send ``s`` (s) later on the chain."""
        self.x = [x + s for x in self.x]

    def send(self, n: int) -> tuple[float, float]:
        """Earliest and latest possible chain time (s) of send ``n``."""
        d = n - self.ref
        s = [x + d * y for x, y in zip(self.x, self.y)]
        return min(s), max(s)

    def mid(self, n: int) -> float:
        """The middle of the possible chain times (s) of send ``n``."""
        lo, hi = self.send(n)
        return 0.5 * (lo + hi)

    def mids(self, n: np.ndarray) -> np.ndarray:
        """:meth:`mid` of every send number in ``n`` (float array)."""
        # One row per vertex: reducing over the short axis is much slower.
        s = np.array(self.y)[:, None] * (n - self.ref) + np.array(self.x)[:, None]
        return 0.5 * (s.min(axis=0) + s.max(axis=0))

    def period(self) -> tuple[float, float]:
        """Shortest and longest possible period (s)."""
        return min(self.y), max(self.y)

    def clip(self, n: int, bound: float, upper: bool) -> bool:
        """Keep the pairs whose send ``n`` is at most (``upper``) or at least ``bound`` (s);
        False, and nothing changed, when none is left."""
        d = n - self.ref
        if upper:   # > 0: after the bound
            return self._cut([x + d * y - bound for x, y in zip(self.x, self.y)])
        return self._cut([-(x + d * y - bound) for x, y in zip(self.x, self.y)])

    def _cut(self, g: list[float]) -> bool:
        """Keep the part where the linear function with vertex values ``g`` is <= 0."""
        inside = [v <= 0 for v in g]
        if all(inside):
            return True
        if all(v > 0 for v in g):
            return False
        xs, ys, x, y = [], [], self.x, self.y
        k = len(g)
        for i in range(k):
            j = (i + 1) % k
            if inside[i]:
                xs.append(x[i])
                ys.append(y[i])
            if inside[i] != inside[j]:
                t = g[i] / (g[i] - g[j])
                xs.append(x[i] + t * (x[j] - x[i]))
                ys.append(y[i] + t * (y[j] - y[i]))
        if len(xs) > _MAX_VERTICES:
            # Outwards: a simplified schedule only ever allows more.
            (x0, x1), (y0, y1) = (min(xs), max(xs)), (min(ys), max(ys))
            xs, ys = [x0, x1, x1, x0], [y0, y0, y1, y1]
        self.x, self.y = xs, ys
        return True

    def clip_period(self, bound: float, upper: bool) -> bool:
        """Keep the pairs whose period is at most (``upper``) or at least ``bound`` (s)."""
        if upper:
            return self._cut([y - bound for y in self.y])
        return self._cut([-(y - bound) for y in self.y])

    def admit(self, note: _Note, tolerance: float) -> bool:
        """Narrow by a notification's beats: after the send before it, not after its own; and
        the beat before its first one (reported earlier, or lost) not after that send either
        (unless it is unknown: a strap's first detection closes no RR, so it may come after the
        send before the notification carrying the RR it opens)."""
        if note.first is None:
            return True
        trial = self.copy()
        if not (trial.clip(note.n, note.last - tolerance, upper=False)
                and trial.clip(note.n - 1, note.first + tolerance, upper=True)
                and (note.before is None
                     or trial.clip(note.n - 1, note.before - tolerance, upper=False))):
            return False
        self.ref, self.x, self.y = trial.ref, trial.x, trial.y
        return True


class BeatTimer:
    """Places the beats of successive notifications of one strap on the session clock."""

    def __init__(self, params: TimingParams = TimingParams()) -> None:
        self.params = params
        self._min_rr_ticks = math.ceil(params.min_rr_s * TICKS_PER_S)
        self.reanchors = 0
        self.reset()

    def reset(self) -> None:
        """Forget the chain and the count of sends (after a reconnection the next RRs start a new
        chain, and the strap's send schedule must be found again)."""
        h = self.params.history
        self._ticks: int | None = None      # chain position of the newest beat (ticks)
        self._n: int | None = None          # number of the newest send
        # Every (sigma, P) the beats allow (exact), and that narrowed by the period the arrivals
        # show (what the timer uses; the chain's alone when the two disagree).
        self._chain: _Schedule | None = None
        self._schedule: _Schedule | None = None
        self._fallback: _Schedule | None = None  # the chain without a guess across a gap
        self._disagree = False               # the chain's period is not the arrivals'
        self._prior = self.params.period_range_s  # the period the arrivals show (s)
        self._anchor_period: tuple[float, float] | None = None  # set: start a chain anew
        self._gap = False                    # the chain broke; not yet told with a beat
        self._fallback_age = 0
        self._fallback_loose = (-1, 0.0)      # (send number, s) whose bounds it loosens
        self._split_pending = 0               # a short RR that ended the last one, left out
        self._arrivals = np.empty(h)         # arrival (s) of the notifications in the envelope
        self._sends = np.empty(h)            # ... and their send numbers (ring buffer)
        self._r0 = np.empty(h)               # ... and arrival - period_s * send (s)
        self._kept = 0                       # notifications stored there
        self._carried: tuple[int, float] | None = None  # best (send, arrival) that left it
        self._pending: list[tuple[_Note, float]] = []  # late ones, and their lateness (s)
        self._lateness: deque[float] = deque(maxlen=_SPREAD_NOTES)
        self._latest_lateness = math.nan
        self._envelope = math.inf            # min over notifications of arrival - send (s)
        self._best: int | None = None        # send number of the notification that sets it
        self._last_time = -math.inf
        self._recent_rr: deque[int] = deque(maxlen=_RR_CONTEXT)  # newest chain RRs (ticks)
        self._event_wait = 0.0               # connection-event wait of the quickest (s)
        self._wait_votes = 0                 # checks in a row that disagree with it

    # --- what the timer knows ------------------------------------------------------------------

    @property
    def period_s(self) -> float:
        """The strap's notification period (s, strap clock), NaN before the first beats."""
        if self._schedule is None:
            return math.nan
        lo, hi = self._schedule.period()
        return 0.5 * (lo + hi)

    @property
    def offset_s(self) -> float:
        """Session time minus chain time (s) at which beats are placed now."""
        return self._envelope - self.params.latency_min_s - 0.5 * self._event_wait

    @property
    def uncertainty_s(self) -> float:
        """Half the width (s) of the interval the schedule leaves for the newest send."""
        if self._schedule is None or self._n is None:
            return math.inf
        lo, hi = self._schedule.send(self._n)
        return 0.5 * float(hi - lo)

    @property
    def degraded(self) -> bool:
        """Beat times are uncertain beyond ``degraded_ms``, or notifications arrive over
        ``late_ms`` late (cheap enough to ask after every notification)."""
        return self._degraded(self.uncertainty_s * 1e3, self._latest_lateness * 1e3)

    def _degraded(self, uncertainty_ms: float, lateness_ms: float) -> bool:
        p = self.params
        return not uncertainty_ms <= p.degraded_ms or lateness_ms > p.late_ms

    @property
    def quality(self) -> TimingQuality:
        """The current :class:`TimingQuality`."""
        unc = self.uncertainty_s * 1e3
        late = self._latest_lateness * 1e3
        spread = self._spread() * 1e3 if self._lateness else math.nan
        degraded = self._degraded(unc, late)
        levels = self._levels()
        ci = levels[0] * levels[1] if levels else math.nan
        return TimingQuality(unc, late, spread, ci, self._event_wait * 1e3, self.period_s,
                             self.reanchors, degraded)

    def _levels(self) -> tuple[int, float] | None:
        """Number and spacing (s) of the lateness levels, when there are such.

        A link that delivers only at connection events every ``I`` s, with the strap sending every
        ``P``, makes ``m`` lateness levels ``I / m`` apart (``m`` the denominator of ``P / I``),
        when their spacing stands out of the latency spread; the quickest level waited somewhere
        between 0 and ``I / m`` for its event, and nothing tells where.
        """
        if len(self._lateness) < 30:
            return None
        x = np.sort(np.asarray(self._lateness))
        groups = np.split(x, np.flatnonzero(np.diff(x) > _LEVEL_MIN_S) + 1)
        levels = [g for g in groups if g.size >= _LEVEL_SHARE * x.size]
        # Stalls and frozen deliveries scatter a few notifications anywhere: not levels.
        if len(levels) < 2 or sum(g.size for g in levels) < 0.9 * x.size:
            return None
        centres = np.array([np.median(g) for g in levels])
        width = max(float(np.ptp(g)) for g in levels)
        spacing = np.diff(centres)
        if spacing.min() < 3 * width or np.ptp(spacing) > 2 * max(width, 0.002):
            return None
        return len(levels), float(spacing.mean())

    def _learn_event_wait(self) -> None:
        """Follow the lateness levels' spacing, with hysteresis: it moves every beat."""
        levels = self._levels()
        seen = levels[1] if levels else 0.0
        now = self._event_wait
        if abs(seen - now) <= 0.1 * max(seen, now):
            self._wait_votes = 0
            return
        self._wait_votes += 1
        if self._wait_votes >= (3 if seen else 10):
            self._event_wait, self._wait_votes = seen, 0

    # --- placing -------------------------------------------------------------------------------

    def place(self, arrival: float, rr_ticks: Sequence[int]) -> PlacedBeats:
        """Times (s) of the beats closing ``rr_ticks`` (1/1024 s, oldest first) of a notification
        that arrived at ``arrival`` (s, session clock)."""
        # A notification carries a few RRs: plain Python is quicker on them than NumPy.
        rr = [int(r) for r in rr_ticks]
        doubtful = [r < self._min_rr_ticks for r in rr]
        in_chain = [not d for d in doubtful]
        for i, d in enumerate(doubtful):
            if d:
                in_chain[i] = self._split(rr, i)
        n = 0 if self._n is None else self._n + 1
        if (rr and self._split_pending and self._fallback is not None
                and self._fallback_loose[0] == n - 1
                and self._split([self._split_pending, rr[0]], 0, before=False)):
            # The short RR that ended the last notification and this one's first add up to a
            # usual RR: a split after all, as the other reading had it.
            self._chain, self._fallback = self._fallback, None
            self._narrow()
            self._update_envelope()
        self._split_pending = rr[-1] if rr and doubtful[-1] and not in_chain[-1] else 0
        if any(doubtful) and self._chain is not None:
            # The other reading of the doubtful RRs stays possible until the beats rule it out:
            # kept ones bogus after all, or left-out ones a real split. It shifts the schedule of
            # the sends after them; this notification's own beats straddle the shift, so on that
            # reading its bounds are loosened by it.
            shift = sum(r if k else -r
                        for r, k, d in zip(rr, in_chain, doubtful) if d) / TICKS_PER_S
            other = self._chain.copy()
            other.shift(shift)
            self._fallback, self._fallback_age = other, 0
            self._fallback_loose = (n, abs(shift))
        self._n = n
        tick = 0 if self._ticks is None else self._ticks
        where, kept, at = [], [], []   # beat positions (ticks); RRs in the chain, their ends
        for r, k in zip(rr, in_chain):
            if k:
                tick += r
                kept.append(r)
                at.append(tick)
            # A bogus RR sits where the strap puts it, but moves nothing after it.
            where.append(tick if k else tick + r)
        if kept:
            # The beat before the chain's first one may be the strap's first detection, which
            # closed no RR and so was reported in no send: nothing bounds it.
            before = None if self._ticks is None else (at[0] - kept[0]) / TICKS_PER_S
            note = _Note(n, float(arrival), at[0] / TICKS_PER_S, at[-1] / TICKS_PER_S, before)
            self._ticks = at[-1]
            self._recent_rr.extend(kept)
        else:
            note = _Note(n, float(arrival), None, None, None)
        # A break found at a notification without beats is told with the next beat.
        self._gap |= self._accept(note)
        gap, self._gap = (self._gap, False) if kept else (False, self._gap)
        if not rr:
            return PlacedBeats(np.empty(0), gap, np.zeros(0, dtype=bool))
        # Never after the notification arrived (only binds while the schedule is still loose),
        # never before the previous beat.
        offset, cap = self.offset_s, arrival - self.params.latency_min_s
        times, top = [], -math.inf
        for w in where:
            t = w / TICKS_PER_S + offset
            t = t if t < cap else cap
            top = t if t > top else top
            times.append(top)
        if times[0] <= self._last_time:
            lift = self._last_time + _MIN_STEP_S - times[0]
            times = [t + lift for t in times]
        steps = [b - a for a, b in zip(times, times[1:])]
        if steps and min(steps) <= 0:
            acc, t0 = 0.0, times[0]
            times = [t0]
            for step in steps:
                acc += step if step > _MIN_STEP_S else _MIN_STEP_S
                times.append(t0 + acc)
        self._last_time = float(times[-1])
        return PlacedBeats(np.array(times), gap, np.array(in_chain, dtype=bool))

    def _split(self, rr: list[int], i: int, before: bool = True) -> bool:
        """Whether the short RR ``rr[i]`` (ticks) is half of one interval split by a spurious
        detection (a neighbour short too, the two together a usual RR), rather than a bogus RR
        added on top of the true ones (its neighbours usual RRs). ``before``: the RR before it
        may be its partner too."""
        if len(self._recent_rr) < 3:
            return False
        usual = float(np.median(self._recent_rr))
        prev = rr[i - 1] if i > 0 else self._recent_rr[-1]
        partners = ([float(prev)] if before else []) + (
            [float(rr[i + 1])] if i + 1 < len(rr) else [])
        return any(x < 0.8 * usual and abs(x + rr[i] - usual) <= 0.2 * usual for x in partners)

    def _accept(self, note: _Note) -> bool:
        """Take in one notification; True when the chain broke just before it."""
        p = self.params
        if self._chain is None:
            if note.first is None:
                return False
            self._chain = self._fresh(note, p.period_range_s)
            self._schedule = self._chain.copy()
            self._remember(note)
            return False
        late = self._late(note)
        if not self._counting(note):
            return self._add(note)
        threshold = p.late_periods * self.period_s
        if not self._pending:
            if late > threshold:
                self._hold(note, late)
                return False
            return self._add(note)
        if late <= threshold:
            # The late ones were late, nothing was lost.
            return self._release(lost=False) | self._add(note)
        prev, prev_late = self._pending[-1]
        self._hold(note, late)
        k, k_prev = self._whole(late), self._whole(prev_late)
        if k >= k_prev >= 1 and note.arrival - prev.arrival >= threshold:
            # Two in a row late by whole numbers of periods, and not delivered together (a
            # frozen delivery releases its backlog at once): sends were lost.
            return self._release(lost=True)
        if len(self._pending) > p.pending_max:
            lates = np.array([x for _, x in self._pending])
            if np.ptp(lates) <= self._spread() + 0.1 * self.period_s:
                # Steadily late, by no whole number of periods: the count or the chain is wrong
                # beyond repair; start again from these notifications.
                notes = [nt for nt, _ in self._pending]
                self._pending = []
                self._break(notes, forget=True)
                return True
            return self._release(lost=False)  # draining slowly: they were late
        return False

    def _hold(self, note: _Note, late: float) -> None:
        """Hold back a late notification's constraints until it is known whether sends were
        lost before it (its beats are placed meanwhile, as late)."""
        self._pending.append((note, late))
        self._latest_lateness = late

    def _whole(self, late: float) -> int:
        """How many whole periods ``late`` (s) is, when it is about a whole number >= 1 of
        them (a lost send adds one period, and the delay spread); 0 otherwise."""
        period = self.period_s
        k = round(late / period)
        if k >= 1 and -0.15 * period <= late - k * period <= self._spread() + 0.15 * period:
            return k
        return 0

    def _release(self, lost: bool) -> bool:
        """Take in the notifications held back; True when the chain broke.

        ``lost``: from the first one late by whole periods on, they followed lost sends (as many
        as those periods; the count only grows), those before were just late. The lost sends
        may have carried no beat (slow heart): the chain goes on. Otherwise the newest run late
        by the same number of periods starts a new chain; the ones between only keep their
        arrivals (RRs were lost on both sides of them).
        """
        pending, self._pending = self._pending, []
        if not lost:
            gap = False
            for note, _ in pending:
                gap |= self._add(note)
            return gap
        ks = [self._whole(late) for _, late in pending]
        first = next(i for i, k in enumerate(ks) if k >= 1)
        for i in range(first + 1, len(ks)):
            ks[i] = max(ks[i], ks[i - 1])
        gap = False
        for note, _ in pending[:first]:
            gap |= self._add(note)
        after = [(_Note(nt.n + k, nt.arrival, nt.first, nt.last, nt.before), k)
                 for (nt, _), k in zip(pending[first:], ks[first:])]
        k_last = ks[-1]
        self._n += k_last
        segment = [nt for nt, k in after if k == k_last]
        between = [nt for nt, k in after if k != k_last]
        if not between and all(self._implied(nt) for nt in segment):
            for nt in segment:
                self._admit(nt)
                self._remember(nt)
            return gap
        old = self._schedule
        if self._break(segment):
            self._bridge(old, k_last)
        for nt in between:
            self._remember(nt)
        return True

    def _bridge(self, old: _Schedule, k: int) -> None:
        """Narrow a chain that lost RRs with ``k`` lost sends (0: RRs dropped from a notification
        that had too many): it is the old chain shifted back by
        the lost RRs' sum, about ``j`` recent mean RRs (within ``_FILL_SPREAD``), ``j`` the
        likeliest count of beats in ``k`` periods that the new beats still allow. The chain as
        the beats alone leave it is kept aside: if later beats rule the guess out, it takes over,
        moving the beats since (the chain did not break again, the guess was wrong)."""
        if not self._recent_rr:
            return
        rr = float(np.mean(self._recent_rr)) / TICKS_PER_S
        ref = self._chain.ref
        lo, hi = (float(x) for x in old.send(ref))
        p_lo, p_hi = old.period()
        expected = k * 0.5 * (p_lo + p_hi) / rr
        below = math.floor(expected)
        # As many beats as fit at the shortest RR into the lost periods (into one, for RRs a
        # strap dropped from a full notification), at least as many as the longest leaves room
        # for; the two counts around the expected one likeliest.
        j_min = max(1, math.floor(k * p_lo / (rr * (1 + _FILL_SPREAD))))
        j_max = math.floor(max(k, 1) * p_hi / (rr * (1 - _FILL_SPREAD))) + 1
        best: tuple[float, _Schedule] | None = None
        for j in range(j_min, j_max + 1):
            prior = {below: 1.0 - (expected - below), below + 1: expected - below}.get(j, 0.0)
            trial = self._chain.copy()
            if (trial.clip(ref, lo - j * rr * (1 + _FILL_SPREAD), upper=False)
                    and trial.clip(ref, hi - j * rr * (1 - _FILL_SPREAD), upper=True)
                    and (best is None or max(prior, 0.02) > best[0])):
                best = (max(prior, 0.02), trial)
        if best is not None:
            self._fallback, self._fallback_age = self._chain, 0
            self._fallback_loose = (-1, 0.0)
            self._chain = best[1]
            self._narrow()
            self._update_envelope()

    def _implied(self, note: _Note) -> bool:
        """The schedule already puts ``note``'s beats after the send before it and not after its
        own, without narrowing (a loose schedule would just narrow, wrongly, to fit a broken
        chain)."""
        if note.first is None:
            return True
        tol = self.params.tolerance_s
        return (float(self._schedule.send(note.n - 1)[1]) <= note.first + tol
                and float(self._schedule.send(note.n)[0]) >= note.last - tol)

    def _admit(self, note: _Note) -> bool:
        """Narrow the chain by ``note``; on a guessed bridge, its alternative too, which takes
        over when the guess is ruled out."""
        tol = self.params.tolerance_s
        fallback = self._fallback
        if fallback is not None:
            self._fallback_age += 1
            n, loose = self._fallback_loose
            if not fallback.admit(note, tol + (loose if note.n == n else 0.0)):
                fallback = self._fallback = None
            elif self._fallback_age > _FALLBACK_NOTES:
                self._fallback = None
        if self._chain.admit(note, tol):
            return True
        if fallback is not None:
            self._chain, self._fallback = fallback, None
            return True
        return False

    def _add(self, note: _Note) -> bool:
        """Take in a notification on time; True when its beats broke the chain."""
        if self._anchor_period is not None and note.first is not None:
            # The chain broke at notifications without beats: this one starts the new chain.
            self._chain, self._fallback = self._fresh(note, self._anchor_period), None
            self._anchor_period = None
            self._remember(note)
            return False
        late, unc, period = self._late(note), self._late_uncertainty(note), self.period_s
        if self._admit(note):
            self._remember(note)
            if not self._disagree:
                return False
            # The chain's period has left the one the arrivals show: the chain broke unnoticed
            # and bent to fit. Take the arrivals' period; if this one is late, sends were lost
            # unnoticed too, and the send numbers of the arrivals kept cannot be trusted either.
            if abs(late) + unc <= 0.35 * period:
                self._break([note], period=self._prior)
            else:
                self._break([note], forget=True)
            return True
        # The beats left no room: RRs were lost (or a nonsense RR came). If the arrival is on
        # time, no send was lost and all else holds (the strap dropped RRs it had no room for:
        # bridge them as lost within one period); if not, send numbers are in doubt.
        if abs(late) + unc <= 0.35 * period:
            old = self._schedule
            if self._break([note]):
                self._bridge(old, 0)
        else:
            self._break([note], forget=True)
        return True

    def _break(self, notes: list[_Note], forget: bool = False,
               period: tuple[float, float] | None = None) -> bool:
        """The chain broke before ``notes``: a new schedule intercept from them alone (earlier
        notifications would pull a loose schedule back onto the old chain); the period is kept.
        The arrivals stay in the envelope (the send schedule on the session clock did not
        change), unless ``forget``: when the count of sends itself is in doubt. ``period``: the
        period's range (s) to start from instead. False when no notification had beats to
        anchor on (the next one with beats will)."""
        self.reanchors += 1
        tol = self.params.tolerance_s
        period = period or self._chain.period()
        if forget:
            period = self.params.period_range_s
            self._kept, self._carried = 0, None
            self._lateness.clear()
        newest = next((nt for nt in reversed(notes) if nt.first is not None), None)
        if newest is None:
            self._anchor_period = period
            for nt in notes:
                self._remember(nt)
            return False
        chain = self._fresh(newest, period)
        if not all(chain.admit(nt, tol) for nt in notes):
            # The notes after the break disagree with the old period: look for it again.
            chain = self._fresh(newest, self.params.period_range_s)
            for nt in notes:
                chain.admit(nt, tol)
        self._chain, self._fallback, self._anchor_period = chain, None, None
        for nt in notes:
            self._remember(nt)
        return True

    def _fresh(self, note: _Note, period: tuple[float, float]) -> _Schedule:
        """A schedule knowing only ``period`` and that send ``note.n`` followed its beats."""
        tol = self.params.tolerance_s
        s = _Schedule(note.n, (note.last - tol, note.last + period[1] + tol), period)
        s.admit(note, tol)
        return s

    def _remember(self, note: _Note) -> None:
        """Add a notification's arrival to the envelope, and update what depends on it."""
        h = self.params.history
        i = self._kept % h
        if self._kept >= h:
            self._carry(int(self._sends[i]), float(self._arrivals[i]))
        self._arrivals[i], self._sends[i] = note.arrival, note.n
        self._r0[i] = note.arrival - self.params.period_s * note.n
        self._kept += 1
        self._chain.recentre(note.n)
        self._narrow()
        self._update_envelope()
        late = note.arrival - self._schedule.mid(note.n) - self._envelope
        self._latest_lateness = late
        self._lateness.append(late)
        if self._kept % _WAIT_CHECK == 0:
            self._learn_event_wait()

    def _narrow(self) -> None:
        """The schedule in use: the chain's, narrowed to the period the arrivals show.

        Sends ``n`` apart arrive ``n P`` apart, up to the difference of their delays, so the two
        quickest notifications of the older and newer half of those kept bound ``P`` to within
        twice their delay beyond the quickest over their distance (taken as the 7th quickest
        delay, plus a margin), and the drift between the clocks. The chain alone pins ``P``
        only as the beats wander through the send cycle, slowly when the heart beats about once
        a period. When the two disagree (after 16 arrivals) the chain bent to fit a break
        nobody noticed: ``_disagree``.
        """
        p = self.params
        self._disagree = False
        k = min(self._kept, p.history)
        n, a = self._sends[:k], self._arrivals[:k]
        lo, hi = (n.min(), n.max()) if k else (0.0, 0.0)
        if k < 4 or lo == hi:
            period, slack = p.period_s, 0.25 * p.period_s
        else:
            period = p.period_s
            old = n <= 0.5 * (lo + hi)
            halves = np.array([old, ~old])
            r = self._r0[:k]    # a - period * n, kept as the notifications come
            for step in range(2):  # the quickest depend a little on the slope they are taken along
                if step:
                    r = a - period * n
                # The first quickest of each half (ties to the first kept, as argmin has them).
                i, j = np.where(halves, r, np.inf).argmin(axis=1).tolist()
                a_i, n_i, a_j, n_j = a.item(i), n.item(i), a.item(j), n.item(j)
                period = (a_j - a_i) / (n_j - n_i)
            # The quickest of k/2 notifications is later than the (6/k)-quantile of the delays
            # (the 7th quickest) only with a probability of about exp(-3); with few, take the
            # median and more margin.
            q = min(k // 2, 6)
            least = a - a_i
            least -= period * (n - n_i)
            least.partition(q)
            margin = 0.02 if k >= _PRIOR_NOTES else 0.05
            spread = least.item(q) - float(least[:q + 1].min()) + margin
            slack = 2.0 * spread / (n_j - n_i) + p.drift_ppm * 1e-6 * period
        narrowed = self._chain.copy()
        if (narrowed.clip_period(period - slack, upper=False)
                and narrowed.clip_period(period + slack, upper=True)):
            self._schedule = narrowed
        else:
            self._schedule = self._chain.copy()
            self._disagree = k >= _PRIOR_NOTES
        if k >= _PRIOR_NOTES:
            self._prior = (period - slack, period + slack)

    def _carry(self, n: int, arrival: float) -> None:
        """Keep the best of the arrivals that leave the history: aged by the drift, it still
        bounds the offset, and dropping it could lift the envelope at once."""
        c = self._carried
        if c is None or self._key(n, arrival) < self._key(*c):
            self._carried = (n, arrival)

    def _key(self, n: int, arrival: float) -> float:
        """What orders points of the envelope once aged: arrival - (1 + drift) send (s)."""
        return arrival - (1.0 + self.params.drift_ppm * 1e-6) * self._schedule.mid(n)

    def _update_envelope(self) -> None:
        """The lower envelope of arrival - send over the notifications kept, each loosened by the
        drift the clocks may make since."""
        k = min(self._kept, self.params.history)
        schedule, rate = self._schedule, self.params.drift_ppm * 1e-6
        now = schedule.mid(self._n)
        sigma = schedule.mids(self._sends[:k])
        points = self._arrivals[:k] - sigma + rate * np.maximum(now - sigma, 0.0)
        i = int(np.argmin(points))
        self._envelope, self._best = float(points[i]), int(self._sends[i])
        if self._carried is not None:
            n, arrival = self._carried
            sigma_n = schedule.mid(n)
            point = arrival - sigma_n + rate * max(now - sigma_n, 0.0)
            if point < self._envelope:  # ties go to the notifications kept
                self._envelope, self._best = point, n

    def _late(self, note: _Note) -> float:
        """How late (s) ``note`` arrived against the envelope, if its send number is right."""
        return note.arrival - self._schedule.mid(note.n) - self._envelope

    def _counting(self, note: _Note) -> bool:
        """Lateness tells lost sends apart: it is known to a quarter period. Lateness compares
        the arrival with the envelope's quickest notification, so only the period's uncertainty
        over the sends between them counts, not where the schedule sits on the chain."""
        return (min(self._kept, self.params.history) >= _COUNT_NOTES
                and self._late_uncertainty(note) < 0.25 * self._schedule.period()[0])

    def _late_uncertainty(self, note: _Note) -> float:
        """How far (s) the lateness of ``note`` may be off for the period's uncertainty."""
        if self._best is None:
            return math.inf
        p_lo, p_hi = self._schedule.period()
        return 0.5 * abs(note.n - self._best) * (p_hi - p_lo)

    def _spread(self) -> float:
        return float(np.percentile(self._lateness, 95)) if self._lateness else 0.0


def chain_times(rr_ticks: np.ndarray, placed_s: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Beat times (s) on the strap's own clock, for a file that keeps times only (EDF+, WFDB).

    Within each unbroken stretch of the chain (a new one begins at each beat with ``gap``),
    every beat lies at the sum of the RRs (``rr_ticks``, 1/1024 s) since the stretch's opening
    beat, so successive times differ by exactly the strap's RRs. Each stretch is placed on the
    session clock at the median of its beats' ``placed_s`` (the timer's times, s) less those sums:
    the offset as the timer knew it over the whole stretch, which its early steps (a quicker
    notification moving every later beat) do not pull. Successive ``placed_s`` differ from the
    RRs by those steps, tens to hundreds of ms at a time.
    """
    ticks = np.asarray(rr_ticks, dtype=np.int64)
    placed = np.asarray(placed_s, dtype=float)
    if ticks.size == 0:
        return placed.copy()
    opens = np.asarray(gap, dtype=bool).copy()
    opens[0] = True
    starts = np.flatnonzero(opens)
    total = np.cumsum(ticks)
    # Ticks from each stretch's opening beat (the detection before its first RR) to each beat.
    before = (total - ticks)[starts]
    since = (total - np.repeat(before, np.diff(np.r_[starts, ticks.size]))) / TICKS_PER_S
    out = np.empty_like(placed)
    for a, b in zip(starts, np.r_[starts[1:], ticks.size]):
        out[a:b] = since[a:b] + float(np.median(placed[a:b] - since[a:b]))
    return out


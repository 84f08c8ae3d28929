"""A training session: one clock, one source, the pacer and a live core per strap.

The session owns time. It pulls events from the source, feeds every beat to the live core of its
strap, and tells its listeners (the recorder, the window, the headless printer) what happened and
what changed; it runs the same with or without any of them. Pacer breaths are reported on the
session clock even when no beat arrives (a dropped strap), and the session ends at its duration or
when the source ends. The pacer changes when someone sets a new pace (at the next breath) and,
in adaptive steps, as :mod:`biobreath.core.adaptive` decides at each breath; both are computed
from the session's own events, so a replay paces the same.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from biobreath.clock import Clock
from biobreath.core.adaptive import AdaptivePacing, RateChange
from biobreath.core.coherence import CoherenceResult
from biobreath.core.live import BeatVerdict, LiveCore, LiveParams
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import Step
from biobreath.core.resonance import hr_breathing_phase
from biobreath.core.respiration import BreathingEstimate, RespirationTracker
from biobreath.errors import ProtocolError
from biobreath.events import (
    AccSamples,
    Battery,
    Beat,
    Contact,
    DeviceInfo,
    Event,
    Link,
    LinkState,
    Marker,
    PacerChange,
    SignalQuality,
    Tick,
    Timing,
)
from biobreath.session.listener import BreathReport, SessionSummary, StrapStatus
from biobreath.sources.base import BeatSource

if TYPE_CHECKING:
    from biobreath.session.listener import SessionListener

log = logging.getLogger(__name__)


class _Mean:
    """Running mean and maximum in constant memory (sessions can last hours)."""

    __slots__ = ("n", "total", "max")

    def __init__(self) -> None:
        self.n, self.total, self.max = 0, 0.0, math.nan

    def add(self, x: float) -> None:
        if math.isfinite(x):
            self.n += 1
            self.total += x
            self.max = x if not self.max >= x else self.max

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan


@dataclass
class _Strap:
    core: LiveCore
    status: StrapStatus
    recent_ok: deque[bool] = field(default_factory=lambda: deque(maxlen=10))
    hr: _Mean = field(default_factory=_Mean)
    swing: _Mean = field(default_factory=_Mean)
    coherence: _Mean = field(default_factory=_Mean)
    sq_diff: _Mean = field(default_factory=_Mean)  # squared successive differences, for RMSSD
    last_ok_rr: float = math.nan
    last_coherence: CoherenceResult | None = None
    breathing: RespirationTracker | None = None  # once the strap sends accelerometer frames
    last_breathing: BreathingEstimate | None = None
    following: _Mean = field(default_factory=_Mean)


class Session:
    """Runs one session; ``await run()`` returns its summary. ``stop()`` ends it early."""

    QUEUE_SIZE = 64

    def __init__(self, source: BeatSource, clock: Clock, pacer: Pacer, *,
                 duration_s: float | None = None, live_params: LiveParams = LiveParams(),
                 listeners: list[SessionListener] | None = None,
                 wearers: Callable[[DeviceInfo], str] | None = None) -> None:
        """``wearers`` names who wears a strap ("" for nobody known), for the group view and
        the recording's ``devices.person``."""
        self.source = source
        self.wearers = wearers
        self.clock = clock
        self.pacer = pacer
        self.duration_s = duration_s if duration_s is not None else pacer.duration_s
        self.live_params = live_params
        self.listeners = list(listeners or [])
        self.straps: dict[str, _Strap] = {}
        self.primary: str | None = None
        self.t = 0.0
        self._breath = 0
        self._next_breath_t: float | None = None  # when breath ``_breath + 1`` starts (s)
        self._gaps = 0
        self._stop = asyncio.Event()
        # Marks (text, time or None) and pace changes waiting for their place among the events.
        self._marks: deque[tuple[str, float | None] | PacerChange] = deque()
        self._marked = asyncio.Event()
        self.markers: list[Marker] = []
        self.adaptive = AdaptivePacing()  # moves the pacer in adaptive steps
        self.rate_changes: list[RateChange] = []
        self._pace: PacerChange | None = None  # a change of pace waiting for the next breath
        self._hand_paced: Step | None = None  # the protocol step whose pace was set by hand

    def stop(self) -> None:
        self._stop.set()

    def mark(self, text: str = "", t: float | None = None) -> None:
        """Mark a moment (a therapist's note, a preset, a typed line): ``t`` (s, session time),
        such as when the mark key was pressed before a note was typed; default now. The mark
        becomes a :class:`Marker` event when the session next takes an event, so it is recorded
        (and replayed) in its place among the strap's events."""
        self._marks.append((text, t))
        self._marked.set()

    def change_pace(self, rate_bpm: float, inhale_ratio: float | None = None) -> None:
        """Pace at ``rate_bpm`` breaths/min (and ``inhale_ratio``, the inhale share, if given)
        from the next breath on. Checked now against the protocol's safety rules
        (:class:`~biobreath.errors.ProtocolError`); then, like :meth:`mark`, it becomes a
        :class:`PacerChange` event in its place, so it is recorded and replayed."""
        self.pacer.check_pace(max(self.t, self.clock.now()), rate_bpm, inhale_ratio)
        self._marks.append(PacerChange(math.nan, rate_bpm, inhale_ratio))
        self._marked.set()

    def _next_marker(self) -> Marker | PacerChange:
        self._marked.clear()
        now = min(max(self.t, self.clock.now()), self.duration_s)
        item = self._marks.popleft()
        if isinstance(item, PacerChange):
            return replace(item, t=now)
        text, t = item
        return Marker(now if t is None else min(max(0.0, t), now), text)

    @property
    def primary_core(self) -> LiveCore | None:
        return self.straps[self.primary].core if self.primary else None

    def _device_info(self, device: str) -> DeviceInfo:
        return next((d for d in self.source.devices if d.address == device),
                    DeviceInfo(device, device))

    def wearer(self, device: str) -> str:
        """Who wears the strap at address ``device`` ("" when the session was not told)."""
        return self.wearers(self._device_info(device)) if self.wearers else ""

    def _strap(self, device: str) -> _Strap:
        if device not in self.straps:
            status = StrapStatus(device, self._device_info(device).name,
                                 person=self.wearer(device))
            self.straps[device] = _Strap(LiveCore(self.live_params), status)
            if self.primary is None:
                self.primary = device
        return self.straps[device]

    def _set_status(self, s: _Strap, **changes) -> None:
        if all(getattr(s.status, k) == v for k, v in changes.items()):
            return  # as most calls find it (one per beat): no copy to make
        new = replace(s.status, **changes)
        if new != s.status:
            s.status = new
            for li in self.listeners:
                li.on_status(new)

    async def run(self) -> SessionSummary:
        for li in self.listeners:
            li.on_start(self)
        queue: asyncio.Queue[object] = asyncio.Queue(self.QUEUE_SIZE)
        producer = asyncio.create_task(self._produce(queue))
        stopper = asyncio.create_task(self._stop.wait())
        failure: Exception | None = None
        try:
            while True:
                deadline = min(self._next_breath(), self.duration_s)
                ev = await self._next(queue, deadline, stopper)
                if ev is _STOP:
                    break
                if ev is _END:
                    await asyncio.wait({producer})
                    if producer.exception() is not None:
                        raise producer.exception()
                    break
                # Every event is published (and so recorded) before the session acts on it,
                # the one that ends the session included: a replay then stops at the same one.
                for li in self.listeners:
                    li.on_event(ev)
                self._advance_pacer(min(ev.t, self.duration_s))
                if ev.t >= self.duration_s:
                    break
                if isinstance(ev, Marker):
                    self.markers.append(ev)
                elif isinstance(ev, PacerChange):
                    self._pace = ev
                elif not isinstance(ev, Tick):
                    self._handle(ev)
                if queue.empty():
                    for li in self.listeners:
                        li.on_idle()
            for device, strap in self.straps.items():
                self._judged(device, strap, strap.core.flush())
        except Exception as e:  # noqa: BLE001 - a source or listener failed: close down, then say
            failure = e
        finally:
            producer.cancel()
            stopper.cancel()
            await asyncio.gather(producer, stopper, return_exceptions=True)
            # The strap is released and every listener closes (the recorder keeps what it has)
            # whatever failed; the first failure is the one reported.
            closing = self.source.aclose()
            try:
                # A strap that does not answer must not keep the session from ending.
                await asyncio.wait_for(closing, SOURCE_CLOSE_S)
            except TimeoutError:
                log.warning("the strap did not close within %g s; the session ends without it",
                            SOURCE_CLOSE_S)
            except Exception as e:  # noqa: BLE001
                failure = failure or e
            finally:
                # A wait that failed before it began (stepped with no running loop, as a Qt
                # loop's last pass of events does) leaves the close coroutine unstarted: closed
                # here, it is not left for the garbage collector to warn about.
                closing.close()
            for li in self.listeners:
                try:
                    li.on_stop(self.t)
                except Exception as e:  # noqa: BLE001
                    failure = failure or e
        summary = self._summary()
        if failure is None or summary.n_beats:
            for li in self.listeners:
                li.on_end(summary)
        if failure is not None:
            raise failure
        return summary

    async def _produce(self, queue: asyncio.Queue) -> None:
        try:
            async for ev in self.source.events(self.clock):
                await queue.put(ev)
        finally:
            # Tell the session the source ended (or failed), unless the session itself cancelled
            # us: then nobody reads the queue, and waiting for room in a full one would hang.
            if not asyncio.current_task().cancelling():
                await queue.put(_END)

    async def _next(self, queue: asyncio.Queue, deadline: float, stopper: asyncio.Task):
        """The next event or _END from the source; a :class:`Tick` when the clock reached
        ``deadline`` first (never for a source that replays its own ticks); _STOP when
        :meth:`stop` was called."""
        for turn in range(2):
            if self._stop.is_set():  # checked first: at full speed the queue is never empty
                return _STOP
            if self._marks:
                return self._next_marker()
            if not queue.empty():
                return queue.get_nowait()
            if turn == 0 and self.source.replays_clock:
                # A replay's producer only yields, so it refills the queue in this turn of the
                # loop: far cheaper than the wait below. Not for a live source: at full speed its
                # catch-ups would come at every notification, and each is a write to disk.
                await asyncio.sleep(0)
        getter = asyncio.ensure_future(queue.get())
        marked = asyncio.ensure_future(self._marked.wait())  # a mark is taken at once
        delay = None if self.source.replays_clock else self.clock.wall_delay(deadline)
        done, _ = await asyncio.wait({getter, stopper, marked}, timeout=delay,
                                     return_when=asyncio.FIRST_COMPLETED)
        marked.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        if stopper in done:
            return _STOP
        if marked in done:
            return self._next_marker()
        # A timed-out wait has reached the deadline, even if the clock reads a hair short of it
        # (event loops may fire a timer up to their clock's resolution early).
        return Tick(max(self.clock.now(), deadline))

    def _next_breath(self) -> float:
        """When (s) the next pacer breath starts. Asked of the pacer once per breath, not at
        every event: the pace changes only in :meth:`_advance_pacer`, at a boundary."""
        if self._next_breath_t is None:
            self._next_breath_t = self.pacer.breath_start(self._breath + 1)
        return self._next_breath_t

    def _advance_pacer(self, t: float) -> None:
        """Report every pacer breath that ended by ``t`` (s)."""
        while (t1 := self._next_breath()) <= t:
            t0 = self.pacer.breath_start(self._breath)
            shape = self.pacer.segment(t0).shape
            self._report_breath(self._breath, t0, t1, shape.rate_bpm if shape else None)
            self._breath += 1
            if self._pace is not None:
                pace, self._pace = self._pace, None
                try:
                    self.pacer.set_rate(t1, pace.rate_bpm, pace.inhale_ratio)
                    self._hand_paced = self.pacer.step_at(t1)
                except ProtocolError as e:  # allowed when asked, not in the step begun since
                    log.warning("the pace was not changed: %s", e)
            self._adapt(t1)
            self._next_breath_t = None
        self.t = max(self.t, t)

    def _clean_beats(self, s: _Strap, seconds: float) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) and RRs (ms) of the judged, accepted beats of the last ``seconds`` since the
        beat chain last broke (across a break their timing is unknown)."""
        bt, rr, art = s.core.recent(seconds, judged_only=True)
        keep = ~(art | (bt < s.core.segment_start))
        return bt[keep], rr[keep]

    def _adapt(self, t: float) -> None:
        """At breath boundary ``t`` (s) of an adaptive step, let the pacer move toward the rate
        of largest heart-rate swing (:mod:`biobreath.core.adaptive`). It is computed from the
        beats alone, so a replay makes the same changes."""
        step, shape = self.pacer.step_at(t), self.pacer.segment(t).shape
        if not (step.adaptive and step.shape and shape and self.primary) or (
                step is self._hand_paced):  # a pace set by hand stays as it was set
            self.adaptive.reset()
            return
        strap = self.straps[self.primary]
        bt, rr = self._clean_beats(strap, self.adaptive.settings.window_s + 5.0)
        change = self.adaptive.decide(t, step.shape.rate_bpm, shape.rate_bpm, bt, rr,
                                      strap.core.segment_start, self.pacer.volume)
        if change is not None:
            self.pacer.set_rate(t, change.rate_bpm, gradual=True)
            self.rate_changes.append(change)
            for li in self.listeners:
                li.on_pacer_rate(change)

    def _report_breath(self, n: int, t0: float, t1: float, rate: float | None) -> None:
        if self.primary is None:
            report = BreathReport(n, t0, t1, rate, math.nan, math.nan, math.nan, math.nan)
        else:
            s = self.straps[self.primary]
            window = self.live_params.coherence.window_s
            bt, rr = self._clean_beats(s, window + 5.0)
            m = (bt >= t0) & (bt < t1)
            count = np.count_nonzero(m)
            # np.mean's own sum and division, without its per-call overhead.
            hr = float(np.add.reduce(60000.0 / rr[m]) / count) if count else math.nan
            phase = math.nan
            # Phase over the last 64 s of this pace only (at least two breaths of it).
            start = max(t1 - window, self.pacer.pace_start(t0), s.core.segment_start)
            if rate is not None and t1 - start >= 2 * 60.0 / rate:
                grid = np.arange(start, t1, 0.25)
                phase = hr_breathing_phase(bt, rr, grid, self.pacer.volume(grid), rate / 60.0,
                                           start, t1).phase_deg
            coh = s.core.state.coherence
            est = s.last_breathing
            fresh = est is not None and est.t >= t1 - 5.0
            following = est.following.score if fresh and est.following else math.nan
            report = BreathReport(n, t0, t1, rate, hr, s.core.breath_swing(t0, t1),
                                  coh.score if coh else math.nan, phase,
                                  est.rate_bpm if fresh else math.nan, following)
            s.swing.add(report.swing_bpm)
            s.following.add(following)
        for li in self.listeners:
            li.on_breath(report)

    def _handle(self, ev: Event) -> None:
        s = self._strap(ev.device)
        if isinstance(ev, Beat):
            if ev.gap:  # the chain broke: judge what waits and restart, as at a link loss
                self._restart(ev.device, s)
            self._judged(ev.device, s, s.core.add_beat(ev.t, ev.rr_ms))
        elif isinstance(ev, AccSamples):
            if s.breathing is None:
                s.breathing = RespirationTracker(self.pacer.volume)
            estimate = s.breathing.push(ev.t0, ev.fs_hz, ev.mg)
            if estimate is not None:
                s.last_breathing = estimate
                for li in self.listeners:
                    li.on_breathing(ev.device, estimate)
        elif isinstance(ev, Contact):
            self._set_status(s, contact=ev.contact)
            self._update_quality(s)
        elif isinstance(ev, Battery):
            self._set_status(s, battery_pct=ev.percent)
        elif isinstance(ev, Timing):
            self._set_status(s, timing_degraded=ev.degraded)
        elif isinstance(ev, Link):
            if ev.state == LinkState.LOST:
                self._gaps += 1
                self._restart(ev.device, s)
            self._set_status(s, link=ev.state)

    def _restart(self, device: str, s: _Strap) -> None:
        """The beat series of ``device`` broke (a link gap, lost RRs): judge the beats still
        waiting, and let no successive difference span the break."""
        self._judged(device, s, s.core.flush())
        s.last_ok_rr = math.nan

    def _judged(self, device: str, s: _Strap, verdicts: list[BeatVerdict]) -> None:
        """Record and publish the live verdicts on earlier beats of one strap."""
        for verdict in verdicts:
            if verdict.artifact:
                s.last_ok_rr = math.nan  # successive differences never bridge an artifact
            else:
                s.hr.add(verdict.hr_bpm)
                if s.breathing is not None:  # heart rate rising on inhale orients the signal
                    s.breathing.push_beats(np.array([verdict.t]), np.array([verdict.rr_ms]))
                s.sq_diff.add((verdict.rr_ms - s.last_ok_rr) ** 2)
                s.last_ok_rr = verdict.rr_ms
            s.recent_ok.append(not verdict.artifact)
            self._update_quality(s)
            for li in self.listeners:
                li.on_beat(device, verdict, s.core.state)
            coh = s.core.state.coherence
            if coh is not None and coh is not s.last_coherence:
                s.last_coherence = coh
                s.coherence.add(coh.score)
                for li in self.listeners:
                    li.on_coherence(device, coh)

    def _update_quality(self, s: _Strap) -> None:
        if s.status.contact is False:
            q = SignalQuality.NO_CONTACT
        elif len(s.recent_ok) >= 5 and s.recent_ok.count(False) >= 3:
            q = SignalQuality.NOISY
        elif s.recent_ok:
            q = SignalQuality.GOOD
        else:
            q = SignalQuality.UNKNOWN
        self._set_status(s, quality=q)

    def _summary(self) -> SessionSummary:
        path = next((li.saved_path for li in self.listeners if li.saved_path), "")
        if self.primary is None:
            return SessionSummary(self.t, 0, 0, math.nan, math.nan, math.nan, math.nan, math.nan,
                                  self._gaps, path, markers=tuple(self.markers))
        s = self.straps[self.primary]
        st = s.core.state
        return SessionSummary(self.t, st.n_beats, st.n_artifacts, s.hr.mean,
                              math.sqrt(s.sq_diff.mean), s.coherence.mean, s.coherence.max,
                              s.swing.mean, self._gaps, path, s.following.mean,
                              tuple(self.markers))


#: Wall seconds a source may take to close (disconnect its straps) when a session ends.
SOURCE_CLOSE_S = 15.0

_STOP = object()
_END = object()

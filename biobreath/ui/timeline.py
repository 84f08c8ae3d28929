"""Replay you can scrub: a timeline under the panels to seek anywhere in a recording, play or
pause, change speed and jump between markers and protocol steps.

At every moment the panels show what they showed live then, computed by the same session code:
a seek builds the session the window follows at that moment from a *snapshot* and the recorded
events after it. One pass over the recording at full speed (:meth:`Scrubber.index`) takes a
snapshot every :data:`SNAPSHOT_S` of session time, between two events: a deep copy of the
session (its live cores, strap states, pacer and markers) with the window's news of it (the
listeners given). :meth:`Scrubber.session_at` copies the snapshot before the moment again and
feeds it the recorded events from there, at full speed up to the moment, then at the chosen
speed (or not at all while paused) on a :class:`ScrubClock`.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.pacer import Pacer
from biobreath.events import DeviceInfo, Event, Marker
from biobreath.files.recording import SessionData, read_events, recorded_wearers
from biobreath.session import Session, SessionListener
from biobreath.sources.base import BeatSource
from biobreath.ui.formatting import clock_text
from biobreath.ui.theme import MUTED, TEXT, Palette, current, label, mix, set_text

SNAPSHOT_S = 60.0
"""Session seconds between two snapshots: a seek replays at most this much at full speed."""
SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""The replay speeds offered (times real time)."""


def arrival(ev: Event) -> float:
    """When the live session received ``ev`` (s): a beat's time is when it beat, earlier."""
    return getattr(ev, "arrival", ev.t)


def moments(events: Sequence[Event]) -> list[float]:
    """The moment (s) each event of a recorded stream was taken: the latest arrival so far. A
    mark takes the session clock's time, which at full speed runs ahead of the events still
    queued, so arrivals alone can step back; the stream's order is what happened."""
    out, latest = [], -math.inf
    for ev in events:
        latest = max(latest, arrival(ev))
        out.append(latest)
    return out


class ScrubClock:
    """Session time under the timeline's control: from ``t`` (s) it stands still while paused
    and runs ``rate`` times faster than the wall clock while playing (``rate`` None: as fast as
    the session computes, the clock reading the latest moment let through, as a
    ``ScaledClock(None)`` does). Events up to "now" pass at once, so a new clock at a moment lets
    the recording up to it through at full speed."""

    def __init__(self, t: float, *, rate: float | None = 1.0, playing: bool = False,
                 monotonic=time.monotonic) -> None:
        _check_rate(rate)
        self._monotonic = monotonic
        self._t0, self._m0 = t, monotonic()
        self._rate, self._playing = rate, playing
        self._latest = t
        self._changed = asyncio.Event()

    @property
    def speed(self) -> float | None:
        return self._rate

    @property
    def playing(self) -> bool:
        return self._playing

    def now(self) -> float:
        if not self._playing:
            return self._t0
        if self._rate is None:  # as ScaledClock(None): where the latest event let through was
            return self._latest
        return self._t0 + (self._monotonic() - self._m0) * self._rate

    def wall_delay(self, t: float) -> float | None:
        """Wall seconds until ``t`` (s): 0.0 when reached, None while paused before it."""
        if not self._playing:
            return None if t > self._t0 else 0.0
        if self._rate is None:
            return 0.0
        return max(0.0, (t - self.now()) / self._rate)

    def _reanchor(self, **changes) -> None:
        self._t0, self._m0 = self.now(), self._monotonic()
        for name, value in changes.items():
            setattr(self, name, value)
        self._changed.set()
        self._changed = asyncio.Event()

    def play(self) -> None:
        self._reanchor(_playing=True)

    def pause(self) -> None:
        self._reanchor(_playing=False)

    def set_rate(self, rate: float | None) -> None:
        _check_rate(rate)
        self._reanchor(_rate=rate)

    async def sleep_until(self, t: float) -> None:
        self._latest = max(self._latest, t)
        while (delay := self.wall_delay(t)) != 0.0:
            changed = self._changed
            try:
                # Wake at the time, or when play, pause or the rate changes it.
                await asyncio.wait_for(changed.wait(), delay)
            except TimeoutError:
                pass


def _check_rate(rate: float | None) -> None:
    if rate is not None and not rate > 0:
        raise ValueError("rate must be positive (or None: as fast as possible)")


class ScrubSource(BeatSource):
    """The recorded events from number ``start`` on, each when the clock reaches its moment
    (:func:`moments`). ``blocked``: waiting for the clock (every earlier event given)."""

    kind = "replay"
    replays_clock = True

    def __init__(self, data: SessionData, events: Sequence[Event], times: Sequence[float],
                 start: int = 0) -> None:
        self.data = data
        self._events, self._times = events, times
        self.start = start
        self.given = 0
        self.blocked = False

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.data.devices

    def metadata(self) -> dict[str, object]:
        return {"kind": self.kind, "file": str(self.data.path)}

    async def events(self, clock) -> AsyncIterator[Event]:
        for ev, t in zip(self._events[self.start:], self._times[self.start:]):
            self.blocked = clock.wall_delay(t) != 0.0
            await clock.sleep_until(t)
            self.blocked = False
            self.given += 1
            yield ev


class _Handled(SessionListener):
    """Counts the events a session has taken (each is handled before the session next waits)."""

    def __init__(self) -> None:
        self.n = 0

    def on_event(self, event: Event) -> None:
        self.n += 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A session between two events: ``index`` is the first event not yet handled, ``t`` (s)
    when it arrived; ``session`` a copy sharing nothing with the live objects (its source, clock
    and asyncio events left out, see :func:`freeze`)."""

    index: int
    t: float
    session: Session
    asyncio_events: tuple[str, ...]


def freeze(session: Session, index: int, t: float, keep: Callable[[SessionListener], bool]
           ) -> Snapshot:
    """Copy ``session`` and the listeners ``keep`` accepts (the window's news), leaving out its
    source, clock, asyncio events and every other listener."""
    memo: dict[int, object] = {id(session.source): None, id(session.clock): None}
    names = tuple(n for n, v in vars(session).items() if isinstance(v, asyncio.Event))
    for n in names:
        memo[id(getattr(session, n))] = None
    for li in session.listeners:
        if not keep(li):
            memo[id(li)] = None
    return Snapshot(index, t, copy.deepcopy(session, memo), names)


def thaw(snap: Snapshot, source: BeatSource, clock) -> Session:
    """A fresh copy of the session ``snap`` holds, fed by ``source`` on ``clock``."""
    session = copy.deepcopy(snap.session)
    session.source, session.clock = source, clock
    for n in snap.asyncio_events:
        setattr(session, n, asyncio.Event())
    session.listeners = [li for li in session.listeners if li is not None]
    return session


class Scrubber:
    """Any moment of the recording ``data`` as a live session, with the listeners
    ``make_listeners(session)`` gives every session (the window's news), restored with it."""

    def __init__(self, data: SessionData,
                 make_listeners: Callable[[Session], list[SessionListener]] = lambda s: [],
                 *, snapshot_s: float = SNAPSHOT_S) -> None:
        if not snapshot_s > 0:
            raise ValueError("snapshot_s must be positive")
        self.data = data
        self.events = read_events(data)
        self.times = moments(self.events)
        self.duration_s = data.planned_duration_s
        self.protocol = data.protocol()
        self.snapshot_s = snapshot_s
        self.markers = [ev for ev in self.events if isinstance(ev, Marker)]
        self.steps = _step_starts(self.protocol.steps, self.duration_s)
        # The pass that takes the snapshots runs as fast as it computes; its first snapshot,
        # the start, is taken now.
        self._pass = Session(ScrubSource(data, self.events, self.times),
                             ScrubClock(0.0, rate=None, playing=True),
                             Pacer(self.protocol), duration_s=self.duration_s,
                             wearers=recorded_wearers(data))
        self._pass.listeners.extend(make_listeners(self._pass))
        own = {id(li) for li in self._pass.listeners}
        self._keep = lambda li: id(li) in own
        self.snapshots: list[Snapshot] = [freeze(self._pass, 0, 0.0, self._keep)]
        self.indexed = False

    async def index(self) -> None:
        """Take the snapshots: one pass over the whole recording at full speed. Seeks work
        meanwhile, from the snapshots taken so far."""
        session, self._pass = self._pass, None
        if session is None:
            return
        session.listeners.insert(0, _Snapshots(self, session, self._keep))
        await session.run()
        self.indexed = True

    def session_at(self, t: float, *, rate: float = 1.0, playing: bool = False) -> Session:
        """The session as it stood live at ``t`` (s) once run: it takes the recorded events
        up to ``t`` at full speed, then goes on at ``rate`` while ``playing``."""
        t = min(max(t, 0.0), self.duration_s)
        k = bisect.bisect_right([s.t for s in self.snapshots], t) - 1
        snap = self.snapshots[max(k, 0)]
        source = ScrubSource(self.data, self.events, self.times, snap.index)
        session = thaw(snap, source, ScrubClock(t, rate=rate, playing=playing))
        session.listeners.append(_Handled())
        return session

    def jumps(self, t: float, direction: int) -> float | None:
        """The next (``direction`` 1) or previous (-1) marker or step start from ``t`` (s); a
        second's slack keeps a jump from landing where it is."""
        stops = sorted({m.t for m in self.markers} | set(self.steps))
        if direction > 0:
            return next((x for x in stops if x > t + 1.0), None)
        return next((x for x in reversed(stops) if x < t - 1.0), None)


def landed(session: Session) -> bool:
    """Whether a session from :meth:`Scrubber.session_at` has taken every event up to its
    clock's moment."""
    source = session.source
    handled = next(li for li in session.listeners if isinstance(li, _Handled))
    return source.blocked and handled.n == source.given


class _Snapshots(SessionListener):
    """Takes a snapshot whenever an event arrives a snapshot step after the last one."""

    def __init__(self, scrubber: Scrubber, session: Session, keep) -> None:
        self.scrubber, self.session, self.keep = scrubber, session, keep
        self.index = 0

    def on_event(self, event: Event) -> None:
        # The first listener, called before the session or any other listener acts on the
        # event: the session and the kept listeners hold every event before it, none of it.
        snaps, times = self.scrubber.snapshots, self.scrubber.times
        if self.index < len(times) and times[self.index] >= snaps[-1].t + self.scrubber.snapshot_s:
            snaps.append(freeze(self.session, self.index, times[self.index], self.keep))
        self.index += 1


def _step_starts(steps, duration_s: float) -> list[float]:
    starts, t = [], 0.0
    for s in steps:
        if t < duration_s:
            starts.append(t)
        t += s.duration_s
    return starts


# -- the widget ---------------------------------------------------------------------------------


class TimelineBar(QtWidgets.QWidget):
    """The recording as a bar: played part, protocol steps (ticks), markers (flags) and the
    cursor; a click or drag asks to seek (:attr:`seek_requested`, session s)."""

    seek_requested = QtCore.Signal(float)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration_s = 1.0
        self.t = 0.0
        self.markers: list[Marker] = []
        self.steps: list[float] = []
        self.setMinimumHeight(34)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Click or drag to go to any moment of the session. Purple flags are "
                        "markers, ticks the protocol's steps.")

    def set_recording(self, duration_s: float, markers: list[Marker], steps: list[float]) -> None:
        self.duration_s = max(duration_s, 1e-9)
        self.markers, self.steps = markers, steps
        self.update()

    def set_time(self, t: float) -> None:
        if t != self.t:
            self.t = t
            self.update()

    def _x(self, t: float) -> float:
        m = 8.0
        return m + (self.width() - 2 * m) * min(max(t / self.duration_s, 0.0), 1.0)

    def time_at(self, x: float) -> float:
        """Session time (s) under pixel column ``x``."""
        m = 8.0
        return self.duration_s * min(max((x - m) / max(self.width() - 2 * m, 1.0), 0.0), 1.0)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        self.seek_requested.emit(self.time_at(event.position().x()))

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.buttons() & QtCore.Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.time_at(event.position().x()))

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p: Palette = current()
        qp = QtGui.QPainter(self)
        qp.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        h = self.height()
        mid = h / 2
        x0, x1, xt = self._x(0.0), self._x(self.duration_s), self._x(self.t)
        qp.setPen(QtCore.Qt.PenStyle.NoPen)
        qp.setBrush(QtGui.QColor(p.track))
        qp.drawRoundedRect(QtCore.QRectF(x0, mid - 4, x1 - x0, 8), 4, 4)
        qp.setBrush(QtGui.QColor(p.breath))
        qp.drawRoundedRect(QtCore.QRectF(x0, mid - 4, xt - x0, 8), 4, 4)
        qp.setPen(QtGui.QPen(mix(p.muted, p.bg, 0.8), 2))
        for s in self.steps[1:]:
            x = self._x(s)
            qp.drawLine(QtCore.QPointF(x, mid - 9), QtCore.QPointF(x, mid + 9))
        qp.setPen(QtGui.QPen(QtGui.QColor(p.marker), 2))
        qp.setBrush(QtGui.QColor(p.marker))
        for m in self.markers:
            x = self._x(m.t)
            qp.drawLine(QtCore.QPointF(x, 2), QtCore.QPointF(x, h - 2))
            qp.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(x, 2), QtCore.QPointF(x + 8, 6),
                                            QtCore.QPointF(x, 10)]))
        qp.setPen(QtGui.QPen(QtGui.QColor(p.bg), 2))
        qp.setBrush(QtGui.QColor(p.text))
        qp.drawEllipse(QtCore.QPointF(xt, mid), 8, 8)
        qp.end()


class Timeline(QtWidgets.QFrame):
    """Play/pause, previous and next marker or step, the bar, the time and the speed."""

    seek_requested = QtCore.Signal(float)
    play_toggled = QtCore.Signal(bool)
    speed_chosen = QtCore.Signal(object)  # float, or None: as fast as possible
    jump_requested = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 6)
        lay.setSpacing(10)
        self.play_button = QtWidgets.QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play or pause the replay (Space)")
        self.play_button.toggled.connect(self._toggled)
        self.prev_button = QtWidgets.QPushButton("◀ Previous")
        self.prev_button.setToolTip("Previous marker or protocol step")
        self.prev_button.clicked.connect(lambda: self.jump_requested.emit(-1))
        self.next_button = QtWidgets.QPushButton("Next ▶")
        self.next_button.setToolTip("Next marker or protocol step")
        self.next_button.clicked.connect(lambda: self.jump_requested.emit(1))
        self.bar = TimelineBar()
        self.bar.seek_requested.connect(self.seek_requested)
        self.time_label = label("0:00 / 0:00", 14, TEXT)
        self.speed_box = QtWidgets.QComboBox()
        self.speed_box.setToolTip("Replay speed (times real time)")
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.currentIndexChanged.connect(lambda i: self.speed_chosen.emit(self.speed))
        self.speed_box.setStyleSheet("QComboBox { min-width: 4em; }")
        lay.addWidget(self.play_button)
        lay.addWidget(self.prev_button)
        lay.addWidget(self.next_button)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.time_label)
        lay.addWidget(label("speed", 12, MUTED))
        lay.addWidget(self.speed_box)

    def _toggled(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        self.play_toggled.emit(on)

    def show_playing(self, on: bool) -> None:
        """Show the button as playing or not without asking for it (the replay ended)."""
        self.play_button.blockSignals(True)
        self.play_button.setChecked(on)
        self.play_button.setText("Pause" if on else "Play")
        self.play_button.blockSignals(False)

    @property
    def speed(self) -> float | None:
        """The chosen speed (times real time; None: as fast as possible)."""
        rate = self.speed_box.currentData()
        return None if math.isinf(rate) else rate

    def set_speed(self, rate: float | None) -> None:
        """Choose ``rate``, offering it too when it is not among :data:`SPEEDS`."""
        value = math.inf if rate is None else float(rate)  # Qt keeps a number, not None
        i = self.speed_box.findData(value)
        if i < 0:
            self.speed_box.addItem("max" if rate is None else f"{rate:g}×", value)
            i = self.speed_box.count() - 1
        self.speed_box.setCurrentIndex(i)

    def show_time(self, t: float) -> None:
        self.bar.set_time(t)
        set_text(self.time_label, f"{clock_text(t)} / {clock_text(self.bar.duration_s)}")


# -- the window's replay ------------------------------------------------------------------------


class ReplayScrub(QtCore.QObject):
    """Puts a :class:`Timeline` under a trainer window's panels and makes the window follow the
    recording of ``scrubber`` from wherever the timeline points: give :meth:`make_session` to
    the window as its ``make_session``. It plays at ``speed`` (times real time; None: as fast
    as possible) from the start, or waits paused (``playing`` False). A seek makes the window
    start the session for that moment at once (``window.replace_session()``); dragging seeks to
    the latest place only."""

    def __init__(self, window, scrubber: Scrubber, *, speed: float | None = 1.0,
                 playing: bool = True) -> None:
        super().__init__(window)
        self.window, self.scrubber = window, scrubber
        self.t = 0.0  # where the next session starts (s)
        self.timeline = Timeline()
        self.timeline.set_speed(speed)
        self.timeline.show_playing(playing)
        self.timeline.bar.set_recording(scrubber.duration_s, scrubber.markers, scrubber.steps)
        self.timeline.show_time(0.0)
        window.centralWidget().layout().addWidget(self.timeline)
        self.timeline.seek_requested.connect(self.seek)
        self.timeline.play_toggled.connect(self.set_playing)
        self.timeline.speed_chosen.connect(self.set_speed)
        self.timeline.jump_requested.connect(self.jump)
        self._target: float | None = None
        self._seek_timer = QtCore.QTimer(self, singleShot=True, interval=30)
        self._seek_timer.timeout.connect(self._seek_now)
        self._follow_timer = QtCore.QTimer(self, interval=50)
        self._follow_timer.timeout.connect(self._follow)
        self._follow_timer.start()
        self.indexing = asyncio.ensure_future(scrubber.index())

    def make_session(self, protocol) -> Session:
        """The session for the timeline's moment, playing or paused as the timeline is.
        (A replay keeps the recorded protocol: ``protocol`` is not used.)"""
        return self.scrubber.session_at(self.t, rate=self.timeline.speed,
                                        playing=self.timeline.play_button.isChecked())

    def now(self) -> float:
        """Where the window's session stands (s)."""
        s = self.window.session
        if s is None or not isinstance(s.clock, ScrubClock):
            return self.t
        return min(max(s.clock.now(), 0.0), self.scrubber.duration_s)

    def seek(self, t: float) -> None:
        """Go to ``t`` (s): the cursor moves at once, the panels within a frame or two."""
        self._target = min(max(t, 0.0), self.scrubber.duration_s)
        self.timeline.show_time(self._target)
        if not self._seek_timer.isActive():
            self._seek_timer.start()

    def _seek_now(self) -> None:
        if self._target is None:
            return
        self.t, self._target = self._target, None
        self.window.replace_session()

    def set_playing(self, on: bool) -> None:
        s = self.window.session
        if s is not None and self.window.running and isinstance(s.clock, ScrubClock):
            if on:
                s.clock.play()
            else:
                s.clock.pause()
        elif on:  # the replay had ended: play again from where the timeline stands
            self.seek(0.0 if self.t >= self.scrubber.duration_s else self.t)

    def set_speed(self, rate: float) -> None:
        s = self.window.session
        if s is not None and isinstance(s.clock, ScrubClock):
            s.clock.set_rate(rate)

    def jump(self, direction: int) -> None:
        """To the next (1) or previous (-1) marker or protocol step."""
        t = self.scrubber.jumps(self.now(), direction)
        if t is not None:
            self.seek(t)

    def _follow(self) -> None:
        if self._target is not None:
            return  # a seek is on its way: the cursor stays where it was sent
        self.t = self.now()
        self.timeline.show_time(self.t)
        ended = self.window.session is not None and not self.window.running
        if ended and self.timeline.play_button.isChecked():
            self.timeline.show_playing(False)

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import asyncio

import pytest
import qasync
from PySide6 import QtCore, QtGui

from biobreath.clock import ScaledClock
from biobreath.core.coherence import score_level
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.events import DeviceInfo, Link, LinkState
from biobreath.files.protocols import available_protocols
from biobreath.session import Session, SessionListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.base import BeatSource
from biobreath.ui.window import BREATH, HR, LEVEL, TrainerWindow

SHORT = parse_protocol({"name": "short", "step": [
    {"label": "Coherence breathing", "seconds": 100, "inhale_s": 4, "exhale_s": 6}]})


@pytest.fixture
def loop(qapp):
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(None)


def sim_sessions(made: list | None = None, clock_factory=lambda: ScaledClock(None), seed=7):
    """A ``make_session`` with a simulated strap (by default at maximum speed); it records the
    protocols it was asked for in ``made``."""
    def make(protocol):
        if made is not None:
            made.append(protocol)
        pacer = Pacer(protocol)
        source = SimulatedStrap(SimParams(seed=seed, ectopic_rate=0.02), pacer)
        return Session(source, clock_factory(), pacer)
    return make


class AtTime(SessionListener):
    """Calls ``action`` once, at the first beat at or after ``t`` (s)."""

    def __init__(self, t, action):
        self.t, self.action, self.done = t, action, False

    def on_beat(self, device, verdict, state):
        if not self.done and state.t >= self.t:
            self.done = True
            self.action()


class ManualClock:
    """Session time (s) that moves only when the test advances it."""

    speed = 1.0

    def __init__(self):
        self.t = 0.0
        self.waiters = []

    def now(self):
        return self.t

    def wall_delay(self, t):
        return None

    async def sleep_until(self, t):
        while self.t < t:
            fut = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            await fut

    async def advance(self, dt):
        self.t += dt
        waiters, self.waiters = self.waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)
        for _ in range(20):  # let the source and the session catch up
            await asyncio.sleep(0)


class FailingStrap(BeatSource):
    """Connects, then fails the way a broken Bluetooth stack would."""

    kind = "failing"

    @property
    def devices(self):
        return (DeviceInfo("Broken strap", "broken"),)

    async def events(self, clock):
        yield Link(clock.now(), LinkState.CONNECTED, "", "broken")
        await clock.sleep_until(1.0)
        raise RuntimeError("adapter vanished")


def test_session_updates_every_view_and_ends_on_the_summary(qtbot, loop, tmp_path):
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    idle_score = win.score_label.text()
    assert win.start_button.isEnabled() and not win.stop_button.isEnabled()
    win.start()
    assert not win.start_button.isEnabled() and win.stop_button.isEnabled()
    loop.run_until_complete(win.task)

    summary = win.summary
    assert summary is not None and win.error is None
    assert summary.duration_s == pytest.approx(100.0)
    assert summary.n_beats > 80

    score = win.score_label.text()
    assert score != idle_score and score.isdigit()
    level = score_level(float(score))
    assert win.level_label.text() == f"{level} coherence"
    assert LEVEL[level] in win.score_label.styleSheet()
    x, y = win.hr_curve.getData()
    assert x.size > 50 and 40 < y.min() and y.max() < 120
    lo, hi = win.trace.getPlotItem().viewRange()[1]
    assert lo <= y.min() and y.max() <= hi          # the bpm axis fits the beats shown
    assert win.breath_curve.getData()[0].size > 500
    assert win.history_curve.getData()[0].size >= 5  # one coherence value every 5 s
    assert "connected" in win.link_label.text()
    assert "90 %" in win.battery_label.text()
    assert "skin contact" in win.contact_label.text()
    assert "signal" in win.quality_label.text()
    assert win.time_label.text() == "1:40 / 1:40"
    assert not win.summary_panel.isHidden()
    assert win.summary_title.text() == "Session complete"
    assert f"{summary.n_beats} beats" in win.summary_text.text()
    assert win.start_button.isEnabled() and not win.stop_button.isEnabled()

    png = tmp_path / "window.png"
    win.save_screenshot(png)
    img = QtGui.QImage(str(png))
    assert img.width() == win.width() and img.height() == win.height()
    colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 2)
               for y in range(0, img.height(), 2)}
    assert {HR, BREATH, LEVEL[level]} <= colours  # heart rate, pacer and score are drawn


def test_stop_button_ends_the_session_early(qtbot, loop):
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    win.start()
    win.session.listeners.append(AtTime(
        30.0, lambda: qtbot.mouseClick(win.stop_button, QtCore.Qt.MouseButton.LeftButton)))
    loop.run_until_complete(win.task)
    assert 30.0 <= win.summary.duration_s < 40.0
    assert win.summary_title.text() == "Session stopped"
    assert win.start_button.isEnabled() and not win.running


def test_closing_the_window_stops_the_session_first(qtbot, loop):
    clock = ManualClock()
    win = TrainerWindow(sim_sessions(clock_factory=lambda: clock), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    win.start()

    async def drive():
        while clock.t < 20.0:
            await clock.advance(0.5)
        win.close()
        assert win.isVisible() and not win.stop_button.isEnabled()  # waits for the session
        await win.task

    loop.run_until_complete(drive())
    assert win.summary.duration_s == pytest.approx(20.0, abs=1.5)
    assert not win.isVisible()


def test_a_frame_without_news_moves_the_trace_but_rebuilds_nothing(qtbot, loop):
    clock = ManualClock()
    win = TrainerWindow(sim_sessions(clock_factory=lambda: clock), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.start()
    curves = (win.breath_curve, win.breath_fill, win.hr_curve)

    async def drive():
        while clock.t < 30.0:
            await clock.advance(0.25)
            win.update_frame()
        arrays = [c.getData()[0] for c in curves]
        x0 = win.hr_curve.pos().x()
        await clock.advance(1e-3)  # no beat arrives in a millisecond
        win.update_frame()
        assert all(a is c.getData()[0] for a, c in zip(arrays, curves))  # no setData at all
        assert win.hr_curve.pos().x() == pytest.approx(x0 - 1e-3)
        assert win.breath_curve.pos().x() == pytest.approx(-clock.t)
        win.stop()
        await win.task

    loop.run_until_complete(drive())


def test_chosen_protocol_applies_to_the_next_start(qtbot, loop):
    made = []
    win = TrainerWindow(sim_sessions(made), SHORT, autostart=False)
    qtbot.addWidget(win)
    names = [win.chooser.itemText(i) for i in range(win.chooser.count())]
    assert names[0] == "short"                        # the given protocol, not a packaged one
    assert set(available_protocols()) <= set(names)
    win.chooser.setCurrentIndex(names.index("box"))
    win.start()
    win.session.listeners.append(AtTime(10.0, win.stop))
    loop.run_until_complete(win.task)
    assert [p.name for p in made] == ["box"]
    assert win.step_label.text() == "Box breathing"


def test_screenshot_mode_saves_the_end_and_quits(qtbot, loop, tmp_path):
    png = tmp_path / "shot.png"
    win = TrainerWindow(sim_sessions(), SHORT, screenshot=png)
    qtbot.addWidget(win)
    win.show()
    loop.run_forever()  # autostart; returns when the window quits the application
    assert win.summary is not None
    assert QtGui.QImage(str(png)).size() == win.size()


def test_a_failed_session_is_reported_and_a_new_one_can_start(qtbot, loop):
    def make(protocol):
        return Session(FailingStrap(), ScaledClock(None), Pacer(protocol))

    win = TrainerWindow(make, SHORT, autostart=False)
    qtbot.addWidget(win)
    win.start()
    loop.run_until_complete(win.task)
    assert isinstance(win.error, RuntimeError)
    assert win.summary_title.text() == "Session failed"
    assert "adapter vanished" in win.summary_text.text()
    assert win.strap_name.text() == "Broken strap"
    assert win.start_button.isEnabled()


def test_a_session_that_cannot_be_built_leaves_the_window_usable(qtbot, loop):
    def make(protocol):
        raise OSError("no Bluetooth adapter")

    win = TrainerWindow(make, SHORT, autostart=False)
    qtbot.addWidget(win)
    win.start()
    assert win.task is None and not win.running and isinstance(win.error, OSError)
    assert "no Bluetooth adapter" in win.statusBar().currentMessage()
    assert win.start_button.isEnabled()


class BreathingStrap(SimulatedStrap):
    """The simulated strap plus a chest accelerometer that moves with the simulated breathing,
    as the Polar H10's does (z falls as the lungs fill)."""

    async def events(self, clock):
        import numpy as np

        from biobreath.events import AccSamples, Beat

        sent = 0.0
        async for ev in super().events(clock):
            yield ev
            chunk = self.last_chunk
            if isinstance(ev, Beat) and chunk is not None and ev.t - sent >= 1.0:
                t0 = sent
                ts = np.arange(t0, ev.t, 1 / 25)
                vol = np.interp(ts, chunk.t, chunk.respiration, left=chunk.respiration[0])
                mg = np.column_stack([np.zeros_like(ts), np.zeros_like(ts), 980 - 40 * vol])
                yield AccSamples(ev.t, t0, 25.0, mg.astype(int), ev.device)
                sent = t0 + ts.size / 25


def test_measured_breathing_is_drawn_over_the_pacer(qtbot, loop):
    def make(protocol):
        pacer = Pacer(protocol)
        return Session(BreathingStrap(SimParams(seed=3, fidelity=1.0), pacer), ScaledClock(None),
                       pacer)

    win = TrainerWindow(make, SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    win.start()
    loop.run_until_complete(win.task)
    win.update_frame()
    x, y = win.measured_curve.getData()
    assert x is not None and x.size > 500
    assert "your breathing" in win.legend_label.text()
    assert win.summary.following_mean > 70
    assert "following the pacer" in win.summary_text.text()


def test_history_axis_stays_in_minutes_for_short_sessions(qtbot, loop):
    short = parse_protocol({"name": "s", "step": [{"seconds": 30, "inhale_s": 4, "exhale_s": 6}]})
    win = TrainerWindow(sim_sessions(), short, autostart=False)
    qtbot.addWidget(win)
    win.start()
    loop.run_until_complete(win.task)
    axis = win.history.getPlotItem().getAxis("bottom")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()

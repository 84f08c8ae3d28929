import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import asyncio
import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.clock import ScaledClock
from biobreath.core.coherence import CoherenceResult, score_level
from biobreath.core.live import LiveCore, LiveState
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.core.respiration import BreathingEstimate, Following
from biobreath.events import DeviceInfo, Link, LinkState, SignalQuality
from biobreath.files.protocols import available_protocols
from biobreath.session import Session, SessionListener, SessionSummary, StrapStatus
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.base import BeatSource
from biobreath.ui.formatting import clock_text, num, summary_lines
from biobreath.ui.panels import (
    AHEAD_S,
    CoherenceHistoryPanel,
    CoherencePanel,
    HeartRateTrace,
    PacerPanel,
    PacerWidget,
    StrapPanel,
    SummaryPanel,
)
from biobreath.ui.theme import BREATH, HR, LEVEL
from biobreath.ui.window import SessionNews, TrainerWindow

SHORT = parse_protocol({"name": "short", "step": [
    {"label": "Coherence breathing", "seconds": 100, "inhale_s": 4, "exhale_s": 6}]})




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
    idle_score = win.score_panel.score_label.text()
    assert win.start_button.isEnabled() and not win.stop_button.isEnabled()
    win.start()
    assert not win.start_button.isEnabled() and win.stop_button.isEnabled()
    loop.run_until_complete(win.task)

    summary = win.summary
    assert summary is not None and win.error is None
    assert summary.duration_s == pytest.approx(100.0)
    assert summary.n_beats > 80

    score = win.score_panel.score_label.text()
    assert score != idle_score and score.isdigit()
    level = score_level(float(score))
    assert win.score_panel.level_label.text().endswith(f" {level} coherence")
    assert LEVEL[level] in win.score_panel.score_label.styleSheet()
    x, y = win.heart_trace.hr_curve.getData()
    assert x.size > 50 and 40 < y.min() and y.max() < 120
    lo, hi = win.heart_trace.plot.getPlotItem().viewRange()[1]
    assert lo <= y.min() and y.max() <= hi          # the bpm axis fits the beats shown
    assert win.heart_trace.breath_curve.getData()[0].size > 500
    assert win.history_panel.curve.getData()[0].size >= 5  # one coherence value every 5 s
    assert "connected" in win.strap_panel.link_label.text()
    assert "90 %" in win.strap_panel.battery_label.text()
    assert "skin contact" in win.strap_panel.contact_label.text()
    assert "signal" in win.strap_panel.quality_label.text()
    assert win.time_label.text() == "1:40 / 1:40"
    assert not win.summary_panel.isHidden()
    assert win.summary_panel.title_label.text() == "Session complete"
    assert f"{summary.n_beats} beats" in win.summary_panel.text_label.text()
    assert win.start_button.isEnabled() and not win.stop_button.isEnabled()

    png = tmp_path / "window.png"
    win.save_screenshot(png)
    img = QtGui.QImage(str(png))
    assert img.width() == win.width() and img.height() == win.height()
    colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 2)
               for y in range(0, img.height(), 2)}
    assert {HR, BREATH, LEVEL[level]} <= colours  # heart rate, pacer and score are drawn


def test_names_a_strap_advertises_or_a_person_typed_are_shown_as_written(qtbot):
    """A strap's Bluetooth name is anyone's to choose: it is shown as text, never as markup (an
    image, a link, big letters); the status lines beside it keep their coloured dots."""
    from biobreath.ui.group_view import PersonCard
    from biobreath.ui.panels import StrapPanel

    odd = "<h1>Big</h1><img src='x.png'> & co"
    panel = StrapPanel()
    qtbot.addWidget(panel)
    panel.set_status(StrapStatus("AA:BB", odd))
    plain = QtCore.Qt.TextFormat.PlainText
    assert panel.name_label.textFormat() == plain and panel.name_label.text() == odd
    assert panel.link_label.textFormat() == QtCore.Qt.TextFormat.RichText
    card = PersonCard()
    qtbot.addWidget(card)
    pacer = Pacer(SHORT)
    card.show_person(StrapStatus("AA:BB", odd, person="<b>Ana</b>"), LiveCore(), pacer, 0.0)
    assert card.name_label.textFormat() == plain and card.name_label.text() == "<b>Ana</b>"
    doc = QtGui.QTextDocument()
    doc.setHtml(card.name_label.toolTip())
    assert doc.toPlainText() == odd


@pytest.mark.parametrize("spectrum", [False, True])
def test_at_the_smallest_window_the_pacer_and_its_words_fit_their_panel(qtbot, spectrum):
    """At 1100 x 700 the breathing circle's widget was taller than its panel, which cut off
    the instruction below it ("breathe in"), the words a client reads."""
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.resize(win.minimumSize())
    win.show()
    win.show_spectrum(spectrum)
    qtbot.wait(20)
    panel, circle = win.pacer_panel, win.pacer_panel.circle
    words_top = circle._layout()[-1]
    assert circle.geometry().bottom() <= panel.contentsRect().bottom()
    assert words_top + circle.stage_px * 2 <= circle.height()


def test_stop_button_ends_the_session_early(qtbot, loop):
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    win.start()
    win.session.listeners.append(AtTime(
        30.0, lambda: qtbot.mouseClick(win.stop_button, QtCore.Qt.MouseButton.LeftButton)))
    loop.run_until_complete(win.task)
    assert 30.0 <= win.summary.duration_s < 40.0
    assert win.summary_panel.title_label.text() == "Session stopped"
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


def device_x(trace: HeartRateTrace, x: float) -> float:
    """Where time-axis value ``x`` (s from now) lands on ``trace``'s viewport (device px)."""
    vb = trace.plot.getPlotItem().getViewBox()
    return vb.mapViewToDevice(QtCore.QPointF(x, 0.0)).x() * trace.plot.devicePixelRatioF()


def pixels_off(trace: HeartRateTrace, item, t: float) -> float:
    """How far (device px) ``item`` is drawn from where session time ``t`` would put it."""
    return device_x(trace, item.pos().x()) - device_x(trace, -t)


def test_a_frame_without_news_moves_the_trace_but_rebuilds_nothing(qtbot, loop):
    clock = ManualClock()
    win = TrainerWindow(sim_sessions(clock_factory=lambda: clock), SHORT, autostart=False)
    qtbot.addWidget(win)
    win.show()
    win.start()
    trace = win.heart_trace
    curves = (trace.breath_curve, trace.breath_fill, trace.hr_curve)

    async def drive():
        while clock.t < 30.0:
            await clock.advance(0.25)
            win.update_frame()
        arrays = [c.getData()[0] for c in curves]
        x0 = device_x(trace, trace.hr_curve.pos().x())
        await clock.advance(1e-3)  # no beat arrives in a millisecond
        win.update_frame()
        assert all(a is c.getData()[0] for a, c in zip(arrays, curves))  # no setData at all
        # The trace moves by whole device pixels, never more than half a pixel from "now".
        for c in curves:
            assert abs(pixels_off(trace, c, clock.t)) <= 0.5 + 1e-6
        frac = x0 % 1.0
        for _ in range(30):
            await clock.advance(0.05)
            win.update_frame()
            x = device_x(trace, trace.hr_curve.pos().x())
            assert min(abs(x % 1.0 - frac), 1 - abs(x % 1.0 - frac)) < 1e-6
            assert abs(pixels_off(trace, trace.hr_curve, clock.t)) <= 0.5 + 1e-6
        assert device_x(trace, trace.hr_curve.pos().x()) <= x0 - 1.0  # it did move
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
    assert win.pacer_panel.step_label.text() == "Box breathing"


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
    assert win.summary_panel.title_label.text() == "Session failed"
    assert "adapter vanished" in win.summary_panel.text_label.text()
    assert win.strap_panel.name_label.text() == "Broken strap"
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
    x, y = win.heart_trace.measured_curve.getData()
    assert x is not None and x.size > 500
    assert "your breathing" in win.heart_trace.legend_label.text()
    assert win.summary.following_mean > 70
    assert "following the pacer" in win.summary_panel.text_label.text()


def test_history_axis_stays_in_minutes_for_short_sessions(qtbot, loop):
    short = parse_protocol({"name": "s", "step": [{"seconds": 30, "inhale_s": 4, "exhale_s": 6}]})
    win = TrainerWindow(sim_sessions(), short, autostart=False)
    qtbot.addWidget(win)
    win.start()
    loop.run_until_complete(win.task)
    axis = win.history_panel.plot.getPlotItem().getAxis("bottom")
    assert axis.autoSIPrefixScale == 1.0 and "x0.001" not in axis.labelString()


# -- the panels and the shared wording, on their own ---------------------------------------------

SUMMARY = SessionSummary(duration_s=95.0, n_beats=105, n_artifacts=1, mean_hr_bpm=67.4,
                         rmssd_ms=math.nan, coherence_mean=math.nan, coherence_max=math.nan,
                         mean_swing_bpm=15.7, gaps=0, path="/tmp/s.sqlite")


def coherence_result(t, score, peak_hz=0.1):
    return CoherenceResult(t, score / (100 - score), score, peak_hz, 1.0, 2.0, peak_hz, 1.0)


def test_shared_wording():
    assert [clock_text(t) for t in (-3, 59.9, 600, 3725)] == ["0:00", "0:59", "10:00", "1:02:05"]
    assert num(math.nan, ".1f") == "-" and num(2.25, "+.1f") == "+2.2"
    assert summary_lines(SUMMARY) == [
        "session 1:35: 105 beats, 1 artifact (live detector)",
        "mean HR 67.4 bpm, RMSSD - ms, HR swing per breath 15.7 bpm",
        "coherence: too short (it needs about a minute)",
        "recorded to /tmp/s.sqlite",
    ]
    hostile = dataclasses.replace(SUMMARY, path="/tmp/x\n# fake\x1b[2J")
    assert summary_lines(hostile)[-1] == "recorded to /tmp/x\\n# fake\\x1b[2J"


def test_news_follows_the_primary_strap_only():
    news = SessionNews(SimpleNamespace(primary="A"))
    news.coherence_new = news.status_new = False
    news.on_coherence("B", coherence_result(60.0, 70.0))
    news.on_coherence("A", coherence_result(65.0, math.nan))  # no score: nothing to draw
    news.on_status(StrapStatus("B"))
    assert not news.coherence_new and not news.status_new and news.coherence_t == []
    news.on_coherence("A", coherence_result(90.0, 70.0))
    news.on_status(StrapStatus("A"))
    assert news.coherence_new and news.coherence_t == [1.5] and news.coherence_score == [70.0]
    assert news.status_new and news.status.device == "A"


def test_strap_panel_shows_each_item_in_its_colour(qtbot):
    panel = StrapPanel()
    qtbot.addWidget(panel)
    panel.set_status(StrapStatus("AA:BB", "", LinkState.LOST, 12, False, SignalQuality.NOISY))
    assert panel.name_label.text() == "AA:BB"
    assert "lost" in panel.link_label.text() and LEVEL["low"] in panel.link_label.text()
    assert "battery 12 %" in panel.battery_label.text()
    assert LEVEL["low"] in panel.battery_label.text()
    assert "no skin contact" in panel.contact_label.text()
    assert "signal noisy" in panel.quality_label.text()
    assert LEVEL["medium"] in panel.quality_label.text()
    panel.set_status(StrapStatus("AA:BB", "", LinkState.CONNECTED, 80, True, SignalQuality.GOOD,
                                 timing_degraded=True))
    assert "timing degraded" in panel.quality_label.text()
    assert LEVEL["medium"] in panel.quality_label.text()
    panel.show_beats(LiveState(10.0, 40, 2, 60.0, 50.0, None))
    assert panel.artifact_label.text() == "artifacts 2 of 40 beats"
    panel.set_status(None)
    panel.show_beats(None)
    assert panel.name_label.text() == "no strap yet"
    assert panel.link_label.text() == panel.artifact_label.text() == ""


def test_coherence_panels_show_the_score_in_its_level_colour(qtbot):
    score, history = CoherencePanel(), CoherenceHistoryPanel()
    qtbot.addWidget(score)
    qtbot.addWidget(history)
    score.show_result(coherence_result(90.0, 75.0))
    assert score.score_label.text() == "75" and score.level_label.text() == "▲ high coherence"
    assert LEVEL["high"] in score.score_label.styleSheet()
    assert score.peak_label.text() == "heart rhythm at 6.0 /min"
    score.show_result(None)
    assert score.score_label.text() == "–" and score.level_label.text() == "needs a minute of beats"

    history.set_span(120.0)
    lo, hi = history.plot.getPlotItem().viewRange()[0]
    assert lo < 0.0 and hi == pytest.approx(2.0, abs=0.05)
    history.show_scores([1.0, 1.5], [70.0, 40.0])
    assert list(history.curve.getData()[1]) == [70.0, 40.0]
    (last,) = history.last.points()
    assert last.pos().x() == 1.5 and last.brush().color().name() == LEVEL["medium"]
    history.show_scores([], [])
    assert history.curve.getData()[0].size == 0 and not history.last.points().size


def test_pacer_panel_paces_reports_breathing_and_ends(qtbot):
    panel = PacerPanel()
    qtbot.addWidget(panel)
    pacer = Pacer(SHORT)
    panel.show_ready(pacer.state(0.0))
    assert panel.step_label.text() == "Coherence breathing"
    assert panel.circle.state == (0.0, "", "ready", "6.0 breaths/min  ·  press Start")

    st = pacer.state(1.0)  # one second into a 4 s in-breath
    breathing = BreathingEstimate(0.5, 5.8, 0.1, 40.0, 0.9, Following(83.0, 0.83, 0.4, 0.85, 30.0),
                                  True, np.zeros(0), np.zeros(0))
    panel.show_pace(st, breathing)
    assert panel.circle.state == (round(st.volume, 4), "3", "breathe in",
                                  "6.0 breaths/min  ·  you 5.8/min, following 83")
    panel.show_pace(pacer.state(7.0), breathing)  # over 5 s old: not shown
    assert panel.circle.state[2:] == ("breathe out", "6.0 breaths/min")

    free = Pacer(parse_protocol({"name": "f", "step": [{"seconds": 60, "paced": False}]}))
    panel.show_pace(free.state(5.0), breathing)
    assert panel.circle.state == (None, "", "breathe freely", "breathe at your own pace")
    panel.show_ended(pacer.state(100.0), "complete")
    assert panel.circle.state == (0.0, "", "session complete", "")


def test_trace_rebuilds_only_stale_data(qtbot):
    trace = HeartRateTrace()
    qtbot.addWidget(trace)
    pacer = Pacer(SHORT)
    trace.show_time(pacer, 0.0)
    curve = trace.breath_curve.getData()[0]
    trace.show_time(pacer, 4.0)
    assert trace.breath_curve.getData()[0] is curve
    assert trace.breath_curve.getData()[0][-1] >= 4.0 + AHEAD_S  # the view and beyond
    assert abs(pixels_off(trace, trace.breath_curve, 4.0)) <= 0.5 + 1e-6
    trace.show_time(pacer, 40.0)  # past the pre-computed stretch
    assert trace.breath_curve.getData()[0] is not curve

    core = LiveCore()
    for i in range(1, 80):
        core.add_beat(0.75 * i, 750.0)  # 80 bpm: above the initial axis
    trace.show_beats(core)
    lo, hi = trace.hr_range
    assert lo < 80.0 < hi and trace.hr_label.text() == "Heart rate  80 bpm"
    curve = trace.breath_curve.getData()[0]
    trace.show_breathing(BreathingEstimate(40.0, 6.0, 0.0, 40.0, 0.9, None, True,
                                           np.linspace(10.0, 40.0, 50), np.full(50, 0.5)))
    assert trace.measured_curve.getData()[0].size == 0  # drawn with the next frame
    trace.show_time(pacer, 40.1)
    assert trace.breath_curve.getData()[0] is not curve  # rescaled to the new axis
    assert trace.measured_curve.getData()[1][0] == pytest.approx(lo + 0.47 * (hi - lo))
    assert "your breathing" in trace.legend_label.text()

    trace.reset()
    assert trace.hr_range == (50.0, 90.0) and trace.hr_curve.getData()[0].size == 0
    assert trace.measured_curve.getData()[0].size == 0
    assert "your breathing" not in trace.legend_label.text()
    assert trace.hr_label.text() == "Heart rate  –"


def _beating_core(seconds: float) -> LiveCore:
    """A core fed ``seconds`` of beats whose rate swings with a 10 s breath."""
    core, t = LiveCore(), 0.0
    rng = np.random.default_rng(3)
    while t < seconds:
        rr = 850.0 + 60.0 * math.sin(2 * math.pi * t / 10.0) + rng.normal(0.0, 10.0)
        t += rr / 1000.0
        core.add_beat(t, rr)
    return core


def _pixels(widget: QtWidgets.QWidget) -> np.ndarray:
    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_ARGB32)
    return np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), -1).copy()


def test_the_heart_rate_line_is_every_normal_beat_once_in_two_joined_pieces(qtbot):
    trace = HeartRateTrace()
    qtbot.addWidget(trace)
    core, t = LiveCore(), 0.0
    settled = None
    for i in range(160):
        t += 0.8
        core.add_beat(t, 800.0 + 40.0 * math.sin(i / 2.0) + (300.0 if i % 37 == 0 else 0.0))
        trace.show_beats(core)
        a, b = trace.hr_curve.getData(), trace.hr_recent.getData()
        bt, rr, art = core.recent(65.0)
        ok = (bt <= core.state.t) & ~art
        if not ok.any():
            continue
        # The pieces join at one beat and together hold the judged normal beats shown; beats
        # settled earlier may linger, but only out of sight, over a minute back.
        assert a[0][-1] == b[0][0]
        line_t, line_y = np.concatenate((a[0], b[0][1:])), np.concatenate((a[1], b[1][1:]))
        n = int(ok.sum())
        np.testing.assert_array_equal(line_t[-n:], bt[ok])
        np.testing.assert_allclose(line_y[-n:], 60000.0 / rr[ok])
        assert np.all(line_t[:-n] < bt[-1] - 60.0)
        if settled is not None and a[0] is not settled:
            assert b[0].size == 1 and a[0][-1] - settled[-1] > 9.0  # settled anew, ~every 10 s
        settled = a[0]
    assert (core.recent(65.0)[2]).any()  # some beats were artifacts, left out above


def test_kept_pixels_show_the_same_picture_as_painting_afresh(qtbot):
    trace = HeartRateTrace()
    qtbot.addWidget(trace)
    trace.resize(900, 420)
    trace.show()
    pacer = Pacer(SHORT)
    trace.show_beats(_beating_core(90.0))
    for k in range(200):  # 3.3 s of frames: the trace moves by many pixels, a pixel at a time
        trace.show_time(pacer, 80.0 + k / 60)
        QtWidgets.QApplication.processEvents()
    kept = _pixels(trace.plot)
    for it in trace.plot.getPlotItem().getViewBox().addedItems + [
            trace.plot.getPlotItem().getAxis("left"), trace.plot.getPlotItem().getAxis("bottom")]:
        it.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.NoCache)
    fresh = _pixels(trace.plot)
    # The same pixels, but for rounding of translucent colours through the kept pixels.
    assert np.abs(kept.astype(int) - fresh.astype(int)).max() <= 1
    trace.show_time(pacer, 85.0)  # and the picture does move with time
    assert not np.array_equal(_pixels(trace.plot), fresh)


def test_pacer_repaints_what_it_keeps_when_the_words_or_size_change(qtbot):
    def pacer(stage: str, size=(400, 500)) -> PacerWidget:
        w = PacerWidget()
        qtbot.addWidget(w)
        w.resize(*size)
        w.set_state(0.5, "3", stage, "6.0 breaths/min")
        return w

    w = pacer("breathe in")
    before = _pixels(w)
    w.set_state(0.5, "3", "breathe out", "6.0 breaths/min")
    assert not np.array_equal(_pixels(w), before)
    assert np.array_equal(_pixels(w), _pixels(pacer("breathe out")))  # as a new one draws it
    w.resize(500, 600)
    assert np.array_equal(_pixels(w), _pixels(pacer("breathe out", (500, 600))))
    w.set_state(0.8, "2", "breathe out", "6.0 breaths/min")  # the circle grows on the kept rest
    fresh = pacer("breathe out", (500, 600))
    fresh.set_state(0.8, "2", "breathe out", "6.0 breaths/min")
    assert np.array_equal(_pixels(w), _pixels(fresh))


def test_summary_panel_floats_centred_until_dismissed(qtbot):
    area = QtWidgets.QWidget()
    qtbot.addWidget(area)
    area.resize(1000, 700)
    panel = SummaryPanel(area)
    area.show()
    assert panel.isHidden()
    panel.show_summary(SUMMARY, "stopped")
    assert not panel.isHidden() and panel.title_label.text() == "Session stopped"
    assert panel.text_label.text() == "\n".join(summary_lines(SUMMARY))
    assert panel.geometry().center().x() in (499, 500)
    panel.show_failure(RuntimeError())
    assert panel.title_label.text() == "Session failed"
    assert panel.text_label.text() == "RuntimeError"
    qtbot.mouseClick(panel.findChild(QtWidgets.QPushButton), QtCore.Qt.MouseButton.LeftButton)
    assert panel.isHidden()

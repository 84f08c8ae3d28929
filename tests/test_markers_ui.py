"""Markers in the window (the M key, the Mark button, presets on 1-9), on replay, in the summary,
and typed on standard input in the terminal."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import asyncio
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6 import QtCore

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.events import Marker
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener, SessionSummary
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.replay import ReplaySource
from biobreath.ui.formatting import MAX_MARKER_TEXT, summary_lines
from biobreath.ui.headless import HeadlessPrinter, StdinMarks
from biobreath.ui.markers import DEFAULT_PRESETS, MAX_PRESETS, load_presets
from biobreath.ui.window import TrainerWindow

SHORT = parse_protocol({"name": "short", "step": [
    {"label": "Coherence breathing", "seconds": 100, "inhale_s": 4, "exhale_s": 6}]})




def settings_in(tmp_path):
    return QtCore.QSettings(str(tmp_path / "window.ini"), QtCore.QSettings.Format.IniFormat)


def sim_sessions(record_to=None):
    def make(protocol):
        pacer = Pacer(protocol)
        listeners = [RecordingListener(record_to)] if record_to else []
        return Session(SimulatedStrap(SimParams(seed=5), pacer), ScaledClock(None), pacer,
                       listeners=listeners)
    return make


class At(SessionListener):
    """Runs each ``(t, action)`` once, at the first beat at or after ``t`` (s)."""

    def __init__(self, *plan):
        self.plan = sorted(plan, key=lambda p: p[0])

    def on_beat(self, device, verdict, state):
        while self.plan and state.t >= self.plan[0][0]:
            self.plan.pop(0)[1]()


def key(qtbot, win, k, text=""):
    qtbot.keyClick(win, k, QtCore.Qt.KeyboardModifier.NoModifier) if not text else \
        qtbot.keyClicks(win.marker_bar.field, text)


# -- presets -----------------------------------------------------------------------------------

def test_presets_default_custom_and_broken(tmp_path):
    assert load_presets(tmp_path / "none.toml") == (DEFAULT_PRESETS, "")
    good = tmp_path / "markers.toml"
    good.write_text('presets = ["panic described", " grounding "]\n', encoding="utf-8")
    assert load_presets(good) == (("panic described", "grounding"), "")
    for text in ('presets = "one"', "presets = [1, 2]", "presets = []", 'presets = [""]',
                 "presets = [" + ", ".join(['"a"'] * 10) + "]", "this is [not toml",
                 f'presets = ["{"x" * (MAX_MARKER_TEXT + 1)}"]'):
        good.write_text(text, encoding="utf-8")
        presets, warning = load_presets(good)
        assert presets == DEFAULT_PRESETS
        assert str(good) in warning and "default markers" in warning and "\n" not in warning


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_presets_file_gives_presets_and_at_most_one_warning(tmp_path, raw):
    path = tmp_path / "markers.toml"
    path.write_bytes(raw)
    presets, warning = load_presets(path)
    assert 1 <= len(presets) <= MAX_PRESETS
    assert all(isinstance(p, str) and p and p.isprintable() for p in presets)
    assert "\n" not in warning
    assert (presets == DEFAULT_PRESETS) or not warning


# -- the window --------------------------------------------------------------------------------

def test_marker_key_note_escape_presets_and_button(qtbot, loop, tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    (tmp_path / "markers.toml").write_text('presets = ["first preset", "second preset"]\n',
                                           encoding="utf-8")
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False, settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()
    win.start()
    field = win.marker_bar.field

    def note():
        key(qtbot, win, QtCore.Qt.Key.Key_M)
        assert win.marker_bar.asking and field.hasFocus()
        qtbot.keyClicks(field, "client described panic 2")  # a digit here is text, no preset
        assert win.session.markers == [] and not win.session._marks  # typing does not mark yet
        qtbot.keyClick(field, QtCore.Qt.Key.Key_Return)
        assert not win.marker_bar.asking

    def bare():
        key(qtbot, win, QtCore.Qt.Key.Key_M)
        qtbot.keyClicks(field, "half a no")
        qtbot.keyClick(field, QtCore.Qt.Key.Key_Escape)  # the marker, without the note

    def presets():
        key(qtbot, win, QtCore.Qt.Key.Key_2)
        key(qtbot, win, QtCore.Qt.Key.Key_9)  # no ninth preset: nothing

    def button():
        qtbot.mouseClick(win.marker_bar.button, QtCore.Qt.MouseButton.LeftButton)
        qtbot.keyClick(field, QtCore.Qt.Key.Key_Return)

    win.session.listeners.append(At((20.0, note), (40.0, bare), (60.0, presets), (80.0, button)))
    loop.run_until_complete(win.task)
    markers = win.summary.markers
    assert [m.text for m in markers] == ["client described panic 2", "", "second preset", ""]
    for m, t in zip(markers, (20.0, 40.0, 60.0, 80.0)):
        # Marked when M was pressed (not when the note was confirmed), on the window's session
        # clock (which at full speed runs ahead of the beats handled by up to the session's
        # queue of events: a few seconds).
        assert t <= m.t < t + 10.0
    # Drawn on the coherence history (minutes) and kept by the trace, listed in the summary.
    lines = [line.value() for _, line in win.history_panel._markers]
    assert lines == pytest.approx([m.t / 60 for m in markers])
    assert win.heart_trace.markers == list(markers)
    text = win.summary_panel.text_label.text()
    assert "client described panic 2" in text and "second preset" in text
    assert text.count("marker ") == 4


def test_trace_shows_the_markers_of_the_last_minute_at_their_place(qtbot, loop, tmp_path):
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False, settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.show()
    win.start()
    win.session.listeners.append(At((10.0, lambda: win.session.mark("early")),
                                    (90.0, lambda: win.session.mark("late"))))
    loop.run_until_complete(win.task)
    (early, e_line), (late, l_line) = win.heart_trace._markers
    t = win.session.t
    # "early" is over a minute back: hidden; "late" sits at its seconds-from-now.
    assert not e_line.isVisible() and l_line.isVisible()
    assert l_line.value() == pytest.approx(late.t - t)
    assert l_line.label.toPlainText() == "late"


def test_a_note_with_braces_is_drawn_as_typed_on_the_moving_trace(qtbot):
    """pyqtgraph formats a line's label at each move; a note is text, not a format string."""
    from biobreath.ui.panels import HeartRateTrace

    trace = HeartRateTrace()
    qtbot.addWidget(trace)
    trace.show()
    note = "said {nothing} }{"
    trace.show_markers([Marker(50.0, note)])
    pacer = Pacer(SHORT)
    for t in (55.0, 58.0, 60.0):  # each frame moves the line
        trace.show_time(pacer, t)
    (_, line), = trace._markers
    assert line.isVisible() and line.value() == -10.0
    assert line.label.toPlainText() == note


def test_trace_marker_texts_close_together_never_cover_each_other(qtbot):
    """Marks a few seconds apart on the moving trace: each text is shortened to the room up to
    the next line at its height, and the texts stay apart as the trace moves (they overlapped)."""
    from biobreath.ui.panels import HeartRateTrace, short

    trace = HeartRateTrace()
    qtbot.addWidget(trace)
    trace.resize(700, 300)
    trace.show()
    notes = ["client says chest feels tight", "slower breathing", "talked about work stress",
             "shoulders dropped, calmer", "eyes open", "a sigh"]
    trace.show_markers([Marker(100.0 + 3.0 * k, n) for k, n in enumerate(notes)])
    pacer = Pacer(SHORT)
    view = trace.plot.getPlotItem().getViewBox()
    for t in (118.0, 130.0, 150.0):  # the lines move together, the texts with them
        trace.show_time(pacer, t)
        qtbot.wait(10)
        boxes = []
        for _, line in trace._markers:
            label = line.label
            if line.isVisible() and label.isVisible():
                text, note = label.toPlainText(), short(line.marker_text)
                assert text == note or (text.endswith("…") and note.startswith(text[:-1]))
                box = view.mapSceneToView(label.mapToScene(label.boundingRect())).boundingRect()
                boxes.append((label.orthoPos, box.left(), box.right()))
        assert len(boxes) == len(notes)
        for i, (height, left, right) in enumerate(boxes):
            for other_height, other_left, other_right in boxes[i + 1:]:
                if other_height == height:
                    assert right <= other_left + 0.3 or other_right <= left + 0.3
    # The last text at each height has the room it needs: whole.
    (*_, (_, last)) = trace._markers
    assert last.label.toPlainText() == "a sigh"


_NOTES = ["client says chest feels tight", "slower breathing started", "talked about work stress",
          "shoulders dropped, calmer", "end of exercise, eyes open"]


@pytest.mark.parametrize("times, notes", [
    ((40.0, 95.0, 150.0, 230.0, 290.0), _NOTES),
    # More, two at the same moment: a crowded history still keeps every text apart.
    (tuple(float(t) for t in np.random.default_rng(3).integers(0, 320, 11)) + (100.0, 100.0),
     [f"note {k} " + "x" * (3 * k % 17) for k in range(13)]),
], ids=["five", "crowded"])
def test_history_marker_texts_fit_their_room_and_never_cover_each_other(qtbot, times, notes):
    """In a narrow history (the spectrum open) long notes close together are shortened to the
    room up to the next line at their height; none runs past another's text or the plot."""
    from biobreath.ui.panels import CoherenceHistoryPanel, short

    panel = CoherenceHistoryPanel()
    qtbot.addWidget(panel)
    panel.resize(330, 200)
    panel.show()
    panel.set_span(320.0)
    panel.show_markers(sorted((Marker(t, n) for t, n in zip(times, notes)), key=lambda m: m.t))
    qtbot.wait(10)
    view = panel.plot.getPlotItem().getViewBox()
    boxes = []
    x0, x1 = panel.plot.getPlotItem().viewRange()[0]
    slack = 0.01 * (x1 - x0)
    # The level names ("high", ...) at the left say what the bands mean: texts running left
    # stop short of them.
    names = max(view.mapSceneToView(text.sceneBoundingRect()).boundingRect().right()
                for _, text, _ in panel._bands.values())
    for _, line in panel._markers:
        label = line.label
        if label.isVisible():
            text = label.toPlainText()
            note = short(line.marker_text)
            assert text == note or (text.endswith("…") and note.startswith(text[:-1]))
            box = view.mapSceneToView(label.mapToScene(label.boundingRect())).boundingRect()
            boxes.append((label.orthoPos, box.left(), box.right()))
            if line.value() > (x0 + x1) / 2:
                assert box.left() >= names - slack
    assert len(boxes) >= 3  # most keep a text
    for i, (height, left, right) in enumerate(boxes):
        assert x0 - slack <= left and right <= x1 + slack
        for other_height, other_left, other_right in boxes[i + 1:]:
            if other_height == height:
                assert right <= other_left + slack or other_right <= left + slack
    if notes != _NOTES:
        return
    # Wider, the same notes have room to be whole.
    panel.resize(1200, 200)
    qtbot.wait(10)
    assert [line.label.toPlainText() for _, line in panel._markers] == [short(n) for n in notes]


def test_a_history_text_running_left_stops_short_of_the_level_names(qtbot):
    """A note just right of the middle of a narrow history runs left, over the level names
    ("high", ...) it used to cover; it is shortened to end before them."""
    from biobreath.ui.panels import CoherenceHistoryPanel

    panel = CoherenceHistoryPanel()
    qtbot.addWidget(panel)
    panel.resize(330, 200)
    panel.show()
    panel.set_span(320.0)
    panel.show_markers([Marker(175.0, "client says chest feels tight")])
    qtbot.wait(10)
    view = panel.plot.getPlotItem().getViewBox()
    (_, line), = panel._markers
    label = line.label
    names = max(view.mapSceneToView(text.sceneBoundingRect()).boundingRect().right()
                for _, text, _ in panel._bands.values())
    box = view.mapSceneToView(label.mapToScene(label.boundingRect())).boundingRect()
    x0, x1 = panel.plot.getPlotItem().viewRange()[0]
    assert label.isVisible() and label.toPlainText().endswith("…")
    assert names - 0.01 * (x1 - x0) <= box.left() < line.value()  # the others' slack


def test_presentation_mode_marks_at_once_without_a_note(qtbot, loop, tmp_path):
    win = TrainerWindow(sim_sessions(), SHORT, autostart=False, settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.show()
    win.start()
    win.set_presenting(True)

    def mark():
        key(qtbot, win, QtCore.Qt.Key.Key_M)
        assert not win.marker_bar.asking  # the client faces the screen: no note field

    win.session.listeners.append(At((30.0, mark)))
    loop.run_until_complete(win.task)
    assert [m.text for m in win.summary.markers] == [""]


def test_markers_come_back_on_replay(qtbot, loop, tmp_path):
    path = tmp_path / "s.sqlite"
    live = TrainerWindow(sim_sessions(path), SHORT, autostart=False,
                         settings=settings_in(tmp_path))
    qtbot.addWidget(live)
    live.show()
    live.start()
    live.session.listeners.append(At((25.0, lambda: live.session.mark("grounding started")),
                                     (70.0, lambda: live.session.mark("calm noticed"))))
    loop.run_until_complete(live.task)
    recorded = live.summary.markers
    with sqlite3.connect(path) as db:  # independent of our reader: the rows themselves
        rows = db.execute("SELECT t_s FROM events WHERE kind = 'marker' ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == pytest.approx([m.t for m in recorded])

    data = read_session(path)

    def replay(protocol):
        pacer = Pacer(protocol)
        return Session(ReplaySource(data), ScaledClock(None), pacer,
                       duration_s=data.planned_duration_s)

    win = TrainerWindow(replay, data.protocol(), autostart=False, settings=settings_in(tmp_path))
    qtbot.addWidget(win)
    win.show()
    win.start()
    loop.run_until_complete(win.task)
    assert win.summary.markers == recorded
    assert [m.text for m, _ in win.history_panel._markers] == ["grounding started",
                                                              "calm noticed"]


# -- the terminal ------------------------------------------------------------------------------

def test_summary_lines_list_markers_safely():
    s = SessionSummary(90.0, 100, 0, 60.0, 40.0, 70.0, 80.0, 8.0, 0, "",
                       markers=(Marker(12.0, "calm\x1b[2J noticed"), Marker(75.5, "")))
    lines = summary_lines(s)
    assert "marker 0:12  calm\\x1b[2J noticed" in lines
    assert "marker 1:15  (no note)" in lines


def test_the_end_summary_lists_a_few_markers_and_counts_the_rest(qtbot):
    """Twenty-five marks made the end-of-session panel taller than the window (its title and
    last lines cut off); it lists five and counts the rest, the terminal lists them all."""
    from PySide6 import QtWidgets

    from biobreath.ui.panels import SUMMARY_MARKERS, SummaryPanel

    marks = tuple(Marker(10.0 * k + 5, f"note {k} " + "with some words " * 4) for k in range(25))
    s = SessionSummary(320.0, 352, 0, 66.7, 46.3, 75.0, 83.0, 14.9, 0, "/tmp/x.sqlite",
                       markers=marks)
    lines = summary_lines(s, max_markers=SUMMARY_MARKERS)
    listed = [line for line in lines if line.startswith("marker ")]
    assert listed == [f"marker 0:{10 * k + 5:02d}  {marks[k].text}"
                      for k in range(SUMMARY_MARKERS - 1)]
    assert f"and {25 - SUMMARY_MARKERS + 1} more markers (the recording keeps them all)" in lines
    assert sum(line.startswith("marker ") for line in summary_lines(s)) == 25
    area = QtWidgets.QWidget()
    qtbot.addWidget(area)
    area.resize(1280, 800)
    area.show()
    panel = SummaryPanel(area)
    panel.show_summary(s, "complete", "Your heart rate rose as you breathed in. " * 4)
    qtbot.wait(10)
    # The whole panel fits: what it needs is what it got, inside the window.
    assert panel.sizeHint().height() <= panel.height() <= area.height() - 40
    assert panel.sizeHint().width() <= panel.width() <= area.width() - 40


class FakeSession:
    """Counts marks; ``enough`` is set after ``n`` of them."""

    def __init__(self, n):
        self.marks, self.n = [], n
        self.enough = asyncio.Event()

    def mark(self, text):
        self.marks.append(text)
        if len(self.marks) >= self.n:
            self.enough.set()


def test_each_line_on_standard_input_is_a_marker():
    async def main():
        r, w = os.pipe()
        fake = FakeSession(4)
        marks = StdinMarks(r)
        marks.on_start(fake)
        os.write(w, b"grounding started\n\n  calm " + b"\xff noticed\nno newline at")
        os.write(w, b" the end")
        os.close(w)  # end of input: the reader stops, nothing else happens
        await asyncio.wait_for(fake.enough.wait(), 30)
        return fake.marks

    marks = asyncio.run(main())
    assert marks == ["grounding started", "", "calm \ufffd noticed", "no newline at the end"]


def test_unreadable_standard_input_gives_no_markers():
    async def main():
        fake = FakeSession(1)
        marks = StdinMarks(-1)  # not a descriptor: the reader ends at once
        marks.on_start(fake)
        marks.on_stop(0.0)
        await asyncio.sleep(0)
        return fake.marks
    assert asyncio.run(main()) == []


def test_headless_printer_prints_markers_as_they_come():
    import io
    out = io.StringIO()
    HeadlessPrinter(out).on_event(Marker(61.0, "panic described"))
    assert out.getvalue() == "# marker 1:01  panic described\n"


def run_cli(args, tmp_path, **kw):
    env = dict(os.environ, BIOBREATH_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "biobreath", *args], capture_output=True,
                          text=True, env=env, timeout=300, **kw)


def test_headless_markers_typed_on_stdin_through_the_cli(tmp_path):
    out = tmp_path / "s.sqlite"
    # A clock 30 times real time: 90 s of session take 3 s, time enough for the piped lines.
    p = run_cli(["train", "--source", "sim", "--headless", "--speed", "30", "--duration", "90",
                 "--out", str(out)], tmp_path, input="client described panic\ncalm noticed\n")
    assert p.returncode == 0, p.stderr
    assert "# marker" in p.stdout and "client described panic" in p.stdout
    summary = [line for line in p.stdout.splitlines() if line.startswith("# marker ")]
    assert len(summary) == 4  # printed as they came, then listed in the summary
    assert "# session 1:30" in p.stdout  # the end of input did not end the session
    assert "nervous system" in p.stdout or "too short" in p.stdout or "wave" in p.stdout
    with sqlite3.connect(out) as db:
        values = [r[0] for r in db.execute(
            "SELECT value FROM events WHERE kind = 'marker' ORDER BY seq")]
    assert len(values) == 2 and "client described panic" in values[0]


def test_headless_with_closed_stdin_runs_the_whole_session(tmp_path):
    p = run_cli(["train", "--source", "sim", "--headless", "--speed", "max", "--duration", "60",
                 "--out", str(tmp_path / "s.sqlite")], tmp_path, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    assert "# session 1:00" in p.stdout and "# marker" not in p.stdout

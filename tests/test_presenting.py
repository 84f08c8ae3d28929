"""The therapist's room: presentation mode and text that grows with the window, themes and the
colour-blind-safe levels, remembered looks, the help overlays, the spectrum panel, hover texts
and the plain reading of a session."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import json
import subprocess
import sys

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.clock import ScaledClock
from biobreath.core.coherence import CoherenceParams
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.session import Session
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.ui import theme
from biobreath.ui.formatting import mean_phase, plain_reading
from biobreath.ui.help import SHORTCUTS
from biobreath.ui.spectrum_panel import BANDS
from biobreath.ui.window import TrainerWindow

SHORT = parse_protocol({"name": "short", "step": [
    {"label": "Coherence breathing", "seconds": 100, "inhale_s": 4, "exhale_s": 6}]})


@pytest.fixture(autouse=True)
def dark_theme_after():
    yield
    theme.use(theme.DARK)  # a test that switched themes leaves the next one in the default


def settings_in(tmp_path):
    return QtCore.QSettings(str(tmp_path / "window.ini"), QtCore.QSettings.Format.IniFormat)


def sim_sessions(protocol):
    pacer = Pacer(protocol)
    return Session(SimulatedStrap(SimParams(seed=4), pacer), ScaledClock(None), pacer)


def window(qtbot, tmp_path, **kw):
    win = TrainerWindow(sim_sessions, SHORT, autostart=False, settings=settings_in(tmp_path), **kw)
    qtbot.addWidget(win)
    win.show()
    win.activateWindow()  # keys are the window's shortcuts: they need it active
    qtbot.waitUntil(win.isActiveWindow)
    return win


def press(qtbot, win, key):
    qtbot.keyClick(win, key)
    QtWidgets.QApplication.processEvents()


# Screens of three sizes for Qt's offscreen platform: presentation mode takes a whole screen, so
# these tests run the window in a process of its own that has them.
SCREENS = {"synchronousWindowSystemEvents": True, "windowFrameMargins": False, "screens": [
    {"name": name, "x": x, "y": 0, "width": w, "height": h, "logicalDpi": 96, "dpr": 1}
    for name, x, w, h in (("laptop", 0, 1280, 800), ("tv", 1280, 1920, 1080),
                          ("uhd", 3200, 3840, 2160))]}

DRIVER = r"""
import asyncio, json, sys
import qasync
from PySide6 import QtCore, QtGui, QtWidgets
from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.session import Session
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.ui.window import TrainerWindow

app = QtWidgets.QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)
SHORT = parse_protocol({"name": "short", "step": [{"seconds": 80, "inhale_s": 4, "exhale_s": 6}]})

def make(protocol):
    pacer = Pacer(protocol)
    return Session(SimulatedStrap(SimParams(seed=4), pacer), ScaledClock(None), pacer)

def window():
    settings = QtCore.QSettings(sys.argv[1], QtCore.QSettings.Format.IniFormat)
    win = TrainerWindow(make, SHORT, autostart=False, settings=settings)
    win.show()
    return win

def px(lab):
    return QtGui.QFontInfo(lab.font()).pixelSize()

def ink(widget, background):
    img = widget.grab().toImage()
    bg = QtGui.QColor(background)
    def far(c):
        return abs(c.red() - bg.red()) + abs(c.green() - bg.green()) + abs(c.blue() - bg.blue())
    return sum(any(far(img.pixelColor(x, y)) > 120 for x in range(0, img.width(), 2))
               for y in range(img.height()))

out = {"present": []}
win = window()
win.start()
loop.run_until_complete(win.task)
win.summary_panel.hide()
for i, screen in enumerate(app.screens()):
    win.set_presenting(True, i)
    app.processEvents()
    score = win.score_panel.score_label
    out["present"].append({
        "screen": [screen.geometry().x(), screen.geometry().width(), screen.geometry().height()],
        "window": [win.geometry().x(), win.width(), win.height()],
        "score_px": px(score), "score_metrics": QtGui.QFontMetrics(score.font()).height(),
        "score_label_h": score.height(), "score_ink": ink(score, "#141c25"),
        "score_text": score.text(), "hr_px": px(win.heart_trace.hr_label),
        "stage_px": win.pacer_panel.circle.stage_px,
        "circle_h": win.pacer_panel.circle.height(),
        "hidden": [w.isHidden() for w in (win.chooser, win.start_button, win.stop_button,
                                          win.marker_bar, win.spectrum_button,
                                          win.statusBar())]})
    win.set_presenting(False)
    app.processEvents()
win.resize(1150, 760)
win.move(40, 20)
app.processEvents()
before = win.geometry().getRect()
win.toggle_presenting()
app.processEvents()
out["toggled"] = [win.presenting, win.isFullScreen()]
win._escape()
app.processEvents()
out["restored"] = [before, win.geometry().getRect(), win.start_button.isHidden()]
win.resize(1180, 720)
app.processEvents()
win.close()
again = window()
app.processEvents()
out["remembered"] = [again.width(), again.height(), again.screen().name()]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def screens_run(tmp_path_factory):
    """The driver's measurements, run once with the three screens."""
    tmp = tmp_path_factory.mktemp("screens")
    config = tmp / "screens.json"
    config.write_text(json.dumps(SCREENS), encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}",
               BIOBREATH_DATA_DIR=str(tmp / "data"))
    p = subprocess.run([sys.executable, "-c", DRIVER, str(tmp / "window.ini")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.splitlines()[-1])


@pytest.mark.parametrize("screen", [0, 1, 2])
def test_presentation_fills_the_screen_readable_from_across_the_room(screens_run, screen):
    m = screens_run["present"][screen]
    x, w, h = m["screen"]
    assert m["window"] == [x, w, h]  # full screen, on the screen asked for
    assert m["score_text"].isdigit()
    assert m["score_px"] >= 0.10 * h and m["score_metrics"] >= 0.10 * h
    # Drawn that large: the digits' ink alone (no descent) is most of the font's size, and the
    # label shows the whole line.
    assert m["score_ink"] >= 0.07 * h and m["score_label_h"] >= m["score_metrics"]
    assert m["hr_px"] >= 0.06 * h
    assert m["stage_px"] >= min(0.05 * h, 0.15 * m["circle_h"])
    assert all(m["hidden"])  # the controls


def test_leaving_presentation_restores_the_window_and_its_look_is_remembered(screens_run):
    assert screens_run["toggled"] == [True, True]
    before, after, controls_hidden = screens_run["restored"]
    assert after == before and not controls_hidden
    assert screens_run["remembered"] == [1180, 720, "laptop"]


def test_text_grows_when_the_normal_window_is_maximised(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    sizes = []
    for w, h in ((1280, 800), (1920, 1080)):
        win.resize(w, h)
        QtWidgets.QApplication.processEvents()
        sizes.append({lab: QtGui.QFontInfo(lab.font()).pixelSize()
                      for lab in (win.heart_trace.hr_label, win.heart_trace.rmssd_label,
                                  win.score_panel.level_label, win.time_label,
                                  win.strap_panel.name_label)})
        assert QtGui.QFontInfo(win.score_panel.score_label.font()).pixelSize() >= 0.10 * h
    for lab, small in sizes[0].items():
        assert sizes[1][lab] >= small * 1.25, lab.text()
    assert win.strap_panel.width() >= 290 * 1.3


def run_cli(args, tmp_path, platform):
    env = dict(os.environ, BIOBREATH_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM=platform)
    return subprocess.run([sys.executable, "-m", "biobreath", *args], capture_output=True,
                          text=True, env=env, timeout=300)


def test_present_on_the_second_screen_from_the_command_line(tmp_path):
    config = tmp_path / "screens.json"
    config.write_text(json.dumps(SCREENS), encoding="utf-8")
    platform = f"offscreen:configfile={config}"
    png = tmp_path / "present.png"
    p = run_cli(["train", "--source", "sim", "--speed", "max", "--duration", "70", "--present",
                 "--screen", "1", "--screenshot", str(png), "--out", str(tmp_path / "s.sqlite")],
                tmp_path, platform)
    assert p.returncode == 0, p.stderr
    img = QtGui.QImage(str(png))
    assert (img.width(), img.height()) == (1920, 1080)  # the whole second screen

    bad = run_cli(["train", "--source", "sim", "--speed", "max", "--duration", "70",
                   "--screen", "3", "--screenshot", str(tmp_path / "x.png")], tmp_path, platform)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "3 screens" in bad.stderr
    headless = run_cli(["train", "--headless", "--present"], tmp_path, platform)
    assert headless.returncode == 1 and "--headless" in headless.stderr
    assert "Traceback" not in headless.stderr


# -- themes, palette, remembered look ----------------------------------------------------------

def test_theme_key_switches_everything_and_is_remembered(qtbot, loop, tmp_path):
    win = window(qtbot, tmp_path)
    win.start()
    loop.run_until_complete(win.task)
    win.summary_panel.hide()
    press(qtbot, win, QtCore.Qt.Key.Key_T)
    QtWidgets.QApplication.processEvents()
    assert theme.current() is theme.LIGHT
    img = win.grab().toImage()
    colours = {img.pixelColor(x, y).name() for x in range(0, img.width(), 3)
               for y in range(0, img.height(), 3)}
    assert {theme.LIGHT.bg, theme.LIGHT.panel, theme.LIGHT.hr} <= colours
    assert not {theme.DARK.bg, theme.DARK.panel, theme.DARK.hr} & colours
    level = win.score_panel.level_label.text().split()[1]
    assert theme.LIGHT.level[level] in win.score_panel.score_label.styleSheet()
    win.close()

    again = window(qtbot, tmp_path)
    assert theme.current() is theme.LIGHT  # remembered
    press(qtbot, again, QtCore.Qt.Key.Key_T)
    assert theme.current() is theme.DARK
    again.close()
    assert settings_in(tmp_path).value("theme") == "dark"


def test_a_broken_settings_file_opens_the_default_look(qtbot, tmp_path):
    (tmp_path / "window.ini").write_bytes(b"[General]\ntheme=purple\ngeometry=\xff\xfe\n")
    win = window(qtbot, tmp_path)
    assert theme.current() is theme.DARK and not win.spectrum_panel.isVisible()


def linear_rgb(hex_colour: str) -> np.ndarray:
    c = QtGui.QColor(hex_colour)
    srgb = np.array([c.redF(), c.greenF(), c.blueF()])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


# Machado, Oliveira & Fernandes (2009), severity 1, on linear RGB.
DEUTERANOPIA = np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                         [-0.011820, 0.042940, 0.968881]])
PROTANOPIA = np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                       [-0.003882, -0.048116, 1.051998]])


@pytest.mark.parametrize("palette", [theme.DARK, theme.LIGHT])
def test_levels_are_told_apart_without_red_green_vision(palette):
    levels = [linear_rgb(c) for c in (palette.low, palette.medium, palette.high)]
    for deficiency in (DEUTERANOPIA, PROTANOPIA):
        seen = [np.clip(deficiency @ c, 0, 1) for c in levels]
        for i in range(3):
            for j in range(i + 1, 3):
                assert np.abs(seen[i] - seen[j]).sum() > 0.25, (palette.name, i, j)
    # Neighbouring levels also differ in lightness, for no colour vision at all.
    lum = [float(c @ [0.2126, 0.7152, 0.0722]) for c in levels]
    assert abs(lum[0] - lum[1]) > 0.05 and abs(lum[1] - lum[2]) > 0.05
    assert len({theme.LEVEL_MARK[k] for k in ("low", "medium", "high")}) == 3


# -- help, what am I seeing, hover texts -------------------------------------------------------

def test_help_overlay_lists_every_shortcut_and_closes(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    press(qtbot, win, QtCore.Qt.Key.Key_F1)
    assert win.overlay.isVisible() and win.overlay.kind == "help"
    text = win.overlay.text_label.text()
    for key, what in SHORTCUTS:
        assert f"<b>{key}</b>" in text and what in text
    # Every key the window answers is listed (digits under "1 – 9").
    listed = {k for key, _ in SHORTCUTS for k in key.split(" or ")}
    keys = {s.key().toString() for s in win.findChildren(QtGui.QShortcut)}
    assert {str(n) for n in range(1, 10)} <= keys and "1 – 9" in listed
    assert {k for k in keys if not k.isdigit()} == listed - {"1 – 9"}
    press(qtbot, win, QtCore.Qt.Key.Key_Escape)
    assert win.overlay.isHidden()
    qtbot.keyClick(win, "?")
    assert win.overlay.kind == "help" and win.overlay.isVisible()
    press(qtbot, win, QtCore.Qt.Key.Key_W)
    assert win.overlay.kind == "what" and "nervous system" in win.overlay.text_label.text()
    press(qtbot, win, QtCore.Qt.Key.Key_W)
    assert win.overlay.isHidden()


def test_every_figure_has_a_hover_text(qtbot, tmp_path):
    win = window(qtbot, tmp_path)
    figures = (win.heart_trace.hr_label, win.heart_trace.rmssd_label,
               win.score_panel.score_label, win.score_panel.level_label,
               win.score_panel.peak_label, win.strap_panel.battery_label,
               win.strap_panel.artifact_label, win.time_label, win.pacer_panel.circle,
               win.history_panel.plot, win.heart_trace.plot, win.spectrum_panel.plot)
    for w in figures:
        assert len(w.toolTip()) > 20


# -- the spectrum ------------------------------------------------------------------------------

def test_spectrum_panel_shows_the_scored_spectrum_with_bands_and_peak(qtbot, loop, tmp_path):
    win = window(qtbot, tmp_path)
    assert win.spectrum_panel.isHidden()
    press(qtbot, win, QtCore.Qt.Key.Key_S)
    assert win.spectrum_panel.isVisible() and win.spectrum_button.isChecked()
    win.start()
    loop.run_until_complete(win.task)
    result = win._news.coherence
    freq, psd = win.spectrum_panel.spectrum
    x, y = win.spectrum_panel.curve.getData()
    assert np.array_equal(x, freq) and np.array_equal(y, psd) and freq[-1] <= 0.4 + 1e-9
    # Independent reading of the drawn spectrum: power within ±0.015 Hz of the peak over power
    # in 0.0033-0.4 Hz, the bins as rectangles, is the score shown.
    p = CoherenceParams()
    df = freq[1] - freq[0]

    def power(lo, hi):
        overlap = np.clip(np.minimum(hi, freq + df / 2) - np.maximum(lo, freq - df / 2), 0, None)
        return float(np.sum(psd * overlap))

    peak = power(result.peak_hz - 0.015, result.peak_hz + 0.015)
    assert 100 * peak / power(*p.total_band_hz) == pytest.approx(result.score, abs=0.5)
    assert freq[np.argmax(psd)] == pytest.approx(result.peak_hz, abs=df)
    lo, hi = win.spectrum_panel.peak_region.getRegion()
    assert (lo, hi) == pytest.approx((result.peak_hz - 0.015, result.peak_hz + 0.015))
    assert win.spectrum_panel.peak_region.isVisible()
    assert [r.getRegion() for r, _, _ in win.spectrum_panel._bands] == [
        pytest.approx((lo_, hi_)) for _, lo_, hi_ in BANDS]
    assert f"{result.score:.0f} %" in win.spectrum_panel.note_label.text()
    qtbot.mouseClick(win.spectrum_button, QtCore.Qt.MouseButton.LeftButton)
    assert win.spectrum_panel.isHidden()


# -- the plain reading -------------------------------------------------------------------------

def test_plain_reading_follows_the_figures():
    assert "rose as you breathed in and fell as you breathed out" in plain_reading(12, 10, 75)
    assert "smooth and regular" in plain_reading(12, 10, 75)
    assert "fairly regular" in plain_reading(12, 10, 50)
    assert "irregular" in plain_reading(12, 10, 20)
    assert "changed little" in plain_reading(2, 10, 75)
    assert "against it" in plain_reading(10, 170, 40)
    assert "out of step" in plain_reading(10, -90, 40)
    assert "rose and fell by about 10 bpm" in plain_reading(10, float("nan"), 40)
    assert "too short" in plain_reading(float("nan"), 0, float("nan"))
    for text in (plain_reading(12, 10, 75), plain_reading(2, 170, 10)):
        assert "\n" not in text and text.count(".") >= 2


def test_mean_phase_is_circular():
    assert mean_phase([170.0, -170.0]) == pytest.approx(180.0, abs=1e-9) or \
        mean_phase([170.0, -170.0]) == pytest.approx(-180.0, abs=1e-9)
    assert mean_phase([10.0, -30.0, float("nan")]) == pytest.approx(-10.0, abs=0.5)
    assert np.isnan(mean_phase([float("nan")]))


def test_the_summary_reads_the_session_plainly(qtbot, loop, tmp_path):
    win = window(qtbot, tmp_path)
    win.start()
    loop.run_until_complete(win.task)
    s = win.summary
    expected = plain_reading(s.mean_swing_bpm, mean_phase(win._news.phases), s.coherence_mean)
    assert win.summary_panel.reading_label.text() == expected and win.summary_panel.isVisible()
    assert "bpm" in expected

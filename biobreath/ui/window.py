"""The trainer window: pacer, heart rate over the breathing curve, coherence and strap status.

The window only reads what the session publishes (through a small listener that marks what
changed) and redraws on a frame timer. A frame does bounded work: the time-based plot items live
in session time and are shifted under a fixed "seconds from now" axis by moving them (``setPos``),
so their data is rebuilt only when new beats arrived or the pre-computed stretch of pacer curve
runs out, never the whole history every frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import qasync
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import (
    LOW_MEDIUM_SCORE,
    MEDIUM_HIGH_SCORE,
    CoherenceResult,
    score_level,
)
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.core.pacer import Pacer, Stage
from biobreath.core.protocol import BreathingProtocol
from biobreath.core.respiration import BreathingEstimate
from biobreath.errors import ProtocolError
from biobreath.events import LinkState, SignalQuality
from biobreath.files.protocols import available_protocols, load_protocol
from biobreath.session import Session, SessionListener, SessionSummary, StrapStatus
from biobreath.ui.headless import clock_text, summary_lines

log = logging.getLogger(__name__)

PAST_S = 60.0
"""Seconds of heart rate shown behind "now" in the trace."""
AHEAD_S = 10.0
"""Seconds of pacer curve shown ahead of "now", so the next breath can be anticipated."""
CURVE_STEP_S = 0.1
"""Sampling step (s) of the drawn pacer curve."""
CURVE_CHUNK_S = 40.0
"""How far ahead (s) each pre-computed stretch of pacer curve reaches beyond the visible window."""
GAP_S = 3.0
"""A heart-rate line is broken where beats are further apart than this (s): a lost link."""

# One calm dark palette; every colour has one meaning everywhere.
BG = "#0d1319"
PANEL = "#141c25"
EDGE = "#243140"
TEXT = "#dbe3ec"
MUTED = "#8593a5"
FAINT = "#4a5868"
BREATH = "#4cbcc8"   # the pacer: circle, breathing curve
HR = "#ff8fa3"       # heart rate
MEASURED = "#e9f1f7"  # the breathing the strap measures (Polar H10 accelerometer)
ARTIFACT = "#ffd166"
LEVEL = {"low": "#e8765c", "medium": "#e9c46a", "high": "#6fcf97"}
LINK = {LinkState.CONNECTING: MUTED, LinkState.CONNECTED: LEVEL["high"],
        LinkState.LOST: LEVEL["low"], LinkState.RECONNECTED: LEVEL["medium"],
        LinkState.CLOSED: MUTED}
QUALITY = {SignalQuality.GOOD: ("signal good", LEVEL["high"]),
           SignalQuality.NOISY: ("signal noisy", LEVEL["medium"]),
           SignalQuality.NO_CONTACT: ("no signal", LEVEL["low"]),
           SignalQuality.UNKNOWN: ("waiting for beats", MUTED)}

STYLE = f"""
QMainWindow, QWidget#central {{ background: {BG}; }}
QLabel {{ color: {TEXT}; }}
QFrame#panel {{ background: {PANEL}; border: 1px solid {EDGE}; border-radius: 14px; }}
QFrame#summary {{ background: rgba(13, 19, 25, 238); border: 2px solid {BREATH};
                 border-radius: 18px; }}
QPushButton {{ background: #1c2733; color: {TEXT}; border: 1px solid {EDGE}; border-radius: 9px;
              padding: 7px 22px; font-size: 15pt; }}
QPushButton:hover {{ background: #243242; }}
QPushButton:disabled {{ color: {FAINT}; background: #161e27; }}
QPushButton#start:enabled {{ background: #1d5a5f; border-color: #2f8790; }}
QComboBox {{ background: #1c2733; color: {TEXT}; border: 1px solid {EDGE}; border-radius: 9px;
            padding: 6px 12px; font-size: 14pt; min-width: 11em; }}
QComboBox QAbstractItemView {{ background: {PANEL}; color: {TEXT};
                               selection-background-color: #24414a; }}
QProgressBar {{ background: #1a232d; border: none; border-radius: 3px; }}
QProgressBar::chunk {{ background: {BREATH}; border-radius: 3px; }}
QStatusBar {{ color: {MUTED}; font-size: 12pt; }}
"""


def _font(pt: float, weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal) -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPointSizeF(pt)
    f.setWeight(weight)
    return f


def _label(text: str = "", pt: float = 14, colour: str = TEXT,
           weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal) -> QtWidgets.QLabel:
    lab = QtWidgets.QLabel(text)
    lab.setFont(_font(pt, weight))
    lab.setStyleSheet(f"color: {colour}; background: transparent; border: none;")
    return lab


def _panel() -> QtWidgets.QFrame:
    f = QtWidgets.QFrame()
    f.setObjectName("panel")
    return f


def _style_plot(plot: pg.PlotWidget) -> pg.PlotItem:
    """A static plot: no mouse interaction, no menus, no auto-range, themed axes."""
    plot.setBackground(PANEL)
    item = plot.getPlotItem()
    item.hideButtons()
    item.setMenuEnabled(False)
    item.setMouseEnabled(x=False, y=False)
    item.disableAutoRange()
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen(FAINT))
        ax.setTextPen(pg.mkPen(MUTED))
        ax.setStyle(tickFont=_font(11), tickLength=-6)
    return item


def _mix(a: str, b: str, share: float) -> QtGui.QColor:
    """The opaque colour ``share`` of the way from ``b`` to ``a`` (as ``a`` drawn over ``b``)."""
    ca, cb = QtGui.QColor(a), QtGui.QColor(b)
    return QtGui.QColor(*(round(share * x + (1 - share) * y)
                          for x, y in zip(ca.getRgb()[:3], cb.getRgb()[:3])))


def _unbroken(t: np.ndarray) -> np.ndarray:
    """pyqtgraph ``connect`` flags for beat times ``t`` (s): no line across a gap over GAP_S."""
    connect = np.ones(t.size, dtype=np.int32)
    connect[:-1] = np.diff(t) <= GAP_S
    return connect


def _set_text(label: QtWidgets.QLabel, text: str) -> None:
    """Set a label's text only when it changed (a change can re-layout the window)."""
    if label.text() != text:
        label.setText(text)


class PacerWidget(QtWidgets.QWidget):
    """A breathing circle that grows on the in-breath and shrinks on the out-breath.

    Inside: the seconds left in the current stage; below: the instruction and the pace.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 300)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._state: tuple[float | None, str, str, str] = (0.0, "", "", "")

    def set_state(self, volume: float, count: str, stage: str, detail: str) -> None:
        """Show lung ``volume`` 0-1 (NaN: no pacing), and the texts; repaint only on change."""
        state = (round(volume, 4) if math.isfinite(volume) else None, count, stage, detail)
        if state != self._state:
            self._state = state
            self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        p = QtGui.QPainter(self)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QtGui.QColor(PANEL))
        w, h = self.width(), self.height()
        stage_px = max(18, min(int(h * 0.075), int(w * 0.11)))
        detail_px = max(13, int(stage_px * 0.5))
        text_h = int(stage_px * 1.5 + detail_px * 1.6)
        cy = (h - text_h) / 2 + 6
        r_max = max(20.0, min(w * 0.45, (h - text_h) / 2 - 12))
        r_min = r_max * 0.32
        centre = QtCore.QPointF(w / 2, cy)
        breath = QtGui.QColor(BREATH)

        guide = QtGui.QColor(breath)
        guide.setAlpha(70)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.setPen(QtGui.QPen(guide, 2))
        p.drawEllipse(centre, r_max, r_max)
        p.setPen(QtGui.QPen(guide, 1.5, QtCore.Qt.PenStyle.DashLine))
        p.drawEllipse(centre, r_min, r_min)

        volume, count, stage, detail = self._state
        if volume is not None:
            r = r_min + volume * (r_max - r_min)
            grad = QtGui.QRadialGradient(centre, r)
            inner, outer = QtGui.QColor(breath), QtGui.QColor(breath)
            inner.setAlpha(235)
            outer.setAlpha(120)
            grad.setColorAt(0.0, inner.lighter(125))
            grad.setColorAt(1.0, outer)
            p.setPen(QtGui.QPen(breath.lighter(130), 2.5))
            p.setBrush(QtGui.QBrush(grad))
            p.drawEllipse(centre, r, r)

        if count:
            f = QtGui.QFont(self.font())
            f.setPixelSize(max(14, int(r_min * 0.95)))
            f.setWeight(QtGui.QFont.Weight.DemiBold)
            p.setFont(f)
            p.setPen(QtGui.QColor("#0b1a1f" if volume is not None else TEXT))
            box = QtCore.QRectF(centre.x() - r_min, centre.y() - r_min, 2 * r_min, 2 * r_min)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, count)

        f = QtGui.QFont(self.font())
        f.setPixelSize(stage_px)
        f.setWeight(QtGui.QFont.Weight.DemiBold)
        p.setFont(f)
        p.setPen(QtGui.QColor(TEXT))
        top = h - text_h
        p.drawText(QtCore.QRectF(0, top, w, stage_px * 1.5),
                   QtCore.Qt.AlignmentFlag.AlignCenter, stage)
        f.setPixelSize(detail_px)
        f.setWeight(QtGui.QFont.Weight.Normal)
        p.setFont(f)
        p.setPen(QtGui.QColor(MUTED))
        p.drawText(QtCore.QRectF(0, top + stage_px * 1.5, w, detail_px * 1.6),
                   QtCore.Qt.AlignmentFlag.AlignCenter, detail)
        p.end()


class _Relay(SessionListener):
    """Passes one session's news to the window; news from an older session is dropped."""

    def __init__(self, window: TrainerWindow, session: Session) -> None:
        self.window = window
        self.session = session

    def _current(self) -> bool:
        return self.window.session is self.session

    def on_beat(self, device: str, verdict: BeatVerdict, state: LiveState) -> None:
        if self._current() and device == self.session.primary:
            self.window._hr_dirty = True

    def on_coherence(self, device: str, result: CoherenceResult) -> None:
        if self._current() and device == self.session.primary:
            self.window._on_coherence(result)

    def on_status(self, status: StrapStatus) -> None:
        if self._current():
            self.window._on_status(status)

    def on_breathing(self, device: str, estimate: BreathingEstimate) -> None:
        if self._current() and device == self.session.primary:
            self.window._breathing = estimate
            self.window._breathing_dirty = True

    def on_end(self, summary: SessionSummary) -> None:
        if self._current():
            self.window.summary = summary


class TrainerWindow(QtWidgets.QMainWindow):
    """The biofeedback trainer.

    ``make_session(protocol)`` builds a ready :class:`Session` (source, clock, recorder);
    ``autostart`` starts one as soon as the event loop runs; with ``screenshot`` the window is
    saved to that PNG when the session ends and the application quits; ``fps`` is the frame rate
    of the pacer and trace (frames/s, default 60). Needs a running qasync event loop.
    """

    def __init__(self, make_session: Callable[[BreathingProtocol], Session],
                 protocol: BreathingProtocol, *, autostart: bool = True,
                 screenshot: Path | None = None, fps: int = 60) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        super().__init__()
        self.make_session = make_session
        self.protocol = protocol
        self.screenshot = Path(screenshot) if screenshot is not None else None
        self.session: Session | None = None
        self.task: asyncio.Task | None = None
        self.summary: SessionSummary | None = None
        self.error: BaseException | None = None
        self._close_when_stopped = False
        self._running = False
        self._hr_dirty = False
        self._coh_dirty = False
        self._status_dirty = False
        self._breathing: BreathingEstimate | None = None
        self._breathing_dirty = False
        self._coh_t: list[float] = []
        self._coh_score: list[float] = []
        self._coh_last: CoherenceResult | None = None
        self._status: StrapStatus | None = None
        self._hr_range = (50.0, 90.0)
        self._curve_pacer: Pacer | None = None
        self._curve_end = -math.inf
        self._progress_key = -1

        self.setWindowTitle("biobreath")
        self.setStyleSheet(STYLE)
        self.resize(1280, 800)
        self.setMinimumSize(1100, 700)
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(1, round(1000 / fps)))
        self._timer.timeout.connect(self.update_frame)
        self._show_idle()
        if autostart:
            QtCore.QTimer.singleShot(0, self.start)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        central = QtWidgets.QWidget()
        central.setObjectName("central")
        self.setCentralWidget(central)
        root = QtWidgets.QVBoxLayout(central)
        root.setContentsMargins(18, 14, 18, 10)
        root.setSpacing(12)

        header = QtWidgets.QHBoxLayout()
        header.setSpacing(12)
        header.addWidget(_label("biobreath", 20, BREATH, QtGui.QFont.Weight.DemiBold))
        header.addSpacing(14)
        self.chooser = QtWidgets.QComboBox()
        self.chooser.setToolTip("Breathing protocol for the next session")
        self._fill_chooser()
        self.chooser.currentIndexChanged.connect(self._choose_protocol)
        header.addWidget(self.chooser)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setObjectName("start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        header.addWidget(self.start_button)
        header.addWidget(self.stop_button)
        header.addStretch(1)
        self.time_label = _label("0:00 / 0:00", 20, TEXT, QtGui.QFont.Weight.DemiBold)
        header.addWidget(self.time_label)
        root.addLayout(header)

        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        root.addWidget(self.progress)

        middle = QtWidgets.QHBoxLayout()
        middle.setSpacing(12)
        middle.addWidget(self._build_trace(), 5)
        pacer_panel = _panel()
        lay = QtWidgets.QVBoxLayout(pacer_panel)
        lay.setContentsMargins(10, 12, 10, 10)
        self.step_label = _label("", 15, MUTED, QtGui.QFont.Weight.DemiBold)
        self.step_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.step_label.setWordWrap(True)
        lay.addWidget(self.step_label)
        self.pacer_view = PacerWidget()
        lay.addWidget(self.pacer_view, 1)
        middle.addWidget(pacer_panel, 2)
        root.addLayout(middle, 5)

        bottom = QtWidgets.QHBoxLayout()
        bottom.setSpacing(12)
        bottom.addWidget(self._build_score(), 0)
        bottom.addWidget(self._build_history(), 1)
        bottom.addWidget(self._build_status(), 0)
        root.addLayout(bottom, 2)

        self.statusBar().setSizeGripEnabled(False)
        self.summary_panel = self._build_summary(central)

    def _build_trace(self) -> QtWidgets.QWidget:
        panel = _panel()
        lay = QtWidgets.QVBoxLayout(panel)
        lay.setContentsMargins(14, 10, 14, 8)
        lay.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        self.hr_label = _label("Heart rate  –", 17, HR, QtGui.QFont.Weight.DemiBold)
        top.addWidget(self.hr_label)
        top.addSpacing(16)
        self.rmssd_label = _label("", 14, MUTED)
        top.addWidget(self.rmssd_label)
        top.addStretch(1)
        self.legend_label = _label(self._legend(measured=False), 12, MUTED)
        top.addWidget(self.legend_label)
        lay.addLayout(top)

        self.trace = pg.PlotWidget()
        item = _style_plot(self.trace)
        item.setLabel("left", "bpm", **{"color": MUTED, "font-size": "11pt"})
        item.setLabel("bottom", "seconds from now", **{"color": MUTED, "font-size": "11pt"})
        item.showGrid(x=False, y=True, alpha=0.12)
        item.setXRange(-PAST_S, AHEAD_S, padding=0)
        item.getAxis("bottom").setTicks([[(float(x), f"{x:+d}" if x else "now")
                                          for x in range(-int(PAST_S), int(AHEAD_S) + 1, 10)]])
        ahead = pg.LinearRegionItem((0.0, AHEAD_S), movable=False,
                                    brush=pg.mkBrush(255, 255, 255, 10), pen=pg.mkPen(None))
        ahead.setZValue(-20)
        item.addItem(ahead)
        now_pen = pg.mkPen(MUTED, width=1.5, style=QtCore.Qt.PenStyle.DashLine)
        item.addItem(pg.InfiniteLine(0.0, angle=90, pen=now_pen))
        fill = QtGui.QColor(BREATH)
        fill.setAlpha(60)
        # Opaque pens drawn as separate segments, and a fill without antialiasing: Qt strokes a
        # long translucent antialiased polyline several times slower, and these are repainted
        # every frame.
        self.breath_fill = pg.PlotCurveItem(pen=None, brush=pg.mkBrush(fill),
                                            fillLevel=self._hr_range[0], antialias=False)
        self.breath_fill.setZValue(-11)
        self.breath_curve = pg.PlotCurveItem(pen=pg.mkPen(_mix(BREATH, PANEL, 0.7), width=2),
                                             antialias=True)
        self.breath_curve.setZValue(-10)
        self.hr_curve = pg.PlotCurveItem(pen=pg.mkPen(HR, width=3.5), antialias=True)
        self.hr_curve.setZValue(10)
        self.hr_tail = pg.PlotCurveItem(pen=pg.mkPen(_mix(HR, PANEL, 0.5), width=2.5),
                                        antialias=True)
        self.hr_tail.setZValue(9)
        for curve in (self.breath_curve, self.hr_curve):
            curve.setSegmentedLineMode("on")
        # The breathing the strap measures, on the pacer's scale (Polar H10 accelerometer).
        self.measured_curve = pg.PlotCurveItem(pen=pg.mkPen(MEASURED, width=2), antialias=True)
        self.measured_curve.setZValue(5)
        self.artifact_marks = pg.ScatterPlotItem(symbol="x", size=13, brush=pg.mkBrush(ARTIFACT),
                                                 pen=pg.mkPen(ARTIFACT, width=2.5))
        self.artifact_marks.setZValue(20)
        self._moving = (self.breath_fill, self.breath_curve, self.measured_curve, self.hr_curve,
                        self.hr_tail, self.artifact_marks)
        for it in self._moving:
            item.addItem(it)
        self._set_hr_range(*self._hr_range)
        lay.addWidget(self.trace, 1)
        return panel

    @staticmethod
    def _legend(*, measured: bool) -> str:
        gap = "&nbsp;" * 3
        return (f"<span style='color:{HR}'>━━</span> heart rate{gap}"
                f"<span style='color:{BREATH}'>██</span> pacer{gap}"
                + (f"<span style='color:{MEASURED}'>━━</span> your breathing{gap}"
                   if measured else "")
                + f"<span style='color:{ARTIFACT}'>✕</span> artifact")

    def _build_score(self) -> QtWidgets.QWidget:
        panel = _panel()
        panel.setFixedWidth(260)
        lay = QtWidgets.QVBoxLayout(panel)
        lay.setContentsMargins(20, 12, 20, 12)
        lay.setSpacing(0)
        lay.addWidget(_label("COHERENCE", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.score_label = _label("–", 54, MUTED, QtGui.QFont.Weight.Bold)
        self.level_label = _label("needs a minute of beats", 13, MUTED)
        self.peak_label = _label("", 12, MUTED)
        lay.addWidget(self.score_label)
        lay.addWidget(self.level_label)
        lay.addWidget(self.peak_label)
        lay.addStretch(1)
        return panel

    def _build_history(self) -> QtWidgets.QWidget:
        panel = _panel()
        lay = QtWidgets.QVBoxLayout(panel)
        lay.setContentsMargins(14, 8, 14, 6)
        lay.setSpacing(0)
        lay.addWidget(_label("Coherence over the session", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.history = pg.PlotWidget()
        item = _style_plot(self.history)
        item.setLabel("bottom", "minutes", **{"color": MUTED, "font-size": "10pt"})
        # Short sessions span under a minute: keep the axis in minutes, not "minutes (x0.001)".
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.setYRange(-2, 106, padding=0)
        item.getAxis("left").setTicks([[(0.0, "0"), (LOW_MEDIUM_SCORE, f"{LOW_MEDIUM_SCORE:.0f}"),
                                        (MEDIUM_HIGH_SCORE, f"{MEDIUM_HIGH_SCORE:.0f}"),
                                        (100.0, "100")]])
        for level, (lo, hi) in (("low", (0.0, LOW_MEDIUM_SCORE)),
                                ("medium", (LOW_MEDIUM_SCORE, MEDIUM_HIGH_SCORE)),
                                ("high", (MEDIUM_HIGH_SCORE, 100.0))):
            c = QtGui.QColor(LEVEL[level])
            c.setAlpha(34)
            band = pg.LinearRegionItem((lo, hi), orientation="horizontal", movable=False,
                                       brush=pg.mkBrush(c), pen=pg.mkPen(None))
            band.setZValue(-10)
            item.addItem(band)
            text = pg.TextItem(level, color=LEVEL[level], anchor=(0, 0.5))
            text.setFont(_font(10))
            text.setPos(0.0, (lo + hi) / 2)
            item.addItem(text)
        self.history_curve = pg.PlotCurveItem(pen=pg.mkPen(TEXT, width=2.5), antialias=True)
        self.history_last = pg.ScatterPlotItem(size=11, pen=pg.mkPen(None))
        item.addItem(self.history_curve)
        item.addItem(self.history_last)
        lay.addWidget(self.history, 1)
        return panel

    def _build_status(self) -> QtWidgets.QWidget:
        panel = _panel()
        panel.setFixedWidth(290)
        lay = QtWidgets.QVBoxLayout(panel)
        lay.setContentsMargins(20, 12, 20, 12)
        lay.setSpacing(4)
        lay.addWidget(_label("STRAP", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.strap_name = _label("no strap yet", 14, TEXT, QtGui.QFont.Weight.DemiBold)
        self.link_label = _label("", 13)
        self.battery_label = _label("", 13)
        self.contact_label = _label("", 13)
        self.quality_label = _label("", 13)
        self.artifact_label = _label("", 13, MUTED)
        for lab in (self.strap_name, self.link_label, self.battery_label, self.contact_label,
                    self.quality_label, self.artifact_label):
            lay.addWidget(lab)
        lay.addStretch(1)
        return panel

    def _build_summary(self, parent: QtWidgets.QWidget) -> QtWidgets.QFrame:
        panel = QtWidgets.QFrame(parent)
        panel.setObjectName("summary")
        lay = QtWidgets.QVBoxLayout(panel)
        lay.setContentsMargins(36, 26, 36, 26)
        lay.setSpacing(10)
        self.summary_title = _label("Session complete", 24, BREATH, QtGui.QFont.Weight.DemiBold)
        self.summary_text = _label("", 15)
        self.summary_text.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        hint = _label("Choose a protocol and press Start for another session.", 12, MUTED)
        for w in (self.summary_title, self.summary_text, hint):
            lay.addWidget(w)
        dismiss = QtWidgets.QPushButton("Close summary")
        dismiss.clicked.connect(panel.hide)
        lay.addWidget(dismiss, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        panel.hide()
        return panel

    def _fill_chooser(self) -> None:
        names = available_protocols()
        for name, path in names.items():
            self.chooser.addItem(name, str(path))
        idx = next((i for i, (name, path) in enumerate(names.items())
                    if str(path) == self.protocol.source), -1)
        if idx < 0:
            # A protocol from elsewhere (a file the user gave) is offered as it is.
            self.chooser.insertItem(0, self.protocol.name, self.protocol)
            idx = 0
        self.chooser.setCurrentIndex(idx)

    # -- control ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the session's run has returned."""
        return self._running

    def start(self) -> None:
        """Build a session for the chosen protocol and run it on the event loop."""
        if self.running:
            return
        try:
            session = self.make_session(self.protocol)
        except Exception as e:  # a strap that cannot be opened is shown, not a crash
            log.exception("cannot start a session")
            self.error = e
            self.statusBar().showMessage(f"cannot start: {e}")
            if self.screenshot is not None:
                QtCore.QTimer.singleShot(0, self._save_and_quit)
            return
        session.listeners.append(_Relay(self, session))
        self.session = session
        self.summary = None
        self.error = None
        self._status = None
        self._coh_t.clear()
        self._coh_score.clear()
        self._coh_last = None
        self._hr_dirty = self._coh_dirty = self._status_dirty = True
        self._breathing = None
        self._breathing_dirty = False
        self.measured_curve.setData([], [])
        _set_text(self.legend_label, self._legend(measured=False))
        self._curve_pacer = None
        self._set_hr_range(50.0, 90.0)
        self.hr_curve.setData([], [])
        self.hr_tail.setData([], [])
        self.artifact_marks.setData([], [])
        _set_text(self.hr_label, "Heart rate  –")
        _set_text(self.rmssd_label, "")
        _set_text(self.artifact_label, "")
        self.summary_panel.hide()
        self.history.getPlotItem().setXRange(0, max(session.duration_s, 1.0) / 60, padding=0.01)
        self.statusBar().clearMessage()
        self._running = True
        self.task = asyncio.ensure_future(self._run(session))
        self._update_buttons()
        self._timer.start()

    def stop(self) -> None:
        """End the running session early (it closes its source and recording)."""
        if self.running and self.session is not None:
            self.session.stop()
            self.stop_button.setEnabled(False)

    async def _run(self, session: Session) -> None:
        try:
            await session.run()
        except Exception as e:  # the shell reports a failed session instead of dying with it
            log.exception("session failed")
            self.error = e
        finally:
            self._finished(session)

    def _finished(self, session: Session) -> None:
        if session is not self.session:
            return
        self._running = False
        self._timer.stop()
        self.update_frame()
        self._show_summary()
        self._update_buttons()
        if self._close_when_stopped:
            self.close()
        elif self.screenshot is not None:
            # Let the summary panel lay out before the window is grabbed.
            QtCore.QTimer.singleShot(0, self._save_and_quit)

    def _save_and_quit(self) -> None:
        try:
            self.save_screenshot(self.screenshot)
        except OSError as e:  # still quit: nobody is watching a screenshot run
            log.error("%s", e)
            self.error = self.error or e
        finally:
            QtWidgets.QApplication.quit()

    def save_screenshot(self, path: Path) -> None:
        """Save the window as it looks now to ``path`` (PNG)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)

    def _choose_protocol(self, index: int) -> None:
        data = self.chooser.itemData(index)
        try:
            self.protocol = data if isinstance(data, BreathingProtocol) else load_protocol(data)
        except ProtocolError as e:
            self.statusBar().showMessage(str(e))
            return
        if self.running:
            self.statusBar().showMessage(f"“{self.protocol.name}” will be used at the next start",
                                         6000)
        elif self.summary is None:
            self._show_idle()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        # Closing stops the session first, so the source and the recording are closed cleanly;
        # a second close while it is stopping does not wait.
        if self.running and not self._close_when_stopped:
            self._close_when_stopped = True
            self.stop()
            event.ignore()
            return
        self._timer.stop()
        super().closeEvent(event)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_summary()

    # -- session news ------------------------------------------------------------------------

    def _on_coherence(self, result: CoherenceResult) -> None:
        if math.isfinite(result.score):
            self._coh_t.append(result.t / 60)
            self._coh_score.append(result.score)
            self._coh_last = result
            self._coh_dirty = True

    def _on_status(self, status: StrapStatus) -> None:
        # Several straps can feed a session; the status line follows the primary one.
        if self.session is not None and self.session.primary in (None, status.device):
            self._status = status
            self._status_dirty = True

    # -- drawing ----------------------------------------------------------------------------

    def _now(self) -> float:
        s = self.session
        if s is None:
            return 0.0
        # A clock running as fast as it can is ahead of the beats handled (by up to the
        # session's queue): there the session's own time is "now".
        t = s.t if not self.running or s.clock.speed is None else max(s.t, s.clock.now())
        return min(max(t, 0.0), s.duration_s)

    def update_frame(self) -> None:
        """Draw one frame: pacer, time, shifted trace; data only where news arrived."""
        s = self.session
        if s is None:
            return
        t = self._now()
        pacer = s.pacer
        self._draw_pacer(pacer, t, done=not self.running)
        _set_text(self.time_label, f"{clock_text(t)} / {clock_text(s.duration_s)}")
        key = int(1000 * t / s.duration_s) if s.duration_s > 0 else 0
        if key != self._progress_key:
            self._progress_key = key
            self.progress.setValue(key)
        if self._hr_dirty:
            self._hr_dirty = False
            self._draw_hr()
        if self._curve_pacer is not pacer or t + AHEAD_S > self._curve_end - 1.0:
            self._draw_breath_curve(pacer, t)
            self._breathing_dirty = self._breathing is not None
        if self._breathing_dirty:
            self._breathing_dirty = False
            self._draw_measured_breathing()
        for it in self._moving:
            it.setPos(-t, 0.0)
        if self._coh_dirty:
            self._coh_dirty = False
            self._draw_coherence()
        if self._status_dirty:
            self._status_dirty = False
            self._draw_status()

    def _draw_pacer(self, pacer: Pacer, t: float, *, done: bool) -> None:
        st = pacer.state(t)
        rate = f"{st.rate_bpm:.1f} breaths/min" if st.rate_bpm else "no pacer"
        _set_text(self.step_label, st.label)
        if done:
            self.pacer_view.set_state(0.0, "", f"session {self._ending()}", "")
        elif st.stage is Stage.FREE:
            self.pacer_view.set_state(math.nan, "", st.stage.value, "breathe at your own pace")
        else:
            est = self._breathing
            if est is not None and est.t >= t - 5.0:
                rate += f"  ·  you {est.rate_bpm:.1f}/min"
                if est.following is not None:
                    rate += f", following {est.following.score:.0f}"
            self.pacer_view.set_state(st.volume, f"{math.ceil(st.stage_left_s - 1e-6)}",
                                      st.stage.value.strip(), rate)

    def _breath_level(self, vol: np.ndarray) -> np.ndarray:
        """Lung volume 0-1 on the bpm axis: the pacer's curve fills the lower 90 % of it."""
        lo, hi = self._hr_range
        return lo + (0.04 + 0.86 * vol) * (hi - lo)

    def _draw_measured_breathing(self) -> None:
        est = self._breathing
        self.measured_curve.setData(est.trace_t, self._breath_level(np.clip(est.trace, -0.05, 1.05)))
        _set_text(self.legend_label, self._legend(measured=True))

    def _draw_breath_curve(self, pacer: Pacer, t: float) -> None:
        """Pre-compute the pacer curve (session time) for the view and ``CURVE_CHUNK_S`` beyond."""
        t0 = t - PAST_S - 1.0
        times = np.arange(t0, t + AHEAD_S + CURVE_CHUNK_S, CURVE_STEP_S)
        vol = pacer.volume(np.clip(times, 0.0, None))
        # Free breathing has no target: there the curve drops out of sight below the axis.
        y = self._breath_level(np.where(np.isfinite(vol) & (times >= 0), vol, -0.28))
        lo = self._hr_range[0]
        self.breath_curve.setData(times, y)
        self.breath_fill.setData(times, y)
        self.breath_fill.setFillLevel(lo)
        self._curve_pacer = pacer
        self._curve_end = float(times[-1])

    def _draw_hr(self) -> None:
        core = self.session.primary_core if self.session else None
        if core is None:
            return
        bt, rr, art = core.recent(PAST_S + 5.0)
        hr = 60000.0 / rr
        state = core.state
        # The newest beats wait two beats for their artifact verdict: until then they are drawn
        # as a faint tail, so an ectopic beat does not flash up as a bold spike or stretch the axis.
        judged = bt <= state.t
        ok = judged & ~art
        x, y = bt[ok], hr[ok]
        self.hr_curve.setData(x, y, connect=_unbroken(x))
        if x.size:
            self._fit_hr_range(y)
        tx = np.concatenate((x[-1:], bt[~judged]))
        ty = np.concatenate((y[-1:], hr[~judged]))
        self.hr_tail.setData(tx, ty, connect=_unbroken(tx))
        lo, hi = self._hr_range
        self.artifact_marks.setData(bt[art], np.clip(hr[art], lo + 0.03 * (hi - lo),
                                                     hi - 0.03 * (hi - lo)))
        if math.isfinite(state.hr_bpm):
            _set_text(self.hr_label, f"Heart rate  {state.hr_bpm:.0f} bpm")
        rm = f"RMSSD {state.rmssd_ms:.0f} ms" if math.isfinite(state.rmssd_ms) else "RMSSD –"
        _set_text(self.rmssd_label, rm)
        _set_text(self.artifact_label, f"artifacts {state.n_artifacts} of {state.n_beats} beats")

    def _fit_hr_range(self, hr: np.ndarray) -> None:
        """Fit the bpm axis to the shown beats, in steps of 5 bpm and at least 20 bpm tall."""
        lo = math.floor((float(hr.min()) - 2.0) / 5.0) * 5.0
        hi = math.ceil((float(hr.max()) + 2.0) / 5.0) * 5.0
        if hi - lo < 20.0:
            pad = math.ceil((20.0 - (hi - lo)) / 10.0) * 5.0
            lo, hi = lo - pad, hi + pad
        if (lo, hi) != self._hr_range:
            self._set_hr_range(lo, hi)

    def _set_hr_range(self, lo: float, hi: float) -> None:
        self._hr_range = (lo, hi)
        item = self.trace.getPlotItem()
        item.setYRange(lo, hi, padding=0)
        step = 5.0 if hi - lo <= 40.0 else 10.0
        item.getAxis("left").setTickSpacing(step, step)
        self._curve_pacer = None  # the pacer curve is scaled to the bpm axis: redraw it

    def _draw_coherence(self) -> None:
        r = self._coh_last
        if r is None:
            _set_text(self.score_label, "–")
            self.score_label.setStyleSheet(f"color: {MUTED}; background: transparent;")
            _set_text(self.level_label, "needs a minute of beats")
            _set_text(self.peak_label, "")
            self.history_curve.setData([], [])
            self.history_last.setData([], [])
            return
        level = score_level(r.score)
        colour = LEVEL[level]
        _set_text(self.score_label, f"{r.score:.0f}")
        self.score_label.setStyleSheet(f"color: {colour}; background: transparent;")
        _set_text(self.level_label, f"{level} coherence")
        self.level_label.setStyleSheet(f"color: {colour}; background: transparent;")
        _set_text(self.peak_label, f"heart rhythm at {60 * r.peak_hz:.1f} /min")
        self.history_curve.setData(self._coh_t, self._coh_score)
        self.history_last.setData([self._coh_t[-1]], [self._coh_score[-1]],
                                  brush=pg.mkBrush(colour))

    def _draw_status(self) -> None:
        st = self._status
        if st is None:
            _set_text(self.strap_name, "no strap yet")
            for lab in (self.link_label, self.battery_label, self.contact_label,
                        self.quality_label):
                _set_text(lab, "")
            return
        dot = "●"
        _set_text(self.strap_name, st.name or st.device or "strap")
        _set_text(self.link_label, f"<span style='color:{LINK[st.link]}'>{dot}</span> "
                                   f"{st.link.value}")
        if st.battery_pct is None:
            bat = f"<span style='color:{MUTED}'>{dot}</span> battery –"
        else:
            c = LEVEL["low"] if st.battery_pct <= 15 else LEVEL["high"]
            bat = f"<span style='color:{c}'>{dot}</span> battery {st.battery_pct} %"
        _set_text(self.battery_label, bat)
        contact = {True: ("skin contact", LEVEL["high"]), False: ("no skin contact", LEVEL["low"]),
                   None: ("contact not reported", MUTED)}[st.contact]
        _set_text(self.contact_label, f"<span style='color:{contact[1]}'>{dot}</span> {contact[0]}")
        q, c = QUALITY[st.quality]
        _set_text(self.quality_label, f"<span style='color:{c}'>{dot}</span> {q}")

    def _show_idle(self) -> None:
        """Before the first session: preview the chosen protocol's pacer."""
        pacer = Pacer(self.protocol)
        st = pacer.state(0.0)
        rate = f"{st.rate_bpm:.1f} breaths/min" if st.rate_bpm else "no pacer"
        _set_text(self.step_label, st.label)
        _set_text(self.time_label, f"0:00 / {clock_text(pacer.duration_s)}")
        self.progress.setValue(0)
        self.pacer_view.set_state(0.0, "", "ready", f"{rate}  ·  press Start")
        self.history.getPlotItem().setXRange(0, max(pacer.duration_s, 1.0) / 60, padding=0.01)
        self._draw_breath_curve(pacer, 0.0)
        for it in self._moving:
            it.setPos(0.0, 0.0)
        self._update_buttons()

    def _ending(self) -> str:
        """How the last session ended: "complete", "stopped" or "failed"."""
        if self.error is not None or self.summary is None or self.session is None:
            return "failed"
        # The session stops at the first event at or past its end, so allow a beat's slack.
        return "complete" if self.summary.duration_s >= self.session.duration_s - 2.0 else "stopped"

    def _show_summary(self) -> None:
        if self.error is not None:
            self.summary_title.setText("Session failed")
            self.summary_text.setText(str(self.error) or type(self.error).__name__)
        elif self.summary is not None:
            self.summary_title.setText(f"Session {self._ending()}")
            self.summary_text.setText("\n".join(summary_lines(self.summary)))
        else:
            return
        self.summary_panel.show()
        self.summary_panel.raise_()
        self._place_summary()

    def _place_summary(self) -> None:
        """Centre the summary over the trace and pacer row."""
        panel = self.summary_panel
        if panel.isHidden():
            return
        central = self.centralWidget()
        panel.adjustSize()
        size = panel.sizeHint().boundedTo(central.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(QtCore.QPoint(central.width() // 2, int(central.height() * 0.4)))
        panel.setGeometry(rect)


def run_window(make_session: Callable[[BreathingProtocol], Session], protocol: BreathingProtocol,
               *, screenshot: Path | None = None, fps: int = 60) -> int:
    """Show the trainer on a qasync event loop until it is closed; 1 if the session failed."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = TrainerWindow(make_session, protocol, screenshot=screenshot, fps=fps)
    window.show()
    with loop:
        loop.run_forever()
    return 1 if window.error is not None else 0

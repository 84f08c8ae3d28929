"""The trainer window's panels: the heart-rate trace over the pacer's breathing curve, the pacer,
the coherence score and its history, the strap's status and the end-of-session summary.

Each panel draws only what it is handed through its methods; none reads the session itself.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import (
    LOW_MEDIUM_SCORE,
    MEDIUM_HIGH_SCORE,
    CoherenceResult,
    score_level,
)
from biobreath.core.live import LiveCore, LiveState
from biobreath.core.pacer import Pacer, PacerState, Stage
from biobreath.core.respiration import BreathingEstimate
from biobreath.events import SignalQuality
from biobreath.session import SessionSummary, StrapStatus
from biobreath.ui.formatting import summary_lines
from biobreath.ui.theme import (
    ARTIFACT,
    BREATH,
    HR,
    LEVEL,
    LINK,
    MEASURED,
    MUTED,
    PANEL,
    TEXT,
    Panel,
    font,
    label,
    mix,
    set_text,
    style_plot,
)

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
HR_RANGE = (50.0, 90.0)
"""The bpm axis (low, high) before the first beats."""

QUALITY = {SignalQuality.GOOD: ("signal good", LEVEL["high"]),
           SignalQuality.NOISY: ("signal noisy", LEVEL["medium"]),
           SignalQuality.NO_CONTACT: ("no signal", LEVEL["low"]),
           SignalQuality.UNKNOWN: ("waiting for beats", MUTED)}


def _unbroken(t: np.ndarray) -> np.ndarray:
    """pyqtgraph ``connect`` flags for beat times ``t`` (s): no line across a gap over GAP_S."""
    connect = np.ones(t.size, dtype=np.int32)
    connect[:-1] = np.diff(t) <= GAP_S
    return connect


def _legend(*, measured: bool) -> str:
    gap = "&nbsp;" * 3
    return (f"<span style='color:{HR}'>━━</span> heart rate{gap}"
            f"<span style='color:{BREATH}'>██</span> pacer{gap}"
            + (f"<span style='color:{MEASURED}'>━━</span> your breathing{gap}"
               if measured else "")
            + f"<span style='color:{ARTIFACT}'>✕</span> artifact")


class HeartRateTrace(Panel):
    """Heart rate over the pacer's breathing curve (and the breathing the strap measures), on a
    fixed "seconds from now" axis.

    The plot items live in session time and are shifted under the axis (``setPos``), so their
    data is rebuilt only when beats or breathing arrived or the pre-computed stretch of pacer
    curve runs out, never the whole history every frame.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._hr_range = HR_RANGE
        self._curve_pacer: Pacer | None = None
        self._curve_end = -math.inf
        self._breathing: BreathingEstimate | None = None
        self._breathing_new = False

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 8)
        lay.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        self.hr_label = label("Heart rate  –", 17, HR, QtGui.QFont.Weight.DemiBold)
        top.addWidget(self.hr_label)
        top.addSpacing(16)
        self.rmssd_label = label("", 14, MUTED)
        top.addWidget(self.rmssd_label)
        top.addStretch(1)
        self.legend_label = label(_legend(measured=False), 12, MUTED)
        top.addWidget(self.legend_label)
        lay.addLayout(top)

        self.plot = pg.PlotWidget()
        item = style_plot(self.plot)
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
        self.breath_curve = pg.PlotCurveItem(pen=pg.mkPen(mix(BREATH, PANEL, 0.7), width=2),
                                             antialias=True)
        self.breath_curve.setZValue(-10)
        self.hr_curve = pg.PlotCurveItem(pen=pg.mkPen(HR, width=3.5), antialias=True)
        self.hr_curve.setZValue(10)
        self.hr_tail = pg.PlotCurveItem(pen=pg.mkPen(mix(HR, PANEL, 0.5), width=2.5),
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
        lay.addWidget(self.plot, 1)

    @property
    def hr_range(self) -> tuple[float, float]:
        """The bpm axis (low, high); the pacer's curve is scaled to it."""
        return self._hr_range

    def reset(self) -> None:
        """Empty the trace for a new session."""
        self._breathing = None
        self._breathing_new = False
        self.measured_curve.setData([], [])
        set_text(self.legend_label, _legend(measured=False))
        self._curve_pacer = None
        self._set_hr_range(*HR_RANGE)
        self.hr_curve.setData([], [])
        self.hr_tail.setData([], [])
        self.artifact_marks.setData([], [])
        set_text(self.hr_label, "Heart rate  –")
        set_text(self.rmssd_label, "")

    def show_beats(self, core: LiveCore) -> None:
        """Redraw the heart rate of the last ``PAST_S`` of ``core``'s beats, and its numbers."""
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
            set_text(self.hr_label, f"Heart rate  {state.hr_bpm:.0f} bpm")
        rm = f"RMSSD {state.rmssd_ms:.0f} ms" if math.isfinite(state.rmssd_ms) else "RMSSD –"
        set_text(self.rmssd_label, rm)

    def show_breathing(self, estimate: BreathingEstimate) -> None:
        """Take the strap's newest breathing; it is drawn by the next :meth:`show_time`."""
        self._breathing = estimate
        self._breathing_new = True

    def show_time(self, pacer: Pacer, t: float) -> None:
        """Shift the trace so session time ``t`` (s) is "now", rebuilding only what is stale."""
        if self._curve_pacer is not pacer or t + AHEAD_S > self._curve_end - 1.0:
            self._draw_breath_curve(pacer, t)
            self._breathing_new = self._breathing is not None
        if self._breathing_new:
            self._breathing_new = False
            self._draw_measured_breathing()
        for it in self._moving:
            it.setPos(-t, 0.0)

    def _breath_level(self, vol: np.ndarray) -> np.ndarray:
        """Lung volume 0-1 on the bpm axis: the pacer's curve fills the lower 90 % of it."""
        lo, hi = self._hr_range
        return lo + (0.04 + 0.86 * vol) * (hi - lo)

    def _draw_measured_breathing(self) -> None:
        est = self._breathing
        level = self._breath_level(np.clip(est.trace, -0.05, 1.05))
        self.measured_curve.setData(est.trace_t, level)
        set_text(self.legend_label, _legend(measured=True))

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
        item = self.plot.getPlotItem()
        item.setYRange(lo, hi, padding=0)
        step = 5.0 if hi - lo <= 40.0 else 10.0
        item.getAxis("left").setTickSpacing(step, step)
        self._curve_pacer = None  # the pacer curve is scaled to the bpm axis: redraw it


class PacerWidget(QtWidgets.QWidget):
    """A breathing circle that grows on the in-breath and shrinks on the out-breath.

    Inside: the seconds left in the current stage; below: the instruction and the pace.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(260, 300)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._state: tuple[float | None, str, str, str] = (0.0, "", "", "")

    @property
    def state(self) -> tuple[float | None, str, str, str]:
        """What is shown: lung volume (None: no pacing), count, stage and detail."""
        return self._state

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


def _pace_text(st: PacerState) -> str:
    return f"{st.rate_bpm:.1f} breaths/min" if st.rate_bpm else "no pacer"


class PacerPanel(Panel):
    """The protocol step's name over the breathing circle, with the pace and how the measured
    breathing follows it."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(10, 12, 10, 10)
        self.step_label = label("", 15, MUTED, QtGui.QFont.Weight.DemiBold)
        self.step_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.step_label.setWordWrap(True)
        lay.addWidget(self.step_label)
        self.circle = PacerWidget()
        lay.addWidget(self.circle, 1)

    def show_pace(self, st: PacerState, breathing: BreathingEstimate | None) -> None:
        """Pace the breath at ``st``; ``breathing``, when recent, is reported beside the pace."""
        set_text(self.step_label, st.label)
        if st.stage is Stage.FREE:
            self.circle.set_state(math.nan, "", st.stage.value, "breathe at your own pace")
            return
        rate = _pace_text(st)
        if breathing is not None and breathing.t >= st.t - 5.0:
            rate += f"  ·  you {breathing.rate_bpm:.1f}/min"
            if breathing.following is not None:
                rate += f", following {breathing.following.score:.0f}"
        self.circle.set_state(st.volume, f"{math.ceil(st.stage_left_s - 1e-6)}",
                              st.stage.value.strip(), rate)

    def show_ready(self, st: PacerState) -> None:
        """Before a session: the first step at ``st``, waiting for Start."""
        set_text(self.step_label, st.label)
        self.circle.set_state(0.0, "", "ready", f"{_pace_text(st)}  ·  press Start")

    def show_ended(self, st: PacerState, ending: str) -> None:
        """After a session that ended at ``st``: how it ended ("complete", "stopped", …)."""
        set_text(self.step_label, st.label)
        self.circle.set_state(0.0, "", f"session {ending}", "")


def _column(panel: Panel, heading: str, width: int, spacing: int,
            labels: tuple[QtWidgets.QLabel, ...]) -> None:
    """Lay ``panel`` out as a column ``width`` px wide: a small capital heading over ``labels``."""
    panel.setFixedWidth(width)
    lay = QtWidgets.QVBoxLayout(panel)
    lay.setContentsMargins(20, 12, 20, 12)
    lay.setSpacing(spacing)
    lay.addWidget(label(heading, 12, MUTED, QtGui.QFont.Weight.DemiBold))
    for lab in labels:
        lay.addWidget(lab)
    lay.addStretch(1)


class CoherencePanel(Panel):
    """The newest coherence score, its level and the heart rhythm's frequency."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.score_label = label("–", 54, MUTED, QtGui.QFont.Weight.Bold)
        self.level_label = label("needs a minute of beats", 13, MUTED)
        self.peak_label = label("", 12, MUTED)
        _column(self, "COHERENCE", 260, 0, (self.score_label, self.level_label, self.peak_label))

    def show_result(self, result: CoherenceResult | None) -> None:
        """Show ``result`` in its level's colour; None: no score yet."""
        if result is None:
            set_text(self.score_label, "–")
            self.score_label.setStyleSheet(f"color: {MUTED}; background: transparent;")
            set_text(self.level_label, "needs a minute of beats")
            set_text(self.peak_label, "")
            return
        level = score_level(result.score)
        colour = LEVEL[level]
        set_text(self.score_label, f"{result.score:.0f}")
        self.score_label.setStyleSheet(f"color: {colour}; background: transparent;")
        set_text(self.level_label, f"{level} coherence")
        self.level_label.setStyleSheet(f"color: {colour}; background: transparent;")
        set_text(self.peak_label, f"heart rhythm at {60 * result.peak_hz:.1f} /min")


class CoherenceHistoryPanel(Panel):
    """The coherence scores over the session, on the low / medium / high bands."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(14, 8, 14, 6)
        lay.setSpacing(0)
        lay.addWidget(label("Coherence over the session", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.plot = pg.PlotWidget()
        item = style_plot(self.plot)
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
            text.setFont(font(10))
            text.setPos(0.0, (lo + hi) / 2)
            item.addItem(text)
        self.curve = pg.PlotCurveItem(pen=pg.mkPen(TEXT, width=2.5), antialias=True)
        self.last = pg.ScatterPlotItem(size=11, pen=pg.mkPen(None))
        item.addItem(self.curve)
        item.addItem(self.last)
        lay.addWidget(self.plot, 1)

    def set_span(self, duration_s: float) -> None:
        """Make the time axis span a session of ``duration_s`` (s)."""
        self.plot.getPlotItem().setXRange(0, max(duration_s, 1.0) / 60, padding=0.01)

    def show_scores(self, t_min: list[float], scores: list[float]) -> None:
        """Draw ``scores`` at session times ``t_min`` (minutes), the newest in its level colour."""
        if not t_min:
            self.curve.setData([], [])
            self.last.setData([], [])
            return
        self.curve.setData(t_min, scores)
        self.last.setData([t_min[-1]], [scores[-1]],
                          brush=pg.mkBrush(LEVEL[score_level(scores[-1])]))


def _dotted(text: str, colour: str) -> str:
    """``text`` behind a dot in ``colour`` (rich text)."""
    return f"<span style='color:{colour}'>●</span> {text}"


class StrapPanel(Panel):
    """The strap's name, link, battery, skin contact and signal, and its artifact count."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.name_label = label("no strap yet", 14, TEXT, QtGui.QFont.Weight.DemiBold)
        self.link_label = label("", 13)
        self.battery_label = label("", 13)
        self.contact_label = label("", 13)
        self.quality_label = label("", 13)
        self.artifact_label = label("", 13, MUTED)
        _column(self, "STRAP", 290, 4, (self.name_label, self.link_label, self.battery_label,
                                        self.contact_label, self.quality_label,
                                        self.artifact_label))

    def set_status(self, status: StrapStatus | None) -> None:
        """Show ``status``, each item behind a dot in its colour; None: no strap yet."""
        if status is None:
            set_text(self.name_label, "no strap yet")
            for lab in (self.link_label, self.battery_label, self.contact_label,
                        self.quality_label):
                set_text(lab, "")
            return
        set_text(self.name_label, status.name or status.device or "strap")
        set_text(self.link_label, _dotted(status.link.value, LINK[status.link]))
        if status.battery_pct is None:
            battery = _dotted("battery –", MUTED)
        else:
            c = LEVEL["low"] if status.battery_pct <= 15 else LEVEL["high"]
            battery = _dotted(f"battery {status.battery_pct} %", c)
        set_text(self.battery_label, battery)
        contact = {True: ("skin contact", LEVEL["high"]), False: ("no skin contact", LEVEL["low"]),
                   None: ("contact not reported", MUTED)}[status.contact]
        set_text(self.contact_label, _dotted(*contact))
        quality = QUALITY[status.quality]
        if status.timing_degraded and status.quality is SignalQuality.GOOD:
            # Good beats, but they arrive late or irregularly: their times are uncertain.
            quality = ("timing degraded", LEVEL["medium"])
        set_text(self.quality_label, _dotted(*quality))

    def show_beats(self, state: LiveState | None) -> None:
        """Show how many of ``state``'s beats were artifacts; None: nothing (a new session)."""
        set_text(self.artifact_label, "" if state is None else
                 f"artifacts {state.n_artifacts} of {state.n_beats} beats")


class SummaryPanel(QtWidgets.QFrame):
    """How the last session went, floated over the window's upper part until dismissed."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("summary")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(36, 26, 36, 26)
        lay.setSpacing(10)
        self.title_label = label("Session complete", 24, BREATH, QtGui.QFont.Weight.DemiBold)
        self.text_label = label("", 15)
        self.text_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)
        hint = label("Choose a protocol and press Start for another session.", 12, MUTED)
        for w in (self.title_label, self.text_label, hint):
            lay.addWidget(w)
        dismiss = QtWidgets.QPushButton("Close summary")
        dismiss.clicked.connect(self.hide)
        lay.addWidget(dismiss, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self.hide()

    def show_summary(self, summary: SessionSummary, ending: str) -> None:
        """Show ``summary`` of a session that ended as ``ending`` ("complete", "stopped", …)."""
        self._reveal(f"Session {ending}", "\n".join(summary_lines(summary)))

    def show_failure(self, error: BaseException) -> None:
        """Show why the session failed."""
        self._reveal("Session failed", str(error) or type(error).__name__)

    def place(self) -> None:
        """Centre the panel over the upper part of its parent (the trace and pacer row)."""
        if self.isHidden():
            return
        area = self.parentWidget()
        self.adjustSize()
        size = self.sizeHint().boundedTo(area.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(QtCore.QPoint(area.width() // 2, int(area.height() * 0.4)))
        self.setGeometry(rect)

    def _reveal(self, title: str, text: str) -> None:
        self.title_label.setText(title)
        self.text_label.setText(text)
        self.show()
        self.raise_()
        self.place()

"""The trainer window's panels: the heart-rate trace over the pacer's breathing curve, the pacer,
the coherence score and its history, the strap's status and the end-of-session summary.

Each panel draws only what it is handed through its methods; none reads the session itself.
Colours come from the current palette (:mod:`biobreath.ui.theme`); a panel's ``restyle(palette)``
redraws its own items in another one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

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
from biobreath.events import Marker, SignalQuality
from biobreath.session import SessionSummary, StrapStatus
from biobreath.ui.formatting import summary_lines
from biobreath.ui.theme import (
    LEVEL_MARK,
    LEVEL_SYMBOL,
    MUTED,
    TEXT,
    Palette,
    Panel,
    current,
    font,
    keep_pixels,
    label,
    mix,
    paint_label,
    set_share,
    set_text,
    style_plot,
)

PAST_S = 60.0
"""Seconds of heart rate shown behind "now" in the trace."""
AHEAD_S = 10.0
"""Seconds of pacer curve shown ahead of "now", so the next breath can be anticipated."""
CURVE_STEP_S = 0.1
"""Sampling step (s) of the drawn pacer curve."""
CURVE_CHUNK_S = 10.0
"""Each pre-computed stretch of pacer curve reaches between a half and one and a half of this (s)
beyond the visible window, to the next point of a grid this far apart. Kept short, the stretch
stays within the width Qt keeps as one block of pixels, so moving it copies them."""
GAP_S = 3.0
"""A heart-rate line is broken where beats are further apart than this (s): a lost link."""
SETTLE_S = 10.0
"""The heart-rate line is two pieces: the beats up to a moment redrawn every this many seconds
(s), and the newest since, redrawn with each beat, so a beat repaints a short line, not the
minute."""
HR_RANGE = (50.0, 90.0)
"""The bpm axis (low, high) before the first beats."""

HR_SHARE = 0.035
"""The heart-rate figure is at least this share of the window's height (px)."""
SCORE_SHARE = 0.12
"""The coherence score is at least this share of the window's height (px): readable from 3 m."""
MARKER_TEXT_CHARS = 28
"""A marker's text is cut to this many characters where it is drawn on a plot."""

QUALITY = {SignalQuality.GOOD: ("signal good", "high"),
           SignalQuality.NOISY: ("signal noisy", "medium"),
           SignalQuality.NO_CONTACT: ("no signal", "low"),
           SignalQuality.UNKNOWN: ("waiting for beats", "muted")}
"""Each signal quality's words and the palette colour they are shown in."""


def _unbroken(t: np.ndarray) -> np.ndarray:
    """pyqtgraph ``connect`` flags for beat times ``t`` (s): no line across a gap over GAP_S."""
    connect = np.ones(t.size, dtype=np.int32)
    connect[:-1] = np.diff(t) <= GAP_S
    return connect


def _legend(p: Palette, *, measured: bool) -> str:
    """The trace's legend as rich text: entries break only between each other (the label wraps
    to a second line where the row is short, rather than cutting the last entry off)."""
    entries = [(p.hr, "━━", "heart rate"), (p.breath, "██", "pacer"),
               *([(p.measured, "━━", "your breathing")] if measured else []),
               (p.artifact, "✕", "artifact"), (p.marker, "│", "marker")]
    return " &nbsp; ".join(f"<span style='white-space:nowrap'><span style='color:{colour}'>"
                           f"{mark}</span>&nbsp;{name}</span>" for colour, mark, name in entries)


def short(text: str) -> str:
    """A marker's text as drawn on a plot: at most ``MARKER_TEXT_CHARS`` characters."""
    return text if len(text) <= MARKER_TEXT_CHARS else text[:MARKER_TEXT_CHARS - 1] + "…"


def _literal(text: str) -> str:
    """``text`` as a pyqtgraph line label's format string (formatted at each move of the line:
    a brace in a therapist's note would otherwise raise, or be replaced)."""
    return text.replace("{", "{{").replace("}", "}}")


_LABEL_PADDING_PX = 8  # a marker text's box beyond the text itself (px)
_LABEL_MIN_CHARS = 3  # fewer letters than this of a marker's text are left out


def _stagger(marker: Marker, markers: list[Marker]) -> float:
    """How far up its plot (0-1) ``marker``'s text goes: three heights in turn, so that the
    texts of markers close together do not cover each other."""
    return 0.95 - 0.15 * (markers.index(marker) % 3)


def _translucent(colour: str, alpha: int) -> QtGui.QColor:
    c = QtGui.QColor(colour)
    c.setAlpha(alpha)
    return c


def marker_line(x: float, text: str, p: Palette, *, position: float, scale: float = 1.0,
                text_left: bool = False) -> pg.InfiniteLine:
    """A vertical marker line at ``x`` labelled with ``text`` ``position`` (0-1) up the plot,
    the text ``scale`` times its normal size, to the right of the line (``text_left``: to its
    left)."""
    corner = (1, 0) if text_left else (0, 0)
    line = pg.InfiniteLine(x, angle=90, movable=False,
                           pen=pg.mkPen(p.marker, width=2 * scale,
                                        style=QtCore.Qt.PenStyle.DashLine),
                           label=_literal(short(text) or "mark"),
                           labelOpts={"position": position, "color": p.marker,
                                      "fill": pg.mkBrush(_translucent(p.panel, 170)),
                                      "anchors": [corner, corner]})
    line.label.setFont(font(11 * scale))
    line.marker_text = text  # the whole text, for a plot that shortens it to fit
    line.setZValue(15)
    return line


class MarkerLines:
    """A plot's marker lines, one per marker: new markers are added as they come, and the lines
    are rebuilt only when the list shrinks (a new session) or the look changes. Iterating gives
    (marker, line) pairs. ``x_of(marker)``: where a line goes (NaN: placed later, hidden)."""

    def __init__(self, x_of: Callable[[Marker], float]) -> None:
        self._x_of = x_of
        self._lines: list[tuple[Marker, pg.InfiniteLine]] = []
        self._left: list[bool] = []  # each line's text on its left

    def __iter__(self) -> Iterator[tuple[Marker, pg.InfiniteLine]]:
        return iter(self._lines)

    @property
    def markers(self) -> list[Marker]:
        return [m for m, _ in self._lines]

    def show(self, plot: pg.PlotItem, markers: list[Marker], p: Palette, scale: float) -> None:
        """Draw ``markers`` on ``plot`` in palette ``p`` at ``scale``. A line placed in the right
        half of the plot's time span has its text on its left, where there is more room: a text
        running past the plot's edge would be cut off there."""
        if len(markers) < len(self._lines):
            for _, line in self._lines:
                plot.removeItem(line)
            self._lines, self._left = [], []
        new = markers[len(self._lines):]
        if not new:
            return  # as most frames find it
        x0, x1 = plot.viewRange()[0]
        for m in new:
            x = self._x_of(m)
            left = x > (x0 + x1) / 2
            line = marker_line(x, m.text, p, position=_stagger(m, markers), scale=scale,
                               text_left=left)
            line.setVisible(not math.isnan(x))
            plot.addItem(line)
            self._lines.append((m, line))
            self._left.append(left)

    def fit(self, plot: pg.PlotItem, x_of: Callable[[Marker], float] | None = None,
            left_px: float = 0.0) -> None:
        """Shorten each text to the room it has on ``plot`` as now sized and ranged: up to the
        plot's edge (``left_px`` into the plot on the left, for names written there), or to
        the next line at its height (half-way, when that line's text comes the other way); a
        text with no room for a few letters is left out, its line stays.

        ``x_of``: where the lines are relative to each other, for a plot that moves them all
        together (the trace, each frame): texts then have the room up to the next line only,
        which moving does not change, and the plot's edges clip them where they pass."""
        (x0, x1), _ = plot.viewRange()
        width = plot.getViewBox().width()
        if not self._lines or not width > 0 or not x1 > x0:
            return
        px = width / (x1 - x0)  # pixels per unit of x
        rooms: dict[int, float] = {}
        heights: dict[float, list[tuple[float, bool, int]]] = {}
        for k, ((m, line), left) in enumerate(zip(self._lines, self._left)):
            x = px * ((x_of or self._x_of)(m) - x0)
            if not math.isnan(x):
                heights.setdefault(line.label.orthoPos, []).append((x, left, k))
        for row in heights.values():
            # Sorted along the plot, the lines a text meets come next in its direction; the
            # nearest text coming the other way (met half-way) is found by one sweep each way.
            row.sort()
            for order, left in ((row, False), (row[::-1], True)):
                facing = math.nan  # x of the nearest line ahead whose text comes this way
                ahead = math.nan   # x of the nearest line ahead
                for x, goes_left, k in reversed(order):
                    if goes_left == left:
                        room = math.inf if x_of else x - left_px if left else width - x
                        for other, share in ((ahead, 1.0), (facing, 0.5)):
                            if not math.isnan(other):
                                room = min(room, share * abs(other - x))
                        rooms[k] = room
                    ahead = x
                    if goes_left != left:
                        facing = x
        metrics = None
        for k, (_, line) in enumerate(self._lines):
            if k not in rooms:
                continue
            room = rooms[k]
            label = line.label
            text = short(line.marker_text) or "mark"
            if metrics is None:  # one font for all the texts
                metrics = QtGui.QFontMetricsF(label.textItem.font())
            shown = text if math.isinf(room) else metrics.elidedText(
                text, QtCore.Qt.TextElideMode.ElideRight, room - _LABEL_PADDING_PX)
            fits = len(shown.rstrip("…")) >= _LABEL_MIN_CHARS
            if fits and shown != label.textItem.toPlainText():
                label.format = _literal(shown)
                label.setText(shown)
            label.setVisible(fits)

    def restyle(self, plot: pg.PlotItem, p: Palette, scale: float) -> None:
        """Draw the same markers again in palette ``p`` at ``scale``."""
        markers = self.markers
        self.show(plot, [], p, scale)
        self.show(plot, markers, p, scale)


class HeartRateTrace(Panel):
    """Heart rate over the pacer's breathing curve (and the breathing the strap measures), with
    the session's markers, on a fixed "seconds from now" axis.

    The plot items live in session time and are shifted under the axis (``setPos``), so their
    data is rebuilt only when beats or breathing arrived or the pre-computed stretch of pacer
    curve runs out, never the whole history every frame. They are shifted by whole device pixels
    only (a pixel is a fraction of a second of the trace), and Qt keeps each item's pixels
    (``DeviceCoordinateCache``): a frame that moves the trace copies those pixels instead of
    stroking the curves again, and most frames do not move it at all.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        p = current()
        self._hr_range = HR_RANGE
        self._curve_pacer: Pacer | None = None
        self._curve_end = -math.inf
        self._breathing: BreathingEstimate | None = None
        self._breathing_new = False
        self._markers = MarkerLines(lambda m: math.nan)  # placed at each frame
        self._scale = 1.0

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 8)
        lay.setSpacing(2)
        top = QtWidgets.QHBoxLayout()
        self.hr_label = label("Heart rate  –", 17, p.hr, QtGui.QFont.Weight.DemiBold)
        set_share(self.hr_label, HR_SHARE)
        self.hr_label.setToolTip("Your heart rate now, in beats per minute, from the time between "
                                 "your last two heartbeats. It rises as you breathe in and falls "
                                 "as you breathe out.")
        top.addWidget(self.hr_label)
        top.addSpacing(16)
        self.rmssd_label = label("", 14, MUTED)
        self.rmssd_label.setToolTip("RMSSD: how much each heartbeat's timing differs from the "
                                    "next (ms), over the last minute. Higher is usually calmer; "
                                    "it is personal, so compare it with your own days.")
        top.addWidget(self.rmssd_label)
        top.addSpacing(16)
        self.legend_label = label("", 12, MUTED, rich=True)
        # Where the row is short, the legend gives way (on two lines), never the heart rate.
        self.legend_label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                                        QtWidgets.QSizePolicy.Policy.Preferred)
        self.legend_label.setWordWrap(True)
        self.legend_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight
                                       | QtCore.Qt.AlignmentFlag.AlignVCenter)
        top.addWidget(self.legend_label, 1)
        lay.addLayout(top)

        self.plot = pg.PlotWidget()
        item = style_plot(self.plot)
        item.showGrid(x=False, y=True, alpha=0.12)
        item.setXRange(-PAST_S, AHEAD_S, padding=0)
        item.getAxis("bottom").setTicks([[(float(x), f"{x:+d}" if x else "now")
                                          for x in range(-int(PAST_S), int(AHEAD_S) + 1, 10)]])
        self.plot.setToolTip("The last minute of your heart rate (line) over the pacer's "
                             "breathing (shaded: up while breathing in). Ten seconds ahead show "
                             "the breaths to come. Dashed lines mark moments noted in the "
                             "session.")
        self._ahead = pg.LinearRegionItem((0.0, AHEAD_S), movable=False, pen=pg.mkPen(None))
        self._ahead.setZValue(-20)
        item.addItem(self._ahead)
        self._now_line = pg.InfiniteLine(0.0, angle=90)
        item.addItem(self._now_line)
        # Opaque pens drawn as separate segments, and a fill without antialiasing: Qt strokes a
        # long translucent antialiased polyline several times slower, and these are repainted
        # every frame.
        self.breath_fill = pg.PlotCurveItem(pen=None, fillLevel=self._hr_range[0], antialias=False)
        self.breath_fill.setZValue(-11)
        self.breath_curve = pg.PlotCurveItem(antialias=True)
        self.breath_curve.setZValue(-10)
        self.hr_curve = pg.PlotCurveItem(antialias=True)  # the settled beats
        self.hr_curve.setZValue(10)
        self.hr_recent = pg.PlotCurveItem(antialias=True)  # and the judged beats since
        self.hr_recent.setZValue(10)
        self._settled: tuple[LiveCore | None, float] = (None, -math.inf)  # whose, up to when (s)
        self.hr_tail = pg.PlotCurveItem(antialias=True)
        self.hr_tail.setZValue(9)
        for curve in (self.breath_curve, self.hr_curve, self.hr_recent):
            curve.setSegmentedLineMode("on")
        # The breathing the strap measures, on the pacer's scale (Polar H10 accelerometer).
        self.measured_curve = pg.PlotCurveItem(antialias=True)
        self.measured_curve.setZValue(5)
        self.artifact_marks = pg.ScatterPlotItem(symbol="x", size=13)
        self.artifact_marks.setZValue(20)
        self._moving = (self.breath_fill, self.breath_curve, self.measured_curve, self.hr_curve,
                        self.hr_recent, self.hr_tail, self.artifact_marks)
        for it in self._moving:
            item.addItem(it)
        self._shift = math.nan  # the session time (s) at "now", as last drawn
        self._phase = 0.0
        self._subpixel: tuple[float, float] | None = None  # the view's offset within a pixel
        # Everything but the markers keeps its pixels: the fixed items until they change, the
        # moving ones until their data changes, as they only ever move by whole pixels.
        keep_pixels(*self._moving, self._ahead, self._now_line, item.getAxis("left"),
                    item.getAxis("bottom"))
        self._set_hr_range(*self._hr_range)
        item.getViewBox().sigResized.connect(self._fit_markers)
        lay.addWidget(self.plot, 1)
        self.restyle(p)

    def restyle(self, p: Palette) -> None:
        """Draw the trace's items in palette ``p``."""
        self._palette = p
        k = self._scale  # lines grow with the text, so a big screen shows no hairlines
        item = self.plot.getPlotItem()
        axis_font = {"color": p.muted, "font-size": f"{11 * k:.0f}pt"}
        item.setLabel("left", "bpm", **axis_font)
        item.setLabel("bottom", "seconds from now", **axis_font)
        self._ahead.setBrush(pg.mkBrush(*p.ahead))
        self._now_line.setPen(pg.mkPen(p.muted, width=1.5 * k,
                                       style=QtCore.Qt.PenStyle.DashLine))
        fill = QtGui.QColor(p.breath)
        fill.setAlpha(60)
        self.breath_fill.setBrush(pg.mkBrush(fill))
        self.breath_curve.setPen(pg.mkPen(mix(p.breath, p.panel, 0.7), width=2 * k))
        self.hr_curve.setPen(pg.mkPen(p.hr, width=3.5 * k))
        self.hr_recent.setPen(self.hr_curve.opts["pen"])
        self.hr_tail.setPen(pg.mkPen(mix(p.hr, p.panel, 0.5), width=2.5 * k))
        self.measured_curve.setPen(pg.mkPen(p.measured, width=2 * k))
        self.artifact_marks.setSize(13 * k)
        self.artifact_marks.setBrush(pg.mkBrush(p.artifact))
        self.artifact_marks.setPen(pg.mkPen(p.artifact, width=2.5 * k))
        set_text(self.legend_label, _legend(p, measured=self._breathing is not None))
        self._markers.restyle(self.plot.getPlotItem(), p, k)
        self._fit_markers()

    def rescale(self, scale: float) -> None:
        """Draw lines, axis titles and markers ``scale`` times their normal size."""
        if scale != self._scale:
            self._scale = scale
            self.restyle(self._palette)

    @property
    def hr_range(self) -> tuple[float, float]:
        """The bpm axis (low, high); the pacer's curve is scaled to it."""
        return self._hr_range

    @property
    def markers(self) -> list[Marker]:
        """The markers drawn (the visible ones at their place, the others hidden)."""
        return self._markers.markers

    def reset(self) -> None:
        """Empty the trace for a new session."""
        self._breathing = None
        self._breathing_new = False
        self.measured_curve.setData([], [])
        set_text(self.legend_label, _legend(self._palette, measured=False))
        self._curve_pacer = None
        self._set_hr_range(*HR_RANGE)
        self.hr_curve.setData([], [])
        self.hr_recent.setData([], [])
        self._settled = (None, -math.inf)
        self.hr_tail.setData([], [])
        self.artifact_marks.setData([], [])
        self.show_markers([])
        set_text(self.hr_label, "Heart rate  –")
        set_text(self.rmssd_label, "")

    def show_markers(self, markers: list[Marker]) -> None:
        """Draw ``markers`` (session time): the new ones in the list are added, none rebuilt;
        each text is shortened to the room up to the next line at its height."""
        before = len(self._markers.markers)
        self._markers.show(self.plot.getPlotItem(), markers, self._palette, self._scale)
        if len(self._markers.markers) != before:
            self._fit_markers()

    def _fit_markers(self, *_) -> None:
        # The lines all move together: only their distances (s) count.
        self._markers.fit(self.plot.getPlotItem(), lambda m: m.t)

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
        whose, until = self._settled
        if (core is not whose or not x.size or x[-1] < until
                or x[-1] - until > SETTLE_S):
            # Settle every beat shown (a verdict, once given, stands); the newest start afresh.
            self._settled = (core, float(x[-1]) if x.size else -math.inf)
            self.hr_curve.setData(x, y, connect=_unbroken(x))
            rx, ry = x[-1:], y[-1:]
        else:
            since = x >= until  # from the last settled beat on, so the two pieces join
            rx, ry = x[since], y[since]
        self.hr_recent.setData(rx, ry, connect=_unbroken(rx))
        if x.size:
            self._fit_hr_range(y)
        tx = np.concatenate((x[-1:], bt[~judged]))
        ty = np.concatenate((y[-1:], hr[~judged]))
        self.hr_tail.setData(tx, ty, connect=_unbroken(tx))
        lo, hi = self._hr_range
        ax = bt[art]
        ay = np.clip(hr[art], lo + 0.03 * (hi - lo), hi - 0.03 * (hi - lo))
        old_x, old_y = self.artifact_marks.getData()
        # Artifacts are rare: most beats leave the marks as they were, and their pixels cached.
        if not (np.array_equal(ax, old_x) and np.array_equal(ay, old_y)):
            self.artifact_marks.setData(ax, ay)
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
        # Qt copies kept pixels to whole-pixel places: where the layout moved the plot by part
        # of a pixel, they are painted afresh at the new offset.
        origin = self.plot.getPlotItem().getViewBox().mapViewToDevice(QtCore.QPointF(0.0, 0.0))
        subpixel = (origin.x() % 1.0, origin.y() % 1.0)
        if subpixel != self._subpixel:
            self._subpixel = subpixel
            for it in self._moving:
                it.update()
        shift = self._whole_pixels(t)
        if shift != self._shift:  # most frames move the trace less than a pixel: not at all
            self._shift = shift
            for it in self._moving:
                it.setPos(-shift, 0.0)
        # Markers are few: each visible one is moved to its exact place, the others stay hidden.
        for m, line in self._markers:
            x = m.t - t
            if -PAST_S <= x <= 0.0:
                line.show()  # first: a hidden line's text does not follow its moves
                line.setValue(x)
            elif line.isVisible():
                line.hide()

    def set_step_phase(self, phase: float) -> None:
        """Step at ``phase`` (0-1) of a pixel, and renew the pacer curve at that phase of its
        stretch: traces side by side given different phases move and renew in turn, so no
        single frame has to redraw them all."""
        self._phase = phase
        self._shift = math.nan

    def _whole_pixels(self, t: float) -> float:
        """Session time ``t`` (s) on the time axis's grid of whole device pixels (offset by the
        step phase), the nearest: the trace moves in whole pixels, so its kept pixels are reused
        as they are, and it is never more than half a pixel from where it belongs."""
        px_per_s = (self.plot.getPlotItem().getViewBox().width() * self.plot.devicePixelRatioF()
                    / (PAST_S + AHEAD_S))
        if px_per_s <= 0:
            return t
        return (round(t * px_per_s + self._phase) - self._phase) / px_per_s

    def _breath_level(self, vol: np.ndarray) -> np.ndarray:
        """Lung volume 0-1 on the bpm axis: the pacer's curve fills the lower 90 % of it."""
        lo, hi = self._hr_range
        return lo + (0.04 + 0.86 * vol) * (hi - lo)

    def _draw_measured_breathing(self) -> None:
        est = self._breathing
        level = self._breath_level(np.clip(est.trace, -0.05, 1.05))
        self.measured_curve.setData(est.trace_t, level)
        set_text(self.legend_label, _legend(self._palette, measured=True))

    def _draw_breath_curve(self, pacer: Pacer, t: float) -> None:
        """Pre-compute the pacer curve (session time) for the view and a stretch beyond
        (:data:`CURVE_CHUNK_S`)."""
        t0 = t - PAST_S - 1.0
        # The grid is offset by the step phase, so traces side by side renew in turn.
        k = math.ceil((t + AHEAD_S + CURVE_CHUNK_S / 2) / CURVE_CHUNK_S - self._phase)
        times = np.arange(t0, (k + self._phase) * CURVE_CHUNK_S + CURVE_STEP_S, CURVE_STEP_S)
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


PACER_MIN_HEIGHT = 200
"""Smallest height (px) of the breathing circle with its words."""


class PacerWidget(QtWidgets.QWidget):
    """A breathing circle that grows on the in-breath and shrinks on the out-breath.

    Inside: the seconds left in the current stage; below: the instruction and the pace.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        # Small enough for the window's smallest size (1100 x 700), where its panel has about
        # 210 px: taller, the widget ran past the panel and the instruction below was cut off.
        self.setMinimumSize(260, PACER_MIN_HEIGHT)
        self.setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("The pacer: breathe in while the circle grows and out while it "
                        "shrinks. The number counts the seconds left of this in- or out-breath.")
        self._state: tuple[float | None, str, str, str] = (0.0, "", "", "")
        self._stage_px = 0
        self._still = QtGui.QPixmap()
        self._still_key: tuple | None = None

    def set_stage_px(self, px: int) -> None:
        """Draw the breathing word at least ``px`` pixels tall (0: as the circle's size gives)."""
        if px != self._stage_px:
            self._stage_px = px
            self.update()

    @property
    def stage_px(self) -> int:
        """The breathing word's pixel size in the widget's current size."""
        w, h = self.width(), self.height()
        return max(18, min(int(h * 0.075), int(w * 0.11)), min(self._stage_px, int(h * 0.16)))

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

    def _layout(self) -> tuple[QtCore.QPointF, float, float, int, int, int]:
        """Where things go in the widget's size (px): the circle's centre, its largest and
        smallest radius, the breathing word's and the detail's pixel sizes, and the words' top."""
        w, h = self.width(), self.height()
        stage_px = self.stage_px
        detail_px = max(13, int(stage_px * 0.5))
        text_h = int(stage_px * 1.5 + detail_px * 1.6)
        r_max = max(20.0, min(w * 0.45, (h - text_h) / 2 - 12))
        return (QtCore.QPointF(w / 2, (h - text_h) / 2 + 6), r_max, r_max * 0.32, stage_px,
                detail_px, h - text_h)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        pal = current()
        volume, count, stage, detail = self._state
        centre, r_max, r_min, *_ = self._layout()
        # What only changes with the size, the palette or the words is painted once and kept:
        # antialiased circles this large cost more than the whole moving rest.
        key = (self.width(), self.height(), self.devicePixelRatioF(), pal, self.stage_px, stage,
               detail)
        if key != self._still_key:
            self._still_key = key
            self._still = self._paint_still(pal, stage, detail)
        p = QtGui.QPainter(self)
        p.drawPixmap(0, 0, self._still)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        breath = QtGui.QColor(pal.breath)
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
            p.setPen(QtGui.QColor(pal.on_breath if volume is not None else pal.text))
            box = QtCore.QRectF(centre.x() - r_min, centre.y() - r_min, 2 * r_min, 2 * r_min)
            p.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, count)
        p.end()

    def _paint_still(self, pal: Palette, stage: str, detail: str) -> QtGui.QPixmap:
        """The background, the guide circles, the breathing word and the detail, in palette
        ``pal``, at the widget's size."""
        w, h = self.width(), self.height()
        dpr = self.devicePixelRatioF()
        still = QtGui.QPixmap(round(w * dpr), round(h * dpr))
        still.setDevicePixelRatio(dpr)
        still.fill(QtGui.QColor(pal.panel))
        centre, r_max, r_min, stage_px, detail_px, top = self._layout()
        p = QtGui.QPainter(still)
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        guide = QtGui.QColor(pal.breath)
        guide.setAlpha(70)
        p.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        p.setPen(QtGui.QPen(guide, 2))
        p.drawEllipse(centre, r_max, r_max)
        p.setPen(QtGui.QPen(guide, 1.5, QtCore.Qt.PenStyle.DashLine))
        p.drawEllipse(centre, r_min, r_min)

        f = QtGui.QFont(self.font())
        f.setPixelSize(stage_px)
        f.setWeight(QtGui.QFont.Weight.DemiBold)
        room = w - 16
        _shrink_to_fit(f, stage, room)  # a long word ("session complete") fits across the panel
        p.setFont(f)
        p.setPen(QtGui.QColor(pal.text))
        p.drawText(QtCore.QRectF(0, top, w, stage_px * 1.5),
                   QtCore.Qt.AlignmentFlag.AlignCenter, stage)
        f.setPixelSize(detail_px)
        f.setWeight(QtGui.QFont.Weight.Normal)
        # The pace and the measured breathing, shrunk to fit (a narrow panel beside a group),
        # and cut with an ellipsis beyond what stays readable.
        _shrink_to_fit(f, detail, room)
        detail = QtGui.QFontMetrics(f).elidedText(detail, QtCore.Qt.TextElideMode.ElideRight,
                                                 int(room))
        p.setFont(f)
        p.setPen(QtGui.QColor(pal.muted))
        p.drawText(QtCore.QRectF(0, top + stage_px * 1.5, w, detail_px * 1.6),
                   QtCore.Qt.AlignmentFlag.AlignCenter, detail)
        p.end()
        return still


def _shrink_to_fit(f: QtGui.QFont, text: str, room: float, smallest_px: int = 12) -> None:
    """Make ``f`` small enough for ``text`` to fit ``room`` px, down to ``smallest_px``."""
    wide = QtGui.QFontMetrics(f).horizontalAdvance(text)
    if wide > room:
        f.setPixelSize(max(smallest_px, int(f.pixelSize() * room / wide)))


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
    """Lay ``panel`` out as a column ``width`` px wide (at normal size; it grows with the window,
    see :func:`rescale_column`): a small capital heading over ``labels``."""
    panel.setFixedWidth(width)
    panel.setProperty("base_width", width)
    lay = QtWidgets.QVBoxLayout(panel)
    lay.setContentsMargins(20, 12, 20, 12)
    lay.setSpacing(spacing)
    lay.addWidget(label(heading, 12, MUTED, QtGui.QFont.Weight.DemiBold))
    for lab in labels:
        lay.addWidget(lab)
    lay.addStretch(1)


def rescale_column(panel: Panel, scale: float, widest: QtWidgets.QLabel | None = None,
                   text: str = "") -> None:
    """Make a :func:`_column` panel ``scale`` times its normal width, and wide enough for
    ``text`` in ``widest``'s font."""
    width = round(panel.property("base_width") * scale)
    if widest is not None:
        width = max(width, QtGui.QFontMetrics(widest.font()).horizontalAdvance(text) + 48)
    if panel.width() != width:
        panel.setFixedWidth(width)


def level_text(score: float) -> str:
    """The level of coherence ``score`` in words behind its shape ("▲ high coherence")."""
    level = score_level(score)
    return f"{LEVEL_MARK[level]} {level} coherence"


class CoherencePanel(Panel):
    """The newest coherence score, its level (colour, shape and word) and the heart rhythm's
    frequency."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: CoherenceResult | None = None
        self.score_label = label("–", 54, MUTED, QtGui.QFont.Weight.Bold)
        set_share(self.score_label, SCORE_SHARE)
        self.score_label.setToolTip(
            "Coherence, 0-100: the share of your heart-rate variation that moves in one smooth "
            "wave with your breathing (the last 64 s, updated every 5 s). Above 64 is high, "
            "below 33 low.")
        self.level_label = label("needs a minute of beats", 13, MUTED)
        self.level_label.setToolTip("The level of the score: ▼ low (under 33), ◆ medium, "
                                    "▲ high (64 and over), after HeartMath's published levels.")
        self.peak_label = label("", 12, MUTED)
        self.peak_label.setToolTip("How many times a minute your heart rate rises and falls. "
                                   "When you breathe with the pacer it matches your breathing "
                                   "rate.")
        _column(self, "COHERENCE", 260, 0, (self.score_label, self.level_label, self.peak_label))

    def rescale(self, scale: float) -> None:
        """Grow with the window: ``scale`` times as wide, and wide enough for a score of 100."""
        rescale_column(self, scale, self.score_label, "100")

    def restyle(self, p: Palette) -> None:
        """Show the score again in palette ``p``'s colours."""
        self.show_result(self._result)

    def show_result(self, result: CoherenceResult | None) -> None:
        """Show ``result`` in its level's colour and shape; None: no score yet."""
        self._result = result
        p = current()
        if result is None:
            set_text(self.score_label, "–")
            paint_label(self.score_label, p.muted)
            set_text(self.level_label, "needs a minute of beats")
            paint_label(self.level_label, p.muted)
            set_text(self.peak_label, "")
            return
        colour = p.level[score_level(result.score)]
        set_text(self.score_label, f"{result.score:.0f}")
        paint_label(self.score_label, colour)
        set_text(self.level_label, level_text(result.score))
        paint_label(self.level_label, colour)
        set_text(self.peak_label, f"heart rhythm at {60 * result.peak_hz:.1f} /min")


class CoherenceHistoryPanel(Panel):
    """The coherence scores over the session, on the low / medium / high bands, with the
    session's markers."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._scores: tuple[list[float], list[float]] = ([], [])
        self._markers = MarkerLines(lambda m: m.t / 60)  # minutes
        self._scale = 1.0
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(14, 8, 14, 6)
        lay.setSpacing(0)
        lay.addWidget(label("Coherence over the session", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.plot = pg.PlotWidget()
        # Its height follows the row's share of the window, not a plot's large preferred size
        # (which would take room from the trace and the pacer above).
        self.plot.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                                QtWidgets.QSizePolicy.Policy.Ignored)
        self.plot.setToolTip("Your coherence score every 5 s since the start (minutes along "
                             "the bottom), on its low, medium and high bands; dashed lines are "
                             "the session's markers.")
        item = style_plot(self.plot)
        # Short sessions span under a minute: keep the axis in minutes, not "minutes (x0.001)".
        item.getAxis("bottom").enableAutoSIPrefix(False)
        self._bands = coherence_bands(item)
        # The bands and the axes stay as they are while scores and markers come and go.
        keep_pixels(*(band for band, _, _ in self._bands.values()), item.getAxis("left"),
                    item.getAxis("bottom"))
        self.curve = pg.PlotCurveItem(antialias=True)
        self.curve.setSegmentedLineMode("on")  # as the trace's: an opaque pen, stroked faster
        self.last = pg.ScatterPlotItem(size=13, pen=pg.mkPen(None))
        # The scores over the markers' texts: notes never hide the data.
        self.curve.setZValue(20)
        self.last.setZValue(21)
        item.addItem(self.curve)
        item.addItem(self.last)
        view = item.getViewBox()
        view.sigResized.connect(self._fit_markers)
        view.sigXRangeChanged.connect(self._fit_markers)
        lay.addWidget(self.plot, 1)
        self.restyle(current())

    def _fit_markers(self, *_) -> None:
        # Texts running left stop short of the level names, which say what the bands mean.
        view = self.plot.getPlotItem().getViewBox().sceneBoundingRect()
        names = max(text.sceneBoundingRect().right() for _, text, _ in self._bands.values())
        self._markers.fit(self.plot.getPlotItem(), left_px=max(0.0, names - view.left()))

    def restyle(self, p: Palette) -> None:
        """Draw the bands, the scores and the markers in palette ``p``."""
        k = self._scale
        self.plot.getPlotItem().setLabel("bottom", "minutes",
                                         **{"color": p.muted, "font-size": f"{10 * k:.0f}pt"})
        for level, (band, text, _) in self._bands.items():
            c = QtGui.QColor(p.level[level])
            c.setAlpha(34 if p.name == "dark" else 46)
            band.setBrush(pg.mkBrush(c))
            text.setColor(p.level[level])
            text.setFont(font(10 * k))
        self.curve.setPen(pg.mkPen(p.text, width=2.5 * k))
        self.last.setSize(13 * k)
        self.show_scores(*self._scores)
        self._markers.restyle(self.plot.getPlotItem(), p, k)
        self._fit_markers()

    def rescale(self, scale: float) -> None:
        """Draw lines, level names, axis title and markers ``scale`` times their normal size."""
        if scale != self._scale:
            self._scale = scale
            self.restyle(current())

    def set_span(self, duration_s: float) -> None:
        """Make the time axis span a session of ``duration_s`` (s)."""
        self.plot.getPlotItem().setXRange(0, max(duration_s, 1.0) / 60, padding=0.01)

    def show_scores(self, t_min: list[float], scores: list[float]) -> None:
        """Draw ``scores`` at session times ``t_min`` (minutes), the newest in its level's colour
        and shape."""
        self._scores = (t_min, scores)
        if not t_min:
            self.curve.setData([], [])
            self.last.setData([], [])
            return
        self.curve.setData(t_min, scores)
        level = score_level(scores[-1])
        self.last.setData([t_min[-1]], [scores[-1]], symbol=LEVEL_SYMBOL[level],
                          brush=pg.mkBrush(current().level[level]))

    def show_markers(self, markers: list[Marker]) -> None:
        """Draw ``markers`` (session time) as labelled lines: the new ones in the list are added,
        each text shortened to the room it has."""
        before = len(self._markers.markers)
        self._markers.show(self.plot.getPlotItem(), markers, current(), self._scale)
        if len(self._markers.markers) != before:
            self._fit_markers()


def _dotted(text: str, colour: str) -> str:
    """``text`` behind a dot in ``colour`` (rich text)."""
    return f"<span style='color:{colour}'>●</span> {text}"


class StrapPanel(Panel):
    """The strap's name, link, battery, skin contact and signal, and its artifact count."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._status: StrapStatus | None = None
        self.name_label = label("no strap yet", 14, TEXT, QtGui.QFont.Weight.DemiBold)
        self.link_label = label("", 13, rich=True)
        self.link_label.setToolTip("Whether the strap is connected. When the link drops, "
                                   "biobreath reconnects by itself and keeps every beat.")
        self.battery_label = label("", 13, rich=True)
        self.battery_label.setToolTip("The strap's battery, as the strap reports it.")
        self.contact_label = label("", 13, rich=True)
        self.contact_label.setToolTip("Whether the strap feels your skin. Moisten the "
                                      "electrodes if it does not.")
        self.quality_label = label("", 13, rich=True)
        self.quality_label.setToolTip("How clean the heartbeats are: noisy means some beats are "
                                      "being left out as artifacts.")
        self.artifact_label = label("", 13, MUTED)
        self.artifact_label.setToolTip("Beats left out as artifacts (extra, missed or irregular "
                                       "beats, or noise) out of all beats so far.")
        _column(self, "STRAP", 290, 4, (self.name_label, self.link_label, self.battery_label,
                                        self.contact_label, self.quality_label,
                                        self.artifact_label))

    def rescale(self, scale: float) -> None:
        """Grow with the window: ``scale`` times as wide."""
        rescale_column(self, scale)

    def restyle(self, p: Palette) -> None:
        """Show the status again in palette ``p``'s colours."""
        self.set_status(self._status)

    def set_status(self, status: StrapStatus | None) -> None:
        """Show ``status``, each item behind a dot in its colour; None: no strap yet."""
        self._status = status
        if status is None:
            set_text(self.name_label, "no strap yet")
            for lab in (self.link_label, self.battery_label, self.contact_label,
                        self.quality_label):
                set_text(lab, "")
            return
        p = current()
        set_text(self.name_label, status.name or status.device or "strap")
        set_text(self.link_label, _dotted(status.link.value, p.link[status.link]))
        if status.battery_pct is None:
            battery = _dotted("battery –", p.muted)
        else:
            c = p.low if status.battery_pct <= 15 else p.high
            battery = _dotted(f"battery {status.battery_pct} %", c)
        set_text(self.battery_label, battery)
        contact = {True: ("skin contact", p.high), False: ("no skin contact", p.low),
                   None: ("contact not reported", p.muted)}[status.contact]
        set_text(self.contact_label, _dotted(*contact))
        words, role = QUALITY[status.quality]
        if status.timing_degraded and status.quality is SignalQuality.GOOD:
            # Good beats, but they arrive late or irregularly: their times are uncertain.
            words, role = "timing degraded", "medium"
        set_text(self.quality_label, _dotted(words, getattr(p, role)))

    def show_beats(self, state: LiveState | None) -> None:
        """Show how many of ``state``'s beats were artifacts; None: nothing (a new session)."""
        set_text(self.artifact_label, "" if state is None else
                 f"artifacts {state.n_artifacts} of {state.n_beats} beats")


SUMMARY_MARKERS = 6
"""Lines the end-of-session panel gives markers: a long list would push it past the window."""


class SummaryPanel(QtWidgets.QFrame):
    """How the last session went, with a plain reading of it, floated over the window's upper
    part until dismissed."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("summary")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(36, 26, 36, 26)
        lay.setSpacing(10)
        self.title_label = label("Session complete", 24, current().breath,
                                 QtGui.QFont.Weight.DemiBold)
        self.reading_label = label("", 15)
        self.reading_label.setWordWrap(True)
        self.text_label = label("", 14, MUTED)
        self.text_label.setWordWrap(True)  # a long note wraps rather than widen the panel
        hint = label("Choose a protocol and press Start for another session.", 12, MUTED)
        for w in (self.title_label, self.reading_label, self.text_label, hint):
            lay.addWidget(w)
        dismiss = QtWidgets.QPushButton("Close summary")
        dismiss.clicked.connect(self.hide)
        lay.addWidget(dismiss, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self.hide()

    def show_summary(self, summary: SessionSummary, ending: str, reading: str = "") -> None:
        """Show ``summary`` of a session that ended as ``ending`` ("complete", "stopped", …),
        after ``reading``, its plain-language reading."""
        lines = summary_lines(summary, max_markers=SUMMARY_MARKERS)
        self._reveal(f"Session {ending}", "\n".join(lines), reading)

    def show_failure(self, error: BaseException) -> None:
        """Show why the session failed."""
        self._reveal("Session failed", str(error) or type(error).__name__, "")

    def place(self) -> None:
        """Centre the panel over the upper part of its parent (the trace and pacer row)."""
        if self.isHidden():
            return
        area = self.parentWidget()
        # The reading wraps to a width in proportion to the window, never the full paragraph.
        width = max(300, min(int(area.width() * 0.55), area.width() - 120))
        self.reading_label.setFixedWidth(width)
        self.text_label.setFixedWidth(width)
        self.adjustSize()
        size = self.sizeHint().boundedTo(area.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(QtCore.QPoint(area.width() // 2, int(area.height() * 0.4)))
        self.setGeometry(rect)

    def _reveal(self, title: str, text: str, reading: str) -> None:
        self.title_label.setText(title)
        self.reading_label.setText(reading)
        self.reading_label.setVisible(bool(reading))
        self.text_label.setText(text)
        self.show()
        self.raise_()
        self.place()


def coherence_bands(item: pg.PlotItem) -> dict[str, tuple[pg.LinearRegionItem, pg.TextItem, float]]:
    """A 0-100 score axis on ``item`` with the level thresholds as its ticks, and the low,
    medium and high bands with their labels: level -> (band, label, the band's middle)."""
    item.setYRange(-2, 106, padding=0)
    item.getAxis("left").setTicks([[(0.0, "0"), (LOW_MEDIUM_SCORE, f"{LOW_MEDIUM_SCORE:.0f}"),
                                    (MEDIUM_HIGH_SCORE, f"{MEDIUM_HIGH_SCORE:.0f}"),
                                    (100.0, "100")]])
    bands = {}
    for level, (lo, hi) in (("low", (0.0, LOW_MEDIUM_SCORE)),
                            ("medium", (LOW_MEDIUM_SCORE, MEDIUM_HIGH_SCORE)),
                            ("high", (MEDIUM_HIGH_SCORE, 100.0))):
        band = pg.LinearRegionItem((lo, hi), orientation="horizontal", movable=False,
                                   pen=pg.mkPen(None))
        band.setZValue(-10)
        item.addItem(band)
        text = pg.TextItem(f"{LEVEL_MARK[level]} {level}", anchor=(0, 0.5))
        text.setPos(0.0, (lo + hi) / 2)
        item.addItem(text)
        bands[level] = (band, text, (lo + hi) / 2)
    return bands

"""The heart-rate spectrum panel: why the coherence score is what it is.

It draws the spectrum the newest coherence score was read from (the live core's 64 s window of
accepted beats, through the core's own :func:`~biobreath.core.coherence.tachogram_psd`), the
VLF / LF / HF bands shaded, and the score's peak window marked where the score found it. The
core keeps no spectrum, so the panel takes the same beats and the same function again, once per
score (every 5 s, well under a millisecond).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import CoherenceParams, CoherenceResult, score_level, tachogram_psd
from biobreath.core.live import LiveCore
from biobreath.ui.panels import GAP_S
from biobreath.ui.theme import MUTED, Palette, Panel, current, font, label, set_text, style_plot

BANDS = (("VLF", 0.0, 0.04), ("LF", 0.04, 0.15), ("HF", 0.15, 0.4))
"""The HRV bands shaded (name, low Hz, high Hz), as Kubios and the Task Force define them."""
TOP_HZ = 0.4
"""The highest frequency shown (Hz)."""


def live_spectrum(core: LiveCore, result: CoherenceResult,
                  params: CoherenceParams = CoherenceParams()
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Frequencies (Hz, up to :data:`TOP_HZ`) and PSD (ms²/Hz) of the window ``result`` scored:
    the judged, accepted beats of ``core`` in the ``params.window_s`` before ``result.t``, after
    the last break in the beats (a gap over ``GAP_S``), over the span they cover; None when too
    few."""
    t, rr, art = core.recent(params.window_s + 5.0, judged_only=True)
    keep = ~art & (t >= result.t - params.window_s) & (t <= result.t)
    t, rr = t[keep], rr[keep]
    breaks = np.flatnonzero(np.diff(t) > GAP_S)
    if breaks.size:
        t, rr = t[breaks[-1] + 1:], rr[breaks[-1] + 1:]
    if t.size < 8:
        return None
    freq, psd = tachogram_psd(t, rr, max(result.t - params.window_s, t[0]),
                              min(result.t, t[-1]), params)
    shown = freq <= TOP_HZ + 1e-9
    return freq[shown], psd[shown]


def explanation(result: CoherenceResult | None) -> str:
    """One plain line saying what the spectrum shows for ``result``."""
    if result is None or not math.isfinite(result.score):
        return "Your heart rate's rhythms, slow to fast: shown after a minute of beats."
    per_minute = 60 * result.peak_hz
    return (f"{result.score:.0f} % of the variation is in the marked peak ({per_minute:.1f} a "
            "minute): that share is the coherence score.")


class SpectrumPanel(Panel):
    """The live heart-rate spectrum with its bands and the coherence peak window."""

    def __init__(self, params: CoherenceParams = CoherenceParams(),
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.params = params
        self._result: CoherenceResult | None = None
        self._spectrum: tuple[np.ndarray, np.ndarray] | None = None
        self._scale = 1.0
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(14, 8, 14, 6)
        lay.setSpacing(2)
        lay.addWidget(label("Heart-rate spectrum", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.plot = pg.PlotWidget()
        # Its height follows the row's share of the window, not a plot's large preferred size
        # (which would take room from the trace and the pacer above).
        self.plot.setSizePolicy(QtWidgets.QSizePolicy.Policy.Expanding,
                                QtWidgets.QSizePolicy.Policy.Ignored)
        self.plot.setToolTip(
            "How strongly your heart rate swings at each pace, slow (left) to fast (right), over "
            "the last 64 s. VLF: very slow drifts; LF: the band slow breathing moves into; HF: "
            "the breathing pace at rest. One tall narrow peak means high coherence.")
        item = style_plot(self.plot)
        item.setXRange(0.0, TOP_HZ, padding=0)
        item.getAxis("bottom").enableAutoSIPrefix(False)
        item.getAxis("bottom").setTicks([[(f, f"{f:g}") for f in (0.04, 0.1, 0.15, 0.2, 0.3,
                                                                   0.4)]])
        item.getAxis("left").setStyle(showValues=False)
        self._bands = []
        for name, lo, hi in BANDS:
            region = pg.LinearRegionItem((lo, hi), movable=False, pen=pg.mkPen(None))
            region.setZValue(-20)
            text = pg.TextItem(name, anchor=(0.5, 0))
            item.addItem(region)
            item.addItem(text)
            self._bands.append((region, text, (lo + hi) / 2))
        self.peak_region = pg.LinearRegionItem((0.0, 0.0), movable=False, pen=pg.mkPen(None))
        self.peak_region.setZValue(-10)
        self.peak_region.hide()
        item.addItem(self.peak_region)
        self.curve = pg.PlotCurveItem(antialias=True)
        item.addItem(self.curve)
        lay.addWidget(self.plot, 1)
        self.note_label = label(explanation(None), 10, MUTED)
        self.note_label.setWordWrap(True)
        lay.addWidget(self.note_label)
        self.restyle(current())

    @property
    def spectrum(self) -> tuple[np.ndarray, np.ndarray] | None:
        """What is drawn: frequencies (Hz) and PSD (ms²/Hz), or None."""
        return self._spectrum

    def rescale(self, scale: float) -> None:
        """Draw lines and texts ``scale`` times their normal size."""
        if scale != self._scale:
            self._scale = scale
            self.restyle(current())

    def restyle(self, p: Palette) -> None:
        """Draw in palette ``p``."""
        k = self._scale
        self.plot.getPlotItem().setLabel("bottom", "Hz  (× 60 = per minute)",
                                         **{"color": p.muted, "font-size": f"{10 * k:.0f}pt"})
        for (region, text, _), tint in zip(self._bands, (p.faint, p.breath, p.hr)):
            c = QtGui.QColor(tint)
            c.setAlpha(30 if p.name == "dark" else 36)
            region.setBrush(pg.mkBrush(c))
            text.setColor(p.muted)
            text.setFont(font(10 * k))
        self.curve.setPen(pg.mkPen(p.text, width=2 * k))
        self._show_peak(p)

    def show_result(self, core: LiveCore | None, result: CoherenceResult | None) -> None:
        """Draw the spectrum ``result`` was scored from (``core``'s beats); None: empty."""
        self._result = result
        got = None if core is None or result is None else live_spectrum(core, result, self.params)
        self._spectrum = got
        if got is None:
            self.curve.setData([], [])
        else:
            freq, psd = got
            self.curve.setData(freq, psd)
            top = float(psd.max()) if psd.size and psd.max() > 0 else 1.0
            self.plot.getPlotItem().setYRange(0.0, top * 1.15, padding=0)
            for _, text, mid in self._bands:
                text.setPos(mid, top * 1.13)
        set_text(self.note_label, explanation(result))
        self._show_peak(current())

    def _show_peak(self, p: Palette) -> None:
        r = self._result
        if r is None or not math.isfinite(r.peak_hz) or self._spectrum is None:
            self.peak_region.hide()
            return
        half = self.params.peak_width_hz / 2
        self.peak_region.setRegion((r.peak_hz - half, r.peak_hz + half))
        c = QtGui.QColor(p.level[score_level(r.score)])
        c.setAlpha(110)
        self.peak_region.setBrush(pg.mkBrush(c))
        self.peak_region.show()


def toggle_button() -> QtWidgets.QPushButton:
    """The checkable button that shows and hides the spectrum panel."""
    button = QtWidgets.QPushButton("Spectrum")
    button.setCheckable(True)
    button.setToolTip("Show or hide the heart-rate spectrum (S)")
    button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
    return button

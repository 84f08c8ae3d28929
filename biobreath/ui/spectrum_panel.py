"""The heart-rate spectrum panel: why the coherence score is what it is.

It draws the spectrum the newest coherence score was read from, as the live core gives it
(:meth:`~biobreath.core.live.LiveCore.coherence_spectrum`: the same beats and code as the
score), the VLF / LF / HF bands shaded, and the score's peak window marked where the score found
it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import CoherenceParams, CoherenceResult, score_level
from biobreath.core.live import LiveCore
from biobreath.ui.theme import (
    MUTED,
    Palette,
    Panel,
    current,
    font,
    keep_pixels,
    label,
    set_text,
    style_plot,
)

BANDS = (("VLF", 0.0, 0.04), ("LF", 0.04, 0.15), ("HF", 0.15, 0.4))
"""The HRV bands shaded (name, low Hz, high Hz), as Kubios and the Task Force define them."""
TOP_HZ = 0.4
"""The highest frequency shown (Hz)."""


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
        self.title_label = label("Heart-rate spectrum", 12, MUTED, QtGui.QFont.Weight.DemiBold)
        lay.addWidget(self.title_label)
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
            # At the band's left edge: in the middle, LF's name would sit on a resonance peak.
            text = pg.TextItem(name, anchor=(0, 0))
            item.addItem(region)
            item.addItem(text)
            self._bands.append((region, text, lo + 0.003))
        # The frequency axis stays as it is; the bands span the power axis, rescaled each time.
        keep_pixels(item.getAxis("bottom"))
        self.peak_region = pg.LinearRegionItem((0.0, 0.0), movable=False, pen=pg.mkPen(None))
        self.peak_region.setZValue(-10)
        self.peak_region.hide()
        item.addItem(self.peak_region)
        self.curve = pg.PlotCurveItem(antialias=True)
        # An opaque pen stroked as separate segments: Qt strokes one antialiased polyline with
        # a tall narrow peak several times slower.
        self.curve.setSegmentedLineMode("on")
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

    def show_result(self, core: LiveCore | None, result: CoherenceResult | None,
                    whose: str = "") -> None:
        """Draw the spectrum ``result`` was scored from (``core``'s); None: empty. ``whose``:
        the person's name in the title, when several are on screen."""
        self._result = result
        set_text(self.title_label, f"Heart-rate spectrum · {whose}" if whose else
                 "Heart-rate spectrum")
        got = None if core is None or result is None else core.coherence_spectrum(result.t)
        if got is not None:
            shown = got[0] <= TOP_HZ + 1e-9
            got = got[0][shown], got[1][shown]
        self._spectrum = got
        if got is None:
            self.curve.setData([], [])
        else:
            freq, psd = got
            self.curve.setData(freq, psd)
            top = float(psd.max()) if psd.size and psd.max() > 0 else 1.0
            self.plot.getPlotItem().setYRange(0.0, top * 1.15, padding=0)
            for _, text, x in self._bands:
                text.setPos(x, top * 1.13)
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

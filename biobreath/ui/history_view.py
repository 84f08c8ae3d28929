"""The history view: a person's practice at a glance, floated over the trainer window (key H or
the History button): the mean coherence of each session on the low / medium / high bands, the
minutes practised each week, the current streak and the resonance rate."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.ui.formatting import one_line
from biobreath.ui.panels import coherence_bands
from biobreath.ui.theme import BREATH, MUTED, Palette, current, font, label, style_plot

if TYPE_CHECKING:
    from biobreath.offline.progress import History

SESSIONS_SHOWN = 30
"""The most recent sessions drawn (the oldest scroll off)."""
WEEKS_SHOWN = 8
"""Weeks of minutes drawn, the current one last."""


def _ticks(labels: list[str], most: int = 10) -> list[tuple[int, str]]:
    """At most ``most`` evenly spread labelled ticks (position, label), the last one always."""
    step = max(1, math.ceil(len(labels) / most))
    return [(i, t) for i, t in enumerate(labels) if (len(labels) - 1 - i) % step == 0]


class HistoryView(QtWidgets.QFrame):
    """Shows a :class:`~biobreath.offline.progress.History` (:meth:`show_history`) or why there
    is none (:meth:`show_problem`)."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("history")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self._history: History | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(30, 20, 30, 18)
        lay.setSpacing(8)
        self.title_label = label("", 22, BREATH, QtGui.QFont.Weight.DemiBold)
        self.facts_label = label("", 15)
        self.facts_label.setWordWrap(True)
        lay.addWidget(self.title_label)
        lay.addWidget(self.facts_label)

        lay.addWidget(label("Mean coherence of each session", 12, MUTED,
                            QtGui.QFont.Weight.DemiBold))
        self.coherence_plot = pg.PlotWidget()
        self.coherence_plot.setToolTip(
            "Each point is one session: its mean coherence score (0-100), on the low, medium "
            "and high bands. Higher means your heart rhythm followed your breathing more "
            "smoothly.")
        item = style_plot(self.coherence_plot)
        self._bands = coherence_bands(item)
        for _, text, _ in self._bands.values():
            text.setFont(font(10))
        self.curve = pg.PlotDataItem(symbol="o", symbolSize=11)
        item.addItem(self.curve)
        lay.addWidget(self.coherence_plot, 3)

        lay.addWidget(label("Minutes practised each week", 12, MUTED,
                            QtGui.QFont.Weight.DemiBold))
        self.minutes_plot = pg.PlotWidget()
        self.minutes_plot.setToolTip("How many minutes you practised in each week (weeks start "
                                     "on Monday; the last bar is this week).")
        style_plot(self.minutes_plot)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.7)
        self.minutes_plot.getPlotItem().addItem(self.bars)
        lay.addWidget(self.minutes_plot, 2)

        close = QtWidgets.QPushButton("Close history")
        close.clicked.connect(self.hide)
        lay.addWidget(close, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self.restyle(current())
        self.hide()

    def restyle(self, p: Palette) -> None:
        # Opaque: it is read on its own, over whatever the window showed.
        self.setStyleSheet(f"QFrame#history {{ background: {p.bg}; border: 2px solid "
                           f"{p.breath}; border-radius: 18px; }}")
        for level, (band, text, _) in self._bands.items():
            c = QtGui.QColor(p.level[level])
            c.setAlpha(34 if p.name == "dark" else 46)
            band.setBrush(pg.mkBrush(c))
            text.setColor(p.level[level])
        self.curve.setPen(pg.mkPen(p.text, width=2))
        self.curve.setSymbolBrush(pg.mkBrush(p.breath))
        self.curve.setSymbolPen(pg.mkPen(p.text, width=1))
        self.bars.setOpts(brush=pg.mkBrush(p.breath), pen=pg.mkPen(None))

    def show_history(self, history: History) -> None:
        """Draw ``history`` and show the view."""
        from biobreath.offline.progress import local_time

        self._history = history
        sessions = list(history.sessions)
        scored = [e for e in sessions if math.isfinite(e.coherence_mean)][-SESSIONS_SHOWN:]
        self.title_label.setText(f"{one_line(history.person)}: your practice")
        self.facts_label.setText(self._facts(history))

        item = self.coherence_plot.getPlotItem()
        x = np.arange(len(scored), dtype=float)
        self.curve.setData(x, [e.coherence_mean for e in scored])
        days = [local_time(e.started_utc) for e in scored]
        item.getAxis("bottom").setTicks([_ticks([f"{d:%d %b}" for d in days])])
        span = max(len(scored), 5)
        item.setXRange(-0.6, span - 0.4, padding=0)
        for _, text, mid in self._bands.values():
            text.setPos(-0.55, mid)

        weekly = list(history.weekly)[-WEEKS_SHOWN:]
        while weekly and len(weekly) < WEEKS_SHOWN:  # the weeks before the first were empty
            weekly.insert(0, (weekly[0][0] - timedelta(days=7), 0.0))
        minutes = [m for _, m in weekly]
        self.bars.setOpts(x=np.arange(len(weekly)), height=minutes, width=0.7)
        mitem = self.minutes_plot.getPlotItem()
        mitem.getAxis("bottom").setTicks([_ticks([f"{w:%d %b}" for w, _ in weekly])])
        mitem.setXRange(-0.6, max(len(weekly), 1) - 0.4, padding=0)
        top = max(minutes, default=0.0)
        mitem.setYRange(0, max(top * 1.15, 10.0), padding=0)
        self._reveal()

    @staticmethod
    def _facts(history: History) -> str:
        n = len(history.sessions)
        if not n:
            return ("No sessions yet. Each session you finish appears here: its coherence and "
                    "your minutes each week.")
        minutes = sum(e.minutes for e in history.sessions)
        days = history.streak_days
        streak = (f"You have practised {days} day{'' if days == 1 else 's'} in a row."
                  if days else "Practise today to start a new streak.")
        rate = (f" Your resonance rate: {history.resonance[-1][1]:g} breaths a minute."
                if history.resonance else "")
        return (f"{n} session{'' if n == 1 else 's'}, {minutes:.0f} minutes in all. "
                f"{streak}{rate}")

    def show_problem(self, text: str) -> None:
        """Say why no history can be shown."""
        self.title_label.setText("History")
        self.facts_label.setText(text)
        self._reveal()

    def toggle(self) -> bool:
        """Hide the view if shown; returns whether it should be (re)filled and shown."""
        if self.isVisible():
            self.hide()
            return False
        return True

    def place(self) -> None:
        """Cover most of the parent, centred."""
        if self.isHidden():
            return
        area = self.parentWidget()
        w, h = min(area.width() - 80, 1000), area.height() - 80
        self.setGeometry((area.width() - w) // 2, 40, w, h)

    def _reveal(self) -> None:
        self.show()
        self.raise_()
        self.place()
        self.setFocus()  # Esc and H close it

    def event(self, event: QtCore.QEvent) -> bool:
        # Esc and H close the view before the window's own shortcuts take them.
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and event.key() in (
                QtCore.Qt.Key.Key_Escape, QtCore.Qt.Key.Key_H):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() in (QtCore.Qt.Key.Key_Escape, QtCore.Qt.Key.Key_H):
            self.hide()
        else:
            super().keyPressEvent(event)

"""The trainer window's look: its palette, style sheet and fonts, and the themed labels, panel
frames and plots its panels are built from."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

from biobreath.events import LinkState

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
"""The window's style sheet; panels inherit it."""


def font(pt: float, weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal) -> QtGui.QFont:
    """The default font at ``pt`` points and ``weight``."""
    f = QtGui.QFont()
    f.setPointSizeF(pt)
    f.setWeight(weight)
    return f


def label(text: str = "", pt: float = 14, colour: str = TEXT,
          weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal) -> QtWidgets.QLabel:
    """A label in ``colour`` on its panel's background."""
    lab = QtWidgets.QLabel(text)
    lab.setFont(font(pt, weight))
    lab.setStyleSheet(f"color: {colour}; background: transparent; border: none;")
    return lab


def set_text(lab: QtWidgets.QLabel, text: str) -> None:
    """Set a label's text only when it changed (a change can re-layout the window)."""
    if lab.text() != text:
        lab.setText(text)


class Panel(QtWidgets.QFrame):
    """The rounded frame every panel sits in."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")


def style_plot(plot: pg.PlotWidget) -> pg.PlotItem:
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
        ax.setStyle(tickFont=font(11), tickLength=-6)
    return item


def mix(a: str, b: str, share: float) -> QtGui.QColor:
    """The opaque colour ``share`` of the way from ``b`` to ``a`` (as ``a`` drawn over ``b``)."""
    ca, cb = QtGui.QColor(a), QtGui.QColor(b)
    return QtGui.QColor(*(round(share * x + (1 - share) * y)
                          for x, y in zip(ca.getRgb()[:3], cb.getRgb()[:3])))

"""The trainer window's look: its two palettes (dark and light), style sheet and fonts, the themed
labels, panel frames and plots its panels are built from, and how text grows with the window.

Colours have one meaning everywhere. The coherence levels are colour-blind safe (after Okabe &
Ito: orange-vermillion or wine, yellow or amber, sky or deep blue; told apart under deuteranopia
and protanopia, and by lightness alone) and always come with a shape and a word
(:data:`LEVEL_MARK`).

Switching palettes: :func:`use` makes a palette current and :func:`restyle` recolours a widget
tree: every :func:`label` by the role its colour plays, every plot made by :func:`style_plot`,
and every widget with a ``restyle(palette)`` method (the panels redraw their own items).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.events import LinkState


@dataclass(frozen=True, slots=True)
class Palette:
    """Every colour the window uses (``#rrggbb``)."""

    name: str
    bg: str
    panel: str
    edge: str
    text: str
    muted: str
    faint: str
    breath: str      # the pacer: circle, breathing curve
    hr: str          # heart rate
    measured: str    # the breathing the strap measures (Polar H10 accelerometer)
    artifact: str
    marker: str      # a therapist's marks
    low: str         # coherence levels (and bad / middling / good states)
    medium: str
    high: str
    button: str
    button_hover: str
    button_off: str
    start: str
    start_edge: str
    track: str       # progress bar and other troughs
    select: str
    overlay: str     # the floating summary and help: rgba over the panels
    on_breath: str   # the count inside the pacer's circle
    ahead: tuple[int, int, int, int] = field(default=(255, 255, 255, 10))  # the "to come" shade

    @property
    def level(self) -> dict[str, str]:
        """Colour of each coherence level ("low", "medium", "high")."""
        return {"low": self.low, "medium": self.medium, "high": self.high}

    @property
    def link(self) -> dict[LinkState, str]:
        """Colour of each strap link state."""
        return {LinkState.CONNECTING: self.muted, LinkState.CONNECTED: self.high,
                LinkState.LOST: self.low, LinkState.RECONNECTED: self.medium,
                LinkState.CLOSED: self.muted}


DARK = Palette(
    "dark", bg="#0d1319", panel="#141c25", edge="#243140", text="#dbe3ec", muted="#8593a5",
    faint="#4a5868", breath="#4cbcc8", hr="#ff8fa3", measured="#e9f1f7", artifact="#ffd166",
    marker="#c9a0ff", low="#e36414", medium="#f0e442", high="#56b4e9", button="#1c2733",
    button_hover="#243242", button_off="#161e27", start="#1d5a5f", start_edge="#2f8790",
    track="#1a232d", select="#24414a", overlay="rgba(13, 19, 25, 240)", on_breath="#0b1a1f")
"""For dim rooms and the evening (the default)."""

LIGHT = Palette(
    "light", bg="#eef1f4", panel="#ffffff", edge="#cfd7e0", text="#17212b", muted="#4f5d6d",
    faint="#9aa6b2", breath="#12828f", hr="#c8254a", measured="#33414f", artifact="#a86b00",
    marker="#7b3fc4", low="#8b1e3f", medium="#a67c00", high="#0067a8", button="#e3e8ee",
    button_hover="#d5dce4", button_off="#f0f2f5", start="#bfe3e6", start_edge="#12828f",
    track="#dde3ea", select="#cfe6ea", overlay="rgba(255, 255, 255, 245)", on_breath="#ffffff",
    ahead=(0, 0, 0, 10))
"""For bright rooms and projectors."""

PALETTES = {p.name: p for p in (DARK, LIGHT)}

LEVEL_MARK = {"low": "▼", "medium": "◆", "high": "▲", "-": ""}
"""The shape beside each level's colour and word, so the level never rests on colour alone."""
LEVEL_SYMBOL = {"low": "t", "medium": "d", "high": "t1"}
"""The same shapes as pyqtgraph scatter symbols (triangle down, diamond, triangle up)."""

# Colours by their role, for labels: a label made in one keeps its role when the palette changes
# (see label()). Named after the dark palette, the default, as the tests know them.
TEXT, MUTED, BREATH, HR, ARTIFACT = DARK.text, DARK.muted, DARK.breath, DARK.hr, DARK.artifact
LEVEL = DARK.level

_current = DARK


def current() -> Palette:
    """The palette the window shows now."""
    return _current


def use(palette: Palette) -> None:
    """Make ``palette`` current (widgets built or restyled from now on use it)."""
    global _current
    _current = palette


def style_sheet(p: Palette, scale: float = 1.0) -> str:
    """The window's style sheet in palette ``p``, control text ``scale`` times its normal size."""
    def pt(x: float) -> str:
        return f"{x * scale:.1f}pt"
    return f"""
QMainWindow, QWidget#central {{ background: {p.bg}; }}
QLabel {{ color: {p.text}; }}
QToolTip {{ background: {p.panel}; color: {p.text}; border: 1px solid {p.edge};
            font-size: {pt(12)}; padding: 4px; }}
QFrame#panel {{ background: {p.panel}; border: 1px solid {p.edge}; border-radius: 14px; }}
QFrame#summary, QFrame#overlay {{ background: {p.overlay}; border: 2px solid {p.breath};
                                  border-radius: 18px; }}
QPushButton {{ background: {p.button}; color: {p.text}; border: 1px solid {p.edge};
              border-radius: 9px; padding: 7px 22px; font-size: {pt(15)}; }}
QPushButton:hover {{ background: {p.button_hover}; }}
QPushButton:checked {{ background: {p.select}; border-color: {p.breath}; }}
QPushButton:disabled {{ color: {p.faint}; background: {p.button_off}; }}
QPushButton#start:enabled {{ background: {p.start}; border-color: {p.start_edge}; }}
QComboBox, QLineEdit, QDoubleSpinBox {{ background: {p.button}; color: {p.text};
            border: 1px solid {p.edge}; border-radius: 9px; padding: 6px 12px;
            font-size: {pt(14)}; }}
QComboBox#protocol {{ min-width: 11em; }}
QLineEdit {{ border-color: {p.marker}; }}
QComboBox QAbstractItemView {{ background: {p.panel}; color: {p.text};
                               selection-background-color: {p.select}; }}
QProgressBar {{ background: {p.track}; border: none; border-radius: 3px; }}
QProgressBar::chunk {{ background: {p.breath}; border-radius: 3px; }}
QStatusBar {{ color: {p.muted}; font-size: {pt(12)}; }}
"""



def _role(colour: str) -> str | None:
    """The name of the palette field holding ``colour`` in either palette, if any."""
    return next((f.name for f in fields(Palette) for p in PALETTES.values()
                 if f.name != "name" and getattr(p, f.name) == colour), None)


def font(pt: float, weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal) -> QtGui.QFont:
    """The default font at ``pt`` points and ``weight``."""
    f = QtGui.QFont()
    f.setPointSizeF(pt)
    f.setWeight(weight)
    return f


def paint_label(lab: QtWidgets.QLabel, colour: str) -> None:
    """Show ``lab``'s text in ``colour`` on its panel's background."""
    sheet = f"color: {colour}; background: transparent; border: none;"
    if lab.styleSheet() != sheet:  # setting a style sheet, even the same, re-polishes the label
        lab.setStyleSheet(sheet)


def label(text: str = "", pt: float = 14, colour: str = TEXT,
          weight: QtGui.QFont.Weight = QtGui.QFont.Weight.Normal, *,
          rich: bool = False) -> QtWidgets.QLabel:
    """A label in ``colour`` (a palette's colour keeps its role when the palette changes) on
    its panel's background, ``pt`` points at the window's normal size (it grows with the
    window: :func:`scale_text`). Plain text unless ``rich``: a name a strap advertises, or one
    a person typed, is shown as written, never read as markup."""
    lab = QtWidgets.QLabel(text)
    lab.setTextFormat(QtCore.Qt.TextFormat.RichText if rich else QtCore.Qt.TextFormat.PlainText)
    lab.setFont(font(pt, weight))
    lab.setProperty("base_pt", float(pt))
    role = _role(colour)
    if role is not None:
        lab.setProperty("role", role)
    paint_label(lab, getattr(_current, role) if role else colour)
    return lab


def set_text(lab: QtWidgets.QLabel, text: str) -> None:
    """Set a label's text only when it changed (a change can re-layout the window)."""
    if lab.text() != text:
        lab.setText(text)


def set_share(lab: QtWidgets.QLabel, share: float) -> None:
    """Keep ``lab``'s text at least ``share`` of the window's height tall (px), however small
    its point size: the figures a client reads from across the room."""
    lab.setProperty("share", float(share))


PX_PER_PT = 96 / 72
"""Pixels per point at the 96 dpi the layout was drawn for."""


def scale_text(root: QtWidgets.QWidget, scale: float, height_px: int) -> None:
    """Size every :func:`label` under ``root`` at ``scale`` times its point size, and at least its
    share (:func:`set_share`) of ``height_px``; and every plot's tick labels at ``scale``."""
    for lab in root.findChildren(QtWidgets.QLabel):
        base = lab.property("base_pt")
        if base is None:
            continue
        px = max(round(base * PX_PER_PT * scale), round((lab.property("share") or 0) * height_px))
        if lab.font().pixelSize() != px:
            f = QtGui.QFont(lab.font())
            f.setPixelSize(px)
            lab.setFont(f)
    for plot in root.findChildren(pg.PlotWidget):
        item = plot.getPlotItem()
        for name in ("left", "bottom"):
            item.getAxis(name).setStyle(tickFont=_px_font(round(11 * PX_PER_PT * scale)))


def _px_font(px: int) -> QtGui.QFont:
    f = QtGui.QFont()
    f.setPixelSize(px)
    return f


def restyle(root: QtWidgets.QWidget, p: Palette) -> None:
    """Recolour everything under ``root`` (``root`` included) in palette ``p``."""
    for lab in root.findChildren(QtWidgets.QLabel):
        role = lab.property("role")
        if role:
            paint_label(lab, getattr(p, role))
    for plot in root.findChildren(pg.PlotWidget):
        _colour_plot(plot, p)
    for w in [root, *root.findChildren(QtWidgets.QWidget)]:
        hook = getattr(w, "restyle", None)
        if callable(hook):
            hook(p)


class Panel(QtWidgets.QFrame):
    """The rounded frame every panel sits in."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("panel")


def _colour_plot(plot: pg.PlotWidget, p: Palette) -> None:
    plot.setBackground(p.panel)
    item = plot.getPlotItem()
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen(p.faint))
        ax.setTextPen(pg.mkPen(p.muted))


PIXMAP_CACHE_MB = 256
"""Room for the plot items' kept pixels (MB). Qt's default, 10 MB, holds less than one
full-screen trace, and an item pushed out of it is painted afresh the next time it shows."""


def keep_pixels(*items: QtWidgets.QGraphicsItem) -> None:
    """Have Qt keep each plot item's pixels (``DeviceCoordinateCache``) and copy them while the
    item is unchanged, even as it moves by whole pixels, instead of painting it again: for items
    that change far less often than the plot around them is repainted."""
    QtGui.QPixmapCache.setCacheLimit(max(QtGui.QPixmapCache.cacheLimit(),
                                         PIXMAP_CACHE_MB * 1024))
    for it in items:
        it.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)


class FittedAxis(pg.AxisItem):
    """A value axis whose tick labels never overlap. pyqtgraph always labels at least two
    intervals' worth of major ticks, which on a short axis (a group card's trace, about 35 px)
    lie on top of each other; here the major spacing widens (1, 2, 5 x 10^k) until labels are
    :data:`LABEL_ROOM` label heights apart, or one more step would leave no tick in view, and
    then only the major ticks are kept."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        levels = super().tickSpacing(minVal, maxVal, size)
        if not levels or self.orientation not in ("left", "right"):
            return levels
        height = QtGui.QFontMetricsF(self.style["tickFont"] or self.font()).height()
        px_per_unit = size / abs(maxVal - minVal)
        spacing = levels[0][0]
        if spacing * px_per_unit >= LABEL_ROOM * height:
            return levels
        # Wider, but never so wide that no label is left to read the axis by (a label whose
        # tick lies within half its height of an end is not drawn).
        half = 0.5 * height / px_per_unit
        lo, hi = min(minVal, maxVal) + half, max(minVal, maxVal) - half
        while (spacing * px_per_unit < LABEL_ROOM * height
               and math.ceil(lo / (wider := _wider(spacing))) * wider <= hi):
            spacing = wider
        return [(spacing, 0.0)]


LABEL_ROOM = 1.35
"""Least distance between a value axis's tick labels, in label heights (:class:`FittedAxis`)."""


def _wider(spacing: float) -> float:
    """The next tick spacing of the 1, 2, 5 x 10^k series above ``spacing``."""
    unit = 10.0 ** math.floor(math.log10(spacing))
    return next(m * unit for m in (2.0, 5.0, 10.0, 20.0) if m * unit > spacing * (1 + 1e-9))


def style_plot(plot: pg.PlotWidget) -> pg.PlotItem:
    """A static plot: no mouse interaction, no menus, no auto-range, themed axes (the value axis
    a :class:`FittedAxis`)."""
    item = plot.getPlotItem()
    item.setAxisItems({"left": FittedAxis("left")})
    item.hideButtons()
    item.setMenuEnabled(False)
    item.setMouseEnabled(x=False, y=False)
    item.disableAutoRange()
    for name in ("left", "bottom"):
        item.getAxis(name).setStyle(tickFont=font(11), tickLength=-6)
    _colour_plot(plot, _current)
    return item


def mix(a: str, b: str, share: float) -> QtGui.QColor:
    """The opaque colour ``share`` of the way from ``b`` to ``a`` (as ``a`` drawn over ``b``)."""
    ca, cb = QtGui.QColor(a), QtGui.QColor(b)
    return QtGui.QColor(*(round(share * x + (1 - share) * y)
                          for x, y in zip(ca.getRgb()[:3], cb.getRgb()[:3])))

"""The window's overlays: the keyboard shortcuts (? or F1) and "what am I seeing?" (W), a short
plain explanation of each panel for a client."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.ui.theme import MUTED, current, label

SHORTCUTS = (
    ("M", "mark this moment, with an optional note (Enter adds it, Esc adds it without one)"),
    ("1 – 9", "add a preset marker (markers.toml in the data folder)"),
    ("F or F11", "presentation mode: full screen, controls hidden, large figures"),
    ("Esc", "close this overlay, or leave presentation mode"),
    ("Space", "stop the session"),
    ("S", "show or hide the heart-rate spectrum"),
    ("T", "switch between the dark and the light theme"),
    ("H", "your history: coherence and minutes practised, week by week"),
    ("W", "what am I seeing? A plain explanation of the screen"),
    ("? or F1", "this list of shortcuts"),
)
"""Every key the window answers, and what it does."""

WHAT_YOU_SEE = (
    ("The circle", "breathe in while it grows and out while it shrinks. Slow, easy breaths; "
                   "there is no need to fill your lungs."),
    ("Heart rate", "the line over the shaded breathing curve. It rises as you breathe in and "
                   "falls as you breathe out: your nervous system answering your breath."),
    ("Coherence", "how smooth and regular that wave is, from 0 to 100. It grows when heart "
                  "rate and breathing move together; ▲ high, ◆ medium, ▼ low."),
    ("Coherence over the session", "the score every five seconds since you started."),
    ("Spectrum", "the speeds at which your heart rate swings; one tall peak near your "
                 "breathing pace is what the score counts."),
    ("Markers", "dashed lines where something was noted during the session."),
)
"""Each thing on screen and what it means, in plain words."""


def shortcuts_html() -> str:
    """The shortcut list as a two-column table (rich text)."""
    rows = "".join(f"<tr><td style='padding:3px 18px 3px 0'><b>{key}</b></td>"
                   f"<td style='padding:3px 0'>{what}</td></tr>" for key, what in SHORTCUTS)
    return f"<table>{rows}</table>"


def what_you_see_html() -> str:
    """The plain explanation of the screen (rich text)."""
    return "".join(f"<p style='margin:0 0 8px 0'><b>{name}</b>: {what}</p>"
                   for name, what in WHAT_YOU_SEE)


class Overlay(QtWidgets.QFrame):
    """A panel floated over the middle of its parent until closed (any click, or Esc in the
    window)."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("overlay")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(36, 26, 36, 22)
        lay.setSpacing(12)
        self.title_label = label("", 22, current().breath, QtGui.QFont.Weight.DemiBold)
        self.text_label = label("", 15)
        self.text_label.setWordWrap(True)
        self.text_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        hint = label("Esc or a click closes this", 11, MUTED)
        for w in (self.title_label, self.text_label, hint):
            lay.addWidget(w)
        self.kind = ""
        self.hide()

    def show_text(self, kind: str, title: str, html: str) -> None:
        """Show ``html`` under ``title``; ``kind`` names what is shown ("help", "what")."""
        self.kind = kind
        self.title_label.setText(title)
        self.text_label.setText(html)
        self.show()
        self.raise_()
        self.place()

    def close_overlay(self) -> None:
        self.kind = ""
        self.hide()

    def place(self) -> None:
        """Centre the overlay in its parent, its text wrapped to about half the width."""
        if self.isHidden():
            return
        area = self.parentWidget()
        self.text_label.setFixedWidth(max(360, min(int(area.width() * 0.5), area.width() - 120)))
        self.adjustSize()
        size = self.sizeHint().boundedTo(area.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(area.rect().center())
        self.setGeometry(rect)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        self.close_overlay()

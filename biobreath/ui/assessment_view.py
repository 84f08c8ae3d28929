"""The end panel of a resonance assessment: the rates and their criteria, and the rate to keep.

``biobreath assess`` words the result (:mod:`biobreath.cli.assess`); this panel only shows it,
floated over the window's trace and pacer like the session summary, readable from across a room:
the rate in large type, one plain paragraph, and the table with the recommended rate's row picked
out by colour, weight and a marker (never by colour alone).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.ui.theme import MUTED, TEXT, current, label


class AssessmentPanel(QtWidgets.QFrame):
    """The assessment's result over the upper part of its parent, until dismissed."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("summary")  # the summary's frame: the same floating card
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(36, 24, 36, 24)
        lay.setSpacing(12)
        self.title_label = label("", 26, current().breath, QtGui.QFont.Weight.DemiBold)
        self.reading_label = label("", 15)
        self.reading_label.setWordWrap(True)
        self.grid = QtWidgets.QGridLayout()
        self.grid.setHorizontalSpacing(22)
        self.grid.setVerticalSpacing(6)
        note = label("", 11, MUTED)
        note.setWordWrap(True)
        lay.addWidget(self.title_label)
        lay.addWidget(self.reading_label)
        lay.addLayout(self.grid)
        lay.addWidget(note)
        self.note_label = note
        dismiss = QtWidgets.QPushButton("Close")
        dismiss.clicked.connect(self.hide)
        lay.addWidget(dismiss, 0, QtCore.Qt.AlignmentFlag.AlignRight)
        self.cells: list[list[QtWidgets.QLabel]] = []
        parent.installEventFilter(self)  # keep centred when the window is resized
        self.hide()

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QtCore.QEvent.Type.Resize:
            self.place()
        return False

    def show_result(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
                    best_row: int | None, title: str, reading: str, detail: str = "") -> None:
        """Show ``title``, ``reading``, the table (``headers``, ``rows`` of text) with the row
        ``best_row`` (None: no recommendation) marked, and ``detail`` in small print below."""
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.title_label.setText(title)
        self.reading_label.setText(reading)
        self.note_label.setText(detail)
        self.note_label.setVisible(bool(detail))
        right = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
        self.cells = []
        for j, h in enumerate(("", *headers)):
            self.grid.addWidget(label(h, 12, MUTED), 0, j, right)
        for i, row in enumerate(rows, start=1):
            best = i - 1 == best_row
            colour = current().breath if best else TEXT
            weight = QtGui.QFont.Weight.Bold if best else QtGui.QFont.Weight.Normal
            cells = [label("▶" if best else "", 14, colour, weight)]
            cells += [label(text, 14, colour, weight) for text in row]
            for j, cell in enumerate(cells):
                self.grid.addWidget(cell, i, j, right)
            self.cells.append(cells)
        self.show()
        self.raise_()
        self.place()

    def place(self) -> None:
        """Centre the panel over the upper part of its parent."""
        if self.isHidden():
            return
        area = self.parentWidget()
        width = max(300, min(int(area.width() * 0.62), area.width() - 80))
        self.reading_label.setFixedWidth(width)
        self.note_label.setFixedWidth(width)
        self.adjustSize()
        size = self.sizeHint().boundedTo(area.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(QtCore.QPoint(area.width() // 2, int(area.height() * 0.45)))
        self.setGeometry(rect)


def show_assessment(window: QtWidgets.QMainWindow, headers: Sequence[str],
                    rows: Sequence[Sequence[str]], best_row: int | None, title: str,
                    reading: str, detail: str = "") -> AssessmentPanel:
    """Show the assessment's result over ``window``'s central area, in place of the session
    summary (the result says more); the panel is returned and kept as
    ``window.assessment_panel``."""
    area = window.centralWidget()
    panel = getattr(window, "assessment_panel", None)
    if panel is None:
        panel = AssessmentPanel(area)
        window.assessment_panel = panel
    summary = getattr(window, "summary_panel", None)
    if summary is not None:
        summary.hide()
    panel.show_result(headers, rows, best_row, title, reading, detail)
    return panel

"""The check-in step: before a session starts and after it ends, the window asks how the person
feels (0-10, a subjective units of distress scale) with an optional line for their journal.

It is a small panel floated over the window, and always skippable: "Skip" (or Escape) goes on
without a rating, Enter goes on with what was given. The rating is a row of eleven numbered
buttons rather than a slider, so that nothing is chosen until the person chooses (a slider would
start at some number and suggest it); the number keys 0-9 choose too.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.files.people import MAX_NOTE, Checkin
from biobreath.ui.theme import BREATH, MUTED, Palette, current, label

QUESTIONS = {
    "before": ("Before you start", "How do you feel right now?", "Start session"),
    "after": ("Session over", "How do you feel now?", "Done"),
}
"""Title, question and go-on button of each moment."""


_ANSWER_KEYS = (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_Escape)


class CheckinStep(QtWidgets.QFrame):
    """Asks one check-in; emits :attr:`answered` with a :class:`Checkin`, or None when skipped
    (or when neither a rating nor a note was given)."""

    answered = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("checkin")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.moment = "before"
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(36, 26, 36, 26)
        lay.setSpacing(12)
        self.title_label = label("", 24, BREATH, QtGui.QFont.Weight.DemiBold)
        self.question_label = label("", 17)
        lay.addWidget(self.title_label)
        lay.addWidget(self.question_label)
        row = QtWidgets.QHBoxLayout()
        row.setSpacing(6)
        self.group = QtWidgets.QButtonGroup(self)
        self.group.setExclusive(True)
        for n in range(11):
            b = QtWidgets.QPushButton(str(n))
            b.setCheckable(True)
            b.setMinimumWidth(52)
            b.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # Enter always means "go on"
            b.setToolTip("0: completely calm   10: the most distress you can imagine")
            self.group.addButton(b, n)
            row.addWidget(b)
        lay.addLayout(row)
        ends = QtWidgets.QHBoxLayout()
        ends.addWidget(label("calm", 12, MUTED))
        ends.addStretch(1)
        ends.addWidget(label("the most distress", 12, MUTED))
        lay.addLayout(ends)
        self.note = QtWidgets.QLineEdit()
        self.note.setMaxLength(MAX_NOTE)
        self.note.setPlaceholderText("A line for your journal (optional)")
        self.note.returnPressed.connect(self.go_on)
        lay.addWidget(self.note)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        self.skip_button = QtWidgets.QPushButton("Skip")
        self.skip_button.clicked.connect(self.skip)
        self.go_button = QtWidgets.QPushButton("")
        self.go_button.setObjectName("start")
        self.go_button.clicked.connect(self.go_on)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.go_button)
        lay.addLayout(buttons)
        self.restyle(current())
        self.hide()

    def restyle(self, p: Palette) -> None:
        # Opaque: nothing of the window shows through the question.
        self.setStyleSheet(f"QFrame#checkin {{ background: {p.bg}; border: 2px solid "
                           f"{p.breath}; border-radius: 18px; }}")

    def ask(self, moment: str) -> None:
        """Show the step for ``moment`` ("before" or "after"), nothing chosen yet."""
        self.moment = moment
        title, question, go = QUESTIONS[moment]
        self.title_label.setText(title)
        self.question_label.setText(f"{question} From 0 (calm) to 10 (the most distress).")
        self.go_button.setText(go)
        self.group.setExclusive(False)  # an exclusive group keeps one button down
        for b in self.group.buttons():
            b.setChecked(False)
        self.group.setExclusive(True)
        self.note.clear()
        self.show()
        self.raise_()
        self.place()
        self.setFocus()  # the number keys choose; a click on the note types there

    def value(self) -> Checkin | None:
        """What has been given so far (None: nothing)."""
        suds = self.group.checkedId()
        text = self.note.text().strip()
        if suds < 0 and not text:
            return None
        return Checkin(suds if suds >= 0 else None, text)

    def go_on(self) -> None:
        if self.isVisible():
            checkin = self.value()
            self.hide()
            self.answered.emit(checkin)

    def skip(self) -> None:
        if self.isVisible():
            self.hide()
            self.answered.emit(None)

    def event(self, event: QtCore.QEvent) -> bool:
        # The number keys, Enter and Esc answer the step before the window's own shortcuts
        # (markers on 1-9, Esc) take them.
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and (
                QtCore.Qt.Key.Key_0 <= event.key() <= QtCore.Qt.Key.Key_9
                or event.key() in _ANSWER_KEYS):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key = event.key()
        if QtCore.Qt.Key.Key_0 <= key <= QtCore.Qt.Key.Key_9 and not self.note.hasFocus():
            self.group.button(key - QtCore.Qt.Key.Key_0).setChecked(True)
        elif key in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
            self.go_on()
        elif key == QtCore.Qt.Key.Key_Escape:
            self.skip()
        else:
            super().keyPressEvent(event)

    def place(self) -> None:
        """Centre the step over its parent's upper part, as the summary sits."""
        if self.isHidden():
            return
        area = self.parentWidget()
        self.adjustSize()
        size = self.sizeHint().boundedTo(area.size() - QtCore.QSize(40, 40))
        rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
        rect.moveCenter(QtCore.QPoint(area.width() // 2, int(area.height() * 0.4)))
        self.setGeometry(rect)

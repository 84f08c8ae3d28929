"""Marking moments in the window: the therapist's preset markers (number keys 1-9) and the
marker bar (a button and a small inline note field).

Presets live in ``markers.toml`` in the per-user data folder::

    presets = ["client described distress", "grounding started", "calm noticed"]

Up to nine short texts, the first on key 1. Without the file the defaults are used; a broken file
gives one warning and the defaults.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.errors import BiobreathError
from biobreath.files.datafiles import read_toml
from biobreath.ui.formatting import MAX_MARKER_TEXT, marker_text

DEFAULT_PRESETS = ("client described distress", "grounding started", "calm noticed",
                   "breathing slowed", "talked about a trigger", "eyes closed")
"""Preset markers when the user has not chosen their own."""
MAX_PRESETS = 9


def presets_path(data_folder: Path) -> Path:
    """Where the preset markers are kept in ``data_folder``."""
    return data_folder / "markers.toml"


def load_presets(path: Path) -> tuple[tuple[str, ...], str]:
    """The preset markers in ``path`` and a warning ("" when none): a missing file gives the
    defaults quietly, a broken one the defaults and a one-line warning saying why."""
    if not path.exists():
        return DEFAULT_PRESETS, ""
    try:
        data = read_toml(path, "marker presets file", BiobreathError)
    except BiobreathError as e:
        return DEFAULT_PRESETS, f"{e}; using the default markers"
    presets = data.get("presets")
    if (not isinstance(presets, list) or not 1 <= len(presets) <= MAX_PRESETS
            or not all(isinstance(p, str) and p.strip() for p in presets)):
        return DEFAULT_PRESETS, (f"{path}: 'presets' must be a list of 1-{MAX_PRESETS} texts; "
                                 "using the default markers")
    long = next((p for p in presets if len(p) > MAX_MARKER_TEXT), None)
    if long is not None:
        return DEFAULT_PRESETS, (f"{path}: a preset is longer than {MAX_MARKER_TEXT} characters; "
                                 "using the default markers")
    return tuple(marker_text(p) for p in presets), ""


class NoteField(QtWidgets.QLineEdit):
    """The marker's note: Enter adds the marker with the note, Esc adds it without one."""

    done = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMaxLength(MAX_MARKER_TEXT)
        self.setToolTip("A short note for this marker: Enter adds it, Esc adds the marker "
                        "without a note")
        self.returnPressed.connect(lambda: self.done.emit(self.text().strip()))

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        if event.key() == QtCore.Qt.Key.Key_Escape:
            self.done.emit("")
            return
        super().keyPressEvent(event)


class MarkerBar(QtWidgets.QWidget):
    """A "Mark" button (:attr:`requested`) and the note field :meth:`ask` opens; :attr:`marked`
    gives the note ("" for none) when the marker is confirmed."""

    requested = QtCore.Signal()
    marked = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(6)
        self.button = QtWidgets.QPushButton("Mark")
        self.button.setToolTip("Mark this moment, with an optional note (M); "
                               "keys 1-9 add the preset markers")
        self.button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.button.clicked.connect(self.requested)
        self.field = NoteField()
        self.field.setMinimumWidth(260)
        self.field.done.connect(self._done)
        self.field.hide()
        lay.addWidget(self.button)
        lay.addWidget(self.field)

    @property
    def asking(self) -> bool:
        """True while the note field is open."""
        return not self.field.isHidden()

    def ask(self, when: str = "") -> None:
        """Open the note field for a marker (``when``: its time, shown in the field)."""
        self.field.clear()
        self.field.setPlaceholderText(f"note for the marker{' at ' + when if when else ''} "
                                      "(Enter), or Esc")
        self.field.show()
        self.field.setFocus()

    def cancel(self) -> None:
        """Close the note field without adding a marker (the session ended)."""
        self.field.hide()

    def _done(self, note: str) -> None:
        self.field.hide()
        self.window().setFocus()
        self.marked.emit(note)

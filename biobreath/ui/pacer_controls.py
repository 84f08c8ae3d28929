"""The window's pacer controls: the pace (breaths/min and in:out) and the sound to breathe with.

A new pace starts at the next breath boundary and goes through the session's event stream
(:meth:`Session.change_pace`), so it is recorded and a replay paces the same. The rate box holds
only rates the safety bounds allow (2-30 breaths/min), and every in:out choice is an inhale share
a protocol may use; a pace the protocol still forbids (holds stretched past 10 s at a slow rate)
is refused with its one-line reason.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtWidgets

from biobreath.core.protocol import MAX_RATE_BPM, MIN_RATE_BPM
from biobreath.errors import ProtocolError
from biobreath.session import Session
from biobreath.session.sound import SoundPlayer
from biobreath.ui.theme import MUTED, label

RATIOS = (("1:1", 0.5), ("2:3", 0.4), ("1:2", 1 / 3))
"""In:out choices and their inhale shares (a longer out-breath calms)."""
SOUNDS = (("no sound", "off"), ("tone", "tone"), ("chime", "chime"))


class PacerControls(QtWidgets.QWidget):
    """Rate, in:out and a button to set the pace; sound and volume. ``on_pace(rate_bpm,
    inhale_share)`` is called to change the pace (default: the attached session's
    :meth:`~biobreath.session.Session.change_pace`)."""

    def __init__(self, on_pace: Callable[[float, float], None] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_pace = on_pace
        self._session: Session | None = None
        self._player: SoundPlayer | None = None

        self.rate = QtWidgets.QDoubleSpinBox()
        self.rate.setRange(MIN_RATE_BPM, MAX_RATE_BPM)
        self.rate.setDecimals(1)
        self.rate.setSingleStep(0.1)
        self.rate.setValue(6.0)
        self.rate.setSuffix(" /min")
        self.rate.setToolTip("Breaths per minute for the pacer (2-30). Most people breathe "
                             "12-15 a minute at rest; slow breathing is about 4.5-7.")
        self.ratio = QtWidgets.QComboBox()
        for text, share in RATIOS:
            self.ratio.addItem(text, share)
        self.ratio.setCurrentIndex(1)
        self.ratio.setToolTip("How long the in-breath is against the out-breath: 2:3 breathes "
                              "out for longer than in, which most people find calming.")
        self.apply = QtWidgets.QPushButton("Set pace")
        self.apply.setToolTip("Pace at this rate from the next breath on.")
        self.apply.clicked.connect(self._set_pace)

        self.sound = QtWidgets.QComboBox()
        for text, kind in SOUNDS:
            self.sound.addItem(text, kind)
        self.sound.setToolTip("A soft tone that rises as you breathe in and falls as you breathe "
                              "out (silent in holds), or a gentle chime at each change: for "
                              "breathing with your eyes closed.")
        self.sound.currentIndexChanged.connect(self._sound_changed)
        self.volume = QtWidgets.QSlider()
        self.volume.setOrientation(self.volume.orientation().Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(50)
        self.volume.setToolTip("Sound volume")
        self.volume.valueChanged.connect(self._sound_changed)
        self.note = label("", 12, MUTED)
        self.note.setWordWrap(True)

        grid = QtWidgets.QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(label("Pace", 13, MUTED), 0, 0)
        grid.addWidget(self.rate, 0, 1)
        grid.addWidget(self.ratio, 0, 2)
        grid.addWidget(self.apply, 0, 3)
        grid.addWidget(label("Sound", 13, MUTED), 1, 0)
        grid.addWidget(self.sound, 1, 1)
        grid.addWidget(self.volume, 1, 2, 1, 2)
        grid.addWidget(self.note, 2, 0, 1, 4)

    def attach(self, session: Session) -> None:
        """Control ``session`` (before it runs): its pace, and its sound player (added if the
        session has none, silent until a sound is chosen)."""
        self._session = session
        self._player = next((li for li in session.listeners if isinstance(li, SoundPlayer)), None)
        if self._player is None:
            self._player = SoundPlayer(self.sound.currentData(), self.volume.value() / 100)
            session.listeners.append(self._player)
        else:
            self.sound.setCurrentIndex(self.sound.findData(self._player.kind))
            self.volume.setValue(round(self._player.volume * 100))
        shape = session.pacer.segment(0.0).shape
        if shape is not None:
            self.rate.setValue(shape.rate_bpm)
        # A replay paces as it was recorded.
        for w in (self.rate, self.ratio, self.apply):
            w.setEnabled(not session.source.replays_clock)
        self.note.clear()

    def _set_pace(self) -> None:
        on_pace = self._on_pace or (self._session.change_pace if self._session else None)
        if on_pace is None:
            return
        try:
            on_pace(self.rate.value(), self.ratio.currentData())
        except ProtocolError as e:
            self.note.setText(str(e))
            return
        self.note.setText(f"From the next breath: {self.rate.value():.1f} breaths a minute, "
                          f"in:out {self.ratio.currentText()}.")

    def _sound_changed(self) -> None:
        if self._player is not None:
            self._player.kind = self.sound.currentData()
            self._player.volume = self.volume.value() / 100

"""Several people at once: one card per strap, side by side, and the pair's synchrony.

Each card shows the person's name, coherence score (colour, shape and word), strap status and
heart rate over the shared pacer's breathing curve (the trainer's own
:class:`~biobreath.ui.panels.HeartRateTrace`). With exactly two people a bar below shows their
physiological synchrony over the last minute (:mod:`biobreath.core.synchrony`), recomputed once a
second of session time. The view reads the session's straps; it never changes them.
"""

from __future__ import annotations

import math

from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import score_level
from biobreath.core.live import LiveCore
from biobreath.core.pacer import Pacer
from biobreath.core.synchrony import SynchronyResult, live_synchrony
from biobreath.session import Session, StrapStatus
from biobreath.ui.panels import QUALITY, HeartRateTrace
from biobreath.ui.theme import (
    LEVEL_MARK,
    MUTED,
    TEXT,
    Palette,
    Panel,
    current,
    label,
    paint_label,
    set_text,
)

SYNC_WORDS = ((0.75, "strong"), (0.5, "some"), (-math.inf, "little"))
"""Words for the live synchrony r (the first whose threshold it reaches): our reading, not a
published scale; the number is always shown beside them."""


RMSSD_MIN_WIDTH_PX = 520
"""A card narrower than this (px) leaves out the RMSSD beside the heart rate."""


def columns_for(n: int) -> int:
    """Cards per row for ``n`` people: two side by side up to four, then four a row."""
    return 2 if n <= 4 else 4


def status_text(status: StrapStatus, p: Palette) -> str:
    """One line: link, signal and battery, each in its colour (rich text). A card too narrow
    for it cuts the end, so the battery, which changes least, comes last."""
    words, role = QUALITY[status.quality]
    parts = [(status.link.value, p.link[status.link]), (words, getattr(p, role))]
    if status.battery_pct is not None:
        parts.append((f"battery {status.battery_pct} %",
                      p.low if status.battery_pct <= 15 else p.muted))
    return " · ".join(f"<span style='color:{c}'>{w}</span>" for w, c in parts)


class PersonCard(QtWidgets.QWidget):
    """One person: name, coherence and strap status over their heart-rate trace."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._n_beats = -1
        self._score = math.nan
        self._status: StrapStatus | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        # Name over strap status on the left, coherence score over its level on the right.
        top = QtWidgets.QGridLayout()
        top.setHorizontalSpacing(12)
        top.setVerticalSpacing(0)
        self.name_label = label("", 16, TEXT, QtGui.QFont.Weight.DemiBold)
        self.status_label = label("", 12, MUTED, rich=True)
        self.score_label = label("–", 30, MUTED, QtGui.QFont.Weight.Bold)
        self.score_label.setToolTip("Coherence, 0-100, of this person's last 64 s, and its "
                                    "level: ▼ low (under 33), ◆ medium, ▲ high (64 and over).")
        self.level_label = label("", 13, MUTED)
        self.level_label.setToolTip(self.score_label.toolTip())
        for lab in (self.name_label, self.status_label):
            # A long name or status is cut at the card's edge rather than widening the card.
            lab.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                              QtWidgets.QSizePolicy.Policy.Preferred)
        right = QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
        top.addWidget(self.name_label, 0, 0)
        top.addWidget(self.status_label, 1, 0)
        top.addWidget(self.score_label, 0, 1, right)
        top.addWidget(self.level_label, 1, 1, right)
        top.setColumnStretch(0, 1)
        lay.addLayout(top)
        self.trace = HeartRateTrace()
        # No legend: it would not fit a narrow card, and the colours are the trainer's own.
        self.trace.legend_label.hide()
        lay.addWidget(self.trace, 1)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        # RMSSD, a figure for the therapist, gives way to the heart rate on a narrow card.
        self.trace.rmssd_label.setVisible(self.width() >= RMSSD_MIN_WIDTH_PX)

    def restyle(self, p: Palette) -> None:
        self._paint_score(p)
        if self._status is not None:
            set_text(self.status_label, status_text(self._status, p))

    def reset(self) -> None:
        self._n_beats = -1
        self._score = math.nan
        self._status = None
        self.trace.reset()

    def show_person(self, status: StrapStatus, core: LiveCore, pacer: Pacer, t: float) -> None:
        """Show this person at session time ``t`` (s); beats are redrawn only when new."""
        if status != self._status:
            self._status = status
            set_text(self.name_label, status.person or status.name or status.device)
            # With the person's name on the card, the strap's is one hover away.
            self.name_label.setToolTip(  # as written, like the name itself
                QtGui.Qt.convertFromPlainText(status.name) if status.person else "")
            set_text(self.status_label, status_text(status, current()))
        state = core.state
        if state.n_beats != self._n_beats:
            self._n_beats = state.n_beats
            self.trace.show_beats(core)
            score = state.coherence.score if state.coherence is not None else math.nan
            if not score == self._score:
                self._score = score
                self._paint_score(current())
        self.trace.show_time(pacer, t)

    def _paint_score(self, p: Palette) -> None:
        if not math.isfinite(self._score):
            set_text(self.score_label, "–")
            set_text(self.level_label, "")
            paint_label(self.score_label, p.muted)
            paint_label(self.level_label, p.muted)
            return
        level = score_level(self._score)
        set_text(self.score_label, f"{self._score:.0f}")
        set_text(self.level_label, f"{LEVEL_MARK[level]} {level}")
        for lab in (self.score_label, self.level_label):
            paint_label(lab, p.level[level])


class SynchronyBar(Panel):
    """The pair's live synchrony: r, in words, and how the two hearts line up."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(18, 8, 18, 8)
        lay.setSpacing(14)
        lay.addWidget(label("SYNCHRONY", 12, MUTED, QtGui.QFont.Weight.DemiBold))
        self.value_label = label("–", 26, TEXT, QtGui.QFont.Weight.Bold)
        self.value_label.setToolTip(
            "How closely the two heart rates rise and fall together over the last minute: the "
            "cross-correlation r (0-1) of 30 s windows, each at its best lag within ±3 s.")
        self.words_label = label("needs a minute of both hearts", 14, TEXT)
        self.lead_label = label("", 12, MUTED)
        self.lead_label.setToolTip("Two people breathing with one pacer share its rhythm, so "
                                   "their hearts move together partly because of the pacer.")
        words = QtWidgets.QVBoxLayout()
        words.setSpacing(0)
        for lab in (self.words_label, self.lead_label):
            lab.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored,
                              QtWidgets.QSizePolicy.Policy.Preferred)
            words.addWidget(lab)
        lay.addWidget(self.value_label)
        lay.addLayout(words, 1)
        self.result: SynchronyResult | None = None

    def show_result(self, result: SynchronyResult | None, names: tuple[str, str],
                    paced: bool) -> None:
        """Show ``result`` for the people ``names`` (A, B); ``paced``: a pacer leads them."""
        self.result = result
        note = "one pacer leads both" if paced else "free breathing"
        if result is None or not math.isfinite(result.r):
            set_text(self.value_label, "–")
            set_text(self.words_label, "needs a minute of both hearts")
            set_text(self.lead_label, note)
            return
        word = next(w for limit, w in SYNC_WORDS if result.r >= limit)
        phase = "in phase" if result.in_phase_pct >= 50 else "in opposite phase"
        lag = result.lag_s
        if abs(lag) < 0.5:
            lead = "neither heart leads"
        else:
            first, second = names if lag > 0 else names[::-1]
            lead = f"{second} follows {first} by {abs(lag):.1f} s"
        set_text(self.value_label, f"{result.r:.2f}")
        set_text(self.words_label, f"{word} synchrony, {phase}, over the last minute")
        set_text(self.lead_label, f"{lead} · {note}")


class GroupView(QtWidgets.QWidget):
    """Every person of a session side by side, and the pair's synchrony when there are two."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards: dict[str, PersonCard] = {}
        self._sync_key: tuple[int, int] | None = None
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(10)
        self.grid = QtWidgets.QGridLayout()
        self.grid.setSpacing(12)
        lay.addLayout(self.grid, 1)
        self.sync_bar = SynchronyBar()
        self.sync_bar.hide()
        lay.addWidget(self.sync_bar)

    def reset(self) -> None:
        """Forget the people of the last session."""
        for card in self.cards.values():
            self.grid.removeWidget(card)
            card.deleteLater()
        self.cards = {}
        self._sync_key = None
        self.sync_bar.hide()
        self.sync_bar.show_result(None, ("", ""), False)

    def show_session(self, session: Session, t: float) -> None:
        """Draw every strap of ``session`` at session time ``t`` (s)."""
        for device, strap in session.straps.items():
            card = self.cards.get(device)
            if card is None:
                card = self._add_card(device)
            card.show_person(strap.status, strap.core, session.pacer, t)
        two = len(self.cards) == 2
        self.sync_bar.setVisible(two)
        # Once a second of session time, or when beats came in since (a seek lands at rest).
        key = (int(t), sum(s.core.state.n_beats for s in session.straps.values()))
        if two and key != self._sync_key:
            self._sync_key = key
            (a, sa), (b, sb) = session.straps.items()
            names = (sa.status.person or sa.status.name or a,
                     sb.status.person or sb.status.name or b)
            paced = session.pacer.segment(t).shape is not None
            self.sync_bar.show_result(live_synchrony(sa.core, sb.core, t), names, paced)

    def _add_card(self, device: str) -> PersonCard:
        card = PersonCard()
        self.cards[device] = card
        # Re-flow every card: the grid's shape depends on how many there are.
        cols = columns_for(len(self.cards))
        for k, c in enumerate(self.cards.values()):
            self.grid.removeWidget(c)
            self.grid.addWidget(c, k // cols, k % cols)
            # The traces step by whole pixels; each at its own phase, so they move in turn.
            c.trace.set_step_phase(k / len(self.cards))
        return card

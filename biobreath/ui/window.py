"""The trainer window: pacer, heart rate over the breathing curve, coherence and strap status,
the session's markers, and on request the heart-rate spectrum.

The window only reads what the session publishes (through a small listener that marks what
changed) and redraws on a frame timer, handing each panel (:mod:`biobreath.ui.panels`) only the
news it shows. A frame does bounded work: the trace is shifted under its fixed axis, and data is
rebuilt only where news arrived.

For the therapist's room: presentation mode (full screen on a chosen screen, controls hidden,
the score, the breathing word and the heart rate large enough to read from across the room),
markers (a key, a button, presets on the number keys), a light and a dark theme, a help overlay
(:mod:`biobreath.ui.help` lists every key) and a remembered size, screen and theme
(:mod:`biobreath.ui.settings`). Text grows with the window, in presentation mode or maximised.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import qasync
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import CoherenceResult
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import BreathingProtocol, safety_line
from biobreath.core.respiration import BreathingEstimate
from biobreath.errors import BiobreathError, ProtocolError
from biobreath.events import Event, Marker
from biobreath.files.protocols import available_protocols, load_protocol
from biobreath.files.recording import SessionData
from biobreath.session import BreathReport, Session, SessionListener, SessionSummary, StrapStatus
from biobreath.session.history import Practice
from biobreath.ui import theme
from biobreath.ui.checkin import CheckinStep
from biobreath.ui.formatting import clock_text, mean_phase, plain_reading, summary_lines
from biobreath.ui.group_view import GroupView
from biobreath.ui.help import Overlay, shortcuts_html, what_you_see_html
from biobreath.ui.history_view import HistoryView
from biobreath.ui.markers import MarkerBar, load_presets, presets_path
from biobreath.ui.pacer_controls import PacerControls
from biobreath.ui.panels import (
    HR_SHARE,
    CoherenceHistoryPanel,
    CoherencePanel,
    HeartRateTrace,
    PacerPanel,
    StrapPanel,
    SummaryPanel,
)
from biobreath.ui.settings import data_folder, load_look, open_settings, save_look
from biobreath.ui.spectrum_panel import SpectrumPanel, toggle_button
from biobreath.ui.theme import BREATH, TEXT, label, set_text

log = logging.getLogger(__name__)

PRESENT_HR_SHARE = 0.07
"""The heart-rate figure in presentation mode: at least this share of the height (px)."""
PRESENT_STAGE_SHARE = 0.06
"""The breathing word ("breathe in") in presentation mode: at least this share of the height."""


class SessionNews(SessionListener):
    """What one session published for the window, from its primary strap.

    The ``*_new`` flags mark what changed since the window last drew it; the window clears them.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        # Everything but the breathing (which may never come) is drawn once at the start.
        self.beats_new = True
        self.coherence_new = True
        self.status_new = True
        self.breathing_new = False
        self.markers_new = False
        self.markers: list[Marker] = []
        self.phases: list[float] = []  # heart rate against the pacer, per breath (degrees)
        self.coherence_t: list[float] = []  # minutes
        self.coherence_score: list[float] = []
        self.coherence: CoherenceResult | None = None  # the newest with a score
        self.status: StrapStatus | None = None
        self.breathing: BreathingEstimate | None = None
        self.summary: SessionSummary | None = None

    def redraw(self) -> None:
        """Mark everything held as new, for a window that starts showing this session midway
        (the replay timeline restores a session with its news)."""
        self.beats_new = self.coherence_new = self.status_new = self.markers_new = True
        self.breathing_new = self.breathing is not None

    def on_event(self, event: Event) -> None:
        if isinstance(event, Marker):
            self.markers.append(event)
            self.markers_new = True

    def on_breath(self, report: BreathReport) -> None:
        self.phases.append(report.phase_deg)

    def on_beat(self, device: str, verdict: BeatVerdict, state: LiveState) -> None:
        if device == self.session.primary:
            self.beats_new = True

    def on_coherence(self, device: str, result: CoherenceResult) -> None:
        if device == self.session.primary and math.isfinite(result.score):
            self.coherence_t.append(result.t / 60)
            self.coherence_score.append(result.score)
            self.coherence = result
            self.coherence_new = True

    def on_status(self, status: StrapStatus) -> None:
        # Several straps can feed a session; the status line follows the primary one.
        if self.session.primary in (None, status.device):
            self.status = status
            self.status_new = True

    def on_breathing(self, device: str, estimate: BreathingEstimate) -> None:
        if device == self.session.primary:
            self.breathing = estimate
            self.breathing_new = True

    def on_end(self, summary: SessionSummary) -> None:
        self.summary = summary


class TrainerWindow(QtWidgets.QMainWindow):
    """The biofeedback trainer.

    ``make_session(protocol)`` builds a ready :class:`Session` (source, clock, recorder);
    ``autostart`` starts one as soon as the event loop runs; with ``screenshot`` the window is
    saved to that PNG when the session ends and the application quits; ``fps`` is the frame rate
    of the pacer and trace (frames/s, default 60). ``present`` opens in presentation mode on
    ``screen`` (an index into the application's screens; None: the window's own). ``settings``
    keep the look between runs (default: :func:`~biobreath.ui.settings.open_settings`). Needs a
    running qasync event loop.
    """

    #: Called as ``on_end(window, session)`` once a session has ended and its summary is up
    #: (``assess`` shows its result so); None: nothing more.
    on_end: Callable[[TrainerWindow, Session], None] | None = None

    def __init__(self, make_session: Callable[[BreathingProtocol], Session],
                 protocol: BreathingProtocol, *, autostart: bool = True,
                 screenshot: Path | None = None, fps: int = 60, present: bool = False,
                 screen: int | None = None, settings: QtCore.QSettings | None = None,
                 practice: Practice | None = None) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        super().__init__()
        self._settings = settings if settings is not None else open_settings()
        self.look = load_look(self._settings, tuple(theme.PALETTES))
        theme.use(theme.PALETTES[self.look.theme])
        self.presets, warning = load_presets(presets_path(data_folder()))
        if warning:
            log.warning("%s", warning)
        self._presenting = False
        self._mark_t: float | None = None  # when the marker being noted was made (s)
        self._normal_geometry: QtCore.QRect | None = None
        self._normal_maximised = False
        self._shown_controls: list[QtWidgets.QWidget] = []
        self._scale = 0.0
        self._scale_key: tuple | None = None
        self.make_session = make_session
        self.protocol = protocol
        self.screenshot = Path(screenshot) if screenshot is not None else None
        self.session: Session | None = None
        self.task: asyncio.Task | None = None
        self.summary: SessionSummary | None = None
        self.error: BaseException | None = None
        # Only the current session's news is read: an older session's is dropped with it.
        self._news: SessionNews | None = None
        self._close_when_stopped = False
        self._running = False
        self._progress_key = -1
        # Whose practice: check-ins before and after each session, and their history (H).
        self.practice = practice
        self._asked_before = False
        self._ask_after = False

        self.setWindowTitle("biobreath")
        self.setStyleSheet(theme.style_sheet(theme.current()))
        self.resize(1280, 800)
        self.setMinimumSize(1100, 700)
        self._build()
        self._restore_look()
        self._add_shortcuts()
        if warning:
            self.statusBar().showMessage(warning, 15000)
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(1, round(1000 / fps)))
        self._timer.timeout.connect(self.update_frame)
        self._show_idle()
        if autostart:
            QtCore.QTimer.singleShot(0, self.start)
        if present:
            self.set_presenting(True, screen)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        central = QtWidgets.QWidget()
        central.setObjectName("central")
        self.setCentralWidget(central)
        root = QtWidgets.QVBoxLayout(central)
        root.setContentsMargins(18, 14, 18, 10)
        root.setSpacing(12)

        header = QtWidgets.QHBoxLayout()
        header.setSpacing(12)
        header.addWidget(label("biobreath", 20, BREATH, QtGui.QFont.Weight.DemiBold))
        header.addSpacing(14)
        self.chooser = QtWidgets.QComboBox()
        self.chooser.setObjectName("protocol")
        self.chooser.setToolTip("Breathing protocol for the next session")
        self._fill_chooser()
        self.chooser.currentIndexChanged.connect(self._choose_protocol)
        header.addWidget(self.chooser)
        self.start_button = QtWidgets.QPushButton("Start")
        self.start_button.setObjectName("start")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QtWidgets.QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        header.addWidget(self.start_button)
        header.addWidget(self.stop_button)
        header.addSpacing(14)
        self.marker_bar = MarkerBar()
        self.marker_bar.requested.connect(self.begin_marker)
        self.marker_bar.marked.connect(self._marked)
        header.addWidget(self.marker_bar)
        self.spectrum_button = toggle_button()
        self.spectrum_button.toggled.connect(self.show_spectrum)
        header.addWidget(self.spectrum_button)
        self.history_button = QtWidgets.QPushButton("History")
        self.history_button.setToolTip("Your sessions: coherence and minutes each week (H)")
        self.history_button.clicked.connect(self.toggle_history)
        self.history_button.setVisible(self.practice is not None)
        header.addWidget(self.history_button)
        self._controls = (self.chooser, self.start_button, self.stop_button, self.marker_bar,
                          self.spectrum_button, self.history_button)
        header.addStretch(1)
        self.time_label = label("0:00 / 0:00", 20, TEXT, QtGui.QFont.Weight.DemiBold)
        self.time_label.setToolTip("Time into the session, and how long it lasts")
        header.addWidget(self.time_label)
        root.addLayout(header)

        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(6)
        root.addWidget(self.progress)

        middle = QtWidgets.QHBoxLayout()
        middle.setSpacing(12)
        self.heart_trace = HeartRateTrace()
        middle.addWidget(self.heart_trace, 5)
        # Several straps: every person side by side in place of the one trace (_show_group).
        self.group_view = GroupView()
        self.group_view.hide()
        middle.addWidget(self.group_view, 5)
        self.pacer_panel = PacerPanel()
        pacer_column = QtWidgets.QVBoxLayout()
        pacer_column.addWidget(self.pacer_panel, 1)
        self.pacer_controls = PacerControls()
        pacer_column.addWidget(self.pacer_controls, 0)
        middle.addLayout(pacer_column, 2)
        root.addLayout(middle, 5)
        self._middle = middle

        bottom = QtWidgets.QHBoxLayout()
        bottom.setSpacing(12)
        self.score_panel = CoherencePanel()
        self.history_panel = CoherenceHistoryPanel()
        self.strap_panel = StrapPanel()
        self.spectrum_panel = SpectrumPanel()
        # Room for the plot even when several people's cards would take the whole height.
        self.spectrum_panel.setMinimumHeight(200)
        self.spectrum_panel.hide()
        bottom.addWidget(self.score_panel, 0)
        bottom.addWidget(self.history_panel, 1)
        bottom.addWidget(self.spectrum_panel, 1)
        bottom.addWidget(self.strap_panel, 0)
        root.addLayout(bottom, 2)

        self.statusBar().setSizeGripEnabled(False)
        self.summary_panel = SummaryPanel(central)
        self.overlay = Overlay(central)
        self.checkin_step = CheckinStep(central)
        self.checkin_step.answered.connect(self._checked_in)
        self.history_view = HistoryView(central)

    def _fill_chooser(self) -> None:
        names = available_protocols()
        for name, path in names.items():
            self.chooser.addItem(name, str(path))
        idx = next((i for i, (name, path) in enumerate(names.items())
                    if str(path) == self.protocol.source), -1)
        if idx < 0:
            # A protocol from elsewhere (a file the user gave) is offered as it is.
            self.chooser.insertItem(0, self.protocol.name, self.protocol)
            idx = 0
        self.chooser.setCurrentIndex(idx)

    # -- control ----------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the session's run has returned."""
        return self._running

    def start(self) -> None:
        """Build a session for the chosen protocol and run it on the event loop."""
        if self.running:
            return
        p = self.practice
        if p is not None and p.checkins and self.screenshot is None and p.before is None \
                and not self._asked_before:
            self._asked_before = True
            self.checkin_step.ask("before")
            return
        self._asked_before = False
        self.checkin_step.hide()
        self._ask_after = p is not None and p.checkins and self.screenshot is None \
            and p.after is None
        self._launch()

    def _launch(self) -> None:
        """Build the session and run it (after any check-in)."""
        try:
            session = self.make_session(self.protocol)
        except Exception as e:  # a strap that cannot be opened is shown, not a crash
            log.exception("cannot start a session")
            self.error = e
            self.statusBar().showMessage(f"cannot start: {e}")
            if self.screenshot is not None:
                QtCore.QTimer.singleShot(0, self._save_and_quit)
            return
        # A session restored midway (the replay timeline) comes with its news so far.
        self._news = next((li for li in session.listeners if isinstance(li, SessionNews)), None)
        if self._news is None:
            self._news = SessionNews(session)
            session.listeners.append(self._news)
        else:
            self._news.redraw()
        self.session = session
        self.pacer_controls.attach(session)
        self.summary = None
        self.error = None
        self.heart_trace.reset()
        self.group_view.reset()
        self.history_panel.show_markers([])
        self.spectrum_panel.show_result(None, None)
        self.strap_panel.show_beats(None)
        self.summary_panel.hide()
        self.history_panel.set_span(session.duration_s)
        self.statusBar().showMessage(safety_line("Space"), 30000)
        self._running = True
        self.task = asyncio.ensure_future(self._run(session))
        self._update_buttons()
        self._timer.start()

    def replace_session(self) -> None:
        """Start a new session from ``make_session`` at once; a running one ends unseen (the
        replay timeline's seek: the new session starts where the timeline points)."""
        old = self.session
        if self.running and old is not None:
            old.listeners.remove(self._news)
            old.stop()  # its end is not shown: _finished ignores a session no longer current
            self._running = False
        self._launch()

    def stop(self) -> None:
        """End the running session early (it closes its source and recording)."""
        if self.running and self.session is not None:
            self.session.stop()
            self.stop_button.setEnabled(False)

    async def _run(self, session: Session) -> None:
        try:
            await session.run()
        except Exception as e:  # the shell reports a failed session instead of dying with it
            log.exception("session failed")
            self.error = e
        finally:
            self._finished(session)

    def _finished(self, session: Session) -> None:
        if session is not self.session:
            return
        self.summary = self._news.summary
        self._running = False
        self._timer.stop()
        if self.marker_bar.asking:
            self.marker_bar.cancel()
        self.update_frame()
        if self.practice is not None:
            self.practice.before = self.practice.after = None  # recorded; asked again next time
        if self._ask_after and self.practice.file and self.error is None \
                and not self._close_when_stopped:
            self.checkin_step.ask("after")
        else:
            self._show_summary()
        self._update_buttons()
        if self.on_end is not None and self.error is None:
            self.on_end(self, session)
        if self._close_when_stopped:
            self.close()
        elif self.screenshot is not None:
            # Let the summary panel lay out before the window is grabbed.
            QtCore.QTimer.singleShot(0, self._save_and_quit)

    def _save_and_quit(self) -> None:
        try:
            self.save_screenshot(self.screenshot)
        except OSError as e:  # still quit: nobody is watching a screenshot run
            log.error("%s", e)
            self.error = self.error or e
        finally:
            QtWidgets.QApplication.quit()

    def save_screenshot(self, path: Path) -> None:
        """Save the window as it looks now to ``path`` (PNG)."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if not self.grab().save(str(path)):
            raise OSError(f"could not write the screenshot {path}")

    def _update_buttons(self) -> None:
        self.start_button.setEnabled(not self.running)
        self.stop_button.setEnabled(self.running)

    def _choose_protocol(self, index: int) -> None:
        data = self.chooser.itemData(index)
        try:
            rate = self.practice.resonance_bpm if self.practice else None
            self.protocol = (data if isinstance(data, BreathingProtocol)
                             else load_protocol(data, resonance_bpm=rate))
        except ProtocolError as e:
            self.statusBar().showMessage(str(e))
            return
        if self.running:
            self.statusBar().showMessage(f"“{self.protocol.name}” will be used at the next start",
                                         6000)
        elif self.summary is None:
            self._show_idle()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        # Closing stops the session first, so the source and the recording are closed cleanly;
        # a second close while it is stopping does not wait.
        if self.running and not self._close_when_stopped:
            self._close_when_stopped = True
            self.stop()
            event.ignore()
            return
        self._timer.stop()
        self._save_look()
        super().closeEvent(event)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_text()
        self.summary_panel.place()
        self.overlay.place()
        self.checkin_step.place()
        self.history_view.place()

    # -- the therapist's room ---------------------------------------------------------------

    def _add_shortcuts(self) -> None:
        keys: list[tuple[str, Callable[[], None]]] = [
            ("M", self.begin_marker), ("F", self.toggle_presenting),
            ("F11", self.toggle_presenting), ("Esc", self._escape), ("Space", self.stop),
            ("S", lambda: self.spectrum_button.toggle()), ("T", self.toggle_theme),
            ("W", lambda: self.toggle_overlay("what")), ("?", lambda: self.toggle_overlay("help")),
            ("F1", lambda: self.toggle_overlay("help")), ("H", self.toggle_history)]
        keys += [(str(n), lambda n=n: self.add_preset(n)) for n in range(1, 10)]
        for key, action in keys:
            QtGui.QShortcut(QtGui.QKeySequence(key), self, action)

    def _checked_in(self, checkin) -> None:
        """The check-in step was answered (None: skipped): before, the session starts; after,
        the check-in joins the recording and the summary shows."""
        if self.checkin_step.moment == "before":
            self.practice.before = checkin
            self.start()
        else:
            self.practice.record_after(checkin)
            self._show_summary()

    def toggle_history(self) -> None:
        """Show or hide the person's history (H, the History button)."""
        if self.practice is None or not self.history_view.toggle():
            return
        try:
            self.history_view.show_history(self.practice.history())
        except BiobreathError as e:
            self.history_view.show_problem(str(e))

    def begin_marker(self) -> None:
        """Mark this moment (M, the Mark button): in the window, the note field opens first; in
        presentation mode, which the client faces, the marker is added at once without a note."""
        if not self.running:
            return
        if self._presenting:
            self.session.mark("")
            self._say("marked")
        elif not self.marker_bar.asking:
            self._mark_t = self._now()  # the moment marked is when M was pressed, not the note
            self.marker_bar.ask(clock_text(self._mark_t))

    def _marked(self, note: str) -> None:
        if self.running:
            self.session.mark(note, t=self._mark_t)
            self._say(f"marked: {note}" if note else "marked")

    def add_preset(self, n: int) -> None:
        """Add preset marker ``n`` (1-9, keys 1-9) now, if there is one."""
        if self.running and 1 <= n <= len(self.presets):
            self.session.mark(self.presets[n - 1])
            self._say(f"marked: {self.presets[n - 1]}")

    def _say(self, text: str) -> None:
        self.statusBar().showMessage(f"{clock_text(self._now())}  {text}", 4000)

    @property
    def presenting(self) -> bool:
        """True in presentation mode."""
        return self._presenting

    def toggle_presenting(self) -> None:
        """Enter or leave presentation mode (F, F11)."""
        self.set_presenting(not self._presenting)

    def set_presenting(self, on: bool, screen: int | None = None) -> None:
        """Enter presentation mode on ``screen`` (an index into the application's screens; None:
        the window's own), or leave it and restore the window as it was."""
        if on == self._presenting:
            return
        self._presenting = on
        controls = (*self._controls, self.pacer_controls, self.statusBar())
        if on:
            self._shown_controls = [w for w in controls if not w.isHidden()]
        for w in self._shown_controls:
            w.setVisible(not on)
        # The client reads the heart rate and the pacer: the pacer gets room for its word, and
        # RMSSD (a figure for the therapist) and the legend leave room for the heart rate (its
        # label is in the line's colour).
        for view in (self.heart_trace, self.group_view):
            self._middle.setStretch(self._middle.indexOf(view), 3 if on else 5)
        self.heart_trace.rmssd_label.setVisible(not on)
        self.heart_trace.legend_label.setVisible(not on)
        if on:
            self._normal_geometry = self.geometry()
            self._normal_maximised = self.isMaximized()
            screens = QtGui.QGuiApplication.screens()
            target = screens[screen] if screen is not None else self.screen()
            if self.windowHandle() is not None:
                self.windowHandle().setScreen(target)
            self.setGeometry(target.geometry())
            self.showFullScreen()
        else:
            self.showNormal()
            if self._normal_geometry is not None:
                self.setGeometry(self._normal_geometry)
            if self._normal_maximised:
                self.showMaximized()
        self._scale = 0.0  # the figures' sizes depend on the mode: refit them
        self._fit_text()

    def _escape(self) -> None:
        """Esc: skip the marker's note, else close the overlay, else leave presentation mode."""
        if self.marker_bar.asking:
            self.marker_bar.field.done.emit("")
        elif not self.overlay.isHidden():
            self.overlay.close_overlay()
        elif self._presenting:
            self.set_presenting(False)

    def toggle_overlay(self, kind: str) -> None:
        """Show the shortcuts ("help": ? or F1) or what the screen shows ("what": W); the same
        key again closes it."""
        if self.overlay.kind == kind and not self.overlay.isHidden():
            self.overlay.close_overlay()
        elif kind == "help":
            self.overlay.show_text("help", "Keyboard shortcuts", shortcuts_html())
        else:
            self.overlay.show_text("what", "What am I seeing?", what_you_see_html())

    def toggle_theme(self) -> None:
        """Switch between the dark and the light theme (T); remembered."""
        self.set_theme("light" if theme.current().name == "dark" else "dark")

    def set_theme(self, name: str) -> None:
        """Show the window in theme ``name`` ("dark" or "light")."""
        palette = theme.PALETTES[name]
        theme.use(palette)
        self.look = replace(self.look, theme=name)
        self.setStyleSheet(theme.style_sheet(palette, self._scale or 1.0))
        theme.restyle(self, palette)

    def show_spectrum(self, shown: bool) -> None:
        """Show or hide the spectrum panel (S, the Spectrum button); remembered."""
        if self.spectrum_button.isChecked() != shown:
            self.spectrum_button.setChecked(shown)  # comes back here through its signal
            return
        self.look = replace(self.look, spectrum=shown)
        self.spectrum_panel.setVisible(shown)
        if shown:
            self._draw_spectrum()

    def _draw_spectrum(self) -> None:
        news = self._news
        session = self.session
        core = session.primary_core if session is not None else None
        # With several people on screen, say whose spectrum it is (the first strap's).
        whose = ""
        if session is not None and len(session.straps) > 1 and session.primary is not None:
            status = session.straps[session.primary].status
            whose = status.person or status.name or status.device
        self.spectrum_panel.show_result(core, news.coherence if news is not None else None,
                                        whose)

    def _fit_text(self) -> None:
        """Size the text to the window: everything grows with it (normal size at 1280x800); the
        score, and in presentation mode the heart rate and the breathing word, keep a share of
        its height, so they can be read from across the room."""
        w, h = self.width(), self.height()
        scale = max(0.85, min(w / 1280, h / 800))
        key = (round(scale, 2), h, self._presenting)
        if key == self._scale_key:
            return
        self._scale_key = key
        if abs(scale - self._scale) > 0.04:
            self._scale = scale
            self.setStyleSheet(theme.style_sheet(theme.current(), scale))
        theme.set_share(self.heart_trace.hr_label,
                        PRESENT_HR_SHARE if self._presenting else HR_SHARE)
        theme.scale_text(self.centralWidget(), scale, h)
        for panel in (self.score_panel, self.strap_panel, self.heart_trace, self.history_panel,
                      self.spectrum_panel):
            panel.rescale(scale)
        self.pacer_panel.circle.set_stage_px(round(PRESENT_STAGE_SHARE * h)
                                             if self._presenting else 0)

    def _restore_look(self) -> None:
        """Open as last closed: theme (already in use), size and place, screen, spectrum."""
        restored = bool(self.look.geometry) and self.restoreGeometry(
            QtCore.QByteArray(self.look.geometry))
        screen = next((sc for sc in QtGui.QGuiApplication.screens()
                       if sc.name() == self.look.screen), None)
        if screen is not None and not restored:
            self.move(screen.availableGeometry().topLeft())
        self.spectrum_button.setChecked(self.look.spectrum)
        self._fit_text()

    def _save_look(self) -> None:
        if self._presenting:  # the window is remembered as it is outside presentation mode
            self.set_presenting(False)
        screen = self.screen()
        self.look = replace(self.look, geometry=bytes(self.saveGeometry()),
                            screen=screen.name() if screen is not None else "")
        save_look(self._settings, self.look)

    # -- drawing ----------------------------------------------------------------------------

    def _now(self) -> float:
        s = self.session
        if s is None:
            return 0.0
        # A clock running as fast as it can is ahead of the beats handled (by up to the
        # session's queue): there the session's own time is "now".
        t = s.t if not self.running or s.clock.speed is None else max(s.t, s.clock.now())
        return min(max(t, 0.0), s.duration_s)

    def update_frame(self) -> None:
        """Draw one frame: pacer, time, shifted trace; data only where news arrived."""
        s, news = self.session, self._news
        if s is None or news is None:
            return
        t = self._now()
        if self.running:
            self.pacer_panel.show_pace(s.pacer.state(t), news.breathing)
        else:
            self.pacer_panel.show_ended(s.pacer.state(t), self._ending())
        self._show_clock(t, s.duration_s)
        if news.markers_new:  # before the trace moves, which places them
            news.markers_new = False
            self.heart_trace.show_markers(news.markers)
            self.history_panel.show_markers(news.markers)
        self._draw_trace(s, news, t)
        self._show_group(s, t)
        if news.coherence_new:
            news.coherence_new = False
            self.score_panel.show_result(news.coherence)
            self.history_panel.show_scores(news.coherence_t, news.coherence_score)
            if self.spectrum_panel.isVisible():
                self._draw_spectrum()
        if news.status_new:
            news.status_new = False
            self.strap_panel.set_status(news.status)

    def _draw_trace(self, session: Session, news: SessionNews, t: float) -> None:
        """Shift the trace to session time ``t`` (s), with the beats and breathing that arrived;
        the artifact count goes with the beats."""
        if news.beats_new:
            news.beats_new = False
            core = session.primary_core
            if core is not None:
                self.heart_trace.show_beats(core)
                self.strap_panel.show_beats(core.state)
        if news.breathing_new:
            news.breathing_new = False
            self.heart_trace.show_breathing(news.breathing)
        self.heart_trace.show_time(session.pacer, t)

    def _show_group(self, session: Session, t: float) -> None:
        """With more than one strap, show every person (:class:`GroupView`) instead of the
        first strap's trace, score, history and status."""
        group = len(session.straps) > 1
        if self.group_view.isHidden() == group:
            for w in (self.heart_trace, self.score_panel, self.history_panel, self.strap_panel):
                w.setVisible(not group)
            self.group_view.setVisible(group)
        if group:
            self.group_view.show_session(session, t)

    def _show_clock(self, t: float, duration_s: float) -> None:
        """Show session time ``t`` (s) of ``duration_s``, as text and on the progress bar."""
        set_text(self.time_label, f"{clock_text(t)} / {clock_text(duration_s)}")
        key = int(1000 * t / duration_s) if duration_s > 0 else 0
        if key != self._progress_key:
            self._progress_key = key
            self.progress.setValue(key)

    def _show_idle(self) -> None:
        """Before the first session: preview the chosen protocol's pacer."""
        pacer = Pacer(self.protocol)
        self.pacer_panel.show_ready(pacer.state(0.0))
        self._show_clock(0.0, pacer.duration_s)
        self.history_panel.set_span(pacer.duration_s)
        self.heart_trace.show_time(pacer, 0.0)
        self._update_buttons()

    def _ending(self) -> str:
        """How the last session ended: "complete", "stopped" or "failed"."""
        if self.error is not None or self.summary is None or self.session is None:
            return "failed"
        # The session stops at the first event at or past its end, so allow a beat's slack.
        return "complete" if self.summary.duration_s >= self.session.duration_s - 2.0 else "stopped"

    def _show_summary(self) -> None:
        if self.error is not None:
            self.summary_panel.show_failure(self.error)
        elif self.summary is not None:
            s = self.summary
            reading = plain_reading(s.mean_swing_bpm, mean_phase(self._news.phases),
                                    s.coherence_mean)
            if self.practice is not None and self.practice.words():
                reading = f"{reading}\n\n{self.practice.words()}"
            self.summary_panel.show_summary(s, self._ending(), reading)


def run_window(make_session: Callable[[BreathingProtocol], Session], protocol: BreathingProtocol,
               *, screenshot: Path | None = None, fps: int = 60,
               stop_signals: tuple[int, ...] = (), present: bool = False,
               screen: int | None = None, practice: Practice | None = None,
               on_end: Callable[[TrainerWindow, Session], None] | None = None,
               replay: SessionData | None = None, replay_speed: float | None = 1.0) -> int:
    """Show the trainer on a qasync event loop until it is closed; 1 if the session failed.
    ``present``: in presentation mode, on ``screen`` (index; None: where the window opens).
    ``on_end``: see :attr:`TrainerWindow.on_end`. ``replay``: a recording to play (at
    ``replay_speed``, None: as fast as possible) with a timeline to scrub
    (:mod:`biobreath.ui.timeline`), in place of ``make_session``'s sessions.

    Any of ``stop_signals`` closes the window as its close button does (the session stops, its
    recording is closed), prints the summary and where it was saved on standard output, and
    makes the return value 128 + the signal's number.
    """
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    n_screens = len(QtGui.QGuiApplication.screens())
    if screen is not None and not 0 <= screen < n_screens:
        raise BiobreathError(f"--screen {screen}: this computer has {n_screens} screen"
                             f"{'' if n_screens == 1 else 's'}, numbered from 0")
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = TrainerWindow(make_session, protocol, screenshot=screenshot, fps=fps,
                           present=present or screen is not None, screen=screen,
                           practice=practice)
    window.on_end = on_end
    if replay is not None:
        from biobreath.ui.timeline import ReplayScrub, Scrubber

        scrub = ReplayScrub(window, Scrubber(replay, lambda s: [SessionNews(s)]),
                            speed=replay_speed)
        window.make_session = scrub.make_session  # before the first start, a frame away
    caught: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        # Python runs this between two steps of the Qt loop: hand the work back to the loop.
        caught.append(signum)
        QtCore.QTimer.singleShot(0, window.close)

    previous = {n: signal.signal(n, on_signal) for n in stop_signals}
    # Python only notices a signal when it runs; a quiet timer lets it look even when idle.
    awake = QtCore.QTimer(interval=200)
    awake.timeout.connect(lambda: None)
    awake.start()
    window.show()
    try:
        with loop:
            loop.run_forever()
    finally:
        awake.stop()
        for n, handler in previous.items():
            signal.signal(n, handler)
    if caught:
        if window.summary is not None:
            for line in summary_lines(window.summary):
                print("# " + line, flush=True)
        return 128 + caught[0]
    return 1 if window.error is not None else 0

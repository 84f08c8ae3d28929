"""The trainer window: pacer, heart rate over the breathing curve, coherence and strap status.

The window only reads what the session publishes (through a small listener that marks what
changed) and redraws on a frame timer, handing each panel (:mod:`biobreath.ui.panels`) only the
news it shows. A frame does bounded work: the trace is shifted under its fixed axis, and data is
rebuilt only where news arrived.
"""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import qasync
from PySide6 import QtCore, QtGui, QtWidgets

from biobreath.core.coherence import CoherenceResult
from biobreath.core.live import BeatVerdict, LiveState
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import BreathingProtocol
from biobreath.core.respiration import BreathingEstimate
from biobreath.errors import ProtocolError
from biobreath.files.protocols import available_protocols, load_protocol
from biobreath.session import Session, SessionListener, SessionSummary, StrapStatus
from biobreath.ui.formatting import clock_text, summary_lines
from biobreath.ui.panels import (
    CoherenceHistoryPanel,
    CoherencePanel,
    HeartRateTrace,
    PacerPanel,
    StrapPanel,
    SummaryPanel,
)
from biobreath.ui.theme import BREATH, STYLE, TEXT, label, set_text

log = logging.getLogger(__name__)


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
        self.coherence_t: list[float] = []  # minutes
        self.coherence_score: list[float] = []
        self.coherence: CoherenceResult | None = None  # the newest with a score
        self.status: StrapStatus | None = None
        self.breathing: BreathingEstimate | None = None
        self.summary: SessionSummary | None = None

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
    of the pacer and trace (frames/s, default 60). Needs a running qasync event loop.
    """

    def __init__(self, make_session: Callable[[BreathingProtocol], Session],
                 protocol: BreathingProtocol, *, autostart: bool = True,
                 screenshot: Path | None = None, fps: int = 60) -> None:
        if fps <= 0:
            raise ValueError("fps must be positive")
        super().__init__()
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

        self.setWindowTitle("biobreath")
        self.setStyleSheet(STYLE)
        self.resize(1280, 800)
        self.setMinimumSize(1100, 700)
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(max(1, round(1000 / fps)))
        self._timer.timeout.connect(self.update_frame)
        self._show_idle()
        if autostart:
            QtCore.QTimer.singleShot(0, self.start)

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
        header.addStretch(1)
        self.time_label = label("0:00 / 0:00", 20, TEXT, QtGui.QFont.Weight.DemiBold)
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
        self.pacer_panel = PacerPanel()
        middle.addWidget(self.pacer_panel, 2)
        root.addLayout(middle, 5)

        bottom = QtWidgets.QHBoxLayout()
        bottom.setSpacing(12)
        self.score_panel = CoherencePanel()
        self.history_panel = CoherenceHistoryPanel()
        self.strap_panel = StrapPanel()
        bottom.addWidget(self.score_panel, 0)
        bottom.addWidget(self.history_panel, 1)
        bottom.addWidget(self.strap_panel, 0)
        root.addLayout(bottom, 2)

        self.statusBar().setSizeGripEnabled(False)
        self.summary_panel = SummaryPanel(central)

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
        try:
            session = self.make_session(self.protocol)
        except Exception as e:  # a strap that cannot be opened is shown, not a crash
            log.exception("cannot start a session")
            self.error = e
            self.statusBar().showMessage(f"cannot start: {e}")
            if self.screenshot is not None:
                QtCore.QTimer.singleShot(0, self._save_and_quit)
            return
        self._news = SessionNews(session)
        session.listeners.append(self._news)
        self.session = session
        self.summary = None
        self.error = None
        self.heart_trace.reset()
        self.strap_panel.show_beats(None)
        self.summary_panel.hide()
        self.history_panel.set_span(session.duration_s)
        self.statusBar().clearMessage()
        self._running = True
        self.task = asyncio.ensure_future(self._run(session))
        self._update_buttons()
        self._timer.start()

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
        self.update_frame()
        self._show_summary()
        self._update_buttons()
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
            self.protocol = data if isinstance(data, BreathingProtocol) else load_protocol(data)
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
        super().closeEvent(event)

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self.summary_panel.place()

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
        self._draw_trace(s, news, t)
        if news.coherence_new:
            news.coherence_new = False
            self.score_panel.show_result(news.coherence)
            self.history_panel.show_scores(news.coherence_t, news.coherence_score)
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
            self.summary_panel.show_summary(self.summary, self._ending())


def run_window(make_session: Callable[[BreathingProtocol], Session], protocol: BreathingProtocol,
               *, screenshot: Path | None = None, fps: int = 60,
               stop_signals: tuple[int, ...] = ()) -> int:
    """Show the trainer on a qasync event loop until it is closed; 1 if the session failed.

    Any of ``stop_signals`` closes the window as its close button does (the session stops, its
    recording is closed), prints the summary and where it was saved on standard output, and
    makes the return value 128 + the signal's number.
    """
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = TrainerWindow(make_session, protocol, screenshot=screenshot, fps=fps)
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

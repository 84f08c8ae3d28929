"""The headless view: one line per breath on standard output, and markers typed on standard
input (each line marks the session with its text)."""

from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
from typing import TextIO

from biobreath.core.coherence import score_level
from biobreath.events import Event, Marker
from biobreath.session import BreathReport, Session, SessionListener, SessionSummary, StrapStatus
from biobreath.ui.formatting import (
    clock_text,
    marker_text,
    mean_phase,
    num,
    one_line,
    plain_reading,
    summary_lines,
)


class HeadlessPrinter(SessionListener):
    """Prints ``time  breath  rate  HR  swing  coherence`` once per breath, and link changes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._header = False
        self._status: dict[str, StrapStatus] = {}
        self._phases: list[float] = []

    def on_event(self, event: Event) -> None:
        if isinstance(event, Marker):
            print(f"# marker {clock_text(event.t)}  {one_line(event.text) or '(no note)'}",
                  file=self.out, flush=True)

    def on_breath(self, r: BreathReport) -> None:
        self._phases.append(r.phase_deg)
        if not self._header:
            self._header = True
            print(f"{'time':>7}  {'breath':>6}  {'pace':>9}  {'HR':>9}  {'swing':>9}  "
                  f"{'phase':>6}  coherence", file=self.out)
        pace = f"{r.rate_bpm:.1f}/min" if r.rate_bpm else "free"
        print(f"{clock_text(r.t1):>7}  {r.n + 1:>6}  {pace:>9}  {num(r.hr_bpm, '5.1f'):>5} bpm  "
              f"{num(r.swing_bpm, '5.1f'):>5} bpm  {num(r.phase_deg, '+4.0f'):>5}°  "
              f"{num(r.coherence_score, '3.0f'):>3} {score_level(r.coherence_score)}"
              + (f"  breathing {r.measured_rate_bpm:.1f}/min, following "
                 f"{num(r.following_score, '.0f')}" if math.isfinite(r.measured_rate_bpm) else ""),
              file=self.out, flush=True)

    def on_status(self, s: StrapStatus) -> None:
        name = one_line(s.name or s.device)
        before = self._status.get(s.device)
        self._status[s.device] = s
        if s.link.value in ("lost", "reconnected") and (before is None or before.link != s.link):
            print(f"# strap {name}: link {s.link.value}", file=self.out, flush=True)
        if before is not None and before.timing_degraded != s.timing_degraded:
            print(f"# strap {name}: " + ("beat timing degraded: notifications arrive late or "
                                         "irregularly, beat times are uncertain"
                                         if s.timing_degraded else "beat timing good again"),
                  file=self.out, flush=True)

    def on_end(self, s: SessionSummary) -> None:
        for line in summary_lines(s):
            print("# " + line, file=self.out, flush=True)
        reading = plain_reading(s.mean_swing_bpm, mean_phase(self._phases), s.coherence_mean)
        print("# " + reading, file=self.out, flush=True)


class StdinMarks(SessionListener):
    """Marks the session with each line read from file descriptor ``fd`` (default: standard
    input), the line's text the marker's (an empty line: a bare mark).

    A thread reads the descriptor with ``os.read`` (no buffered file whose lock a blocked read
    would hold at exit) and hands each line to the session's event loop. End of input ends only
    the reading, never the session; input that cannot be read (closed, absent, not a file
    descriptor) gives no markers.
    """

    def __init__(self, fd: int | None = None) -> None:
        self._fd = fd
        self._session: Session | None = None
        self._stopped = False

    def on_start(self, session: Session) -> None:
        fd = self._fd
        if fd is None:
            try:
                fd = sys.stdin.fileno()
            except (AttributeError, ValueError, OSError):  # no stdin, or one without a descriptor
                return
        self._session = session
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(fd, loop), name="stdin-marks",
                         daemon=True).start()

    def on_stop(self, t: float) -> None:
        self._stopped = True

    def _read(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop() if chunk else b""
            if not chunk and lines == [b""]:
                lines = []  # input ended on a newline: no last line
            for line in lines:
                try:
                    loop.call_soon_threadsafe(self._mark, line.decode("utf-8", "replace"))
                except RuntimeError:  # the loop has closed: the session is over
                    return
            if not chunk:
                return

    def _mark(self, line: str) -> None:
        if not self._stopped and self._session is not None:
            self._session.mark(marker_text(line))

"""The headless view: one line per breath on standard output."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from biobreath.core.coherence import score_level
from biobreath.session import BreathReport, SessionListener, SessionSummary, StrapStatus
from biobreath.ui.formatting import clock_text, num, one_line, summary_lines


class HeadlessPrinter(SessionListener):
    """Prints ``time  breath  rate  HR  swing  coherence`` once per breath, and link changes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._header = False
        self._status: dict[str, StrapStatus] = {}

    def on_breath(self, r: BreathReport) -> None:
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

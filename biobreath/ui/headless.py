"""The headless view: one line per breath on standard output."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from biobreath.core.coherence import score_level
from biobreath.session import BreathReport, SessionListener, SessionSummary, StrapStatus


def clock_text(t: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    t = max(0, int(t))
    return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}" if t >= 3600 else f"{t // 60}:{t % 60:02d}"


def _num(x: float, fmt: str) -> str:
    return format(x, fmt) if math.isfinite(x) else "-"


def summary_lines(s: SessionSummary) -> list[str]:
    """A short end-of-session summary (also shown by the window)."""
    return [
        f"session {clock_text(s.duration_s)}: {s.n_beats} beats, {s.n_artifacts} "
        f"artifact{'' if s.n_artifacts == 1 else 's'}"
        + (f", {s.gaps} link gap(s)" if s.gaps else ""),
        f"mean HR {_num(s.mean_hr_bpm, '.1f')} bpm, RMSSD {_num(s.rmssd_ms, '.1f')} ms, "
        f"HR swing per breath {_num(s.mean_swing_bpm, '.1f')} bpm",
        (f"coherence mean {s.coherence_mean:.0f}, best {s.coherence_max:.0f}"
         if math.isfinite(s.coherence_mean) else "coherence: too short (it needs about a minute)")
        + (f"; following the pacer {s.following_mean:.0f}" if math.isfinite(s.following_mean)
           else ""),
    ] + ([f"recorded to {s.path}"] if s.path else [])


class HeadlessPrinter(SessionListener):
    """Prints ``time  breath  rate  HR  swing  coherence`` once per breath, and link changes."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self._header = False

    def on_breath(self, r: BreathReport) -> None:
        if not self._header:
            self._header = True
            print(f"{'time':>7}  {'breath':>6}  {'pace':>9}  {'HR':>9}  {'swing':>9}  "
                  f"{'phase':>6}  coherence", file=self.out)
        pace = f"{r.rate_bpm:.1f}/min" if r.rate_bpm else "free"
        print(f"{clock_text(r.t1):>7}  {r.n + 1:>6}  {pace:>9}  {_num(r.hr_bpm, '5.1f'):>5} bpm  "
              f"{_num(r.swing_bpm, '5.1f'):>5} bpm  {_num(r.phase_deg, '+4.0f'):>5}°  "
              f"{_num(r.coherence_score, '3.0f'):>3} {score_level(r.coherence_score)}"
              + (f"  breathing {r.measured_rate_bpm:.1f}/min, following "
                 f"{_num(r.following_score, '.0f')}" if math.isfinite(r.measured_rate_bpm) else ""),
              file=self.out, flush=True)

    def on_status(self, s: StrapStatus) -> None:
        if s.link.value in ("lost", "reconnected"):
            print(f"# strap {s.name or s.device}: link {s.link.value}", file=self.out, flush=True)

    def on_end(self, s: SessionSummary) -> None:
        for line in summary_lines(s):
            print("# " + line, file=self.out, flush=True)

"""The wording shared by the window, the terminal view and the command line: clock times,
numbers, the summary, and names made safe to print."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: the command line imports this module before any other
    from biobreath.session import SessionSummary


def one_line(text: str) -> str:
    """``text`` safe to print as one terminal line: control characters (a newline or an escape
    sequence in a file or strap name, a byte that is not valid UTF-8) shown escaped, so a name can
    neither add lines nor rewrite the screen."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def clock_text(t: float) -> str:
    """Seconds as m:ss, or h:mm:ss from an hour on."""
    t = max(0, int(t))
    if t >= 3600:
        return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}"
    return f"{t // 60}:{t % 60:02d}"


def num(x: float, fmt: str) -> str:
    """``x`` in format ``fmt``, or "-" when it is not a number (NaN, infinite)."""
    return format(x, fmt) if math.isfinite(x) else "-"


def summary_lines(s: SessionSummary) -> list[str]:
    """A short end-of-session summary, one line a list item. Its figures are the live ones
    (``biobreath analyze`` of the recording reports the offline ones, which may differ a little:
    the README says how)."""
    return [
        f"session {clock_text(s.duration_s)}: {s.n_beats} beats, {s.n_artifacts} "
        f"artifact{'' if s.n_artifacts == 1 else 's'} (live detector)"
        + (f", {s.gaps} link gap(s)" if s.gaps else ""),
        f"mean HR {num(s.mean_hr_bpm, '.1f')} bpm, RMSSD {num(s.rmssd_ms, '.1f')} ms, "
        f"HR swing per breath {num(s.mean_swing_bpm, '.1f')} bpm",
        (f"live coherence mean {s.coherence_mean:.0f}, best {s.coherence_max:.0f}"
         if math.isfinite(s.coherence_mean) else "coherence: too short (it needs about a minute)")
        + (f"; following the pacer {s.following_mean:.0f}" if math.isfinite(s.following_mean)
           else ""),
    ] + ([f"recorded to {one_line(s.path)}"] if s.path else [])

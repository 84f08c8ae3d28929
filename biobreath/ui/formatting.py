"""The wording shared by the window, the terminal view and the command line: clock times,
numbers, the summary and its plain-language reading, and names made safe to print."""

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


def summary_lines(s: SessionSummary, max_markers: int | None = None) -> list[str]:
    """A short end-of-session summary, one line a list item. Its figures are the live ones
    (``biobreath analyze`` of the recording reports the offline ones, which may differ a little:
    the README says how). ``max_markers``: lines the markers may take (the rest are counted)."""
    marks = s.markers
    if max_markers is not None and len(marks) > max_markers:
        marks = marks[:max_markers - 1]
    more = len(s.markers) - len(marks)
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
    ] + [f"marker {clock_text(m.t)}  {one_line(m.text) or '(no note)'}" for m in marks] + (
        [f"and {more} more markers (the recording keeps them all)"] if more else []) + (
        [f"recorded to {one_line(s.path)}"] if s.path else [])


def mean_phase(phases_deg: list[float]) -> float:
    """Circular mean (degrees, -180 to 180) of the finite ``phases_deg``; NaN if none."""
    ok = [math.radians(p) for p in phases_deg if math.isfinite(p)]
    if not ok:
        return math.nan
    return math.degrees(math.atan2(sum(map(math.sin, ok)), sum(map(math.cos, ok))))


MAX_MARKER_TEXT = 80
"""Characters kept of one marker's text (a preset, a typed note, a line on standard input)."""


def marker_text(raw: str) -> str:
    """``raw`` as a marker's text: one printable line, trimmed, at most ``MAX_MARKER_TEXT``."""
    return one_line(raw.strip())[:MAX_MARKER_TEXT]


SMALL_SWING_BPM = 3.0
"""A heart-rate swing per breath below this (bpm) reads as "changed little"."""


def plain_reading(swing_bpm: float, phase_deg: float, coherence: float) -> str:
    """One plain paragraph reading a session for a client, from its mean heart-rate swing per
    breath (bpm), the phase of heart rate against the pacer (degrees, 0: in step; see
    :func:`mean_phase`) and its mean coherence score (0-100)."""
    if not (math.isfinite(swing_bpm) and math.isfinite(coherence)):
        return ("The session was too short to read: about a minute of heartbeats is needed "
                "before the wave of heart rate and breath shows.")
    if swing_bpm < SMALL_SWING_BPM:
        wave = (f"Your heart rate changed little with each breath (about {swing_bpm:.0f} bpm). "
                "That is common at first, when tired or tense, and with some medicines; slow, "
                "easy breaths often let the wave grow.")
    elif not math.isfinite(phase_deg):
        wave = f"Your heart rate rose and fell by about {swing_bpm:.0f} bpm with each breath."
    elif abs(phase_deg) <= 60:
        wave = ("Your heart rate rose as you breathed in and fell as you breathed out, by about "
                f"{swing_bpm:.0f} bpm each breath: that is your nervous system responding to "
                "your breath.")
    elif abs(phase_deg) >= 120:
        wave = (f"Your heart rate rose and fell by about {swing_bpm:.0f} bpm with each breath, "
                "but mostly against it, falling as you breathed in: a slightly slower pace "
                "usually brings the two into step.")
    else:
        wave = (f"Your heart rate rose and fell by about {swing_bpm:.0f} bpm with each breath, "
                "a little out of step with it: a slightly slower pace often brings them "
                "together.")
    # Imported here: the command line imports this module before NumPy is needed.
    from biobreath.core.coherence import score_level

    level = score_level(coherence)
    if level == "high":
        calm = (f"The wave was smooth and regular (live coherence {coherence:.0f} on average): a "
                "calm, well-regulated rhythm.")
    elif level == "medium":
        calm = (f"The wave was fairly regular (live coherence {coherence:.0f} on average); it "
                "usually grows smoother with practice.")
    else:
        calm = (f"The wave was irregular (live coherence {coherence:.0f} on average); it often "
                "grows with practice, and with breaths that are easy rather than deep.")
    return f"{wave} {calm}"


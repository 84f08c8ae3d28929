"""The notes EDF+ and WFDB files carry beside beats: which are markers, which protocol steps.

``export`` writes a session's markers as ``marker: TEXT``, each protocol step where the pacer
began it as ``step K (RATE/min): LABEL`` (or ``(free)``: the label last, where a format that keeps
few bytes of a note cuts it), and signal gaps as notes of their own (EDF+ annotations, WFDB NOTE
annotations). Read back (``edf``, ``wfdb_records``), a biobreath file's markers are its
``marker:`` notes and its steps its ``step`` notes; in a file from another tool every note that
is no beat is a marker (an event a lab annotated, a sleep stage), so that ``analyze --segments
markers`` (or ``steps``) divides either at its notes.

May import: the standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MARKER_PREFIX = "marker: "
"""How an exported note says it is a marker (the marker's text follows)."""


def marker_text(marker: str) -> str:
    """A marker's note as export writes it."""
    return f"{MARKER_PREFIX}{marker}"


def markers_of(notes: Iterable[tuple[float, str]], ours: bool) -> tuple[tuple[float, str], ...]:
    """(time s, text) of the markers among ``notes`` ((time s, text) of a file's annotations
    that are no beats), in time order: in a file biobreath wrote (``ours``), the ``marker:``
    notes, their text after it; in another tool's, every note with text."""
    found = []
    for t, note in notes:
        text = note.strip()
        if text.startswith(MARKER_PREFIX.strip()):
            found.append((t, text[len(MARKER_PREFIX.strip()):].strip()))
        elif text and not ours:
            found.append((t, text))
    return tuple(sorted(found, key=lambda m: m[0]))


_STEP = re.compile(r"step (\d+) \((?:[0-9.]+/min|free)\):(.*)")


def step_text(number: int, label: str, rate_bpm: float | None) -> str:
    """Protocol step ``number`` (from 1) as export notes it: its pace and label."""
    rate = f"{rate_bpm:.1f}/min" if rate_bpm is not None else "free"
    return f"step {number} ({rate}): {label}"


def steps_of(notes: Iterable[tuple[float, str]], ours: bool) -> tuple[tuple[float, str], ...]:
    """(start s, label) of the protocol steps among ``notes`` of a file biobreath wrote
    (``ours``), in time order; none in another tool's file."""
    found = ((t, _STEP.fullmatch(note.strip())) for t, note in notes) if ours else ()
    return tuple(sorted(((t, m[2].strip()) for t, m in found if m), key=lambda s: s[0]))


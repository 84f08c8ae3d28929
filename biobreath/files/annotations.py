"""The notes EDF+ and WFDB files carry beside beats, and which of them are markers.

``export`` writes a session's markers as ``marker: TEXT`` and its protocol steps and signal gaps
as notes of their own (EDF+ annotations, WFDB NOTE annotations). Read back (``edf``,
``wfdb_records``), a biobreath file's markers are its ``marker:`` notes; in a file from another
tool every note that is no beat is a marker (an event a lab annotated, a sleep stage), so that
``analyze --segments markers`` divides either at its notes.

May import: the standard library only.
"""

from __future__ import annotations

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

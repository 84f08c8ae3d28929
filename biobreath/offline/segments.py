"""Where a recording divides into labelled segments for ``analyze --segments``.

``steps``: one segment per step of the protocol a session was breathed to, from the moment the
pacer began the step (a breath boundary, as :class:`biobreath.core.pacer.Pacer` schedules it) to
the next step's start; labels are the protocol's (in an EDF+ or WFDB export, its step notes).
``markers``: one segment per stretch between markers (a session's events of kind ``marker``; the
markers of EDF+ and WFDB files, see :mod:`biobreath.files.annotations`), labelled by the text of
the marker that opens it; the stretch before the first marker is ``start``. Times are seconds on
the recording's clock; the last segment runs to the end of the recording. A file without steps or
markers is one whole-file segment, and a note says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from biobreath.core.pacer import Pacer
from biobreath.core.protocol import BreathingProtocol
from biobreath.files.recording import marker_note, read_session

SegmentKind = Literal["steps", "markers"]
START_LABEL = "start"
"""The label of the stretch before the first marker."""
WHOLE_LABEL = "whole file"
MARKED_KINDS = frozenset({"session", "edf", "wfdb"})
"""The kinds of file (:class:`biobreath.files.readers.RRRecording`) that can hold markers and
protocol steps."""


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled stretch of a recording, ``start_s`` to ``end_s`` (s, recording clock)."""

    label: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Segmentation:
    """The spans of one recording, and what the reader should know about them."""

    spans: tuple[Span, ...]
    notes: tuple[str, ...] = ()


def _chain(starts: list[tuple[str, float]], end_s: float) -> tuple[Span, ...]:
    """Spans from (label, start) pairs in time order, each ending where the next starts."""
    ends = [t for _, t in starts[1:]] + [end_s]
    return tuple(Span(label, t, end) for (label, t), end in zip(starts, ends))


def step_spans(protocol: BreathingProtocol, start_s: float, end_s: float) -> Segmentation:
    """One span per protocol step the recording (``start_s`` to ``end_s``) reached; the first
    step also holds anything recorded before the session's 0."""
    # The pacer's schedule says when each step really began (at a breath boundary).
    starts = [(step.label, t0) for step, t0 in zip(protocol.steps, Pacer(protocol).step_starts())]
    return _reached(starts, start_s, end_s)


def _reached(starts: list[tuple[str, float]], start_s: float, end_s: float) -> Segmentation:
    """Spans of the steps (label, start s) the recording (``start_s`` to ``end_s``) reached, the
    first also holding anything recorded before it; a note names the steps never reached."""
    reached = [(label, t0) for label, t0 in starts if t0 < end_s]
    notes = ()
    if len(reached) < len(starts):
        missed = [label for label, _ in starts[len(reached):]]
        notes = (f"segments: the recording ended before {len(missed)} of the protocol's "
                 f"{len(starts)} steps ({', '.join(missed)})",)
    reached[0] = (reached[0][0], min(reached[0][1], start_s))
    return Segmentation(_chain(reached, end_s), notes)


def marker_spans(markers: list[tuple[float, str]], start_s: float, end_s: float
                 ) -> Segmentation:
    """One span per stretch between ``markers`` ((time s, text), any order) within the
    recording (``start_s`` to ``end_s``); a ``start`` span before the first unless the first
    marker opens the recording."""
    inside = sorted((t, text) for t, text in markers if t < end_s)
    starts = [(text, max(t, start_s)) for t, text in inside]
    if not starts or starts[0][1] > start_s:
        starts.insert(0, (START_LABEL, start_s))
    notes = ()
    if len(inside) < len(markers):
        notes = (f"segments: {len(markers) - len(inside)} markers after the last beat are left "
                 "out",)
    return Segmentation(_chain(starts, end_s), notes)


def whole(start_s: float, end_s: float, why: str) -> Segmentation:
    """The whole recording as one segment, with the note ``why``."""
    return Segmentation((Span(WHOLE_LABEL, start_s, end_s),), (f"segments: {why}",))


def session_markers(path: Path) -> list[tuple[float, str]]:
    """(time s, text) of every marker recorded in a session file."""
    return [(t, marker_note(value)) for t, _, kind, value in read_session(path).events
            if kind == "marker"]


def segment(kind: SegmentKind, file_kind: str, protocol: BreathingProtocol | None,
            markers: list[tuple[float, str]], start_s: float, end_s: float,
            steps: Sequence[tuple[float, str]] = ()) -> Segmentation:
    """The segments of one recording (``start_s`` to ``end_s``, s) of ``file_kind`` (see
    :class:`biobreath.files.readers.RRRecording`): a session's from its protocol or its
    ``markers`` ((time s, text), from :func:`session_markers`), an EDF+ or WFDB file's from the
    ``steps`` ((start s, label)) or ``markers`` its annotations note."""
    if file_kind not in MARKED_KINDS:
        what = "protocol steps" if kind == "steps" else "markers"
        return whole(start_s, end_s, f"no {what} in a {file_kind} file (they are read from "
                                     "biobreath sessions and EDF+ and WFDB annotations): one "
                                     "segment for the whole file")
    holder = "session" if file_kind == "session" else f"{file_kind} file"
    if kind == "steps":
        if file_kind == "session" and protocol is not None:
            return step_spans(protocol, start_s, end_s)
        if file_kind != "session" and steps:
            return _reached([(label, t) for t, label in sorted(steps)], start_s, end_s)
        return whole(start_s, end_s, f"the {holder} holds no protocol steps: one segment for "
                                     "the whole file")
    if not markers:
        return whole(start_s, end_s, f"the {holder} holds no markers: one segment for the whole "
                                     "file")
    return marker_spans(markers, start_s, end_s)

"""Where a recording divides into labelled segments for ``analyze --segments``.

``steps``: one segment per step of the protocol a session was breathed to, from the moment the
pacer began the step (a breath boundary, as :class:`biobreath.core.pacer.Pacer` schedules it) to
the next step's start; labels are the protocol's. ``markers``: one segment per stretch between
markers (a session's events of kind ``marker``; the markers of EDF+ and WFDB files, see
:mod:`biobreath.files.annotations`), labelled by the text of the marker that opens it; the stretch
before the first marker is ``start``. Times are seconds on the recording's clock; the last segment
runs to the end of the recording. A file without steps or markers is one whole-file segment, and
a note says why.
"""

from __future__ import annotations

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
"""The kinds of file (:class:`biobreath.files.readers.RRRecording`) that can hold markers."""


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
    segments = Pacer(protocol)._segments
    reached = [(s.label, s.t0) for s in segments if s.t0 < end_s]
    notes = ()
    if len(reached) < len(segments):
        missed = [s.label for s in segments[len(reached):]]
        notes = (f"segments: the recording ended before {len(missed)} of the protocol's "
                 f"{len(segments)} steps ({', '.join(missed)})",)
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
            markers: list[tuple[float, str]], start_s: float, end_s: float) -> Segmentation:
    """The segments of one recording (``start_s`` to ``end_s``, s) of ``file_kind`` (see
    :class:`biobreath.files.readers.RRRecording`), from its protocol or its ``markers`` ((time s,
    text), from :func:`session_markers` or the file's annotations)."""
    if kind == "markers" and file_kind not in MARKED_KINDS:
        return whole(start_s, end_s, f"no markers in a {file_kind} file (they are read from "
                                     "biobreath sessions and EDF+ and WFDB annotations): one "
                                     "segment for the whole file")
    if kind == "steps":
        if file_kind != "session":
            return whole(start_s, end_s, f"no protocol steps in a {file_kind} file (they are "
                                         "read from biobreath session files): one segment for "
                                         "the whole file")
        if protocol is None:
            return whole(start_s, end_s, "the session holds no protocol steps: one segment for "
                                         "the whole file")
        return step_spans(protocol, start_s, end_s)
    if not markers:
        what = "session" if file_kind == "session" else f"{file_kind} file"
        return whole(start_s, end_s, f"the {what} holds no markers: one segment for the whole "
                                     "file")
    return marker_spans(markers, start_s, end_s)

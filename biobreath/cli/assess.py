"""``biobreath assess``: the resonance assessment from breathing to the person's rate.

It runs the ``resonance-assessment`` protocol as ``train`` would (same strap options, recorded the
same way), analyses the recording as ``analyze`` does (Shaffer & Meehan's criteria per paced
step, :mod:`biobreath.core.resonance`), and ends with a table of the rates, the recommended rate
and how sure it is, in the terminal and, in the window, on an end panel
(:mod:`biobreath.ui.assessment_view`). A recommendation from a real strap becomes the person's
resonance rate; a simulated person's rate is shown but not saved (it is not the person's).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from biobreath.cli.args import add_view_args
from biobreath.cli.session import add_person_arg, add_source_args
from biobreath.errors import BiobreathError

if TYPE_CHECKING:
    from biobreath.core.resonance import Recommendation, ResonanceAssessment
    from biobreath.files.readers import RRRecording

PROTOCOL = "resonance-assessment"

HEADERS = ("rate /min", "phase °", "swing bpm", "LF ms²", "LF peak ms²/Hz", "smooth 0-1",
           "LF peaks", "points")
"""The table's columns: Shaffer & Meehan's six criteria per paced rate, and the points won."""

CRITERIA_NOTE = ("Criteria (Shaffer & Meehan 2020): phase of heart rate against breathing "
                 "(closest to 0° wins), heart-rate swing per breath, LF power and LF peak "
                 "(largest win), smoothness of the heart-rate wave (0-1), LF peaks (fewest "
                 "wins).")
"""What the table's columns mean, under the table in the window."""

_MEANING = {
    "clear": "your heart's response across the rates points clearly to this rate.",
    "likely": "your heart's response points to this rate, though a rate next to it is possible.",
    "uncertain": "neighbouring rates did about as well; practise at this rate and repeat the "
                 "assessment another day.",
}


def add_parser(sub) -> None:
    a = sub.add_parser(
        "assess", help="resonance assessment: find the breathing rate your heart follows best",
        description=f"Breathe the {PROTOCOL} protocol (a free baseline, then 6.5 to 4.5 "
                    "breaths/min, 2 minutes each), then see Shaffer & Meehan's criteria for "
                    "each rate, the recommended rate and how sure it is. The recommendation "
                    "becomes the person's resonance rate (not with a simulated strap).")
    add_source_args(a)
    add_person_arg(a, "whose resonance rate this is (default: the last person, else 'me')")
    a.add_argument("--json", action="store_true",
                   help='print {"recommended_bpm", "confidence", "steps", ...} as one JSON '
                        "object (steps as analyze --json gives them)")
    add_view_args(a)
    # train's own options (check-ins, sound, ...) keep train's defaults: assess runs as train.
    train_defaults = vars(sub.choices["train"].parse_args([]))
    a.set_defaults(run=run, train_defaults=train_defaults)


@dataclass(frozen=True, slots=True)
class AssessmentResult:
    """What one assessment found: the criteria (None without a paced step that was breathed),
    the recommendation, the recording, and the table as shown."""

    path: Path
    person: str
    assessment: ResonanceAssessment | None
    recommendation: Recommendation
    rows: tuple[tuple[str, ...], ...]
    best_row: int | None          # the recommended rate's row

    @property
    def title(self) -> str:
        from biobreath.core.resonance import rate_text

        r = self.recommendation
        if r.rate_bpm is None:
            return "No resonance rate this time"
        return f"Your resonance rate: {rate_text(r.rate_bpm)} breaths a minute"

    @property
    def fit_text(self) -> str:
        """The fitted resonance, for the researcher ("" without a fit or a recommendation)."""
        fit = self.assessment.fit if self.assessment is not None else None
        if fit is None or self.recommendation.rate_bpm is None:
            return ""
        return (f"Resonance fitted to all rates: {fit.rate_bpm:.2f} ± {fit.se_bpm:.2f} "
                f"breaths/min (Q {fit.q:.1f}, peak {fit.gain_bpm:.1f} bpm, misfit "
                f"{fit.rms_bpm:.1f} bpm); points: Shaffer & Meehan's vote, a point per "
                "criterion won.")

    @property
    def reading(self) -> str:
        """The result in plain words, one paragraph."""
        from biobreath.core.resonance import rate_text

        r = self.recommendation
        if r.rate_bpm is None:
            return (f"No rate is recommended: {r.reason}. Breathe the whole assessment again "
                    "to find your rate.")
        return (f"At {rate_text(r.rate_bpm)} breaths a minute your heart rate rose and fell most "
                "strongly and most in step with your breathing. How sure: "
                f"{r.words} (confidence {r.confidence:.2f} of 1): {_MEANING[r.words]}")


def _cell(v: float, spec: str) -> str:
    return format(v, spec) if math.isfinite(v) else "-"


def table_rows(assessment: ResonanceAssessment | None) -> tuple[tuple[str, ...], ...]:
    """One row of text per paced rate, in the order of :data:`HEADERS`."""
    from biobreath.core.resonance import rate_text

    if assessment is None:
        return ()
    return tuple((rate_text(c.rate_bpm), _cell(c.phase_deg, "+.0f"), _cell(c.swing_bpm, ".1f"),
                  _cell(c.lf_power_ms2, ".0f"), _cell(c.lf_peak_ms2_hz, ".0f"),
                  _cell(c.smoothness, ".2f"), str(c.lf_peaks), str(p))
                 for c, p in zip(assessment.criteria, assessment.points))


def evaluate(path: Path, person: str) -> AssessmentResult:
    """Analyse the assessment recorded at ``path`` (its first strap) and recommend a rate."""
    from biobreath.files.readers import read_rr_all

    return evaluate_recording(read_rr_all(path)[0], person)


def evaluate_recording(rec: RRRecording, person: str) -> AssessmentResult:
    """Analyse one strap's beats (:class:`~biobreath.files.readers.RRRecording`) breathed to
    its protocol as ``analyze`` does, and recommend a rate (see
    :func:`biobreath.core.resonance.recommend`)."""
    from biobreath.core.pacer import Pacer
    from biobreath.core.resonance import recommend, step_coverage
    from biobreath.offline.analysis import analyze_recording

    if rec.protocol is None:
        raise BiobreathError(f"{rec.path}: the recording names no protocol")
    analysis = analyze_recording(rec)
    pacer = Pacer(rec.protocol)
    segments = pacer._segments
    coverage, planned = {}, []
    for k, seg in enumerate(segments):
        if seg.shape is None:
            continue
        end = segments[k + 1].t0 if k + 1 < len(segments) else pacer.duration_s
        planned.append(seg.shape.rate_bpm)
        coverage[seg.shape.rate_bpm] = step_coverage(analysis.nn_time_s, analysis.nn_ms,
                                                     seg.t0, end)
    a = analysis.resonance
    recommendation = recommend(a, planned, coverage)
    best = None
    if recommendation.rate_bpm is not None:
        best = [c.rate_bpm for c in a.criteria].index(recommendation.rate_bpm)
    return AssessmentResult(rec.path, person, a, recommendation, table_rows(a), best)


def as_json(result: AssessmentResult) -> dict:
    """``--json``: the recommendation, its confidence and the steps as ``analyze --json``."""
    from biobreath.offline.analysis import resonance_json

    r = result.recommendation
    res = (resonance_json(result.assessment) if result.assessment is not None
           else {"steps": [], "fit": None})
    return {"recommended_bpm": r.rate_bpm, "confidence": r.confidence, "confidence_words": r.words,
            "reason": r.reason or None, "steps": res["steps"], "fit": res["fit"],
            "person": result.person, "file": str(result.path)}


def format_text(result: AssessmentResult) -> str:
    """The terminal's end of an assessment: the table, the rate, and the reading."""
    widths = [max(len(h), *(len(row[i]) for row in result.rows)) if result.rows else len(h)
              for i, h in enumerate(HEADERS)]
    lines = ["  " + "  ".join(h.rjust(w) for h, w in zip(HEADERS, widths))]
    for k, row in enumerate(result.rows):
        mark = "> " if k == result.best_row else "  "
        lines.append(mark + "  ".join(c.rjust(w) for c, w in zip(row, widths)))
    lines += ["", result.title, result.reading]
    if result.fit_text:
        lines.append(result.fit_text)
    return "\n".join(lines)


def _save(result: AssessmentResult, simulated: bool) -> str:
    """Save a recommended rate as the person's; the line saying what was done."""
    from biobreath.core.resonance import rate_text
    from biobreath.files.people import People

    rate = result.recommendation.rate_bpm
    if rate is None:
        return ""
    if simulated:
        return f"(a simulated strap: {rate_text(rate)} is not saved for {result.person})"
    with People() as people:
        people.set_resonance(result.person, rate, source="assessment", file=str(result.path))
    return f"Saved {rate_text(rate)} breaths/min as the resonance rate for {result.person}."


def run(args) -> int:
    from biobreath.cli import session
    from biobreath.files.people import People
    from biobreath.files.recording import default_session_path

    if args.out is not None and args.out.exists():
        raise BiobreathError(f"{args.out} already exists; choose another --out (recordings are "
                             "never overwritten)")
    for name, value in args.train_defaults.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    args.protocol, args.duration = PROTOCOL, None
    args.out = args.out or default_session_path()
    with People() as people:
        person = people.resolve(args.person).name
    args.person = [person]  # as train's --person: one name per strap
    shown: list[AssessmentResult] = []

    def on_window_end(window, _session) -> None:
        from biobreath.ui.assessment_view import show_assessment

        if not args.out.exists():
            return
        try:
            result = evaluate(args.out, person)
        except BiobreathError:
            return  # said in one line once the window has closed
        shown.append(result)
        show_assessment(window, HEADERS, result.rows, result.best_row, result.title,
                        result.reading, f"{CRITERIA_NOTE} {result.fit_text}".strip())

    # With --json the breath lines go to standard error, so standard output is one JSON object.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        status = session.run(args, on_window_end=on_window_end)
    if not args.out.exists():
        return status
    result = shown[0] if shown else evaluate(args.out, person)
    saved = _save(result, simulated=args.source != "ble")
    if args.json:
        print(json.dumps(as_json(result)))
    else:
        print(format_text(result))
        if saved:
            print(saved)
        print(f"Recording: {result.path}")
    if result.recommendation.rate_bpm is None:
        print(f"biobreath: no resonance rate: {result.recommendation.reason}", file=sys.stderr)
        return status or 1
    return status

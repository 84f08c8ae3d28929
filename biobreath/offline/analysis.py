"""Offline analysis of one file: read, correct artifacts, compute every HRV metric.

This is the shell behind ``biobreath analyze``: readers give RR intervals, the Lipponen-Tarvainen
method (:mod:`biobreath.core.artifacts`) corrects them (``artifacts="auto"``) or not (``"none"``),
:mod:`biobreath.core.hrv` computes the metrics and :mod:`biobreath.core.coherence` the coherence
the trainer showed, with the live trainer's parameters.

Nothing is dropped or guessed without a note: ``notes`` say how a text file was read (column,
unit), how many RR intervals lie outside the physiological range (:data:`PHYSIOLOGICAL_MS`, kept
as recorded with ``artifacts="none"``), and why a metric is missing. A recording without a single
valid beat (inside that range and, with ``"auto"``, not an artifact) reports no heart rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biobreath.core import artifacts, hrv
from biobreath.core.coherence import CoherenceParams, coherence_scores
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import BreathingProtocol
from biobreath.core.resonance import ResonanceAssessment, assess, resonance_criteria
from biobreath.errors import BiobreathError
from biobreath.events import DeviceInfo
from biobreath.files.readers import RRRecording, read_rr_all
from biobreath.offline.segments import Span

ArtifactMode = Literal["auto", "none"]
PHYSIOLOGICAL_MS = (250.0, 2500.0)
"""RR intervals (ms) a heart can beat at (240 to 24 bpm); outside it an interval is an artifact."""


@dataclass(frozen=True, slots=True)
class FileAnalysis:
    """Everything ``analyze`` reports for one file."""

    path: Path
    kind: str
    n_beats: int
    duration_s: float
    artifact_mode: str
    artifact_pct: float
    hrv: hrv.HrvResult
    coherence_mean: float
    coherence_params: CoherenceParams
    artifact_params: artifacts.ArtifactParams
    correction: artifacts.Correction | None  # None with artifact_mode "none"
    device: DeviceInfo | None                # the strap, for sessions
    nn_time_s: np.ndarray                    # end time (s) of each NN interval
    nn_ms: np.ndarray
    raw_time_s: np.ndarray                   # the recorded intervals, as read
    raw_rr_ms: np.ndarray
    resonance: ResonanceAssessment | None    # for sessions with paced steps
    input_notes: tuple[str, ...] = ()        # how the file was read, what its intervals hold
    person: str = ""                         # whose beats, when the file holds several series

    @property
    def notes(self) -> tuple[str, ...]:
        return self.input_notes + self.hrv.notes

    def whose(self) -> dict[str, str]:
        """The strap and person these beats are from, as JSON keys (none for one-series files)."""
        out = {"device": self.device.name, "address": self.device.address} if self.device else {}
        return out | ({"person": self.person} if self.person else {})

    def parameters_json(self) -> dict[str, Any]:
        """Every method setting used: artifacts, the three HRV domains, coherence."""
        return {"artifacts": {"mode": self.artifact_mode,
                              **_jsonable(asdict(self.artifact_params))},
                **self.hrv.parameters, "coherence": asdict(self.coherence_params)}

    def as_json(self) -> dict[str, Any]:
        """JSON-ready mapping; NaN metrics become null and ``notes`` say why."""
        metrics = self.hrv.as_dict()
        metrics.pop("parameters")
        out: dict[str, Any] = {"file": str(self.path), "kind": self.kind, **self.whose(),
                               "n_beats": self.n_beats, "duration_s": self.duration_s,
                               "artifact_pct": self.artifact_pct}
        out.update(metrics)
        out["coherence_mean"] = self.coherence_mean
        out = {k: _finite_or_none(v) for k, v in out.items()}
        out["notes"] = list(self.notes)
        if self.resonance is not None:
            out["resonance"] = resonance_json(self.resonance)
        out["parameters"] = self.parameters_json()
        return out


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def _physiological(rr_ms: np.ndarray) -> np.ndarray:
    lo, hi = PHYSIOLOGICAL_MS
    return (rr_ms >= lo) & (rr_ms <= hi)


def _range_note(rr_ms: np.ndarray, mode: str) -> tuple[str, ...]:
    """A note on the intervals outside :data:`PHYSIOLOGICAL_MS`, if any."""
    outside = int(rr_ms.size - np.count_nonzero(_physiological(rr_ms)))
    if not outside:
        return ()
    lo, hi = PHYSIOLOGICAL_MS
    what = ("kept as recorded (--artifacts none)" if mode == "none"
            else "treated as artifacts by the correction")
    return (f"{outside} of {rr_ms.size} RR intervals lie outside {lo:g}-{hi:g} ms (not "
            f"physiological); {what}",)


def _without_heart_rate(result: hrv.HrvResult, note: str) -> hrv.HrvResult:
    """``result`` with no heart rate (NaN, null in JSON) and ``note`` saying why."""
    time = replace(result.time, mean_hr_bpm=math.nan, min_hr_bpm=math.nan,
                   max_hr_bpm=math.nan, notes=result.time.notes + (note,))
    return replace(result, time=time)


def _nn(rec: RRRecording, mode: ArtifactMode, params: artifacts.ArtifactParams
        ) -> tuple[np.ndarray, float, artifacts.Correction | None]:
    """NN intervals (ms), the artifact percentage and the correction made."""
    rr = rec.rr_ms
    if mode == "auto":
        corr = artifacts.correct(rr, params)
        return corr.rr_ms, corr.detection.artifact_pct, corr
    if mode == "none":
        return rr, float(100.0 * artifacts.out_of_range(rr, params.bounds_ms).mean()), None
    raise ValueError(f"artifact_mode must be 'auto' or 'none', got {mode!r}")


def nn_times(beat_time_s: np.ndarray, rr_ms: np.ndarray, nn_ms: np.ndarray, origin: np.ndarray,
             *, gap_s: float = 1.0) -> np.ndarray:
    """End time (s, recording clock) of each NN interval.

    Within a stretch of consecutive beats, NN intervals are laid end to end, and the stretch is
    placed where its recorded beat times lie (the median offset between the two); a new stretch
    starts wherever the recorded beat times jump by more than
    the RR plus ``gap_s`` (beats lost in a link gap), so later beats keep their recorded times and
    stay aligned with the pacer. ``origin`` maps each NN interval to the recorded interval it
    came from (see :class:`biobreath.core.artifacts.Correction`).
    """
    jumps = np.flatnonzero(np.diff(beat_time_s) - rr_ms[1:] / 1000.0 > gap_s) + 1
    starts = np.concatenate([[0], jumps])
    seg = np.searchsorted(starts, origin, side="right") - 1
    anchor = beat_time_s[starts] - rr_ms[starts] / 1000.0
    csum = np.cumsum(nn_ms) / 1000.0
    first_of_seg = np.searchsorted(seg, np.arange(starts.size), side="left")
    before = np.concatenate([[0.0], csum])[np.minimum(first_of_seg, csum.size)]
    t = anchor[seg] + csum - before[seg]
    # A stretch's first beat is the one placed least surely (the beat timer is still learning
    # the link then): each stretch sits where its recorded beats lie as a whole, by the median.
    offset = beat_time_s[origin] - t
    for k in range(starts.size):
        m = seg == k
        if m.any():
            t[m] += np.median(offset[m])
    return t


def _coherence_mean(t: np.ndarray, nn: np.ndarray, params: CoherenceParams) -> float:
    """Mean of the finite coherence scores of the 64 s windows every 5 s (``params``)."""
    _, scores = coherence_scores(t, nn, params)
    finite = scores[np.isfinite(scores)]
    return float(np.mean(finite)) if finite.size else math.nan


def analyze_recording(rec: RRRecording, *, artifact_mode: ArtifactMode = "auto",
                      artifact_params: artifacts.ArtifactParams = artifacts.ArtifactParams(),
                      coherence_params: CoherenceParams = CoherenceParams(),
                      hrv_options: Mapping[str, Any] | None = None) -> FileAnalysis:
    """Analyse RR intervals read from a file (see :func:`biobreath.files.readers.read_rr`).

    ``hrv_options`` are keywords of :func:`biobreath.core.hrv.analyze` (e.g. ``method="lomb"``,
    ``detrend="smoothness_priors"``, ``smoothness_lambda=300``); windows and segments of the
    result (:func:`analyze_windows`, :func:`analyze_spans`) use the same settings.
    For a session breathed to a protocol with paced steps, each step also gets Shaffer &
    Meehan's resonance criteria (:mod:`biobreath.core.resonance`).
    """
    protocol = rec.protocol
    rr = rec.rr_ms
    if rr.size == 0:
        raise BiobreathError(f"{rec.path}: the recording holds no beats")
    nn, pct, corr = _nn(rec, artifact_mode, artifact_params)
    try:
        result = hrv.analyze(nn, **(hrv_options or {}))
    except ValueError as e:
        raise BiobreathError(f"{rec.path}: {e}") from None
    valid = _physiological(rr)
    if corr is not None:
        valid &= corr.detection.kinds == artifacts.ArtifactKind.NONE
    if not valid.any():
        lo, hi = PHYSIOLOGICAL_MS
        result = _without_heart_rate(result, (
            f"mean_hr_bpm, min_hr_bpm, max_hr_bpm: none of the {rr.size} RR intervals is a valid "
            f"beat ({lo:g}-{hi:g} ms{', not an artifact' if corr is not None else ''})"))
    origin = corr.origin if corr is not None else np.arange(rr.size)
    t = nn_times(rec.beat_time_s, rr, nn, origin)
    resonance = _assess_protocol(t, nn, protocol, coherence_params) if protocol else None
    return FileAnalysis(
        path=rec.path, kind=rec.kind, n_beats=int(rr.size), duration_s=float(rr.sum() / 1000.0),
        artifact_mode=artifact_mode, artifact_pct=float(pct), hrv=result,
        coherence_mean=_coherence_mean(t, nn, coherence_params),
        coherence_params=coherence_params, artifact_params=artifact_params, correction=corr,
        device=rec.device,
        nn_time_s=t, nn_ms=nn, raw_time_s=rec.beat_time_s, raw_rr_ms=rr, resonance=resonance,
        input_notes=rec.notes + _range_note(rr, artifact_mode), person=rec.person)


def _assess_protocol(t: np.ndarray, nn: np.ndarray, protocol: BreathingProtocol,
                     params: CoherenceParams) -> ResonanceAssessment | None:
    """Resonance criteria for every paced step of ``protocol`` that the beats cover."""
    pacer = Pacer(protocol)
    segments = pacer._segments
    crit = []
    for k, seg in enumerate(segments):
        end = segments[k + 1].t0 if k + 1 < len(segments) else t[-1]
        if seg.shape is None or end - seg.t0 < 2 * seg.period_s or seg.t0 >= t[-1]:
            continue
        grid = np.arange(seg.t0, end, 0.25)
        crit.append(resonance_criteria(t, nn, grid, pacer.volume(grid), seg.shape.rate_bpm,
                                       seg.t0, min(end, t[-1]), params=params))
    return assess(crit) if crit else None


def resonance_json(a: ResonanceAssessment) -> dict[str, Any]:
    steps = [{k: _finite_or_none(v) for k, v in asdict(c).items()} | {"points": p}
             for c, p in zip(a.criteria, a.points)]
    fit = None if a.fit is None else {k: _finite_or_none(v) for k, v in asdict(a.fit).items()}
    return {"best_rate_bpm": a.best_rate_bpm, "steps": steps, "fit": fit,
            "method": "each paced step from 20 s after its start; points: Shaffer & Meehan "
                      "2020, a point per criterion won (phase closest to 0, largest swing, LF "
                      "power, LF peak, smoothness; fewest LF peaks); best rate: the paced rate "
                      "nearest the resonance of G/(1+iQ(f/f0-f0/f))+D (D: a direct in-phase "
                      "path) fitted to every step's heart-rate amplitude and phase at its pace, "
                      "from least-squares sinusoids (the most points without a fit)"}


@dataclass(frozen=True, slots=True)
class WindowAnalysis:
    """One piece of a recording: a window (``start_s`` to ``end_s`` s on the NN time axis, from
    the first interval's start) or a labelled segment (a protocol step or the stretch after a
    marker, ``start_s`` to ``end_s`` s on the recording's clock)."""

    start_s: float
    end_s: float
    n_beats: int
    artifact_pct: float
    hrv: hrv.HrvResult
    coherence_mean: float
    label: str | None = None           # the segment's label; None for a window
    extra_notes: tuple[str, ...] = ()  # how the segments were found

    @property
    def notes(self) -> tuple[str, ...]:
        return self.extra_notes + self.hrv.notes

    def as_json(self, path: Path, device: DeviceInfo | None = None, *, person: str = "",
                parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """JSON-ready mapping: windows give ``window_start_s``/``window_end_s``, segments
        ``segment``, ``start_s`` and ``end_s``; ``parameters`` (see
        :meth:`FileAnalysis.parameters_json`) are added when given."""
        metrics = self.hrv.as_dict()
        metrics.pop("parameters")
        span = ({"window_start_s": self.start_s, "window_end_s": self.end_s}
                if self.label is None else
                {"segment": self.label, "start_s": self.start_s, "end_s": self.end_s})
        out = {"file": str(path),
               **({"device": device.name, "address": device.address} if device else {}),
               **({"person": person} if person else {}), **span,
               "n_beats": self.n_beats, "duration_s": self.end_s - self.start_s,
               "artifact_pct": self.artifact_pct, **metrics,
               "coherence_mean": self.coherence_mean}
        out = {k: _finite_or_none(v) for k, v in out.items()} | {"notes": list(self.notes)}
        return out | ({"parameters": parameters} if parameters is not None else {})


def hrv_options_of(a: FileAnalysis) -> dict[str, Any]:
    """The keywords of :func:`biobreath.core.hrv.analyze` that produced ``a``'s metrics."""
    return {k: v for domain in a.hrv.parameters.values() for k, v in domain.items()}


def _flagged(a: FileAnalysis) -> np.ndarray:
    """Per NN interval: True where the correction made it (interpolated, split or merged)."""
    if a.correction is None:
        return np.zeros(a.nn_ms.size, bool)
    return ~a.correction.kept


def _piece(a: FileAnalysis, m: np.ndarray, start_s: float, end_s: float, n_beats: int,
           result: hrv.HrvResult, label: str | None = None,
           notes: tuple[str, ...] = ()) -> WindowAnalysis:
    """A window or segment holding the NN intervals ``m`` of ``a``, with its artifact share,
    coherence, and no heart rate when none of its beats is valid."""
    flagged = _flagged(a)
    if m.any() and not (~flagged[m] & _physiological(a.nn_ms[m])).any():
        lo, hi = PHYSIOLOGICAL_MS
        where = "window" if label is None else "segment"
        result = _without_heart_rate(result, (
            f"mean_hr_bpm, min_hr_bpm, max_hr_bpm: no valid beat in the {where} ({lo:g}-{hi:g}"
            f" ms{', not an artifact' if a.correction is not None else ''})"))
    pct = float(100.0 * flagged[m].mean()) if m.any() else math.nan
    return WindowAnalysis(start_s, end_s, n_beats, pct, result,
                          _coherence_mean(a.nn_time_s[m], a.nn_ms[m], a.coherence_params),
                          label, notes)


def analyze_windows(a: FileAnalysis, window_s: float, step_s: float) -> list[WindowAnalysis]:
    """Every metric per window of ``window_s`` seconds every ``step_s`` seconds, with the
    settings of ``a``."""
    if not (window_s > 0 and step_s > 0):
        raise BiobreathError("--window and --step must be positive numbers of seconds")
    windows = hrv.sliding_windows(a.nn_ms, window_s, step_s, include_nonlinear=True,
                                  **hrv_options_of(a))
    t_rel = np.cumsum(a.nn_ms) / 1000.0
    return [_piece(a, (t_rel >= w.start_s) & (t_rel < w.end_s), w.start_s, w.end_s, w.n_beats,
                   hrv.HrvResult(w.time, w.frequency, w.nonlinear))
            for w in windows]


def analyze_spans(a: FileAnalysis, spans: Sequence[Span],
                  notes: tuple[str, ...] = ()) -> list[WindowAnalysis]:
    """Every metric per labelled segment (see :mod:`biobreath.offline.segments`), with the
    settings of ``a``. Each NN interval belongs to the last span starting at or before its end
    time (s, recording clock), so the last span runs to the end of the recording; ``notes`` go
    on every segment."""
    starts = np.array([s.start_s for s in spans])
    which = np.searchsorted(starts, a.nn_time_s, side="right") - 1
    options = hrv_options_of(a)
    out = []
    for k, span in enumerate(spans):
        m = which == k
        out.append(_piece(a, m, span.start_s, span.end_s, int(m.sum()),
                          hrv.analyze(a.nn_ms[m], **options), span.label, notes))
    return out


def analyze_file(path: str | Path, *, artifact_mode: ArtifactMode = "auto") -> list[FileAnalysis]:
    """Analyse one session file (each strap, with its protocol's steps) or RR file."""
    return [analyze_recording(rec, artifact_mode=artifact_mode) for rec in read_rr_all(path)]


def _fmt(v: float, spec: str, unit: str = "", missing: str = "n/a") -> str:
    return (format(v, spec) + (f" {unit}" if unit else "")) if math.isfinite(v) else missing


def _hr(v: float) -> str:
    """A heart rate, or "-" when there is none (no valid beat: see the notes)."""
    return _fmt(v, ".1f", missing="-")


def format_report(a: FileAnalysis) -> str:
    """A human-readable summary of one analysis."""
    t, f, n = a.hrv.time, a.hrv.frequency, a.hrv.nonlinear
    who = ", ".join(x for x in (a.person, a.device.name if a.device else "") if x)
    lines = [
        f"{a.path}{'  ' + who if who else ''}  ({a.kind}, {a.n_beats} beats, "
        f"{_fmt(a.duration_s / 60, '.1f', 'min')}, "
        f"artifacts {_fmt(a.artifact_pct, '.1f', '%')} [{a.artifact_mode}])",
        f"  heart rate   mean {_hr(t.mean_hr_bpm)}  min {_hr(t.min_hr_bpm)}  "
        f"max {_hr(t.max_hr_bpm)} bpm   mean RR {_fmt(t.mean_rr_ms, '.1f', 'ms')}",
        f"  time domain  SDNN {_fmt(t.sdnn_ms, '.1f')}  RMSSD {_fmt(t.rmssd_ms, '.1f')}  "
        f"SDSD {_fmt(t.sdsd_ms, '.1f')} ms   pNN50 {_fmt(t.pnn50_pct, '.1f', '%')}   "
        f"HRV tri. index {_fmt(t.hrv_triangular_index, '.2f')}",
        f"  frequency    VLF {_fmt(f.vlf_ms2, '.0f')}  LF {_fmt(f.lf_ms2, '.0f')}  "
        f"HF {_fmt(f.hf_ms2, '.0f')} ms²   LF/HF {_fmt(f.lf_hf, '.2f')}   "
        f"LF peak {_fmt(f.lf_peak_hz, '.3f', 'Hz')}",
        f"  nonlinear    SD1 {_fmt(n.sd1_ms, '.1f')}  SD2 {_fmt(n.sd2_ms, '.1f')} ms   "
        f"DFA α1 {_fmt(n.dfa_alpha1, '.2f')}  α2 {_fmt(n.dfa_alpha2, '.2f')}   "
        f"SampEn {_fmt(n.sampen, '.2f')}",
        f"  coherence    mean score {_fmt(a.coherence_mean, '.0f')} "
        "(0-100, 64 s windows every 5 s of the corrected series: offline, not the live score)",
    ]
    if a.resonance is not None:
        how = ("the paced rate nearest the resonance fitted to every step"
               if a.resonance.fit is not None else "the most Shaffer & Meehan criteria won")
        lines.append(f"  resonance    best rate {a.resonance.best_rate_bpm:g} breaths/min "
                     f"({how}; points per paced step):")
        for c, p in zip(a.resonance.criteria, a.resonance.points):
            lines.append(f"    {c.rate_bpm:4.1f}/min  phase {_fmt(c.phase_deg, '+.0f', '°')}  "
                         f"swing {_fmt(c.swing_bpm, '.1f', 'bpm')}  "
                         f"LF {_fmt(c.lf_power_ms2, '.0f', 'ms²')}"
                         f"  smooth {_fmt(c.smoothness, '.2f')}  LF peaks {c.lf_peaks}  points {p}")
    lines += [f"  note: {note}" for note in a.notes]
    return "\n".join(lines)

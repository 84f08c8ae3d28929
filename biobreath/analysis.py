"""Offline analysis of one file: read, correct artifacts, compute every HRV metric.

This is the shell behind ``biobreath analyze``: readers give RR intervals, the Lipponen-Tarvainen
method (:mod:`biobreath.artifacts`) corrects them (``artifacts="auto"``) or not (``"none"``),
:mod:`biobreath.hrv` computes the metrics and :mod:`biobreath.coherence` the coherence the trainer
showed, with the live trainer's parameters.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biobreath import artifacts, hrv
from biobreath.coherence import CoherenceParams, coherence_series
from biobreath.errors import BiobreathError
from biobreath.readers import RRRecording, read_rr

ArtifactMode = Literal["auto", "none"]


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

    @property
    def notes(self) -> tuple[str, ...]:
        return self.hrv.notes

    def as_json(self) -> dict[str, Any]:
        """JSON-ready mapping; NaN metrics become null and ``notes`` say why."""
        metrics = self.hrv.as_dict()
        params = metrics.pop("parameters")
        out: dict[str, Any] = {"file": str(self.path), "kind": self.kind,
                               "n_beats": self.n_beats, "duration_s": self.duration_s,
                               "artifact_pct": self.artifact_pct}
        out.update(metrics)
        out["coherence_mean"] = self.coherence_mean
        out = {k: _finite_or_none(v) for k, v in out.items()}
        out["notes"] = list(self.notes)
        out["parameters"] = {"artifacts": {"mode": self.artifact_mode,
                                           **_jsonable(asdict(self.artifact_params))},
                             **params, "coherence": asdict(self.coherence_params)}
        return out


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def analyze_recording(rec: RRRecording, *, artifact_mode: ArtifactMode = "auto",
                      artifact_params: artifacts.ArtifactParams = artifacts.ArtifactParams(),
                      coherence_params: CoherenceParams = CoherenceParams()) -> FileAnalysis:
    """Analyse RR intervals read from a file (see :func:`biobreath.readers.read_rr`)."""
    rr = rec.rr_ms
    if rr.size == 0:
        raise BiobreathError(f"{rec.path}: the recording holds no beats")
    if artifact_mode == "auto":
        corr = artifacts.correct(rr, artifact_params)
        nn, pct = corr.rr_ms, corr.detection.artifact_pct
    elif artifact_mode == "none":
        nn, pct = rr, float(100.0 * artifacts.out_of_range(rr, artifact_params.bounds_ms).mean())
    else:
        raise ValueError(f"artifact_mode must be 'auto' or 'none', got {artifact_mode!r}")
    try:
        result = hrv.analyze(nn)
    except ValueError as e:
        raise BiobreathError(f"{rec.path}: {e}") from None
    # Beat times of the NN series on the recording's clock: the first beat's start, then NN sums.
    t0 = float(rec.beat_time_s[0] - rr[0] / 1000.0)
    scores = [c.score for c in coherence_series(t0 + np.cumsum(nn) / 1000.0, nn, coherence_params)]
    finite = [s for s in scores if math.isfinite(s)]
    return FileAnalysis(
        path=rec.path, kind=rec.kind, n_beats=int(rr.size), duration_s=float(rr.sum() / 1000.0),
        artifact_mode=artifact_mode, artifact_pct=float(pct), hrv=result,
        coherence_mean=float(np.mean(finite)) if finite else math.nan,
        coherence_params=coherence_params, artifact_params=artifact_params)


def analyze_file(path: str | Path, *, artifact_mode: ArtifactMode = "auto") -> FileAnalysis:
    """Read and analyse one session or RR file."""
    return analyze_recording(read_rr(path), artifact_mode=artifact_mode)


def _fmt(v: float, spec: str, unit: str = "") -> str:
    return (format(v, spec) + (f" {unit}" if unit else "")) if math.isfinite(v) else "n/a"


def format_report(a: FileAnalysis) -> str:
    """A human-readable summary of one analysis."""
    t, f, n = a.hrv.time, a.hrv.frequency, a.hrv.nonlinear
    lines = [
        f"{a.path}  ({a.kind}, {a.n_beats} beats, {_fmt(a.duration_s / 60, '.1f', 'min')}, "
        f"artifacts {_fmt(a.artifact_pct, '.1f', '%')} [{a.artifact_mode}])",
        f"  heart rate   mean {_fmt(t.mean_hr_bpm, '.1f')}  min {_fmt(t.min_hr_bpm, '.1f')}  "
        f"max {_fmt(t.max_hr_bpm, '.1f')} bpm   mean RR {_fmt(t.mean_rr_ms, '.1f', 'ms')}",
        f"  time domain  SDNN {_fmt(t.sdnn_ms, '.1f')}  RMSSD {_fmt(t.rmssd_ms, '.1f')}  "
        f"SDSD {_fmt(t.sdsd_ms, '.1f')} ms   pNN50 {_fmt(t.pnn50_pct, '.1f', '%')}   "
        f"HRV tri. index {_fmt(t.hrv_triangular_index, '.2f')}",
        f"  frequency    VLF {_fmt(f.vlf_ms2, '.0f')}  LF {_fmt(f.lf_ms2, '.0f')}  "
        f"HF {_fmt(f.hf_ms2, '.0f')} ms²   LF/HF {_fmt(f.lf_hf, '.2f')}   "
        f"LF peak {_fmt(f.lf_peak_hz, '.3f', 'Hz')}",
        f"  nonlinear    SD1 {_fmt(n.sd1_ms, '.1f')}  SD2 {_fmt(n.sd2_ms, '.1f')} ms   "
        f"DFA α1 {_fmt(n.dfa_alpha1, '.2f')}  α2 {_fmt(n.dfa_alpha2, '.2f')}   "
        f"SampEn {_fmt(n.sampen, '.2f')}",
        f"  coherence    mean score {_fmt(a.coherence_mean, '.0f')} (0-100, 64 s windows every 5 s)",
    ]
    lines += [f"  note: {note}" for note in a.notes]
    return "\n".join(lines)

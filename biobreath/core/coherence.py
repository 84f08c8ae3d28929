"""Resonance metrics for biofeedback: coherence ratio and score, peak-to-trough heart rate.

Coherence ratio (McCraty et al. 2009, as HeartMath describes it): take the spectrum of the most
recent 64 s of heartbeats, find the highest peak between 0.04 and 0.26 Hz, integrate the power in
a 0.030 Hz window centred on it, and divide by the rest of the power:
``ratio = peak / (total - peak)``. Total power here is the whole HRV band 0.0033-0.4 Hz.

Spectrum used (all parameters in :class:`CoherenceParams`, computed by
:mod:`biobreath.core.spectrum`): the RR tachogram (ms, at each beat's time) resampled at 4 Hz by
cubic spline, linear trend removed, periodic Hann window, periodogram zero-padded to 1024 points
(0.0039 Hz bins), one-sided PSD in ms²/Hz.

The same spectrum gives the live LF (0.04-0.15 Hz) peak frequency and power.

The score is our own, transparent: ``score = 100 x peak / total = 100 x ratio / (1 + ratio)``,
the share (percent) of heart-rate variability power concentrated in the breathing peak. HeartMath's
level-1 thresholds (ratio 0.5 and 1.8) fall at scores 33 and 64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biobreath.core import spectrum

LOW_MEDIUM_SCORE = 100 * 0.5 / 1.5
MEDIUM_HIGH_SCORE = 100 * 1.8 / 2.8


@dataclass(frozen=True, slots=True)
class CoherenceParams:
    window_s: float = 64.0
    step_s: float = 5.0
    resample_hz: float = 4.0
    nfft: int = 1024
    peak_band_hz: tuple[float, float] = (0.04, 0.26)
    peak_width_hz: float = 0.030
    total_band_hz: tuple[float, float] = (0.0033, 0.4)
    lf_band_hz: tuple[float, float] = (0.04, 0.15)
    min_coverage: float = 0.75  # fraction of the window the beats must span (no extrapolation)


@dataclass(frozen=True, slots=True)
class CoherenceResult:
    """Coherence of one window ending at ``t`` (s). NaN fields when there were too few beats."""

    t: float
    ratio: float
    score: float
    peak_hz: float
    peak_power_ms2: float
    total_power_ms2: float
    lf_peak_hz: float
    lf_power_ms2: float


def score_from_ratio(ratio: float | np.ndarray) -> float | np.ndarray:
    """Coherence score 0-100 from the coherence ratio: 100 x ratio / (1 + ratio)."""
    return 100.0 * ratio / (1.0 + ratio)


def score_level(score: float) -> str:
    """'low', 'medium' or 'high' (HeartMath level-1 thresholds mapped to our score)."""
    if not math.isfinite(score):
        return "-"
    return "low" if score < LOW_MEDIUM_SCORE else "medium" if score < MEDIUM_HIGH_SCORE else "high"


def _window_psd(x: np.ndarray, params: CoherenceParams) -> np.ndarray:
    """One-sided PSD (ms²/Hz) of each row of ``x`` (evenly sampled RR, ms): linear trend
    removed, one periodic Hann window over the whole row, zero-padded to ``params.nfft``."""
    return spectrum.welch(spectrum.detrend(x, "linear"), params.resample_hz, nfft=params.nfft)


def tachogram_psd(beat_t: np.ndarray, rr_ms: np.ndarray, t_start: float, t_end: float,
                  params: CoherenceParams = CoherenceParams()) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and one-sided PSD (ms²/Hz) of the RR tachogram in ``[t_start, t_end)``.

    ``beat_t`` are beat times (s), ``rr_ms`` the intervals (ms) ending there; beats whose time
    steps back are dropped.
    """
    fs = params.resample_hz
    grid = spectrum.even_grid(t_start, t_end - t_start, fs)
    rr = spectrum.resample(beat_t, rr_ms, grid)
    return spectrum.frequencies(params.nfft, fs), _window_psd(rr, params)


def _measures(freq: np.ndarray, psd: np.ndarray, params: CoherenceParams) -> np.ndarray:
    """Per PSD row: ratio, peak Hz, peak ms², total ms², LF peak Hz, LF ms² (NaN if undefined)."""
    psd = np.atleast_2d(psd)
    df = freq[1] - freq[0]
    total_m = (freq >= params.total_band_hz[0]) & (freq <= params.total_band_hz[1])
    total = psd[:, total_m].sum(axis=1) * df
    band = np.flatnonzero((freq >= params.peak_band_hz[0]) & (freq <= params.peak_band_hz[1]))
    k = band[np.argmax(psd[:, band], axis=1)]
    # Bins within half the peak width of the peak, inside the total band: a running sum.
    half = int(np.floor(params.peak_width_hz / 2 / df + 1e-9))
    inband = np.where(total_m, psd, 0.0)
    csum = np.concatenate([np.zeros((psd.shape[0], 1)), np.cumsum(inband, axis=1)], axis=1)
    lo = np.clip(k - half, 0, freq.size)
    hi = np.clip(k + half + 1, 0, freq.size)
    rows = np.arange(psd.shape[0])
    peak = (csum[rows, hi] - csum[rows, lo]) * df
    lf = np.flatnonzero((freq >= params.lf_band_hz[0]) & (freq < params.lf_band_hz[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((total > 0) & (total - peak > 0), peak / (total - peak), np.nan)
    ok = np.isfinite(ratio)
    out = np.column_stack([ratio, freq[k], peak, total, freq[lf[np.argmax(psd[:, lf], axis=1)]],
                           psd[:, lf].sum(axis=1) * df])
    out[~ok] = np.nan
    return out


def _result(t_end: float, m: np.ndarray) -> CoherenceResult:
    ratio, peak_hz, peak, total, lf_hz, lf = (float(v) for v in m)
    return CoherenceResult(t_end, ratio, float(score_from_ratio(ratio)), peak_hz, peak, total,
                           lf_hz, lf)


def coherence(beat_t: np.ndarray, rr_ms: np.ndarray, t_end: float,
              params: CoherenceParams = CoherenceParams()) -> CoherenceResult:
    """Coherence of the ``params.window_s`` seconds of beats ending at ``t_end`` (s).

    ``beat_t`` are beat times (s) and ``rr_ms`` the artifact-free RR intervals ending there.
    """
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    t_start = t_end - params.window_s
    m = (beat_t >= t_start) & (beat_t <= t_end)
    if m.sum() < 8 or beat_t[m][-1] - beat_t[m][0] < params.min_coverage * params.window_s:
        return CoherenceResult(t_end, *[math.nan] * 7)
    # Never extrapolate the tachogram: analyse only the span the beats cover.
    freq, psd = tachogram_psd(beat_t[m], rr_ms[m], max(t_start, beat_t[m][0]),
                              min(t_end, beat_t[m][-1]), params)
    return _result(t_end, _measures(freq, psd, params)[0])


def coherence_series(beat_t: np.ndarray, rr_ms: np.ndarray,
                     params: CoherenceParams = CoherenceParams(), *,
                     batch: int = 2048) -> list[CoherenceResult]:
    """Coherence every ``step_s`` over a whole recording (offline).

    Windows whose beats reach within ``edge_s`` (2 s) of both ends are computed together from one
    cubic spline through the whole recording, sampled on one 4 Hz grid (fast: a day of beats in
    well under a second); the others (the recording's start, around long gaps) exactly as the
    live trainer does, by :func:`coherence`. The two differ only in the spline's end conditions.
    """
    edge_s = 2.0
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    if beat_t.size < 8:
        return []
    fs, win = params.resample_hz, params.window_s
    ends = np.arange(beat_t[0] + win, beat_t[-1] + 1e-9, params.step_s)
    lo = np.searchsorted(beat_t, ends - win, side="left")
    hi = np.searchsorted(beat_t, ends, side="right")
    full = ((hi - lo) >= 8) & (beat_t[np.minimum(lo, beat_t.size - 1)] <= ends - win + edge_s) & (
        beat_t[np.maximum(hi - 1, 0)] >= ends - edge_s)
    results: list[CoherenceResult | None] = [None] * ends.size
    idx = np.flatnonzero(full)
    if idx.size:
        spline = spectrum.tachogram_spline(beat_t, rr_ms)
        freq = spectrum.frequencies(params.nfft, fs)
        for b in range(0, idx.size, batch):
            rows = idx[b:b + batch]
            grid = spectrum.even_grid(ends[rows] - win, win, fs)
            meas = _measures(freq, _window_psd(spline(grid), params), params)
            for r, m in zip(rows.tolist(), meas):
                results[r] = _result(float(ends[r]), m)
    for r in np.flatnonzero(~full).tolist():
        results[r] = coherence(beat_t[lo[r]:hi[r]], rr_ms[lo[r]:hi[r]], float(ends[r]), params)
    return results


def peak_to_trough(beat_t: np.ndarray, hr_bpm: np.ndarray, t0: float, t1: float) -> float:
    """Heart-rate swing (bpm) within one breath ``[t0, t1)`` (s): max minus min beat HR."""
    m = (beat_t >= t0) & (beat_t < t1)
    if m.sum() < 2:
        return math.nan
    seg = hr_bpm[m]
    return float(seg.max() - seg.min())

"""Resonance-frequency metrics: heart rate against breathing, and Shaffer & Meehan's criteria.

At the resonance rate heart rate oscillates with the largest amplitude and in phase with
breathing (Lehrer, Vaschillo & Vaschillo 2000). For any stretch of a session breathed at one pace
we compute the six criteria Shaffer & Meehan (2020) use to choose a person's resonance rate:

1. phase: heart rate against breathing at the breathing frequency, from their cross-spectrum
   (0° = in phase; positive = heart rate leads), see :func:`hr_breathing_phase`;
2. peak-to-trough heart-rate swing per breath (bpm, mean over breaths);
3. LF power (0.04-0.15 Hz, ms²);
4. LF spectral peak (highest PSD value in LF, ms²/Hz);
5. smoothness of the heart-rate curve: the share of heart-rate variance explained by a sinusoid
   at the breathing frequency and its first harmonic (0-1);
6. number of LF peaks: local maxima of the LF spectrum above ``peak_fraction`` of its highest.

Spectra here are those of :mod:`biobreath.core.coherence` (4 Hz cubic-spline tachogram, linear
detrend, periodic Hann window, 1024-point periodogram), so live and offline figures agree; the
heart-rate curve is resampled and detrended by the same :mod:`biobreath.core.spectrum`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from biobreath.core import spectrum
from biobreath.core.coherence import CoherenceParams, peak_to_trough, tachogram_psd

LF_BAND = (0.04, 0.15)


@dataclass(frozen=True, slots=True)
class HrBreathingPhase:
    """Phase (degrees, -180..180) of heart rate relative to breathing at ``freq_hz``."""

    freq_hz: float
    phase_deg: float
    hr_amplitude_bpm: float  # amplitude of the heart-rate oscillation at freq_hz


@dataclass(frozen=True, slots=True)
class ResonanceCriteria:
    """Shaffer & Meehan's six criteria for one stretch ``[t0, t1)`` (s) breathed at ``rate_bpm``."""

    rate_bpm: float
    t0: float
    t1: float
    phase_deg: float
    swing_bpm: float
    lf_power_ms2: float
    lf_peak_ms2_hz: float
    lf_peak_hz: float
    smoothness: float
    lf_peaks: int


def _hr_grid(beat_t: np.ndarray, rr_ms: np.ndarray, t0: float, t1: float,
             fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) of an even ``fs`` Hz grid over ``[t0, t1)`` and heart rate (bpm) there.

    Each interval's rate sits at the interval's midpoint, so the curve carries no half-interval
    delay (which would bias the phase by ~15-30°).
    """
    grid = spectrum.even_grid(t0, t1 - t0, fs)
    return grid, spectrum.resample(beat_t - rr_ms / 2000.0, 60000.0 / rr_ms, grid)


def hr_breathing_phase(beat_t: np.ndarray, rr_ms: np.ndarray, breath_t: np.ndarray,
                       breath_volume: np.ndarray, freq_hz: float, t0: float, t1: float,
                       *, resample_hz: float = 4.0) -> HrBreathingPhase:
    """Phase of heart rate relative to breathing at ``freq_hz`` over ``[t0, t1)`` (s).

    Both signals are resampled at ``resample_hz`` (heart rate 60000/RR by cubic spline over the
    intervals' midpoints, breathing by linear interpolation of ``breath_volume`` sampled at
    ``breath_t``), linearly detrended and Hann-windowed; the phase is the angle of their
    cross-spectrum ``H(f) conj(B(f))`` at ``freq_hz``, evaluated exactly at that frequency by a
    single DFT term.
    """
    m = (beat_t >= t0 - 5) & (beat_t <= t1 + 5)
    if m.sum() < 8 or not freq_hz > 0:
        return HrBreathingPhase(freq_hz, math.nan, math.nan)
    grid, hr = _hr_grid(beat_t[m], rr_ms[m], t0, t1, resample_hz)
    br = np.interp(grid, breath_t, breath_volume)
    if not np.all(np.isfinite(br)):
        return HrBreathingPhase(freq_hz, math.nan, math.nan)  # unpaced stretch: no breathing curve
    w = spectrum.hann(grid.size)
    kernel = np.exp(-2j * np.pi * freq_hz * (grid - t0))
    h = np.sum(spectrum.detrend(hr, "linear") * w * kernel)
    b = np.sum(spectrum.detrend(br, "linear") * w * kernel)
    if abs(b) == 0:
        return HrBreathingPhase(freq_hz, math.nan, math.nan)
    phase = math.degrees(np.angle(h * np.conj(b)))
    return HrBreathingPhase(freq_hz, phase, float(2 * abs(h) / w.sum()))


def smoothness(beat_t: np.ndarray, rr_ms: np.ndarray, freq_hz: float, t0: float, t1: float,
               *, resample_hz: float = 4.0) -> float:
    """Share (0-1) of heart-rate variance explained by a sinusoid at ``freq_hz`` and 2x it."""
    m = (beat_t >= t0 - 5) & (beat_t <= t1 + 5)
    if m.sum() < 8:
        return math.nan
    grid, hr = _hr_grid(beat_t[m], rr_ms[m], t0, t1, resample_hz)
    y = spectrum.detrend(hr, "linear")
    x = grid - t0
    design = np.column_stack([f(2 * np.pi * k * freq_hz * x)
                              for k in (1, 2) for f in (np.sin, np.cos)])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    total = float(np.sum(y * y))
    return float(1.0 - np.sum((y - design @ coef) ** 2) / total) if total > 0 else math.nan


def count_peaks(psd: np.ndarray, peak_fraction: float = 0.1) -> int:
    """Local maxima of ``psd`` at or above ``peak_fraction`` of its largest value."""
    if psd.size < 3:
        return 0
    inner = (psd[1:-1] > psd[:-2]) & (psd[1:-1] >= psd[2:])
    return int(np.sum(inner & (psd[1:-1] >= peak_fraction * psd.max())))


def resonance_criteria(beat_t: np.ndarray, rr_ms: np.ndarray, breath_t: np.ndarray,
                       breath_volume: np.ndarray, rate_bpm: float, t0: float, t1: float, *,
                       params: CoherenceParams = CoherenceParams(),
                       peak_fraction: float = 0.1) -> ResonanceCriteria:
    """The six criteria for normal beats (``beat_t`` s, ``rr_ms`` ms) in ``[t0, t1)``, breathed
    at ``rate_bpm`` with lung volume ``breath_volume`` sampled at ``breath_t`` (s)."""
    beat_t = np.asarray(beat_t, float)
    rr_ms = np.asarray(rr_ms, float)
    f = rate_bpm / 60.0
    period = 1.0 / f
    phase = hr_breathing_phase(beat_t, rr_ms, breath_t, breath_volume, f, t0, t1,
                               resample_hz=params.resample_hz)
    hr = 60000.0 / rr_ms
    starts = np.arange(t0, t1 - period + 1e-9, period)
    swings = [peak_to_trough(beat_t, hr, s, s + period) for s in starts]
    swings = [x for x in swings if math.isfinite(x)]
    m = (beat_t >= t0) & (beat_t < t1)
    if m.sum() < 8:
        lf_power = lf_peak = lf_peak_hz = math.nan
        n_peaks = 0
    else:
        freq, psd = tachogram_psd(beat_t[m], rr_ms[m], max(t0, beat_t[m][0]),
                                  min(t1, beat_t[m][-1]), params)
        band = (freq >= LF_BAND[0]) & (freq < LF_BAND[1])
        lf_power = float(psd[band].sum() * (freq[1] - freq[0]))
        k = np.argmax(psd[band])
        lf_peak, lf_peak_hz = float(psd[band][k]), float(freq[band][k])
        n_peaks = count_peaks(psd[band], peak_fraction)
    return ResonanceCriteria(rate_bpm, t0, t1, phase.phase_deg,
                             float(np.mean(swings)) if swings else math.nan, lf_power, lf_peak,
                             lf_peak_hz, smoothness(beat_t, rr_ms, f, t0, t1), n_peaks)


@dataclass(frozen=True, slots=True)
class ResonanceAssessment:
    """Criteria per rate, the points each rate won, and the rate chosen (most points)."""

    criteria: tuple[ResonanceCriteria, ...]
    points: tuple[int, ...]
    best_rate_bpm: float


def assess(
    criteria: list[ResonanceCriteria] | tuple[ResonanceCriteria, ...],
) -> ResonanceAssessment:
    """Give each rate a point for every criterion it wins; ties go to the larger LF peak.

    Wins: phase closest to 0°, largest swing, largest LF power, largest LF peak, smoothest curve,
    fewest LF peaks (Shaffer & Meehan 2020).
    """
    crit = tuple(criteria)
    if not crit:
        raise ValueError("no stretches to assess")
    keys = [lambda c: -abs(c.phase_deg), lambda c: c.swing_bpm, lambda c: c.lf_power_ms2,
            lambda c: c.lf_peak_ms2_hz, lambda c: c.smoothness, lambda c: -c.lf_peaks]
    points = [0] * len(crit)
    for key in keys:
        values = [key(c) for c in crit]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            continue
        best = max(finite)
        for i, v in enumerate(values):
            if v == best:
                points[i] += 1
    order = max(range(len(crit)), key=lambda i: (points[i], np.nan_to_num(crit[i].lf_peak_ms2_hz)))
    return ResonanceAssessment(crit, tuple(points), crit[order].rate_bpm)

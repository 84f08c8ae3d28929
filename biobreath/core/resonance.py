"""Resonance-frequency metrics: heart rate against breathing, and Shaffer & Meehan's criteria.

At the resonance rate heart rate oscillates with the largest amplitude and in phase with
breathing (Lehrer, Vaschillo & Vaschillo 2000). For any stretch of a session breathed at one pace
we compute the six criteria Shaffer & Meehan (2020) use to choose a person's resonance rate:

1. phase: heart rate against breathing at the breathing frequency, from sinusoids fitted to
   both (0° = in phase; positive = heart rate leads), see :func:`hr_breathing_phase`;
2. peak-to-trough heart-rate swing per breath (bpm, mean over breaths);
3. LF power (0.04-0.15 Hz, ms²);
4. LF spectral peak (highest PSD value in LF, ms²/Hz);
5. smoothness of the heart-rate curve: the share of heart-rate variance explained by a sinusoid
   at the breathing frequency and its first harmonic (0-1);
6. number of LF peaks: local maxima of the LF spectrum above ``peak_fraction`` of its highest.

Each stretch is analysed from ``settle_s`` (:data:`SETTLE_S`, 20 s) after its start: when the pace
changes, the heart's response to the old pace dies away (the simulated loop's time constant,
1/(damping x 2 pi f), is 10-14 s over 4.5-6.5 breaths/min) and the person takes a breath or two
to follow. Counting that transition lowered the first paced rate's swing and smoothness
enough that, on the noise-free simulated person, 6.0 out-swung a true 6.5.

:func:`assess` gives a point per criterion won, as Shaffer & Meehan do, but chooses the rate from
all the rates at once (:func:`fit_resonance`): the heart-rate oscillation at each pace (its
amplitude and its phase against breathing, one complex number per rate) is fitted with the
response of a resonant loop beside a direct in-phase path, ``G / (1 + iQ(f/f0 - f0/f)) + D``;
the loop's amplitude peaks and its phase crosses 0° at the resonance f0 (Vaschillo, Vaschillo &
Lehrer 2006; Lehrer 2013), and the paced rate nearest f0 is chosen. Six criteria voting rate by
rate each rest on two noisy minutes, and adjacent rates differ by little (a few per cent in swing
and 10-20° in phase); the fit pools every rate's amplitude and phase. On the simulated person
(true beats, 850 runs: 170 seeds x 5 rates) it finds the true rate in 94.6 % of runs; the vote
found it in about 78 %, and the fit of a resonance alone to Hann-windowed estimates in 88.4 %.
Runs with the same seed share their noise at every rate, so a figure over few seeds varies more
than its count of runs suggests: blocks of 10 seeds gave 88-100 % (see
``benchmarks/bench_assess.py`` for the whole command). With fewer than three rates, or when the
fit fails, the vote decides (most points; ties go to the larger LF peak).

:func:`recommend` turns the assessment into the rate to breathe at with a confidence, or into no
recommendation and the reason (a rate with too little data). **Confidence** (0-1) is the
probability, from the fit's standard error of f0, that the resonance lies nearer the chosen rate
than any other paced rate: "clear" from 0.8, "likely" from 0.5, "uncertain" below. Without a fit
it is the vote's margin: the winner's lead in points over the runner-up as a share of the
criteria scored.

Spectra here are those of :mod:`biobreath.core.coherence` (4 Hz cubic-spline tachogram, linear
detrend, periodic Hann window, 1024-point periodogram), so live and offline figures agree; the
heart-rate curve is resampled and detrended by the same :mod:`biobreath.core.spectrum`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np

from biobreath.core import spectrum
from biobreath.core.coherence import CoherenceParams, peak_to_trough, tachogram_psd

LF_BAND = (0.04, 0.15)
SETTLE_S = 20.0
"""Seconds (s) at the start of each stretch left out while the heart rate settles to the pace."""
MIN_COVERAGE = 0.8
"""Share of a paced step that normal beats must cover for its rate to be judged."""
CLEAR, LIKELY = 0.8, 0.5
"""Confidence from which a recommendation is "clear" and "likely" (below: "uncertain")."""


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
    amplitude_bpm: float = math.nan  # heart-rate oscillation at the pace (bpm, half its swing)


def _hr_grid(beat_t: np.ndarray, rr_ms: np.ndarray, t0: float, t1: float,
             fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) of an even ``fs`` Hz grid over ``[t0, t1)`` and heart rate (bpm) there.

    Each interval's rate sits at the interval's midpoint, so the curve carries no half-interval
    delay (which would bias the phase by ~15-30°).
    """
    grid = spectrum.even_grid(t0, t1 - t0, fs)
    return grid, spectrum.resample(beat_t - rr_ms / 2000.0, 60000.0 / rr_ms, grid)


def _harmonics(x: np.ndarray, freq_hz: float) -> np.ndarray:
    """Columns cos, sin at ``freq_hz`` and at twice it, at times ``x`` (s)."""
    w = 2 * np.pi * freq_hz * x
    return np.column_stack([np.cos(w), np.sin(w), np.cos(2 * w), np.sin(2 * w)])


def _hann_term(x: np.ndarray, freq_hz: float) -> tuple[np.ndarray, float]:
    """Weights of the Hann-windowed DFT term at ``freq_hz`` for samples at offsets ``x`` (s)
    from the grid's start, and the factor (2 / window sum) turning that term into an amplitude."""
    w = spectrum.hann(x.size)
    return w * np.exp(-2j * np.pi * freq_hz * x), 2.0 / w.sum()


@lru_cache(maxsize=16)
def _even_hann_term(n: int, freq_hz: float, fs: float) -> tuple[np.ndarray, np.ndarray, float]:
    """The offsets ``k / fs`` (s) of an ``n``-sample grid, as :func:`spectrum.even_grid` spaces
    them, and their :func:`_hann_term`; read-only and cached: at a steady pace a live session
    asks for the same one at every breath."""
    offsets = np.arange(n) / fs
    weights, scale = _hann_term(offsets, freq_hz)
    offsets.setflags(write=False)
    weights.setflags(write=False)
    return offsets, weights, scale


def hr_breathing_phase(beat_t: np.ndarray, rr_ms: np.ndarray, breath_t: np.ndarray,
                       breath_volume: np.ndarray, freq_hz: float, t0: float, t1: float,
                       *, resample_hz: float = 4.0,
                       method: Literal["hann", "lstsq"] = "hann") -> HrBreathingPhase:
    """Phase of heart rate relative to breathing at ``freq_hz`` over ``[t0, t1)`` (s).

    Both signals are resampled at ``resample_hz`` (heart rate 60000/RR by cubic spline over the
    intervals' midpoints, breathing by linear interpolation of ``breath_volume`` sampled at
    ``breath_t``) and linearly detrended. ``method``:

    * ``"hann"``: the angle of their cross-spectrum ``H(f) conj(B(f))`` at ``freq_hz``, each a
      single Hann-windowed DFT term. For the last minute of a live session, whose pace may be
      changing: the window weighs its middle. (Least squares there left the adaptive pacer
      0.16 breaths/min from the resonance, root mean square, against 0.10; 16 runs.)
    * ``"lstsq"``: each fitted by least squares with sinusoids at ``freq_hz`` and twice it, the
      angle between their ``freq_hz`` terms. For a whole stretch breathed at one known pace (an
      assessment's step), the estimator of a sinusoid of known frequency: it weighs every second
      alike, where a Hann window fades the stretch's ends. Its steps judged so, the assessment
      found the simulated person's rate in 94.6 % of 850 runs, against 90.7 % from Hann
      estimates (see :func:`fit_resonance`).
    """
    m = (beat_t >= t0 - 5) & (beat_t <= t1 + 5)
    if np.count_nonzero(m) < 8 or not freq_hz > 0:
        return HrBreathingPhase(freq_hz, math.nan, math.nan)
    grid, hr = _hr_grid(beat_t[m], rr_ms[m], t0, t1, resample_hz)
    br = np.interp(grid, breath_t, breath_volume)
    if not np.isfinite(br).all():
        return HrBreathingPhase(freq_hz, math.nan, math.nan)  # unpaced stretch: no breathing curve
    both = np.column_stack([spectrum.detrend(hr, "linear"), spectrum.detrend(br, "linear")])
    x = grid - t0
    if method == "lstsq":
        coef, *_ = np.linalg.lstsq(_harmonics(x, freq_hz), both, rcond=None)
        h, b = coef[0] - 1j * coef[1]  # a cos wt + b sin wt = Re((a - ib) exp(iwt))
        scale = 1.0
    else:
        # float(): a cache key, and the same product for any real type of the frequency.
        offsets, weights, scale = _even_hann_term(x.size, float(freq_hz), float(resample_hz))
        if not (x == offsets).all():  # a start whose grid rounds: weigh its own offsets
            weights, scale = _hann_term(x, freq_hz)
        h, b = weights @ both
    if abs(b) == 0:
        return HrBreathingPhase(freq_hz, math.nan, math.nan)
    return HrBreathingPhase(freq_hz, math.degrees(np.angle(h * np.conj(b))),
                            float(scale * abs(h)))


def smoothness(beat_t: np.ndarray, rr_ms: np.ndarray, freq_hz: float, t0: float, t1: float,
               *, resample_hz: float = 4.0) -> float:
    """Share (0-1) of heart-rate variance explained by a sinusoid at ``freq_hz`` and 2x it."""
    m = (beat_t >= t0 - 5) & (beat_t <= t1 + 5)
    if m.sum() < 8:
        return math.nan
    grid, hr = _hr_grid(beat_t[m], rr_ms[m], t0, t1, resample_hz)
    y = spectrum.detrend(hr, "linear")
    design = _harmonics(grid - t0, freq_hz)
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
                       peak_fraction: float = 0.1,
                       settle_s: float = SETTLE_S) -> ResonanceCriteria:
    """The six criteria for normal beats (``beat_t`` s, ``rr_ms`` ms) in ``[t0 + settle_s, t1)``
    (the returned ``t0`` is that start), breathed at ``rate_bpm`` with lung volume
    ``breath_volume`` sampled at ``breath_t`` (s). A stretch shorter than two breaths after
    settling is analysed whole."""
    if t1 - (t0 + settle_s) >= 2 * 60.0 / rate_bpm:
        t0 = t0 + settle_s
    beat_t = np.asarray(beat_t, float)
    rr_ms = np.asarray(rr_ms, float)
    f = rate_bpm / 60.0
    period = 1.0 / f
    phase = hr_breathing_phase(beat_t, rr_ms, breath_t, breath_volume, f, t0, t1,
                               resample_hz=params.resample_hz, method="lstsq")
    hr = 60000.0 / rr_ms
    starts = np.arange(t0, t1 - period + 1e-9, period)
    swings = [peak_to_trough(beat_t, hr, s, s + period) for s in starts]
    swings = [x for x in swings if math.isfinite(x)]
    m = (beat_t >= t0) & (beat_t < t1)
    if m.sum() < 8:
        lf_power = lf_peak = lf_peak_hz = math.nan
        n_peaks = 0
    else:
        a, b = max(t0, beat_t[m][0]), min(t1, beat_t[m][-1])
        freq, psd = tachogram_psd(beat_t[m], rr_ms[m], a, b, _long_enough(params, b - a))
        band = (freq >= LF_BAND[0]) & (freq < LF_BAND[1])
        lf_power = float(psd[band].sum() * (freq[1] - freq[0]))
        k = np.argmax(psd[band])
        lf_peak, lf_peak_hz = float(psd[band][k]), float(freq[band][k])
        n_peaks = count_peaks(psd[band], peak_fraction)
    return ResonanceCriteria(rate_bpm, t0, t1, phase.phase_deg,
                             float(np.mean(swings)) if swings else math.nan, lf_power, lf_peak,
                             lf_peak_hz, smoothness(beat_t, rr_ms, f, t0, t1), n_peaks,
                             phase.hr_amplitude_bpm)


def _long_enough(params: CoherenceParams, span_s: float) -> CoherenceParams:
    """``params`` with its periodogram zero-padded to hold ``span_s`` seconds when they are more
    than its ``nfft`` samples (a paced step longer than 256 s at 4 Hz): the whole step counts,
    and band powers stay in ms² whatever the padding."""
    n = math.ceil(span_s * params.resample_hz) + 1
    return params if n <= params.nfft else replace(params, nfft=1 << (n - 1).bit_length())


#: What wins each criterion, largest first (Shaffer & Meehan 2020): phase closest to 0 deg,
#: largest swing, LF power and LF peak, smoothest curve, fewest LF peaks.
_CRITERIA = (lambda c: -abs(c.phase_deg), lambda c: c.swing_bpm, lambda c: c.lf_power_ms2,
             lambda c: c.lf_peak_ms2_hz, lambda c: c.smoothness, lambda c: float(-c.lf_peaks))


@dataclass(frozen=True, slots=True)
class ResonanceFit:
    """A resonant loop plus a direct in-phase path fitted to the heart-rate oscillation at each
    paced rate: resonance ``rate_bpm`` (breaths/min) with standard error ``se_bpm``, quality
    factor ``q`` and peak amplitude ``gain_bpm`` of the loop, amplitude ``direct_bpm`` of the
    direct path (all amplitudes bpm); ``rms_bpm`` is the root-mean-square misfit."""

    rate_bpm: float
    se_bpm: float
    q: float
    gain_bpm: float
    rms_bpm: float
    direct_bpm: float


def fit_resonance(
    criteria: list[ResonanceCriteria] | tuple[ResonanceCriteria, ...],
) -> ResonanceFit | None:
    """Fit ``G / (1 + iQ(f/f0 - f0/f)) + D`` to each stretch's heart-rate oscillation
    ``amplitude_bpm * exp(i phase_deg)`` at its rate f (least squares on the complex values,
    started from the slowest, middle and fastest rate); None with fewer than three usable rates
    or no convergence. Its standard error comes from the Jacobian at the solution.

    ``D >= 0`` is the direct vagal path (respiratory sinus arrhythmia: heart rate rises as one
    breathes in, at once, at any slow pace), beside the baroreflex resonance (Vaschillo,
    Vaschillo & Lehrer 2006). Away from the resonance it holds heart rate within about 30° of
    breathing where the loop alone would be 50-70° off; fitted by a resonance alone, such data
    give too low a Q (1.3-1.8 for a loop of 3.3), a peak up to 0.05 breaths/min off on
    noise-free simulated data, and a wide scatter when the resonance is at 4.5 or 6.5. With
    ``D`` the assessment found the simulated person's rate in 94.6 % of 850 runs, against
    92.8 % with a resonance alone.
    """
    from scipy.optimize import least_squares  # here: only assessments pay for loading it

    use = [c for c in criteria if math.isfinite(c.amplitude_bpm) and math.isfinite(c.phase_deg)]
    if len(use) < 3:
        return None
    f = np.array([c.rate_bpm for c in use])
    h = np.array([c.amplitude_bpm * np.exp(1j * math.radians(c.phase_deg)) for c in use])

    def misfit(p: np.ndarray) -> np.ndarray:
        gain, q, f0, direct = p
        d = gain / (1 + 1j * q * (f / f0 - f0 / f)) + direct - h
        return np.r_[d.real, d.imag]

    lo, hi = f.min() / 2, f.max() * 2
    best = None
    for f0 in (f.min(), float(np.median(f)), f.max()):
        sol = least_squares(misfit, [float(np.abs(h).max()), 2.0, f0, 0.0],
                            bounds=([0.0, 0.1, lo, 0.0], [np.inf, 50.0, hi, np.inf]))
        if sol.success and (best is None or sol.cost < best.cost):
            best = sol
    if best is None:
        return None
    dof = 2 * len(use) - best.x.size
    s2 = 2 * best.cost / dof if dof > 0 else math.nan
    try:
        cov = np.linalg.inv(best.jac.T @ best.jac) * s2
        se = math.sqrt(cov[2, 2]) if cov[2, 2] >= 0 else math.nan
    except np.linalg.LinAlgError:
        se = math.nan
    gain, q, f0, direct = (float(x) for x in best.x)
    return ResonanceFit(f0, se, q, gain, math.sqrt(2 * best.cost / (2 * len(use))), direct)


@dataclass(frozen=True, slots=True)
class ResonanceAssessment:
    """Criteria per rate, the points each rate won (Shaffer & Meehan's vote), the resonance
    curve fitted to all rates (None without one) and the rate chosen: the paced rate nearest
    the fitted resonance, else the vote's winner."""

    criteria: tuple[ResonanceCriteria, ...]
    points: tuple[int, ...]
    best_rate_bpm: float
    fit: ResonanceFit | None = None


def assess(
    criteria: list[ResonanceCriteria] | tuple[ResonanceCriteria, ...],
) -> ResonanceAssessment:
    """Give each rate a point for every criterion it wins and choose the rate nearest the
    fitted resonance (:func:`fit_resonance`); without a fit, the rate with most points, ties
    going to the larger LF peak.

    Wins: phase closest to 0°, largest swing, largest LF power, largest LF peak, smoothest curve,
    fewest LF peaks (Shaffer & Meehan 2020).
    """
    crit = tuple(criteria)
    if not crit:
        raise ValueError("no stretches to assess")
    points = [0] * len(crit)
    for key in _CRITERIA:
        values = [key(c) for c in crit]
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            continue
        best = max(finite)
        for i, v in enumerate(values):
            if v == best:
                points[i] += 1
    fit = fit_resonance(crit)
    if fit is not None:
        order = min(range(len(crit)), key=lambda i: abs(crit[i].rate_bpm - fit.rate_bpm))
    else:
        order = max(range(len(crit)),
                    key=lambda i: (points[i], np.nan_to_num(crit[i].lf_peak_ms2_hz)))
    return ResonanceAssessment(crit, tuple(points), crit[order].rate_bpm, fit)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The rate to breathe at (breaths/min), or None and ``reason`` why there is none.

    ``confidence`` is 0-1 (see the module), ``words`` says it plainly: "clear", "likely",
    "uncertain", or "none" without a rate.
    """

    rate_bpm: float | None
    confidence: float
    words: str
    reason: str = ""


def rate_text(bpm: float) -> str:
    """A rate (breaths/min) as a protocol writes it: 6.0, 6.5, 6.25."""
    return f"{bpm:.1f}" if round(bpm, 1) == bpm else f"{bpm:g}"


def step_coverage(beat_t: np.ndarray, rr_ms: np.ndarray, t0: float, t1: float) -> float:
    """Share (0-1) of ``[t0, t1)`` (s) covered by the normal intervals ending at ``beat_t``
    (s) with lengths ``rr_ms`` (ms); time between two beats further apart than 3 s (a lost
    strap, left-out beats) counts as uncovered."""
    if not t1 > t0:
        return 0.0
    end = np.asarray(beat_t, float)
    rr_s = np.asarray(rr_ms, float) / 1000.0
    start = end - np.where(rr_s <= 3.0, rr_s, 0.0)
    covered = np.clip(np.minimum(end, t1) - np.maximum(start, t0), 0.0, None)
    return float(min(1.0, covered.sum() / (t1 - t0)))


def recommend(a: ResonanceAssessment | None, planned_rates: list[float] | tuple[float, ...],
              coverage: dict[float, float], *,
              min_coverage: float = MIN_COVERAGE) -> Recommendation:
    """The recommendation from assessment ``a`` of a protocol that paces ``planned_rates``
    (breaths/min), each rate's step covered by normal beats as ``coverage[rate]`` (0-1).

    Every planned rate must have been breathed and covered by at least ``min_coverage``: a
    resonance rate can only be chosen among rates that were all measured.
    """
    judged = {c.rate_bpm for c in a.criteria} if a is not None else set()
    for rate in planned_rates:
        if rate not in judged or coverage.get(rate, 0.0) == 0.0:
            return Recommendation(None, 0.0, "none",
                                  f"the assessment ended before {rate_text(rate)} breaths/min "
                                  "was breathed" if rate not in judged else
                                  f"no heartbeats were recorded at {rate_text(rate)} "
                                  "breaths/min")
        if coverage[rate] < min_coverage:
            return Recommendation(None, 0.0, "none",
                                  f"only {coverage[rate]:.0%} of the {rate_text(rate)} "
                                  "breaths/min step has heartbeats (at least "
                                  f"{min_coverage:.0%} is needed): the strap was lost or the "
                                  "session stopped early")
    if a is None or len(a.criteria) < 2:
        return Recommendation(None, 0.0, "none", "a resonance rate needs at least two paced rates")
    confidence = _confidence(a)
    words = ("clear" if confidence >= CLEAR else "likely" if confidence >= LIKELY
             else "uncertain")
    return Recommendation(a.best_rate_bpm, confidence, words)


def _confidence(a: ResonanceAssessment) -> float:
    """With a fit, the probability that the resonance lies nearer the chosen rate than any other
    paced rate (normal, with the fit's standard error); else the vote's margin: the winner's
    lead in points over the runner-up, as a share of the criteria scored."""
    if a.fit is not None and math.isfinite(a.fit.se_bpm):
        rates = sorted(c.rate_bpm for c in a.criteria)
        k = rates.index(a.best_rate_bpm)
        lo = (rates[k - 1] + rates[k]) / 2 if k > 0 else -math.inf
        hi = (rates[k] + rates[k + 1]) / 2 if k + 1 < len(rates) else math.inf
        se = max(a.fit.se_bpm, 1e-9)

        def below(x: float) -> float:
            return 0.5 * math.erfc(-(x - a.fit.rate_bpm) / (se * math.sqrt(2)))
        return below(hi) - below(lo)
    scored = sum(1 for key in _CRITERIA if any(math.isfinite(key(c)) for c in a.criteria))
    if not scored:
        return 0.0
    best = a.points[[c.rate_bpm for c in a.criteria].index(a.best_rate_bpm)]
    others = [p for c, p in zip(a.criteria, a.points) if c.rate_bpm != a.best_rate_bpm]
    return max(0.0, (best - max(others, default=0)) / scored)

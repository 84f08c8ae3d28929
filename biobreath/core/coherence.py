"""Resonance metrics for biofeedback: coherence ratio and score, peak-to-trough heart rate.

Coherence ratio (McCraty et al. 2009, as HeartMath describes it): take the spectrum of the most
recent 64 s of heartbeats, find the highest peak between 0.04 and 0.26 Hz, integrate the power in
a 0.030 Hz window centred on it, and divide by the rest of the power:
``ratio = peak / (total - peak)``. Total power here is the whole HRV band 0.0033-0.4 Hz.

Spectrum used (all parameters in :class:`CoherenceParams`, computed by
:mod:`biobreath.core.spectrum`): the RR tachogram (ms, at each beat's time) resampled at 4 Hz by
cubic spline, linear trend removed, periodic Hann window, periodogram zero-padded to 1024 points
(0.0039 Hz bins), one-sided PSD in ms²/Hz.

How the definition is applied to that sampled spectrum:

* The peak is the highest *local maximum* of the PSD among the bins of 0.04-0.26 Hz (inclusive):
  a bin higher than the bin below it and not lower than the bin above it, its neighbours taken
  from the whole spectrum. A band-edge bin therefore counts only when it is a peak of its own (it
  rises above the bin outside the band), not when it is the flank of a VLF or HF slope, which is
  the highest bin of the band in a good share of resting windows. Only when no bin of the band is
  a local maximum (the spectrum falls or rises across the whole band) is the band's highest bin,
  then one at a band edge, taken instead; the result says so (``peak_at_edge``).
* Band powers integrate the PSD as a piecewise-constant function of frequency, each bin's value
  holding over ``[f - df/2, f + df/2)`` (the reading under which the bins' sum times ``df`` is the
  periodogram's power): a band ``[lo, hi]`` takes every bin's value times the length of its
  overlap with the band, so edge bins count in part. The peak window is exactly
  ``[f_peak - 0.015, f_peak + 0.015]`` Hz, 0.030 Hz wide (7.68 bins; summing whole bins would
  give 7 bins, 0.0273 Hz), and total power exactly 0.0033-0.4 Hz.

The same spectrum gives the live LF (0.04-0.15 Hz) peak frequency and power (the highest bin and
the bins' sum, ``lo <= f < hi``, as :mod:`biobreath.core.hrv` sums bands).

Live, :func:`coherence` analyses one window; offline, :func:`coherence_series` (a result per
window) and :func:`coherence_scores` (the scores alone, as arrays) analyse every window of a
recording at once, the same figures to within rounding (about 1e-14 relative).

The score is our own, transparent: ``score = 100 x peak / total = 100 x ratio / (1 + ratio)``,
the share (percent) of heart-rate variability power concentrated in the breathing peak. HeartMath's
level-1 thresholds (ratio 0.5 and 1.8) fall at scores 33 and 64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

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
    """Coherence of one window ending at ``t`` (s). NaN fields when there were too few beats.

    ``peak_at_edge`` is True when no bin of the peak band was a local maximum, so that the peak is
    the band's highest bin, at one of its edges (see the module docstring).
    """

    t: float
    ratio: float
    score: float
    peak_hz: float
    peak_power_ms2: float
    total_power_ms2: float
    lf_peak_hz: float
    lf_power_ms2: float
    peak_at_edge: bool = False


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


def _bins_needed(params: CoherenceParams) -> int:
    """Number of low-frequency bins the measures read: up to the highest band edge, plus the
    bin past it (a partial bin or a peak's upper neighbour)."""
    df = params.resample_hz / params.nfft
    top = max(params.total_band_hz[1], params.peak_band_hz[1] + params.peak_width_hz / 2,
              params.lf_band_hz[1])
    return min(params.nfft // 2 + 1, math.ceil(top / df) + 2)


def _band_weights(freq: np.ndarray, lo: float | np.ndarray, hi: float | np.ndarray,
                  df: float) -> np.ndarray:
    """Length (Hz) of the overlap of each bin ``[f - df/2, f + df/2)`` with ``[lo, hi]``: the
    weights that integrate a piecewise-constant PSD over the band (edge bins in part)."""
    return np.clip(np.minimum(hi, freq + df / 2) - np.maximum(lo, freq - df / 2), 0.0, None)


@dataclass(frozen=True, slots=True, eq=False)
class _Bins:
    """What :func:`_measures` reads from a frequency grid, the same for every spectrum on it."""

    df: float
    total_weights: np.ndarray   # per bin, its overlap (Hz) with the total band
    first: int                  # first and last bin of the peak band
    last: int
    pad: bool                   # a band bin has a neighbour past the spectrum's ends
    offsets: np.ndarray         # bins that can reach a peak window, relative to its peak bin
    near_inside: bool           # ... all inside the spectrum, whichever band bin peaks
    peak_weights: np.ndarray    # their overlap (Hz) with a window inside the total band
    window_inside: np.ndarray   # per bin, whether a window centred there is inside the total band
    lf: np.ndarray              # bins of the LF band


class _Grid:
    """Frequencies (Hz) as a cache key: hashed by their count and ends alone (hashing every value
    would cost more than the measures' arithmetic), equal only to the very same values."""

    __slots__ = ("freq", "_hash")

    def __init__(self, freq: np.ndarray) -> None:
        self.freq = np.array(freq, dtype=np.float64)  # a copy: the caller's may change later
        self._hash = hash((self.freq.size, self.freq[0], self.freq[-1]))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _Grid) and self.freq.shape == other.freq.shape
                and bool((self.freq == other.freq).all()))


@lru_cache(maxsize=16)
def _bins(params: CoherenceParams, grid: _Grid) -> _Bins:
    """:class:`_Bins` of the frequency grid ``grid``."""
    freq = grid.freq
    df = freq[1] - freq[0]
    band = np.flatnonzero((freq >= params.peak_band_hz[0]) & (freq <= params.peak_band_hz[1]))
    first, last = int(band[0]), int(band[-1])
    half = params.peak_width_hz / 2
    reach = math.ceil(half / df + 0.5)
    offsets = np.arange(-reach, reach + 1)
    return _Bins(
        df, _band_weights(freq, params.total_band_hz[0], params.total_band_hz[1], df),
        first, last, first == 0 or last + 1 == freq.size, offsets,
        first - reach >= 0 and last + reach < freq.size,
        _band_weights(offsets * df, -half, half, df),
        ((np.maximum(freq - half, params.total_band_hz[0]) == freq - half)
         & (np.minimum(freq + half, params.total_band_hz[1]) == freq + half)),
        np.flatnonzero((freq >= params.lf_band_hz[0]) & (freq < params.lf_band_hz[1])))


def _measures(freq: np.ndarray, psd: np.ndarray, params: CoherenceParams
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per PSD row: ratio, peak Hz, peak ms², total ms², LF peak Hz, LF ms² (NaN if undefined),
    and whether the peak fell back to a band-edge bin. ``freq`` may stop short of Nyquist, past
    every band (see :func:`_bins_needed`)."""
    psd = np.asarray(psd, dtype=np.float64)
    if psd.ndim < 2:
        psd = psd.reshape(1, -1)
    rows = np.arange(psd.shape[0])
    b = _bins(params, _Grid(freq))
    df, first, last = b.df, b.first, b.last
    total = psd @ b.total_weights
    # Neighbours outside the spectrum count as lower: a band reaching its end can still peak there.
    if b.pad:
        psd_ext = np.pad(psd, ((0, 0), (1, 1)), constant_values=-np.inf)
        shift = 1
    else:
        psd_ext, shift = psd, 0
    inside = psd_ext[:, first + shift:last + shift + 1]
    local_max = ((inside > psd_ext[:, first + shift - 1:last + shift])
                 & (inside >= psd_ext[:, first + shift + 1:last + shift + 2]))
    has_peak = local_max.any(axis=1)
    # Array methods rather than np.argmax: the same result without a wrapper's overhead.
    k = first + np.where(has_peak, np.where(local_max, inside, -np.inf).argmax(axis=1),
                         inside.argmax(axis=1))
    # The peak window [f_peak - w/2, f_peak + w/2], within the total band, over the bins that can
    # reach it: the bins k-reach .. k+reach (those past the spectrum's ends weigh nothing).
    half = params.peak_width_hz / 2
    reach = b.offsets[-1]
    if b.near_inside:
        near = psd.take((rows * psd.shape[1] + k)[:, None] + b.offsets)
    else:  # bins past the spectrum's ends hold nothing
        near = np.pad(psd, ((0, 0), (reach, reach)))[rows[:, None], k[:, None] + reach + b.offsets]
    if b.window_inside[k].all():
        # Every window lies inside the total band (always, with the default bands): one weight
        # per offset from the peak bin, the same for all rows.
        peak = near @ b.peak_weights
    else:
        lo = np.maximum(freq[k] - half, params.total_band_hz[0])
        hi = np.minimum(freq[k] + half, params.total_band_hz[1])
        f_near = freq[k][:, None] + b.offsets * df
        peak = np.sum(near * _band_weights(f_near, lo[:, None], hi[:, None], df), axis=1)
    rest = total - peak
    ratio = np.full(psd.shape[0], np.nan)
    np.divide(peak, rest, out=ratio, where=(total > 0) & (rest > 0))
    ok = np.isfinite(ratio)
    psd_lf = psd[:, b.lf]
    out = np.empty((psd.shape[0], 6))
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = ratio, freq[k], peak, total
    out[:, 4] = freq[b.lf[psd_lf.argmax(axis=1)]]
    out[:, 5] = psd_lf.sum(axis=1) * df
    out[~ok] = np.nan
    return out, ~has_peak & ok


def _result(t_end: float, m: np.ndarray, at_edge: bool) -> CoherenceResult:
    ratio, peak_hz, peak, total, lf_hz, lf = m.tolist()
    return CoherenceResult(t_end, ratio, score_from_ratio(ratio), peak_hz, peak, total,
                           lf_hz, lf, bool(at_edge))


def window_spectrum(beat_t: np.ndarray, rr_ms: np.ndarray, t_end: float,
                    params: CoherenceParams = CoherenceParams()
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    """Frequencies (Hz) and PSD (ms²/Hz) that :func:`coherence` scores for the window ending at
    ``t_end`` (s): the beats in it, over the span they cover; None when too few."""
    t_start = t_end - params.window_s
    m = (beat_t >= t_start) & (beat_t <= t_end)
    beat_t, rr_ms = beat_t[m], rr_ms[m]
    if beat_t.size < 8 or beat_t[-1] - beat_t[0] < params.min_coverage * params.window_s:
        return None
    # Never extrapolate the tachogram: analyse only the span the beats cover.
    return tachogram_psd(beat_t, rr_ms, max(t_start, beat_t[0]), min(t_end, beat_t[-1]), params)


def _window_measures(beat_t: np.ndarray, rr_ms: np.ndarray, t_end: float,
                     params: CoherenceParams) -> tuple[np.ndarray, bool] | None:
    """Measures of the window ending at ``t_end`` from its own beats, None if too few."""
    spectrum_ = window_spectrum(beat_t, rr_ms, t_end, params)
    if spectrum_ is None:
        return None
    out, edge = _measures(*spectrum_, params)
    return out[0], bool(edge[0])


def coherence(beat_t: np.ndarray, rr_ms: np.ndarray, t_end: float,
              params: CoherenceParams = CoherenceParams()) -> CoherenceResult:
    """Coherence of the ``params.window_s`` seconds of beats ending at ``t_end`` (s).

    ``beat_t`` are beat times (s) and ``rr_ms`` the artifact-free RR intervals ending there.
    """
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    got = _window_measures(beat_t, rr_ms, t_end, params)
    if got is None:
        return CoherenceResult(t_end, *[math.nan] * 7)
    return _result(t_end, *got)


def _dft_matrix(n: int, params: CoherenceParams, bins: int) -> np.ndarray:
    """Real matrix ``(n, 2 bins)`` taking a row of ``n`` samples to the real and imaginary parts
    of its linearly detrended, Hann-windowed DFT at the first ``bins`` bins of an ``nfft``-point
    transform: detrending, window and transform in one product."""
    xc = np.arange(n) - (n - 1) / 2.0
    # Removing the least-squares line is the projection I - 1 1ᵀ/n - xc xcᵀ/(xcᵀ xc).
    detrend = np.eye(n) - 1.0 / n - np.outer(xc, xc) / np.dot(xc, xc)
    window = spectrum.hann(n)
    phase = -2.0 * np.pi * np.outer(np.arange(n), np.arange(bins)) / params.nfft
    dft = np.concatenate((np.cos(phase), np.sin(phase)), axis=1)
    return detrend @ (window[:, None] * dft)


def _batch_psd(x: np.ndarray, params: CoherenceParams, bins: int,
               dft: np.ndarray | None = None) -> np.ndarray:
    """:func:`_window_psd` of many equal-length rows, first ``bins`` bins only: one matrix
    product instead of a zero-padded FFT per row (only a fifth of the bins reach 0.4 Hz; the
    product takes half the time of the FFTs). ``dft``: :func:`_dft_matrix` for these rows, if
    already built. Rows should be near zero mean (subtract a typical RR): the product removes
    each row's mean, and smaller inputs leave less rounding in it."""
    n = x.shape[-1]
    window = spectrum.hann(n)
    spec = x @ (_dft_matrix(n, params, bins) if dft is None else dft)
    scale = params.resample_hz * np.dot(window, window)
    psd = (spec[:, :bins] ** 2 + spec[:, bins:] ** 2) / scale
    psd[:, 1:] *= 2.0
    if bins == params.nfft // 2 + 1 and params.nfft % 2 == 0:
        psd[:, -1] /= 2.0  # the Nyquist bin has no negative-frequency twin
    return psd


def _series(beat_t: np.ndarray, rr_ms: np.ndarray, params: CoherenceParams, batch: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Window end times (s), measures (rows as :func:`_measures`) and band-edge flags of the
    coherence every ``step_s`` over a whole recording."""
    edge_s = 2.0
    fs, win = params.resample_hz, params.window_s
    ends = np.arange(beat_t[0] + win, beat_t[-1] + 1e-9, params.step_s)
    out = np.full((ends.size, 6), np.nan)
    at_edge = np.zeros(ends.size, dtype=bool)
    lo = np.searchsorted(beat_t, ends - win, side="left")
    hi = np.searchsorted(beat_t, ends, side="right")
    full = ((hi - lo) >= 8) & (beat_t[np.minimum(lo, beat_t.size - 1)] <= ends - win + edge_s) & (
        beat_t[np.maximum(hi - 1, 0)] >= ends - edge_s)
    idx = np.flatnonzero(full)
    if idx.size:
        spline = spectrum.tachogram_spline(beat_t, rr_ms)
        offset = float(np.median(rr_ms))
        bins = _bins_needed(params)
        freq = spectrum.frequencies(params.nfft, fs)[:bins]
        n = spectrum.even_grid(0.0, win, fs).size
        stride = params.step_s * fs
        whole_step = abs(stride - round(stride)) < 1e-9 and round(stride) >= 1
        if whole_step:
            # Windows start a whole number of samples apart: sample the spline once on one grid
            # from the first start, and take each window as a slice of it.
            stride = round(stride)
            grid = beat_t[0] + np.arange(int(idx[-1]) * stride + n) / fs
            # Less a typical RR, so that the rows enter the transform near zero mean.
            samples = spline(grid) - offset
        dft = _dft_matrix(n, params, bins)
        for b in range(0, idx.size, batch):
            rows = idx[b:b + batch]
            if whole_step:
                x = np.lib.stride_tricks.sliding_window_view(samples, n)[rows * stride]
            else:
                x = spline(spectrum.even_grid(ends[rows] - win, win, fs)) - offset
            out[rows], at_edge[rows] = _measures(freq, _batch_psd(x, params, bins, dft), params)
    for r in np.flatnonzero(~full).tolist():
        got = _window_measures(beat_t[lo[r]:hi[r]], rr_ms[lo[r]:hi[r]], float(ends[r]), params)
        if got is not None:
            out[r], at_edge[r] = got
    return ends, out, at_edge


def coherence_series(beat_t: np.ndarray, rr_ms: np.ndarray,
                     params: CoherenceParams = CoherenceParams(), *,
                     batch: int = 2048) -> list[CoherenceResult]:
    """Coherence every ``step_s`` over a whole recording (offline).

    Windows whose beats reach within ``edge_s`` (2 s) of both ends are computed together from one
    cubic spline through the whole recording, sampled on one 4 Hz grid (fast: a day of beats in
    well under a second); the others (the recording's start, around long gaps) exactly as the
    live trainer does, by :func:`coherence`. The two differ only in the spline's end conditions.
    ``batch`` (default 2048) windows are transformed per matrix product.
    """
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    if beat_t.size < 8:
        return []
    ends, out, at_edge = _series(beat_t, rr_ms, params, batch)
    scores = np.asarray(score_from_ratio(out[:, 0]), dtype=np.float64)
    # Python floats in bulk: converting NumPy scalars one by one would cost more than the maths.
    return [CoherenceResult(t, m[0], s, m[1], m[2], m[3], m[4], m[5], e)
            for t, m, s, e in zip(ends.tolist(), out.tolist(), scores.tolist(), at_edge.tolist())]


def coherence_scores(beat_t: np.ndarray, rr_ms: np.ndarray,
                     params: CoherenceParams = CoherenceParams(), *,
                     batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Window end times (s) and coherence scores (0-100, NaN where undefined) of
    :func:`coherence_series`, as arrays, without building a result per window: what a summary
    (such as the mean score of a recording) needs."""
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    if beat_t.size < 8:
        return np.empty(0), np.empty(0)
    ends, out, _ = _series(beat_t, rr_ms, params, batch)
    return ends, np.asarray(score_from_ratio(out[:, 0]), dtype=np.float64)


def peak_to_trough(beat_t: np.ndarray, hr_bpm: np.ndarray, t0: float, t1: float) -> float:
    """Heart-rate swing (bpm) within one breath ``[t0, t1)`` (s): max minus min beat HR."""
    m = (beat_t >= t0) & (beat_t < t1)
    if m.sum() < 2:
        return math.nan
    seg = hr_bpm[m]
    return float(seg.max() - seg.min())

"""Physiological synchrony of two people: windowed cross-correlation of their heart rates.

Method (Boker et al. 2002, windowed cross-correlation, as the interpersonal-physiology literature
reviewed by Palumbo et al. 2017 applies it to heart rate), every setting in
:class:`SynchronyParams`:

* Each person's heart rate (bpm, 60000 / RR of normal beats, at each beat's time) is resampled at
  4 Hz on one shared grid by the cubic spline the tachogram spectra use. A grid point between two
  beats more than ``max_gap_s`` (4 s) apart is *missing*: no window that touches it is used.
* Windows of 30 s (``window_s``: three breaths at 6 breaths/min; the literature uses 15-30 s for
  heart rate) every 5 s (``step_s``). In each window, person B's series is shifted by every lag
  from -3 s to +3 s (``max_lag_s``) in steps of one sample (0.25 s); both segments have their own
  least-squares line removed (detrending per window and lag, so slow drifts common to both do
  not pass for synchrony), and Pearson's r is taken.
* Per window: the peak r (the r of largest absolute value over the lags: anti-phase counts as
  coupling too) and its lag; a positive lag means B follows A.
* Summary: ``r``, the Fisher-z mean of the per-window peak |r| (``tanh(mean(atanh|r|)))``), with
  the median lag at the peak, the share of windows whose peak r is positive (in phase) and the
  Fisher-z mean of the signed r at lag 0.
* Surrogate baseline (segment shifting): A's windows are paired with B's windows from other times,
  shifted by whole windows far enough that the two never overlap (at least ``window_s + 2 x
  max_lag_s`` apart, circularly); each of up to ``n_surrogates`` (20) evenly spread shifts gives a
  summary ``r`` of those pseudo-pairs. ``surrogate_r`` is their Fisher-z mean and
  ``surrogate_p`` = (1 + the number at least as high as ``r``) / (1 + their number). The peak
  over lags is biased upwards (it is the best of 25 correlations), and two hearts paced by one
  breathing pacer share its rhythm at any time; the surrogates measure both, so ``r`` above
  ``surrogate_r`` is the synchrony the moment-to-moment relationship adds.

Live (:func:`live_synchrony`): the same over the last :data:`LIVE_SPAN_S` of two live cores,
without surrogates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from biobreath.core.live import LiveCore
from biobreath.core.spectrum import detrend, even_grid, resample, strictly_increasing


@dataclass(frozen=True, slots=True)
class SynchronyParams:
    fs_hz: float = 4.0          # shared resampling grid (Hz)
    window_s: float = 30.0      # length of each correlation window (s)
    step_s: float = 5.0         # windows start every step_s (s)
    max_lag_s: float = 3.0      # B is shifted by -max_lag_s..+max_lag_s (s)
    max_gap_s: float = 4.0      # a longer stretch without a normal beat is missing data (s)
    n_surrogates: int = 20      # segment-shifted pseudo-pairs for the baseline (0: none)


LIVE_SPAN_S = 60.0
"""Live synchrony is computed over the last minute (five 30 s windows)."""
LIVE_PARAMS = SynchronyParams(n_surrogates=0)
"""Live synchrony's parameters: no surrogates (a minute holds too few windows for them)."""


@dataclass(frozen=True, slots=True, eq=False)
class SynchronyResult:
    """Synchrony of A and B (see the module docstring). NaN summaries when no window was usable.

    Per window (arrays, one entry per usable window): ``t_s`` its centre (s), ``peak_r`` the r of
    largest magnitude over the lags and ``peak_lag_s`` its lag (s, positive: B follows A).
    """

    r: float
    lag_s: float
    in_phase_pct: float
    zero_lag_r: float
    n_windows: int
    surrogate_r: float
    surrogate_p: float
    n_surrogates: int
    params: SynchronyParams
    t_s: np.ndarray = field(repr=False)
    peak_r: np.ndarray = field(repr=False)
    peak_lag_s: np.ndarray = field(repr=False)


def hr_on_grid(beat_t: np.ndarray, rr_ms: np.ndarray, grid: np.ndarray, max_gap_s: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Heart rate (bpm) of normal beats at times ``beat_t`` (s) resampled at ``grid`` (s) by
    cubic spline, and a mask of the grid points lying between two beats at most ``max_gap_s``
    apart (the others are missing data; their values are meaningless)."""
    beat_t = np.asarray(beat_t, dtype=float)
    rr_ms = np.asarray(rr_ms, dtype=float)
    ok = strictly_increasing(beat_t)
    bt, hr = beat_t[ok], 60000.0 / rr_ms[ok]
    if bt.size < 4:
        return np.full(grid.shape, np.nan), np.zeros(grid.shape, bool)
    after = np.searchsorted(bt, grid, side="left")
    inside = (after > 0) & (after < bt.size)
    i = np.clip(after, 1, bt.size - 1)
    covered = inside & (bt[i] - bt[i - 1] <= max_gap_s)
    covered |= np.isin(grid, bt)  # a grid point exactly on a beat (the first one included)
    return resample(bt, hr, grid), covered


def _normalised(seg: np.ndarray) -> np.ndarray:
    """Segments (last axis) with their least-squares line removed and unit norm; NaN when flat."""
    d = detrend(seg, "linear")
    norm = np.sqrt(np.einsum("...i,...i->...", d, d))
    with np.errstate(invalid="ignore", divide="ignore"):
        return d / np.where(norm > 0, norm, np.nan)[..., None]


_BLOCK = 256  # windows per block: bounds memory on day-long recordings


def _window_peaks(x: np.ndarray, y: np.ndarray, x_starts: np.ndarray, y_starts: np.ndarray,
                  width: int, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of starts: r of ``x``'s window against ``y``'s window shifted by each of
    ``lags`` (samples; windows of ``width`` samples), then the r of largest magnitude, its lag
    index, and r at lag 0."""
    if not x_starts.size:
        return np.zeros(0), np.zeros(0, int), np.zeros(0)
    xs = np.lib.stride_tricks.sliding_window_view(x, width)
    ys = np.lib.stride_tricks.sliding_window_view(y, width)
    peak, arg, zero = [], [], []
    zero_index = int(np.flatnonzero(lags == 0)[0])
    for b in range(0, x_starts.size, _BLOCK):
        xn = _normalised(xs[x_starts[b:b + _BLOCK]])
        yn = _normalised(ys[y_starts[b:b + _BLOCK, None] + lags[None, :]])
        r = np.einsum("wi,wli->wl", xn, yn)
        k = np.argmax(np.abs(np.nan_to_num(r, nan=-1.0)), axis=1)
        peak.append(r[np.arange(r.shape[0]), k])
        arg.append(k)
        zero.append(r[:, zero_index])
    return np.concatenate(peak), np.concatenate(arg), np.concatenate(zero)


def _z_mean(r: np.ndarray) -> float:
    """Fisher-z mean of correlations (NaN when none)."""
    r = r[np.isfinite(r)]
    if not r.size:
        return math.nan
    return float(np.tanh(np.mean(np.arctanh(np.clip(r, -0.999999, 0.999999)))))


def synchrony(beat_t_a: np.ndarray, rr_ms_a: np.ndarray, beat_t_b: np.ndarray,
              rr_ms_b: np.ndarray, *, t_start: float | None = None, t_end: float | None = None,
              params: SynchronyParams = SynchronyParams()) -> SynchronyResult:
    """Synchrony of persons A and B from their normal beats (times in s, RR in ms) between
    ``t_start`` and ``t_end`` (s; default: the span both cover)."""
    fs = params.fs_hz
    width = round(params.window_s * fs)
    lag = round(params.max_lag_s * fs)
    step = max(1, round(params.step_s * fs))
    lo = max(a[0] for a in (beat_t_a, beat_t_b)) if len(beat_t_a) and len(beat_t_b) else 0.0
    hi = min(a[-1] for a in (beat_t_a, beat_t_b)) if len(beat_t_a) and len(beat_t_b) else 0.0
    lo = lo if t_start is None else max(lo, t_start)
    hi = hi if t_end is None else min(hi, t_end)
    grid = even_grid(lo, max(0.0, hi - lo), fs, closed=True)
    x, x_ok = hr_on_grid(beat_t_a, rr_ms_a, grid, params.max_gap_s)
    y, y_ok = hr_on_grid(beat_t_b, rr_ms_b, grid, params.max_gap_s)
    # Every window leaves room for B's lags on both sides.
    starts = np.arange(lag, grid.size - width - lag + 1, step)
    lags = np.arange(-lag, lag + 1)
    n_all = starts.size
    if n_all:
        bad_x = np.r_[0, np.cumsum(~x_ok)]
        bad_y = np.r_[0, np.cumsum(~y_ok)]
        usable = ((bad_x[starts + width] - bad_x[starts] == 0)
                  & (bad_y[starts + width + lag] - bad_y[starts - lag] == 0))
    else:
        usable = np.zeros(0, bool)
    x, y = np.where(x_ok, x, 0.0), np.where(y_ok, y, 0.0)
    idx = np.flatnonzero(usable)
    peak, arg, zero = _window_peaks(x, y, starts[idx], starts[idx], width, lags)
    good = np.isfinite(peak)
    idx, peak, arg, zero = idx[good], peak[good], arg[good], zero[good]
    r = _z_mean(np.abs(peak))
    lag_s = lags[arg] / fs

    surrogates = _surrogates(x, y, starts, usable, width, lags, params)
    n_s = surrogates.size
    return SynchronyResult(
        r=r, lag_s=float(np.median(lag_s)) if lag_s.size else math.nan,
        in_phase_pct=float(100.0 * np.mean(peak > 0)) if peak.size else math.nan,
        zero_lag_r=_z_mean(zero), n_windows=int(peak.size),
        surrogate_r=_z_mean(surrogates),
        surrogate_p=float((1 + np.sum(surrogates >= r)) / (1 + n_s)) if n_s else math.nan,
        n_surrogates=n_s, params=params,
        t_s=grid[starts[idx] + width // 2] if idx.size else np.zeros(0),
        peak_r=peak, peak_lag_s=lag_s)


def _surrogates(x: np.ndarray, y: np.ndarray, starts: np.ndarray, usable: np.ndarray,
                width: int, lags: np.ndarray, params: SynchronyParams) -> np.ndarray:
    """Summary r of segment-shifted pseudo-pairs: A's window k with B's window k + m (circular),
    for up to ``n_surrogates`` shifts m spread evenly over those keeping the two apart."""
    n = starts.size
    apart = math.ceil((params.window_s + 2 * params.max_lag_s) / params.step_s)
    shifts = np.arange(apart, n - apart + 1)
    if not shifts.size or params.n_surrogates <= 0:
        return np.zeros(0)
    pick = np.unique(np.round(np.linspace(0, shifts.size - 1,
                                          min(params.n_surrogates, shifts.size))).astype(int))
    out = []
    k = np.arange(n)
    for m in shifts[pick]:
        j = (k + m) % n
        both = usable & usable[j]
        peak, _, _ = _window_peaks(x, y, starts[both], starts[j[both]], width, lags)
        out.append(_z_mean(np.abs(peak)))
    out_a = np.asarray(out)
    return out_a[np.isfinite(out_a)]


def live_synchrony(a: LiveCore, b: LiveCore, t: float) -> SynchronyResult:
    """Synchrony of two people's live cores over the :data:`LIVE_SPAN_S` before session time
    ``t`` (s), from their judged normal beats."""
    beats = []
    for core in (a, b):
        # A little more than the span, so that the spline has beats at both ends.
        bt, rr, art = core.recent(LIVE_SPAN_S + 10.0, judged_only=True)
        beats += [bt[~art], rr[~art]]
    return synchrony(*beats, t_start=t - LIVE_SPAN_S, t_end=t, params=LIVE_PARAMS)

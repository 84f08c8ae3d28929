"""Spectra of the RR tachogram: the one place HRV, coherence and resonance compute them.

Holds every step from beats to a power spectral density, as pure functions on NumPy arrays:

* resampling: :func:`even_grid` (sample times, s), :func:`tachogram_spline` and :func:`resample`
  (a not-a-knot cubic spline through the beats, e.g. RR in ms at each beat's time in s), with
  :func:`strictly_increasing` dropping beats whose time steps back;
* detrending along the last axis: :func:`trend` / :func:`detrend` (``"none"`` = mean,
  ``"linear"``, ``"smoothness_priors"``, :func:`smoothness_priors_trend`, Tarvainen et al. 2002);
* spectral estimators, one-sided densities (input unit² per Hz, e.g. ms²/Hz): :func:`welch`
  (periodic Hann segments; one segment is the windowed periodogram), on :func:`frequencies`;
  :func:`lomb_welch` for the uneven beats themselves; :func:`burg` and :func:`ar_psd` for an
  autoregressive model.

Arrays of evenly sampled series may carry leading batch axes: the time axis is the last one.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from scipy import interpolate, linalg, signal

Detrend = Literal["none", "linear", "smoothness_priors"]
DETRENDS: tuple[str, ...] = ("none", "linear", "smoothness_priors")

# Grid sizes tolerate this many samples of rounding in ``duration * fs``, so that a span of a
# whole number of samples neither gains nor loses one to floating-point error.
_GRID_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- resampling


def strictly_increasing(t: np.ndarray) -> np.ndarray:
    """Mask keeping each sample whose time is later than every earlier kept one.

    Beat times rebuilt from a strap's notifications can step back slightly when a new beat chain
    starts after a reconnection; a spline needs strictly increasing times.
    """
    t = np.asarray(t, dtype=float)
    keep = np.ones(t.size, bool)
    if t.size > 1:
        keep[1:] = t[1:] > np.maximum.accumulate(t)[:-1]
    return keep


def even_grid(t_start: float | np.ndarray, duration_s: float, fs: float, *,
              closed: bool = False) -> np.ndarray:
    """Sample times (s) ``t_start + k / fs`` covering ``duration_s`` seconds at ``fs`` Hz.

    Half-open ``[t_start, t_start + duration_s)`` by default; ``closed=True`` also keeps a sample
    falling on the end. An array of starts gives one row per start, all of the same length.
    """
    span = duration_s * fs
    if closed:
        n = math.floor(span + _GRID_TOLERANCE) + 1
    else:
        n = max(0, math.ceil(span - _GRID_TOLERANCE))
    # k / fs rather than a running sum: every sample is one rounding away from its exact time.
    return np.add.outer(t_start, np.arange(n) / fs)


def tachogram_spline(t_s: np.ndarray, values: np.ndarray) -> interpolate.CubicSpline:
    """Not-a-knot cubic spline through ``values`` at times ``t_s`` (s), which may repeat.

    Samples whose time is not later than all earlier ones are dropped (see
    :func:`strictly_increasing`). The spline extrapolates: callers keep their grid inside the
    beats.
    """
    t_s = np.asarray(t_s, dtype=float)
    values = np.asarray(values, dtype=float)
    ok = strictly_increasing(t_s)
    return interpolate.CubicSpline(t_s[ok], values[ok], bc_type="not-a-knot")


def resample(t_s: np.ndarray, values: np.ndarray, grid_s: np.ndarray) -> np.ndarray:
    """``values`` at times ``t_s`` (s) resampled at ``grid_s`` (s, any shape) by cubic spline."""
    return tachogram_spline(t_s, values)(grid_s)


# --------------------------------------------------------------------------- detrending


def smoothness_priors_trend(x: np.ndarray, lam: float) -> np.ndarray:
    """Smoothness-priors trend along the last axis of evenly sampled ``x`` (Tarvainen 2002).

    Solves ``(I + lam² D2ᵀD2) trend = x`` with D2 the second-difference operator, as a banded
    symmetric positive-definite system: O(N) time and memory, fit for 24-hour records.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    rows = np.arange(n)

    def rows_of_d2(k: np.ndarray) -> np.ndarray:
        """1.0 where ``k`` is a row of D2 (0 <= k <= n - 3), else 0.0."""
        return ((k >= 0) & (k <= n - 3)).astype(np.float64)

    # Diagonals of D2ᵀD2, since row k of D2 is (1, -2, 1) at columns k..k+2.
    d0 = rows_of_d2(rows) + 4.0 * rows_of_d2(rows - 1) + rows_of_d2(rows - 2)
    d1 = -2.0 * rows_of_d2(rows[:-1]) - 2.0 * rows_of_d2(rows[:-1] - 1)
    d2 = rows_of_d2(rows[:-2])
    lam2 = lam * lam
    ab = np.zeros((3, n))
    ab[0, 2:] = lam2 * d2
    ab[1, 1:] = lam2 * d1
    ab[2, :] = 1.0 + lam2 * d0
    if x.ndim == 1:
        return linalg.solveh_banded(ab, x, check_finite=False)
    # LAPACK solves many right-hand sides at once: one column per series.
    columns = x.reshape(-1, n).T
    return linalg.solveh_banded(ab, columns, check_finite=False).T.reshape(x.shape)


def _linear_trend(x: np.ndarray) -> np.ndarray:
    """Least-squares line along the last axis (the series itself when shorter than 2)."""
    n = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)
    if n < 2:
        return np.broadcast_to(mean, x.shape).copy()
    # Centred sample index: the slope and the mean decouple, so no solve is needed.
    xc = np.arange(n) - (n - 1) / 2.0
    slope = (x @ xc) / np.dot(xc, xc)
    return mean + slope[..., None] * xc


def trend(x: np.ndarray, method: Detrend, *, smoothness_lambda: float = 500.0) -> np.ndarray:
    """Trend along the last axis of evenly sampled ``x``.

    ``"none"``: the mean; ``"linear"``: the least-squares line; ``"smoothness_priors"``:
    :func:`smoothness_priors_trend` with ``smoothness_lambda`` (500 at 4 Hz is a high-pass whose
    -3 dB point is about 0.035 Hz).
    """
    x = np.asarray(x, dtype=np.float64)
    if method == "linear":
        return _linear_trend(x)
    if method == "smoothness_priors":
        return smoothness_priors_trend(x, smoothness_lambda)
    if method == "none":
        return np.broadcast_to(x.mean(axis=-1, keepdims=True), x.shape).copy()
    raise ValueError(f"detrend must be one of {DETRENDS} (got {method!r})")


def detrend(x: np.ndarray, method: Detrend, *, smoothness_lambda: float = 500.0) -> np.ndarray:
    """``x`` minus its :func:`trend` along the last axis."""
    x = np.asarray(x, dtype=np.float64)
    return x - trend(x, method, smoothness_lambda=smoothness_lambda)


# --------------------------------------------------------------------------- spectral estimators


def hann(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` points, the one for DFT-based spectra."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def frequencies(nfft: int, fs: float) -> np.ndarray:
    """Frequencies (Hz) of a one-sided spectrum from an ``nfft``-point FFT at ``fs`` Hz."""
    return np.fft.rfftfreq(nfft, 1.0 / fs)


def welch(x: np.ndarray, fs: float, *, nperseg: int | None = None, noverlap: int = 0,
          nfft: int | None = None) -> np.ndarray:
    """One-sided Welch PSD (unit²/Hz) along the last axis of ``x`` sampled at ``fs`` Hz.

    Periodic Hann segments of ``nperseg`` samples (default: the whole series, i.e. a windowed
    periodogram) every ``nperseg - noverlap`` samples, each zero-padded to ``nfft`` (default
    ``nperseg``), their powers averaged; frequencies are :func:`frequencies` ``(nfft, fs)``. No
    detrending: do it first. The same estimate as ``scipy.signal.welch(detrend=False)``, without
    its per-call overhead, which dominates on the thousands of short windows of a sliding
    analysis.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    nperseg = n if nperseg is None else int(nperseg)
    nfft = nperseg if nfft is None else int(nfft)
    if not 1 <= nperseg <= n or nfft < nperseg:
        raise ValueError(f"need 1 <= nperseg <= samples and nfft >= nperseg (nperseg {nperseg}, "
                         f"samples {n}, nfft {nfft})")
    step = max(1, nperseg - int(noverlap))
    window = hann(nperseg)
    segments = np.lib.stride_tricks.sliding_window_view(x, nperseg, axis=-1)[..., ::step, :]
    spectra = np.fft.rfft(segments * window, nfft, axis=-1)
    psd = (spectra.real**2 + spectra.imag**2).mean(axis=-2) / (fs * np.dot(window, window))
    psd[..., 1:] *= 2.0
    if nfft % 2 == 0:
        psd[..., -1] /= 2.0  # the Nyquist bin has no negative-frequency twin
    return psd


def lomb_welch(t_s: np.ndarray, y: np.ndarray, freq_hz: np.ndarray, *, window_s: float,
               overlap: float) -> np.ndarray:
    """Mean one-sided Lomb-Scargle PSD (unit²/Hz) of uneven samples ``y`` at times ``t_s`` (s).

    Averaged over segments of ``window_s`` seconds every ``window_s * (1 - overlap)`` s (one
    segment when the record is shorter), each with its mean removed. A periodogram of a whole
    long record would resolve 1 / duration Hz, far finer than a spectrum grid of 1 / window_s Hz,
    and summing it over a band would then be wrong; the segments give it the grid's resolution.
    """
    t_s = np.asarray(t_s, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    span = t_s[-1] - t_s[0]
    if span > window_s:
        step = window_s * (1.0 - overlap)
        starts = t_s[0] + step * np.arange(math.floor((span - window_s) / step + 1e-9) + 1)
        first = np.searchsorted(t_s, starts, side="left")
        last = np.searchsorted(t_s, starts + window_s, side="left")
    else:
        first, last = np.array([0]), np.array([t_s.size])
    omega = 2.0 * np.pi * np.asarray(freq_hz)  # scipy.signal.lombscargle takes rad/s
    psd = np.zeros(omega.size)
    for i, j in zip(first, last):
        seg = y[i:j] - y[i:j].mean()
        # scipy's unnormalised power is about |DFT|² / N; 2 P / (mean sample rate) is unit²/Hz.
        seconds_per_sample = (t_s[j - 1] - t_s[i]) / max(j - i - 1, 1)
        psd += 2.0 * signal.lombscargle(t_s[i:j], seg, omega) * seconds_per_sample
    return psd / len(first)


def burg(x: np.ndarray, order: int) -> tuple[np.ndarray, float]:
    """Burg AR coefficients ``[1, a1..ap]`` and driving-noise variance (unit²) of 1-D ``x``."""
    x = np.asarray(x, dtype=np.float64)
    a = np.array([1.0])
    err = float(np.dot(x, x)) / x.size
    f, b = x[1:].copy(), x[:-1].copy()
    for _ in range(order):
        den = float(np.dot(f, f) + np.dot(b, b))
        k = -2.0 * float(np.dot(f, b)) / den if den > 0 else 0.0
        a = np.concatenate((a, [0.0]))
        a = a + k * a[::-1]
        err *= 1.0 - k * k
        f, b = (f + k * b)[1:], (b + k * f)[:-1]
    return a, err


def ar_psd(x: np.ndarray, order: int, fs: float, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and one-sided PSD (unit²/Hz) of the Burg AR model of order ``order``.

    ``x`` (1-D, sampled at ``fs`` Hz, mean removed) is modelled by :func:`burg`; the model's
    spectrum is evaluated on the ``nfft``-point grid ``k * fs / nfft``.
    """
    a, err = burg(x, order)
    freq = np.arange(nfft // 2 + 1) / nfft * fs
    return freq, 2.0 * err / fs / np.abs(np.fft.rfft(a, nfft)) ** 2

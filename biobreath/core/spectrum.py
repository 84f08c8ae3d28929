"""Spectra of the RR tachogram: the one place HRV, coherence and resonance compute them.

Holds every step from beats to a power spectral density, as pure functions on NumPy arrays:

* resampling: :func:`even_grid` (sample times, s), :func:`tachogram_spline` and :func:`resample`
  (a not-a-knot cubic spline through the beats, e.g. RR in ms at each beat's time in s: the spline
  of ``scipy.interpolate.CubicSpline``, computed here in NumPy, see :func:`cubic_spline`), with
  :func:`strictly_increasing` dropping beats whose time steps back;
* detrending along the last axis: :func:`trend` / :func:`detrend` (``"none"`` = mean,
  ``"linear"``, ``"smoothness_priors"``, :func:`smoothness_priors_trend`, Tarvainen et al. 2002);
* spectral estimators, one-sided densities (input unit² per Hz, e.g. ms²/Hz): :func:`welch`
  (periodic Hann segments, optionally each with its own mean removed; one segment is the windowed
  periodogram), on :func:`frequencies`;
  :func:`lomb_welch` for the uneven beats themselves; :func:`burg` and :func:`ar_psd` for an
  autoregressive model.

Arrays of evenly sampled series may carry leading batch axes: the time axis is the last one.

SciPy is imported only by the two steps that need it (:func:`smoothness_priors_trend`,
:func:`lomb_welch`): the default analysis (spline, Welch) runs on NumPy alone, so a command that
analyses one file does not pay the half second SciPy's interpolate and signal packages take to load.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np

Detrend = Literal["none", "linear", "smoothness_priors"]
DETRENDS: tuple[str, ...] = ("none", "linear", "smoothness_priors")
SegmentDetrend = Literal["none", "constant"]
SEGMENT_DETRENDS: tuple[str, ...] = ("none", "constant")

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


_DIRECT_ROWS = 200
"""Up to this many rows a tridiagonal system is solved row by row (Thomas) in plain Python: fewer
steps than the NumPy calls of reduction levels (measured on this project's 2-core machine: Thomas
takes 26 us against 43 us at 64 rows, 79 against 93 at 200, the same at 256). The live windows'
splines (60-90 knots) are solved so; whole recordings by reduction."""


def _thomas(sub: np.ndarray, diag: np.ndarray, sup: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Tridiagonal solve by forward elimination and back substitution (small systems)."""
    a, b, c, d = sub.tolist(), diag.tolist(), sup.tolist(), rhs.tolist()
    n = len(b)
    cp, dp = [0.0] * n, [0.0] * n
    cp[0], dp[0] = c[0] / b[0], d[0] / b[0]
    for i in range(1, n):
        den = b[i] - a[i] * cp[i - 1]
        cp[i] = c[i] / den
        dp[i] = (d[i] - a[i] * dp[i - 1]) / den
    x = [0.0] * n
    x[-1] = dp[-1]
    for i in range(n - 2, -1, -1):
        x[i] = dp[i] - cp[i] * x[i + 1]
    return np.array(x)


_DECOUPLED_ROW = np.array([0.0, 1.0, 0.0, 0.0])
"""(sub, diag, sup, rhs) of a row ``x = 0`` that touches no other: the fill beyond a system's
ends, so that every row has a row above and below it."""


def _solve_tridiagonal(sub: np.ndarray, diag: np.ndarray, sup: np.ndarray,
                       rhs: np.ndarray) -> np.ndarray:
    """Solve ``sub[i] x[i-1] + diag[i] x[i] + sup[i] x[i+1] = rhs[i]`` (``sub[0]``, ``sup[-1]`` 0).

    Cyclic (odd-even) reduction: each level eliminates the odd unknowns from the even equations,
    so a long system takes log2(n) vectorised passes instead of a Python loop over n rows (small
    remainders go row by row, see :data:`_DIRECT_ROWS`). Stable without pivoting for the strictly
    diagonally dominant systems splines give.
    """
    n = diag.size
    if n <= _DIRECT_ROWS:
        return _thomas(sub, diag, sup, rhs)
    ne, no = (n + 1) // 2, n // 2
    # Rows -1 .. n as columns, the two outside the system decoupled: the rows next to any row
    # are then strided views, with no copies shifted into place.
    rows = np.empty((4, n + 2))
    rows[:, 0] = rows[:, -1] = _DECOUPLED_ROW
    rows[0, 1:-1], rows[1, 1:-1], rows[2, 1:-1], rows[3, 1:-1] = sub, diag, sup, rhs
    ae, be, ce, de = rows[:, 1:2 * ne:2]           # the even rows 0, 2, ...
    au, bu, cu, du = rows[:, 0:2 * ne - 1:2]       # the row above each
    aw, bw, cw, dw = rows[:, 2:2 * ne + 1:2]       # the row below each
    alpha = -ae / bu
    gamma = -ce / bw
    x = np.zeros(n + 1)  # x[n] = 0: the unknown of the decoupled row below
    x[0:2 * ne:2] = _solve_tridiagonal(alpha * au, be + alpha * cu + gamma * aw, gamma * cw,
                                       de + alpha * du + gamma * dw)
    ao, bo, co, do = rows[:, 2:2 * no + 1:2]      # the odd rows 1, 3, ...
    x[1:n:2] = (do - ao * x[0:2 * no:2] - co * x[2:2 * no + 1:2]) / bo
    return x[:n]


def _not_a_knot_slopes(x: np.ndarray, dx: np.ndarray, m: np.ndarray) -> np.ndarray:
    """First derivatives at the knots ``x`` of the not-a-knot cubic spline with knot steps ``dx``
    and chord slopes ``m`` (see :func:`_knots`).

    The equations are SciPy's (``CubicSpline``, ``bc_type="not-a-knot"``): two points give a line
    and three the parabola through them. The two not-a-knot rows are not diagonally dominant, so
    each is subtracted from its neighbour first, which removes the end slope from that row; the
    interior system is then strictly diagonally dominant and is solved without pivoting.
    """
    n = x.size
    if n == 2:
        return np.array([m[0], m[0]])
    if n == 3:
        mid = (dx[1] * m[0] + dx[0] * m[1]) / (dx[0] + dx[1])
        return np.array([2.0 * m[0] - mid, mid, 2.0 * m[1] - mid])
    # The end rows in Python floats (the same IEEE arithmetic as NumPy scalars, without their
    # overhead); ``** 2`` as before, which can round differently from a product.
    h0, h1, hm2, hm1 = dx[[0, 1, -2, -1]].tolist()
    m0, m1, mm2, mm1 = m[[0, 1, -2, -1]].tolist()
    x0, x2, xm3, xm1 = x[[0, 2, -3, -1]].tolist()
    r_first = ((h0 + 2.0 * (x2 - x0)) * h1 * m0 + h0 ** 2 * m1) / (x2 - x0)
    r_last = (hm1 ** 2 * mm2 + (2.0 * (xm1 - xm3) + hm1) * hm2 * mm1) / (xm1 - xm3)
    rhs = 3.0 * (dx[1:] * m[:-1] + dx[:-1] * m[1:])   # rows 1 .. n-2
    diag = 2.0 * (dx[:-1] + dx[1:])
    sub = dx[1:].copy()
    sup = dx[:-1].copy()
    # Row 1 minus row 0: (dx0 + dx1) s1 + dx0 s2 = r1 - r0; the same at the other end.
    diag[0] = h0 + h1
    rhs[0] -= r_first
    diag[-1] = hm2 + hm1
    rhs[-1] -= r_last
    sub[0] = 0.0
    sup[-1] = 0.0
    inner = _solve_tridiagonal(sub, diag, sup, rhs)
    s = np.empty(n)
    s[1:-1] = inner
    first, last = inner[[0, -1]].tolist()
    s[0] = (r_first - (h0 + h1) * first) / h1
    s[-1] = (r_last - (hm2 + hm1) * last) / hm2
    return s


def _knots(x: np.ndarray, y: np.ndarray, what: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x`` and ``y`` as float arrays, the steps ``dx`` and the chord slopes; ValueError naming
    ``what`` unless they are matching 1-D arrays of at least 2 points, ``x`` strictly increasing."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape or x.size < 2:
        raise ValueError(f"{what} needs matching 1-D x and y of at least 2 points")
    dx = x[1:] - x[:-1]
    if not (dx > 0).all():
        raise ValueError("the knots x must be strictly increasing")
    return x, y, dx, (y[1:] - y[:-1]) / dx


class PiecewiseCubic:
    """Piecewise-cubic Hermite interpolant through ``(x, y)`` with first derivatives ``dydx``.

    ``x`` strictly increasing (at least 2 points). Built and evaluated as SciPy's
    ``CubicHermiteSpline`` is (the same coefficients, the same power-sum evaluation, half-open
    pieces ``[x_k, x_k+1)``), so that given SciPy's slopes it returns SciPy's values bit for bit;
    written in NumPy so that resampling and artifact correction need no SciPy import.
    """

    __slots__ = ("_c", "_x")

    def __init__(self, x: np.ndarray, y: np.ndarray, dydx: np.ndarray) -> None:
        self._fit(*_knots(x, y, "a piecewise cubic"), dydx)

    def _fit(self, x: np.ndarray, y: np.ndarray, dx: np.ndarray, slope: np.ndarray,
             dydx: np.ndarray) -> None:
        """Coefficients from checked knots, their steps and chord slopes (:func:`_knots`)."""
        t = (dydx[:-1] + dydx[1:] - 2.0 * slope) / dx
        self._x = x
        # Coefficients of s**3, s**2, s, 1 on each piece, s = x - x_k.
        self._c = (t / dx, (slope - dydx[:-1]) / dx - t, dydx[:-1], y[:-1])

    def __call__(self, xq: np.ndarray, *, extrapolate: bool = True) -> np.ndarray:
        """Values at ``xq`` (any shape); beyond the knots the end pieces continue, or NaN when
        ``extrapolate`` is False."""
        xq = np.asarray(xq, dtype=np.float64)
        x = self._x
        k = x.searchsorted(xq, side="right") - 1
        # np.clip, without its wrapper's overhead (a per-call cost in a live analysis).
        np.minimum(np.maximum(k, 0, out=k), x.size - 2, out=k)
        s = xq - x[k]
        c3, c2, c1, c0 = self._c
        # SciPy's order of operations: constant + slope s + c2 s² + c3 s³, powers by products.
        s2 = s * s
        out = c0[k] + c1[k] * s + c2[k] * s2 + c3[k] * (s2 * s)
        if not extrapolate:
            out[(xq < x[0]) | (xq > x[-1])] = np.nan
        return out


def cubic_spline(x: np.ndarray, y: np.ndarray) -> PiecewiseCubic:
    """Not-a-knot cubic spline through ``(x, y)``: ``scipy.interpolate.CubicSpline(x, y)``.

    Equal to SciPy's to rounding (about 1e-15 relative: only the tridiagonal solver differs);
    extrapolates with the end pieces, as SciPy's does.
    """
    x, y, dx, slope = _knots(x, y, "a cubic spline")
    spline = PiecewiseCubic.__new__(PiecewiseCubic)
    spline._fit(x, y, dx, slope, _not_a_knot_slopes(x, dx, slope))
    return spline


def tachogram_spline(t_s: np.ndarray, values: np.ndarray) -> PiecewiseCubic:
    """Not-a-knot cubic spline through ``values`` at times ``t_s`` (s), which may repeat.

    Samples whose time is not later than all earlier ones are dropped (see
    :func:`strictly_increasing`). The spline extrapolates: callers keep their grid inside the
    beats.
    """
    t_s = np.asarray(t_s, dtype=float)
    values = np.asarray(values, dtype=float)
    ok = strictly_increasing(t_s)
    return cubic_spline(t_s[ok], values[ok])


def resample(t_s: np.ndarray, values: np.ndarray, grid_s: np.ndarray) -> np.ndarray:
    """``values`` at times ``t_s`` (s) resampled at ``grid_s`` (s, any shape) by cubic spline."""
    return tachogram_spline(t_s, values)(grid_s)


# --------------------------------------------------------------------------- detrending


def smoothness_priors_trend(x: np.ndarray, lam: float) -> np.ndarray:
    """Smoothness-priors trend along the last axis of evenly sampled ``x`` (Tarvainen 2002).

    Solves ``(I + lam² D2ᵀD2) trend = x`` with D2 the second-difference operator, as a banded
    symmetric positive-definite system: O(N) time and memory, fit for 24-hour records.
    """
    from scipy import linalg  # only this optional detrending needs it: see the module docstring

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


@lru_cache(maxsize=16)
def _centred_index(n: int) -> tuple[np.ndarray, float]:
    """Sample index ``0 .. n-1`` less its mean (read-only) and its sum of squares."""
    xc = np.arange(n) - (n - 1) / 2.0
    xc.setflags(write=False)
    return xc, float(np.dot(xc, xc))


def _linear_trend(x: np.ndarray) -> np.ndarray:
    """Least-squares line along the last axis (the series itself when shorter than 2)."""
    n = x.shape[-1]
    # np.mean's own sum and division, without its per-call overhead.
    mean = np.add.reduce(x, axis=-1, keepdims=True) / n
    if n < 2:
        return np.broadcast_to(mean, x.shape).copy()
    # Centred sample index: the slope and the mean decouple, so no solve is needed.
    xc, xc_xc = _centred_index(n)
    slope = (x @ xc) / xc_xc
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


@lru_cache(maxsize=16)
def _hann(n: int) -> tuple[np.ndarray, float]:
    """:func:`hann` (read-only, cached: a sliding analysis asks for the same length again and
    again) and its sum of squares."""
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
    window.setflags(write=False)
    return window, float(np.dot(window, window))


def hann(n: int) -> np.ndarray:
    """Periodic Hann window of ``n`` points, the one for DFT-based spectra."""
    return _hann(n)[0].copy()


@lru_cache(maxsize=16)
def _frequencies(nfft: int, fs: float) -> np.ndarray:
    """:func:`frequencies`, read-only and cached."""
    freq = np.fft.rfftfreq(nfft, 1.0 / fs)
    freq.setflags(write=False)
    return freq


def frequencies(nfft: int, fs: float) -> np.ndarray:
    """Frequencies (Hz) of a one-sided spectrum from an ``nfft``-point FFT at ``fs`` Hz."""
    return _frequencies(nfft, fs).copy()


def welch(x: np.ndarray, fs: float, *, nperseg: int | None = None, noverlap: int = 0,
          nfft: int | None = None, detrend: SegmentDetrend = "none") -> np.ndarray:
    """One-sided Welch PSD (unit²/Hz) along the last axis of ``x`` sampled at ``fs`` Hz.

    Periodic Hann segments of ``nperseg`` samples (default: the whole series, i.e. a windowed
    periodogram) every ``nperseg - noverlap`` samples, each zero-padded to ``nfft`` (default
    ``nperseg``), their powers averaged; frequencies are :func:`frequencies` ``(nfft, fs)``.
    ``detrend``: ``"none"`` (default; detrend the series first if needed) or ``"constant"``,
    each segment's own mean removed before its window. The same estimate as
    ``scipy.signal.welch(detrend=False)`` (or ``detrend="constant"``), without its per-call
    overhead, which dominates on the thousands of short windows of a sliding analysis.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[-1]
    nperseg = n if nperseg is None else int(nperseg)
    nfft = nperseg if nfft is None else int(nfft)
    if not 1 <= nperseg <= n or nfft < nperseg:
        raise ValueError(f"need 1 <= nperseg <= samples and nfft >= nperseg (nperseg {nperseg}, "
                         f"samples {n}, nfft {nfft})")
    if detrend not in SEGMENT_DETRENDS:
        raise ValueError(f"detrend must be one of {SEGMENT_DETRENDS} (got {detrend!r})")
    step = max(1, nperseg - int(noverlap))
    window, window_power = _hann(nperseg)
    # A single segment is the series itself: a view of it costs more than its transform.
    segments = (x[..., None, :] if nperseg == n else
                np.lib.stride_tricks.sliding_window_view(x, nperseg, axis=-1)[..., ::step, :])
    if detrend == "constant":
        segments = segments - segments.mean(axis=-1, keepdims=True)
    spectra = np.fft.rfft(segments * window, nfft, axis=-1)
    power = spectra.real**2 + spectra.imag**2
    # The mean of one segment is that segment: skip np.mean's overhead.
    psd = (power[..., 0, :] if power.shape[-2] == 1 else power.mean(axis=-2)) / (
        fs * window_power)
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
    from scipy import signal  # only the Lomb method needs it: see the module docstring

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

"""Tests of biobreath.core.spectrum against independent computations and known signals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import linalg, signal

from biobreath.core import spectrum


def beat_times(n: int, seed: int = 0) -> np.ndarray:
    """``n`` uneven, strictly increasing beat times (s), 0.6-1.2 s apart."""
    rng = np.random.default_rng(seed)
    return np.cumsum(0.6 + 0.6 * rng.random(n))


# --------------------------------------------------------------------------- resampling


def test_strictly_increasing_drops_times_stepping_back_or_repeating() -> None:
    t = np.array([0.0, 1.0, 2.0, 1.5, 2.5, 2.5, 3.0])
    np.testing.assert_array_equal(spectrum.strictly_increasing(t),
                                  [True, True, True, False, True, False, True])
    assert spectrum.strictly_increasing(np.array([])).size == 0


def test_even_grid_is_start_plus_k_over_fs_half_open_or_closed() -> None:
    np.testing.assert_array_equal(spectrum.even_grid(10.0, 1.0, 4.0),
                                  [10.0, 10.25, 10.5, 10.75])
    np.testing.assert_array_equal(spectrum.even_grid(10.0, 1.0, 4.0, closed=True),
                                  [10.0, 10.25, 10.5, 10.75, 11.0])
    # Floating-point noise in the span neither adds nor drops a sample: 0.1 * 3 is a little
    # above 0.3 and 0.7 - 0.4 a little below.
    for span in (0.1 * 3, 0.7 - 0.4):
        assert spectrum.even_grid(0.0, span, 10.0).size == 3
        assert spectrum.even_grid(0.0, span, 10.0, closed=True).size == 4
    rows = spectrum.even_grid(np.array([0.0, 5.0]), 1.0, 2.0)
    np.testing.assert_array_equal(rows, [[0.0, 0.5], [5.0, 5.5]])


def test_resampling_reproduces_a_cubic_exactly() -> None:
    # A not-a-knot cubic spline through samples of a cubic polynomial is that polynomial.
    t = beat_times(100)

    def cubic(x: np.ndarray) -> np.ndarray:
        return 800.0 + 3.0 * x - 0.05 * x**2 + 0.0004 * x**3

    grid = spectrum.even_grid(t[0], t[-1] - t[0], 4.0, closed=True)
    np.testing.assert_allclose(spectrum.resample(t, cubic(t), grid), cubic(grid), atol=1e-9)


def test_resampling_a_sampled_sinusoid_recovers_it_between_the_beats() -> None:
    # 50 ms at 0.1 Hz sampled every 0.6-1.2 s: the spline's error is far below 1 % of 50 ms.
    t = beat_times(300, seed=1)

    def wave(x: np.ndarray) -> np.ndarray:
        return 900.0 + 50.0 * np.sin(2 * np.pi * 0.1 * x)

    grid = spectrum.even_grid(t[0], t[-1] - t[0], 4.0)
    assert np.max(np.abs(spectrum.resample(t, wave(t), grid) - wave(grid))) < 0.5


def test_resampling_ignores_beats_whose_time_steps_back() -> None:
    t = beat_times(50, seed=2)
    rr = 900.0 + 40.0 * np.sin(t)
    stepped_t = np.insert(t, 20, t[18])  # a new beat chain starting a little early
    stepped_rr = np.insert(rr, 20, 700.0)
    grid = spectrum.even_grid(t[0], t[-1] - t[0], 4.0)
    np.testing.assert_array_equal(spectrum.resample(stepped_t, stepped_rr, grid),
                                  spectrum.resample(t, rr, grid))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 9, 500])
def test_cubic_spline_equals_scipys_not_a_knot_spline(n: int) -> None:
    # Our NumPy spline against scipy.interpolate.CubicSpline (the same equations, solved by
    # LAPACK with pivoting): values inside, at the knots and extrapolated past both ends.
    from scipy.interpolate import CubicSpline

    t = beat_times(n, seed=n)
    y = 900.0 + 40.0 * np.sin(t) + np.random.default_rng(n).normal(0.0, 10.0, n)
    x = np.concatenate((np.linspace(t[0] - 2.0, t[-1] + 2.0, 1001), t))
    ours, ref = spectrum.cubic_spline(t, y)(x), CubicSpline(t, y)(x)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12 * np.max(np.abs(ref)))


def test_piecewise_cubic_with_scipys_slopes_is_scipys_hermite_bit_for_bit() -> None:
    from scipy.interpolate import CubicHermiteSpline

    t = beat_times(50, seed=5)
    y = np.random.default_rng(5).normal(900.0, 30.0, 50)
    slopes = np.random.default_rng(6).normal(0.0, 50.0, 50)
    x = np.concatenate((np.linspace(t[0] - 1.0, t[-1] + 1.0, 777), t))
    np.testing.assert_array_equal(spectrum.PiecewiseCubic(t, y, slopes)(x),
                                  CubicHermiteSpline(t, y, slopes)(x))
    outside = spectrum.PiecewiseCubic(t, y, slopes)(np.array([t[0] - 1.0, t[-1] + 1.0]),
                                                     extrapolate=False)
    assert np.all(np.isnan(outside))


def test_tridiagonal_solve_equals_a_dense_solve() -> None:
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 4, 5, 17, 64, 1000):
        sub, sup = rng.uniform(0.1, 1.0, n), rng.uniform(0.1, 1.0, n)
        sub[0], sup[-1] = 0.0, 0.0
        diag = sub + sup + rng.uniform(0.1, 1.0, n)     # strictly dominant, as splines are
        rhs = rng.normal(size=n)
        dense = np.diag(diag) + np.diag(sub[1:], -1) + np.diag(sup[:-1], 1)
        np.testing.assert_allclose(spectrum._solve_tridiagonal(sub, diag, sup, rhs),
                                   np.linalg.solve(dense, rhs), rtol=1e-12, atol=1e-12)


def test_spline_rejects_too_few_or_unordered_knots() -> None:
    with pytest.raises(ValueError):
        spectrum.cubic_spline(np.array([1.0]), np.array([2.0]))
    with pytest.raises(ValueError):
        spectrum.cubic_spline(np.array([1.0, 1.0, 2.0]), np.array([2.0, 3.0, 4.0]))


# --------------------------------------------------------------------------- detrending


def dense_smoothness_priors(x: np.ndarray, lam: float) -> np.ndarray:
    """Tarvainen et al. 2002, eq. (6): trend = (I + lam² D2ᵀ D2)⁻¹ x, D2 written out densely."""
    n = x.size
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i:i + 3] = (1.0, -2.0, 1.0)
    return np.linalg.solve(np.eye(n) + lam**2 * d2.T @ d2, x)


def test_smoothness_priors_banded_solution_equals_the_dense_one() -> None:
    rng = np.random.default_rng(4)
    x = np.cumsum(rng.normal(size=300))
    lam = 50.0
    d2 = np.diff(np.eye(300), n=2, axis=0)
    dense = np.linalg.solve(np.eye(300) + lam**2 * d2.T @ d2, x)
    np.testing.assert_allclose(spectrum.smoothness_priors_trend(x, lam), dense, rtol=1e-8,
                               atol=1e-8)


@pytest.mark.parametrize("lam", [10.0, 500.0])
def test_smoothness_priors_detrend_follows_its_published_definition(lam: float) -> None:
    rng = np.random.default_rng(11)
    x = 800.0 + np.cumsum(rng.normal(0.0, 3.0, 400)) + rng.normal(0.0, 10.0, 400)
    trend = dense_smoothness_priors(x, lam)
    np.testing.assert_allclose(spectrum.trend(x, "smoothness_priors", smoothness_lambda=lam),
                               trend, rtol=1e-9)
    np.testing.assert_allclose(spectrum.detrend(x, "smoothness_priors", smoothness_lambda=lam),
                               x - trend, atol=1e-6)
    # Batches of series: each row as on its own.
    rows = np.stack([x, x[::-1]])
    np.testing.assert_allclose(spectrum.trend(rows, "smoothness_priors", smoothness_lambda=lam),
                               [trend, dense_smoothness_priors(x[::-1], lam)], rtol=1e-9)


def test_smoothness_priors_leaves_a_straight_line_alone() -> None:
    # D2 annihilates a line, so the penalty is zero and the trend is the line itself.
    line = 700.0 + 0.3 * np.arange(200.0)
    np.testing.assert_allclose(spectrum.smoothness_priors_trend(line, 500.0), line, rtol=1e-9)


def test_linear_detrend_matches_a_least_squares_fit_and_scipy() -> None:
    rng = np.random.default_rng(12)
    rows = 850.0 + np.arange(256) * rng.normal(size=(3, 1)) + rng.normal(0.0, 20.0, (3, 256))
    i = np.arange(256)
    fitted = np.array([np.polyval(np.polyfit(i, r, 1), i) for r in rows])
    np.testing.assert_allclose(spectrum.trend(rows, "linear"), fitted, rtol=1e-12)
    np.testing.assert_allclose(spectrum.detrend(rows, "linear"),
                               signal.detrend(rows, axis=-1, type="linear"), atol=1e-9)


def test_detrend_none_removes_only_the_mean() -> None:
    x = np.array([1.0, 5.0, 2.0, 8.0])
    np.testing.assert_array_equal(spectrum.detrend(x, "none"), x - 4.0)
    with pytest.raises(ValueError):
        spectrum.trend(x, "quadratic")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- Welch and periodogram


def test_hann_is_the_periodic_window_scipy_uses_for_spectra() -> None:
    np.testing.assert_allclose(spectrum.hann(256), signal.get_window("hann", 256), atol=1e-15)


@pytest.mark.parametrize(("amplitude", "freq_hz"), [
    (30.0, 25 / 256),
    (20.0, 0.25),
    (5.0, 1.0),
    (30.0, 0.1),  # between two bins (25.6 / 256 Hz)
])
def test_welch_density_integrates_to_a_sinusoids_power(amplitude: float, freq_hz: float) -> None:
    # A sinusoid of amplitude A has variance A²/2; its density summed over frequency returns it.
    fs = 4.0
    t = np.arange(4096) / fs
    x = amplitude * np.sin(2 * np.pi * freq_hz * t + 0.3)
    psd = spectrum.welch(x, fs, nperseg=1024, noverlap=512, nfft=1024)
    freq = spectrum.frequencies(1024, fs)
    df = freq[1] - freq[0]
    assert df == 1 / 256
    assert psd.sum() * df == pytest.approx(amplitude**2 / 2, rel=1e-6)
    assert abs(freq[np.argmax(psd)] - freq_hz) <= df / 2


def test_welch_density_of_white_noise_integrates_to_its_variance() -> None:
    rng = np.random.default_rng(13)
    x = rng.normal(0.0, 7.0, 2**16)
    psd = spectrum.welch(x, 4.0, nperseg=512, noverlap=256)
    assert psd.sum() * 4.0 / 512 == pytest.approx(49.0, rel=0.02)
    assert np.mean(psd) == pytest.approx(2 * 49.0 / 4.0, rel=0.02)  # flat: 2 sigma² / fs


@pytest.mark.parametrize(("nperseg", "noverlap", "nfft"), [
    (1024, 512, 1024),
    (1024, 0, 1024),
    (300, 150, 1024),
    (255, 100, 511),  # odd: no Nyquist bin
    (600, 599, 1000),
])
def test_welch_matches_scipy(nperseg: int, noverlap: int, nfft: int) -> None:
    rng = np.random.default_rng(14)
    x = rng.normal(0.0, 30.0, 4000)
    freq, ref = signal.welch(x, fs=4.0, window="hann", nperseg=nperseg, noverlap=noverlap,
                             nfft=nfft, detrend=False)
    np.testing.assert_allclose(spectrum.welch(x, 4.0, nperseg=nperseg, noverlap=noverlap,
                                              nfft=nfft), ref, rtol=1e-10)
    np.testing.assert_allclose(spectrum.frequencies(nfft, 4.0), freq)


@pytest.mark.parametrize(("nperseg", "noverlap"), [(1024, 512), (300, 150), (4000, 0)])
def test_welch_with_each_segments_mean_removed_matches_scipys_constant_detrend(
        nperseg: int, noverlap: int) -> None:
    rng = np.random.default_rng(21)
    x = 800.0 + np.cumsum(rng.normal(0.0, 2.0, 4000)) + rng.normal(0.0, 30.0, 4000)
    _, ref = signal.welch(x, fs=4.0, window="hann", nperseg=nperseg, noverlap=noverlap,
                          nfft=max(nperseg, 1024), detrend="constant")
    np.testing.assert_allclose(
        spectrum.welch(x, 4.0, nperseg=nperseg, noverlap=noverlap, nfft=max(nperseg, 1024),
                       detrend="constant"), ref, rtol=1e-9, atol=1e-9 * ref.max())
    with pytest.raises(ValueError):
        spectrum.welch(x, 4.0, detrend="linear")  # type: ignore[arg-type]


def test_one_segment_is_scipys_periodogram_and_rows_are_batched() -> None:
    rng = np.random.default_rng(15)
    rows = rng.normal(0.0, 30.0, (5, 256))
    freq, ref = signal.periodogram(rows, fs=4.0, window="hann", nfft=1024, detrend=False,
                                   axis=-1)
    np.testing.assert_allclose(spectrum.welch(rows, 4.0, nfft=1024), ref, rtol=1e-10)
    np.testing.assert_allclose(spectrum.frequencies(1024, 4.0), freq)


def test_welch_rejects_segments_longer_than_the_series_or_the_fft() -> None:
    with pytest.raises(ValueError):
        spectrum.welch(np.zeros(100), 4.0, nperseg=200)
    with pytest.raises(ValueError):
        spectrum.welch(np.zeros(100), 4.0, nperseg=100, nfft=50)


# --------------------------------------------------------------------------- Lomb and AR


def test_lomb_of_even_samples_is_the_classical_periodogram() -> None:
    # At the Fourier frequencies of evenly spaced samples, Lomb-Scargle's power reduces to
    # |DFT|² / N (Lomb 1976; Scargle 1982), so the density is the boxcar periodogram.
    fs, n = 4.0, 512
    t = 100.0 + np.arange(n) / fs
    rng = np.random.default_rng(16)
    y = rng.normal(0.0, 20.0, n)
    freq = np.arange(1, n // 2) * fs / n
    dft = np.fft.rfft(y - y.mean())[1:n // 2]
    np.testing.assert_allclose(
        spectrum.lomb_welch(t, y, freq, window_s=1000.0, overlap=0.5),
        2.0 * np.abs(dft) ** 2 / (n * fs), rtol=1e-9)


def test_lomb_of_a_sinusoid_at_beat_times_gives_its_power() -> None:
    # 30 ms at 25/256 Hz sampled at very irregular beats (0.6-1.2 s): variance 450 ms² around
    # its frequency; the irregular sampling leaks a few percent more across the spectrum.
    t = beat_times(700, seed=17)
    y = 900.0 + 30.0 * np.sin(2 * np.pi * (25 / 256) * t)
    freq = np.arange(1, 129) / 256
    psd = spectrum.lomb_welch(t, y, freq, window_s=256.0, overlap=0.5)
    assert freq[np.argmax(psd)] == 25 / 256
    assert psd[19:30].sum() / 256 == pytest.approx(30.0**2 / 2, rel=0.02)  # 25/256 +- 5 bins
    assert psd.sum() / 256 == pytest.approx(30.0**2 / 2, rel=0.08)


def ar2(n: int, seed: int) -> np.ndarray:
    """x[i] = 1.2 x[i-1] - 0.6 x[i-2] + e[i], e unit white noise."""
    e = np.random.default_rng(seed).normal(size=n)
    x = np.zeros(n)
    for i in range(2, n):
        x[i] = 1.2 * x[i - 1] - 0.6 * x[i - 2] + e[i]
    return x - x.mean()


def test_burg_recovers_an_ar2_process_as_yule_walker_does() -> None:
    x = ar2(20000, seed=18)
    a, err = spectrum.burg(x, 2)
    # Yule-Walker from the sample autocovariance, an independent estimator of the same model.
    r = np.array([np.dot(x[:x.size - k], x[k:]) / x.size for k in range(3)])
    phi = linalg.solve_toeplitz(r[:2], r[1:])
    np.testing.assert_allclose(a, [1.0, -phi[0], -phi[1]], atol=0.005)
    np.testing.assert_allclose(a, [1.0, -1.2, 0.6], atol=0.03)
    assert err == pytest.approx(1.0, rel=0.03)


def test_ar_psd_integrates_to_the_variance_and_peaks_at_the_model_resonance() -> None:
    fs = 4.0
    x = ar2(20000, seed=19)
    freq, psd = spectrum.ar_psd(x, 2, fs, 4096)
    assert psd.sum() * fs / 4096 == pytest.approx(x.var(), rel=0.01)
    # The true AR(2) spectrum peaks where cos(w) = phi1 (phi2 - 1) / (4 phi2) (Box & Jenkins).
    peak = np.arccos(1.2 * (-0.6 - 1.0) / (4 * -0.6)) * fs / (2 * np.pi)
    assert freq[np.argmax(psd)] == pytest.approx(peak, abs=0.02)
    np.testing.assert_allclose(freq, np.arange(2049) * fs / 4096)

"""Resonance metrics against straightforward computations on tachograms with known content."""

import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline
from scipy.signal import csd

from biobreath.core import spectrum
from biobreath.core.resonance import (
    assess,
    count_peaks,
    hr_breathing_phase,
    resonance_criteria,
    smoothness,
)


def _beats_from_hr(hr_fn, seconds):
    """Beats whose interval's HR equals hr_fn at the interval's midpoint (bpm)."""
    t, ts, rr = 0.0, [], []
    while t < seconds:
        r = 60000.0 / hr_fn(t)
        for _ in range(4):  # fixed point: r = 60000 / hr(t + r / 2)
            r = 60000.0 / hr_fn(t + r / 2000)
        t += r / 1000
        ts.append(t)
        rr.append(r)
    return np.array(ts), np.array(rr)


@pytest.mark.parametrize("method", ["hann", "lstsq"])
@pytest.mark.parametrize("lag_deg", [0.0, 30.0, -45.0, 90.0])
def test_phase_matches_welch_cross_spectrum(lag_deg, method):
    f = 0.1
    lag = math.radians(lag_deg)
    beat_t, rr = _beats_from_hr(lambda t: 65 + 8 * math.sin(2 * math.pi * f * t + lag), 200)
    bt = np.arange(0, 200, 0.05)
    vol = 0.5 + 0.5 * np.sin(2 * np.pi * f * bt)
    ours = hr_breathing_phase(beat_t, rr, bt, vol, f, 20, 180, method=method)
    # Independent: Welch cross-spectral density of the two 4 Hz series, one segment per 80 s.
    grid = np.arange(20, 180, 0.25)
    hr = CubicSpline(beat_t - rr / 2000, 60000 / rr)(grid)
    br = np.interp(grid, bt, vol)
    freqs, pxy = csd(br, hr, fs=4, nperseg=320, detrend="linear")
    k = np.argmin(np.abs(freqs - f))
    assert ours.phase_deg == pytest.approx(lag_deg, abs=2.0)
    assert ours.phase_deg == pytest.approx(math.degrees(np.angle(pxy[k])), abs=2.0)
    assert ours.hr_amplitude_bpm == pytest.approx(8.0, rel=0.05)


def test_least_squares_phase_is_exact_over_any_stretch_and_ignores_the_harmonic():
    # 6.3 breaths of a 4:6 breath-like curve with its second harmonic in heart rate too: the
    # least-squares terms at the pace are the sinusoid put in, whatever the stretch's length.
    f, lag = 0.085, math.radians(-25.0)
    beat_t, rr = _beats_from_hr(lambda t: 66 + 6 * math.cos(2 * math.pi * f * t + lag)
                                + 2 * math.cos(4 * math.pi * f * t + 1.0), 120)
    bt = np.arange(0, 120, 0.05)
    vol = 0.5 + 0.4 * np.cos(2 * np.pi * f * bt) + 0.1 * np.sin(4 * np.pi * f * bt)
    got = hr_breathing_phase(beat_t, rr, bt, vol, f, 10.0, 10.0 + 6.3 / f, method="lstsq")
    assert got.phase_deg == pytest.approx(-25.0, abs=0.5)
    assert got.hr_amplitude_bpm == pytest.approx(6.0, rel=0.01)


@pytest.mark.parametrize("t0", [20.0, 100.0 / 3.0, 64.0 - 2.0 ** -47])
def test_hann_phase_is_the_windowed_dft_term_whatever_the_grid_start(t0):
    # The DFT weights are cached for the grid k / 4 s from its start; a start whose grid
    # rounds (the last one: it crosses 64 s) must weigh its own offsets.
    f, t1 = 0.1, t0 + 64.0
    beat_t, rr = _beats_from_hr(lambda t: 65 + 8 * math.sin(2 * math.pi * f * t + 0.3), 140)
    bt = np.arange(0, 140, 0.25)
    vol = 0.5 + 0.5 * np.sin(2 * np.pi * f * bt)
    m = (beat_t >= t0 - 5) & (beat_t <= t1 + 5)
    grid = spectrum.even_grid(t0, t1 - t0, 4.0)
    hr = spectrum.resample(beat_t[m] - rr[m] / 2000.0, 60000.0 / rr[m], grid)
    both = np.column_stack([spectrum.detrend(hr, "linear"),
                            spectrum.detrend(np.interp(grid, bt, vol), "linear")])
    w = spectrum.hann(grid.size)
    h, b = (w * np.exp(-2j * np.pi * f * (grid - t0))) @ both
    for _ in range(2):  # the second from the cache
        got = hr_breathing_phase(beat_t, rr, bt, vol, f, t0, t1)
        assert got.phase_deg == math.degrees(np.angle(h * np.conj(b)))
        assert got.hr_amplitude_bpm == float(2.0 / w.sum() * abs(h))
    if t0 == 64.0 - 2.0 ** -47:
        assert (grid - t0 != np.arange(grid.size) / 4.0).any()


def test_smoothness_is_variance_explained_by_the_breathing_sinusoid():
    f = 0.09
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 3, 400)
    beat_t, rr = _beats_from_hr(lambda t: 65 + 6 * math.sin(2 * math.pi * f * t)
                                + noise[int(t)], 300)
    s = smoothness(beat_t, rr, f, 10, 290)
    grid = np.arange(10, 290, 0.25)
    hr = CubicSpline(beat_t - rr / 2000, 60000 / rr)(grid)
    y = hr - np.polyval(np.polyfit(grid, hr, 1), grid)
    x = grid - 10
    cols = [np.sin(2 * np.pi * f * x), np.cos(2 * np.pi * f * x),
            np.sin(4 * np.pi * f * x), np.cos(4 * np.pi * f * x)]
    a = np.array(cols).T
    resid = y - a @ np.linalg.pinv(a) @ y
    assert s == pytest.approx(1 - resid @ resid / (y @ y), rel=1e-6)
    assert 0.3 < s < 0.95


def test_count_peaks():
    assert count_peaks(np.array([0, 1, 0, 5, 0, 0.2, 0])) == 2  # 0.2 is under 10 % of 5
    assert count_peaks(np.array([0, 1, 0, 5, 0, 0.6, 0])) == 3


def test_assessment_picks_the_rate_with_the_biggest_in_phase_swing():
    crit = []
    amp = {6.5: 5, 6.0: 7, 5.5: 10, 5.0: 8, 4.5: 6}
    lag = {6.5: -40, 6.0: -20, 5.5: -3, 5.0: 15, 4.5: 30}
    for rate in amp:
        f = rate / 60
        a, phi = amp[rate], math.radians(lag[rate])
        beat_t, rr = _beats_from_hr(
            lambda t, a=a, f=f, phi=phi: 65 + a * math.sin(2 * math.pi * f * t + phi), 130)
        bt = np.arange(0, 130, 0.05)
        vol = 0.5 + 0.5 * np.sin(2 * np.pi * f * bt)
        crit.append(resonance_criteria(beat_t, rr, bt, vol, rate, 5, 125))
    result = assess(crit)
    assert result.best_rate_bpm == 5.5
    c55 = crit[2]
    assert abs(c55.phase_deg) < 5 and c55.swing_bpm == pytest.approx(20, rel=0.1)
    assert c55.lf_peaks == 1 and c55.smoothness > 0.95
    assert abs(c55.lf_peak_hz - 5.5 / 60) < 0.005
    assert result.points[2] >= 4


@pytest.mark.parametrize("seconds", [240.0, 600.0])
def test_a_step_longer_than_one_periodogram_counts_whole(seconds):
    """A paced step longer than the 256 s periodogram (a 10-minute session) is judged whole: its
    LF power is the variance of the RR oscillation, computed here from the beats themselves."""
    f = 0.1
    bt, rr = _beats_from_hr(lambda t: 65.0 + 6.0 * math.sin(2 * math.pi * f * t), seconds + 30)
    grid = np.arange(0.0, seconds, 0.25)
    c = resonance_criteria(bt, rr, grid, np.sin(2 * np.pi * f * grid), 6.0, 0.0, seconds,
                           settle_s=0.0)
    m = (bt >= 20.0) & (bt < seconds - 20.0)  # away from the edges of the window
    assert c.lf_power_ms2 == pytest.approx(np.var(rr[m]), rel=0.1)
    assert c.lf_peak_hz == pytest.approx(f, abs=0.005) and c.t1 == seconds

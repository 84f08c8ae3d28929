"""Tests of biobreath.core.hrv: Kubios's published figures, known signals, exact counts, edge
cases."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import interpolate, signal

from biobreath.core import artifacts, hrv

DATA = Path(__file__).parent / "data"


def systole_rr() -> np.ndarray:
    """systole's rr.txt (ms); see tests/data/README.md."""
    return np.loadtxt(DATA / "systole_rr.txt", delimiter=",", skiprows=1)[:, 1]


def tachogram(duration_s: float, components: list[tuple[float, float]], *, mean_ms: float = 900.0,
              jitter_ms: float = 0.0, seed: int = 0) -> np.ndarray:
    """RR intervals (ms) whose value at each beat's time is ``mean + sum(A sin(2 pi f t))``.

    ``components`` holds (amplitude ms, frequency Hz) pairs; each interval is the curve taken at
    its own end time (solved by fixed-point iteration), plus optional Gaussian jitter.
    """
    rng = np.random.default_rng(seed)
    out: list[float] = []
    t = 0.0
    while t < duration_s:
        rr = mean_ms
        for _ in range(6):
            end = t + rr / 1000.0
            rr = mean_ms + sum(a * math.sin(2 * math.pi * f * end) for a, f in components)
        rr += rng.normal(0.0, jitter_ms) if jitter_ms else 0.0
        out.append(rr)
        t += rr / 1000.0
    return np.array(out)


def rel(ours: float, reference: float) -> float:
    return abs(ours - reference) / abs(reference)


# --------------------------------------------------------------------------- Kubios reference


class TestKubiosReference:
    """Kubios HRV 2.2's figures for systole's rr.txt, as published in systole's tests."""

    result = hrv.analyze(systole_rr())

    @pytest.mark.parametrize(("key", "kubios"), [
        ("mean_rr_ms", 883.24),
        ("sdnn_ms", 84.691),
        ("rmssd_ms", 45.545),
        ("pnn50_pct", 26.230),
        ("sd1_ms", 32.273),
        ("sd2_ms", 115.38),
    ])
    def test_time_domain_and_poincare_within_0_05_percent(self, key: str, kubios: float) -> None:
        assert rel(self.result.as_dict()[key], kubios) < 5e-4

    def test_nn50_exact(self) -> None:
        assert self.result.time.nn50 == 64

    @pytest.mark.parametrize(("key", "kubios"), [
        ("vlf_ms2", 4504.4),
        ("lf_ms2", 2393.9),
        ("hf_ms2", 566.30),
        ("total_power_ms2", 7465.0),
        ("vlf_pct", 60.341),
        ("lf_pct", 32.068),
        ("hf_pct", 7.5861),
        ("lf_nu", 80.860),
        ("hf_nu", 19.129),
        ("lf_hf", 4.227),
    ])
    def test_band_powers_within_3_percent(self, key: str, kubios: float) -> None:
        assert rel(self.result.as_dict()[key], kubios) < 0.03

    @pytest.mark.parametrize(("key", "kubios"), [
        ("vlf_peak_hz", 0.031250),
        ("lf_peak_hz", 0.066406),
        ("hf_peak_hz", 0.31250),
    ])
    def test_peaks_exactly_on_the_kubios_grid(self, key: str, kubios: float) -> None:
        peak = self.result.as_dict()[key]
        assert peak * 256 == round(kubios * 256)

    def test_linear_detrending_also_within_3_percent(self) -> None:
        f = hrv.frequency_domain(systole_rr(), detrend="linear")
        for ours, kubios in ((f.vlf_ms2, 4504.4), (f.lf_ms2, 2393.9), (f.hf_ms2, 566.30),
                             (f.total_power_ms2, 7465.0)):
            assert rel(ours, kubios) < 0.03

    def test_no_notes_for_a_216_s_record(self) -> None:
        assert self.result.notes == ()


# --------------------------------------------------------------------------- time domain


def test_pnn50_counts_differences_strictly_above_50_over_n_minus_1() -> None:
    td = hrv.time_domain([800.0, 850.0, 900.0, 820.0, 870.0])  # diffs 50, 50, -80, 50
    assert td.nn50 == 1
    assert td.pnn50_pct == pytest.approx(25.0)


def test_time_domain_by_hand() -> None:
    rr = np.array([1000.0, 500.0, 1000.0, 500.0, 1000.0, 600.0])
    td = hrv.time_domain(rr)
    d = np.diff(rr)
    assert td.mean_rr_ms == pytest.approx(rr.mean())
    # Mean HR is the mean of instantaneous rates, not 60000 / mean RR.
    assert td.mean_hr_bpm == pytest.approx(np.mean(60000.0 / rr))
    assert td.mean_hr_bpm != pytest.approx(60000.0 / rr.mean())
    assert td.sdnn_ms == pytest.approx(np.std(rr, ddof=1))
    assert td.rmssd_ms == pytest.approx(math.sqrt(np.mean(d**2)))
    assert td.sdsd_ms == pytest.approx(np.std(d, ddof=1))


def test_min_max_hr_average_five_beats() -> None:
    # One 400 ms beat (150 bpm) among 1000 ms beats (60 bpm): averaged over 5 beats it is 78 bpm.
    rr = np.full(20, 1000.0)
    rr[10] = 400.0
    td = hrv.time_domain(rr)
    assert td.max_hr_bpm == pytest.approx((4 * 60.0 + 150.0) / 5)
    assert td.min_hr_bpm == pytest.approx(60.0)
    assert hrv.time_domain(rr, hr_average_beats=1).max_hr_bpm == pytest.approx(150.0)


def test_triangular_index_uses_1_128_s_bins() -> None:
    # 7.8125 ms bins: 800, 801 and 804 fall in [796.875, 804.6875), 805 and 810 in the next.
    rr = np.array([800.0, 801.0, 804.0, 805.0, 810.0, 900.0])
    assert hrv.time_domain(rr).hrv_triangular_index == pytest.approx(6 / 3)
    assert hrv.time_domain(rr, histogram_bin_ms=20.0).hrv_triangular_index == pytest.approx(6 / 5)


# --------------------------------------------------------------------------- frequency domain


@pytest.mark.parametrize("method", ["welch", "lomb", "ar"])
def test_sinusoids_on_the_grid_give_their_frequency_and_power(method: str) -> None:
    # 30 ms at 25/256 Hz (LF) and 20 ms at 64/256 Hz (HF): powers A²/2 = 450 and 200 ms².
    rr = tachogram(600.0, [(30.0, 25 / 256), (20.0, 64 / 256)], jitter_ms=5.0)
    f = hrv.frequency_domain(rr, method=method)
    assert f.lf_peak_hz == 25 / 256
    assert f.hf_peak_hz == pytest.approx(64 / 256, abs=1 / 256)
    # 5 ms of white jitter adds a few ms² to each band.
    assert f.lf_ms2 == pytest.approx(450.0, rel=0.05)
    assert f.hf_ms2 == pytest.approx(200.0 + 10.0, rel=0.1)
    assert f.vlf_ms2 < 5.0


@pytest.mark.parametrize("method", ["welch", "lomb", "ar"])
def test_sinusoid_off_the_grid_peaks_within_one_bin(method: str) -> None:
    rr = tachogram(600.0, [(30.0, 0.1)], jitter_ms=5.0, seed=1)
    f = hrv.frequency_domain(rr, method=method)
    assert abs(f.lf_peak_hz - 0.1) <= 1 / 256
    assert f.lf_ms2 == pytest.approx(450.0, rel=0.05)


def test_lomb_uses_angular_frequencies() -> None:
    # Passing Hz where scipy expects rad/s would put a 0.2 Hz wave near 0.2 * 2 pi = 1.26 "Hz"
    # and leave almost nothing at 0.2 Hz.
    rr = tachogram(300.0, [(25.0, 0.2)], mean_ms=1000.0)
    f = hrv.frequency_domain(rr, method="lomb")
    assert f.hf_peak_hz == pytest.approx(0.2, abs=1 / 256)
    assert f.hf_ms2 == pytest.approx(25.0**2 / 2, rel=0.05)


def test_welch_matches_a_direct_fft_periodogram() -> None:
    rr = tachogram(200.0, [(30.0, 0.1), (15.0, 0.3)], jitter_ms=10.0, seed=2)
    f = hrv.frequency_domain(rr)
    # The same steps written out: spline at 4 Hz, mean removed, periodic Hann, 1024-point FFT.
    t = np.cumsum(rr) / 1000.0
    grid = np.arange(t[0], t[-1] + 1e-9, 0.25)
    x = interpolate.CubicSpline(t, rr)(grid)
    x -= x.mean()
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(x.size) / x.size)
    psd = np.abs(np.fft.rfft(x * w, 1024)) ** 2 / (4.0 * np.sum(w**2))
    psd[1:-1] *= 2
    freq = np.fft.rfftfreq(1024, 0.25)
    np.testing.assert_allclose(f.freq_hz, freq)
    np.testing.assert_allclose(f.psd_ms2_hz, psd, rtol=1e-9, atol=1e-9)
    lf = (freq >= 0.04) & (freq < 0.15)
    assert f.lf_ms2 == pytest.approx(psd[lf].sum() / 256)


@pytest.mark.parametrize("overlap", [0.5, 0.0])
def test_welch_averages_256_s_segments(overlap: float) -> None:
    rr = tachogram(1200.0, [(30.0, 0.1)], jitter_ms=10.0, seed=3)
    f = hrv.frequency_domain(rr, welch_overlap=overlap)
    t = np.cumsum(rr) / 1000.0
    grid = t[0] + np.arange(int((t[-1] - t[0]) * 4) + 1) / 4.0
    x = interpolate.CubicSpline(t, rr)(grid)
    # Each segment's own mean removed before its window: scipy's default detrend="constant".
    _, psd = signal.welch(x - x.mean(), fs=4.0, window="hann", nperseg=1024,
                          noverlap=int(1024 * overlap), nfft=1024, detrend="constant")
    np.testing.assert_allclose(f.psd_ms2_hz, psd, rtol=1e-9, atol=1e-12)
    assert f.parameters.welch_segment_detrend == "constant"
    # "none" keeps only the whole record's mean removal (the estimate before this convention).
    _, plain = signal.welch(x - x.mean(), fs=4.0, window="hann", nperseg=1024,
                            noverlap=int(1024 * overlap), nfft=1024, detrend=False)
    np.testing.assert_allclose(
        hrv.frequency_domain(rr, welch_overlap=overlap, welch_segment_detrend="none").psd_ms2_hz,
        plain, rtol=1e-9, atol=1e-12)


def sixty_minutes_with_drift(seed: int = 23) -> np.ndarray:
    """A 60-minute tachogram (ms): VLF, LF and HF waves, jitter, and a slow random drift of the
    heart rate (a random walk smoothed over about a minute, SD 7 ms), as in a resting hour."""
    rng = np.random.default_rng(seed)
    rr = tachogram(3600.0, [(25.0, 0.1), (15.0, 0.25), (20.0, 0.02)], jitter_ms=8.0, seed=seed)
    drift = np.convolve(np.cumsum(rng.normal(0.0, 0.3, rr.size)), np.ones(60) / 60, "same")
    return rr + drift - drift.mean()


def test_vlf_of_a_60_minute_record_agrees_with_scipy_welch_detrending_each_segment() -> None:
    # A peer with the same convention, written out here: scipy.signal.welch with its default
    # detrend="constant" (each 256 s segment's mean removed) on the same spline tachogram, summed
    # over 0 <= f < 0.04 Hz.
    rr = sixty_minutes_with_drift()
    f = hrv.frequency_domain(rr)
    t = np.cumsum(rr) / 1000.0
    grid = t[0] + np.arange(int((t[-1] - t[0]) * 4) + 1) / 4.0
    x = interpolate.CubicSpline(t, rr)(grid)
    freq, psd = signal.welch(x, fs=4.0, window="hann", nperseg=1024, noverlap=512, nfft=1024,
                             detrend="constant")
    band = (freq >= 0.0) & (freq < 0.04)
    assert f.vlf_ms2 == pytest.approx(psd[band].sum() * (freq[1] - freq[0]), rel=1e-9)
    # The 0 Hz bin is now a negligible part of VLF; with the record's mean removed only, the
    # segments' offsets from it filled that bin (11 % of VLF here) and VLF came out 20 % higher.
    assert psd[0] * (freq[1] - freq[0]) < 0.01 * f.vlf_ms2
    plain = hrv.frequency_domain(rr, welch_segment_detrend="none")
    assert plain.psd_ms2_hz[0] / 256 > 0.08 * plain.vlf_ms2
    assert plain.vlf_ms2 > 1.1 * f.vlf_ms2
    # LF and HF hardly move: the segment means only ever reached the lowest bins.
    assert plain.lf_ms2 == pytest.approx(f.lf_ms2, rel=0.01)
    assert plain.hf_ms2 == pytest.approx(f.hf_ms2, rel=1e-3)


def test_one_segment_records_are_unchanged_by_the_segment_detrending() -> None:
    # Up to 256 s the record is one segment, whose mean is the record's: Kubios's figures hold.
    rr = systole_rr()
    a = hrv.frequency_domain(rr)
    b = hrv.frequency_domain(rr, welch_segment_detrend="none")
    np.testing.assert_allclose(a.psd_ms2_hz, b.psd_ms2_hz, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError):
        hrv.frequency_domain(rr, welch_segment_detrend="linear")  # type: ignore[arg-type]


def test_smoothness_priors_removes_vlf_but_keeps_lf() -> None:
    # A 0.01 Hz wave of 60 ms on top of a 0.1 Hz wave of 30 ms.
    rr = tachogram(600.0, [(60.0, 0.01), (30.0, 0.1)], jitter_ms=5.0, seed=5)
    raw = hrv.frequency_domain(rr)
    detrended = hrv.frequency_domain(rr, detrend="smoothness_priors")
    assert raw.vlf_ms2 > 1000.0
    assert detrended.vlf_ms2 < 0.05 * raw.vlf_ms2
    assert detrended.lf_ms2 == pytest.approx(raw.lf_ms2, rel=0.1)
    assert detrended.parameters.detrend == "smoothness_priors"


def test_linear_detrending_removes_a_ramp() -> None:
    rr = tachogram(600.0, [(30.0, 0.1)], jitter_ms=5.0, seed=6)
    ramp = rr + np.linspace(0.0, 150.0, rr.size)
    # Each 256 s segment's mean is removed, but the ramp inside each (64 ms) stays in VLF.
    assert hrv.frequency_domain(ramp).vlf_ms2 > 50.0
    assert hrv.frequency_domain(ramp, detrend="linear").vlf_ms2 < 10.0


def test_band_powers_shares_and_normalised_units_equal_scipy_welch_integrated() -> None:
    rr = tachogram(600.0, [(30.0, 0.1), (20.0, 0.25)], jitter_ms=5.0)
    f = hrv.frequency_domain(rr)
    # Independently: scipy's Welch PSD of the tachogram resampled here (each segment's mean
    # removed), summed over each band's bins (lo <= f < hi) times the bin width; total power is
    # that sum over 0-0.4 Hz.
    t = np.cumsum(rr) / 1000.0
    grid = t[0] + np.arange(int((t[-1] - t[0]) * 4) + 1) / 4.0
    x = interpolate.CubicSpline(t, rr)(grid)
    freq, psd = signal.welch(x - x.mean(), fs=4.0, window="hann", nperseg=1024, noverlap=512,
                             nfft=1024, detrend="constant")

    def power(lo: float, hi: float) -> float:
        return float(psd[(freq >= lo) & (freq < hi)].sum() * (freq[1] - freq[0]))

    vlf, lf, hf, total = power(0.0, 0.04), power(0.04, 0.15), power(0.15, 0.4), power(0.0, 0.4)
    assert f.vlf_ms2 == pytest.approx(vlf, rel=1e-6)
    assert f.lf_ms2 == pytest.approx(lf, rel=1e-6)
    assert f.hf_ms2 == pytest.approx(hf, rel=1e-6)
    assert f.total_power_ms2 == pytest.approx(total, rel=1e-6)
    assert f.vlf_pct == pytest.approx(100.0 * vlf / total, rel=1e-6)
    assert f.lf_pct == pytest.approx(100.0 * lf / total, rel=1e-6)
    assert f.hf_pct == pytest.approx(100.0 * hf / total, rel=1e-6)
    assert f.lf_nu == pytest.approx(100.0 * lf / (total - vlf), rel=1e-6)
    assert f.hf_nu == pytest.approx(100.0 * hf / (total - vlf), rel=1e-6)
    assert f.lf_hf == pytest.approx(lf / hf, rel=1e-6)


def test_shares_and_normalised_units_of_known_sinusoid_powers() -> None:
    # 30 ms at 0.1 Hz (LF, A²/2 = 450 ms²) and 20 ms at 0.25 Hz (HF, 200 ms²); the 5 ms of white
    # jitter adds a few ms² to each band (about 5 to LF, 10 to HF).
    f = hrv.frequency_domain(tachogram(600.0, [(30.0, 0.1), (20.0, 0.25)], jitter_ms=5.0))
    assert f.lf_nu == pytest.approx(100.0 * 450.0 / 650.0, abs=2.0)
    assert f.hf_nu == pytest.approx(100.0 * 200.0 / 650.0, abs=2.0)
    assert f.lf_hf == pytest.approx(450.0 / 200.0, rel=0.1)
    assert f.lf_pct == pytest.approx(100.0 * 450.0 / 650.0, abs=2.0)
    assert f.hf_pct == pytest.approx(100.0 * 200.0 / 650.0, abs=2.0)
    assert f.vlf_pct < 1.0


def test_spectrum_arrays_are_read_only() -> None:
    f = hrv.frequency_domain(systole_rr())
    with pytest.raises(ValueError):
        f.psd_ms2_hz[0] = 1.0


# --------------------------------------------------------------------------- nonlinear


def brute_force_sampen(x: np.ndarray, m: int, r: float) -> float:
    n = x.size - m
    a = b = 0
    for i in range(n):
        for j in range(i + 1, n):
            if np.max(np.abs(x[i:i + m] - x[j:j + m])) <= r:
                b += 1
                if abs(x[i + m] - x[j + m]) <= r:
                    a += 1
    return -math.log(a / b)


@pytest.mark.parametrize("quantised", [False, True])
def test_sample_entropy_equals_the_pairwise_count(quantised: bool) -> None:
    rng = np.random.default_rng(7)
    rr = 850.0 + np.cumsum(rng.normal(0.0, 15.0, 300)) * 0.3 + rng.normal(0.0, 20.0, 300)
    if quantised:
        rr = np.round(rr / 8.0) * 8.0  # coarse steps: many ties, distances exactly at r
    r = 0.2 * np.std(rr, ddof=1)
    if quantised:
        r = 8.0  # matches at exactly r must count (<= r)
        result = hrv.nonlinear(rr, sampen_r=r / np.std(rr, ddof=1))
    else:
        result = hrv.nonlinear(rr)
    assert result.sampen == pytest.approx(brute_force_sampen(rr, 2, r), rel=1e-12)


def brute_force_counts(x: np.ndarray, m: int, r: float) -> tuple[int, int]:
    """(A, B) by testing every pair of the N - m templates, one template against the rest."""
    n = x.size - m
    t = np.lib.stride_tricks.sliding_window_view(x, m + 1)[:n]
    a = b = 0
    for i in range(n - 1):
        close = np.abs(t[i + 1:] - t[i]) <= r
        match_m = close[:, :m].all(axis=1)
        b += int(match_m.sum())
        a += int((match_m & close[:, m]).sum())
    return a, b


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("kind", ["continuous", "quantised", "coarse"])
@pytest.mark.parametrize(("block_words", "dense_limit"), [(1, 0), (16, 0), (16, 1500)])
def test_sample_entropy_counts_equal_brute_force_pair_counting(
        m: int, kind: str, block_words: int, dense_limit: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Several hundred beats: many 64-template words, runs crossing word and block boundaries.
    # "continuous" takes the path for many distinct values (and queries tested one by one), the
    # others the one for few (and queries grouped by value); one-word blocks check that blocks
    # join up; a dense limit above N compares all pairs at once instead. Histograms are turned
    # off: they are tested below.
    monkeypatch.setattr(hrv, "_BLOCK_WORDS", block_words)
    monkeypatch.setattr(hrv, "_DENSE_TEMPLATES", dense_limit)
    monkeypatch.setattr(hrv, "_HISTOGRAM_CELLS", 0)
    rng = np.random.default_rng(40 + m)
    rr = 850.0 + np.cumsum(rng.normal(0.0, 15.0, 700)) * 0.3 + rng.normal(0.0, 20.0, 700)
    if kind == "quantised":
        rr = np.round(rr * 1.024) / 1.024   # a chest strap's 1/1024 s
    elif kind == "coarse":
        rr = np.round(rr / 8.0) * 8.0       # distances exactly at r
    for r in (0.2 * float(np.std(rr, ddof=1)), 8.0, 0.0):
        a, b = hrv._template_matches(rr, m, r)
        assert (a, b) == brute_force_counts(rr, m, r)
        sampen = hrv.nonlinear(rr, sampen_m=m, sampen_r=r / float(np.std(rr, ddof=1))).sampen
        if a and b:
            assert sampen == -math.log(a / b)


def value_codes(x: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The codes and match bounds that hrv._template_matches hands to its counting methods."""
    values, codes = np.unique(x, return_inverse=True)
    lo, hi = hrv._match_bounds(values, r)
    return codes, lo, hi


def wandering_beats(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 850.0 + np.cumsum(rng.normal(0.0, 15.0, n)) * 0.3 + rng.normal(0.0, 20.0, n)


@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("kind", ["continuous", "quantised", "coarse", "tenths"])
def test_histogram_counts_equal_brute_force_pair_counting(m: int, kind: str) -> None:
    rr = wandering_beats(400, 50 + m)
    if kind == "quantised":
        rr = np.round(rr * 1.024) / 1.024   # a chest strap's 1/1024 s
    elif kind == "coarse":
        rr = np.round(rr / 8.0) * 8.0       # distances exactly at r = 8
    elif kind == "tenths":
        rr = np.round(rr / 4.0) / 10.0      # 0.1 steps: a - b rounds either side of r = 0.3
    for r in (0.2 * float(np.std(rr, ddof=1)), 8.0, 0.3, 0.0):
        codes, lo, hi = value_codes(rr, r)
        assert hrv._histogram_matches(codes, m, lo, hi) == brute_force_counts(rr, m, r)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=4, max_size=80), st.integers(1, 2),
       st.integers(0, 12), st.sampled_from([1.0, 0.1, 1000.0 / 1024.0]))
def test_histogram_counts_equal_brute_force_on_a_grid(steps: list[int], m: int, width: int,
                                                     step: float) -> None:
    # Values and r on one grid, so that many pairs lie exactly at (or a rounding away from) r.
    rr = 300.0 + np.array(steps) * step
    r = width * step / 2
    codes, lo, hi = value_codes(rr, r)
    assert hrv._histogram_matches(codes, m, lo, hi) == brute_force_counts(rr, m, r)


def strap_beats(rng: np.random.Generator, n: int = 20000) -> np.ndarray:
    """``n`` wandering RR intervals (ms) at a chest strap's 1/1024 s resolution."""
    t = np.arange(n) * 0.9
    rr = 900.0 + 60.0 * np.sin(2 * np.pi * t / 3000) + 25.0 * np.sin(2 * np.pi * 0.1 * t)
    return np.round((rr + rng.normal(0.0, 15.0, t.size)) * 1.024) / 1.024


@pytest.mark.parametrize("m", [1, 2])
def test_histogram_counts_equal_the_bit_masks_on_20000_quantised_beats(m: int) -> None:
    rr = strap_beats(np.random.default_rng(31))
    for r in (0.2 * float(np.std(rr, ddof=1)), 8 * 1000.0 / 1024.0):
        codes, lo, hi = value_codes(rr, r)
        assert hrv._histogram_matches(codes, m, lo, hi) == hrv._bitmask_matches(codes, m, lo, hi)


def off_the_grid(rr: np.ndarray, r: float, seed: int) -> np.ndarray:
    """``rr`` with one beat in 40 moved off its grid, as artifact correction interpolates them:
    half by a fraction of a millisecond, half by exactly +-r (onto a pair's match limit)."""
    rng = np.random.default_rng(seed)
    out = rr.copy()
    moved = rng.choice(rr.size, rr.size // 40, replace=False)
    half = moved.size // 2
    out[moved[:half]] += rng.uniform(-0.5, 0.5, half)
    out[moved[half:]] += r * rng.choice([-1.0, 1.0], moved.size - half)
    return out


@pytest.mark.parametrize("m", [1, 2])
@pytest.mark.parametrize("regular_count", [1, 3, 10 ** 9])
def test_histogram_counts_equal_brute_force_with_a_few_values_off_the_grid(
        m: int, regular_count: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # Values taken fewer than _REGULAR_COUNT times (here without _REGULAR_SHARE's higher bar)
    # stay out of the tables and are counted by bit masks: 1 tables every value, 10**9 none.
    monkeypatch.setattr(hrv, "_REGULAR_COUNT", regular_count)
    monkeypatch.setattr(hrv, "_REGULAR_SHARE", math.inf)
    grid = np.round(wandering_beats(500, 70 + m) * 1.024) / 1.024   # a chest strap's 1/1024 s
    for r in (0.2 * float(np.std(grid, ddof=1)), 8.0, 0.0):
        rr = off_the_grid(grid, r, 80 + m)
        codes, lo, hi = value_codes(rr, r)
        expected = brute_force_counts(rr, m, r)
        assert hrv._histogram_matches(codes, m, lo, hi) == expected
        assert hrv._template_matches(rr, m, r) == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=4, max_size=80),
       st.lists(st.tuples(st.integers(0, 79), st.sampled_from([-1.0, 1.0, 0.37, -0.5])),
                max_size=8),
       st.integers(1, 2), st.integers(0, 12), st.sampled_from([1.0, 0.1, 1000.0 / 1024.0]),
       st.integers(1, 4))
def test_histogram_counts_equal_brute_force_off_a_grid(steps: list[int],
                                                      moves: list[tuple[int, float]], m: int,
                                                      width: int, step: float,
                                                      regular_count: int) -> None:
    # A few values moved off the grid: by exactly +-r, or by a fraction of a step.
    rr = 300.0 + np.array(steps) * step
    r = width * step / 2
    for i, shift in moves:
        if i < rr.size:
            rr[i] += shift * (r if abs(shift) == 1.0 else step)
    codes, lo, hi = value_codes(rr, r)
    with (mock.patch.object(hrv, "_REGULAR_COUNT", regular_count),
          mock.patch.object(hrv, "_REGULAR_SHARE", math.inf)):
        assert hrv._histogram_matches(codes, m, lo, hi) == brute_force_counts(rr, m, r)


@pytest.mark.parametrize("m", [1, 2])
def test_histogram_counts_equal_the_bit_masks_on_20000_corrected_beats(m: int) -> None:
    # Artifact correction interpolates beats off the strap's grid: D grows from 396 to 550.
    rng = np.random.default_rng(32)
    rr = strap_beats(rng)
    bad = rng.choice(rr.size, 200, replace=False)
    rr[bad[:100]] *= 2.0   # missed beats
    rr[bad[100:]] *= 0.6   # ectopic ones
    nn = artifacts.correct(rr).rr_ms
    assert np.unique(nn).size > np.unique(rr).size + 100
    for r in (0.2 * float(np.std(nn, ddof=1)), 8 * 1000.0 / 1024.0):
        codes, lo, hi = value_codes(nn, r)
        assert hrv._histogram_matches(codes, m, lo, hi) == hrv._bitmask_matches(codes, m, lo, hi)


def test_template_matches_takes_the_cheaper_counting_method(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Few distinct values: histograms (they cost D steps whatever the pairs), also with a few
    # rare values off the grid (D 154 to 404, but these stay out of the tables); a value per beat
    # (too many for the tables), m = 3, or a thousand values on 20 000 beats (D x the boxes'
    # union, a hundred squared, costs far more than bit masks over short runs): bit masks.
    wandering = wandering_beats(20000, 60)
    r = 8.0
    beats = {"coarse": np.round(wandering / 8.0) * 8.0,
             "quantised": np.round(wandering * 1.024) / 1.024,
             "continuous": wandering_beats(20000, 61)}
    beats["corrected"] = off_the_grid(beats["coarse"], r, 62)
    expected = {}
    for kind, x in beats.items():
        codes, lo, hi = value_codes(x, r)
        for m in (1, 2, 3):
            expected[kind, m] = hrv._bitmask_matches(codes, m, lo, hi)

    histogram_matches = hrv._histogram_matches

    def refuse(*args: object) -> None:
        raise AssertionError("histograms were expected")

    def decline(*args: Any) -> None:
        assert histogram_matches(*args) is None, "bit masks were expected"

    with monkeypatch.context() as patch:
        patch.setattr(hrv, "_bitmask_matches", refuse)
        for kind in ("coarse", "corrected"):
            for m in (1, 2):
                assert hrv._template_matches(beats[kind], m, r) == expected[kind, m]
    monkeypatch.setattr(hrv, "_histogram_matches", decline)
    for kind, m in [("continuous", 1), ("continuous", 2), ("continuous", 3), ("coarse", 3),
                    ("quantised", 2)]:
        assert hrv._template_matches(beats[kind], m, r) == expected[kind, m]


def test_sample_entropy_of_five_hours_equals_a_kd_tree_count() -> None:
    # The counts the previous implementation (scipy's cKDTree, Chebyshev metric) gives on five
    # hours of beats quantised to 1/1024 s (20 000 templates, too many for the brute force):
    # runs of matching first values span many blocks of templates here.
    pytest.importorskip("scipy.spatial")
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(12)
    t = np.arange(20000) * 0.9
    rr = 900.0 + 60.0 * np.sin(2 * np.pi * t / 3000) + 25.0 * np.sin(2 * np.pi * 0.1 * t)
    rr = np.round((rr + rng.normal(0.0, 15.0, t.size)) * 1.024) / 1.024
    r = 0.2 * float(np.std(rr, ddof=1))
    templates = np.lib.stride_tricks.sliding_window_view(rr, 3)[:rr.size - 2]

    def tree_pairs(points: np.ndarray) -> int:
        tree = cKDTree(points)
        return round((tree.count_neighbors(tree, r, p=np.inf) - points.shape[0]) / 2)

    assert hrv._template_matches(rr, 2, r) == (tree_pairs(templates),
                                               tree_pairs(templates[:, :2].copy()))


def test_sample_entropy_of_white_noise_is_high_and_of_a_sine_low() -> None:
    rng = np.random.default_rng(8)
    noise = 800.0 + rng.normal(0.0, 50.0, 2000)
    sine = 800.0 + 50.0 * np.sin(2 * np.pi * np.arange(2000) / 20.0)
    assert hrv.nonlinear(noise).sampen == pytest.approx(2.2, abs=0.15)  # -ln P(match), r=0.2 SD
    assert hrv.nonlinear(sine).sampen < 0.3


def naive_dfa(x: np.ndarray, sizes: range) -> float:
    y = np.cumsum(x - x.mean())
    fluct = []
    for n in sizes:
        resid = []
        for k in range(y.size // n):
            box = y[k * n:(k + 1) * n]
            fit = np.polyval(np.polyfit(np.arange(n), box, 1), np.arange(n))
            resid.extend(box - fit)
        fluct.append(math.sqrt(np.mean(np.square(resid))))
    return float(np.polyfit(np.log(list(sizes)), np.log(fluct), 1)[0])


def test_dfa_matches_a_naive_loop_and_known_exponents() -> None:
    rng = np.random.default_rng(9)
    white = 800.0 + rng.normal(0.0, 30.0, 4096)
    brown = 800.0 + np.cumsum(rng.normal(0.0, 3.0, 4096))
    nl = hrv.nonlinear(white)
    assert nl.dfa_alpha1 == pytest.approx(naive_dfa(white, range(4, 17)), rel=1e-9)
    assert nl.dfa_alpha2 == pytest.approx(naive_dfa(white, range(16, 65)), rel=1e-9)
    assert nl.dfa_alpha1 == pytest.approx(0.5, abs=0.1)
    assert nl.dfa_alpha2 == pytest.approx(0.5, abs=0.1)
    assert hrv.nonlinear(brown).dfa_alpha2 == pytest.approx(1.5, abs=0.1)


def test_poincare_sd1_sd2_by_hand() -> None:
    # Poincaré points (RR_i, RR_i+1): (800, 820), (820, 790), (790, 850), (850, 830), (830, 810).
    # Rotated by 45 degrees, their coordinates are (y - x) / sqrt 2 and (x + y) / sqrt 2:
    # * y - x = 20, -30, 60, -20, -20: mean 2, squared deviations 324 + 1024 + 3364 + 484 + 484
    #   = 5680, sample variance 5680 / 4 = 1420, so SD1² = 1420 / 2 = 710 ms²;
    # * x + y = 1620, 1610, 1640, 1680, 1640: mean 1638, squared deviations 324 + 784 + 4 + 1764
    #   + 4 = 2880, sample variance 720, so SD2² = 720 / 2 = 360 ms².
    rr = np.array([800.0, 820.0, 790.0, 850.0, 830.0, 810.0])
    nl = hrv.nonlinear(rr)
    assert nl.sd1_ms == pytest.approx(math.sqrt(710.0))
    assert nl.sd2_ms == pytest.approx(math.sqrt(360.0))
    assert nl.sd2_sd1 == pytest.approx(math.sqrt(360.0 / 710.0))


def test_poincare_sd1_sd2_follow_brennan_2001() -> None:
    # Brennan et al. 2001: SD1² = Var(dRR) / 2 and SD2² = 2 SDNN² - Var(dRR) / 2. The first is
    # exact; the second holds up to the beat at each end that the N - 1 points leave out.
    rr = tachogram(3000.0, [(30.0, 0.1), (20.0, 0.25)], jitter_ms=10.0, seed=11)
    half_var_diff = 0.5 * np.var(np.diff(rr), ddof=1)
    nl = hrv.nonlinear(rr)
    assert nl.sd1_ms == pytest.approx(math.sqrt(half_var_diff), rel=1e-12)
    assert nl.sd2_ms == pytest.approx(math.sqrt(2.0 * np.var(rr, ddof=1) - half_var_diff),
                                      rel=1e-3)


# --------------------------------------------------------------------------- short and bad input


def test_too_few_beats_gives_nan_with_reasons_and_keeps_the_rest() -> None:
    result = hrv.analyze([800.0, 810.0, 790.0])
    d = result.as_dict()
    assert d["mean_rr_ms"] == pytest.approx(800.0)
    assert d["rmssd_ms"] == pytest.approx(math.sqrt((10.0**2 + 20.0**2) / 2))
    assert d["sd1_ms"] > 0
    for key in ("min_hr_bpm", "max_hr_bpm", "lf_ms2", "hf_peak_hz", "dfa_alpha1", "sampen"):
        assert math.isnan(d[key]), key
    notes = " | ".join(result.notes)
    for word in ("min_hr_bpm", "frequency domain", "dfa_alpha1", "dfa_alpha2", "sampen"):
        assert word in notes


def test_a_short_record_reports_hf_but_not_lf_or_vlf() -> None:
    rr = tachogram(30.0, [(20.0, 0.25)])  # 2 cycles of 0.04 Hz need 50 s
    f = hrv.frequency_domain(rr)
    assert math.isnan(f.vlf_ms2) and math.isnan(f.lf_ms2) and math.isnan(f.lf_nu)
    assert f.hf_ms2 > 0
    assert [n.split(":")[0] for n in f.notes] == ["vlf", "lf"]


def test_constant_intervals_give_zeros_and_reasons_for_the_undefined() -> None:
    result = hrv.analyze(np.full(400, 800.0))
    assert result.time.sdnn_ms == 0.0 and result.time.rmssd_ms == 0.0
    assert result.frequency.total_power_ms2 == 0.0
    assert math.isnan(result.frequency.lf_nu)
    assert result.nonlinear.sampen == 0.0  # every template matches at r = 0
    assert math.isnan(result.nonlinear.dfa_alpha1)
    notes = " | ".join(result.notes)
    assert "dfa_alpha1" in notes
    assert "zero spectral power" in notes


def test_empty_input_is_all_nan_not_an_error() -> None:
    result = hrv.analyze([])
    assert math.isnan(result.time.mean_rr_ms)
    assert result.notes


@pytest.mark.parametrize("bad", [
    [800.0, float("nan"), 810.0],
    [800.0, float("inf")],
    [800.0, 0.0, 810.0],
    [800.0, -5.0],
    [[800.0, 810.0]],
])
def test_unusable_intervals_raise_one_line_value_errors(bad: list) -> None:
    for fn in (hrv.analyze, hrv.time_domain, hrv.frequency_domain, hrv.nonlinear,
               hrv.sliding_windows):
        with pytest.raises(ValueError) as err:
            fn(bad)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs", [
    {"method": "fft"},
    {"detrend": "quadratic"},
    {"lf": (0.15, 0.04)},
    {"hf": (0.15, 3.0)},
    {"welch_overlap": 1.0},
    {"welch_window_s": 512.0},
    {"points_per_hz": 100, "resample_hz": 4.01},
])
def test_bad_spectral_settings_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        hrv.frequency_domain(systole_rr(), **kwargs)


# --------------------------------------------------------------------------- results and windows


def test_as_dict_has_exactly_the_metric_keys_and_the_parameters() -> None:
    result = hrv.analyze(systole_rr(), detrend="linear", sampen_r=0.15)
    d = result.as_dict()
    assert list(d) == [
        "mean_rr_ms", "mean_hr_bpm", "min_hr_bpm", "max_hr_bpm", "sdnn_ms", "rmssd_ms",
        "sdsd_ms", "nn50", "pnn50_pct", "hrv_triangular_index",
        "vlf_ms2", "lf_ms2", "hf_ms2", "total_power_ms2", "vlf_pct", "lf_pct", "hf_pct",
        "lf_nu", "hf_nu", "lf_hf", "vlf_peak_hz", "lf_peak_hz", "hf_peak_hz",
        "sd1_ms", "sd2_ms", "sd2_sd1", "dfa_alpha1", "dfa_alpha2", "sampen",
        "parameters",
    ]
    assert d["parameters"]["frequency_domain"]["detrend"] == "linear"
    assert d["parameters"]["nonlinear"]["sampen_r"] == 0.15
    assert d["parameters"]["time_domain"]["hr_average_beats"] == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.time.sdnn_ms = 0.0  # type: ignore[misc]


def test_sliding_windows_analyse_each_window_on_its_own() -> None:
    rr = tachogram(900.0, [(30.0, 0.1), (20.0, 0.25)], jitter_ms=10.0, seed=10)
    windows = hrv.sliding_windows(rr, 300.0, 60.0)
    total_s = rr.sum() / 1000.0
    assert len(windows) == math.floor((total_s - 300.0) / 60.0) + 1
    t = np.cumsum(rr) / 1000.0
    for w in (windows[0], windows[len(windows) // 2], windows[-1]):
        inside = rr[(t >= w.start_s) & (t < w.end_s)]
        assert w.n_beats == inside.size
        assert w.time == hrv.time_domain(inside)
        assert w.frequency == hrv.frequency_domain(inside)
        np.testing.assert_array_equal(w.frequency.psd_ms2_hz,
                                      hrv.frequency_domain(inside).psd_ms2_hz)
        assert w.nonlinear is None
    with_nl = hrv.sliding_windows(rr, 300.0, 300.0, include_nonlinear=True, dfa_long=(8, 32))
    first = rr[t < 300.0]
    assert with_nl[0].nonlinear == hrv.nonlinear(first, dfa_long=(8, 32))


def test_sliding_windows_shorter_recording_than_a_window_gives_none() -> None:
    assert hrv.sliding_windows(np.full(100, 800.0), 300.0, 30.0) == ()

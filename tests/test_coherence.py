import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline
from scipy.signal import periodogram

from biobreath.core.coherence import (
    CoherenceParams,
    coherence,
    coherence_series,
    peak_to_trough,
    score_from_ratio,
    score_level,
)


def _beats(rr_fn, seconds=120.0, start=0.0):
    """Beat times and RRs for an RR-as-function-of-time tachogram (ms)."""
    t, out_t, out_rr = start, [], []
    while t < start + seconds:
        rr = rr_fn(t)
        t += rr / 1000.0
        out_t.append(t)
        out_rr.append(rr)
    return np.array(out_t), np.array(out_rr)


def _reference_ratio(beat_t, rr, t_end, p=CoherenceParams()):
    """Straightforward re-computation with scipy's periodogram and explicit loops."""
    m = (beat_t >= t_end - p.window_s) & (beat_t <= t_end)
    grid = np.arange(max(t_end - p.window_s, beat_t[m][0]), min(t_end, beat_t[m][-1]),
                     1 / p.resample_hz)
    x = CubicSpline(beat_t[m], rr[m])(grid)
    f, pxx = periodogram(x, fs=p.resample_hz, window="hann", nfft=p.nfft, detrend="linear")
    df = f[1] - f[0]
    best = max((i for i in range(len(f)) if 0.04 <= f[i] <= 0.26), key=lambda i: pxx[i])
    total = sum(pxx[i] * df for i in range(len(f)) if 0.0033 <= f[i] <= 0.4)
    peak = sum(pxx[i] * df for i in range(len(f))
               if 0.0033 <= f[i] <= 0.4 and abs(f[i] - f[best]) <= 0.015 + 1e-12)
    return peak / (total - peak), f[best]


@pytest.mark.parametrize("freq", [0.075, 0.1, 0.2])
def test_matches_independent_computation(freq):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 15, 400)
    beat_t, rr = _beats(lambda t: 900 + 60 * math.sin(2 * math.pi * freq * t)
                        + noise[int(t) % 400])
    res = coherence(beat_t, rr, 110.0)
    ratio, peak_hz = _reference_ratio(beat_t, rr, 110.0)
    assert res.ratio == pytest.approx(ratio, rel=1e-9)
    assert res.peak_hz == pytest.approx(peak_hz)
    assert abs(res.peak_hz - freq) < 0.01
    assert res.score == pytest.approx(100 * ratio / (1 + ratio))


def test_rhythmic_scores_high_and_noise_scores_low():
    beat_t, rr = _beats(lambda t: 900 + 80 * math.sin(2 * math.pi * 0.1 * t))
    assert score_level(coherence(beat_t, rr, 100.0).score) == "high"
    rng = np.random.default_rng(3)
    rr_noise = 900 + rng.normal(0, 40, 200)
    t_noise = np.cumsum(rr_noise) / 1000
    assert score_level(coherence(t_noise, rr_noise, 100.0).score) == "low"


def test_too_few_beats_is_nan():
    assert math.isnan(coherence(np.array([1.0, 2.0]), np.array([900.0, 900.0]), 64.0).ratio)
    beat_t, rr = _beats(lambda t: 900.0, seconds=30)
    assert math.isnan(coherence(beat_t, rr, 64.0).score)


def test_series_steps_every_5_s():
    beat_t, rr = _beats(lambda t: 900 + 50 * math.sin(2 * math.pi * 0.1 * t), seconds=200)
    series = coherence_series(beat_t, rr)
    assert np.allclose(np.diff([r.t for r in series]), 5.0)


def test_score_mapping_and_levels():
    assert score_from_ratio(0.5) == pytest.approx(100 / 3)
    assert score_from_ratio(1.8) == pytest.approx(100 * 1.8 / 2.8)
    assert [score_level(s) for s in (10, 50, 80, math.nan)] == ["low", "medium", "high", "-"]


def test_peak_to_trough():
    t = np.arange(0, 10, 0.9)
    hr = 60 + 8 * np.sin(2 * np.pi * t / 10)
    assert peak_to_trough(t, hr, 0, 10) == pytest.approx(hr.max() - hr.min())
    assert math.isnan(peak_to_trough(t, hr, 20, 30))


def test_offline_series_matches_the_live_computation():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 20, 2000)
    beat_t, rr = _beats(lambda t: 900 + 70 * math.sin(2 * math.pi * 0.09 * t) + noise[int(t)],
                        seconds=1200)
    keep = ~((beat_t > 500) & (beat_t < 530))  # a 30 s dropout: those windows go the exact way
    beat_t, rr = beat_t[keep], rr[keep]
    series = coherence_series(beat_t, rr)
    live = [coherence(beat_t, rr, r.t) for r in series]
    assert [r.t for r in series] == [r.t for r in live]
    a = np.array([r.score for r in series])
    b = np.array([r.score for r in live])
    assert np.array_equal(np.isnan(a), np.isnan(b))
    ok = np.isfinite(a)
    assert np.max(np.abs(a[ok] - b[ok])) < 2.0  # score points (0-100)
    assert np.mean(np.abs(a[ok] - b[ok])) < 0.5


def test_beat_times_stepping_back_after_a_reconnection_do_not_break_the_spectrum():
    beat_t, rr = _beats(lambda t: 900 + 60 * math.sin(2 * math.pi * 0.1 * t))
    beat_t = beat_t.copy()
    beat_t[60] = beat_t[58]  # a new beat chain starting a little early
    res = coherence(beat_t, rr, 100.0)
    assert math.isfinite(res.score)
    assert len(coherence_series(beat_t, rr)) > 0

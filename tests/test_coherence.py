import math

import numpy as np
import pytest
from scipy.interpolate import CubicSpline
from scipy.signal import periodogram

from biobreath.core.coherence import (
    LOW_MEDIUM_SCORE,
    MEDIUM_HIGH_SCORE,
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


def _reference(beat_t, rr, t_end, p=CoherenceParams()):
    """Straightforward re-computation with scipy's periodogram and explicit loops.

    The peak is the highest bin of 0.04-0.26 Hz above the bin below it and not below the bin
    above it; powers integrate the PSD as constant over each bin ``[f - df/2, f + df/2)``, taking
    the part of each bin inside the band. Returns the coherence ratio, the peak frequency (Hz),
    the peak's power and the total power (ms²).
    """
    m = (beat_t >= t_end - p.window_s) & (beat_t <= t_end)
    grid = np.arange(max(t_end - p.window_s, beat_t[m][0]), min(t_end, beat_t[m][-1]),
                     1 / p.resample_hz)
    x = CubicSpline(beat_t[m], rr[m])(grid)
    f, pxx = periodogram(x, fs=p.resample_hz, window="hann", nfft=p.nfft, detrend="linear")
    df = f[1] - f[0]
    band = [i for i in range(len(f)) if 0.04 <= f[i] <= 0.26]
    peaks = [i for i in band if pxx[i] > pxx[i - 1] and pxx[i] >= pxx[i + 1]]
    best = max(peaks or band, key=lambda i: pxx[i])

    def power(lo, hi):
        return sum(pxx[i] * max(0.0, min(hi, f[i] + df / 2) - max(lo, f[i] - df / 2))
                   for i in range(len(f)))

    total = power(0.0033, 0.4)
    peak = power(f[best] - 0.015, f[best] + 0.015)
    return peak / (total - peak), f[best], peak, total


@pytest.mark.parametrize("freq", [0.075, 0.1, 0.2])
def test_matches_independent_computation(freq):
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 15, 400)
    beat_t, rr = _beats(lambda t: 900 + 60 * math.sin(2 * math.pi * freq * t)
                        + noise[int(t) % 400])
    res = coherence(beat_t, rr, 110.0)
    ratio, peak_hz, peak, total = _reference(beat_t, rr, 110.0)
    assert res.ratio == pytest.approx(ratio, rel=1e-9)
    assert res.peak_hz == pytest.approx(peak_hz)
    assert abs(res.peak_hz - freq) < 0.01
    # The score is the percentage of the total power that lies in the peak.
    assert res.score == pytest.approx(100 * peak / total, rel=1e-9)


def test_rhythmic_scores_high_and_noise_scores_low():
    # A pure 0.1 Hz sinusoid: nearly all the power is in its peak (the rest is the Hann window's
    # main lobe spilling past the 0.03 Hz peak window), so the score is high.
    beat_t, rr = _beats(lambda t: 900 + 80 * math.sin(2 * math.pi * 0.1 * t))
    rhythmic = coherence(beat_t, rr, 100.0)
    assert score_level(rhythmic.score) == "high"
    assert rhythmic.score > 80
    assert rhythmic.ratio == pytest.approx(_reference(beat_t, rr, 100.0)[0], rel=1e-9)
    # White noise spreads its power over the whole band: the peak holds a small share.
    rng = np.random.default_rng(3)
    rr_noise = 900 + rng.normal(0, 40, 200)
    t_noise = np.cumsum(rr_noise) / 1000
    noise = coherence(t_noise, rr_noise, 100.0)
    assert score_level(noise.score) == "low"
    assert noise.ratio == pytest.approx(_reference(t_noise, rr_noise, 100.0)[0], rel=1e-9)


def test_too_few_beats_is_nan():
    assert math.isnan(coherence(np.array([1.0, 2.0]), np.array([900.0, 900.0]), 64.0).ratio)
    beat_t, rr = _beats(lambda t: 900.0, seconds=30)
    assert math.isnan(coherence(beat_t, rr, 64.0).score)


def test_series_steps_every_5_s():
    beat_t, rr = _beats(lambda t: 900 + 50 * math.sin(2 * math.pi * 0.1 * t), seconds=200)
    series = coherence_series(beat_t, rr)
    assert np.allclose(np.diff([r.t for r in series]), 5.0)


def test_heartmath_ratio_thresholds_are_the_level_boundaries():
    # HeartMath's level-1 thresholds, coherence ratio 0.5 and 1.8, fall at scores 33.3 and 64.3.
    assert score_from_ratio(0.5) == pytest.approx(33.3, abs=0.05)
    assert score_from_ratio(1.8) == pytest.approx(64.3, abs=0.05)
    assert LOW_MEDIUM_SCORE == pytest.approx(33.3, abs=0.05)
    assert MEDIUM_HIGH_SCORE == pytest.approx(64.3, abs=0.05)
    levels = [score_level(score_from_ratio(r)) for r in (0.49, 0.51, 1.79, 1.81)]
    assert levels == ["low", "medium", "medium", "high"]
    assert [score_level(s) for s in (10, 50, 80, math.nan)] == ["low", "medium", "high", "-"]


def test_score_is_the_percent_of_power_in_the_peak():
    # ratio = peak / (total - peak); the score is 100 peak / total: a peak holding a third of the
    # power is ratio 0.5, one holding all of it scores 100.
    for peak, total in ((1.0, 3.0), (9.0, 14.0), (0.2, 10.0), (4.0, 4.001)):
        assert score_from_ratio(peak / (total - peak)) == pytest.approx(100 * peak / total)
    assert score_from_ratio(0.0) == 0.0


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

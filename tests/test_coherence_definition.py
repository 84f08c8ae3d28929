"""The coherence ratio as HeartMath defines it, checked against computations written out here.

* The peak window is exactly 0.030 Hz: on a sinusoid, our integral of the sampled spectrum is
  compared with the spectrum's integral in continuous frequency (the windowed signal's DTFT,
  integrated by ``scipy.integrate.quad``), and with a brute-force sum of the piecewise-constant
  spectrum over a fine frequency grid.
* The peak is the highest local maximum of 0.04-0.26 Hz, not the band-edge bin that tops the band
  on the flank of a strong VLF rhythm; the band's highest bin is taken, and flagged, only when no
  bin of the band is a local maximum.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, signal
from scipy.interpolate import CubicSpline

from biobreath.core.coherence import (
    LOW_MEDIUM_SCORE,
    MEDIUM_HIGH_SCORE,
    CoherenceParams,
    _measures,
    coherence,
    score_from_ratio,
)

P = CoherenceParams()
FS = P.resample_hz
DF = FS / P.nfft
FREQ = np.fft.rfftfreq(P.nfft, 1 / FS)


def beats(rr_fn, seconds: float = 120.0) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and RR (ms) of a tachogram RR(t) (ms), each interval taken at its start."""
    t, out_t, out_rr = 0.0, [], []
    while t < seconds:
        rr = rr_fn(t)
        t += rr / 1000.0
        out_t.append(t)
        out_rr.append(rr)
    return np.array(out_t), np.array(out_rr)


def detrended_window(beat_t: np.ndarray, rr: np.ndarray, t_end: float) -> np.ndarray:
    """The 64 s of tachogram the coherence analyses: scipy's cubic spline at 4 Hz over the span
    the beats cover, least-squares line removed (scipy's ``signal.detrend``)."""
    m = (beat_t >= t_end - P.window_s) & (beat_t <= t_end)
    grid = np.arange(max(t_end - P.window_s, beat_t[m][0]), min(t_end, beat_t[m][-1]), 1 / FS)
    return signal.detrend(CubicSpline(beat_t[m], rr[m])(grid), type="linear")


def continuous_psd(x: np.ndarray):
    """One-sided PSD (ms²/Hz) of the Hann-windowed ``x`` as a function of continuous frequency:
    2 |DTFT|² / (fs sum w²), the curve the 1024-point periodogram samples."""
    n = np.arange(x.size)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / x.size)
    xw = x * w
    scale = 2.0 / (FS * np.sum(w * w))

    def psd(f: float) -> float:
        z = np.sum(xw * np.exp(-2j * np.pi * f * n / FS))
        return float(scale * abs(z) ** 2)

    return psd


@pytest.mark.parametrize("f0", [0.08, 0.1, 0.117])
def test_the_peak_window_integrates_0_030_hz_of_the_spectrum(f0: float) -> None:
    # A breathing rhythm at f0 alone: its peak window's power, integrated in continuous frequency
    # over [f_peak - 0.015, f_peak + 0.015], against ours from the 1024-point spectrum.
    beat_t, rr = beats(lambda t: 900.0 + 60.0 * math.sin(2 * math.pi * f0 * t))
    result = coherence(beat_t, rr, 110.0)
    psd = continuous_psd(detrended_window(beat_t, rr, 110.0))
    lo, hi = result.peak_hz - 0.015, result.peak_hz + 0.015
    exact, _ = integrate.quad(psd, lo, hi, limit=200, epsabs=0.0, epsrel=1e-10)
    assert result.peak_power_ms2 == pytest.approx(exact, rel=0.01)
    # Whole bins within +-0.015 Hz of the peak (7 bins, 0.0273 Hz), the old reading, fall short.
    k = round(result.peak_hz / DF)
    seven = sum(psd(i * DF) for i in range(k - 3, k + 4)) * DF
    assert seven < 0.97 * exact
    total, _ = integrate.quad(psd, 0.0033, 0.4, points=[lo, hi], limit=400, epsrel=1e-10)
    assert result.total_power_ms2 == pytest.approx(total, rel=1e-4)
    # The spectrum's samples 1/256 Hz apart, read as constant over each bin, leave the steep
    # flanks of the peak 0.5 % short at the window's edges: a third of a score point here.
    assert result.score == pytest.approx(100.0 * exact / total, abs=0.6)


def test_the_window_sum_equals_a_brute_force_sum_on_a_fine_grid() -> None:
    # The piecewise-constant spectrum (each bin's value over [f - df/2, f + df/2)) summed over a
    # grid 10 000 times finer than the bins, inside the window and inside the total band.
    rng = np.random.default_rng(2)
    noise = rng.normal(0.0, 20.0, 200)
    beat_t, rr = beats(lambda t: 900.0 + 50.0 * math.sin(2 * math.pi * 0.095 * t)
                       + noise[int(t) % 200])
    result = coherence(beat_t, rr, 115.0)
    x = detrended_window(beat_t, rr, 115.0)
    _, pxx = signal.periodogram(x, fs=FS, window="hann", nfft=P.nfft, detrend=False)

    def fine_sum(lo: float, hi: float) -> float:
        step = DF / 10_000
        f = lo + (np.arange(round((hi - lo) / step)) + 0.5) * step
        return float(pxx[np.floor(f / DF + 0.5).astype(int)].sum() * step)

    assert result.peak_power_ms2 == pytest.approx(
        fine_sum(result.peak_hz - 0.015, result.peak_hz + 0.015), rel=1e-4)
    assert result.total_power_ms2 == pytest.approx(fine_sum(0.0033, 0.4), rel=1e-4)


def test_a_flat_spectrum_gives_exactly_the_widths() -> None:
    # Constant density c: the window holds c x 0.030, the total band c x (0.4 - 0.0033).
    psd = np.full((1, FREQ.size), 7.0)
    psd[0, 40] += 1.0  # a peak at 40 / 256 Hz so that the window has a centre
    out, at_edge = _measures(FREQ, psd, P)
    ratio, peak_hz, peak, total = out[0, :4]
    assert peak_hz == 40 * DF
    assert peak == pytest.approx(7.0 * 0.030 + 1.0 * DF, rel=1e-12)
    assert total == pytest.approx(7.0 * (0.4 - 0.0033) + 1.0 * DF, rel=1e-12)
    assert not at_edge[0]


def test_an_interior_peak_wins_over_the_band_edge_on_a_vlf_flank() -> None:
    # A strong 0.02 Hz rhythm and a weaker 0.1 Hz one: the highest bin of 0.04-0.26 Hz is the
    # band-edge bin (0.043 Hz), on the flank of the VLF peak; the peak is the 0.1 Hz maximum.
    beat_t, rr = beats(lambda t: 900.0 + 120.0 * math.sin(2 * math.pi * 0.02 * t)
                       + 15.0 * math.sin(2 * math.pi * 0.1 * t), seconds=130.0)
    x = detrended_window(beat_t, rr, 120.0)
    _, pxx = signal.periodogram(x, fs=FS, window="hann", nfft=P.nfft, detrend=False)
    band = np.flatnonzero((FREQ >= 0.04) & (FREQ <= 0.26))
    assert band[np.argmax(pxx[band])] == band[0]  # the precondition: the edge tops the band
    assert pxx[band[0] - 1] > pxx[band[0]]        # ... and is no peak of its own
    result = coherence(beat_t, rr, 120.0)
    assert abs(result.peak_hz - 0.1) <= DF
    assert not result.peak_at_edge
    # The local maximum found by hand is the same bin.
    interior = [i for i in band if pxx[i] > pxx[i - 1] and pxx[i] >= pxx[i + 1]]
    assert result.peak_hz == FREQ[max(interior, key=lambda i: pxx[i])]


def test_a_band_edge_bin_that_is_a_peak_of_its_own_counts() -> None:
    psd = np.full((1, FREQ.size), 1.0)
    first = int(np.flatnonzero(FREQ >= 0.04)[0])
    psd[0, first] = 9.0      # higher than both neighbours, the one below the band included
    psd[0, first + 20] = 5.0
    out, at_edge = _measures(FREQ, psd, P)
    assert out[0, 1] == FREQ[first] and not at_edge[0]


def test_without_any_local_maximum_the_band_edge_is_taken_and_flagged() -> None:
    # A density falling across the whole band (1/f): no bin of it is a local maximum.
    psd = (1.0 / np.maximum(FREQ, DF))[None, :]
    out, at_edge = _measures(FREQ, psd, P)
    assert out[0, 1] == FREQ[np.flatnonzero(FREQ >= 0.04)[0]]
    assert at_edge[0]
    # Rising across the band and on past it: the upper edge.
    out, at_edge = _measures(FREQ, (FREQ + 1.0)[None, :], P)
    assert out[0, 1] == FREQ[np.flatnonzero(FREQ <= 0.26)[-1]] and at_edge[0]


def test_the_score_thresholds_stay_at_heartmaths_ratios() -> None:
    assert score_from_ratio(0.5) == pytest.approx(LOW_MEDIUM_SCORE)
    assert score_from_ratio(1.8) == pytest.approx(MEDIUM_HIGH_SCORE)
    assert LOW_MEDIUM_SCORE == pytest.approx(33.3, abs=0.05)
    assert MEDIUM_HIGH_SCORE == pytest.approx(64.3, abs=0.05)

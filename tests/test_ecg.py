"""R-peak detection on synthetic single-lead ECG at 130 Hz, and matching with strap beats."""

import numpy as np
import pytest

from biobreath.core.ecg import RPeakStream, compare_with_rr, detect_r_peaks
from biobreath.sim.physiology import PhysiologyModel, SimParams

FS = 130.0
# A chest lead unlike the virtual strap's: narrower R, deep S, tall T (µV, s).
WAVES = ((-0.17, 90.0, 0.02), (-0.03, -120.0, 0.008), (0.0, 1000.0, 0.009),
         (0.028, -500.0, 0.01), (0.24, 450.0, 0.05))


def synthetic_ecg(beats: np.ndarray, duration_s: float, seed: int, *, noise_uv: float = 40.0,
                  wander_uv: float = 400.0, hum_uv: float = 60.0, scale=None):
    """Sample times (s) and ECG (µV) with electrode noise, breathing baseline wander, a slow
    drift, 50 Hz mains hum and bursts of muscle noise; the first sample at a random phase."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 1 / FS) + np.arange(0.0, duration_s, 1 / FS)
    ecg = np.zeros(t.size)
    for b in beats:
        near = np.abs(t - b) < 0.5
        d = t[near] - b
        amp = 1.0 if scale is None else scale(b)
        ecg[near] += amp * sum(a * np.exp(-0.5 * ((d - o) / w) ** 2) for o, a, w in WAVES)
    ecg += wander_uv * np.sin(2 * np.pi * 0.23 * t + 1.0) + 3.0 * wander_uv * np.sin(
        2 * np.pi * 0.011 * t)
    ecg += hum_uv * np.sin(2 * np.pi * 50.0 * t) + noise_uv * rng.standard_normal(t.size)
    bursts = (np.sin(2 * np.pi * 0.05 * t) > 0.9).astype(float)  # muscle noise now and then
    ecg += 3 * noise_uv * bursts * rng.standard_normal(t.size)
    return t, np.round(ecg)


def true_beats(duration_s: float, seed: int, hr: float = 66.0) -> np.ndarray:
    return PhysiologyModel(SimParams(seed=seed, mean_hr_bpm=hr)).advance(duration_s).beat_times


def inside(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The times of ``x`` within (lo, hi): beats at a record's very edges are not judged."""
    return x[(x > lo) & (x < hi)]


@pytest.mark.parametrize("seed,hr", [(1, 58.0), (2, 75.0), (3, 95.0)])
def test_r_peaks_of_a_noisy_ecg_are_at_the_true_beats(seed, hr):
    beats = true_beats(300.0, seed, hr)
    t, uv = synthetic_ecg(beats, 300.0, seed)
    peaks = detect_r_peaks(t, uv, FS)
    c = compare_with_rr(inside(peaks.t, 1, 299), inside(beats, 1, 299))
    assert c.unmatched_beats == 0 and c.unmatched_peaks == 0
    err = np.abs(c.diff_ms)
    assert np.median(err) < 2.0 and np.percentile(err, 99) < 6.0
    assert peaks.polarity == 1 and peaks.snr > 15
    assert np.median(peaks.amplitude_uv) == pytest.approx(1000.0, rel=0.15)


def test_inverted_lead_is_recognised():
    beats = true_beats(120.0, 4)
    t, uv = synthetic_ecg(beats, 120.0, 4)
    peaks = detect_r_peaks(t, -uv, FS)
    c = compare_with_rr(inside(peaks.t, 1, 119), inside(beats, 1, 119))
    assert peaks.polarity == -1 and c.unmatched_beats == 0 and c.unmatched_peaks == 0
    assert np.median(np.abs(c.diff_ms)) < 2.0
    # Forcing the wrong polarity lands on the S wave instead, about 28 ms later.
    wrong = compare_with_rr(detect_r_peaks(t, -uv, FS, polarity=1).t, inside(beats, 1, 119))
    assert np.median(wrong.diff_ms) == pytest.approx(-28.0, abs=4.0)


def test_a_sudden_drop_in_amplitude_costs_at_most_a_beat_or_two():
    beats = true_beats(120.0, 5)
    t, uv = synthetic_ecg(beats, 120.0, 5, noise_uv=10.0,
                          scale=lambda b: 1.0 if b < 60.0 else 0.25)
    c = compare_with_rr(inside(detect_r_peaks(t, uv, FS).t, 1, 119), inside(beats, 1, 119))
    assert c.unmatched_beats <= 2 and c.unmatched_peaks == 0


def test_noise_without_ecg_has_a_low_snr():
    rng = np.random.default_rng(6)
    t = np.arange(0.0, 60.0, 1 / FS)
    noise = detect_r_peaks(t, 50.0 * rng.standard_normal(t.size), FS)
    assert noise.snr < 8.0
    assert len(detect_r_peaks(t, np.zeros(t.size), FS)) == 0


def test_a_gap_in_the_samples_splits_the_record():
    beats = true_beats(120.0, 7)
    t, uv = synthetic_ecg(beats, 120.0, 7)
    keep = (t < 50.0) | (t > 60.0)  # ten seconds lost with a reconnection
    peaks = detect_r_peaks(t[keep], uv[keep], FS)
    assert not np.any((peaks.t > 50.0) & (peaks.t < 60.0))
    c = compare_with_rr(inside(peaks.t, 1, 119),
                        inside(beats[(beats < 49.7) | (beats > 60.3)], 1, 119))
    assert c.unmatched_beats == 0 and np.median(np.abs(c.diff_ms)) < 2.0


def test_compare_with_rr_pairs_mutual_nearest_beats():
    peaks = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    # 2.6: a spurious beat; peaks 3.0 and 5.0 are left unmatched
    beats = np.array([1.02, 2.03, 2.6, 4.01, 6.0])
    c = compare_with_rr(peaks, beats, max_diff_s=0.15)
    assert c.beat_index.tolist() == [0, 1, 3] and c.peak_index.tolist() == [0, 1, 3]
    np.testing.assert_allclose(c.diff_ms, [20.0, 30.0, 10.0])
    assert (c.unmatched_beats, c.unmatched_peaks) == (2, 2)
    assert compare_with_rr(np.empty(0), beats).unmatched_beats == 5


def test_stream_finds_the_same_peaks_as_the_whole_record_once_each():
    beats = true_beats(180.0, 8)
    t, uv = synthetic_ecg(beats, 180.0, 8)
    batch = detect_r_peaks(t, uv, FS)
    stream = RPeakStream()
    found = []
    for k in range(0, t.size, 73):  # frames as the Polar H10 sends them
        out = stream.push(float(t[k]), FS, uv[k:k + 73])
        assert np.all(out.t <= t[min(k + 72, t.size - 1)] - stream.lookahead_s)
        found.append(out.t)
    live = np.concatenate(found)
    assert np.all(np.diff(live) > 0.25)
    c = compare_with_rr(live, batch.t)
    assert c.unmatched_peaks == 0 and c.unmatched_beats <= 1  # the last beat may not be due yet
    assert np.abs(c.diff_ms).max() < 0.5
    assert stream._t.size <= stream.window_s * FS + 73  # bounded memory


def test_stream_restarts_after_a_gap_without_repeating_a_peak():
    beats = true_beats(60.0, 9)
    t, uv = synthetic_ecg(beats, 60.0, 9)
    stream = RPeakStream()
    found = [stream.push(float(t[k]), FS, uv[k:k + 73]).t for k in range(0, t.size, 73)
             if not 20.0 < t[k] < 30.0]
    live = np.concatenate(found)
    assert not np.any((live > 20.0) & (live < 30.0))
    c = compare_with_rr(inside(live, 1, 59), inside(beats[(beats < 19.0) | (beats > 32.5)], 1, 59))
    assert c.unmatched_beats <= 1 and np.median(np.abs(c.diff_ms)) < 2.0


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        detect_r_peaks(np.arange(10.0), np.zeros(9))
    with pytest.raises(ValueError):
        detect_r_peaks(np.arange(10.0), np.zeros(10), polarity=0)

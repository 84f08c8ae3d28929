import math

import numpy as np
import pytest
from scipy import interpolate, signal

from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.sim.physiology import (
    PhysiologyModel,
    SimParams,
    bilinear,
    breath_shape,
    iir_filter,
    ipfm_beats,
    resonance_filter,
    steady_state,
    vagal_filter,
)


def paced(rate_bpm: float, minutes: float = 5.0, free_minutes: float = 0.0) -> Pacer:
    steps = [{"minutes": free_minutes, "paced": False}] if free_minutes else []
    steps.append({"minutes": minutes, "rate_bpm": rate_bpm, "inhale_ratio": "4:6"})
    return Pacer(parse_protocol({"name": "test", "step": steps}))


def swing_and_phase(rate_bpm: float, params: SimParams) -> tuple[float, float]:
    """Median per-breath peak-to-trough of beat-to-beat HR (bpm), and the phase (deg) of the
    heart-rate curve against lung volume at the breathing rate (positive: HR leads)."""
    pacer = paced(rate_bpm)
    chunk = PhysiologyModel(params, pacer).advance(300.0)
    hr = 60000.0 / chunk.rr_ms
    breath = np.floor(pacer.phase(chunk.beat_times))
    swings = [np.ptp(hr[breath == k]) for k in np.unique(breath)[3:-1]]
    keep = chunk.t > 60.0
    ref = np.exp(-2j * np.pi * rate_bpm / 60.0 * chunk.t[keep])
    hr_c = np.sum((chunk.hr_bpm[keep] - chunk.hr_bpm[keep].mean()) * ref)
    vol_c = np.sum((chunk.respiration[keep] - chunk.respiration[keep].mean()) * ref)
    return float(np.median(swings)), math.degrees(np.angle(hr_c / vol_c))


def band_powers(beat_times: np.ndarray, rr_ms: np.ndarray) -> dict[str, float]:
    """VLF/LF/HF power (ms^2): cubic spline at 4 Hz, Welch 256 s windows."""
    t = np.arange(beat_times[0], beat_times[-1], 0.25)
    x = interpolate.CubicSpline(beat_times, rr_ms)(t)
    f, psd = signal.welch(x - x.mean(), fs=4.0, nperseg=1024)
    out = {}
    for name, lo, hi in (("vlf", 0.0033, 0.04), ("lf", 0.04, 0.15), ("hf", 0.15, 0.4)):
        m = (f >= lo) & (f < hi)
        out[name] = float(np.trapezoid(psd[m], f[m]))
    return out


def test_ipfm_constant_rate_fires_once_per_cycle_from_the_start_phase():
    t = np.linspace(0.0, 10.0, 101)
    beats, end = ipfm_beats(t, np.full(t.size, 60.0), phase0=0.25)
    np.testing.assert_allclose(beats, np.arange(0.75, 10.0, 1.0), atol=1e-12)
    assert end == pytest.approx(10.25)


def test_ipfm_solves_crossings_within_samples_exactly():
    # Heart rate rising linearly from 60 to 120 bpm over 10 s: phase = t + t^2 / 20 cycles.
    t = np.linspace(0.0, 10.0, 11)
    beats, _ = ipfm_beats(t, 60.0 + 6.0 * t)
    k = np.arange(1, 16)
    np.testing.assert_allclose(beats, -10.0 + np.sqrt(100.0 + 20.0 * k), atol=1e-12)


ANALOG = [([3.0, 0.0], [1.0, 0.4, 0.33]),          # band-pass, as the baroreflex loop
          ([2.5, 0.0], [1.0, 2.6, 0.32]),          # high-pass times low-pass, as the vagal path
          ([0.7], [1.0, 0.5]),                     # first-order low-pass
          ([1.0, 2.0, 3.0], [2.0, 1.0, 5.0, 0.5])]  # third order, a[0] != 1


@pytest.mark.parametrize("b, a", ANALOG)
def test_bilinear_equals_scipys(b, a):
    ours, theirs = bilinear(b, a, 10.0), signal.bilinear(b, a, 10.0)
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15)


def _poles(tau_s: float, order: int) -> tuple[np.ndarray, np.ndarray]:
    """``order`` poles at time constant ``tau_s`` on the 10 Hz grid, as the model's noise."""
    p = math.exp(-1.0 / (tau_s * 10.0))
    a = np.array([1.0])
    for _ in range(order):
        a = np.convolve(a, [1.0, -p])
    return np.r_[1.0, np.zeros(order)], a


# The model's kinds of filter on its grid: the baroreflex loop and the vagal path of a person
# resonating at 4.5/min, the slowest noise (60 s) and the phase wander (15 s, two poles); and a
# first-order high-pass, whose input also feeds the state (the first-order recursion's b1 term).
DIGITAL = [resonance_filter(SimParams(resonance_bpm=4.5)),
           vagal_filter(SimParams()), _poles(60.0, 1), _poles(15.0, 2),
           signal.bilinear([1.0, 0.0], [1.0, 2 * math.pi * 0.02], 10.0)]


@pytest.mark.parametrize("bz, az", DIGITAL)
def test_iir_filter_and_its_steady_state_equal_scipys_in_chunks(bz, az):
    zi = steady_state(bz, az)
    np.testing.assert_allclose(zi, signal.lfilter_zi(bz, az), rtol=1e-12, atol=1e-14)
    x = np.random.default_rng(1).standard_normal(5000)
    want, _ = signal.lfilter(bz, az, x, zi=0.3 * zi)
    # Chunks of every length the model meets: one sample, a second's 10, odd, long.
    got, state, start = [], 0.3 * zi, 0
    for n in (1, 10, 7, 0, 333, 1024, 3625):
        y, state = iir_filter(bz, az, x[start:start + n], state)
        got.append(y)
        start += n
    assert start == x.size
    np.testing.assert_allclose(np.concatenate(got), want, rtol=0, atol=1e-12)


def test_the_models_filters_are_scipys():
    params = SimParams(resonance_bpm=4.5)
    wl, wh = 2 * math.pi * params.vagal_cutoff_hz, 2 * math.pi * params.vagal_highpass_hz
    w0 = 2 * math.pi * 4.5 / 60
    bw = 2 * params.baroreflex_damping * w0
    want = [signal.bilinear([params.baroreflex_gain_bpm * bw, 0.0], [1.0, bw, w0 * w0], 10.0),
            signal.bilinear([params.vagal_gain_bpm * wl, 0.0], np.convolve([1, wh], [1, wl]), 10.0)]
    for ours, theirs in zip((resonance_filter(params), vagal_filter(params)), want):
        for x, y in zip(ours, theirs):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-15)


def test_breath_shape_is_empty_full_empty():
    v = breath_shape(np.array([0.0, 0.4, 0.999999]), 0.4)
    np.testing.assert_allclose(v, [0.0, 1.0, 0.0], atol=1e-9)


def test_heart_rate_swings_most_and_in_phase_at_resonance():
    params = SimParams(seed=1, fidelity=1.0)
    at_res, phase_res = swing_and_phase(5.5, params)
    at_9, _ = swing_and_phase(9.0, params)
    at_12, phase_12 = swing_and_phase(12.0, params)
    assert 14.0 <= at_res <= 25.0
    assert at_res > 1.5 * at_9 and at_9 > at_12
    assert at_12 < 10.0
    assert abs(phase_res) < 30.0
    # Above resonance the loop lags: breathing fast, heart rate falls behind lung volume.
    assert phase_12 < -30.0


ASSESSED_RATES = (4.5, 5.0, 5.5, 6.0, 6.5)


@pytest.mark.parametrize("resonance_bpm", ASSESSED_RATES)
def test_swing_lf_power_and_phase_mark_the_configured_resonance(resonance_bpm):
    # Noise off, steady paced breathing at each rate of the assessment: heart rate must swing
    # most and carry the most LF power at the configured resonance, and be in phase with
    # breathing there, leading below it and lagging above (Vaschillo et al. 2006; Lehrer 2013).
    params = SimParams(resonance_bpm=resonance_bpm, fidelity=1.0, mayer_sd_bpm=0.0,
                       vlf_sd_bpm=0.0, beat_noise_sd_bpm=0.0)
    swing, phase, lf = {}, {}, {}
    for rate in ASSESSED_RATES:
        swing[rate], phase[rate] = swing_and_phase(rate, params)
        chunk = PhysiologyModel(params, paced(rate, minutes=6.0)).advance(360.0)
        keep = chunk.beat_times > 60.0
        lf[rate] = band_powers(chunk.beat_times[keep], chunk.rr_ms[keep])["lf"]
    assert max(swing, key=swing.get) == resonance_bpm
    assert max(lf, key=lf.get) == resonance_bpm
    assert abs(phase[resonance_bpm]) < 5.0
    assert all(phase[r] > 10.0 for r in ASSESSED_RATES if r < resonance_bpm)
    assert all(phase[r] < -10.0 for r in ASSESSED_RATES if r > resonance_bpm)


def test_resonance_moves_with_the_parameter():
    at_45 = swing_and_phase(4.5, SimParams(seed=2, resonance_bpm=4.5, fidelity=1.0))[0]
    at_65 = swing_and_phase(6.5, SimParams(seed=2, resonance_bpm=4.5, fidelity=1.0))[0]
    assert at_45 > at_65


def test_same_seed_same_beats_different_seed_different_beats():
    a = PhysiologyModel(SimParams(seed=7), paced(6.0)).advance(120.0)
    b = PhysiologyModel(SimParams(seed=7), paced(6.0)).advance(120.0)
    c = PhysiologyModel(SimParams(seed=8), paced(6.0)).advance(120.0)
    np.testing.assert_array_equal(a.beat_times, b.beat_times)
    np.testing.assert_array_equal(a.hr_bpm, b.hr_bpm)
    assert a.beat_times.size != c.beat_times.size or not np.allclose(a.beat_times, c.beat_times)


def test_chunked_run_equals_one_long_run():
    pacer = paced(5.5, minutes=3.0, free_minutes=2.0)
    params = SimParams(seed=3, fidelity=0.7)
    whole = PhysiologyModel(params, pacer).advance(600.0)
    model = PhysiologyModel(params, pacer)
    ends = np.r_[0.0, 0.03, np.arange(0.05, 600.0, 7.37), 600.0]
    chunks = [model.advance(t) for t in ends]
    assert model.advance(599.0).t.size == 0  # going back in time simulates nothing
    for name in ("t", "respiration", "hr_bpm", "beat_times", "rr_ms"):
        joined = np.concatenate([getattr(c, name) for c in chunks])
        assert joined.shape == getattr(whole, name).shape, name
        np.testing.assert_allclose(joined, getattr(whole, name), rtol=0, atol=1e-8, err_msg=name)
    # Every beat belongs to the chunk whose grid interval holds it.
    for prev, c in zip(chunks, chunks[1:]):
        if c.t.size and prev.t.size:
            assert np.all((c.beat_times > prev.t[-1]) & (c.beat_times <= c.t[-1]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spontaneous_breathing_gives_resting_hrv(seed):
    chunk = PhysiologyModel(SimParams(seed=seed)).advance(360.0)
    keep = chunk.beat_times > 60.0
    bt, rr = chunk.beat_times[keep], chunk.rr_ms[keep]
    rmssd = float(np.sqrt(np.mean(np.diff(rr) ** 2)))
    assert 20.0 <= rmssd <= 80.0
    assert 55.0 <= 60000.0 / rr.mean() <= 80.0
    p = band_powers(bt, rr)
    assert p["lf"] > 100.0 and p["hf"] > 100.0 and p["vlf"] > 50.0
    assert 0.15 <= p["hf"] / (p["lf"] + p["hf"]) <= 0.85
    # Breath-to-breath variation: the breathing is not a pure tone.
    f, psd = signal.welch(chunk.respiration, fs=10.0, nperseg=1200)
    peak = f[np.argmax(psd)]
    assert 12.0 / 60 <= peak <= 15.0 / 60
    assert psd.max() / psd.sum() < 0.5


def test_full_fidelity_breathes_exactly_with_the_pacer():
    pacer = paced(6.0)
    chunk = PhysiologyModel(SimParams(seed=4, fidelity=1.0), pacer).advance(240.0)
    keep = chunk.t > 60.0
    np.testing.assert_allclose(chunk.respiration[keep], pacer.volume(chunk.t[keep]), atol=1e-6)


def test_fidelity_sets_how_closely_the_pacer_is_followed():
    pacer = paced(6.0, minutes=10.0)

    def corr(fidelity: float) -> float:
        chunk = PhysiologyModel(SimParams(seed=5, fidelity=fidelity), pacer).advance(600.0)
        keep = chunk.t > 60.0
        return float(np.corrcoef(chunk.respiration[keep], pacer.volume(chunk.t[keep]))[0, 1])

    c0, c5, c9 = corr(0.0), corr(0.5), corr(0.9)
    assert abs(c0) < 0.15
    assert c0 < c5 < c9
    assert 0.6 < c9 < 0.999


def test_free_steps_are_breathed_spontaneously_then_the_pace_is_taken_up():
    pacer = paced(6.0, minutes=4.0, free_minutes=4.0)
    chunk = PhysiologyModel(SimParams(seed=6, fidelity=0.9), pacer).advance(480.0)

    def peak_bpm(lo: float, hi: float) -> float:
        x = chunk.respiration[(chunk.t >= lo) & (chunk.t < hi)]
        f, psd = signal.welch(x - x.mean(), fs=10.0, nperseg=1200)
        return float(f[np.argmax(psd)] * 60.0)

    assert 11.0 <= peak_bpm(0.0, 240.0) <= 16.0
    assert peak_bpm(270.0, 480.0) == pytest.approx(6.0, abs=0.6)


@pytest.mark.parametrize("bad", [{"fidelity": 1.5}, {"missed_rate": -0.1}, {"fs_hz": 0.0},
                                 {"ectopic_rate": 0.3, "missed_rate": 0.3},
                                 {"latency_min_s": 0.1, "latency_max_s": 0.05}])
def test_bad_parameters_are_refused(bad):
    with pytest.raises(ValueError):
        SimParams(**bad)

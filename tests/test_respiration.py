"""Breathing from a synthetic chest accelerometer: signal, rate, phase, sign and following score."""

import numpy as np
import pytest

from biobreath.core.pacer import Pacer
from biobreath.core.respiration import (
    RespirationTracker,
    breathing_phase,
    breathing_rate,
    breathing_signal,
    following_score,
)
from biobreath.files.protocols import load_protocol
from biobreath.sim.physiology import PhysiologyModel, SimParams

FS = 25.0
GRAVITY_MG = np.array([-60.0, 120.0, 990.0])  # a slightly reclined chest


class Shifted:
    """The coherence pacer, ``by_s`` seconds ahead: a person following it is off the real one."""

    def __init__(self, pacer: Pacer, by_s: float) -> None:
        self.pacer, self.by_s = pacer, by_s

    def phase(self, t):
        return self.pacer.phase(np.asarray(t) + self.by_s)

    def volume(self, t):
        return self.pacer.volume(np.asarray(t) + self.by_s)


def person(duration_s: float, *, fidelity: float, seed: int, breath_mg, follows=None):
    """Sample times (s), acceleration (n, 3) mG, true lung volume, beat times (s), RR (ms)."""
    pacer = Pacer(load_protocol("coherence"))
    chunk = PhysiologyModel(SimParams(seed=seed, fidelity=fidelity),
                            pacer if follows is None else follows(pacer)).advance(duration_s)
    t = np.arange(0.0, duration_s, 1 / FS)
    volume = np.interp(t, chunk.t, chunk.respiration)
    rng = np.random.default_rng(seed)
    noise = 4.0 * rng.standard_normal((t.size, 3))
    mg = GRAVITY_MG + volume[:, None] * np.asarray(breath_mg) + noise
    return pacer, t, np.round(mg), volume, chunk.beat_times, chunk.rr_ms


def track(tracker: RespirationTracker, t, mg, beat_t=None, rr=None, frame: int = 36):
    """Feed 25 Hz frames (and the beats known by each frame's end); every estimate made."""
    out, done = [], 0
    for k in range(0, t.size, frame):
        if beat_t is not None:
            upto = int(np.searchsorted(beat_t, t[min(k + frame, t.size) - 1]))
            tracker.push_beats(beat_t[done:upto], rr[done:upto])
            done = upto
        est = tracker.push(float(t[k]), FS, mg[k:k + frame])
        if est is not None:
            out.append(est)
    return out


def test_signal_rate_and_phase_of_a_paced_breath():
    pacer, t, mg, volume, *_ = person(120.0, fidelity=1.0, seed=1, breath_mg=[25.0, 10.0, -40.0])
    sig = breathing_signal(mg, FS)
    assert np.corrcoef(sig.value, volume)[0, 1] > 0.97  # the gravity convention holds here
    assert sig.axis_share > 0.95 and sig.axis @ sig.gravity < 0
    assert breathing_rate(sig.value, FS) == pytest.approx(6.0, abs=0.15)
    phase = breathing_phase(sig.value)
    mid = (t > 30.0) & (t < 90.0)
    diff = np.angle(np.exp(2j * np.pi * (phase[mid] - np.mod(pacer.phase(t[mid]), 1.0))))
    # Within 0.1 breath of the pacer's phase (its 4 s in, 6 s out is not a sine).
    assert np.percentile(np.abs(diff) / (2 * np.pi), 95) < 0.1


def test_following_the_pacer_scores_high_and_ignoring_it_low():
    scores = {}
    for fidelity in (0.95, 0.5, 0.0):
        pacer, t, mg, _, bt, rr = person(240.0, fidelity=fidelity, seed=2,
                                         breath_mg=[25.0, 10.0, -40.0])
        est = track(RespirationTracker(pacer.volume), t, mg, bt, rr)
        late = [e.following.score for e in est if e.t > 120.0]
        scores[fidelity] = float(np.mean(late))
        if fidelity == 0.95:
            assert est[-1].rate_bpm == pytest.approx(6.0, abs=0.3)
        if fidelity == 0.0:
            assert 10.0 <= est[-1].rate_bpm <= 17.0  # spontaneous breathing
    assert scores[0.95] > 85.0 and scores[0.0] < 20.0
    assert scores[0.95] > scores[0.5] > scores[0.0]


def test_breathing_against_the_pacer_scores_zero_even_at_its_rate():
    # The person follows a pacer half a breath ahead: right rate, wrong half of the breath.
    pacer, t, mg, volume, bt, rr = person(240.0, fidelity=1.0, seed=3,
                                          breath_mg=[25.0, 10.0, -40.0],
                                          follows=lambda p: Shifted(p, 5.0))
    est = track(RespirationTracker(pacer.volume), t, mg, bt, rr)[-1]
    assert est.rate_bpm == pytest.approx(6.0, abs=0.3)
    assert est.following.score == 0.0 and est.following.r < -0.8
    assert abs(est.following.lag_s) == pytest.approx(5.0, abs=0.6)
    assert est.oriented and np.corrcoef(est.trace, np.interp(est.trace_t, t, volume))[0, 1] > 0.9


@pytest.mark.parametrize("breath_mg", [[-25.0, -10.0, 40.0], [0.0, 0.0, 30.0], [30.0, 0.0, 0.0]])
def test_heart_rate_settles_which_way_is_inhale(breath_mg):
    # Inhale along gravity, or across it: the gravity convention is wrong or undecided, and the
    # heart rate (rising on inhale) must set the sign.
    pacer, t, mg, volume, bt, rr = person(240.0, fidelity=0.9, seed=4, breath_mg=breath_mg)
    est = track(RespirationTracker(pacer.volume), t, mg, bt, rr)
    last = est[-1]
    assert last.oriented
    assert np.corrcoef(last.trace, np.interp(last.trace_t, t, volume))[0, 1] > 0.9
    assert last.following.score > 80.0
    first_oriented = next(e.t for e in est if e.oriented)
    assert first_oriented < 90.0


def test_without_heart_beats_the_gravity_convention_stands():
    pacer, t, mg, volume, *_ = person(120.0, fidelity=0.9, seed=5, breath_mg=[-25.0, -10.0, 40.0])
    last = track(RespirationTracker(pacer.volume), t, mg)[-1]
    assert not last.oriented
    assert np.corrcoef(last.trace, np.interp(last.trace_t, t, volume))[0, 1] < -0.9


def test_spontaneous_breathing_is_no_evidence_about_the_sign():
    pacer, t, mg, _, bt, rr = person(240.0, fidelity=0.0, seed=6, breath_mg=[25.0, 10.0, -40.0])
    tracker = RespirationTracker(pacer.volume)
    track(tracker, t, mg, bt, rr)
    assert not tracker.oriented and tracker.evidence == 0.0


def test_tracker_memory_is_bounded_and_a_gap_restarts_the_window():
    pacer, t, mg, *_ = person(300.0, fidelity=0.9, seed=7, breath_mg=[25.0, 10.0, -40.0])
    tracker = RespirationTracker(pacer.volume, window_s=60.0, min_s=20.0)
    keep = (t < 150.0) | (t > 160.0)
    est = track(tracker, t[keep], mg[keep])
    assert tracker._t.size <= 60.0 * FS + 36
    after = [e for e in est if e.t > 160.0]
    # Nothing for the first 20 s after the gap, then estimates on the new window only.
    assert min(e.t for e in after) >= 180.0 and after[0].trace_t[0] > 160.0
    assert all(e.trace.size <= 60.0 * FS + 36 for e in est)


def test_free_breathing_has_no_following_score():
    rng = np.random.default_rng(8)
    t = np.arange(0.0, 60.0, 1 / FS)
    breath = np.sin(2 * np.pi * 0.2 * t) + 0.1 * rng.standard_normal(1500)
    assert following_score(breath, np.full(1500, np.nan), FS) is None
    vol = np.full(1500, np.nan)
    vol[-400:] = 0.5  # paced for the last 16 s only
    assert following_score(breath, vol, FS, min_s=20.0) is None
    with pytest.raises(ValueError):
        following_score(breath, vol[:10], FS)

"""Beat timing against truth: a synthetic strap with latency, clock drift and lost notifications."""

from dataclasses import dataclass

import numpy as np
import pytest

from biobreath.core.timing import BeatTimer, TimingParams
from biobreath.sim.emulator import StrapEmulator
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.straps.gatt import parse_heart_rate_measurement


@dataclass(frozen=True)
class Note:
    arrival: float
    rr_ticks: list[int]
    truth: np.ndarray  # true times (s) of the beats closing rr_ticks
    after_loss: bool   # beats were lost just before this notification


def synthetic_strap(duration_s: float, seed: int, *, hr_bpm: float = 66.0, drift_ppm: float = 20.0,
                    latency_s: tuple[float, float] = (0.010, 0.060), drop: float = 0.0,
                    period_s: float = 1.0, hrv: float = 0.06) -> list[Note]:
    """A strap that sends every ``period_s`` of its own clock the RRs since the last send.

    Heart rate: ``hr_bpm`` modulated by a 0.1 Hz breathing swing of ``hrv`` (fraction) and AR(1)
    noise. RRs are differences of the strap's tick counter (its crystal ``drift_ppm`` fast).
    Notifications arrive after a uniform latency, in order, and ``drop`` of them are lost.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * hr_bpm / 60 * 1.5) + 10
    base = 60.0 / hr_bpm
    noise = np.zeros(n)
    for k in range(1, n):
        noise[k] = 0.8 * noise[k - 1] + rng.normal(0.0, 0.02)
    rr = base * (1 + hrv * np.sin(2 * np.pi * np.arange(n) * base / 10.0) + noise)
    beats = 3.0 + np.cumsum(rr)
    beats = beats[beats < duration_s]
    k_drift = 1 + drift_ppm * 1e-6
    ticks = np.floor(beats * k_drift * 1024 + rng.random()).astype(np.int64)
    n_sends = int(duration_s / period_s) + 2
    sends = (rng.random() * period_s + period_s * np.arange(1, n_sends)) / k_drift
    notes, last_arrival, j, lost = [], -np.inf, 1, False
    for s in sends:
        if s > beats[-1]:
            break
        idx = []
        while j < beats.size and beats[j] <= s:
            idx.append(j)
            j += 1
        if rng.random() < drop:
            lost = lost or bool(idx)
            continue
        arrival = max(s + rng.uniform(*latency_s), last_arrival)
        last_arrival = arrival
        notes.append(Note(arrival, [int(ticks[i] - ticks[i - 1]) for i in idx], beats[idx],
                          lost and bool(idx)))
        lost = lost and not idx
    return notes


def run(notes: list[Note], params: TimingParams = TimingParams()):
    """Placement errors (s), arrival of each beat (s), placed times and gap flags per note."""
    timer = BeatTimer(params)
    errors, arrivals, times, flags = [], [], [], []
    for n in notes:
        placed = timer.place(n.arrival, n.rr_ticks)
        errors.extend(placed.times - n.truth)
        arrivals.extend([n.arrival] * len(n.rr_ticks))
        times.extend(placed.times)
        flags.append(placed.gap_before)
    return np.asarray(errors), np.asarray(arrivals), np.asarray(times), flags


def summary(errors: np.ndarray) -> tuple[float, float]:
    a = np.abs(errors)
    return float(np.median(a)), float(np.percentile(a, 99))


@pytest.mark.parametrize("hr_bpm", [52, 60, 75, 110])
def test_error_with_jitter_and_drift(hr_bpm):
    """10-60 ms latency, 20 ppm drift: after the first 30 s, beats land within tens of ms."""
    err, arrival, times, _ = run(synthetic_strap(900, seed=hr_bpm, hr_bpm=hr_bpm))
    med, p99 = summary(err[arrival > 30])
    assert med < 0.035 and p99 < 0.100, (med, p99)
    # A beat is never placed after the notification that reported it arrived.
    assert np.all(times < arrival)


def test_error_with_lost_notifications():
    errs, flagged, losses = [], 0, 0
    for seed in range(3):
        notes = synthetic_strap(900, seed=seed, drop=0.01)
        err, arrival, _, flags = run(notes)
        errs.append(err[arrival > 30])
        losses += sum(n.after_loss for n in notes)
        flagged += sum(f and n.after_loss for f, n in zip(flags, notes))
    med, p99 = summary(np.concatenate(errs))
    assert med < 0.035 and p99 < 0.300, (med, p99)
    assert losses > 10 and flagged >= 0.8 * losses


def test_drift_is_followed_over_two_hours():
    err, arrival, _, _ = run(synthetic_strap(7200, seed=7, drift_ppm=40.0))
    first, last = err[(arrival > 60) & (arrival < 900)], err[arrival > 6300]
    # 40 ppm is 290 ms over two hours: a chain that did not follow would be far off by the end.
    assert abs(np.median(last) - np.median(first)) < 0.02
    assert summary(last)[1] < 0.1


def test_times_increase_and_start_within_a_period():
    notes = synthetic_strap(120, seed=3)
    err, _, times, _ = run(notes)
    assert np.all(np.diff(times) > 0)
    # Before the bounds have narrowed, a beat is still within one notification period.
    assert np.all(np.abs(err) < 1.0)


def test_nonsense_rr_reanchors():
    notes = synthetic_strap(300, seed=11)
    k = 100
    bad = notes[k]
    truth = bad.truth[-1:] if bad.truth.size else np.array([bad.arrival])
    notes[k] = Note(bad.arrival, [65535], truth, False)
    timer = BeatTimer()
    flags, late = [], []
    for i, n in enumerate(notes):
        placed = timer.place(n.arrival, n.rr_ticks)
        flags.append(placed.gap_before)
        if i > k + 30:
            late.extend(placed.times - n.truth)
    assert any(flags[k:k + 3])
    assert summary(np.asarray(late))[1] < 0.1


def test_reset_starts_a_new_chain():
    notes = synthetic_strap(60, seed=5)
    timer = BeatTimer()
    for n in notes[:30]:
        timer.place(n.arrival, n.rr_ticks)
    timer.reset()
    # After a reset the chain restarts from the next notification, whatever came before.
    later = [n for n in notes[40:] if n.rr_ticks]
    placed = timer.place(later[0].arrival, later[0].rr_ticks)
    assert not placed.gap_before
    assert np.all(np.abs(placed.times - later[0].truth) < 1.0)
    assert timer.place(later[0].arrival + 1.0, []).times.size == 0


def test_against_the_strap_emulator():
    """The simulated strap of the project (its own latency, drift and rounding), 10 minutes."""
    params = SimParams(seed=4, dropout_rate=0.01)
    model, strap, timer = PhysiologyModel(params), StrapEmulator(params), BeatTimer()
    errors, arrivals = [], []
    for t_end in range(10, 610, 10):
        for n in strap.encode(model.advance(t_end)):
            rr = parse_heart_rate_measurement(n.payload).rr_ticks
            errors.extend(timer.place(n.arrival_s, rr).times - np.asarray(n.true_beat_times))
            arrivals.extend([n.arrival_s] * len(rr))
    err, arrival = np.asarray(errors), np.asarray(arrivals)
    med, p99 = summary(err[arrival > 30])
    assert med < 0.035 and p99 < 0.200, (med, p99)

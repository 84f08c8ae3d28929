import asyncio
import dataclasses
from collections import Counter

import numpy as np
import pytest

from biobreath.clock import ScaledClock
from biobreath.events import Battery, Beat, HeartRate, Link, LinkState
from biobreath.sim.emulator import StrapEmulator, StrapNotification
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.straps.gatt import parse_heart_rate_measurement


def run_strap(params: SimParams, seconds: float, chunk_s: float = 10.0, contact=None):
    """Model beats (s), true RRs (ms), notifications and the emulator after ``seconds``."""
    model = PhysiologyModel(params)
    strap = StrapEmulator(params, contact=contact)
    beats, rrs, notes = [], [], []
    for t_end in np.r_[np.arange(chunk_s, seconds, chunk_s), seconds]:
        chunk = model.advance(float(t_end))
        beats.append(chunk.beat_times)
        rrs.append(chunk.rr_ms)
        notes += strap.encode(chunk)
    return np.concatenate(beats), np.concatenate(rrs), notes, strap


def rr_ticks(notes: list[StrapNotification]) -> np.ndarray:
    return np.array([r for n in notes for r in parse_heart_rate_measurement(n.payload).rr_ticks])


def nearest(sorted_times: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The element of ``sorted_times`` nearest each of ``t``."""
    hi = np.searchsorted(sorted_times, t).clip(1, sorted_times.size - 1)
    lo = hi - 1
    return np.where(np.abs(sorted_times[lo] - t) <= np.abs(sorted_times[hi] - t),
                    sorted_times[lo], sorted_times[hi])


def test_clean_strap_sends_every_true_rr_rounded_to_ticks_once_a_second():
    beats, rr_ms, notes, strap = run_strap(SimParams(seed=1), 600.0, contact=True)
    parsed = [parse_heart_rate_measurement(n.payload) for n in notes]
    assert all(0 <= len(m.rr_ticks) <= 3 for m in parsed)
    assert all(m.contact is True for m in parsed)
    true_times = np.array([t for n in notes for t in n.true_beat_times])
    # The first beat only starts the strap's chain; every later beat is sent, in order, once.
    np.testing.assert_array_equal(true_times, beats[1:true_times.size + 1])
    assert true_times.size >= beats.size - 3
    ticks = rr_ticks(notes)
    expected = rr_ms[1:ticks.size + 1] * 1.024 * (1 + 20e-6)
    assert np.max(np.abs(ticks - expected)) <= 1.0
    # Beat timestamps are rounded, not intervals: rounding never accumulates.
    assert abs(ticks.sum() - (true_times[-1] - beats[0]) * 1024 * (1 + 20e-6)) <= 1.0
    # The strap's heart rate is its recent mean.
    hr = np.array([m.heart_rate_bpm for m in parsed[5:]])
    true_hr = 60000.0 / np.interp([n.sent_s for n in notes[5:]], beats[1:], rr_ms[1:])
    assert np.median(np.abs(hr - true_hr)) < 4.0


def test_notification_timing_follows_the_strap_clock_and_the_link():
    beats, _, notes, _ = run_strap(SimParams(seed=2), 300.0)
    sent = np.array([n.sent_s for n in notes])
    arrival = np.array([n.arrival_s for n in notes])
    np.testing.assert_allclose(np.diff(sent), 1.0 / (1 + 20e-6), rtol=1e-9)
    lat = arrival - sent
    assert lat.min() >= 0.010 and lat.max() <= 0.060 + 1e-9
    assert np.all(np.diff(arrival) >= 0)
    for n in notes:
        assert all(t <= n.sent_s for t in n.true_beat_times)
    assert sent[-1] > 300.0 - 3.0  # notifications are decided within about a beat


def test_same_seed_same_notifications_whatever_the_chunking():
    params = SimParams(seed=3, ectopic_rate=0.03, missed_rate=0.02, extra_rate=0.02,
                       rr_noise_ms=8.0, dropout_rate=0.05)
    _, _, a, sa = run_strap(params, 900.0, chunk_s=10.0)
    _, _, b, sb = run_strap(params, 900.0, chunk_s=3.3)
    _, _, c, _ = run_strap(dataclasses.replace(params, seed=4), 900.0)
    n = min(len(a), len(b))
    assert n > 850
    assert [x.payload for x in a[:n]] == [x.payload for x in b[:n]]
    np.testing.assert_allclose([x.arrival_s for x in a[:n]], [x.arrival_s for x in b[:n]],
                               atol=1e-9)
    assert [x.kind for x in sa.injected] == [x.kind for x in sb.injected][:len(sa.injected)]
    assert [x.payload for x in a[:n]] != [x.payload for x in c[:n]]


def test_artifacts_are_injected_at_the_asked_rates_and_recorded_where_they_are():
    params = SimParams(seed=5, ectopic_rate=0.03, missed_rate=0.02, extra_rate=0.02)
    beats, rr_ms, notes, strap = run_strap(params, 3600.0)
    kinds = Counter(a.kind for a in strap.injected)
    n = beats.size
    assert kinds["ectopic"] / n == pytest.approx(0.03, rel=0.3)
    assert kinds["missed"] / n == pytest.approx(0.02, rel=0.3)
    assert kinds["extra"] / n == pytest.approx(0.02, rel=0.3)
    ticks = rr_ticks(notes)
    assert strap.rr_lost == 0 and ticks.size + strap.rr_pending == strap.rr_produced
    starts = np.array([a.index for a in strap.injected])
    checked = 0
    for a in strap.injected:
        # Judge each artifact against clean neighbours only.
        if np.sum(np.abs(starts - a.index) <= 2) > 1 or not 2 <= a.index < ticks.size - 2:
            continue
        checked += 1
        r, before, after = ticks[a.index], ticks[a.index - 1], ticks[a.index + 1]
        if a.kind == "missed":
            assert r > 1.6 * before
        elif a.kind == "ectopic":
            assert r < 0.9 * before and after > 1.1 * before
        else:
            assert r < 0.8 * before and after < 0.8 * before
            assert r + after == pytest.approx(before, rel=0.15)
    assert checked > 150
    # Each RR's closing event is the recorded one.
    true_times = np.array([t for n in notes for t in n.true_beat_times])
    for a in strap.injected[:50]:
        assert true_times[a.index] == a.t


def test_rr_noise_has_the_asked_sd():
    beats, rr_ms, notes, _ = run_strap(SimParams(seed=6, rr_noise_ms=10.0), 1200.0)
    ticks = rr_ticks(notes)
    err_ms = ticks / 1.024 / (1 + 20e-6) - rr_ms[1:ticks.size + 1]
    assert np.std(err_ms) == pytest.approx(10.0, rel=0.15)
    assert abs(np.mean(err_ms)) < 1.0


def test_dropouts_lose_notifications_and_their_rrs():
    params = SimParams(seed=7, dropout_rate=0.1)
    beats, _, notes, strap = run_strap(params, 1800.0)
    total = strap.notifications_sent + strap.notifications_dropped
    assert strap.notifications_sent == len(notes)
    assert strap.notifications_dropped / total == pytest.approx(0.1, abs=0.03)
    gaps = np.round(np.diff([n.sent_s for n in notes])).astype(int) - 1
    assert gaps.sum() == strap.notifications_dropped
    delivered = sum(len(n.true_beat_times) for n in notes)
    assert delivered + strap.rr_lost + strap.rr_pending == strap.rr_produced == beats.size - 1


def test_simulated_strap_events_carry_the_true_beats_through_the_byte_path():
    params = SimParams(seed=0)
    src = SimulatedStrap(params)
    assert src.devices[0].address == "sim:0" and src.devices[0].name == "Simulated strap"
    meta = src.metadata()
    assert meta["kind"] == "sim"
    assert all(meta[f.name] == getattr(params, f.name) for f in dataclasses.fields(SimParams))

    async def collect():
        clock = ScaledClock(None)
        events, truth = [], []
        agen = src.events(clock)
        async for ev in agen:
            events.append(ev)
            if src.last_chunk is not None and (not truth or truth[-1] is not src.last_chunk):
                truth.append(src.last_chunk)
            if clock.now() >= 600.0:
                break
        await agen.aclose()
        return events, np.concatenate([c.beat_times for c in truth])

    events, true_beats = asyncio.run(collect())
    assert isinstance(events[0], Link) and events[0].state is LinkState.CONNECTED
    assert isinstance(events[1], Battery) and events[1].percent == params.battery_percent
    assert all(ev.device == "sim:0" for ev in events)
    assert any(isinstance(ev, HeartRate) for ev in events)
    beats = [ev for ev in events if isinstance(ev, Beat)]
    t = np.array([b.t for b in beats])
    # After the chain has settled, each Beat is one true beat, placed within 100 ms of it.
    settled = t[t > 60.0]
    assert np.abs(settled - nearest(true_beats, settled)).max() < 0.1
    window = true_beats[(true_beats > 61.0) & (true_beats < t[-1] - 1.0)]
    assert np.abs(window - nearest(t, window)).max() < 0.1
    assert np.unique(nearest(true_beats, settled)).size == settled.size
    assert all(b.t <= b.arrival for b in beats)

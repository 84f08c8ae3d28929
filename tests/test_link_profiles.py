"""The strap emulator's link profiles, through the real decoder path, against the true beats.

Each profile delivers the same strap's notifications differently (``biobreath.sim.emulator.
LINK_PROFILES``); the beat times rebuilt by :class:`biobreath.straps.decoder.HeartRateDecoder`
must stay within physical bounds of the truth, and the chain may break only where RRs were lost.

The bounds: the emulated Bluetooth latency is 10-60 ms and the timer assumes 5 ms, so beats sit
about 5 ms late, plus what the quickest notification waited for its connection event (up to a
third of 30 ms; up to half of 400 ms, of which the timer assumes half); against each other
(the error less its median) they move no more than 40 ms, whatever the delivery.
"""

from dataclasses import dataclass

import numpy as np
import pytest

from biobreath.core.coherence import coherence
from biobreath.core.live import LiveCore
from biobreath.events import Beat
from biobreath.sim.emulator import LINK_PROFILES, LinkProfile, StrapEmulator, link_profile
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.sim.virtual_time import collect_events, loop_clock, run_virtual
from biobreath.sources.factory import open_strap_source
from biobreath.straps.decoder import HeartRateDecoder
from biobreath.straps.gatt import parse_heart_rate_measurement

DURATION_S = 1200.0
SCORED_FROM_S = 300.0  # the schedule has long settled by then

# |median error| bound (s) per profile: the constant part of the delay nobody can see.
CONSTANT_S = {"ideal": 0.015, "stalls": 0.015, "extra-rr": 0.015, "burst": 0.015,
              "interval-30": 0.025, "interval-400": 0.100 + 0.015}


@dataclass
class Run:
    notes: list          # StrapNotification, in arrival order
    beats: list[list[Beat]]  # the Beat events of each
    degraded: list[bool]     # the timer's verdict after each
    decoder: HeartRateDecoder


def run(link: str | LinkProfile, seed: int = 0, hr: float = 66.0, duration: float = DURATION_S,
        dropout: float = 0.0, chunk_s: float = 10.0) -> Run:
    params = SimParams(seed=seed, mean_hr_bpm=hr, dropout_rate=dropout)
    model, strap = PhysiologyModel(params), StrapEmulator(params, link=link)
    decoder = HeartRateDecoder("strap")
    notes, beats, degraded = [], [], []
    t = 0.0
    while t < duration:
        t = min(t + chunk_s, duration)
        for n in strap.encode(model.advance(t)):
            notes.append(n)
            beats.append([e for e in decoder.decode(n.arrival_s, n.payload)
                          if isinstance(e, Beat)])
            degraded.append(decoder.timer.degraded)
    return Run(notes, beats, degraded, decoder)


def scored_errors(r: Run) -> np.ndarray:
    """Errors (s) of the beats placed after SCORED_FROM_S (bogus RRs, which close no true beat,
    left out)."""
    out = []
    for n, bs in zip(r.notes, r.beats):
        if n.arrival_s < SCORED_FROM_S:
            continue
        out.extend(b.t - t for b, t in zip(bs, n.true_beat_times) if np.isfinite(t))
    return np.asarray(out)


# --- the profiles themselves ---------------------------------------------------------------------

def test_profiles_by_name():
    assert {"ideal", "interval-400", "stalls", "extra-rr", "burst"} <= set(LINK_PROFILES)
    assert all(p.name == name and p.description for name, p in LINK_PROFILES.items())
    assert link_profile("burst") is LINK_PROFILES["burst"]
    with pytest.raises(ValueError, match="unknown link profile"):
        link_profile("carrier-pigeon")
    with pytest.raises(ValueError):
        LinkProfile("bad", "negative stall", stall_s=(0.5, 0.1))


def test_ideal_is_the_emulator_as_it_was():
    a, b = run("ideal", duration=300.0), run(LinkProfile("x", "default"), duration=300.0)
    params = SimParams(seed=0)
    model, strap = PhysiologyModel(params), StrapEmulator(params)
    plain = [n for t in range(10, 310, 10) for n in strap.encode(model.advance(float(t)))]
    assert [(n.arrival_s, n.payload) for n in a.notes] == [(n.arrival_s, n.payload) for n in plain]
    assert [(n.arrival_s, n.payload) for n in b.notes] == [(n.arrival_s, n.payload) for n in plain]


@pytest.mark.parametrize("link", ["interval-400", "stalls", "extra-rr", "burst"])
def test_same_seed_same_delivery_whatever_the_chunking(link):
    a, b = run(link, duration=400.0), run(link, duration=400.0, chunk_s=3.3)
    n = min(len(a.notes), len(b.notes))
    assert n > 380
    assert [(x.arrival_s, x.payload, x.rr_lost_before) for x in a.notes[:n]] == \
        [(x.arrival_s, x.payload, x.rr_lost_before) for x in b.notes[:n]]
    c = run(link, seed=1, duration=400.0)
    assert [x.arrival_s for x in a.notes[:n]] != [x.arrival_s for x in c.notes[:n]]


def test_delivery_patterns_do_what_they_say():
    sent = {}
    for name in ("interval-400", "stalls", "burst", "extra-rr"):
        r = run(name, duration=900.0)
        arrival = np.array([n.arrival_s for n in r.notes])
        delay = arrival - np.array([n.sent_s for n in r.notes])
        assert np.all(np.diff(arrival) >= 0) and np.all(delay >= 0.010)  # in order, never early
        sent[name] = (r, arrival, delay)
    _, arrival, delay = sent["interval-400"]
    phase = np.mod(arrival + 0.2, 0.4) - 0.2  # arrivals at 400 ms connection events + <= 5 ms
    assert np.all((phase >= -1e-9) & (phase <= 0.005 + 1e-9)) and delay.max() <= 0.466
    _, _, delay = sent["stalls"]
    held = delay > 0.2
    assert 0.01 < held.mean() < 0.04 and delay.max() <= 1.07
    _, arrival, delay = sent["burst"]
    frozen = delay > 0.5
    # Roughly once a minute, everything sent in 2-5 s arrives at once.
    releases = np.unique(arrival[frozen])
    assert 8 <= releases.size <= 25 and delay.max() <= 5.1
    for t in releases:
        assert np.sum(arrival == t) >= 2
    r, _, _ = sent["extra-rr"]
    for i, n in enumerate(r.notes):
        bogus = [rr for rr, t in zip(parse_heart_rate_measurement(n.payload).rr_ticks,
                                     n.true_beat_times) if np.isnan(t)]
        assert (len(bogus) == 1 and 40 <= bogus[0] <= 60) if (i + 1) % 20 == 0 else not bogus


# --- beat times through the decoder --------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("link", sorted(LINK_PROFILES))
def test_beat_times_within_physical_bounds_and_no_gap(link, seed):
    r = run(link, seed=seed, hr=(58.0, 72.0)[seed])
    err = scored_errors(r)
    assert err.size > 800
    median = float(np.median(err))
    assert abs(median) <= CONSTANT_S[link], median
    # Against each other beats move no more than 40 ms, on every link.
    assert np.percentile(np.abs(err - median), 99) <= 0.040
    if link != "interval-400":
        assert np.percentile(np.abs(err), 99) <= 0.040
    # Nothing was lost, so the chain never broke; and no beat after its notification arrived.
    assert not any(b.gap for bs in r.beats for b in bs)
    assert all(b.t <= b.arrival for bs in r.beats for b in bs)
    assert r.decoder.timer.quality.reanchors == 0


def test_a_connection_interval_is_learned():
    r = run("interval-400", duration=600.0)
    q = r.decoder.timer.quality
    assert q.connection_interval_s == pytest.approx(0.4, rel=0.05)
    assert q.event_wait_ms == pytest.approx(200.0, rel=0.1)
    for link in ("ideal", "interval-30", "burst"):
        q = run(link, duration=600.0).decoder.timer.quality
        assert np.isnan(q.connection_interval_s) and q.event_wait_ms == 0.0


def test_timing_is_degraded_while_delivery_is_frozen_only():
    r = run("burst")
    settled = np.array([n.arrival_s > SCORED_FROM_S for n in r.notes])
    late = np.array([n.arrival_s - n.sent_s > 1.2 for n in r.notes])
    degraded = np.array(r.degraded)
    # Beat times themselves are fine throughout (above); the display lags during a freeze.
    assert degraded[settled & late].all()
    assert not degraded[settled & (np.array([n.arrival_s - n.sent_s for n in r.notes]) < 0.1)
                        ].any()
    assert not run("stalls").degraded[-1]


def test_bogus_rrs_make_no_beat_and_move_nothing():
    r = run("extra-rr", duration=600.0)
    clean = run("ideal", duration=600.0)
    n_bogus = sum(int(np.isnan(np.asarray(n.true_beat_times, float)).sum()) for n in r.notes)
    assert n_bogus >= 25
    # A bogus RR makes no beat (its raw bytes stay in the notification, so in the recording),
    # and every true beat lands where it lands without the bogus RRs.
    assert all(b.rr_ticks >= 256 for bs in r.beats for b in bs)
    real = [b.t for bs in r.beats for b in bs]
    plain = [b.t for bs in clean.beats for b in bs]
    assert len(real) == len(plain)
    np.testing.assert_allclose(real, plain, atol=1e-9)


# --- real gaps ----------------------------------------------------------------------------------

@pytest.mark.parametrize("link", ["ideal", "stalls", "burst"])
def test_reanchors_only_where_rrs_were_lost(link):
    r = run(link, seed=3, dropout=0.01)
    lost = [i for i, n in enumerate(r.notes) if n.rr_lost_before]
    gaps = [i for i, bs in enumerate(r.beats) if any(b.gap for b in bs)]
    assert len(lost) >= 5
    # Each loss is flagged once, at the first notification after it that has beats or, since a
    # lost notification looks late until the next one arrives, at the next one.
    for i in gaps:
        assert any(0 <= i - j <= 2 for j in lost), (i, lost)
    for j in lost:
        if r.notes[j].arrival_s > 60:
            assert any(0 <= i - j <= 2 for i in gaps), (j, gaps)
    # A flagged beat is the first of its notification's.
    assert all(not b.gap for bs in r.beats for b in bs[1:])


# --- the live core across a break -----------------------------------------------------------------

def _series(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.cumsum(np.full(n, 0.9))
    return 900 + 60 * np.sin(2 * np.pi * 0.1 * t) + rng.normal(0, 5, n)


def test_live_core_never_spans_a_break():
    """Coherence restarts with the new segment and stays NaN until that covers 48 s, rather than
    splicing the two; then it is the new segment's alone. RMSSD too, once its window is."""
    before, after = _series(200, 1), _series(200, 2) + 150.0  # a different level after
    core = LiveCore()
    t = 0.0
    for x in before:
        t += x / 1000
        core.add_beat(t, float(x))
    assert np.isfinite(core.state.coherence.score)
    core.flush()
    t += 3.0  # RRs lost in the gap
    t_after, seen = [], []
    for x in after:
        t += x / 1000
        t_after.append(t)
        core.add_beat(t, float(x))
        seen.append(core.state.coherence)
    assert core.segment_start == pytest.approx(t_after[0])
    fresh = [c for c in seen if c.t > t_after[0]]
    assert fresh and all(np.isnan(c.score) for c in fresh if c.t < t_after[0] + 48.0)
    assert any(np.isfinite(c.score) for c in fresh)
    # What the core says is the new segment's coherence and RMSSD, computed on it alone (bar
    # the two beats still waiting to be judged).
    ref = LiveCore()
    for tt, x in zip(t_after[:-2], after[:-2]):
        ref.add_beat(tt, float(x))
    ref.flush()
    c = core.state.coherence
    expected = coherence(np.array(t_after), after, c.t, core.params.coherence)
    assert c.score == pytest.approx(expected.score, rel=1e-9)
    assert core.state.rmssd_ms == pytest.approx(ref.state.rmssd_ms, rel=1e-9)


def test_rmssd_keeps_pairs_on_both_sides_of_a_break_but_none_across():
    rr_a = [800.0, 810.0, 790.0, 820.0, 805.0]
    rr_b = [1000.0, 1010.0, 995.0, 1005.0, 1000.0]
    core = LiveCore()
    t = 0.0
    for x in rr_a:
        t += x / 1000
        core.add_beat(t, x)
    core.flush()
    t += 2.0
    for x in rr_b:
        t += x / 1000
        core.add_beat(t, x)
    core.flush()
    d = np.r_[np.diff(rr_a), np.diff(rr_b)]  # the 805 -> 1000 step is no successive difference
    assert core.state.rmssd_ms == pytest.approx(float(np.sqrt(np.mean(d * d))))


# --- through bleak and the virtual Polar H10 ----------------------------------------------------

@pytest.mark.parametrize("link", list(LINK_PROFILES))
def test_every_delivery_pattern_through_bleak_and_the_virtual_strap(link):
    """The same patterns on the virtual H10's notifications, through bumble, bleak and the real
    Bluetooth source: every true beat arrives, placed near its true time, with no broken chain."""
    async def main():
        source = open_strap_source(virtual=True, sim_params=SimParams(seed=2, link=link))
        events = await collect_events(source, loop_clock(), 150.0)
        return events, source.peripherals[0]

    events, strap = run_virtual(main())
    beats = [e for e in events if isinstance(e, Beat)]
    truth = np.array([t for n in strap.delivered for t in n.true_beat_times if np.isfinite(t)])
    assert len(beats) > 120 and len(truth) >= len(beats)
    err = np.array([b.t for b in beats]) - truth[:len(beats)]
    late = np.array([b.arrival for b in beats]) > 60.0
    # Within the unseen delay a slow connection interval adds (interval-400: up to 0.2 s).
    assert np.median(np.abs(err[late])) < 0.15 and np.percentile(np.abs(err[late]), 99) < 0.3
    assert not any(b.gap for b in beats if b.arrival > 30.0)

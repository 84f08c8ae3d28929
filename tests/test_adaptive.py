"""Adaptive resonance pacing: the rule, its direction on synthetic heart rates, convergence on the
simulated person, its speed limit, and replay; and pace changes made by hand."""

import asyncio
import math

import numpy as np
import pytest

from biobreath.clock import ScaledClock
from biobreath.core.adaptive import AdaptivePacing, AdaptiveSettings, next_rate
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.errors import ProtocolError
from biobreath.events import PacerChange
from biobreath.files.recording import read_events, read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.replay import ReplaySource


def _adaptive(rate, minutes=10):
    return parse_protocol({"step": [{"minutes": minutes, "rate_bpm": rate, "inhale_ratio": "4:6",
                                     "adaptive": True}]})


def test_next_rate_moves_toward_the_target_within_limits():
    s = AdaptiveSettings()
    # Half a minute since the last change: at most 0.05 breaths/min.
    assert next_rate(6.0, 5.0, 6.0, 0.5, s) == pytest.approx(5.95)
    assert next_rate(6.0, 6.02, 6.0, 0.5, s) == pytest.approx(6.02)
    # Never further than 0.5 from the centre, never more than a minute's worth at once.
    assert next_rate(5.6, 4.0, 5.5, 1.0, s) == pytest.approx(5.5)
    assert next_rate(5.05, 4.0, 5.5, 3.0, s) == pytest.approx(5.0)


def _beats(hr, t_end):
    """Beat times (s) and RRs (ms) of a heart whose rate (bpm) is ``hr(t)``: each interval one
    period of the rate at its middle (the midpoint rule)."""
    t = [0.0]
    while t[-1] < t_end:
        t.append(t[-1] + 60.0 / hr(t[-1] + 30.0 / hr(t[-1])))
    t = np.array(t)
    return t[1:], np.diff(t) * 1000.0


@pytest.mark.parametrize("lead_s, direction", [(1.0, +1), (-1.0, -1)])
def test_heart_rate_leading_breathing_moves_the_pace_up(lead_s, direction):
    """Heart rate that runs ``lead_s`` ahead of the breathing curve means the resonance is
    faster (Vaschillo et al. 2002); lagging, slower."""
    pacer = Pacer(_adaptive(5.5))
    bt, rr = _beats(lambda t: 66 + 12 * (pacer.volume(t + lead_s) - 0.5), 400)
    period = 60 / 5.5
    lead_deg = 360 * lead_s / period
    ap = AdaptivePacing()
    changes = []
    for n in range(1, 36):
        t = n * period
        m = bt <= t
        c = ap.decide(t, 5.5, 5.5, bt[m], rr[m], 0.0, pacer.volume)
        if c is not None:
            changes.append(c)
    assert changes  # after settling and one window
    assert changes[0].t >= ap.settings.settle_s + ap.settings.window_s
    assert all(np.sign(c.rate_bpm - c.from_bpm) == direction for c in changes)
    # The phase it measured is the lead put in (the volume curve is nearly a sinusoid).
    assert changes[-1].phase_deg == pytest.approx(lead_deg, abs=4)
    assert changes[-1].target_bpm == pytest.approx(
        5.5 + lead_deg / ap.settings.slope_deg_per_bpm, abs=0.2)


def _run_adaptive(seed, resonance, start, out=None, minutes=10, listeners=()):
    pacer = Pacer(_adaptive(start, minutes))
    # Breathing computed a second ahead, not ten, so the simulated person follows a change of
    # pace as soon as a person would.
    params = SimParams(seed=seed, resonance_bpm=resonance)
    recorders = [RecordingListener(out)] if out else []
    session = Session(SimulatedStrap(params, pacer, chunk_s=1.0), ScaledClock(None), pacer,
                      duration_s=minutes * 60, listeners=[*recorders, *listeners])
    asyncio.run(session.run())
    return session


def _assert_slow(changes, start_t=0.0):
    """No minute sees the rate move by more than 0.1 breaths/min."""
    t = np.array([start_t] + [c.t for c in changes])
    r = np.array([changes[0].from_bpm] + [c.rate_bpm for c in changes])
    for i in range(len(t)):
        for j in range(i + 1, len(t)):
            assert abs(r[j] - r[i]) <= 0.1 * max(t[j] - t[i], 60.0) / 60.0 + 1e-6


@pytest.mark.parametrize("offset", [0.5, -0.5])
def test_converges_to_the_resonance_rate_in_ten_minutes(monkeypatch, offset):
    """Started 0.5 breaths/min off the simulated person's resonance (the edge of the band the
    pacer keeps to), the pacer ends within 0.1 of it."""
    # At full speed the strap would otherwise run up to 64 notifications ahead of the session,
    # breathing to the pace before the session changed it.
    monkeypatch.setattr(Session, "QUEUE_SIZE", 2)
    resonance = 5.5
    errors = []
    for seed in range(3):
        session = _run_adaptive(seed, resonance, resonance + offset)
        changes = session.rate_changes
        assert len(changes) > 10
        _assert_slow(changes)
        assert all(abs(c.rate_bpm - (resonance + offset)) <= 0.5 + 1e-9 for c in changes)
        errors.append(abs(changes[-1].rate_bpm - resonance))
    assert max(errors) <= 0.1, errors


def test_finds_a_resonance_inside_its_band(monkeypatch):
    """Started 0.3 off, the resonance lies inside the band and nothing but the heart rate stops
    the pacer there. Ten minutes find it to about +/-0.12 breaths/min (one SD): a minute's phase
    is uncertain by about 10 degrees (the person's breathing wanders around the pacer's; Mayer
    waves share the frequency). Over 16 runs (seeds 0-7, from either side) 9 ended within 0.1
    and all within 0.2."""
    monkeypatch.setattr(Session, "QUEUE_SIZE", 2)
    for seed in range(3):
        session = _run_adaptive(seed, 5.5, 5.8)
        _assert_slow(session.rate_changes)
        assert abs(session.rate_changes[-1].rate_bpm - 5.5) <= 0.2


def test_replay_recomputes_the_same_changes_and_they_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(Session, "QUEUE_SIZE", 2)
    out = tmp_path / "adaptive.sqlite"
    live = _run_adaptive(4, 5.5, 6.0, out=out, minutes=5)
    assert live.rate_changes
    data = read_session(out)
    recorded = [(t, v) for t, _, kind, v in data.events if kind == "pacer_rate"]
    assert [(t, v["rate_bpm"]) for t, v in recorded] == [(c.t, c.rate_bpm)
                                                          for c in live.rate_changes]
    assert data.protocol().steps[0].adaptive
    pacer = Pacer(data.protocol())
    replay = Session(ReplaySource(data), ScaledClock(None), pacer, duration_s=300)
    asyncio.run(replay.run())
    assert replay.rate_changes == live.rate_changes


class _ChangeAt(SessionListener):
    """Changes the pace by hand when breath ``n`` ends, and notes every breath."""

    def __init__(self, n, rate, ratio):
        self.n, self.rate, self.ratio = n, rate, ratio
        self.breaths = []

    def on_start(self, session):
        self.session = session

    def on_breath(self, report):
        self.breaths.append(report)
        if report.n == self.n:
            self.session.change_pace(self.rate, self.ratio)


def test_a_pace_set_by_hand_starts_at_the_next_breath_and_replays(tmp_path):
    out = tmp_path / "hand.sqlite"
    protocol = parse_protocol({"step": [{"minutes": 3, "inhale_s": 4, "exhale_s": 6}]})
    pacer = Pacer(protocol)
    hand = _ChangeAt(2, 5.0, 1 / 3)
    session = Session(SimulatedStrap(SimParams(seed=2), pacer), ScaledClock(None), pacer,
                      duration_s=120, listeners=[RecordingListener(out), hand])
    asyncio.run(session.run())
    rates = [b.rate_bpm for b in hand.breaths]
    # Breaths 0-3 at 6/min (the change waits for the breath under way to end), then 5/min.
    assert rates[:4] == pytest.approx([6.0] * 4)
    assert rates[4:] == pytest.approx([5.0] * len(rates[4:]))
    shape = pacer.segment(110).shape
    assert shape.inhale_s / (shape.inhale_s + shape.exhale_s) == pytest.approx(1 / 3)
    data = read_session(out)
    changes = [e for e in read_events(data) if isinstance(e, PacerChange)]
    assert [(c.rate_bpm, c.inhale_ratio) for c in changes] == [(5.0, pytest.approx(1 / 3))]
    replayed = _ChangeAt(-1, 0, None)
    replay = Session(ReplaySource(data), ScaledClock(None), Pacer(data.protocol()),
                     duration_s=120, listeners=[replayed])
    asyncio.run(replay.run())
    assert [(b.t0, b.rate_bpm) for b in replayed.breaths] == [(b.t0, b.rate_bpm)
                                                              for b in hand.breaths]


@pytest.mark.parametrize("rate, ratio", [(1.5, None), (31, None), (6, 0.95), (math.nan, None)])
def test_a_pace_outside_the_safety_bounds_is_refused(rate, ratio):
    pacer = Pacer(parse_protocol({"step": [{"minutes": 3, "inhale_s": 4, "exhale_s": 6}]}))
    session = Session(SimulatedStrap(SimParams(seed=2), pacer), ScaledClock(None), pacer)
    with pytest.raises(ProtocolError):
        session.change_pace(rate, ratio)

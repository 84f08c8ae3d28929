"""Lab Streaming Layer outlets: what a session publishes reaches inlets on this machine with the
right values, in order, stamped at the recorded times; without LSL the session goes on.

LSL is kept on this machine by an ``LSLAPICFG`` file written before pylsl is first imported.
Sessions run on a :class:`ScaledClock` at a moderate speed (the LSL clock is the computer's, so
mapped timestamps need a clock that follows it). Inlets are opened by a listener placed before
the outlets, at the first beat (after the strap's streams opened on its connection event, before
any beat is pushed), and drained at the session's stop, before the outlets close: a wait for the
data, never a timed assertion.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

_CFG = Path(tempfile.mkdtemp(prefix="biobreath-lsl-")) / "lsl_api.cfg"
_CFG.write_text("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")
os.environ["LSLAPICFG"] = str(_CFG)

pylsl = pytest.importorskip("pylsl")

from biobreath.clock import ScaledClock  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.events import (  # noqa: E402
    AccSamples,
    Beat,
    DeviceInfo,
    EcgSamples,
    Link,
    LinkState,
    Marker,
)
from biobreath.files.protocols import load_protocol  # noqa: E402
from biobreath.files.recording import read_session  # noqa: E402
from biobreath.session import Session, SessionListener  # noqa: E402
from biobreath.session.lsl import LslOutlets, LslTime, read_together  # noqa: E402
from biobreath.session.recorder import RecordingListener  # noqa: E402
from biobreath.sim.physiology import SimParams  # noqa: E402
from biobreath.sim.source import SimulatedStrap  # noqa: E402
from biobreath.sources.base import BeatSource  # noqa: E402

SPEED = 16.0
DRAIN_S = 30.0  # longest wait for samples already pushed (only reached when some are lost)


class Inlets(SessionListener):
    """Opens an inlet on every outlet ``lsl`` has at the first beat (and on ``late`` streams
    when they appear), notes the session and LSL clocks at every beat, and pulls everything at
    the session's stop."""

    def __init__(self, lsl: LslOutlets, late: tuple[str, ...] = (), mark_at: int = 0) -> None:
        self.lsl, self.late, self.mark_at = lsl, late, mark_at
        self.session: Session | None = None
        self.inlets: dict[tuple[str, str], object] = {}
        self.beats: list[tuple[Beat, float, float]] = []  # beat, session now, LSL now
        self.verdicts = self.accepted = self.coherences = self.markers = 0
        self.infos: dict[tuple[str, str], object] = {}  # full stream info, read while open
        self.ecg_frames: list[EcgSamples] = []
        self.acc_frames: list[AccSamples] = []
        self.got: dict[tuple[str, str], tuple[list, list]] = {}

    def on_start(self, session) -> None:
        self.session = session

    def _connect(self) -> None:
        for key, outlet in list(self.lsl._outlets.items()):
            if key in self.inlets:
                continue
            info = outlet.get_info()
            # Resolve by source_id, then keep our own outlet (another program on this machine
            # may publish the same source_id).
            found = [i for i in pylsl.resolve_byprop("source_id", info.source_id(), 1, 10.0)
                     if i.uid() == info.uid()]
            assert found, f"stream {key} not found"
            inlet = pylsl.StreamInlet(found[0], max_buflen=360, recover=False)
            inlet.open_stream(10.0)
            self.inlets[key] = inlet
            self.infos[key] = inlet.info(10.0)

    def on_event(self, ev) -> None:
        if isinstance(ev, Beat):
            if not self.beats:
                self._connect()
            self.beats.append((ev, *read_together(self.session.clock, pylsl.local_clock)))
            if len(self.beats) == self.mark_at:
                self.session.mark("breathe out longer")
        elif isinstance(ev, Marker):
            self.markers += 1
        elif isinstance(ev, EcgSamples):
            self.ecg_frames.append(ev)
        elif isinstance(ev, AccSamples):
            self.acc_frames.append(ev)
        if self.late and any(key not in self.inlets for key in self.lsl._outlets):
            self._connect()  # a stream opened at its first frame: later frames reach us

    def on_beat(self, device, verdict, state) -> None:
        self.verdicts += 1
        self.accepted += not verdict.artifact

    def on_coherence(self, device, result) -> None:
        self.coherences += 1

    def on_stop(self, t: float) -> None:
        for key, inlet in self.inlets.items():
            data, stamps = [], []
            want = self.expected(key)
            waited = 0.0
            while len(data) < want and waited < DRAIN_S:
                chunk, ts = inlet.pull_chunk(timeout=0.5, max_samples=100000)
                data += chunk
                stamps += ts
                waited += 0.5 if not chunk else 0.0
            self.got[key] = (data, stamps)

    def expected(self, key: tuple[str, str]) -> int:
        counts = {"RR": len(self.beats), "Beats": self.verdicts, "HR": self.accepted,
                  "Coherence": self.coherences, "Markers": self.markers}
        return counts.get(key[1], 1)  # the pacer, ECG and ACC: what came after connecting


def _run(session: Session):
    return asyncio.run(session.run())


def _beat_lsl_time(beat: Beat, now: float, lsl_now: float, speed: float) -> float:
    """Where a beat belongs on the LSL clock, from the two clocks read together at its event."""
    return lsl_now - (now - beat.t) / speed


def test_every_beat_marker_and_pacer_sample_reaches_an_inlet_stamped_at_its_time(tmp_path):
    pacer = Pacer(load_protocol("coherence"))
    lsl = LslOutlets(person="Ada")
    inlets = Inlets(lsl, mark_at=40)
    path = tmp_path / "s.sqlite"
    session = Session(SimulatedStrap(SimParams(seed=4, ectopic_rate=0.02), pacer),
                      ScaledClock(SPEED), pacer, duration_s=96.0,
                      listeners=[inlets, RecordingListener(path), lsl])
    summary = _run(session)
    assert summary.n_beats > 80
    device = "sim:4"

    # RR: every beat, in order, with the value recorded, stamped within 5 ms (session time) of
    # the recorded beat time mapped to the LSL clock as the clocks stood at that beat.
    rr, stamps = inlets.got[device, "RR"]
    data = read_session(path)
    assert len(rr) == len(inlets.beats) == len(data.rr_ms)
    assert np.array(rr)[:, 0] == pytest.approx(data.rr_ms, abs=1e-9)
    expected = [_beat_lsl_time(b, now, lsl_now, SPEED) for b, now, lsl_now in inlets.beats]
    assert np.array([b.t for b, _, _ in inlets.beats]) == pytest.approx(data.beat_time_s)
    error_ms = (np.array(stamps) - np.array(expected)) * SPEED * 1000.0
    assert np.max(np.abs(error_ms)) < 5.0
    assert np.all(np.diff(stamps) > 0)

    # Verdicts: every beat judged once, the artifacts the file recorded flagged.
    judged, judged_stamps = inlets.got[device, "Beats"]
    judged = np.array(judged)
    assert len(judged) == len(data.rr_ms)
    assert judged[:, 1].astype(bool).tolist() == data.artifact.tolist()
    assert data.artifact.any()  # the ectopic beats were caught, so the flag was exercised
    assert judged_stamps == pytest.approx(stamps, abs=1e-6)

    # Heart rate: 60000 / RR of every accepted beat.
    hr, _ = inlets.got[device, "HR"]
    ok = ~judged[:, 1].astype(bool)
    assert np.array(hr)[:, 0] == pytest.approx(60000.0 / judged[ok, 0])

    # Coherence: every 5 s of session time; scores 0-100 once enough beats were there.
    coh, coh_stamps = inlets.got[device, "Coherence"]
    assert len(coh) >= 10
    scores = np.array(coh)[:, 0]
    assert np.isfinite(scores).sum() >= 5
    assert np.all((scores[np.isfinite(scores)] >= 0) & (scores[np.isfinite(scores)] <= 100))
    assert np.diff(coh_stamps) * SPEED == pytest.approx(5.0, abs=1.0)

    # The marker, at the session time it was made.
    (marker,), (marker_stamp,) = inlets.got["", "Markers"]
    assert marker == ["breathe out longer"]
    (mark_event,) = summary.markers
    beat, now, lsl_now = inlets.beats[-1]
    assert (marker_stamp - _beat_lsl_time(Beat(mark_event.t, 0, 0.0), now, lsl_now, SPEED)) \
        * SPEED == pytest.approx(0.0, abs=0.005)

    # Pacer: 10 Hz of session time; the volume at each stamp is the pacer's at that time.
    pace, pace_stamps = inlets.got["", "Pacer"]
    pace = np.array(pace)
    t_session = (np.array(pace_stamps) - lsl_now) * SPEED + now
    assert np.diff(t_session) == pytest.approx(0.1, abs=0.005)
    assert pace[:, 0] == pytest.approx(pacer.volume(np.round(t_session, 1)), abs=1e-5)
    assert pace[:, 2] == pytest.approx(6.0)
    assert t_session[-1] == pytest.approx(96.0, abs=0.05)


def test_stream_metadata_names_units_device_and_person(tmp_path):
    pacer = Pacer(load_protocol("coherence"))
    lsl = LslOutlets(person="Ada")
    inlets = Inlets(lsl)
    session = Session(SimulatedStrap(SimParams(seed=5), pacer), ScaledClock(SPEED), pacer,
                      duration_s=8.0, listeners=[inlets, lsl])
    _run(session)
    rr = inlets.infos["sim:5", "RR"]
    assert (rr.type(), rr.nominal_srate(), rr.source_id()) == ("RR", 0.0, "biobreath-sim:5-rr")
    ch = rr.desc().child("channels").child("channel")
    assert (ch.child_value("label"), ch.child_value("unit")) == ("rr", "ms")
    acq = rr.desc().child("acquisition")
    assert acq.child_value("model") == "biobreath simulator"
    assert acq.child_value("device_name") == "Simulated strap"
    assert rr.desc().child("subject").child_value("id") == "Ada"
    beats = inlets.infos["sim:5", "Beats"].desc().child("channels")
    units = [beats.child("channel").child_value("unit"),
             beats.child("channel").next_sibling().child_value("unit")]
    assert units == ["ms", "boolean"]
    markers = inlets.infos["", "Markers"]
    assert (markers.type(), markers.channel_format()) == ("Markers", pylsl.cf_string)
    pace = inlets.infos["", "Pacer"]
    assert pace.nominal_srate() == 10.0
    assert pace.desc().child("channels").child("channel").next_sibling().next_sibling() \
        .child_value("unit") == "breaths/min"


class _ScriptedH10(BeatSource):
    """A strap that sends ECG (130 Hz) and ACC (25 Hz) frames with known samples, then a beat."""

    kind = "scripted"
    address = "AA:BB"

    @property
    def devices(self):
        return (DeviceInfo("Polar H10 1A2B3C4D", self.address, "H10", "Polar Electro Oy"),)

    async def events(self, clock):
        yield Link(clock.now(), LinkState.CONNECTED, "", self.address)
        for k in range(12):
            t0 = 1.0 + k * 73 / 130.0
            await clock.sleep_until(t0 + 73 / 130.0)
            yield EcgSamples(clock.now(), t0, 130.0, np.arange(73) + 1000 * k, self.address)
            acc = np.arange(3 * 14).reshape(14, 3) + 100 * k
            yield AccSamples(clock.now(), 1.0 + k * 14 / 25.0, 25.0, acc, self.address)
        yield Beat(clock.now(), 1000, clock.now(), self.address)


def test_ecg_and_acc_samples_are_stamped_from_their_frames(tmp_path):
    pacer = Pacer(load_protocol("free"))
    lsl = LslOutlets()
    inlets = Inlets(lsl, late=("ECG", "ACC"))
    session = Session(_ScriptedH10(), ScaledClock(4.0), pacer, duration_s=20.0,
                      listeners=[inlets, lsl])
    _run(session)
    beat, now, lsl_now = inlets.beats[-1]
    for stream, frames, values in (("ECG", inlets.ecg_frames, lambda f: f.uv.reshape(-1, 1)),
                                   ("ACC", inlets.acc_frames, lambda f: f.mg)):
        got, stamps = inlets.got["AA:BB", stream]
        # The stream opened at the first frame and the inlet right after: frames 2.. arrive.
        sent = frames[1:]
        assert np.array(got) == pytest.approx(np.concatenate([values(f) for f in sent]))
        t_expected = np.concatenate([f.t0 + np.arange(len(values(f))) / f.fs_hz for f in sent])
        t_got = (np.array(stamps) - lsl_now) * 4.0 + now
        assert np.abs(t_got - t_expected).max() < 0.005
        info = inlets.infos["AA:BB", stream]
        assert info.nominal_srate() == sent[0].fs_hz
        assert info.desc().child("acquisition").child_value("manufacturer") == "Polar Electro Oy"
    unit = inlets.infos["AA:BB", "ECG"].desc().child("channels").child("channel")
    assert unit.child_value("unit") == "microvolts"


def test_at_speed_one_session_time_maps_to_the_lsl_clock_by_offset():
    clock = ScaledClock(1.0, start=42.0)
    to_lsl = LslTime(clock, pylsl.local_clock)
    before = pylsl.local_clock()
    mapped = to_lsl(clock.now())
    after = pylsl.local_clock()
    assert to_lsl.mapped
    assert before - 0.001 <= mapped <= after + 0.001
    assert to_lsl(clock.now() - 0.8) == pytest.approx(pylsl.local_clock() - 0.8, abs=0.002)


def test_a_clock_that_does_not_follow_the_computer_is_stamped_at_push_time():
    class Jumping:  # a virtual-time clock: session time leaps ahead of the wall
        speed = 1.0
        t = 0.0

        def now(self):
            return self.t

    clock = Jumping()
    to_lsl = LslTime(clock, pylsl.local_clock)
    clock.t = 500.0
    stamp = to_lsl(499.0)
    assert not to_lsl.mapped
    assert stamp == pytest.approx(pylsl.local_clock(), abs=0.05)


@pytest.mark.parametrize("failure", ["no pylsl", "outlet refused"])
def test_without_lsl_one_warning_and_the_session_goes_on(monkeypatch, caplog, failure):
    if failure == "no pylsl":
        monkeypatch.setitem(sys.modules, "pylsl", None)  # import pylsl raises ImportError
    else:
        def refuse(*args, **kwargs):
            raise RuntimeError("could not create an outlet")

        monkeypatch.setattr(pylsl, "StreamOutlet", refuse)
    pacer = Pacer(load_protocol("coherence"))
    lsl = LslOutlets()
    session = Session(SimulatedStrap(SimParams(seed=6), pacer), ScaledClock(None), pacer,
                      duration_s=60.0, listeners=[lsl])
    with caplog.at_level(logging.WARNING):
        summary = _run(session)
    assert summary.n_beats > 40
    assert not lsl.active
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("Lab Streaming Layer off, the session goes on without it")
    assert "\n" not in warnings[0]
    (record,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.name.startswith("biobreath.")  # the CLI prints "biobreath.session.lsl: ..."



@pytest.mark.parametrize("command", ["train", "replay"])
def test_the_lsl_option_puts_outlets_among_the_sessions_listeners(tmp_path, monkeypatch,
                                                                  command):
    """``--lsl`` on train and replay: outlets follow the session, named for its person."""
    import biobreath.session.lsl as lsl
    from biobreath.cli import main

    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path / "data"))
    made: list[LslOutlets] = []

    class Watched(LslOutlets):
        def __init__(self, person: str = "") -> None:
            super().__init__(person)
            made.append(self)

    monkeypatch.setattr(lsl, "LslOutlets", Watched)
    rec = tmp_path / "s.session"
    fast = ["--headless", "--speed", "max"]
    train = ["train", "--source", "sim", "--person", "Ana", "--duration", "30", "--out", str(rec),
             *fast]
    if command == "replay":
        assert main(train) == 0
        assert main(["replay", str(rec), *fast, "--lsl"]) == 0
    else:
        assert main([*train, "--lsl"]) == 0
    assert len(made) == 1 and made[0].person == "Ana"

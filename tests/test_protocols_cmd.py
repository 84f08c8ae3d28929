"""The protocol library: ``biobreath protocols``, the new protocols and their safety, the
person's resonance rate in a protocol, ramps, adaptive steps."""

import itertools
import json

import numpy as np
import pytest

from biobreath.cli import main
from biobreath.core.pacer import Pacer, Stage
from biobreath.core.protocol import (
    DEFAULT_RESONANCE_BPM,
    MAX_HOLD_S,
    MAX_RATE_BPM,
    MIN_RATE_BPM,
    NO_ASSESSMENT_NOTE,
    TOP_UP_FROM,
    parse_protocol,
)
from biobreath.errors import ProtocolError
from biobreath.files.protocols import list_protocols, load_protocol, user_protocol_dir

NEW = ("4-7-8", "sigh", "slow-down", "demo", "grounding", "resonance")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOBREATH_DATA_DIR", str(tmp_path))
    return tmp_path


def test_lists_shipped_and_own_protocols_and_broken_ones_in_one_line(data_dir, capsys):
    own = data_dir / "protocols"
    own.mkdir()
    (own / "mine.toml").write_text('description = "My evening wind-down"\n'
                                   "[[step]]\nminutes = 7\nrate_bpm = 5\n")
    (own / "broken.toml").write_text("[[step]]\nminutes = 1\nrate_bpm = 40\n")
    (own / "garbage.toml").write_bytes(b"\xff\xfe not toml")
    assert user_protocol_dir() == own
    assert main(["protocols"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    for name in (*NEW, "coherence", "box", "mine", "broken", "garbage"):
        assert f"  {name} " in out
    assert "My evening wind-down" in out and "7 min" in out
    broken = out[out.index("  broken "):].splitlines()
    problem = " ".join(line.strip() for line in
                       itertools.takewhile(lambda line: line.startswith("      "), broken[1:]))
    assert "cannot be used" in broken[1] and "'rate_bpm'" in problem
    assert "Traceback" not in out

    assert main(["protocols", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {r["name"]: r for r in rows}
    assert by_name["mine"]["origin"] == "yours" and by_name["mine"]["minutes"] == 7
    assert by_name["garbage"]["problem"] and by_name["garbage"]["minutes"] is None
    assert by_name["demo"]["minutes"] == 3 and by_name["demo"]["origin"] == "shipped"


def test_a_users_file_never_replaces_a_shipped_name(data_dir):
    own = data_dir / "protocols"
    own.mkdir()
    (own / "coherence.toml").write_text("[[step]]\nminutes = 1\nrate_bpm = 9\n")
    assert load_protocol("coherence").steps[0].shape.rate_bpm == pytest.approx(6.0)
    entry = next(e for e in list_protocols() if e.origin == "yours")
    assert "shipped protocol has this name" in entry.problem
    assert load_protocol(own / "coherence.toml").steps[0].shape.rate_bpm == pytest.approx(9)


@pytest.mark.parametrize("name", NEW)
def test_new_protocols_keep_the_safety_bounds_and_start_with_a_settle_in(name):
    p = load_protocol(name, resonance_bpm=5.0)
    assert not p.allow_extreme_pacing
    first = p.steps[0]
    assert first.shape is None and first.duration_s == 30
    assert first.label.startswith(("Settle in", "Arrive")) and "30 s" in p.description
    for step in p.steps:
        if step.shape is not None:
            assert MIN_RATE_BPM <= step.shape.rate_bpm <= MAX_RATE_BPM
            assert step.shape.hold_in_s <= MAX_HOLD_S and step.shape.hold_out_s <= MAX_HOLD_S
    assert len(p.description) > 60  # a sentence a therapist can read


def test_4_7_8_has_its_holds():
    shape = load_protocol("4-7-8").steps[1].shape
    assert (shape.inhale_s, shape.hold_in_s, shape.exhale_s, shape.hold_out_s) == (4, 7, 8, 0)
    assert shape.rate_bpm == pytest.approx(60 / 19)


def test_sigh_breathes_in_twice_then_out_long():
    p = load_protocol("sigh")
    shape = p.steps[1].shape
    assert (shape.inhale_s, shape.top_up_s, shape.exhale_s) == (2, 1, 7)
    assert shape.rate_bpm == pytest.approx(6.0)
    pacer = Pacer(p)
    t0 = pacer.breath_start(3)  # the sigh step starts on the free step's third boundary (30 s)
    assert t0 == pytest.approx(30)
    stages = [pacer.state(t0 + dt).stage for dt in (1.0, 2.5, 3.5, 9.5)]
    assert stages == [Stage.INHALE, Stage.TOP_UP, Stage.EXHALE, Stage.EXHALE]
    assert pacer.volume(t0 + 2.0) == pytest.approx(TOP_UP_FROM)
    assert pacer.volume(t0 + 3.0) == pytest.approx(1.0)
    assert pacer.volume(t0 + 10.0) == pytest.approx(0.0, abs=1e-9)
    t = np.linspace(t0, t0 + 30, 300_001)
    v = pacer.volume(t)
    assert np.abs(np.diff(v)).max() < 1e-4  # no jump between the two inhales
    rising = np.diff(v[t < t0 + 3.0])
    assert rising.min() >= -1e-12  # both inhales only fill


def test_a_second_inhale_is_only_for_breaths_given_in_seconds():
    with pytest.raises(ProtocolError, match="top_up_s"):
        parse_protocol({"step": [{"minutes": 2, "rate_bpm": 6, "top_up_s": 1}]})
    with pytest.raises(ProtocolError, match="top_up_s"):
        parse_protocol({"step": [{"minutes": 2, "inhale_s": 2, "exhale_s": 6, "top_up_s": 0.2}]})


def test_resonance_rate_comes_from_the_person():
    p = load_protocol("resonance", resonance_bpm=4.5)
    paced = p.steps[1]
    assert paced.shape.rate_bpm == pytest.approx(4.5) and paced.adaptive
    assert paced.shape.inhale_s / (paced.shape.inhale_s + paced.shape.exhale_s) == \
        pytest.approx(0.4)
    assert NO_ASSESSMENT_NOTE not in p.description
    unassessed = load_protocol("resonance")
    assert unassessed.steps[1].shape.rate_bpm == pytest.approx(DEFAULT_RESONANCE_BPM)
    assert unassessed.description.endswith(NO_ASSESSMENT_NOTE)
    # The person's rate is checked like any other.
    with pytest.raises(ProtocolError, match="rate_bpm"):
        load_protocol("resonance", resonance_bpm=40.0)


def test_slow_down_ramps_evenly_from_12_to_the_resonance_rate():
    p = load_protocol("slow-down", resonance_bpm=5.5)
    ramp = [s for s in p.steps[1:] if s.duration_s == 30]
    rates = np.array([s.shape.rate_bpm for s in ramp])
    assert len(ramp) == 8 and rates[0] == pytest.approx(12) and rates[-1] == pytest.approx(5.5)
    assert np.allclose(np.diff(rates), (5.5 - 12) / 7)
    assert p.steps[-1].shape.rate_bpm == pytest.approx(5.5)
    # The pacer moves through the ramp without a jump.
    pacer = Pacer(p)
    t = np.linspace(40, 300, 200_001)
    assert np.abs(np.diff(pacer.volume(t))).max() < 2e-3


@pytest.mark.parametrize("step, message", [
    ({"minutes": 2, "inhale_s": 4, "exhale_s": 6, "ramp_from_bpm": 12}, "ramp_from_bpm"),
    ({"minutes": 2, "rate_bpm": 6, "ramp_from_bpm": 1}, "ramp_from_bpm"),
    ({"minutes": 2, "rate_bpm": 6, "ramp_from_bpm": 12, "adaptive": True}, "adaptive"),
    ({"minutes": 2, "rate_bpm": 6, "adaptive": "yes"}, "adaptive"),
    ({"minutes": 2, "paced": False, "adaptive": True}, "adaptive"),
    ({"minutes": 2, "rate_bpm": "fast"}, "rate_bpm"),
])
def test_bad_new_fields_are_named(step, message):
    with pytest.raises(ProtocolError, match=message):
        parse_protocol({"step": [step]})


def test_pacer_controls_cannot_leave_the_safety_bounds(qtbot):
    from biobreath.ui.pacer_controls import PacerControls

    asked = []
    w = PacerControls(lambda rate, ratio: asked.append((rate, ratio)))
    qtbot.addWidget(w)
    assert w.rate.minimum() >= MIN_RATE_BPM and w.rate.maximum() <= MAX_RATE_BPM
    w.rate.setValue(100)
    assert w.rate.value() == w.rate.maximum()
    w.rate.setValue(0)
    assert w.rate.value() == w.rate.minimum()
    w.rate.setValue(5.5)
    w.ratio.setCurrentIndex(w.ratio.findText("1:2"))
    w.apply.click()
    assert asked == [(5.5, pytest.approx(1 / 3))]
    # Every ratio offered is one a protocol may use.
    shares = [w.ratio.itemData(i) for i in range(w.ratio.count())]
    assert all(0.1 <= s <= 0.9 for s in shares)


def test_pacer_controls_drive_the_sessions_pace_and_sound(qtbot):
    from biobreath.clock import ScaledClock
    from biobreath.session import Session
    from biobreath.session.sound import SoundPlayer
    from biobreath.sim.physiology import SimParams
    from biobreath.sim.source import SimulatedStrap
    from biobreath.ui.pacer_controls import PacerControls

    pacer = Pacer(load_protocol("resonance-5.5"))
    session = Session(SimulatedStrap(SimParams(seed=1), pacer), ScaledClock(None), pacer)
    w = PacerControls()
    qtbot.addWidget(w)
    w.attach(session)
    (player,) = [li for li in session.listeners if isinstance(li, SoundPlayer)]
    assert player.kind == "off" and w.rate.value() == pytest.approx(5.5)
    w.sound.setCurrentIndex(w.sound.findData("chime"))
    w.volume.setValue(30)
    assert (player.kind, player.volume) == ("chime", pytest.approx(0.3))
    w.rate.setValue(4.0)
    w.apply.click()
    queued = session._marks[-1]  # queued for the session's stream
    assert (queued.rate_bpm, queued.inhale_ratio) == (4.0, pytest.approx(0.4))
    assert "4.0 breaths a minute" in w.note.text()


def test_pacer_controls_say_why_a_pace_is_refused(qtbot):
    from biobreath.clock import ScaledClock
    from biobreath.session import Session
    from biobreath.sim.physiology import SimParams
    from biobreath.sim.source import SimulatedStrap
    from biobreath.ui.pacer_controls import PacerControls

    pacer = Pacer(load_protocol("4-7-8"))
    session = Session(SimulatedStrap(SimParams(seed=1), pacer), ScaledClock(None), pacer)
    w = PacerControls()
    qtbot.addWidget(w)
    w.attach(session)
    session.t = 60.0  # in the 4-7-8 step: at 2 breaths/min its hold would last 11 s
    w.rate.setValue(2.0)
    w.apply.click()
    assert "hold_in_s" in w.note.text() and "10" in w.note.text()
    assert not session._marks

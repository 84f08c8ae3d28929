import numpy as np
import pytest

from biobreath.core.pacer import Pacer, Stage
from biobreath.core.protocol import parse_protocol
from biobreath.errors import ProtocolError
from biobreath.files.protocols import available_protocols, load_protocol


def _proto(*steps):
    return parse_protocol({"name": "t", "step": list(steps)})


def test_default_coherence_protocol():
    p = load_protocol("coherence")
    assert p.duration_s == 600
    (step,) = p.steps
    assert (step.shape.inhale_s, step.shape.exhale_s) == (4, 6)
    assert step.shape.rate_bpm == pytest.approx(6.0)
    assert {"coherence", "resonance-assessment", "box", "free"} <= set(available_protocols())


def test_waveform_follows_inhale_exhale():
    pacer = Pacer(load_protocol("coherence"))
    assert pacer.volume(0.0) == pytest.approx(0.0)
    assert pacer.volume(4.0) == pytest.approx(1.0)
    assert pacer.volume(10.0) == pytest.approx(0.0, abs=1e-9)
    assert pacer.state(1.0).stage is Stage.INHALE
    assert pacer.state(5.0).stage is Stage.EXHALE
    assert pacer.state(5.0).stage_left_s == pytest.approx(5.0)
    assert pacer.breath_start(3) == pytest.approx(30.0)


def test_holds():
    pacer = Pacer(load_protocol("box"))
    assert pacer.state(5.0).stage is Stage.HOLD_IN and pacer.volume(5.0) == 1.0
    assert pacer.state(13.0).stage is Stage.HOLD_OUT and pacer.volume(13.0) == 0.0


def _max_step(pacer, t0, t1, n=200_001):
    t = np.linspace(t0, t1, n)
    return np.abs(np.diff(pacer.volume(t))).max(), np.diff(pacer.phase(t))


def test_phase_continuous_across_protocol_rate_changes():
    pacer = Pacer(load_protocol("resonance-assessment"))
    dv, dphase = _max_step(pacer, 125, 700)
    # A smooth 4.5-6.5/min curve moves < 1e-3 per 3 ms sample; a jump would be far larger.
    assert dv < 2e-3
    assert dphase.min() > 0 and dphase.max() < 1e-3
    # Steps start on a breath boundary near their nominal start.
    for seg in pacer._segments[1:]:
        assert seg.phase0 == int(seg.phase0)
    assert abs(pacer._segments[2].t0 - 240) <= 10


@pytest.mark.parametrize("t_change", [3.3, 7.9, 12.0])
@pytest.mark.parametrize("new_rate", [4.5, 9.0])
def test_phase_continuous_when_user_changes_rate(t_change, new_rate):
    pacer = Pacer(_proto({"minutes": 5, "rate_bpm": 6, "inhale_ratio": "4:6"}))
    before = pacer.phase(t_change)
    vol_before = pacer.volume(t_change - 1e-6)
    pacer.set_rate(t_change, new_rate)
    assert pacer.phase(t_change) == pytest.approx(before)
    assert pacer.volume(t_change + 1e-6) == pytest.approx(vol_before, abs=1e-4)
    dv, dphase = _max_step(pacer, 0, 60)
    assert dv < 2e-3 and dphase.min() > 0
    assert pacer.state(t_change + 30).rate_bpm == pytest.approx(new_rate)


def test_free_step_has_no_waveform():
    pacer = Pacer(load_protocol("free"))
    assert np.isnan(pacer.volume(3.0))
    assert pacer.state(3.0).stage is Stage.FREE


@pytest.mark.parametrize("raw, message", [
    ({"name": "x"}, "at least one"),
    ({"step": [{"minutes": 1}]}, "missing 'inhale_s'"),
    ({"step": [{"minutes": 1, "rate_bpm": 100}]}, "rate_bpm"),
    ({"step": [{"minutes": 1, "rate_bpm": 6, "inhale_ratio": "a:b"}]}, "inhale_ratio"),
    ({"step": [{"rate_bpm": 6}]}, "minutes"),
    ({"step": [{"minutes": 1, "inhale_s": 4, "exhale_s": 6, "bogus": 1}]}, "unknown field"),
    ({"step": [{"minutes": 1, "rate_bpm": 6, "hold_in_s": 6, "hold_out_s": 5}]}, "no time"),
])
def test_malformed_protocols_name_the_field(raw, message):
    with pytest.raises(ProtocolError, match=message):
        parse_protocol(raw, "p.toml")


def test_protocol_file_errors(tmp_path):
    with pytest.raises(ProtocolError, match="unknown protocol 'nope'"):
        load_protocol("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [\n")
    with pytest.raises(ProtocolError, match="not valid TOML"):
        load_protocol(bad)
    with pytest.raises(ProtocolError, match="does not exist"):
        load_protocol(tmp_path / "missing.toml")

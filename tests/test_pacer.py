import numpy as np
import pytest

from biobreath.core.pacer import Pacer, Stage, _shape_volume
from biobreath.core.protocol import TOP_UP_FROM, parse_protocol
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


def _raised_cosines(shape, frac):
    """Lung volume stage by stage, one mask per stage: the straightforward reference."""
    pos = frac * shape.period_s
    a, u, b, c = np.cumsum(shape.parts)[:4]
    first = TOP_UP_FROM if shape.top_up_s > 0 else 1.0
    vol = np.zeros_like(pos)
    inh = pos < a
    vol[inh] = first * (0.5 - 0.5 * np.cos(np.pi * pos[inh] / a))
    top = (pos >= a) & (pos < u)
    vol[top] = first + (1 - first) * (0.5 - 0.5 * np.cos(np.pi * (pos[top] - a) / shape.top_up_s))
    vol[(pos >= u) & (pos < b)] = 1.0
    exh = (pos >= b) & (pos < c)
    vol[exh] = 0.5 + 0.5 * np.cos(np.pi * (pos[exh] - b) / shape.exhale_s)
    return vol


@pytest.mark.parametrize("name", ["coherence", "box", "sigh", "4-7-8"])
def test_volume_is_each_stages_raised_cosine_bit_for_bit(name):
    pacer = Pacer(load_protocol(name))
    seg = pacer._segments[-1]
    ends = seg.t0 + np.cumsum(seg.shape.parts)  # every stage boundary of its first breath
    t = np.concatenate([seg.t0 + np.random.default_rng(1).uniform(0, 60, 2000), ends,
                        np.nextafter(ends, -np.inf)])
    frac = np.mod(seg.phase0 + (t - seg.t0) / seg.period_s, 1.0)
    assert pacer.volume(t).tobytes() == _raised_cosines(seg.shape, frac).tobytes()
    edges = np.array([0.0, np.nextafter(1.0, 0.0), 1.0, np.nan])
    with np.errstate(invalid="ignore"):
        assert _shape_volume(seg.shape, edges).tobytes() == _raised_cosines(
            seg.shape, edges).tobytes()


def test_volume_within_one_segment_equals_volume_across_segments():
    # A window inside one segment takes the one-shape path; across segments each is masked.
    pacer = Pacer(load_protocol("resonance-assessment"))
    pacer.set_rate(400.0, 5.2)
    pacer.set_rate(410.4, 5.3, gradual=True)
    t = np.arange(0.0, 700.0, 0.25)
    across = pacer.volume(t)
    seg = np.searchsorted(pacer._t0, t, side="right") - 1
    for k in np.unique(seg):
        assert pacer.volume(t[seg == k]).tobytes() == across[seg == k].tobytes()
    assert pacer.phase(t).tobytes() == np.concatenate(
        [pacer.phase(t[seg == k]) for k in np.unique(seg)]).tobytes()
    assert pacer.volume(np.array([np.nan, 300.0]))[1] == pacer.volume(300.0)  # NaN: no bound
    assert pacer.volume(np.array([])).shape == (0,)


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

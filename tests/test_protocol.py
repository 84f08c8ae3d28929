"""Hostile breathing protocols: whatever a protocol file (or a recording's metadata) holds, it is
either a protocol whose every number is finite and within the safety bounds, which survives being
written into a recording and read back, or one line naming the file, the step and the field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from biobreath.core.protocol import BreathingProtocol, BreathShape, check_breath, parse_protocol
from biobreath.errors import BiobreathError, ProtocolError
from biobreath.events import DeviceInfo
from biobreath.files.protocols import available_protocols, load_protocol
from biobreath.files.recording import Recorder, SessionData, read_session
from biobreath.session.recorder import _step_dict

# The product's rules, restated here rather than imported, so a change to them shows up.
RATE_BPM = (2.0, 30.0)
HOLD_S = 10.0
EXTREME_RATE_BPM = (0.5, 60.0)  # what 0.5-30 s phases and holds up to 30 s allow at most
EXTREME_HOLD_S = 30.0
PHASE_S = (0.5, 30.0)
STEP_S = (3.0, 24 * 3600.0)
TOL = 1e-9


def _one_line(e: BaseException, source: str) -> str:
    msg = str(e)
    assert msg.startswith(source), msg
    assert "\n" not in msg and "\r" not in msg and len(msg) < 400, msg
    return msg


def _within(v: float, lo: float, hi: float) -> bool:
    return math.isfinite(v) and lo * (1 - TOL) <= v <= hi * (1 + TOL)


def assert_safe(p: BreathingProtocol) -> None:
    """Every number finite and within the bounds the protocol was parsed under."""
    hold = EXTREME_HOLD_S if p.allow_extreme_pacing else HOLD_S
    rate = EXTREME_RATE_BPM if p.allow_extreme_pacing else RATE_BPM
    assert p.steps and isinstance(p.name, str) and p.name
    for s in p.steps:
        assert _within(s.duration_s, *STEP_S)
        if s.shape is None:
            continue
        sh = s.shape
        assert _within(sh.inhale_s, *PHASE_S) and _within(sh.exhale_s, *PHASE_S)
        assert _within(sh.hold_in_s, 0, hold) or sh.hold_in_s == 0
        assert _within(sh.hold_out_s, 0, hold) or sh.hold_out_s == 0
        assert _within(sh.rate_bpm, *rate), sh


def rebuild(p: BreathingProtocol, source: str = "rec.sqlite") -> BreathingProtocol:
    """What a recording stores (``recorder._step_dict`` through JSON without NaN) and how
    ``SessionData.protocol()`` rebuilds it, carrying ``allow_extreme_pacing`` as it should."""
    meta = json.loads(json.dumps({"name": p.name, "file": p.source,
                                  "steps": [_step_dict(s) for s in p.steps],
                                  "allow_extreme_pacing": p.allow_extreme_pacing},
                                 allow_nan=False))
    steps = []
    for s in meta["steps"]:
        step = {"label": s.get("label", ""), "seconds": max(3.0, float(s["duration_s"]))}
        if s.get("inhale_s") is None:
            step["paced"] = False
        else:
            step.update(inhale_s=s["inhale_s"], exhale_s=s["exhale_s"],
                        hold_in_s=s["hold_in_s"], hold_out_s=s["hold_out_s"])
        steps.append(step)
    raw = {"name": meta.get("name") or "recorded", "step": steps}
    if meta["allow_extreme_pacing"]:
        raw["allow_extreme_pacing"] = True
    return parse_protocol(raw, source)


def _session_data(meta: dict) -> SessionData:
    empty = np.zeros(0)
    return SessionData(path="rec.sqlite", meta=meta, devices=(), device_ids=empty.astype(int),
                       rr_ticks=empty.astype(int), rr_ms=empty, beat_time_s=empty,
                       arrival_s=empty, artifact=empty.astype(bool), events=())


def assert_same(a: BreathingProtocol, b: BreathingProtocol) -> None:
    assert len(a.steps) == len(b.steps) and a.name == b.name
    for x, y in zip(a.steps, b.steps):
        assert x.duration_s == pytest.approx(max(3.0, y.duration_s)) and x.label == y.label
        assert (x.shape is None) == (y.shape is None)
        if x.shape is not None:
            assert [x.shape.inhale_s, x.shape.exhale_s, x.shape.hold_in_s, x.shape.hold_out_s] \
                == pytest.approx([y.shape.inhale_s, y.shape.exhale_s, y.shape.hold_in_s,
                                  y.shape.hold_out_s], rel=1e-12)


# --------------------------------------------------------------------------- shipped protocols


@pytest.mark.parametrize("name", sorted(available_protocols()))
def test_shipped_protocols_load_are_safe_and_survive_a_recording(name):
    p = load_protocol(name)
    assert not p.allow_extreme_pacing
    assert_safe(p)
    assert_same(p, rebuild(p))
    # ... and through the rebuild recording.py does today.
    meta = {"protocol": {"name": p.name, "file": p.source,
                         "steps": [_step_dict(s) for s in p.steps]}}
    assert_same(p, _session_data(json.loads(json.dumps(meta, allow_nan=False))).protocol())


def test_a_real_recording_reads_its_protocol_back(tmp_path):
    p = load_protocol("resonance-assessment")
    path = tmp_path / "s.sqlite"
    rec = Recorder(path)
    rec.set_meta(protocol={"name": p.name, "file": p.source,
                           "steps": [_step_dict(s) for s in p.steps]})
    rec.device_id(DeviceInfo("Strap", "AA"))
    rec.beat("AA", 1024, 1000.0, 1.0, 1.0)
    rec.close()
    assert_same(p, read_session(path).protocol())


# --------------------------------------------------------------------------- hostile files

STEP = "[[step]]\nminutes = 2\n"

# (file content, what the one-line error must say); each message must also name the file.
HOSTILE_FILES = [
    ("step = " + "[\n" * 5000, "nested too deeply"),
    ("[[step]]\nminutes = 1\nrate_bpm = " + "[" * 330 + "]" * 330, "p.toml"),
    ("a = " + "{b = " * 300 + "1" + "}" * 300, "p.toml"),
    ("x" + ".a" * 600 + " = 1\n", "longer than 1000 characters"),
    ("\n".join(f"k{i}" + ".a" * 480 + " = 1" for i in range(60)), "unknown top-level field"),
    ("# filler\n" * 8000, "too large"),
    ("", "at least one [[step]]"),
    ("name = [\n", "not valid TOML"),
    (STEP + "rate_bpm = 1\ninhale_ratio = 0.6\n", "step 1: 'rate_bpm' must be a number from 2"),
    ("allow_extreme_pacing = true\n" + STEP + "rate_bpm = 1\ninhale_ratio = 0.6\n",
     "step 1: 'rate_bpm' and 'inhale_ratio' give an inhale of 36 s"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "1:1e308"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "nan:1"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "inf:1"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "1:inf"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "1e400:1"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "0:1"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "-1:3"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "1:2:3"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "4/6"\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = ""\n', "step 1: 'inhale_ratio'"),
    (STEP + 'rate_bpm = 6\ninhale_ratio = "１:１"\n', "step 1: 'inhale_ratio'"),
    (STEP + "rate_bpm = 6\ninhale_ratio = nan\n", "step 1: 'inhale_ratio'"),
    (STEP + "rate_bpm = 6\ninhale_ratio = 0.95\n", "step 1: 'inhale_ratio'"),
    (STEP + "rate_bpm = nan\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = inf\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = -inf\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = 1e308\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = 31\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = 1.5\n", "allow_extreme_pacing = true"),
    (STEP + "rate_bpm = 0\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = 30\ninhale_ratio = 0.2\n", "step 1: 'rate_bpm' and 'inhale_ratio' give an "
                                                   "inhale of 0.4 s"),
    (STEP + "rate_bpm = 6\nhold_in_s = 11\n", "step 1: 'hold_in_s' must be a number from 0 to 10"),
    (STEP + "rate_bpm = 2\nhold_out_s = 10.5\n", "step 1: 'hold_out_s'"),
    (STEP + "rate_bpm = 6\nhold_in_s = nan\n", "step 1: 'hold_in_s'"),
    (STEP + "rate_bpm = 6\nhold_in_s = -1\n", "step 1: 'hold_in_s'"),
    (STEP + "rate_bpm = 6\nhold_in_s = 6\nhold_out_s = 5\n", "step 1: holds leave no time"),
    (STEP + "inhale_s = 20\nexhale_s = 20\n", "step 1: 'inhale_s', 'exhale_s' and the holds give "
                                              "1.5 breaths/min"),
    (STEP + "inhale_s = 0.5\nexhale_s = 0.5\n", "60 breaths/min"),
    (STEP + "inhale_s = 6\nexhale_s = 6\nhold_in_s = 10\nhold_out_s = 10\n",
     "give 1.88 breaths/min; paced breathing must be 2-30"),
    (STEP + "inhale_s = inf\nexhale_s = 4\n", "step 1: 'inhale_s'"),
    (STEP + "inhale_s = 4\nexhale_s = nan\n", "step 1: 'exhale_s'"),
    (STEP + "inhale_s = 4\nexhale_s = 31\n", "step 1: 'exhale_s'"),
    (STEP + "inhale_s = 0.4\nexhale_s = 4\n", "step 1: 'inhale_s'"),
    (STEP + "inhale_s = 4\nexhale_s = 6\ninhale_ratio = 0.5\n", "step 1: 'inhale_ratio' goes with"),
    (STEP + "inhale_s = 4\nexhale_s = 6\nrate_bpm = 6\n", "step 1: give 'rate_bpm' or"),
    (STEP + "paced = false\nrate_bpm = 6\n", "step 1: a free-breathing step"),
    (STEP + 'paced = "no"\n', "step 1: 'paced' must be true or false"),
    (STEP + 'rate_bpm = "6"\n', "step 1: 'rate_bpm' must be a number"),
    (STEP + "rate_bpm = true\n", "step 1: 'rate_bpm' must be a number"),
    (STEP + "rate_bpm = [6]\n", "step 1: 'rate_bpm' must be a number from 2 to 30 (set "),
    (STEP + "rate_bpm = {a = 1}\n", "got a table"),
    (STEP + "rate_bpm = 1979-05-27\n", "step 1: 'rate_bpm'"),
    (STEP + "rate_bpm = 6\nlabel = 3\n", "step 1: 'label' must be a string"),
    (STEP + "rate_bpm = 6\nrate = 6\n", "step 1: unknown field(s) 'rate'"),
    ("[[step]]\nminutes = nan\nrate_bpm = 6\n", "step 1: 'minutes'"),
    ("[[step]]\nminutes = 1e308\nrate_bpm = 6\n", "step 1: 'minutes'"),
    ("[[step]]\nseconds = 2\nrate_bpm = 6\n", "step 1: 'seconds'"),
    ("[[step]]\nseconds = 90000\nrate_bpm = 6\n", "step 1: 'seconds'"),
    ("[[step]]\nminutes = 1\nseconds = 60\nrate_bpm = 6\n", "step 1: give exactly one"),
    ("[[step]]\nminutes = true\nrate_bpm = 6\n", "step 1: 'minutes'"),
    (STEP + "rate_bpm = 6\n" + STEP + "rate_bpm = 40\n", "step 2: 'rate_bpm'"),
    ("step = 5\n", "at least one [[step]]"),
    ("step = []\n", "at least one [[step]]"),
    ("[step]\nminutes = 2\nrate_bpm = 6\n", "at least one [[step]]"),
    ("step = [1, 2]\n", "step 1: a step must be a table"),
    ("name = 5\n" + STEP + "rate_bpm = 6\n", "'name' must be a non-empty string"),
    ('name = ""\n' + STEP + "rate_bpm = 6\n", "'name' must be a non-empty string"),
    ("description = [1]\n" + STEP + "rate_bpm = 6\n", "'description' must be a string"),
    ('allow_extreme_pacing = "yes"\n' + STEP + "rate_bpm = 6\n", "'allow_extreme_pacing' must be"),
    ("allow_extreme_pacing = 1\n" + STEP + "rate_bpm = 6\n", "'allow_extreme_pacing' must be"),
    ("allow_extreme = true\n" + STEP + "rate_bpm = 1.5\n", "unknown top-level field(s) "
                                                          "'allow_extreme'"),
    ("rate_bpm = 6\n" + STEP + "rate_bpm = 6\n", "unknown top-level field(s) 'rate_bpm'"),
    ("allow_extreme_pacing = true\n" + STEP + "inhale_s = 4\nexhale_s = 4\nhold_in_s = 31\n",
     "step 1: 'hold_in_s' must be a number from 0 to 30"),
    ("allow_extreme_pacing = true\n" + STEP + "rate_bpm = 0.9\n", "step 1: 'rate_bpm' must be a "
                                                                  "number from 1 to 30"),
]


@pytest.mark.parametrize("content, message", HOSTILE_FILES,
                         ids=[f"{i}" for i in range(len(HOSTILE_FILES))])
def test_hostile_protocol_files_give_one_line(tmp_path, content, message):
    path = tmp_path / "p.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ProtocolError) as e:
        load_protocol(path)
    msg = _one_line(e.value, str(path))
    assert message in msg, msg


# Accepted only with the explicit flag; then the wider limits of old apply.
EXTREME = [
    "rate_bpm = 1.5\n",
    "rate_bpm = 1\n",
    "inhale_s = 0.5\nexhale_s = 0.5\n",
    "inhale_s = 30\nexhale_s = 30\nhold_in_s = 30\nhold_out_s = 30\n",
    "rate_bpm = 2\nhold_in_s = 12\n",
]


@pytest.mark.parametrize("step", EXTREME)
def test_extreme_pacing_needs_the_flag(tmp_path, step):
    path = tmp_path / "p.toml"
    path.write_text(STEP + step)
    with pytest.raises(ProtocolError, match="allow_extreme_pacing = true") as e:
        load_protocol(path)
    _one_line(e.value, str(path))
    path.write_text("allow_extreme_pacing = true\n" + STEP + step)
    p = load_protocol(path)
    assert p.allow_extreme_pacing
    assert_safe(p)
    assert_same(p, rebuild(p))


def test_safety_bounds_are_inclusive():
    for step in ({"rate_bpm": 2}, {"rate_bpm": 30, "inhale_ratio": 0.5},
                 {"rate_bpm": 3, "hold_in_s": 10, "hold_out_s": 0.0},
                 {"inhale_s": 10, "exhale_s": 10, "hold_in_s": 5, "hold_out_s": 5},
                 {"rate_bpm": 6, "inhale_ratio": "1:9"}, {"rate_bpm": 6, "inhale_ratio": "9:1"},
                 {"rate_bpm": 6, "inhale_ratio": "0.3:2.7"}):
        p = parse_protocol({"step": [{"minutes": 1, **step}]}, "p.toml")
        assert_safe(p)
        assert_same(p, rebuild(p))


def test_a_protocol_file_with_a_bom_and_crlf_loads(tmp_path):
    path = tmp_path / "p.toml"
    path.write_bytes(b"\xef\xbb\xbf" + (STEP + "rate_bpm = 6\n").replace("\n", "\r\n").encode())
    assert load_protocol(path).steps[0].shape.rate_bpm == pytest.approx(6)


@pytest.mark.parametrize("content", [b"\xff\xfe[\x00[\x00", b"\x00" * 100, b"\x80abc"])
def test_binary_protocol_files(tmp_path, content):
    path = tmp_path / "p.toml"
    path.write_bytes(content)
    with pytest.raises(ProtocolError) as e:
        load_protocol(path)
    _one_line(e.value, str(path))


def test_unreadable_protocol_paths(tmp_path):
    folder = tmp_path / "dir.toml"
    folder.mkdir()
    for bad, message in ((folder, "cannot read"), (tmp_path / "none.toml", "does not exist"),
                         ("a\x00b.toml", "cannot read"), ("no\nsuch", "unknown protocol")):
        with pytest.raises(ProtocolError, match=message) as e:
            load_protocol(bad)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("raw", [
    None, [], "step", 5, {"step": "x"}, {"step": [{}]}, {"step": [None]},
    {"step": [{"minutes": 1, "rate_bpm": 6}], 1: 2},
    {"step": [{"minutes": 1, "rate_bpm": 6, ("a",): 1}]},
    {"step": [{"minutes": 1, "rate_bpm": 6}], "name": "n" * 10_000 + "\n"} | {"x" * 500: 1},
])
def test_hostile_tables(raw):
    with pytest.raises(ProtocolError) as e:
        parse_protocol(raw, "t.toml")
    _one_line(e.value, "t.toml")


def test_a_deeply_nested_value_is_named_not_printed():
    deep: object = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(ProtocolError, match="got a table") as e:
        parse_protocol({"step": [{"minutes": 1, "rate_bpm": deep}]}, "t.toml")
    _one_line(e.value, "t.toml")


def test_recorded_metadata_with_nan_is_refused_in_one_line():
    """Recordings written before this check may hold NaN (``"nan:1"``): reading them back
    must fail with one line, not a traceback."""
    meta = {"protocol": {"name": "x", "steps": [
        {"label": "", "duration_s": 60.0, "inhale_s": math.nan, "exhale_s": 5.0,
         "hold_in_s": 0.0, "hold_out_s": 0.0}]}}
    with pytest.raises(BiobreathError) as e:  # recording.py may wrap it in a SessionFileError
        _session_data(meta).protocol()
    _one_line(e.value, "rec.sqlite")


@pytest.mark.parametrize("stored", [True, None])  # None: a recording from before the flag
def test_a_recording_of_an_extreme_protocol_reads_back(stored):
    p = parse_protocol({"allow_extreme_pacing": True, "step": [{"minutes": 1, "rate_bpm": 1}]},
                       "p.toml")
    meta = {"protocol": {"name": p.name, "file": p.source,
                         "steps": [_step_dict(s) for s in p.steps]}}
    if stored is not None:
        meta["protocol"]["allow_extreme_pacing"] = stored
    assert_same(p, _session_data(meta).protocol())


def test_a_recording_paced_within_bounds_keeps_them():
    p = parse_protocol({"step": [{"minutes": 1, "rate_bpm": 6}]}, "p.toml")
    meta = {"protocol": {"name": p.name, "file": p.source, "allow_extreme_pacing": False,
                         "steps": [_step_dict(s) for s in p.steps]}}
    back = _session_data(meta).protocol()
    assert_same(p, back)
    assert back.allow_extreme_pacing is False


def test_check_breath_applies_the_same_bounds():
    assert check_breath(BreathShape(4, 6)) == BreathShape(4, 6)
    for shape in (BreathShape(0.4, 0.6), BreathShape(4, 4, 15, 15), BreathShape(30, 30),
                  BreathShape(math.nan, 4), BreathShape(4, 4, math.inf)):
        with pytest.raises(ProtocolError):
            check_breath(shape)
    assert check_breath(BreathShape(30, 30), allow_extreme_pacing=True)
    assert check_breath(BreathShape(4, 4, 15, 15), allow_extreme_pacing=True)


# --------------------------------------------------------------------------- generated tables

numbers = st.one_of(
    st.floats(0, 40), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 100),
    st.sampled_from([0, 0.5, 1, 2, 2.5, 3, 9.999, 10, 10.001, 29.999, 30, 30.001, 60, 1e308,
                     -0.0, 5e-324, 10**400]))
part = st.one_of(numbers.map(str), st.sampled_from(["nan", "inf", "1e308", "0", "-1", "", " 4"]))
ratios = st.one_of(numbers, st.tuples(part, part).map(":".join), st.text(max_size=6))
anything = st.one_of(numbers, st.booleans(), st.text(max_size=4), st.none(),
                     st.lists(st.integers(), max_size=2),
                     st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))
duration = st.one_of(st.fixed_dictionaries({"minutes": st.one_of(st.floats(0, 30), numbers)}),
                     st.fixed_dictionaries({"seconds": st.one_of(st.floats(0, 600), numbers)}))
optional_holds = {"hold_in_s": st.one_of(st.floats(0, 12), numbers),
                  "hold_out_s": st.one_of(st.floats(0, 12), numbers),
                  "label": st.one_of(st.text(max_size=8), anything)}
rate_steps = st.fixed_dictionaries({"rate_bpm": st.one_of(st.floats(0.5, 35), numbers)},
                                   optional={"inhale_ratio": ratios, **optional_holds})
second_steps = st.fixed_dictionaries({"inhale_s": st.one_of(st.floats(0, 32), numbers),
                                      "exhale_s": st.one_of(st.floats(0, 32), numbers)},
                                     optional={**optional_holds, "paced": st.just(True)})
free_steps = st.fixed_dictionaries({"paced": st.sampled_from([False, "false", 0])},
                                   optional={"label": st.text(max_size=8)})
junk_steps = st.dictionaries(st.sampled_from(["minutes", "seconds", "rate_bpm", "inhale_ratio",
                                              "inhale_s", "exhale_s", "hold_in_s", "paced",
                                              "bogus"]), anything, max_size=4)
hostile_steps = st.tuples(duration, st.one_of(rate_steps, second_steps, free_steps,
                                               junk_steps)).map(lambda t: {**t[0], **t[1]})
# Steps within or at the bounds, mostly valid: the round trip is tested as much as refusals.
near_holds = {"hold_in_s": st.floats(0, 10), "hold_out_s": st.floats(0, 10),
              "label": st.text(max_size=8)}
near_duration = st.one_of(st.fixed_dictionaries({"minutes": st.floats(0.05, 30)}),
                          st.fixed_dictionaries({"seconds": st.floats(3, 3600)}),
                          st.sampled_from([{"seconds": 86400}, {"minutes": 1440.0001}]))
near_ratio = st.one_of(st.floats(0.1, 0.9),
                       st.tuples(st.floats(0.1, 10), st.floats(0.1, 10)).map(
                           lambda ab: f"{ab[0]!r}:{ab[1]!r}"))
near_steps = st.tuples(near_duration, st.one_of(
    st.fixed_dictionaries({"rate_bpm": st.floats(1, 30)},
                          optional={"inhale_ratio": near_ratio, **near_holds}),
    st.fixed_dictionaries({"inhale_s": st.floats(0.5, 30), "exhale_s": st.floats(0.5, 30)},
                          optional=near_holds),
    st.just({"paced": False}))).map(lambda t: {**t[0], **t[1]})


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy, k: int) -> st.SearchStrategy:
    """``good`` k times out of k + 1 (one_of would pick each branch about as often)."""
    return st.integers(0, k).flatmap(lambda i: bad if i == 0 else good)


steps = _mostly(near_steps, hostile_steps, 3)
flags = _mostly(st.one_of(st.just({}), st.fixed_dictionaries(
    {"allow_extreme_pacing": st.booleans()})), st.fixed_dictionaries(
    {"allow_extreme_pacing": anything}), 6)


@settings(max_examples=600, deadline=None)
@given(st.lists(steps, min_size=1, max_size=3), flags)
def test_generated_protocols_are_safe_and_survive_a_recording_or_say_why(step_list, flag):
    _safe_and_round_trips_or_says_why({"name": "gen", "step": step_list, **flag})


@settings(max_examples=300, deadline=None)
@given(st.lists(near_steps, min_size=1, max_size=2), st.booleans())
def test_protocols_at_the_bounds_are_safe_and_survive_a_recording_or_say_why(step_list, flag):
    _safe_and_round_trips_or_says_why({"name": "gen", "step": step_list,
                                       "allow_extreme_pacing": flag})


def _safe_and_round_trips_or_says_why(raw: dict) -> None:
    try:
        p = parse_protocol(raw, "gen.toml")
    except ProtocolError as e:
        _one_line(e, "gen.toml")
        event("refused")
        return
    event("valid, extreme pacing allowed" if p.allow_extreme_pacing else "valid")
    assert_safe(p)
    again = rebuild(p)  # a recording's metadata, JSON without NaN, and back
    assert again.allow_extreme_pacing == p.allow_extreme_pacing
    assert_same(p, again)
    assert_safe(again)
    if not p.allow_extreme_pacing:  # recording.py's own rebuild, as it is today
        meta = {"protocol": {"name": p.name, "steps": [_step_dict(s) for s in p.steps]}}
        assert_same(p, _session_data(json.loads(json.dumps(meta, allow_nan=False))).protocol())

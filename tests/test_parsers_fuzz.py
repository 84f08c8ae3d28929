"""Hypothesis: the text parsers a user's files go through either succeed or give our one-line
error, whatever they are fed."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from biobreath.core.protocol import parse_protocol
from biobreath.errors import ProtocolError, SessionFileError
from biobreath.files.readers import parse_rr_text

numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6))
cells = st.one_of(numbers.map(str), st.text(max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=30),
       st.sampled_from(["\n", ",", ";", "\t", " "]))
def test_rr_text_parses_or_says_why(rows, sep):
    text = "\n".join((sep if sep != "\n" else " ").join(r) for r in rows)
    try:
        ms, unit = parse_rr_text(text, "fuzz.txt")
    except SessionFileError as e:
        assert str(e).startswith("fuzz.txt: ") and "\n" not in str(e)
        return
    assert unit in ("ms", "s")
    assert ms.size > 0 and np.all(np.isfinite(ms)) and np.all(ms > 0)
    assert np.all(ms >= 1.0) and np.all(ms <= 60_000.0)  # what an RR interval can be at all


toml_values = st.recursive(
    st.one_of(st.booleans(), numbers, st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
step_keys = st.sampled_from(["minutes", "seconds", "rate_bpm", "inhale_ratio", "inhale_s",
                             "exhale_s", "hold_in_s", "hold_out_s", "paced", "label", "other"])
steps = st.lists(st.dictionaries(step_keys, toml_values, max_size=5), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.one_of(steps, toml_values), st.one_of(st.text(max_size=5), toml_values))
def test_protocol_tables_parse_or_name_the_problem(step, name):
    try:
        p = parse_protocol({"name": name, "step": step}, "fuzz.toml")
    except ProtocolError as e:
        assert str(e).startswith("fuzz.toml") and "\n" not in str(e)
        return
    assert p.steps and all(math.isfinite(s.duration_s) and s.duration_s > 0 for s in p.steps)
    for s in p.steps:
        if s.shape is not None:
            v = (s.shape.inhale_s, s.shape.exhale_s, s.shape.hold_in_s, s.shape.hold_out_s)
            assert all(math.isfinite(x) and x >= 0 for x in v)
            assert 2 - 1e-9 <= s.shape.rate_bpm <= 30 + 1e-9  # no allow_extreme_pacing here

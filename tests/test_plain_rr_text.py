"""One-column RR text is read in one go when it is plain numbers (readers._plain_column); every
value, note and error line must be what reading it line by line gives. The expectations here are
computed independently, from the lines as written."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobreath.errors import SessionFileError
from biobreath.files.readers import parse_rr_table

# RRs in ms as a strap app writes them, in several spellings of the same kind of number.
_RR = st.floats(300.0, 1800.0, allow_nan=False).map(lambda x: round(x, 3))
_SPELL = st.sampled_from(["{:.3f}", "{:g}", "{:.0f}", "{:.2e}", "+{:.1f}", "{:.1f}"])
_BLANK = st.sampled_from(["", "   ", "\t"])


@st.composite
def _plain_file(draw):
    """(text, the values as written, the line number of each value)."""
    values = draw(st.lists(_RR, min_size=3, max_size=60))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    lines, numbers, cells = [], [], []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["RR", "rr_ms", "RR (ms)", "ibi"])))
    for v in values:
        while draw(st.integers(0, 5)) == 5:
            lines.append(draw(_BLANK))
        cell = draw(_SPELL).format(v)
        pad = draw(st.sampled_from(["", " ", "\t", "  "]))
        lines.append(pad + cell + draw(st.sampled_from(["", " ", "\t"])))
        numbers.append(len(lines))
        cells.append(cell)
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    return text, np.array([float(c) for c in cells]), numbers


@settings(max_examples=300, deadline=None)
@given(_plain_file())
def test_plain_one_column_text_gives_the_numbers_written(case):
    text, expected, _ = case
    parsed = parse_rr_table(text, "f.txt")
    assert parsed.unit == "ms"
    assert np.array_equal(parsed.rr_ms, expected)


@settings(max_examples=200, deadline=None)
@given(_plain_file(), st.data())
def test_a_bad_value_in_plain_text_is_named_with_its_own_line(case, data):
    text, values, numbers = case
    k = data.draw(st.integers(0, len(values) - 1))
    bad, why = data.draw(st.sampled_from([("-5", "not a positive RR interval"),
                                          ("0", "not a positive RR interval"),
                                          ("1e999", "not a finite number"),
                                          ("90000", "cannot be an RR interval")]))
    lines = text.split("\n")
    line = lines[numbers[k] - 1]
    lines[numbers[k] - 1] = line.replace(line.strip(), bad)
    with pytest.raises(SessionFileError) as e:
        parse_rr_table("\n".join(lines), "f.txt")
    assert f"f.txt: line {numbers[k]}: " in str(e.value) and why in str(e.value)


@pytest.mark.parametrize("text, message", [
    ("800\n900 1000\n850\n", "f.txt: line 2: 2 values, but line 1 has 1"),
    ("800\n1.2.3\n850\n", "f.txt: line 2: '1.2.3' is not a number"),
    ("800\n1_000\n850\n", "f.txt: line 2: '1_000' is not a number"),
    ("800\n\n# note\n-1\n", "f.txt: line 4: -1 is not a positive RR interval"),
    ("800\r900\r-1\r", "f.txt: line 3: -1 is not a positive RR interval"),
    ("RR\n", "f.txt: no RR values in the file (only the header, line 1)"),
])
def test_what_plain_reading_cannot_take_is_refused_as_before(text, message):
    with pytest.raises(SessionFileError) as e:
        parse_rr_table(text, "f.txt")
    assert str(e.value).startswith(message)


def test_comments_and_seconds_still_read():
    parsed = parse_rr_table("# from my app\n0.80\n0.90\n# pause\n0.85\n", "f.txt")
    assert np.array_equal(parsed.rr_ms, [800.0, 900.0, 850.0]) and parsed.unit == "s"

"""The notes biobreath writes into EDF+ and WFDB files read back as the markers and protocol
steps they were, whatever their text; another tool's notes are all markers."""

from hypothesis import given
from hypothesis import strategies as st

from biobreath.files.annotations import marker_text, markers_of, step_text, steps_of
from biobreath.files.recording import cut_utf8, one_line

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60).map(one_line)
_TIME = st.floats(0.0, 1e5, allow_nan=False)


@given(st.lists(st.tuples(_TIME, _TEXT), max_size=8),
       st.lists(st.tuples(_TIME, _TEXT, st.one_of(st.none(), st.floats(2.0, 30.0))), max_size=6))
def test_written_markers_and_steps_read_back(marks, steps):
    notes = [(t, marker_text(text)) for t, text in marks]
    notes += [(t, step_text(k, label, rate)) for k, (t, label, rate) in enumerate(steps, 1)]
    notes.append((1.0, "ECG gap (no samples; 0 written)"))  # biobreath's other notes: neither
    assert markers_of(notes, ours=True) == tuple(sorted(((t, x.strip()) for t, x in marks),
                                                        key=lambda m: m[0]))
    assert steps_of(notes, ours=True) == tuple(sorted(((t, x.strip()) for t, x, _ in steps),
                                                      key=lambda s: s[0]))


@given(_TEXT, st.one_of(st.none(), st.floats(2.0, 30.0)), st.integers(1, 40))
def test_a_step_cut_short_keeps_its_start_and_the_start_of_its_label(label, rate, n_bytes):
    """EDF+ keeps 40 bytes of a note: the pace comes first, so a cut shortens the label only."""
    written = step_text(3, label, rate)
    cut = cut_utf8(written, max(n_bytes, len(written.split(":")[0].encode()) + 1))
    (found,) = steps_of([(12.5, cut)], ours=True)
    assert found[0] == 12.5 and label.strip().startswith(found[1])


def test_another_tool_s_notes_are_markers_and_no_steps():
    notes = [(5.0, "Stimulus on"), (1.0, "  sleep stage W "), (2.0, ""),
             (3.0, step_text(1, "looks like ours", 6.0))]
    assert markers_of(notes, ours=False) == ((1.0, "sleep stage W"),
                                             (3.0, "step 1 (6.0/min): looks like ours"),
                                             (5.0, "Stimulus on"))
    assert steps_of(notes, ours=False) == ()
    assert markers_of(notes, ours=True) == ()  # in ours, only "marker:" notes are markers

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biobreath.core.artifacts import ArtifactKind, CausalDetector
from biobreath.core.live import LiveCore, rmssd


def rmssd_by_definition(rr_ms, accepted):
    """RMSSD as the Task Force (1996) defines it, written out independently of the product:
    the root mean square of the differences between successive accepted NN intervals, taking a
    difference only where both adjacent intervals were accepted (never across an artifact).
    NaN when no such pair exists."""
    total, pairs = 0.0, 0
    for k in range(1, len(rr_ms)):
        if accepted[k - 1] and accepted[k]:
            total += (float(rr_ms[k]) - float(rr_ms[k - 1])) ** 2
            pairs += 1
    return math.sqrt(total / pairs) if pairs else math.nan


def _live_reference(verdicts, window_s=60.0):
    """RMSSD over the judged beats of the last ``window_s`` seconds ending at the newest verdict,
    from the verdicts alone (their times, RRs and artifact flags)."""
    t_end = verdicts[-1].t
    window = [v for v in verdicts if v.t >= t_end - window_s]
    return window, rmssd_by_definition([v.rr_ms for v in window],
                                       [not v.artifact for v in window])


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-9)


def _series(n, seed=0):
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return (900 + 40 * np.sin(2 * np.pi * i / 5.5) + 15 * np.sin(2 * np.pi * i / 40)
            + rng.normal(0, 8, n))


def _feed(core, rr_ms):
    t = 0.0
    out = []
    for rr in rr_ms:
        t += rr / 1000
        out.extend(core.add_beat(t, float(rr)))
    return out + core.flush()


def test_every_beat_judged_once_with_at_most_two_beats_delay():
    core = LiveCore()
    rr = _series(100)
    seen = []
    t = 0.0
    for k, x in enumerate(rr):
        t += x / 1000
        verdicts = core.add_beat(t, float(x))
        for v in verdicts:
            assert k - 2 <= v.index <= k
        seen += [v.index for v in verdicts]
    seen += [v.index for v in core.flush()]
    assert seen == list(range(100))


def test_verdicts_equal_the_causal_lipponen_tarvainen_detector():
    rr = _series(400, seed=1)
    rr[100] *= 0.6      # ectopic: premature beat ...
    rr[101] *= 1.4      # ... and its compensatory pause
    rr[200] *= 2.0      # missed beat
    rr[300] = 3000.0    # out of physiological range
    verdicts = _feed(LiveCore(), rr)
    det = CausalDetector(warmup_beats=20)
    expected = [k for x in rr for _, k in det.push(float(x))] + [k for _, k in det.flush()]
    assert [v.kind for v in verdicts] == expected
    flagged = {v.index: v.reason for v in verdicts if v.artifact}
    assert {100, 101, 200, 300} <= set(flagged)
    assert flagged[200] == "missed" and flagged[300] in ("long", "out of range")
    assert len(flagged) <= 6


def test_reference_rmssd_on_hand_checked_series():
    # Differences 10, -20, 30: RMSSD = sqrt((100 + 400 + 900) / 3).
    assert rmssd_by_definition([800, 810, 790, 820], [True] * 4) == pytest.approx(
        math.sqrt(1400 / 3))
    # An artifact at 3000 ms removes both differences it takes part in (never bridged):
    # 10, -20, 30, then 5, -10 -> sqrt((100 + 400 + 900 + 25 + 100) / 5) = sqrt(305).
    rr = [800, 810, 790, 820, 3000, 800, 805, 795]
    ok = [True, True, True, True, False, True, True, True]
    assert rmssd_by_definition(rr, ok) == pytest.approx(math.sqrt(305))
    assert math.isnan(rmssd_by_definition([800, 3000, 800], [True, False, True]))


def test_live_rmssd_hand_computed_with_an_out_of_range_beat():
    rr = [800, 810, 790, 820, 3000, 800, 805, 795]
    core = LiveCore()
    verdicts = _feed(core, rr)
    assert [v.index for v in verdicts if v.artifact] == [4]  # 3000 ms: beyond 2000 ms
    assert core.state.rmssd_ms == pytest.approx(math.sqrt(305), rel=1e-12)  # 17.4642... ms


def test_rmssd_over_last_60_s_of_judged_beats_matches_direct_computation():
    rr = _series(400, seed=2)
    core = LiveCore()
    verdicts = _feed(core, rr)
    t = np.cumsum(rr) / 1000
    last = rr[t >= t[-1] - 60]
    assert core.state.n_artifacts == 0
    window, expected = _live_reference(verdicts)
    assert [v.rr_ms for v in window] == pytest.approx(last.tolist())
    assert core.state.rmssd_ms == pytest.approx(expected)
    assert core.state.rmssd_ms == pytest.approx(np.sqrt(np.mean(np.diff(last) ** 2)))
    assert core.state.hr_bpm == pytest.approx(60000 / rr[-1])


def test_rmssd_never_bridges_an_artifact_in_its_window():
    rr = _series(400, seed=3)
    rr[-40] *= 0.6      # ectopic: premature beat ...
    rr[-39] *= 1.4      # ... and its compensatory pause
    rr[-20] = 3000.0    # out of physiological range
    core = LiveCore()
    verdicts = _feed(core, rr)
    window, expected = _live_reference(verdicts)
    flagged = [v.index for v in window if v.artifact]
    assert {400 - 40, 400 - 39, 400 - 20} <= set(flagged)
    assert core.state.rmssd_ms == pytest.approx(expected)
    # Bridging or keeping the artifacts would give a clearly different number.
    rr_w = [v.rr_ms for v in window]
    assert expected < 0.5 * rmssd_by_definition(rr_w, [True] * len(rr_w))


def _check_after_every_beat(rr, times=None):
    """Feed ``rr`` (at ``times``, s, by default their running sum); after every beat that brought
    verdicts, compare the live RMSSD with the by-definition RMSSD of the judged beats of the last
    60 s. Returns the verdicts."""
    core = LiveCore()
    verdicts = []
    if times is None:
        times, t = [], 0.0
        for x in rr:
            t += x / 1000
            times.append(t)
    for t, x in zip(times, rr):
        new = core.add_beat(float(t), float(x))
        verdicts += new
        if new:
            window, expected = _live_reference(verdicts)
            if len(window) < 3:
                assert math.isnan(core.state.rmssd_ms)
            else:
                assert _same(core.state.rmssd_ms, expected), verdicts[-1].index
    return verdicts


def test_rmssd_after_every_beat_matches_the_definition():
    rr = _series(300, seed=4)
    rr[150] *= 0.6
    rr[151] *= 1.4
    rr[220] = 250.0     # below the physiological range
    verdicts = _check_after_every_beat(rr)
    assert sum(v.artifact for v in verdicts) >= 3


def test_rmssd_when_beat_times_step_back_matches_the_definition():
    """Times that step back (a strap's timer re-anchoring) leave in the 60 s window beats that
    need not be consecutive; RMSSD takes the pairs adjacent in the window, as it did before."""
    rr = _series(400, seed=9)
    rr[300] *= 0.6
    times = np.cumsum(rr) / 1000
    times[120:] -= 0.5    # a small step back
    times[250:] -= 70.0   # back past the whole window: later beats sit among earlier ones
    _check_after_every_beat(rr, times)


_rr_ms = st.floats(min_value=250.0, max_value=2500.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(30, 160),
       spikes=st.lists(st.tuples(st.integers(1, 60), _rr_ms), min_size=1, max_size=6))
def test_live_rmssd_property_matches_the_definition(seed, n, spikes):
    """A physiological series with artifacts anywhere in its last minute: after every beat the
    live RMSSD is the by-definition RMSSD of the judged beats of the last 60 s (NaN until three
    beats are in the window)."""
    rr = _series(n, seed=seed)
    for back, x in spikes:
        rr[max(0, n - back)] = x
    _check_after_every_beat(rr)


@settings(max_examples=200, deadline=None)
@given(rr=st.lists(_rr_ms, min_size=2, max_size=60), data=st.data())
def test_rmssd_function_matches_the_definition(rr, data):
    ok = data.draw(st.lists(st.booleans(), min_size=len(rr), max_size=len(rr)))
    pairs = np.array(ok[1:]) & np.array(ok[:-1])
    assert _same(rmssd(np.array(rr), pairs), rmssd_by_definition(rr, ok))
    assert _same(rmssd(np.array(rr)), rmssd_by_definition(rr, [True] * len(rr)))


def test_artifacts_do_not_enter_rmssd():
    rr = np.full(80, 900.0)
    rr[50] = 450.0
    rr[51] = 450.0   # an extra detection split one beat in two
    core = LiveCore()
    verdicts = _feed(core, rr)
    assert [v.index for v in verdicts if v.artifact] == [50]
    assert verdicts[50].kind == ArtifactKind.EXTRA
    # Beat 51 now closes the merged 900 ms interval, so nothing is left to vary.
    assert core.recent(60)[1][51 - 80] == 900.0
    assert core.state.rmssd_ms == 0.0
    assert core.state.n_artifacts == 1 and core.state.artifact_pct == pytest.approx(100 / 80)


def test_coherence_every_5_s_and_flat_memory():
    core = LiveCore()
    n = 20_000  # about 5 hours of beats
    rr = 900 + 60 * np.sin(2 * np.pi * 0.1 * np.cumsum(np.full(n, 0.9)))
    times = []
    t = 0.0
    prev = None
    for x in rr:
        t += x / 1000
        core.add_beat(t, float(x))
        if core.state.coherence is not prev:
            prev = core.state.coherence
            times.append(prev.t)
    assert np.allclose(np.diff(times), 5.0)
    assert core.state.coherence.score > 80
    assert core._beats.t.size < 2000  # buffers never grow


def test_zero_or_absurd_rr_is_judged_not_raised():
    rr = list(_series(40))
    rr[30] = 0.0
    rr[31] = 64000.0
    verdicts = _feed(LiveCore(), rr)
    assert verdicts[30].artifact and verdicts[31].artifact


def test_breath_swing_leaves_out_a_zero_rr_not_yet_judged():
    """A faulty strap's RR of 0 ms, newest and so not yet judged, has no heart rate: the swing
    over the breath stays what it was before that beat came (not infinite), with no division
    warning."""
    core, t = LiveCore(), 0.0
    for rr in _series(40):
        t += rr / 1000
        core.add_beat(t, float(rr))
    before = core.breath_swing(t - 10.0, t + 1.0)
    core.add_beat(t + 0.001, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after = core.breath_swing(t - 10.0, t + 1.0)
    assert math.isfinite(before) and before > 5.0
    assert after == before


def test_coherence_spectrum_is_the_one_the_score_was_read_from_even_when_asked_later():
    from biobreath.core.coherence import CoherenceParams, _measures, tachogram_psd

    params = CoherenceParams()
    core = LiveCore()
    rr = _series(900, seed=4)
    rr[[100, 101, 400]] = [300, 2500, 1900]  # artifacts the detector takes out
    t, verdicts, checked, prev = 0.0, [], 0, None
    pending = []  # (score, beats judged so far) waiting to be checked 20 beats later
    for x in rr:
        t += x / 1000
        verdicts.extend(core.add_beat(t, float(x)))
        result = core.state.coherence
        if result is not prev and result is not None and math.isfinite(result.score):
            prev = result
            pending.append((result, list(verdicts)))
        while pending and len(verdicts) - len(pending[0][1]) >= 20:
            result, judged = pending.pop(0)
            freq, psd = core.coherence_spectrum(result.t)
            # Independently: the normal beats judged by then inside the score's 64 s window.
            beats = [v for v in judged if not v.artifact
                     and result.t - params.window_s <= v.t <= result.t]
            bt = np.array([v.t for v in beats])
            want_f, want_p = tachogram_psd(bt, np.array([v.rr_ms for v in beats]),
                                           max(result.t - params.window_s, bt[0]),
                                           min(result.t, bt[-1]), params)
            np.testing.assert_array_equal(freq, want_f)
            np.testing.assert_allclose(psd, want_p, rtol=1e-12)
            # ... and it is the spectrum the score came from.
            assert _measures(freq, psd, params)[0][0][0] == pytest.approx(result.ratio, rel=1e-9)
            checked += 1
    assert checked > 100
    assert core.coherence_spectrum(-100.0) is None  # long gone

import numpy as np
import pytest

from biobreath.core.artifacts import ArtifactKind, CausalDetector
from biobreath.core.live import LiveCore, rmssd


def _series(n, seed=0):
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    return 900 + 40 * np.sin(2 * np.pi * i / 5.5) + 15 * np.sin(2 * np.pi * i / 40) + rng.normal(0, 8, n)


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


def test_rmssd_over_last_60_s_of_judged_beats_matches_direct_computation():
    rr = _series(400, seed=2)
    core = LiveCore()
    _feed(core, rr)
    t = np.cumsum(rr) / 1000
    last = rr[t >= t[-1] - 60]
    assert core.state.n_artifacts == 0
    assert core.state.rmssd_ms == pytest.approx(rmssd(last))
    assert core.state.rmssd_ms == pytest.approx(np.sqrt(np.mean(np.diff(last) ** 2)))
    assert core.state.hr_bpm == pytest.approx(60000 / rr[-1])


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
    assert core._t.data.size < 1000  # ring buffers never grow


def test_zero_or_absurd_rr_is_judged_not_raised():
    rr = list(_series(40))
    rr[30] = 0.0
    rr[31] = 64000.0
    verdicts = _feed(LiveCore(), rr)
    assert verdicts[30].artifact and verdicts[31].artifact

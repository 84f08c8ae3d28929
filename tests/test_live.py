import math

import numpy as np
import pytest

from biobreath.live import LiveCore, rmssd


def _feed(core, rr_ms):
    t = 0.0
    out = []
    for rr in rr_ms:
        t += rr / 1000
        out.append(core.add_beat(t, rr))
    return out


def test_screening_flags_out_of_range_and_ectopic_beats():
    rr = [900.0 + 20 * math.sin(i / 3) for i in range(60)]
    rr[20] = 3000.0   # out of physiological range
    rr[40] = 560.0    # premature (ectopic) beat
    rr[41] = 1240.0   # its compensatory pause
    verdicts = _feed(LiveCore(), rr)
    flagged = [i for i, v in enumerate(verdicts) if v.artifact]
    assert flagged == [20, 40, 41]
    assert verdicts[20].reason == "out of range" and verdicts[40].reason == "median test"


def test_rmssd_over_last_60_s_matches_direct_computation():
    rng = np.random.default_rng(0)
    rr = 850 + 40 * np.sin(np.arange(400) / 2.0) + rng.normal(0, 10, 400)
    core = LiveCore()
    _feed(core, rr)
    t = np.cumsum(rr) / 1000
    last = rr[t >= t[-1] - 60]
    assert core.state.rmssd_ms == pytest.approx(rmssd(last))
    assert core.state.rmssd_ms == pytest.approx(np.sqrt(np.mean(np.diff(last) ** 2)))
    assert core.state.hr_bpm == pytest.approx(60000 / rr[-1])


def test_artifacts_do_not_enter_rmssd():
    rr = [900.0] * 80
    rr[50] = 450.0
    core = LiveCore()
    _feed(core, rr)
    assert core.state.rmssd_ms == 0.0
    assert core.state.n_artifacts == 1 and core.state.artifact_pct == pytest.approx(100 / 80)


def test_coherence_every_5_s_and_flat_memory():
    core = LiveCore()
    n = 20_000  # about 5 hours of beats
    rr = 900 + 60 * np.sin(2 * np.pi * 0.1 * np.cumsum(np.full(n, 0.9)))
    times = []
    t = 0.0
    for x in rr:
        t += x / 1000
        prev = core.state.coherence
        core.add_beat(t, float(x))
        if core.state.coherence is not prev:
            times.append(core.state.coherence.t)
    assert np.allclose(np.diff(times), 5.0)
    assert core.state.coherence.score > 80
    assert core._t.data.size < 1000  # ring buffers never grow

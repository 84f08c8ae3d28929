"""Physiological synchrony: the windowed cross-correlation against a brute-force computation,
known lags and gaps, simulated people on virtual straps (paced together: high; free breathing
with different resonances: low), ``analyze``'s synchrony object and ``--people N``."""

import asyncio
import json
import math
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from scipy.interpolate import CubicSpline
from scipy.signal import detrend

from biobreath.core.pacer import Pacer
from biobreath.core.synchrony import SynchronyParams, synchrony
from biobreath.files.protocols import load_protocol
from biobreath.offline.analysis import analyze_file
from biobreath.offline.synchrony import session_synchrony
from biobreath.session import Session
from biobreath.session.recorder import RecordingListener
from biobreath.sim.virtual_source import open_virtual_straps
from biobreath.sim.virtual_time import VirtualTimeLoop, loop_clock
from biobreath.sources.factory import simulated_people


def _beats(hr_of_t, t_end: float, t0: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and RR (ms) of a heart whose rate (bpm) at time t is ``hr_of_t(t)``."""
    t = [t0]
    while t[-1] < t_end:
        t.append(t[-1] + 60.0 / hr_of_t(t[-1]))
    t = np.array(t)
    return t[1:], np.diff(t) * 1000.0


def _wave(f_hz, amp=6.0, delay=0.0, noise_seed=None):
    rng = np.random.default_rng(noise_seed)
    knots = np.arange(-10, 1000, 2.0)
    wobble = rng.normal(0, 1.5, knots.size) if noise_seed is not None else 0 * knots
    return lambda t: (70 + amp * math.sin(2 * math.pi * f_hz * (t - delay))
                      + np.interp(t, knots, wobble))


def _brute_force(a, b, p: SynchronyParams):
    """Per window, the peak r over lags computed the plain way: scipy's cubic spline, scipy's
    linear detrend and numpy's corrcoef on every lag of every window."""
    lo, hi = max(a[0][0], b[0][0]), min(a[0][-1], b[0][-1])
    grid = lo + np.arange(int(math.floor((hi - lo) * p.fs_hz + 1e-9)) + 1) / p.fs_hz
    x = CubicSpline(a[0], 60000 / a[1])(grid)
    y = CubicSpline(b[0], 60000 / b[1])(grid)
    w, lag, step = (round(v * p.fs_hz) for v in (p.window_s, p.max_lag_s, p.step_s))
    peaks, lags = [], []
    for s in range(lag, grid.size - w - lag + 1, step):
        rs = [np.corrcoef(detrend(x[s:s + w]), detrend(y[s + k:s + k + w]))[0, 1]
              for k in range(-lag, lag + 1)]
        k = int(np.argmax(np.abs(rs)))
        peaks.append(rs[k])
        lags.append((k - lag) / p.fs_hz)
    return np.array(peaks), np.array(lags)


def test_windows_match_a_brute_force_computation():
    a = _beats(_wave(0.1, noise_seed=1), 200)
    b = _beats(_wave(0.1, delay=1.0, noise_seed=2), 200, t0=0.4)
    p = SynchronyParams(n_surrogates=0)
    res = synchrony(*a, *b, params=p)
    peaks, lags = _brute_force(a, b, p)
    assert res.n_windows == peaks.size > 25
    np.testing.assert_allclose(res.peak_r, peaks, atol=1e-9)
    np.testing.assert_allclose(res.peak_lag_s, lags)
    z = np.arctanh(np.abs(peaks))
    assert res.r == pytest.approx(np.tanh(z.mean()), abs=1e-9)
    assert res.in_phase_pct == pytest.approx(100 * np.mean(peaks > 0))


@pytest.mark.parametrize("delay", [-2.0, 0.0, 1.5])
def test_the_lag_at_the_peak_is_how_late_b_follows_a(delay):
    # A rhythm with no period inside +/-3 s (0.05 Hz) so that only the true lag fits.
    a = _beats(_wave(0.05, amp=8), 300)
    b = _beats(_wave(0.05, amp=8, delay=delay), 300)
    res = synchrony(*a, *b, params=SynchronyParams(n_surrogates=0))
    assert res.lag_s == pytest.approx(delay, abs=0.25)
    assert res.r > 0.95 and res.in_phase_pct == 100


def test_anti_phase_is_strong_coupling_with_negative_peaks():
    a = _beats(_wave(0.05, amp=8), 300)
    b = _beats(lambda t: 140 - _wave(0.05, amp=8)(t), 300)
    res = synchrony(*a, *b, params=SynchronyParams(n_surrogates=0))
    assert res.r > 0.95 and res.in_phase_pct == 0 and res.zero_lag_r < -0.9


def test_no_window_touches_a_gap_in_the_beats():
    a = _beats(_wave(0.1, noise_seed=3), 300)
    b = _beats(_wave(0.1, noise_seed=4), 300)
    gap = (b[0] > 140) & (b[0] < 150)  # ten seconds without a beat from B
    p = SynchronyParams(n_surrogates=0)
    full = synchrony(*a, *b, params=p)
    cut = synchrony(*a, b[0][~gap], b[1][~gap], params=p)
    reach = p.window_s / 2 + p.max_lag_s
    assert cut.n_windows < full.n_windows
    assert not np.any((cut.t_s + reach > 140) & (cut.t_s - reach < 150))
    kept = np.isin(full.t_s, cut.t_s)
    np.testing.assert_allclose(cut.peak_r, full.peak_r[kept], atol=1e-6)


def test_too_little_overlap_gives_nan_not_a_number_made_up():
    a = _beats(_wave(0.1), 100)
    b = _beats(_wave(0.1), 130, t0=80)
    res = synchrony(*a, *b)
    assert res.n_windows == 0 and math.isnan(res.r) and math.isnan(res.lag_s)


def test_surrogates_find_coupling_beyond_a_shared_rhythm():
    # Both follow one slow wave that changes from moment to moment: real pairs line up, pairs
    # of different moments do not.
    rng = np.random.default_rng(5)
    knots = np.arange(0, 620, 5.0)
    shared = rng.normal(0, 4, knots.size)
    a = _beats(lambda t: 70 + np.interp(t, knots, shared), 600)
    b = _beats(lambda t: 64 + np.interp(t - 1.0, knots, shared), 600)
    res = synchrony(*a, *b)
    assert res.n_surrogates == 20
    assert res.r > 0.9 and res.surrogate_r < res.r - 0.2
    assert res.surrogate_p == pytest.approx(1 / 21)


# -- Simulated people on virtual straps ---------------------------------------------------------


def _session(protocol: str, seconds: float, seed: int, resonance: float, out=None):
    people = simulated_people(2, seed, resonance)

    async def main():
        pacer = Pacer(load_protocol(protocol))
        source = open_virtual_straps(["person 1", "person 2"], sim_params=people, pacer=pacer,
                                     pmd=False)
        session = Session(source, loop_clock(), pacer, duration_s=seconds,
                          listeners=[RecordingListener(out)] if out else [])
        await session.run()
        return session

    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        session = runner.run(main())
    series = []
    for strap in session.straps.values():
        t, rr, art = strap.core.recent(1e9, judged_only=True)
        series += [t[~art], rr[~art]]
    return people, series


@pytest.fixture(scope="module")
def paced(tmp_path_factory):
    path = tmp_path_factory.mktemp("sync") / "paced.sqlite"
    return path, *_session("coherence", 240.0, 0, 5.5, path)


def test_two_people_paced_by_one_pacer_are_in_synchrony(paced):
    _, people, series = paced
    assert people[0].resonance_bpm != people[1].resonance_bpm
    res = synchrony(*series)
    assert res.n_windows >= 35
    assert res.r > 0.75 and res.zero_lag_r > 0.6 and res.in_phase_pct > 90


def test_two_free_breathers_with_different_resonances_are_not():
    people, series = _session("free", 240.0, 0, 5.5)
    assert abs(people[0].resonance_bpm - people[1].resonance_bpm) >= 1.0
    res = synchrony(*series)
    paced_like = synchrony(*_beats(_wave(0.1, noise_seed=1), 240),
                           *_beats(_wave(0.1, noise_seed=2), 240))
    assert res.n_windows >= 35
    assert res.r < 0.6 and abs(res.zero_lag_r) < 0.3
    assert res.r < paced_like.r - 0.3
    # No more than independent moments of the same two people give.
    assert res.surrogate_p > 0.05


def test_analyze_gets_a_synchrony_object_for_the_pair(paced):
    path, _, series = paced
    analyses = analyze_file(path)
    sync = session_synchrony(analyses)
    assert sync is not None and len(sync["pairs"]) == 1
    pair = sync["pairs"][0]
    assert pair["a"]["person"] == "person 1" and pair["b"]["person"] == "person 2"
    assert pair["r"] > 0.75 and pair["n_windows"] >= 35 and pair["n_surrogates"] == 20
    assert sync["parameters"] == {"fs_hz": 4.0, "window_s": 30.0, "step_s": 5.0,
                                  "max_lag_s": 3.0, "max_gap_s": 4.0, "n_surrogates": 20}
    json.dumps(sync, allow_nan=False)
    assert session_synchrony(analyses[:1]) is None


def test_analyze_json_prints_the_synchrony_object_for_every_person(paced, capsys):
    from biobreath.cli import main

    path, _, _ = paced
    assert main(["analyze", str(path), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["person"] for r in rows] == ["person 1", "person 2"]
    assert rows[0]["synchrony"] == rows[1]["synchrony"]
    assert rows[0]["synchrony"] == json.loads(json.dumps(session_synchrony(analyze_file(path))))


def test_people_option_makes_that_many_virtual_straps(tmp_path):
    out = tmp_path / "three.sqlite"
    done = subprocess.run([sys.executable, "-m", "biobreath", "train", "--source", "virtual",
                           "--people", "3", "--speed", "max", "--headless", "--duration", "20",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(out) as db:
        people = [r[0] for r in db.execute("SELECT person FROM devices ORDER BY id")]
        meta = db.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()[0]
        per_strap = db.execute("SELECT device_id, COUNT(*) FROM beats GROUP BY device_id")
        per_strap = per_strap.fetchall()
    source = json.loads(meta)
    # The first strap is the practising person's (here the default one); the others numbered.
    assert len(people) == 3 and people[1:] == ["person 2", "person 3"]
    assert len({s["resonance_bpm"] for s in source["virtual_straps"]}) == 3
    assert len(per_strap) == 3 and all(n > 10 for _, n in per_strap)


@pytest.mark.parametrize("extra", [["--source", "sim"], ["--source", "virtual", "--device", "A"]])
def test_people_option_refuses_other_straps_in_one_line(extra):
    done = subprocess.run([sys.executable, "-m", "biobreath", "train", "--people", "2",
                           "--headless", *extra], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "--people" in done.stderr

"""The examples are part of the documentation: they must run and print true numbers.

Each example runs as its own process (from an empty working directory, with a timeout that only
guards against a hang) on simulated data; its output is parsed and checked against what the
simulated person and the protocol make true, and against identities between the numbers printed.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.py"))
NUM = r"(nan|[-+]?\d+(?:\.\d+)?)"


def _run_example(name, cwd):
    done = subprocess.run([sys.executable, str(EXAMPLES_DIR / name)], capture_output=True,
                          text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(Path(cwd).iterdir()), "the example left files in the working directory"
    return done.stdout


def _match(pattern, line):
    m = re.fullmatch(pattern, line.strip())
    assert m, f"unexpected line: {line!r}"
    return [float(x) for x in m.groups()]


def test_every_example_is_tested():
    assert {p.name for p in EXAMPLES} == {"analyze_recording.py", "replay_session.py",
                                          "stream_simulated_strap.py"}


def test_analyze_recording(tmp_path):
    """Five minutes of a person breathing at 5.5/min with 1 % ectopic beats."""
    lines = _run_example("analyze_recording.py", tmp_path).splitlines()
    assert len(lines) == 4
    n, pct, passes = _match(r"example\.sqlite: (\d+) beats, ([\d.]+) % artifacts corrected in "
                            r"(\d+) pass\(es\)", lines[0])
    hr, sdnn, rmssd = _match(r"mean HR ([\d.]+) bpm, SDNN ([\d.]+) ms, RMSSD ([\d.]+) ms",
                             lines[1])
    lf, lf_hz, lf_bpm, hf, lf_hf = _match(
        r"LF (\d+) ms² peaking at ([\d.]+) Hz \(([\d.]+) breaths/min\), HF (\d+) ms², "
        r"LF/HF ([\d.]+)", lines[2])
    sd1, sd2, alpha1 = _match(r"SD1 ([\d.]+) ms, SD2 ([\d.]+) ms, DFA α1 ([\d.]+)", lines[3])
    values = (n, pct, passes, hr, sdnn, rmssd, lf, lf_hz, lf_bpm, hf, lf_hf, sd1, sd2, alpha1)
    assert all(math.isfinite(v) for v in values)
    # Physiological ranges for a resting adult.
    assert 40 < hr < 100 and 10 < sdnn < 250 and 5 < rmssd < 200 and 0.3 < alpha1 < 2.0
    # 300 s of beats at the printed mean heart rate (mean HR of the corrected series).
    assert n == pytest.approx(300 * hr / 60, rel=0.05)
    # About 1 % ectopic beats, each flagged with its neighbour at most: 0.3-4 % artifacts.
    assert 0.3 < pct < 4 and passes >= 1
    # Breathing at 5.5/min puts the LF peak at 5.5/60 Hz, and the power in LF, not HF.
    assert lf_bpm == pytest.approx(lf_hz * 60, abs=0.01)
    assert lf_bpm == pytest.approx(5.5, abs=0.5)
    assert lf > 3 * hf > 0 and lf_hf == pytest.approx(lf / hf, rel=0.01)
    # Poincaré identities: SD1 = RMSSD/sqrt(2) (up to SDSD vs RMSSD) and
    # SDNN^2 = (SD1^2 + SD2^2)/2.
    assert sd1 == pytest.approx(rmssd / math.sqrt(2), rel=0.02)
    assert sdnn == pytest.approx(math.sqrt((sd1**2 + sd2**2) / 2), rel=0.02)
    assert sd2 > sd1  # slow breathing: long-term variability dominates


def test_replay_session(tmp_path):
    """Three minutes of coherence breathing (6/min) recorded, then replayed."""
    lines = _run_example("replay_session.py", tmp_path).splitlines()
    rows = [_match(r"breath +(\d+) +([\d.]+)- +([\d.]+) s +HR +" + NUM + r" bpm +swing +" + NUM
                   + r" bpm +coherence +" + NUM, line) for line in lines[:-1]]
    n_beats, mean_coherence = _match(r"(\d+) beats, mean coherence " + NUM, lines[-1])
    # A breath every 10 s on the pacer clock, numbered from 1, for the recording's 180 s.
    assert [r[0] for r in rows] == list(range(1, 19))
    assert [(r[1], r[2]) for r in rows] == [(t, t + 10.0) for t in range(0, 180, 10)]
    hr = [r[3] for r in rows]
    swing = [r[4] for r in rows]
    assert all(math.isfinite(x) and 45 < x < 100 for x in hr)
    # Slow breathing swings the heart rate visibly with every breath.
    assert all(math.isfinite(x) and 3 < x < 40 for x in swing)
    # 180 s of beats at the printed heart rates.
    assert n_beats == pytest.approx(180 * sum(hr) / len(hr) / 60, rel=0.05)
    # Coherence needs about a minute of beats; from then on it is high for paced breathing.
    coherence = [r[5] for r in rows]
    assert all(math.isnan(c) for c in coherence[:3])
    assert all(math.isfinite(c) and 50 < c <= 100 for c in coherence[6:])
    assert 50 < mean_coherence <= 100


def test_stream_simulated_strap(tmp_path):
    """Two minutes of a person resonating at 6/min, following a 6/min pacer."""
    lines = _run_example("stream_simulated_strap.py", tmp_path).splitlines()
    rows = [_match(r"t= *([\d.]+) s +RR +([\d.]+) ms +(?:\([a-z ]+\))? +HR +" + NUM
                   + r" bpm +RMSSD +" + NUM + r" ms +coherence +" + NUM, line) for line in lines]
    t = [r[0] for r in rows]
    # One line per coherence update: every 5 s of beat time (to within a beat), up to 2 minutes.
    assert len(rows) >= 20
    assert all(4.0 <= b - a <= 6.5 for a, b in zip(t, t[1:]))
    assert t[-1] <= 125
    for _, rr, hr, rmssd, _ in rows:
        assert 400 < rr < 1500
        assert 40 < hr < 120 and 5 < rmssd < 200
    # Where the beat printed is normal, HR is that beat's: 60000 / RR (to print precision).
    for line, (_, rr, hr, _, _) in zip(lines, rows):
        if "(" not in line:
            assert hr == pytest.approx(60000 / rr, abs=0.15)
    # Coherence, once there is enough data, is high: the person breathes at their resonance.
    scores = [r[4] for r in rows if math.isfinite(r[4])]
    assert len(scores) >= 10 and all(c <= 100 for c in scores)
    assert min(scores[-8:]) > 60

"""What the user waits for: ``biobreath analyze`` timed as a whole process (a script, not a test).

Run from the repository root: ``python benchmarks/bench_cli.py`` (``--runs N``, default 3;
``--neurokit-million`` also runs NeuroKit2 on the million beats, which takes minutes and a few GB).

Every figure printed here is **whole process**: a fresh interpreter started by
``subprocess.run``, so interpreter start-up, imports, reading the file, artifact correction, all
HRV domains, coherence and the JSON output are all in it, as when a user types the command. It
generates RR text files (one interval in ms per line) of 100 000 and 1 000 000 beats and of the
first 5 minutes in a temporary folder, compiles the package's bytecode as an install does (this
machine sets ``PYTHONDONTWRITEBYTECODE``; the runs go without it), then prints the best of
``--runs`` runs of:

* ``python -m biobreath --help``;
* ``python -m biobreath analyze --json FILE`` (``--artifacts auto``, the default) for each file;
* NeuroKit2's ``hrv_time`` + ``hrv_frequency`` on the same beats, in its own process (a small
  script that imports NeuroKit2, reads the file and computes both), run alternately with ours
  so both see the same machine load; and the ratio. NeuroKit2 is a benchmark-only dependency
  (``pip install neurokit2 "pandas<3"``); without it those lines are skipped.

Last, an in-process breakdown of one run of the 100 000-beat analysis by stage (imports, read,
artifacts, each HRV domain, coherence), to show where the time goes; those stage figures are
in-process and say so.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._util import user_env  # noqa: E402
from benchmarks.bench_hrv import synthetic_beats  # noqa: E402

ENV = user_env(ROOT)

NEUROKIT_SCRIPT = """
import sys, warnings
import numpy as np
import neurokit2 as nk
rr = np.loadtxt(sys.argv[1])
peaks = np.concatenate(([0], np.cumsum(rr).round().astype(np.int64)))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    nk.hrv_time(peaks, sampling_rate=1000)
    nk.hrv_frequency(peaks, sampling_rate=1000)
"""

STAGES_SCRIPT = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from biobreath.core import artifacts, coherence, hrv
from biobreath.files.readers import read_rr_all
from biobreath.offline.analysis import nn_times
marks = [("imports (numpy, biobreath science, readers)", time.perf_counter() - t0)]
def stage(name, fn):
    t = time.perf_counter()
    out = fn()
    marks.append((name, time.perf_counter() - t))
    return out
rec = stage("read the RR file", lambda: read_rr_all(sys.argv[1])[0])
corr = stage("artifacts: detect + correct (Lipponen-Tarvainen)",
             lambda: artifacts.correct(rec.rr_ms))
nn = corr.rr_ms
stage("time domain", lambda: hrv.time_domain(nn))
stage("frequency domain (Welch)", lambda: hrv.frequency_domain(nn))
profile = np.cumsum(nn - nn.mean())
stage("nonlinear: DFA alpha1 + alpha2",
      lambda: (hrv._dfa_alpha(profile, (4, 16)), hrv._dfa_alpha(profile, (16, 64))))
stage("nonlinear: exact sample entropy",
      lambda: hrv._sample_entropy(nn, 2, 0.2 * float(np.std(nn, ddof=1))))
t = stage("beat times", lambda: nn_times(rec.beat_time_s, rec.rr_ms, nn, corr.origin))
stage("coherence scores (64 s windows every 5 s)", lambda: coherence.coherence_scores(t, nn))
stage("coherence results (CoherenceResult per window)",
      lambda: coherence.coherence_series(t, nn))
for name, s in marks:
    print(f"{name}\\t{s}")
"""


def write_rr(path: Path, rr: np.ndarray) -> Path:
    """One RR interval (ms) per line, as a strap app exports them."""
    np.savetxt(path, rr, fmt="%.4f")
    return path


def run(cmd: list[str]) -> float:
    """Wall time (s) of one whole process; it must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    return time.perf_counter() - t0


def best(cmd: list[str], runs: int) -> float:
    return min(run(cmd) for _ in range(runs))


def biobreath(*args: str) -> list[str]:
    return [sys.executable, "-m", "biobreath", *args]


def have_neurokit() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import neurokit2"], capture_output=True)
    return probe.returncode == 0


def side_by_side(ours: list[str], theirs: list[str], runs: int) -> tuple[float, float]:
    """Best wall time (s) of each command, run alternately so both see the same load."""
    a, b = float("inf"), float("inf")
    for _ in range(runs):
        a = min(a, run(ours))
        b = min(b, run(theirs))
    return a, b


def stages(path: Path) -> list[tuple[str, float]]:
    """In-process time (s) of each stage of the analysis, in one fresh process."""
    out = subprocess.run([sys.executable, "-c", STAGES_SCRIPT, str(path)], check=True,
                         capture_output=True, text=True, cwd=ROOT, env=ENV).stdout
    return [(name, float(s)) for name, s in (line.split("\t") for line in out.splitlines())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per figure; the best is shown")
    ap.add_argument("--neurokit-million", action="store_true",
                    help="also time NeuroKit2 on the million beats (minutes, several GB)")
    args = ap.parse_args()
    runs = args.runs
    nk = have_neurokit()
    print("all figures whole process (fresh interpreter, imports included), best of "
          f"{runs}, unless marked in-process")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        hundred_k = synthetic_beats(100_000, seed=0)
        files = {
            "5 min": write_rr(folder / "five_min.txt",
                              hundred_k[: int(np.searchsorted(np.cumsum(hundred_k), 300_000.0))]),
            "100k": write_rr(folder / "day_100k.txt", hundred_k),
            "1M": write_rr(folder / "days_1m.txt", synthetic_beats(1_000_000, seed=100)),
        }
        for label, f in files.items():
            n = sum(1 for _ in f.open())
            print(f"  {label}: {f.name}, {n} beats")

        print(f"biobreath --help: {best(biobreath('--help'), runs):.2f} s")
        print(f"biobreath analyze --json, 5 min: "
              f"{best(biobreath('analyze', '--json', str(files['5 min'])), runs):.2f} s")

        ours_cmd = biobreath("analyze", "--json", str(files["100k"]))
        if nk:
            nk_cmd = [sys.executable, "-c", NEUROKIT_SCRIPT, str(files["100k"])]
            ours, theirs = side_by_side(ours_cmd, nk_cmd, runs)
            print(f"100 000 beats: biobreath analyze --json (all domains, --artifacts auto) "
                  f"{ours:.2f} s; NeuroKit2 hrv_time + hrv_frequency {theirs:.2f} s: "
                  f"{theirs / ours:.1f}x  (targets: < 1.5 s, >= 10x, aim 20x)")
        else:
            print(f"100 000 beats: biobreath analyze --json {best(ours_cmd, runs):.2f} s "
                  "(target < 1.5 s); NeuroKit2 not installed, ratio skipped")

        million = biobreath("analyze", "--json", str(files["1M"]))
        if nk and args.neurokit_million:
            nk_cmd = [sys.executable, "-c", NEUROKIT_SCRIPT, str(files["1M"])]
            ours, theirs = side_by_side(million, nk_cmd, 1)
            print(f"1 000 000 beats: biobreath {ours:.2f} s; NeuroKit2 {theirs:.2f} s: "
                  f"{theirs / ours:.1f}x  (target < 15 s)")
        else:
            print(f"1 000 000 beats: biobreath analyze --json {best(million, min(runs, 2)):.2f} s "
                  "(target < 15 s)")

        for label in ("100k", "1M"):
            print(f"where the time goes, {label} beats (in-process stages of one fresh process):")
            for name, s in stages(files[label]):
                print(f"  {name}: {s:.3f} s")


if __name__ == "__main__":
    main()

"""Accuracy of ``biobreath assess`` on the simulated person: the confusion table of recommended
against true resonance rates, over many seeds, and how often each confidence word was right.

Run: python benchmarks/bench_assess.py [--seeds 12] [--first-seed 100] [--jobs 2] [--model]
Whole process: each run is ``biobreath assess --source sim --headless --speed max --json`` as a
user types it (the full 12-minute protocol on the virtual clock, recorded to a temporary folder).
``--model`` instead evaluates the simulated person's own beats in this process, as ``assess``
evaluates its recording (no strap, session or recorder: the same confusion table as the whole
command for seeds 100-109, and the same rate in every one of 30 runs compared one by one; about
10 times faster), for samples of hundreds of runs.
The peer is chance: one rate in five (20 %).

Runs with the same seed share their noise at every rate (the person's breathing wanders the same
way through the protocol whatever their resonance), so misses come in clusters by seed and the
figure over 10 seeds varies from block to block by several per cent: count seeds, not runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

RATES = (4.5, 5.0, 5.5, 6.0, 6.5)


def one_run(rate: float, seed: int, folder: Path) -> dict:
    """One assessment of the simulated person with resonance ``rate`` and ``seed``."""
    env = dict(os.environ, BIOBREATH_DATA_DIR=str(folder / f"data-{rate}-{seed}"))
    out = subprocess.run(
        [sys.executable, "-m", "biobreath", "assess", "--source", "sim", "--headless",
         "--speed", "max", "--json", "--sim-resonance", str(rate), "--sim-seed", str(seed),
         "--out", str(folder / f"assess-{rate}-{seed}.sqlite")],
        capture_output=True, text=True, env=env, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise SystemExit(f"rate {rate} seed {seed}: no JSON (exit {out.returncode}): "
                         f"{out.stderr.strip()[-300:]}")
    return json.loads(lines[-1])


def one_model_run(rate: float, seed: int) -> dict:
    """The same assessment from the simulated person's true beats, evaluated in this process."""
    from biobreath.cli.assess import evaluate_recording
    from biobreath.core.pacer import Pacer
    from biobreath.files.protocols import load_protocol
    from biobreath.files.readers import RRRecording
    from biobreath.sim.physiology import PhysiologyModel, SimParams

    protocol = load_protocol("resonance-assessment")
    pacer = Pacer(protocol)
    chunk = PhysiologyModel(SimParams(seed=seed, resonance_bpm=rate),
                            pacer).advance(pacer.duration_s)
    rec = RRRecording(Path("model.sqlite"), "session", chunk.rr_ms, chunk.beat_times,
                      np.zeros(chunk.rr_ms.size, bool), "ms", protocol=protocol)
    r = evaluate_recording(rec, "bench").recommendation
    return {"recommended_bpm": r.rate_bpm, "confidence_words": r.words}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12, help="seeds per rate (default 12)")
    ap.add_argument("--first-seed", type=int, default=100,
                    help="first seed (default 100, away from the tests' seeds)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    ap.add_argument("--model", action="store_true",
                    help="evaluate the simulated person's beats in this process (fast)")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(r, s) for r in RATES for s in seeds]
    t0 = time.perf_counter()
    if args.model:
        results = [one_model_run(*j) for j in jobs]
    else:
        with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(lambda j: one_run(*j, Path(tmp)), jobs))
    wall = time.perf_counter() - t0
    table: dict[float, Counter] = {r: Counter() for r in RATES}
    words: dict[str, Counter] = {}
    for (rate, _), res in zip(jobs, results):
        got = res["recommended_bpm"]
        table[rate][got] += 1
        words.setdefault(res["confidence_words"], Counter())[got == rate] += 1
    hits = sum(table[r][r] for r in RATES)
    how = "the model's beats, in process" if args.model else f"whole process, {args.jobs} jobs"
    print(f"bench_assess ({how}): {len(jobs)} assessments, seeds {seeds.start}-"
          f"{seeds.stop - 1}, {wall:.0f} s wall")
    print("true \\ recommended " + "".join(f"{r:>6.1f}" for r in RATES) + "  none  correct")
    for r in RATES:
        row = table[r]
        print(f"{r:>18.1f} " + "".join(f"{row[c]:>6d}" for c in RATES)
              + f"{row[None]:>6d}  {row[r] / args.seeds:>6.0%}")
    print(f"accuracy {hits}/{len(jobs)} = {hits / len(jobs):.0%} (peer: chance, 20 %)")
    near = sum(n for r in RATES for c, n in table[r].items()
               if c is not None and abs(c - r) <= 0.5)
    print(f"within 0.5 breaths/min: {near}/{len(jobs)}")
    misses = Counter(s for (rate, s), res in zip(jobs, results)
                     if res["recommended_bpm"] != rate)
    print(f"seeds with a miss: {len(misses)}/{len(seeds)} "
          f"({', '.join(f'{s}: {n}' for s, n in sorted(misses.items())) or 'none'})")
    for w, c in sorted(words.items()):
        print(f"confidence {w!r}: {c[True]}/{c[True] + c[False]} right")


if __name__ == "__main__":
    main()

"""Accuracy of ``biobreath assess`` on the simulated person: the confusion table of recommended
against true resonance rates, over many seeds, and how often each confidence word was right.

Run: python benchmarks/bench_assess.py [--seeds 12] [--first-seed 100] [--jobs 2]
Whole process: each run is ``biobreath assess --source sim --headless --speed max --json`` as a
user types it (the full 12-minute protocol on the virtual clock, recorded to a temporary folder).
The peer is chance: one rate in five (20 %).
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12, help="seeds per rate (default 12)")
    ap.add_argument("--first-seed", type=int, default=100,
                    help="first seed (default 100, away from the tests' seeds)")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    args = ap.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(r, s) for r in RATES for s in seeds]
    t0 = time.perf_counter()
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
    print(f"bench_assess (whole process): {len(jobs)} assessments, seeds {seeds.start}-"
          f"{seeds.stop - 1}, {wall:.0f} s wall with {args.jobs} jobs")
    print("true \\ recommended " + "".join(f"{r:>6.1f}" for r in RATES) + "  none  correct")
    for r in RATES:
        row = table[r]
        print(f"{r:>18.1f} " + "".join(f"{row[c]:>6d}" for c in RATES)
              + f"{row[None]:>6d}  {row[r] / args.seeds:>6.0%}")
    print(f"accuracy {hits}/{len(jobs)} = {hits / len(jobs):.0%} (peer: chance, 20 %)")
    near = sum(n for r in RATES for c, n in table[r].items()
               if c is not None and abs(c - r) <= 0.5)
    print(f"within 0.5 breaths/min: {near}/{len(jobs)}")
    for w, c in sorted(words.items()):
        print(f"confidence {w!r}: {c[True]}/{c[True] + c[False]} right")


if __name__ == "__main__":
    main()

"""Beat timing with the window open on a busy computer (issue: trust, point 2).

Runs the virtual Polar H10 in the trainer window (offscreen) at ``--speed 10`` while two
CPU-bound processes load both cores, and the same seed headless at full speed on the virtual-time
loop (no load can reach it). For each recording it prints how far beat times wander from the RR
chain (the strap's own tick counter, which no delivery delay can change: within each unbroken
chain, beat time minus the summed RRs should be a constant plus a slow clock drift, so the error
is the residual of a straight-line fit), and the live coherence mean (exactly what the session
showed: the recording replayed headless). Whole-process runs; run from the repository root:

    python benchmarks/bench_trust_window.py [--seconds 300] [--seed 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from biobreath.files.recording import read_session

BURN = "while True: pass"


SETTLE_S = 10.0
"""Beats in the first seconds of a chain are placed while the timer still learns the link; the
error is taken after them, as for the timing benchmark (bench_timing.py)."""


def chain_error_ms(path: Path) -> np.ndarray:
    """|beat time − (RR chain + fitted offset and drift)| per beat (ms), chain by chain, from
    ``SETTLE_S`` into each chain on."""
    data = read_session(path)
    with_gaps = _gap_flags(path)
    errors = []
    for dev in np.unique(data.device_ids):
        m = data.device_ids == dev
        t, rr, gap = data.beat_time_s[m], data.rr_ms[m] / 1000.0, with_gaps[m]
        starts = np.flatnonzero(gap | np.r_[True, np.diff(t) > 5.0])
        for a, b in zip(starts, np.r_[starts[1:], t.size]):
            if b - a < 10:
                continue
            chain = np.cumsum(rr[a:b])
            settled = chain >= SETTLE_S
            if settled.sum() < 5:
                continue
            chain, off = chain[settled], (t[a:b] - np.cumsum(rr[a:b]))[settled]
            fit = np.polyval(np.polyfit(chain, off, 1), chain)
            errors.append(np.abs(off - fit) * 1000.0)
    return np.concatenate(errors) if errors else np.zeros(0)


def _gap_flags(path: Path) -> np.ndarray:
    import sqlite3

    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        return np.array([bool(g) for (g,) in db.execute(
            "SELECT COALESCE(gap, 0) FROM beats ORDER BY id")], dtype=bool)


def live_coherence(path: Path) -> float:
    out = subprocess.run([sys.executable, "-m", "biobreath", "replay", str(path), "--headless",
                          "--speed", "max"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"live coherence mean (\d+)", out)
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    common = ["--source", "virtual", "--duration", f"{args.seconds:g}",
              "--sim-seed", str(args.seed)]
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2)]
        try:
            subprocess.run([sys.executable, "-m", "biobreath", "train", *common, "--speed", "10",
                            "--out", str(d / "window.session"), "--screenshot",
                            str(d / "window.png")], env=env, check=True, capture_output=True)
        finally:
            for b in burners:
                b.kill()
        subprocess.run([sys.executable, "-m", "biobreath", "train", *common, "--headless",
                        "--speed", "max", "--out", str(d / "headless.session")], check=True,
                       capture_output=True)
        rows = []
        for name in ("window", "headless"):
            path = d / f"{name}.session"
            err = chain_error_ms(path)
            p50, p99 = (np.median(err), np.percentile(err, 99)) if err.size else (np.nan,) * 2
            rows.append((name, p50, p99, int(_gap_flags(path).sum()), live_coherence(path)))
    print(f"virtual Polar H10, seed {args.seed}, {args.seconds:g} s (whole process)")
    print(f"{'run':<34} {'p50 ms':>7} {'p99 ms':>7} {'breaks':>7} {'live coherence':>15}")
    labels = {"window": "window, --speed 10, 2 CPU burners", "headless": "headless, --speed max"}
    for name, p50, p99, breaks, coh in rows:
        print(f"{labels[name]:<34} {p50:7.1f} {p99:7.1f} {breaks:7d} {coh:15.0f}")
    print(f"coherence difference: {abs(rows[0][4] - rows[1][4]):.0f} points (aim: within 3)")


if __name__ == "__main__":
    main()

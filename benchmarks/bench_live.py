"""Live-core cost per beat (median, p99), against a naive peer that recomputes from all history.

Run: python benchmarks/bench_live.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import percentiles_ms  # noqa: E402

from biobreath.core.coherence import coherence  # noqa: E402
from biobreath.core.live import LiveCore, rmssd  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.files.protocols import load_protocol  # noqa: E402
from biobreath.sim.physiology import PhysiologyModel, SimParams  # noqa: E402


def beats(hours: float) -> tuple[np.ndarray, np.ndarray]:
    model = PhysiologyModel(SimParams(seed=3), Pacer(load_protocol("coherence")))
    chunk = model.advance(hours * 3600)
    return chunk.beat_times, chunk.rr_ms


class NaivePeer:
    """Keeps every beat in lists and recomputes from the whole history (what a first draft does)."""

    def __init__(self) -> None:
        self.t: list[float] = []
        self.rr: list[float] = []
        self.next_coh = None

    def add_beat(self, t: float, rr: float) -> None:
        self.t.append(t)
        self.rr.append(rr)
        ta, ra = np.array(self.t), np.array(self.rr)
        med = np.median(ra[-12:-1]) if ra.size > 3 else rr
        ok = np.abs(ra - med) <= 0.3 * med
        rmssd(ra[(ta >= t - 60) & ok])
        if self.next_coh is None:
            self.next_coh = t + 5
        elif t >= self.next_coh:
            coherence(ta, ra, self.next_coh)
            self.next_coh += 5


def time_per_beat(obj, bt, rr) -> list[float]:
    out = []
    clock = time.perf_counter
    for t, x in zip(bt.tolist(), rr.tolist()):
        t0 = clock()
        obj.add_beat(t, x)
        out.append(clock() - t0)
    return out


def main() -> None:
    bt, rr = beats(1.0)
    ours = time_per_beat(LiveCore(), bt, rr)
    peer = time_per_beat(NaivePeer(), bt, rr)
    om, op = percentiles_ms(ours)
    pm, pp = percentiles_ms(peer)
    print(f"live core, one simulated hour ({bt.size} beats)")
    print(f"  biobreath LiveCore : median {om:.4f} ms  p99 {op:.4f} ms  (targets 0.2 / 2 ms)")
    print(f"  naive full-history : median {pm:.4f} ms  p99 {pp:.4f} ms")
    print(f"  ratio naive/ours   : median {pm / om:.1f}x  p99 {pp / op:.1f}x")
    print(f"  worst beat (a coherence update): ours {max(ours) * 1000:.3f} ms, "
          f"naive {max(peer) * 1000:.3f} ms")
    # One live coherence update alone: the last 64 s of beats -> spectrum -> ratio and score.
    ends = np.arange(bt[0] + 70, bt[-1], 5.0)
    costs = []
    for t_end in ends:
        m = (bt > t_end - 69) & (bt <= t_end)
        t0 = time.perf_counter()
        coherence(bt[m], rr[m], float(t_end))
        costs.append(time.perf_counter() - t0)
    cm, cp = percentiles_ms(costs)
    print(f"  live coherence update ({len(costs)} windows): median {cm:.3f} ms  p99 {cp:.3f} ms "
          "(target < 1 ms)")


if __name__ == "__main__":
    main()

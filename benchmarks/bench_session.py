"""Accelerated session and replay throughput (times real time), and memory over 8 hours.

Run: python benchmarks/bench_session.py [--hours-memory 8]
The peer is the bare simulated strap (bytes -> parser -> beat timing, no session) in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import time
from pathlib import Path

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.replay import ReplaySource
from biobreath.ui.headless import HeadlessPrinter

HOUR = 3600.0


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_protocol(hours: float):
    return parse_protocol({"name": "long", "step": [{"minutes": hours * 60, "rate_bpm": 6,
                                                     "inhale_ratio": "4:6"}]})


async def bare_source(seconds: float) -> int:
    clock = ScaledClock(None)
    n = 0
    async for ev in SimulatedStrap(SimParams(seed=1), Pacer(long_protocol(1))).events(clock):
        n += 1
        if ev.t >= seconds:
            return n
    return n


class MemoryProbe(SessionListener):
    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.next_t = 0.0

    def on_breath(self, report) -> None:
        if report.t1 >= self.next_t:
            self.samples.append((report.t1 / HOUR, rss_mb()))
            self.next_t += HOUR


def run(source, pacer, seconds, out=None, listeners=()) -> float:
    session = Session(source, ScaledClock(None), pacer, duration_s=seconds,
                      listeners=[*([RecordingListener(out)] if out else []),
                                 HeadlessPrinter(io.StringIO()), *listeners])
    t0 = time.perf_counter()
    asyncio.run(session.run())
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours-memory", type=float, default=8.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "hour.sqlite"
        t0 = time.perf_counter()
        asyncio.run(bare_source(HOUR))
        bare = time.perf_counter() - t0
        pacer = Pacer(long_protocol(1))
        wall = run(SimulatedStrap(SimParams(seed=1), pacer), pacer, HOUR, out)
        data = read_session(out)
        replay = run(ReplaySource(data), Pacer(long_protocol(1)), HOUR)
        print(f"one simulated hour, headless, recorded ({data.rr_ms.size} beats)")
        print(f"  simulated session : {wall:.2f} s wall = {HOUR / wall:,.0f}x real time "
              f"(target >= 1000x)")
        print(f"  replay            : {replay:.2f} s wall = {HOUR / replay:,.0f}x real time")
        print(f"  peer: bare strap  : {bare:.2f} s wall = {HOUR / bare:,.0f}x real time "
              f"(session costs {wall / bare:.1f}x the bare source)")

        hours = args.hours_memory
        probe = MemoryProbe()
        pacer = Pacer(long_protocol(hours))
        wall = run(SimulatedStrap(SimParams(seed=2), pacer), pacer, hours * HOUR,
                   Path(d) / "long.sqlite", [probe])
        print(f"{hours:g}-hour simulated session: {wall:.1f} s wall; resident memory by hour:")
        print("  " + "  ".join(f"{h:.0f}h {mb:.0f} MB" for h, mb in probe.samples))
        first, last = probe.samples[1][1], probe.samples[-1][1]
        print(f"  growth from hour 1 to hour {probe.samples[-1][0]:.0f}: {last - first:+.1f} MB")


if __name__ == "__main__":
    main()

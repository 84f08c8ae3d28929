"""Accelerated session and replay speed (times real time), and memory over 8 hours.

Run from the repository root: python benchmarks/bench_session.py [--runs 5] [--hours-memory 8]

**Whole process** (what a user waits for): ``biobreath train --headless --speed max --duration 3600
--out X`` and ``biobreath replay X --headless --speed max``, each a fresh interpreter started by
``subprocess.run`` (imports, the session file's creation and closing included), run ``--runs``
times alternately, with the package's bytecode compiled as an install leaves it (this machine sets
``PYTHONDONTWRITEBYTECODE``; the runs go without it). Printed for each: the best run (the figure
the targets are read on, as ``bench_cli.py`` reads its own and ``timeit`` advises: other work on
a shared machine only ever adds time), and beside it the median and the range of the wall time,
and the median CPU time the process used (user + system).
**In-process**: the same hour run by ``Session`` inside this process (imports excluded), beside
its peer, the bare simulated strap (bytes -> parser -> beat timing, no session) in the same run;
and the floor under ``train``: the session's own work over the same events decoded beforehand,
beside the whole process of a one-second ``train``.
``--hours-memory 0`` leaves out the memory run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.core.protocol import parse_protocol
from biobreath.events import Battery, Link, LinkState
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.base import BeatSource
from biobreath.sources.replay import ReplaySource
from biobreath.straps.decoder import HeartRateDecoder
from biobreath.ui.headless import HeadlessPrinter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._util import user_env  # noqa: E402

HOUR = 3600.0
ROOT = Path(__file__).resolve().parents[1]
ENV = user_env(ROOT)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def long_protocol(hours: float):
    return parse_protocol({"name": "long", "step": [{"minutes": hours * 60, "rate_bpm": 6,
                                                     "inhale_ratio": "4:6"}]})


class DecodedEvents(BeatSource):
    """The simulated strap's hour, decoded before the clock starts and handed over from memory
    at the same pace: a session over it is the session's own work alone (live core, breath
    reports, event loop), with no simulator, beat timer or recorder."""

    kind = "sim"

    def __init__(self, seconds: float) -> None:
        strap = SimulatedStrap(SimParams(seed=1), Pacer(long_protocol(seconds / HOUR)))
        self._devices = strap.devices
        decoder = HeartRateDecoder(device=strap.address)
        self.notes: list[tuple[float, list]] = []
        t_end = 0.0
        while t_end < seconds + strap.chunk_s:
            t_end += strap.chunk_s
            for n in strap.strap.encode(strap.model.advance(t_end)):
                self.notes.append((n.arrival_s, decoder.decode(n.arrival_s, n.payload)))
        self._first = (Link(0.0, LinkState.CONNECTED, "connected", strap.address),
                       Battery(0.0, 90, strap.address))

    @property
    def devices(self):
        return self._devices

    async def events(self, clock):
        for ev in self._first:
            yield ev
        for arrival, events in self.notes:
            await clock.sleep_until(arrival)
            for ev in events:
                yield ev


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


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall time and CPU time (s) of one whole process; it must succeed."""
    c0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    return time.perf_counter() - t0, _children_cpu() - c0


def whole_process(folder: Path, runs: int) -> tuple[list[tuple[float, float]], ...]:
    """(wall, CPU) times (s) of ``runs`` one-hour sessions and of their replays, alternately."""
    bb = [sys.executable, "-m", "biobreath"]
    live, replay = [], []
    for k in range(runs):
        out = folder / f"whole_{k}.sqlite"
        live.append(timed([*bb, "train", "--headless", "--speed", "max", "--duration",
                           f"{HOUR:g}", "--out", str(out)]))
        replay.append(timed([*bb, "replay", str(out), "--headless", "--speed", "max"]))
    return live, replay


def figure(label: str, times: list[tuple[float, float]], target: str = "") -> str:
    walls, cpus = [w for w, _ in times], [c for _, c in times]
    best, med, cpu = min(walls), statistics.median(walls), statistics.median(cpus)
    return (f"  {label}{target}:\n    best of {len(times)} {best:.2f} s = {HOUR / best:,.0f}x "
            f"real time; wall median {med:.2f} s = {HOUR / med:,.0f}x (range {best:.2f}-"
            f"{max(walls):.2f} s); CPU median {cpu:.2f} s = {HOUR / cpu:,.0f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="whole-process runs of each command")
    ap.add_argument("--hours-memory", type=float, default=8.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        live, replay = whole_process(Path(d), args.runs)
        print("one simulated hour, WHOLE PROCESS (fresh interpreter, imports included), "
              "on a shared machine:")
        print(figure("biobreath train --headless --speed max --duration 3600 --out X",
                     live, " (target >= 3000x)"))
        print(figure("biobreath replay X --headless --speed max", replay,
                     " (target >= 3000x)"))

        out = Path(d) / "hour.sqlite"
        t0 = time.perf_counter()
        asyncio.run(bare_source(HOUR))
        bare = time.perf_counter() - t0
        pacer = Pacer(long_protocol(1))
        session = run(SimulatedStrap(SimParams(seed=1), pacer), pacer, HOUR, out)
        data = read_session(out)
        replayed = run(ReplaySource(data), Pacer(long_protocol(1)), HOUR)
        print(f"one simulated hour, IN-PROCESS (imports excluded; {data.rr_ms.size} beats)")
        print(f"  simulated session : {session:.2f} s wall = {HOUR / session:,.0f}x real time")
        print(f"  replay            : {replayed:.2f} s wall = {HOUR / replayed:,.0f}x real time")
        print(f"  peer: bare strap  : {bare:.2f} s wall = {HOUR / bare:,.0f}x real time "
              f"(session costs {session / bare:.1f}x the bare source)")
        alone = run(DecodedEvents(HOUR), Pacer(long_protocol(1)), HOUR)
        print(f"  the session's own work alone (decoded events from memory: no simulator, "
              f"beat timer or recorder): {alone:.2f} s")
        # What a 3,000x hour leaves: its 1.2 s less a train of one simulated second.
        start = min(timed([sys.executable, "-m", "biobreath", "train", "--headless", "--speed",
                           "max", "--duration", "1", "--out", str(Path(d) / f"short_{k}.sqlite")]
                          )[0] for k in range(args.runs))
        print(f"  whole process, train of 1 simulated second (start-up, person, file): "
              f"{start:.2f} s, best of {args.runs}; with the session's own work "
              f"{start + alone:.2f} s of the {HOUR / 3000:.1f} s a 3,000x hour allows")

        hours = args.hours_memory
        if hours <= 0:
            return
        probe = MemoryProbe()
        pacer = Pacer(long_protocol(hours))
        took = run(SimulatedStrap(SimParams(seed=2), pacer), pacer, hours * HOUR,
                   Path(d) / "long.sqlite", [probe])
        print(f"{hours:g}-hour simulated session (in-process): {took:.1f} s wall; "
              "resident memory by hour:")
        print("  " + "  ".join(f"{h:.0f}h {mb:.0f} MB" for h, mb in probe.samples))
        first, last = probe.samples[1][1], probe.samples[-1][1]
        print(f"  growth from hour 1 to hour {probe.samples[-1][0]:.0f}: {last - first:+.1f} MB")


if __name__ == "__main__":
    main()

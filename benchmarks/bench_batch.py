"""Batch analysis: ``biobreath analyze FOLDER --csv OUT`` on N one-hour recordings, in one
process, in 2 worker processes and on a 2-worker Dask LocalCluster (a script, not a test).

Run from the repository root: ``python benchmarks/bench_batch.py`` (``--n 1000`` recordings by
default, ``--cache DIR`` where they are kept between runs, ``--runs R`` best of R, default 1;
``--distinct K`` makes only K recordings and names each N/K times, each name analysed anew).

**The recordings** are made once, in this process, through the real session and recorder: the
simulated person (seed K for recording K) on the simulated strap, breathing the ``coherence``
protocol (6 breaths/min, its last step held to the end) for 3600 s of session time on the virtual
clock (``ScaledClock(None)``), recorded by ``RecordingListener``: the session and recorder that
``biobreath train --source sim --headless --speed max --duration 3600 --sim-seed K --out ...``
runs (same simulated person defaults), without starting an interpreter per file. They are kept
in ``--cache`` (default ``~/.cache/biobreath-bench/batch``) and reused; only missing ones are
made.

**The figures** are **whole process**: each configuration runs ``python -m biobreath analyze
FOLDER --csv OUT`` as a fresh process, imports included, and its wall time gives recordings per
second, and the CPU time (user + system) of every process doing the work, per recording, which
the machine's other load does not inflate as much (2 workers scale well when it stays flat).
Memory is the peak of the summed resident memory (RSS) of every process doing the work,
sampled every 50 ms: the command and its worker processes, and for Dask the cluster's worker
processes too (the cluster is started before the clock starts, as a lab's cluster would already
run; its idle memory is printed beside). The peer is the same command in one process: the
scaling from 1 to 2 workers is the ratio of their rates. The three tables must be identical
(checked, and said).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biobreath.clock import ScaledClock  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.files.protocols import load_protocol  # noqa: E402
from biobreath.session import Session  # noqa: E402
from biobreath.session.recorder import RecordingListener  # noqa: E402
from biobreath.sim.physiology import SimParams  # noqa: E402
from biobreath.sim.source import SimulatedStrap  # noqa: E402

SESSION_S = 3600.0


def record(path: Path, seed: int) -> None:
    """One simulated hour, recorded to ``path`` through the real session and recorder."""
    pacer = Pacer(load_protocol("coherence"))
    source = SimulatedStrap(SimParams(seed=seed), pacer)
    session = Session(source, ScaledClock(None), pacer, duration_s=SESSION_S,
                      listeners=[RecordingListener(path)])
    asyncio.run(session.run())


def ensure_recordings(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"hour-{k:04d}.sqlite" for k in range(n)]
    missing = [(k, p) for k, p in enumerate(paths) if not p.exists()]
    t0 = time.perf_counter()
    for i, (k, p) in enumerate(missing, 1):
        partial = p.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        record(partial, seed=k)
        partial.rename(p)  # only whole recordings carry the final name
        if i % 10 == 0 or i == len(missing):
            print(f"  made {i}/{len(missing)} recordings ({time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return paths


class PeakMemory:
    """Peak of the summed RSS of a set of process trees, sampled every ``interval_s``."""

    def __init__(self, roots: list[psutil.Process], interval_s: float = 0.05) -> None:
        self.roots, self.interval_s, self.peak = roots, interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self) -> int:
        total = 0
        for root in self.roots:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass  # it ended between listing and reading
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_s(procs: list[psutil.Process]) -> float:
    """User + system CPU time (s) of ``procs`` so far."""
    total = 0.0
    for p in procs:
        t = p.cpu_times()
        total += t.user + t.system
    return total


def _children_cpu_s() -> float:
    """User + system CPU time (s) of this process's waited-for children and theirs."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_analyze(folder: Path, out: Path, extra: list[str],
                also: list[psutil.Process]) -> tuple[float, float, int]:
    """Wall time (s), CPU time (s) and peak summed RSS (bytes) of one whole ``analyze``
    process, its worker processes and the processes ``also`` (a cluster's workers)."""
    cmd = [sys.executable, "-m", "biobreath", "analyze", str(folder), "--csv", str(out), *extra]
    cpu0 = _children_cpu_s() + _cpu_s(also)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    with PeakMemory([psutil.Process(proc.pid), *also]) as mem:
        _, err = proc.communicate()
    wall = time.perf_counter() - t0
    cpu = _children_cpu_s() + _cpu_s(also) - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"analyze {' '.join(extra)} failed ({proc.returncode}): {err.strip()}")
    return wall, cpu, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="recordings (default 1000)")
    ap.add_argument("--cache", type=Path,
                    default=Path.home() / ".cache" / "biobreath-bench" / "batch",
                    help="where the recordings are kept between runs")
    ap.add_argument("--runs", type=int, default=1, help="best of R runs per configuration")
    ap.add_argument("--distinct", type=int, metavar="K",
                    help="make only K distinct recordings and give the folder N names for them "
                         "in turn (symbolic links), when making N takes too long (default: N)")
    args = ap.parse_args()
    k = min(args.distinct or args.n, args.n)

    print(f"making {k} one-hour recordings in {args.cache} (in-process session + "
          "recorder, virtual clock; reused when present)", flush=True)
    made = ensure_recordings(args.cache, k)
    folder = args.cache / f"n{args.n}-of-{k}"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(args.n):  # a folder holding exactly N names (the cache may hold more)
        link = folder / f"hour-{i:04d}.sqlite"
        if not link.exists():
            link.symlink_to(made[i % k])
        paths.append(made[i % k])
    size_mb = sum(p.stat().st_size for p in paths) / 2**20
    print(f"{args.n} recordings, {size_mb / args.n:.1f} MB each on average; {os.cpu_count()} "
          "cores", flush=True)

    from distributed import LocalCluster

    results = {}
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                         dashboard_address=None) as cluster:
        # The cluster's worker processes are this process's children (nannies run in here).
        workers = psutil.Process().children(recursive=True)
        idle = PeakMemory(workers).rss()
        configs = [("1 process (--jobs 1)", []), ("2 processes (--jobs 2)", ["--jobs", "2"]),
                   ("Dask, 2 workers (--dask)", ["--dask", cluster.scheduler_address])]
        tables = {}
        for run in range(args.runs):
            for name, extra in configs:
                out = Path(tmp) / f"{len(tables)}-{run}.csv"
                wall, cpu, peak = run_analyze(folder, out, extra,
                                              workers if "--dask" in extra else [])
                best = results.get(name)
                if best is None or wall < best[0]:
                    results[name] = (wall, cpu, peak)
                tables[name] = out.read_bytes()
        same = len(set(tables.values())) == 1

    print(f"\nwhole process: biobreath analyze FOLDER --csv OUT, {args.n} one-hour recordings, "
          f"best of {args.runs}")
    base = results["1 process (--jobs 1)"][0]
    for name, (wall, cpu, peak) in results.items():
        print(f"  {name:26s} {wall:7.1f} s  {args.n / wall:6.2f} recordings/s "
              f"({base / wall:.2f}x one process)  CPU {cpu / args.n:5.2f} s per recording  "
              f"peak memory {peak / 2**20:5.0f} MB")
    print(f"  machine load (1-minute average) at the end: {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores: with other work running, 2 workers cannot run 2x")
    print(f"  Dask workers' idle memory before the run: {idle / 2**20:.0f} MB (in the peak)")
    print(f"  tables identical across the three: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()

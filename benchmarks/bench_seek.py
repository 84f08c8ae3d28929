"""Seeking in a one-hour recording with the replay timeline: time to land anywhere.

Run from the repository root: python benchmarks/bench_seek.py [--seeks 30] [--file X]

**In-process** (a seek is an action inside the running window, so imports and start-up do not
belong to it): a one-hour simulated session is recorded (or ``--file`` is used), the
:class:`~biobreath.ui.timeline.Scrubber` indexes it once (snapshots every 60 s, the window's
news included), then seeks to ``--seeks`` moments spread at random over the hour; each seek is
timed from the request until the session has taken every event up to the moment (``landed``):
copying the snapshot before it and replaying the rest at full speed. **Peer**: the same seek
with no snapshot but the start, i.e. replaying from the beginning at full speed (what replay
did before the timeline), at a few of the same moments. Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # SessionNews lives in the window module

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import percentiles_ms  # noqa: E402

from biobreath.clock import ScaledClock  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.core.protocol import parse_protocol  # noqa: E402
from biobreath.files.recording import read_session  # noqa: E402
from biobreath.session import Session  # noqa: E402
from biobreath.session.recorder import RecordingListener  # noqa: E402
from biobreath.sim.physiology import SimParams  # noqa: E402
from biobreath.sim.source import SimulatedStrap  # noqa: E402
from biobreath.ui.timeline import Scrubber, landed  # noqa: E402
from biobreath.ui.window import SessionNews  # noqa: E402

HOUR = 3600.0


def record_hour(path: Path) -> None:
    protocol = parse_protocol({"name": "hour", "step": [{"minutes": 60, "rate_bpm": 6,
                                                         "inhale_ratio": "4:6"}]})
    pacer = Pacer(protocol)
    session = Session(SimulatedStrap(SimParams(seed=11), pacer), ScaledClock(None), pacer,
                      duration_s=HOUR, listeners=[RecordingListener(path)])
    asyncio.run(session.run())


async def land(scrubber: Scrubber, t: float) -> float:
    """Seconds from asking for moment ``t`` until the session has landed there."""
    t0 = time.perf_counter()
    session = scrubber.session_at(t)
    task = asyncio.ensure_future(session.run())
    while not landed(session):
        await asyncio.sleep(0)
    took = time.perf_counter() - t0
    session.stop()
    await task
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeks", type=int, default=30)
    ap.add_argument("--peer-seeks", type=int, default=5)
    ap.add_argument("--file", type=Path, help="a recording to seek in (default: record an hour)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.file
        if path is None:
            path = Path(tmp) / "hour.sqlite"
            t0 = time.perf_counter()
            record_hour(path)
            print(f"recorded one simulated hour in {time.perf_counter() - t0:.1f} s")
        data = read_session(path)
        print(f"recording: {data.duration_s / 60:.0f} min")

        def news(s):
            return [SessionNews(s)]

        scrubber = Scrubber(data, news)
        t0 = time.perf_counter()
        asyncio.run(scrubber.index())
        print(f"in-process: index (one pass at full speed, {len(scrubber.snapshots)} "
              f"snapshots): {time.perf_counter() - t0:.2f} s")
        rng = np.random.default_rng(3)
        moments = rng.uniform(0.0, data.duration_s, args.seeks)
        took = [asyncio.run(land(scrubber, float(t))) for t in moments]
        med, p99 = percentiles_ms(took)
        print(f"in-process: seek with snapshots every {scrubber.snapshot_s:g} s, {args.seeks} "
              f"moments: median {med:.0f} ms, p99 {p99:.0f} ms, max {max(took) * 1000:.0f} ms")

        peer = Scrubber(data, news, snapshot_s=float("inf"))  # only the start: replay from 0
        few = moments[:args.peer_seeks]
        peer_took = [asyncio.run(land(peer, float(t))) for t in few]
        ours = [took[i] for i in range(len(few))]
        print(f"peer (replay from the start), same {len(few)} moments: median "
              f"{np.median(peer_took) * 1000:.0f} ms, max {max(peer_took) * 1000:.0f} ms; "
              f"ratio of medians {np.median(peer_took) / np.median(ours):.1f}x")


if __name__ == "__main__":
    main()

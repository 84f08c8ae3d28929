"""Replay a recorded session through the live core and collect what the trainer showed.

    python examples/replay_session.py [FILE]

Without FILE, a 3-minute simulated session is recorded first. The replay runs on a virtual clock
as fast as possible and gives exactly the numbers the live session gave.
"""

import asyncio
import sys
import tempfile
from pathlib import Path

from biobreath.clock import ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.files.protocols import load_protocol
from biobreath.files.recording import read_session
from biobreath.session import Session, SessionListener
from biobreath.session.recorder import RecordingListener
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap
from biobreath.sources.replay import ReplaySource


class BreathTable(SessionListener):
    def on_breath(self, r) -> None:
        print(f"breath {r.n + 1:3d}  {r.t0:6.1f}-{r.t1:6.1f} s  HR {r.hr_bpm:5.1f} bpm  "
              f"swing {r.swing_bpm:5.1f} bpm  coherence {r.coherence_score:5.1f}")

    def on_end(self, s) -> None:
        print(f"{s.n_beats} beats, mean coherence {s.coherence_mean:.1f}")


def replay(path: Path) -> None:
    data = read_session(path)
    pacer = Pacer(data.protocol())
    session = Session(ReplaySource(data), ScaledClock(None), pacer,
                      duration_s=data.duration_s, listeners=[BreathTable()])
    asyncio.run(session.run())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        replay(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "example.sqlite"
            pacer = Pacer(load_protocol("coherence"))
            asyncio.run(Session(SimulatedStrap(SimParams(seed=5), pacer), ScaledClock(None),
                                pacer, duration_s=180, listeners=[RecordingListener(f)]).run())
            replay(f)

"""Lab Streaming Layer: latency of a beat from the session's beat event to an inlet.

Run: ``python benchmarks/bench_lsl.py [SESSION_S]`` (default 300 s of simulated session at 10x
real time, about 30 s). In-process. Prints median and p99 (ms of wall time, on the LSL clock)
from the moment the session hands a beat event to its listeners until an inlet in another thread
of the same process has the RR sample (that thread needs the interpreter lock, which the session
holds while it computes, so the tail includes waiting for it), beside a peer: a bare pylsl outlet
and inlet passing one sample at a time, the floor LSL itself sets on this machine. LSL is kept on
this machine (an ``LSLAPICFG`` file with ``ResolveScope = machine``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

_CFG = Path(tempfile.mkdtemp(prefix="biobreath-lsl-")) / "lsl_api.cfg"
_CFG.write_text("[multicast]\nResolveScope = machine\n[ports]\nIPv6 = disable\n")
os.environ["LSLAPICFG"] = str(_CFG)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pylsl  # noqa: E402
from pylsl.util import LostError  # noqa: E402

from biobreath.clock import ScaledClock  # noqa: E402
from biobreath.core.pacer import Pacer  # noqa: E402
from biobreath.events import Beat  # noqa: E402
from biobreath.files.protocols import load_protocol  # noqa: E402
from biobreath.session import Session, SessionListener  # noqa: E402
from biobreath.session.lsl import LslOutlets  # noqa: E402
from biobreath.sim.physiology import SimParams  # noqa: E402
from biobreath.sim.source import SimulatedStrap  # noqa: E402


class Receiver(threading.Thread):
    """Pulls one stream sample by sample, noting the LSL clock as each arrives."""

    def __init__(self, info) -> None:
        super().__init__(daemon=True)
        self.inlet = pylsl.StreamInlet(info, recover=False)
        self.inlet.open_stream(10.0)
        self.arrived: list[float] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                sample, _ = self.inlet.pull_sample(timeout=0.2)
            except LostError:  # the outlet closed at the end
                return
            if sample is not None:
                self.arrived.append(pylsl.local_clock())


class BeatClock(SessionListener):
    """Placed before the outlets: notes when each beat event is handed out, and connects a
    receiver to the RR stream at the first beat (its outlet opened at the strap's connection)."""

    def __init__(self, lsl: LslOutlets) -> None:
        self.lsl, self.sent, self.receiver = lsl, [], None

    def on_event(self, ev) -> None:
        if not isinstance(ev, Beat):
            return
        if self.receiver is None:
            outlet = next(o for (_, s), o in self.lsl._outlets.items() if s == "RR")
            info = outlet.get_info()
            found = [i for i in pylsl.resolve_byprop("source_id", info.source_id(), 1, 10.0)
                     if i.uid() == info.uid()]
            self.receiver = Receiver(found[0])
            self.receiver.start()
        self.sent.append(pylsl.local_clock())

    def on_stop(self, t: float) -> None:
        while len(self.receiver.arrived) < len(self.sent):  # before the outlets close
            threading.Event().wait(0.05)
        self.receiver.done.set()


def session_latency(seconds: float) -> np.ndarray:
    pacer = Pacer(load_protocol("coherence"))
    lsl = LslOutlets()
    clock_listener = BeatClock(lsl)
    session = Session(SimulatedStrap(SimParams(seed=1), pacer), ScaledClock(10.0), pacer,
                      duration_s=seconds, listeners=[clock_listener, lsl])
    asyncio.run(session.run())
    return (np.array(clock_listener.receiver.arrived) - np.array(clock_listener.sent)) * 1e3


def bare_latency(n: int) -> np.ndarray:
    info = pylsl.StreamInfo("bench bare", "RR", 1, 0.0, "double64", f"bench-bare-{os.getpid()}")
    outlet = pylsl.StreamOutlet(info)
    found = [i for i in pylsl.resolve_byprop("source_id", info.source_id(), 1, 10.0)]
    receiver = Receiver(found[0])
    receiver.start()
    sent = []
    for k in range(n):
        sent.append(pylsl.local_clock())
        outlet.push_sample([800.0 + k])
        while len(receiver.arrived) <= k:  # one sample in flight at a time, as beats are
            threading.Event().wait(0.001)
        threading.Event().wait(0.01)
    receiver.done.set()
    return (np.array(receiver.arrived) - np.array(sent)) * 1e3


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
    ours = session_latency(seconds)
    bare = bare_latency(len(ours))
    print(f"beat event -> inlet, {len(ours)} beats of a {seconds:g} s simulated session at 10x "
          f"(in-process, wall ms): median {np.median(ours):.3f}, p99 "
          f"{np.percentile(ours, 99):.3f}, max {ours.max():.3f}")
    print(f"peer, bare pylsl outlet -> inlet, {len(bare)} samples one at a time (wall ms): "
          f"median {np.median(bare):.3f}, p99 {np.percentile(bare, 99):.3f}, "
          f"max {bare.max():.3f}")


if __name__ == "__main__":
    main()

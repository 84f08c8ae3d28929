"""Stream beats from the simulated strap and watch coherence build up, without any window.

The simulated person follows a 6 breaths/min pacer; their heartbeats travel as Heart Rate
Measurement bytes through the same parser and beat timing a real strap's do. The virtual clock
runs as fast as the computer can, so two simulated minutes take a fraction of a second.

    python examples/stream_simulated_strap.py
"""

import asyncio

from biobreath.clock import ScaledClock
from biobreath.core.live import LiveCore
from biobreath.core.pacer import Pacer
from biobreath.events import Beat
from biobreath.files.protocols import load_protocol
from biobreath.sim.physiology import SimParams
from biobreath.sim.source import SimulatedStrap


async def main(seconds: float = 120.0) -> None:
    pacer = Pacer(load_protocol("coherence"))
    strap = SimulatedStrap(SimParams(seed=7, resonance_bpm=6.0), pacer)
    core = LiveCore()
    shown = None
    async for event in strap.events(ScaledClock(speed=None)):
        if not isinstance(event, Beat):
            continue
        # Verdicts arrive two beats late: the causal artifact detector needs the next beats.
        for verdict in core.add_beat(event.t, event.rr_ms):
            state = core.state
            if state.coherence is not shown:
                shown = state.coherence
                print(f"t={verdict.t:6.1f} s  RR {verdict.rr_ms:6.1f} ms "
                      f"{'(' + verdict.reason + ')' if verdict.artifact else ''}  "
                      f"HR {state.hr_bpm:5.1f} bpm  RMSSD {state.rmssd_ms:5.1f} ms  "
                      f"coherence {shown.score:5.1f}")
        if event.t >= seconds:
            break
    await strap.aclose()


if __name__ == "__main__":
    asyncio.run(main())

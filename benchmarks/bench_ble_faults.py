"""What each fault of the virtual Polar H10 costs a session, through bleak and the real code.

Run: ``python benchmarks/bench_ble_faults.py`` (about half a minute). Every run is a 90 s session
(virtual time) of one virtual H10 with one fault, the timed faults striking at 30 s, for three
seeds; each cell is the median over the seeds (max in brackets where it differs). The source
looks for the first strap heard (no target), as with no ``--device`` and none remembered, which is
where a split advertisement bites. Columns:

* profile: the device profile the source settled on (an H10 must get ``polar-h10``);
* connected: session s until ``Link(CONNECTED)`` (beats are held until then, none lost);
* first ECG: session s until the first ECG frame ('-': none in the session);
* detected: for faults that end the link, s from the fault to ``Link(LOST)``;
* resumed: s from the fault to the first beat after ``Link(RECONNECTED)``;
* ECG gap: the longest gap between ECG frames after the first one (s);
* beats lost: RRs the strap measured after the first connection that never reached the source;
* pair / PMD cmds / timeouts / restarts: pairings, PMD control point writes, unanswered ones, and
  streams started again, as the source counted them.

A second table times the scenarios that are not a strap's fault: two straps at once (the
Bluetooth lock), a remembered strap that is not around (fallback), a link a crashed run left
open, and Bluetooth switched off at start for 3 s.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bleak import BleakClient

from biobreath.events import Beat, EcgSamples, Link, LinkState
from biobreath.sim.bumble_backend import BumbleClient, VirtualRadio, radio_backend
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_h10 import VirtualStrap
from biobreath.sim.virtual_source import FAULTS, VirtualStraps, open_virtual_straps
from biobreath.sim.virtual_time import collect_events, loop_clock, run_virtual
from biobreath.straps.ble import BleStrap, ReconnectPolicy
from biobreath.straps.gatt import parse_heart_rate_measurement

DURATION_S = 90.0
FAULT_AT_S = 30.0
SEEDS = (1, 2, 3)


_collect = collect_events


def _first(events, kind, state=None, after=-math.inf):
    for e in events:
        if isinstance(e, kind) and e.t > after and (state is None or e.state == state):
            return e
    return None


async def _fault_run(fault: str | None, seed: int) -> dict[str, float]:
    clock = loop_clock()
    source = open_virtual_straps(sim_params=SimParams(seed=seed), faults=[fault] if fault else [],
                                 fault_at_s=FAULT_AT_S, targets=[])
    events = await _collect(source, clock, DURATION_S)
    strap = source.peripherals[0]
    stats = source.strap.stats[strap.address]
    connected = _first(events, Link, LinkState.CONNECTED)
    lost = _first(events, Link, LinkState.LOST)
    back = _first(events, Link, LinkState.RECONNECTED)
    beat_after = _first(events, Beat, after=back.t) if back is not None else None
    ecg = sorted(e.t for e in events if isinstance(e, EcgSamples))
    lost_rr = sum(len(parse_heart_rate_measurement(n.payload).rr_ticks)
                  for n in strap.undelivered if n.arrival_s > connected.t)
    return {
        "profile": source.devices[0].profile,
        "connected": connected.t,
        "first ECG": ecg[0] if ecg else math.nan,
        "detected": lost.t - FAULT_AT_S if lost is not None else math.nan,
        "resumed": beat_after.arrival - FAULT_AT_S if beat_after is not None else math.nan,
        "ECG gap": max((b - a for a, b in zip(ecg, ecg[1:])), default=math.nan),
        "beats lost": lost_rr,
        "pair": stats.pairings,
        "PMD cmds": stats.pmd_commands,
        "timeouts": stats.pmd_timeouts,
        "restarts": stats.pmd_restarts,
    }


def _cell(values: list, digits: int) -> str:
    if any(isinstance(v, str) for v in values):
        return "/".join(sorted(set(values)))
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return "-"
    med, top = statistics.median(finite), max(finite)
    text = f"{med:.{digits}f}"
    if f"{top:.{digits}f}" != text:
        text += f" [{top:.{digits}f}]"
    return text


COLUMNS = (("profile", 0), ("connected", 2), ("first ECG", 2), ("detected", 2), ("resumed", 2),
           ("ECG gap", 2), ("beats lost", 0), ("pair", 0), ("PMD cmds", 0), ("timeouts", 0),
           ("restarts", 0))


def bench_faults() -> None:
    print(f"1. one virtual Polar H10 per fault: {DURATION_S:g} s sessions, fault at "
          f"{FAULT_AT_S:g} s, seeds {', '.join(map(str, SEEDS))} (median [max]; times in s)")
    widths = [14] + [max(len(name), 12) for name, _ in COLUMNS] + [6]
    header = ["fault"] + [name for name, _ in COLUMNS] + ["wall"]
    print("   " + " ".join(h.ljust(w) for h, w in zip(header, widths)))
    for fault in (None, *FAULTS):
        wall = time.perf_counter()
        rows = [run_virtual(_fault_run(fault, seed)) for seed in SEEDS]
        wall = (time.perf_counter() - wall) / len(SEEDS)
        cells = [fault or "none"] + [_cell([r[name] for r in rows], digits)
                                     for name, digits in COLUMNS] + [f"{wall:.2f}"]
        print("   " + " ".join(c.ljust(w) for c, w in zip(cells, widths)))


async def _two_straps() -> str:
    source = open_virtual_straps(["11111111", "22222222"], sim_params=SimParams(seed=4))
    clock = loop_clock()
    events = await _collect(source, clock, 20.0)
    connected = [e.t for e in events if isinstance(e, Link) and e.state == LinkState.CONNECTED]
    log = sorted(source.radio.connect_log)
    overlap = log[1][0] < log[0][1]
    return (f"both connected by {max(connected):.2f} s; attempts overlapped: {overlap}; refused "
            f"as busy: {source.radio.refused_busy}")


async def _fallback() -> str:
    radio = VirtualRadio()
    strap = VirtualStrap(radio, device_id="0000000B")
    source = VirtualStraps([strap], radio, targets=["Polar H10 0000000A"], fallback_to_any=True)
    events = await _collect(source, loop_clock(), 15.0)
    connected = _first(events, Link, LinkState.CONNECTED)
    return (f"remembered strap missing: connected to {strap.name} at {connected.t:.2f} s "
            f"(fallback_after_s {ReconnectPolicy().fallback_after_s:g})")


async def _crashed_run() -> str:
    clock = loop_clock()
    radio = VirtualRadio()
    strap = VirtualStrap(radio)
    await strap.start(clock)
    crashed = BleakClient(strap.address, backend=BumbleClient, radio=radio)
    await crashed.connect()  # never closed
    source = BleStrap([strap.name], backend=radio_backend(radio))
    events = await _collect(source, clock, 10.0)
    central = await radio.central()
    left = len(central.connections)
    await strap.stop()
    connected = _first(events, Link, LinkState.CONNECTED)
    return (f"link left open by a crashed run: taken over at {connected.t:.2f} s; links left "
            f"open after the session: {left}")


async def _adapter_off_at_start() -> str:
    clock = loop_clock()
    radio = VirtualRadio()
    await radio.set_powered(False)
    strap = VirtualStrap(radio)
    source = VirtualStraps([strap], radio)

    async def switch_on() -> None:
        await clock.sleep_until(3.0)
        await radio.set_powered(True)

    task = asyncio.get_running_loop().create_task(switch_on())
    events = await _collect(source, clock, 10.0)
    await task
    connected = _first(events, Link, LinkState.CONNECTED)
    return f"Bluetooth off for the first 3 s: connected at {connected.t:.2f} s"


def bench_scenarios() -> None:
    print("2. scenarios")
    for scenario in (_two_straps, _fallback, _crashed_run, _adapter_off_at_start):
        print(f"   {run_virtual(scenario())}")


if __name__ == "__main__":
    bench_faults()
    bench_scenarios()

"""The one place that turns the command line's choice of strap into a beat source (a real
Bluetooth strap, or one of the stand-ins of :mod:`biobreath.sim`) with the clock and event loop it
runs on. It is the only module outside ``sim/`` that imports ``sim/``, and only inside functions,
so a real strap never loads the simulator."""

from __future__ import annotations

from collections.abc import Sequence

from biobreath.clock import Clock, ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.sources.base import BeatSource
from biobreath.straps.ble import BleStrap
from biobreath.straps.scan import ScanResult, scan


def open_strap_source(devices: Sequence[str] = (), *, virtual: bool = False,
                      sim_params=None, pacer: Pacer | None = None, outages=(),
                      pmd: bool = True) -> BeatSource:
    """The source for ``--source ble`` (``virtual=False``) or ``virtual``.

    Real straps: ``devices`` are addresses or advertised names (empty: the first strap heard).
    Virtual straps: see :func:`biobreath.sim.virtual_source.open_virtual_straps` (``sim_params``,
    ``pacer`` and ``outages`` apply to them only). ``pmd``: stream raw ECG and ACC from straps
    that have them (True).
    """
    if not virtual:
        return BleStrap(devices, pmd=pmd)
    from biobreath.sim.virtual_source import open_virtual_straps

    return open_virtual_straps(devices, sim_params=sim_params, pacer=pacer, outages=outages,
                               pmd=pmd)


def open_simulated_strap(sim_params, pacer: Pacer) -> BeatSource:
    """The simulated strap of ``--source sim``: a simulated person following ``pacer``."""
    from biobreath.sim.source import SimulatedStrap

    return SimulatedStrap(sim_params, pacer)


async def scan_straps(timeout_s: float, *, virtual: bool = False) -> list[ScanResult]:
    """``biobreath scan``: the computer's Bluetooth, or (``virtual``) a virtual radio with one
    virtual Polar H10 on it."""
    if not virtual:
        return await scan(timeout_s)
    from biobreath.sim.bumble_backend import VirtualRadio, radio_backend
    from biobreath.sim.virtual_h10 import VirtualStrap

    radio = VirtualRadio()
    strap = VirtualStrap(radio)
    await strap.power_on()
    try:
        return await scan(timeout_s, backend=radio_backend(radio))
    finally:
        await strap.stop()


def simulated_person(seed: int, resonance_bpm: float):
    """The simulated person for ``--sim-seed`` and ``--sim-resonance`` (breaths/min)."""
    from biobreath.sim.physiology import SimParams

    return SimParams(seed=seed, resonance_bpm=resonance_bpm)


def session_clock(speed: float | None, *, virtual_time: bool) -> Clock:
    """The session clock: ``speed`` times real time (None: as fast as possible); with
    ``virtual_time``, the clock of the running virtual-time event loop (:func:`loop_factory`)."""
    if virtual_time:
        from biobreath.sim.virtual_time import loop_clock

        return loop_clock()
    return ScaledClock(speed)


def loop_factory(*, virtual_time: bool):
    """The asyncio event-loop factory for a session: a virtual strap at full speed runs on a
    virtual-time loop, where the strap, its radio and the session share one timeline that jumps
    ahead whenever all wait; None (asyncio's default) otherwise."""
    if not virtual_time:
        return None
    from biobreath.sim.virtual_time import VirtualTimeLoop

    return VirtualTimeLoop

"""The one place that turns the command line's choice of strap into a beat source (a real
Bluetooth strap, or one of the stand-ins of :mod:`biobreath.sim`) with the clock and event loop it
runs on. It is the only module outside ``sim/`` that imports ``sim/``, and only inside functions,
so a real strap never loads the simulator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from biobreath.clock import Clock, ScaledClock
from biobreath.core.pacer import Pacer
from biobreath.errors import BiobreathError
from biobreath.sources.base import BeatSource
from biobreath.sources.threaded import OwnThreadSource

if TYPE_CHECKING:
    from biobreath.straps.scan import ScanResult


def open_strap_source(devices: Sequence[str] = (), *, virtual: bool = False,
                      sim_params=None, pacer: Pacer | None = None, outages=(),
                      pmd: bool = True, faults: Sequence[str] = (),
                      fallback_to_any: bool = False, own_thread: bool = False) -> BeatSource:
    """The source for ``--source ble`` (``virtual=False``) or ``virtual``.

    Real straps: ``devices`` are addresses or advertised names (empty: the first strap heard);
    ``fallback_to_any``: when they are not around, use any strap heard (for a remembered strap).
    Virtual straps: see :func:`biobreath.sim.virtual_source.open_virtual_straps` (``sim_params``,
    ``pacer``, ``outages`` and ``faults`` apply to them only; with no ``devices`` the source looks
    for the first strap heard, as a real one does). ``pmd``: stream raw ECG and ACC from straps
    that have them (True). ``own_thread``: run the strap's stack on a thread of its own (see
    :mod:`biobreath.sources.threaded`; for the window, whose frames would otherwise hold it up).
    """
    if not virtual:
        # bleak loads only for real straps: a simulated session starts without it.
        from biobreath.straps.ble import BleStrap

        source: BeatSource = BleStrap(devices, pmd=pmd, fallback_to_any=fallback_to_any)
    else:
        from biobreath.sim.virtual_source import open_virtual_straps

        source = open_virtual_straps(devices, sim_params=sim_params, pacer=pacer,
                                     outages=outages, pmd=pmd, faults=faults,
                                     targets=None if devices else [])
    return OwnThreadSource(source) if own_thread else source


def virtual_strap_ids(labels: Sequence[str]) -> list[str]:
    """The ids (the end of their advertised names) the virtual straps for ``labels`` get, so a
    label's strap can be told among those heard."""
    from biobreath.sim.virtual_source import virtual_id

    return [virtual_id(label, i, 0) for i, label in enumerate(labels)]


def open_simulated_strap(sim_params, pacer: Pacer) -> BeatSource:
    """The simulated strap of ``--source sim``: a simulated person following ``pacer``."""
    from biobreath.sim.source import SimulatedStrap

    return SimulatedStrap(sim_params, pacer)


async def scan_straps(timeout_s: float, *, virtual: bool = False) -> list[ScanResult]:
    """``biobreath scan``: the computer's Bluetooth, or (``virtual``) a virtual radio with one
    virtual Polar H10 on it."""
    from biobreath.straps.scan import scan

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


def simulated_person(seed: int, resonance_bpm: float, link: str = "ideal"):
    """The simulated person for ``--sim-seed`` and ``--sim-resonance`` (breaths/min), whose
    strap's notifications are delivered by the link pattern ``link``."""
    from biobreath.sim.physiology import SimParams

    return SimParams(seed=seed, resonance_bpm=resonance_bpm, link=link)


PEOPLE_RESONANCE_OFFSETS_BPM = (0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 2.0)
"""How far each simulated person's resonance lies from ``--sim-resonance`` (breaths/min), in
``--people`` order (then repeating): people differ, as a room of real people does."""


def simulated_people(n: int, seed: int, resonance_bpm: float, link: str = "ideal"):
    """``n`` different simulated people for ``--people N``: person ``i`` (from 0) has seed
    ``seed + i`` and a resonance offset by :data:`PEOPLE_RESONANCE_OFFSETS_BPM` (kept within
    3-12 breaths/min)."""
    from biobreath.sim.physiology import SimParams

    offsets = PEOPLE_RESONANCE_OFFSETS_BPM
    return tuple(SimParams(seed=seed + i, link=link,
                           resonance_bpm=min(12.0, max(3.0, resonance_bpm
                                                       + offsets[i % len(offsets)])))
                 for i in range(n))


def sim_links(names: Sequence[str], *, virtual: bool) -> tuple[str, tuple[str, ...]]:
    """``--sim-link`` names (each may hold several, comma-separated) split into the one delivery
    pattern of the strap's notifications and the faults of the virtual strap; one line for a name
    that is unknown, a second delivery pattern, or a fault without the virtual strap."""
    from biobreath.sim.emulator import LINK_PROFILES

    delivery, faults = [], []
    for name in (n.strip() for text in names for n in text.split(",") if n.strip()):
        if name in LINK_PROFILES:
            delivery.append(name)
            continue
        # The virtual strap's faults come with its Bluetooth stack (bumble, slow to load): only
        # a name that is no delivery pattern needs them.
        from biobreath.sim.virtual_source import FAULTS

        if name in FAULTS:
            if not virtual:
                raise BiobreathError(f"--sim-link {name} is a fault of the virtual strap: use "
                                     "--source virtual")
            faults.append(name)
        else:
            raise BiobreathError(f"--sim-link: unknown {name!r}; delivery patterns: "
                                 f"{', '.join(LINK_PROFILES)}; virtual-strap faults: "
                                 f"{', '.join(FAULTS)}")
    if len(set(delivery)) > 1:
        raise BiobreathError(f"--sim-link: one delivery pattern at a time, not "
                             f"{' and '.join(dict.fromkeys(delivery))}")
    return (delivery[0] if delivery else "ideal"), tuple(dict.fromkeys(faults))


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

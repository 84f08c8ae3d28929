"""Virtual Polar H10 straps as a beat source: bumble peripherals on a virtual radio, reached by the
real Bluetooth source (:class:`~biobreath.straps.ble.BleStrap`) through bleak.

Only the radio is virtual: from GATT bytes upward every beat takes the path a real strap's takes.

**Faults** (:data:`FAULTS`, for ``--sim-link``): the straps can be started with any of
:data:`~biobreath.sim.virtual_h10.STRAP_FAULTS`, and the radio with :data:`RADIO_FAULTS` (the
computer's adapter switched off for a while); the timed ones strike at ``fault_at_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from types import MappingProxyType

from biobreath.clock import Clock
from biobreath.core.pacer import Pacer
from biobreath.errors import BiobreathError
from biobreath.events import DeviceInfo, Event
from biobreath.sim.bumble_backend import VirtualRadio, radio_backend
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_h10 import STRAP_FAULTS, Outage, VirtualStrap, strap_id
from biobreath.sources.base import BeatSource
from biobreath.straps.ble import BleStrap, ReconnectPolicy

ADAPTER_OFF_S = 10.0
"""How long (session s) the ``adapter-off`` fault keeps the computer's adapter off."""

RADIO_FAULTS: Mapping[str, str] = MappingProxyType({
    "adapter-off": f"at the fault time the computer's Bluetooth adapter turns off for "
                   f"{ADAPTER_OFF_S:g} s (switched off, or asleep), then on again",
})
"""Faults of the computer's side of the virtual radio, and what each does."""

FAULTS: Mapping[str, str] = MappingProxyType({**STRAP_FAULTS, **RADIO_FAULTS})
"""Every fault a virtual-strap session can be started with (``--sim-link``), and what it does."""


def check_faults(faults: Iterable[str]) -> frozenset[str]:
    """``faults`` as a set; ValueError naming the known ones for an unknown name."""
    chosen = frozenset(faults)
    unknown = chosen - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown virtual strap fault(s) {', '.join(sorted(unknown))}; known: "
                         + ", ".join(FAULTS))
    return chosen


class VirtualStraps(BeatSource):
    """``peripherals`` (virtual straps on ``radio``) started on the session clock when the stream
    starts and stopped with it; their beats come through a :class:`BleStrap` made with the other
    keyword arguments (``targets``: default, every peripheral's address; ``fallback_to_any`` as
    for :class:`BleStrap`). ``radio_faults`` (names from :data:`RADIO_FAULTS`) strike the radio
    at ``fault_at_s`` (session s)."""

    kind = "virtual"

    def __init__(self, peripherals: Sequence[VirtualStrap], radio: VirtualRadio, *,
                 targets: Sequence[str] | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(), pmd: bool = True,
                 fallback_to_any: bool = False, radio_faults: Iterable[str] = (),
                 fault_at_s: float = 30.0) -> None:
        self.radio = radio
        self.peripherals = tuple(peripherals)
        self.radio_faults = frozenset(radio_faults)
        unknown = self.radio_faults - set(RADIO_FAULTS)
        if unknown:
            raise ValueError(f"unknown radio fault(s) {', '.join(sorted(unknown))}; known: "
                             + ", ".join(RADIO_FAULTS))
        self.fault_at_s = fault_at_s
        self.strap = BleStrap([p.address for p in self.peripherals] if targets is None else targets,
                              backend=radio_backend(radio), policy=policy, pmd=pmd,
                              fallback_to_any=fallback_to_any)
        self._fault_tasks: list[asyncio.Task] = []

    @property
    def targets(self) -> tuple[str, ...]:
        return self.strap.targets

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.strap.devices

    @property
    def malformed(self) -> dict[str, int]:
        return self.strap.malformed

    @property
    def faults(self) -> frozenset[str]:
        """Every fault of this session: the radio's and any strap's."""
        return self.radio_faults.union(*(p.faults for p in self.peripherals))

    def metadata(self) -> dict[str, object]:
        return {**self.strap.metadata(), "kind": self.kind, "virtual_straps": [
            {"name": p.name, "address": p.address, "seed": p.params.seed,
             "resonance_bpm": p.params.resonance_bpm,
             "outages": [[o.start_s, o.duration_s] for o in p.outages],
             "faults": sorted(p.faults)}
            for p in self.peripherals], "radio_faults": sorted(self.radio_faults),
            "fault_at_s": self.fault_at_s}

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        if self.peripherals and clock.speed is None:
            raise BiobreathError("the virtual strap needs a clock that runs at a set speed: use a "
                                 "number for --speed (or run the session on a virtual-time loop)")
        try:
            for p in self.peripherals:
                await p.start(clock)
            if "adapter-off" in self.radio_faults:
                self._fault_tasks.append(asyncio.create_task(self._adapter_off(clock)))
            async for ev in self.strap.events(clock):
                yield ev
        finally:
            await self.aclose()

    async def _adapter_off(self, clock: Clock) -> None:
        await clock.sleep_until(self.fault_at_s)
        await self.radio.set_powered(False)
        await clock.sleep_until(self.fault_at_s + ADAPTER_OFF_S)
        await self.radio.set_powered(True)

    async def aclose(self) -> None:
        tasks, self._fault_tasks = self._fault_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # leave the radio as it was found
            await self.radio.set_powered(True)
        await self.strap.aclose()
        for p in self.peripherals:
            await p.stop()


def virtual_id(label: str, index: int, seed: int) -> str:
    """The strap id for a ``--device`` label: itself when it is 8 hex digits, else derived."""
    if len(label) == 8 and all(c in "0123456789abcdefABCDEF" for c in label):
        return label.upper()
    return f"{zlib.crc32(label.encode()):08X}" if label else strap_id(index, seed)


def open_virtual_straps(labels: Sequence[str] = (), *,
                        sim_params: SimParams | Sequence[SimParams] | None = None,
                        pacer: Pacer | None = None, outages: Sequence[Outage] = (),
                        pmd: bool = True, faults: Iterable[str] = (), fault_at_s: float = 30.0,
                        policy: ReconnectPolicy = ReconnectPolicy(),
                        targets: Sequence[str] | None = None) -> VirtualStraps:
    """One virtual Polar H10 per entry of ``labels`` (an 8-hex-digit id, or any label; empty: one
    strap), each simulating a person from ``sim_params`` (the seed advanced by one per strap; a
    sequence: one person per label, each as given) who follows ``pacer``, with the forced link
    losses ``outages``. ``pmd``: stream raw ECG and ACC. ``faults``: names from :data:`FAULTS`
    (every strap gets the strap faults); the timed ones strike at ``fault_at_s`` (session s).
    ``policy``: the Bluetooth source's. ``targets``: what the source looks for (default: every
    strap's address; empty: the first strap heard, as a real strap is found with no ``--device``
    and none remembered)."""
    chosen = check_faults(faults)
    labels = list(labels or [""])
    if isinstance(sim_params, Sequence):
        if len(sim_params) != len(labels):
            raise ValueError(f"{len(sim_params)} simulated people for {len(labels)} straps")
        people = list(sim_params)
    else:
        params = sim_params if sim_params is not None else SimParams()
        people = [dataclasses.replace(params, seed=params.seed + i) for i in range(len(labels))]
    radio = VirtualRadio()
    straps = [VirtualStrap(radio, device_id=virtual_id(label, i, people[0].seed),
                           params=person,
                           pacer=pacer, outages=outages, faults=chosen & set(STRAP_FAULTS),
                           fault_at_s=fault_at_s)
              for i, (label, person) in enumerate(zip(labels, people))]
    return VirtualStraps(straps, radio, targets=targets, pmd=pmd, policy=policy,
                         radio_faults=chosen & set(RADIO_FAULTS), fault_at_s=fault_at_s)

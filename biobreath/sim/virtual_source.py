"""Virtual Polar H10 straps as a beat source: bumble peripherals on a virtual radio, reached by the
real Bluetooth source (:class:`~biobreath.straps.ble.BleStrap`) through bleak.

Only the radio is virtual: from GATT bytes upward every beat takes the path a real strap's takes.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import AsyncIterator, Sequence

from biobreath.clock import Clock
from biobreath.core.pacer import Pacer
from biobreath.errors import BiobreathError
from biobreath.events import DeviceInfo, Event
from biobreath.sim.bumble_backend import VirtualRadio, radio_backend
from biobreath.sim.physiology import SimParams
from biobreath.sim.virtual_h10 import Outage, VirtualStrap, strap_id
from biobreath.sources.base import BeatSource
from biobreath.straps.ble import BleStrap, ReconnectPolicy


class VirtualStraps(BeatSource):
    """``peripherals`` (virtual straps on ``radio``) started on the session clock when the stream
    starts and stopped with it; their beats come through a :class:`BleStrap` made with the other
    keyword arguments (``targets``: default, every peripheral's address)."""

    kind = "virtual"

    def __init__(self, peripherals: Sequence[VirtualStrap], radio: VirtualRadio, *,
                 targets: Sequence[str] | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(), pmd: bool = True) -> None:
        self.radio = radio
        self.peripherals = tuple(peripherals)
        self.strap = BleStrap([p.address for p in self.peripherals] if targets is None else targets,
                              backend=radio_backend(radio), policy=policy, pmd=pmd)

    @property
    def targets(self) -> tuple[str, ...]:
        return self.strap.targets

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return self.strap.devices

    @property
    def malformed(self) -> dict[str, int]:
        return self.strap.malformed

    def metadata(self) -> dict[str, object]:
        return {**self.strap.metadata(), "kind": self.kind, "virtual_straps": [
            {"name": p.name, "address": p.address, "seed": p.params.seed,
             "outages": [[o.start_s, o.duration_s] for o in p.outages]}
            for p in self.peripherals]}

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        if self.peripherals and clock.speed is None:
            raise BiobreathError("the virtual strap needs a clock that runs at a set speed: use a "
                                 "number for --speed (or run the session on a virtual-time loop)")
        try:
            for p in self.peripherals:
                await p.start(clock)
            async for ev in self.strap.events(clock):
                yield ev
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self.strap.aclose()
        for p in self.peripherals:
            await p.stop()


def virtual_id(label: str, index: int, seed: int) -> str:
    """The strap id for a ``--device`` label: itself when it is 8 hex digits, else derived."""
    if len(label) == 8 and all(c in "0123456789abcdefABCDEF" for c in label):
        return label.upper()
    return f"{zlib.crc32(label.encode()):08X}" if label else strap_id(index, seed)


def open_virtual_straps(labels: Sequence[str] = (), *, sim_params: SimParams | None = None,
                        pacer: Pacer | None = None, outages: Sequence[Outage] = (),
                        pmd: bool = True) -> VirtualStraps:
    """One virtual Polar H10 per entry of ``labels`` (an 8-hex-digit id, or any label; empty: one
    strap), each simulating a person from ``sim_params`` (the seed advanced by one per strap) who
    follows ``pacer``, with the forced link losses ``outages``. ``pmd``: stream raw ECG and ACC."""
    params = sim_params if sim_params is not None else SimParams()
    radio = VirtualRadio()
    straps = [VirtualStrap(radio, device_id=virtual_id(label, i, params.seed),
                           params=dataclasses.replace(params, seed=params.seed + i), pacer=pacer,
                           outages=outages)
              for i, label in enumerate(labels or [""])]
    return VirtualStraps(straps, radio, pmd=pmd)

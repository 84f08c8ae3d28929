"""The simulated strap: a simulated person's beats, sent as a chest strap's bytes.

The physiology model (:mod:`biobreath.sim.physiology`) makes the beats, the strap emulator
(:mod:`biobreath.sim.emulator`) turns them into Heart Rate Measurement payloads, and the same
:class:`~biobreath.straps.decoder.HeartRateDecoder` a Bluetooth strap feeds turns those bytes into
events, so a simulated session exercises the whole path from bytes to beats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from biobreath.clock import Clock
from biobreath.events import Battery, DeviceInfo, Event, Link, LinkState
from biobreath.sim.emulator import StrapEmulator
from biobreath.sim.physiology import PhysiologyModel, SimChunk, SimParams
from biobreath.sources.base import BeatSource
from biobreath.straps.decoder import HeartRateDecoder


class SimulatedStrap(BeatSource):
    """A simulated person wearing a simulated strap that reports skin contact.

    ``pacer`` (optional) is the breathing pacer the person follows (see
    :class:`~biobreath.sim.physiology.PhysiologyModel`); ``chunk_s`` (10 s) is how much session time
    the model simulates at a step. Model time is session time from 0 s. After each step,
    ``last_chunk`` holds the model's truth for it and ``strap`` the emulator, with the artifacts it
    injected.
    """

    kind = "sim"

    def __init__(self, params: SimParams = SimParams(), pacer=None, chunk_s: float = 10.0) -> None:
        if not chunk_s > 0:
            raise ValueError("chunk_s must be positive")
        self.params = params
        self.pacer = pacer
        self.chunk_s = chunk_s
        self.address = f"sim:{params.seed}"
        self.model = PhysiologyModel(params, pacer)
        self.strap = StrapEmulator(params, contact=True, link=params.link)
        self.decoder = HeartRateDecoder(device=self.address)
        self.last_chunk: SimChunk | None = None
        self._info = DeviceInfo(name="Simulated strap", address=self.address,
                                model="biobreath simulator", profile="generic")

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return (self._info,)

    def metadata(self) -> dict[str, object]:
        meta: dict[str, object] = {"kind": self.kind, "chunk_s": self.chunk_s}
        meta.update(dataclasses.asdict(self.params))
        protocol = getattr(self.pacer, "protocol", None)
        meta["pacer"] = getattr(protocol, "name", None) if self.pacer is not None else None
        return meta

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        t = clock.now()
        yield Link(t, LinkState.CONNECTED, "simulated strap connected", self.address)
        yield Battery(t, self.params.battery_percent, self.address)
        t_end = 0.0
        while True:
            t_end += self.chunk_s
            self.last_chunk = self.model.advance(t_end)
            for n in self.strap.encode(self.last_chunk):
                await clock.sleep_until(n.arrival_s)
                for event in self.decoder.decode(n.arrival_s, n.payload):
                    yield event

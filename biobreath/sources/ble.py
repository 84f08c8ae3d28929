"""Bluetooth chest straps as a beat source, through bleak: real straps, or virtual ones.

:class:`BleStrap` finds its straps by scanning, connects to each with ``BleakClient``, reads the
battery and device information, and subscribes to Heart Rate Measurement (0x2A37). Every payload
is stamped with the session clock as it arrives and decoded by the same
:class:`~biobreath.sources.hrm.HeartRateDecoder` as the simulated strap's (one per strap). When a
link drops it yields ``Link(LOST)`` and keeps trying to reconnect, with growing pauses, for as
long as the session runs; once back it yields ``Link(RECONNECTED)`` and starts a new beat chain
(RRs lost in the gap are never bridged). Given a :class:`~biobreath.ble.bumble_backend.VirtualRadio`
the same code runs over bleak's calls against bumble peripherals (kind ``"virtual"``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from biobreath.ble.scan import no_bluetooth
from biobreath.clock import Clock
from biobreath.devices import match_profile
from biobreath.errors import BiobreathError
from biobreath.events import Battery, DeviceInfo, Event, Link, LinkState
from biobreath.gatt import (
    BATTERY_LEVEL,
    FIRMWARE_REVISION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    GattParseError,
)
from biobreath.physiology import SimParams
from biobreath.sources.base import BeatSource
from biobreath.sources.hrm import HeartRateDecoder
from biobreath.timing import TimingParams

if TYPE_CHECKING:  # bumble is needed only for the virtual radio
    from biobreath.ble.bumble_backend import VirtualRadio
    from biobreath.ble.virtual_strap import Outage, VirtualStrap

log = logging.getLogger(__name__)

_LINK_ERRORS = (BleakError, TimeoutError, OSError, EOFError)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How the source finds and keeps its straps; every default is the value shown.

    scan_timeout_s: how long the first scan looks for the straps before giving up (10 s).
    connect_timeout_s: how long one connection attempt waits for a strap to advertise (10 s).
    first_delay_s: pause before the first reconnection attempt after a loss (0.5 s).
    factor: each failed attempt multiplies the pause by this (2).
    max_delay_s: the pause never grows beyond this (5 s).
    """

    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 5.0


class _Arrivals:
    """One connection's notifications: stamped and decoded at arrival, held back until the
    connection has been announced so that no beat precedes its Link event. Malformed payloads
    are dropped and counted in ``malformed`` (by device address)."""

    def __init__(self, decoder: HeartRateDecoder, clock: Clock, queue: asyncio.Queue,
                 malformed: dict[str, int]) -> None:
        self.decoder = decoder
        self.clock = clock
        self.queue = queue
        self.held: list[Event] | None = []
        self.malformed = malformed

    def on_notification(self, _sender, data: bytearray) -> None:
        arrival = self.clock.now()
        try:
            events = self.decoder.decode(arrival, bytes(data))
        except GattParseError as e:
            device = self.decoder.device
            self.malformed[device] = self.malformed.get(device, 0) + 1
            log.warning("%s: dropped a malformed heart rate notification: %s", device, e)
            return
        if self.held is None:
            for ev in events:
                self.queue.put_nowait(ev)
        else:
            self.held.extend(events)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for ev in held:
            self.queue.put_nowait(ev)


class BleStrap(BeatSource):
    """One or more Bluetooth straps; see the module docstring.

    ``targets``: addresses or advertised names (case-insensitive) of the straps to use; empty
    means the first strap heard advertising the Heart Rate Service. ``radio``: use bleak on
    bumble's virtual radio instead of the computer's Bluetooth; ``peripherals`` are virtual straps
    on that radio, started on the session clock when the stream starts (and stopped with it).
    ``timing`` configures the beat timer of each strap's decoder.
    """

    def __init__(self, targets: Sequence[str] = (), *, radio: VirtualRadio | None = None,
                 peripherals: Sequence[VirtualStrap] = (),
                 policy: ReconnectPolicy = ReconnectPolicy(),
                 timing: TimingParams = TimingParams()) -> None:
        if peripherals and radio is None:
            raise ValueError("virtual peripherals need the virtual radio they are on")
        self.targets = tuple(targets)
        self.radio = radio
        self.peripherals = tuple(peripherals)
        self.policy = policy
        self.timing = timing
        self.kind = "ble" if radio is None else "virtual"
        self._infos: dict[str, DeviceInfo] = {}
        self._clients: dict[str, BleakClient] = {}
        self._tasks: list[asyncio.Task] = []
        self.malformed: dict[str, int] = {}  # malformed notifications dropped, by address

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return tuple(self._infos.values())

    def metadata(self) -> dict[str, object]:
        meta: dict[str, object] = {"kind": self.kind, "targets": list(self.targets),
                                   "devices": [dataclasses.asdict(d) for d in self.devices]}
        if self.peripherals:
            meta["virtual_straps"] = [
                {"name": p.name, "address": p.address, "seed": p.params.seed,
                 "outages": [[o.start_s, o.duration_s] for o in p.outages]}
                for p in self.peripherals]
        return meta

    def _backend(self) -> dict:
        """bleak keyword arguments that choose the scanner backend (none: the platform's)."""
        if self.radio is None:
            return {}
        from biobreath.ble.bumble_backend import BumbleScanner

        return {"backend": BumbleScanner, "radio": self.radio}

    def _client(self, device: BLEDevice, lost: asyncio.Event) -> BleakClient:
        extra = {}
        if self.radio is not None:
            from biobreath.ble.bumble_backend import BumbleClient

            extra = {"backend": BumbleClient, "radio": self.radio}
        return BleakClient(device, disconnected_callback=lambda _client: lost.set(),
                           timeout=self.policy.connect_timeout_s, **extra)

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        if self.peripherals and clock.speed is None:
            raise BiobreathError("the virtual strap needs a clock that runs at a set speed: use a "
                                 "number for --speed (or run the session on a virtual-time loop)")
        queue: asyncio.Queue = asyncio.Queue()
        try:
            for p in self.peripherals:
                await p.start(clock)
            for device in await self._find():
                self._tasks.append(asyncio.create_task(self._keep_connected(device, clock, queue)))
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(*_LINK_ERRORS):
                await client.disconnect()
        for p in self.peripherals:
            await p.stop()

    async def _find(self) -> list[BLEDevice]:
        """Scan until every target (or, with none given, one heart-rate strap) was heard."""
        wanted = [t.lower() for t in self.targets]
        found: dict[str, BLEDevice] = {}
        complete = asyncio.Event()

        def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
            name = adv.local_name or device.name or ""
            keys = {device.address.lower(), name.lower()}
            if wanted:
                for w in wanted:
                    if w in keys and w not in found:
                        found[w] = device
                        self._infos.setdefault(device.address, self._info(device, name))
            elif match_profile(name, adv.service_uuids) is not None and not found:
                found[device.address.lower()] = device
                self._infos.setdefault(device.address, self._info(device, name))
            if found and len(found) >= max(1, len(wanted)):
                complete.set()

        scanner = BleakScanner(on_advertisement, **self._backend())
        try:
            await scanner.start()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(complete.wait(), self.policy.scan_timeout_s)
            await scanner.stop()
        except (OSError, BleakError) as e:
            mapped = no_bluetooth(e, starting=True)
            if mapped is None:
                raise
            raise mapped from None
        missing = [t for t, w in zip(self.targets, wanted) if w not in found]
        if not found or missing:
            what = ", ".join(missing) if missing else "strap advertising the Heart Rate Service"
            raise BiobreathError(f"no {what} found within {self.policy.scan_timeout_s:g} s: is "
                                 "the strap worn (straps sleep without skin contact), in range, "
                                 "and not connected to another app?")
        return [found[w] for w in wanted] if wanted else list(found.values())

    @staticmethod
    def _info(device: BLEDevice, name: str) -> DeviceInfo:
        profile = match_profile(name, (HEART_RATE_SERVICE,))
        return DeviceInfo(name=name or device.address, address=device.address,
                          profile=profile.id if profile else "generic")

    async def _read_info(self, client: BleakClient, info: DeviceInfo) -> DeviceInfo:
        """``info`` completed with what the Device Information service says (if offered)."""
        fields = {}
        for key, uuid in (("manufacturer", MANUFACTURER_NAME), ("model", MODEL_NUMBER),
                          ("firmware", FIRMWARE_REVISION)):
            if client.services.get_characteristic(uuid) is None:
                continue
            with contextlib.suppress(*_LINK_ERRORS):
                raw = bytes(await client.read_gatt_char(uuid))
                fields[key] = raw.decode("utf-8", "replace").strip("\0 ")
        return dataclasses.replace(info, **fields)

    async def _keep_connected(self, device: BLEDevice, clock: Clock, queue: asyncio.Queue) -> None:
        try:
            await self._connection_loop(device, clock, queue)
        except Exception as e:  # noqa: BLE001 - the consumer of events() raises it
            queue.put_nowait(e)

    async def _connection_loop(self, device: BLEDevice, clock: Clock, queue: asyncio.Queue) -> None:
        p = self.policy
        address = device.address
        decoder = HeartRateDecoder(device=address, timing=self.timing)
        announced_before = False
        delay = p.first_delay_s
        while True:
            lost = asyncio.Event()
            client = self._client(device, lost)
            arrivals = _Arrivals(decoder, clock, queue, self.malformed)
            decoder.reset()
            try:
                await client.connect()
                if client.services.get_characteristic(HEART_RATE_MEASUREMENT) is None:
                    raise BiobreathError(f"{self._infos[address].name} ({address}) does not offer "
                                         "the Heart Rate Measurement characteristic")
                self._infos[address] = await self._read_info(client, self._infos[address])
                battery = await self._battery(client, clock, queue, address)
                await client.start_notify(HEART_RATE_MEASUREMENT, arrivals.on_notification)
            except _LINK_ERRORS as e:
                mapped = no_bluetooth(e, starting=False)
                if mapped is not None:
                    raise mapped from None
                log.info("%s: connection attempt failed: %s", address, e)
                with contextlib.suppress(*_LINK_ERRORS):
                    await client.disconnect()
                await clock.sleep_until(clock.now() + delay)
                delay = min(delay * p.factor, p.max_delay_s)
                device = await self._rediscover(device)
                continue
            self._clients[address] = client
            t = clock.now()
            state = LinkState.RECONNECTED if announced_before else LinkState.CONNECTED
            queue.put_nowait(Link(t, state, f"{self._infos[address].name} connected", address))
            if battery is not None:
                queue.put_nowait(Battery(t, battery, address))
            arrivals.release()
            announced_before = True
            delay = p.first_delay_s
            await lost.wait()
            self._clients.pop(address, None)
            queue.put_nowait(Link(clock.now(), LinkState.LOST, "link lost", address))
            await clock.sleep_until(clock.now() + p.first_delay_s)

    async def _rediscover(self, device: BLEDevice) -> BLEDevice:
        """A fresh handle on ``device`` from a scan (an operating system forgets a device it has
        not heard for a while, and then refuses to connect to the old handle); the old one when
        it is not heard within the connect timeout."""
        with contextlib.suppress(*_LINK_ERRORS):
            fresh = await BleakScanner.find_device_by_address(
                device.address, timeout=self.policy.connect_timeout_s, **self._backend())
            if fresh is not None:
                return fresh
        return device

    async def _battery(self, client: BleakClient, clock: Clock, queue: asyncio.Queue,
                       address: str) -> int | None:
        """The battery level (%) now, and Battery events later when the strap notifies them."""
        char = client.services.get_characteristic(BATTERY_LEVEL)
        if char is None:
            return None
        level = None
        with contextlib.suppress(*_LINK_ERRORS):
            value = await client.read_gatt_char(char)
            level = value[0] if value else None
        if "notify" in char.properties:
            def on_battery(_sender, data: bytearray) -> None:
                if data:
                    queue.put_nowait(Battery(clock.now(), data[0], address))

            with contextlib.suppress(*_LINK_ERRORS):
                await client.start_notify(char, on_battery)
        return level


def _virtual_id(label: str, index: int, seed: int) -> str:
    """The strap id for a ``--device`` label: itself when it is 8 hex digits, else derived."""
    from biobreath.ble.virtual_strap import strap_id

    if len(label) == 8 and all(c in "0123456789abcdefABCDEF" for c in label):
        return label.upper()
    return f"{zlib.crc32(label.encode()):08X}" if label else strap_id(index, seed)


def open_strap_source(devices: Sequence[str] = (), *, virtual: bool = False,
                      sim_params: SimParams | None = None, pacer=None,
                      outages: Sequence[Outage] = ()) -> BleStrap:
    """The source the CLI opens for ``--source ble`` (``virtual=False``) or ``virtual``.

    Real straps: ``devices`` are addresses or advertised names (empty: the first strap heard).
    Virtual straps: one virtual Polar H10 per entry of ``devices`` (an 8-hex-digit id, or any
    label; empty: one strap), each simulating a person from ``sim_params`` (the seed advanced by
    one per strap) who follows ``pacer``, with the forced link losses ``outages``.
    """
    if not virtual:
        return BleStrap(devices)
    from biobreath.ble.bumble_backend import VirtualRadio
    from biobreath.ble.virtual_strap import VirtualStrap

    params = sim_params if sim_params is not None else SimParams()
    radio = VirtualRadio()
    straps = [VirtualStrap(radio, device_id=_virtual_id(label, i, params.seed),
                           params=dataclasses.replace(params, seed=params.seed + i), pacer=pacer,
                           outages=outages)
              for i, label in enumerate(devices or [""])]
    return BleStrap([s.address for s in straps], radio=radio, peripherals=straps)

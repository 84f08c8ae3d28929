"""Bluetooth chest straps as a beat source, through bleak: real straps, or virtual ones.

:class:`BleStrap` finds its straps by scanning, connects to each with ``BleakClient``, reads the
battery and device information, and subscribes to Heart Rate Measurement (0x2A37). Every payload
is stamped with the session clock as it arrives and decoded by the same
:class:`~biobreath.straps.decoder.HeartRateDecoder` as the simulated strap's (one per strap). When a
link drops it yields ``Link(LOST)`` and keeps trying to reconnect, with growing pauses, for as
long as the session runs; once back it yields ``Link(RECONNECTED)`` and starts a new beat chain
(RRs lost in the gap are never bridged). Given another :class:`BleakBackend` (the virtual radio of
:mod:`biobreath.sim` is one) the same code runs unchanged over that backend's scanner and client.

**Raw ECG and acceleration.** When the strap's device profile says it has ECG and/or ACC (the
Polar H10) and ``pmd`` is on, the source starts the Polar Measurement Data streams after
subscribing to heart rate, on every (re)connection: ECG at 130 Hz (14 bit, the H10's only rate)
and ACC at 25 Hz, 16 bit, ±8 g (breathing lies below 1 Hz, so 25 Hz is ample and costs the
fewest notifications; 8 g keeps a knock or a stand-up from clipping, and costs no resolution
because frames carry whole mG anyway). Each data frame becomes one
:class:`~biobreath.events.EcgSamples` or :class:`~biobreath.events.AccSamples`; see
:class:`PmdDecoder` for how its samples are placed on the session clock. A stream the strap
refuses is logged and left out; the heart rate goes on regardless.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from biobreath.clock import Clock
from biobreath.core.timing import TimingParams
from biobreath.errors import BiobreathError
from biobreath.events import (
    AccSamples,
    Battery,
    DeviceInfo,
    EcgSamples,
    Event,
    Link,
    LinkState,
)
from biobreath.sources.base import BeatSource
from biobreath.straps.decoder import HeartRateDecoder
from biobreath.straps.gatt import (
    BATTERY_LEVEL,
    FIRMWARE_REVISION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    PMD_CONTROL_POINT,
    PMD_DATA,
    PMD_OP_START,
    PMD_STATUS,
    GattParseError,
    encode_pmd_start,
    parse_pmd_control_response,
    parse_pmd_frame,
    pmd_sample_times_ns,
)
from biobreath.straps.profiles import match_profile
from biobreath.straps.scan import no_bluetooth

log = logging.getLogger(__name__)

_LINK_ERRORS = (BleakError, TimeoutError, OSError, EOFError)


@dataclass(frozen=True, slots=True)
class BleakBackend:
    """A bleak backend other than the platform's: the ``scanner`` and ``client`` classes bleak
    should use, and the extra keyword arguments (``options``) both take."""

    scanner: type
    client: type
    options: Mapping[str, Any] = field(default_factory=dict)

    def kwargs(self, *, client: bool) -> dict[str, Any]:
        return {"backend": self.client if client else self.scanner, **self.options}


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


PMD_ECG_RATE_HZ = 130
PMD_ECG_RESOLUTION_BITS = 14
PMD_ACC_RATE_HZ = 25
PMD_ACC_RESOLUTION_BITS = 16
PMD_ACC_RANGE_G = 8
_RATE_TOLERANCE = 0.05  # a frame spacing off 1/fs by more than this share means frames were lost
_PMD_ALREADY = 6  # control point status: already in that state


class PmdDecoder:
    """One connection's PMD data frames to ECG and ACC events on the session clock.

    The frame timestamps (ns of the strap's clock, last sample of each frame) space the samples
    exactly: a frame's samples are spread evenly since the previous frame of the same stream
    (:func:`~biobreath.straps.gatt.pmd_sample_times_ns`), so ``fs_hz`` of an event is the rate the
    strap really sampled at by its own clock (the H10's rate is only good to ±2 %; its clock's drift
    against the session clock, tens of ppm, is left out). After a lost frame (a spacing more
    than 5 % off the nominal rate) or on the first frame, samples are placed at the nominal rate
    back from the timestamp.

    What is unknown is the offset between the strap's clock and the session clock. Every frame
    bounds it from above: its last sample was taken at least ``latency_min_s`` before the frame
    arrived, so ``offset <= arrival - latency_min_s - timestamp``. The decoder uses the tightest
    bound so far, each older bound loosened by ``drift_ppm`` of the strap time since (the clocks
    drift), and applies it to each frame as it arrives. The placement is thus late by the part of
    the latency that no frame revealed: after a few seconds of frames (ECG and ACC pool their
    evidence, as they share the strap's clock), the shortest latency seen above ``latency_min_s``.
    The first frames after (re)connection are placed less precisely, until a fast one arrives.

    ``rates``: nominal Hz of the streams started, by measurement (frames of others are ignored).
    """

    def __init__(self, device: str, rates: dict[str, float], *, latency_min_s: float = 0.005,
                 drift_ppm: float = 50.0) -> None:
        self.device = device
        self.rates = dict(rates)
        self.latency_min_s = latency_min_s
        self.drift = drift_ppm * 1e-6
        self.offset_s = math.nan       # session time minus strap time (relative to _origin_ns)
        self._origin_ns: int | None = None  # strap timestamp taken as strap time 0
        self._bound_at_s = 0.0         # strap time of the last offset update (s)
        self._previous: dict[str, int] = {}

    def decode(self, arrival: float, data: bytes) -> list[Event]:
        """Events for one data notification that arrived at ``arrival`` (s); raises
        :class:`~biobreath.straps.gatt.GattParseError` for malformed bytes."""
        frame = parse_pmd_frame(data)
        fs = self.rates.get(frame.measurement)
        if fs is None:
            return []
        n = frame.samples.shape[0]
        prev = self._previous.get(frame.measurement)
        self._previous[frame.measurement] = frame.timestamp_ns
        if prev is not None and abs((frame.timestamp_ns - prev) * fs / (n * 1e9) - 1) > \
                _RATE_TOLERANCE:
            prev = None
        times_ns = pmd_sample_times_ns(frame.timestamp_ns, n, prev, fs)
        if self._origin_ns is None:
            self._origin_ns = frame.timestamp_ns
        last_s = (frame.timestamp_ns - self._origin_ns) / 1e9
        bound = arrival - self.latency_min_s - last_s
        if math.isnan(self.offset_s):
            self.offset_s = bound
        else:
            loosened = self.offset_s + self.drift * max(0.0, last_s - self._bound_at_s)
            self.offset_s = min(loosened, bound)
        self._bound_at_s = max(self._bound_at_s, last_s)
        t0 = (int(times_ns[0]) - self._origin_ns) / 1e9 + self.offset_s
        rate = fs if n < 2 else (n - 1) * 1e9 / float(times_ns[-1] - times_ns[0])
        if frame.measurement == "ecg":
            return [EcgSamples(arrival, t0, rate, frame.samples, self.device)]
        return [AccSamples(arrival, t0, rate, frame.samples, self.device)]


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
        self.pmd: PmdDecoder | None = None

    def on_notification(self, _sender, data: bytearray) -> None:
        self._decode(self.decoder.decode, data, "heart rate")

    def on_pmd_data(self, _sender, data: bytearray) -> None:
        if self.pmd is not None:
            self._decode(self.pmd.decode, data, "PMD")

    def _decode(self, decode, data: bytearray, what: str) -> None:
        arrival = self.clock.now()
        try:
            events = decode(arrival, bytes(data))
        except GattParseError as e:
            device = self.decoder.device
            self.malformed[device] = self.malformed.get(device, 0) + 1
            log.warning("%s: dropped a malformed %s notification: %s", device, what, e)
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
    means the first strap heard advertising the Heart Rate Service. ``backend``: reach the straps
    through this bleak backend instead of the platform's Bluetooth. ``timing`` configures the beat
    timer of each strap's decoder, and its ``latency_min_s`` and ``drift_ppm`` the placement of PMD
    samples. ``pmd``: start raw ECG and ACC streams on straps whose profile has them (True).
    """

    kind = "ble"

    def __init__(self, targets: Sequence[str] = (), *, backend: BleakBackend | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(),
                 timing: TimingParams = TimingParams(), pmd: bool = True) -> None:
        self.targets = tuple(targets)
        self.backend = backend
        self.policy = policy
        self.timing = timing
        self.pmd = pmd
        self._infos: dict[str, DeviceInfo] = {}
        self._clients: dict[str, BleakClient] = {}
        self._tasks: list[asyncio.Task] = []
        self.malformed: dict[str, int] = {}  # malformed notifications dropped, by address

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return tuple(self._infos.values())

    def metadata(self) -> dict[str, object]:
        return {"kind": self.kind, "targets": list(self.targets),
                "devices": [dataclasses.asdict(d) for d in self.devices], "pmd": self.pmd}

    def _backend(self) -> dict:
        """bleak keyword arguments that choose the scanner backend (none: the platform's)."""
        return self.backend.kwargs(client=False) if self.backend else {}

    def _client(self, device: BLEDevice, lost: asyncio.Event) -> BleakClient:
        extra = self.backend.kwargs(client=True) if self.backend else {}
        return BleakClient(device, disconnected_callback=lambda _client: lost.set(),
                           timeout=self.policy.connect_timeout_s, **extra)

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        queue: asyncio.Queue = asyncio.Queue()
        try:
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
                if self.pmd:
                    try:
                        await self._start_pmd(client, arrivals, address)
                    except _LINK_ERRORS as e:
                        # Heart rate is what matters: go on without ECG and ACC (a link that
                        # really dropped shows as Link(LOST) right after it is announced).
                        log.warning("%s: could not start the ECG and ACC streams: %s", address, e)
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

    async def _start_pmd(self, client: BleakClient, arrivals: _Arrivals, address: str) -> None:
        """Start the ECG and ACC streams the strap's profile lists, if it offers PMD."""
        profile = match_profile(self._infos[address].name, ())
        if profile is None:
            return
        caps = profile.capabilities
        wanted: dict[str, tuple[float, bytes]] = {}
        if caps.ecg and (not caps.ecg_rate_hz or PMD_ECG_RATE_HZ in caps.ecg_rate_hz):
            wanted["ecg"] = (PMD_ECG_RATE_HZ, encode_pmd_start(
                "ecg", PMD_ECG_RATE_HZ, PMD_ECG_RESOLUTION_BITS))
        if caps.acc and (not caps.acc_rate_hz or PMD_ACC_RATE_HZ in caps.acc_rate_hz):
            wanted["acc"] = (PMD_ACC_RATE_HZ, encode_pmd_start(
                "acc", PMD_ACC_RATE_HZ, PMD_ACC_RESOLUTION_BITS, PMD_ACC_RANGE_G))
        services = client.services
        if not wanted or services.get_characteristic(PMD_CONTROL_POINT) is None \
                or services.get_characteristic(PMD_DATA) is None:
            return
        # A new connection may meet a strap whose clock was reset: a new decoder each time.
        decoder = PmdDecoder(address, {m: rate for m, (rate, _) in wanted.items()},
                             latency_min_s=self.timing.latency_min_s,
                             drift_ppm=self.timing.drift_ppm)
        arrivals.pmd = decoder

        def on_answer(_sender, data: bytearray) -> None:
            try:
                answer = parse_pmd_control_response(bytes(data))
            except GattParseError as e:
                log.warning("%s: malformed PMD control answer: %s", address, e)
                return
            # "Already in that state": the stream still runs from before (a quick reconnection).
            if answer.opcode == PMD_OP_START and answer.status not in (0, _PMD_ALREADY):
                decoder.rates.pop(answer.measurement, None)
                log.warning("%s: the strap refused the %s stream: %s", address,
                            answer.measurement, PMD_STATUS.get(answer.status, answer.status))

        await client.start_notify(PMD_CONTROL_POINT, on_answer)
        await client.start_notify(PMD_DATA, arrivals.on_pmd_data)
        for _rate, command in wanted.values():
            await client.write_gatt_char(PMD_CONTROL_POINT, command, response=True)

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

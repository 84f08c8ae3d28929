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

**What real straps and stacks do, and what the source does about it.**

* *The model is decided after connecting*, from the Device Information model number, the strap's
  name and the services it really offers (:func:`~biobreath.straps.profiles.identify_profile`),
  never from an advertisement alone: adverts are split over the advertising packet and the scan
  response, and Windows reports the first packet (no name) on its own.
* *Pairing on demand*: when a PMD write fails with ATT Insufficient Authentication or
  Encryption (the H10 on Windows with current firmware), the source pairs once and writes again,
  and says so (a log line, a :class:`Notice` and a ``Link(CONNECTING)`` event whose detail
  the UI can show).
* *PMD commands one at a time* (:class:`PmdControl`): each waits for its answer, up to
  ``pmd_timeout_s``, and is sent again once. The strap's unasked "measurement stopped" message
  on the control point is understood, and the stream started again; a stream whose frames stop
  while heart rate still flows (``pmd_silence_s``) is stopped and started again. The link's ATT
  MTU is checked against the profile's ``pmd_mtu`` first.
* *A silent link is a lost link*: several seconds without a heart-rate notification (the
  profile's ``silence_timeout_s``, else ``ReconnectPolicy.silence_timeout_s``, 5 s) end the
  connection as a disconnect would, because a strap out of range or off the chest can stay
  "connected" for tens of seconds.
* *One Bluetooth operation at a time*: scanning, connecting and service discovery of every
  strap of the process go through one lock (:func:`~biobreath.straps.scan.bluetooth_lock`), as
  bleak advises (BlueZ refuses a second connection attempt while one is under way).
* *An adapter that goes away is waited for*: Bluetooth switched off, or not ready after a
  suspend, is retried with backoff (at start for ``adapter_wait_s``, during a session for as
  long as it runs) instead of ending the session.
* *Connections are always closed*, also when the source is cancelled: a link left open keeps a
  strap from advertising, on Linux even for the next run. A strap the system still holds (a
  crashed run's link) is found through bleak's ``BleakAdapter`` and taken over.
* *Targets* match by address, by advertised name or by the id at the end of the name (what is
  printed on a Polar strap); with ``fallback_to_any`` a target not heard within
  ``fallback_after_s`` is replaced by any other heart-rate strap heard (a remembered strap that
  is not around; on macOS addresses are per-computer UUIDs).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import bleak.exc
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
    BATTERY_SERVICE,
    FIRMWARE_REVISION,
    HEART_RATE_MEASUREMENT,
    HEART_RATE_SERVICE,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    PMD_CONTROL_POINT,
    PMD_DATA,
    PMD_MEASUREMENT_STOPPED,
    PMD_MEASUREMENTS,
    PMD_STATUS,
    GattParseError,
    PmdControlResponse,
    encode_pmd_start,
    encode_pmd_stop,
    parse_pmd_control_response,
    parse_pmd_features,
    parse_pmd_frame,
    parse_pmd_measurement_stopped,
    pmd_sample_times_ns,
)
from biobreath.straps.profiles import DeviceProfile, identify_profile, match_profile
from biobreath.straps.scan import (
    adapter_unavailable,
    bluetooth_lock,
    no_bluetooth,
    system_connected_devices,
)

log = logging.getLogger(__name__)

_LINK_ERRORS = (BleakError, TimeoutError, OSError, EOFError)
# bleak >= 3.0 raises GATT errors with their ATT code (Windows, and the virtual radio); () else.
_GATT_PROTOCOL_ERROR = getattr(bleak.exc, "BleakGATTProtocolError", ())
_ATT_PAIRING_NEEDED = (0x05, 0x0F)  # Insufficient Authentication, Insufficient Encryption


@dataclass(frozen=True, slots=True)
class BleakBackend:
    """A bleak backend other than the platform's: the ``scanner`` and ``client`` classes bleak
    should use, the extra keyword arguments (``options``) both take, and optionally the
    ``adapter`` class (bleak's ``BaseBleakAdapter``) that lists the devices the system is already
    connected to."""

    scanner: type
    client: type
    options: Mapping[str, Any] = field(default_factory=dict)
    adapter: type | None = None

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
    silence_timeout_s: session seconds without a Heart Rate Measurement notification after which
        a link counts as lost, for straps whose profile does not say (5 s; straps notify every
        second, a strap out of range can stay "connected" and silent for 20-45 s).
    pmd_timeout_s: how long each PMD control point command waits for its answer before it is
        sent once more (2 s; an H10 answers within a few hundred ms).
    pmd_silence_s: session seconds without a frame of a started PMD stream, while heart rate
        still arrives, after which the stream is stopped and started again (4 s; frames come
        every 0.6 s for ECG and 1.4 s for ACC at 25 Hz).
    fallback_after_s: with ``fallback_to_any``, how long the first scan waits for the targets
        before taking other straps in place of those not heard (5 s).
    adapter_wait_s: how long the first scan waits for a Bluetooth adapter that is off or not
        ready before giving up (30 s; during a session the source waits as long as it runs).
    adapter_poll_s: while the adapter is off, the pause between attempts grows no longer than
        this (2 s): an attempt then fails at once and costs nothing, and the session should
        resume as soon as the adapter is back.
    """

    scan_timeout_s: float = 10.0
    connect_timeout_s: float = 10.0
    first_delay_s: float = 0.5
    factor: float = 2.0
    max_delay_s: float = 5.0
    silence_timeout_s: float = 5.0
    pmd_timeout_s: float = 2.0
    pmd_silence_s: float = 4.0
    fallback_after_s: float = 5.0
    adapter_wait_s: float = 30.0
    adapter_poll_s: float = 2.0


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user may want to know about a strap's link (pairing, a fallback strap,
    Bluetooth off): session time ``t`` (s), the ``device`` address ('' before one is known) and
    one line of ``text``."""

    t: float
    device: str
    text: str


@dataclass(slots=True)
class LinkStats:
    """What happened to one strap's links (counts since the source started)."""

    connections: int = 0          # connections announced (CONNECTED or RECONNECTED)
    failed_attempts: int = 0      # connection attempts that failed
    silent_links: int = 0         # links ended by the silence watchdog
    pairings: int = 0             # pairings (or re-encryptions) asked for by the strap
    pmd_commands: int = 0         # PMD control point writes
    pmd_timeouts: int = 0         # PMD commands the strap did not answer in time
    pmd_restarts: int = 0         # PMD streams started again (stopped by the strap, or silent)
    first_ecg_s: float = math.nan  # session time of the first ECG frame


PMD_ECG_RATE_HZ = 130
PMD_ECG_RESOLUTION_BITS = 14
PMD_ACC_RATE_HZ = 25
PMD_ACC_RESOLUTION_BITS = 16
PMD_ACC_RANGE_G = 8
_RATE_TOLERANCE = 0.05  # a frame spacing off 1/fs by more than this share means frames were lost
_PMD_ALREADY = 6  # control point status: already in that state

def needs_pairing(exc: BaseException) -> bool:
    """Whether a failed GATT operation asks for pairing: ATT Insufficient Authentication (0x05)
    or Insufficient Encryption (0x0F), as bleak reports them on each platform (an error code on
    Windows, text in BlueZ's D-Bus error)."""
    if isinstance(exc, _GATT_PROTOCOL_ERROR):
        return int(exc.args[0]) in _ATT_PAIRING_NEEDED
    text = str(exc).lower()
    return "insufficient authentication" in text or "insufficient encryption" in text


def target_matches(target: str, address: str, name: str | None) -> bool:
    """Whether ``target`` (an address, an advertised name, or the id that ends a name, such as
    the one printed on a Polar strap; case-insensitive) means this device."""
    t = target.strip().lower()
    if not t:
        return False
    if t == address.lower():
        return True
    low = (name or "").strip().lower()
    # Ids are at least 4 characters, so that "1" cannot pick "Polar H10 ...1".
    return bool(low) and (t == low or (len(t) >= 4 and low.endswith(" " + t)))


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


class PmdControl:
    """One connection's PMD control point: one command at a time, each waiting for its answer.

    ``write`` writes a command (with response); ``timeout_s`` (loop seconds) bounds the wait for
    each answer; a command not answered in time is sent again, up to ``attempts`` writes in all
    (2: once more). ``on_stopped`` is called with
    the measurements of every "measurement stopped" message the strap sends unasked. The counters
    go to ``stats``.
    """

    def __init__(self, write: Callable[[bytes], Awaitable[None]], device: str, timeout_s: float,
                 on_stopped: Callable[[frozenset[str]], None], stats: LinkStats,
                 attempts: int = 2) -> None:
        self._write = write
        self.device = device
        self.timeout_s = timeout_s
        self.attempts = attempts
        self.on_stopped = on_stopped
        self.stats = stats
        self._lock = asyncio.Lock()
        self._waiting: tuple[int, str, asyncio.Future] | None = None
        self._parameters = b""

    def on_indication(self, _sender, data: bytearray) -> None:
        data = bytes(data)
        if data[:1] == bytes([PMD_MEASUREMENT_STOPPED]):
            try:
                stopped = parse_pmd_measurement_stopped(data)
            except GattParseError as e:
                log.warning("%s: malformed PMD measurement-stopped message: %s", self.device, e)
                return
            self.on_stopped(stopped)
            return
        try:
            answer = parse_pmd_control_response(data)
        except GattParseError as e:
            log.warning("%s: malformed PMD control answer: %s", self.device, e)
            return
        waiting = self._waiting
        if waiting is None or waiting[2].done() or (answer.opcode, answer.measurement) != \
                waiting[:2]:
            # A late answer to a command given up on: its retry gets its own answer.
            log.debug("%s: PMD answer nobody waits for: %s", self.device, answer)
            return
        self._parameters += answer.parameters
        if not answer.more:
            waiting[2].set_result(dataclasses.replace(answer, parameters=self._parameters))

    async def command(self, payload: bytes) -> PmdControlResponse | None:
        """Write one command and return its answer (its parameters joined over 'more' parts);
        None when no attempt was answered. An error of the write itself propagates."""
        opcode, measurement = payload[0], PMD_MEASUREMENTS.get(payload[1] & 0x3F, "?")
        async with self._lock:
            for attempt in range(1, self.attempts + 1):
                done = asyncio.get_running_loop().create_future()
                self._waiting, self._parameters = (opcode, measurement, done), b""
                try:
                    self.stats.pmd_commands += 1
                    await self._write(payload)
                    return await asyncio.wait_for(done, self.timeout_s)
                except TimeoutError:
                    self.stats.pmd_timeouts += 1
                    log.info("%s: no answer to PMD command %02X %s within %g s (attempt %d)",
                             self.device, opcode, measurement, self.timeout_s, attempt)
                finally:
                    self._waiting = None
            return None


class _Arrivals:
    """One connection's notifications: stamped and decoded at arrival, held back until the
    connection has been announced so that no beat precedes its Link event. Malformed payloads
    are dropped and counted in ``malformed`` (by device address). ``last_hr`` and ``last_pmd``
    (by measurement) are the session times of the latest notifications, for the watchdogs."""

    def __init__(self, decoder: HeartRateDecoder, clock: Clock, queue: asyncio.Queue,
                 malformed: dict[str, int], stats: LinkStats) -> None:
        self.decoder = decoder
        self.clock = clock
        self.queue = queue
        self.held: list[Event] | None = []
        self.malformed = malformed
        self.stats = stats
        self.pmd: PmdDecoder | None = None
        self.last_hr = clock.now()
        self.heard = 0  # heart-rate notifications on this connection
        self.last_pmd: dict[str, float] = {}

    def on_notification(self, _sender, data: bytearray) -> None:
        # Even a malformed notification shows the link is alive.
        self.last_hr = self.clock.now()
        self.heard += 1
        self._decode(self.decoder.decode, data, "heart rate")

    def on_pmd_data(self, _sender, data: bytearray) -> None:
        if self.pmd is None:
            return
        measurement = PMD_MEASUREMENTS.get(data[0] & 0x3F) if data else None
        if measurement is not None:
            self.last_pmd[measurement] = self.clock.now()
            if measurement == "ecg" and math.isnan(self.stats.first_ecg_s):
                self.stats.first_ecg_s = self.clock.now()
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


class _Link:
    """One connection to one strap: its client, its notifications, its PMD streams (the start
    command of each running one, by measurement), its tasks, and why it ended."""

    def __init__(self, address: str, arrivals: _Arrivals) -> None:
        self.address = address
        self.arrivals = arrivals
        self.client: BleakClient | None = None
        self.announced = False
        self.paired = False
        self.ended = asyncio.Event()
        self.reason = ""
        self.pmd: PmdControl | None = None
        self.streams: dict[str, bytes] = {}
        self.stopped_by_strap: set[str] = set()
        self.pmd_event = asyncio.Event()
        self.tasks: list[asyncio.Task] = []

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.reason = reason
            self.ended.set()

    def on_pmd_stopped(self, measurements: frozenset[str]) -> None:
        self.stopped_by_strap |= measurements
        self.pmd_event.set()


async def _wait_event_until(event: asyncio.Event, clock: Clock, t: float) -> None:
    """Wait until ``event`` is set or session time ``t`` (s) comes, whichever is first."""
    if event.is_set():
        return
    waiters = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(clock.sleep_until(t))}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class BleStrap(BeatSource):
    """One or more Bluetooth straps; see the module docstring.

    ``targets``: addresses, advertised names or name ids (case-insensitive) of the straps to use;
    empty means the first strap heard advertising the Heart Rate Service. ``fallback_to_any``:
    when a target is not heard within ``policy.fallback_after_s``, use another heart-rate strap
    instead (for a remembered strap; an explicit choice should leave it False and fail clearly).
    ``backend``: reach the straps through this bleak backend instead of the platform's
    Bluetooth. ``timing`` configures the beat timer of each strap's decoder, and its
    ``latency_min_s`` and ``drift_ppm`` the placement of PMD samples. ``pmd``: start raw ECG and
    ACC streams on straps whose profile has them (True).

    ``notices`` lists what the user may want to know (pairing, fallback, Bluetooth off), also
    logged, and, for a strap not yet announced, yielded as ``Link(CONNECTING)`` with the text as
    its detail. ``stats`` counts what happened to each strap's links, by address.
    """

    kind = "ble"

    def __init__(self, targets: Sequence[str] = (), *, backend: BleakBackend | None = None,
                 policy: ReconnectPolicy = ReconnectPolicy(),
                 timing: TimingParams = TimingParams(), pmd: bool = True,
                 fallback_to_any: bool = False) -> None:
        self.targets = tuple(targets)
        self.backend = backend
        self.policy = policy
        self.timing = timing
        self.pmd = pmd
        self.fallback_to_any = fallback_to_any
        self._infos: dict[str, DeviceInfo] = {}
        self._profiles: dict[str, DeviceProfile] = {}
        self._links: dict[str, _Link] = {}
        self._clients: dict[str, BleakClient] = {}
        self._tasks: list[asyncio.Task] = []
        self.malformed: dict[str, int] = {}  # malformed notifications dropped, by address
        self.notices: list[Notice] = []
        self.stats: dict[str, LinkStats] = {}

    @property
    def devices(self) -> tuple[DeviceInfo, ...]:
        return tuple(self._infos.values())

    def metadata(self) -> dict[str, object]:
        return {"kind": self.kind, "targets": list(self.targets),
                "devices": [dataclasses.asdict(d) for d in self.devices], "pmd": self.pmd,
                "fallback_to_any": self.fallback_to_any}

    def _backend(self) -> dict:
        """bleak keyword arguments that choose the scanner backend (none: the platform's)."""
        return self.backend.kwargs(client=False) if self.backend else {}

    def _client(self, device: BLEDevice, on_disconnect: Callable[[], None]) -> BleakClient:
        extra = self.backend.kwargs(client=True) if self.backend else {}
        return BleakClient(device, disconnected_callback=lambda _client: on_disconnect(),
                           timeout=self.policy.connect_timeout_s, **extra)

    def _stats(self, address: str) -> LinkStats:
        return self.stats.setdefault(address, LinkStats())

    def _notice(self, clock: Clock, queue: asyncio.Queue | None, device: str, text: str,
                *, link_event: bool = True) -> None:
        """Tell the user: a log line, a :class:`Notice`, and (``link_event``, for a strap whose
        connection is not announced yet) a ``Link(CONNECTING)`` event carrying ``text``."""
        t = clock.now()
        log.warning("%s%s", f"{device}: " if device else "", text)
        self.notices.append(Notice(t, device, text))
        if link_event and device and queue is not None:
            queue.put_nowait(Link(t, LinkState.CONNECTING, text, device))

    async def events(self, clock: Clock) -> AsyncIterator[Event]:
        queue: asyncio.Queue = asyncio.Queue()
        try:
            for device in await self._find(clock, queue):
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
        # Each connection task disconnects its own client on the way out (see _disconnect).
        await asyncio.gather(*tasks, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await self._disconnect(client)

    async def _disconnect(self, client: BleakClient) -> None:
        """Disconnect ``client`` (within ``connect_timeout_s``), even when the calling task is
        cancelled meanwhile: a link left open keeps a strap from advertising, on Linux even for
        the next run."""
        async def quietly() -> None:
            with contextlib.suppress(*_LINK_ERRORS):
                await asyncio.wait_for(client.disconnect(), self.policy.connect_timeout_s)

        job = asyncio.ensure_future(quietly())
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            # Finish closing first; then let the cancellation go on.
            with contextlib.suppress(asyncio.CancelledError):
                await job
            raise

    # --- finding the straps --------------------------------------------------------------------

    async def _find(self, clock: Clock, queue: asyncio.Queue | None = None) -> list[BLEDevice]:
        """Scan until every target (or, with none given, one heart-rate strap) was heard, waiting
        for a Bluetooth adapter that is off or not ready for up to ``adapter_wait_s``."""
        p = self.policy
        deadline = clock.now() + p.adapter_wait_s
        delay = p.first_delay_s
        told = None
        while True:
            try:
                async with bluetooth_lock():
                    return await self._scan_for_targets(clock, queue)
            except (OSError, BleakError) as e:
                reason = adapter_unavailable(e, starting=True)
                if reason is not None and clock.now() + delay <= deadline:
                    if reason != told:
                        told = reason
                        self._notice(clock, queue, "", f"{reason}: waiting up to "
                                     f"{deadline - clock.now():.0f} s for Bluetooth; turn it on",
                                     link_event=False)
                    await clock.sleep_until(clock.now() + delay)
                    delay = min(delay * p.factor, p.adapter_poll_s)
                    continue
                mapped = no_bluetooth(e, starting=True)
                if mapped is None:
                    raise
                raise mapped from None

    async def _scan_for_targets(self, clock: Clock, queue: asyncio.Queue | None
                                ) -> list[BLEDevice]:
        p = self.policy
        wanted = list(self.targets)
        found: dict[int, BLEDevice] = {}  # by index of the target
        heard: dict[str, tuple[BLEDevice, str]] = {}  # every heart-rate strap, by address
        complete = asyncio.Event()

        def consider(device: BLEDevice, name: str, uuids: Sequence[str]) -> None:
            used = {d.address for d in found.values()}
            matched = False
            for i, target in enumerate(wanted):
                if i not in found and device.address not in used \
                        and target_matches(target, device.address, name):
                    found[i] = device
                    matched = True
                    break
            if matched or match_profile(name, uuids) is not None:
                known = heard.get(device.address, (device, ""))[1]
                heard[device.address] = (device, name or known)
            if (wanted and len(found) == len(wanted)) or (not wanted and heard):
                complete.set()

        def on_advertisement(device: BLEDevice, adv: AdvertisementData) -> None:
            consider(device, adv.local_name or device.name or "", adv.service_uuids)

        # Straps the system is already connected to (a crashed run's link) do not advertise.
        for device in await system_connected_devices((HEART_RATE_SERVICE,), self.backend):
            consider(device, device.name or "", (HEART_RATE_SERVICE,))
        scanner = BleakScanner(on_advertisement, **self._backend())
        await scanner.start()
        try:
            # Scan timeouts are loop seconds (the radio's time), as bleak's own are.
            loop = asyncio.get_running_loop()
            start = loop.time()
            first = p.fallback_after_s if self.fallback_to_any and wanted else p.scan_timeout_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(complete.wait(), min(first, p.scan_timeout_s))
            if not complete.is_set() and self.fallback_to_any and wanted:
                # Take others for the targets not heard; go on listening for any still missing.
                if not self._fall_back(clock, queue, wanted, found, heard):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(complete.wait(),
                                               max(0.0, p.scan_timeout_s - (loop.time() - start)))
                    if not complete.is_set():
                        self._fall_back(clock, queue, wanted, found, heard)
        finally:
            with contextlib.suppress(*_LINK_ERRORS):
                await scanner.stop()
        missing = [t for i, t in enumerate(wanted) if i not in found]
        if not heard or missing:
            raise BiobreathError(self._not_found(missing))
        if wanted:
            devices = [found[i] for i in range(len(wanted))]
        else:
            devices = [next(iter(heard.values()))[0]]
        for device in devices:
            name = heard.get(device.address, (device, device.name or ""))[1]
            self._infos.setdefault(device.address, self._info(device, name))
        return devices

    def _fall_back(self, clock: Clock, queue: asyncio.Queue | None, wanted: list[str],
                   found: dict[int, BLEDevice], heard: dict[str, tuple[BLEDevice, str]]) -> bool:
        """Give each target not heard one of the other heart-rate straps heard, in the order
        they were heard, and say so; whether every target has a strap now."""
        for i, target in enumerate(wanted):
            if i in found:
                continue
            used = {d.address for d in found.values()}
            spare = next(((d, n) for a, (d, n) in heard.items() if a not in used), None)
            if spare is None:
                return False
            found[i] = spare[0]
            self._notice(clock, queue, spare[0].address,
                         f"{target} not heard within {self.policy.fallback_after_s:g} s: using "
                         f"{spare[1] or spare[0].address} instead")
        return True

    def _not_found(self, missing: list[str]) -> str:
        what = ", ".join(missing) if missing else "strap advertising the Heart Rate Service"
        text = (f"no {what} found within {self.policy.scan_timeout_s:g} s: is the strap worn "
                "(straps sleep without skin contact), in range, and not connected to another app?")
        limits = {p.quirks.max_connections for t in missing
                  if (p := match_profile(t)) is not None and p.quirks.max_connections}
        if len(limits) == 1:
            # A strap serving as many centrals as it can stops advertising.
            text += f" (it serves at most {limits.pop()} apps at once)"
        return text

    @staticmethod
    def _info(device: BLEDevice, name: str) -> DeviceInfo:
        # A first guess from the advertisement; _identify decides once connected.
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

    def _identify(self, client: BleakClient, info: DeviceInfo) -> DeviceInfo:
        """``info`` with the strap's name (its GATT name when no advertisement carried one) and
        the profile its model number, name and services show."""
        address = info.address
        name = "" if info.name == address else info.name
        if not name:
            with contextlib.suppress(Exception):  # backends differ; a name is a nicety here
                gatt_name = str(client.name or "")
                if gatt_name and gatt_name.replace("-", ":").lower() != address.lower():
                    name = gatt_name
        services = [s.uuid for s in client.services]
        profile = identify_profile(info.model or None, name or None, services)
        self._profiles[address] = profile
        if profile.id != info.profile:
            log.info("%s: identified as %s after connecting (model %r, name %r)", address,
                     profile.name, info.model, name)
        return dataclasses.replace(info, name=name or address, profile=profile.id)

    # --- keeping a strap connected -------------------------------------------------------------

    async def _keep_connected(self, device: BLEDevice, clock: Clock, queue: asyncio.Queue) -> None:
        try:
            await self._connection_loop(device, clock, queue)
        except Exception as e:  # noqa: BLE001 - the consumer of events() raises it
            queue.put_nowait(e)

    async def _connection_loop(self, device: BLEDevice, clock: Clock, queue: asyncio.Queue) -> None:
        p = self.policy
        address = device.address
        stats = self._stats(address)
        decoder = HeartRateDecoder(device=address, timing=self.timing)
        announced_before = False
        delay = p.first_delay_s
        failures = 0
        adapter_down: str | None = None
        while True:
            link = _Link(address, _Arrivals(decoder, clock, queue, self.malformed, stats))
            client = self._client(device, lambda link=link: link.end("link lost"))
            link.client = client
            decoder.reset()
            self._links[address] = link
            try:
                try:
                    battery = await self._set_up(link, clock, queue)
                except _LINK_ERRORS as e:
                    stats.failed_attempts += 1
                    failures += 1
                    reason = adapter_unavailable(e, starting=False)
                    if reason is None:
                        mapped = no_bluetooth(e, starting=False)
                        if mapped is not None:
                            raise mapped from None
                        log.info("%s: connection attempt failed: %s", address, e)
                        if failures == 3:
                            self._hint_busy(address)
                    elif reason != adapter_down:
                        adapter_down = reason
                        self._notice(clock, queue, address, f"{reason}: waiting for it to come "
                                     "back", link_event=False)
                    await self._disconnect(client)
                    await clock.sleep_until(clock.now() + delay)
                    longest = p.max_delay_s if reason is None else min(p.max_delay_s,
                                                                         p.adapter_poll_s)
                    delay = min(delay * p.factor, longest)
                    device = await self._rediscover(device)
                    continue
                adapter_down = None
                failures = 0
                self._clients[address] = client
                t = clock.now()
                state = LinkState.RECONNECTED if announced_before else LinkState.CONNECTED
                queue.put_nowait(Link(t, state, f"{self._infos[address].name} connected",
                                      address))
                if battery is not None:
                    queue.put_nowait(Battery(t, battery, address))
                link.arrivals.release()
                link.announced = True
                announced_before = True
                stats.connections += 1
                link.tasks.append(asyncio.create_task(self._watch_silence(link, clock)))
                if link.streams:
                    link.tasks.append(asyncio.create_task(self._supervise_pmd(link, clock)))
                await link.ended.wait()
            finally:
                for task in link.tasks:
                    task.cancel()
                await asyncio.gather(*link.tasks, return_exceptions=True)
                self._clients.pop(address, None)
                await self._disconnect(client)
            queue.put_nowait(Link(clock.now(), LinkState.LOST, link.reason, address))
            # A link that carried heart rate starts the backoff afresh; one that never did (a
            # strap off the chest stays silent) makes the next attempt wait longer.
            delay = p.first_delay_s if link.arrivals.heard else min(delay * p.factor,
                                                                      p.max_delay_s)
            await clock.sleep_until(clock.now() + delay)

    def _hint_busy(self, address: str) -> None:
        profile = self._profiles.get(address) or match_profile(self._infos[address].name)
        limit = profile.quirks.max_connections if profile is not None else None
        if limit:
            log.warning("%s: several connection attempts failed; the %s serves at most %d "
                        "apps at once: close other apps using it (phone, watch)", address,
                        profile.name, limit)

    async def _set_up(self, link: _Link, clock: Clock, queue: asyncio.Queue) -> int | None:
        """Connect, discover, identify and subscribe (one strap at a time, under the Bluetooth
        lock), then start the PMD streams; the battery level (%) read, if any."""
        client, address = link.client, link.address
        async with bluetooth_lock():
            await client.connect()
            if client.services.get_characteristic(HEART_RATE_MEASUREMENT) is None:
                raise BiobreathError(f"{self._infos[address].name} ({address}) does not offer "
                                     "the Heart Rate Measurement characteristic")
            info = await self._read_info(client, self._infos[address])
            self._infos[address] = self._identify(client, info)
            battery = await self._battery(client, clock, queue, address)
            await client.start_notify(HEART_RATE_MEASUREMENT, link.arrivals.on_notification)
            link.arrivals.last_hr = clock.now()
        if self.pmd:
            try:
                await self._start_pmd(client, link.arrivals, address)
            except _LINK_ERRORS as e:
                # Heart rate is what matters: go on without ECG and ACC (a link that really
                # dropped shows as Link(LOST) right after it is announced).
                log.warning("%s: could not start the ECG and ACC streams: %s", address, e)
        return battery

    async def _watch_silence(self, link: _Link, clock: Clock) -> None:
        """End the link when no heart-rate notification came for the silence timeout."""
        profile = self._profiles.get(link.address)
        timeout = (profile.quirks.silence_timeout_s if profile is not None else None) \
            or self.policy.silence_timeout_s
        while not link.ended.is_set():
            due = link.arrivals.last_hr + timeout
            if clock.now() >= due:
                self._stats(link.address).silent_links += 1
                log.warning("%s: no heart-rate notification for %g s: taking the link as lost",
                            link.address, timeout)
                link.end(f"no heart-rate notification for {timeout:g} s")
                return
            await clock.sleep_until(due)

    async def _rediscover(self, device: BLEDevice) -> BLEDevice:
        """A fresh handle on ``device`` from a scan (an operating system forgets a device it has
        not heard for a while, and then refuses to connect to the old handle); the old one when
        it is not heard within the connect timeout."""
        with contextlib.suppress(*_LINK_ERRORS):
            async with bluetooth_lock():
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
            profile = self._profiles.get(address)
            if profile is not None and BATTERY_SERVICE in profile.services:
                log.info("%s: the %s has a Battery Service but it is not offered here (on Linux, "
                         "BlueZ's battery plugin takes it: run bluetoothd with '-P battery' to "
                         "see the level)", address, profile.name)
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

    # --- Polar Measurement Data ----------------------------------------------------------------

    async def _start_pmd(self, client: BleakClient, arrivals: _Arrivals, address: str) -> None:
        """Start the ECG and ACC streams the strap's profile lists and the strap offers, one
        command at a time, pairing once if the strap asks for it."""
        link = self._links[address]
        profile = self._profiles.get(address) or match_profile(self._infos[address].name)
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
        control_point = services.get_characteristic(PMD_CONTROL_POINT)
        if not wanted or control_point is None or services.get_characteristic(PMD_DATA) is None:
            return
        offered = await self._pmd_features(client, control_point)
        if offered is not None:
            wanted = {m: v for m, v in wanted.items() if m in offered}
            if not wanted:
                return
        mtu = await _att_mtu(client)
        need = profile.quirks.pmd_mtu
        small = need is not None and mtu < need
        if small:
            log.warning("%s: the link's ATT MTU is %d bytes, below the %d the %s needs for "
                        "ECG and ACC; trying anyway", address, mtu, need, profile.name)
        # A new connection may meet a strap whose clock was reset: a new decoder each time.
        decoder = PmdDecoder(address, {m: rate for m, (rate, _) in wanted.items()},
                             latency_min_s=self.timing.latency_min_s,
                             drift_ppm=self.timing.drift_ppm)
        arrivals.pmd = decoder
        # Below the MTU it needs an H10 never answers: asking twice would only double the wait.
        control = PmdControl(lambda payload: self._write_pmd(link, payload), address,
                             self.policy.pmd_timeout_s, link.on_pmd_stopped, arrivals.stats,
                             attempts=1 if small else 2)
        link.pmd = control
        await client.start_notify(PMD_CONTROL_POINT, control.on_indication)
        await client.start_notify(PMD_DATA, arrivals.on_pmd_data)
        for measurement, (_rate, command) in wanted.items():
            answer = await control.command(command)
            if answer is None:
                hint = (f" (the link's ATT MTU is {mtu} bytes; the {profile.name} needs {need})"
                        if small else "")
                log.warning("%s: the strap does not answer on its PMD control point%s: going on "
                            "without ECG and ACC", address, hint)
                decoder.rates.clear()
                link.streams.clear()
                return
            # "Already in that state": the stream still runs from before (a quick reconnection).
            if answer.status in (0, _PMD_ALREADY):
                link.streams[measurement] = command
                arrivals.last_pmd[measurement] = arrivals.clock.now()
            else:
                decoder.rates.pop(measurement, None)
                log.warning("%s: the strap refused the %s stream: %s", address, measurement,
                            PMD_STATUS.get(answer.status, answer.status))

    async def _pmd_features(self, client: BleakClient, control_point) -> frozenset[str] | None:
        """The measurements the strap offers (reading its control point), None if unknown."""
        if "read" not in control_point.properties:
            return None
        try:
            return parse_pmd_features(await client.read_gatt_char(control_point))
        except (GattParseError, *_LINK_ERRORS) as e:
            log.debug("PMD features unreadable: %s", e)
            return None

    async def _write_pmd(self, link: _Link, payload: bytes) -> None:
        """Write a PMD command; when the strap asks for pairing first, pair once and write it
        again (Windows does not pair on its own; BlueZ and macOS do, and never get here)."""
        client = link.client
        try:
            await client.write_gatt_char(PMD_CONTROL_POINT, payload, response=True)
            return
        except _LINK_ERRORS as e:
            if not needs_pairing(e) or link.paired:
                raise
            error = e
        link.paired = True
        clock = link.arrivals.clock
        self._notice(clock, link.arrivals.queue, link.address,
                     "the strap asks to be paired before it streams ECG and ACC: pairing",
                     link_event=not link.announced)
        try:
            await client.pair()
        except NotImplementedError:
            raise error from None  # macOS pairs by itself when asked; nothing more to do here
        self._stats(link.address).pairings += 1
        log.info("%s: paired", link.address)
        await client.write_gatt_char(PMD_CONTROL_POINT, payload, response=True)

    async def _supervise_pmd(self, link: _Link, clock: Clock) -> None:
        """Keep the started PMD streams running: start again a stream the strap says it
        stopped, and stop and start again one whose frames stopped while heart rate still
        arrives. A stream that cannot be started again is left out."""
        arrivals, control = link.arrivals, link.pmd
        silence = self.policy.pmd_silence_s
        stats = self._stats(link.address)
        while link.streams and control is not None:
            due = min(arrivals.last_pmd.get(m, clock.now()) for m in link.streams) + silence
            await _wait_event_until(link.pmd_event, clock, due)
            link.pmd_event.clear()
            now = clock.now()
            for measurement in list(link.streams):
                if measurement in link.stopped_by_strap:
                    link.stopped_by_strap.discard(measurement)
                    why, stop_first = "the strap stopped it", False
                # The same sum as the deadline above: a difference could round the other way
                # and leave the loop spinning at the deadline on a virtual-time loop.
                elif now >= (last := arrivals.last_pmd.get(measurement, now)) + silence:
                    if arrivals.last_hr - last < silence / 2:
                        # Heart rate stopped too: the link is silent, which the heart-rate
                        # watchdog deals with. Look again later.
                        arrivals.last_pmd[measurement] = now
                        continue
                    why, stop_first = f"no frame for {silence:g} s", True
                else:
                    continue
                log.warning("%s: %s stream: %s; starting it again", link.address, measurement,
                            why)
                stats.pmd_restarts += 1
                arrivals.last_pmd[measurement] = now
                ok = False
                with contextlib.suppress(*_LINK_ERRORS):
                    if stop_first:
                        await control.command(encode_pmd_stop(measurement))
                    answer = await control.command(link.streams[measurement])
                    ok = answer is not None and answer.status in (0, _PMD_ALREADY)
                if not ok:
                    log.warning("%s: the %s stream could not be started again: left out until "
                                "the next connection", link.address, measurement)
                    link.streams.pop(measurement, None)
                    if arrivals.pmd is not None:
                        arrivals.pmd.rates.pop(measurement, None)
                arrivals.last_pmd[measurement] = clock.now()


async def _att_mtu(client: BleakClient) -> int:
    """The link's ATT MTU (bytes). BlueZ tells it only once asked (bleak's ``_acquire_mtu``,
    its documented way); Windows and macOS negotiate it while connecting."""
    backend = getattr(client, "_backend", None)
    acquire = getattr(backend, "_acquire_mtu", None)
    if acquire is not None and getattr(backend, "_mtu_size", 0) is None:
        with contextlib.suppress(*_LINK_ERRORS, NotImplementedError):
            await acquire()
    try:
        return int(client.mtu_size)
    except (BleakError, AttributeError, NotImplementedError):
        return 23

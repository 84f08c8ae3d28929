"""A virtual Polar H10: a bumble peripheral that serves a simulated person over a virtual radio.

It advertises as ``Polar H10 <id>`` with the Heart Rate Service, and offers Heart Rate (0x180D:
Heart Rate Measurement 0x2A37, notify; Body Sensor Location 0x2A38), Battery (0x180F), Device
Information (0x180A) and Polar Measurement Data (control point and data, see
:mod:`biobreath.straps.gatt`). What it sends comes from the project's simulation:
:class:`~biobreath.sim.physiology.PhysiologyModel` makes the person (breathing, heart rate, true
beat times), :class:`~biobreath.sim.emulator.StrapEmulator` the strap's Heart Rate Measurement
payloads with their latency, drift and losses; ECG (130 Hz, µV) is synthesised from the true beat
times and the accelerometer (25-200 Hz, mG) carries the breathing as a slow tilt of the chest. Each
PMD frame reaches the central after its last sample by a Bluetooth latency drawn, like the Heart
Rate notifications', uniformly between ``SimParams.latency_min_s`` and ``latency_max_s`` (frames of
one stream never overtake each other); its timestamp is the last sample's time on the strap's clock,
which runs ``clock_drift_ppm`` fast from ``SENSOR_EPOCH_S``.

The strap runs on the session clock it is started with. On a
:class:`~biobreath.sim.virtual_time.VirtualTimeLoop` with
:func:`~biobreath.sim.virtual_time.loop_clock` the whole link (advertising, connection,
notifications) runs in virtual time, faster than real time and deterministically.
:meth:`VirtualStrap.drop_link` (or ``outages``) forces a link loss: the strap disconnects, stops
advertising and stays silent for a while, as a strap out of range.

**Faults.** A strap can be started with any of the :data:`STRAP_FAULTS`, each a way real straps
and operating systems misbehave that the Bluetooth code must survive (``fault_at_s`` sets when
the timed ones strike): its name only in the scan response (``split-advert``); PMD writes refused
with ATT Insufficient Authentication until the central pairs (``pair-required``, as the H10 on
Windows with current firmware); a connection that goes silent without a disconnect
(``silent-drop``); ECG stopped by the strap with Polar's "measurement stopped" message
(``pmd-stop``) or without a word (``pmd-stall``); an ATT MTU too small for PMD, where the strap,
like an H10, never answers PMD commands (``small-mtu``); no Battery Service (``battery-hidden``,
what BlueZ's battery plugin shows). Like a real H10 it leaves PMD commands unanswered on any link
whose ATT MTU is below :data:`PMD_MIN_MTU`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from bumble import gatt, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from biobreath.clock import Clock
from biobreath.sim.bumble_backend import VirtualRadio, new_device
from biobreath.sim.emulator import StrapEmulator, StrapNotification
from biobreath.sim.physiology import PhysiologyModel, SimParams
from biobreath.straps.gatt import (
    PMD_CONTROL_POINT,
    PMD_DATA,
    PMD_OP_GET_SETTINGS,
    PMD_OP_START,
    PMD_OP_STOP,
    PMD_SERVICE,
    GattParseError,
    encode_pmd_control_response,
    encode_pmd_features,
    encode_pmd_frame,
    encode_pmd_measurement_stopped,
    encode_pmd_settings,
    parse_pmd_command,
)

ECG_RATE_HZ = 130
ECG_RESOLUTION_BITS = 14
ACC_RATES_HZ = (25, 50, 100, 200)
ACC_RANGES_G = (2, 4, 8)
ACC_RESOLUTION_BITS = 16
ECG_FRAME_SAMPLES = 73   # an H10 ECG frame at a 232-byte MTU
ACC_FRAME_SAMPLES = 36
SENSOR_EPOCH_S = 600_000_000.0
"""Sensor clock at power-on (s since 2000-01-01): an arbitrary date, as on a strap never set."""
_STATUS_INVALID_RESOLUTION = 7
_STATUS_INVALID_SAMPLE_RATE = 8
_STATUS_INVALID_RANGE = 9
_STATUS_ALREADY = 6
_STATUS_NOT_SUPPORTED = 3
PMD_MIN_MTU = 232
"""Below this ATT MTU (bytes) the strap, like a real H10, leaves PMD commands unanswered."""
SMALL_MTU = 23
"""The ATT MTU (bytes, the Bluetooth default) a ``small-mtu`` strap never goes beyond."""

STRAP_FAULTS: Mapping[str, str] = MappingProxyType({
    "split-advert": "name only in the scan response; the advertising packet holds flags and the "
                    "Heart Rate Service (Windows reports that packet alone first)",
    "pair-required": "PMD control point writes fail with ATT Insufficient Authentication (0x05) "
                     "until the central pairs (H10 firmware on Windows)",
    "silent-drop": "at the fault time every open connection goes silent: no notification, no "
                   "disconnect (a strap off the chest or out of range)",
    "pmd-stop": "at the fault time the strap stops ECG and sends PMD 'measurement stopped'",
    "pmd-stall": "at the fault time ECG frames stop without a word (the strap thinks it streams)",
    "small-mtu": f"ATT MTU stays {SMALL_MTU} bytes, so PMD commands go unanswered",
    "battery-hidden": "no Battery Service in GATT (as BlueZ's battery plugin leaves it)",
})
"""The faults a :class:`VirtualStrap` can be started with, and what each does."""

# PQRST waves of one lead-I-like beat: (offset from the R peak s, amplitude µV, width s).
_ECG_WAVES = ((-0.20, 120.0, 0.025), (-0.035, -150.0, 0.010), (0.0, 1300.0, 0.011),
              (0.035, -350.0, 0.012), (0.26, 300.0, 0.045))
_ECG_BREATH_WANDER_UV = 80.0
_ECG_NOISE_UV = 8.0
_ACC_REST_MG = np.array([-40.0, 15.0, 995.0])   # gravity on a seated chest
_ACC_BREATH_MG = np.array([20.0, 8.0, -35.0])   # per unit of lung volume
_ACC_NOISE_MG = 3.0


def synth_ecg_uv(t: np.ndarray, beat_times: np.ndarray, volume: np.ndarray,
                 noise: np.ndarray) -> np.ndarray:
    """ECG (µV, float) at times ``t`` (s) from R-peak times ``beat_times`` (s).

    Each beat is a sum of Gaussian P, Q, R, S and T waves; lung ``volume`` (0-1, at ``t``) adds
    a slow baseline wander, and ``noise`` (unit normal, at ``t``) the electrode noise.
    """
    d = t[:, None] - beat_times[None, :]
    ecg = np.zeros(t.shape)
    for offset, amp, width in _ECG_WAVES:
        ecg += amp * np.exp(-0.5 * ((d - offset) / width) ** 2).sum(axis=1)
    return ecg + _ECG_BREATH_WANDER_UV * (volume - 0.5) + _ECG_NOISE_UV * noise


def synth_acc_mg(volume: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Chest accelerometer (mG, shape (n, 3)) from lung volume (0-1) and unit noise (n, 3)."""
    return _ACC_REST_MG + volume[:, None] * _ACC_BREATH_MG + _ACC_NOISE_MG * noise


class _Person:
    """The simulated person and strap, advanced in chunks as far ahead as the streams need."""

    def __init__(self, params: SimParams, pacer, chunk_s: float) -> None:
        self.model = PhysiologyModel(params, pacer)
        # An H10 never reports contact.
        self.strap = StrapEmulator(params, contact=None, link=params.link)
        self.chunk_s = chunk_s
        self.drift = 1.0 + params.clock_drift_ppm * 1e-6
        self.notes: deque[StrapNotification] = deque()
        self.beats = np.empty(0)
        self.grid_t = np.empty(0)
        self.volume = np.empty(0)
        self.rng = np.random.default_rng(np.random.SeedSequence(params.seed).spawn(3)[2])
        self.pmd_rng = np.random.default_rng(np.random.SeedSequence(params.seed).spawn(4)[3])
        self.latency_s = (params.latency_min_s, params.latency_max_s)
        self._t = 0.0

    def advance_to(self, t: float, keep_s: float = 30.0) -> None:
        while self._t < t:
            self._t += self.chunk_s
            chunk = self.model.advance(self._t)
            self.notes.extend(self.strap.encode(chunk))
            old = self._t - keep_s - self.chunk_s
            self.beats = np.r_[self.beats[self.beats > old], chunk.beat_times]
            keep = self.grid_t > old
            self.grid_t = np.r_[self.grid_t[keep], chunk.t]
            self.volume = np.r_[self.volume[keep], chunk.respiration]

    def next_notification(self) -> StrapNotification:
        while not self.notes:
            self.advance_to(self._t + self.chunk_s)
        return self.notes.popleft()

    def volume_at(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.grid_t, self.volume)


@dataclass(frozen=True, slots=True)
class Outage:
    """A forced link loss: at ``start_s`` (session clock) the strap drops the link and stays
    silent for ``duration_s``."""

    start_s: float
    duration_s: float


class VirtualStrap:
    """A virtual Polar H10 on ``radio``; see the module docstring.

    ``device_id`` (8 hex digits) names it ``Polar H10 <device_id>`` and sets its address;
    ``params`` and ``pacer`` drive the simulated person (as in
    :class:`~biobreath.sim.source.SimulatedStrap`); ``outages`` are forced link losses;
    ``advertising_interval_s`` (0.1 s) is how often it advertises when not connected;
    ``chunk_s`` (10 s) is the simulation step.

    ``faults`` (names from :data:`STRAP_FAULTS`) make it misbehave; the timed ones strike at
    ``fault_at_s`` (session clock, 30 s).

    ``delivered`` lists every Heart Rate Measurement notification sent to a subscribed central,
    ``undelivered`` those the strap made while nobody listened (or during an outage or a silent
    connection). ``pairings`` holds the session times of completed pairings, ``faults_struck``
    (time, fault) the timed faults as they struck, ``pmd_commands`` (time, opcode, measurement,
    answered) every PMD control point command written.
    """

    def __init__(self, radio: VirtualRadio, *, device_id: str = "A0B1C2D3",
                 params: SimParams = SimParams(), pacer=None, outages: Sequence[Outage] = (),
                 advertising_interval_s: float = 0.1, chunk_s: float = 10.0,
                 firmware: str = "3.1.1", faults: Iterable[str] = (),
                 fault_at_s: float = 30.0) -> None:
        if len(device_id) != 8 or any(c not in "0123456789ABCDEF" for c in device_id.upper()):
            raise ValueError(f"device_id must be 8 hex digits, got {device_id!r}")
        self.faults = frozenset(faults)
        unknown = self.faults - set(STRAP_FAULTS)
        if unknown:
            raise ValueError(f"unknown strap fault(s) {', '.join(sorted(unknown))}; known: "
                             + ", ".join(STRAP_FAULTS))
        self.fault_at_s = fault_at_s
        self.radio = radio
        self.device_id = device_id.upper()
        self.name = f"Polar H10 {self.device_id}"
        i = self.device_id
        self.address = f"E0:{i[0:2]}:{i[2:4]}:{i[4:6]}:{i[6:8]}:10"
        self.params = params
        self.outages = tuple(outages)
        self.advertising_interval_s = advertising_interval_s
        self.firmware = firmware
        self.person = _Person(params, pacer, chunk_s)
        self.delivered: list[StrapNotification] = []
        self.undelivered: list[StrapNotification] = []
        self.link_drops: list[tuple[float, float]] = []  # (dropped at, advertising again at) s
        self.pairings: list[float] = []
        self.faults_struck: list[tuple[float, str]] = []
        self.pmd_commands: list[tuple[float, int, str, bool]] = []
        self.device: Device | None = None
        self._clock: Clock | None = None
        self._silent = False
        self._stopping = False
        self._hci: set[asyncio.Future] = set()  # advertising commands under way
        self._silenced: set[Connection] = set()  # connections gone silent (silent-drop)
        self._stalled: set[tuple[Connection, str]] = set()  # streams gone quiet (pmd-stall)
        self._hr_listeners: set[Connection] = set()
        self._streams: dict[tuple[Connection, str], asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._build_services()

    # --- GATT database -------------------------------------------------------------------------

    def _build_services(self) -> None:
        R, W = gatt.Characteristic.Properties.READ, gatt.Characteristic.Properties.WRITE
        N, IND = gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.Properties.INDICATE
        readable, writeable = gatt.Characteristic.READABLE, gatt.Characteristic.WRITEABLE
        self.hrm = gatt.Characteristic("2A37", N, 0, b"")
        self.battery = gatt.Characteristic("2A19", R | N, readable,
                                           bytes([self.params.battery_percent]))
        cp_permissions = readable | writeable
        if "pair-required" in self.faults:
            cp_permissions |= gatt.Characteristic.WRITE_REQUIRES_AUTHENTICATION
        self.pmd_cp = gatt.Characteristic(
            PMD_CONTROL_POINT.upper(), R | W | IND, cp_permissions,
            gatt.CharacteristicValue(read=lambda _c: encode_pmd_features({"ecg", "acc"}),
                                     write=self._on_control_point))
        self.pmd_data = gatt.Characteristic(PMD_DATA.upper(), N, 0, b"")
        self.services = [
            gatt.Service("180D", [self.hrm, gatt.Characteristic("2A38", R, readable, bytes([1]))]),
            *([] if "battery-hidden" in self.faults else [gatt.Service("180F", [self.battery])]),
            gatt.Service("180A", [
                gatt.Characteristic("2A29", R, readable, b"Polar Electro Oy"),
                gatt.Characteristic("2A24", R, readable, b"Polar H10"),
                gatt.Characteristic("2A25", R, readable, self.device_id.encode()),
                gatt.Characteristic("2A26", R, readable, self.firmware.encode()),
            ]),
            gatt.Service(PMD_SERVICE.upper(), [self.pmd_cp, self.pmd_data]),
        ]

    def _advertising_data(self) -> bytes:
        flags = (AdvertisingData.FLAGS, bytes([AdvertisingData.LE_GENERAL_DISCOVERABLE_MODE_FLAG
                                               | AdvertisingData.BR_EDR_NOT_SUPPORTED_FLAG]))
        name = (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())
        uuids = (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, bytes(UUID("180D")))
        if "split-advert" in self.faults:
            return bytes(AdvertisingData([flags, uuids]))
        return bytes(AdvertisingData([flags, name, uuids]))

    def _scan_response_data(self) -> bytes:
        """What a scanning central gets when it asks for more (split-advert: the name)."""
        if "split-advert" in self.faults:
            return bytes(AdvertisingData([(AdvertisingData.COMPLETE_LOCAL_NAME,
                                           self.name.encode())]))
        return b""

    # --- life cycle ----------------------------------------------------------------------------

    async def power_on(self) -> None:
        """Join the radio and advertise (enough to be found by a scan; no clock needed)."""
        if self.device is not None:
            return
        self._stopping = False
        device, self._controller = new_device(self.radio.link, self.name, self.address)
        device.add_services(self.services)
        if "small-mtu" in self.faults:
            device.gatt_server.max_mtu = SMALL_MTU
        device.on("connection", self._on_connection)
        device.on("characteristic_subscription", self._on_subscription)
        await device.power_on()
        self.device = device
        await self._advertise()

    async def start(self, clock: Clock) -> None:
        """Power on and serve the simulated person on ``clock`` (session seconds)."""
        self._clock = clock
        await self.power_on()
        self._spawn(self._serve_heart_rate())
        for outage in self.outages:
            self._spawn(self._outage(outage))
        for fault in sorted(self.faults & {"silent-drop", "pmd-stop", "pmd-stall"}):
            self._spawn(self._strike(fault))

    async def stop(self) -> None:
        """Stop serving and leave the radio (the link drops for any connected central)."""
        self._stopping = True
        tasks = list(self._tasks) + list(self._streams.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Advertising commands already sent must complete: bumble's host cannot take one back.
        await asyncio.gather(*self._hci, return_exceptions=True)
        self._tasks.clear()
        self._streams.clear()
        if self.device is not None:
            device, self.device = self.device, None
            with contextlib.suppress(Exception):
                await device.stop_advertising()
            for connection in list(device.connections.values()):
                with contextlib.suppress(Exception):
                    await connection.disconnect()
            self.radio.link.remove_controller(self._controller)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _advertise(self) -> None:
        if self._stopping or self.device is None:
            return
        # bumble's timers run on the event loop; on a clock running faster than the loop the
        # strap advertises proportionally more often, so it takes as long in session time.
        speed = self._clock.speed if self._clock is not None and self._clock.speed else 1.0
        ms = self.advertising_interval_s * 1000.0 / speed
        # Shielded: a task cancelled in the middle of bumble's HCI exchange leaves the host
        # waiting for an answer it then cannot take.
        job = asyncio.ensure_future(self.device.start_advertising(
            advertising_data=self._advertising_data(),
            scan_response_data=self._scan_response_data(),
            advertising_interval_min=ms, advertising_interval_max=ms))
        self._hci.add(job)
        job.add_done_callback(self._hci.discard)
        await asyncio.shield(job)

    def _now(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0

    def _on_connection(self, connection: Connection) -> None:
        connection.on("disconnection", lambda reason: self._on_disconnection(connection))
        connection.on("pairing", lambda keys: self.pairings.append(self._now()))

    def _on_disconnection(self, connection: Connection) -> None:
        self._hr_listeners.discard(connection)
        self._silenced.discard(connection)
        self._stalled = {k for k in self._stalled if k[0] is not connection}
        for key in [k for k in self._streams if k[0] is connection]:
            self._streams.pop(key).cancel()
        if not self._silent and not self._stopping and self.device is not None:
            self._spawn(self._advertise())

    def _on_subscription(self, connection: Connection, characteristic, notify: bool,
                         indicate: bool) -> None:
        if characteristic is self.hrm:
            (self._hr_listeners.add if notify else self._hr_listeners.discard)(connection)

    # --- forced link loss ----------------------------------------------------------------------

    async def drop_link(self, duration_s: float) -> None:
        """Drop every connection now and stay silent (not advertising, nothing delivered) for
        ``duration_s`` seconds of the session clock; then advertise again."""
        clock = self._clock
        t0 = clock.now()
        self._silent = True
        try:
            await self.device.stop_advertising()
            for connection in list(self.device.connections.values()):
                # What the central sees when a strap walks out of range.
                await connection.disconnect(reason=hci.HCI_CONNECTION_TIMEOUT_ERROR)
            await clock.sleep_until(t0 + duration_s)
        finally:
            self._silent = False
        if self.device is not None:
            await self._advertise()
        self.link_drops.append((t0, clock.now()))

    async def _outage(self, outage: Outage) -> None:
        await self._clock.sleep_until(outage.start_s)
        await self.drop_link(outage.duration_s)

    # --- timed faults --------------------------------------------------------------------------

    async def _strike(self, fault: str) -> None:
        await self._clock.sleep_until(self.fault_at_s)
        self.faults_struck.append((self._now(), fault))
        connections = list(self.device.connections.values()) if self.device is not None else []
        if fault == "silent-drop":
            # The link stays up at both ends; nothing reaches the central any more. A new
            # connection (after the central gives up on this one) is served as usual.
            self._silenced.update(connections)
        elif fault == "pmd-stall":
            self._stalled.update(k for k in self._streams if k[1] == "ecg")
        elif fault == "pmd-stop":
            for key in [k for k in self._streams if k[1] == "ecg"]:
                self._streams.pop(key).cancel()
                # Polar's unsolicited control point message: 01, then the measurement types.
                await self.device.indicate_subscriber(
                    key[0], self.pmd_cp, encode_pmd_measurement_stopped(["ecg"]))

    # --- heart rate ----------------------------------------------------------------------------

    async def _serve_heart_rate(self) -> None:
        clock = self._clock
        while True:
            note = self.person.next_notification()
            # The emulator's latency is the radio's: the in-process link adds none of its own.
            await clock.sleep_until(note.arrival_s)
            listeners = [] if self._silent else list(self._hr_listeners - self._silenced)
            for connection in listeners:
                await self.device.notify_subscriber(connection, self.hrm, note.payload)
            (self.delivered if listeners else self.undelivered).append(note)

    # --- Polar Measurement Data ----------------------------------------------------------------

    def _on_control_point(self, connection: Connection, value: bytes) -> None:
        try:
            cmd = parse_pmd_command(value)
        except GattParseError:
            return  # a real sensor ignores what it cannot parse
        answered = connection.att_mtu >= PMD_MIN_MTU and connection not in self._silenced
        self.pmd_commands.append((self._now(), cmd.opcode, cmd.measurement, answered))
        if not answered:
            return  # as a real H10 on a link with too small an MTU: not a word
        status, params = self._handle_command(connection, cmd)
        answer = encode_pmd_control_response(cmd.opcode, cmd.measurement, status, params)
        # Answer by indication once the write itself has been acknowledged.
        self._spawn(self.device.indicate_subscriber(connection, self.pmd_cp, answer))

    def _handle_command(self, connection: Connection, cmd) -> tuple[int, bytes]:
        if cmd.measurement not in ("ecg", "acc"):
            return _STATUS_NOT_SUPPORTED, b""
        key = (connection, cmd.measurement)
        if cmd.opcode == PMD_OP_GET_SETTINGS:
            if cmd.measurement == "ecg":
                return 0, encode_pmd_settings({0: ECG_RATE_HZ, 1: ECG_RESOLUTION_BITS})
            return 0, encode_pmd_settings({0: ACC_RATES_HZ, 1: ACC_RESOLUTION_BITS,
                                           2: ACC_RANGES_G})
        if cmd.opcode == PMD_OP_STOP:
            self._stalled.discard(key)
            task = self._streams.pop(key, None)
            if task is None:
                return _STATUS_ALREADY, b""
            task.cancel()
            return 0, b""
        assert cmd.opcode == PMD_OP_START
        if key in self._streams:
            return _STATUS_ALREADY, b""
        rate = cmd.settings.get("sample_rate", (None,))[0]
        resolution = cmd.settings.get("resolution", (None,))[0]
        if cmd.measurement == "ecg":
            if rate != ECG_RATE_HZ:
                return _STATUS_INVALID_SAMPLE_RATE, b""
            if resolution != ECG_RESOLUTION_BITS:
                return _STATUS_INVALID_RESOLUTION, b""
            stream = self._stream_ecg(connection)
        else:
            if rate not in ACC_RATES_HZ:
                return _STATUS_INVALID_SAMPLE_RATE, b""
            if resolution != ACC_RESOLUTION_BITS:
                return _STATUS_INVALID_RESOLUTION, b""
            if cmd.settings.get("range", (8,))[0] not in ACC_RANGES_G:
                return _STATUS_INVALID_RANGE, b""
            stream = self._stream_acc(connection, rate)
        self._streams[key] = asyncio.create_task(stream)
        return 0, b""

    def _sensor_ns(self, t: float) -> int:
        return round((SENSOR_EPOCH_S + t * self.person.drift) * 1e9)

    async def _stream(self, connection: Connection, measurement: str, rate_hz: int,
                      frame_samples: int, bytes_per_sample: int, synth) -> None:
        """Send frames of ``measurement`` at ``rate_hz`` (strap clock) as their samples fall due."""
        clock = self._clock
        step = 1.0 / (rate_hz * self.person.drift)
        n = max(1, min(frame_samples, (connection.att_mtu - 3 - 10) // bytes_per_sample))
        t_first = clock.now()
        k = 0
        sent = t_first
        while True:
            t = t_first + (k + np.arange(n)) * step
            sent = max(sent, float(t[-1]) + self.person.pmd_rng.uniform(*self.person.latency_s))
            await clock.sleep_until(sent)
            self.person.advance_to(t[-1] + 1.0)
            quiet = (self._silent or connection in self._silenced
                     or (connection, measurement) in self._stalled)
            if not quiet:
                frame = encode_pmd_frame(measurement, self._sensor_ns(float(t[-1])), synth(t))
                await self.device.notify_subscriber(connection, self.pmd_data, frame)
            k += n

    def _stream_ecg(self, connection: Connection):
        person = self.person

        def synth(t: np.ndarray) -> np.ndarray:
            near = person.beats[(person.beats > t[0] - 1.0) & (person.beats < t[-1] + 1.0)]
            ecg = synth_ecg_uv(t, near, person.volume_at(t), person.rng.standard_normal(t.size))
            return np.round(ecg).astype(np.int64)

        return self._stream(connection, "ecg", ECG_RATE_HZ, ECG_FRAME_SAMPLES, 3, synth)

    def _stream_acc(self, connection: Connection, rate_hz: int):
        person = self.person

        def synth(t: np.ndarray) -> np.ndarray:
            acc = synth_acc_mg(person.volume_at(t), person.rng.standard_normal((t.size, 3)))
            return np.round(acc).astype(np.int64)

        return self._stream(connection, "acc", rate_hz, ACC_FRAME_SAMPLES, 6, synth)


def strap_id(index: int, seed: int) -> str:
    """A stable 8-hex-digit strap id for the ``index``-th virtual strap of a seed."""
    return f"{(0xA0B1C2D3 + 0x01010101 * index + 0x10000 * seed) & 0xFFFFFFFF:08X}"


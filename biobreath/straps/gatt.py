"""Pure parsers and encoders for the GATT payloads chest straps send.

Heart Rate Measurement (characteristic 0x2A37) layout, from the Bluetooth Heart Rate Service
specification: byte 0 holds flags (bit0 uint16 heart rate, bit1 skin contact detected, bit2
contact detection supported, bit3 energy expended present, bit4 RR intervals present), then the
heart rate (bpm), the energy expended (uint16, kJ) and any number of RR intervals (uint16,
1/1024 s). The Polar Measurement Data (PMD) service of the Polar H10 carries raw ECG (µV) and
accelerometer (mG) frames and is started through its control point (see the PMD section below).
Every function here is pure: bytes in, frozen dataclasses out; malformed bytes raise
:class:`GattParseError` and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "parse_pmd_measurement_stopped",
    "encode_pmd_measurement_stopped",
    "PMD_MEASUREMENT_STOPPED",
    "BATTERY_LEVEL",
    "BATTERY_SERVICE",
    "DEVICE_INFORMATION_SERVICE",
    "FIRMWARE_REVISION",
    "GattParseError",
    "HEART_RATE_MEASUREMENT",
    "HEART_RATE_SERVICE",
    "HeartRateMeasurement",
    "MANUFACTURER_NAME",
    "MODEL_NUMBER",
    "PMD_CONTROL_POINT",
    "PMD_DATA",
    "PMD_FEATURES",
    "PMD_HEADER_BYTES",
    "PMD_OP_GET_SETTINGS",
    "PMD_OP_START",
    "PMD_OP_STOP",
    "PMD_RESPONSE",
    "PMD_SERVICE",
    "PMD_SETTING_CHANNELS",
    "PMD_SETTING_FACTOR",
    "PMD_SETTING_NAMES",
    "PMD_SETTING_RANGE",
    "PMD_SETTING_RANGE_MILLI",
    "PMD_SETTING_RESOLUTION",
    "PMD_SETTING_SAMPLE_RATE",
    "PMD_START_ACC_200HZ",
    "PMD_START_ECG_130HZ",
    "PMD_STOP_ACC",
    "PMD_STOP_ECG",
    "PmdCommand",
    "PmdControlResponse",
    "PmdFrame",
    "encode_heart_rate_measurement",
    "encode_pmd_control_response",
    "encode_pmd_features",
    "encode_pmd_frame",
    "encode_pmd_get_settings",
    "encode_pmd_settings",
    "encode_pmd_start",
    "encode_pmd_stop",
    "parse_heart_rate_measurement",
    "parse_pmd_command",
    "parse_pmd_control_response",
    "parse_pmd_features",
    "parse_pmd_frame",
    "parse_pmd_settings",
    "pmd_sample_times_ns",
]

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT = "00002a37-0000-1000-8000-00805f9b34fb"
BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFORMATION_SERVICE = "0000180a-0000-1000-8000-00805f9b34fb"
MANUFACTURER_NAME = "00002a29-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER = "00002a24-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION = "00002a26-0000-1000-8000-00805f9b34fb"

_HR_UINT16 = 0x01
_CONTACT_DETECTED = 0x02
_CONTACT_SUPPORTED = 0x04
_ENERGY_PRESENT = 0x08
_RR_PRESENT = 0x10


class GattParseError(ValueError):
    """A GATT payload is malformed; the message says which byte and why."""


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One decoded 0x2A37 notification.

    ``contact`` is None when the strap cannot detect skin contact; ``rr_ticks`` are the raw RR
    intervals in 1/1024 s, oldest first, unvalidated (a strap can send nonsense).
    """

    heart_rate_bpm: int
    contact: bool | None
    energy_kj: int | None
    rr_ticks: tuple[int, ...]


def parse_heart_rate_measurement(data: bytes) -> HeartRateMeasurement:
    """Decode a Heart Rate Measurement payload; raise :class:`GattParseError` if malformed."""
    data = bytes(data)
    if not data:
        raise GattParseError("heart rate measurement is empty")
    flags = data[0]
    pos = 1
    if flags & _HR_UINT16:
        if len(data) < pos + 2:
            raise GattParseError("heart rate measurement truncated: uint16 heart rate missing")
        (hr,) = struct.unpack_from("<H", data, pos)
        pos += 2
    else:
        if len(data) < pos + 1:
            raise GattParseError("heart rate measurement truncated: heart rate missing")
        hr = data[pos]
        pos += 1
    contact = bool(flags & _CONTACT_DETECTED) if flags & _CONTACT_SUPPORTED else None
    energy = None
    if flags & _ENERGY_PRESENT:
        if len(data) < pos + 2:
            raise GattParseError("heart rate measurement truncated: energy expended missing")
        (energy,) = struct.unpack_from("<H", data, pos)
        pos += 2
    rr: tuple[int, ...] = ()
    if flags & _RR_PRESENT:
        rest = len(data) - pos
        if rest % 2:
            raise GattParseError(f"heart rate measurement has an odd RR field ({rest} bytes)")
        rr = struct.unpack_from(f"<{rest // 2}H", data, pos)
    elif len(data) > pos:
        raise GattParseError(f"heart rate measurement has {len(data) - pos} unexpected bytes")
    return HeartRateMeasurement(hr, contact, energy, tuple(rr))


def encode_heart_rate_measurement(heart_rate_bpm: int, rr_ticks: tuple[int, ...] | list[int] = (),
                                  contact: bool | None = None,
                                  energy_kj: int | None = None) -> bytes:
    """Encode a Heart Rate Measurement as a strap would (uint8 heart rate when it fits)."""
    flags = 0
    body = bytearray()
    if 0 <= heart_rate_bpm <= 0xFF:
        body.append(heart_rate_bpm)
    else:
        flags |= _HR_UINT16
        body += struct.pack("<H", heart_rate_bpm)
    if contact is not None:
        flags |= _CONTACT_SUPPORTED | (_CONTACT_DETECTED if contact else 0)
    if energy_kj is not None:
        flags |= _ENERGY_PRESENT
        body += struct.pack("<H", min(energy_kj, 0xFFFF))
    if rr_ticks:
        flags |= _RR_PRESENT
        body += struct.pack(f"<{len(rr_ticks)}H", *rr_ticks)
    return bytes([flags]) + bytes(body)


# --- Polar Measurement Data (PMD): raw ECG and accelerometer of the Polar H10 -------------------
#
# Facts from Polar's public BLE SDK documentation. The control point takes
# ``[opcode, measurement type, settings...]`` (a setting is ``[type, count, value...]``) and answers
# by indication with ``F0 opcode type status [more] [parameters]``; reading it returns
# ``0F <feature bitmask>``. A data frame is ``[type][uint64 LE timestamp, ns since
# 2000-01-01T00:00Z on the sensor clock, of the last sample][frame type][samples]``.

PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

PMD_MEASUREMENTS: dict[int, str] = {0: "ecg", 1: "ppg", 2: "acc", 3: "ppi", 5: "gyro", 6: "mag"}
"""PMD measurement type codes and their names."""
PMD_MEASUREMENT_CODES: dict[str, int] = {v: k for k, v in PMD_MEASUREMENTS.items()}

PMD_OP_GET_SETTINGS = 0x01
PMD_OP_START = 0x02
PMD_OP_STOP = 0x03
PMD_RESPONSE = 0xF0
PMD_FEATURES = 0x0F

PMD_SETTING_SAMPLE_RATE = 0  # Hz, uint16
PMD_SETTING_RESOLUTION = 1   # bits, uint16
PMD_SETTING_RANGE = 2        # g (ACC), uint16
PMD_SETTING_RANGE_MILLI = 3  # milli-units, uint32
PMD_SETTING_CHANNELS = 4     # uint8
PMD_SETTING_FACTOR = 5       # conversion factor, float32
_SETTING_FORMATS = {PMD_SETTING_SAMPLE_RATE: "<H", PMD_SETTING_RESOLUTION: "<H",
                    PMD_SETTING_RANGE: "<H", PMD_SETTING_RANGE_MILLI: "<I",
                    PMD_SETTING_CHANNELS: "<B", PMD_SETTING_FACTOR: "<f"}
PMD_SETTING_NAMES = {PMD_SETTING_SAMPLE_RATE: "sample_rate", PMD_SETTING_RESOLUTION: "resolution",
                     PMD_SETTING_RANGE: "range", PMD_SETTING_RANGE_MILLI: "range_milli",
                     PMD_SETTING_CHANNELS: "channels", PMD_SETTING_FACTOR: "factor"}

PMD_STATUS: dict[int, str] = {
    0: "success", 1: "invalid opcode", 2: "invalid measurement type", 3: "not supported",
    4: "invalid length", 5: "invalid parameter", 6: "already in that state",
    7: "invalid resolution", 8: "invalid sample rate", 9: "invalid range", 10: "invalid MTU",
    11: "invalid number of channels", 12: "invalid state", 13: "device in charger",
}
"""Control point status codes (byte 3 of an answer) and their meaning."""

_COMPRESSED = 0x80
# Uncompressed frame types and their sample layout: (bytes per value, channels).
_FRAME_LAYOUTS: dict[tuple[str, int], tuple[int, int]] = {
    ("ecg", 0): (3, 1),   # signed 24-bit µV
    ("acc", 0): (1, 3),   # int8 x, y, z, mG
    ("acc", 1): (2, 3),   # int16 x, y, z, mG
    ("acc", 2): (3, 3),   # int24 x, y, z, mG
}
PMD_HEADER_BYTES = 10


@dataclass(frozen=True, slots=True, eq=False)
class PmdFrame:
    """One decoded PMD data notification.

    ``timestamp_ns`` is the sensor-clock time (ns since 2000-01-01T00:00Z, reset at power-off) of
    the last sample. ``samples`` is int64: ECG shape (n,) in µV; ACC shape (n, 3), x/y/z in mG.
    """

    measurement: str
    timestamp_ns: int
    frame_type: int
    samples: np.ndarray


def _int24(raw: bytes, count: int) -> np.ndarray:
    b = np.frombuffer(raw, dtype=np.uint8, count=3 * count).reshape(count, 3).astype(np.int64)
    v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
    return np.where(v & 0x800000, v - 0x1000000, v)


def parse_pmd_frame(data: bytes) -> PmdFrame:
    """Decode a PMD data notification (uncompressed ECG or ACC); raise :class:`GattParseError`.

    Delta-compressed frames (frame type bit 7) and measurement types other than ECG and ACC are
    refused with a :class:`GattParseError` naming them.
    """
    data = bytes(data)
    if len(data) < PMD_HEADER_BYTES + 1:
        raise GattParseError(f"PMD frame too short ({len(data)} bytes; header is 10 and at least "
                             "one sample must follow)")
    code = data[0] & 0x3F
    name = PMD_MEASUREMENTS.get(code)
    if name is None:
        raise GattParseError(f"PMD frame byte 0: unknown measurement type {code}")
    (timestamp,) = struct.unpack_from("<Q", data, 1)
    frame_type = data[9]
    if frame_type & _COMPRESSED:
        raise GattParseError(f"PMD frame byte 9: compressed {name} frames "
                             f"(type 0x{frame_type:02X}) are not supported")
    layout = _FRAME_LAYOUTS.get((name, frame_type))
    if layout is None:
        raise GattParseError(f"PMD frame byte 9: unsupported {name} frame type {frame_type}")
    width, channels = layout
    body = data[PMD_HEADER_BYTES:]
    step = width * channels
    if len(body) % step:
        raise GattParseError(f"PMD {name} frame: {len(body)} sample bytes is not a multiple "
                             f"of {step}")
    n = len(body) // step
    if width == 3:
        values = _int24(body, n * channels)
    else:
        values = np.frombuffer(body, dtype="<i1" if width == 1 else "<i2").astype(np.int64)
    samples = values if channels == 1 else values.reshape(n, channels)
    return PmdFrame(name, int(timestamp), frame_type, samples)


def encode_pmd_frame(measurement: str, timestamp_ns: int, samples: np.ndarray,
                     frame_type: int | None = None) -> bytes:
    """Encode an uncompressed PMD data frame (the inverse of :func:`parse_pmd_frame`).

    ``frame_type`` defaults to 0 for ECG (24-bit µV) and 1 for ACC (int16 mG); values that do not
    fit the frame type raise ``ValueError``.
    """
    if frame_type is None:
        frame_type = 0 if measurement == "ecg" else 1
    layout = _FRAME_LAYOUTS.get((measurement, frame_type))
    if layout is None:
        raise ValueError(f"cannot encode {measurement} frame type {frame_type}")
    width, channels = layout
    values = np.asarray(samples, dtype=np.int64).reshape(-1)
    if values.size == 0 or values.size % channels:
        raise ValueError(f"{measurement} samples must be a non-empty array of {channels}-tuples")
    lim = 1 << (8 * width - 1)
    if values.min() < -lim or values.max() >= lim:
        raise ValueError(f"{measurement} sample out of the {8 * width}-bit range")
    if not 0 <= timestamp_ns < 1 << 64:
        raise ValueError("timestamp_ns must fit an unsigned 64-bit integer")
    unsigned = (values & ((1 << (8 * width)) - 1)).astype("<u4")
    body = unsigned.view(np.uint8).reshape(-1, 4)[:, :width]
    header = bytes([PMD_MEASUREMENT_CODES[measurement]]) + struct.pack("<Q", timestamp_ns)
    return header + bytes([frame_type]) + body.tobytes()


def pmd_sample_times_ns(frame_timestamp_ns: int, n: int, previous_timestamp_ns: int | None,
                        fs_hz: float) -> np.ndarray:
    """Sensor-clock times (ns, int64) of a frame's ``n`` samples.

    The timestamp is the last sample's; samples are spread evenly after the previous frame's
    timestamp, or, for the first frame (``previous_timestamp_ns`` None or not earlier), placed
    ``1/fs_hz`` apart back from this frame's.
    """
    k = np.arange(1, n + 1, dtype=np.float64)
    if previous_timestamp_ns is None or previous_timestamp_ns >= frame_timestamp_ns:
        step = 1e9 / fs_hz
        return frame_timestamp_ns - np.round((n - k) * step).astype(np.int64)
    span = frame_timestamp_ns - previous_timestamp_ns
    return previous_timestamp_ns + np.round(k * span / n).astype(np.int64)


def _pmd_code(measurement: str) -> int:
    if measurement not in PMD_MEASUREMENT_CODES:
        raise ValueError(f"unknown PMD measurement {measurement!r}; known: "
                         f"{', '.join(PMD_MEASUREMENT_CODES)}")
    return PMD_MEASUREMENT_CODES[measurement]


def encode_pmd_settings(settings: dict[int, int | float | tuple[int | float, ...]]) -> bytes:
    """Settings as the control point carries them, in key order: ``[type, count, values]``.

    A value is one number (a start command's choice) or a tuple (the choices a sensor offers).
    """
    out = bytearray()
    for kind in sorted(settings):
        fmt = _SETTING_FORMATS.get(kind)
        if fmt is None:
            raise ValueError(f"unknown PMD setting type {kind}")
        values = settings[kind] if isinstance(settings[kind], tuple) else (settings[kind],)
        out += bytes([kind, len(values)]) + b"".join(struct.pack(fmt, v) for v in values)
    return bytes(out)


def encode_pmd_start(measurement: str, sample_rate_hz: int, resolution_bits: int,
                     range_g: int | None = None) -> bytes:
    """Control point command that starts a stream: ``02 type settings``."""
    settings: dict[int, int | float] = {PMD_SETTING_SAMPLE_RATE: sample_rate_hz,
                                        PMD_SETTING_RESOLUTION: resolution_bits}
    if range_g is not None:
        settings[PMD_SETTING_RANGE] = range_g
    return bytes([PMD_OP_START, _pmd_code(measurement)]) + encode_pmd_settings(settings)


def encode_pmd_stop(measurement: str) -> bytes:
    """Control point command that stops a stream: ``03 type``."""
    return bytes([PMD_OP_STOP, _pmd_code(measurement)])


def encode_pmd_get_settings(measurement: str) -> bytes:
    """Control point command that asks which settings a stream offers: ``01 type``."""
    return bytes([PMD_OP_GET_SETTINGS, _pmd_code(measurement)])


PMD_START_ECG_130HZ = encode_pmd_start("ecg", 130, 14)
PMD_STOP_ECG = encode_pmd_stop("ecg")
PMD_START_ACC_200HZ = encode_pmd_start("acc", 200, 16, 8)
PMD_STOP_ACC = encode_pmd_stop("acc")


def parse_pmd_settings(data: bytes) -> dict[str, tuple[int | float, ...]]:
    """Decode a settings list (``[type, count, value * count]`` ...) into name -> values."""
    data = bytes(data)
    out: dict[str, tuple[int | float, ...]] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise GattParseError(f"PMD settings byte {pos}: setting header truncated")
        kind, count = data[pos], data[pos + 1]
        fmt = _SETTING_FORMATS.get(kind)
        if fmt is None:
            raise GattParseError(f"PMD settings byte {pos}: unknown setting type {kind}")
        size = struct.calcsize(fmt)
        pos += 2
        if pos + size * count > len(data):
            raise GattParseError(f"PMD settings byte {pos}: {count} values of setting {kind} "
                                 "truncated")
        out[PMD_SETTING_NAMES[kind]] = tuple(
            struct.unpack_from(fmt, data, pos + i * size)[0] for i in range(count))
        pos += size * count
    return out


@dataclass(frozen=True, slots=True)
class PmdCommand:
    """A control point command as the sensor receives it (``settings``: name -> values)."""

    opcode: int
    measurement: str
    settings: dict[str, tuple[int | float, ...]]


def parse_pmd_command(data: bytes) -> PmdCommand:
    """Decode a control point command written by a client; raise :class:`GattParseError`."""
    data = bytes(data)
    if len(data) < 2:
        raise GattParseError(f"PMD command too short ({len(data)} bytes)")
    opcode, code = data[0], data[1]
    if opcode not in (PMD_OP_GET_SETTINGS, PMD_OP_START, PMD_OP_STOP):
        raise GattParseError(f"PMD command byte 0: unknown opcode {opcode}")
    name = PMD_MEASUREMENTS.get(code)
    if name is None:
        raise GattParseError(f"PMD command byte 1: unknown measurement type {code}")
    if opcode != PMD_OP_START and len(data) > 2:
        raise GattParseError(f"PMD command: {len(data) - 2} unexpected bytes after opcode {opcode}")
    return PmdCommand(opcode, name, parse_pmd_settings(data[2:]))


@dataclass(frozen=True, slots=True)
class PmdControlResponse:
    """A control point answer: ``status`` 0 is success; ``parameters`` follow the 'more' byte."""

    opcode: int
    measurement: str
    status: int
    more: bool
    parameters: bytes

    @property
    def ok(self) -> bool:
        return self.status == 0

    @property
    def status_text(self) -> str:
        return PMD_STATUS.get(self.status, f"status {self.status}")


def parse_pmd_control_response(data: bytes) -> PmdControlResponse:
    """Decode a control point indication ``F0 opcode type status [more] [params]``."""
    data = bytes(data)
    if len(data) < 4:
        raise GattParseError(f"PMD control answer too short ({len(data)} bytes)")
    if data[0] != PMD_RESPONSE:
        raise GattParseError(f"PMD control answer byte 0: expected 0xF0, got 0x{data[0]:02X}")
    name = PMD_MEASUREMENTS.get(data[2] & 0x3F)
    if name is None:
        raise GattParseError(f"PMD control answer byte 2: unknown measurement type {data[2]}")
    more = len(data) > 4 and data[4] != 0
    return PmdControlResponse(data[1], name, data[3], more, data[5:])


def encode_pmd_control_response(opcode: int, measurement: str, status: int = 0,
                                parameters: bytes = b"") -> bytes:
    """A control point answer as the sensor indicates it (the 'more' byte is 0)."""
    return bytes([PMD_RESPONSE, opcode, _pmd_code(measurement), status, 0]) + bytes(parameters)


def parse_pmd_features(data: bytes) -> frozenset[str]:
    """Measurements a sensor offers, from reading its control point (``0F bitmask...``)."""
    data = bytes(data)
    if len(data) < 2 or data[0] != PMD_FEATURES:
        raise GattParseError("PMD features must start with 0x0F and hold a bitmask byte")
    mask = int.from_bytes(data[1:], "little")
    return frozenset(name for code, name in PMD_MEASUREMENTS.items() if mask >> code & 1)


def encode_pmd_features(measurements: frozenset[str] | set[str]) -> bytes:
    """The control point's read value for a sensor offering ``measurements``."""
    mask = 0
    for m in measurements:
        mask |= 1 << _pmd_code(m)
    return bytes([PMD_FEATURES]) + mask.to_bytes(1 if mask < 256 else 2, "little")


PMD_MEASUREMENT_STOPPED = 0x01
"""First byte of the message a Polar sensor sends unasked on the PMD control point when it stopped
streams itself (Polar BLE SDK: ``ONLINE_MEASUREMENT_STOPPED``): ``01 type [type ...]``. It is not
an answer (those start with 0xF0), so a parser of answers must not take it for a malformed one."""


def parse_pmd_measurement_stopped(data: bytes) -> frozenset[str]:
    """The measurements a "measurement stopped" message names; raises
    :class:`~biobreath.straps.gatt.GattParseError` for other or malformed bytes."""
    data = bytes(data)
    if len(data) < 2 or data[0] != PMD_MEASUREMENT_STOPPED:
        raise GattParseError("PMD measurement-stopped message must be 0x01 and at least one "
                             "measurement type")
    names = set()
    for i, code in enumerate(data[1:], start=1):
        name = PMD_MEASUREMENTS.get(code & 0x3F)  # bits 6-7 flag offline recordings
        if name is None:
            raise GattParseError(f"PMD measurement-stopped byte {i}: unknown measurement type "
                                 f"{code}")
        names.add(name)
    return frozenset(names)


def encode_pmd_measurement_stopped(measurements: Iterable[str]) -> bytes:
    """The "measurement stopped" message for ``measurements`` (the inverse of the parser)."""
    return bytes([PMD_MEASUREMENT_STOPPED]) + bytes(PMD_MEASUREMENT_CODES[m] for m in measurements)

"""Pure parsers and encoders for the GATT payloads chest straps send.

Heart Rate Measurement (characteristic 0x2A37) layout, from the Bluetooth Heart Rate Service
specification: byte 0 holds flags (bit0 uint16 heart rate, bit1 skin contact detected, bit2
contact detection supported, bit3 energy expended present, bit4 RR intervals present), then the
heart rate (bpm), the energy expended (uint16, kJ) and any number of RR intervals (uint16,
1/1024 s). Every function here is pure: bytes in, frozen dataclasses out.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

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

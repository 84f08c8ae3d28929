"""Finding straps: a scan for devices that advertise the Heart Rate Service, the one lock every
Bluetooth operation of the process takes, the straps the system already holds, and what a
Bluetooth error means: no Bluetooth at all (one clear sentence instead of a traceback), or an
adapter that is off or not ready for a while (something to wait for)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bleak
from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)

from biobreath.errors import NoBluetoothError
from biobreath.straps.profiles import DeviceProfile, match_profile

if TYPE_CHECKING:
    from biobreath.straps.ble import BleakBackend

log = logging.getLogger(__name__)

NO_BLUETOOTH_HINT = ("turn Bluetooth on (on Linux: install BlueZ and run 'systemctl start "
                     "bluetooth'), or train with the simulated strap (--source sim)")

# D-Bus errors that mean the Bluetooth stack itself is missing, off or forbidden.
_DBUS_NO_BLUETOOTH = {
    "org.freedesktop.DBus.Error.ServiceUnknown": "BlueZ is not running",
    "org.freedesktop.DBus.Error.NoServer": "the system D-Bus is not running",
    "org.freedesktop.DBus.Error.SpawnFailed": "BlueZ could not be started",
    "org.freedesktop.DBus.Error.AccessDenied": "permission to use Bluetooth was refused",
    "org.bluez.Error.NotReady": "the Bluetooth adapter is off",
    "org.bluez.Error.NotAvailable": "the Bluetooth adapter is not available",
}


# D-Bus errors that mean the adapter is (for now) off or gone: at start only "not ready" (the
# adapter exists but is off), during a session also an adapter or BlueZ that went away (a USB
# adapter re-enumerated, bluetoothd restarted after a suspend).
_DBUS_ADAPTER_DOWN = {
    "org.bluez.Error.NotReady": "the Bluetooth adapter is off or not ready",
}
_DBUS_ADAPTER_GONE = {
    "org.bluez.Error.NotAvailable": "the Bluetooth adapter is not available",
    "org.freedesktop.DBus.Error.UnknownObject": "the Bluetooth adapter went away",
    "org.freedesktop.DBus.Error.ServiceUnknown": "BlueZ is not running",
    "org.freedesktop.DBus.Error.NoReply": "BlueZ does not answer",
}


def adapter_unavailable(exc: BaseException, *, starting: bool) -> str | None:
    """Why the Bluetooth adapter cannot be used for now, when ``exc`` means one that may come
    back (switched off, not ready, resuming from a suspend), else None.

    ``starting``: the error came from the first scan, where only an adapter that is there but
    off is worth waiting for (no adapter at all, or no BlueZ, is one clear error then); during
    a session an adapter or BlueZ that went away is waited for too.
    """
    if isinstance(exc, BleakBluetoothNotAvailableError):
        reason = exc.args[1] if len(exc.args) > 1 else None
        if reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
            return "Bluetooth is turned off"
        if not starting and reason in (BleakBluetoothNotAvailableReason.NO_BLUETOOTH,
                                       BleakBluetoothNotAvailableReason.UNKNOWN):
            return "the Bluetooth adapter went away"
        return None
    if isinstance(exc, BleakDBusError):
        reason = _DBUS_ADAPTER_DOWN.get(exc.dbus_error)
        if reason is None and not starting:
            reason = _DBUS_ADAPTER_GONE.get(exc.dbus_error)
        return reason
    return None


_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary())


def bluetooth_lock() -> asyncio.Lock:
    """The lock every scan, connection attempt and service discovery of this process takes
    (one per event loop, which in the application is one per process), so that several straps
    never scan and connect at once: bleak advises against it, and BlueZ refuses a second
    connection attempt while one is under way."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def system_connected_devices(service_uuids: Sequence[str],
                                   backend: BleakBackend | None = None) -> list[BLEDevice]:
    """Devices offering one of ``service_uuids`` that the system is already connected to (bleak
    >= 3.1 ``BleakAdapter``): such a strap does not advertise, and a connection a crashed run left
    open would otherwise hide its strap until it times out. Empty when the platform (or
    ``backend``, which then must bring its own ``adapter``) cannot tell."""
    adapter_type = getattr(bleak, "BleakAdapter", None)
    if adapter_type is None or (backend is not None and backend.adapter is None):
        return []
    try:
        if backend is not None:
            adapter = await adapter_type.get(backend=backend.adapter)
        else:
            adapter = await adapter_type.get()
        return list(await adapter.get_connected_devices(list(service_uuids)))
    except Exception as e:  # noqa: BLE001 - a probe: any failure only means "cannot tell"
        log.debug("could not list the connected devices: %r", e)
        return []


def no_bluetooth(exc: BaseException, *, starting: bool) -> NoBluetoothError | None:
    """The user-facing error for ``exc`` when it means there is no usable Bluetooth, else None.

    ``starting``: the error came from the first scan, where any D-Bus failure means the stack
    is unusable; later, only the D-Bus errors above do (others are transient link failures).
    """
    reason = None
    if isinstance(exc, FileNotFoundError):
        reason = "the system D-Bus was not found"
    elif isinstance(exc, PermissionError):
        reason = "permission to use Bluetooth was refused"
    elif isinstance(exc, BleakBluetoothNotAvailableError):
        reason = f"Bluetooth is unavailable ({exc.reason.name.lower().replace('_', ' ')})"
    elif isinstance(exc, BleakDBusError):
        reason = _DBUS_NO_BLUETOOTH.get(exc.dbus_error)
        if reason is None and starting:
            reason = f"the Bluetooth service failed ({exc.dbus_error})"
    elif isinstance(exc, BleakError) and "adapter" in str(exc).lower() and starting:
        reason = str(exc).rstrip(".")
    if reason is None:
        return None
    return NoBluetoothError(f"no Bluetooth: {reason}; {NO_BLUETOOTH_HINT}")


@dataclass(frozen=True, slots=True)
class ScanResult:
    """A strap heard while scanning: advertised ``name``, ``address``, signal ``rssi`` (dBm) and
    the device profile its name or services match."""

    name: str
    address: str
    rssi: int
    profile: DeviceProfile


async def scan(timeout_s: float = 5.0, *, backend: BleakBackend | None = None) -> list[ScanResult]:
    """Straps advertising the Heart Rate Service (or named like a known strap) heard within
    ``timeout_s`` seconds, strongest signal first.

    ``backend``: scan through this bleak backend instead of the computer's Bluetooth. Raises
    :class:`~biobreath.errors.NoBluetoothError` when the computer has no usable Bluetooth.
    """
    kwargs = backend.kwargs(client=False) if backend else {}
    try:
        async with bluetooth_lock():
            found = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **kwargs)
    except (OSError, BleakError) as e:
        mapped = no_bluetooth(e, starting=True)
        if mapped is None:
            raise
        raise mapped from None
    results = []
    for device, adv in found.values():
        name = adv.local_name or device.name or ""
        profile = match_profile(name, adv.service_uuids)
        if profile is not None:
            results.append(ScanResult(name, device.address, adv.rssi, profile))
    return sorted(results, key=lambda r: (-r.rssi, r.name))

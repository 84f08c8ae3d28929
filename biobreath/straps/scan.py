"""Finding straps: a scan for devices that advertise the Heart Rate Service, and the one clear
sentence a user without Bluetooth gets instead of a traceback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bleak import BleakScanner
from bleak.exc import BleakBluetoothNotAvailableError, BleakDBusError, BleakError

from biobreath.errors import NoBluetoothError
from biobreath.straps.profiles import DeviceProfile, match_profile

if TYPE_CHECKING:
    from biobreath.straps.ble import BleakBackend

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

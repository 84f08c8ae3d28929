"""bleak scanner, client and adapter backends on bumble, over an in-process virtual radio.

bleak lets a program choose its backend (``BleakScanner(backend=...)``,
``BleakClient(..., backend=...)``). These backends run bleak's ordinary calls against bumble
devices on a :class:`VirtualRadio`: a bumble ``LocalLink`` that carries advertising, connections
and ATT traffic between bumble controllers in this process, and one central adapter (a bumble
host and controller) that scans and connects for every scanner and client of the radio, as a
computer's one Bluetooth adapter does. Peripherals such as
:class:`biobreath.sim.virtual_h10.VirtualStrap` join the same radio.

The radio behaves like the operating systems' stacks where they are awkward, so that the real
Bluetooth code meets those awkward cases here too:

* **Advertising packets one by one** (as Windows reports them): the scanner reports the
  advertising packet as soon as it is heard and the scan response when it comes, each report
  carrying what was heard so far, so a strap whose name is only in its scan response is first
  reported without one. (bumble merges the two, and its LocalLink controller echoes the
  advertising data as the scan response: the radio reads the scan response data the peripheral
  really set on its controller instead.)
* **One connection attempt at a time** (as BlueZ): a second attempt while one is under way fails
  with ``org.bluez.Error.InProgress`` instead of waiting its turn.
* **Pairing**: :meth:`BumbleClient.pair` runs bumble's Security Manager (LE Secure Connections,
  Just Works) over the LocalLink, whose controllers encrypt the link; the central keeps the bond
  (in memory, for the radio's life) and encrypts the link again on later connections, as
  Windows and BlueZ do for a bonded device. ATT errors come back as bleak's
  ``BleakGATTProtocolError`` with the ATT error code, as on Windows.
* **An adapter that goes away**: :meth:`VirtualRadio.set_powered` turns the central adapter off
  (every link drops; scanning fails with bleak's "no powered Bluetooth adapters" error and
  connecting with BlueZ's ``org.bluez.Error.NotReady``) and on again.
* **Links the system already holds**: a connection nobody disconnected (a crashed run) stays up;
  :class:`BumbleAdapter` lists it (bleak's ``BleakAdapter.get_connected_devices``) and a new
  client adopts it, as BlueZ lets a new process do.

Each backend takes a ``radio=`` keyword (passed through bleak's constructors); without one it uses
the radio of the running event loop (:func:`loop_radio`). bleak documents its backend interface as
unstable: biobreath pins the bleak range it tests (see pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid as uuidlib
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import (
    BleakBluetoothNotAvailableError,
    BleakBluetoothNotAvailableReason,
    BleakDBusError,
    BleakError,
)
from bumble import att, core
from bumble.controller import Controller
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

try:  # bleak >= 3.0: the ATT error code as data, as the Windows backend raises it
    from bleak.exc import BleakGATTProtocolError
except ImportError:  # pragma: no cover - older bleak
    BleakGATTProtocolError = None  # type: ignore[assignment,misc]
try:  # bleak >= 3.1: the system's already-connected devices
    from bleak.backends.adapter import BaseBleakAdapter
except ImportError:  # pragma: no cover - older bleak
    BaseBleakAdapter = object  # type: ignore[assignment,misc]

from biobreath.straps.ble import BleakBackend

CENTRAL_ADDRESS = "C0:B1:0B:EA:70:01"
"""Random static address of the radio's central adapter."""
REQUESTED_MTU = 247
"""ATT MTU the client asks for after connecting (bytes), as BlueZ and Android do."""
_DEVICE_NAME = 0x2A00

_PROPERTY_NAMES = {
    Characteristic.Properties.BROADCAST: "broadcast",
    Characteristic.Properties.READ: "read",
    Characteristic.Properties.WRITE_WITHOUT_RESPONSE: "write-without-response",
    Characteristic.Properties.WRITE: "write",
    Characteristic.Properties.NOTIFY: "notify",
    Characteristic.Properties.INDICATE: "indicate",
    Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES: "authenticated-signed-writes",
    Characteristic.Properties.EXTENDED_PROPERTIES: "extended-properties",
}


def bleak_uuid(u: core.UUID) -> str:
    """A bumble UUID as bleak writes it: 128-bit, lower case."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


def new_device(link: LocalLink, name: str, address: str) -> tuple[Device, Controller]:
    """A bumble host (not yet powered on) and its controller on ``link``."""
    controller = Controller(name, link=link)
    host = Host(controller, AsyncPipeSink(controller))
    return Device(name=name, address=Address(address), host=host), controller


class VirtualRadio:
    """The air between virtual peripherals and this computer's one (virtual) central adapter.

    ``connect_log`` lists every connection attempt as (start, end, address, outcome), loop
    seconds; ``refused_busy`` counts attempts refused because another one was under way.
    """

    def __init__(self) -> None:
        self.link = LocalLink()
        self.names: dict[str, str] = {}  # advertised names by address, as an OS caches them
        self.services: dict[str, frozenset[str]] = {}  # GATT services found, by address
        self.powered = True
        self.connect_log: list[tuple[float, float, str, str]] = []
        self.refused_busy = 0
        self._central: Device | None = None
        self._central_ready = asyncio.Lock()
        self._connecting: str | None = None  # the address an attempt is under way for
        self._scanners = 0
        self._packet_listeners: list[Callable[[Advertisement], None]] = []

    async def central(self) -> Device:
        """The central adapter, powered on at first use."""
        async with self._central_ready:
            if self._central is None:
                device, _ = new_device(self.link, "biobreath central", CENTRAL_ADDRESS)
                await device.power_on()
                # Raw reports, one per packet, rather than bumble's merged advertisements.
                device.host.on("advertising_report", self._on_report)
                self._central = device
        return self._central

    def _on_report(self, report) -> None:
        if not self.powered:
            return
        adv = Advertisement.from_advertising_report(report)
        if adv is None:
            return
        if adv.is_scan_response:
            data = self._scan_response_data(adv.address)
            if data is not None:
                adv.data = AdvertisingData.from_bytes(data)
        name = _local_name(adv)
        if name:
            self.names[str(adv.address)] = name
        for listener in list(self._packet_listeners):
            listener(adv)

    def _scan_response_data(self, address: Address) -> bytes | None:
        """What the peripheral at ``address`` set as its scan response (HCI LE Set (Extended)
        Scan Response Data), which bumble's LocalLink controller does not send; None if unknown.
        bumble's host advertises through the legacy or the extended advertising commands
        depending on the controller's features, so both places are looked at."""
        controller = self.link.find_le_controller(address)
        advertisers = [getattr(controller, "le_legacy_advertiser", None),
                       *getattr(controller, "advertising_sets", {}).values()]
        for advertiser in advertisers:
            if getattr(advertiser, "enabled", False):
                return bytes(getattr(advertiser, "scan_response_data", b""))
        return None

    def add_packet_listener(self, listener: Callable[[Advertisement], None]) -> None:
        self._packet_listeners.append(listener)

    def remove_packet_listener(self, listener: Callable[[Advertisement], None]) -> None:
        self._packet_listeners.remove(listener)

    def _require_power(self, what: str) -> None:
        if self.powered:
            return
        if what == "scan":
            # What bleak's BlueZ backend raises when no adapter is powered.
            raise BleakBluetoothNotAvailableError(
                "No powered Bluetooth adapters found. Turn on Bluetooth and try again.",
                BleakBluetoothNotAvailableReason.POWERED_OFF)
        raise BleakDBusError("org.bluez.Error.NotReady", ["Resource Not Ready"])

    async def start_scanning(self) -> None:
        self._require_power("scan")
        central = await self.central()
        self._scanners += 1
        if self._scanners == 1:
            await central.start_scanning(filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners -= 1
        if self._scanners == 0 and self._central is not None and self._central.is_scanning:
            await self._central.stop_scanning()

    async def set_powered(self, on: bool) -> None:
        """Turn the central adapter off (every link drops, scans hear nothing, new scans and
        connections fail) or on again (scans under way resume), as when a laptop's Bluetooth is
        switched off or it sleeps and wakes."""
        central = await self.central()
        if on == self.powered:
            return
        self.powered = on
        if on:
            if self._scanners:
                await central.start_scanning(filter_duplicates=False)
            return
        if central.is_scanning:
            await central.stop_scanning()
        for connection in list(central.connections.values()):
            try:
                await connection.disconnect()
            except core.BaseBumbleError:
                pass  # the link went down on its own meanwhile

    def connection_to(self, address: str) -> Connection | None:
        """The central's open connection to ``address``, if any."""
        if self._central is None:
            return None
        return self._central.find_connection_by_bd_addr(Address(address))

    async def connect(self, address: str, timeout: float) -> Connection:
        """Connect to ``address`` once it advertises. Raises ``TimeoutError`` when it did not
        advertise within ``timeout``, and BlueZ's ``InProgress`` error when another attempt is
        under way (a controller makes one at a time; BlueZ refuses the second rather than
        queueing it)."""
        self._require_power("connect")
        central = await self.central()
        loop = asyncio.get_running_loop()
        start = loop.time()
        if self._connecting is not None:
            self.refused_busy += 1
            self.connect_log.append((start, start, address, "busy"))
            raise BleakDBusError("org.bluez.Error.InProgress", ["Operation already in progress"])
        self._connecting = address
        outcome = "failed"
        job = asyncio.ensure_future(central.connect(Address(address), timeout=timeout))
        try:
            connection = await asyncio.shield(job)
            outcome = "connected"
            return connection
        except asyncio.CancelledError:
            # The caller gave up. bumble's controller ignores LE Create Connection Cancel, so the
            # attempt may still complete: drop what it makes, as an OS stack does with an
            # abandoned attempt, rather than leave the peripheral connected to nobody; the
            # controller stays busy with it until then.
            outcome = "cancelled"
            job.add_done_callback(self._drop_abandoned)
            raise
        except core.TimeoutError:
            outcome = "timeout"
            raise TimeoutError(f"{address} did not advertise within {timeout:g} s") from None
        except core.BaseBumbleError as e:
            raise BleakError(f"connection to {address} failed: {e}") from e
        finally:
            if outcome != "cancelled":
                self._connecting = None
            self.connect_log.append((start, loop.time(), address, outcome))

    def _drop_abandoned(self, job: asyncio.Future) -> None:
        """Disconnect the connection an abandoned attempt made, if it made one."""
        self._connecting = None
        if job.cancelled() or job.exception() is not None:
            return
        task = asyncio.ensure_future(job.result().disconnect())
        _background.add(task)
        task.add_done_callback(_background.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # nothing to report


_background: set[asyncio.Future] = set()  # keeps fire-and-forget tasks from being collected

_radios: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, VirtualRadio] = (
    weakref.WeakKeyDictionary())


def loop_radio() -> VirtualRadio:
    """The virtual radio of the running event loop, created at first use."""
    loop = asyncio.get_running_loop()
    if loop not in _radios:
        _radios[loop] = VirtualRadio()
    return _radios[loop]


def _local_name(adv: Advertisement) -> str | None:
    data = adv.data
    name = data.get(data.COMPLETE_LOCAL_NAME) or data.get(data.SHORTENED_LOCAL_NAME)
    return name if isinstance(name, str) else None


def _service_uuids(adv: Advertisement) -> list[str]:
    data = adv.data
    out: list[str] = []
    for kind in (data.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 data.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 data.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                 data.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
        for entry in data.get_all(kind):
            out.extend(bleak_uuid(u) for u in entry)
    return out


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: reports each advertising packet the virtual radio's central hears,
    as bleak's Windows backend does: the advertising packet at once, with only its own data, then
    the scan response with the data of both (``platform_data`` holds the two packets)."""

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active", *,
                 radio: VirtualRadio | None = None, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = radio
        self._listening = False
        # The last advertising packet and scan response heard from each address.
        self._pairs: dict[str, tuple[Advertisement | None, Advertisement | None]] = {}

    async def start(self) -> None:
        radio = self._radio or loop_radio()
        self._radio = radio
        self.seen_devices = {}
        self._pairs = {}
        await radio.start_scanning()
        radio.add_packet_listener(self._on_packet)
        self._listening = True

    async def stop(self) -> None:
        if not self._listening:
            return
        self._listening = False
        self._radio.remove_packet_listener(self._on_packet)
        await self._radio.stop_scanning()

    def _on_packet(self, packet: Advertisement) -> None:
        address = str(packet.address)
        adv, scan = self._pairs.get(address, (None, None))
        pair = (adv, packet) if packet.is_scan_response else (packet, scan)
        self._pairs[address] = pair
        heard = [p for p in pair if p is not None]
        uuids = [u for p in heard for u in _service_uuids(p)]
        if not self.is_allowed_uuid(uuids):
            return
        name = next((n for p in heard if (n := _local_name(p))), None)
        data = AdvertisementData(local_name=name, manufacturer_data={}, service_data={},
                                 service_uuids=uuids, tx_power=None, rssi=packet.rssi,
                                 platform_data=pair)
        device = self.create_or_update_device(address, address, name, (self._radio, address), data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    """bleak client backend: a GATT client over a connection of the virtual radio's central.

    ``timeout`` (s, bleak's connect timeout) is how long :meth:`connect` waits for the
    peripheral to advertise.
    """

    def __init__(self, address_or_ble_device: BLEDevice | str, *,
                 disconnected_callback: Callable[[], None] | None = None, timeout: float = 10.0,
                 radio: VirtualRadio | None = None, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        details = getattr(address_or_ble_device, "details", None)
        if radio is None and isinstance(details, tuple) and isinstance(details[0], VirtualRadio):
            radio = details[0]
        self._radio = radio
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}
        self._closing = False
        self._device_name: str | None = None

    @property
    def name(self) -> str:
        """The GAP Device Name read at connection, else the advertised name, else the address."""
        radio = self._radio or loop_radio()
        return self._device_name or radio.names.get(self.address, self.address.replace(":", "-"))

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        radio = self._radio or loop_radio()
        self._radio = radio
        # A link the system already holds (one a crashed run never closed) is taken over, as
        # BlueZ lets a new process do, rather than refused or duplicated.
        connection = radio.connection_to(self.address)
        if connection is None:
            connection = await radio.connect(self.address, self._timeout)
        self._connection = connection
        self._closing = False
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            if connection.att_mtu < REQUESTED_MTU:
                await peer.request_mtu(REQUESTED_MTU)
            await peer.discover_all()
            for gap_name in peer.get_characteristics_by_uuid(core.UUID.from_16_bits(_DEVICE_NAME)):
                self._device_name = (await peer.read_value(gap_name)).decode("utf-8", "replace")
            if not connection.encryption and await self._bonded():
                # A bonded device's link is encrypted again at once, as Windows and BlueZ do.
                await connection.encrypt()
        except core.BaseBumbleError as e:
            raise BleakError(f"GATT discovery on {self.address} failed: {e}") from e
        self.services = self._collect_services(peer)
        radio.services[self.address] = frozenset(s.uuid for s in self.services)
        if self._device_name:  # the system remembers the name it read, as BlueZ does
            radio.names.setdefault(self.address, self._device_name)
        if pair:
            await self.pair()

    async def _bonded(self) -> bool:
        central = await (self._radio or loop_radio()).central()
        connection = self._connection
        if central.keystore is None or connection is None:
            return False
        return await central.keystore.get(str(connection.peer_address)) is not None

    def _collect_services(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for s in peer.services:
            service = BleakGATTService(s, s.handle, bleak_uuid(s.uuid))
            collection.add_service(service)
            for c in s.characteristics:
                props = [name for flag, name in _PROPERTY_NAMES.items() if c.properties & flag]
                char = BleakGATTCharacteristic(c, c.handle, bleak_uuid(c.uuid), props,
                                               lambda: self.mtu_size - 3, service)
                collection.add_characteristic(char)
                for d in c.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(d, d.handle, bleak_uuid(d.type), char))
        return collection

    def _on_disconnection(self, reason: int) -> None:
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        if not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        done = asyncio.get_running_loop().create_future()
        connection.once("disconnection", lambda reason: done.done() or done.set_result(reason))
        try:
            await connection.disconnect()
        except core.BaseBumbleError:
            return  # the link went down on its own meanwhile
        await done

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pair (LE Secure Connections, Just Works, bonding) through bumble's Security Manager,
        or, with a bond from an earlier pairing, only encrypt the link with its key."""
        connection = self._connection
        if connection is None:
            raise BleakError("not connected")
        try:
            if await self._bonded():
                await connection.encrypt()
            else:
                await connection.pair()
        except core.BaseBumbleError as e:
            raise BleakError(f"pairing with {self.address} failed: {e}") from e

    async def unpair(self) -> None:
        central = await (self._radio or loop_radio()).central()
        if central.keystore is not None:
            await central.keystore.delete(str(Address(self.address)))
        await self.disconnect()

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        with _bleak_errors(f"reading {characteristic.uuid}"):
            return bytearray(await self._require_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        with _bleak_errors(f"reading descriptor {descriptor.uuid}"):
            return bytearray(await self._require_peer().read_value(descriptor.obj))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        with _bleak_errors(f"writing {characteristic.uuid}"):
            await self._require_peer().write_value(characteristic.obj, bytes(data),
                                                   with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        with _bleak_errors(f"writing descriptor {descriptor.uuid}"):
            await self._require_peer().write_value(descriptor.obj, bytes(data),
                                                   with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: NotifyCallback, **kwargs: Any) -> None:
        self._require_peer()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = deliver
        # Notifications when the characteristic offers them, else indications (as bleak prefers).
        await characteristic.obj.subscribe(deliver, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        self._require_peer()
        deliver = self._subscriptions.pop(characteristic.handle, None)
        await characteristic.obj.unsubscribe(deliver)


@contextlib.contextmanager
def _bleak_errors(what: str) -> Iterator[None]:
    """bumble's errors as bleak's: an ATT error response as ``BleakGATTProtocolError`` with its
    code (as bleak's Windows backend raises it), any other as ``BleakError``."""
    try:
        yield
    except att.ATT_Error as e:
        if BleakGATTProtocolError is not None:
            raise BleakGATTProtocolError(e.error_code) from e
        raise BleakError(f"{what}: ATT error 0x{e.error_code:02X}") from e
    except core.BaseBumbleError as e:
        raise BleakError(f"{what}: {e}") from e


class BumbleAdapter(BaseBleakAdapter):
    """bleak adapter backend: the devices the virtual radio's central is connected to (bleak's
    ``BleakAdapter.get_connected_devices``), such as a strap a crashed run left connected.
    :func:`radio_backend` makes a subclass bound to one radio (bleak's ``BleakAdapter.get``
    passes no arguments a backend could take a radio from)."""

    radio: VirtualRadio | None = None

    @classmethod
    async def get(cls, **kwargs: Any) -> BumbleAdapter:
        return cls()

    async def get_connected_devices(self, service_uuids: frozenset[str]) -> list[BLEDevice]:
        radio = self.radio or loop_radio()
        central = await radio.central()
        found = []
        for connection in list(central.connections.values()):
            address = str(connection.peer_address)
            # Only devices whose services are known and include one asked for, as BlueZ does.
            if radio.services.get(address, frozenset()) & set(service_uuids):
                found.append(BLEDevice(address, radio.names.get(address), (radio, address)))
        return found


def radio_backend(radio: VirtualRadio) -> BleakBackend:
    """The bleak backend that reaches the peripherals on ``radio``, for
    :class:`~biobreath.straps.ble.BleStrap` (which then runs exactly as on real Bluetooth)."""
    adapter = type("BumbleAdapterOnRadio", (BumbleAdapter,), {"radio": radio})
    return BleakBackend(BumbleScanner, BumbleClient, {"radio": radio}, adapter=adapter)

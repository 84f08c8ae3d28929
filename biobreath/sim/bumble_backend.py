"""bleak scanner and client backends on bumble, over an in-process virtual radio.

bleak lets a program choose its backend (``BleakScanner(backend=...)``,
``BleakClient(..., backend=...)``). These two backends run bleak's ordinary calls against bumble
devices on a :class:`VirtualRadio`: a bumble ``LocalLink`` that carries advertising, connections
and ATT traffic between bumble controllers in this process, and one central adapter (a bumble
host and controller) that scans and connects for every scanner and client of the radio, as a
computer's one Bluetooth adapter does. Peripherals such as
:class:`biobreath.sim.virtual_h10.VirtualStrap` join the same radio.

Each backend takes a ``radio=`` keyword (passed through bleak's constructors); without one it uses
the radio of the running event loop (:func:`loop_radio`). bleak documents its backend interface as
unstable: biobreath pins the bleak range it tests (see pyproject.toml).
"""

from __future__ import annotations

import asyncio
import uuid as uuidlib
import weakref
from collections.abc import Callable
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bumble import core
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

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
    """The air between virtual peripherals and this computer's one (virtual) central adapter."""

    def __init__(self) -> None:
        self.link = LocalLink()
        self.names: dict[str, str] = {}  # advertised names by address, as an OS caches them
        self._central: Device | None = None
        self._central_ready = asyncio.Lock()
        self._connecting = asyncio.Lock()
        self._scanners = 0

    async def central(self) -> Device:
        """The central adapter, powered on at first use."""
        async with self._central_ready:
            if self._central is None:
                device, _ = new_device(self.link, "biobreath central", CENTRAL_ADDRESS)
                await device.power_on()
                device.on("advertisement", self._remember_name)
                self._central = device
        return self._central

    def _remember_name(self, adv: Advertisement) -> None:
        name = _local_name(adv)
        if name:
            self.names[str(adv.address)] = name

    async def start_scanning(self) -> None:
        central = await self.central()
        self._scanners += 1
        if self._scanners == 1:
            await central.start_scanning(filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners -= 1
        if self._scanners == 0 and self._central is not None:
            await self._central.stop_scanning()

    async def connect(self, address: str, timeout: float) -> Connection:
        """Connect to ``address`` once it advertises; one connection attempt at a time, as a
        controller allows. Raises ``TimeoutError`` when it did not advertise within ``timeout``."""
        central = await self.central()
        async with self._connecting:
            try:
                return await central.connect(Address(address), timeout=timeout)
            except core.TimeoutError:
                raise TimeoutError(f"{address} did not advertise within {timeout:g} s") from None
            except core.BaseBumbleError as e:
                raise BleakError(f"connection to {address} failed: {e}") from e


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
    """bleak scanner backend: reports the advertisements the virtual radio's central hears."""

    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active", *,
                 radio: VirtualRadio | None = None, **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._radio = radio
        self._central: Device | None = None

    async def start(self) -> None:
        radio = self._radio or loop_radio()
        self._radio = radio
        self.seen_devices = {}
        self._central = await radio.central()
        self._central.on("advertisement", self._on_advertisement)
        await radio.start_scanning()

    async def stop(self) -> None:
        if self._central is None:
            return
        self._central.remove_listener("advertisement", self._on_advertisement)
        self._central = None
        await self._radio.stop_scanning()

    def _on_advertisement(self, adv: Advertisement) -> None:
        uuids = _service_uuids(adv)
        if not self.is_allowed_uuid(uuids):
            return
        name = _local_name(adv)
        data = AdvertisementData(local_name=name, manufacturer_data={}, service_data={},
                                 service_uuids=uuids, tx_power=None, rssi=adv.rssi,
                                 platform_data=(adv,))
        address = str(adv.address)
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
        connection = await radio.connect(self.address, self._timeout)
        self._connection = connection
        self._closing = False
        connection.on("disconnection", self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        try:
            await peer.request_mtu(REQUESTED_MTU)
            await peer.discover_all()
            for gap_name in peer.get_characteristics_by_uuid(core.UUID.from_16_bits(_DEVICE_NAME)):
                self._device_name = (await peer.read_value(gap_name)).decode("utf-8", "replace")
        except core.BaseBumbleError as e:
            raise BleakError(f"GATT discovery on {self.address} failed: {e}") from e
        self.services = self._collect_services(peer)

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
        raise BleakError("the virtual radio does not pair")

    async def unpair(self) -> None:
        raise BleakError("the virtual radio does not pair")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, *,
                             use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._require_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, *,
                                   use_cached: bool = False, **kwargs: Any) -> bytearray:
        return bytearray(await self._require_peer().read_value(descriptor.obj))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data,
                              response: bool) -> None:
        await self._require_peer().write_value(characteristic.obj, bytes(data),
                                               with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data) -> None:
        await self._require_peer().write_value(descriptor.obj, bytes(data), with_response=True)

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


def radio_backend(radio: VirtualRadio) -> BleakBackend:
    """The bleak backend that reaches the peripherals on ``radio``, for
    :class:`~biobreath.straps.ble.BleStrap` (which then runs exactly as on real Bluetooth)."""
    return BleakBackend(BumbleScanner, BumbleClient, {"radio": radio})

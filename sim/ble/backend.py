"""A bleak backend over Bumble: the station's real bleak code talks to simulated peripherals.

With `client, scanner = bound_backends(air)`, `BleakScanner(backend=scanner)` and
`BleakClient(device, backend=client)` (also through bleak-retry-connector's
`establish_connection`) drive the central of a `SimAir`: scanning, connecting, GATT discovery,
reads, writes, notifications and indications are Bumble's own protocol code on an in-process
link. Like habluetooth's backends, a device found by the scanner carries its transport in
`BLEDevice.details`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak.uuids import normalize_uuid_str
from bumble import att, core
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy, DescriptorProxy, ServiceProxy

from sim.ble.air import AirError, SimAir

log = logging.getLogger(__name__)

PREFERRED_MTU = 247
ATT_HEADER = 3

_UUID_LISTS = (
    AdvertisingData.Type.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.Type.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)
_PROPERTY_NAMES: tuple[tuple[Characteristic.Properties, str], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
    (Characteristic.Properties.AUTHENTICATED_SIGNED_WRITES, "authenticated-signed-writes"),
    (Characteristic.Properties.EXTENDED_PROPERTIES, "extended-properties"),
)


@dataclass(frozen=True, slots=True)
class SimDeviceDetails:
    """What the simulated scanner puts in `BLEDevice.details`: the air and the address."""

    air: SimAir
    address: str


def uuid_str(uuid: UUID) -> str:
    """A Bumble UUID as bleak's normalised 128-bit string."""
    return normalize_uuid_str(uuid.to_hex_str("-"))


class SimBleakScanner(BaseBleakScanner):
    """A bleak scanner backend listening through the simulated central."""

    air: ClassVar[SimAir | None] = None

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._scanning = False

    async def start(self) -> None:
        """Start hearing advertisements; forget what was seen before."""
        if self._scanning:
            return
        air = _require(type(self).air)
        self.seen_devices = {}
        air.add_listener(self._on_advertisement)
        try:
            await air.acquire_scan()
        except BaseException:
            air.remove_listener(self._on_advertisement)
            raise
        self._scanning = True

    async def stop(self) -> None:
        """Stop hearing advertisements; idempotent."""
        if not self._scanning:
            return
        self._scanning = False
        air = _require(type(self).air)
        air.remove_listener(self._on_advertisement)
        await air.release_scan()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids = _service_uuids(data)
        if not self.is_allowed_uuid(uuids):
            return
        name = data.get(AdvertisingData.Type.COMPLETE_LOCAL_NAME) or data.get(
            AdvertisingData.Type.SHORTENED_LOCAL_NAME
        )
        service_data = {
            uuid_str(uuid): bytes(value) for uuid, value in data.get_all(AdvertisingData.Type.SERVICE_DATA_16_BIT_UUID)
        }
        manufacturer = {
            company: bytes(value) for company, value in data.get_all(AdvertisingData.Type.MANUFACTURER_SPECIFIC_DATA)
        }
        address = advertisement.address.to_string(with_type_qualifier=False)
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data=manufacturer,
            service_data=service_data,
            service_uuids=uuids,
            tx_power=data.get(AdvertisingData.Type.TX_POWER_LEVEL),
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        details = SimDeviceDetails(_require(type(self).air), address)
        device = self.create_or_update_device(address, address, name, details, adv)
        self.call_detection_callbacks(device, adv)


class SimBleakClient(BaseBleakClient):
    """A bleak client backend whose GATT client is Bumble's, on the simulated central."""

    air: ClassVar[SimAir | None] = None

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        services: set[str] | None = None,
        _is_retry_client: bool = False,  # bleak-retry-connector marks its clients with it
        **kwargs: Any,
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        details = address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        self._air = details.air if isinstance(details, SimDeviceDetails) else type(self).air
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._wanted_services = services
        self.is_retry_client = _is_retry_client
        self._connection: Connection | None = None
        self._closing = False
        self._att_abandoned = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        """The advertised name, or the address with dashes like bleak's other backends."""
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU."""
        return self._connection.att_mtu if self._connection is not None else att.ATT_DEFAULT_MTU

    @property
    def is_connected(self) -> bool:
        """True while the link to the peripheral is up."""
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        """Connect, exchange the MTU and discover every service; `timeout=` bounds the connect."""
        if self._connection is not None:
            return
        if pair:
            log.warning("pairing is not simulated; connecting without it")
        timeout = float(kwargs.get("timeout", self._timeout))
        air = _require(self._air)
        async with self._errors(f"connect to {self.address}"):
            async with asyncio.timeout(timeout):
                connection = await air.connect(self.address, timeout)
        self._connection, self._closing, self._att_abandoned = connection, False, False
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            async with self._errors(f"discover services of {self.address}"), asyncio.timeout(timeout):
                peer = Peer(connection)
                await peer.request_mtu(PREFERRED_MTU)
                self.services = await self._discover(peer)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        """Disconnect; idempotent, and the disconnected callback stays quiet for it."""
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            async with self._errors(f"disconnect from {self.address}"):
                await connection.disconnect()
        except BleakError:
            log.debug("link to %s already gone", self.address)
        finally:
            self._forget(connection)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        """Pairing is not simulated: the health profiles here need none."""
        log.warning("pairing is not simulated")

    async def unpair(self) -> None:
        """Nothing to forget: pairing is not simulated."""

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a characteristic value from the peripheral."""
        self._require_link()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        async with self._errors(f"read {characteristic.uuid}"):
            return bytearray(await proxy.read_value())

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        """Read a descriptor from the peripheral."""
        self._require_link()
        proxy: DescriptorProxy = descriptor.obj
        async with self._errors(f"read descriptor {descriptor.handle}"):
            return bytearray(await proxy.read_value())

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        """Write a characteristic value, with or without response."""
        self._require_link()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        async with self._errors(f"write {characteristic.uuid}"):
            await proxy.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        """Write a descriptor, with response."""
        self._require_link()
        proxy: DescriptorProxy = descriptor.obj
        async with self._errors(f"write descriptor {descriptor.handle}"):
            await proxy.write_value(bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        """Enable notifications, or indications when the characteristic only indicates."""
        self._require_link()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        subscriber = _guarded(callback, characteristic.uuid)
        self._subscribers[characteristic.handle] = subscriber
        async with self._errors(f"subscribe to {characteristic.uuid}"):
            await proxy.subscribe(subscriber, prefer_notify=True)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Disable notifications or indications."""
        self._require_link()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        subscriber = self._subscribers.pop(characteristic.handle, None)
        async with self._errors(f"unsubscribe from {characteristic.uuid}"):
            await proxy.unsubscribe(subscriber)

    def _require_link(self) -> Connection:
        if self._connection is None:
            raise BleakError(f"{self.address}: not connected")
        if self._att_abandoned:
            raise BleakError(f"{self.address}: an ATT request was abandoned; reconnect")
        return self._connection

    @asynccontextmanager
    async def _errors(self, what: str) -> AsyncIterator[None]:
        """Translate Bumble's errors into bleak's, as a platform backend would."""
        try:
            yield
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # ATT allows one request at a time and Bumble matches a late response to the
                # next request: after a cancelled one the bearer is unusable (Core Vol 3 Part F 3.3.3).
                self._att_abandoned = True
                raise
            # Bumble cancels a pending ATT request's future when the link drops.
            raise BleakError(f"{what}: disconnected") from None
        except att.ATT_Error as exc:
            raise BleakGATTProtocolError(exc.error_code) from exc
        except (AirError, core.BaseBumbleError, AssertionError) as exc:
            raise BleakError(f"{what}: {exc}") from exc

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            if self._wanted_services and uuid_str(service.uuid) not in self._wanted_services:
                continue
            await service.discover_characteristics()
            for characteristic in service.characteristics:
                await characteristic.discover_descriptors()
            _add_service(collection, service, self._write_size)
        return collection

    def _write_size(self) -> int:
        return self.mtu_size - ATT_HEADER

    def _on_disconnection(self, reason: int) -> None:
        connection = self._connection
        if connection is None:
            return
        self._forget(connection)
        if self._closing:
            return
        log.info("%s disconnected (reason 0x%02X)", self.address, reason)
        callback = self._disconnected_callback
        if callback is not None:
            try:
                callback()
            except Exception:
                log.exception("disconnected callback for %s failed", self.address)

    def _forget(self, connection: Connection) -> None:
        if self._connection is not connection:
            return
        self._connection = None
        self._subscribers.clear()
        connection.remove_listener(Connection.EVENT_DISCONNECTION, self._on_disconnection)


def _add_service(
    collection: BleakGATTServiceCollection, service: ServiceProxy, write_size: Callable[[], int]
) -> None:
    """Mirror one discovered Bumble service, with its characteristics and descriptors, in bleak's types."""
    bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
    collection.add_service(bleak_service)
    for characteristic in service.characteristics:
        properties = [name for flag, name in _PROPERTY_NAMES if characteristic.properties & flag]
        bleak_characteristic = BleakGATTCharacteristic(
            characteristic,
            characteristic.handle,
            uuid_str(characteristic.uuid),
            properties,  # type: ignore[arg-type]  # bleak types them as a Literal of the same names
            write_size,
            bleak_service,
        )
        collection.add_characteristic(bleak_characteristic)
        for descriptor in characteristic.descriptors:
            collection.add_descriptor(
                BleakGATTDescriptor(descriptor, descriptor.handle, uuid_str(descriptor.type), bleak_characteristic)
            )


def _service_uuids(data: AdvertisingData) -> list[str]:
    """Every service UUID an advertisement lists, as bleak strings, without duplicates."""
    found: list[str] = []
    for kind in _UUID_LISTS:
        for group in data.get_all(kind):
            if isinstance(group, list):
                found.extend(uuid_str(uuid) for uuid in group if isinstance(uuid, UUID))
    return list(dict.fromkeys(found))


def _guarded(callback: NotifyCallback, uuid: str) -> Callable[[bytes], None]:
    """A Bumble subscriber that hands bleak a bytearray and never lets the callback break the link."""

    def subscriber(value: bytes) -> None:
        try:
            callback(bytearray(value))
        except Exception:
            log.exception("notification callback for %s failed", uuid)

    return subscriber


def _require(air: SimAir | None) -> SimAir:
    if air is None:
        raise BleakError("this simulated backend is not bound to a SimAir (use bound_backends(air))")
    return air


def bound_backends(air: SimAir) -> tuple[type[SimBleakClient], type[SimBleakScanner]]:
    """The client and scanner backend classes bound to one simulated air, for bleak's `backend=`."""

    class BoundClient(SimBleakClient):
        """The client backend bound to one simulated air."""

    class BoundScanner(SimBleakScanner):
        """The scanner backend bound to one simulated air."""

    BoundClient.air = BoundScanner.air = air
    BoundClient.__name__ = BoundClient.__qualname__ = "SimBleakClient"
    BoundScanner.__name__ = BoundScanner.__qualname__ = "SimBleakScanner"
    return BoundClient, BoundScanner

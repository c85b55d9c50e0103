"""What every simulated BLE health device shares: advertising, Battery, Device Information, faults.

A peripheral is a real Bumble GATT server on the `SimAir`. The patient's button press is
`press()` (or `await measure()`); what follows is paced by the station clock. Faults switch at
run time with `inject()` and `clear()`.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from bumble import core, data_types, hci
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, DeviceConfiguration
from bumble.gatt import Characteristic, CharacteristicValue, Service

from drivers.gatt import (
    BATTERY,
    BATTERY_LEVEL,
    DEVICE_INFORMATION,
    FIRMWARE_REVISION,
    MANUFACTURER_NAME,
    MODEL_NUMBER,
    SERIAL_NUMBER,
)
from runtime.tasks import TaskSet
from sim.ble.air import ADVERTISING_INTERVAL_MS

if TYPE_CHECKING:
    from runtime.clock import Clock
    from sim.ble.air import SimAir

log = logging.getLogger(__name__)

LOW_BATTERY_LEVEL = 5
STOP_TIMEOUT_S = 2.0  # real seconds


class Fault(StrEnum):
    """A fault the simulator can switch on at run time."""

    DISCONNECT = "disconnect"  # one-shot: the link drops mid-measurement and the device stays away a while
    GARBAGE = "garbage"  # the measurement payload is cut short: malformed bytes
    STALL = "stall"  # the button press is accepted and nothing is ever sent
    LOW_BATTERY = "low_battery"  # the battery level drops to 5 % and is notified
    OUT_OF_RANGE = "out_of_range"  # physiologically impossible values, correctly encoded
    FINGER_OUT = "finger_out"  # pulse oximeter: sensor displaced, no valid values
    NO_RECORDS = "no_records"  # glucometer: its memory is empty, whatever the patient did


def char(uuid16: int, properties: Characteristic.Properties, value: Any = b"") -> Characteristic[Any]:
    """A readable characteristic with a 16-bit UUID."""
    return Characteristic(UUID.from_16_bits(uuid16), properties, Characteristic.READABLE, value)


class SimPeripheral(ABC):
    """One simulated health device: a Bumble GATT server that advertises its name and service."""

    service_uuid: ClassVar[int]
    default_model: ClassVar[str]

    def __init__(
        self,
        air: SimAir,
        clock: Clock,
        *,
        name: str,
        address: str,
        model: str | None = None,
        serial: str = "SIM-0001",
        firmware: str = "1.4.2",
        manufacturer: str = "Cabin Simulator",
        battery: int = 87,
        away_s: float = 5.0,
    ) -> None:
        self.air = air
        self.clock = clock
        self.name = name
        self.address = address
        self.model = model or self.default_model
        self.serial = serial
        self.firmware = firmware
        self.manufacturer = manufacturer
        self.away_s = away_s  # how long the device stays out of range after a DISCONNECT fault
        self.faults: set[Fault] = set()
        self.presses = 0
        self.payloads_sent = 0
        self._battery = battery
        self._normal_battery = battery
        self._device: Device | None = None
        self._battery_char = char(
            BATTERY_LEVEL,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            CharacteristicValue(read=lambda _connection: bytes([self._battery])),
        )
        self._tasks = TaskSet(f"sim-ble-{name}", log)
        self._measuring: asyncio.Task[None] | None = None
        self._away = False

    @property
    def battery(self) -> int:
        """The battery level in percent, as the device reports it."""
        return self._battery

    @property
    def connected(self) -> bool:
        """True while a central is connected."""
        return self._device is not None and bool(self._device.connections)

    @property
    def measuring(self) -> bool:
        """True while a measurement runs."""
        return self._measuring is not None and not self._measuring.done()

    async def start(self) -> None:
        """Power on and advertise; idempotent. The air must be started."""
        if self._device is not None:
            return
        device = self.air.new_device(self._configuration())
        for service in (*self._health_services(), self._battery_service(), self._information_service()):
            device.add_service(service)
        device.on(Device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self._device = device
        await self._advertise()
        log.info("simulated BLE %s advertising as %s", self.model, self.name)

    async def stop(self) -> None:
        """Stop measuring, drop the link and power off; idempotent and bounded."""
        device, self._device = self._device, None
        if device is None:
            return
        await self._tasks.cancel_all(STOP_TIMEOUT_S)
        for connection in list(device.connections.values()):
            await _quietly(connection.disconnect())
        await _quietly(device.stop_advertising())
        await device.power_off()

    def inject(self, *faults: Fault) -> None:
        """Switch faults on (DISCONNECT acts once, at the next measurement)."""
        self.faults.update(faults)
        if Fault.LOW_BATTERY in faults:
            self._set_battery(LOW_BATTERY_LEVEL)

    def clear(self, *faults: Fault) -> None:
        """Switch the given faults off, or all of them."""
        cleared = set(faults) if faults else set(self.faults)
        self.faults -= cleared
        if Fault.LOW_BATTERY in cleared:
            self._set_battery(self._normal_battery)

    def press(self) -> None:
        """The patient presses the button: start a measurement unless one is running."""
        self.presses += 1
        if Fault.STALL in self.faults:
            log.info("simulated BLE %s stalled: button press ignored", self.name)
            return
        if self.measuring:
            return
        self._measuring = self._tasks.spawn(self.measure(), "measure")

    async def measure(self) -> None:
        """Take one whole measurement now, as the device does after a button press."""
        await self._measure()

    @abstractmethod
    async def _measure(self) -> None:
        """Send the notifications and indications of one measurement."""

    @abstractmethod
    def _health_services(self) -> Sequence[Service]:
        """The device's own GATT service(s)."""

    async def _indicate(self, characteristic: Characteristic[Any], payload: bytes) -> None:
        await self._send(characteristic, payload, indicate=True)

    async def _notify(self, characteristic: Characteristic[Any], payload: bytes) -> None:
        await self._send(characteristic, payload, indicate=False)

    async def _send(self, characteristic: Characteristic[Any], payload: bytes, *, indicate: bool) -> None:
        device = self._device
        if device is None:
            return
        for connection in list(device.connections.values()):
            try:
                if indicate:
                    await device.indicate_subscriber(connection, characteristic, payload)
                else:
                    await device.notify_subscriber(connection, characteristic, payload)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                log.debug("link dropped during an indication")  # Bumble cancels the confirmation
            except (core.BaseBumbleError, hci.HCI_Error, TimeoutError):
                log.debug("could not send to a central that left")
            else:
                self.payloads_sent += 1

    def _garbled(self, payload: bytes) -> bytes:
        """The payload, cut short when the GARBAGE fault is on."""
        return payload[: len(payload) // 2] if Fault.GARBAGE in self.faults else payload

    async def _drop_if_faulty(self) -> bool:
        """DISCONNECT fault: drop the link now and stay away for away_s; True when it did."""
        if Fault.DISCONNECT not in self.faults:
            return False
        self.faults.discard(Fault.DISCONNECT)
        self._away = True
        device = self._device
        if device is not None:
            for connection in list(device.connections.values()):
                await _quietly(connection.disconnect())
        self._tasks.spawn(self._come_back(), "away")
        log.info("simulated BLE %s dropped the link mid-measurement", self.name)
        return True

    async def _sleep_until(self, deadline: float) -> None:
        """Sleep to a clock deadline, so steps keep their pace when a fast clock outruns timers."""
        await self.clock.sleep(deadline - self.clock.monotonic())

    def _configuration(self) -> DeviceConfiguration:
        config = DeviceConfiguration(name=self.name, address=hci.Address(self.address))
        config.advertising_data = bytes(
            AdvertisingData(
                [
                    data_types.Flags(
                        AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
                    ),
                    data_types.CompleteLocalName(self.name),
                    data_types.IncompleteListOf16BitServiceUUIDs([UUID.from_16_bits(self.service_uuid)]),
                ]
            )
        )
        config.advertising_interval_min = config.advertising_interval_max = ADVERTISING_INTERVAL_MS
        return config

    def _battery_service(self) -> Service:
        return Service(UUID.from_16_bits(BATTERY), [self._battery_char])

    def _information_service(self) -> Service:
        strings = (
            (MANUFACTURER_NAME, self.manufacturer),
            (MODEL_NUMBER, self.model),
            (SERIAL_NUMBER, self.serial),
            (FIRMWARE_REVISION, self.firmware),
        )
        read = Characteristic.Properties.READ
        return Service(UUID.from_16_bits(DEVICE_INFORMATION), [char(u, read, s.encode()) for u, s in strings])

    def _set_battery(self, percent: int) -> None:
        self._battery = percent
        if self._device is not None:
            self._tasks.spawn(self._notify(self._battery_char, bytes([percent])), "battery")

    async def _advertise(self) -> None:
        device = self._device
        if device is None or device.connections or self._away:
            return
        await device.start_advertising(auto_restart=False)

    def _on_connection(self, connection: Connection) -> None:
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, _reason: int) -> None:
        if self._device is not None and not self._away:
            self._tasks.spawn(self._advertise(), "advertise")

    async def _come_back(self) -> None:
        await self.clock.sleep(self.away_s)
        self._away = False
        await self._advertise()
        log.info("simulated BLE %s is back in range", self.name)


async def _quietly(operation: Coroutine[Any, Any, object]) -> None:
    """Run a link operation whose failure only means the link or advertising is already gone."""
    try:
        await operation
    except (core.BaseBumbleError, hci.HCI_Error, AssertionError):
        log.debug("link operation on a link already gone")

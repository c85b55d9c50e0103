"""Bluetooth LE health devices (thermometer, blood pressure, pulse oximeter, scale) through bleak.

One owned task per instrument finds the device (by address, advertised name or service), connects
through bleak-retry-connector's `establish_connection`, reads Battery and Device Information,
subscribes to the measurement characteristics and waits; when the link drops it reconnects
after the shared `Backoff`, on the station clock. Values go through the pure parsers in
`drivers.gatt` and `drivers.ble_records`. The same code runs against a real adapter (no
backend) and against the Bumble simulator (`backend=` and `scanner_backend=` from `sim.ble`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError, BleakGATTProtocolError
from bleak_retry_connector import establish_connection

from devices.instrument import DeviceHealth, DeviceUnavailable, Instrument, Sink
from drivers import gatt
from drivers.ble_records import CHANNELS, SERVICES, Channel, Envelope
from drivers.errors import ProtocolError
from runtime.backoff import Backoff
from runtime.errors import StationError
from runtime.tasks import TaskSet

if TYPE_CHECKING:
    from config.devices import BleDeviceConfig
    from runtime.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BleTimings:
    """Scan, connect, I/O and backoff limits of the BLE driver, in clock seconds."""

    scan_s: float = 10.0
    connect_s: float = 30.0
    io_s: float = 15.0  # reading Battery and Device Information and subscribing, together
    first_attempt_s: float = 15.0  # how long start() waits for the first connection
    retry_initial_s: float = 2.0
    retry_max_s: float = 120.0
    stop_s: float = 5.0
    answer_s: float = 120.0  # after a request, no reading within this is reported in health
    liveness_s: float = 5.0  # how often a quiet link is checked, in case a disconnect goes unreported
    connect_attempts: int = 2  # establish_connection's own attempts, inside one of ours
    # Radio work does not speed up with a simulator's fast clock: scan, connect, I/O and stop
    # bounds never fall below this many real seconds.
    radio_floor_s: float = 2.0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the device said about itself at connect (Device Information and Battery services)."""

    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    manufacturer: str | None = None


# What a radio link is expected to do wrong: one line in the log. Anything else is a bug: a traceback.
EXPECTED_FAILURES = (StationError, BleakError, TimeoutError, OSError)


class BleInstrument(Instrument):
    """A standard Bluetooth SIG health device of one kind, kept connected by an owned task."""

    config: BleDeviceConfig

    def __init__(
        self,
        config: BleDeviceConfig,
        sink: Sink,
        clock: Clock,
        backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        *,
        on_request: Callable[[], None] | None = None,
        timings: BleTimings | None = None,
    ) -> None:
        super().__init__(config, sink)
        self._clock = clock
        self._backend = backend
        self._scanner_backend = scanner_backend
        self._on_request = on_request  # the simulator's button press; None with real devices
        self._timings = timings or BleTimings()
        self._channels: tuple[Channel, ...] = CHANNELS[config.kind]
        self._service = gatt.uuid16(SERVICES[config.kind])
        self._address = config.address.upper() if config.address else None
        self._backoff = Backoff(self._timings.retry_initial_s, self._timings.retry_max_s)
        self._tasks = TaskSet(f"ble-{config.id}", log)
        self._attempted = asyncio.Event()
        self._client: BleakClient | None = None
        self._subscribed = False
        self._info = DeviceInfo()
        self._battery: int | None = None
        self._last_error: str | None = None
        self._protocol_errors = 0
        self._answer_timer: asyncio.TimerHandle | None = None
        self._requested_at: float | None = None

    @property
    def connected(self) -> bool:
        """True while the link is up and the measurements are subscribed."""
        client = self._client
        return client is not None and client.is_connected and self._subscribed

    @property
    def info(self) -> DeviceInfo:
        """Model, serial, firmware and manufacturer read at the last connect."""
        return self._info

    async def start(self) -> None:
        """Start the connection task and wait, bounded, for its first attempt; never raises for absence."""
        if len(self._tasks):
            return
        self._attempted.clear()
        self._tasks.spawn(self._run(), "link")
        try:
            async with asyncio.timeout(self._radio_seconds(self._timings.first_attempt_s)):
                await self._attempted.wait()
        except TimeoutError:
            pass
        if not self.connected:
            log.info("BLE %s not connected yet (%s); retrying in the background", self.device_id, self._last_error)

    async def stop(self) -> None:
        """Disconnect and end the connection task; idempotent and bounded."""
        self._cancel_answer_timer()
        await self._tasks.cancel_all(self._radio_seconds(self._timings.stop_s))
        self._client, self._subscribed = None, False

    async def request_measurement(self) -> None:
        """Make sure the subscription is live; the measurement starts when the patient presses the button."""
        if not self.connected:  # the link is up and every measurement characteristic subscribed
            reason = f" ({self._last_error})" if self._last_error else ""
            raise DeviceUnavailable(f"{self.device_id} is not connected{reason}")
        self._arm_answer_timer()
        if self._on_request is not None:
            self._on_request()

    def health(self) -> DeviceHealth:
        """Connection, battery, firmware, last reading and last error, without I/O."""
        return DeviceHealth(
            device_id=self.device_id,
            kind=self.config.kind,
            connected=self.connected,
            battery_percent=self._battery,
            firmware=self._info.firmware,
            last_reading_host_time=self._last_reading_host_time,
            last_error=self._last_error,
        )

    async def _run(self) -> None:
        """Connect, stay connected, and reconnect after the backoff until cancelled."""
        try:
            while True:
                try:
                    await self._session()
                except EXPECTED_FAILURES as exc:  # CancelledError is a BaseException and passes through
                    self._last_error = _describe(exc)
                    log.warning("BLE %s: %s", self.device_id, self._last_error)
                except Exception as exc:
                    self._last_error = _describe(exc)
                    log.exception("BLE %s: the connection failed unexpectedly", self.device_id)
                else:
                    self._backoff.reset()  # it was up: start the backoff over
                self._attempted.set()
                await self._backoff.pause(self._clock)
        finally:
            self._attempted.set()

    async def _session(self) -> None:
        """One connection: find, connect, prepare, then wait until the link drops."""
        device = await self._find()
        lost = asyncio.Event()
        client = await self._connect(device, lost)
        self._client = client
        try:
            await self._bounded(self._prepare(client))
            self._subscribed, self._last_error = True, None
            self._attempted.set()
            log.info("BLE %s connected (%s, firmware %s)", self.device_id, self._info.model, self._info.firmware)
            await self._until_lost(client, lost)
            self._last_error = "connection lost"
            log.warning("BLE %s lost the connection", self.device_id)
        finally:
            self._subscribed = False
            await self._release(client)

    async def _until_lost(self, client: BleakClient, lost: asyncio.Event) -> None:
        """Wait for the disconnected callback, checking the link now and then in case it never comes."""
        while client.is_connected and not lost.is_set():
            try:
                async with asyncio.timeout(self._clock.real_seconds(self._timings.liveness_s)):
                    await lost.wait()
            except TimeoutError:
                continue

    async def _find(self) -> BLEDevice:
        timeout = self._radio_seconds(self._timings.scan_s)
        if self._scanner_backend is None:  # bleak types `backend` as present or absent, not None
            device = await BleakScanner.find_device_by_filter(self._matches, timeout)
        else:
            device = await BleakScanner.find_device_by_filter(self._matches, timeout, backend=self._scanner_backend)
        if device is None:
            raise DeviceUnavailable(f"{self._identity()} not found within {self._timings.scan_s} s")
        return device

    def _matches(self, device: BLEDevice, advertisement: AdvertisementData) -> bool:
        if self._address is not None:
            return device.address.upper() == self._address
        if self.config.name is not None:
            return self.config.name in (advertisement.local_name, device.name)
        return self._service in advertisement.service_uuids

    async def _connect(self, device: BLEDevice, lost: asyncio.Event) -> BleakClient:
        timeout = self._radio_seconds(self._timings.connect_s)
        async with asyncio.timeout(timeout):
            return await establish_connection(
                BleakClient,
                device,
                self.device_id,
                disconnected_callback=lambda _client: lost.set(),
                max_attempts=self._timings.connect_attempts,
                backend=self._backend,
                timeout=timeout,
            )

    async def _prepare(self, client: BleakClient) -> None:
        """Read Battery and Device Information, then subscribe to the measurements."""
        self._info = DeviceInfo(
            model=await self._read_text(client, gatt.MODEL_NUMBER),
            serial=await self._read_text(client, gatt.SERIAL_NUMBER),
            firmware=await self._read_text(client, gatt.FIRMWARE_REVISION),
            manufacturer=await self._read_text(client, gatt.MANUFACTURER_NAME),
        )
        battery = _characteristic(client, gatt.BATTERY_LEVEL)
        level = await self._read_optional(client, gatt.BATTERY_LEVEL)
        if battery is not None and level is not None:
            self._on_battery(battery, level)
        await self._subscribe(client)
        if battery is not None and "notify" in battery.properties:
            await client.start_notify(battery, self._on_battery)

    async def _subscribe(self, client: BleakClient) -> None:
        """Subscribe to every measurement characteristic of the kind (indications or notifications)."""
        found = 0
        for channel in self._channels:
            characteristic = _characteristic(client, channel.uuid)
            if characteristic is None:
                if channel.required:
                    raise DeviceUnavailable(f"{self._identity()} has no {channel.name}: not a {self.config.kind}?")
                continue
            await client.start_notify(characteristic, self._handler(channel))
            found += 1
        if found == 0:
            raise DeviceUnavailable(f"{self._identity()} offers no {self.config.kind} measurement")

    async def _read_optional(self, client: BleakClient, uuid: int) -> bytearray | None:
        """The value of an optional readable characteristic, or None when absent or refused."""
        characteristic = _characteristic(client, uuid)
        if characteristic is None or "read" not in characteristic.properties:
            return None
        try:
            return await client.read_gatt_char(characteristic)
        except BleakGATTProtocolError as exc:  # e.g. insufficient authentication: skip, stay connected
            log.info("BLE %s refused to read %04x: %s", self.device_id, uuid, exc)
            return None

    async def _read_text(self, client: BleakClient, uuid: int) -> str | None:
        data = await self._read_optional(client, uuid)
        if data is None:
            return None
        try:
            return gatt.utf8_string(bytes(data))
        except ProtocolError:
            self._count_protocol_error(gatt.NAMES.get(uuid, f"{uuid:04x}"), len(data))
            return None

    def _handler(self, channel: Channel) -> Callable[[BleakGATTCharacteristic, bytearray], None]:
        def on_value(_characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            self._on_value(channel, bytes(data))

        return on_value

    def _on_value(self, channel: Channel, data: bytes) -> None:
        """Parse, map and deliver one value; a malformed one is counted, never fatal."""
        try:
            measurement = channel.decode(data, self._envelope())
        except ProtocolError:
            self._count_protocol_error(channel.name, len(data))
            return
        if measurement is None:
            log.info("BLE %s reported an unsuccessful %s", self.device_id, channel.name)
            return
        self._deliver(measurement)

    def _on_battery(self, _characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
        try:
            self._battery = gatt.battery_level(bytes(data))
        except ProtocolError:
            self._count_protocol_error("Battery Level", len(data))

    def _envelope(self) -> Envelope:
        return Envelope(
            device_id=self.device_id,
            model=self._info.model or self.config.model or f"ble-{self.config.kind}",
            host_time=self._clock.monotonic(),
            zone=self._clock.zone,
            firmware=self._info.firmware,
            battery_percent=self._battery,
        )

    def _count_protocol_error(self, what: str, size: int) -> None:
        # The payload itself may hold a patient's value: only its name and length are kept.
        self._protocol_errors += 1
        self._last_error = f"malformed {what} ({size} bytes); {self._protocol_errors} so far"
        log.warning("BLE %s sent a malformed %s (%s bytes)", self.device_id, what, size)

    def _arm_answer_timer(self) -> None:
        self._cancel_answer_timer()
        self._requested_at = self._clock.monotonic()
        self._answer_timer = self._clock.call_later(self._timings.answer_s, self._check_answered)

    def _check_answered(self) -> None:
        self._answer_timer = None
        requested, last = self._requested_at, self._last_reading_host_time
        if requested is not None and (last is None or last < requested):
            self._last_error = f"no reading within {self._timings.answer_s} s of the request"
            log.warning("BLE %s: %s", self.device_id, self._last_error)

    def _cancel_answer_timer(self) -> None:
        if self._answer_timer is not None:
            self._answer_timer.cancel()
            self._answer_timer = None

    async def _release(self, client: BleakClient) -> None:
        """Disconnect, bounded; runs on cancellation too."""
        if self._client is client:
            self._client = None
        if not client.is_connected:
            return
        try:
            async with asyncio.timeout(self._radio_seconds(self._timings.stop_s)):
                await client.disconnect()
        except EXPECTED_FAILURES as exc:
            log.warning("BLE %s did not disconnect cleanly: %s", self.device_id, _describe(exc))

    async def _bounded(self, operation: Coroutine[Any, Any, None]) -> None:
        """Run a GATT set-up step within io_s."""
        async with asyncio.timeout(self._radio_seconds(self._timings.io_s)):
            await operation

    def _radio_seconds(self, seconds: float) -> float:
        """Real seconds for a radio bound of `seconds` clock seconds, never below the floor."""
        return max(self._clock.real_seconds(seconds), self._timings.radio_floor_s)

    def _identity(self) -> str:
        if self._address is not None:
            return f"{self.config.kind} at {self._address}"
        if self.config.name is not None:
            return f"{self.config.kind} named {self.config.name!r}"
        return f"a {self.config.kind} advertising {SERVICES[self.config.kind]:#06x}"


def _characteristic(client: BleakClient, uuid: int) -> BleakGATTCharacteristic | None:
    return client.services.get_characteristic(gatt.uuid16(uuid))


def _describe(error: BaseException) -> str:
    if isinstance(error, FileNotFoundError | ConnectionRefusedError):
        # BlueZ is reached over the system D-Bus socket: its absence surfaces as a missing file.
        return "Bluetooth is not available on this machine (no BlueZ on the system D-Bus)"
    text = str(error) or type(error).__name__
    return text if isinstance(error, StationError) else f"{type(error).__name__}: {text}"

"""The simulated radio: Bumble controllers on one in-process LocalLink, and the station's central.

Every simulated peripheral and the station's central are real Bumble stacks (controller,
host, GATT) joined by `bumble.link.LocalLink`, so advertising, connection set-up, ATT
requests, notifications and indications all go through Bumble's protocol code. Bumble's
radio runs in real time; only the peripherals' behaviour is paced by the station clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Advertisement, Connection, Device, DeviceConfiguration
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from runtime.errors import StationError

log = logging.getLogger(__name__)

CENTRAL_ADDRESS = "F0:CA:B1:00:00:01"
# Real controllers advertise every 20 ms to 10 s; the fastest keeps connects quick in tests.
ADVERTISING_INTERVAL_MS = 20.0

AdvertisementListener = Callable[[Advertisement], None]


class AirError(StationError):
    """The simulated radio cannot do what was asked (not started, connection refused)."""


class SimAir:
    """One in-process Bluetooth LE radio space: the station's central plus any peripherals."""

    def __init__(self, central_address: str = CENTRAL_ADDRESS, *, connect_timeout_s: float = 5.0) -> None:
        self._central_address = central_address
        self._connect_timeout_s = connect_timeout_s
        self._link: LocalLink | None = None
        self._central: Device | None = None
        self._central_controller: Controller | None = None
        self._connect_lock = asyncio.Lock()
        self._scan_lock = asyncio.Lock()
        self._scan_users = 0
        self._listeners: set[AdvertisementListener] = set()

    @property
    def started(self) -> bool:
        """True between start() and stop()."""
        return self._central is not None

    async def start(self) -> None:
        """Create the link and power the station's central on; idempotent."""
        if self._central is not None:
            return
        self._link = LocalLink()  # type: ignore[no-untyped-call]
        controller = Controller("central", link=self._link)
        central = Device(
            name="cabin-station",
            address=hci.Address(self._central_address),
            host=Host(controller, AsyncPipeSink(controller)),
        )
        central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        await central.power_on()
        self._central, self._central_controller = central, controller

    async def stop(self) -> None:
        """Drop every connection of the central and power it off; idempotent."""
        central, self._central = self._central, None
        if central is None:
            return
        for connection in list(central.connections.values()):
            await _quietly_disconnect(connection)
        await central.power_off()
        self._scan_users = 0
        self._listeners.clear()

    def new_device(self, config: DeviceConfiguration) -> Device:
        """A Bumble device (controller and host) on this air, not yet powered on."""
        link = self._require_link()
        controller = Controller(config.name, link=link)
        return Device(config=config, host=Host(controller, AsyncPipeSink(controller)))

    def add_listener(self, listener: AdvertisementListener) -> None:
        """Call `listener` with every advertisement the central hears while scanning."""
        self._listeners.add(listener)

    def remove_listener(self, listener: AdvertisementListener) -> None:
        """Stop calling `listener`; unknown ones are ignored."""
        self._listeners.discard(listener)

    async def acquire_scan(self) -> None:
        """Start the central scanning, shared by every scanner that asks."""
        central = self._require_central()
        async with self._scan_lock:
            if self._scan_users == 0:
                await central.start_scanning(filter_duplicates=False)
            self._scan_users += 1

    async def release_scan(self) -> None:
        """Stop scanning once the last scanner is done."""
        async with self._scan_lock:
            if self._scan_users == 0:
                return
            self._scan_users -= 1
            central = self._central
            if self._scan_users == 0 and central is not None and central.scanning:
                await central.stop_scanning()

    async def connect(self, address: str, limit_s: float) -> Connection:
        """Connect the central to a peripheral that advertises `address`; one attempt at a time."""
        central = self._require_central()
        peer = hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS)
        limit = min(limit_s, self._connect_timeout_s)
        async with self._connect_lock:
            try:
                return await central.connect(peer, timeout=limit)
            except core.TimeoutError as exc:
                raise TimeoutError(f"{address} did not answer within {limit} s") from exc
            finally:
                self._forget_pending_connection()

    def _forget_pending_connection(self) -> None:
        # Bumble's simulated controller answers LE Create Connection Cancel without clearing
        # its pending connection, which would refuse every later connect and complete a
        # stale one when the peripheral returns: clear it ourselves (we own this controller).
        controller = self._central_controller
        if controller is not None and controller.pending_le_connection is not None:
            controller.pending_le_connection = None

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(advertisement)
            except Exception:
                log.exception("advertisement listener failed")

    def _require_central(self) -> Device:
        if self._central is None:
            raise AirError("the simulated BLE air is not started")
        return self._central

    def _require_link(self) -> LocalLink:
        if self._link is None:
            raise AirError("the simulated BLE air is not started")
        return self._link


async def _quietly_disconnect(connection: Connection) -> None:
    """Disconnect, ignoring a link that is already gone."""
    try:
        await connection.disconnect()
    except (core.BaseBumbleError, hci.HCI_Error, AssertionError):
        log.debug("connection already gone")


"""The simulated BLE air and its health devices, wired for the composition root.

`SimBleRig.make_instrument(config, sink)` is a `DeviceManager.from_configs` factory: it builds
the simulated peripheral for the inventory entry and the real `BleInstrument` bound to the
simulated bleak backends, with the peripheral's button press as the request hook.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from drivers.ble import BleInstrument, BleTimings
from drivers.ble_glucose import ble_instrument
from runtime.tasks import TaskSet
from sim.ble.air import SimAir
from sim.ble.backend import bound_backends
from sim.ble.peripheral import STOP_TIMEOUT_S, SimPeripheral
from sim.ble.peripherals import PERIPHERALS

if TYPE_CHECKING:
    from config.devices import BleDeviceConfig
    from devices.instrument import Sink
    from runtime.clock import Clock

log = logging.getLogger(__name__)


def sim_address(device_id: str) -> str:
    """A stable random static address (two top bits set) derived from a device id."""
    digest = bytearray(hashlib.sha256(device_id.encode()).digest()[:6])
    digest[0] |= 0xC0
    return ":".join(f"{byte:02X}" for byte in digest)


def make_peripheral(config: BleDeviceConfig, air: SimAir, clock: Clock) -> SimPeripheral:
    """The simulated device for one BLE inventory entry, advertising its configured name and address."""
    kind = PERIPHERALS.get(config.kind)
    if kind is None:
        raise ValueError(f"no simulated BLE {config.kind}; one of: {', '.join(PERIPHERALS)}")
    name = config.name or f"SIM-{config.id}"
    address = config.address or sim_address(config.id)
    return kind(air, clock, name=name, address=address, model=config.model or None)


class SimBleRig:
    """One simulated air with a peripheral per BLE instrument; start before the device manager."""

    def __init__(self, clock: Clock, timings: BleTimings | None = None) -> None:
        self.clock = clock
        self.air = SimAir()
        self._client_backend, self._scanner_backend = bound_backends(self.air)
        self.timings = timings
        self.peripherals: dict[str, SimPeripheral] = {}
        self._started = False
        self._tasks = TaskSet("sim-ble-rig", log)

    def make_instrument(self, config: BleDeviceConfig, sink: Sink) -> BleInstrument:
        """The real BLE driver for `config`, talking to a new simulated peripheral."""
        peripheral = make_peripheral(config, self.air, self.clock)
        self.peripherals[config.id] = peripheral
        if self._started:  # added late: power it on in the background; the driver keeps scanning
            self._tasks.spawn(peripheral.start(), f"power-on-{config.id}")
        return ble_instrument(
            config,
            sink,
            self.clock,
            backend=self._client_backend,
            scanner_backend=self._scanner_backend,
            on_request=peripheral.press,
            timings=self.timings,
        )

    async def start(self) -> None:
        """Start the air and every peripheral made so far; idempotent."""
        if self._started:
            return
        await self.air.start()
        for peripheral in self.peripherals.values():
            await peripheral.start()
        self._started = True

    async def stop(self) -> None:
        """Stop every peripheral, then the air; idempotent."""
        if not self._started:
            return
        self._started = False
        await self._tasks.cancel_all(STOP_TIMEOUT_S)
        for peripheral in reversed(list(self.peripherals.values())):
            await peripheral.stop()
        await self.air.stop()

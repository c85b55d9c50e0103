"""Everything the simulator stands in for, gathered for the composition root.

The rig builds a stand-in for each configured device that speaks the real protocol on the
real path: Bumble GATT peripherals behind a bleak backend, CMS50 / RDM6300 / LCUS devices
on pseudo-terminals, an MJPEG camera that OpenCV reads, an ESC/POS printer on TCP. It then
points the configuration at them; the drivers are the same as on real hardware. Start the
rig before building the station (the station needs its ports and paths).
"""

from __future__ import annotations

import random

from config.schema import CabinConfig, DeviceConfig, PrinterConfig, SerialDeviceConfig
from devices.instrument import Instrument, Sink
from drivers.ble import BleTimings
from runtime.clock import Clock
from sim.ble.rig import SimBleRig
from sim.camera import SimOtoscopeCamera
from sim.instruments import make_sim_instrument
from sim.printer import SimPrinter
from sim.serial_devices import SimCms50, SimLcus, SimRdm6300


class SimRig:
    """Simulated hardware for one configuration, sharing one clock and one seed."""

    def __init__(self, clock: Clock, config: CabinConfig, seed: int = 1) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.printer = SimPrinter(profile=config.printer.profile, paper_width_mm=config.printer.paper_width_mm)
        self.ble = SimBleRig(clock, BleTimings(first_attempt_s=0.0))
        # A serial line streams in real time whatever the clock: the oximeter runs on its own
        # real-time clock, and the driver's silence limits have real-time floors.
        self.oximeters = {
            d.id: SimCms50(Clock(zone=clock.zone), rng=random.Random(seed), name=d.id)
            for d in config.devices if d.driver == "cms50"
        }
        self.camera = SimOtoscopeCamera(seed=seed) if any(d.driver == "uvc" for d in config.devices) else None
        self.badge_reader = SimRdm6300(clock)
        self.entry_lock = SimLcus(clock, channels=config.entry_lock.channel)
        self._ptys = [*self.oximeters.values(), self.badge_reader, self.entry_lock]

    async def start(self) -> None:
        """Open the printer's port, the pseudo-terminals and the camera stream."""
        await self.printer.start()
        for pty in self._ptys:
            await pty.start()
        if self.camera is not None:
            await self.camera.start()

    async def start_radio(self) -> None:
        """Power the BLE peripherals on, once the station has made its instruments."""
        await self.ble.start()

    async def stop(self) -> None:
        """Stop everything; idempotent."""
        await self.ble.stop()
        if self.camera is not None:
            await self.camera.stop()
        for pty in reversed(self._ptys):
            await pty.stop()
        await self.printer.stop()

    def printer_config(self, config: PrinterConfig) -> PrinterConfig:
        """The printer settings pointing at the simulated network printer."""
        return config.model_copy(update={"backend": "network", "host": "127.0.0.1", "port": self.printer.port})

    def device_config(self, config: DeviceConfig) -> DeviceConfig:
        """The inventory entry pointing at its stand-in (a pty path or the camera's URL)."""
        if config.driver == "cms50":
            return config.model_copy(update={"port": self.oximeters[config.id].path})
        if config.driver == "uvc" and self.camera is not None:
            return config.model_copy(update={"port": self.camera.url})
        return config

    def accessory_config(self, config: SerialDeviceConfig) -> SerialDeviceConfig:
        """The badge reader or relay board settings pointing at its pty."""
        if config.driver == "rdm6300":
            return config.model_copy(update={"port": self.badge_reader.path})
        if config.driver == "lcus":
            return config.model_copy(update={"port": self.entry_lock.path})
        return config

    def make_instrument(self, config: DeviceConfig, sink: Sink) -> Instrument | None:
        """The instrument a simulator must build itself (in-process or BLE), else None."""
        if config.driver == "sim":
            return make_sim_instrument(config, self.clock, sink, self.rng)
        if config.driver == "ble":
            return self.ble.make_instrument(config, sink)
        return None

"""The cabin's hardware as its configuration names it: instruments, the examination camera, the accessories.

`Hardware` picks each device's concrete driver (or, with a simulator rig, its stand-in on
the same real path), finds devices through the watcher, and owns the device manager. The
station starts it before the cabin; `cabin diag` starts it alone, without the rest of the
station. The badge reader and the entry lock are built here and started by their users.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from config.schema import CabinConfig, DeviceConfig, SerialDeviceConfig
from devices.camera import ExaminationCamera
from devices.instrument import Instrument, Sink
from devices.manager import DeviceManager
from drivers.badge_reader import BadgeReader, BadgeSink
from drivers.ble import BleInstrument
from drivers.cms50_oximeter import Cms50Oximeter
from drivers.discovery import DeviceWatcher, watch_targets
from drivers.entry_lock import EntryLock
from drivers.otoscope import Otoscope
from runtime.errors import StationError

if TYPE_CHECKING:  # the simulator is only ever handed in by the caller, never imported here
    from runtime.clock import Clock
    from sim.rig import SimRig

log = logging.getLogger(__name__)


class Hardware:
    """Every configured device, built from configuration; `start()` finds and opens the instruments."""

    def __init__(self, config: CabinConfig, clock: Clock, *, rig: SimRig | None = None,
                 on_badge: BadgeSink | None = None) -> None:
        """With a rig (already started), simulated devices stand in for hardware on the real paths."""
        self.clock = clock
        self.rig = rig
        self.config = self._pointed_at_rig(config)
        self.watcher = DeviceWatcher(watch_targets(self.config), self._on_presence)
        self.devices = DeviceManager.from_configs(self.config.devices, clock, self._instrument)
        self.camera: ExaminationCamera | None = next(
            (i for i in self.devices.instruments if isinstance(i, ExaminationCamera) and i.config.kind == "otoscope"),
            None)
        self.badge_reader = self._badge_reader(self.config.badge_reader, on_badge)
        self.entry_lock = self._entry_lock(self.config.entry_lock)

    async def start(self) -> None:
        """Watch for devices, then start the instruments."""
        await self.watcher.start()
        try:
            if self.rig is not None:
                await self.rig.start_radio()  # the simulated peripherals exist now
            await self.devices.start()
        except BaseException:
            await self.watcher.stop()
            raise

    async def stop(self) -> None:
        """Stop the instruments and the watcher; idempotent."""
        await self.devices.stop()
        await self.watcher.stop()

    def _pointed_at_rig(self, config: CabinConfig) -> CabinConfig:
        """The configuration with every device pointing at its simulator when there is a rig."""
        rig = self.rig
        if rig is None:
            return config
        return config.model_copy(update={
            "devices": tuple(rig.device_config(d) for d in config.devices),
            "badge_reader": rig.accessory_config(config.badge_reader),
            "entry_lock": rig.accessory_config(config.entry_lock),
        })

    def _on_presence(self, device_id: str, present: bool, path: str | None) -> None:
        """A configured device was plugged in or unplugged: tell its driver, if it listens."""
        log.info("device %s %s%s", device_id, "present" if present else "absent", f" at {path}" if path else "")
        for instrument in self.devices.instruments:
            if instrument.device_id == device_id and isinstance(instrument, Otoscope):
                instrument.on_presence(present, path)

    def _instrument(self, config: DeviceConfig, sink: Sink) -> Instrument:
        if self.rig is not None:
            simulated = self.rig.make_instrument(config, sink)
            if simulated is not None:
                return simulated
        if config.driver == "ble":
            return BleInstrument(config, sink, self.clock)
        if config.driver == "cms50":
            return Cms50Oximeter(config, self.clock, sink)
        if config.driver == "uvc":
            return Otoscope(config, sink, self.clock)
        raise StationError(f"[devices] {config.id}: driver {config.driver!r} needs the simulator (--sim)")

    def _badge_reader(self, config: SerialDeviceConfig, on_badge: BadgeSink | None) -> BadgeReader | None:
        if config.driver != "rdm6300":
            return None
        return BadgeReader(config, self.clock, on_badge)

    def _entry_lock(self, config: SerialDeviceConfig) -> EntryLock | None:
        if config.driver != "lcus":
            return None
        return EntryLock(config, self.clock)

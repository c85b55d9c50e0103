"""The cabin's hardware as its configuration names it: instruments, the examination cameras, the accessories.

`Hardware` picks each device's concrete driver (or, with a simulator rig, its stand-in on
the same real path), gives every port-based driver its locator from the device watcher, and
owns the device manager. The watcher's presence news reaches the driver that listens for it
(`device_changed`): a device plugged in after boot is opened at once, not at the end of its
backoff. The station starts it before the cabin; `cabin diag` starts it alone, without the
rest of the station. The badge reader and the entry lock are built here and started by their users.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from config.devices import (
    AlsaDeviceConfig,
    BadgeReaderConfig,
    DeviceConfig,
    EntryLockConfig,
    KioskScreeningConfig,
    LocatedDevice,
)
from config.schema import CabinConfig
from devices.audio_calibration import CalibrationStore
from devices.audiometer import Audiometer
from devices.camera import ExaminationCamera
from devices.cameras import ExaminationCameras
from devices.instrument import DeviceConfigError, Instrument, Sink
from devices.manager import DeviceManager
from devices.screening import Screening
from devices.stethoscope import Stethoscope
from devices.vision import VisionChart
from drivers.alsa import AlsaError, PcmSpec
from drivers.badge_reader import BadgeReader, BadgeSink
from drivers.ble_glucose import ble_instrument
from drivers.cms50_oximeter import Cms50Oximeter
from drivers.discovery import BADGE_READER_ID, ENTRY_LOCK_ID, DeviceWatcher, Locator, WatchTarget, watch_targets
from drivers.entry_lock import EntryLock
from drivers.stadiometer_serial import SerialStadiometer
from drivers.stethoscope import AlsaStethoscope, PcmLocator
from drivers.uvc_camera import UvcCamera

if TYPE_CHECKING:  # the simulator is only ever handed in by the caller, never imported here
    from runtime.clock import Clock
    from sim.rig import SimRig

log = logging.getLogger(__name__)


class Hardware:
    """Every configured device, built from configuration; `start()` finds and opens the instruments."""

    def __init__(self, config: CabinConfig, clock: Clock, *, rig: SimRig | None = None,
                 on_badge: BadgeSink | None = None, calibrations: CalibrationStore | None = None) -> None:
        """With a rig (already started), simulated devices stand in for hardware on the real paths.

        `calibrations` is the station's store of the audiometer's calibration (none: uncalibrated).
        """
        self.clock = clock
        self.calibrations = calibrations
        self.rig = rig
        self.config = self._pointed_at_rig(config)
        if rig is None:
            self.watcher = DeviceWatcher(watch_targets(self.config), self._on_presence)
        else:  # the rig's sysfs is a tree of its own: no udev event ever comes for it, so it is polled
            self.watcher = DeviceWatcher(watch_targets(self.config), self._on_presence, sysfs_root=rig.sysfs_root,
                                         dev_root=rig.dev_root, use_udev=False)
        self.devices = DeviceManager.from_configs(self.config.devices, clock, self._instrument)
        self.cameras = ExaminationCameras(i for i in self.devices.instruments if isinstance(i, ExaminationCamera))
        self.screenings = tuple(i for i in self.devices.instruments if isinstance(i, Screening))
        self.stethoscope: Stethoscope | None = next(
            (i for i in self.devices.instruments if isinstance(i, Stethoscope)), None)
        self.badge_reader = self._badge_reader(self.config.badge_reader, on_badge)
        self.entry_lock = self._entry_lock(self.config.entry_lock)
        self._listeners: dict[str, Callable[[str | None], None]] = {
            i.device_id: i.device_changed for i in self.devices.instruments}
        if self.badge_reader is not None:
            self._listeners[BADGE_READER_ID] = self.badge_reader.device_changed
        if self.entry_lock is not None:
            self._listeners[ENTRY_LOCK_ID] = self.entry_lock.device_changed

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
        """A watched device was plugged in or unplugged: tell its driver, which opens it now when plugged."""
        log.info("device %s %s%s", device_id, "present" if present else "absent", f" at {path}" if path else "")
        listener = self._listeners.get(device_id)
        if listener is not None:
            listener(path if present else None)

    def _locator(self, device_id: str, config: LocatedDevice) -> Locator:
        """The watcher's locator for a device it watches; a URL or a V4L2 index is not looked for."""
        if any(t.device_id == device_id for t in self.watcher.targets):
            return self.watcher.locator(device_id)
        return Locator(WatchTarget.from_config(device_id, config))

    def _instrument(self, config: DeviceConfig, sink: Sink) -> Instrument:
        if self.rig is not None:
            simulated = self.rig.make_instrument(config, sink)
            if simulated is not None:
                return simulated
        if config.driver == "ble":
            return ble_instrument(config, sink, self.clock)
        if config.driver == "cms50":
            return Cms50Oximeter(config, self.clock, sink, locator=self._locator(config.id, config))
        if config.driver == "uvc":
            return UvcCamera(config, sink, self.clock, locator=self._locator(config.id, config))
        if config.driver == "stadiometer_serial":
            return SerialStadiometer(config, self.clock, sink, locator=self._locator(config.id, config))
        if config.driver == "kiosk":
            return self._screening(config, sink)
        if config.driver == "alsa":
            return AlsaStethoscope(config, sink, self.clock, locator=self._pcm_locator(config))
        raise DeviceConfigError(f"[devices] {config.id}: driver {config.driver!r} needs the simulator (--sim)")

    def _screening(self, config: KioskScreeningConfig, sink: Sink) -> Screening:
        """The screening the kiosk runs for `config.kind` (docs/design.md, "Screenings on the kiosk")."""
        match config.kind:
            case "vision_chart":
                return VisionChart(config, sink, self.clock)
            case "audiometer":
                return Audiometer(config, sink, self.clock, self.calibrations)
            case _:
                raise DeviceConfigError(f"[devices] {config.id}: the {config.kind} screening is not available")

    def _pcm_locator(self, config: AlsaDeviceConfig) -> PcmLocator:
        """The stethoscope's PCM now: its port, or its card found by USB identity, with its extra ALSA file."""
        locator = self._locator(config.id, config)

        def locate() -> PcmSpec:
            name = locator()
            if name is None:
                raise AlsaError(locator.missing())
            return PcmSpec(name, config.alsa_conf)

        return locate

    def _badge_reader(self, config: BadgeReaderConfig, on_badge: BadgeSink | None) -> BadgeReader | None:
        if config.driver != "rdm6300":
            return None
        return BadgeReader(config, self.clock, on_badge, locator=self._locator(BADGE_READER_ID, config))

    def _entry_lock(self, config: EntryLockConfig) -> EntryLock | None:
        if config.driver != "lcus":
            return None
        return EntryLock(config, self.clock, locator=self._locator(ENTRY_LOCK_ID, config))


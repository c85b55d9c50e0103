"""Everything the simulator stands in for, gathered for the composition root.

The rig builds a stand-in for each configured device that speaks the real protocol on the
real path: Bumble GATT peripherals behind a bleak backend, CMS50 / RDM6300 / LCUS devices
and stadiometers on pseudo-terminals, an MJPEG camera per examination camera (an ear canal for the otoscope, a
skin lesion for the dermatoscope) that OpenCV reads, body sounds that alsa-lib reads from a FIFO
(`sim.stethoscope`), an ESC/POS printer on TCP. A device
configured by port is pointed at its stand-in (a pty's path, the camera's URL); a device
configured by USB identity keeps it and hangs on a simulated USB bus (`sim.usb`), a sysfs tree
and a /dev directory the station's device watcher is given, so that the real discovery code
finds it. `unplug()` and `plug()` take a device away and bring it back, as a hand would. Start
the rig before building the station (the station needs its ports, paths and roots).
"""

from __future__ import annotations

import random
from pathlib import Path

from config.devices import BadgeReaderConfig, DeviceConfig, EntryLockConfig, LocatedDevice
from config.schema import CabinConfig, PrinterConfig
from devices.instrument import Instrument, Sink
from drivers.ble import BleTimings
from drivers.discovery import BADGE_READER_ID, ENTRY_LOCK_ID
from runtime.clock import Clock
from runtime.errors import StationError
from sim.ble.rig import SimBleRig
from sim.camera import CameraFault, SimCamera
from sim.instruments import make_sim_instrument
from sim.printer import SimPrinter
from sim.serial_devices import PtyDevice, SimCms50, SimLcus, SimRdm6300
from sim.skin import SkinLesionScene
from sim.stadiometer import SimStadiometer
from sim.stethoscope import SimStethoscope, StethoscopeFault
from sim.usb import FakeUsbBus, Subsystem

# The vendor and product a stand-in reports when the configuration names only part of its
# identity: a CMS50D+'s CP2102 bridge, the CH340 of badge readers and relay boards, a UVC camera.
CP2102, CH340, UVC_CAMERA = (0x10C4, 0xEA60), (0x1A86, 0x7523), (0x1BCF, 0x2C99)
USB_AUDIO, SOUND_CARD_ID = (0x0D8C, 0x0014), "Stethoscope"  # a C-Media USB audio codec, as many stethoscopes use


class SimRig:
    """Simulated hardware for one configuration, sharing one clock and one seed."""

    def __init__(self, clock: Clock, config: CabinConfig, seed: int = 1, *, prints_dir: Path | None = None) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        # With `prints_dir`, the printer draws every receipt it prints there as a PNG.
        self.printer = SimPrinter(png_dir=prints_dir, profile=config.printer.profile,
                                  paper_width_mm=config.printer.paper_width_mm)
        self.ble = SimBleRig(clock, BleTimings(first_attempt_s=0.0))
        # A serial line streams in real time whatever the clock: the oximeter runs on its own
        # real-time clock, and the driver's silence limits have real-time floors.
        self.oximeters = {
            d.id: SimCms50(Clock(zone=clock.zone), rng=random.Random(seed), name=d.id)
            for d in config.devices if d.driver == "cms50"
        }
        # Stadiometers too; a patient already stands under each, so that a request is answered.
        self.stadiometers = {
            d.id: SimStadiometer(Clock(zone=clock.zone), mode=d.mode, mount_height_mm=d.mount_height_mm or 2300,
                                 rng=random.Random(seed), name=d.id)
            for d in config.devices if d.driver == "stadiometer_serial"
        }
        self.cameras = {  # one stand-in per examination camera, by device id
            d.id: SimCamera(seed=seed, pipe=_by_usb(d), scene=SkinLesionScene(seed=seed) if d.kind == "dermatoscope"
                            else None) for d in config.devices if d.driver == "uvc"
        }
        # One simulated chest for every stethoscope entry: a FIFO of body sounds behind an ALSA `file` PCM.
        self.stethoscope = SimStethoscope(seed=seed) if any(d.driver == "alsa" for d in config.devices) else None
        self.badge_reader = SimRdm6300(clock)
        channels = config.entry_lock.channel if config.entry_lock.driver == "lcus" else 1
        self.entry_lock = SimLcus(clock, channels=channels)
        self.usb = FakeUsbBus()
        # The cabin's headphones: its simulated patients answer a hearing screening (sim/patient.py SimScreenee).
        self.headphones = any(d.kind == "audiometer" for d in config.devices)
        self._ptys: list[PtyDevice] = [*self.oximeters.values(), *self.stadiometers.values(), self.badge_reader,
                                       self.entry_lock]
        self._stand_ins: dict[str, PtyDevice | SimCamera | SimStethoscope] = {
            **self.oximeters, **self.stadiometers, BADGE_READER_ID: self.badge_reader, ENTRY_LOCK_ID: self.entry_lock,
            **self.cameras,
            **{d.id: self.stethoscope for d in config.devices if d.driver == "alsa" and self.stethoscope is not None},
        }
        self._on_bus: list[tuple[str, LocatedDevice]] = [
            (d.id, d) for d in config.devices if isinstance(d, LocatedDevice) and _by_usb(d)]
        self._on_bus += [(device_id, accessory) for device_id, accessory in
                         ((BADGE_READER_ID, config.badge_reader), (ENTRY_LOCK_ID, config.entry_lock))
                         if isinstance(accessory, LocatedDevice) and _by_usb(accessory)]

    @property
    def sysfs_root(self) -> Path:
        """The simulated /sys the station's device watcher looks in (after start)."""
        return self.usb.sysfs_root

    @property
    def dev_root(self) -> Path:
        """The simulated /dev (after start)."""
        return self.usb.dev_root

    async def start(self) -> None:
        """Open the printer's port, the pseudo-terminals and the camera stream; plug in the USB devices."""
        await self.printer.start()
        for pty in self._ptys:
            await pty.start()
        for stadiometer in self.stadiometers.values():
            stadiometer.step_in()
        for camera in self.cameras.values():
            await camera.start()
        if self.stethoscope is not None:
            await self.stethoscope.start()
        self.usb.start()
        for device_id, config in self._on_bus:
            self._put_on_bus(device_id, config)
            self.usb.plug(device_id)

    async def start_radio(self) -> None:
        """Power the BLE peripherals on, once the station has made its instruments."""
        await self.ble.start()

    async def stop(self) -> None:
        """Stop everything; idempotent."""
        await self.ble.stop()
        for camera in self.cameras.values():
            await camera.stop()
        if self.stethoscope is not None:
            await self.stethoscope.stop()
        for pty in reversed(self._ptys):
            await pty.stop()
        self.usb.stop()
        await self.printer.stop()

    def unplug(self, device_id: str) -> None:
        """Unplug a serial device or a camera: its stand-in goes away, with its sysfs and /dev entries."""
        if device_id in dict(self._on_bus):
            self.usb.unplug(device_id)
        stand_in = self._stand_in(device_id)
        if isinstance(stand_in, PtyDevice):
            stand_in.disconnect()
        elif isinstance(stand_in, SimStethoscope):
            stand_in.inject(StethoscopeFault.DISCONNECT)
        else:
            stand_in.inject(CameraFault.DISCONNECT)

    def plug(self, device_id: str) -> None:
        """Plug it back in: the stand-in first, then (on the USB bus) its entries, as the kernel and udev do."""
        stand_in = self._stand_in(device_id)
        if isinstance(stand_in, PtyDevice):
            stand_in.reconnect()
        elif isinstance(stand_in, SimStethoscope):
            stand_in.clear(StethoscopeFault.DISCONNECT)
        else:
            stand_in.clear(CameraFault.DISCONNECT)
        if device_id in dict(self._on_bus):
            self.usb.plug(device_id)

    def printer_config(self, config: PrinterConfig) -> PrinterConfig:
        """The printer settings pointing at the simulated network printer."""
        return config.model_copy(update={"backend": "network", "host": "127.0.0.1", "port": self.printer.port})

    def device_config(self, config: DeviceConfig) -> DeviceConfig:
        """The inventory entry pointing at its stand-in: a pty path or the camera's URL, unless found by USB."""
        if config.driver == "cms50":
            return config.model_copy(update={"port": None if _by_usb(config) else self.oximeters[config.id].path})
        if config.driver == "stadiometer_serial":
            return config.model_copy(update={"port": None if _by_usb(config) else self.stadiometers[config.id].path})
        if config.driver == "uvc" and config.id in self.cameras:
            return config.model_copy(update={"port": None if _by_usb(config) else self.cameras[config.id].url})
        if config.driver == "alsa" and self.stethoscope is not None:  # by PCM name: ALSA has no simulated card
            return config.model_copy(update={"port": self.stethoscope.pcm_name,
                                             "alsa_conf": self.stethoscope.conf_path})
        return config

    def accessory_config(self, config: BadgeReaderConfig | EntryLockConfig) -> BadgeReaderConfig | EntryLockConfig:
        """The badge reader or relay board settings pointing at its pty, unless found by USB."""
        if config.driver == "rdm6300":
            return config.model_copy(update={"port": None if _by_usb(config) else self.badge_reader.path})
        if config.driver == "lcus":
            return config.model_copy(update={"port": None if _by_usb(config) else self.entry_lock.path})
        return config

    def make_instrument(self, config: DeviceConfig, sink: Sink) -> Instrument | None:
        """The instrument a simulator must build itself (in-process or BLE), else None."""
        if config.driver == "sim":
            return make_sim_instrument(config, self.clock, sink, self.rng)
        if config.driver == "ble":
            return self.ble.make_instrument(config, sink)
        return None

    def _put_on_bus(self, device_id: str, config: LocatedDevice) -> None:
        stand_in = self._stand_in(device_id)
        if isinstance(stand_in, PtyDevice):
            subsystem: Subsystem = "tty"
            target, (vendor, product) = stand_in.path, CP2102 if isinstance(stand_in, SimCms50) else CH340
        elif isinstance(stand_in, SimStethoscope):
            subsystem, target, (vendor, product) = "sound", SOUND_CARD_ID, USB_AUDIO
        else:
            subsystem, target, (vendor, product) = "video4linux", stand_in.pipe_path, UVC_CAMERA
        self.usb.add(device_id, subsystem, vendor if config.usb_vendor is None else config.usb_vendor,
                     product if config.usb_product is None else config.usb_product, config.usb_serial, target)

    def _stand_in(self, device_id: str) -> PtyDevice | SimCamera | SimStethoscope:
        stand_in = self._stand_ins.get(device_id)
        if stand_in is None:
            raise StationError(f"no simulated serial device, camera or stethoscope is called {device_id!r}")
        return stand_in


def _by_usb(config: LocatedDevice) -> bool:
    """True when the configuration names a USB identity: the device is then found on the simulated bus."""
    return any(v is not None for v in (config.usb_vendor, config.usb_product, config.usb_serial))

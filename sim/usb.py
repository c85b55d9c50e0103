"""A simulated USB bus: a sysfs tree and a /dev directory in a temporary directory.

Each plugged device is laid out as the kernel does it, so the real discovery code
(`drivers.discovery`) finds it by its configured identity: /sys/class/<subsystem>/<node> links
into /sys/devices, the node's `device` link points at its interface, under the USB device that
carries idVendor, idProduct and serial. Its /dev entry is a symlink to the simulator: a pty's
stable path for a serial device, the simulated camera's MJPEG pipe for a video node; a sound card
has no /dev entry of its own here, only its ALSA `id` (the slot's target). Unplugging
removes the sysfs entry and the /dev entry, as udev does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from runtime.errors import StationError

Subsystem = Literal["tty", "video4linux", "sound"]
_PREFIX = {"tty": "ttyUSB", "video4linux": "video", "sound": "card"}


@dataclass(frozen=True, slots=True)
class UsbSlot:
    """Where one simulated device hangs on the bus, kept across plugs and unplugs."""

    subsystem: Subsystem
    bus_port: str  # e.g. 1-3
    node: str  # e.g. ttyUSB0, video0
    vendor: int
    product: int
    serial: str | None
    target: str  # what its /dev entry leads to; a sound card's ALSA id


class FakeUsbBus:
    """Simulated USB devices under a sysfs root and a /dev root of their own; `start()` makes the roots."""

    def __init__(self) -> None:
        self._root: Path | None = None
        self._slots: dict[str, UsbSlot] = {}

    @property
    def sysfs_root(self) -> Path:
        """The simulated /sys."""
        return self._path("sys")

    @property
    def dev_root(self) -> Path:
        """The simulated /dev."""
        return self._path("dev")

    def start(self) -> None:
        """Make the empty roots in a new temporary directory; idempotent."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="cabin-usb-"))
            (self._root / "sys" / "class").mkdir(parents=True)
            (self._root / "dev").mkdir()

    def stop(self) -> None:
        """Remove the whole tree; idempotent."""
        root, self._root = self._root, None
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)

    def add(self, device_id: str, subsystem: Subsystem, vendor: int, product: int, serial: str | None,
            target: str) -> UsbSlot:
        """Give `device_id` a slot on the bus (unplugged) whose /dev entry will lead to `target`; idempotent."""
        if device_id in self._slots:
            return self._slots[device_id]
        count = sum(1 for slot in self._slots.values() if slot.subsystem == subsystem)
        slot = UsbSlot(subsystem, f"1-{len(self._slots) + 1}", f"{_PREFIX[subsystem]}{count}",
                       vendor, product, serial, target)
        self._slots[device_id] = slot
        return slot

    def plugged(self, device_id: str) -> bool:
        """True while the device's sysfs entry exists."""
        slot = self._slot(device_id)
        return os.path.lexists(self.sysfs_root / "class" / slot.subsystem / slot.node)

    def plug(self, device_id: str) -> str:
        """Create the device's sysfs entry and /dev entry, as the kernel and udev do; its /dev path."""
        slot = self._slot(device_id)
        if not self.plugged(device_id):
            usb = self.sysfs_root / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / slot.bus_port
            usb.mkdir(parents=True, exist_ok=True)
            (usb / "idVendor").write_text(f"{slot.vendor:04x}\n")
            (usb / "idProduct").write_text(f"{slot.product:04x}\n")
            if slot.serial is not None:
                (usb / "serial").write_text(slot.serial + "\n")
            interface = usb / f"{slot.bus_port}:1.0"
            node = interface / slot.subsystem / slot.node
            node.mkdir(parents=True, exist_ok=True)
            (node / "device").symlink_to(os.path.relpath(interface, node))
            if slot.subsystem == "video4linux":
                (node / "index").write_text("0\n")  # the capture node, not the metadata one
            if slot.subsystem == "sound":
                (node / "id").write_text(slot.target + "\n")
            else:
                (self.dev_root / slot.node).symlink_to(slot.target)
            class_dir = self.sysfs_root / "class" / slot.subsystem
            class_dir.mkdir(parents=True, exist_ok=True)
            (class_dir / slot.node).symlink_to(os.path.relpath(node, class_dir))
        return str(self.dev_root / slot.node)

    def unplug(self, device_id: str) -> None:
        """Remove the device's sysfs entry and /dev entry; idempotent."""
        slot = self._slot(device_id)
        for link in (self.sysfs_root / "class" / slot.subsystem / slot.node, self.dev_root / slot.node):
            if os.path.lexists(link):
                link.unlink()
        shutil.rmtree(self.sysfs_root / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / slot.bus_port,
                      ignore_errors=True)

    def _slot(self, device_id: str) -> UsbSlot:
        slot = self._slots.get(device_id)
        if slot is None:
            raise StationError(f"{device_id!r} is not on the simulated USB bus")
        return slot

    def _path(self, name: str) -> Path:
        if self._root is None:
            raise StationError("the simulated USB bus is not started")
        return self._root / name

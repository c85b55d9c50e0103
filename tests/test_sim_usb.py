"""The simulated USB bus: the kernel's sysfs layout, read back by the real discovery code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from drivers.discovery import Locator, WatchTarget, scan_usb_nodes
from runtime.errors import StationError
from sim.usb import FakeUsbBus


def test_plugged_devices_are_found_by_identity_and_lead_to_their_simulator(tmp_path: Path) -> None:
    bus = FakeUsbBus()
    bus.start()
    try:
        pty_path, pipe_path = str(tmp_path / "cms50"), str(tmp_path / "otoscope.mjpg")
        bus.add("oximeter-1", "tty", 0x10C4, 0xEA60, "0001", pty_path)
        bus.add("otoscope-1", "video4linux", 0x1BCF, 0x2C99, None, pipe_path)
        assert bus.add("oximeter-1", "tty", 0x10C4, 0xEA60, "0001", pty_path).node == "ttyUSB0"  # idempotent
        assert scan_usb_nodes(bus.sysfs_root, bus.dev_root) == []  # nothing plugged yet
        assert bus.plug("oximeter-1") == str(bus.dev_root / "ttyUSB0")
        bus.plug("otoscope-1")
        nodes = {(n.subsystem, n.name, n.vendor, n.product, n.serial) for n in scan_usb_nodes(bus.sysfs_root,
                                                                                              bus.dev_root)}
        assert nodes == {("tty", "ttyUSB0", 0x10C4, 0xEA60, "0001"), ("video4linux", "video0", 0x1BCF, 0x2C99, None)}
        assert os.readlink(bus.dev_root / "ttyUSB0") == pty_path
        oximeter = Locator(WatchTarget("oximeter-1", "tty", usb_vendor=0x10C4, usb_product=0xEA60, usb_serial="0001"),
                           sysfs_root=bus.sysfs_root, dev_root=bus.dev_root)
        assert oximeter() == str(bus.dev_root / "ttyUSB0")
        bus.unplug("oximeter-1")
        bus.unplug("oximeter-1")
        assert oximeter() is None and not (bus.dev_root / "ttyUSB0").is_symlink()
        assert bus.plugged("otoscope-1") and not bus.plugged("oximeter-1")
        bus.plug("oximeter-1")
        assert oximeter() == str(bus.dev_root / "ttyUSB0")
        with pytest.raises(StationError, match="not on the simulated USB bus"):
            bus.plug("scale-1")
    finally:
        root = bus.sysfs_root.parent
        bus.stop()
        bus.stop()
    assert not root.exists()

"""Discovery and hotplug: a fake sysfs tree in tmp_path, real pseudo-terminals, and a fake udev monitor.

The fake tree has the kernel's layout: /sys/class/tty/ttyUSB0 is a link into /sys/devices, its
`device` link points at the usb-serial port, two levels under the USB device that carries
idVendor, idProduct and serial. Plugging writes such a tree; unplugging removes it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from config.devices import (
    NO_ACCESSORY,
    BleDeviceConfig,
    Cms50DeviceConfig,
    LcusConfig,
    Rdm6300Config,
    UvcDeviceConfig,
)
from config.loader import load_config
from drivers.discovery import (
    BADGE_READER_ID,
    ENTRY_LOCK_ID,
    DeviceWatcher,
    Locator,
    UsbNode,
    WatchTarget,
    locate,
    scan_usb_nodes,
    udev_running,
    watch_targets,
)

FTDI, FT232 = 0x0403, 0x6001
UVC_VENDOR, UVC_PRODUCT = 0x1BCF, 0x2C99
POLL = 0.05
Event = tuple[str, bool, str | None]


def usb_device(sysfs: Path, bus_port: str, vendor: int, product: int, serial: str | None) -> Path:
    device = sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / bus_port
    device.mkdir(parents=True)
    (device / "idVendor").write_text(f"{vendor:04x}\n")
    (device / "idProduct").write_text(f"{product:04x}\n")
    if serial is not None:
        (device / "serial").write_text(serial + "\n")
    return device


def link_class(sysfs: Path, subsystem: str, name: str, target: Path) -> Path:
    class_dir = sysfs / "class" / subsystem
    class_dir.mkdir(parents=True, exist_ok=True)
    (class_dir / name).symlink_to(os.path.relpath(target, class_dir))
    return class_dir / name


def plug_serial(sysfs: Path, name: str = "ttyUSB0", bus_port: str = "1-1", vendor: int = FTDI,
                product: int = FT232, serial: str | None = "A10K5XYZ") -> None:
    """An FTDI adapter: ttyUSB0 under the usb-serial port, under interface 1-1:1.0, under 1-1."""
    device = usb_device(sysfs, bus_port, vendor, product, serial)
    port = device / f"{bus_port}:1.0" / name
    node = port / "tty" / name
    node.mkdir(parents=True)
    (node / "device").symlink_to(os.path.relpath(port, node))
    link_class(sysfs, "tty", name, node)


def plug_camera(sysfs: Path, bus_port: str = "1-2", serial: str | None = None) -> None:
    """A UVC camera: video0 (capture, index 0) and video1 (metadata, index 1) on interface 1-2:1.0."""
    device = usb_device(sysfs, bus_port, UVC_VENDOR, UVC_PRODUCT, serial)
    interface = device / f"{bus_port}:1.0"
    for index, name in ((1, "video1"), (0, "video0")):
        node = interface / "video4linux" / name
        node.mkdir(parents=True)
        (node / "index").write_text(f"{index}\n")
        (node / "device").symlink_to(os.path.relpath(interface, node))
        link_class(sysfs, "video4linux", name, node)


def unplug(sysfs: Path, bus_port: str) -> None:
    for subsystem in ("tty", "video4linux"):
        class_dir = sysfs / "class" / subsystem
        for entry in class_dir.iterdir() if class_dir.exists() else ():
            if bus_port in os.readlink(entry):
                entry.unlink()
    shutil.rmtree(sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / bus_port)


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    (root / "devices" / "virtual" / "tty" / "tty0").mkdir(parents=True)
    link_class(root, "tty", "tty0", root / "devices" / "virtual" / "tty" / "tty0")  # no device: skipped
    return root


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, device_id: str, present: bool, path: str | None) -> None:
        self.events.append((device_id, present, path))

    async def wait_for(self, event: Event, within_s: float = 1.0) -> float:
        """Wait until `event` is reported (after this call); return how long it took."""
        began, since = time.monotonic(), len(self.events)
        while event not in self.events[since:]:
            assert time.monotonic() - began < within_s, f"{event} not reported within {within_s} s: {self.events}"
            await asyncio.sleep(0.01)
        return time.monotonic() - began


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[DeviceWatcher], DeviceWatcher]]:
    watchers: list[DeviceWatcher] = []

    def track(watcher: DeviceWatcher) -> DeviceWatcher:
        watchers.append(watcher)
        return watcher

    yield track
    for watcher in watchers:
        await watcher.stop()


# Reading identity from sysfs.

def test_scan_reads_usb_identity_walking_up_from_the_node(sysfs: Path) -> None:
    plug_serial(sysfs)
    plug_camera(sysfs)
    nodes = scan_usb_nodes(sysfs, Path("/dev"))
    assert UsbNode("tty", "ttyUSB0", "/dev/ttyUSB0", FTDI, FT232, "A10K5XYZ", 0) in nodes
    assert {n.name for n in nodes} == {"ttyUSB0", "video0", "video1"}  # tty0 has no device
    video = {n.name: n for n in nodes if n.subsystem == "video4linux"}
    assert video["video1"].index == 1 and video["video0"].serial is None


def test_scan_copes_with_a_missing_class_and_a_broken_id(sysfs: Path) -> None:
    assert scan_usb_nodes(sysfs / "nowhere") == []
    plug_serial(sysfs)
    (sysfs / "devices" / "pci0000:00" / "0000:00:14.0" / "usb1" / "1-1" / "idVendor").write_text("zz\n")
    assert scan_usb_nodes(sysfs, Path("/dev")) == []


def test_locate_matches_vendor_product_and_serial(sysfs: Path) -> None:
    plug_serial(sysfs, "ttyUSB0", "1-1", serial="AAA")
    plug_serial(sysfs, "ttyUSB1", "1-3", serial="BBB")
    plug_camera(sysfs)
    nodes = scan_usb_nodes(sysfs, Path("/dev"))
    assert locate(WatchTarget("r", "tty", usb_vendor=FTDI, usb_product=FT232, usb_serial="BBB"), nodes) == "/dev/ttyUSB1"
    assert locate(WatchTarget("r", "tty", usb_vendor=FTDI, usb_product=FT232, usb_serial="CCC"), nodes) is None
    assert locate(WatchTarget("r", "tty", usb_vendor=FTDI, usb_product=0x6015), nodes) is None
    assert locate(WatchTarget("r", "tty", usb_vendor=FTDI), nodes) == "/dev/ttyUSB0"  # first by name
    camera = WatchTarget("o", "video4linux", usb_vendor=UVC_VENDOR, usb_product=UVC_PRODUCT)
    assert locate(camera, nodes) == "/dev/video0"  # the capture node, not the metadata one
    assert locate(WatchTarget("o", "tty", usb_vendor=UVC_VENDOR), nodes) is None  # wrong subsystem


def test_locate_prefers_an_existing_port_path(sysfs: Path) -> None:
    plug_serial(sysfs)
    nodes = scan_usb_nodes(sysfs, Path("/dev"))
    both = WatchTarget("r", "tty", port="/dev/serial/by-id/usb-FTDI-if00", usb_vendor=FTDI)
    assert locate(both, nodes, exists=lambda p: True) == "/dev/serial/by-id/usb-FTDI-if00"
    assert locate(both, nodes, exists=lambda p: False) == "/dev/ttyUSB0"
    assert locate(WatchTarget("r", "tty", port="/dev/nothing-here"), nodes) is None


def test_targets_from_the_configuration() -> None:
    otoscope = UvcDeviceConfig(id="otoscope-1", kind="otoscope", driver="uvc", usb_vendor=UVC_VENDOR)
    assert WatchTarget.from_config("otoscope-1", otoscope) == WatchTarget("otoscope-1", "video4linux",
                                                                          usb_vendor=UVC_VENDOR)
    oximeter = Cms50DeviceConfig(id="ox-1", kind="pulse_oximeter", driver="cms50", port="/dev/serial/by-id/usb-x")
    assert WatchTarget.from_config("ox-1", oximeter) == WatchTarget("ox-1", "tty", port="/dev/serial/by-id/usb-x")
    streamed = UvcDeviceConfig(id="otoscope-2", kind="otoscope", driver="uvc", port="http://127.0.0.1:8081/o.mjpg")
    assert not WatchTarget.from_config("otoscope-2", streamed).watched  # a URL is not plugged in
    thermometer = BleDeviceConfig(id="t", kind="thermometer", driver="ble")
    config = load_config()
    config = config.model_copy(update={
        "devices": (oximeter, streamed, thermometer),
        "badge_reader": Rdm6300Config(driver="rdm6300", usb_vendor=0x1A86, usb_product=0x7523),
        "entry_lock": NO_ACCESSORY,
    })
    targets = watch_targets(config)
    assert [t.device_id for t in targets] == ["ox-1", BADGE_READER_ID]  # neither the URL nor the BLE device
    with_lock = config.model_copy(update={"entry_lock": LcusConfig(driver="lcus", port="/dev/serial/by-id/relay")})
    assert [t.device_id for t in watch_targets(with_lock)] == ["ox-1", BADGE_READER_ID, ENTRY_LOCK_ID]


def test_a_locator_says_what_it_looked_for(sysfs: Path, tmp_path: Path) -> None:
    by_usb = WatchTarget("ox-1", "tty", usb_vendor=0x10C4, usb_product=0xEA60, usb_serial="0001")
    locator = Locator(by_usb, sysfs_root=sysfs, dev_root=tmp_path)
    assert locator() is None
    assert locator.missing() == "no USB 10c4:ea60 serial 0001 plugged in"
    plug_serial(sysfs, vendor=0x10C4, product=0xEA60, serial="0001")
    assert locator() == str(tmp_path / "ttyUSB0")
    by_port = Locator(WatchTarget("relay", "tty", port="/dev/serial/by-id/usb-nothing"))
    assert by_port() is None
    assert by_port.missing() == "/dev/serial/by-id/usb-nothing is missing (unplugged, or wrong port in the configuration)"
    partial = WatchTarget("r", "tty", port="/dev/x", usb_vendor=0x1A86)
    assert Locator(partial).missing() == "no /dev/x or USB 1a86:* plugged in"
    streamed = Locator(WatchTarget("o", "video4linux", port="http://127.0.0.1:1/o.mjpg"))
    assert streamed() == "http://127.0.0.1:1/o.mjpg"  # a URL is opened as configured, never looked for
    assert Locator(WatchTarget("o", "video4linux", port="0"))() == "0"  # a V4L2 index too


def test_udev_is_detected_by_its_control_socket(tmp_path: Path) -> None:
    assert not udev_running(tmp_path / "control")
    (tmp_path / "control").touch()
    assert udev_running(tmp_path / "control")


# Hotplug by polling (no udev daemon, as on this machine).

async def test_plug_and_unplug_by_usb_identity_without_udev(
    sysfs: Path, tmp_path: Path, recorder: Recorder, running: Callable[[DeviceWatcher], DeviceWatcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.discovery")
    reader = WatchTarget("badge-reader", "tty", usb_vendor=FTDI, usb_product=FT232, usb_serial="A10K5XYZ")
    camera = WatchTarget("otoscope-1", "video4linux", usb_vendor=UVC_VENDOR, usb_product=UVC_PRODUCT)
    watcher = running(DeviceWatcher([reader, camera], recorder, sysfs_root=sysfs, dev_root=Path("/dev"),
                                    udev_control=tmp_path / "no-udev-control"))
    await watcher.start()
    assert watcher.mode == "polling"
    assert recorder.events == [("badge-reader", False, None), ("otoscope-1", False, None)]  # initial state
    plug_serial(sysfs)
    assert await recorder.wait_for(("badge-reader", True, "/dev/ttyUSB0")) < 1.0
    plug_camera(sysfs)
    await recorder.wait_for(("otoscope-1", True, "/dev/video0"))
    assert watcher.present().get("otoscope-1") == "/dev/video0"
    unplug(sysfs, "1-1")
    assert await recorder.wait_for(("badge-reader", False, None)) < 1.0
    assert watcher.present() == {"badge-reader": None, "otoscope-1": "/dev/video0"}
    await asyncio.sleep(3 * 0.5)  # more polls
    polling = [r for r in caplog.records if "polling for devices" in r.getMessage()]
    assert len(polling) == 1 and "no udev daemon" in polling[0].getMessage()
    assert len(recorder.events) == 5  # only changes are reported


async def test_a_serial_with_another_number_is_not_ours(sysfs: Path, tmp_path: Path, recorder: Recorder,
                                                        running: Callable[[DeviceWatcher], DeviceWatcher]) -> None:
    target = WatchTarget("badge-reader", "tty", usb_vendor=FTDI, usb_product=FT232, usb_serial="MINE")
    watcher = running(DeviceWatcher([target], recorder, sysfs_root=sysfs, poll_interval_s=POLL, use_udev=False))
    await watcher.start()
    plug_serial(sysfs, serial="SOMEONE-ELSES")
    await asyncio.sleep(10 * POLL)
    assert recorder.events == [("badge-reader", False, None)]


async def test_a_real_pty_appearing_and_disappearing(tmp_path: Path, recorder: Recorder,
                                                     running: Callable[[DeviceWatcher], DeviceWatcher]) -> None:
    by_id = tmp_path / "serial" / "by-id"
    by_id.mkdir(parents=True)
    link = by_id / "usb-Contec_CMS50D-if00-port0"
    direct = WatchTarget("oximeter-1", "tty", port=str(link))
    watcher = running(DeviceWatcher([direct], recorder, sysfs_root=tmp_path / "sys", use_udev=False))
    await watcher.start()
    master, slave = os.openpty()
    pts = os.ttyname(slave)
    link.symlink_to(pts)  # what udev does for a real adapter
    try:
        assert await recorder.wait_for(("oximeter-1", True, str(link))) < 1.0
    finally:
        os.close(slave)
        os.close(master)  # the pty vanishes: the link dangles, like a by-id link after an unplug
    assert await recorder.wait_for(("oximeter-1", False, None)) < 1.0


async def test_a_pty_path_watched_directly(tmp_path: Path, recorder: Recorder,
                                           running: Callable[[DeviceWatcher], DeviceWatcher]) -> None:
    master, slave = os.openpty()
    pts = os.ttyname(slave)
    watcher = running(DeviceWatcher([WatchTarget("relay", "tty", port=pts)], recorder,
                                    sysfs_root=tmp_path / "sys", poll_interval_s=POLL, use_udev=False))
    try:
        await watcher.start()
        assert recorder.events == [("relay", True, pts)]
    finally:
        os.close(slave)
        os.close(master)
    await recorder.wait_for(("relay", False, None))


# Hotplug by udev events (a fake netlink monitor: a pipe the event loop watches).

class FakeMonitor:
    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)

    def fileno(self) -> int:
        return self.read_fd

    def poll(self, timeout: float | None = None) -> object | None:
        try:
            return os.read(self.read_fd, 1) or None
        except BlockingIOError:
            return None

    def emit(self) -> None:
        os.write(self.write_fd, b"e")

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


async def test_udev_events_trigger_a_rescan(sysfs: Path, recorder: Recorder,
                                            running: Callable[[DeviceWatcher], DeviceWatcher]) -> None:
    monitor = FakeMonitor()
    target = WatchTarget("badge-reader", "tty", usb_vendor=FTDI, usb_product=FT232)
    watcher = running(DeviceWatcher([target], recorder, sysfs_root=sysfs, use_udev=True,
                                    poll_interval_s=60.0, monitor_factory=lambda: monitor))
    try:
        await watcher.start()
        assert watcher.mode == "udev"
        plug_serial(sysfs)
        await asyncio.sleep(0.3)
        assert ("badge-reader", True, "/dev/ttyUSB0") not in recorder.events  # no event, no scan
        monitor.emit()
        assert await recorder.wait_for(("badge-reader", True, "/dev/ttyUSB0")) < 0.5
        unplug(sysfs, "1-1")
        monitor.emit()
        monitor.emit()
        await recorder.wait_for(("badge-reader", False, None), within_s=0.5)
        await watcher.stop()
        assert watcher.present() == {}
    finally:
        monitor.close()


async def test_a_failing_udev_monitor_falls_back_to_polling(
    sysfs: Path, recorder: Recorder, running: Callable[[DeviceWatcher], DeviceWatcher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="drivers.discovery")

    def no_netlink() -> FakeMonitor:
        raise OSError("Could not create udev monitor")

    watcher = running(DeviceWatcher([WatchTarget("r", "tty", usb_vendor=FTDI)], recorder, sysfs_root=sysfs,
                                    use_udev=True, poll_interval_s=POLL, monitor_factory=no_netlink))
    await watcher.start()
    assert watcher.mode == "polling"
    assert any("udev monitor unavailable" in r.getMessage() for r in caplog.records)
    plug_serial(sysfs)
    await recorder.wait_for(("r", True, "/dev/ttyUSB0"))


async def test_lifecycle_and_a_failing_callback(sysfs: Path, running: Callable[[DeviceWatcher], DeviceWatcher],
                                                caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Event] = []

    def broken(device_id: str, present: bool, path: str | None) -> None:
        calls.append((device_id, present, path))
        raise RuntimeError("health board gone")

    target = WatchTarget("r", "tty", usb_vendor=FTDI)
    watcher = running(DeviceWatcher([target], broken, sysfs_root=sysfs, poll_interval_s=POLL, use_udev=False))
    await watcher.start()
    await watcher.start()
    plug_serial(sysfs)
    await asyncio.sleep(5 * POLL)
    assert calls == [("r", False, None), ("r", True, "/dev/ttyUSB0")]  # it kept watching
    assert any("presence callback failed" in r.getMessage() for r in caplog.records)
    assert watcher.locator("r")() == "/dev/ttyUSB0"
    await watcher.stop()
    await watcher.stop()
    unplug(sysfs, "1-1")
    await asyncio.sleep(5 * POLL)
    assert len(calls) == 2 and watcher.present() == {}
    with pytest.raises(ValueError, match="share an id"):
        DeviceWatcher([target, target], broken)

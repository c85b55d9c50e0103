"""Finding configured devices by stable identity, and noticing plugs and unplugs within a second.

A device is present when its configured `port` exists (ideally a /dev/serial/by-id link, which
udev removes on unplug) or when a tty or video4linux node hangs under a USB device whose
idVendor, idProduct and serial match the configuration. Identity is read from sysfs, walking up
from /sys/class/<subsystem>/<node>/device to the USB device, as pyserial's list_ports does, so it
works without udev (where the ID_* properties are missing). With a udev daemon, a pyudev netlink
monitor on the event loop triggers a rescan; without one, sysfs is polled and the log says so once.
A driver asks its `Locator` where its device is before every open; the watcher's news of a plug
tells it to try at once. A URL (a camera's stream) is opened as configured, never watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias

from config.devices import ACCESSORY_IDS, AlsaDeviceConfig, LocatedDevice, UvcDeviceConfig

if TYPE_CHECKING:
    from config.schema import CabinConfig

log = logging.getLogger(__name__)

Subsystem: TypeAlias = Literal["tty", "video4linux", "sound"]
ChangeCallback: TypeAlias = Callable[[str, bool, str | None], None]  # device id, present, path

BADGE_READER_ID, ENTRY_LOCK_ID = ACCESSORY_IDS
POLL_INTERVAL_S = 0.5  # a plug shows within 1 s
UDEV_CONTROL = Path("/run/udev/control")  # the udev daemon's control socket: it runs if this exists
_RESYNC_S = 30.0  # with udev, rescan now and then anyway: netlink drops events when its buffer fills
_STOP_TIMEOUT_S = 2.0
_MAX_WALK = 8  # sysfs levels between a tty or video node and its USB device


class Monitor(Protocol):
    """The part of pyudev.Monitor the watcher uses."""

    def fileno(self) -> int: ...

    def poll(self, timeout: float | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class WatchTarget:
    """One configured device to find: by port (a path, or a URL that is not looked for), by USB identity, or both."""

    device_id: str
    subsystem: Subsystem
    port: str | None = None
    usb_vendor: int | None = None
    usb_product: int | None = None
    usb_serial: str | None = None

    @classmethod
    def from_config(cls, device_id: str, config: LocatedDevice) -> WatchTarget:
        """The target for a configuration entry found by port or USB identity."""
        subsystem: Subsystem = ("video4linux" if isinstance(config, UvcDeviceConfig)
                                else "sound" if isinstance(config, AlsaDeviceConfig) else "tty")
        return cls(device_id, subsystem, config.port, config.usb_vendor, config.usb_product, config.usb_serial)

    @property
    def has_identity(self) -> bool:
        """True when a USB vendor, product or serial is configured."""
        return any(v is not None for v in (self.usb_vendor, self.usb_product, self.usb_serial))

    @property
    def port_is_path(self) -> bool:
        """True when the port is a path that can be plugged in; a URL or a V4L2 index is not."""
        return self.port is not None and self.port.startswith("/")

    @property
    def watched(self) -> bool:
        """True when plugs and unplugs of this device can be seen: a port path or a USB identity."""
        return self.port_is_path or self.has_identity

    def describe(self) -> str:
        """What is looked for, for a person: "/dev/ttyUSB0", "USB 10c4:ea60 serial 0001", or both."""
        identity = ""
        if self.has_identity:
            vendor = "*" if self.usb_vendor is None else f"{self.usb_vendor:04x}"
            product = "*" if self.usb_product is None else f"{self.usb_product:04x}"
            serial = f" serial {self.usb_serial}" if self.usb_serial is not None else ""
            identity = f"USB {vendor}:{product}{serial}"
        if self.port is None:
            return identity
        return f"{self.port} or {identity}" if identity else self.port


def watch_targets(config: CabinConfig) -> tuple[WatchTarget, ...]:
    """Targets for every instrument and accessory that names a port path or a USB identity."""
    entries: list[tuple[str, LocatedDevice]] = [(d.id, d) for d in config.devices if isinstance(d, LocatedDevice)]
    for device_id, accessory in ((BADGE_READER_ID, config.badge_reader), (ENTRY_LOCK_ID, config.entry_lock)):
        if isinstance(accessory, LocatedDevice):
            entries.append((device_id, accessory))
    return tuple(t for t in (WatchTarget.from_config(i, c) for i, c in entries) if t.watched)


class Locator:
    """Finds one configured device now, asked before every open: its port if it exists, else its USB identity.

    A URL or a V4L2 index is not looked for: it is returned as configured, and opening it says.
    """

    def __init__(self, target: WatchTarget, *, sysfs_root: Path = Path("/sys"), dev_root: Path = Path("/dev")) -> None:
        self.target = target
        self._sysfs_root = sysfs_root
        self._dev_root = dev_root

    def __call__(self) -> str | None:
        """Where the device is now, or None when it is not plugged in."""
        target = self.target
        if target.port is not None and not target.port_is_path:
            return target.port
        nodes = scan_usb_nodes(self._sysfs_root, self._dev_root, (target.subsystem,)) if target.has_identity else []
        return locate(target, nodes)

    def missing(self) -> str:
        """Why the device cannot be opened when it is not found, naming what was looked for."""
        if self.target.has_identity:
            return f"no {self.target.describe()} plugged in"
        return f"{self.target.describe()} is missing (unplugged, or wrong port in the configuration)"


@dataclass(frozen=True, slots=True)
class UsbNode:
    """A tty or video4linux node, or a sound card, that belongs to a USB device."""

    subsystem: Subsystem
    name: str  # e.g. ttyUSB0, video0
    dev_path: str  # e.g. /dev/ttyUSB0; a sound card: its PCM name, plughw:CARD=<id>,DEV=0
    vendor: int
    product: int
    serial: str | None
    index: int  # video4linux "index": 0 is the capture node, 1 often metadata


def scan_usb_nodes(sysfs_root: Path = Path("/sys"), dev_root: Path = Path("/dev"),
                   subsystems: Iterable[Subsystem] = ("tty", "video4linux", "sound")) -> list[UsbNode]:
    """Every tty, video node and sound card under a USB device, with its identity, read from sysfs."""
    nodes: list[UsbNode] = []
    for subsystem in subsystems:
        class_dir = sysfs_root / "class" / subsystem
        try:
            names = sorted(os.listdir(class_dir))
        except OSError:
            continue  # no such class: no video driver loaded, or a fake tree without it
        for name in names:
            node = _usb_node(subsystem, class_dir / name, sysfs_root, dev_root)
            if node is not None:
                nodes.append(node)
    return nodes


def _usb_node(subsystem: Subsystem, entry: Path, sysfs_root: Path, dev_root: Path) -> UsbNode | None:
    device_link = entry / "device"
    if not device_link.exists():
        return None  # virtual consoles and ptys have no device
    usb = _usb_device_dir(Path(os.path.realpath(device_link)), Path(os.path.realpath(sysfs_root)))
    if usb is None:
        return None
    try:
        vendor = int(_read(usb / "idVendor") or "", 16)
        product = int(_read(usb / "idProduct") or "", 16)
    except ValueError:
        return None
    if subsystem == "sound":
        return _sound_card(entry, vendor, product, _read(usb / "serial"))
    index = _read(entry / "index")
    return UsbNode(subsystem, entry.name, str(dev_root / entry.name), vendor, product, _read(usb / "serial"),
                   int(index) if index and index.isdigit() else 0)


def _sound_card(entry: Path, vendor: int, product: int, serial: str | None) -> UsbNode | None:
    """A USB sound card (`cardN`, not its pcm or control nodes) as the ALSA PCM that opens it by its id."""
    card_id = _read(entry / "id")
    if not entry.name.removeprefix("card").isdigit() or not card_id:
        return None
    return UsbNode("sound", entry.name, f"plughw:CARD={card_id},DEV=0", vendor, product, serial, 0)


def _usb_device_dir(start: Path, root: Path) -> Path | None:
    """The nearest directory at or above `start` (and inside `root`) with idVendor and idProduct."""
    path = start
    for _ in range(_MAX_WALK):
        if (path / "idVendor").is_file() and (path / "idProduct").is_file():
            return path
        if path == root or root not in path.parents:
            return None
        path = path.parent
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return None


def locate(target: WatchTarget, nodes: Iterable[UsbNode], exists: Callable[[str], bool] = os.path.exists) -> str | None:
    """Where `target` is now: its port path if that exists, else a node matching its USB identity."""
    if target.port is not None and exists(target.port):
        return target.port
    if not target.has_identity:
        return None
    matches = sorted(
        (n for n in nodes if n.subsystem == target.subsystem and _same_identity(target, n)),
        key=lambda n: (n.index, len(n.name), n.name),
    )
    return matches[0].dev_path if matches else None


def _same_identity(target: WatchTarget, node: UsbNode) -> bool:
    return (
        (target.usb_vendor is None or target.usb_vendor == node.vendor)
        and (target.usb_product is None or target.usb_product == node.product)
        and (target.usb_serial is None or target.usb_serial == node.serial)
    )


def udev_running(control: Path = UDEV_CONTROL) -> bool:
    """True when a udev daemon runs here (its control socket exists)."""
    return control.exists()


def pyudev_monitor() -> Monitor:
    """A started pyudev netlink monitor for tty, video4linux and usb events."""
    import pyudev

    monitor = pyudev.Monitor.from_netlink(pyudev.Context())
    for subsystem in ("tty", "video4linux", "sound", "usb"):
        monitor.filter_by(subsystem)
    monitor.start()
    started: Monitor = monitor
    return started


class DeviceWatcher:
    """Tracks which configured devices are plugged in and reports every change through `on_change`."""

    def __init__(self, targets: Iterable[WatchTarget], on_change: ChangeCallback, *,
                 sysfs_root: Path = Path("/sys"), dev_root: Path = Path("/dev"),
                 poll_interval_s: float = POLL_INTERVAL_S, use_udev: bool | None = None,
                 udev_control: Path = UDEV_CONTROL, monitor_factory: Callable[[], Monitor] = pyudev_monitor) -> None:
        """`use_udev` None means: use a netlink monitor when `udev_control` exists, else poll."""
        self._targets = tuple(targets)
        ids = [t.device_id for t in self._targets]
        if len(ids) != len(set(ids)):
            raise ValueError(f"two watched devices share an id: {sorted(ids)}")
        if poll_interval_s <= 0:
            raise ValueError("the polling interval must be positive")
        self._on_change = on_change
        self._sysfs_root = sysfs_root
        self._dev_root = dev_root
        self._interval_s = poll_interval_s
        self._use_udev = use_udev
        self._udev_control = udev_control
        self._monitor_factory = monitor_factory
        self._paths: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None
        self._monitor: Monitor | None = None
        self._reader_fd: int | None = None
        self._dirty = asyncio.Event()
        self._said_polling = False
        self.mode: Literal["stopped", "udev", "polling"] = "stopped"

    @property
    def targets(self) -> tuple[WatchTarget, ...]:
        """The devices watched."""
        return self._targets

    def present(self) -> Mapping[str, str | None]:
        """Each watched device's path, or None when absent (empty before start)."""
        return dict(self._paths)

    def locator(self, device_id: str) -> Locator:
        """The locator of a watched device, looking it up afresh in this watcher's sysfs and /dev."""
        target = next((t for t in self._targets if t.device_id == device_id), None)
        if target is None:
            raise KeyError(f"{device_id!r} is not a watched device")
        return Locator(target, sysfs_root=self._sysfs_root, dev_root=self._dev_root)

    async def start(self) -> None:
        """Scan once (reporting every device, present or not), then watch; idempotent."""
        if self._task is not None:
            return
        self._monitor = self._open_monitor()
        if self._monitor is not None:
            self._reader_fd = self._monitor.fileno()
            asyncio.get_running_loop().add_reader(self._reader_fd, self._on_readable)
            self.mode = "udev"
        else:
            self.mode = "polling"
        await self.rescan()
        self._task = asyncio.create_task(self._watch(), name="device-watcher")

    async def stop(self) -> None:
        """Stop watching; idempotent and bounded."""
        task, self._task = self._task, None
        if self._reader_fd is not None:
            asyncio.get_running_loop().remove_reader(self._reader_fd)
            self._reader_fd = None
        self._monitor = None  # pyudev closes the socket when the monitor is collected
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=_STOP_TIMEOUT_S)
        self._paths.clear()
        self.mode = "stopped"

    async def rescan(self) -> None:
        """Look for every device now and report the ones whose presence or path changed."""
        found = await asyncio.to_thread(self._locate_all)
        for target in self._targets:
            device_id, path = target.device_id, found[target.device_id]
            if device_id in self._paths and self._paths[device_id] == path:
                continue
            self._paths[device_id] = path
            log.info("device %s %s", device_id, f"present at {path}" if path else "absent")
            try:
                self._on_change(device_id, path is not None, path)
            except Exception:
                log.exception("presence callback failed for %s", device_id)

    def _open_monitor(self) -> Monitor | None:
        wanted = udev_running(self._udev_control) if self._use_udev is None else self._use_udev
        if wanted:
            try:
                return self._monitor_factory()
            except (ImportError, OSError) as exc:  # no libudev, no netlink permission
                reason = f"udev monitor unavailable ({exc})"
            except Exception as exc:  # a bug: seen with its traceback, and polling still finds the devices
                log.exception("opening the udev monitor failed")
                reason = f"udev monitor unavailable ({type(exc).__name__})"
        else:
            reason = "no udev daemon"
        if not self._said_polling:
            self._said_polling = True
            log.info("%s: polling for devices every %s s", reason, self._interval_s)
        return None

    async def _watch(self) -> None:
        while True:
            if self.mode == "udev":
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow stop()'s cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_RESYNC_S):
                        await self._dirty.wait()
                self._dirty.clear()
            else:
                await asyncio.sleep(self._interval_s)
            try:
                await self.rescan()
            except Exception:
                log.exception("device scan failed; trying again")

    def _on_readable(self) -> None:
        """Drain the netlink socket; any tty, video4linux or usb event means: rescan."""
        monitor = self._monitor
        if monitor is None:
            return
        for _ in range(1000):  # bounded: a storm of events must not starve the loop
            try:
                event = monitor.poll(0)
            except Exception:
                log.exception("reading the udev monitor failed")
                break
            if event is None:
                break
            self._dirty.set()

    def _locate_all(self) -> dict[str, str | None]:
        nodes = self._scan(self._targets)
        return {t.device_id: locate(t, nodes) for t in self._targets}

    def _scan(self, targets: Iterable[WatchTarget]) -> list[UsbNode]:
        subsystems = {t.subsystem for t in targets if t.has_identity}
        return scan_usb_nodes(self._sysfs_root, self._dev_root, sorted(subsystems)) if subsystems else []

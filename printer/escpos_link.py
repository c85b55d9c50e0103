"""USB and serial receipt printers through python-escpos, its blocking I/O on a worker thread.

python-escpos finds and claims the device (`Usb(idVendor, idProduct)` detaches the kernel's
usblp driver; `Serial(devfile, baudrate)` opens the port) and writes through its `_raw` seam.
Reading status goes to the device object underneath: python-escpos's `_read` asks a serial
port for 16 bytes and so always waits for the whole timeout, and its `paper_status()` reads
silence as "paper adequate". Each operation opens the device, does its work and closes it, so
a printer unplugged and plugged back in is found again without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from escpos.exceptions import Error as EscposError

from config.schema import PrinterConfig
from printer.errors import PrinterError, PrinterUnreachableError, TransportError
from printer.escpos_commands import CLEAR_BUFFERS, CLEAR_RESPONSE, DLE_EOT
from printer.status import STATUS_OFFLINE_CAUSE, STATUS_PAPER, STATUS_PRINTER, PrinterStatus, parse_status

log = logging.getLogger(__name__)
T = TypeVar("T")
_THREAD_GRACE_S = 2.0  # beyond the device's own timeouts, before giving up on the worker thread


class DeviceLink(Protocol):
    """A blocking connection to one printer: the seam tests replace."""

    def open(self) -> None:
        """Find and claim the device; OSError or python-escpos's DeviceNotFoundError if it is absent."""

    def write(self, data: bytes) -> None:
        """Write all of `data`."""

    def read(self, size: int) -> bytes:
        """Read up to `size` bytes, waiting at most the link's timeout; b"" when nothing came."""

    def close(self) -> None:
        """Release the device; safe to call when it is not open."""


class UsbLink:
    """A USB printer class device found by vendor and product id (python-escpos `Usb`)."""

    def __init__(self, vendor: int, product: int, profile: str, timeout_s: float) -> None:
        from escpos.printer import Usb

        self._timeout_ms = max(1, int(timeout_s * 1000))
        self._printer: Any = Usb(vendor, product, timeout=self._timeout_ms, profile=profile)
        self.name = f"USB {vendor:04x}:{product:04x}"

    def open(self) -> None:
        """Find the device and claim its interface."""
        self._printer.open()

    def write(self, data: bytes) -> None:
        """Bulk-write `data` to the OUT endpoint."""
        self._printer._raw(data)

    def read(self, size: int) -> bytes:
        """Bulk-read from the IN endpoint; a timeout is silence."""
        import usb.core  # type: ignore[import-untyped]

        try:
            return bytes(self._printer.device.read(self._printer.in_ep, size, self._timeout_ms))
        except usb.core.USBTimeoutError:
            return b""

    def close(self) -> None:
        """Release the interface."""
        self._printer.close()


class SerialLink:
    """A serial printer on a device path (python-escpos `Serial`)."""

    def __init__(self, device: str, baudrate: int, profile: str, timeout_s: float) -> None:
        from escpos.printer import Serial

        self._printer: Any = Serial(device, baudrate=baudrate, timeout=timeout_s, dsrdtr=False, profile=profile)
        self.name = f"serial {device}"

    def open(self) -> None:
        """Open the port and drop any late reply still in its input buffer."""
        self._printer.open()
        self._printer.device.reset_input_buffer()

    def write(self, data: bytes) -> None:
        """Write `data` and wait until it has left the port."""
        self._printer._raw(data)
        self._printer.device.flush()

    def read(self, size: int) -> bytes:
        """Read up to `size` bytes (the port's timeout bounds the wait)."""
        return bytes(self._printer.device.read(size))

    def close(self) -> None:
        """Close the port."""
        self._printer.close()


class DeviceTransport:
    """The print service's transport over a DeviceLink: one operation at a time, each on a thread."""

    def __init__(self, open_link: Callable[[], DeviceLink], name: str, timeout_s: float) -> None:
        self._open_link = open_link
        self.name = name
        self._timeout = timeout_s
        self._lock = asyncio.Lock()

    async def _run(self, work: Callable[[DeviceLink], T]) -> T:
        def call() -> T:
            link = self._open_link()
            try:
                link.open()
            except (EscposError, OSError, ValueError) as exc:  # ValueError: pyusb found no libusb
                detail = " ".join(str(exc).split())  # python-escpos's messages span lines
                raise PrinterUnreachableError(f"printer {self.name} unreachable: {detail}") from exc
            try:
                return work(link)
            finally:
                link.close()

        async with self._lock:
            try:
                return await asyncio.wait_for(asyncio.to_thread(call), self._timeout * 4 + _THREAD_GRACE_S)
            except TimeoutError as exc:
                raise TransportError(f"printer {self.name} did not finish in time") from exc

    async def send(self, data: bytes) -> None:
        """Write `data`, then wait for a DLE EOT 1 reply proving the printer took all of it in."""
        def work(link: DeviceLink) -> None:
            try:
                link.write(data)
                link.write(DLE_EOT + bytes([STATUS_PRINTER]))
                reply = link.read(1)
            except OSError as exc:
                raise TransportError(f"printer {self.name}: write failed: {exc}") from exc
            if not reply:
                raise TransportError(f"printer {self.name} did not acknowledge the data")

        await self._run(work)

    async def status(self) -> PrinterStatus:
        """Query DLE EOT 1, 2 and 4; unreachable when the device is absent or a reply is missing."""
        def work(link: DeviceLink) -> PrinterStatus:
            replies = []
            for n in (STATUS_PRINTER, STATUS_OFFLINE_CAUSE, STATUS_PAPER):
                link.write(DLE_EOT + bytes([n]))
                reply = link.read(1)
                if not reply:
                    return PrinterStatus.unreachable()
                replies.append(reply[0])
            return parse_status(*replies)

        try:
            return await self._run(work)
        except (PrinterError, OSError) as exc:
            log.info("no status from printer %s: %s", self.name, exc)
            return PrinterStatus.unreachable()

    async def clear_buffers(self) -> bool:
        """DLE DC4 fn=8: drop what the printer still holds; True once it confirmed."""
        def work(link: DeviceLink) -> bool:
            link.write(CLEAR_BUFFERS)
            return link.read(len(CLEAR_RESPONSE)) == CLEAR_RESPONSE

        try:
            return await self._run(work)
        except (PrinterError, OSError) as exc:
            log.info("printer %s did not clear its buffers: %s", self.name, exc)
            return False


def device_transport(cfg: PrinterConfig) -> DeviceTransport:
    """The USB or serial transport `cfg` describes, or PrinterError naming the missing option."""
    if cfg.backend == "usb":
        if cfg.usb_vendor is None or cfg.usb_product is None:
            raise PrinterError("[printer] usb_vendor, usb_product: the usb backend needs both ids")
        vendor, product = cfg.usb_vendor, cfg.usb_product
        return DeviceTransport(lambda: UsbLink(vendor, product, cfg.profile, cfg.timeout_s),
                               f"USB {vendor:04x}:{product:04x}", cfg.timeout_s)
    if not cfg.device:
        raise PrinterError("[printer] device: the serial backend needs a device path")
    device = cfg.device
    return DeviceTransport(lambda: SerialLink(device, cfg.baudrate, cfg.profile, cfg.timeout_s),
                           f"serial {device}", cfg.timeout_s)

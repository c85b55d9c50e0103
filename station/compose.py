"""The composition root: the only place that picks concrete parts from configuration."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from config.hours import Schedule
from config.schema import CabinConfig, DeviceConfig, SerialDeviceConfig
from devices.instrument import Instrument, Sink
from devices.manager import DeviceManager
from drivers.badge_reader import BadgeReader
from drivers.ble import BleInstrument
from drivers.cms50_oximeter import Cms50Oximeter
from drivers.discovery import DeviceWatcher, watch_targets
from drivers.entry_lock import EntryLock
from drivers.otoscope import Otoscope
from hygiene.audit import AuditTrail
from hygiene.badges import BadgeRegistry
from hygiene.store import CabinStore
from printer.service import PrintService
from printer.transport import make_transport
from runtime.clock import Clock
from runtime.errors import StationError
from runtime.storage import Database
from session.appointments import AppointmentBook
from session.cabin import Cabin
from session.core import CabinRefusal
from session.gp_link import GpLink
from station import print_test
from station.calls import CallRelay
from station.entry import EntryFollower
from station.kiosk import KioskServer
from station.lag import LagMonitor

if TYPE_CHECKING:  # the simulator is only ever handed in by the caller, never imported here
    from sim.rig import SimRig

log = logging.getLogger(__name__)


class Station:
    """A whole cabin station: its components, started in order and stopped in reverse."""

    def __init__(self, *, config: CabinConfig, clock: Clock, state_dir: Path, rig: SimRig | None = None,
                 kiosk_port: int | None = None) -> None:
        """Build the parts; with a rig (already started), simulated devices stand in for hardware."""
        self.config = config
        self.clock = clock
        self.state_dir = state_dir
        self.rig = rig
        self.lag = LagMonitor()
        self.db = Database(state_dir)
        self.audit = AuditTrail(self.db)
        self.store = CabinStore(self.db)
        self.registry = BadgeRegistry(self.db, state_dir)
        self.book = AppointmentBook(self.db)
        printer_config = self.rig.printer_config(config.printer) if self.rig else config.printer
        self.printer = PrintService(self.db, make_transport(printer_config, clock), printer_config, clock)
        hardware = self._hardware(config)
        self.watcher = DeviceWatcher(watch_targets(hardware), self._on_presence)
        self.devices = DeviceManager.from_configs(hardware.devices, clock, self._instrument)
        self.badge_reader = self._badge_reader(hardware.badge_reader)
        self.cabin = Cabin(
            config=config, clock=clock, store=self.store, audit=self.audit, book=self.book,
            registry=self.registry, devices=self.devices, printer=self.printer,
            schedule=Schedule(config.place(), clock.zone),
        )
        self.gp_link = GpLink(self.cabin)
        self.entry = self._entry_lock(hardware.entry_lock)
        port = config.station.kiosk_port if kiosk_port is None else kiosk_port
        self.kiosk = KioskServer(self.cabin, port, test_print=lambda: print_test.send(
            make_transport(printer_config, clock), print_test.build(config)))
        otoscope = next((i for i in self.devices.instruments if isinstance(i, Otoscope)), None)
        hub = config.hub
        self.calls = CallRelay(hub, self.cabin, clock, self.gp_link, self.kiosk, otoscope) if hub else None
        optional = [c for c in (self.badge_reader, self.entry, self.calls) if c is not None]
        self._components: list[object] = [
            self.lag, self.db, self.audit, self.store, self.registry, self.book, self.printer,
            self.watcher, self.devices, self.cabin, self.gp_link, self.kiosk, *optional,
        ]
        self._started: list[object] = []

    def _hardware(self, config: CabinConfig) -> CabinConfig:
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

    def _badge_reader(self, config: SerialDeviceConfig) -> BadgeReader | None:
        if config.driver != "rdm6300":
            return None
        return BadgeReader(config, self.clock, self.on_badge)

    def _entry_lock(self, config: SerialDeviceConfig) -> EntryFollower | None:
        if config.driver != "lcus":
            return None
        return EntryFollower(self.cabin, EntryLock(config, self.clock))

    async def start(self) -> None:
        """Start every component in order; on failure, stop what started and re-raise."""
        try:
            for component in self._components:
                if component is self.devices and self.rig is not None:
                    await self.rig.start_radio()  # the simulated peripherals exist now
                await component.start()  # type: ignore[attr-defined]
                self._started.append(component)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop started components in reverse order; idempotent."""
        while self._started:
            component = self._started.pop()
            try:
                await component.stop()  # type: ignore[attr-defined]
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)

    async def on_badge(self, raw: str) -> None:
        """A badge from the reader: the cabin decides; refusals are shown on screen, not raised."""
        try:
            await self.cabin.present_badge(raw)
        except CabinRefusal as exc:
            log.info("badge not accepted: %s", exc)

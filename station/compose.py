"""The composition root: the only place that picks concrete parts from configuration."""

from __future__ import annotations

import logging
from pathlib import Path

from config.clock import Clock
from config.errors import StationError
from config.hours import Schedule
from config.schema import CabinConfig, DeviceConfig
from config.storage import Database
from devices.instrument import Instrument, Sink
from devices.manager import DeviceManager
from hygiene.audit import AuditTrail
from hygiene.badges import BadgeRegistry
from hygiene.store import CabinStore
from printer.service import PrintService
from printer.transport import make_transport
from session.appointments import AppointmentBook
from session.cabin import Cabin
from session.core import CabinRefusal
from session.gp_link import GpLink
from sim.rig import SimRig
from station.kiosk import KioskServer

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
        self.db = Database(state_dir)
        self.audit = AuditTrail(self.db)
        self.store = CabinStore(self.db)
        self.registry = BadgeRegistry(self.db, state_dir)
        self.book = AppointmentBook(self.db)
        printer_config = self.rig.printer_config(config.printer) if self.rig else config.printer
        self.printer = PrintService(self.db, make_transport(printer_config, clock), printer_config, clock)
        self.devices = DeviceManager.from_configs(config.devices, clock, self._instrument)
        self.cabin = Cabin(
            config=config, clock=clock, store=self.store, audit=self.audit, book=self.book,
            registry=self.registry, devices=self.devices, printer=self.printer,
            schedule=Schedule(config.place(), clock.zone),
        )
        self.gp_link = GpLink(self.cabin)
        port = config.station.kiosk_port if kiosk_port is None else kiosk_port
        self.kiosk = KioskServer(self.cabin, port)
        self._components: list[object] = [
            self.db, self.audit, self.store, self.registry, self.book, self.printer,
            self.devices, self.cabin, self.gp_link, self.kiosk,
        ]
        self._started: list[object] = []
        if self.rig is not None:
            self.rig.badge_reader.sink = self.on_badge

    def _instrument(self, config: DeviceConfig, sink: Sink) -> Instrument:
        if config.driver == "sim":
            if self.rig is None:
                raise StationError(f"[devices] {config.id}: driver 'sim' needs the simulator (--sim)")
            return self.rig.make_instrument(config, sink)
        raise StationError(f"[devices] {config.id}: driver {config.driver!r} is not available")

    async def start(self) -> None:
        """Start every component in order; on failure, stop what started and re-raise."""
        try:
            for component in self._components:
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

"""The composition root: the only place that picks concrete parts from configuration.

The hardware (instruments, cameras, accessories) is picked in `station/hardware.py`; the rest
of the station here: the state database and what keeps it, the print service, the cabin, the
GP link, the kiosk server and, with a hub configured, the call relay and the health reports.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from config.hours import Schedule
from config.schema import CabinConfig
from devices.audio_calibration import AudioCalibrations
from hygiene.audit import AuditTrail
from hygiene.badges import BadgeRegistry
from hygiene.store import CabinStore
from printer.service import PrintService
from printer.transport import make_transport
from protocol.states import CabinState
from runtime.clock import Clock
from runtime.storage import Database
from session.appointments import AppointmentBook
from session.auscultation import Auscultation
from session.core import CabinCore, CabinRefusal
from session.gp_desk import GpDesk
from session.gp_link import GpLink
from session.machine import PATIENT_STATES
from session.on_board import StopGate
from session.patient_desk import PatientDesk
from session.staff_desk import StaffDesk
from station import print_test
from station.calls import CallRelay
from station.entry import EntryFollower
from station.hardware import Hardware
from station.health import HealthReporter
from station.kiosk import KioskServer
from station.lag import LagMonitor
from station.local_control import LocalControl
from station.logs import LogRing
from station.on_board import OnBoard
from station.remote_maintenance import RemoteMaintenance

if TYPE_CHECKING:  # the simulator is only ever handed in by the caller, never imported here
    from sim.rig import SimRig

log = logging.getLogger(__name__)


class Station:
    """A whole cabin station: its components, started in order and stopped in reverse."""

    def __init__(self, *, config: CabinConfig, clock: Clock, state_dir: Path, rig: SimRig | None = None,
                 kiosk_port: int | None = None, kiosk_key_dir: Path | None = None,
                 kiosk_group: str | None = None) -> None:
        """Build the parts; with a rig (already started), simulated devices stand in for hardware.

        The kiosk's start page (with its key) goes in `kiosk_key_dir` (default: the state
        directory), readable by `kiosk_group` (default: the station's own group).
        """
        self.config = config
        self.clock = clock
        self.state_dir = state_dir
        self.rig = rig
        self.lag = LagMonitor()
        self.log_ring = LogRing()  # the last log lines, for a technician's remote run (docs/design.md)
        self.db = Database(state_dir)
        self.audit = AuditTrail(self.db)
        self.store = CabinStore(self.db)
        self.registry = BadgeRegistry(self.db, state_dir)
        self.book = AppointmentBook(self.db, audit=self.audit, clock=clock, rules=config.checkin,
                                    whole_day=config.station.mode == "on_board")
        printer_config = self.rig.printer_config(config.printer) if self.rig else config.printer
        self.printer = PrintService(self.db, make_transport(printer_config, clock), printer_config, clock)
        self.hardware = Hardware(config, clock, rig=rig, on_badge=self.on_badge,
                                 calibrations=AudioCalibrations(self.db, self.audit))
        self.devices = self.hardware.devices
        self.badge_reader = self.hardware.badge_reader
        cameras, place = self.hardware.cameras, config.place()
        # On board, the cabin opens with the stop, not the clock (docs/design.md, "On board").
        self.gate = (StopGate(config.mobile, clock.zone, self.db)
                     if config.station.mode == "on_board" and config.mobile is not None else None)
        self.cabin = CabinCore(
            timeouts=config.timeouts, clock=clock, store=self.store, audit=self.audit, book=self.book,
            devices=self.devices, printer=self.printer, schedule=self.gate or Schedule(place, clock.zone),
        )
        self.patient_desk = PatientDesk(self.cabin, book=self.book, rules=config.checkin,
                                        site_code=config.station.site, audit=self.audit, db=self.db)
        self.gp_desk = GpDesk(self.cabin, devices=self.devices, printer=self.printer, audit=self.audit,
                              site_code=config.station.site, site_name=place.name,
                              place_of=self.gate.place_of if self.gate is not None else None)
        self.staff_desk = StaffDesk(self.cabin, registry=self.registry, audit=self.audit, protocol=config.cleaning,
                                    closing=config.closing_cleaning)
        self.auscultation = Auscultation(self.cabin, self.hardware.stethoscope)
        self.gp_link = GpLink(self.cabin, self.gp_desk, devices=self.devices, site_name=place.name, cameras=cameras,
                              auscultation=self.auscultation)
        lock = self.hardware.entry_lock
        self.entry = EntryFollower(self.cabin, lock) if lock is not None else None
        self.kiosk = KioskServer(
            self.cabin, self.patient_desk, self.staff_desk, devices=self.devices, audit=self.audit, config=config,
            port=config.station.kiosk_port if kiosk_port is None else kiosk_port, cameras=cameras,
            screenings=self.hardware.screenings,
            key_dir=state_dir if kiosk_key_dir is None else kiosk_key_dir, key_group=kiosk_group,
            test_print=lambda: print_test.send(make_transport(printer_config, clock), print_test.build(config)),
            auscultation=self.auscultation,
        )
        hub = config.hub
        self.on_board = (OnBoard(self.cabin, self.patient_desk, self.gate, self.kiosk)
                         if self.gate is not None else None)
        self.maintenance = RemoteMaintenance(self.cabin, self.hardware, self.audit, self.log_ring)
        self.calls = CallRelay(hub, self.cabin, clock, self.gp_link, self.kiosk, cameras, place.name, self.audit,
                               self.book, on_board=self.on_board.handle if self.on_board else None,
                               stethoscope=self.hardware.stethoscope,
                               on_maintenance=self.maintenance.handle) if hub else None
        # The cabin's health to the hub's fleet view (docs/design.md, "The fleet view").
        self.health = HealthReporter(
            self.calls.hub.send_health, cabin=self.cabin, store=self.store, devices=self.devices,
            printer=self.printer, lag=self.lag, clock=clock, interval_s=hub.health_interval_s,
            probe_s=hub.health_probe_s) if self.calls is not None and hub is not None else None
        self.control = LocalControl(state_dir, self.hardware, busy=self._patient_in)
        optional = [c for c in (self.badge_reader, self.entry, self.calls, self.health) if c is not None]
        gate = [self.gate] if self.gate is not None else []
        self._components: list[object] = [
            self.log_ring, self.lag, self.db, self.audit, self.store, self.registry, self.book, self.printer,
            self.hardware, *gate, self.cabin, self.patient_desk, self.gp_desk, self.auscultation, self.gp_link,
            self.kiosk, *optional, self.control,
        ]
        self._started: list[object] = []

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

    def _patient_in(self) -> bool:
        """A patient is at the touchscreen from check-in, and in the cabin until they leave."""
        state = self.cabin.state
        return state is CabinState.CHECKING_IN or state in PATIENT_STATES

    async def on_badge(self, raw: str) -> None:
        """A badge from the reader: the cabin decides; refusals are shown on screen, not raised."""
        try:
            await self.staff_desk.present_badge(raw)
        except CabinRefusal as exc:
            log.info("badge not accepted: %s", exc)

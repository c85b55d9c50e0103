"""A technician's remote maintenance, through the hub (docs/design.md, "Remote maintenance").

The hub sends `maintenance` runs over the station's one connection (`station/hub_client.py`);
each is answered by one `maintenance_result`, and none carries a patient's data:

- `diagnostics`: what `cabin diag` reports of the running station's devices (health, battery,
  last error), from its own device manager: no port is opened a second time, nothing is tested;
- `self_test`: each instrument's self-test, as the kiosk's maintenance screen runs it (a cuff
  inflates, readings are taken). Only while no patient can be in or come in: the cabin closed,
  awaiting its cleaning, out of service or in maintenance; refused when it is open (put it out
  of service first), while a patient is in, or during a cleaning. The test holds the cabin's
  lock from that check to its end, so nothing changes the cabin's state meanwhile (opening hours
  do not open it, a badge waits). Not the maintenance state: that state means a technician's
  badge opened the kiosk's maintenance screen, whose buttons act without another badge;
- `logs`: the last lines of the station's log ring, redacted (`station/logs.py`);
- `out_of_service` with the reason shown to patients, and `back_in_service`: the reason is kept
  in the state database, as the cleaning mark is, so it outlives a restart. Both are refused
  while a patient is in the cabin or a cleaning goes on, rather than deferred: the technician
  reads the refusal at once and decides, and no order given hours ago takes a cabin away later.
  Back in service undoes a technician's out of service only (a storage failure's ends when the
  storage works again), and settles as the cleaning mark says (awaiting cleaning when it is set).

Runs wait their turn (one at a time); a run not started within its `start_within_s` (real
seconds, the hub's) of its arrival is refused as `expired` rather than done after the hub has
stopped waiting for it.

Every run is audited in the station's trail with the technician's hub username.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from pydantic import JsonValue, ValidationError

from protocol.hub import MAX_LOG_LINES, MAX_RESULT_BYTES, Maintenance, MaintenanceResult
from protocol.states import CabinState
from runtime.errors import StationError
from session.core import CabinRefusal
from session.machine import PATIENT_STATES
from station.diagnosis import device_report

if TYPE_CHECKING:
    from hygiene.audit import AuditTrail
    from session.core import CabinCore
    from station.hardware import Hardware
    from station.logs import LogRing

log = logging.getLogger(__name__)

S = CabinState
DEFAULT_LOG_LINES = 100
HEALTH_ONLY = "not tested: diagnostics report health only (run the self-test)"
# Where a self-test may run: no patient is in and none can check in.
SELF_TEST_STATES = (S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE, S.MAINTENANCE)
# Where the cabin may be taken out of service: no patient is in, nobody is cleaning.
OUT_OF_SERVICE_FROM = (S.READY, S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE, S.MAINTENANCE)


class MaintenanceRefused(StationError):
    """A run the cabin cannot do now; `code` is stable for the hub's page."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RemoteMaintenance:
    """Answers the hub's maintenance runs from the running station's own parts, one run at a time."""

    def __init__(self, cabin: CabinCore, hardware: Hardware, audit: AuditTrail, ring: LogRing) -> None:
        self._cabin = cabin
        self._hardware = hardware
        self._audit = audit
        self._ring = ring
        self._one_at_a_time = asyncio.Lock()

    async def handle(self, run: Maintenance) -> MaintenanceResult:
        """Do `run` and say how it went; never raises but for cancellation."""
        arrived = self._cabin.clock.monotonic()
        async with self._one_at_a_time:
            try:
                self._in_time(run, arrived)
                result = await self._do(run)
            except (MaintenanceRefused, CabinRefusal) as exc:
                log.info("remote %s by %s refused: %s", run.action, run.technician, exc)
                return await self._answer(run, None, exc.code, str(exc))
            except StationError as exc:
                log.warning("remote %s by %s failed: %s", run.action, run.technician, exc)
                return await self._answer(run, None, "failed", str(exc))
            except Exception:  # a bug: its traceback in the log, one line for the technician
                log.exception("remote %s by %s failed", run.action, run.technician)
                return await self._answer(run, None, "failed", "the station failed (its log has the details)")
            return await self._answer(run, result, None, None)

    async def _do(self, run: Maintenance) -> dict[str, JsonValue]:
        if run.action == "diagnostics":
            return {"state": self._cabin.state.value, "devices": await self._report(HEALTH_ONLY)}
        if run.action == "self_test":
            return await self._self_test()
        if run.action == "logs":
            return self._logs(run.lines or DEFAULT_LOG_LINES)
        if run.action == "out_of_service":
            assert run.reason is not None
            return await self._out_of_service(run.reason.strip())
        return await self._back_in_service()

    def _in_time(self, run: Maintenance, arrived: float) -> None:
        clock = self._cabin.clock
        waited = clock.real_seconds(clock.monotonic() - arrived)  # the hub counts real seconds
        if waited > run.start_within_s:
            raise MaintenanceRefused("expired", f"the run waited {waited:.0f} s behind other runs, longer than "
                                     f"the {run.start_within_s:.0f} s the hub waits to start it: ask again")

    async def _self_test(self) -> dict[str, JsonValue]:
        """The devices' self-tests, under the cabin's lock: its state cannot change until they are done."""
        core = self._cabin

        async def step() -> dict[str, JsonValue]:
            self._may_self_test()
            devices = await self._report(None)
            return {"state": core.state.value, "devices": devices}

        return await core.act(step)

    async def _report(self, skip_tests: str | None) -> list[JsonValue]:
        rows: list[dict[str, Any]] = await device_report(self._hardware, skip_tests=skip_tests)
        plain: list[JsonValue] = json.loads(json.dumps(rows, default=str))  # enums and paths as text
        return plain

    def _may_self_test(self) -> None:
        state = self._cabin.state
        if state in SELF_TEST_STATES:
            return
        if state is S.READY:
            raise MaintenanceRefused("open", "the cabin is open to patients: a self-test inflates the cuff; "
                                     "take it out of service first")
        self._refuse_busy(state)

    @staticmethod
    def _refuse_busy(state: CabinState) -> None:
        if state is S.CLEANING:
            raise MaintenanceRefused("cleaning", "a cleaning is in progress: wait until it is done")
        if state is S.CHECKING_IN or state in PATIENT_STATES:
            raise MaintenanceRefused("patient_in", f"a patient is in the cabin ({state.value}): try again once "
                                     "they have left")

    def _logs(self, count: int) -> dict[str, JsonValue]:
        """The last `count` lines, as many of the newest as fit in a result."""
        lines: list[JsonValue] = [{"at": line.at, "level": line.level, "logger": line.logger, "message": line.message}
                                  for line in self._ring.last(min(count, MAX_LOG_LINES))]
        while lines and len(json.dumps({"lines": lines}, ensure_ascii=False).encode()) > MAX_RESULT_BYTES - 1024:
            lines.pop(0)
        return {"lines": lines}

    async def _out_of_service(self, reason: str) -> dict[str, JsonValue]:
        core = self._cabin

        async def step() -> None:
            if core.state not in OUT_OF_SERVICE_FROM:
                self._refuse_busy(core.state)
            await core.set_out_of_service(reason)

        await core.act(step)
        return {"state": core.state.value, "reason": reason}

    async def _back_in_service(self) -> dict[str, JsonValue]:
        core = self._cabin

        async def step() -> None:
            if core.state is not S.OUT_OF_SERVICE:
                raise MaintenanceRefused("not_out_of_service", f"the cabin is not out of service (it is "
                                         f"{core.state.value})")
            if not core.out_of_service_by_technician():
                raise MaintenanceRefused("not_technician", f"the cabin is out of service for a fault, not by a "
                                         f"technician ({core.fault}): it returns to service once that is repaired")
            await core.return_to_service()
            await core.fire("settle", reason="remote")  # awaiting cleaning when the mark is set

        await core.act(step)
        return {"state": core.state.value, "cleaning_required": core.cleaning_required()}

    async def _answer(self, run: Maintenance, result: dict[str, JsonValue] | None, code: str | None,
                      error: str | None) -> MaintenanceResult:
        """The result, once the run is in the audit trail (appended under the cabin's lock, in time order)."""
        core = self._cabin

        async def step() -> None:
            await self._audit.append(core.clock.now(), "-", "remote_maintenance", run=run.run, action=run.action,
                                     technician=run.technician, ok=result is not None, code=code or "")

        try:
            await core.act(step)
        except StationError as exc:
            log.warning("remote %s by %s is not audited: %s", run.action, run.technician, exc)
        try:
            return MaintenanceResult(run=run.run, action=run.action, ok=result is not None, result=result,
                                     code=code, error=error[:500] if error else None)
        except ValidationError:
            return MaintenanceResult(run=run.run, action=run.action, ok=False, code="failed",
                                     error=f"the result is larger than {MAX_RESULT_BYTES} bytes")

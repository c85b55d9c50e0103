"""Staff actions: badges for cleaning and maintenance, cleaning steps, out of service."""

from __future__ import annotations

from datetime import datetime

from hygiene.badges import Badge, BadgeError, Role
from hygiene.cleaning import CleaningRefused, CleaningRun
from protocol.states import CabinState
from session.core import CabinCore, CabinRefusal

S = CabinState


class StaffDesk(CabinCore):
    """What the hygiene referent's and the technician's badges and screens do."""

    async def present_badge(self, raw: str) -> Role:
        """A staff badge on the reader: start or finish a cleaning, enter or leave maintenance."""

        async def step() -> Role:
            now = self.clock.now()
            try:
                badge = await self.registry.identify(raw)
            except BadgeError as exc:
                await self.audit.append(now, "-", "badge_refused", state=self.state.value)
                self._emit("notice", "", {"event": "badge_refused", "message": str(exc)})
                raise CabinRefusal("badge_refused", str(exc)) from exc
            if badge.role is Role.HYGIENE_REFERENT:
                await self._referent_badge(badge, now)
            else:
                await self._technician_badge(badge, now)
            return badge.role

        role: Role = await self._run(step)
        return role

    async def _referent_badge(self, badge: Badge, now: datetime) -> None:
        if self.state is S.AWAITING_CLEANING:
            self.cleaning_run = CleaningRun(self.config.cleaning, badge, now)
            await self.trigger("start_cleaning", reason=badge.hash)
        elif self.state is S.CLEANING and self.cleaning_run is not None:
            try:
                proof = self.cleaning_run.finish(badge, now)
            except CleaningRefused as exc:
                self._emit("notice", "", {"event": "cleaning_refused", "message": str(exc)})
                raise CabinRefusal("cleaning_incomplete", str(exc)) from exc
            await self.trigger("cleaning_done", proof=proof)
        else:
            raise CabinRefusal("no_cleaning_due", "no cleaning is due now", state=self.state.value)

    async def _technician_badge(self, badge: Badge, now: datetime) -> None:
        if self.state is S.MAINTENANCE:
            await self.trigger("settle", reason=badge.hash)
        elif self.state in (S.READY, S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE):
            await self.trigger("enter_maintenance", reason=badge.hash)
        else:
            raise CabinRefusal("busy", "the cabin is in use: maintenance must wait", state=self.state.value)

    async def confirm_cleaning_step(self, step_id: str) -> None:
        """The referent confirms the next step of the protocol on the screen."""

        async def step() -> None:
            self._require(S.CLEANING)
            assert self.cleaning_run is not None
            try:
                self.cleaning_run.confirm(step_id, self.clock.now())
            except CleaningRefused as exc:
                raise CabinRefusal("wrong_step", str(exc)) from exc
            await self.audit.append(self.clock.now(), "-", "cleaning_step", step=step_id)
            self._disarm()
            self._arm()
            self._emit("state", "", {"state": self.state.value})

        await self._run(step)

    async def set_out_of_service(self, reason: str) -> None:
        """From maintenance, a technician takes the cabin out of service with a reason shown to patients."""

        async def step() -> None:
            self._require(S.MAINTENANCE)
            self.record = await self.store.set_out_of_service(self.clock.now(), reason.strip() or "maintenance")
            self.fault = self.record.out_of_service_reason
            await self.trigger("take_out_of_service", reason="technician")

        await self._run(step)

    async def return_to_service(self) -> None:
        """From maintenance, clear a technician's out-of-service reason (never the cleaning mark)."""

        async def step() -> None:
            self._require(S.MAINTENANCE)
            self.record = await self.store.set_out_of_service(self.clock.now(), "")
            self.fault = None

        await self._run(step)

"""Staff actions: badges for cleaning and maintenance, cleaning steps, out of service."""

from __future__ import annotations

from datetime import datetime

from config.schema import CleaningProtocol
from hygiene.audit import AuditTrail
from hygiene.badges import Badge, BadgeError, BadgeRegistry, Role
from hygiene.cleaning import CleaningRefused, CleaningRun
from protocol.states import CabinState
from session.core import CabinCore, CabinRefusal
from session.events import ScreenChanged, StaffRefused

S = CabinState
_MAINTAINABLE = (S.READY, S.CLOSED, S.AWAITING_CLEANING, S.OUT_OF_SERVICE)


class StaffDesk:
    """What the hygiene referent's and the technician's badges and screens do."""

    def __init__(self, core: CabinCore, *, registry: BadgeRegistry, audit: AuditTrail,
                 protocol: CleaningProtocol, closing: CleaningProtocol | None = None) -> None:
        """`closing`: on board, the full protocol due when a stop closes (docs/design.md, "On board")."""
        self._core = core
        self._registry = registry
        self._audit = audit
        self._protocol = protocol
        self._closing = closing

    def protocol_due(self) -> CleaningProtocol:
        """The protocol the mark calls for: the closing one once a stop has closed, else the usual one."""
        if self._closing is not None and self._core.closing_due():
            return self._closing
        return self._protocol

    async def present_badge(self, raw: str) -> Role:
        """A staff badge on the reader: start or finish a cleaning, enter or leave maintenance."""
        core = self._core

        async def step() -> Role:
            now = core.clock.now()
            try:
                badge = await self._registry.identify(raw)
            except BadgeError as exc:
                await self._audit.append(now, "-", "badge_refused", state=core.state.value)
                core.emit(StaffRefused("badge", str(exc)))
                raise CabinRefusal("badge_refused", str(exc)) from exc
            if badge.role is Role.HYGIENE_REFERENT:
                await self._referent_badge(badge, now)
            else:
                await self._technician_badge(badge)
            return badge.role

        return await core.act(step)

    async def _referent_badge(self, badge: Badge, now: datetime) -> None:
        core = self._core
        run = core.cleaning
        if core.state is S.AWAITING_CLEANING:
            await core.begin_cleaning(CleaningRun(self.protocol_due(), badge, now), reason=badge.hash)
        elif core.state is S.CLEANING and run is not None:
            try:
                proof = run.finish(badge, now)
            except CleaningRefused as exc:
                core.emit(StaffRefused("cleaning", str(exc)))
                raise CabinRefusal("cleaning_incomplete", str(exc)) from exc
            await core.finish_cleaning(proof)
        else:
            raise CabinRefusal("no_cleaning_due", "no cleaning is due now", state=core.state.value)

    async def _technician_badge(self, badge: Badge) -> None:
        core = self._core
        if core.state is S.MAINTENANCE:
            await core.fire("settle", reason=badge.hash)
        elif core.state in _MAINTAINABLE:
            await core.fire("enter_maintenance", reason=badge.hash)
        else:
            raise CabinRefusal("busy", "the cabin is in use: maintenance must wait", state=core.state.value)

    async def confirm_cleaning_step(self, step_id: str) -> None:
        """The referent confirms the next step of the protocol on the screen."""
        core = self._core

        async def step() -> None:
            core.require(S.CLEANING)
            run = core.cleaning
            assert run is not None
            try:
                run.confirm(step_id, core.clock.now())
            except CleaningRefused as exc:
                raise CabinRefusal("wrong_step", str(exc)) from exc
            await self._audit.append(core.clock.now(), "-", "cleaning_step", step=step_id)
            core.restart_timer()
            core.emit(ScreenChanged(""))

        await core.act(step)

    async def set_out_of_service(self, reason: str) -> None:
        """From maintenance, a technician takes the cabin out of service with a reason shown to patients."""

        async def step() -> None:
            self._core.require(S.MAINTENANCE)
            await self._core.set_out_of_service(reason.strip() or "maintenance")

        await self._core.act(step)

    async def return_to_service(self) -> None:
        """From maintenance, clear a technician's out-of-service reason (never the cleaning mark)."""

        async def step() -> None:
            self._core.require(S.MAINTENANCE)
            await self._core.return_to_service()

        await self._core.act(step)

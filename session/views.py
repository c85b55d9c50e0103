"""What the kiosk screen is allowed to show, built from a snapshot of the cabin alone.

The page holds no state of its own: it renders this view. Personal data appears only in
the states where the patient needs it (their name and birth year to confirm identity,
their own readings during the consultation) and never once the session has ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from config.schema import CleaningProtocol, MobileUnit, Site, Timeouts
from devices.instrument import DeviceHealth
from protocol.states import CabinState as S
from session.consultation import CabinSnapshot, CleaningSnapshot, ConsultationSnapshot
from session.machine import timeout_for

_TOUCHABLE = (S.CHECKING_IN, S.ELIGIBILITY)
_IDENTITY_SHOWN = (S.CHECKING_IN, S.ELIGIBILITY)
RECENT_CLEANINGS_SHOWN = (S.AWAITING_CLEANING, S.CLEANING)


@dataclass(frozen=True, slots=True)
class CameraView:
    """The examination camera the GP is looking through, and its advice to the patient."""

    device: str
    kind: str
    guidance: str | None


@dataclass(frozen=True, slots=True)
class ScreenContext:
    """What the screen shows beside the cabin's own state: the place, the rules, the devices."""

    place: Site | MobileUnit
    timeouts: Timeouts
    cleaning: CleaningProtocol
    checkin_paused_s: float
    devices: Sequence[DeviceHealth]
    camera: CameraView | None
    recent_cleanings: Sequence[dict[str, object]]
    on_board: bool = False  # the vehicle's station: the screen is the waiting room's (docs/design.md, "On board")
    board: dict[str, object] | None = None  # on board: the ticket called and the tickets waiting, numbers only
    auscultation: str | None = None  # where the GP asks the patient to place the stethoscope


def kiosk_view(cabin: CabinSnapshot, context: ScreenContext) -> dict[str, object]:
    """The JSON the kiosk page renders; `recent_cleanings` (no names) shows on the cleaning screens."""
    place, nxt, current = context.place, cabin.next_opening, cabin.current_period
    view: dict[str, object] = {
        "state": cabin.state.value,
        "site": {
            "code": place.code, "name": place.name, "phone": place.phone,
            "address": place.address if isinstance(place, Site) else None, "mobile": isinstance(place, MobileUnit),
        },
        "now": cabin.now.isoformat(),
        "open": cabin.open,
        "closes_at": current.end.isoformat() if current else None,
        "next_opening": {"start": nxt.start.isoformat(), "end": nxt.end.isoformat(), "place": nxt.place}
        if nxt else None,
        "cleaning_required": cabin.cleaning_required,
        "out_of_service_reason": cabin.fault if cabin.state is S.OUT_OF_SERVICE else None,
        "checkin_paused_s": round(context.checkin_paused_s),
        "inactivity_s": timeout_for(cabin.state, context.timeouts) if cabin.state in _TOUCHABLE else None,
        "degraded": [health.device_id for health in context.devices if not health.connected],
        "on_board": context.on_board,
    }
    if context.on_board:
        view["board"] = context.board or {"called": None, "waiting": []}
    if cabin.state is S.MAINTENANCE:
        view["devices"] = [health.to_json() for health in context.devices]
    if cabin.state in RECENT_CLEANINGS_SHOWN:
        view["recent_cleanings"] = list(context.recent_cleanings)
    if cabin.consultation is not None:
        view["session"] = _session_view(cabin, cabin.consultation, context)
    if cabin.cleaning is not None:
        view["cleaning"] = _cleaning_view(cabin.cleaning, context.cleaning)
    return view


def _session_view(cabin: CabinSnapshot, c: ConsultationSnapshot, context: ScreenContext) -> dict[str, object]:
    view: dict[str, object] = {"id": c.session, "refusal": c.refusal.to_json() if c.refusal else None}
    if c.appointment is not None and cabin.state in _IDENTITY_SHOWN:
        view["patient"] = {"name": c.appointment.patient_name, "birth_year": c.appointment.birth_date.year}
    if c.eligibility is not None:
        view["eligibility"] = {"age": c.eligibility.age, "verdict": c.eligibility.verdict.value}
    if c.waiting_since is not None:
        view["waiting_s"] = round((cabin.now - c.waiting_since).total_seconds())
    if c.gp is not None:
        view["gp"] = {"name": c.gp.name}
    view["requested"] = {"kind": c.requested.kind, "device": c.requested.device} if c.requested else None
    camera = context.camera
    view["camera"] = ({"device": camera.device, "kind": camera.kind, "guidance": camera.guidance}
                      if camera is not None and cabin.state is S.IN_CONSULTATION else None)
    view["auscultation"] = ({"point": context.auscultation}
                            if context.auscultation is not None and cabin.state is S.IN_CONSULTATION else None)
    view["readings"] = [{**taken.reading.to_json(), "stale": taken.stale(cabin.monotonic)} for taken in c.readings]
    view["prints"] = [report.to_json() for report in c.prints]
    return view


def _cleaning_view(run: CleaningSnapshot, protocol: CleaningProtocol) -> dict[str, object]:
    return {
        "steps": [{"id": s.id, "text": s.text, "done": s.id in run.done} for s in protocol.steps],
        "next_step": run.next_step,
        "contact_remaining_s": round(run.contact_remaining_s),
        "contact_started": protocol.contact_starts_after in run.done,
    }

"""What the kiosk screen is allowed to show, built from the cabin's state alone.

The page holds no state of its own: it renders this view. Personal data appears only in
the states where the patient needs it (their name and birth year to confirm identity,
their own readings during the consultation) and never once the session has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from config.schema import MobileUnit
from protocol.states import CabinState as S
from session.machine import timeout_for

if TYPE_CHECKING:
    from session.cabin import Cabin
    from session.core import Consultation


_TOUCHABLE = (S.CHECKING_IN, S.ELIGIBILITY)
RECENT_CLEANINGS_SHOWN = (S.AWAITING_CLEANING, S.CLEANING)


def kiosk_view(cabin: Cabin, recent_cleanings: list[dict[str, object]] | None = None) -> dict[str, object]:
    """The JSON the kiosk page renders; `recent_cleanings` (no names) shows on the cleaning screens."""
    now = cabin.clock.now()
    place = cabin.config.place()
    nxt = cabin.schedule.next_opening(now)
    current = cabin.schedule.current(now)
    view: dict[str, object] = {
        "state": cabin.state.value,
        "site": {
            "code": place.code, "name": place.name, "phone": place.phone,
            "address": getattr(place, "address", None), "mobile": isinstance(place, MobileUnit),
        },
        "now": now.isoformat(),
        "open": cabin.is_open(),
        "closes_at": current.end.isoformat() if current else None,
        "next_opening": {"start": nxt.start.isoformat(), "end": nxt.end.isoformat(), "place": nxt.place}
        if nxt else None,
        "cleaning_required": cabin.cleaning_required(),
        "out_of_service_reason": cabin.fault if cabin.state is S.OUT_OF_SERVICE else None,
        "checkin_paused_s": round(cabin.desk.paused_for(cabin.clock.monotonic())),
        "inactivity_s": timeout_for(cabin.state, cabin.config.timeouts) if cabin.state in _TOUCHABLE else None,
        "degraded": cabin.devices.degraded(),
    }
    if cabin.state is S.MAINTENANCE:
        view["devices"] = [health.to_json() for health in cabin.devices.health()]
    if cabin.state in RECENT_CLEANINGS_SHOWN:
        view["recent_cleanings"] = list(recent_cleanings or [])
    c = cabin.consultation
    if c is not None:
        view["session"] = _session_view(cabin, c)
    if cabin.state is S.CLEANING and cabin.cleaning_run is not None:
        run = cabin.cleaning_run
        done = {step for step, _ in run.done}
        view["cleaning"] = {
            "steps": [{"id": s.id, "text": s.text, "done": s.id in done} for s in cabin.config.cleaning.steps],
            "next_step": run.next_step,
            "contact_remaining_s": round(run.contact_remaining(now)),
            "contact_started": cabin.config.cleaning.contact_starts_after in done,
        }
    return view


def _session_view(cabin: Cabin, c: Consultation) -> dict[str, object]:
    view: dict[str, object] = {"id": c.session, "refusal": c.refusal}
    if c.appointment is not None and cabin.state in (S.CHECKING_IN, S.ELIGIBILITY):
        view["patient"] = {"name": c.appointment.patient_name, "birth_year": c.appointment.birth_date.year}
    if c.eligibility is not None:
        view["eligibility"] = {"age": c.eligibility.age, "verdict": c.eligibility.verdict.value}
    if c.waiting_since is not None:
        view["waiting_s"] = round((cabin.clock.now() - c.waiting_since).total_seconds())
    if c.gp is not None:
        view["gp"] = {"name": c.gp.name}
    view["requested"] = c.requested
    view["camera"] = _camera(cabin) if cabin.state is S.IN_CONSULTATION else None
    now = cabin.clock.monotonic()
    view["readings"] = [
        {**r.to_json(), "stale": cabin.devices.is_stale(r, now)} for kind, r in c.readings.items() if kind != "pleth"
    ]
    view["prints"] = list(c.prints.values())
    return view


def _camera(cabin: Cabin) -> dict[str, object] | None:
    """The camera instrument the GP is looking through (the otoscope) and its advice ("hold_still")."""
    for instrument in cabin.devices.instruments:
        # Duck-typed: session never imports drivers; only camera instruments capture and advise.
        advise = getattr(instrument, "guidance", None)
        if getattr(instrument, "capturing", False) is True and callable(advise):
            advice = advise()
            return {"device": instrument.device_id, "kind": instrument.config.kind,
                    "guidance": advice if isinstance(advice, str) else None}
    return None

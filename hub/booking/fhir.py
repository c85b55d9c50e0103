"""The book as a FHIR R4 API for booking platforms, in the shape of the ANS "Service d'Accès aux Soins"
guide (docs/design.md, "FHIR and iCalendar").

Resources: `Location` per site (its code as identifier), `Schedule` per cabin (actors: its site and the
GPs given it), and per stop of a mobile unit a `Location` and a `Schedule` per cabin (hub/booking/fhir_stops.py),
`PractitionerRole` per GP (her national identifier, name and qualification: nothing
else), `Slot` for each free slot (`Book.free_slots`), `Appointment` for a booking made or cancelled
through the API. Every resource in and out is built and validated with `fhir.resources` (R4B, whose
resources used here are R4's); every refusal is an `OperationOutcome` with the HTTP status of the
book's refusal, and changes nothing.

Routes under /fhir/r4/, all behind `Authorization: Bearer <token>` of a [[fhir_clients]] entry:
  GET  Slot?start=ge..&start=le..&schedule.actor:...&_include=...   free slots (searchset Bundle)
  GET  Location, Schedule, PractitionerRole (and /{id})              what slots hang on
  POST Appointment                                                    book a slot (201)
  GET  Appointment/{id}; PUT or PATCH Appointment/{id}                read or cancel one the client made
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from pydantic import ValidationError

from hub.accounts import AccountDirectory
from hub.auth import bearer_account
from hub.booking.book import Book
from hub.booking.fhir_stops import day_id, split_day_id, stop_location, stop_schedule
from hub.booking.records import BookingRequest, BookingView, FreeSlot
from hub.config import FhirClient, GpAccount, HubConfig, SiteSection, StopSection
from hub.errors import Refusal

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
# An Appointment with its contained Patient is about 1.5 KiB; the cap sits well under the hub's
# own (hub.server.MAX_BODY_BYTES), so this route answers an oversized body itself, as FHIR.
MAX_FHIR_BODY_BYTES = 8 * 1024
IDNPS = "urn:oid:1.2.250.1.71.4.2.1"  # the ANS's national practitioner identifier: "8" + RPPS
SITE_CODE = "urn:cabin:site-code"  # the sites' public codes (hub/config.py, SiteSection)
BOOKING_CODE = "urn:cabin:booking-code"  # the code a patient checks in with (protocol/booking_code.py)
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
MAX_ISSUES = 10

R = TypeVar("R", bound=Resource)
Handler = Callable[[web.Request, FhirClient], Awaitable[web.Response]]

_ISSUE_CODES = {400: "structure", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict",
                413: "too-long", 415: "not-supported", 422: "business-rule", 429: "throttled"}
_STATUS_OUT = {"booked": "booked", "cancelled": "cancelled", "no_show": "noshow"}
# Where in an Appointment each refusal of the book points (FHIRPath); any other: its slot.
_REFUSAL_PATHS = {"impossible_birth_date": "{patient}.birthDate", "under_14": "{patient}.birthDate",
                  "representative_needed": "{patient}.contact", "contact_needed": "{patient}.telecom",
                  "too_many_bookings": "{patient}", "unknown_gp": "Appointment.participant",
                  "no_gp_on_duty": "Appointment.participant"}
_REQUEST_PATHS = {"patient_name": "name", "birth_date": "birthDate", "sex": "gender", "phone": "telecom",
                  "email": "telecom", "representative": "contact", "language": "communication"}


def fhir_id(text: str) -> str:
    """`text` as a FHIR id ([A-Za-z0-9-], no dot: slot ids use one), or a digest of it when it is not one."""
    if re.fullmatch(r"[A-Za-z0-9-]{1,48}", text):
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def slot_id(slot: FreeSlot) -> str:
    """A slot's id: its cabin's FHIR id and its start in UTC, '<cabin>.<YYYYMMDDHHMM>'."""
    return f"{fhir_id(slot.station_id)}.{slot.start.astimezone(UTC):%Y%m%d%H%M}"


def idnps(gp: GpAccount) -> str:
    """A GP's national identifier (IdNat_PS) as the ANS writes it: '8' then her RPPS number."""
    return "8" + gp.identity.rpps


def outcome(status: int, code: str, message: str, expression: Sequence[str] = (), *,
            issues: Sequence[tuple[str, str]] = ()) -> OperationOutcome:
    """The OperationOutcome of a refusal: one issue, or one per (path, message) of `issues`."""
    kind = _ISSUE_CODES.get(status, "exception")
    found = issues or [(path, message) for path in expression] or [("", message)]
    return OperationOutcome.model_validate({"issue": [
        {"severity": "error", "code": kind, "diagnostics": text, "details": {"text": code},
         **({"expression": [path]} if path else {})}
        for path, text in found[:MAX_ISSUES]]})


def validation_issues(exc: ValidationError, root: str) -> list[tuple[str, str]]:
    """Each error of `exc` as (FHIRPath of the failing element, message)."""
    out = []
    for error in exc.errors():
        path = root
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        out.append((path.replace(".resource_type", ".resourceType"), error["msg"]))
    return out


def location(site: SiteSection) -> Location:
    """A site: its code as identifier, name, address (a mobile unit: a vehicle, its stops elsewhere)."""
    values: dict[str, Any] = {
        "id": fhir_id(site.code), "identifier": [{"system": SITE_CODE, "value": site.code}],
        "status": "active", "name": site.name, "mode": "instance",
    }
    if site.address:
        values["address"] = {"text": site.address, "city": site.town, "country": "FR"}
    if site.mobile:
        values["physicalType"] = {"coding": [{"system": LOCATION_PHYSICAL_TYPE, "code": "ve", "display": "Vehicle"}]}
    return Location.model_validate(values)


def practitioner_role(gp: GpAccount, sites: Iterable[str]) -> PractitionerRole:
    """A GP as her published identity: national identifier, name, qualification, the sites she serves."""
    return PractitionerRole.model_validate({
        "id": gp.identity.rpps, "active": True,
        "practitioner": {"identifier": {"system": IDNPS, "value": idnps(gp)}, "display": gp.identity.name},
        "specialty": [{"text": gp.identity.qualification}],
        "location": [{"reference": f"Location/{fhir_id(code)}"} for code in sites],
    })


def schedule(station_id: str, site: SiteSection, gps: Iterable[GpAccount]) -> Schedule:
    """A cabin's schedule: its actors are its site and the GPs given the cabin."""
    return Schedule.model_validate({
        "id": fhir_id(station_id), "active": True,
        "identifier": [{"value": station_id}],
        "actor": [{"reference": f"Location/{fhir_id(site.code)}", "display": site.name},
                  *({"reference": f"PractitionerRole/{gp.identity.rpps}", "display": gp.identity.name} for gp in gps)],
        "comment": f"Cabin {station_id} at {site.name}",
    })


def slot(free: FreeSlot, zone: ZoneInfo, schedule_id: str | None = None) -> Slot:
    """A free slot of a cabin's schedule (`schedule_id`, the cabin's own by default), its times in the site's zone."""
    return Slot.model_validate({
        "id": slot_id(free), "schedule": {"reference": f"Schedule/{schedule_id or fhir_id(free.station_id)}"},
        "status": "free",
        "start": free.start.astimezone(zone).isoformat(), "end": free.end.astimezone(zone).isoformat(),
    })


def appointment(view: BookingView, zone: ZoneInfo, gp: GpAccount | None) -> Appointment:
    """A booking as an Appointment: its code as identifier, its patient contained (for the client that made it)."""
    name = view.patient_name.rsplit(" ", 1)
    telecom = [{"system": "phone", "value": view.phone}] if view.phone else []
    telecom += [{"system": "email", "value": view.email}] if view.email else []
    patient: dict[str, Any] = {
        "resourceType": "Patient", "id": "patient",
        "name": [{"text": view.patient_name, "family": name[-1], **({"given": [name[0]]} if len(name) > 1 else {})}],
        "birthDate": view.birth_date.isoformat(), "gender": "female" if view.sex == "F" else "male",
        **({"telecom": telecom} if telecom else {}),
        **({"contact": [{"name": {"text": view.representative}}]} if view.representative else {}),
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": view.language}]}}],
    }
    free = FreeSlot(view.station_id, view.site_code, view.slot_start, view.slot_end, ())
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": "#patient"}, "status": "accepted"},
        {"actor": {"reference": f"Location/{fhir_id(view.site_code)}"}, "status": "accepted"},
    ]
    if gp is not None:
        participants.append({"actor": {"reference": f"PractitionerRole/{gp.identity.rpps}",
                                       "display": gp.identity.name}, "status": "accepted"})
    return Appointment.model_validate({
        "id": view.id, "identifier": [{"system": BOOKING_CODE, "value": view.code}],
        "status": _STATUS_OUT.get(view.status, "entered-in-error"),
        **({"cancelationReason": {"text": view.reason}} if view.status == "cancelled" and view.reason else {}),
        "start": view.slot_start.astimezone(zone).isoformat(), "end": view.slot_end.astimezone(zone).isoformat(),
        "slot": [{"reference": f"Slot/{slot_id(free)}"}], "contained": [patient], "participant": participants,
    })


def parse_slot(reference: str, config: HubConfig, accounts: AccountDirectory) -> tuple[str, SiteSection, datetime]:
    """(cabin, site, start) of a 'Slot/<cabin>.<YYYYMMDDHHMM>' reference, or a 404 refusal."""
    match = re.fullmatch(r"(?:Slot/)?([A-Za-z0-9-]{1,48})\.([0-9]{12})", reference)
    cabins = {fhir_id(s.id): s for s in accounts.stations if s.site_code}
    if match is None or match[1] not in cabins:
        raise Refusal(404, "unknown_slot", f"there is no slot {reference!r}", expression="Appointment.slot[0]")
    try:
        start = datetime.strptime(match[2], "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        raise Refusal(404, "unknown_slot", f"there is no slot {reference!r}", expression="Appointment.slot[0]") \
            from None
    station = cabins[match[1]]
    site = config.site(station.site_code or "")
    assert site is not None  # the accounts check every station's site_code
    return station.id, site, start


def booking_request(resource: Appointment, config: HubConfig, accounts: AccountDirectory) -> tuple[BookingRequest, str]:
    """The BookingRequest an Appointment makes and the path of its Patient, or a refusal naming the element
    that is wrong."""
    if resource.status != "booked":
        raise Refusal(422, "invalid_status", "a new Appointment has status 'booked'", expression="Appointment.status")
    if not resource.slot or len(resource.slot) != 1 or not resource.slot[0].reference:
        raise Refusal(422, "slot_needed", "an Appointment books exactly one Slot, by reference",
                      expression="Appointment.slot")
    station_id, site, start = parse_slot(resource.slot[0].reference, config, accounts)
    if resource.start is not None and resource.start != start:
        raise Refusal(422, "start_mismatch", "the Appointment's start is not its slot's",
                      expression="Appointment.start")
    patients = {f"#{r.id}": (i, r) for i, r in enumerate(resource.contained or []) if isinstance(r, Patient)}
    actors = [p.actor.reference for p in resource.participant if p.actor is not None and p.actor.reference]
    chosen = [patients[a] for a in actors if a in patients]
    if len(chosen) != 1:
        raise Refusal(422, "patient_needed", "one participant is the Patient, contained and referred to as '#<id>'",
                      expression="Appointment.participant")
    index, patient = chosen[0]
    gps = [g for g in accounts.gps if f"PractitionerRole/{g.identity.rpps}" in actors]
    if any(a.startswith("PractitionerRole/") for a in actors) and len(gps) != 1:
        raise Refusal(404, "unknown_gp", "the PractitionerRole participant is not one of the hub's GPs",
                      expression="Appointment.participant")
    where = f"Appointment.contained[{index}]"
    name = next(iter(patient.name or []), None)
    text = (name.text or " ".join(p for p in [*(name.given or []), name.family] if p)).strip() if name else ""
    if patient.gender not in ("female", "male"):
        raise Refusal(422, "gender_needed", "the cabin's booking needs the patient's gender, female or male",
                      expression=f"{where}.gender")
    telecom = {t.system: t.value for t in reversed(patient.telecom or []) if t.value}
    language = next((c.code for comm in patient.communication or [] for c in comm.language.coding or []), None)
    contact = next((c.name.text for c in patient.contact or [] if c.name is not None and c.name.text), None)
    values: dict[str, Any] = {
        "site": site.code, "start": start, "station": station_id,
        "gp": gps[0].username if gps else None, "patient_name": text, "birth_date": patient.birthDate,
        "sex": "F" if patient.gender == "female" else "M", "representative": contact,
        "phone": telecom.get("phone") or telecom.get("sms"), "email": telecom.get("email"),
        **({"language": language} if language in ("fr", "en") else {}),
        # A nominated primary care provider is a regular doctor; FHIR has no way to say "none", so no
        # generalPractitioner is no answer (docs/design.md, "Activity").
        "regular_doctor": True if patient.generalPractitioner else None,
    }
    try:
        return BookingRequest.model_validate(values), where
    except ValidationError as exc:
        issues = [(f"{where}.{_REQUEST_PATHS.get(str(e['loc'][0]), '')}".rstrip("."), e["msg"]) for e in exc.errors()]
        raise Refusal(422, "invalid_patient", issues[0][1], issues=issues) from None


class FhirApi:
    """The FHIR routes over the hub's book; `origin` says the hub's public origin (its base URL)."""

    def __init__(self, book: Book, config: HubConfig, origin: Callable[[], str]) -> None:
        self._book = book
        self._config = config
        self._origin = origin

    def routes(self) -> list[web.AbstractRouteDef]:
        """The routes under /fhir/r4/."""
        return [
            web.get("/fhir/r4/Slot", self._guarded(self._search_slots)),
            web.get("/fhir/r4/Location", self._guarded(self._locations)),
            web.get("/fhir/r4/Location/{id}", self._guarded(self._locations)),
            web.get("/fhir/r4/Schedule", self._guarded(self._schedules)),
            web.get("/fhir/r4/Schedule/{id}", self._guarded(self._schedules)),
            web.get("/fhir/r4/PractitionerRole", self._guarded(self._roles)),
            web.get("/fhir/r4/PractitionerRole/{id}", self._guarded(self._roles)),
            web.post("/fhir/r4/Appointment", self._guarded(self._create)),
            web.get("/fhir/r4/Appointment/{id}", self._guarded(self._read)),
            web.put("/fhir/r4/Appointment/{id}", self._guarded(self._update)),
            web.patch("/fhir/r4/Appointment/{id}", self._guarded(self._patch)),
        ]

    @property
    def base(self) -> str:
        return f"{self._origin()}/fhir/r4"

    # Guards: the client's token, and refusals as OperationOutcome.

    def client(self, authorization: str) -> FhirClient:
        """The [[fhir_clients]] entry whose token `Authorization: Bearer <token>` shows, or a 401 refusal."""
        return bearer_account(self._config.fhir_clients, authorization,
                              "a booking platform calls with 'Authorization: Bearer <its token>'")

    def _guarded(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def guarded(request: web.Request) -> web.Response:
            try:
                return await handler(request, self.client(request.headers.get("Authorization", "")))
            except Refusal as exc:
                expression = exc.details.get("expression")
                issues = exc.details.get("issues")
                response = respond(outcome(exc.status, exc.code, str(exc), [str(expression)] if expression else (),
                                           issues=issues if isinstance(issues, list) else ()), exc.status)
                if exc.status == 401:
                    response.headers["WWW-Authenticate"] = 'Bearer realm="cabin hub FHIR"'
                return response
        return guarded

    # Reading.

    def _sites(self) -> list[SiteSection]:
        return [s for s in self._config.sites if self._book.accounts.cabins(s.code)]

    def _gps(self, station_id: str) -> list[GpAccount]:
        return [g for g in self._book.accounts.gps if station_id in g.stations]

    def _schedule(self, station_id: str) -> Schedule:
        account = self._book.accounts.station(station_id)
        site = self._config.site(account.site_code or "") if account is not None else None
        assert site is not None
        return schedule(station_id, site, self._gps(station_id))

    def _stops(self) -> list[tuple[SiteSection, StopSection]]:
        """The planned stops, from today on, of the mobile units with a cabin, as the store holds them."""
        out = []
        for code in (s.code for s in self._sites() if s.mobile):
            site = self._book.programme.site(code)
            if site is not None:
                today = self._book.now().astimezone(site.zone).date()
                out += [(site, stop) for stop in site.stops if stop.date >= today]
        return out

    def _stop_schedules(self, site: SiteSection, stop: StopSection) -> list[Schedule]:
        return [stop_schedule(fhir_id(c), c, site, fhir_id(site.code), stop, self._gps(c))
                for c in self._book.accounts.cabins(site.code)]

    def _schedule_of(self, free: FreeSlot, zone: ZoneInfo) -> str:
        """The id of a free slot's Schedule: its cabin's, or its cabin's at the stop that day."""
        site = self._config.site(free.site_code)
        cabin = fhir_id(free.station_id)
        return day_id(cabin, free.start.astimezone(zone).date()) if site is not None and site.mobile else cabin

    def _role(self, gp: GpAccount) -> PractitionerRole:
        codes = dict.fromkeys(s.site_code for s in self._book.accounts.stations
                              if s.id in gp.stations and s.site_code)
        return practitioner_role(gp, [c for c in codes if c is not None])

    async def _locations(self, request: web.Request, client: FhirClient) -> web.Response:
        stops = [stop_location(site, fhir_id(site.code), stop) for site, stop in self._stops()]
        found = {str(r.id): r for r in [*(location(s) for s in self._sites()), *stops]}
        return self._read_or_list(request, "Location", found)

    async def _schedules(self, request: web.Request, client: FhirClient) -> web.Response:
        cabins = dict.fromkeys(s.id for s in self._book.accounts.stations if s.site_code)
        stops = [r for site, stop in self._stops() for r in self._stop_schedules(site, stop)]
        found = {str(r.id): r for r in [*(self._schedule(c) for c in cabins), *stops]}
        return self._read_or_list(request, "Schedule", found)

    async def _roles(self, request: web.Request, client: FhirClient) -> web.Response:
        roles = {g.identity.rpps: self._role(g) for g in self._book.accounts.gps}
        return self._read_or_list(request, "PractitionerRole", roles)

    def _read_or_list(self, request: web.Request, kind: str, resources: Mapping[str, Resource]) -> web.Response:
        wanted = request.match_info.get("id")
        if wanted is None:
            return respond(self._bundle(request, list(resources.values()), []))
        if wanted not in resources:
            raise Refusal(404, "not_found", f"there is no {kind}/{wanted}")
        return respond(resources[wanted])

    def _bundle(self, request: web.Request, matches: Sequence[Resource], included: Sequence[Resource]) -> Bundle:
        entries = [{"fullUrl": f"{self.base}/{r.get_resource_type()}/{r.id}", "resource": r, "search": {"mode": mode}}
                   for rs, mode in ((matches, "match"), (included, "include")) for r in rs]
        return Bundle.model_validate({
            "type": "searchset", "total": len(matches),
            "link": [{"relation": "self", "url": f"{self.base}/{request.path.rsplit('/', 1)[-1]}"
                      + (f"?{request.query_string}" if request.query_string else "")}],
            "entry": entries,
        })

    async def _search_slots(self, request: web.Request, client: FhirClient) -> web.Response:
        search = SlotSearch.of(request.query.items(), self._config, self._book.accounts,
                               strict="handling=strict" in request.headers.get("Prefer", ""))
        now = self._book.now()
        frees: list[FreeSlot] = []
        if search.status in (None, "free"):
            for site in self._sites():
                if search.sites is not None and site.code not in search.sites:
                    continue
                start, end = search.window(site.zone, now, timedelta(days=self._config.booking.horizon_days))
                if end < start:
                    continue
                first = start.astimezone(site.zone).date()
                days = (end.astimezone(site.zone).date() - first).days + 1
                for gp in search.gps if search.gps is not None else [None]:
                    frees += [f for f in await self._book.free_slots(site.code, first, days, gp=gp)
                              if start <= f.start <= end and (search.cabins is None or f.station_id in search.cabins)
                              and (search.days is None or f.start.astimezone(site.zone).date() in search.days)]
        unique = {slot_id(f): f for f in sorted(frees, key=lambda f: (f.start, f.station_id))}
        zones = {s.code: s.zone for s in self._config.sites}
        matches = [slot(f, zones[f.site_code], self._schedule_of(f, zones[f.site_code])) for f in unique.values()]
        return respond(self._bundle(request, matches, self._included(search, list(unique.values()), zones)))

    def _included(self, search: SlotSearch, frees: Sequence[FreeSlot], zones: Mapping[str, ZoneInfo]) -> list[Resource]:
        """What a Slot search's `_include` asks for, of the slots found: the stops' when at a mobile unit."""
        included: list[Resource] = []
        cabins = list(dict.fromkeys(f.station_id for f in frees))
        stops = [(site, stop) for site, stop in self._stops()
                 if any(f.site_code == site.code and f.start.astimezone(site.zone).date() == stop.date for f in frees)]
        if search.include_schedules:
            at_stops = {r.id: r for site, stop in stops for r in self._stop_schedules(site, stop)}
            wanted = dict.fromkeys((self._schedule_of(f, zones[f.site_code]), f.station_id) for f in frees)
            included += [at_stops.get(found) or self._schedule(cabin) for found, cabin in wanted]
        if search.include_locations:
            codes = dict.fromkeys(f.site_code for f in frees)
            included += [location(s) for s in self._config.sites if s.code in codes]
            included += [stop_location(site, fhir_id(site.code), stop) for site, stop in stops]
        if search.include_roles:
            included += [self._role(g) for g in self._book.accounts.gps if any(c in g.stations for c in cabins)]
        return included

    # Booking and cancelling.

    async def _create(self, request: web.Request, client: FhirClient) -> web.Response:
        resource = parse(await body(request), Appointment)
        wanted, patient = booking_request(resource, self._config, self._book.accounts)
        try:
            view = await self._book.book(wanted, actor=f"fhir:{client.name}", channel="fhir")
        except Refusal as exc:
            exc.details.setdefault("expression", _REFUSAL_PATHS.get(exc.code, "Appointment.slot[0]").format(
                patient=patient))
            raise
        response = respond(self._appointment(view), 201)
        response.headers["Location"] = f"{self.base}/Appointment/{view.id}"
        return response

    async def _own(self, request: web.Request, client: FhirClient) -> BookingView:
        """The booking the URL names, if this client made it; any other is a 404, as an unknown one."""
        view = await self._book.get(request.match_info["id"])
        if view is None or view.created_by != f"fhir:{client.name}":
            raise Refusal(404, "unknown_booking", f"there is no Appointment/{request.match_info['id']} of yours")
        return view

    async def _read(self, request: web.Request, client: FhirClient) -> web.Response:
        return respond(self._appointment(await self._own(request, client)))

    async def _update(self, request: web.Request, client: FhirClient) -> web.Response:
        resource = parse(await body(request), Appointment)
        if resource.id != request.match_info["id"]:
            raise Refusal(400, "id_mismatch", "the Appointment's id is not the one in the URL",
                          expression="Appointment.id")
        if resource.status != "cancelled":
            raise Refusal(422, "only_cancel", "an Appointment is changed only to cancel it (status 'cancelled'): to "
                          "move one, cancel it and book another slot", expression="Appointment.status")
        reason = resource.cancelationReason.text if resource.cancelationReason is not None else None
        return await self._cancel(request, client, reason)

    async def _patch(self, request: web.Request, client: FhirClient) -> web.Response:
        if request.content_type != JSON_PATCH:
            raise Refusal(415, "unsupported_media_type", f"send a JSON Patch ({JSON_PATCH})")
        try:
            operations = json.loads(await body(request, JSON_PATCH))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Refusal(400, "malformed_json", f"the body is not JSON: {exc}") from None
        cancel = {"op": "replace", "path": "/status", "value": "cancelled"}
        if not isinstance(operations, list) or [op for op in operations if op.get("op") != "test"] != [cancel]:
            raise Refusal(422, "only_cancel", f"the one change an Appointment takes is {json.dumps(cancel)}",
                          expression="Appointment.status")
        return await self._cancel(request, client, None)

    async def _cancel(self, request: web.Request, client: FhirClient, reason: str | None) -> web.Response:
        view = await self._own(request, client)
        done = await self._book.cancel(view.code, actor=f"fhir:{client.name}",
                                       reason=(reason or f"cancelled through {client.name}")[:200])
        return respond(self._appointment(done))

    def _appointment(self, view: BookingView) -> Appointment:
        site = self._book.site(view.site_code)
        gp = self._book.accounts.gp(view.gp) if view.gp is not None else None
        return appointment(view, site.zone, gp)


class SlotSearch:
    """A Slot search's parameters: the window, the sites, cabins and GPs it is narrowed to, what to include."""

    def __init__(self) -> None:
        self.after: list[tuple[str, datetime | date]] = []
        self.sites: set[str] | None = None
        self.cabins: set[str] | None = None
        self.gps: list[str] | None = None
        self.status: str | None = None
        self.days: set[date] | None = None  # a stop's Location or Schedule narrows the search to its day
        self.include_schedules = self.include_locations = self.include_roles = False

    @staticmethod
    def of(params: Iterable[tuple[str, str]], config: HubConfig, accounts: AccountDirectory, *,
           strict: bool = False) -> SlotSearch:
        """The search `params` ask for; an unknown parameter is ignored, or refused with `strict`."""
        search = SlotSearch()
        cabins = {fhir_id(s.id): s.id for s in accounts.stations if s.site_code}
        for name, value in params:
            if name == "start":
                search.after.append(_bound(value))
            elif name == "status":
                search.status = value
            elif name == "schedule":
                key = value.removeprefix("Schedule/")
                at_stop = split_day_id(key) if key not in cabins else None
                if at_stop is not None:
                    key, _ = at_stop
                    search.days = _narrow_days(search.days, at_stop[1])
                search.cabins = _narrow(search.cabins, {cabins.get(key, "")})
            elif name in ("schedule.actor", "schedule.actor:Location", "schedule.actor:PractitionerRole"):
                kind, _, key = value.rpartition("/")
                kind = kind or name.partition(":")[2]
                if kind == "Location":
                    at_stop = split_day_id(key) if key not in {fhir_id(s.code) for s in config.sites} else None
                    if at_stop is not None:
                        key, _ = at_stop
                        search.days = _narrow_days(search.days, at_stop[1])
                    search.sites = _narrow(search.sites, {s.code for s in config.sites if fhir_id(s.code) == key})
                else:
                    search.gps = _only(search.gps, [g.username for g in accounts.gps
                                                    if kind == "PractitionerRole" and g.identity.rpps == key])
            elif name == "schedule.actor:Location.identifier":
                search.sites = _narrow(search.sites, {value.rpartition("|")[2]})
            elif name in ("schedule.actor:PractitionerRole.practitioner.identifier",
                          "schedule.actor:Practitioner.identifier"):
                system, _, key = value.rpartition("|")
                search.gps = _only(search.gps, [g.username for g in accounts.gps if system in ("", IDNPS)
                                                and key in (idnps(g), g.identity.rpps)])
            elif name in ("_include", "_include:iterate"):
                search.include(value)
            elif strict:
                raise Refusal(400, "unknown_parameter", f"this server does not search Slot by {name!r}")
        return search

    def include(self, value: str) -> None:
        if value == "Slot:schedule":
            self.include_schedules = True
        elif value in ("Schedule:actor", "Schedule:actor:Location"):
            self.include_locations = True
        if value in ("Schedule:actor", "Schedule:actor:PractitionerRole"):
            self.include_roles = True

    def window(self, zone: ZoneInfo, now: datetime, horizon: timedelta) -> tuple[datetime, datetime]:
        """The instants the search's `start` bounds allow, in a site in `zone`, within now and the horizon."""
        start, end = now, now + horizon
        tick = timedelta(microseconds=1)
        for prefix, value in self.after:
            if isinstance(value, datetime):
                low = high = value
            else:
                low = datetime.combine(value, time(), zone)
                high = datetime.combine(value + timedelta(days=1), time(), zone) - tick
            if prefix in ("ge", "eq"):
                start = max(start, low)
            if prefix in ("le", "eq"):
                end = min(end, high)
            if prefix == "gt":
                start = max(start, high + tick)
            if prefix == "lt":
                end = min(end, low - tick)
        return start, end


def _bound(value: str) -> tuple[str, datetime | date]:
    """A `start` parameter: its prefix (ge, gt, le, lt or eq) and a date, or a date-time with its zone."""
    prefix, text = (value[:2], value[2:]) if value[:2] in ("ge", "gt", "le", "lt", "eq") else ("eq", value)
    try:
        if len(text) == 10:
            return prefix, date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Refusal(400, "invalid_parameter", f"start={value!r}: give a date or a date-time with its zone, like "
                      "ge2026-12-07T08:00:00+01:00")
    return prefix, moment


def _narrow(current: set[str] | None, wanted: set[str]) -> set[str]:
    return wanted if current is None else current & wanted


def _narrow_days(current: set[date] | None, day: date) -> set[date]:
    return {day} if current is None else current & {day}


def _only(current: list[str] | None, wanted: list[str]) -> list[str]:
    return wanted if current is None else [g for g in current if g in wanted]


async def body(request: web.Request, kind: str = FHIR_JSON) -> bytes:
    """The request's body, at most MAX_FHIR_BODY_BYTES, or a 413/415 refusal before it is parsed."""
    if request.content_type not in (kind, "application/json"):
        raise Refusal(415, "unsupported_media_type", f"send the resource as {kind}")
    too_big = Refusal(413, "too_large", f"a FHIR request body holds {MAX_FHIR_BODY_BYTES} bytes at most")
    if request.content_length is not None and request.content_length > MAX_FHIR_BODY_BYTES:
        raise too_big
    data = b""
    while chunk := await request.content.read(MAX_FHIR_BODY_BYTES + 1 - len(data)):
        data += chunk
        if len(data) > MAX_FHIR_BODY_BYTES:
            raise too_big
    return data


def parse(data: bytes, model: type[R]) -> R:
    """`data` as a valid `model` resource, or a 400 refusal naming each failing element."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refusal(400, "malformed_json", f"the body is not JSON: {exc}") from None
    kind = model.get_resource_type()
    if not isinstance(parsed, dict) or parsed.get("resourceType") != kind:
        found = parsed.get("resourceType") if isinstance(parsed, dict) else type(parsed).__name__
        raise Refusal(400, "wrong_resource_type", f"expected a {kind}, not {found!r}",
                      expression=f"{kind}.resourceType")
    try:
        return model.model_validate(parsed)
    except ValidationError as exc:
        issues = validation_issues(exc, kind)
        raise Refusal(400, "invalid_resource", f"the {kind} is not valid FHIR R4: {issues[0][1]}", issues=issues) \
            from None


def respond(resource: Resource, status: int = 200) -> web.Response:
    """`resource` as application/fhir+json, never cached."""
    response = web.Response(body=resource.model_dump_json(exclude_none=True).encode(), status=status,
                            content_type=FHIR_JSON, charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    return response

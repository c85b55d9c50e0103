"""The messages stations and GP consoles exchange with the hub, over one WebSocket each.

Cabins sit behind NAT: a station dials out to the hub (`/ws/station`, `Authorization: Bearer
<station token>`), a GP's browser dials out too (`/ws/gp`, after `POST /api/login` set an
HttpOnly, SameSite=Strict session cookie). The hub keeps the waiting room and relays the
signalling of both media legs; it never sees what flows inside them (the control and vitals
data channels run from the station to the GP's browser), so no patient name reaches it.

Every message is a JSON object `{"v": 1, "type": ..., ...}` of at most MAX_MESSAGE_BYTES,
validated strictly (unknown type or field: `HubProtocolError`, answered with an `error`); the
hub closes a socket that sends a larger frame (close code 1009). Each model's `type` has its
default, so `dump(GpLeft(gp=...))` is a whole message.

Station to hub
    cabin      {site, state, session, since, waited_s, doctor, booked_gp, visit}
                                                the cabin's state; a waiting patient has a
                                                session (an opaque id), `since` (ISO time) and
                                                `waited_s` (seconds waited so far, by the
                                                station's clock, when the status was sent);
                                                during a consultation, `doctor` is the RPPS of
                                                its GP, as the hub authenticated them; while a
                                                patient waits, `booked_gp` is the hub username
                                                of the GP their booking names (first claim);
                                                on board, `visit` the secretary's visit the
                                                patient came from, while they are in the cabin
    signal     {gp, leg, description | candidate}
    audit_head {seq, hash}                     the audit chain's head (its last entry's sequence
                                                number and hash), at each connection and whenever
                                                it has moved on (docs/design.md, "The audit chain")
    maintenance_result {run, action, ok, result | code and error}
                                                the answer to a technician's `maintenance` run:
                                                `result` a JSON object of at most MAX_RESULT_BYTES
                                                (docs/design.md, "Remote maintenance"), or why not
                                                (`code`: patient_in, open, cleaning,
                                                not_out_of_service, failed)
    call_answer {visit, accepted, code, message}
                                                on board: the patient the secretary called is
                                                checked in (then the status names the `visit`), or
                                                why not (`code`: not_ready, not_clean, closed,
                                                unknown_code, already_used, cancelled, wrong_site,
                                                not_today, under_14, representative_required)
    station_health {state, cleaning_due, dirty_for_s, last_cleaning, devices: [{id, kind, connected,
                  battery, error}], printer: {reachable, problem, paper_low}, loop_lag_s, version,
                  uptime_s, interval_s}
                                                the cabin's health for the fleet page (docs/design.md,
                                                "The fleet view"): at each connection, every
                                                `interval_s` and at once when what an alert is made
                                                of changes. `dirty_for_s`: how long the cabin has
                                                waited for its cleaning since its last patient left
                                                (by the station's clock); `printer.problem` one of
                                                printer/status.py's codes (paper_out...). Never a
                                                patient's data
Hub to station
    welcome    {station, ice_servers, ice_transport_policy}
                                                `ice_transport_policy` "relay": every media leg
                                                (aiortc's, the kiosk page's) uses TURN candidates
                                                only (docs/design.md, "TURN"); absent: all
    audit_ack  {seq, hash}                     the hub has this head; a head that goes back
                                                (fewer entries, or another hash at the same
                                                sequence) is refused with `audit_head_back`
    gp_join    {gp, session, identity, kept}   a GP asked for this session; `identity` is the
                                                hub's record of the GP (name, RPPS...); `kept`, when
                                                she comes back to her consultation, the legs still
                                                up on her side ("face", "instruments"): they go on
                                                under her new connection, not set up again
    signal     {gp, leg, description | candidate}
    gp_left    {gp, left}                       the GP left (`left`: true; her legs close), or her
                                                WebSocket closed (her media legs go on while up: she
                                                may come back to them)
    bookings   {bookings: [booking], more}     the station's upcoming bookings, after each
                                                welcome, in pages: `more` until the last page,
                                                which completes the set (it replaces the one
                                                the station held)
    booking    {booking}                       one booking made, moved or cancelled
    booking_gone {code}                        a booking the station holds is no longer its
                                                own (moved to another cabin, or a no-show)
    call       {visit, ticket, code}           on board (docs/design.md, "The mobile office"): the
                                                secretary sends the patient with booking `code`
                                                (ticket number `ticket`) to the doctor: check them
                                                in, identity already checked at the desk
    stop       {open, place}                   on board: the stop is open (or closed) by the
                                                secretary, at `place`; after each welcome and on
                                                every change. Closing it calls for the full cleaning
    queue      {called, waiting}               on board: the waiting-room display's numbers, the
                                                ticket called last and the tickets waiting, in order
    maintenance {run, action, technician, reason?, lines?, start_within_s}
                                                a technician's remote action: diagnostics, self_test,
                                                logs (the last `lines`), out_of_service (`reason`
                                                shown to patients) or back_in_service; answered by a
                                                `maintenance_result` with the same `run`, `expired`
                                                when it could not start within `start_within_s` real
                                                seconds of its arrival
  where booking is {code, slot_start, slot_minutes, site, status, patient_name, birth_date,
                    sex, representative, gp, gp_name}: `slot_start` an aware ISO time, `status`
                    booked | cancelled, the patient's fields only while booked, `gp` the hub
                    username of the GP the booking names (docs/design.md, "Bookings at the cabin")
GP to hub
    join       {station, session, kept}        `kept` when she comes back to her consultation:
                                                the legs still up on her side
    signal     {station, leg, description | candidate}
    leave      {station}
Hub to GP
    welcome    {gp, name, ice_servers, ice_transport_policy, on_board}
                                                `on_board` (true) on a vehicle's hub: the GP is
                                                in the vehicle, no face-to-face call;
                                                `ice_transport_policy` as the station's welcome
    waiting_room {patients: [{station, site, session, since, waited_s, booked_with, yours,
                  claim_until, ticket, reason}]}
                                                `waited_s`: the station's count when the hub
                                                sends the room (the console counts on from it);
                                                `booked_with` the name of the GP the booking
                                                names, `yours` (true) when that is this GP,
                                                `claim_until` (ISO) while that GP is online and
                                                has the first claim: the patient is listed
                                                first in that GP's room; on board,
                                                `ticket` and `reason` from the secretary's desk
    signal     {station, leg, description | candidate}
    station_offline {station}
    station_back {station}                      the station of the GP's consultation is connected
                                                again, going on without her: she asks to come back
Either way
    error      {code, message}                 the hub's codes: bad_message (invalid), not_yours
                                                (a station the GP is not given, or none such),
                                                offline, not_waiting, taken, already_joined,
                                                not_joined (signal or leave without a join),
                                                claimed (another GP has the first claim),
                                                audit_head_back

The waiting room lists the waiting patients of the GP's stations that no GP has joined, each
with the `site` its station reported. A join lasts until the GP leaves or its socket closes
(the station gets `gp_left`), the station's socket closes (the GP gets `station_offline`), or
the station reports another session (`gp_left` to the station).

`gp` is the hub's id for one GP connection; `leg` is "instruments" (the station's aiortc peer
to the GP's browser: examination camera video, `vitals` and `control` data channels) or "face" (the
kiosk browser to the GP's browser, signalled through the station). The offering side of
both legs is the cabin; aiortc gathers all candidates before it offers, so candidates
matter only for the browsers' trickle.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Literal, Self, TypeVar

from pydantic import AwareDatetime, BaseModel, Field, JsonValue, TypeAdapter, model_validator

from protocol.booking_code import CODE_ALPHABET, CODE_LENGTH
from protocol.states import CabinState
from protocol.versioned import Message as _Message
from protocol.versioned import MessageError, parse_versioned
from protocol.versioned import Part as _Part

MAX_MESSAGE_BYTES = 256 * 1024  # an SDP offer with video and two data channels is a few KiB

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Leg = Literal["instruments", "face"]
IceTransportPolicy = Literal["all", "relay"]  # RTCConfiguration.iceTransportPolicy
Code = Annotated[str, Field(pattern=f"^[{CODE_ALPHABET}]{{{CODE_LENGTH}}}$")]
BOOKINGS_PAGE = 50  # bookings per `bookings` message: a page stays far below MAX_MESSAGE_BYTES
MAX_RESULT_BYTES = 128 * 1024  # a maintenance result as JSON: a device report is about 8 KiB, 200 log lines 60 KiB
MAX_LOG_LINES = 200
MaintenanceAction = Literal["diagnostics", "self_test", "logs", "out_of_service", "back_in_service"]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.@-]+$")]


class HubProtocolError(MessageError):
    """A hub message could not be understood."""


class Description(_Part):
    """A session description, as RTCSessionDescription's JSON."""

    type: Literal["offer", "answer"]
    sdp: str = Field(min_length=1, max_length=MAX_MESSAGE_BYTES)


class Candidate(_Part):
    """A trickled ICE candidate, as RTCIceCandidate's JSON (an empty candidate ends gathering)."""

    candidate: str = Field(max_length=2048)
    sdpMid: str | None = Field(default=None, max_length=64)  # noqa: N815 (the browsers' name)
    sdpMLineIndex: int | None = Field(default=None, ge=0, le=64)  # noqa: N815
    usernameFragment: str | None = Field(default=None, max_length=256)  # noqa: N815


class IceServer(_Part):
    """One STUN or TURN server, as RTCIceServer's JSON."""

    urls: tuple[Annotated[str, Field(min_length=1, max_length=512)], ...] = Field(min_length=1)
    username: str | None = Field(default=None, max_length=512)
    credential: str | None = Field(default=None, max_length=512)


class GpIdentity(_Part):
    """Who a GP is, as the prescription carries it: the hub's record, and what a console joins with."""

    name: str = Field(min_length=1, max_length=200)
    qualification: str = Field(default="Médecin généraliste", min_length=1, max_length=200)
    rpps: str = Field(pattern=r"^[0-9]{11}$")
    address: str = Field(min_length=1, max_length=300)
    phone: str = Field(min_length=1, max_length=40)


class _Signal(_Message):
    leg: Leg
    description: Description | None = None
    candidate: Candidate | None = None

    @model_validator(mode="after")
    def _one_payload(self) -> Self:
        if (self.description is None) == (self.candidate is None):
            raise ValueError("a signal carries either a description or a candidate")
        return self


# Station to hub.
class CabinStatus(_Message):
    """The station's current state; a waiting patient appears in GPs' waiting rooms."""

    type: Literal["cabin"] = "cabin"
    site: str = Field(min_length=1, max_length=200)
    state: CabinState
    session: Id | None = None
    since: str | None = Field(default=None, max_length=64)
    waited_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    # The RPPS of the consultation's GP (the identity the hub vouched for), while it goes on: a
    # hub that restarted learns from it who may come back to the consultation.
    doctor: str | None = Field(default=None, pattern=r"^[0-9]{11}$")
    # While a patient waits: the hub username of the GP their booking names, who has the first claim.
    booked_gp: Id | None = None
    # On board: the secretary's visit the patient in the cabin came from (docs/design.md, "The mobile office").
    visit: Id | None = None


class StationSignal(_Signal):
    """Signalling from the station (either leg) to one GP connection."""

    type: Literal["signal"] = "signal"
    gp: Id


class AuditHead(_Message):
    """The station's audit chain head: its last entry's sequence number and keyed hash."""

    type: Literal["audit_head"] = "audit_head"
    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class CallAnswer(_Message):
    """On board: whether the patient the secretary called was checked in, and if not why (`code`, `message`)."""

    type: Literal["call_answer"] = "call_answer"
    visit: Id
    accepted: bool
    code: str | None = Field(default=None, min_length=1, max_length=64)
    message: str | None = Field(default=None, max_length=500)


class DeviceState(_Part):
    """One instrument's health as the fleet page shows it."""

    id: Id
    kind: str = Field(min_length=1, max_length=64)
    connected: bool
    battery: int | None = Field(default=None, ge=0, le=100)  # percent, for a device that says
    error: str | None = Field(default=None, max_length=200)


class PrinterState(_Part):
    """The prescription printer's status: `problem` is printer/status.py's code (paper_out, cover_open...)."""

    reachable: bool
    problem: str | None = Field(default=None, min_length=1, max_length=64)
    paper_low: bool = False


class StationHealth(_Message):
    """The cabin's health for the hub's fleet view: machine and devices only, never a patient's data."""

    type: Literal["station_health"] = "station_health"
    state: CabinState
    cleaning_due: bool
    dirty_for_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    last_cleaning: str | None = Field(default=None, max_length=64)  # ISO time, by the station's clock
    devices: tuple[DeviceState, ...] = Field(default=(), max_length=64)
    printer: PrinterState | None = None
    loop_lag_s: float = Field(ge=0, allow_inf_nan=False)  # the event loop's worst lag of late
    version: str = Field(min_length=1, max_length=64)
    uptime_s: float = Field(ge=0, allow_inf_nan=False)
    interval_s: float = Field(gt=0, le=3600, allow_inf_nan=False)  # the next report comes within this
class MaintenanceResult(_Message):
    """The station's answer to a technician's run: `result` when `ok`, else `code` and `error`."""

    type: Literal["maintenance_result"] = "maintenance_result"
    run: Id
    action: MaintenanceAction
    ok: bool
    result: dict[str, JsonValue] | None = None
    code: str | None = Field(default=None, min_length=1, max_length=64)
    error: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _result_or_error(self) -> Self:
        if self.ok != (self.result is not None) or self.ok == (self.error is not None):
            raise ValueError("a maintenance result carries either its result (ok) or an error (not ok)")
        if self.result is not None:
            size = len(json.dumps(self.result, ensure_ascii=False).encode())
            if size > MAX_RESULT_BYTES:
                raise ValueError(f"a maintenance result is at most {MAX_RESULT_BYTES} bytes ({size} here)")
        return self


# Hub to station.
class StationWelcome(_Message):
    """The hub accepted the station's token."""

    type: Literal["welcome"] = "welcome"
    station: Id
    ice_servers: tuple[IceServer, ...] = ()
    ice_transport_policy: IceTransportPolicy | None = None  # "relay": TURN only; absent: all candidates


class GpJoin(_Message):
    """A GP asks for the station's waiting patient, or comes back to her consultation."""

    type: Literal["gp_join"] = "gp_join"
    gp: Id
    session: Id
    identity: GpIdentity
    kept: tuple[Leg, ...] | None = Field(default=None, max_length=2)  # legs up on her side, when she comes back


class SignalToStation(_Signal):
    """Signalling from a GP connection to the station."""

    type: Literal["signal"] = "signal"
    gp: Id


class GpLeft(_Message):
    """A GP left the consultation (`left`), or her connection to the hub closed (she may come back to it)."""

    type: Literal["gp_left"] = "gp_left"
    gp: Id
    left: Literal[True] | None = None


class AuditAck(_Message):
    """The hub acknowledges the station's audit chain head."""

    type: Literal["audit_ack"] = "audit_ack"
    seq: int = Field(ge=1)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class CabinBooking(_Part):
    """One booking as the cabin keeps it for check-in; a cancelled one carries no patient data."""

    code: Code
    slot_start: AwareDatetime
    slot_minutes: int = Field(ge=1, le=240)
    site: str = Field(pattern=r"^[A-Z0-9]{3,12}$")
    status: Literal["booked", "cancelled"]
    patient_name: str | None = Field(default=None, min_length=1, max_length=120)
    birth_date: date | None = None
    sex: Literal["F", "M"] | None = None
    representative: str | None = Field(default=None, min_length=1, max_length=120)
    gp: Id | None = None
    gp_name: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _patient_while_booked(self) -> Self:
        patient = (self.patient_name, self.birth_date, self.sex)
        if self.status == "booked" and None in patient:
            raise ValueError("a live booking carries the patient's name, birth date and sex")
        if self.status == "cancelled" and (patient != (None, None, None) or self.representative is not None):
            raise ValueError("a cancelled booking carries no patient data")
        return self


class Bookings(_Message):
    """A page of the station's upcoming bookings; the page without `more` completes the set."""

    type: Literal["bookings"] = "bookings"
    bookings: tuple[CabinBooking, ...] = Field(default=(), max_length=BOOKINGS_PAGE)
    more: bool = False


class BookingChanged(_Message):
    """A booking of the station made, moved or cancelled."""

    type: Literal["booking"] = "booking"
    booking: CabinBooking


class BookingGone(_Message):
    """A booking the station was given is no longer its own: moved to another cabin, or a no-show."""

    type: Literal["booking_gone"] = "booking_gone"
    code: Code


class CallPatient(_Message):
    """On board: the secretary sends this booking's patient (identity checked at the desk) to the doctor."""

    type: Literal["call"] = "call"
    visit: Id
    ticket: int = Field(ge=1, le=9999)
    code: Code


class StopState(_Message):
    """On board: the stop is open or closed, by the secretary; closing it calls for the full cleaning."""

    type: Literal["stop"] = "stop"
    open: bool
    place: str | None = Field(default=None, min_length=1, max_length=200)


class QueueBoard(_Message):
    """On board: what the waiting-room display shows, by ticket number only: the one called, the ones waiting."""

    type: Literal["queue"] = "queue"
    called: int | None = Field(default=None, ge=1, le=9999)
    waiting: tuple[Annotated[int, Field(ge=1, le=9999)], ...] = Field(default=(), max_length=200)


class Maintenance(_Message):
    """A technician's remote maintenance action (docs/design.md, "Remote maintenance"), named by `run`."""

    type: Literal["maintenance"] = "maintenance"
    run: Id
    action: MaintenanceAction
    technician: Username
    reason: str | None = Field(default=None, min_length=1, max_length=200)  # out_of_service: shown to patients
    lines: int | None = Field(default=None, ge=1, le=MAX_LOG_LINES)  # logs: how many of the last lines
    # Real seconds from its arrival within which the station may start the run; past them it refuses it (expired).
    start_within_s: float = Field(gt=0, le=600)

    @model_validator(mode="after")
    def _reason_for_out_of_service(self) -> Self:
        if (self.action == "out_of_service") != (self.reason is not None and self.reason.strip() != ""):
            raise ValueError("out_of_service, and only it, carries the reason shown to patients")
        if self.lines is not None and self.action != "logs":
            raise ValueError("only logs takes a number of lines")
        return self


# GP to hub.
class JoinRequest(_Message):
    """The GP takes a waiting patient, or comes back to her consultation with the legs still up on her side."""

    type: Literal["join"] = "join"
    station: Id
    session: Id
    kept: tuple[Leg, ...] | None = Field(default=None, max_length=2)


class GpSignal(_Signal):
    """Signalling from the GP's browser to a station."""

    type: Literal["signal"] = "signal"
    station: Id


class Leave(_Message):
    """The GP leaves a station's consultation."""

    type: Literal["leave"] = "leave"
    station: Id


# Hub to GP.
class GpWelcome(_Message):
    """The hub accepted the GP's session cookie."""

    type: Literal["welcome"] = "welcome"
    gp: Id
    name: str = Field(min_length=1, max_length=200)
    ice_servers: tuple[IceServer, ...] = ()
    ice_transport_policy: IceTransportPolicy | None = None  # "relay": TURN only; absent: all candidates
    on_board: bool | None = None  # a vehicle's hub: the GP is in the vehicle, no face-to-face call


class WaitingPatient(_Part):
    """One patient waiting for a doctor: no name, only where and since when."""

    station: Id
    site: str = Field(min_length=1, max_length=200)
    session: Id
    since: str | None = Field(default=None, max_length=64)
    waited_s: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    booked_with: str | None = Field(default=None, max_length=200)  # the name of the GP the booking names
    yours: bool | None = None  # True: the booking names the GP this room is for
    claim_until: str | None = Field(default=None, max_length=64)  # while that GP has the first claim
    ticket: int | None = Field(default=None, ge=1, le=9999)  # on board: the patient's number at the desk
    reason: str | None = Field(default=None, max_length=500)  # on board: the reason for the visit


class WaitingRoom(_Message):
    """Every waiting patient the GP may take."""

    type: Literal["waiting_room"] = "waiting_room"
    patients: tuple[WaitingPatient, ...] = ()


class SignalToGp(_Signal):
    """Signalling from a station to the GP's browser."""

    type: Literal["signal"] = "signal"
    station: Id


class StationOffline(_Message):
    """A station the GP was talking to lost its connection to the hub."""

    type: Literal["station_offline"] = "station_offline"
    station: Id


class StationBack(_Message):
    """The station of the GP's consultation is connected again and goes on without her connection: she asks
    to come back (docs/design.md, "A fleet of hubs")."""

    type: Literal["station_back"] = "station_back"
    station: Id


# Either way.
class ErrorMessage(_Message):
    """Something was refused; `code` is stable, `message` is for people."""

    type: Literal["error"] = "error"
    code: str = Field(min_length=1, max_length=64)
    message: str = Field(max_length=1000)


FromStation = Annotated[CabinStatus | StationSignal | AuditHead | CallAnswer | StationHealth | MaintenanceResult
                        | ErrorMessage,
                        Field(discriminator="type")]
ToStation = Annotated[
    StationWelcome | GpJoin | SignalToStation | GpLeft | AuditAck | Bookings | BookingChanged | BookingGone
    | CallPatient | StopState | QueueBoard | Maintenance | ErrorMessage, Field(discriminator="type")
]
FromGp = Annotated[JoinRequest | GpSignal | Leave, Field(discriminator="type")]
ToGp = Annotated[
    GpWelcome | WaitingRoom | SignalToGp | StationOffline | StationBack | ErrorMessage, Field(discriminator="type")
]

FROM_STATION: TypeAdapter[FromStation] = TypeAdapter(FromStation)
TO_STATION: TypeAdapter[ToStation] = TypeAdapter(ToStation)
FROM_GP: TypeAdapter[FromGp] = TypeAdapter(FromGp)
TO_GP: TypeAdapter[ToGp] = TypeAdapter(ToGp)


T = TypeVar("T")


def parse(adapter: TypeAdapter[T], text: str | bytes) -> T:
    """Parse and validate one message, or raise HubProtocolError saying what is wrong."""
    return parse_versioned(adapter, text, limit=MAX_MESSAGE_BYTES, speaker="the hub", error=HubProtocolError)


def dump(message: BaseModel) -> str:
    """A message as compact JSON text, without the fields left at None."""
    return message.model_dump_json(exclude_none=True)

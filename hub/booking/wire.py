"""The book's views as JSON, and the dates, times and bodies the booking routes take (docs/design.md,
"The coordinator's console"): pure functions, each bad value a 400 or 422 refusal saying which."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, tzinfo
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.accounts import AccountDirectory
from hub.booking.records import BookingView, FreeSlot, SessionView
from hub.config import HubConfig
from hub.errors import Refusal
from protocol.booking_code import display_code

M = TypeVar("M", bound=BaseModel)

MAX_DAYS = 31  # a search or a list covers a month at most


def site_zone(config: HubConfig, site_code: str | None) -> tzinfo:
    """The time zone of a site (UTC for one the file no longer lists): every moment the routes give is
    local to its site, with its offset."""
    site = config.site(site_code) if site_code else None
    return site.zone if site is not None else UTC


def booking_json(view: BookingView, config: HubConfig) -> dict[str, Any]:
    """A booking for the coordinator: everything she reads to the caller, the code grouped for reading aloud."""
    zone = site_zone(config, view.site_code)
    return {
        "id": view.id, "code": view.code, "code_grouped": display_code(view.code), "station": view.station_id,
        "site": view.site_code, "start": view.slot_start.astimezone(zone).isoformat(),
        "end": view.slot_end.astimezone(zone).isoformat(), "gp": view.gp, "patient_name": view.patient_name,
        "birth_date": view.birth_date.isoformat(), "sex": view.sex, "representative": view.representative,
        "phone": view.phone, "email": view.email, "language": view.language, "status": view.status,
        "channel": view.channel, "created_by": view.created_by, "reason": view.reason,
        "regular_doctor": view.regular_doctor,
    }


def slot_json(slot: FreeSlot, config: HubConfig) -> dict[str, Any]:
    zone = site_zone(config, slot.site_code)
    return {"station": slot.station_id, "site": slot.site_code, "start": slot.start.astimezone(zone).isoformat(),
            "end": slot.end.astimezone(zone).isoformat(), "gps": list(slot.gps)}


def session_json(view: SessionView, config: HubConfig, accounts: AccountDirectory) -> dict[str, Any]:
    """A GP session, at its cabin's site (none for a cabin no longer enabled)."""
    station = accounts.station(view.station_id)
    site = station.site_code if station is not None else None
    zone = site_zone(config, site)
    return {"id": view.id, "gp": view.username, "station": view.station_id, "site": site,
            "start": view.start.astimezone(zone).isoformat(), "end": view.end.astimezone(zone).isoformat(),
            "created_by": view.created_by}


def parse_day(text: object, what: str = "date") -> date:
    """A day written YYYY-MM-DD."""
    if isinstance(text, str):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise Refusal(400, "bad_request", f"{what} is a day written YYYY-MM-DD")


def parse_clock(text: object, what: str) -> time:
    """A time of day written HH:MM."""
    if isinstance(text, str) and len(text) == 5:
        try:
            return time.fromisoformat(text)
        except ValueError:
            pass
    raise Refusal(400, "bad_request", f"{what} is a time written HH:MM")


def parse_moment(text: object, what: str = "start") -> datetime:
    """A moment with its offset, ISO 8601 (as the slots give it)."""
    if isinstance(text, str):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise Refusal(400, "bad_request", f"{what} is a moment with its offset, like 2026-12-07T09:00:00+01:00")


def parse_days(text: str | None) -> int:
    """How many days a search covers: 1 unless said, MAX_DAYS at most."""
    if text is None:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= MAX_DAYS:
        raise Refusal(400, "bad_request", f"days is a number from 1 to {MAX_DAYS}")
    return int(text)


def local(day: date, clock: time, zone: tzinfo) -> datetime:
    """`clock` on `day` in `zone`."""
    return datetime.combine(day, clock, zone)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; a 400 refusal for anything else."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise Refusal(400, "bad_request", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise Refusal(400, "bad_request", "the body is a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, *, limit: int = 200) -> str:
    """A non-empty text of `limit` characters at most."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Refusal(422, "invalid_request", f"{name}: a text of 1 to {limit} characters", fields=[name])
    return value.strip()


def model(cls: type[M], body: dict[str, Any]) -> M:
    """`body` as `cls`; a 422 refusal naming each wrong field."""
    try:
        return cls.model_validate(body)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "body", e["msg"]) for e in exc.errors()]
        raise Refusal(422, "invalid_request", "; ".join(f"{field}: {msg}" for field, msg in problems),
                      fields=[field for field, _ in problems]) from None

"""The rows hubs synchronise, and each as a JSON document (docs/design.md, "A day without network").

A document is a row's current state, `{"kind", "uid", "row"}`, or its tombstone (`row` null: the
row is gone). `uid` names the row on every hub: a booking's or a visit's id, a stop's site and day,
a GP session's or a closure's uid, an audit entry's id on the hub that wrote it, a station's id for
its audit chain head. Columns that are one hub's own (autoincrement ids) or never leave it (a
visit's reason) are not in the document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, Date, DateTime, Integer, Text, select
from sqlalchemy.orm import Session

from hub.store.models import AuditEntry, Base, Booking, Closure, GpSession, StationAuditHead, Stop, Visit

V = TypeVar("V")


class DocError(ValueError):
    """A document that does not hold what its kind needs; says which field."""


@dataclass(frozen=True)
class Kind:
    """One kind of synchronised row: its model, how its uid is read and found, the columns it leaves out."""

    name: str
    model: type[Base]
    uid: Callable[[Any], str]
    find: Callable[[Session, str], Any]
    column: str | None  # the column the uid is, when it is one
    left_out: frozenset[str] = frozenset()

    def find_many(self, session: Session, uids: Sequence[str]) -> dict[str, Any]:
        """The rows with `uids` that the store holds, by uid: one query per 500 when the uid is a column."""
        if self.column is None:
            return {uid: row for uid in uids if (row := self.find(session, uid)) is not None}
        keys: list[Any] = [int(u) for u in uids if u.isdigit()] if self.name == "audit" else list(uids)
        column = getattr(self.model, self.column)
        found: dict[str, Any] = {}
        for n in range(0, len(keys), 500):
            query = select(self.model).where(column.in_(keys[n:n + 500]))
            found.update((self.uid(r), r) for r in session.scalars(query))
        return found


def _by_uid(model: Any) -> Callable[[Session, str], Any]:
    return lambda session, uid: session.scalar(select(model).where(model.uid == uid))


def _stop(session: Session, uid: str) -> Stop | None:
    code, _, day = uid.partition("/")
    try:
        return session.get(Stop, (code, date.fromisoformat(day)))
    except ValueError:
        return None


def _audit(session: Session, uid: str) -> AuditEntry | None:
    return session.get(AuditEntry, int(uid)) if uid.isdigit() else None


KINDS: dict[str, Kind] = {kind.name: kind for kind in (
    Kind("bookings", Booking, lambda r: r.id, lambda s, uid: s.get(Booking, uid), "id"),
    Kind("visits", Visit, lambda r: r.id, lambda s, uid: s.get(Visit, uid), "id", frozenset({"reason"})),
    Kind("stops", Stop, lambda r: f"{r.site_code}/{r.day.isoformat()}", _stop, None),
    Kind("gp_sessions", GpSession, lambda r: r.uid, _by_uid(GpSession), "uid", frozenset({"id"})),
    Kind("closures", Closure, lambda r: r.uid, _by_uid(Closure), "uid", frozenset({"id"})),
    Kind("audit", AuditEntry, lambda r: str(r.id), _audit, "id", frozenset({"origin", "origin_id"})),
    Kind("station_audit_heads", StationAuditHead, lambda r: r.station_id,
         lambda s, uid: s.get(StationAuditHead, uid), "station_id"),
)}


def kind_of(row: object) -> Kind | None:
    """The kind of a row of the store, or None for a row that is not synchronised."""
    return next((k for k in KINDS.values() if type(row) is k.model), None)


def _columns(kind: Kind) -> list[Any]:
    return [c for c in kind.model.__table__.columns if c.name not in kind.left_out]


def encode(kind: Kind, row: Any) -> dict[str, Any]:
    """The row's columns as JSON values: moments and days in ISO 8601."""
    out: dict[str, Any] = {}
    for column in _columns(kind):
        value = getattr(row, column.key)
        if isinstance(value, datetime) and value.tzinfo is None:  # SQLite keeps no zone: the store writes UTC
            value = value.replace(tzinfo=UTC)
        out[column.name] = value.isoformat() if isinstance(value, date) else value
    return out


def _value(column: Any, value: object) -> object:
    if value is None:
        if not column.nullable or column.primary_key:
            raise DocError(f"{column.name} is missing")
        return None
    kind = column.type
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        moment = _iso(datetime.fromisoformat, value)
        if moment is None or moment.tzinfo is None:
            return _wrong(column, "a moment with its offset")
        return moment
    if isinstance(kind, Date):
        day = _iso(date.fromisoformat, value)
        return day if day is not None else _wrong(column, "a day written YYYY-MM-DD")
    if isinstance(kind, Boolean):
        return value if isinstance(value, bool) else _wrong(column, "true or false")
    if isinstance(kind, Integer):
        return value if isinstance(value, int) and not isinstance(value, bool) else _wrong(column, "a whole number")
    if isinstance(kind, Text):
        return value if isinstance(value, str) else _wrong(column, "a text")
    return value  # JSON


def _iso(parse: Callable[[str], V], value: object) -> V | None:
    try:
        return parse(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _wrong(column: Any, what: str) -> object:
    raise DocError(f"{column.name} is {what}")


def decode(kind: Kind, row: Mapping[str, object]) -> dict[str, Any]:
    """A document's row as the model's attributes; DocError naming the first wrong field."""
    values: dict[str, Any] = {}
    for column in _columns(kind):
        try:
            values[column.key] = _value(column, row.get(column.name))
        except DocError as exc:
            raise DocError(f"{kind.name}: {exc}") from None
    return values


class Doc(BaseModel):
    """One document of a page: a row's current state, or its tombstone (`row` None)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["bookings", "visits", "stops", "gp_sessions", "closures", "audit", "station_audit_heads"]
    uid: str = Field(min_length=1, max_length=200)
    row: dict[str, Any] | None

"""What the book takes and gives (docs/design.md, "The book"): a booking request, a booking as the hub's
parts see it, a free slot, a GP's session, and who a booking is for as a digest; pure data, no store."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from hub.store.models import Booking

# "conflict": a booking that lost its slot to one made first on another hub while the two were apart
# (docs/design.md, "A day without network"); the secretary or a coordinator finds the patient another.
Status = Literal["booked", "cancelled", "no_show", "conflict"]
Channel = Literal["online", "phone", "fhir", "simulator", "walk_in"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class BookingRequest(BaseModel):
    """A slot asked for, and the patient it is for: from the public page, a coordinator or FHIR."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str = Field(pattern=r"^[A-Z0-9]{3,12}$")
    start: AwareDatetime
    station: str | None = Field(default=None, max_length=64)  # a coordinator may choose the cabin
    gp: str | None = Field(default=None, max_length=64)  # None: any GP on duty
    patient_name: Text
    birth_date: date
    sex: Literal["F", "M"]
    representative: Text | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 .-]{5,19}$")
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
    language: Literal["fr", "en"] = "fr"
    regular_doctor: bool | None = None  # "do you have a regular doctor?", for the activity figures


@dataclass(frozen=True)
class BookingView:
    """A booking as the hub's parts see it (the row, detached from the store)."""

    id: str
    code: str
    station_id: str
    site_code: str
    slot_start: datetime
    slot_end: datetime
    gp: str | None
    patient_name: str
    birth_date: date
    sex: str
    representative: str | None
    phone: str | None
    email: str | None
    language: str
    status: str
    channel: str
    created_by: str
    reason: str | None
    regular_doctor: bool | None
    created_at: datetime
    changed_at: datetime

    @staticmethod
    def of(row: Booking) -> BookingView:
        return BookingView(**{name: getattr(row, name) for name in BookingView.__dataclass_fields__})


@dataclass(frozen=True)
class FreeSlot:
    """A slot one can book: its cabin, times and the GPs on duty for all of it."""

    station_id: str
    site_code: str
    start: datetime
    end: datetime
    gps: tuple[str, ...]


@dataclass(frozen=True)
class SessionView:
    """A GP's published session in one cabin."""

    id: int
    username: str
    station_id: str
    start: datetime
    end: datetime
    created_by: str


Announce = Callable[[Session, BookingView, str], None]  # writes the outbox messages for a change
Listener = Callable[[BookingView], None]


def person_digest(name: str, birth: date) -> str:
    """Who a booking is for, as a digest: name folded (case, accents, spacing) and birth date."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", name.casefold()) if not unicodedata.combining(c))
    return hashlib.sha256(f"{' '.join(folded.split())}|{birth.isoformat()}".encode()).hexdigest()

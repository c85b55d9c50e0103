"""The prescription as a typed document: who prescribes, for whom, what, and its number.

Every class validates itself on construction and raises PrescriptionError with a message
that names the field, so a bad prescription from the GP console is refused before anything
is recorded or printed. Texts are stripped; lists become tuples so documents stay frozen.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from printer.errors import PrescriptionError

# Crockford base32 without I, L, O, U: no look-alike characters when someone reads it aloud.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NUMBER_TOKEN_LEN = 8  # 40 random bits: collisions are negligible at cabin volumes
_STATION_RE = re.compile(r"[A-Z0-9]{1,16}")
_NUMBER_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{5,63}")
_RPPS_RE = re.compile(r"\d{11}")
_MAX_TEXT = 500


class Sex(StrEnum):
    """Sex as printed on the prescription."""

    FEMALE = "F"
    MALE = "M"


class DocumentKind(StrEnum):
    """The separate documents a prescription prints as (medication, examinations, referral letter)."""

    MEDICATIONS = "medications"
    EXAMINATIONS = "examinations"
    REFERRAL = "referral"


def _text(value: object, what: str, *, optional: bool = False) -> str:
    """A stripped, non-empty, bounded text, or PrescriptionError naming `what`."""
    if not isinstance(value, str):
        raise PrescriptionError(f"{what} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text and not optional:
        raise PrescriptionError(f"{what} is missing")
    if len(text) > _MAX_TEXT:
        raise PrescriptionError(f"{what} is longer than {_MAX_TEXT} characters")
    return text


def _set(obj: object, name: str, value: object) -> None:
    """Store a normalised value on a frozen dataclass during __post_init__."""
    object.__setattr__(obj, name, value)


def age_on(birth_date: date, on: date) -> int:
    """Age in full years on `on` of someone born on `birth_date`."""
    before_birthday = (on.month, on.day) < (birth_date.month, birth_date.day)
    return on.year - birth_date.year - int(before_birthday)


@dataclass(frozen=True)
class Prescriber:
    """The GP who signs the prescription."""

    name: str
    qualification: str
    rpps: str
    address: str
    phone: str

    def __post_init__(self) -> None:
        for name in ("name", "qualification", "address", "phone"):
            _set(self, name, _text(getattr(self, name), f"prescriber {name}"))
        rpps = _text(self.rpps, "prescriber RPPS number").replace(" ", "")
        if not _RPPS_RE.fullmatch(rpps):
            raise PrescriptionError("prescriber RPPS number must be exactly 11 digits")
        _set(self, "rpps", rpps)


@dataclass(frozen=True)
class PatientIdentity:
    """The patient as the prescription names them."""

    name: str
    sex: Sex
    birth_date: date
    weight_kg: float | None = None

    def __post_init__(self) -> None:
        _set(self, "name", _text(self.name, "patient name"))
        try:
            _set(self, "sex", Sex(self.sex))
        except ValueError as exc:
            raise PrescriptionError(f"patient sex must be F or M, not {self.sex!r}") from exc
        if not isinstance(self.birth_date, date) or isinstance(self.birth_date, datetime):
            raise PrescriptionError("patient birth date must be a date")
        if self.weight_kg is not None:
            if isinstance(self.weight_kg, bool) or not isinstance(self.weight_kg, int | float):
                raise PrescriptionError("patient weight must be a number of kilograms")
            if not 0 < self.weight_kg <= 400:
                raise PrescriptionError(f"patient weight {self.weight_kg} kg is not plausible")
            _set(self, "weight_kg", float(self.weight_kg))

    def age_on(self, on: date) -> int:
        """The patient's age in full years on `on`."""
        return age_on(self.birth_date, on)


@dataclass(frozen=True)
class MedicationLine:
    """One prescribed medication: what, how, how long, how much, how many renewals."""

    name: str
    dosage: str
    duration: str
    quantity: str
    renewals: int = 0

    def __post_init__(self) -> None:
        for name in ("name", "dosage", "duration", "quantity"):
            _set(self, name, _text(getattr(self, name), f"medication {name}"))
        if isinstance(self.renewals, bool) or not isinstance(self.renewals, int):
            raise PrescriptionError("medication renewals must be a whole number")
        if not 0 <= self.renewals <= 12:
            raise PrescriptionError("medication renewals must be between 0 and 12")


@dataclass(frozen=True)
class Prescription:
    """A complete prescription ready to lay out and print."""

    number: str
    prescriber: Prescriber
    patient: PatientIdentity
    site_name: str
    issued_at: datetime
    medications: Sequence[MedicationLine] = field(default=())
    examinations: Sequence[str] = field(default=())
    referral: str | None = None
    specimen: bool = False  # a technician's sample: printed as SPÉCIMEN, never a real prescription
    # On board a mobile unit: the place of consultation of the day (its stop), which the rules of itinerant
    # practice require on the document; the GP is then in the room, no teleconsultation (docs/design.md, "On board").
    stop: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.number, str) or not _NUMBER_RE.fullmatch(self.number):
            raise PrescriptionError(f"prescription number {self.number!r} is not valid")
        if not isinstance(self.prescriber, Prescriber):
            raise PrescriptionError("prescriber is missing")
        if not isinstance(self.patient, PatientIdentity):
            raise PrescriptionError("patient is missing")
        _set(self, "site_name", _text(self.site_name, "site name"))
        if self.stop is not None:
            _set(self, "stop", _text(self.stop, "place of consultation"))
        if not isinstance(self.specimen, bool):
            raise PrescriptionError("specimen must be true or false")
        self._check_issued_at()
        self._normalise_items()

    def _check_issued_at(self) -> None:
        if not isinstance(self.issued_at, datetime) or self.issued_at.tzinfo is None:
            raise PrescriptionError("issue time must be a timezone-aware datetime")
        if self.patient.birth_date > self.issued_at.date():
            raise PrescriptionError("patient birth date is after the issue date")

    def _normalise_items(self) -> None:
        if isinstance(self.medications, str) or isinstance(self.examinations, str):
            raise PrescriptionError("medications and examinations must be lists, not text")
        meds = tuple(self.medications)
        if not all(isinstance(line, MedicationLine) for line in meds):
            raise PrescriptionError("every medication must be a MedicationLine")
        exams = tuple(_text(item, "examination") for item in self.examinations)
        referral = None if self.referral is None else _text(self.referral, "referral")
        if not meds and not exams and not referral:
            raise PrescriptionError(
                "a prescription needs a medication, an examination or a referral"
            )
        _set(self, "medications", meds)
        _set(self, "examinations", exams)
        _set(self, "referral", referral)

    @property
    def patient_age(self) -> int:
        """The patient's age in full years on the issue date."""
        return self.patient.age_on(self.issued_at.date())

    @property
    def documents(self) -> tuple[DocumentKind, ...]:
        """The documents to print, in order: medication, then examinations, then the referral letter."""
        present = {
            DocumentKind.MEDICATIONS: bool(self.medications),
            DocumentKind.EXAMINATIONS: bool(self.examinations),
            DocumentKind.REFERRAL: bool(self.referral),
        }
        return tuple(kind for kind in DocumentKind if present[kind])


def new_prescription_number(station_id: str, on: date) -> str:
    """A unique prescription number: station, date (YYYYMMDD) and 8 random base-32 characters; no patient data."""
    station = station_id.strip().upper()
    if not _STATION_RE.fullmatch(station):
        raise PrescriptionError(f"station id {station_id!r} must be 1-16 letters or digits")
    token = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(_NUMBER_TOKEN_LEN))
    return f"{station}-{on:%Y%m%d}-{token}"

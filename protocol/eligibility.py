"""Who may use the cabin (the kiosk at check-in, the hub when a slot is booked): adults alone, 14 to 17 with
a legal representative, not under 14."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

ADULT_AGE = 18
MINIMUM_AGE = 14


class Verdict(StrEnum):
    """The outcome of the age rule."""

    ALLOWED = "allowed"
    NEEDS_REPRESENTATIVE = "needs_representative"
    REFUSED_UNDER_14 = "refused_under_14"


@dataclass(frozen=True)
class Eligibility:
    """The age rule applied to one patient."""

    age: int
    verdict: Verdict


def age_on(birth: date, today: date) -> int:
    """Age in completed years on `today` (a 29 February birthday counts on 1 March)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def assess(birth: date, today: date, representative: str | None = None) -> Eligibility:
    """Apply the age rule; a representative counts only when named."""
    age = age_on(birth, today)
    if age >= ADULT_AGE:
        return Eligibility(age, Verdict.ALLOWED)
    if age < MINIMUM_AGE:
        return Eligibility(age, Verdict.REFUSED_UNDER_14)
    if representative is not None and representative.strip():
        return Eligibility(age, Verdict.ALLOWED)
    return Eligibility(age, Verdict.NEEDS_REPRESENTATIVE)

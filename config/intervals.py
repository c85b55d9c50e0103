"""Opening hours as the cabin's and the hub's files write them: "HH:MM-HH:MM" intervals, by weekday.

Shared by the cabin's configuration (config/schema.py: its sites and the mobile unit's stops) and
the hub's (hub/config.py: the sites it books).
"""

from __future__ import annotations

import re
from datetime import time

from pydantic import field_validator

from config.base import Frozen

_INTERVAL = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Interval(Frozen):
    """An opening interval within one day, start included, end excluded."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> Interval:
        """Parse "HH:MM-HH:MM"."""
        match = _INTERVAL.match(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not an interval like '09:00-12:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"{text!r} is not a time of day")
        start, end = time(h1, m1), time(h2, m2)
        if end <= start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(start=start, end=end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def intervals(value: object) -> tuple[Interval, ...]:
    """A list of "HH:MM-HH:MM" as sorted intervals; ValueError when one is wrong or two overlap."""
    if not isinstance(value, list | tuple):
        raise ValueError("expected a list of intervals like ['09:00-12:00', '13:30-17:00']")
    parsed = sorted(
        (v if isinstance(v, Interval) else Interval.parse(str(v)) for v in value),
        key=lambda i: i.start,
    )
    for before, after in zip(parsed, parsed[1:], strict=False):
        if after.start < before.end:
            raise ValueError(f"intervals {before} and {after} overlap")
    return tuple(parsed)


class WeeklyHours(Frozen):
    """Opening intervals for each day of the week; a missing day is closed."""

    mon: tuple[Interval, ...] = ()
    tue: tuple[Interval, ...] = ()
    wed: tuple[Interval, ...] = ()
    thu: tuple[Interval, ...] = ()
    fri: tuple[Interval, ...] = ()
    sat: tuple[Interval, ...] = ()
    sun: tuple[Interval, ...] = ()

    _check = field_validator(*WEEKDAYS, mode="before")(classmethod(lambda cls, v: intervals(v)))

    def on(self, weekday: int) -> tuple[Interval, ...]:
        """Intervals for a weekday number (Monday is 0)."""
        return getattr(self, WEEKDAYS[weekday])  # type: ignore[no-any-return]

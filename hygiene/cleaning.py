"""One run of the disinfection protocol: steps in order, contact time, a badge to finish.

Pure logic: the caller supplies times, so the rules are tested without a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from config.schema import CleaningProtocol
from hygiene.badges import Badge, Role
from runtime.errors import StationError


class CleaningRefused(StationError):
    """The referent tried something the protocol does not allow yet."""


@dataclass(frozen=True)
class CleaningProof:
    """Evidence that a referent completed the protocol; the only key to the cleaning mark."""

    started_by: str
    confirmed_by: str
    started_at: datetime
    finished_at: datetime
    steps: tuple[tuple[str, str], ...]


@dataclass
class CleaningRun:
    """The protocol as the referent works through it."""

    protocol: CleaningProtocol
    started_by: Badge
    started_at: datetime
    done: list[tuple[str, datetime]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.started_by.role is not Role.HYGIENE_REFERENT:
            raise CleaningRefused("only a hygiene referent's badge starts a cleaning")

    @property
    def next_step(self) -> str | None:
        """The id of the step to confirm next, or None when all are done."""
        steps = self.protocol.steps
        return steps[len(self.done)].id if len(self.done) < len(steps) else None

    def confirm(self, step_id: str, at: datetime) -> None:
        """Confirm a step; steps go strictly in the protocol's order."""
        expected = self.next_step
        if expected is None:
            raise CleaningRefused("every step is already confirmed: present your badge to finish")
        if step_id != expected:
            raise CleaningRefused(f"confirm the step {expected!r} first")
        self.done.append((step_id, at))

    def contact_remaining(self, at: datetime) -> float:
        """Seconds of contact time still to wait (the full time if the step is not done yet)."""
        minimum = self.protocol.minimum_contact_s
        for step_id, when in self.done:
            if step_id == self.protocol.contact_starts_after:
                return max(0.0, minimum - (at - when).total_seconds())
        return minimum

    def finish(self, badge: Badge, at: datetime) -> CleaningProof:
        """Close the run with a referent's badge, or say what is still missing."""
        if badge.role is not Role.HYGIENE_REFERENT:
            raise CleaningRefused("only a hygiene referent's badge confirms a cleaning")
        if self.next_step is not None:
            raise CleaningRefused(f"steps remain, next: {self.next_step!r}")
        wait = self.contact_remaining(at)
        if wait > 0:
            raise CleaningRefused(f"contact time not reached: wait {wait:.0f} s more")
        return CleaningProof(
            started_by=self.started_by.hash,
            confirmed_by=badge.hash,
            started_at=self.started_at,
            finished_at=at,
            steps=tuple((s, t.isoformat()) for s, t in self.done),
        )

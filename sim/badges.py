"""A simulated badge reader and the staff badges the simulator enrolls.

The reader hands raw badge ids to the station the way the serial reader's driver will:
through a sink the composition root wires, with no answer back (the screen tells).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from hygiene.badges import Role

REFERENT_BADGE = "0A1B2C3D4E"
TECHNICIAN_BADGE = "0F9E8D7C6B"
STAFF = ((REFERENT_BADGE, Role.HYGIENE_REFERENT, "Référente hygiène (simulée)"),
         (TECHNICIAN_BADGE, Role.TECHNICIAN, "Technicien (simulé)"))


class SimBadgeReader:
    """Presents badge ids to the station."""

    def __init__(self) -> None:
        self.sink: Callable[[str], Awaitable[None]] | None = None

    async def start(self) -> None:
        """Nothing to open: the simulated reader is in-process."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def present(self, raw: str) -> None:
        """A badge (or any bytes a broken reader may send) is held to the reader."""
        if self.sink is not None:
            await self.sink(raw)

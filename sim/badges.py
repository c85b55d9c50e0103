"""The staff badges the simulator enrolls (presented on the simulated RDM6300 reader)."""

from __future__ import annotations

from hygiene.badges import Role

REFERENT_BADGE = "0A1B2C3D4E"
TECHNICIAN_BADGE = "0F9E8D7C6B"
STAFF = ((REFERENT_BADGE, Role.HYGIENE_REFERENT, "Référente hygiène (simulée)"),
         (TECHNICIAN_BADGE, Role.TECHNICIAN, "Technicien (simulé)"))

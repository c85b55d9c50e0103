"""The first import: the GPs, staff and stations of the hub's TOML file, copied into its store at each start
(docs/design.md, "Accounts in the store").

The store is the source of truth: an account the file lists and the store lacks is created (a station
with every token the file gives it, in the file's order); an account the store already has is left as
it is, whatever the file says, so that what the command line and the accounts page changed wins. Each
account created is on the hub's audit trail, made by "hub configuration".
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.models import AuditEntry, Coordinator, Gp, GpStation, Station, StationToken

IMPORTER = "hub configuration"


def import_accounts(session: Session, config: HubConfig, at: datetime) -> list[str]:
    """Create in the store the accounts of `config` it lacks: what was created, as "action subject" lines."""
    changes: list[tuple[str, str]] = []
    stations = {s.id: s for s in session.scalars(select(Station))}
    for station_id in dict.fromkeys(s.id for s in config.stations):
        entry = next(s for s in config.stations if s.id == station_id)
        known = stations.get(station_id)
        if known is None:
            session.add(Station(id=station_id, site=entry.site, site_code=entry.site_code, enabled=True))
            session.add_all(StationToken(token_sha256=digest, station_id=station_id, position=position, retired=False)
                            for position, digest in enumerate(config.tokens(station_id)))
            changes.append(("station added", station_id))
        elif known.site_code is None and entry.site_code is not None:
            known.site_code = entry.site_code  # a store written before stations stood at sites
            changes.append(("station site set", station_id))
    session.flush()  # the GPs' stations refer to them
    gps = set(session.scalars(select(Gp.username)))
    for gp in config.gps:
        if gp.username not in gps:
            session.add(Gp(username=gp.username, password_hash=gp.password_hash, identity=gp.identity.model_dump(),
                           enabled=True))
            session.flush()
            session.add_all(GpStation(username=gp.username, station_id=s) for s in sorted(set(gp.stations)))
            changes.append(("gp added", gp.username))
    staff = set(session.scalars(select(Coordinator.username)))
    for member in config.coordinators:
        if member.username not in staff:
            session.add(Coordinator(username=member.username, password_hash=member.password_hash, name=member.name,
                                    role=member.role, site_code=member.site_code, enabled=True))
            changes.append((f"{member.role} added", member.username))
    session.add_all(AuditEntry(at=at, actor=IMPORTER, action=action, subject=subject) for action, subject in changes)
    return [f"{action} {subject}" for action, subject in changes]

"""The first import: the GPs, coordinators and stations of the hub's TOML file, copied into its store at each
start (docs/design.md, "The hub's store").

Importing an unchanged file changes nothing; an entry that changed is updated; an account gone
from the file is kept, marked no longer listed (a GP's second factor and the audit trail still
name her), and listed again if it comes back. Station tokens are the exception: only the digests
the file lists are kept, so that a rotated-out token does not linger. Each change is on the
hub's audit trail, made by "hub configuration".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.models import AuditEntry, Coordinator, Gp, GpStation, Station, StationToken

IMPORTER = "hub configuration"


def import_accounts(session: Session, config: HubConfig, at: datetime) -> list[str]:
    """Bring the store's accounts in line with `config`: what changed, as "action subject" lines."""
    changes: list[tuple[str, str]] = []
    _import_stations(session, config, changes)
    session.flush()  # the GPs' stations refer to them
    _import_gps(session, config, changes)
    _import_coordinators(session, config, changes)
    session.add_all(AuditEntry(at=at, actor=IMPORTER, action=action, subject=subject) for action, subject in changes)
    return [f"{action} {subject}" for action, subject in changes]


def _import_stations(session: Session, config: HubConfig, changes: list[tuple[str, str]]) -> None:
    sites = {s.id: s.site for s in config.stations}
    for station in session.scalars(select(Station)):
        site = sites.pop(station.id, None)
        if site is None:
            if station.listed:
                station.listed = False
                changes.append(("station unlisted", station.id))
        elif (station.site, station.listed) != (site, True):
            station.site, station.listed = site, True
            changes.append(("station updated", station.id))
    for station_id, site in sites.items():
        session.add(Station(id=station_id, site=site, listed=True))
        changes.append(("station added", station_id))

    listed = {digest: (station_id, position) for station_id in dict.fromkeys(s.id for s in config.stations)
              for position, digest in enumerate(config.tokens(station_id))}
    kept = {t.token_sha256: t for t in session.scalars(select(StationToken))}
    for digest, token in kept.items():
        if digest not in listed:
            session.delete(token)
            changes.append(("station token removed", token.station_id))
    for digest, (station_id, position) in listed.items():
        existing = kept.get(digest)
        if existing is None:
            session.add(StationToken(token_sha256=digest, station_id=station_id, position=position))
            changes.append(("station token added", station_id))
        elif (existing.station_id, existing.position) != (station_id, position):
            existing.station_id, existing.position = station_id, position
            changes.append(("station token updated", station_id))


def _import_gps(session: Session, config: HubConfig, changes: list[tuple[str, str]]) -> None:
    accounts = {gp.username: gp for gp in config.gps}
    given: dict[str, set[str]] = {}
    for link in session.scalars(select(GpStation)):
        given.setdefault(link.username, set()).add(link.station_id)
    for gp in session.scalars(select(Gp)):
        account = accounts.pop(gp.username, None)
        if account is None:
            if gp.listed:
                gp.listed = False
                changes.append(("gp unlisted", gp.username))
            continue
        wanted: dict[str, Any] = {"password_hash": account.password_hash, "identity": account.identity.model_dump(),
                                  "listed": True}
        stations = set(account.stations)
        if {k: getattr(gp, k) for k in wanted} != wanted or given.get(gp.username, set()) != stations:
            for key, value in wanted.items():
                setattr(gp, key, value)
            _give(session, gp.username, stations)
            changes.append(("gp updated", gp.username))
    for username, account in accounts.items():
        session.add(Gp(username=username, password_hash=account.password_hash,
                       identity=account.identity.model_dump(), listed=True))
        session.flush()
        _give(session, username, set(account.stations))
        changes.append(("gp added", username))


def _import_coordinators(session: Session, config: HubConfig, changes: list[tuple[str, str]]) -> None:
    accounts = {c.username: c for c in config.coordinators}
    for row in session.scalars(select(Coordinator)):
        account = accounts.pop(row.username, None)
        if account is None:
            if row.listed:
                row.listed = False
                changes.append(("coordinator unlisted", row.username))
        elif (row.password_hash, row.name, row.listed) != (account.password_hash, account.name, True):
            row.password_hash, row.name, row.listed = account.password_hash, account.name, True
            changes.append(("coordinator updated", row.username))
    for username, account in accounts.items():
        session.add(Coordinator(username=username, password_hash=account.password_hash, name=account.name,
                                listed=True))
        changes.append(("coordinator added", username))


def _give(session: Session, username: str, stations: set[str]) -> None:
    """`username` is given exactly `stations`."""
    session.execute(delete(GpStation).where(GpStation.username == username))
    session.add_all(GpStation(username=username, station_id=s) for s in sorted(stations))

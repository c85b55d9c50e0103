"""The first import: the GPs, coordinators and stations of the hub's TOML file, copied into its store at each
start (docs/design.md, "The hub's store").

Importing an unchanged file changes nothing; an entry that changed is updated; an account gone
from the file is kept, marked no longer listed (a GP's second factor and the audit trail still
name her), and listed again if it comes back. Station tokens are the exception: only the digests
the file lists are kept, so that a rotated-out token does not linger. Each change is on the
hub's audit trail, made by "hub configuration".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.config import HubConfig
from hub.store.models import AuditEntry, Coordinator, Gp, GpStation, Station, StationToken

IMPORTER = "hub configuration"


class Listed(Protocol):
    """An account row the file may list or no longer list."""

    listed: bool


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
    _mirror(session, Station, "id", {s.id: {"site": s.site} for s in config.stations}, "station", changes)

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
    wanted = {name: {"password_hash": gp.password_hash, "identity": gp.identity.model_dump()}
              for name, gp in accounts.items()}
    changed = _mirror(session, Gp, "username", wanted, "gp", changes,
                      also=lambda name: given.get(name, set()) != set(accounts[name].stations))
    session.flush()  # the stations given refer to the GPs added
    for name in changed:
        _give(session, name, set(accounts[name].stations))


def _import_coordinators(session: Session, config: HubConfig, changes: list[tuple[str, str]]) -> None:
    wanted = {c.username: {"password_hash": c.password_hash, "name": c.name, "role": c.role, "site_code": c.site_code}
              for c in config.coordinators}
    _mirror(session, Coordinator, "username", wanted, "coordinator", changes)


def _mirror(session: Session, model: type[Listed], key: str, wanted: dict[str, dict[str, Any]], kind: str,
            changes: list[tuple[str, str]], *, also: Callable[[str], bool] = lambda name: False) -> list[str]:
    """Make `model`'s rows (by their `key` column) hold `wanted`'s fields, listed: a row the file no
    longer has is kept, unlisted; a row that differs (or for which `also` says so) is updated; a
    missing one is added. Each change goes to `changes` as "<kind> added|updated|unlisted"; the keys
    added or updated are returned."""
    left = dict(wanted)
    touched: list[str] = []
    for row in session.scalars(select(model)):
        name = getattr(row, key)
        fields = left.pop(name, None)
        if fields is None:
            if row.listed:
                row.listed = False
                changes.append((f"{kind} unlisted", name))
        elif not row.listed or any(getattr(row, f) != v for f, v in fields.items()) or also(name):
            for field, value in fields.items():
                setattr(row, field, value)
            row.listed = True
            changes.append((f"{kind} updated", name))
            touched.append(name)
    for name, fields in left.items():
        session.add(model(**{key: name, **fields, "listed": True}))
        changes.append((f"{kind} added", name))
        touched.append(name)
    return touched


def _give(session: Session, username: str, stations: set[str]) -> None:
    """`username` is given exactly `stations`."""
    session.execute(delete(GpStation).where(GpStation.username == username))
    session.add_all(GpStation(username=username, station_id=s) for s in sorted(stations))

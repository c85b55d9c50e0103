"""The stations' health in the hub's store (docs/design.md, "The fleet view"): the latest report of
each, and samples of the past for the charts, pruned after [monitoring] history_days. Functions of
one SQLAlchemy session, run through `Store.run`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.store.models import StationHealthLatest, StationHealthSample

Report = dict[str, Any]


def keep(session: Session, station_id: str, at: datetime, report: Report, *, sample: bool) -> None:
    """Make `report` the station's latest; with `sample`, add it to the station's history too."""
    row = session.get(StationHealthLatest, station_id)
    if row is None:
        session.add(StationHealthLatest(station_id=station_id, at=at, report=report))
    else:
        row.at, row.report = at, report
    if sample:
        session.add(StationHealthSample(station_id=station_id, at=at, report=report))


def latest(session: Session) -> list[tuple[str, datetime, Report]]:
    """Every station's latest report: (station, when it came, the report), by station."""
    rows = session.scalars(select(StationHealthLatest).order_by(StationHealthLatest.station_id))
    return [(row.station_id, row.at, row.report) for row in rows]


def history(session: Session, station_id: str, since: datetime) -> list[tuple[datetime, Report]]:
    """The station's samples since `since`, oldest first."""
    rows = session.scalars(select(StationHealthSample)
                           .where(StationHealthSample.station_id == station_id, StationHealthSample.at >= since)
                           .order_by(StationHealthSample.at, StationHealthSample.id))
    return [(row.at, row.report) for row in rows]


def prune(session: Session, before: datetime) -> int:
    """Forget the samples older than `before`; how many went."""
    result = session.execute(delete(StationHealthSample).where(StationHealthSample.at < before))
    return int(getattr(result, "rowcount", 0) or 0)

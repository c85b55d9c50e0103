"""The stations' audit chain heads the hub acknowledged, kept in the store (docs/design.md, "The audit chain")."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.store.models import StationAuditHead


def acknowledged_heads(session: Session) -> dict[str, tuple[int, str]]:
    """Each station's last acknowledged head: (seq, hash) by station id."""
    return {row.station_id: (row.seq, row.hash) for row in session.scalars(select(StationAuditHead))}


def keep_head(session: Session, station_id: str, seq: int, hash_: str, at: datetime) -> None:
    """Record `station_id`'s newly acknowledged head."""
    session.merge(StationAuditHead(station_id=station_id, seq=seq, hash=hash_, at=at))

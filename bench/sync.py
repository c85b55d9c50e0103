"""A week without network, then synchronised: the vehicle's hub and the department's hub (docs/design.md,
"A day without network").

Each round, in a temporary directory (SQLite): a department's hub and a vehicle's hub, both real, the
vehicle's uplink to the department over HTTP on this machine. A week of one mobile unit's stops (5 days,
`--patients` a day) is written on the vehicle while it is cut off: each patient's booking (by phone, or a
walk-in), visit, and three audit entries, journaled as every change is. Then:

(a) time: `Uplink.synchronise()` from the link back to both hubs holding the same rows (pages of 200
    documents each way, each applied by the merge rule, the journal written on the department too).
    Reference: copying the same rows once, a bulk INSERT of them into a third store, in one transaction.
    Target: ratio <= 20.
(b) bytes: the bodies of the requests and answers the synchronisation sent. Reference: the same rows once,
    as compact JSON. Target: ratio <= 1.5.

    python -m bench.sync [--patients 40] [--rounds 3] [--json]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.engine import URL

from bench.common import Figure, measure_and_report, median, parser, progress, ratio
from hub.booking.records import person_digest
from hub.config import (
    SCRYPT_MIN_N,
    GpAccount,
    HubConfig,
    ListenSection,
    SiteSection,
    StationAccount,
    StopSection,
    StoreSection,
    UpstreamSection,
    VehicleAccount,
    VehicleSection,
    hash_password,
    token_digest,
)
from hub.server import Hub
from hub.store import Store
from hub.store.accounts import import_accounts
from hub.store.models import AuditEntry, Booking, Visit
from hub.sync.docs import KINDS, encode
from protocol.booking_code import new_code
from protocol.hub import GpIdentity
from runtime.errors import StationError

NAME = "sync"
DAYS = 5
MONDAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 12, 17, 0, tzinfo=UTC)  # the Saturday after the week, the link back
TIME_TARGET, BYTES_TARGET = 20.0, 1.5
TOKEN = "bench-vehicle-sync-token-0123456789"
STATION = "vehicle-1"


def bench_config(store: Path, **fields: Any) -> HubConfig:
    """The mobile unit BEN001 with a stop each weekday of the week, its vehicle's station and a GP."""
    site = SiteSection(code="BEN001", name="Cabinet mobile", town="Cher", stops=tuple(
        StopSection(date=MONDAY + timedelta(days=d), place=f"Stop {d}", address=f"Place {d}",
                    hours=("08:00-20:00",)) for d in range(DAYS)))  # type: ignore[arg-type]
    station = StationAccount(id=STATION, site="Cher", site_code=site.code, token_sha256=token_digest("station-token"))
    gp = GpAccount(username="gp0", password_hash=hash_password("x", n=SCRYPT_MIN_N, p=1), stations=(STATION,),
                   identity=GpIdentity(name="Dr Bench", rpps="10000000000", address="Bourges", phone="02 00 00 00 00"))
    return HubConfig.model_validate({"hub": ListenSection(port=0), "sites": (site,), "stations": (station,),
                                     "gps": (gp,), "store": StoreSection(url=f"sqlite:///{store}"), **fields})


def week(patients: int) -> dict[str, list[dict[str, Any]]]:
    """A week's rows of the vehicle, as the models' attributes: bookings, visits, audit entries."""
    rows: dict[str, list[dict[str, Any]]] = {"bookings": [], "visits": [], "audit": []}
    for d in range(DAYS):
        day = MONDAY + timedelta(days=d)
        start = datetime(day.year, day.month, day.day, 7, 0, tzinfo=UTC)
        for p in range(patients):
            slot = start + timedelta(minutes=15 * p)
            made = slot - timedelta(days=3)
            booking_id, birth = str(uuid.uuid4()), date(1950 + p % 50, 1 + p % 12, 1 + p % 28)
            rows["bookings"].append({
                "id": booking_id, "code": new_code(), "station_id": STATION, "site_code": "BEN001",
                "slot_start": slot, "slot_end": slot + timedelta(minutes=15), "gp": "gp0",
                "patient_name": f"Patient {d}-{p}", "birth_date": birth, "sex": "FM"[p % 2], "representative": None,
                "phone": "06 00 00 00 00", "email": None, "language": "fr", "person": person_digest(f"P{p}", birth),
                "status": "booked" if p % 10 else "no_show", "channel": "walk_in" if p % 4 == 0 else "phone",
                "created_at": made, "created_by": "secretary", "changed_at": made, "reason": None,
                "regular_doctor": p % 3 != 0, "changed_on": "vehicle-1"})
            rows["visits"].append({
                "id": str(uuid.uuid4()), "booking_id": booking_id, "site_code": "BEN001", "day": day, "ticket": p + 1,
                "position": p + 1, "reason": "", "status": "done", "arrived_at": slot, "called_at": slot,
                "started_at": slot, "ended_at": slot + timedelta(minutes=12), "created_by": "secretary",
                "changed_at": slot + timedelta(minutes=12), "changed_on": "vehicle-1"})
            rows["audit"] += [{"at": made + timedelta(seconds=s), "actor": "secretary", "action": action,
                               "subject": booking_id} for s, action in enumerate(("booking made", "visit welcomed",
                                                                                  "visit done"))]
    return rows


async def write_offline(hub: Hub, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The week written on the vehicle's store through the ORM, a day a transaction: journaled as any change."""
    per_day = len(rows["bookings"]) // DAYS
    models = {"bookings": Booking, "visits": Visit, "audit": AuditEntry}
    for d in range(DAYS):
        def write(session: Any, d: int = d) -> None:
            for name, model in models.items():
                share = per_day * (3 if name == "audit" else 1)
                session.add_all(model(**row) for row in rows[name][d * share:(d + 1) * share])
        await hub.book._store.run(write)


async def bulk_copy(url: URL, config: HubConfig, rows: dict[str, list[dict[str, Any]]]) -> float:
    """Seconds to insert the same rows once into a fresh store, in one transaction (the reference)."""
    store = Store(url)
    await store.start()
    try:
        await store.run(lambda s: import_accounts(s, config, NOW))
        audit = [{**row, "origin": "vehicle-1", "origin_id": n + 1} for n, row in enumerate(rows["audit"])]

        def copy(session: Any) -> None:
            session.execute(insert(Booking), rows["bookings"])
            session.execute(insert(Visit), rows["visits"])
            session.execute(insert(AuditEntry), audit)
        began = time.perf_counter()
        await store.run(copy)
        return time.perf_counter() - began
    finally:
        await store.stop()


def rows_bytes(rows: dict[str, list[dict[str, Any]]]) -> int:
    """The rows once as compact JSON, as a document codes them (a visit without its reason)."""
    coded = {name: [encode(KINDS[name], KINDS[name].model(**row)) for row in group] for name, group in rows.items()}
    return len(json.dumps(coded, separators=(",", ":")).encode())


async def one_round(tmp: Path, patients: int) -> tuple[float, float, int, int]:
    """(sync seconds, bulk copy seconds, sync bytes, rows' bytes) of one week."""
    department = Hub(bench_config(tmp / "department.sqlite3", vehicles=(
        VehicleAccount(id="vehicle-1", site_code="BEN001", token_sha256=token_digest(TOKEN)),)), wall=NOW.timestamp)
    await department.start()
    upstream = UpstreamSection(url=f"http://127.0.0.1:{department.port}", token=SecretStr(TOKEN), interval_s=3600)
    vehicle = Hub(bench_config(tmp / "vehicle.sqlite3", vehicle=VehicleSection(
        id="vehicle-1", site_code="BEN001", station=STATION, upstream=upstream)), wall=NOW.timestamp)
    try:
        await vehicle.start()
        uplink = vehicle.sync.uplink
        assert uplink is not None
        await uplink.synchronise()  # the accounts' import, before the week
        rows = week(patients)
        await write_offline(vehicle, rows)
        began = time.perf_counter()
        done = await uplink.synchronise()
        took = time.perf_counter() - began
    finally:
        await vehicle.stop()
        await department.stop()
    bulk = await bulk_copy(URL.create("sqlite", database=str(tmp / "copy.sqlite3")), bench_config(tmp / "x"), rows)
    return took, bulk, done.bytes_sent + done.bytes_received, rows_bytes(rows)


async def measure(patients: int, rounds: int) -> list[Figure]:
    progress(f"bench.sync: {DAYS} days of {patients} patients (bookings, visits, 3 audit entries each), "
             f"{rounds} rounds")
    results = []
    for n in range(rounds):
        with tempfile.TemporaryDirectory(prefix="cabin-bench-sync-") as tmp:
            results.append(await one_round(Path(tmp), patients))
        progress(f"bench.sync: round {n + 1}: sync {results[-1][0]:.3f} s, copy {results[-1][1]:.3f} s")
    sync_s, copy_s = median([r[0] for r in results]) * 1000, median([r[1] for r in results]) * 1000
    sync_bytes, row_bytes = float(results[-1][2]), float(results[-1][3])
    return [
        Figure("bulk_copy", copy_s, "ms", None, None, "reference"),
        Figure("synchronise", sync_s, "ms", copy_s, ratio(sync_s, copy_s), f"ratio <= {TIME_TARGET:g}"),
        Figure("rows_json", row_bytes, "B", None, None, "reference"),
        Figure("sync_bytes", sync_bytes, "B", row_bytes, ratio(sync_bytes, row_bytes), f"ratio <= {BYTES_TARGET:g}"),
    ]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    p = parser("A week offline on a vehicle's hub, synchronised with the department's, against copying the rows.")
    p.add_argument("--patients", type=int, default=40, help="patients a day (default 40)")
    p.add_argument("--rounds", type=int, default=3, help="weeks synchronised, each in fresh stores (default 3)")
    args = p.parse_args(argv)
    if not 1 <= args.patients <= 48 or args.rounds < 1:
        p.error("--patients is 1 to 48 (a slot every 15 minutes, 08:00 to 20:00), --rounds at least 1")
    return measure_and_report(NAME, lambda: asyncio.run(measure(args.patients, args.rounds)), as_json=args.json,
                              errors=(StationError, OSError))


if __name__ == "__main__":
    sys.exit(main())

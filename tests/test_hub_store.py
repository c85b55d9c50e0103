"""The hub's store on SQLite and PostgreSQL (docs/design.md, "The hub's store"): its migrations, the
import of the hub's file, the GPs' second factors, and a hub serving from it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    create_engine,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from hub.config import (
    SCRYPT_MIN_N,
    GpAccount,
    HubConfig,
    LoginSection,
    StationAccount,
    StoreSection,
    hash_password,
    token_digest,
)
from hub.server import Hub
from hub.store import Store, alembic_config
from hub.store.accounts import import_accounts
from hub.store.models import AuditEntry, Base, Gp, GpStation, Station, StationToken
from hub.totp import TotpStore
from runtime.errors import StationError
from runtime.storage import make_state_dir
from tests.test_hub import hub_config, login
from tests.test_hub_totp import Wall, enrol, session

AT = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
TABLES = {"alembic_version", "audit", "bookings", "closures", "coordinators", "gps", "gp_sessions", "gp_stations", "logins", "outbox",
          "stops", "sync_journal", "sync_peers", "visits", "station_health", "station_health_samples",
          "maintenance_runs",
          "recovery_codes", "stations", "station_audit_heads", "station_tokens", "totp"}


@pytest.fixture
async def store(store_url: URL) -> AsyncIterator[Store]:
    opened = Store(store_url)
    await opened.start()
    yield opened
    await opened.stop()


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config(None)).get_current_head()
    assert revision is not None
    return revision


async def test_an_empty_database_is_brought_to_the_latest_schema(store_url: URL) -> None:
    for _ in range(2):  # the second start finds nothing to do
        store = Store(store_url)
        await store.start()
        await store.stop()
    engine = create_engine(store_url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == TABLES
        assert MigrationContext.configure(connection).get_current_revision() == head()
    engine.dispose()


async def test_the_migrations_build_exactly_the_models(store: Store) -> None:
    def differences(session: Session) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(session.connection()), Base.metadata))
    assert await store.run(differences) == []


async def test_a_store_written_by_a_newer_hub_is_refused_untouched(store_url: URL) -> None:
    store = Store(store_url)
    await store.start()
    await store.stop()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'from-the-future'"))
    with pytest.raises(StationError, match="was written by a newer hub .*: it was left untouched"):
        await Store(store_url).start()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "from-the-future"
    engine.dispose()


RENAMED = {"listed": "enabled"}  # revision 0007: an account is enabled or disabled


def value(column: Column[Any], n: int) -> object:
    """The `n`th row's value in `column`: that of the row it references for a foreign key, else one of its type,
    distinct per column and row so that unique constraints hold."""
    for key in column.foreign_keys:
        return value(key.column, n)
    if isinstance(column.type, Boolean):
        return n % 2 == 1
    if isinstance(column.type, Integer):
        return n
    if isinstance(column.type, DateTime):
        return AT + timedelta(hours=n)
    if isinstance(column.type, Date):
        return AT.date() + timedelta(days=n)
    if isinstance(column.type, JSON):
        return {"name": f"{column.table.name}.{column.name}.{n}"}
    assert isinstance(column.type, String), f"no value for {column.table.name}.{column.name} {column.type!r}"
    return f"{column.table.name}.{column.name}.{n}"


def fill(connection: Connection) -> dict[str, list[str]]:
    """Two rows in every table the store has at its revision, every column given, every foreign key naming a
    row of the table it references (what a hub in service holds): each table's columns."""
    metadata = MetaData()
    metadata.reflect(connection)
    tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
    for table in tables:
        connection.execute(table.insert(), [{column.name: value(column, n) for column in table.columns}
                                            for n in (1, 2)])
    return {table.name: [column.name for column in table.columns] for table in tables}


def contents(connection: Connection, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of each table in `columns`, those columns of them, in the order of their primary keys."""
    metadata = MetaData()
    metadata.reflect(connection)
    rows = {}
    for name, names in columns.items():
        table = metadata.tables[name]
        query = select(*(table.c[column] for column in names)).order_by(*table.primary_key)
        rows[name] = [tuple(row) for row in connection.execute(query)]
    return rows


@pytest.mark.parametrize("revision", [script.revision for script in
                                      ScriptDirectory.from_config(alembic_config(None)).walk_revisions()][1:])
async def test_upgrading_a_store_in_service_keeps_every_row(store_url: URL, revision: str) -> None:
    """From every earlier revision. SQLite's foreign keys are on during the migrations, as always
    (hub/store/__init__.py): a migration that recreated a referenced table (batch mode) would delete the rows
    referencing it, or fail on them."""
    if store_url.database and store_url.get_backend_name() == "sqlite":
        make_state_dir(Path(store_url.database).parent)
    engine = create_engine(store_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
        columns = fill(connection)
    with engine.connect() as connection:
        before = contents(connection, columns)
    assert all(len(rows) == 2 for rows in before.values())
    store = Store(store_url)
    await store.start()
    await store.stop()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head()
        after = contents(connection, {name: [RENAMED.get(column, column) for column in names]
                                      for name, names in columns.items()})
    engine.dispose()
    assert after == before


async def test_an_unreachable_postgresql_says_where_without_its_password() -> None:
    url = URL.create("postgresql+psycopg", username="cabin", password="s3cret", host="127.0.0.1", port=1,
                     database="hub")
    with pytest.raises(StationError) as refused:
        await Store(url).start()
    assert str(refused.value).startswith("cannot open the hub's store postgresql+psycopg://cabin:***@127.0.0.1:1/hub: ")
    assert "\n" not in str(refused.value) and "s3cret" not in str(refused.value)  # one line, no password


def test_the_store_url_is_sqlite_or_postgresql() -> None:
    with pytest.raises(ValidationError, match="in SQLite or PostgreSQL, not 'mysql'"):
        StoreSection(url="mysql://cabin@db/hub")
    with pytest.raises(ValidationError, match="not a database URL"):
        StoreSection(url="db.example.org")
    config = HubConfig(store=StoreSection(url="postgresql://cabin@db.example.org/hub"))
    assert config.store_url().drivername == "postgresql+psycopg"
    assert HubConfig(login=LoginSection(state_dir=Path("/var/lib/cabin-hub"))).store_url().database == \
        "/var/lib/cabin-hub/hub.sqlite3"
    assert HubConfig().store_url().database is None and not HubConfig().durable_store  # in memory


def accounts(session: Session) -> dict[str, list[Any]]:
    """Everything the import writes but the audit trail, as plain values."""
    return {
        "stations": sorted((s.id, s.site, s.enabled) for s in session.scalars(select(Station))),
        "tokens": sorted((t.station_id, t.position, t.token_sha256) for t in session.scalars(select(StationToken))),
        "gps": sorted((g.username, g.password_hash, g.identity["name"], g.enabled)
                      for g in session.scalars(select(Gp))),
        "given": sorted((g.username, g.station_id) for g in session.scalars(select(GpStation))),
    }


def audit(session: Session) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.subject) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


async def test_the_hub_file_is_a_first_import_that_never_overwrites_the_store(store: Store) -> None:
    config = hub_config()
    first = await store.run(lambda s: import_accounts(s, config, AT))
    assert sorted(first) == ["gp added bob", "gp added claire", "gp added dana", "station added cab-chelles",
                             "station added cab-nangis"]
    imported = await store.run(accounts)
    assert imported["given"] == [("bob", "cab-chelles"), ("claire", "cab-nangis"), ("dana", "cab-chelles"),
                                 ("dana", "cab-nangis")]
    assert await store.run(lambda s: import_accounts(s, config, AT)) == []  # the same file again
    assert await store.run(accounts) == imported
    assert len(await store.run(audit)) == len(first)

    # The file changed: what the store has stays as it is, only an account it lacks is created.
    nangis = config.stations[0]
    rotated = StationAccount(id="cab-nangis", site="Nangis (CMS)", token_sha256=token_digest("the next token"))
    claire = config.gps[0]
    eve = GpAccount.model_validate(claire.model_dump() | {"username": "eve"})
    changed = hub_config(
        stations=(nangis.model_copy(update={"site": "Nangis (CMS)"}), rotated, config.stations[1]),
        gps=(GpAccount.model_validate(claire.model_dump() | {"stations": ("cab-nangis", "cab-chelles")}),
             config.gps[2].model_copy(update={"password_hash": hash_password("new", n=SCRYPT_MIN_N, p=1)}), eve))
    assert await store.run(lambda s: import_accounts(s, changed, AT)) == ["gp added eve"]
    after = await store.run(accounts)
    assert after["stations"] == imported["stations"] and after["tokens"] == imported["tokens"]
    assert [g for g in after["gps"] if g[0] != "eve"] == imported["gps"]
    assert after["given"] == sorted([*imported["given"], ("eve", "cab-nangis")])
    assert ("hub configuration", "gp added", "eve") in await store.run(audit)


async def test_second_factors_are_kept_in_the_store(store: Store) -> None:
    wall = Wall()
    totp = TotpStore(store, wall)
    app = pyotp.TOTP(pyotp.random_base32())
    assert not await totp.enrolled("claire")
    assert await totp.enrol("claire", app.secret, "000000" if app.at(wall.now) != "000000" else "111111") is None
    codes = await totp.enrol("claire", app.secret, app.at(wall.now))
    assert codes is not None and await totp.enrolled("claire")
    assert await totp.enrol("claire", app.secret, app.at(wall.now)) is None  # enrolled once
    assert not await totp.verify("claire", app.at(wall.now))  # the enrolment's own code is taken
    wall.now += 30
    assert await totp.verify("claire", app.at(wall.now))
    assert not await totp.verify("claire", app.at(wall.now))
    assert await totp.use_recovery("claire", codes[0].lower())
    assert not await totp.use_recovery("claire", codes[0])
    assert await totp.forget("claire", by="an operator")
    assert not await totp.forget("claire", by="an operator")
    assert not await totp.use_recovery("claire", codes[1]) and not await totp.enrolled("claire")
    assert [entry[1:] for entry in await store.run(audit)] == [
        ("second factor set up", "claire"), ("recovery code used", "claire"), ("second factor removed", "claire")]
    assert (await store.run(audit))[2][0] == "an operator"


async def test_the_totp_file_of_an_earlier_hub_is_taken_over(tmp_path: Path) -> None:
    """Before the store, the hub kept second factors in hub.sqlite3 (runtime/storage's schema 1)."""
    path = tmp_path / "hub.sqlite3"
    app = pyotp.TOTP(pyotp.random_base32())
    with sqlite3.connect(path) as earlier:
        earlier.executescript(f"""
            CREATE TABLE totp (username TEXT PRIMARY KEY, secret TEXT NOT NULL, last_step INTEGER NOT NULL);
            CREATE TABLE recovery_codes (username TEXT NOT NULL REFERENCES totp(username) ON DELETE CASCADE,
                                         digest TEXT NOT NULL, PRIMARY KEY (username, digest));
            INSERT INTO totp VALUES ('claire', '{app.secret}', 0);
            PRAGMA user_version = 1;
        """)
    earlier.close()
    store = Store(URL.create("sqlite", database=str(path)))
    await store.start()
    try:
        wall = Wall()
        assert await TotpStore(store, wall).verify("claire", app.at(wall.now))
    finally:
        await store.stop()


async def test_a_hub_keeps_its_accounts_and_second_factors_in_the_store_at_its_url(store_url: URL,
                                                                                   tmp_path: Path) -> None:
    wall = Wall()
    url = store_url.render_as_string(hide_password=False)
    config = hub_config(store=StoreSection(url=url), login=LoginSection(require_totp=True))
    for restarted in (False, True):
        server = Hub(config, console_dir=tmp_path, wall=wall)
        await server.start()
        try:
            async with session() as http:
                if restarted:
                    wall.now += 30
                    status, answer = await login(http, server)
                    assert status == 200 and answer["next"] == "code"  # her second factor outlived the restart
                else:
                    await enrol(http, server, wall)
        finally:
            await server.stop()
    engine = create_engine(store_url)
    with Session(engine) as stored:
        assert audit(stored)[-1] == ("claire", "second factor set up", "claire")
        assert {g.username for g in stored.scalars(select(Gp))} == {"bob", "claire", "dana"}
    engine.dispose()

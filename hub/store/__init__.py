"""The hub's store: one SQLAlchemy data layer over SQLite (the default) or PostgreSQL, brought to
the latest schema by Alembic's migrations when it starts (docs/design.md, "The hub's store").

Every read and write goes through `Store.run`, which runs a function in one transaction on the
store's own worker thread, so that the event loop never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from runtime.errors import StationError
from runtime.storage import create_private, make_state_dir

log = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Any) -> Config:
    """Alembic's configuration for the hub's migrations on `connection`: no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    """The durability and integrity the station's own file has (runtime/storage.py)."""
    cursor = dbapi_connection.cursor()
    for pragma in ("busy_timeout=5000", "foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class Store:
    """The hub's database at `url`, opened and migrated to the latest schema by start()."""

    def __init__(self, url: URL) -> None:
        self._url = url
        self._engine: Engine | None = None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def where(self) -> str:
        """The store's URL for messages and logs, without its password."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> Engine | None:
        """The open database's engine (None until started): what `Session`s of this store are bound to."""
        return self._engine

    async def start(self) -> None:
        """Open the database (a SQLite file is created 0600 in a 0700 directory) and apply every migration
        it lacks; StationError saying why it cannot."""
        if self._engine is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-store")
        try:
            self._engine = await self._in_thread(self._open)
        except BaseException:
            self._executor.shutdown()
            self._executor = None
            raise
        log.info("hub store: %s", self.where)

    async def stop(self) -> None:
        """Close every connection; idempotent."""
        engine, self._engine = self._engine, None
        executor, self._executor = self._executor, None
        if engine is not None and executor is not None:
            await asyncio.get_running_loop().run_in_executor(executor, engine.dispose)
        if executor is not None:
            executor.shutdown()

    async def run(self, work: Callable[[Session], T]) -> T:
        """`work` in one transaction, committed when it returns, rolled back when it raises; a database
        error is a StationError naming the store."""
        engine = self._engine
        if engine is None:
            raise StationError("the hub's store is not open")

        def transaction() -> T:
            try:
                with Session(engine, expire_on_commit=False) as session, session.begin():
                    return work(session)
            except SQLAlchemyError as exc:
                raise StationError(f"the hub's store {self.where} failed: {exc}") from exc
        return await self._in_thread(transaction)

    async def _in_thread(self, call: Callable[[], T]) -> T:
        assert self._executor is not None
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _open(self) -> Engine:
        sqlite = self._url.get_backend_name() == "sqlite"
        try:
            if sqlite and self._url.database:
                path = Path(self._url.database)
                make_state_dir(path.parent)
                create_private(path)
            engine = create_engine(self._url)
        except (OSError, SQLAlchemyError) as exc:
            raise StationError(f"cannot open the hub's store {self.where}: {exc}") from exc
        if sqlite:
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            with engine.begin() as connection:
                command.upgrade(alembic_config(connection), "head")
        except CommandError as exc:
            engine.dispose()
            raise StationError(f"the hub's store {self.where} was written by a newer hub ({exc}): it was left "
                               "untouched; run that hub's software, or a newer one") from exc
        except DBAPIError as exc:
            engine.dispose()
            why = " ".join(str(exc.orig).split())  # psycopg's hints come on lines of their own
            raise StationError(f"cannot open the hub's store {self.where}: {why}") from exc
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StationError(f"cannot open the hub's store {self.where}: {exc}") from exc
        except BaseException:
            engine.dispose()
            raise
        return engine

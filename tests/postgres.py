"""A PostgreSQL server for the tests (fleet/postgres.py): one per test session, with a fresh database for
each test. Where the server cannot start, the tests that need it skip saying why; CI sets NEED_POSTGRES,
and there they fail instead (as tests/test_fault_storage.py does for namespaces).
"""

from __future__ import annotations

import os

import pytest

from fleet.daemons import CannotStart
from fleet.postgres import PostgresServer, postgres_server

__all__ = ["CannotStart", "PostgresServer", "postgres_server", "skip_or_fail"]

NEED_POSTGRES = "CABIN_TESTS_NEED_POSTGRES"


def skip_or_fail(why_not: str, what: str = "PostgreSQL server") -> None:
    """Skip, saying why; fail instead where NEED_POSTGRES is set (CI): there the hub's services (PostgreSQL,
    the broker, the proxy, coturn) must all start."""
    if os.environ.get(NEED_POSTGRES):
        pytest.fail(f"{NEED_POSTGRES} is set, so the tests of the hub's services must run here, but the {what} "
                    f"cannot start: {why_not}", pytrace=False)
    pytest.skip(f"no {what} for the tests: {why_not}")

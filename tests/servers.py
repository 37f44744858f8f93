"""How the tests reach a throwaway server: one libpq URI builder for every layout."""

from __future__ import annotations

from pytest_postgresql.executors import PostgreSQLExecutor


def conninfo(executor: PostgreSQLExecutor, dbname: str, user: str | None = None) -> str:
    """A libpq URI for ``dbname`` on the test server, as ``user`` (default: the superuser)."""
    return f"postgresql://{user or executor.user}@{executor.host}:{executor.port}/{dbname}"

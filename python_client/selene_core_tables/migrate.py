"""Applying the yoyo migrations (and, through their post-apply hook, sql/)."""

from __future__ import annotations

from typing import Any

import psycopg
from yoyo import get_backend, read_migrations

from selene_core_tables.resources import resource_dir

#: yoyo's record of the migrations it applied (its own table, read here only).
_YOYO_TABLE = "public._yoyo_migration"


def yoyo_url(conninfo: str) -> str:
    """Turn a libpq URI (``postgresql://...``) into the URL yoyo wants for psycopg 3.

    yoyo picks its driver from the scheme: ``postgresql+psycopg://`` is psycopg 3.
    """
    for scheme in ("postgresql://", "postgres://"):
        if conninfo.startswith(scheme):
            return "postgresql+psycopg://" + conninfo[len(scheme) :]
    if conninfo.startswith("postgresql+psycopg://"):
        return conninfo
    raise ValueError(f"expected a postgresql:// URI, got {conninfo!r}")


def apply_migrations(conninfo: str) -> int:
    """Apply every pending migration to the database at ``conninfo``; return how many.

    Runs as the connecting role, which must be a superuser (migration 0001 creates
    a BYPASSRLS role). Re-running with nothing pending changes nothing.
    """
    migrations = read_migrations(str(resource_dir("migrations")))
    with get_backend(yoyo_url(conninfo)) as backend, backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return len(pending)


def rollback_migrations(conninfo: str) -> int:
    """Roll back every applied migration of the database at ``conninfo``; return how many."""
    migrations = read_migrations(str(resource_dir("migrations")))
    with get_backend(yoyo_url(conninfo)) as backend, backend.lock():
        applied = backend.to_rollback(migrations)
        backend.rollback_migrations(applied)
    return len(applied)


def reinstall_sql(conninfo: str) -> None:
    """Re-run the post-apply hook (install sql/) even when no migration is pending.

    `yoyo apply` runs it only after applying something; call this after upgrading
    the package so that changed functions reach an already migrated database.
    """
    migrations = read_migrations(str(resource_dir("migrations")))
    with get_backend(yoyo_url(conninfo)) as backend, backend.lock():
        backend.run_post_apply(migrations)


def migration_ids() -> set[str]:
    """Return the ids of the migrations this package ships."""
    return {migration.id for migration in read_migrations(str(resource_dir("migrations")))}


def applied_migration_ids(conn: psycopg.Connection[Any]) -> set[str]:
    """Return the ids of the migrations yoyo recorded as applied on ``conn``'s database.

    Empty when yoyo never ran there. A cheaper look than :func:`apply_migrations`,
    whose no-op run still leaves yoyo's failed CREATE TABLE / DROP TABLE probes as
    ERROR lines in the server log.
    """
    row = conn.execute(f"SELECT pg_catalog.to_regclass('{_YOYO_TABLE}') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return set()
    return {
        migration_id
        for (migration_id,) in conn.execute(f"SELECT migration_id FROM {_YOYO_TABLE}").fetchall()
    }

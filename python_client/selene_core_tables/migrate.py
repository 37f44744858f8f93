"""Applying the yoyo migrations (and, through their post-apply hook, sql/)."""

from __future__ import annotations

from yoyo import get_backend, read_migrations

from selene_core_tables.resources import resource_dir


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

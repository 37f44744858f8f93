"""What the embedded cluster holds besides the server: the database, its schema, its logins."""

from __future__ import annotations

import psycopg
from psycopg import sql

from selene_core_tables.migrate import applied_migration_ids, apply_migrations, migration_ids

DEFAULT_DBNAME = "selene"
"""The database that holds the schema in the embedded cluster."""

APP_LOGIN = "selene_app"
"""Login role of the embedded cluster for services: a member of ``selene_os``."""

DBA_LOGIN = "selene_admin"
"""Login role of the embedded cluster for administrators: a member of ``selene_dba``."""

_LOGIN_ROLES = (
    (APP_LOGIN, "selene_os", "Embedded database: login for Selene OS services (selene_os)."),
    (DBA_LOGIN, "selene_dba", "Embedded database: login for administrators (selene_dba)."),
)


def provision(maintenance_conninfo: str, conninfo: str) -> None:
    """Create :data:`DEFAULT_DBNAME` when missing, migrate it when behind, add the logins.

    ``maintenance_conninfo`` names the cluster's ``postgres`` database and
    ``conninfo`` the ``selene`` one, both as the superuser.
    """
    _ensure_database(maintenance_conninfo)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        pending = not migration_ids() <= applied_migration_ids(conn)
    if pending:
        apply_migrations(conninfo)
    _ensure_login_roles(conninfo)


def migrations_applied(conninfo: str) -> int | None:
    """Count the migrations applied to the database; None if it cannot be read."""
    try:
        with psycopg.connect(conninfo, connect_timeout=5, autocommit=True) as conn:
            return len(applied_migration_ids(conn))
    except psycopg.OperationalError:
        return None  # the database is not created yet, or the server is full


def _ensure_database(maintenance_conninfo: str) -> None:
    with psycopg.connect(maintenance_conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT FROM pg_catalog.pg_database WHERE datname = %s", (DEFAULT_DBNAME,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEFAULT_DBNAME)))


def _ensure_login_roles(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for login, group, comment in _LOGIN_ROLES:
            exists = conn.execute(
                "SELECT FROM pg_catalog.pg_roles WHERE rolname = %s", (login,)
            ).fetchone()
            if exists is None:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                        sql.Identifier(login), sql.Identifier(group)
                    )
                )
                conn.execute(
                    sql.SQL("COMMENT ON ROLE {} IS {}").format(
                        sql.Identifier(login), sql.Literal(comment)
                    )
                )

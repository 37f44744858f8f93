"""Which database the CLI talks to: the one a DSN names, or the embedded default.

With a DSN every connection logs in as the DSN says (a service login in
``selene_os``, a DBA login in ``selene_dba``, or a superuser for ``migrate``).
Without one, the embedded cluster is started (and migrated) on first use, and
each kind of work logs in as the role made for it there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from selene_core_tables.embedded import APP_LOGIN, DBA_LOGIN, EmbeddedCluster
from selene_core_tables.retry import RetryPolicy


class Login(enum.Enum):
    """The kind of login a piece of work needs."""

    APP = "app"  # a member of selene_os: the capabilities for one tenant
    DBA = "dba"  # a member of selene_dba: rebuild across tenants
    ADMIN = "admin"  # a superuser: migrations


@dataclass(frozen=True)
class Database:
    """A DSN, or (when ``dsn`` is None) the embedded cluster under ``home``.

    ``retry_for``: the seconds a call keeps retrying when the database cannot be
    reached or fails over (``RetryPolicy.deadline``; 0 fails at once).
    """

    dsn: str | None = None
    home: Path | None = None
    retry_for: float = RetryPolicy.deadline

    @property
    def is_embedded(self) -> bool:
        """True when no DSN was given and the embedded cluster is used."""
        return self.dsn is None

    def cluster(self) -> EmbeddedCluster:
        """Return the embedded cluster (not started)."""
        return EmbeddedCluster(self.home)

    def conninfo(self, login: Login) -> str:
        """Return the connection string for ``login``, starting the embedded cluster if needed."""
        if self.dsn is not None:
            return self.dsn
        cluster = self.cluster()
        cluster.ensure_running()
        user = {Login.APP: APP_LOGIN, Login.DBA: DBA_LOGIN, Login.ADMIN: None}[login]
        return cluster.conninfo(user)

    def connect(self, login: Login, **kwargs: Any) -> psycopg.Connection[Any]:
        """Open an autocommit connection for ``login`` (each call is its own transaction)."""
        return psycopg.connect(self.conninfo(login), autocommit=True, **kwargs)

    def describe(self) -> str:
        """Say in a few words which database this is, without starting anything."""
        if self.dsn is not None:
            return "the database of the given DSN"
        return f"the embedded database under {self.cluster().home}"

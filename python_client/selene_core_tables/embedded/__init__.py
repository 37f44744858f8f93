"""The embedded default database: a PostgreSQL cluster that the CLI runs itself.

When no database is named, ``selene-core-tables`` uses a cluster of its own under a
home directory (:func:`default_home`), initialised, started and migrated on first use
and reused afterwards::

    home/
        data/               the cluster (PGDATA): initdb --auth=trust, UTF8, locale C
        postgresql.log      the server's log, and initdb's output
        .s.PGSQL.5432       the Unix socket; there is no TCP listener at all
        lock                flock()ed while ensure_running() or stop() works

Authentication is ``trust``, so the socket is the guard: it is created mode 0700, home
is mode 0700, and only the server's OS user (and root) can connect. As root, the server
runs as :func:`selene_core_tables.server.server_os_user` and home belongs to that user.

By job: :mod:`selene_core_tables.pgcluster` runs the server (initdb, start, stop; the
benchmarks use it too), :mod:`.paths` makes the home safe to hold it, and
:mod:`.provision` the database, migrations and logins in it. This module puts them
together as :class:`EmbeddedCluster`.

Errors: :class:`selene_core_tables.server.ServerBinariesMissing` when PostgreSQL is not
installed (its message is the install hint), :class:`EmbeddedClusterError` when initdb
or pg_ctl fails or home cannot be used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selene_core_tables.embedded.paths import (
    EmbeddedClusterError,
    check_home_path,
    default_home,
    locked,
    prepare_home,
)
from selene_core_tables.embedded.provision import (
    APP_LOGIN,
    DBA_LOGIN,
    DEFAULT_DBNAME,
    migrations_applied,
    provision,
)
from selene_core_tables.pgcluster import PORT, SUPERUSER, LocalCluster
from selene_core_tables.server import find_bindir

_READY_TIMEOUT = 60.0  # seconds, as pg_ctl -w

__all__ = [
    "APP_LOGIN",
    "DBA_LOGIN",
    "DEFAULT_DBNAME",
    "PORT",
    "SUPERUSER",
    "EmbeddedCluster",
    "EmbeddedClusterError",
    "EmbeddedStatus",
    "default_home",
]


@dataclass(frozen=True)
class EmbeddedStatus:
    """What :meth:`EmbeddedCluster.status` found; it changes nothing to find it."""

    home: Path
    """The home directory."""
    initialised: bool
    """A cluster exists under home (``data/PG_VERSION``)."""
    running: bool
    """The cluster's postmaster is alive and accepts connections on the socket."""
    pid: int | None
    """The postmaster's process id, or None when it is not running."""
    socket_dir: Path
    """The directory of the Unix socket (the ``host`` of :meth:`EmbeddedCluster.conninfo`)."""
    log_file: Path
    """The server's log file."""
    migrations_applied: int | None
    """How many migrations the database has applied; None when not running (or not countable)."""


class EmbeddedCluster:
    """The PostgreSQL cluster under one home directory, started and migrated on demand."""

    def __init__(self, home: Path | None = None) -> None:
        """Use the cluster under ``home`` (default :func:`default_home`); touches nothing."""
        self._home = (home if home is not None else default_home()).expanduser().absolute()
        self._server = LocalCluster(
            data_dir=self._home / "data",
            socket_dir=self._home,  # home itself, to keep the socket path short
            log_file=self._home / "postgresql.log",
            error=EmbeddedClusterError,
        )

    @property
    def home(self) -> Path:
        """The home directory (absolute)."""
        return self._home

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory, ``home/data``."""
        return self._server.data_dir

    @property
    def socket_dir(self) -> Path:
        """The directory of the Unix socket: home itself, to keep the socket path short."""
        return self._server.socket_dir

    @property
    def log_file(self) -> Path:
        """The server's log file, ``home/postgresql.log``."""
        return self._server.log_file

    def conninfo(self, user: str | None = None, dbname: str = DEFAULT_DBNAME) -> str:
        """Return a libpq URI for ``dbname`` as ``user`` (None: the superuser) over the socket.

        See :meth:`selene_core_tables.pgcluster.LocalCluster.conninfo` for its encoding.
        """
        return self._server.conninfo(dbname, user)

    def ensure_running(self) -> None:
        """Make the cluster exist, run, hold a migrated ``selene`` database and the login roles.

        initdb when there is no cluster, pg_ctl start when it is not running, CREATE
        DATABASE when missing, pending migrations, then :data:`APP_LOGIN` and
        :data:`DBA_LOGIN` when missing. Idempotent; when all is in place it costs one
        lock and a few queries. Two processes calling it at once take turns (flock on
        ``home/lock``).

        Raises ServerBinariesMissing when PostgreSQL is not installed, and
        EmbeddedClusterError when the home path is unusable or initdb / pg_ctl fails.
        """
        check_home_path(self.home)
        find_bindir()  # ServerBinariesMissing before anything is created
        prepare_home(self.home)
        with locked(self.home):
            if not self._server.initialised():
                self._server.initdb("--data-checksums")
            if not self._server.wait_until_ready(_READY_TIMEOUT):
                self._server.start({"unix_socket_permissions": "0700"}, timeout=_READY_TIMEOUT)
            provision(self.conninfo(dbname="postgres"), self.conninfo())

    def status(self) -> EmbeddedStatus:
        """Describe the cluster without changing anything (no lock, no directory created)."""
        pid = self._server.postmaster_pid()
        running = pid is not None and self._server.running()
        return EmbeddedStatus(
            home=self.home,
            initialised=self._server.initialised(),
            running=running,
            pid=pid if running else None,
            socket_dir=self.socket_dir,
            log_file=self.log_file,
            migrations_applied=migrations_applied(self.conninfo()) if running else None,
        )

    def stop(self) -> bool:
        """Stop the cluster (pg_ctl stop -m fast); return False when it was not running."""
        if not self._server.initialised():
            return False
        with locked(self.home):
            return self._server.stop()

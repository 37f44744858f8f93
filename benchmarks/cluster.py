"""The throwaway PostgreSQL cluster the benchmarks run against.

One cluster per run, under a temporary directory (or ``--workdir``, reused when it
already holds one): ``initdb`` with the defaults (fsync on, no data checksums, the
default ``shared_buffers`` and ``work_mem``), a Unix socket in the directory and no TCP
listener, ``trust`` authentication. The server is run by
:class:`selene_core_tables.pgcluster.LocalCluster`, as the embedded database's is (as
root, as the server's user).

Roles: the superuser ``postgres`` (loading, the bare baselines, which bypass row-level
security as a superuser does), ``bench_app`` (a login in ``selene_os``: the capability
functions only, row-level security applies) and ``bench_dba`` (in ``selene_dba``: the
rebuild of every tenant).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from selene_core_tables.migrate import apply_migrations
from selene_core_tables.pgcluster import PORT, SUPERUSER, ClusterError, LocalCluster
from selene_core_tables.server import find_bindir, hand_over

APP_ROLE = "bench_app"
"""Login role in ``selene_os``: what a Selene OS service connects as."""

DBA_ROLE = "bench_dba"
"""Login role in ``selene_dba``: rebuilds across tenants."""


__all__ = [
    "APP_ROLE",
    "DBA_ROLE",
    "PORT",
    "SUPERUSER",
    "BenchCluster",
    "BenchClusterError",
    "throwaway_cluster",
]


class BenchClusterError(ClusterError):
    """initdb, pg_ctl or the cluster's directory failed; the message ends with the log."""


class BenchCluster:
    """A PostgreSQL cluster in ``workdir`` (``workdir/data``, socket and log beside it)."""

    def __init__(self, workdir: Path, settings: Mapping[str, str] | None = None) -> None:
        """Use ``workdir``; ``settings`` are extra server settings (``-c name=value``)."""
        self.workdir = workdir.absolute()
        self.settings = dict(settings or {})
        self._server = LocalCluster(
            data_dir=self.workdir / "data",
            socket_dir=self.workdir,
            log_file=self.workdir / "postgresql.log",
            error=BenchClusterError,
        )

    @property
    def data_dir(self) -> Path:
        """The data directory (PGDATA)."""
        return self._server.data_dir

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self._server.log_file

    @property
    def host(self) -> str:
        """The socket directory, as libpq's and pgbench's ``host``."""
        return str(self.workdir)

    def conninfo(self, dbname: str, user: str = SUPERUSER) -> str:
        """Return a libpq URI for ``dbname`` as ``user`` over the Unix socket."""
        return self._server.conninfo(dbname, user)

    def connect(self, dbname: str, user: str = SUPERUSER, **kwargs: Any) -> psycopg.Connection:
        """Open an autocommit connection to ``dbname`` as ``user``."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.conninfo(dbname, user), **kwargs)

    def start(self) -> None:
        """Run initdb when there is no cluster yet, then start it (restart a running one)."""
        if not self._server.initialised():
            self._server.initdb()
        self._server.stop()
        self._server.start(self.settings, timeout=120)

    def running(self) -> bool:
        """Return whether the cluster's postmaster accepts connections."""
        return self._server.running()

    def stop(self) -> None:
        """Stop the cluster (fast shutdown); nothing when it is not running."""
        self._server.stop()

    def ensure_database(self, dbname: str) -> bool:
        """Create and migrate ``dbname`` unless it exists; return True when created."""
        with self.connect("postgres") as conn:
            exists = conn.execute(
                "SELECT FROM pg_catalog.pg_database WHERE datname = %s", [dbname]
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        if exists is None:
            apply_migrations(self.conninfo(dbname))
            self._ensure_roles()
        return exists is None

    def drop_database(self, dbname: str) -> None:
        """Drop ``dbname`` if it exists."""
        with self.connect("postgres") as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))

    def database_exists(self, dbname: str) -> bool:
        """Return whether ``dbname`` exists."""
        with self.connect("postgres") as conn:
            row = conn.execute(
                "SELECT FROM pg_catalog.pg_database WHERE datname = %s", [dbname]
            ).fetchone()
        return row is not None

    def checkpoint(self, dbname: str) -> None:
        """CHECKPOINT, so that a run starts from clean buffers."""
        with self.connect(dbname) as conn:
            conn.execute("CHECKPOINT")

    def server_cpu_seconds(self) -> float:
        """Return the CPU time (user + system) the whole cluster has used so far.

        The postmaster's own time and that of its children that have exited (``cutime``,
        ``cstime``: every finished backend), plus the live children's (background
        processes, backends still connected). Differences of it over a run are the
        server's CPU cost of the run, whatever else the machine is doing meanwhile.
        """
        postmaster = self._postmaster_pid()
        total = 0
        for pid, fields in _process_stats():
            if pid == postmaster:
                total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            elif int(fields[1]) == postmaster:
                total += int(fields[11]) + int(fields[12])  # utime stime
        return total / os.sysconf("SC_CLK_TCK")

    def wal_written(self) -> tuple[int, int, int]:
        """Return the WAL the cluster has written so far: (bytes, records, full-page images).

        From ``pg_stat_wal``, which a backend updates at the latest when it exits;
        differences of it over a run (after its backends exited) are the run's WAL.
        """
        with self.connect("postgres") as conn:
            row = conn.execute("SELECT wal_bytes, wal_records, wal_fpi FROM pg_stat_wal").fetchone()
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    def backend_pids(self) -> set[int]:
        """Return the pids of the postmaster's live children."""
        return set(self.children())

    def children(self) -> dict[int, str]:
        """Return the postmaster's children (zombies too): pid -> state (``Z``: zombie)."""
        postmaster = self._postmaster_pid()
        return {pid: fields[0] for pid, fields in _process_stats() if int(fields[1]) == postmaster}

    def _postmaster_pid(self) -> int:
        pid = self._server.read_pid()
        if pid is None:
            raise BenchClusterError(f"the cluster of {self.data_dir} is not running")
        return pid

    def pgbench_path(self) -> Path:
        """Return the pgbench binary of the server's installation."""
        return find_bindir() / "pgbench"

    def _ensure_roles(self) -> None:
        with self.connect("postgres") as conn:
            for role, group in ((APP_ROLE, "selene_os"), (DBA_ROLE, "selene_dba")):
                found = conn.execute(
                    "SELECT FROM pg_catalog.pg_roles WHERE rolname = %s", [role]
                ).fetchone()
                if found is None:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                            sql.Identifier(role), sql.Identifier(group)
                        )
                    )


@contextmanager
def throwaway_cluster(
    workdir: Path | None = None,
    *,
    keep: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[BenchCluster]:
    """Start a cluster for the duration of the block; stop it (and remove it) afterwards.

    With ``workdir`` the cluster lives there and an existing one is reused (its data sets
    too); it is stopped but not removed. Without, a temporary directory is created and
    removed at the end, unless ``keep``.
    """
    created = workdir is None
    path = Path(tempfile.mkdtemp(prefix="selene-bench-")) if workdir is None else workdir
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    hand_over(path)
    cluster = BenchCluster(path, settings)
    try:
        cluster.start()
        yield cluster
    finally:
        try:
            if not keep:
                cluster.stop()
        finally:
            if created and not keep:
                # The server may still be releasing files for a moment after stopping.
                for _ in range(3):
                    shutil.rmtree(path, ignore_errors=True)
                    if not path.exists():
                        break
                    time.sleep(0.5)


def _process_stats() -> Iterator[tuple[int, list[str]]]:
    """Yield (pid, fields of /proc/PID/stat after the command name) of every process.

    ``fields[0]`` is the state (field 3 of proc(5)), ``fields[1]`` the parent's pid,
    ``fields[11:15]`` utime, stime, cutime and cstime. A process gone meanwhile is skipped.
    """
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        yield int(stat.parent.name), fields

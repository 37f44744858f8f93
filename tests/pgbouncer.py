"""A real PgBouncer in transaction pooling mode in front of a test database.

:func:`running_pgbouncer` writes a ``pgbouncer.ini`` and an ``auth_file`` into a fresh
temporary directory, starts ``pgbouncer`` in the foreground on 127.0.0.1 and a random
port, waits until it accepts connections, and on the way out (also when the test
fails) stops it and removes the directory. Its ``[databases]`` section has one entry,
named like the database it points at, so a client changes only host and port.

PgBouncer, like PostgreSQL, refuses to run as root ("PgBouncer should not run as
root"): when the tests run as root it runs as the server's unprivileged user
(:func:`selene_core_tables.server.server_os_user`, ``postgres`` by default), which owns
the directory and reads the files. The settings that matter:

``pool_mode = transaction``
    a server connection serves a client for one transaction, then any other client;
``default_pool_size``
    the server connections per (database, user): fewer than the clients, so that
    clients really do take turns on the same server connections;
``auth_type = trust`` with an ``auth_file``
    PgBouncer asks no password, but only knows the users listed in the file; the
    test server trusts local connections, so PgBouncer logs in without one too;
``query_wait_timeout``
    a client that waits this long for a server connection gets an error instead of
    hanging the test;
no ``ignore_startup_parameters``
    psycopg sends no startup parameter PgBouncer refuses. A connection string with
    ``options`` (``-c lock_timeout=...``) is refused ("unsupported startup parameter:
    options"); listing ``options`` there would make PgBouncer drop it silently, and a
    session setting would not last past the transaction anyway.

``admin_users`` names :data:`ADMIN_USER`, who may read PgBouncer's own view of its pools
on the admin console (database ``pgbouncer``): :meth:`PgBouncer.show`.
"""

from __future__ import annotations

import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import port_for
import psycopg

from selene_core_tables.server import hand_over, server_os_user

PGBOUNCER = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
INSTALL_HINT = (
    "pgbouncer not found: make system-deps installs it (Debian: apt-get install pgbouncer)"
)
#: How long PgBouncer may take to listen, and to stop.
START_SECONDS = 10.0
STOP_SECONDS = 10.0
#: The admin console's user: a PgBouncer user only, no PostgreSQL role.
ADMIN_USER = "pgbouncer_admin"


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer: where it listens, its pool size, its directory and log."""

    host: str
    port: int
    dbname: str
    pool_size: int
    workdir: Path
    log: Path

    def conninfo(self, user: str, dbname: str | None = None) -> str:
        """A libpq URI for the database (or ``dbname``) through PgBouncer, as ``user``."""
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname or self.dbname}"

    def show(self, what: str) -> list[dict[str, Any]]:
        """The rows of ``SHOW <what>`` (SERVERS, CLIENTS, POOLS, ...) on the admin console."""
        assert what.isalpha(), what
        # The console speaks only the simple query protocol: a client-side cursor.
        with psycopg.connect(
            self.conninfo(ADMIN_USER, "pgbouncer"),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as console:
            cursor = console.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log_text(self) -> str:
        """What PgBouncer has logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def pgbouncer_ini(
    *,
    port: int,
    dbname: str,
    server_host: str,
    server_port: int,
    pool_size: int,
    max_client_conn: int,
    auth_file: Path,
) -> str:
    """The text of a pgbouncer.ini for one database, in transaction pooling mode."""
    return "\n".join(
        [
            "[databases]",
            f"{dbname} = host={server_host} port={server_port} dbname={dbname}",
            "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            # No Unix socket: it would go to /tmp, shared with every other PgBouncer.
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {auth_file}",
            "pool_mode = transaction",
            f"default_pool_size = {pool_size}",
            "min_pool_size = 0",
            "reserve_pool_size = 0",
            f"max_client_conn = {max_client_conn}",
            f"max_db_connections = {pool_size}",
            "query_wait_timeout = 15",
            f"admin_users = {ADMIN_USER}",
            # Logs go to stderr, which the harness keeps in pgbouncer.log.
            "syslog = 0",
            "log_connections = 0",
            "log_disconnections = 0",
            "",
        ]
    )


@contextmanager
def running_pgbouncer(
    *,
    dbname: str,
    server_host: str,
    server_port: int,
    users: list[str],
    pool_size: int,
    max_client_conn: int = 100,
) -> Iterator[PgBouncer]:
    """Run PgBouncer in front of ``dbname`` on the given server until the block ends.

    ``users`` are the login roles PgBouncer lets in (without a password) and logs in
    as; ``pool_size`` is ``default_pool_size`` (and ``max_db_connections``).
    """
    assert PGBOUNCER, INSTALL_HINT
    workdir = Path(tempfile.mkdtemp(prefix="selene-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        hand_over(workdir)
        workdir.chmod(0o755)
        auth_file = workdir / "userlist.txt"
        auth_file.write_text("".join(f'"{user}" ""\n' for user in [*users, ADMIN_USER]))
        port = port_for.select_random()
        ini = workdir / "pgbouncer.ini"
        ini.write_text(
            pgbouncer_ini(
                port=port,
                dbname=dbname,
                server_host=server_host,
                server_port=server_port,
                pool_size=pool_size,
                max_client_conn=max_client_conn,
                auth_file=auth_file,
            )
        )
        log = workdir / "pgbouncer.log"
        bouncer = PgBouncer("127.0.0.1", port, dbname, pool_size, workdir, log)
        user = server_os_user()
        entry = pwd.getpwnam(user) if user is not None else None
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [PGBOUNCER, str(ini)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                user=entry.pw_uid if entry else None,
                group=entry.pw_gid if entry else None,
                extra_groups=[] if entry else None,
            )
        _wait_until_listening(process, bouncer)
        yield bouncer
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_until_listening(process: subprocess.Popen[bytes], bouncer: PgBouncer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"pgbouncer exited with status {process.returncode}:\n{bouncer.log_text()}"
            )
        try:
            with socket.create_connection((bouncer.host, bouncer.port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(
        f"pgbouncer did not listen on port {bouncer.port} within {START_SECONDS} s:\n"
        f"{bouncer.log_text()}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (PgBouncer's immediate shutdown), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

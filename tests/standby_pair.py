"""A durable primary with a synchronous streaming hot standby, for the failover suites.

:func:`standby_pair` starts, in temporary directories owned by the server's OS user
(PostgreSQL refuses to run as root; :func:`selene_core_tables.server.server_command`
runs every server binary as that user), two clusters on loopback TCP ports:

* the **primary**: initdb, then started with fsync, synchronous_commit and
  full_page_writes on, ``wal_level=replica``; database ``selene`` migrated with the
  product's migrations, and the login roles of conftest.py (``selene_test_app`` in
  ``selene_os``, ``selene_test_dba`` in ``selene_dba``);
* the **standby**: ``pg_basebackup -R`` of the primary, its ``primary_conninfo``
  carrying ``application_name`` (the node's name), started as a hot standby; then the
  primary's ``synchronous_standby_names`` is set to that name (``ALTER SYSTEM``, after
  the base backup, so that the standby does not inherit it) and the pair is ready once
  ``pg_stat_replication`` reports the standby streaming with ``sync_state = 'sync'``.

Helpers: :meth:`StandbyPair.kill_primary` (SIGKILL to the postmaster and each of its
processes at once, as a machine crash does), :meth:`StandbyPair.promote` (``pg_ctl
promote``), :meth:`StandbyPair.rebuild_standby` (a new standby of the new primary, by
``pg_basebackup`` again), :meth:`StandbyPair.wait_replayed`, and
:meth:`StandbyPair.dsn`: one multi-host libpq DSN over the ports of every node the pair
will ever have (reserved up front with ``spare_nodes``), with
``target_session_attrs=read-write``, so that a client follows the primary across
promotions. Every server is stopped (or killed) and every directory removed on exit,
also when the test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import port_for
import psycopg

from selene_core_tables.migrate import apply_migrations
from selene_core_tables.pgcluster import ClusterError, LocalCluster
from selene_core_tables.server import hand_over, server_command
from tests.conftest import _create_login_roles
from tests.test_crash import children_of, wait_until_exited

HOST = "127.0.0.1"
DBNAME = "selene"
SUPERUSER = "postgres"
READY_SECONDS = 60.0

# Every node runs with these (pg_ctl -o). Durable: what is acknowledged is on disk.
NODE_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "wal_level": "replica",
    "hot_standby": "on",
    "max_wal_senders": "10",
    "wal_keep_size": "256MB",
    "max_connections": "100",
    # A transaction prepared before a failover outlives it (test_failover.py).
    "max_prepared_transactions": "10",
    # A standby answers a sync commit as soon as it has flushed; report it at once too.
    "wal_receiver_status_interval": "1s",
    "log_line_prefix": "%m [%p] %q%u@%d ",
}


class ServerCommandError(ClusterError):
    """A server binary (initdb, pg_ctl, pg_basebackup) failed; the message has its output."""


def run_server_binary(binary: str, *args: str, cwd: Path) -> str:
    """Run a PostgreSQL binary as the server's OS user; return its output, raise on failure."""
    result = subprocess.run(
        server_command(binary, *args),
        cwd=cwd,  # runuser keeps the cwd: one the server's user can enter
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise ServerCommandError(
            f"{binary} {' '.join(args)} failed ({result.returncode}):\n{output}"
        )
    return output


@dataclass
class Node:
    """One cluster of the pair: its name (also its ``application_name``), directory and port."""

    name: str
    workdir: Path
    port: int
    started: bool = False

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        return self.workdir / "postgresql.log"

    def conninfo(self, user: str = SUPERUSER, dbname: str = DBNAME, **extra: str) -> str:
        """A key=value DSN of this node alone."""
        params = {"host": HOST, "port": str(self.port), "dbname": dbname, "user": user, **extra}
        return " ".join(f"{key}={value}" for key, value in params.items())

    def uri(self, user: str = SUPERUSER, dbname: str = DBNAME) -> str:
        """A libpq URI of this node (for yoyo, which takes URIs)."""
        return f"postgresql://{user}@{HOST}:{self.port}/{dbname}"

    def connect(self, user: str = SUPERUSER, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(user), **kwargs)

    @property
    def server(self) -> LocalCluster:
        """initdb and start, as the embedded database and the benchmarks run theirs."""
        return LocalCluster(self.data_dir, self.workdir, self.log_file, error=ServerCommandError)

    def initdb(self) -> None:
        self.server.initdb("--data-checksums")

    def start(self) -> None:
        """Start with NODE_SETTINGS, listening on HOST:port (and a socket in workdir)."""
        self.started = True
        self.server.start(
            {**NODE_SETTINGS, "port": str(self.port), "cluster_name": self.name},
            timeout=READY_SECONDS,
        )

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n")[0])
        except (FileNotFoundError, ValueError):
            return None

    def kill(self) -> None:
        """SIGKILL the postmaster and each of its processes at once; wait until all are gone.

        Killing the postmaster alone leaves its backends running until they next wait
        (a commit in flight may still complete); killing them all at once is the
        machine crash, which cuts transactions mid-commit.
        """
        pid = self.postmaster_pid()
        assert pid is not None, f"{self.name} has no postmaster.pid"
        processes = children_of(pid)
        os.kill(pid, signal.SIGKILL)
        for process in processes:
            with suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        wait_until_exited([pid, *processes])
        self.started = False

    def promote(self) -> None:
        """``pg_ctl promote --wait``: returns once the node accepts writes."""
        run_server_binary("pg_ctl", "promote", "--wait", "-D", str(self.data_dir), cwd=self.workdir)

    def stop(self) -> None:
        """Stop the node if it runs (immediate: the data is thrown away anyway)."""
        if not self.started:
            return
        self.started = False
        pid = self.postmaster_pid()
        with suppress(ServerCommandError, subprocess.TimeoutExpired):
            run_server_binary(
                "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", cwd=self.workdir
            )
        if pid is not None:  # pg_ctl failed or timed out: make sure nothing is left
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def in_recovery(self) -> bool:
        with self.connect(autocommit=True, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        assert row is not None
        return bool(row[0])


@dataclass
class StandbyPair:
    """The nodes of a primary with a synchronous standby, and what was done to them."""

    root: Path
    ports: list[int]
    nodes: list[Node] = field(default_factory=list)
    primary: Node | None = None
    standby: Node | None = None

    def dsn(self, user: str = SUPERUSER, **extra: str) -> str:
        """A multi-host DSN over every node's port that connects to the read-write one."""
        params = {
            "host": ",".join([HOST] * len(self.ports)),
            "port": ",".join(str(port) for port in self.ports),
            "dbname": DBNAME,
            "user": user,
            "target_session_attrs": "read-write",
            "connect_timeout": "3",
            **extra,
        }
        return " ".join(f"{key}={value}" for key, value in params.items())

    def _new_node(self) -> Node:
        number = len(self.nodes) + 1
        if number > len(self.ports):
            raise RuntimeError(f"the pair reserved {len(self.ports)} nodes; pass more spare_nodes")
        workdir = self.root / f"node{number}"
        workdir.mkdir(mode=0o700)
        hand_over(workdir)
        node = Node(f"node{number}", workdir, self.ports[number - 1])
        self.nodes.append(node)
        return node

    def start_primary(self) -> Node:
        node = self._new_node()
        node.initdb()
        node.start()
        with node.connect(dbname="postgres", autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DBNAME}")
        apply_migrations(node.uri())
        _create_login_roles(node.conninfo())
        self.primary = node
        return node

    def rebuild_standby(self) -> Node:
        """A new hot standby of the primary (pg_basebackup -R); made synchronous; waited for."""
        primary = self.primary
        assert primary is not None
        node = self._new_node()
        run_server_binary(
            "pg_basebackup",
            "--pgdata",
            str(node.data_dir),
            "--dbname",
            primary.conninfo(dbname="postgres", application_name=node.name),
            "--wal-method=stream",
            "--checkpoint=fast",
            "--write-recovery-conf",
            cwd=node.workdir,
        )
        # -R wrote standby.signal and a primary_conninfo; say exactly what it must hold
        # (the later line wins), and drop any synchronous_standby_names the primary's
        # postgresql.auto.conf carried: this node must not wait for a standby once promoted.
        auto_conf = node.data_dir / "postgresql.auto.conf"
        lines = [
            line
            for line in auto_conf.read_text().splitlines()
            if not line.startswith("synchronous_standby_names")
        ]
        conninfo = primary.conninfo(dbname="postgres", application_name=node.name)
        lines.append(f"primary_conninfo = '{conninfo}'")
        auto_conf.write_text("\n".join(lines) + "\n")  # rewritten in place: owner kept
        assert (node.data_dir / "standby.signal").exists()
        node.start()
        with primary.connect(autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '\"{node.name}\"'")
            conn.execute("SELECT pg_reload_conf()")
        self.standby = node
        self.wait_synchronous()
        return node

    def wait_synchronous(self, seconds: float = 30.0) -> None:
        """Wait until the primary reports the standby streaming, with sync_state 'sync'."""
        assert self.primary is not None and self.standby is not None
        deadline = time.monotonic() + seconds
        state = None
        with self.primary.connect(autocommit=True) as conn:
            while time.monotonic() < deadline:
                state = conn.execute(
                    "SELECT state, sync_state FROM pg_stat_replication WHERE application_name = %s",
                    [self.standby.name],
                ).fetchone()
                if state == ("streaming", "sync"):
                    return
                time.sleep(0.05)
        raise AssertionError(f"{self.standby.name} not a streaming sync standby: {state}")

    def wait_replayed(self, seconds: float = 30.0) -> None:
        """Wait until the standby has replayed everything the primary has flushed."""
        assert self.primary is not None and self.standby is not None
        with self.primary.connect(autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + seconds
        with self.standby.connect(autocommit=True) as conn:
            while time.monotonic() < deadline:
                caught_up = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
                ).fetchone()
                if caught_up == (True,):
                    return
                time.sleep(0.02)
        raise AssertionError(f"{self.standby.name} did not replay up to {target}")

    def hold_commit_acknowledgements(self, waiting: int, seconds: float = 30.0) -> None:
        """Let commits reach the standby but never be acknowledged, until ``waiting`` wait.

        ``synchronous_standby_names`` becomes ``FIRST 2 (<standby>, "nobody")``: the
        standby still receives and flushes every commit, but a second synchronous standby
        never connects, so each COMMIT waits (wait event SyncRep) without an answer.
        Returns once ``waiting`` backends wait so and the standby has flushed all the
        primary's WAL: a kill then leaves exactly those commits in doubt for their
        clients, and durable on the standby.
        """
        assert self.primary is not None and self.standby is not None
        with self.primary.connect(autocommit=True) as conn:
            conn.execute(
                "ALTER SYSTEM SET synchronous_standby_names = "
                f'\'FIRST 2 ("{self.standby.name}", "nobody")\''
            )
            conn.execute("SELECT pg_reload_conf()")
            deadline = time.monotonic() + seconds
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"
                ).fetchone()
                if row is not None and row[0] >= waiting:
                    break
                assert time.monotonic() < deadline, f"{row} commits wait, not {waiting}"
                time.sleep(0.02)
            row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
        assert row is not None
        with self.standby.connect(autocommit=True) as conn:
            while True:
                flushed = conn.execute(
                    "SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn", [row[0]]
                ).fetchone()
                if flushed == (True,):
                    return
                assert time.monotonic() < deadline, f"the standby did not flush up to {row[0]}"
                time.sleep(0.02)

    def kill_primary(self) -> None:
        """kill -9 of the primary's postmaster and its processes; it is never restarted."""
        assert self.primary is not None
        self.primary.kill()
        self.primary = None

    def promote(self) -> Node:
        """Promote the standby (pg_ctl promote); it is the primary, without a standby, after."""
        assert self.primary is None, "promote only after the primary is gone"
        assert self.standby is not None
        self.standby.promote()
        self.primary, self.standby = self.standby, None
        return self.primary

    def close(self) -> None:
        for node in self.nodes:
            with suppress(Exception):
                node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def standby_pair(spare_nodes: int = 0) -> Iterator[StandbyPair]:
    """A migrated primary and its synchronous hot standby, torn down on exit.

    ``spare_nodes`` reserves ports for standbys rebuilt later, so that :meth:`StandbyPair.dsn`
    covers them from the start.
    """
    root = Path(tempfile.mkdtemp(prefix="selene-pair-"))
    hand_over(root)
    ports = []
    while len(ports) < 2 + spare_nodes:
        port = port_for.select_random()
        if port not in ports:
            ports.append(port)
    pair = StandbyPair(root, ports)
    try:
        pair.start_primary()
        pair.rebuild_standby()
        yield pair
    finally:
        pair.close()

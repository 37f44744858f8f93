"""A throwaway pg_auto_failover formation: a monitor and two data nodes, for the failover suites.

:func:`pg_auto_failover_formation` builds, in a temporary directory owned by the server's
OS user (PostgreSQL refuses root; every ``pg_autoctl`` runs as that user, see
:func:`selene_core_tables.server.server_os_user`), on loopback TCP ports::

    workdir/
        monitor/  node1/  node2/     PGDATA of the monitor and of the two data nodes
        monitor.log  node1.log ...   the output of each node's ``pg_autoctl run``
        config/  share/  run/        XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR
                                     (pg_autoctl's configuration, state and pid files)

1. ``pg_autoctl create monitor --auth trust --no-ssl --hostname 127.0.0.1``, then
   ``pg_autoctl run`` (a long-running process group of its own), and the monitor's
   health-check settings lowered (:data:`MONITOR_SETTINGS`, ``ALTER SYSTEM`` and reload);
2. per data node, ``pg_autoctl create postgres`` (node1 initdb's, node2 is a
   ``pg_basebackup`` of node1), the keeper's timeouts lowered (:data:`KEEPER_SETTINGS`,
   ``pg_autoctl config set``) and ``pg_autoctl run``;
3. ``replication-quorum true`` on both nodes and ``number-sync-standbys 0`` on the
   formation (with one standby 0 is the only value pg_auto_failover accepts, and with a
   quorum standby it still means synchronous: the primary gets
   ``synchronous_standby_names = 'ANY 1 (pgautofailover_standby_N)'``); ready once the
   monitor reports one node ``primary`` and the other ``secondary`` (reported and
   assigned), the primary's ``pg_stat_replication`` shows the standby as a quorum
   (synchronous) standby;
4. the product's migrations on the primary's database ``selene`` as the superuser, the
   login roles of conftest.py (``selene_test_app`` in ``selene_os``, ``selene_test_dba`` in
   ``selene_dba``), and a wait until the standby has replayed them.

:meth:`Formation.dsn` is the formation's multi-host URI (``pg_autoctl show uri
--formation default``: both nodes, ``target_session_attrs=read-write``), with a user.
:meth:`Formation.failover` provokes a failover one of three ways (:data:`FAILOVER_WAYS`)
while a probe commits a tiny transaction through that DSN every 50 ms, waits until the
other node is the primary and takes writes, brings a killed node back, waits until the
pair is in sync again, and returns the figures (:class:`Failover`).

What pg_auto_failover 2.0 does (measured with this harness, 2 CPUs; settings below):

* ``pg_autoctl perform failover``: the monitor drains the primary, promotes the standby,
  and the old primary rejoins as secondary after ``pg_rewind``. 1.2 to 1.7 s without a
  primary, idle or under load (once 6.7 s under load: the monitor waited out
  ``primary_demote_timeout``), 2.5 to 10 s until in sync again.
* SIGKILL to the keeper and postgres together (the node's whole process group, as a
  machine crash): nobody reports for the node. The monitor's health checks mark it
  unhealthy; ``node_considered_unhealthy_timeout`` after the keeper's last report it
  moves the standby to ``stop_replication``; the old primary cannot confirm its
  demotion, so ``primary_demote_timeout`` later the standby becomes ``wait_primary`` and
  takes writes. With the defaults (checks every 5 s, 20 s, 30 s) 50 s without a primary;
  with :data:`MONITOR_SETTINGS` 9 to 11 s. The node's ``pg_autoctl run`` started again
  rejoins (``demoted`` -> ``catchingup`` -> ``secondary``) in about 3 s.
* SIGKILL to the primary's postgres alone (postmaster, or postmaster and its processes),
  the keeper alive: the keeper's postgres service restarts postgres within about a
  second (crash recovery). Whether the monitor fails over is a race: if the keeper's
  node-active loop (once a second) sees postgres down before the restart, it reports
  "not running" at once (``timeout.postgresql_restart_failure_timeout`` /
  ``_max_retries`` do not hold that report back) and the monitor fails over, the
  restarted old primary being demoted and rewound: 2.5 to 3.5 s without a primary. If
  not, the same node stays primary: 1.3 to 1.7 s without a commit, or about 5 s when the
  standby's walreceiver waits ``wal_retrieve_retry_interval`` (5 s) before reconnecting,
  commits waiting for it meanwhile. 6 of our 24 kills failed over, with the default
  settings as with ours.
* While the standby is away the primary is ``wait_primary``: pg_auto_failover turns
  synchronous replication off (``synchronous_standby_names = ''``) so that writes go on,
  with one copy.

Every process (``pg_autoctl stop``, then SIGKILL to each node's process group and any
postmaster left) and the directory are removed on exit, also when the test fails;
``SELENE_PGAF_LOGS=DIR`` keeps the ``pg_autoctl run`` logs there first.
"""

from __future__ import annotations

import getpass
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import port_for
import psycopg
from psycopg import sql

from selene_core_tables.migrate import apply_migrations
from selene_core_tables.server import find_bindir, hand_over, server_os_user
from tests.conftest import _create_login_roles
from tests.test_crash import children_of, wait_until_exited

HOST = "127.0.0.1"
DBNAME = "selene"
MONITOR_DBNAME = "pg_auto_failover"
FORMATION = "default"
DATA_NODES = ("node1", "node2")

# The monitor's failure detection, lowered for a test (defaults in brackets; all in ms).
# A dead node (keeper and postgres) is failed over after about unhealthy + demote timeout.
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": "1000",  # [5000] between health checks
    "pgautofailover.health_check_timeout": "1000",  # [5000] connect timeout of a check
    "pgautofailover.health_check_max_retries": "1",  # [2]
    "pgautofailover.health_check_retry_delay": "500",  # [2000]
    # [20000] a node whose keeper has not reported for this long, and fails its health
    # checks, is unhealthy: a failover starts. The keeper reports every second.
    "pgautofailover.node_considered_unhealthy_timeout": "3000",
    # [30000] how long an old primary that does not report its demotion is given before
    # the standby takes writes. Must exceed the keepers' network_partition_timeout.
    "pgautofailover.primary_demote_timeout": "6000",
    "pgautofailover.startup_grace_period": "1000",  # [10000] no failover this soon after start
}
# The keepers' timeouts (seconds), set with `pg_autoctl config set` before `pg_autoctl run`.
KEEPER_SETTINGS = {
    # [20] a primary that reaches neither the monitor nor its standby this long demotes
    # itself; below primary_demote_timeout, so that two primaries never take writes.
    "timeout.network_partition_timeout": "3",
    # [20] how long a keeper keeps restarting a postgres that does not come up before
    # it reports it down (see the module docstring: a kill -9 is reported at once anyway).
    "timeout.postgresql_restart_failure_timeout": "5",
}

ALONE = ("single", "wait_primary")  # a primary with no standby in sync (writes not replicated)

FailoverWay = Literal["perform", "kill-postgres", "kill-node"]
FAILOVER_WAYS: tuple[FailoverWay, ...] = ("perform", "kill-postgres", "kill-node")

COMMAND_SECONDS = 120.0  # one pg_autoctl command (create postgres runs a base backup)
READY_SECONDS = 90.0  # the formation in sync, after a start or a failover
FAILOVER_SECONDS = 90.0  # a provoked failover until the new primary takes writes
STOP_SECONDS = 30.0  # pg_autoctl stop of one node before its processes are killed
PROBE_INTERVAL = 0.05
# After a kill of postgres alone: in sync this long with the same primary means the monitor
# will not fail over (it decides within a second of the keeper's report).
SETTLE_SECONDS = 3.0


class FormationError(RuntimeError):
    """pg_autoctl failed or the formation did not reach a state in time; has the logs' tails."""


@dataclass(frozen=True)
class NodeState:
    """One node as the monitor sees it (``pg_autoctl show state --json``)."""

    name: str
    port: int
    reported: str
    """The state the node's keeper last reported (``current_group_state``)."""
    assigned: str
    """The state the monitor assigned it (``assigned_group_state``)."""
    health: int
    """The monitor's health check: 1 good, 0 bad, -1 unknown."""
    timeline: int
    lsn: str


@dataclass(frozen=True)
class Failover:
    """What :meth:`Formation.failover` measured."""

    way: FailoverWay
    old_primary: str
    new_primary: str
    """The primary after it; the old one when a killed postgres was restarted in place."""
    seconds_without_primary: float
    """The probe's longest time without a commit, up to its first commit on the new primary."""
    seconds_to_new_primary: float
    """From the provocation to the probe's first commit on the new primary."""
    seconds_to_in_sync: float
    """From the provocation to primary and secondary in sync again (a killed node restarted)."""


@dataclass
class Node:
    """One member of the formation: the monitor or a data node, and its pg_autoctl run."""

    name: str
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def pgdata(self) -> Path:
        return self.workdir / self.name

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def conninfo(self, user: str, dbname: str = DBNAME, **extra: str) -> str:
        """A key=value DSN of this node alone."""
        params = {"host": HOST, "port": str(self.port), "dbname": dbname, "user": user, **extra}
        return " ".join(f"{key}={value}" for key, value in params.items())

    def uri(self, user: str, dbname: str = DBNAME) -> str:
        """A libpq URI of this node (for yoyo, which takes URIs)."""
        return f"postgresql://{quote(user)}@{HOST}:{self.port}/{dbname}"

    def connect(self, user: str, dbname: str = DBNAME, **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(self.conninfo(user, dbname), **kwargs)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n")[0])
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except FileNotFoundError:
            return f"\n--- {self.name}: no log"
        return f"\n--- {self.name}.log:\n" + "\n".join(text)


@dataclass
class Formation:
    """A pg_auto_failover monitor and two data nodes; see the module docstring."""

    workdir: Path
    monitor: Node
    nodes: dict[str, Node]
    superuser: str
    failovers: list[Failover] = field(default_factory=list)
    formed_seconds: float = 0.0
    """Seconds from the first pg_autoctl command to the schema installed and replayed."""

    # -- pg_autoctl ---------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(
            PATH=f"{find_bindir()}:{env.get('PATH', '/usr/bin:/bin')}",
            HOME=str(self.workdir),
            XDG_CONFIG_HOME=str(self.workdir / "config"),
            XDG_DATA_HOME=str(self.workdir / "share"),
            XDG_RUNTIME_DIR=str(self.workdir / "run"),
        )
        return env

    def _autoctl(self, *args: str, seconds: float = COMMAND_SECONDS) -> str:
        """Run one pg_autoctl command as the server's user; return its stdout."""
        try:
            result = subprocess.run(
                ["pg_autoctl", *args],
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                encoding="utf-8",
                errors="replace",  # pg_autoctl's messages may carry stray bytes
                timeout=seconds,
                check=False,
                **_as_server_user(),
            )
        except subprocess.TimeoutExpired as expired:
            raise FormationError(
                f"pg_autoctl {' '.join(args)}: no answer in {seconds} s" + self.log_tails()
            ) from expired
        if result.returncode != 0:
            raise FormationError(
                f"pg_autoctl {' '.join(args)} failed (exit {result.returncode}):\n"
                f"{result.stderr.strip()[-3000:]}" + self.log_tails()
            )
        return result.stdout

    def _run(self, node: Node) -> None:
        """Start ``pg_autoctl run`` for ``node``: a process group of its own, output to its log."""
        with open(node.log_file, "ab") as log:
            node.process = subprocess.Popen(
                ["pg_autoctl", "run", "--pgdata", str(node.pgdata)],
                cwd=self.workdir,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_server_user(),
            )

    def log_tails(self) -> str:
        return "".join(node.log_tail() for node in (self.monitor, *self.nodes.values()))

    # -- building it ----------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        for sub in ("config", "share", "run"):
            (self.workdir / sub).mkdir()
            hand_over(self.workdir / sub)
        common = ["--hostname", HOST, "--auth", "trust", "--no-ssl"]
        common += ["--pgctl", str(find_bindir() / "pg_ctl")]
        monitor = ["--pgdata", str(self.monitor.pgdata)]
        self._autoctl("create", "monitor", *monitor, "--pgport", str(self.monitor.port), *common)
        # The monitor listens on every address by default; loopback is enough here.
        self._autoctl("config", "set", *monitor, "postgresql.listen_addresses", HOST)
        self._run(self.monitor)
        self._configure_monitor()
        monitor_uri = self._autoctl("show", "uri", *monitor, "--formation", "monitor").strip()
        for node in self.nodes.values():
            pgdata = ["--pgdata", str(node.pgdata)]
            options = ["--pgport", str(node.port), "--listen", HOST, "--name", node.name]
            options += ["--dbname", DBNAME, "--monitor", monitor_uri]
            options += ["--replication-quorum", "true"]  # the default: this standby is sync
            self._autoctl("create", "postgres", *pgdata, *options, *common)
            for setting, value in KEEPER_SETTINGS.items():
                self._autoctl("config", "set", *pgdata, setting, value)
            self._run(node)
            if node.name == DATA_NODES[0]:
                # node2's create takes a base backup of node1, which must be running.
                self.wait_in_sync(expect_secondary=False)
        self.wait_in_sync()
        # With one standby 0 is the only value (and the default); set it to say so. A quorum
        # standby still makes commits wait for it: 'ANY 1 (pgautofailover_standby_2)'.
        # pg_autoctl 2.0 rejects "0" given the monitor's PGDATA ("not valid"), not a node's.
        first = self.nodes[DATA_NODES[0]].pgdata
        self._autoctl("set", "formation", "number-sync-standbys", "0", "--pgdata", str(first))
        self.wait_in_sync()
        primary = self.primary()
        apply_migrations(primary.uri(self.superuser))
        _create_login_roles(primary.uri(self.superuser))
        self.wait_replayed()
        self.formed_seconds = time.monotonic() - started

    def _configure_monitor(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                with self.monitor.connect(
                    self.superuser, MONITOR_DBNAME, autocommit=True, connect_timeout=2
                ) as conn:
                    for name, value in MONITOR_SETTINGS.items():
                        conn.execute(
                            sql.SQL("ALTER SYSTEM SET {} = {}").format(
                                sql.SQL(name), sql.Literal(value)
                            )
                        )
                    conn.execute("SELECT pg_reload_conf()")
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline or not self.monitor.running():
                    raise
                time.sleep(0.2)
        # pg_reload_conf() only signals: wait until a new session sees the settings.
        while True:
            with self.monitor.connect(self.superuser, MONITOR_DBNAME, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name LIKE 'pgautofailover.%'"
                ).fetchall()
            if dict(rows).items() >= MONITOR_SETTINGS.items():
                return
            if time.monotonic() > deadline:
                raise FormationError(f"the monitor did not take its settings: {rows}")
            time.sleep(0.1)

    # -- what the monitor says --------------------------------------------------------------

    def state(self) -> list[NodeState]:
        """``pg_autoctl show state --json`` of the formation."""
        rows = json.loads(
            self._autoctl(
                "show", "state", "--pgdata", str(self.monitor.pgdata), "--json", seconds=30
            )
        )
        return [
            NodeState(
                name=row["nodename"],
                port=row["nodeport"],
                reported=row["current_group_state"],
                assigned=row["assigned_group_state"],
                health=row["health"],
                timeline=row["reported_tli"],
                lsn=row["reported_lsn"],
            )
            for row in rows
        ]

    def settings(self) -> list[dict[str, Any]]:
        """``pg_autoctl get formation settings --json``: the replication settings."""
        found = json.loads(
            self._autoctl(
                "get", "formation", "settings", "--pgdata", str(self.monitor.pgdata), "--json"
            )
        )
        return [*found["formation"], *found["nodes"], *found["primary"]]

    def _in_sync(self, states: list[NodeState]) -> tuple[Node, Node] | None:
        steady = {s.name: s.reported for s in states if s.reported == s.assigned}
        primaries = [name for name, reported in steady.items() if reported == "primary"]
        secondaries = [name for name, reported in steady.items() if reported == "secondary"]
        if len(primaries) == 1 and len(secondaries) == 1:
            return self.nodes[primaries[0]], self.nodes[secondaries[0]]
        return None

    def wait_in_sync(
        self, seconds: float = READY_SECONDS, *, expect_secondary: bool = True
    ) -> None:
        """Wait until one node is primary and the other a synchronous secondary.

        ``expect_secondary=False``: until the one node registered so far is primary
        (``single``, or ``wait_primary`` while a standby is announced).
        """
        deadline = time.monotonic() + seconds
        while True:
            states = self.state()
            if not expect_secondary:
                if any(s.reported == s.assigned and s.assigned in ALONE for s in states):
                    return
            elif (pair := self._in_sync(states)) is not None and self._synchronous(*pair):
                return
            if time.monotonic() > deadline:
                raise FormationError(
                    f"the formation is not in sync after {seconds} s: {states}" + self.log_tails()
                )
            time.sleep(0.2)

    def _synchronous(self, primary: Node, secondary: Node) -> bool:
        """Whether the primary waits for ``secondary`` at commit (sync or quorum standby)."""
        try:
            with primary.connect(self.superuser, autocommit=True, connect_timeout=2) as conn:
                row = conn.execute(
                    "SELECT current_setting('synchronous_standby_names') <> ''"
                    " AND EXISTS (SELECT FROM pg_stat_replication"
                    "  WHERE application_name = %s AND state = 'streaming'"
                    "  AND sync_state IN ('sync', 'quorum'))",
                    [f"pgautofailover_standby_{self._node_id(secondary)}"],
                ).fetchone()
        except psycopg.OperationalError:
            return False
        return bool(row and row[0])

    def _node_id(self, node: Node) -> int:
        return DATA_NODES.index(node.name) + 1  # the monitor numbers them as they register

    def primary(self) -> Node:
        """The data node the monitor has as primary (or wait_primary), now."""
        for state in self.state():
            if state.reported == state.assigned and state.reported in ("primary", "wait_primary"):
                return self.nodes[state.name]
        raise FormationError(f"no primary: {self.state()}")

    def secondary(self) -> Node:
        (other,) = [node for node in self.nodes.values() if node is not self.primary()]
        return other

    def dsn(self, user: str | None = None, **extra: str) -> str:
        """The formation's multi-host URI (``target_session_attrs=read-write``) as ``user``.

        ``user`` defaults to the superuser; ``extra`` are added as URI parameters.
        """
        uri = self._autoctl(
            "show", "uri", "--pgdata", str(self.monitor.pgdata), "--formation", FORMATION
        ).strip()
        scheme, _, rest = uri.partition("://")
        uri = f"{scheme}://{quote(user or self.superuser)}@{rest}"
        for key, value in extra.items():
            uri += f"&{key}={quote(value)}"
        return uri

    def wait_replayed(self, seconds: float = 30.0) -> None:
        """Wait until the secondary has replayed everything the primary has written."""
        primary, secondary = self.primary(), self.secondary()
        with primary.connect(self.superuser, autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        deadline = time.monotonic() + seconds
        with secondary.connect(self.superuser, autocommit=True) as conn:
            while True:
                caught_up = conn.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]]
                ).fetchone()
                if caught_up and caught_up[0]:
                    return
                if time.monotonic() > deadline:
                    raise FormationError(f"{secondary.name} has not replayed {row[0]}")
                time.sleep(0.05)

    # -- failovers --------------------------------------------------------------------------

    def failover(self, way: FailoverWay) -> Failover:
        """Provoke a failover ``way``; return once the pair is in sync again.

        * ``perform``: ``pg_autoctl perform failover``;
        * ``kill-node``: SIGKILL to the primary's whole process group (its pg_autoctl run,
          the keeper's services, postgres and its processes), as a machine crash does.
          Once the other node takes writes, the node's ``pg_autoctl run`` is started again
          and it rejoins as a secondary;
        * ``kill-postgres``: SIGKILL to the primary's postmaster and each of its processes
          at once, the keeper alive. Whether that fails over is a race (module docstring):
          the result's ``new_primary`` is the old one when the keeper restarted postgres
          before the monitor heard of it.
        """
        if way not in FAILOVER_WAYS:
            raise ValueError(f"no failover way {way!r}; one of {FAILOVER_WAYS}")
        self.wait_in_sync()
        old = self.primary()
        other = next(node for node in self.nodes.values() if node is not old)
        probe = _WriteProbe(self.dsn(connect_timeout="1"))
        probe.start()
        try:
            probe.wait_for_commit_on(old.port, FAILOVER_SECONDS)
            provoked = time.monotonic()
            if way == "perform":
                monitor = str(self.monitor.pgdata)
                self._autoctl("perform", "failover", "--pgdata", monitor, "--wait", "60")
                new = other
            elif way == "kill-node":
                _kill_group(old)
                new = other
            else:
                _kill_postgres(old)
                new = self._settled_primary()
            first_on_new = probe.wait_for_commit_on(new.port, FAILOVER_SECONDS, provoked)
        except TimeoutError as timeout:
            raise FormationError(f"{way}: {timeout}; {self.state()}" + self.log_tails()) from None
        finally:
            probe.stop()
        if way == "kill-node":
            self._run(old)
        self.wait_in_sync()
        result = Failover(
            way=way,
            old_primary=old.name,
            new_primary=new.name,
            seconds_without_primary=round(probe.longest_gap(provoked, first_on_new), 2),
            seconds_to_new_primary=round(first_on_new - provoked, 2),
            seconds_to_in_sync=round(time.monotonic() - provoked, 2),
        )
        self.failovers.append(result)
        return result

    def _settled_primary(self) -> Node:
        """After a crash: the primary once the pair has been in sync for SETTLE_SECONDS."""
        deadline = time.monotonic() + FAILOVER_SECONDS
        while True:
            self.wait_in_sync(max(deadline - time.monotonic(), 1.0))
            primary = self.primary()
            time.sleep(SETTLE_SECONDS)
            if self.primary() is primary and self._in_sync(self.state()) is not None:
                return primary
            if time.monotonic() > deadline:
                raise TimeoutError(f"no settled primary in {FAILOVER_SECONDS} s")

    # -- cleaning up ------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every pg_autoctl run (data nodes first), then kill whatever is left."""
        for node in (*self.nodes.values(), self.monitor):
            if node.running():
                with suppress(FormationError):
                    self._autoctl("stop", "--pgdata", str(node.pgdata), seconds=STOP_SECONDS)
        for node in (*self.nodes.values(), self.monitor):
            if node.process is not None:
                with suppress(subprocess.TimeoutExpired):
                    node.process.wait(STOP_SECONDS)
                with suppress(ProcessLookupError, PermissionError):
                    os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait()
            pid = node.postmaster_pid()
            if pid is not None and _is_postmaster_of(pid, node.pgdata):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                wait_until_exited([pid])


class _WriteProbe(threading.Thread):
    """Commits ``pg_logical_emit_message(true, ...)`` through a DSN every 50 ms; notes where.

    A transactional WAL message assigns an xid, so its COMMIT waits for the synchronous
    standby as any write does, and it leaves no table behind.
    """

    def __init__(self, dsn: str) -> None:
        super().__init__(name="failover-probe", daemon=True)
        self.dsn = dsn
        self.commits: list[tuple[float, int]] = []  # (time.monotonic(), port)
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop_event.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True)
                conn.execute("SELECT pg_logical_emit_message(true, 'selene-failover-probe', '')")
                with self._lock:
                    self.commits.append((time.monotonic(), conn.info.port))
            except psycopg.Error:
                if conn is not None:
                    conn.close()
                conn = None
            self._stop_event.wait(PROBE_INTERVAL)
        if conn is not None:
            conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)

    def wait_for_commit_on(self, port: int, seconds: float, since: float | None = None) -> float:
        """Wait for a commit on the node at ``port`` after ``since`` (default: now); its time."""
        since = time.monotonic() if since is None else since
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self._lock:
                found = [at for at, on in self.commits if on == port and at >= since]
            if found:
                return found[0]
            time.sleep(0.02)
        raise TimeoutError(f"no commit on port {port} in {seconds} s")

    def longest_gap(self, provoked: float, until: float) -> float:
        """The longest time without a commit from the last one before ``provoked`` to ``until``.

        Not simply last-on-the-old to first-on-the-new: after a kill of postgres alone the
        keeper restarts the old primary, which may take a commit or two before its demotion.
        """
        with self._lock:
            times = [at for at, _ in self.commits if at <= until]
        before = [at for at in times if at < provoked]
        window = [before[-1], *[at for at in times if at >= provoked]] if before else times
        return max((b - a for a, b in itertools.pairwise(window)), default=0.0)


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that run a child as the server's OS user when we are root."""
    user = server_os_user()
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(pgdata) in arguments


def _kill_postgres(node: Node) -> None:
    """SIGKILL the postmaster of ``node`` and each of its processes at once."""
    pid = node.postmaster_pid()
    if pid is None or not _is_postmaster_of(pid, node.pgdata):
        raise FormationError(f"{node.name} has no running postmaster")
    processes = children_of(pid)
    os.kill(pid, signal.SIGKILL)
    for process in processes:
        with suppress(ProcessLookupError):
            os.kill(process, signal.SIGKILL)
    wait_until_exited([pid, *processes])


def _kill_group(node: Node) -> None:
    """SIGKILL the process group of ``node``'s pg_autoctl run: keeper, postgres, backends."""
    assert node.process is not None and node.running(), f"{node.name} is not running"
    pid = node.postmaster_pid()
    processes = children_of(pid) if pid is not None else []
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait()
    wait_until_exited([pid, *processes] if pid is not None else [])


@contextmanager
def pg_auto_failover_formation() -> Iterator[Formation]:
    """A started, migrated formation (see the module docstring); removed on exit."""
    if shutil.which("pg_autoctl") is None:
        raise FormationError(
            "pg_autoctl not found: install pg-auto-failover-cli and postgresql-15-auto-failover"
            " (scripts/install-system-deps.sh does)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="selene-pgaf-"))
    hand_over(workdir)
    ports: list[int] = []
    while len(ports) < 1 + len(DATA_NODES):
        port = port_for.select_random()
        if port not in ports:
            ports.append(port)
    formation = Formation(
        workdir=workdir,
        monitor=Node("monitor", workdir, ports[0]),
        nodes={
            name: Node(name, workdir, port)
            for name, port in zip(DATA_NODES, ports[1:], strict=True)
        },
        superuser=server_os_user() or getpass.getuser(),
    )
    try:
        formation.start()
        yield formation
    finally:
        try:
            formation.stop()
        finally:
            keep = os.environ.get("SELENE_PGAF_LOGS")
            if keep:
                for log in workdir.glob("*.log"):
                    Path(keep).mkdir(parents=True, exist_ok=True)
                    shutil.copy(log, Path(keep) / log.name)
            shutil.rmtree(workdir, ignore_errors=True)

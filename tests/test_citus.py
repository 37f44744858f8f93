"""Citus only (``make test-citus``): placement, delegation, and a tenant's shards on the move.

The cluster is tests/citus_cluster.py's coordinator and two workers, migrated on the
coordinator. Every call goes through the coordinator as a login role of selene_os, the
way services call; what the workers hold is read on the workers themselves.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables import WorkOrderRepository
from selene_core_tables.errors import AppendOnlyViolation, TenantScopeViolation, storage_errors
from tests.citus_cluster import CitusNodes
from tests.client_helpers import created
from tests.conftest import APP_ROLE, CITUS, DBA_ROLE
from tests.servers import conninfo
from tests.sql_helpers import TABLES

pytestmark = pytest.mark.skipif(not CITUS, reason="needs the Citus layout (make test-citus)")

LEDGER_SHARD_SQL = "get_shard_id_for_distribution_column('os_core.work_order_ledger', %s::text)"


def ledger_shard(conn: psycopg.Connection, tenant_id: str) -> int:
    """The id of the ledger shard that holds the tenant's rows (any node can tell)."""
    return conn.execute(f"SELECT {LEDGER_SHARD_SQL}", [tenant_id]).fetchone()[0]


def ledger_shard_name(conn: psycopg.Connection, tenant_id: str) -> str:
    """The name of the tenant's ledger shard table, as a worker holding it knows it."""
    return conn.execute(
        f"SELECT shard_name('os_core.work_order_ledger'::regclass, {LEDGER_SHARD_SQL})",
        [tenant_id],
    ).fetchone()[0]


def worker_of(coordinator: psycopg.Connection, tenant_id: str) -> tuple[str, int]:
    """The (host, port) of the worker holding the tenant's ledger shard."""
    row = coordinator.execute(
        f"SELECT s.nodename, s.nodeport FROM citus_shards AS s"
        f" WHERE s.shardid = {LEDGER_SHARD_SQL}",
        [tenant_id],
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def node_for(nodes: CitusNodes, host_port: tuple[str, int]):
    for worker in nodes.workers:
        if (worker.host, worker.port) == host_port:
            return worker
    raise AssertionError(f"no worker at {host_port}")


@contextmanager
def owner_may_log_in(conn: psycopg.Connection) -> Iterator[None]:
    """Citus moves and splits shards over connections as the tables' owner (docs/scaling.md)."""
    conn.execute("ALTER ROLE selene_owner LOGIN")
    try:
        yield
    finally:
        conn.execute("ALTER ROLE selene_owner NOLOGIN")


@contextmanager
def repository(dsn: str) -> Iterator[WorkOrderRepository]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield WorkOrderRepository(conn)


def test_the_migrations_distribute_every_table_in_one_colocation_group_on_the_workers(
    postgresql: psycopg.Connection, citus_nodes: CitusNodes
) -> None:
    rows = postgresql.execute(
        """
        SELECT p.logicalrelid::text, p.partmethod, a.attname, p.colocationid
        FROM pg_dist_partition AS p
        JOIN pg_attribute AS a ON a.attrelid = p.logicalrelid AND a.attnum = 1
        WHERE p.logicalrelid::text = ANY(%s)
        ORDER BY 1
        """,
        [list(TABLES)],
    ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(TABLES)
    assert {r[1] for r in rows} == {"h"}, "hash-distributed"
    assert len({r[3] for r in rows}) == 1, "one co-location group"
    distribution_columns = postgresql.execute(
        "SELECT DISTINCT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition"
        " WHERE logicalrelid::text = ANY(%s)",
        [list(TABLES)],
    ).fetchall()
    assert distribution_columns == [("tenant_id",)]
    ports = {
        port
        for (port,) in postgresql.execute(
            "SELECT DISTINCT nodeport FROM citus_shards WHERE table_name::text = ANY(%s)",
            [list(TABLES)],
        )
    }
    assert ports == {w.port for w in citus_nodes.workers}, (
        "shards on both workers, none on the coordinator"
    )


def test_every_capability_with_a_tenant_is_force_delegated_by_it(
    postgresql: psycopg.Connection,
) -> None:
    """Every SECURITY DEFINER one but set_tenant, which declares the tenant on the
    coordinator for every worker: not rebuild, verify and tenant_stats, which take NULL for
    every tenant (a NULL distribution argument crashes Citus 13.2) and call their delegated
    work (*_local) per tenant, nor the check require_dba_or_tenant_scope."""
    capabilities = postgresql.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p
        WHERE p.pronamespace = 'os_core'::regnamespace AND p.proargnames[1] = 'p_tenant_id'
          AND has_function_privilege('selene_os', p.oid, 'EXECUTE') AND p.prosecdef
          AND p.proname NOT IN ('set_tenant', 'require_dba_or_tenant_scope')
        ORDER BY 1
        """
    ).fetchall()
    assert len(capabilities) >= 10
    names = {name.split("(")[0] for (name,) in capabilities}
    assert {
        "os_core.work_orders_current_rebuild_local",
        "os_core.work_orders_current_verify_local",
        "os_core.tenant_stats_local",
    } <= names
    assert not names & {
        "os_core.work_orders_current_rebuild",
        "os_core.work_orders_current_verify",
        "os_core.tenant_stats",
    }
    delegated = postgresql.execute(
        """
        SELECT d.objid::regprocedure::text, d.distribution_argument_index, d.force_delegation,
               d.colocationid = (SELECT colocationid FROM pg_dist_partition
                                 WHERE logicalrelid = 'os_core.work_order_ledger'::regclass)
        FROM pg_dist_object AS d
        WHERE d.classid = 'pg_proc'::regclass AND d.distribution_argument_index IS NOT NULL
        ORDER BY 1
        """
    ).fetchall()
    assert [(name, 0, True, True) for (name,) in capabilities] == delegated


def test_a_call_runs_on_the_worker_of_its_tenant_and_writes_only_there(
    postgresql: psycopg.Connection, postgresql_proc, citus_nodes: CitusNodes, dbname: str
) -> None:
    tenant = "tenant-a"
    holder = node_for(citus_nodes, worker_of(postgresql, tenant))
    other = next(w for w in citus_nodes.workers if w is not holder)
    remote_commands: list[str] = []
    app = psycopg.connect(conninfo(postgresql_proc, dbname, APP_ROLE))
    try:
        app.add_notice_handler(lambda d: remote_commands.append(str(d.message_primary)))
        app.execute("SET citus.log_remote_commands = on")
        app.commit()
        result = WorkOrderRepository(app).append(created("wo-1", tenant_id=tenant))
    finally:
        app.close()
    calls = [c for c in remote_commands if "work_order_ledger_append" in c]
    assert len(calls) == 1, remote_commands
    # The declaration reaches the worker as a SET LOCAL, before the delegated call.
    declared = [c for c in remote_commands if "SET LOCAL selene.tenant_id" in c]
    assert declared, remote_commands
    assert remote_commands.index(declared[0]) < remote_commands.index(calls[0])

    def count_on(node) -> int:
        with psycopg.connect(conninfo(node, dbname)) as conn:
            conn.execute("SET citus.override_table_visibility TO off")
            shard = ledger_shard_name(conn, tenant)
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [shard]).fetchone()[0]
            if not exists:
                return 0
            return conn.execute(
                f"SELECT count(*) FROM {shard} WHERE work_order_event_id = %s",
                [result.work_order_event_id],
            ).fetchone()[0]

    assert count_on(holder) == 1
    assert count_on(other) == 0


def test_a_call_without_its_tenant_declared_fails_closed_through_the_coordinator(
    postgresql_proc, dbname: str
) -> None:
    with psycopg.connect(conninfo(postgresql_proc, dbname, APP_ROLE)) as app:
        with pytest.raises(psycopg.Error) as refused:
            app.execute(
                "SELECT * FROM os_core.work_order_current_read(%s::text, %s::text)",
                ["tenant-a", "wo-1"],
            )
        assert refused.value.sqlstate == "SE003"
        app.rollback()
        # Another tenant declared: its worker may not be tenant-a's, where then no
        # tenant is declared at all. Refused either way.
        with pytest.raises(TenantScopeViolation), storage_errors(), app.transaction():
            app.execute("SELECT os_core.set_tenant(%s::text)", ["tenant-b"])
            app.execute(
                "SELECT * FROM os_core.work_order_current_read(%s::text, %s::text)",
                ["tenant-a", "wo-1"],
            )
    with psycopg.connect(conninfo(postgresql_proc, dbname)) as admin:
        assert admin.execute("SELECT count(*) FROM os_core.work_order_ledger").fetchone() == (0,)


def test_row_level_security_is_forced_on_every_shard(postgresql: psycopg.Connection) -> None:
    for table in TABLES:
        results = postgresql.execute(
            "SELECT success, result FROM run_command_on_shards(%s, $$SELECT relrowsecurity AND "
            "relforcerowsecurity FROM pg_class WHERE oid = '%%s'::regclass$$)",
            [table],
        ).fetchall()
        assert results, table
        assert all(success and result == "t" for success, result in results), (table, results)


def test_the_ledger_refuses_changes_on_a_workers_shard_and_through_the_coordinator(
    postgresql: psycopg.Connection, postgresql_proc, citus_nodes: CitusNodes, dbname: str
) -> None:
    with repository(conninfo(postgresql_proc, dbname, APP_ROLE)) as repo:
        repo.append(created("wo-1"))
    for statement in (
        "UPDATE os_core.work_order_ledger SET turn_id = 2",
        "DELETE FROM os_core.work_order_ledger",
        "TRUNCATE os_core.work_order_ledger",
    ):
        with pytest.raises(psycopg.Error) as refused:
            postgresql.execute(statement)
        assert refused.value.sqlstate == "SE001", statement
        postgresql.rollback()
    holder = node_for(citus_nodes, worker_of(postgresql, "tenant-a"))
    with psycopg.connect(conninfo(holder, dbname)) as worker:
        worker.execute("SET citus.override_table_visibility TO off")
        worker.execute("SET citus.enable_manual_changes_to_shards TO on")
        shard = ledger_shard_name(worker, "tenant-a")
        with pytest.raises(psycopg.Error) as refused:
            worker.execute(f"UPDATE {shard} SET turn_id = 2")
        assert refused.value.sqlstate == "SE001"
    assert postgresql.execute("SELECT count(*) FROM os_core.work_order_ledger").fetchone() == (1,)
    with pytest.raises(AppendOnlyViolation), storage_errors():
        postgresql.execute("DELETE FROM ph1j.audit_events")


def test_the_product_roles_and_grants_exist_on_every_node(
    citus_nodes: CitusNodes, dbname: str
) -> None:
    def privileges(node) -> list[tuple]:
        with psycopg.connect(conninfo(node, dbname)) as conn:
            return conn.execute(
                """
                SELECT r.rolname, r.rolcanlogin, r.rolbypassrls,
                       array(SELECT p.oid::regprocedure::text FROM pg_proc AS p
                             WHERE p.pronamespace = 'os_core'::regnamespace
                               AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
                             ORDER BY 1)
                FROM pg_roles AS r WHERE r.rolname LIKE 'selene\\_%%' ORDER BY 1
                """
            ).fetchall()

    coordinator = privileges(citus_nodes.coordinator)
    assert [r[0] for r in coordinator][:4] == [
        "selene_dba",
        "selene_os",
        "selene_owner",
        "selene_projector",
    ]
    for worker in citus_nodes.workers:
        assert privileges(worker) == coordinator


# -- A tenant's shards move while writers append and a reader pages -----------------


class LoadThreads:
    """Threads that run until stopped; each keeps the error it dies of, for the test to see."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def spawn(self, body: Callable[..., None], *args: str) -> None:
        """Add a thread running ``body(*args)`` (started by :meth:`start_threads`)."""
        self.threads.append(threading.Thread(target=self._guard, args=(body, *args), daemon=True))

    def _guard(self, body: Callable[..., None], *args: str) -> None:
        try:
            body(*args)
        except BaseException as error:
            self.errors.append(error)

    def start_threads(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop_threads(self) -> None:
        """Stop every thread, wait for it, and fail with the errors any died of."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not self.errors, self.errors


class Load(LoadThreads):
    """Writers appending to their own work orders of one tenant, and a paging reader.

    Each writer appends FIELD_SET events to its work order in a loop and records the
    ids acknowledged; the reader pages the tenant's ledger from its last id and records
    every id it sees. Both run until stopped.
    """

    def __init__(self, dsn: str, tenant: str, writers: int) -> None:
        super().__init__()
        self.dsn = dsn
        self.tenant = tenant
        self.acknowledged: list[list[int]] = [[] for _ in range(writers)]
        self.seen: list[int] = []
        for n in range(writers):
            self.spawn(self._write, n)
        self.spawn(self._read)

    def start(self) -> None:
        with repository(self.dsn) as repo:
            for n in range(len(self.acknowledged)):
                first = repo.append(created(f"wo-{n}", tenant_id=self.tenant, created_at=1))
                self.acknowledged[n].append(first.work_order_event_id)
        self.start_threads()

    def _write(self, n: int) -> None:
        def body() -> None:
            with repository(self.dsn) as repo:
                created_at = 2
                while not self.stop.is_set():
                    event = created(
                        f"wo-{n}",
                        tenant_id=self.tenant,
                        event_type="FIELD_SET",
                        turn_id=2,
                        created_at=created_at,
                        payload={"n": created_at},
                    )
                    try:
                        result = repo.append(event)
                    except psycopg.Error:
                        # A shard move may refuse a write for a moment; try the next.
                        time.sleep(0.05)
                        continue
                    self.acknowledged[n].append(result.work_order_event_id)
                    created_at += 1

        body()

    def _read(self) -> None:
        def body() -> None:
            with repository(self.dsn) as repo:
                while not self.stop.is_set():
                    after = self.seen[-1] if self.seen else 0
                    try:
                        self.seen.extend(
                            e.work_order_event_id for e in repo.ledger(self.tenant, after=after)
                        )
                    except psycopg.Error:
                        time.sleep(0.05)
                    time.sleep(0.01)

        body()

    def finish(self) -> None:
        self.stop_threads()
        # Read on to the end, as a reader that keeps going would.
        with repository(self.dsn) as repo:
            after = self.seen[-1] if self.seen else 0
            self.seen.extend(e.work_order_event_id for e in repo.ledger(self.tenant, after=after))

    def check(self) -> None:
        every = sorted(i for ids in self.acknowledged for i in ids)
        assert len(every) == len(set(every)), "an id acknowledged twice"
        assert len(self.seen) == len(set(self.seen)), "the reader saw an event twice"
        assert self.seen == sorted(self.seen), "the reader's ids do not grow"
        assert set(every) <= set(self.seen), "the reader passed over acknowledged events"
        for ids in self.acknowledged:
            assert ids == sorted(ids), "a work order's ids do not grow in commit order"


def _move_and_check(
    postgresql: psycopg.Connection,
    dsn: str,
    tenant: str,
    operation: Callable[[psycopg.Connection], None],
) -> Load:
    load = Load(dsn, tenant, writers=3)
    load.start()
    try:
        time.sleep(1.0)
        before = max(max(ids) for ids in load.acknowledged)
        with owner_may_log_in(postgresql):
            operation(postgresql)
        time.sleep(1.0)
    finally:
        load.finish()
    load.check()
    after_move = [i for ids in load.acknowledged for i in ids if i > before]
    assert after_move, "no append acknowledged after the move"
    return load


def test_a_shard_move_keeps_ids_growing_and_paging_exact(
    postgresql: psycopg.Connection, postgresql_proc, citus_nodes: CitusNodes, dbname: str
) -> None:
    tenant = "tenant-mover"
    postgresql.autocommit = True
    source = worker_of(postgresql, tenant)
    target = next((w.host, w.port) for w in citus_nodes.workers if (w.host, w.port) != source)

    def move(conn: psycopg.Connection) -> None:
        shard = ledger_shard(conn, tenant)
        conn.execute(
            "SELECT citus_move_shard_placement(%s, %s, %s, %s, %s,"
            " shard_transfer_mode => 'block_writes')",
            [shard, source[0], source[1], target[0], target[1]],
        )

    load = _move_and_check(postgresql, conninfo(postgresql_proc, dbname, APP_ROLE), tenant, move)
    assert worker_of(postgresql, tenant) == target
    # Appends after the move drew ids on the target, past every id drawn on the source.
    with repository(conninfo(postgresql_proc, dbname, APP_ROLE)) as repo:
        events = list(repo.ledger(tenant))
    assert [e.work_order_event_id for e in events] == sorted(load.seen)


def test_isolating_a_tenant_to_its_own_shard_keeps_ids_growing_and_paging_exact(
    postgresql: psycopg.Connection, postgresql_proc, dbname: str
) -> None:
    tenant = "tenant-isolated"
    postgresql.autocommit = True

    def isolate(conn: psycopg.Connection) -> None:
        conn.execute(
            "SELECT isolate_tenant_to_new_shard('os_core.work_order_ledger', %s::text,"
            " cascade_option => 'CASCADE', shard_transfer_mode => 'block_writes')",
            [tenant],
        )

    _move_and_check(postgresql, conninfo(postgresql_proc, dbname, APP_ROLE), tenant, isolate)
    shard_size = postgresql.execute(
        "SELECT shardminvalue = shardmaxvalue FROM pg_dist_shard WHERE shardid = %s",
        [ledger_shard(postgresql, tenant)],
    ).fetchone()[0]
    assert shard_size, "the tenant has a shard of its own"


def test_events_appended_before_a_move_are_paged_past_on_the_new_worker(
    postgresql: psycopg.Connection, postgresql_proc, citus_nodes: CitusNodes, dbname: str
) -> None:
    """Horizons count the old worker's transaction ids; the new worker passes them."""
    tenant = "tenant-horizons"
    postgresql.autocommit = True
    app_conninfo = conninfo(postgresql_proc, dbname, APP_ROLE)
    with repository(app_conninfo) as repo:
        before = [
            repo.append(created(f"wo-{n}", tenant_id=tenant)).work_order_event_id for n in range(3)
        ]
    source = worker_of(postgresql, tenant)
    target = next((w.host, w.port) for w in citus_nodes.workers if (w.host, w.port) != source)
    # Burn transaction ids on the source so that its horizons lie far above the target's.
    with psycopg.connect(conninfo(node_for(citus_nodes, source), dbname), autocommit=True) as w:
        for _ in range(200):
            w.execute("SELECT pg_current_xact_id()")
    with repository(app_conninfo) as repo:
        later = repo.append(created("wo-late", tenant_id=tenant)).work_order_event_id
    shard = ledger_shard(postgresql, tenant)
    with owner_may_log_in(postgresql):
        postgresql.execute(
            "SELECT citus_move_shard_placement(%s, %s, %s, %s, %s,"
            " shard_transfer_mode => 'block_writes')",
            [shard, source[0], source[1], target[0], target[1]],
        )
    with repository(app_conninfo) as repo:
        seen = [e.work_order_event_id for e in repo.ledger(tenant)]
        assert seen == [*before, later]
        moved = repo.append(created("wo-moved", tenant_id=tenant)).work_order_event_id
        assert moved > later
        assert [e.work_order_event_id for e in repo.ledger(tenant, after=later)] == [moved]


def tenants_on_each_worker(coordinator: psycopg.Connection, workers: int) -> list[str]:
    """One tenant per worker, found by asking where each candidate's shard lives."""
    found: dict[tuple[str, int], str] = {}
    for n in range(200):
        tenant = f"tenant-restart-{n}"
        found.setdefault(worker_of(coordinator, tenant), tenant)
        if len(found) == workers:
            return list(found.values())
    raise AssertionError("no tenant found on some worker")


class KeyedLoad(LoadThreads):
    """Writers appending keyed events that they re-send until acknowledged, and a DBA.

    A writer retries an append that failed with the same event (same key, same time): the
    ledger answers a replay with the original id, so each key names one ledger row,
    whatever became of the attempts that failed. The DBA verifies every tenant with an
    audit row each, a transaction that writes on both workers (two-phase commit).
    """

    def __init__(self, app_dsn: str, dba_dsn: str, tenants: list[str]) -> None:
        super().__init__()
        self.app_dsn = app_dsn
        self.dba_dsn = dba_dsn
        self.acknowledged: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self.failures = 0
        self.verified_after: list[float] = []
        for tenant in tenants:
            for n in range(2):
                self.spawn(self._write, tenant, f"wo-{n}")
        self.spawn(self._verify)

    def _connect(self, dsn: str) -> psycopg.Connection:
        while True:
            try:
                return psycopg.connect(dsn, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError:
                time.sleep(0.05)

    def _write(self, tenant: str, work_order_id: str) -> None:
        acknowledged = self.acknowledged.setdefault((tenant, work_order_id), [])
        conn = self._connect(self.app_dsn)
        seq = 0
        while not self.stop.is_set():
            event = created(
                work_order_id,
                tenant_id=tenant,
                event_type="WORK_ORDER_CREATED" if seq == 0 else "FIELD_SET",
                turn_id=1 if seq == 0 else 2,
                created_at=1_000 + seq,
                idempotency_key=f"{work_order_id}-{seq}",
                payload={"seq": seq},
            )
            while True:
                try:
                    result = WorkOrderRepository(conn).append(event)
                    break
                except psycopg.Error:
                    self.failures += 1
                    if conn.closed:
                        conn = self._connect(self.app_dsn)
                    time.sleep(0.05)
            acknowledged.append((event.idempotency_key, result.work_order_event_id))
            seq += 1
        conn.close()

    def _verify(self) -> None:
        conn = self._connect(self.dba_dsn)
        while not self.stop.is_set():
            try:
                assert WorkOrderRepository(conn).verify(None, audit=True) == []
                self.verified_after.append(time.monotonic())
            except psycopg.Error:
                if conn.closed:
                    conn = self._connect(self.dba_dsn)
                time.sleep(0.05)
        conn.close()

    def run(self, seconds: float) -> None:
        self.start_threads()
        time.sleep(seconds)


def restart(worker: PostgreSQLExecutor, down_seconds: float) -> None:
    """Stop the worker as a crash would (immediate: no checkpoint, sessions cut) and start it."""
    subprocess.run(
        [worker.executable, "stop", "-D", worker.datadir, "-m", "immediate"],
        check=True,
        capture_output=True,
    )
    time.sleep(down_seconds)
    subprocess.run(worker.command, shell=True, check=True, capture_output=True)


@contextmanager
def commits_flushed(nodes: CitusNodes, dbname: str) -> Iterator[None]:
    """Workers acknowledge a commit once its WAL is written, as production servers do.

    The test servers run with synchronous_commit off for speed, which lets a crash lose
    the last commits a server acknowledged; this test is about what survives a crash.
    """
    # Citus sends the setting on to every worker's database.
    with psycopg.connect(conninfo(nodes.coordinator, dbname), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" SET synchronous_commit TO on')
    for worker in nodes.workers:
        with psycopg.connect(conninfo(worker, dbname)) as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    try:
        yield
    finally:
        with psycopg.connect(conninfo(nodes.coordinator, dbname), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" RESET synchronous_commit')


def test_a_worker_restarted_mid_load_loses_nothing_and_leaves_no_prepared_transaction(
    postgresql: psycopg.Connection, postgresql_proc, citus_nodes: CitusNodes, dbname: str
) -> None:
    postgresql.autocommit = True
    tenants = tenants_on_each_worker(postgresql, len(citus_nodes.workers))
    victim = node_for(citus_nodes, worker_of(postgresql, tenants[0]))
    load = KeyedLoad(
        conninfo(postgresql_proc, dbname, APP_ROLE),
        conninfo(postgresql_proc, dbname, DBA_ROLE),
        tenants,
    )
    with commits_flushed(citus_nodes, dbname):
        try:
            load.run(1.5)
            restarted_at = time.monotonic()
            restart(victim, down_seconds=1.0)
            time.sleep(2.0)
        finally:
            load.stop_threads()
    assert load.failures > 0, "the restart went unnoticed: no append failed"
    assert any(t > restarted_at for t in load.verified_after), "no verify after the restart"
    # The coordinator's recovery commits or rolls back what a worker had prepared. Until it
    # has, a transaction prepared before the restart holds the tenant's paging horizon.
    deadline = time.monotonic() + 60
    while True:
        postgresql.execute("SELECT recover_prepared_transactions()")
        left = 0
        for worker in citus_nodes.workers:
            with psycopg.connect(conninfo(worker, dbname), autocommit=True) as conn:
                left += conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0]
        if left == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert left == 0, f"{left} prepared transactions left on the workers"
    # Every acknowledged append is in the ledger under its id, each key once, ids growing.
    with repository(conninfo(postgresql_proc, dbname, APP_ROLE)) as repo:
        for (tenant, work_order_id), acknowledged in load.acknowledged.items():
            assert acknowledged, f"{tenant}/{work_order_id} appended nothing"
            events = [
                (e.idempotency_key, e.work_order_event_id)
                for e in repo.ledger(tenant)
                if e.work_order_id == work_order_id
            ]
            assert events == acknowledged, f"{tenant}/{work_order_id}: ledger != acknowledged"
        assert all(repo.verify(tenant) == [] for tenant in tenants)

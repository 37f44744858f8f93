"""Durable consumers in SQL: os_core.consumer_position, consumer_commit and consumer_stats.

Real sessions of the app login. A consumer's position is committed in the consumer's own
transaction; ``consumer_position`` (and ``consumer_commit``) lock the consumer's row until
that transaction ends, so a second instance of the consumer waits for the first and then
reads the position it committed (docs/decisions.md, "Durable consumers"). The interleavings
follow tests/test_sql_concurrency.py: session A leaves its transaction open, session B's
call runs on a worker thread, and the test sees B wait on A's lock (on Citus, on the
tenant's worker) before it lets A go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from tests.conftest import APP_ROLE, CITUS
from tests.pgbouncer import INSTALL_HINT as PGBOUNCER_HINT
from tests.pgbouncer import PGBOUNCER, running_pgbouncer
from tests.sql_helpers import TENANT_A, TENANT_B, WAIT_SECONDS, append, event, set_tenant
from tests.test_sql_concurrency import begin, transaction, wait_until_blocked

pytestmark = pytest.mark.timeout(120)

Connect = Callable[..., psycopg.Connection]
SCOPE = "SE003"
CONTRACT = "SE004"
CONTRACT_MESSAGE = "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED"
SCOPE_MESSAGE = "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION"

POSITION_SQL = "SELECT os_core.consumer_position(%s::text, %s::text, %s::text)"
COMMIT_SQL = "SELECT os_core.consumer_commit(%s::text, %s::text, %s::bigint, %s::text)"


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def position(conn: psycopg.Connection, consumer: str, stream: str = "ledger") -> int:
    """consumer_position in the current transaction of ``conn``."""
    row = conn.execute(POSITION_SQL, [TENANT_A, consumer, stream]).fetchone()
    assert row is not None
    return row[0]


def commit(conn: psycopg.Connection, consumer: str, event_id: int, stream: str = "ledger") -> int:
    """consumer_commit in the current transaction of ``conn``."""
    row = conn.execute(COMMIT_SQL, [TENANT_A, consumer, event_id, stream]).fetchone()
    assert row is not None
    return row[0]


def as_tenant(conn: psycopg.Connection, tenant_id: str, statement: str, params: list[Any]) -> Any:
    """Run ``statement`` in a transaction of its own with ``tenant_id`` declared; its value."""
    with transaction(conn):
        set_tenant(conn, tenant_id)
        row = conn.execute(statement, params).fetchone()
    return None if row is None else row[0]


def refusal(conn: psycopg.Connection, tenant_id: str | None, statement: str, params: list[Any]):
    """The error of ``statement`` run in a transaction of its own (rolled back)."""
    with pytest.raises(psycopg.Error) as caught, transaction(conn):
        if tenant_id is not None:
            set_tenant(conn, tenant_id)
        conn.execute(statement, params)
    return caught.value


def appended(conn: psycopg.Connection, count: int, tenant_id: str = TENANT_A) -> list[int]:
    """Append ``count`` events to one new work order of ``tenant_id``, committed; their ids."""
    ids = []
    with transaction(conn):
        set_tenant(conn, tenant_id)
        base = conn.execute(
            "SELECT count(*) FROM os_core.work_order_ledger_read(%s::text, NULL, 0, 10000)",
            [tenant_id],
        ).fetchone()[0]
        work_order = f"wo-{base}"
        for n in range(count):
            fields = event(
                tenant_id=tenant_id,
                work_order_id=work_order,
                correlation_id=10_000 + base,
                created_at=1_000 + n,
            )
            if n:
                fields.update(event_type="FIELD_SET", work_order_status="DRAFT")
            ids.append(append(conn, **fields)[0])
    return ids


def stored(su: psycopg.Connection) -> list[tuple[Any, ...]]:
    """Every consumer row, as the superuser sees it."""
    return su.execute(
        "SELECT tenant_id, stream, consumer, committed_position, updated_at"
        " FROM os_core.consumer_positions ORDER BY 1, 2, 3"
    ).fetchall()


# --- positions -------------------------------------------------------------------------------


def test_a_new_consumer_is_at_zero_and_reads_back_what_it_committed(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids = appended(app, 3)
    with transaction(app):
        set_tenant(app, TENANT_A)
        assert position(app, "projector") == 0
        assert commit(app, "projector", ids[1]) == ids[1]
        assert position(app, "projector") == ids[1]
    assert as_tenant(app, TENANT_A, POSITION_SQL, [TENANT_A, "projector", "ledger"]) == ids[1]
    # Committed: the next transaction, and the superuser, see it.
    assert [row[:4] for row in stored(su)] == [(TENANT_A, "ledger", "projector", ids[1])]


def test_committing_the_same_position_again_writes_nothing(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids = appended(app, 2)
    as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"])
    before = stored(su)
    xmin = su.execute("SELECT xmin::text FROM os_core.consumer_positions").fetchone()
    assert as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"]) == ids[0]
    assert stored(su) == before
    assert su.execute("SELECT xmin::text FROM os_core.consumer_positions").fetchone() == xmin


def test_a_position_moving_backwards_is_refused_with_both_positions_and_nothing_written(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids = appended(app, 3)
    as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[2], "ledger"])
    before = stored(su)
    error = refusal(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"])
    assert (error.sqlstate, error.diag.message_primary) == (CONTRACT, CONTRACT_MESSAGE)
    assert f"position {ids[2]}" in error.diag.message_detail
    assert f"position {ids[0]}" in error.diag.message_detail
    assert error.diag.message_hint
    assert stored(su) == before


@pytest.mark.parametrize(
    ("event_id", "why"),
    [(-1, "negative"), (None, "NULL"), ("past", "past the last event")],
)
def test_an_id_that_is_no_event_of_the_tenant_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, event_id: Any, why: str
) -> None:
    ids = appended(app, 2)
    appended(app, 2, tenant_id=TENANT_B)  # another tenant's later ids count for nothing
    if event_id == "past":
        event_id = max(ids) + 1
        last_b = su.execute(
            "SELECT max(work_order_event_id) FROM os_core.work_order_ledger WHERE tenant_id = %s",
            [TENANT_B],
        ).fetchone()[0]
        if not CITUS:
            assert last_b > event_id  # on one node the ids are drawn from one sequence
    error = refusal(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", event_id, "ledger"])
    assert (error.sqlstate, error.diag.message_primary) == (CONTRACT, CONTRACT_MESSAGE), why
    assert stored(su) == []


def test_a_tenant_without_events_has_only_position_zero(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    assert as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", 0, "ledger"]) == 0
    error = refusal(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", 1, "ledger"])
    assert error.sqlstate == CONTRACT
    assert [row[:4] for row in stored(su)] == [(TENANT_A, "ledger", "projector", 0)]


@pytest.mark.parametrize(
    "name",
    ["", " ", "x" * 129, "a/b", "a b", "proj\u00e9ctor", "projector\n", "pro\u200bjector", None],
    ids=["empty", "blank", "129", "slash", "space", "accent", "newline", "zero-width", "null"],
)
@pytest.mark.parametrize("statement", ["position", "commit"])
def test_a_bad_consumer_name_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, name: str | None, statement: str
) -> None:
    params: list[Any] = [TENANT_A, name, "ledger"]
    sql = POSITION_SQL
    if statement == "commit":
        sql, params = COMMIT_SQL, [TENANT_A, name, 0, "ledger"]
    error = refusal(app, TENANT_A, sql, params)
    assert (error.sqlstate, error.diag.message_primary) == (CONTRACT, CONTRACT_MESSAGE)
    assert "consumer must be" in error.diag.message_detail
    assert stored(su) == []


def test_the_longest_name_and_every_allowed_character_are_accepted(app: psycopg.Connection) -> None:
    for name in ("x" * 128, "Az09_.:-", "ph1j:shipper.v2-eu_1"):
        assert as_tenant(app, TENANT_A, POSITION_SQL, [TENANT_A, name, "ledger"]) == 0


@pytest.mark.parametrize("stream", ["", "LEDGER", "events", None])
def test_an_unknown_stream_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, stream: str | None
) -> None:
    error = refusal(app, TENANT_A, POSITION_SQL, [TENANT_A, "projector", stream])
    assert (error.sqlstate, error.diag.message_primary) == (CONTRACT, CONTRACT_MESSAGE)
    assert stored(su) == []


def test_the_audit_trail_has_positions_of_its_own(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    """A PH1.J shipper is a consumer of the audit stream: audit_event_id values, its own row."""
    ids = appended(app, 2)
    audit_ids = [
        row[0]
        for row in su.execute(
            "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s ORDER BY 1",
            [TENANT_A],
        )
    ]
    assert len(audit_ids) == 2
    with transaction(app):
        set_tenant(app, TENANT_A)
        assert position(app, "shipper", "audit") == 0
        assert commit(app, "shipper", audit_ids[1], "audit") == audit_ids[1]
        assert commit(app, "shipper", ids[0]) == ids[0]  # the same name on the ledger
    error = refusal(app, TENANT_A, COMMIT_SQL, [TENANT_A, "shipper", max(audit_ids) + 1, "audit"])
    assert error.sqlstate == CONTRACT
    error = refusal(app, TENANT_A, COMMIT_SQL, [TENANT_A, "shipper", audit_ids[0], "audit"])
    assert error.sqlstate == CONTRACT
    assert [row[:4] for row in stored(su)] == [
        (TENANT_A, "audit", "shipper", audit_ids[1]),
        (TENANT_A, "ledger", "shipper", ids[0]),
    ]


# --- tenant scope ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (POSITION_SQL, [TENANT_B, "projector", "ledger"]),
        (COMMIT_SQL, [TENANT_B, "projector", 0, "ledger"]),
        (POSITION_SQL, [TENANT_B, "projector", "audit"]),
        (COMMIT_SQL, [TENANT_B, "projector", 1, "audit"]),
        ("SELECT * FROM os_core.consumer_stats(%s::text)", [TENANT_B]),
    ],
    ids=["position", "commit", "position-audit", "commit-audit", "stats"],
)
@pytest.mark.parametrize("declared", [TENANT_A, None], ids=["other-tenant", "none"])
def test_a_consumer_of_another_tenant_is_refused_and_nothing_is_written(
    su: psycopg.Connection,
    app: psycopg.Connection,
    statement: str,
    params: list[Any],
    declared: str | None,
) -> None:
    ids = appended(app, 1, tenant_id=TENANT_B)
    as_tenant(app, TENANT_B, COMMIT_SQL, [TENANT_B, "projector", ids[0], "ledger"])
    before = stored(su)
    error = refusal(app, declared, statement, params)
    assert (error.sqlstate, error.diag.message_primary) == (SCOPE, SCOPE_MESSAGE)
    assert stored(su) == before


def test_a_consumer_of_the_same_name_in_another_tenant_is_another_consumer(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids_b = appended(app, 2, tenant_id=TENANT_B)
    as_tenant(app, TENANT_B, COMMIT_SQL, [TENANT_B, "projector", ids_b[1], "ledger"])
    assert as_tenant(app, TENANT_A, POSITION_SQL, [TENANT_A, "projector", "ledger"]) == 0
    assert as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", 0, "ledger"]) == 0
    rows = as_tenant(
        app,
        TENANT_A,
        "SELECT array_agg(s.tenant_id) FROM os_core.consumer_stats(%s::text) AS s",
        [TENANT_A],
    )
    assert rows == [TENANT_A]


# --- transactions ----------------------------------------------------------------------------


def test_a_position_committed_in_a_transaction_that_rolls_back_is_not_kept(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids = appended(app, 3)
    as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"])
    before = stored(su)
    begin(app, TENANT_A)
    assert commit(app, "projector", ids[2]) == ids[2]
    app.execute("ROLLBACK")
    assert stored(su) == before
    assert as_tenant(app, TENANT_A, POSITION_SQL, [TENANT_A, "projector", "ledger"]) == ids[0]


def test_effects_in_the_database_and_the_position_commit_or_roll_back_together(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    """Exactly-once effects: the consumer appends what it derived and commits its position in
    one transaction. A failure after both rolls both back; a retry does both once."""
    ids = appended(app, 2)

    def consume(fail: bool) -> None:
        with transaction(app):
            set_tenant(app, TENANT_A)
            after = position(app, "deriver")
            page = app.execute(
                "SELECT work_order_event_id FROM os_core.work_order_ledger_read(%s::text, NULL,"
                " %s::bigint, 10)",
                [TENANT_A, after],
            ).fetchall()
            append(app, **event(work_order_id="derived", correlation_id=99_999, created_at=5))
            commit(app, "deriver", page[-1][0])
            if fail:
                raise RuntimeError("the consumer fails after its effects and its commit")

    with pytest.raises(RuntimeError):
        consume(fail=True)
    derived = "SELECT count(*) FROM os_core.work_order_ledger WHERE work_order_id = 'derived'"
    assert su.execute(derived).fetchone() == (0,)
    assert stored(su) == []
    consume(fail=False)
    assert su.execute(derived).fetchone() == (1,)
    assert [row[3] for row in stored(su)] == [ids[1]]


# --- one instance at a time ------------------------------------------------------------------


def test_a_second_instance_waits_and_then_goes_on_from_the_first_ones_position(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, b = session(), session()
    ids = appended(a, 3)
    begin(a, TENANT_A)
    assert position(a, "projector") == 0

    def second_instance() -> int:
        with transaction(b):
            set_tenant(b, TENANT_A)
            return position(b, "projector")

    waiting = worker.submit(second_instance)
    wait_until_blocked(observer, b, "advisory", "advisory")
    assert not waiting.done()
    commit(a, "projector", ids[2])
    a.execute("COMMIT")
    assert waiting.result(timeout=WAIT_SECONDS) == ids[2]


def test_a_second_first_instance_of_a_new_consumer_waits_for_the_first(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    """The claim needs no row: the second instance of a consumer with none yet waits too."""
    a, b = session(), session()
    ids = appended(a, 1)
    begin(a, TENANT_A)
    assert position(a, "fresh") == 0

    def second_instance() -> int:
        with transaction(b):
            set_tenant(b, TENANT_A)
            return position(b, "fresh")

    waiting = worker.submit(second_instance)
    wait_until_blocked(observer, b, "advisory", "advisory")
    commit(a, "fresh", ids[0])
    a.execute("COMMIT")
    assert waiting.result(timeout=WAIT_SECONDS) == ids[0]
    assert len(stored(su)) == 1


def test_a_second_instance_with_a_lock_timeout_is_refused_with_55p03(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
) -> None:
    a, b = session(), session()
    appended(a, 1)
    begin(a, TENANT_A)
    position(a, "projector")
    try:
        with pytest.raises(psycopg.errors.LockNotAvailable), b.transaction():
            b.execute("SET LOCAL lock_timeout = '200ms'")
            set_tenant(b, TENANT_A)
            position(b, "projector")
    finally:
        a.execute("ROLLBACK")


def test_other_consumers_and_streams_do_not_wait(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    a, b = session(), session()
    appended(a, 1)
    begin(a, TENANT_A)
    position(a, "projector")
    try:
        with b.transaction():
            b.execute("SET LOCAL lock_timeout = '200ms'")
            set_tenant(b, TENANT_A)
            assert position(b, "other") == 0
            assert position(b, "projector", "audit") == 0
    finally:
        a.execute("ROLLBACK")


def test_a_killed_instance_frees_its_consumer_and_its_uncommitted_position_is_lost(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, b = session(), session()
    ids = appended(a, 3)
    as_tenant(a, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"])
    begin(a, TENANT_A)
    assert position(a, "projector") == ids[0]
    commit(a, "projector", ids[2])  # processed, not committed yet

    def second_instance() -> int:
        with transaction(b):
            set_tenant(b, TENANT_A)
            return position(b, "projector")

    waiting = worker.submit(second_instance)
    wait_until_blocked(observer, b, "advisory", "advisory")
    assert su.execute(
        "SELECT pg_terminate_backend(%s::integer)", [a.info.backend_pid]
    ).fetchone() == (True,)
    assert waiting.result(timeout=WAIT_SECONDS) == ids[0]
    assert [row[3] for row in stored(su)] == [ids[0]]


# --- monitoring ------------------------------------------------------------------------------


def test_consumer_stats_show_each_consumers_position_and_lag(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    ids = appended(app, 4)
    audit_last = su.execute(
        "SELECT max(audit_event_id) FROM ph1j.audit_events WHERE tenant_id = %s", [TENANT_A]
    ).fetchone()[0]
    with transaction(app):
        set_tenant(app, TENANT_A)
        commit(app, "projector", ids[1])
        commit(app, "new", 0)  # a new consumer's first commit, of 0, registers it
        commit(app, "shipper", audit_last, "audit")
    with transaction(app):
        set_tenant(app, TENANT_A)
        rows = app.execute(
            "SELECT tenant_id, stream, consumer, committed_position, last_event_id,"
            " pending_events FROM os_core.consumer_stats(%s::text)",
            [TENANT_A],
        ).fetchall()
    assert rows == [
        (TENANT_A, "audit", "shipper", audit_last, audit_last, 0),
        (TENANT_A, "ledger", "new", 0, ids[3], 4),
        (TENANT_A, "ledger", "projector", ids[1], ids[3], 2),
    ]


@pytest.mark.parametrize("level", ["REPEATABLE READ", "SERIALIZABLE"])
@pytest.mark.parametrize("statement", ["position", "commit"])
def test_a_consumer_outside_read_committed_is_refused(
    su: psycopg.Connection, app: psycopg.Connection, level: str, statement: str
) -> None:
    """The position is read after the lock; only READ COMMITTED shows it as the previous
    instance committed it (a snapshot from before the wait would be stale)."""
    sql, params = POSITION_SQL, [TENANT_A, "projector", "ledger"]
    if statement == "commit":
        sql, params = COMMIT_SQL, [TENANT_A, "projector", 0, "ledger"]
    with pytest.raises(psycopg.Error) as caught, app.transaction():
        app.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
        set_tenant(app, TENANT_A)
        app.execute(sql, params)
    assert (caught.value.sqlstate, caught.value.diag.message_primary) == (
        CONTRACT,
        CONTRACT_MESSAGE,
    )
    assert level in caught.value.diag.message_detail
    assert stored(su) == []


def test_a_consumer_busy_with_a_page_holds_no_reader_back(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    """The claim takes no transaction id: while an instance works on a page (between its
    consumer_position and its consumer_commit), an event appended and committed meanwhile
    is at once in a tenant-wide reader's page. (A row lock would take one, and hold every
    tenant-wide reader back for as long as the page takes: docs/decisions.md.)"""
    busy, writer, reader = session(), session(), session()
    ids = appended(writer, 1)
    begin(busy, TENANT_A)
    assert position(busy, "shipper") == 0
    try:
        new = appended(writer, 1)
        page = as_tenant(
            reader,
            TENANT_A,
            "SELECT array_agg(work_order_event_id) FROM os_core.work_order_ledger_read("
            "%s::text, NULL, %s::bigint)",
            [TENANT_A, ids[0]],
        )
        assert page == new
    finally:
        busy.execute("ROLLBACK")


def test_two_instances_following_the_ledger_while_it_grows_process_each_event_once_in_order(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    """Two instances of one consumer run the client's loop (one transaction per page: the
    position, a tenant-wide page after it, the processing, the commit) while a writer
    appends 120 events. Every event is processed exactly once, by one instance or the
    other, in id order: the instances take turns, never work on the same page."""
    writer, first, second = session(), session(), session()
    total = 120
    processed: list[tuple[str, int]] = []
    written: list[int] = []
    done = threading.Event()

    def write() -> None:
        for n in range(total):
            with transaction(writer):
                set_tenant(writer, TENANT_A)
                fields = event(work_order_id=f"wo-{n}", correlation_id=1_000 + n)
                written.append(append(writer, **fields)[0])
        done.set()

    def follow(name: str, conn: psycopg.Connection) -> None:
        while True:
            with transaction(conn):
                set_tenant(conn, TENANT_A)
                after = position(conn, "follower")
                page = [
                    row[0]
                    for row in conn.execute(
                        "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
                        "%s::text, NULL, %s::bigint, 7)",
                        [TENANT_A, after],
                    )
                ]
                processed.extend((name, event_id) for event_id in page)
                if page:
                    commit(conn, "follower", page[-1])
            if not page:
                if done.is_set() and len(processed) >= total:
                    return
                time.sleep(0.002)

    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [
            pool.submit(write),
            pool.submit(follow, "first", first),
            pool.submit(follow, "second", second),
        ]
        for future in futures:
            future.result(timeout=90)
    ids = [event_id for _, event_id in processed]
    assert ids == sorted(written)
    assert len(set(ids)) == total
    assert {name for name, _ in processed} == {"first", "second"}, "both instances took turns"
    assert as_tenant(first, TENANT_A, POSITION_SQL, [TENANT_A, "follower", "ledger"]) == max(
        written
    )


@pytest.mark.skipif(not CITUS, reason="needs the Citus layout (make test-citus)")
def test_on_citus_positions_live_with_the_tenants_events_and_the_calls_are_delegated(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    colocation = su.execute(
        "SELECT logicalrelid::text, partmethod, colocationid FROM pg_dist_partition"
        " WHERE logicalrelid IN ('os_core.consumer_positions'::regclass,"
        " 'os_core.work_order_ledger'::regclass) ORDER BY 1"
    ).fetchall()
    assert [row[:2] for row in colocation] == [
        ("os_core.consumer_positions", "h"),
        ("os_core.work_order_ledger", "h"),
    ]
    assert colocation[0][2] == colocation[1][2], "one co-location group"
    delegated = su.execute(
        "SELECT d.objid::regprocedure::text, d.distribution_argument_index, d.force_delegation"
        " FROM pg_dist_object AS d WHERE d.classid = 'pg_proc'::regclass"
        " AND d.objid::regproc::text LIKE 'os_core.consumer%%' ORDER BY 1"
    ).fetchall()
    assert delegated == [
        ("os_core.consumer_commit(text,text,bigint,text)", 0, True),
        ("os_core.consumer_position(text,text,text)", 0, True),
        ("os_core.consumer_stats(text)", 0, True),
    ]
    ids = appended(app, 1)
    as_tenant(app, TENANT_A, COMMIT_SQL, [TENANT_A, "projector", ids[0], "ledger"])
    placements = su.execute(
        "SELECT s.table_name::text, s.nodeport FROM citus_shards AS s"
        " WHERE s.shardid IN ("
        "  get_shard_id_for_distribution_column('os_core.consumer_positions', %s::text),"
        "  get_shard_id_for_distribution_column('os_core.work_order_ledger', %s::text))"
        " ORDER BY 1",
        [TENANT_A, TENANT_A],
    ).fetchall()
    assert len(placements) == 2 and placements[0][1] == placements[1][1], placements


@pytest.mark.skipif(CITUS, reason="one PgBouncer in front of one node")
@pytest.mark.skipif(PGBOUNCER is None, reason=PGBOUNCER_HINT)
def test_behind_pgbouncer_in_transaction_pooling_a_second_instance_waits_the_same_way(
    su: psycopg.Connection,
    postgresql_proc: PostgreSQLExecutor,
    dbname: str,
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    """The claim lives in the transaction, which PgBouncer's transaction pooling keeps on one
    server connection: two instances through PgBouncer take turns as they do directly."""
    with running_pgbouncer(
        dbname=dbname,
        server_host=postgresql_proc.host,
        server_port=postgresql_proc.port,
        users=[APP_ROLE],
        pool_size=2,
    ) as pgb:

        def client() -> psycopg.Connection:
            conn = psycopg.connect(pgb.conninfo(APP_ROLE), autocommit=True)
            conn.prepare_threshold = None  # PgBouncer 1.18 keeps no prepared statement
            return conn

        a, b = client(), client()
        try:
            ids = appended(a, 3)
            begin(a, TENANT_A)
            assert position(a, "projector") == 0

            def second_instance() -> int:
                with transaction(b):
                    set_tenant(b, TENANT_A)
                    return position(b, "projector")

            waiting = worker.submit(second_instance)
            deadline = time.monotonic() + WAIT_SECONDS
            while time.monotonic() < deadline:
                waits = observer.execute(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity"
                    " WHERE usename = %s AND wait_event = 'advisory'",
                    [APP_ROLE],
                ).fetchone()[0]
                if waits:
                    break
                time.sleep(0.01)
            assert waits == 1 and not waiting.done()
            commit(a, "projector", ids[2])
            a.execute("COMMIT")
            assert waiting.result(timeout=WAIT_SECONDS) == ids[2]
            # Transactions of either client, on whichever server connection, go on from there.
            assert as_tenant(a, TENANT_A, POSITION_SQL, [TENANT_A, "projector", "ledger"]) == ids[2]
        finally:
            a.close()
            b.close()


def test_a_session_cannot_take_another_tenants_consumer_lock_to_hold_it_back(
    su: psycopg.Connection, app: psycopg.Connection
) -> None:
    """The claim's key is known (docs/decisions.md), but advisory locks are the product's
    (migration 0004): a selene_os session cannot take it and stall a consumer."""
    key = f"consumer ledger/{TENANT_B}/projector"
    for attempt in (
        "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
        "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(attempt, [key])
    assert as_tenant(app, TENANT_B, POSITION_SQL, [TENANT_B, "projector", "ledger"]) == 0

"""Deliberate interleavings of real sessions: who blocks whom, and what each one gets.

Session A does its part on the test's thread and leaves its transaction open;
session B's call runs on a worker thread (only so that it may block); the test
checks in pg_stat_activity and pg_locks that B really waits on a lock before it
lets A commit or roll back. Every wait has a timeout, and every session a
lock_timeout, so a hang fails the test instead of blocking the run.

On Citus (``SELENE_TEST_LAYOUT=citus``) the sessions connect to the coordinator, and each
call runs on the tenant's worker: B waits there, so that is where the test looks for the
wait (:func:`wait_until_blocked`); and the lock_timeout is set again in every transaction
with ``SET LOCAL``, which Citus sends on to the workers (a session's settings it does not).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import pytest

from tests import sql_helpers
from tests.conftest import CITUS, DBA_ROLE, LOCK_TIMEOUT
from tests.sql_helpers import (
    TENANT_A,
    WAIT_SECONDS,
    append,
    current_row,
    event,
    ledger_state,
    set_tenant,
)

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")
Connect = Callable[..., psycopg.Connection]
# LOCK_TIMEOUT (conftest): set for each session and, for the workers of a Citus cluster,
# again in each transaction.


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


@contextmanager
def transaction(conn: psycopg.Connection) -> Iterator[None]:
    """A transaction whose lock_timeout reaches the Citus workers too (SET LOCAL)."""
    with conn.transaction():
        conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        yield


def in_transaction(conn: psycopg.Connection, tenant_id: str, work: Callable[[], T]) -> T:
    """BEGIN, declare the tenant, run ``work``, COMMIT (ROLLBACK if it raises)."""
    with transaction(conn):
        set_tenant(conn, tenant_id)
        return work()


def begin(conn: psycopg.Connection, tenant_id: str) -> None:
    """Open a transaction on an autocommit session and declare the tenant; end it by hand."""
    conn.execute("BEGIN")
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    set_tenant(conn, tenant_id)


def append_committed(conn: psycopg.Connection, **fields: Any) -> tuple[int, bool]:
    """Declare the event's tenant, append it and commit, on an autocommit connection."""
    with transaction(conn):
        set_tenant(conn, fields["tenant_id"])
        return append(conn, **fields)


# On Citus: the worker backends that serve a coordinator backend (they carry its global
# pid), what they wait on, and which locks they wait for.
CLUSTER_WAITS_SQL = """
WITH activity AS (
    SELECT nodeid, pid, wait_event_type, wait_event, state
    FROM pg_catalog.citus_stat_activity
    WHERE global_pid = %(gpid)s AND is_worker_query
),
ungranted AS (
    SELECT nodeid, pid, array_agg(locktype::text) AS locktypes
    FROM pg_catalog.citus_locks
    WHERE global_pid = %(gpid)s AND NOT granted
    GROUP BY nodeid, pid
)
SELECT a.nodeid, a.pid, a.wait_event_type, a.wait_event, a.state, u.locktypes
FROM activity AS a
LEFT JOIN ungranted AS u ON u.nodeid = a.nodeid AND u.pid = a.pid
"""


def wait_until_blocked(
    observer: psycopg.Connection, conn: psycopg.Connection, wait_event: str, locktype: str
) -> None:
    """Return once ``conn``'s call waits on a heavyweight lock of ``locktype``; fail otherwise.

    On a single node the call runs in ``conn``'s backend. On Citus it runs on the tenant's
    worker, and the coordinator's backend only waits for the worker's answer: the backend
    that must wait on the lock is the worker's one serving ``conn``, which carries the
    coordinator backend's global pid (``citus_stat_activity``, ``citus_locks``).
    """
    if not CITUS:
        sql_helpers.wait_until_blocked(observer, conn.info.backend_pid, wait_event, locktype)
        return
    gpid_row = observer.execute(
        "SELECT citus_calculate_gpid(nodeid, %s) FROM pg_catalog.pg_dist_node WHERE groupid = 0",
        [conn.info.backend_pid],
    ).fetchone()
    assert gpid_row is not None
    gpid = gpid_row[0]
    deadline = time.monotonic() + WAIT_SECONDS
    seen: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        seen = observer.execute(CLUSTER_WAITS_SQL, {"gpid": gpid}).fetchall()
        if any(
            row[2] == "Lock" and row[3] == wait_event and row[5] is not None and locktype in row[5]
            for row in seen
        ):
            return
        time.sleep(0.05)
    raise AssertionError(
        f"no worker backend of global pid {gpid} (coordinator backend"
        f" {conn.info.backend_pid}) ever waited on a {wait_event} lock; last seen (nodeid,"
        f" pid, wait_event_type, wait_event, state, ungranted locktypes) = {seen}"
    )


def blocked_append(
    pool: ThreadPoolExecutor,
    observer: psycopg.Connection,
    conn: psycopg.Connection,
    **fields: Any,
) -> Future[tuple[int, bool]]:
    """Start an append in its own transaction on the worker thread; return once it waits on A."""
    future = pool.submit(append_committed, conn, **fields)
    wait_until_blocked(observer, conn, "advisory", "advisory")
    assert not future.done()
    return future


# --- (a), (b): two sessions race with one idempotency key ----------------------------------


def test_a_racing_duplicate_waits_and_then_replays_the_committed_event(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, b = session(), session()
    created = event(idempotency_key="create-wo-1")

    begin(a, TENANT_A)
    a_event_id, a_replay = append(a, **created)
    assert a_replay is False
    b_result = blocked_append(worker, observer, b, **created)
    a.execute("COMMIT")

    assert b_result.result(timeout=WAIT_SECONDS) == (a_event_id, True)
    state = ledger_state(su)
    assert (state.ledger_rows, state.current_rows, state.audit_rows) == (1, 1, 2)
    outcomes = su.execute(
        "SELECT outcome, work_order_event_id FROM ph1j.audit_events ORDER BY audit_event_id"
    ).fetchall()
    assert outcomes == [
        ("APPENDED", a_event_id),
        ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", a_event_id),
    ]


def test_a_racing_duplicate_appends_for_real_when_the_first_rolls_back(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, b = session(), session()
    created = event(idempotency_key="create-wo-1")

    begin(a, TENANT_A)
    a_event_id, _ = append(a, **created)
    b_result = blocked_append(worker, observer, b, **created)
    a.execute("ROLLBACK")

    b_event_id, b_replay = b_result.result(timeout=WAIT_SECONDS)
    assert b_replay is False
    assert b_event_id != a_event_id
    state = ledger_state(su)
    assert (state.ledger_rows, state.current_rows, state.audit_rows) == (1, 1, 1)
    row = current_row(su, TENANT_A, "wo-1")
    assert (row.last_event_id, row.event_count) == (b_event_id, 1)


# --- (c), (d): writers on one work order queue up; on two they do not ----------------------


def test_two_writers_on_one_work_order_are_serialised_in_commit_order(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, b = session(), session()
    created_id, _ = append_committed(a, **event())
    a_event = event(
        event_type="FIELD_SET", work_order_status="CLARIFY", turn_id=2, created_at=2_000
    )
    b_event = event(
        event_type="STATUS_CHANGED",
        work_order_status="CONFIRM",
        turn_id=3,
        reason_code=9,
        created_at=3_000,
    )

    begin(a, TENANT_A)
    a_event_id, _ = append(a, **a_event)
    b_result = blocked_append(worker, observer, b, **b_event)
    a.execute("COMMIT")
    b_event_id, b_replay = b_result.result(timeout=WAIT_SECONDS)

    assert b_replay is False
    assert created_id < a_event_id < b_event_id
    ledger = su.execute(
        "SELECT work_order_event_id, turn_id FROM os_core.work_order_ledger"
        " WHERE tenant_id = %s AND work_order_id = 'wo-1' ORDER BY work_order_event_id",
        [TENANT_A],
    ).fetchall()
    assert ledger == [(created_id, 1), (a_event_id, 2), (b_event_id, 3)]
    row = current_row(su, TENANT_A, "wo-1")
    assert (
        row.last_event_id,
        row.work_order_status,
        row.turn_id,
        row.last_updated_at,
        row.last_reason_code,
        row.event_count,
    ) == (b_event_id, "CONFIRM", 3, 3_000, 9, 3)


def test_writers_on_two_work_orders_do_not_block_each_other(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    a, b = session(), session()
    append_committed(a, **event(work_order_id="wo-1", correlation_id=1))
    append_committed(a, **event(work_order_id="wo-2", correlation_id=2))
    field_set = {"event_type": "FIELD_SET", "turn_id": 2, "created_at": 2_000}

    begin(a, TENANT_A)
    append(a, **event(work_order_id="wo-1", correlation_id=1, **field_set))
    # B must not wait at all: a lock wait fails at once instead of blocking.
    with b.transaction():
        set_tenant(b, TENANT_A)
        b.execute("SET LOCAL lock_timeout = '100ms'")
        b_event_id, b_replay = append(
            b, **event(work_order_id="wo-2", correlation_id=2, **field_set)
        )
    assert b_replay is False
    assert a.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    assert current_row(su, TENANT_A, "wo-2").last_event_id == b_event_id
    assert current_row(su, TENANT_A, "wo-1").event_count == 1
    a.execute("COMMIT")
    assert current_row(su, TENANT_A, "wo-1").event_count == 2


# --- (e): many writers, one work order ----------------------------------------------------

THREADS = 8
EVENTS_PER_THREAD = 40
CREATED_AT = 5_000  # every event: equal is not backwards, whatever the commit order


def test_many_writers_on_one_work_order_lose_nothing_and_never_regress(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    created_id, _ = append_committed(session(), **event(created_at=CREATED_AT))
    sessions = [session() for _ in range(THREADS)]
    turn_ids = itertools.count(2)
    turn_lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def write(conn: psycopg.Connection) -> list[tuple[int, int]]:
        start.wait(timeout=WAIT_SECONDS)
        appended = []
        for _ in range(EVENTS_PER_THREAD):
            with turn_lock:
                turn_id = next(turn_ids)
            event_id, replay = append_committed(
                conn,
                **event(
                    event_type="FIELD_SET",
                    work_order_status="EXECUTING",
                    turn_id=turn_id,
                    created_at=CREATED_AT,
                    payload={"turn": turn_id},
                ),
            )
            assert replay is False
            appended.append((event_id, turn_id))
        return appended

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [pool.submit(write, conn) for conn in sessions]
        per_thread = [future.result(timeout=90) for future in futures]

    # Each thread's own events were committed one after another: their ids grow.
    for appended in per_thread:
        ids = [event_id for event_id, _ in appended]
        assert ids == sorted(ids) and len(set(ids)) == EVENTS_PER_THREAD
    appended_ids = sorted(event_id for appended in per_thread for event_id, _ in appended)
    assert len(set(appended_ids)) == THREADS * EVENTS_PER_THREAD

    ledger = su.execute(
        "SELECT work_order_event_id, turn_id FROM os_core.work_order_ledger"
        " WHERE tenant_id = %s AND work_order_id = 'wo-1' ORDER BY work_order_event_id",
        [TENANT_A],
    ).fetchall()
    assert len(ledger) == 1 + THREADS * EVENTS_PER_THREAD
    ledger_ids = [event_id for event_id, _ in ledger]
    assert ledger_ids == [created_id, *appended_ids]
    assert all(x < y for x, y in itertools.pairwise(ledger_ids))
    assert dict(ledger) == {
        created_id: 1,
        **{event_id: turn_id for appended in per_thread for event_id, turn_id in appended},
    }

    last_id, last_turn = ledger[-1]
    row = current_row(su, TENANT_A, "wo-1")
    assert (row.last_event_id, row.turn_id, row.event_count) == (
        last_id,
        last_turn,
        1 + THREADS * EVENTS_PER_THREAD,
    )
    state = ledger_state(su)
    assert state.audit_rows == 1 + THREADS * EVENTS_PER_THREAD

    before = tuple(current_row(su, TENANT_A, "wo-1"))
    before_text = ledger_state(su).current
    dba = session(DBA_ROLE)
    with transaction(dba):
        counts = dba.execute(
            "SELECT * FROM os_core.work_orders_current_rebuild(%s::text)", [TENANT_A]
        ).fetchone()
    assert counts == (1, 1, 1 + THREADS * EVENTS_PER_THREAD, 0)
    assert tuple(current_row(su, TENANT_A, "wo-1")) == before
    assert ledger_state(su).current == before_text


# --- (f): rebuild and appends in flight ------------------------------------------------------

REBUILD_ALL = "SELECT * FROM os_core.work_orders_current_rebuild(NULL::text)"
VERIFY_ALL = "SELECT * FROM os_core.work_orders_current_verify(NULL::text)"


def test_a_rebuild_with_nothing_to_repair_does_not_wait_for_appends(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
) -> None:
    a, dba = session(), session(DBA_ROLE)
    append_committed(a, **event())

    begin(a, TENANT_A)
    a_event_id, _ = append(
        a,
        **event(event_type="STATUS_CHANGED", work_order_status="DONE", turn_id=2, created_at=2_000),
    )
    # The append holds its locks; the rebuild finds no drift and so takes none.
    with transaction(dba):
        assert dba.execute(REBUILD_ALL).fetchone() == (1, 1, 1, 0)
    a.execute("COMMIT")

    row = current_row(su, TENANT_A, "wo-1")
    assert (row.last_event_id, row.work_order_status, row.event_count) == (a_event_id, "DONE", 2)
    assert su.execute(VERIFY_ALL).fetchall() == []


def test_a_rebuild_waits_only_for_appends_to_drifted_work_orders_and_includes_them(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    a, c, dba = session(), session(), session(DBA_ROLE)
    created_id, _ = append_committed(a, **event())
    append_committed(a, **event(work_order_id="wo-2", correlation_id=2))
    # Drift on wo-1 and wo-2, as a bug or a direct write would leave it; the
    # append below keeps wo-1's step_id, so its drift survives the append.
    su.execute(
        "UPDATE os_core.work_orders_current SET step_id = 'bogus'"
        " WHERE tenant_id = %s AND work_order_id = 'wo-1'",
        [TENANT_A],
    )
    su.execute(
        "UPDATE os_core.work_orders_current SET turn_id = 99"
        " WHERE tenant_id = %s AND work_order_id = 'wo-2'",
        [TENANT_A],
    )

    begin(a, TENANT_A)
    a_event_id, _ = append(
        a,
        **event(event_type="STATUS_CHANGED", work_order_status="DONE", turn_id=2, created_at=2_000),
    )

    def rebuild() -> tuple[int, int, int, int]:
        with transaction(dba):
            return dba.execute(REBUILD_ALL).fetchone()

    rebuilt = worker.submit(rebuild)
    # It waits for the append in flight on wo-1, under that work order's lock...
    wait_until_blocked(observer, dba, "advisory", "advisory")
    assert not rebuilt.done()
    # ...while appends to other work orders go on.
    append_committed(c, **event(work_order_id="wo-3", correlation_id=3))
    a.execute("COMMIT")

    assert rebuilt.result(timeout=WAIT_SECONDS) == (1, 3, 4, 2)
    row = current_row(su, TENANT_A, "wo-1")
    assert (row.last_event_id, row.work_order_status, row.step_id, row.event_count) == (
        a_event_id,
        "DONE",
        None,
        2,
    )
    assert current_row(su, TENANT_A, "wo-2").turn_id == 1
    assert created_id < a_event_id
    assert su.execute(VERIFY_ALL).fetchall() == []


# --- ledger paging while writers are active -------------------------------------------------


def test_tenant_paging_does_not_skip_an_event_committed_behind_the_page_boundary(
    session: Callable[..., psycopg.Connection],
) -> None:
    """Design §3: a reader paging while writers are active never skips an event.

    A holds event N (wo-1) uncommitted; B commits event N+1 (wo-2); the reader pages.
    Whatever the first page holds, once A commits the reader must still get N.
    """
    a, b, reader = session(), session(), session()

    begin(a, TENANT_A)
    a_event_id, _ = append(a, **event(work_order_id="wo-1", correlation_id=1))
    b_event_id, _ = append_committed(b, **event(work_order_id="wo-2", correlation_id=2))
    assert a_event_id < b_event_id

    def page(after: int) -> list[int]:
        def read() -> list[int]:
            rows = reader.execute(
                "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
                "p_tenant_id => %s::text, p_after_event_id => %s::bigint, p_limit => 10)",
                [TENANT_A, after],
            ).fetchall()
            return [event_id for (event_id,) in rows]

        return in_transaction(reader, TENANT_A, read)

    seen: list[int] = []
    seen += page(0)
    a.execute("COMMIT")
    seen += page(seen[-1] if seen else 0)
    assert sorted(seen) == [a_event_id, b_event_id], (
        f"paging saw {seen} of events {a_event_id} (committed after the first page was"
        f" read) and {b_event_id} (committed before it)"
    )


# --- the set-based batch (os_core.work_order_ledger_append_many) takes the same locks -----


APPEND_MANY_SQL = (
    "SELECT event_index, work_order_event_id, idempotency_replay"
    " FROM os_core.work_order_ledger_append_many(%s::text, %s::jsonb)"
)


def batch_of(*events: dict[str, Any]) -> str:
    """The events as append_many takes them (tenant_id is the call's)."""
    return json.dumps([{k: v for k, v in e.items() if k != "tenant_id"} for e in events])


def append_many_committed(conn: psycopg.Connection, *events: dict[str, Any]) -> list[Any]:
    with transaction(conn):
        set_tenant(conn, TENANT_A)
        return conn.execute(APPEND_MANY_SQL, [TENANT_A, batch_of(*events)]).fetchall()


def test_a_batch_waits_for_a_single_append_and_then_replays_its_event(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    """The batch takes the work order's lock: it sees the committed event, as a replay."""
    a, b = session(), session()
    created = event(idempotency_key="create-wo-1")
    other = event(work_order_id="wo-2", correlation_id=43)

    begin(a, TENANT_A)
    a_event_id, _ = append(a, **created)
    batch = worker.submit(append_many_committed, b, other, created)
    wait_until_blocked(observer, b, "advisory", "advisory")
    assert not batch.done()
    a.execute("COMMIT")

    rows = batch.result(timeout=WAIT_SECONDS)
    assert [(row[0], row[2]) for row in rows] == [(0, False), (1, True)]
    assert rows[1][1] == a_event_id
    state = ledger_state(su)
    assert (state.ledger_rows, state.current_rows, state.audit_rows) == (2, 2, 3)


def test_a_single_append_waits_for_a_batch_and_then_appends_after_it(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    worker: ThreadPoolExecutor,
) -> None:
    """A batch holds its work orders until commit; a single append after it counts its events."""
    a, b = session(), session()
    created = event(idempotency_key="create-wo-1")
    field_set = event(event_type="FIELD_SET", created_at=2_000)

    begin(a, TENANT_A)
    a.execute(APPEND_MANY_SQL, [TENANT_A, batch_of(created, field_set)]).fetchall()
    single = blocked_append(
        worker, observer, b, **event(event_type="FIELD_SET", created_at=3_000),
        expected_event_count=2,
    )  # fmt: skip
    a.execute("COMMIT")

    assert single.result(timeout=WAIT_SECONDS)[1] is False
    row = current_row(su, TENANT_A, "wo-1")
    assert row.event_count == 3 and row.last_updated_at == 3_000

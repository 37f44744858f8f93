"""Gap-free tenant-wide ledger paging while writers hold their commits back.

Event ids are drawn before commit, so without a horizon a reader paging by
``after_event_id`` passes over an id that commits after its page was read. These
tests run real writer sessions that delay (or roll back) their commits at random,
in READ COMMITTED and REPEATABLE READ, against a reader that pages all the while.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from tests.conftest import APP_ROLE, DBA_ROLE
from tests.sql_helpers import TENANT_A, append, event, set_tenant

WRITERS = 6
APPENDS_PER_WRITER = 25
PAGE = (
    "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_after_event_id => %s::bigint, p_limit => %s::integer)"
)


def read_page(reader: psycopg.Connection, after: int, limit: int) -> list[int]:
    with reader.transaction():
        set_tenant(reader, TENANT_A)
        return [row[0] for row in reader.execute(PAGE, [TENANT_A, after, limit]).fetchall()]


def test_a_page_returns_at_once_without_the_event_still_in_flight(
    connect: Callable[..., psycopg.Connection],
) -> None:
    writer = connect(user=APP_ROLE, autocommit=True)
    reader = connect(user=APP_ROLE, autocommit=True)
    other = connect(user=DBA_ROLE, autocommit=True)

    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    in_flight, _ = append(writer, **event(work_order_id="wo-1", correlation_id=1))
    with other.transaction():
        set_tenant(other, TENANT_A)
        committed, _ = append(other, **event(work_order_id="wo-2", correlation_id=2))

    # The writer has not committed, and this call returns: the reader never waits.
    # It holds back the later event rather than pass over the earlier one.
    assert in_flight < committed
    assert read_page(reader, 0, 10) == []

    writer.execute("COMMIT")
    assert read_page(reader, 0, 10) == [in_flight, committed]


def test_a_paging_reader_sees_every_committed_event_exactly_once(
    connect: Callable[..., psycopg.Connection],
) -> None:
    """Writers commit (or roll back) after random delays; the reader pages meanwhile."""
    committed: list[int] = []
    committed_lock = threading.Lock()
    errors: list[BaseException] = []
    done = threading.Event()

    def write(number: int) -> None:
        rng = random.Random(number)
        isolation = "REPEATABLE READ" if number % 2 else "READ COMMITTED"
        try:
            # Writers log in as two different roles: each must see the other's xids.
            with connect(user=APP_ROLE if number % 3 else DBA_ROLE, autocommit=True) as conn:
                for step in range(APPENDS_PER_WRITER):
                    conn.execute(f"BEGIN ISOLATION LEVEL {isolation}")
                    set_tenant(conn, TENANT_A)
                    work_order = f"wo-{number}-{step}"
                    ids = [
                        append(
                            conn,
                            **event(
                                work_order_id=work_order,
                                correlation_id=number * 1_000 + step + 1,
                            ),
                        )[0]
                    ]
                    if rng.random() < 0.3:  # a second event in the same transaction
                        ids.append(
                            append(
                                conn,
                                **event(
                                    work_order_id=work_order,
                                    correlation_id=number * 1_000 + step + 1,
                                    event_type="FIELD_SET",
                                    created_at=2_000,
                                ),
                            )[0]
                        )
                    time.sleep(rng.uniform(0, 0.02))
                    if rng.random() < 0.15:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute("COMMIT")
                        with committed_lock:
                            committed.extend(ids)
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    reader = connect(user=APP_ROLE, autocommit=True)
    seen: list[int] = []
    pages = 0
    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, WRITERS + 1)]
    for thread in threads:
        thread.start()

    def watch() -> None:
        for thread in threads:
            thread.join()
        done.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    # Page until the writers are done and every committed event has come back. A
    # page may come back short or empty while any transaction of the cluster is in
    # flight; an event a page passed over never comes back, so the deadline ends it.
    deadline: float | None = None
    while True:
        page = read_page(reader, seen[-1] if seen else 0, 7)
        pages += 1
        seen.extend(page)
        if done.is_set():
            with committed_lock:
                caught_up = set(committed) <= set(seen)
            if caught_up:
                break
            deadline = deadline or time.monotonic() + 20
            if time.monotonic() > deadline:
                break
            if not page:
                time.sleep(0.05)
    watcher.join()
    running = (
        connect(autocommit=True)
        .execute(
            "SELECT pid, backend_xid, state, left(query, 60) FROM pg_stat_activity"
            " WHERE backend_xid IS NOT NULL"
        )
        .fetchall()
    )

    assert errors == []
    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert seen == sorted(seen), "pages were not in event-id order"
    assert sorted(committed) == seen, (
        f"missed {sorted(set(committed) - set(seen))}, "
        f"returned uncommitted {sorted(set(seen) - set(committed))}; running then: {running}"
    )
    assert len(seen) > WRITERS * APPENDS_PER_WRITER // 2
    assert pages > 10


AUDIT_PAGE = (
    "SELECT audit_event_id FROM os_core.audit_read("
    "p_tenant_id => %s::text, p_after_audit_event_id => 0, p_limit => 100)"
)


@pytest.mark.single_node("edits a stored horizon in place, past the append-only triggers")
def test_a_horizon_above_every_xid_given_out_is_passed_while_no_newer_xid_runs(
    connect: Callable[..., psycopg.Connection], su: psycopg.Connection
) -> None:
    """What a crash or a failover leaves (tests/test_failover.py, tests/test_crash.py),
    made in place: an event's and its audit row's horizon 1,000 xids past the last one
    this server gave out. Both pages pass them, since no transaction of this server can
    hold such an xid; while a newer xid runs here the pages cannot tell, and wait."""
    reader = connect(user=APP_ROLE, autocommit=True)
    with reader.transaction():
        set_tenant(reader, TENANT_A)
        first, _ = append(reader, **event(work_order_id="wo-1", correlation_id=1))
    with su.transaction():
        su.execute("SET LOCAL session_replication_role = replica")
        ahead = "(pg_current_xact_id()::text::bigint + 1000)::text::xid8"
        for table, column in (
            ("os_core.work_order_ledger", "work_order_event_id"),
            ("ph1j.audit_events", "audit_event_id"),
        ):
            edited = su.execute(
                f"UPDATE {table} SET paging_horizon = {ahead}"
                f" WHERE tenant_id = %s RETURNING {column}",
                [TENANT_A],
            ).fetchall()
            assert len(edited) == 1
    (audit,) = su.execute(
        "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s", [TENANT_A]
    ).fetchone()

    def pages() -> tuple[list[int], list[int]]:
        with reader.transaction():
            set_tenant(reader, TENANT_A)
            ledger = [row[0] for row in reader.execute(PAGE, [TENANT_A, 0, 10]).fetchall()]
            trail = [row[0] for row in reader.execute(AUDIT_PAGE, [TENANT_A]).fetchall()]
            return ledger, trail

    assert pages() == ([first], [audit])
    holder = connect(user=DBA_ROLE, autocommit=True)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_current_xact_id()")  # the newest xid, running
    assert pages() == ([], [])
    holder.execute("ROLLBACK")
    assert pages() == ([first], [audit])

"""``follow_audit`` and audit consumers: the PH1.J audit trail followed live, sync and async.

The flavored tests (tests/client_flavors.py) run on WorkOrderRepository and on
AsyncWorkOrderRepository. Writers are real sessions that hold their appends, idempotent
replays and verifies (each writes an audit row, the last two no ledger event) open for a
random while, commit out of id order or roll back; one sits idle in its transaction. The
follower must yield every committed audit row once, in id order, and nothing else. An
audit consumer (a PH1.J shipper) must go on after its committed position, also after a
SIGKILL, with its effects exactly once; a second instance of it is refused after its
lock_timeout; one of another tenant gets none of the tenant's rows and cannot commit
them; ``consumer_stats`` shows each consumer's position and lag.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from selene_core_tables import AuditEvent, ContractValidationFailed
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.follow_helpers import appended, close, create_effects_table, take, waiting_pid
from tests.sql_helpers import (
    TENANT_A,
    TENANT_B,
    append,
    append_committed,
    event,
    set_tenant,
    wait_until_blocked,
)

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(90)

WRITERS = 4
TRANSACTIONS_PER_WRITER = 12
SENTINEL = "wo-sentinel"
NAME = "ph1j-shipper"
EFFECTS = "public.shipped_audit"
VERIFY = "SELECT count(*) FROM os_core.work_orders_current_verify(%s::text, TRUE)"
ONLY_ON_ONE_NODE = "on Citus the NOTIFY runs on a worker, where no follower listens"


@pytest.fixture
def effects(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A table of the shipper's effects (one row per audit row shipped), which selene_os writes."""
    create_effects_table(postgresql, EFFECTS, "audit_event_id")
    return postgresql


def audit_ids(superuser: psycopg.Connection, tenant: str = TENANT_A) -> list[int]:
    rows = superuser.execute(
        "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s ORDER BY 1", [tenant]
    ).fetchall()
    superuser.commit()
    return [row[0] for row in rows]


def write_out_of_order(
    connect: Callable[..., psycopg.Connection], errors: list[BaseException]
) -> list[threading.Thread]:
    """Writers that append, replay or verify, hold the transaction 0-40 ms, then commit
    (or, one time in five, roll back); a last one appends SENTINEL once they are done."""

    def write(number: int) -> None:
        rng = random.Random(number)
        try:
            with connect(user=APP_ROLE if number % 2 else DBA_ROLE, autocommit=True) as conn:
                for step in range(TRANSACTIONS_PER_WRITER):
                    conn.execute("BEGIN")
                    set_tenant(conn, TENANT_A)
                    kind = rng.random()
                    first = event(
                        work_order_id=f"wo-{number}-0",
                        correlation_id=number * 1_000 + 1,
                        idempotency_key=f"k-{number}",
                    )
                    if step == 0:
                        append(conn, **first)
                    elif kind < 0.2:
                        conn.execute(VERIFY, [TENANT_A])
                    elif kind < 0.4:
                        append(conn, **first)  # a replay: an audit row, no event
                    else:
                        append(
                            conn,
                            **event(
                                work_order_id=f"wo-{number}-{step}",
                                correlation_id=number * 1_000 + step + 1,
                            ),
                        )
                    time.sleep(rng.uniform(0, 0.04))
                    conn.execute("ROLLBACK" if step and rng.random() < 0.2 else "COMMIT")
        except BaseException as error:  # reported by the test
            errors.append(error)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(1, WRITERS + 1)]

    def finish() -> None:
        for writer in writers:
            writer.join()
        try:
            with connect(user=APP_ROLE, autocommit=True) as conn:
                append_committed(conn, **event(work_order_id=SENTINEL, correlation_id=999_999))
        except BaseException as error:
            errors.append(error)

    threads = [*writers, threading.Thread(target=finish)]
    for thread in threads:
        thread.start()
    return threads


def until_sentinel(rows: Iterable[AuditEvent]) -> list[AuditEvent]:
    seen = []
    for row in rows:
        seen.append(row)
        if row.work_order_id == SENTINEL:
            break
    return seen


@pytest.mark.parametrize("notify", [False, True], ids=["poll", "notify"])
def test_follow_audit_yields_every_committed_row_once_in_order_while_writers_commit_out_of_order(
    client: Client,
    app_dsn: str,
    connect: Callable[..., psycopg.Connection],
    postgresql: psycopg.Connection,
    notify: bool,
) -> None:
    appended(connect, 2)
    before = audit_ids(postgresql)
    pool = client.pool(app_dsn, min_size=1, max_size=4, kwargs={"autocommit": True})
    follower = client.repository(pool).follow_audit(
        TENANT_A, after_audit_event_id=before[0], poll_interval=0.05, page_size=3, notify=notify
    )
    errors: list[BaseException] = []
    threads = write_out_of_order(connect, errors)
    try:
        seen = until_sentinel(follower)
    finally:
        close(follower)
        for thread in threads:
            thread.join()

    assert errors == []
    ids = [row.audit_event_id for row in seen]
    committed = audit_ids(postgresql)
    assert len(ids) == len(set(ids)), "an audit row was yielded twice"
    assert ids == committed[1:], f"missed {sorted(set(committed[1:]) - set(ids))}"
    outcomes = {row.outcome for row in seen}
    assert {"APPENDED", "OS_WORK_ORDER_IDEMPOTENCY_REPLAY", "VERIFIED"} <= outcomes
    assert all(isinstance(row, AuditEvent) for row in seen)


def test_an_idle_writer_holds_follow_audit_back_until_it_commits(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    writer = connect(user=APP_ROLE, autocommit=True)
    appended(connect, 1)
    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    writer.execute(VERIFY, [TENANT_A])  # a verify's audit row: no ledger event at all
    appended(connect, 3)
    repo = client.repository(app_dsn)
    follower = repo.follow_audit(TENANT_A, poll_interval=0.05)
    seen: list[int] = []
    reader = threading.Thread(
        target=lambda: seen.extend(
            row.audit_event_id for _, row in zip(range(5), follower, strict=False)
        ),
        daemon=True,
    )
    reader.start()
    try:
        time.sleep(0.6)  # a dozen reads, each stopping before the verify's row
        assert seen == audit_ids(postgresql)[:1], "follow_audit passed over a row still to commit"
        writer.execute("COMMIT")
        reader.join(timeout=10)
        assert not reader.is_alive()
        assert seen == audit_ids(postgresql)
    finally:
        if writer.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            writer.execute("ROLLBACK")
        close(follower)
        repo.close()


@pytest.mark.single_node(ONLY_ON_ONE_NODE)
def test_a_notification_wakes_follow_audit_long_before_its_poll_interval(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    """poll_interval=5 s, notify=True: an append by a session with selene.audit_notify
    on is yielded within a second."""
    writer = connect(user=APP_ROLE, autocommit=True)
    writer.execute("SET selene.audit_notify = on")
    append_committed(writer, **event(work_order_id="wo-before", correlation_id=1))
    pool = client.pool(app_dsn, min_size=1, max_size=3, kwargs={"autocommit": True})
    follower = client.repository(pool).follow_audit(TENANT_A, poll_interval=5.0, notify=True)
    seen: list[tuple[AuditEvent, float]] = []
    reader = threading.Thread(
        target=lambda: seen.extend(
            (row, time.monotonic()) for _, row in zip(range(2), follower, strict=False)
        ),
        daemon=True,
    )
    reader.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # the follower has read a short page and waits
        appended_at = time.monotonic()
        append_committed(writer, **event(work_order_id="wo-after", correlation_id=2))
        reader.join(timeout=6)
        assert [row.work_order_id for row, _ in seen] == ["wo-before", "wo-after"]
        assert seen[1][1] - appended_at < 1.0
    finally:
        reader.join(timeout=6)
        close(follower)


def test_follow_audit_refuses_bad_arguments(client: Client, app_dsn: str) -> None:
    repo = client.repository(app_dsn)
    with pytest.raises(ValueError, match="poll_interval"):
        repo.follow_audit(TENANT_A, poll_interval=0)
    with pytest.raises(ContractValidationFailed, match="after_audit_event_id"):
        repo.follow_audit(TENANT_A, after_audit_event_id=1.5)
    with pytest.raises(ContractValidationFailed) as raised:
        next(iter(repo.follow_audit(TENANT_A, after_audit_event_id=-1)))
    assert (raised.value.sqlstate, raised.value.reason_code) == (
        "SE004",
        "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED",
    )
    with pytest.raises(ValueError, match="stream"):
        repo.consumer(TENANT_A, NAME, stream="events")
    repo.close()


def test_an_audit_consumer_goes_on_after_its_position_and_stats_show_its_lag(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    appended(connect, 4)
    ids = audit_ids(postgresql)
    repo = client.repository(app_dsn)
    consumer = repo.consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05, page_size=2)
    try:
        assert take(consumer, 3) == ids[:3]
        assert consumer.commit(ids[2]) == ids[2]
    finally:
        consumer.close()
    (stats,) = repo.consumer_stats(TENANT_A)
    assert (stats.stream, stats.consumer, stats.committed_position) == ("audit", NAME, ids[2])
    assert (stats.last_event_id, stats.pending_events) == (ids[3], 1)

    again = repo.consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05)
    try:
        assert take(again, 1) == ids[3:]
        again.commit(ids[3])
    finally:
        again.close()
    ledger = repo.consumer(TENANT_A, NAME, poll_interval=0.05)  # another consumer
    try:
        first = next(iter(ledger))
        ledger.commit(first.work_order_event_id)
    finally:
        ledger.close()
    stats = repo.consumer_stats(TENANT_A)
    assert [(s.stream, s.consumer, s.pending_events) for s in stats] == [
        ("audit", NAME, 0),
        ("ledger", NAME, 3),
    ]
    assert repo.consumer_stats(TENANT_B) == []
    repo.close()


def test_a_second_audit_consumer_instance_is_refused_after_its_lock_timeout(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    appended(connect, 2)
    ids = audit_ids(postgresql)
    repo = client.repository(app_dsn)
    first = repo.consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05)
    refused = repo.consumer(TENANT_A, NAME, stream="audit", lock_timeout=0.1)
    ledger = repo.consumer(TENANT_A, NAME, lock_timeout=0.1)  # another stream: not held
    try:
        assert take(first, 1) == ids[:1]  # its transaction holds the consumer now
        with pytest.raises(psycopg.errors.LockNotAvailable) as raised:
            take(refused, 1)
        assert raised.value.sqlstate == "55P03"
        assert next(iter(ledger)).work_order_event_id > 0
        first.commit(ids[0])
    finally:
        for consumer in (first, refused, ledger):
            consumer.close()
    (audit,) = [s for s in repo.consumer_stats(TENANT_A) if s.stream == "audit"]
    assert audit.committed_position == ids[0]
    repo.close()


@pytest.mark.single_node("on Citus the consumer's lock is waited for on a worker")
def test_a_second_audit_consumer_instance_waits_then_goes_on_after_the_first_ones_position(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    appended(connect, 4)
    ids = audit_ids(postgresql)
    pool = client.pool(app_dsn, min_size=2, max_size=4, kwargs={"autocommit": True})
    first = client.repository(pool).consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05)
    second = client.repository(pool).consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05)
    seen_by_second: list[int] = []
    waiter = threading.Thread(target=lambda: seen_by_second.extend(take(second, 2)))
    try:
        assert take(first, 1) == ids[:1]  # its transaction holds the consumer now
        waiter.start()
        observer = connect(autocommit=True)
        wait_until_blocked(observer, waiting_pid(observer), "advisory", "advisory")
        assert seen_by_second == []
        assert take(first, 1) == ids[1:2]
        first.commit(ids[1])  # ends its transaction: the second one claims the consumer
        waiter.join(timeout=20)
        assert seen_by_second == ids[2:]
    finally:
        first.close()
        waiter.join(timeout=20)
        second.close()
    (stats,) = client.repository(pool).consumer_stats(TENANT_A)
    assert stats.committed_position == ids[1]  # the second one never committed


def test_an_audit_consumer_of_another_tenant_gets_none_of_its_rows_nor_commits_them(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    appended(connect, 2, TENANT_A)
    appended(connect, 1, TENANT_B)
    theirs, ours = audit_ids(postgresql, TENANT_A), audit_ids(postgresql, TENANT_B)
    repo = client.repository(app_dsn)
    consumer = repo.consumer(TENANT_B, NAME, stream="audit", poll_interval=0.05)
    try:
        assert take(consumer, 1) == ours
        with pytest.raises(ContractValidationFailed) as raised:
            consumer.commit(max(theirs) + max(ours))  # no audit row of tenant B
        assert raised.value.sqlstate == "SE004"
    finally:
        consumer.close()
    assert repo.consumer_stats(TENANT_B) == []
    assert repo.consumer_stats(TENANT_A) == []
    repo.close()


KILLED_SHIPPER = textwrap.dedent(
    """
    import sys
    import psycopg
    from selene_core_tables import WorkOrderRepository

    conn = psycopg.connect(sys.argv[1], autocommit=True)
    repo = WorkOrderRepository(conn)
    shipper = repo.consumer(sys.argv[2], sys.argv[3], stream="audit", page_size=7)
    for row in shipper:
        conn.execute("INSERT INTO public.shipped_audit VALUES (%s)", [row.audit_event_id])
        shipper.commit(row.audit_event_id)
        print(row.audit_event_id, flush=True)
    """
)


def test_an_audit_consumer_killed_mid_stream_resumes_after_its_position_exactly_once(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], effects: Any
) -> None:
    appended(connect, 40)
    ids = audit_ids(effects)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SHIPPER, app_dsn, TENANT_A, NAME],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printed = [int(process.stdout.readline()) for _ in range(15)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    assert printed == ids[:15]
    appended(connect, 5)  # more rows while it is down
    ids = audit_ids(effects)

    conn = client.connect(APP_ROLE, autocommit=True)
    repo = client.repository(conn)
    (stats,) = repo.consumer_stats(TENANT_A)
    committed = stats.committed_position
    assert committed >= printed[-1]
    rest = [audit_id for audit_id in ids if audit_id > committed]
    assert stats.pending_events == len(rest)
    consumer = repo.consumer(TENANT_A, NAME, stream="audit", poll_interval=0.05)
    insert = f"INSERT INTO {EFFECTS} VALUES (%s)"
    try:
        seen = take(consumer, len(rest), lambda audit_id: conn.execute(insert, [audit_id]))
    finally:
        consumer.close()
    assert seen == rest  # nothing skipped, nothing committed handed out again
    rows = [r[0] for r in effects.execute(f"SELECT audit_event_id FROM {EFFECTS} ORDER BY 1")]
    effects.commit()
    assert rows == ids  # each effect exactly once

"""``repo.consumer``: a durable consumer of the ledger through the client, sync and async.

The flavored tests (tests/client_flavors.py) run on WorkOrderRepository and on
AsyncWorkOrderRepository driven from the test's thread. A consumer must yield the events
after its committed position once, in order; its commit must go with the effects done on
its connection; a second instance of the same name must wait for it, or be refused with
55P03 after its lock_timeout; and a consumer killed with SIGKILL mid-stream must, once
restarted, go on after its committed position, so that effects kept in the database with
the position are there exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from selene_core_tables import ContractValidationFailed
from tests.conftest import APP_ROLE
from tests.follow_helpers import appended, create_effects_table, take, waiting_pid
from tests.sql_helpers import TENANT_A, TENANT_B, wait_until_blocked

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(60)

NAME = "projector"
EFFECTS = "public.consumer_effects"


@pytest.fixture
def effects(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A table of the consumer's effects (one row per event handled), which selene_os writes."""
    create_effects_table(postgresql, EFFECTS, "event_id")
    return postgresql


def position(superuser: psycopg.Connection, tenant: str = TENANT_A, name: str = NAME) -> int | None:
    row = superuser.execute(
        "SELECT committed_position FROM os_core.consumer_positions "
        "WHERE tenant_id = %s AND consumer = %s",
        [tenant, name],
    ).fetchone()
    superuser.commit()
    return None if row is None else row[0]


def test_a_consumer_reads_after_its_position_and_its_commits_are_kept(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    ids = appended(connect, 5)
    repo = client.repository(app_dsn)
    consumer = repo.consumer(TENANT_A, NAME, poll_interval=0.05, page_size=2)
    try:
        assert take(consumer, 3) == ids[:3]
        consumer.commit(ids[2])
        assert position(postgresql) == ids[2]
        assert take(consumer, 2) == ids[3:]
    finally:
        consumer.close()
    # Events 4 and 5 were handed out, never committed: a new instance gets them again.
    again = repo.consumer(TENANT_A, NAME, poll_interval=0.05)
    try:
        assert take(again, 2) == ids[3:]
        later = appended(connect, 1)
        assert take(again, 1) == later  # and follows on, live
        assert again.commit(later[0]) == later[0]
    finally:
        again.close()
    assert position(postgresql) == later[0]


def test_a_second_instance_with_a_lock_timeout_is_refused_while_the_first_holds_it(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    ids = appended(connect, 2)
    repo = client.repository(app_dsn)
    first = repo.consumer(TENANT_A, NAME, poll_interval=0.05)
    refused = repo.consumer(TENANT_A, NAME, lock_timeout=0.1)
    successor = repo.consumer(TENANT_A, NAME, lock_timeout=0.1)
    try:
        assert take(first, 1) == ids[:1]  # its transaction holds the consumer now
        with pytest.raises(psycopg.errors.LockNotAvailable) as raised:
            take(refused, 1)
        assert raised.value.sqlstate == "55P03"
        assert any("held by another instance" in note for note in raised.value.__notes__)
        first.commit(ids[0])
        # Between the first one's transactions the consumer is free: a new instance
        # claims it and goes on after the first one's position.
        assert take(successor, 1) == ids[1:]
    finally:
        for consumer in (first, refused, successor):
            consumer.close()
    assert position(postgresql) == ids[0]


@pytest.mark.single_node("on Citus the consumer's lock is waited for on a worker")
def test_a_second_instance_waits_then_goes_on_after_the_first_ones_position(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    ids = appended(connect, 4)
    pool = client.pool(app_dsn, min_size=2, max_size=4, kwargs={"autocommit": True})
    first = client.repository(pool).consumer(TENANT_A, NAME, poll_interval=0.05)
    second = client.repository(pool).consumer(TENANT_A, NAME, poll_interval=0.05)
    seen_by_second: list[int] = []
    waiter = threading.Thread(target=lambda: seen_by_second.extend(take(second, 2)))
    try:
        assert take(first, 1) == ids[:1]  # its transaction holds the consumer now
        waiter.start()
        observer = connect(autocommit=True)
        pid = waiting_pid(observer)
        wait_until_blocked(observer, pid, "advisory", "advisory")
        assert take(first, 1) == ids[1:2]
        first.commit(ids[1])  # ends its transaction: the second one claims the consumer
        waiter.join(timeout=20)
        assert seen_by_second == ids[2:]
    finally:
        first.close()
        waiter.join(timeout=20)
        second.close()
    assert position(postgresql) == ids[1]


def test_a_consumer_of_another_tenant_sees_none_of_its_events_and_cannot_commit_them(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], postgresql: Any
) -> None:
    ids = appended(connect, 2, TENANT_A)
    other = appended(connect, 1, TENANT_B)
    consumer = client.repository(app_dsn).consumer(TENANT_B, NAME, poll_interval=0.05)
    try:
        assert take(consumer, 1) == other
        with pytest.raises(ContractValidationFailed):
            consumer.commit(max(ids) + max(other))  # no event of tenant B
    finally:
        consumer.close()
    assert position(postgresql, TENANT_B) is None
    assert position(postgresql, TENANT_A) is None


def test_effects_in_the_consumers_transaction_are_kept_only_with_the_commit(
    client: Client, connect: Callable[..., psycopg.Connection], effects: Any
) -> None:
    ids = appended(connect, 3)
    conn = client.connect(APP_ROLE, autocommit=True)
    consumer = client.repository(conn).consumer(TENANT_A, NAME, poll_interval=0.05)
    insert = f"INSERT INTO {EFFECTS} VALUES (%s)"
    try:
        take(consumer, 2, lambda event_id: conn.execute(insert, [event_id]))
        assert take(consumer, 1) == ids[2:]
        conn.execute(insert, [ids[2]])  # not committed: rolled back at close
    finally:
        consumer.close()
    assert [r[0] for r in effects.execute(f"SELECT event_id FROM {EFFECTS} ORDER BY 1")] == ids[:2]
    assert position(effects) == ids[1]


KILLED_CONSUMER = textwrap.dedent(
    """
    import sys
    import psycopg
    from selene_core_tables import WorkOrderRepository

    conn = psycopg.connect(sys.argv[1], autocommit=True)
    consumer = WorkOrderRepository(conn).consumer(sys.argv[2], sys.argv[3], page_size=7)
    for event in consumer:
        conn.execute("INSERT INTO public.consumer_effects VALUES (%s)", [event.work_order_event_id])
        consumer.commit(event.work_order_event_id)
        print(event.work_order_event_id, flush=True)
    """
)


def test_a_consumer_killed_mid_stream_resumes_after_its_position_with_effects_exactly_once(
    client: Client,
    app_dsn: str,
    connect: Callable[..., psycopg.Connection],
    effects: Any,
) -> None:
    ids = appended(connect, 60)
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_CONSUMER, app_dsn, TENANT_A, NAME],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    printed = [int(process.stdout.readline()) for _ in range(20)]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    assert printed == ids[:20]

    committed = position(effects)
    assert committed is not None and committed >= printed[-1]
    conn = client.connect(APP_ROLE, autocommit=True)
    consumer = client.repository(conn).consumer(TENANT_A, NAME, poll_interval=0.05)
    rest = [event_id for event_id in ids if event_id > committed]
    try:
        seen = take(
            consumer,
            len(rest),
            lambda event_id: conn.execute(f"INSERT INTO {EFFECTS} VALUES (%s)", [event_id]),
        )
    finally:
        consumer.close()
    assert seen == rest  # nothing skipped, nothing committed handed out again
    rows = [r[0] for r in effects.execute(f"SELECT event_id FROM {EFFECTS} ORDER BY 1")]
    assert rows == ids  # each effect exactly once
    assert position(effects) == ids[-1]

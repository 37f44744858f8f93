"""``follow``: a live follower of the ledger, sync and async, against writers that misbehave.

The flavored tests (tests/client_flavors.py) run on WorkOrderRepository and on
AsyncWorkOrderRepository driven from the test's thread; the ``test_async_*`` ones run
natively on an event loop. Writers are real sessions that hold their appends open for a
random while, commit out of id order or roll back; one sits idle in its transaction.
The follower must yield every committed event once, in id order, nothing else, and be
held back by the open transaction until it ends. Notifications (``selene.audit_notify``)
must wake it long before its poll interval; closing or cancelling it must give back
every connection it took.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from selene_core_tables import (
    AsyncWorkOrderRepository,
    ContractValidationFailed,
    WorkOrderLedgerEvent,
)
from tests.client_helpers import created
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.follow_helpers import close
from tests.sql_helpers import TENANT_A, TENANT_B, append, append_committed, event, set_tenant

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(60)

WRITERS = 4
TRANSACTIONS_PER_WRITER = 12
SENTINEL = "wo-sentinel"
LISTEN = "LISTEN ph1j_audit"
ONLY_ON_ONE_NODE = "on Citus the NOTIFY runs on a worker, where no follower listens"


def commit_out_of_order(
    connect: Callable[..., psycopg.Connection], committed: list[int], errors: list[BaseException]
) -> list[threading.Thread]:
    """Start the writers, and a last one that appends SENTINEL once they are all done.

    Each writer runs TRANSACTIONS_PER_WRITER transactions: BEGIN, one or two appends,
    a random sleep, then COMMIT (or, one time in five, ROLLBACK). ``committed`` gets
    the ids of the committed events, the sentinel's last.
    """
    lock = threading.Lock()

    def write(number: int) -> None:
        rng = random.Random(number)
        try:
            user = APP_ROLE if number % 2 else DBA_ROLE
            with connect(user=user, autocommit=True) as conn:
                for step in range(TRANSACTIONS_PER_WRITER):
                    conn.execute("BEGIN")
                    set_tenant(conn, TENANT_A)
                    work_order = f"wo-{number}-{step}"
                    correlation = number * 1_000 + step + 1
                    ids = [
                        append(conn, **event(work_order_id=work_order, correlation_id=correlation))[
                            0
                        ]
                    ]
                    if rng.random() < 0.3:
                        ids.append(
                            append(
                                conn,
                                **event(
                                    work_order_id=work_order,
                                    correlation_id=correlation,
                                    event_type="FIELD_SET",
                                    created_at=2_000,
                                ),
                            )[0]
                        )
                    time.sleep(rng.uniform(0, 0.04))
                    if rng.random() < 0.2:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute("COMMIT")
                        with lock:
                            committed.extend(ids)
        except BaseException as error:  # reported by the test
            errors.append(error)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(1, WRITERS + 1)]

    def finish() -> None:
        for writer in writers:
            writer.join()
        try:
            with connect(user=APP_ROLE, autocommit=True) as conn:
                sentinel, _ = append_committed(
                    conn, **event(work_order_id=SENTINEL, correlation_id=999_999)
                )
            with lock:
                committed.append(sentinel)
        except BaseException as error:
            errors.append(error)

    threads = [*writers, threading.Thread(target=finish)]
    for thread in threads:
        thread.start()
    return threads


def until_sentinel(events: Iterable[WorkOrderLedgerEvent]) -> list[int]:
    """The ids a follower yields, up to and including the sentinel's."""
    seen = []
    for followed in events:
        seen.append(followed.work_order_event_id)
        if followed.work_order_id == SENTINEL:
            break
    return seen


class FollowerThread(threading.Thread):
    """Iterates a follower in the background, noting when each event came, up to ``count``."""

    def __init__(self, follower: Any, count: int) -> None:
        super().__init__(daemon=True)
        self.follower = follower
        self.count = count
        self.seen: list[tuple[int, float]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for followed in self.follower:
                self.seen.append((followed.work_order_event_id, time.monotonic()))
                if len(self.seen) >= self.count:
                    return
        except BaseException as error:  # reported by the test
            self.error = error

    def ids(self) -> list[int]:
        return [event_id for event_id, _ in self.seen]

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.seen) < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.error is None, self.error
        assert len(self.seen) >= count, f"only {self.ids()} after {timeout} s"


def listening_sessions(superuser: psycopg.Connection) -> int:
    """How many sessions of APP_ROLE last ran (so, still hold) the follower's LISTEN."""
    row = superuser.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND usename = %s AND query = %s",
        [APP_ROLE, LISTEN],
    ).fetchone()
    assert row is not None
    return int(row[0])


def settled(read: Callable[[], Any], expected: Any, seconds: float = 10.0) -> Any:
    """``read()`` once it returns ``expected``, or its last value after ``seconds``.

    A backend leaves pg_stat_activity a moment after its client closes the socket:
    the server notices the Terminate message asynchronously."""
    deadline = time.monotonic() + seconds
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.02)
        value = read()
    return value


def lent(pool: Any) -> int:
    """How many connections the pool has handed out and not had back."""
    stats = pool.get_stats()
    return int(stats["pool_size"]) - int(stats["pool_available"])


@pytest.mark.parametrize("notify", [False, True], ids=["poll", "notify"])
def test_a_follower_sees_every_committed_event_once_in_order_while_writers_commit_out_of_order(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], notify: bool
) -> None:
    """4 writers x 12 transactions, each holding its appends open 0-40 ms, one in five
    rolled back, while the follower (page_size=3) reads from after an earlier event."""
    with connect(user=APP_ROLE, autocommit=True) as conn:
        before, _ = append_committed(conn, **event(work_order_id="wo-before", correlation_id=7))
        first, _ = append_committed(conn, **event(work_order_id="wo-first", correlation_id=8))
    pool = client.pool(app_dsn, min_size=1, max_size=4, kwargs={"autocommit": True})
    repo = client.repository(pool)
    follower = repo.follow(
        TENANT_A, after_event_id=before, poll_interval=0.05, page_size=3, notify=notify
    )
    committed: list[int] = [first]
    errors: list[BaseException] = []
    threads = commit_out_of_order(connect, committed, errors)
    try:
        seen = until_sentinel(follower)
    finally:
        close(follower)
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(seen) == len(set(seen)), "an event was yielded twice"
    assert seen == sorted(seen), "events were not yielded in id order"
    assert seen == sorted(committed), (
        f"missed {sorted(set(committed) - set(seen))}, "
        f"yielded rolled back {sorted(set(seen) - set(committed))}"
    )
    assert len(seen) > WRITERS * TRANSACTIONS_PER_WRITER // 2
    assert committed != sorted(committed), "the writers never committed out of id order"
    assert lent(pool) == 0


def test_an_idle_writer_holds_the_follower_back_until_it_commits(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    writer = connect(user=APP_ROLE, autocommit=True)
    other = connect(user=DBA_ROLE, autocommit=True)
    before, _ = append_committed(other, **event(work_order_id="wo-before", correlation_id=1))

    writer.execute("BEGIN")
    set_tenant(writer, TENANT_A)
    held, _ = append(writer, **event(work_order_id="wo-held", correlation_id=2))
    later = [
        append_committed(other, **event(work_order_id=f"wo-later-{n}", correlation_id=3 + n))[0]
        for n in range(3)
    ]
    assert held < min(later)

    repo = client.repository(app_dsn)
    follower = FollowerThread(repo.follow(TENANT_A, poll_interval=0.05), count=5)
    follower.start()
    try:
        follower.wait_for(1)
        time.sleep(0.6)  # a dozen reads: each stops before the held event
        assert follower.ids() == [before], "the follower passed over an event still to commit"

        writer.execute("COMMIT")
        committed_at = time.monotonic()
        follower.join(timeout=10)
        assert not follower.is_alive()
        assert follower.error is None
        assert follower.ids() == [before, held, *later]
        assert follower.seen[-1][1] - committed_at < 1.0
    finally:
        if writer.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            writer.execute("ROLLBACK")
        close(follower.follower)
        repo.close()


def test_follow_one_work_order(client: Client, app_dsn: str) -> None:
    """Over a connection: only wo-1's events, page by page, then one appended meanwhile."""
    conn = client.connect(APP_ROLE, autocommit=True)
    repo = client.repository(conn)
    first = created("wo-1")
    step = dataclasses.replace(first, event_type="FIELD_SET", created_at=2_000)
    wanted = [repo.append(first).work_order_event_id]
    repo.append(created("wo-2"))
    wanted.append(repo.append(step).work_order_event_id)
    repo.append(created("wo-3"))
    repo.append(created("wo-b", tenant_id=TENANT_B))

    follower = repo.follow(TENANT_A, work_order_id="wo-1", poll_interval=0.05, page_size=1)
    events = iter(follower)
    seen = [next(events), next(events)]
    # The follower holds nothing between events: the same connection appends.
    wanted.append(repo.append(dataclasses.replace(step, created_at=3_000)).work_order_event_id)
    repo.append(created("wo-4"))
    seen.append(next(events))
    close(follower)

    assert [e.work_order_event_id for e in seen] == wanted
    assert {e.work_order_id for e in seen} == {"wo-1"}


@pytest.mark.parametrize("source", ["pool", "dsn"])
def test_closing_a_follower_gives_its_connections_back(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection], source: str
) -> None:
    admin = connect(autocommit=True)
    pool = None
    if source == "pool":
        pool = client.pool(app_dsn, min_size=1, max_size=3, kwargs={"autocommit": True})
    repo = client.repository(pool if pool is not None else app_dsn)
    try:
        repo.append(created("wo-1"))
        follower = repo.follow(TENANT_A, poll_interval=0.05, notify=True)
        assert next(iter(follower)).work_order_id == "wo-1"
        assert listening_sessions(admin) == 1
        if pool is not None:
            assert lent(pool) == 1  # the listening connection, held while it runs

        close(follower)
        assert settled(lambda: listening_sessions(admin), 0) == 0
        if pool is not None:
            assert lent(pool) == 0
        else:
            # Only the repository's own connection is left; the listener's is closed.
            def app_sessions() -> Any:
                return admin.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND usename = %s",
                    [APP_ROLE],
                ).fetchone()

            assert settled(app_sessions, (1,)) == (1,)
    finally:
        repo.close()


def test_a_follower_carries_on_when_its_sessions_are_terminated(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    """Over a DSN, listening: both its sessions killed (as a failover does) while it
    waits; it reconnects, listens again, and yields what follows, once."""
    admin = connect(autocommit=True)
    other = connect(user=DBA_ROLE, autocommit=True)
    repo = client.repository(app_dsn)
    try:
        first, _ = append_committed(other, **event(work_order_id="wo-1", correlation_id=1))
        follower = repo.follow(TENANT_A, poll_interval=0.05, notify=True)
        events = iter(follower)
        assert next(events).work_order_event_id == first
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND usename = %s",
            [APP_ROLE],
        ).fetchone()
        assert killed == (2,)  # the repository's connection and the listening one
        second, _ = append_committed(other, **event(work_order_id="wo-2", correlation_id=2))
        assert next(events).work_order_event_id == second
        third, _ = append_committed(other, **event(work_order_id="wo-3", correlation_id=3))
        assert next(events).work_order_event_id == third
        assert listening_sessions(admin) == 1
        assert sum(repo.retries.values()) >= 1
        close(follower)
    finally:
        repo.close()


@pytest.mark.single_node(ONLY_ON_ONE_NODE)
def test_a_notification_wakes_the_follower_long_before_its_poll_interval(
    client: Client, app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    """poll_interval=5 s, notify=True: an append by a session with selene.audit_notify
    on is yielded within a second."""
    writer = connect(user=APP_ROLE, autocommit=True)
    writer.execute("SET selene.audit_notify = on")
    before, _ = append_committed(writer, **event(work_order_id="wo-before", correlation_id=1))
    pool = client.pool(app_dsn, min_size=1, max_size=3, kwargs={"autocommit": True})
    repo = client.repository(pool)
    follower = FollowerThread(repo.follow(TENANT_A, poll_interval=5.0, notify=True), count=2)
    follower.start()
    try:
        follower.wait_for(1)
        time.sleep(0.3)  # the follower has read a short page and waits
        appended_at = time.monotonic()
        after, _ = append_committed(writer, **event(work_order_id="wo-after", correlation_id=2))
        follower.join(timeout=6)
        assert follower.ids() == [before, after]
        assert follower.seen[1][1] - appended_at < 1.0
    finally:
        follower.join(timeout=6)
        close(follower.follower)


def test_bad_arguments_are_refused_as_the_paging_refuses_them(client: Client) -> None:
    conn = client.connect(APP_ROLE, autocommit=True)
    repo = client.repository(conn)
    for interval in (0, -1, 0.0, 60.5, 3600, float("nan"), float("inf"), True, "1", None):
        with pytest.raises(ValueError, match="poll_interval"):
            repo.follow(TENANT_A, poll_interval=interval)
    with pytest.raises(ValueError, match="connection of its own"):
        repo.follow(TENANT_A, notify=True)
    # Refused before any round trip: values the paging could not even be sent.
    with pytest.raises(ContractValidationFailed, match="after_event_id must be an integer"):
        repo.follow(TENANT_A, after_event_id=2.5)
    with pytest.raises(ContractValidationFailed, match="page_size must be between"):
        repo.follow(TENANT_A, page_size=2**31)
    # Refused by the paging, at the first read.
    for arguments in ({"after_event_id": -1}, {"page_size": 0}, {"page_size": 10_001}):
        follower = repo.follow(TENANT_A, **arguments)
        with pytest.raises(ContractValidationFailed):
            next(iter(follower))
    repo.follow(TENANT_A, poll_interval=60)  # the largest allowed; never iterated


# Natively on an event loop.


def test_async_followers_see_every_committed_event_once_in_order(
    app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    """Two followers as tasks on one loop (one polling with pages of 3, one listening)
    while 4 writer threads commit out of order."""
    committed: list[int] = []
    errors: list[BaseException] = []

    async def main() -> tuple[list[int], list[int], int]:
        async with AsyncConnectionPool(
            app_dsn, min_size=1, max_size=4, kwargs={"autocommit": True}
        ) as pool:
            repo = AsyncWorkOrderRepository(pool)

            async def follow(**options: Any) -> list[int]:
                seen = []
                # aclosing: the follower's connections go back as the block ends,
                # not when the loop gets round to finalizing an abandoned generator.
                async with aclosing(
                    repo.follow(TENANT_A, poll_interval=0.05, **options)
                ) as follower:
                    async for followed in follower:
                        seen.append(followed.work_order_event_id)
                        if followed.work_order_id == SENTINEL:
                            return seen
                raise AssertionError("a follower ended")

            threads = commit_out_of_order(connect, committed, errors)
            polling, listening = await asyncio.gather(follow(page_size=3), follow(notify=True))
            await asyncio.to_thread(lambda: [thread.join() for thread in threads])
            return polling, listening, lent(pool)

    polling, listening, still_lent = asyncio.run(main())
    assert errors == []
    assert polling == sorted(committed)
    assert listening == sorted(committed)
    assert still_lent == 0


def test_async_cancelling_a_follower_gives_its_connections_back(
    app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    admin = connect(autocommit=True)

    async def main() -> tuple[int, int, int, int]:
        async with AsyncConnectionPool(
            app_dsn, min_size=1, max_size=3, kwargs={"autocommit": True}
        ) as pool:
            repo = AsyncWorkOrderRepository(pool)
            await repo.append(created("wo-1"))
            got_one = asyncio.Event()

            async def consume() -> None:
                async for _ in repo.follow(TENANT_A, poll_interval=5.0, notify=True):
                    got_one.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(got_one.wait(), 10)
            await asyncio.sleep(0.1)  # now it waits for a notification
            during = (lent(pool), listening_sessions(admin))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return *during, lent(pool), listening_sessions(admin)

    lent_during, listening_during, lent_after, listening_after = asyncio.run(main())
    assert (lent_during, listening_during) == (1, 1)
    assert (lent_after, listening_after) == (0, 0)


@pytest.mark.single_node(ONLY_ON_ONE_NODE)
def test_async_a_notification_wakes_the_follower_long_before_its_poll_interval(
    app_dsn: str, connect: Callable[..., psycopg.Connection]
) -> None:
    writer = connect(user=APP_ROLE, autocommit=True)
    writer.execute("SET selene.audit_notify = on")

    async def main() -> float:
        async with AsyncWorkOrderRepository(app_dsn) as repo:
            waiting = asyncio.Event()

            async def consume() -> float:
                async for followed in repo.follow(TENANT_A, poll_interval=5.0, notify=True):
                    if followed.work_order_id == "wo-after":
                        return time.monotonic()
                    waiting.set()
                raise AssertionError("the follower ended")

            task = asyncio.create_task(consume())
            await asyncio.to_thread(
                append_committed, writer, **event(work_order_id="wo-before", correlation_id=1)
            )
            await asyncio.wait_for(waiting.wait(), 10)  # notified of the first one, too
            await asyncio.sleep(0.3)
            appended_at = time.monotonic()
            await asyncio.to_thread(
                append_committed, writer, **event(work_order_id="wo-after", correlation_id=2)
            )
            seen_at = await asyncio.wait_for(task, 4)
            return seen_at - appended_at

    assert asyncio.run(main()) < 1.0

"""Races on the real server: many sessions, one idempotency key; many writers, one work order.

Builds on ``test_sql_concurrency.py`` (two sessions, one key; 8 x 40 appends to one work
order) with what it does not cover:

- 16 sessions appending one event with one idempotency key: 15 of them are first made to
  wait behind the 16th (seen in ``pg_locks``), which then commits or rolls back; then many
  free-running rounds of 16 sessions released by a barrier. Each round ends with exactly
  one ledger row, one non-replay result, and 15 replays of that row's id.
- 8 writers on one work order for a few seconds, each reading its own position (the
  projection's ``event_count``, under the work-order lock) in its own transaction, while a
  superuser samples the projection against the ledger on one snapshot at a time: the
  positions are 1..N once each, event ids grow with them (commit order), and every sample
  shows the projection equal to the ledger's last event, never moving backwards.
- Writers on different work orders do not block each other, shown by locks, not by time:
  8 transactions on 8 work orders (two of them the same work-order id in two tenants) all
  hold their appends open at once, with every lock granted; and a sampler of ``pg_locks``
  sees no lock wait among 8 free-running writers on 8 work orders, while the same sampler
  does see waits when the 8 share one work order (the control).

``SELENE_LONG=1`` runs more rounds and longer writer runs.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.conftest import DBA_ROLE
from tests.sql_helpers import (
    TENANT_A,
    TENANT_B,
    WAIT_SECONDS,
    append,
    append_committed,
    event,
    set_tenant,
    wait_until_blocked,
)

LONG = os.environ.get("SELENE_LONG") == "1"
SESSIONS = 16
FREE_ROUNDS = 400 if LONG else 50
WRITERS = 8
WRITE_SECONDS = 20.0 if LONG else 3.0
SAMPLE_SECONDS = 8.0 if LONG else 1.5

pytestmark = pytest.mark.timeout(600 if LONG else 120)

Connect = Callable[..., psycopg.Connection]
CURRENT_READ = (
    "SELECT last_event_id, event_count FROM os_core.work_order_current_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text)"
)


def key_rows(su: psycopg.Connection, work_order_id: str, key: str) -> list[tuple[Any, ...]]:
    """The ledger rows of tenant-a's work order with idempotency key ``key``."""
    return su.execute(
        "SELECT work_order_event_id FROM os_core.work_order_ledger"
        " WHERE tenant_id = %s AND work_order_id = %s AND idempotency_key = %s",
        [TENANT_A, work_order_id, key],
    ).fetchall()


def audit_outcomes(su: psycopg.Connection, work_order_id: str) -> list[tuple[str, int]]:
    return su.execute(
        "SELECT outcome, work_order_event_id FROM ph1j.audit_events"
        " WHERE tenant_id = %s AND work_order_id = %s ORDER BY audit_event_id",
        [TENANT_A, work_order_id],
    ).fetchall()


def no_drift(session: Callable[..., psycopg.Connection]) -> None:
    dba = session(DBA_ROLE)
    assert (
        dba.execute("SELECT * FROM os_core.work_orders_current_verify(NULL::text)").fetchall() == []
    )


# --- 16 sessions, one idempotency key ----------------------------------------------------------


@pytest.mark.parametrize("first_commits", [True, False], ids=["first-commits", "first-rolls-back"])
def test_sixteen_sessions_with_one_key_queued_behind_the_first_get_one_event(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    first_commits: bool,
) -> None:
    """The first session holds its append open until the 15 others wait on the work order."""
    created = event(idempotency_key="create-wo-1", payload={"n": 1})
    first, *others = [session() for _ in range(SESSIONS)]

    first.execute("BEGIN")
    set_tenant(first, TENANT_A)
    first_id, first_replay = append(first, **created)
    assert first_replay is False
    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        futures = [pool.submit(append_committed, conn, **created) for conn in others]
        try:
            for conn in others:
                wait_until_blocked(observer, conn.info.backend_pid, "advisory", "advisory")
            waiting = observer.execute(
                "SELECT count(*) FROM pg_catalog.pg_locks"
                " WHERE locktype = 'advisory' AND NOT granted AND pid = ANY(%s)",
                [[conn.info.backend_pid for conn in others]],
            ).fetchone()
            assert waiting == (len(others),)
            assert not any(future.done() for future in futures)
        finally:  # release the others even when a check failed
            first.execute("COMMIT" if first_commits else "ROLLBACK")
        results = [future.result(timeout=WAIT_SECONDS) for future in futures]

    rows = key_rows(su, "wo-1", "create-wo-1")
    assert len(rows) == 1
    (event_id,) = rows[0]
    fresh = [result for result in results if not result[1]]
    replays = [result for result in results if result[1]]
    if first_commits:
        assert event_id == first_id
        assert fresh == []
        assert replays == [(first_id, True)] * (SESSIONS - 1)
    else:
        assert event_id != first_id
        assert fresh == [(event_id, False)]
        assert replays == [(event_id, True)] * (SESSIONS - 2)
    outcomes = audit_outcomes(su, "wo-1")
    assert outcomes[0] == ("APPENDED", event_id)
    assert outcomes[1:] == [("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", event_id)] * (len(outcomes) - 1)
    assert len(outcomes) == (SESSIONS if first_commits else SESSIONS - 1)
    no_drift(session)


def test_sixteen_sessions_racing_one_key_in_free_rounds_get_one_event_each_round(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection]
) -> None:
    """Each round, 16 sessions released together append one event with one key.

    Even rounds create a new work order (WORK_ORDER_CREATED with the key), odd rounds
    append a FIELD_SET with a new key to the work order created before. Half of the
    sessions go through ``WorkOrderRepository.append``, half through SQL.
    """
    conns = [session() for _ in range(SESSIONS)]
    repos = [WorkOrderRepository(conn) for conn in conns]
    events: list[int] = []
    barrier = threading.Barrier(SESSIONS)

    def one(index: int, fields: dict[str, Any]) -> tuple[int, bool]:
        barrier.wait(timeout=WAIT_SECONDS)
        if index % 2:
            result = repos[index].append(WorkOrderLedgerEventInput(**fields))
            return result.work_order_event_id, result.idempotency_replay
        return append_committed(conns[index], **fields)

    with ThreadPoolExecutor(max_workers=SESSIONS) as pool:
        for round_no in range(FREE_ROUNDS):
            work_order = f"wo-{round_no // 2}"
            key = f"key-{round_no}"
            if round_no % 2 == 0:
                fields = event(
                    work_order_id=work_order,
                    correlation_id=1 + round_no // 2,
                    idempotency_key=key,
                    payload={"round": round_no},
                )
            else:
                fields = event(
                    work_order_id=work_order,
                    correlation_id=1 + round_no // 2,
                    event_type="FIELD_SET",
                    work_order_status="CLARIFY",
                    turn_id=2,
                    created_at=2_000,
                    idempotency_key=key,
                    payload={"round": round_no},
                )
            results = list(pool.map(one, range(SESSIONS), itertools.repeat(fields)))
            rows = key_rows(su, work_order, key)
            assert len(rows) == 1, f"round {round_no}: {len(rows)} ledger rows for one key"
            (event_id,) = rows[0]
            fresh = [result for result in results if not result[1]]
            assert fresh == [(event_id, False)], f"round {round_no}: {results}"
            assert sorted(results) == [(event_id, False)] + [(event_id, True)] * (SESSIONS - 1)
            events.append(event_id)

    counts = su.execute(
        "SELECT (SELECT count(*) FROM os_core.work_order_ledger),"
        " (SELECT count(*) FROM ph1j.audit_events WHERE outcome = 'APPENDED'),"
        " (SELECT count(*) FROM ph1j.audit_events"
        "  WHERE outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')"
    ).fetchone()
    assert counts == (FREE_ROUNDS, FREE_ROUNDS, FREE_ROUNDS * (SESSIONS - 1))
    assert len(set(events)) == FREE_ROUNDS
    no_drift(session)


# --- 8 writers, one work order, a few seconds ------------------------------------------------


def test_eight_writers_on_one_work_order_commit_in_id_order_and_the_projection_follows(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection], connect: Connect
) -> None:
    append_committed(session(), **event(created_at=5_000))
    statuses = ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING")
    reason_codes = itertools.count(100)
    reason_lock = threading.Lock()
    stop = threading.Event()
    start = threading.Barrier(WRITERS + 2)  # the writers, the sampler, this thread

    def write(conn: psycopg.Connection, writer: int) -> list[tuple[int, int, int]]:
        """Append until told to stop; return (position, event id, reason code) of each."""
        start.wait(timeout=WAIT_SECONDS)
        seen = []
        turn = 0
        while not stop.is_set():
            turn += 1
            with reason_lock:
                reason_code = next(reason_codes)
            with conn.transaction():
                set_tenant(conn, TENANT_A)
                event_id, replay = append(
                    conn,
                    **event(
                        event_type="STATUS_CHANGED",
                        work_order_status=statuses[reason_code % len(statuses)],
                        turn_id=writer * 1_000_000 + turn,
                        reason_code=reason_code,
                        created_at=5_000,
                        payload={"writer": writer, "turn": turn},
                    ),
                )
                # Under the work-order lock, still held: this transaction's position.
                last_id, position = conn.execute(CURRENT_READ, [TENANT_A, "wo-1"]).fetchone()
            assert replay is False
            assert last_id == event_id
            seen.append((position, event_id, reason_code))
        return seen

    samples: list[tuple[int, int, int, int]] = []

    def sample(conn: psycopg.Connection) -> None:
        """Projection and ledger on one snapshot, as often as possible, until stopped."""
        start.wait(timeout=WAIT_SECONDS)
        while not stop.is_set():
            row = conn.execute(
                "SELECT c.last_event_id, c.event_count, l.last_id, l.events"
                " FROM os_core.work_orders_current AS c,"
                " (SELECT max(work_order_event_id) AS last_id, count(*) AS events"
                "  FROM os_core.work_order_ledger WHERE tenant_id = %s AND work_order_id = %s) AS l"
                " WHERE c.tenant_id = %s AND c.work_order_id = %s",
                [TENANT_A, "wo-1", TENANT_A, "wo-1"],
            ).fetchone()
            samples.append(row)

    writers = [session() for _ in range(WRITERS)]
    sampler = connect(autocommit=True)
    with ThreadPoolExecutor(max_workers=WRITERS + 1) as pool:
        futures = [pool.submit(write, conn, index) for index, conn in enumerate(writers)]
        sampled = pool.submit(sample, sampler)
        try:
            start.wait(timeout=WAIT_SECONDS)
            time.sleep(WRITE_SECONDS)
        finally:
            stop.set()
        appended = [entry for future in futures for entry in future.result(timeout=60)]
        sampled.result(timeout=60)

    appended.sort()
    total = len(appended)
    assert total >= WRITERS * 10, f"only {total} appends in {WRITE_SECONDS} s"
    # Positions 2..N+1, once each: no two appends saw the same predecessor (no lost update).
    assert [position for position, _, _ in appended] == list(range(2, total + 2))
    ids = [event_id for _, event_id, _ in appended]
    assert all(x < y for x, y in itertools.pairwise(ids)), "event ids out of commit order"
    ledger = su.execute(
        "SELECT work_order_event_id, reason_code FROM os_core.work_order_ledger"
        " WHERE tenant_id = %s AND work_order_id = 'wo-1' ORDER BY work_order_event_id",
        [TENANT_A],
    ).fetchall()
    assert [row[0] for row in ledger[1:]] == ids
    assert [row[1] for row in ledger[1:]] == [reason for _, _, reason in appended]

    # Every committed state the sampler saw: projection = the ledger's last event.
    assert len(samples) > 10
    for last_event_id, event_count, ledger_last, ledger_events in samples:
        assert (last_event_id, event_count) == (ledger_last, ledger_events)
    observed = [row[0] for row in samples]
    assert observed == sorted(observed), "the projection moved backwards"

    last_id, last_reason = ledger[-1]
    current = su.execute(
        "SELECT last_event_id, last_reason_code, work_order_status, event_count"
        " FROM os_core.work_orders_current WHERE tenant_id = %s AND work_order_id = 'wo-1'",
        [TENANT_A],
    ).fetchone()
    assert current == (last_id, last_reason, statuses[last_reason % len(statuses)], total + 1)
    no_drift(session)
    print(f"8 writers, one work order, {WRITE_SECONDS} s: {total} appends, {len(samples)} samples")


# --- writers on different work orders do not block each other ---------------------------------


def test_eight_open_appends_on_eight_work_orders_hold_their_locks_at_once(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection], observer: psycopg.Connection
) -> None:
    """Each append stays uncommitted while the next runs: had any waited, none could finish."""
    keys = [(TENANT_A, f"wo-{index}") for index in range(WRITERS - 1)] + [(TENANT_B, "wo-0")]
    setup = session()
    for number, (tenant, work_order) in enumerate(keys, start=1):
        append_committed(
            setup, **event(tenant_id=tenant, work_order_id=work_order, correlation_id=number)
        )
    conns = [session() for _ in keys]
    for conn, (tenant, work_order) in zip(conns, keys, strict=True):
        conn.execute("BEGIN")
        set_tenant(conn, tenant)
        # Any lock wait fails at once instead of waiting for a commit that cannot come.
        conn.execute("SET LOCAL lock_timeout = '50ms'")
        _, replay = append(
            conn,
            **event(
                tenant_id=tenant,
                work_order_id=work_order,
                correlation_id=keys.index((tenant, work_order)) + 1,
                event_type="FIELD_SET",
                turn_id=2,
                created_at=2_000,
            ),
        )
        assert replay is False

    pids = [conn.info.backend_pid for conn in conns]
    locks = observer.execute(
        "SELECT count(*) FILTER (WHERE locktype = 'advisory' AND granted),"
        " count(DISTINCT (classid, objid)) FILTER (WHERE locktype = 'advisory'),"
        " count(*) FILTER (WHERE NOT granted)"
        " FROM pg_catalog.pg_locks WHERE pid = ANY(%s)",
        [pids],
    ).fetchone()
    assert locks == (len(keys), len(keys), 0)
    states = observer.execute(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity"
        " WHERE pid = ANY(%s) AND state = 'idle in transaction' AND wait_event_type IS DISTINCT"
        " FROM 'Lock'",
        [pids],
    ).fetchone()
    assert states == (len(keys),)
    for conn in conns:
        conn.execute("COMMIT")
    counts = su.execute(
        "SELECT count(*) FILTER (WHERE event_count = 2) FROM os_core.work_orders_current"
    ).fetchone()
    assert counts == (len(keys),)


# Lock waits that mean one writer waits for another's transaction. 'extend' (a relation
# being extended by a page) is left out: it is held for a page allocation, not a transaction.
WAIT_LOCKTYPES = ("advisory", "relation", "transactionid", "tuple", "object")


@dataclass
class LoadFigures:
    appends: int
    samples: int
    overlapping: int  # samples with >= 2 writers inside a transaction at once
    waits: int  # writer x sample pairs where the writer waited on a lock


def run_load(
    su: psycopg.Connection,
    session: Callable[..., psycopg.Connection],
    observer: psycopg.Connection,
    work_orders: list[str],
    first_correlation_id: int,
) -> LoadFigures:
    """WRITERS free-running writers, writer i on work_orders[i], sampled for SAMPLE_SECONDS."""
    correlation = {
        work_order: first_correlation_id + number
        for number, work_order in enumerate(sorted(set(work_orders)))
    }
    setup = session()
    for work_order, correlation_id in correlation.items():
        append_committed(setup, **event(work_order_id=work_order, correlation_id=correlation_id))
    conns = [session() for _ in range(WRITERS)]
    pids = [conn.info.backend_pid for conn in conns]
    stop = threading.Event()
    start = threading.Barrier(WRITERS + 1)

    def write(conn: psycopg.Connection, work_order: str) -> int:
        start.wait(timeout=WAIT_SECONDS)
        count = 0
        while not stop.is_set():
            count += 1
            with conn.transaction():
                set_tenant(conn, TENANT_A)
                append(
                    conn,
                    **event(
                        work_order_id=work_order,
                        correlation_id=correlation[work_order],
                        event_type="FIELD_SET",
                        turn_id=count + 1,
                        created_at=2_000,
                        payload={"n": count},
                    ),
                )
        return count

    samples = overlapping = waits = 0
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        futures = [
            pool.submit(write, conn, work_order)
            for conn, work_order in zip(conns, work_orders, strict=True)
        ]
        try:
            start.wait(timeout=WAIT_SECONDS)
            deadline = time.monotonic() + SAMPLE_SECONDS
            while time.monotonic() < deadline:
                row = observer.execute(
                    "SELECT"
                    " (SELECT count(*) FROM pg_catalog.pg_stat_activity"
                    "  WHERE pid = ANY(%(pids)s) AND backend_xid IS NOT NULL),"
                    " (SELECT count(DISTINCT pid) FROM pg_catalog.pg_locks"
                    "  WHERE pid = ANY(%(pids)s) AND NOT granted AND locktype = ANY(%(types)s))",
                    {"pids": pids, "types": list(WAIT_LOCKTYPES)},
                ).fetchone()
                samples += 1
                overlapping += row[0] >= 2
                waits += row[1]
        finally:
            stop.set()
        appends = sum(future.result(timeout=60) for future in futures)
    return LoadFigures(appends, samples, overlapping, waits)


def test_writers_on_different_work_orders_never_wait_on_each_other_under_load(
    su: psycopg.Connection, session: Callable[..., psycopg.Connection], observer: psycopg.Connection
) -> None:
    apart = run_load(su, session, observer, [f"apart-{index}" for index in range(WRITERS)], 1)
    together = run_load(su, session, observer, ["together"] * WRITERS, 100)
    print(f"8 writers on 8 work orders: {apart}; on one work order (control): {together}")

    # The writers did run concurrently: samples caught several inside a transaction at once.
    assert apart.overlapping > 0, apart
    assert apart.waits == 0, f"writers on different work orders waited on a lock: {apart}"
    # The control: the same sampler does see waits when the writers share one work order.
    assert together.waits > 0, together
    no_drift(session)

"""Reads on a hot standby: every read capability answers there, and paging skips nothing.

A primary with a synchronous streaming hot standby (tests/standby_pair.py), shared by
the module (each test has tenants of its own). The reads run on a connection to the
standby as the ``selene_os`` login, where every transaction is read-only (in recovery
nothing can be written: a write would fail with 25006), and must answer as on the
primary once the standby has replayed the primary's WAL. On the primary the same reads
run in one transaction that must end without a transaction id (any write takes one).
A retrying repository on the multi-host DSN with ``target_session_attrs=standby`` reads
on the standby too, with prepared statements, and its appends are refused there (25006).

Paging: event ids are drawn before commit, so a tenant-wide page must not pass over an
event whose id is smaller than one already committed while its own transaction is still
open (sql/functions/work_order_ledger_read.sql: each event stores the xid horizon read
after its id was drawn, and a page stops before the first event whose horizon is not
below the reader's snapshot xmin). On a standby the snapshot is built from the
primary's WAL: the xids the standby has seen assigned and not yet seen end (a commit,
an abort, or a running-xacts record saying they are gone) hold its xmin back, and its
xmax is one past the latest xid it has seen end. The tests hold an append open on the
primary while a later one commits, in both orders of their xids, and page on the
standby; then writers commit and roll back at random while a standby reader pages.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from selene_core_tables import RetryPolicy, WorkOrderLedgerEventInput, WorkOrderRepository
from tests.client_helpers import created
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.sql_helpers import append, event, set_tenant
from tests.standby_pair import StandbyPair, standby_pair

pytestmark = pytest.mark.timeout(180)

PAGE_SQL = (
    "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_after_event_id => %s::bigint, p_limit => %s::integer)"
)


def then(previous: WorkOrderLedgerEventInput, **fields: Any) -> WorkOrderLedgerEventInput:
    """The next event of the same work order: ``previous`` with ``fields`` replaced."""
    return dataclasses.replace(previous, idempotency_key=None, payload=None, **fields)


@pytest.fixture(scope="module")
def pair() -> Iterator[StandbyPair]:
    with standby_pair() as started:
        yield started


@pytest.fixture
def primary_app(pair: StandbyPair) -> Iterator[psycopg.Connection]:
    assert pair.primary is not None
    with pair.primary.connect(APP_ROLE, autocommit=True) as conn:
        yield conn


@pytest.fixture
def standby_app(pair: StandbyPair) -> Iterator[psycopg.Connection]:
    assert pair.standby is not None
    with pair.standby.connect(APP_ROLE, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')"
        ).fetchone()
        assert row == (True, "on")
        yield conn


def every_read(repo: WorkOrderRepository, tenant: str) -> dict[str, Any]:
    """What each read capability of the client answers for the work orders of ``tenant``."""
    return {
        "current": repo.current(tenant, "wo-1"),
        "current missing": repo.current(tenant, "wo-404"),
        "ledger_page tenant": repo.ledger_page(tenant),
        "ledger_page tenant after": repo.ledger_page(tenant, after=1, limit=2),
        "ledger_page work order": repo.ledger_page(tenant, "wo-1"),
        "ledger tenant": list(repo.ledger(tenant, page_size=2)),
        "ledger work order": list(repo.ledger(tenant, "wo-2", page_size=1)),
        "list_pending": repo.list_pending(tenant),
        "list_pending statuses": repo.list_pending(tenant, statuses=["EXECUTING", "CANCELED"]),
        "list_pending updated_after": repo.list_pending(tenant, updated_after=1_500, limit=1),
        "step_attempts": repo.step_attempts(tenant, "wo-1"),
        "step_attempts none": repo.step_attempts(tenant, "wo-3"),
        "lease": repo.lease(tenant, "wo-1"),
        "lease none": repo.lease(tenant, "wo-3"),
    }


def every_sql_read(conn: psycopg.Connection, tenant: str) -> dict[str, Any]:
    """The SQL read functions called directly, each in a transaction of its own."""
    calls = {
        "work_order_current_read": (
            "SELECT c::text FROM os_core.work_order_current_read("
            "p_tenant_id => %s::text, p_work_order_id => 'wo-1') AS c",
            [tenant],
        ),
        "work_order_ledger_read tenant": (
            "SELECT l::text FROM os_core.work_order_ledger_read(p_tenant_id => %s::text) AS l",
            [tenant],
        ),
        "work_order_ledger_read work order": (
            "SELECT l::text FROM os_core.work_order_ledger_read("
            "p_tenant_id => %s::text, p_work_order_id => 'wo-1', p_after_event_id => 0,"
            " p_limit => 10) AS l",
            [tenant],
        ),
    }
    found = {}
    for name, (sql, params) in calls.items():
        with conn.transaction():
            set_tenant(conn, tenant)
            found[name] = conn.execute(sql, params).fetchall()
    return found


def populate(repo: WorkOrderRepository, tenant: str) -> None:
    """wo-1 executing a step under a lease, wo-2 created and canceled, wo-3 a draft."""
    first = created("wo-1", tenant_id=tenant)
    repo.append(first)
    repo.append(
        then(
            first,
            event_type="STEP_STARTED",
            work_order_status="EXECUTING",
            step_id="survey",
            lease_owner_id="worker-1",
            lease_token_hash="sha-1",
            lease_expires_at=9_000,
            created_at=2_000,
        )
    )
    repo.append(created("wo-2", tenant_id=tenant))
    repo.cancel(
        tenant, "wo-2", reason_code=7, idempotency_key="cancel-wo-2", created_at=3_000, turn_id=2
    )
    repo.append(created("wo-3", tenant_id=tenant, created_at=1_200))


def test_every_read_answers_on_the_standby_as_on_the_primary_and_writes_nothing(
    pair: StandbyPair, primary_app: psycopg.Connection, standby_app: psycopg.Connection
) -> None:
    tenant = "standby-reads"
    populate(WorkOrderRepository(primary_app), tenant)
    pair.wait_replayed()

    on_standby = every_read(WorkOrderRepository(standby_app), tenant)
    sql_on_standby = every_sql_read(standby_app, tenant)

    # On the primary, all in one transaction (each call a savepoint of it): no xid taken.
    with primary_app.transaction():
        on_primary = every_read(WorkOrderRepository(primary_app), tenant)
        sql_on_primary = every_sql_read(primary_app, tenant)
        row = primary_app.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()
        assert row == (None,), "a read took a transaction id: it wrote something"

    assert on_standby == on_primary
    assert sql_on_standby == sql_on_primary
    # The answers are the populated ones, not empty on both sides.
    assert len(on_primary["ledger tenant"]) == 5
    assert [r.work_order_id for r in on_primary["list_pending"]] == ["wo-3"]
    assert on_primary["lease"] is not None and on_primary["lease"].lease_state == "ACTIVE"
    assert [a.step_id for a in on_primary["step_attempts"]] == ["survey"]
    assert len(sql_on_primary["work_order_ledger_read tenant"]) == 5


def test_verify_and_stats_answer_on_the_standby(
    pair: StandbyPair, standby_app: psycopg.Connection
) -> None:
    """The monitoring reads (verify without audit, stats) are read-only too."""
    tenant = "standby-verify"
    assert pair.primary is not None and pair.standby is not None
    with pair.primary.connect(APP_ROLE, autocommit=True) as conn:
        populate(WorkOrderRepository(conn), tenant)
    pair.wait_replayed()
    repo = WorkOrderRepository(standby_app)
    assert repo.verify(tenant) == []
    [stats] = repo.stats(tenant)
    assert (stats.tenant_id, stats.ledger_events, stats.work_orders) == (tenant, 5, 3)
    with pair.standby.connect(DBA_ROLE, autocommit=True) as dba:
        assert WorkOrderRepository(dba).verify() == []


def test_a_retrying_repository_on_a_standby_dsn_reads_there_with_prepared_statements(
    pair: StandbyPair, primary_app: psycopg.Connection
) -> None:
    """The multi-host DSN with ``target_session_attrs=standby`` sends the reads to the standby.

    Each read runs more often than psycopg's prepare threshold (5), so that the later
    runs use statements prepared on the standby; an append through the same repository
    is refused as a write in recovery (25006), retried until the deadline, and raised.
    """
    tenant = "standby-dsn"
    populate(WorkOrderRepository(primary_app), tenant)
    pair.wait_replayed()
    expected = every_read(WorkOrderRepository(primary_app), tenant)
    with WorkOrderRepository(
        pair.dsn(APP_ROLE, target_session_attrs="standby"),
        retry=RetryPolicy(deadline=1.0),
        prepared_statements=True,
    ) as repo:
        for _ in range(6):
            assert every_read(repo, tenant) == expected
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            repo.append(created("wo-4", tenant_id=tenant, idempotency_key="on-standby"))
        assert repo.retries["25006"] > 0


def standby_page(conn: psycopg.Connection, tenant: str, after: int, limit: int = 100) -> list[int]:
    with conn.transaction():
        set_tenant(conn, tenant)
        return [row[0] for row in conn.execute(PAGE_SQL, [tenant, after, limit]).fetchall()]


@pytest.mark.parametrize("first_xid", ["held", "committed"])
def test_a_standby_page_stops_before_an_event_whose_smaller_id_is_still_to_commit(
    pair: StandbyPair, standby_app: psycopg.Connection, first_xid: str
) -> None:
    """An append holds its id open on the primary while a later one commits.

    ``first_xid`` says whose transaction id is the smaller: the held one's (its xid is
    then below the committed one, which the standby sees end) or the committed one's
    (the held xid is then above every xid the standby has seen end).
    """
    tenant = f"standby-paging-{first_xid}"
    assert pair.primary is not None and pair.standby is not None
    with (
        pair.primary.connect(APP_ROLE, autocommit=True) as held,
        pair.primary.connect(APP_ROLE, autocommit=True) as committing,
        pair.standby.connect(autocommit=True) as standby_superuser,
    ):
        order = [held, committing] if first_xid == "held" else [committing, held]
        xids = []
        for conn in order:
            conn.execute("BEGIN")
            set_tenant(conn, tenant)
            row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
            assert row is not None
            xids.append(row[0])
        assert xids[0] < xids[1]
        in_flight, _ = append(held, **event(tenant_id=tenant, work_order_id="wo-1"))
        later, _ = append(
            committing, **event(tenant_id=tenant, work_order_id="wo-2", correlation_id=43)
        )
        committing.execute("COMMIT")
        assert in_flight < later
        pair.wait_replayed()

        # The standby has the later event, visible to its snapshots ...
        visible = standby_superuser.execute(
            "SELECT work_order_event_id FROM os_core.work_order_ledger WHERE tenant_id = %s",
            [tenant],
        ).fetchall()
        assert visible == [(later,)]
        # ... and a tenant-wide page holds it back while the smaller id may still come.
        assert standby_page(standby_app, tenant, 0) == []
        assert WorkOrderRepository(standby_app).ledger_page(tenant) == []
        # One work order's read needs no horizon: ids grow in commit order within it.
        [only] = WorkOrderRepository(standby_app).ledger_page(tenant, "wo-2")
        assert only.work_order_event_id == later

        held.execute("COMMIT")
        pair.wait_replayed()
        assert standby_page(standby_app, tenant, 0) == [in_flight, later]


def test_a_reader_paging_on_the_standby_sees_every_committed_event_exactly_once(
    pair: StandbyPair, standby_app: psycopg.Connection
) -> None:
    """Writers on the primary commit or roll back after random delays; a standby reader pages."""
    tenant = "standby-paging-load"
    writers, appends_per_writer = 4, 20
    committed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    assert pair.primary is not None
    primary = pair.primary

    def write(number: int) -> None:
        rng = random.Random(number)
        try:
            with primary.connect(APP_ROLE, autocommit=True) as conn:
                for step in range(appends_per_writer):
                    conn.execute("BEGIN")
                    set_tenant(conn, tenant)
                    fields = event(
                        tenant_id=tenant,
                        work_order_id=f"wo-{number}-{step}",
                        correlation_id=number * 1_000 + step + 1,
                    )
                    event_id, _ = append(conn, **fields)
                    time.sleep(rng.uniform(0, 0.05))
                    if rng.random() < 0.2:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute("COMMIT")
                        with lock:
                            committed.append(event_id)
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, writers + 1)]
    for thread in threads:
        thread.start()
    seen: list[int] = []
    pages = held_back = 0
    assert pair.standby is not None
    with pair.standby.connect(autocommit=True) as standby_superuser:
        while any(thread.is_alive() for thread in threads):
            page = standby_page(standby_app, tenant, seen[-1] if seen else 0, 5)
            seen.extend(page)
            pages += 1
            # A short page while the standby already holds a later committed event: the
            # horizon held it back (or it was replayed just after the page was read).
            row = standby_superuser.execute(
                "SELECT count(*) FROM os_core.work_order_ledger"
                " WHERE tenant_id = %s AND work_order_event_id > %s",
                [tenant, seen[-1] if seen else 0],
            ).fetchone()
            held_back += len(page) < 5 and row is not None and row[0] > 0
    for thread in threads:
        thread.join()
    assert errors == []
    pair.wait_replayed()
    # Once the writers are done and replayed, paging on reaches every committed event.
    while True:
        page = standby_page(standby_app, tenant, seen[-1] if seen else 0, 5)
        pages += 1
        if not page:
            break
        seen.extend(page)
    assert seen == sorted(set(seen)), "a page went back or repeated an event"
    skipped = sorted(set(committed) - set(seen))
    assert skipped == [], f"paging on the standby passed over {skipped}"
    assert sorted(committed) == seen
    assert held_back > 0, "no page was ever held back: the test proved nothing"
    print(
        f"standby paging: {len(committed)} committed events read in {pages} pages,"
        f" {held_back} of them short with a later event already on the standby"
    )

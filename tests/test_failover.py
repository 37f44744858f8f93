"""Failover: kill -9 of the primary under load, promotion of its synchronous standby.

A durable primary with a synchronous hot standby (tests/standby_pair.py). Four writers
(tests/failover_load.py) append through one ``WorkOrderRepository`` over a
``psycopg_pool.ConnectionPool`` on the pair's multi-host DSN
(``target_session_attrs=read-write``), with retries (``RetryPolicy(deadline=30)``) and
prepared statements: three through ``append``, one through ``append_many``, every event
with an idempotency key of its own. Twice (``SELENE_LONG=1``: four times, under a longer
load) the primary's postmaster and all its processes get SIGKILL at once, the standby is
promoted (``pg_ctl promote``) and, but after the last, a new synchronous standby is built
from the new primary (``pg_basebackup``) under the load; the pool reconnects through the
same DSN and the writers go on. The first kill comes at a moment of the load; the second
while every writer's COMMIT has reached the standby and is held unanswered on the primary
(:meth:`StandbyPair.hold_commit_acknowledgements`), so that every call in flight is in
doubt and its retry must come back as an idempotent replay of the original id. Then:

* no writer got an error (the repository retried every call cut off by the failover);
* every acknowledged append is in the new primary's ledger exactly once, under the id
  it was acknowledged with (a retried append whose first COMMIT was in doubt and had
  reached the standby is acknowledged as an idempotent replay of the original id); no
  idempotency key twice, no row nobody sent, each row as sent;
* the audit trail has one APPENDED row per ledger event; ``verify`` finds no drift and a
  rebuild rewrites nothing and changes no projection row.

The figures (acknowledged, lost, duplicated, seconds without a primary, retries, per
failover) are printed (``pytest -s``) and recorded as the test's ``failover_figures``
property (in ``--junitxml``).

A second test pages, right after a promotion, an event whose horizon lies above an xid the
old primary never logged; a third clears such horizons with the repair docs/ha.md gives for
the standby of a new primary that takes no writes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import closing

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from selene_core_tables import RetryPolicy, WorkOrderRepository
from tests.conftest import APP_ROLE
from tests.failover_load import BATCH, FailoverLoad, check_ledger, report_and_assert
from tests.sql_helpers import append, commit_above_an_unlogged_xid, event, set_tenant
from tests.standby_pair import Node, StandbyPair, standby_pair

LONG = os.environ.get("SELENE_LONG") == "1"
FAILOVERS = 4 if LONG else 2
WRITERS = 4
LOAD_SECONDS = 10.0 if LONG else 2.0  # of load before each kill, and after the last promotion
PROMOTE_AFTER = 0.5  # seconds between the kill and the promotion (a failover tool detecting it)

pytestmark = pytest.mark.timeout(900 if LONG else 120)


@pytest.fixture
def pair() -> Iterator[StandbyPair]:
    with standby_pair(spare_nodes=FAILOVERS - 1) as started:
        yield started


def connector(node: Node) -> Callable[..., psycopg.Connection]:
    def connect(user: str | None = None) -> psycopg.Connection:
        return node.connect(user or "postgres", autocommit=True)

    return connect


def test_kill_9_of_the_primary_and_promotion_of_the_standby_lose_nothing(
    pair: StandbyPair, record_property: Callable[[str, object], None]
) -> None:
    cycles = []
    with ConnectionPool(
        pair.dsn(APP_ROLE),
        min_size=WRITERS,
        max_size=WRITERS + 2,
        check=ConnectionPool.check_connection,
        timeout=10.0,
        name="failover",
    ) as pool:
        repo = WorkOrderRepository(pool, retry=RetryPolicy(deadline=30.0), prepared_statements=True)
        with FailoverLoad(repo, writers=WRITERS) as load:
            load.wait_for_acks(20, after=0.0)
            for cycle in range(FAILOVERS):
                time.sleep(LOAD_SECONDS)
                # Every other failover, the kill comes while each writer's COMMIT is on
                # the standby and unanswered: all of them in doubt, all to be replayed.
                in_doubt = cycle % 2 == 1
                if in_doubt:
                    pair.hold_commit_acknowledgements(waiting=WRITERS)
                killed_at = time.monotonic()
                pair.kill_primary()
                time.sleep(PROMOTE_AFTER)
                promoted = pair.promote()
                promoted_at = time.monotonic()
                load.wait_for_acks(20, after=promoted_at)
                resumed_at = load.record.first_ack_after(promoted_at)
                assert resumed_at is not None
                replays = sum(
                    sent.replay and sent.acked_at is not None and sent.acked_at > killed_at
                    for sent in load.record.acknowledged()
                )
                if in_doubt:  # three appends and a batch of BATCH were in doubt
                    assert replays == WRITERS - 1 + BATCH, replays
                cycles.append(
                    {
                        "kill": "commits in doubt" if in_doubt else "mid-load",
                        "primary now": promoted.name,
                        "seconds without a primary": round(promoted_at - killed_at, 2),
                        "seconds until appends resumed": round(resumed_at - killed_at, 2),
                        "acknowledged as idempotent replay": replays,
                    }
                )
                if cycle < FAILOVERS - 1:
                    pair.rebuild_standby()  # under the load: it waits for the sync standby
            time.sleep(LOAD_SECONDS)

    assert pair.primary is not None
    check = check_ledger(connector(pair.primary), load.record)
    # Each writer had appends acknowledged after the (last) promotion.
    report_and_assert(
        check,
        load.record,
        repo,
        label="failover figures",
        writers=WRITERS,
        last_failover_at=promoted_at,
        record_property=record_property,
        **{
            "longest time without an acknowledgement": round(load.record.longest_gap(), 2),
            "failovers": cycles,
        },
    )


PAGE_SQL = (
    "SELECT work_order_event_id FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_after_event_id => 0, p_limit => 100)"
)


def page(node: Node, tenant: str) -> list[int]:
    with node.connect(APP_ROLE, autocommit=True) as conn, conn.transaction():
        set_tenant(conn, tenant)
        return [row[0] for row in conn.execute(PAGE_SQL, [tenant]).fetchall()]


def audit_page(node: Node, tenant: str) -> list[int]:
    """The audit ids of the tenant's first page of ``os_core.audit_read``."""
    with node.connect(APP_ROLE, autocommit=True) as conn, conn.transaction():
        set_tenant(conn, tenant)
        rows = conn.execute(
            "SELECT audit_event_id FROM os_core.audit_read("
            "p_tenant_id => %s::text, p_after_audit_event_id => 0, p_limit => 100)",
            [tenant],
        ).fetchall()
        return [row[0] for row in rows]


def audit_rows(node: Node, tenant: str) -> list[int]:
    """Every audit id of the tenant, read by the superuser past paging."""
    with node.connect(autocommit=True) as su:
        rows = su.execute(
            "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = %s ORDER BY 1",
            [tenant],
        ).fetchall()
        return [row[0] for row in rows]


def promoted_after_an_unlogged_xid(pair: StandbyPair, tenant: str) -> tuple[Node, int]:
    """Commit an append while another session holds an xid it never logs; kill; promote.

    Returns the promoted node and the committed event's id.
    """
    assert pair.primary is not None
    # closing(), not the connections' own context: that would COMMIT on the dead server.
    with (
        closing(pair.primary.connect(APP_ROLE, autocommit=True)) as committing,
        closing(pair.primary.connect(APP_ROLE, autocommit=True)) as idle,
    ):
        # Synchronous: on the standby when its COMMIT returns.
        committed = commit_above_an_unlogged_xid(committing, idle, tenant)
        pair.kill_primary()
    promoted = pair.promote()
    with promoted.connect(autocommit=True) as su:
        assert su.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
        ).fetchone() == (0,)
    return promoted, committed


def test_after_a_failover_paging_reaches_what_was_committed_before_it(pair: StandbyPair) -> None:
    """An event committed (and replicated) before the kill is read by a tenant-wide page after.

    A transaction on the old primary took an xid and wrote nothing (an append between
    ``pg_current_xact_id()`` and its insert, or any session); the append that commits
    meanwhile stores a horizon above that xid. The standby never saw the xid, so after
    promotion its next xid is below the horizon, and nothing runs: the page used to stay
    empty until a transaction on the new primary took and ended that xid (for good on a
    node that takes no writes). The reads now pass a horizon at or past the next xid to
    give out (os_core.first_unassigned_xid): the ledger page and the audit page.
    """
    tenant = "failover-paging"
    promoted, committed = promoted_after_an_unlogged_xid(pair, tenant)
    assert page(promoted, tenant) == [committed]
    assert audit_page(promoted, tenant) == audit_rows(promoted, tenant)
    assert len(audit_page(promoted, tenant)) == 1  # the append's


def test_after_a_failover_a_prepared_transaction_still_holds_the_page_back(
    pair: StandbyPair,
) -> None:
    """A transaction prepared before the kill outlives the promotion: its event has a
    smaller id than one committed after it, whose horizon is above an xid never logged.
    The page does not pass the later event while the prepared one may still commit
    (os_core.first_unassigned_xid answers nothing while a transaction is prepared);
    once it is committed, the page returns both, in id order."""
    tenant = "failover-prepared"
    assert pair.primary is not None
    with (
        closing(pair.primary.connect(APP_ROLE, autocommit=True)) as preparing,
        closing(pair.primary.connect(APP_ROLE, autocommit=True)) as committing,
        closing(pair.primary.connect(APP_ROLE, autocommit=True)) as idle,
    ):
        preparing.execute("BEGIN")
        set_tenant(preparing, tenant)
        first, _ = append(preparing, **event(tenant_id=tenant))
        preparing.execute("PREPARE TRANSACTION 'selene-failover-prepared'")
        second = commit_above_an_unlogged_xid(
            committing, idle, tenant, work_order_id="wo-2", correlation_id=43
        )
        pair.kill_primary()
    promoted = pair.promote()
    assert first < second
    assert page(promoted, tenant) == []  # the prepared transaction may still commit `first`
    with promoted.connect(autocommit=True) as su:
        su.execute("COMMIT PREPARED 'selene-failover-prepared'")
    assert page(promoted, tenant) == [first, second]


def test_after_a_failover_the_repair_of_paging_horizons_lets_paging_reach_it(
    pair: StandbyPair,
) -> None:
    """The repair docs/ha.md gives for a hot standby of a new primary that takes no
    writes (the standby cannot tell the horizons apart): one call, as a superuser.

    ``os_core.repair_restored_paging_horizons()`` takes a transaction id on the new
    primary and clears every horizon above it: those can only have been stored before
    the failover, by transactions that are all gone now.
    """
    tenant = "failover-paging-repaired"
    promoted, committed = promoted_after_an_unlogged_xid(pair, tenant)
    with promoted.connect(autocommit=True) as su:
        (cleared,) = su.execute("SELECT os_core.repair_restored_paging_horizons()").fetchone()
    assert cleared >= 1
    assert page(promoted, tenant) == [committed]

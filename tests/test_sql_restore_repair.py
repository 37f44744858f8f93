"""os_core.repair_restored_paging_horizons: the supported repair after a logical restore.

A restore into a cluster whose transaction ids are behind the old one's leaves horizons
"from the future". The primary's tenant-wide reads pass them while no newer xid runs
(os_core.first_unassigned_xid); a hot standby, or the primary while a newer xid runs,
holds the pages back at them (docs/dba.md). The repair clears exactly those, as a
superuser, and is safe with appends running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.conftest import APP_ROLE, DBA_ROLE
from tests.sql_helpers import (
    TENANT_A,
    append,
    append_committed,
    event,
    read_as,
    set_tenant,
    wait_until_blocked,
)

REPAIR = "SELECT os_core.repair_restored_paging_horizons()"
TENANT_PAGE = "SELECT work_order_event_id FROM os_core.work_order_ledger_read(%s::text)"
AUDIT_PAGE = "SELECT work_order_event_id FROM os_core.audit_read(%s::text)"
#: What the repair clears of ``fill`` after ``shift_horizons(..., "wo-2")``: two events of
#: wo-2 and their two audit rows.
SHIFTED = 4
Connect = Callable[..., psycopg.Connection]


def tenant_page(app: psycopg.Connection) -> list[int]:
    return [row["work_order_event_id"] for row in read_as(app, TENANT_A, TENANT_PAGE, [TENANT_A])]


def ledger_without_horizons(superuser: psycopg.Connection) -> list[tuple[Any, ...]]:
    return superuser.execute(
        "SELECT to_jsonb(l) - 'paging_horizon' FROM os_core.work_order_ledger AS l"
        " ORDER BY work_order_event_id"
    ).fetchall()


def shift_horizons(superuser: psycopg.Connection, work_order_id: str) -> None:
    """Stand in for a restore: this work order's horizons (events and audit rows) a
    billion xids ahead."""
    with superuser.transaction():
        superuser.execute("SET LOCAL session_replication_role = replica")
        for table in ("os_core.work_order_ledger", "ph1j.audit_events"):
            superuser.execute(
                f"UPDATE {table} SET paging_horizon ="
                " (pg_current_xact_id()::text::bigint + 1000000000)::text::xid8"
                " WHERE work_order_id = %s",
                [work_order_id],
            )


def audit_page(app: psycopg.Connection) -> list[int]:
    rows = read_as(app, TENANT_A, AUDIT_PAGE, [TENANT_A])
    return [row["work_order_event_id"] for row in rows]


def fill(app: psycopg.Connection) -> None:
    append_committed(app, **event())
    append_committed(app, **event(work_order_id="wo-2", correlation_id=43))
    append_committed(
        app, **event(work_order_id="wo-2", correlation_id=43, event_type="FIELD_SET", turn_id=2)
    )


def test_it_clears_the_restored_horizons_only_and_the_page_comes_back(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)
    everything = tenant_page(app)
    before = ledger_without_horizons(postgresql)
    shift_horizons(postgresql, "wo-2")
    assert tenant_page(app) == everything  # ahead of every xid given out: passed
    assert audit_page(app) == everything
    holder = connect(user=DBA_ROLE, autocommit=True)
    holder.execute("BEGIN")
    holder.execute("SELECT pg_current_xact_id()")  # a newer xid, running
    assert tenant_page(app) == everything[:1]  # held back at the first restored event
    assert audit_page(app) == everything[:1]

    assert postgresql.execute(REPAIR).fetchone() == (SHIFTED,)

    # Cleared: passed, the newer xid still running.
    assert tenant_page(app) == everything
    assert audit_page(app) == everything
    holder.execute("ROLLBACK")
    assert ledger_without_horizons(postgresql) == before
    kept = postgresql.execute(
        "SELECT count(*) FROM os_core.work_order_ledger"
        " WHERE work_order_id = 'wo-1' AND paging_horizon IS NOT NULL"
    ).fetchone()
    assert kept == (1,)  # this cluster's own horizon is left as it was
    assert postgresql.execute(REPAIR).fetchone() == (0,)  # idempotent
    # The append-only triggers fire again afterwards, in the same session.
    assert postgresql.execute("SHOW session_replication_role").fetchone() == ("origin",)
    with pytest.raises(psycopg.Error) as caught:
        postgresql.execute("UPDATE os_core.work_order_ledger SET paging_horizon = NULL")
    assert caught.value.sqlstate == "SE001"


@pytest.mark.parametrize("role", [APP_ROLE, DBA_ROLE])
def test_only_a_superuser_may_run_it(
    postgresql: psycopg.Connection, connect: Connect, role: str
) -> None:
    postgresql.autocommit = True
    fill(connect(user=APP_ROLE, autocommit=True))
    shift_horizons(postgresql, "wo-2")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        connect(user=role, autocommit=True).execute(REPAIR)
    still = postgresql.execute(
        "SELECT count(*) FROM os_core.work_order_ledger WHERE paging_horizon IS NULL"
    ).fetchone()
    assert still == (0,)


def test_it_waits_for_an_append_in_flight_and_leaves_its_horizon(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)
    shift_horizons(postgresql, "wo-2")
    writer = connect(user=APP_ROLE)
    set_tenant(writer, TENANT_A)
    in_flight, _ = append(writer, **event(work_order_id="wo-3", correlation_id=44))
    repairer = connect(autocommit=True)
    cleared: list[Any] = []
    thread = threading.Thread(target=lambda: cleared.append(repairer.execute(REPAIR).fetchone()))
    thread.start()
    try:
        wait_until_blocked(postgresql, repairer.info.backend_pid, "relation", "relation")
    finally:
        writer.commit()
        thread.join(timeout=30)
    assert cleared == [(SHIFTED,)]
    horizon = postgresql.execute(
        "SELECT paging_horizon IS NOT NULL FROM os_core.work_order_ledger"
        " WHERE work_order_event_id = %s",
        [in_flight],
    ).fetchone()
    assert horizon == (True,)
    assert tenant_page(app)[-1] == in_flight


def test_it_refuses_a_transaction_that_already_has_an_xid(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """An xid taken before the lock could lie below the horizon of an append committed since."""
    postgresql.autocommit = True
    fill(connect(user=APP_ROLE, autocommit=True))
    shift_horizons(postgresql, "wo-2")
    repairer = connect()
    repairer.execute("SELECT pg_current_xact_id()")
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        repairer.execute(REPAIR)
    repairer.rollback()
    assert repairer.execute(REPAIR).fetchone() == (SHIFTED,)  # first thing in its transaction
    repairer.commit()


def test_it_does_not_deadlock_with_a_transaction_that_replays_then_appends(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """A replay writes an audit row before the same transaction appends: the tables in
    the other order than the repair's. The repair never holds the ledger while it waits
    for the audit trail, so the writer's append goes through, and then the repair."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)
    keyed = event(work_order_id="wo-3", correlation_id=44, idempotency_key="k-3")
    append_committed(app, **keyed)
    shift_horizons(postgresql, "wo-2")
    writer = connect(user=APP_ROLE)
    set_tenant(writer, TENANT_A)
    assert append(writer, **keyed)[1] is True  # a replay: an audit row, the trail locked
    repairer = connect(autocommit=True)
    outcome: list[Any] = []

    def repair() -> None:
        try:
            outcome.append(repairer.execute(REPAIR).fetchone())
        except psycopg.Error as error:
            outcome.append(error)

    thread = threading.Thread(target=repair)
    thread.start()
    try:
        # The repair waits for the audit trail: backing off (PgSleep), not holding the
        # ledger; one that waited on the lock with the ledger held would deadlock below.
        for _ in range(500):
            row = postgresql.execute(
                "SELECT wait_event FROM pg_stat_activity WHERE pid = %s",
                [repairer.info.backend_pid],
            ).fetchone()
            if row in (("PgSleep",), ("relation",)):
                break
            time.sleep(0.01)
        else:
            raise AssertionError("the repair never waited")
        appended, replay = append(writer, **event(work_order_id="wo-4", correlation_id=45))
        assert replay is False
        writer.commit()
    finally:
        if writer.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            writer.rollback()
        thread.join(timeout=30)
    assert outcome == [(SHIFTED,)]
    assert tenant_page(app)[-1] == appended

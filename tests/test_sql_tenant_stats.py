"""os_core.tenant_stats: monitoring per tenant, for selene_os (its tenant) and selene_dba (any)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.conftest import APP_ROLE, DBA_ROLE
from tests.sql_helpers import TENANT_A, TENANT_B, append_committed, event, read_as

STATS = "SELECT * FROM os_core.tenant_stats(%s::text)"
Connect = Callable[..., psycopg.Connection]


def stats(conn: psycopg.Connection, declared: str | None, tenant_id: str | None) -> list[dict]:
    """Call tenant_stats in a transaction of its own, with ``declared`` as the tenant."""
    return read_as(conn, declared, STATS, [tenant_id])


def fill(app: psycopg.Connection) -> None:
    """tenant-a: wo-1 (3 events, leased, EXECUTING), wo-2 (DRAFT); tenant-b: wo-1 (DONE)."""
    append_committed(app, **event())
    append_committed(
        app,
        **event(
            event_type="STATUS_CHANGED",
            work_order_status="EXECUTING",
            turn_id=2,
            created_at=2_000,
            lease_owner_id="worker-1",
            lease_token_hash="h1",
            lease_expires_at=9_000,
        ),
    )
    append_committed(
        app, **event(event_type="FIELD_SET", work_order_status="EXECUTING", created_at=3_000)
    )
    append_committed(app, **event(work_order_id="wo-2", correlation_id=43))
    append_committed(app, **event(tenant_id=TENANT_B))
    append_committed(
        app,
        **event(
            tenant_id=TENANT_B,
            event_type="STATUS_CHANGED",
            work_order_status="DONE",
            created_at=2_000,
            lease_owner_id="worker-9",
            lease_token_hash="h9",
            lease_expires_at=9_000,
        ),
    )


def last_event_ids(superuser: psycopg.Connection) -> dict[str, Any]:
    return dict(
        superuser.execute(
            "SELECT tenant_id::text, max(work_order_event_id) FROM os_core.work_order_ledger"
            " GROUP BY tenant_id"
        ).fetchall()
    )


def test_a_tenant_sees_its_own_counts_and_that_the_projection_agrees(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)

    [row] = stats(app, TENANT_A, TENANT_A)

    last = last_event_ids(postgresql)[TENANT_A]
    recorded_at = postgresql.execute(
        "SELECT recorded_at FROM os_core.work_order_ledger WHERE work_order_event_id = %s",
        [last],
    ).fetchone()
    assert row == {
        "tenant_id": TENANT_A,
        "ledger_events": 4,
        "last_event_id": last,
        "last_recorded_at": recorded_at[0] if recorded_at else None,
        "work_orders": 2,
        "work_orders_by_status": {"DRAFT": 1, "EXECUTING": 1},
        "active_leases": 1,
        "projected_events": 4,
        "projected_last_event_id": last,
        "projection_agrees": True,
    }


def test_a_dba_sees_every_tenant_and_a_terminal_status_releases_the_lease(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    fill(connect(user=APP_ROLE, autocommit=True))
    dba = connect(user=DBA_ROLE, autocommit=True)

    rows = stats(dba, None, None)

    assert [(r["tenant_id"], r["ledger_events"], r["active_leases"]) for r in rows] == [
        (TENANT_A, 4, 1),
        (TENANT_B, 2, 0),
    ]
    assert rows[1]["work_orders_by_status"] == {"DONE": 1}
    assert all(r["projection_agrees"] for r in rows)
    assert stats(dba, None, TENANT_B) == rows[1:]


def test_an_empty_tenant_has_no_row(postgresql: psycopg.Connection, connect: Connect) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    assert stats(app, TENANT_A, TENANT_A) == []


def test_drift_written_around_the_product_shows_as_disagreement(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)
    # A superuser removes a projection row (bypassing the product); the ledger still has
    # its event, so counts and last event no longer agree, for that tenant only.
    postgresql.execute(
        "DELETE FROM os_core.work_orders_current WHERE tenant_id = %s AND work_order_id = 'wo-2'",
        [TENANT_A],
    )
    dba = connect(user=DBA_ROLE, autocommit=True)

    by_tenant = {r["tenant_id"]: r for r in stats(dba, None, None)}

    assert by_tenant[TENANT_A]["projection_agrees"] is False
    assert (by_tenant[TENANT_A]["ledger_events"], by_tenant[TENANT_A]["projected_events"]) == (
        4,
        3,
    )
    assert by_tenant[TENANT_B]["projection_agrees"] is True
    dba.execute("SELECT * FROM os_core.work_orders_current_rebuild(%s::text)", [TENANT_A])
    assert all(r["projection_agrees"] for r in stats(dba, None, None))


@pytest.mark.parametrize(
    ("declared", "asked"),
    [(TENANT_A, TENANT_B), (None, TENANT_A), (TENANT_A, None), (None, None)],
    ids=["another-tenant", "no-tenant-declared", "all-tenants", "nothing"],
)
def test_selene_os_gets_only_its_declared_tenant(
    postgresql: psycopg.Connection, connect: Connect, declared: str | None, asked: str | None
) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    fill(app)
    with pytest.raises(psycopg.Error) as caught:
        stats(app, declared, asked)
    assert caught.value.sqlstate == "SE003"
    assert caught.value.diag.message_primary == "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION"

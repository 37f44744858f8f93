"""OS_WORK_ORDER_CURRENT_READ and OS_WORK_ORDER_LEDGER_READ through psycopg as the app role."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.projection_model import CURRENT_COLUMNS
from tests.sql_helpers import (
    LEDGER_COLUMNS,
    TENANT_A,
    TENANT_B,
    append_committed,
    event,
    set_tenant,
)

U128_MAX = 2**128 - 1

CURRENT_READ = "SELECT * FROM os_core.work_order_current_read(%s::text, %s::text)"
LEDGER_READ = (
    "SELECT * FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_work_order_id => %s::text,"
    " p_after_event_id => %s::bigint, p_limit => %s::integer)"
)


def read(
    conn: psycopg.Connection, tenant_id: str, sql: str, params: list[Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Run a read in its own transaction with ``tenant_id`` declared: (column names, rows)."""
    with conn.transaction():
        set_tenant(conn, tenant_id)
        cur = conn.cursor(row_factory=dict_row)
        cur.execute(sql, params)
        assert cur.description is not None
        return [column.name for column in cur.description], cur.fetchall()


def read_ledger(
    conn: psycopg.Connection,
    tenant_id: str,
    work_order_id: str | None = None,
    after: int = 0,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    return read(conn, tenant_id, LEDGER_READ, [tenant_id, work_order_id, after, limit])[1]


def read_current(
    conn: psycopg.Connection, tenant_id: str, work_order_id: str
) -> list[dict[str, Any]]:
    return read(conn, tenant_id, CURRENT_READ, [tenant_id, work_order_id])[1]


def test_the_reads_return_the_upstream_column_names(app: psycopg.Connection) -> None:
    full = event(
        event_type="WORK_ORDER_CREATED",
        step_id="step-1",
        step_input_hash="in-hash",
        lease_owner_id="worker-1",
        lease_token_hash="token-hash",
        lease_expires_at=9_000,
        idempotency_key="key-1",
        payload={"fields": {"site": "berlin"}},
    )
    event_id, _ = append_committed(app, **full)

    ledger_columns, ledger = read(app, TENANT_A, LEDGER_READ, [TENANT_A, "wo-1", 0, 10])
    assert set(LEDGER_COLUMNS) <= set(ledger_columns), set(LEDGER_COLUMNS) - set(ledger_columns)
    assert len(ledger) == 1
    expected_event = {
        "work_order_event_id": event_id,
        "schema_version": 1,
        **{name: value for name, value in full.items()},
    }
    assert {name: ledger[0][name] for name in LEDGER_COLUMNS} == expected_event

    current_columns, current = read(app, TENANT_A, CURRENT_READ, [TENANT_A, "wo-1"])
    assert set(CURRENT_COLUMNS) <= set(current_columns), set(CURRENT_COLUMNS) - set(current_columns)
    assert {name: current[0][name] for name in CURRENT_COLUMNS} == {
        "schema_version": 1,
        "tenant_id": TENANT_A,
        "work_order_id": "wo-1",
        "correlation_id": 42,
        "turn_id": 1,
        "work_order_status": "DRAFT",
        "last_event_id": event_id,
        "last_reason_code": 1,
        "last_updated_at": 1_000,
        "step_id": "step-1",
        "step_input_hash": "in-hash",
        "lease_owner_id": "worker-1",
        "lease_token_hash": "token-hash",
        "lease_expires_at": 9_000,
        "event_count": 1,
    }


def test_a_missing_work_order_reads_as_no_row(app: psycopg.Connection) -> None:
    columns, rows = read(app, TENANT_A, CURRENT_READ, [TENANT_A, "wo-none"])
    assert rows == []
    assert set(CURRENT_COLUMNS) <= set(columns)


@pytest.mark.parametrize("correlation_id", [1, 2**64, U128_MAX], ids=["1", "2^64", "2^128-1"])
def test_a_u128_correlation_id_round_trips_exactly(
    app: psycopg.Connection, correlation_id: int
) -> None:
    append_committed(app, **event(correlation_id=correlation_id))
    append_committed(
        app,
        **event(correlation_id=correlation_id, event_type="FIELD_SET", turn_id=2, created_at=2_000),
    )

    current = read_current(app, TENANT_A, "wo-1")[0]["correlation_id"]
    ledger = [row["correlation_id"] for row in read_ledger(app, TENANT_A, "wo-1")]
    for value in [current, *ledger]:
        # psycopg loads numeric as Decimal: it must be integral and exactly the u128.
        assert isinstance(value, Decimal | int)
        assert Decimal(value).as_tuple().exponent == 0
        assert int(value) == correlation_id
        assert value == correlation_id


def test_paging_by_ten_returns_every_one_of_25_events_once_in_order(
    app: psycopg.Connection,
) -> None:
    ids = [append_committed(app, **event())[0]]
    # Interleave a second work order so that the tenant's ids are not one run.
    ids_wo_2 = [append_committed(app, **event(work_order_id="wo-2", correlation_id=2))[0]]
    for turn in range(2, 26):
        fields = {"event_type": "FIELD_SET", "turn_id": turn, "created_at": 1_000 + turn}
        ids.append(append_committed(app, **event(**fields))[0])
        if turn <= 5:
            ids_wo_2.append(
                append_committed(app, **event(work_order_id="wo-2", correlation_id=2, **fields))[0]
            )
    assert len(ids) == 25

    def page_all(work_order_id: str | None) -> list[list[int]]:
        pages, after = [], 0
        while True:
            rows = read_ledger(app, TENANT_A, work_order_id, after=after, limit=10)
            pages.append([row["work_order_event_id"] for row in rows])
            if not rows:
                return pages
            after = rows[-1]["work_order_event_id"]
            assert len(pages) < 10, "paging does not end"

    pages = page_all("wo-1")
    assert [len(page) for page in pages] == [10, 10, 5, 0]
    assert [event_id for page in pages for event_id in page] == ids

    tenant_pages = page_all(None)
    assert [len(page) for page in tenant_pages] == [10, 10, 10, 0]
    assert [event_id for page in tenant_pages for event_id in page] == sorted(ids + ids_wo_2)


def test_tenant_b_sees_nothing_of_tenant_a(app: psycopg.Connection) -> None:
    a_id, _ = append_committed(app, **event(tenant_id=TENANT_A))

    assert read_current(app, TENANT_B, "wo-1") == []
    assert read_ledger(app, TENANT_B) == []
    assert read_ledger(app, TENANT_B, "wo-1") == []

    # The same work order id in tenant B is another work order (AT-OS-CORE-DB-01).
    b_id, _ = append_committed(app, **event(tenant_id=TENANT_B, work_order_status="CLARIFY"))
    assert [row["work_order_event_id"] for row in read_ledger(app, TENANT_B)] == [b_id]
    assert [row["work_order_event_id"] for row in read_ledger(app, TENANT_A)] == [a_id]
    b_current = read_current(app, TENANT_B, "wo-1")
    a_current = read_current(app, TENANT_A, "wo-1")
    assert [
        (row["tenant_id"], row["last_event_id"], row["work_order_status"]) for row in b_current
    ] == [(TENANT_B, b_id, "CLARIFY")]
    assert [
        (row["tenant_id"], row["last_event_id"], row["work_order_status"]) for row in a_current
    ] == [(TENANT_A, a_id, "DRAFT")]


def test_a_correlation_id_written_with_trailing_zeros_reads_back_as_the_integer(
    app: psycopg.Connection,
) -> None:
    """Design §2 types correlation_id numeric(39,0): 42.000 is the integer 42, scale 0."""
    append_committed(app, **event(correlation_id=Decimal("42.000")))
    value = read_current(app, TENANT_A, "wo-1")[0]["correlation_id"]
    assert value == 42
    assert Decimal(value).as_tuple().exponent == 0, f"read back {value!r}"


def test_a_rebuild_reproduces_the_current_row_when_correlation_ids_differ_in_scale(
    app: psycopg.Connection,
) -> None:
    """Design §1: rebuilding gives the same rows, byte for byte, as the incremental path."""
    append_committed(app, **event(correlation_id=Decimal("42.000")))
    append_committed(
        app, **event(correlation_id=42, event_type="FIELD_SET", turn_id=2, created_at=2_000)
    )
    incremental = read_current(app, TENANT_A, "wo-1")
    with app.transaction():
        set_tenant(app, TENANT_A)
        app.execute("SELECT * FROM os_core.work_orders_current_rebuild(%s::text)", [TENANT_A])
    rebuilt = read_current(app, TENANT_A, "wo-1")
    assert [str(row["correlation_id"]) for row in rebuilt] == [
        str(row["correlation_id"]) for row in incremental
    ]
    assert rebuilt == incremental

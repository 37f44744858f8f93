"""Step attempts, leases, verify and the audited rebuild, through psycopg as the real roles."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.conftest import CITUS
from tests.sql_helpers import (
    TENANT_A,
    TENANT_B,
    append_committed,
    event,
    ledger_state,
    read_as,
)

Connect = Callable[..., psycopg.Connection]
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")
TENANT_SCOPE = ("SE003", "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION")


class History:
    """Appends the events of one work order of tenant-a, one per call, in time order."""

    def __init__(self, app: psycopg.Connection, work_order_id: str = "wo-1") -> None:
        self.app = app
        self.work_order_id = work_order_id
        self.clock = 1_000
        self.turn = 0
        append_committed(app, **self.next("WORK_ORDER_CREATED"))

    def next(self, event_type: str, status: str = "EXECUTING", **fields: Any) -> dict[str, Any]:
        self.clock += 1_000
        self.turn += 1
        values = event(
            work_order_id=self.work_order_id,
            correlation_id=sum(map(ord, self.work_order_id)),
            event_type=event_type,
            work_order_status="DRAFT" if event_type == "WORK_ORDER_CREATED" else status,
            turn_id=self.turn,
            created_at=self.clock,
        )
        values.update(fields)
        return values

    def add(self, event_type: str, status: str = "EXECUTING", **fields: Any) -> int:
        return append_committed(self.app, **self.next(event_type, status, **fields))[0]


def read(conn: psycopg.Connection, sql: str, params: list[Any], tenant: str = TENANT_A) -> list:
    return read_as(conn, tenant, sql, params)


def attempts(app: psycopg.Connection, work_order_id: str = "wo-1") -> list[dict[str, Any]]:
    return read(
        app,
        "SELECT * FROM os_core.work_order_step_attempts_read(%s::text, %s::text)",
        [TENANT_A, work_order_id],
    )


def lease(app: psycopg.Connection, work_order_id: str = "wo-1") -> dict[str, Any] | None:
    rows = read(
        app,
        "SELECT * FROM os_core.work_order_lease_read(%s::text, %s::text)",
        [TENANT_A, work_order_id],
    )
    assert len(rows) <= 1
    return rows[0] if rows else None


def verify(conn: psycopg.Connection, tenant: str | None = None) -> list[dict[str, Any]]:
    return (
        conn.cursor(row_factory=dict_row)
        .execute("SELECT * FROM os_core.work_orders_current_verify(%s::text)", [tenant])
        .fetchall()
    )


def refused(
    conn: psycopg.Connection, su: psycopg.Connection, fields: dict[str, Any], expected: tuple
) -> str:
    """Append ``fields``, which must be refused with ``expected``; return the DETAIL."""
    before = ledger_state(su)
    with pytest.raises(psycopg.Error) as raised:
        append_committed(conn, **fields)
    assert (raised.value.sqlstate, raised.value.diag.message_primary) == expected
    assert ledger_state(su) == before
    return raised.value.diag.message_detail or ""


# --- step attempts ----------------------------------------------------------------------------


def test_step_events_open_and_close_numbered_attempts(app: psycopg.Connection) -> None:
    history = History(app)
    first = history.add("STEP_STARTED", step_id="survey", step_input_hash="in-1")
    failed = history.add("STEP_FAILED", step_id="survey", reason_code=17)
    second = history.add("STEP_STARTED", step_id="survey", step_input_hash="in-2")
    other = history.add("STEP_STARTED", step_id="install")
    finished = history.add("STEP_FINISHED", step_id="survey", reason_code=3)

    rows = attempts(app)
    assert [
        (r["step_id"], r["attempt_index"], r["attempt_status"], r["step_input_hash"]) for r in rows
    ] == [
        ("survey", 1, "FAILED", "in-1"),
        ("survey", 2, "FINISHED", "in-2"),
        ("install", 1, "STARTED", None),
    ]
    assert (rows[0]["started_event_id"], rows[0]["finished_event_id"]) == (first, failed)
    assert (rows[0]["reason_code"], rows[0]["finished_at"]) == (17, 3_000 + 1_000)
    assert (rows[1]["started_event_id"], rows[1]["finished_event_id"]) == (second, finished)
    assert rows[2]["started_event_id"] == other
    assert rows[2]["finished_event_id"] is rows[2]["finished_at"] is rows[2]["reason_code"] is None


def test_a_second_start_while_an_attempt_is_open_is_refused(
    app: psycopg.Connection, su: psycopg.Connection
) -> None:
    history = History(app)
    history.add("STEP_STARTED", step_id="survey")
    detail = refused(app, su, history.next("STEP_STARTED", step_id="survey"), CONTRACT)
    assert "already has attempt 1 open" in detail


@pytest.mark.parametrize("event_type", ["STEP_FINISHED", "STEP_FAILED"])
def test_closing_a_step_with_no_open_attempt_is_refused(
    app: psycopg.Connection, su: psycopg.Connection, event_type: str
) -> None:
    history = History(app)
    detail = refused(app, su, history.next(event_type, step_id="survey"), CONTRACT)
    assert "no open attempt" in detail
    history.add("STEP_STARTED", step_id="survey")
    history.add("STEP_FINISHED", step_id="survey")
    refused(app, su, history.next(event_type, step_id="survey"), CONTRACT)


# --- leases -------------------------------------------------------------------------------------


def with_lease(owner: str, expires: int, token: str = "hash") -> dict[str, Any]:
    return {
        "lease_owner_id": owner,
        "lease_token_hash": f"{token}-{owner}",
        "lease_expires_at": expires,
    }


def test_a_lease_is_acquired_renewed_taken_over_after_expiry_and_released(
    app: psycopg.Connection, su: psycopg.Connection
) -> None:
    history = History(app)
    assert lease(app) is None
    acquired = history.add("STATUS_CHANGED", **with_lease("worker-1", 6_000))
    assert lease(app) == {
        "tenant_id": TENANT_A,
        "work_order_id": "wo-1",
        "lease_owner_id": "worker-1",
        "lease_token_hash": "hash-worker-1",
        "lease_state": "ACTIVE",
        "lease_expires_at": 6_000,
        "acquired_event_id": acquired,
        "acquired_at": 3_000,
        "last_event_id": acquired,
        "released_at": None,
    }

    # An event without lease fields leaves the lease as it is; one from its holder
    # before expiry (created_at 5_000 < 6_000) renews it.
    history.add("FIELD_SET")
    renewed = history.add("STEP_STARTED", step_id="s", **with_lease("worker-1", 9_000, "new"))
    row = lease(app)
    assert row is not None
    assert (row["acquired_event_id"], row["last_event_id"], row["lease_expires_at"]) == (
        acquired,
        renewed,
        9_000,
    )
    assert row["lease_token_hash"] == "new-worker-1"

    # Fencing: another owner before expiry (judged by created_at, not the clock).
    detail = refused(app, su, history.next("FIELD_SET", **with_lease("worker-2", 20_000)), CONTRACT)
    assert "cannot take it over" in detail

    history.clock = 9_000  # the next event is at created_at 10_000, after expiry
    taken = history.add("FIELD_SET", **with_lease("worker-2", 20_000))
    row = lease(app)
    assert row is not None
    assert (row["lease_owner_id"], row["acquired_event_id"], row["acquired_at"]) == (
        "worker-2",
        taken,
        10_000,
    )

    done = history.add("STATUS_CHANGED", "DONE")
    row = lease(app)
    assert row is not None
    assert (row["lease_state"], row["released_at"], row["last_event_id"]) == (
        "RELEASED",
        11_000,
        done,
    )
    assert row["lease_owner_id"] == "worker-2"  # who held it last stays on record


def test_the_same_owner_after_expiry_starts_a_new_tenure(app: psycopg.Connection) -> None:
    history = History(app)
    history.add("FIELD_SET", **with_lease("worker-1", 3_500))
    again = history.add("FIELD_SET", **with_lease("worker-1", 9_000))
    row = lease(app)
    assert row is not None
    assert (row["acquired_event_id"], row["acquired_at"]) == (again, 4_000)


# --- verify and rebuild -------------------------------------------------------------------------


def mixed_history(app: psycopg.Connection) -> None:
    """Two work orders in tenant-a with steps and leases, one in tenant-b."""
    one = History(app, "wo-1")
    one.add("STEP_STARTED", step_id="survey", **with_lease("worker-1", 50_000))
    one.add("STEP_FAILED", step_id="survey")
    one.add("STEP_STARTED", step_id="survey")
    one.add("STATUS_CHANGED", "DONE")
    two = History(app, "wo-2")
    two.add("STATUS_CHANGED", "CONFIRM", **with_lease("worker-2", 50_000))
    append_committed(app, **event(tenant_id=TENANT_B, work_order_id="wo-b", correlation_id=7))


def test_verify_finds_nothing_after_appends_and_names_every_drift(
    app: psycopg.Connection, dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    mixed_history(app)
    assert verify(dba) == []

    su.execute("UPDATE os_core.work_orders_current SET turn_id = 99 WHERE work_order_id = 'wo-2'")
    su.execute("DELETE FROM os_core.work_order_step_attempts WHERE attempt_index = 2")
    su.execute("UPDATE os_core.work_order_leases SET lease_state = 'ACTIVE', released_at = NULL")
    su.execute(
        "INSERT INTO os_core.work_orders_current SELECT tenant_id, 'ghost', schema_version,"
        " correlation_id + 1, turn_id, work_order_status, last_event_id, last_reason_code,"
        " last_updated_at, step_id, step_input_hash, lease_owner_id, lease_token_hash,"
        " lease_expires_at, event_count FROM os_core.work_orders_current"
        " WHERE work_order_id = 'wo-b'"
    )
    before = ledger_state(su)
    found = {
        (d["tenant_id"], d["work_order_id"], d["projection"], d["row_key"], d["difference"]): (
            d["expected"],
            d["actual"],
        )
        for d in verify(dba)
    }
    assert ledger_state(su) == before, "verify wrote something"
    assert found[(TENANT_A, "wo-2", "work_orders_current", None, "turn_id")] == ("2", "99")
    expected, actual = found[
        (TENANT_A, "wo-1", "work_order_step_attempts", "survey #2", "missing row")
    ]
    assert actual is None
    assert '"attempt_status": "STARTED"' in expected
    assert found[(TENANT_A, "wo-1", "work_order_leases", None, "lease_state")] == (
        "RELEASED",
        "ACTIVE",
    )
    assert found[(TENANT_A, "wo-1", "work_order_leases", None, "released_at")][1] is None
    assert found[(TENANT_B, "ghost", "work_orders_current", None, "unexpected row")][0] is None
    assert len(found) == 5

    # The tenant's own view of it, as the service role.
    mine = read(
        app, "SELECT * FROM os_core.work_orders_current_verify(%s::text)", [TENANT_B], TENANT_B
    )
    assert [(d["work_order_id"], d["difference"]) for d in mine] == [("ghost", "unexpected row")]


def test_rebuild_repairs_exactly_the_drifted_work_orders(
    app: psycopg.Connection, dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    mixed_history(app)
    clean = ledger_state(su)
    su.execute("UPDATE os_core.work_orders_current SET turn_id = 99 WHERE work_order_id = 'wo-2'")
    su.execute("DELETE FROM os_core.work_order_step_attempts")
    su.execute("DELETE FROM os_core.work_order_leases WHERE work_order_id = 'wo-2'")

    result = dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()").fetchone()
    assert result == (2, 3, 8, 2)  # tenants, work orders, events, work orders rewritten
    assert ledger_state(su) == clean
    assert verify(dba) == []
    assert dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()").fetchone() == (
        2,
        3,
        8,
        0,
    )


def test_a_rebuild_of_a_wiped_projection_replays_everything(
    app: psycopg.Connection, dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    mixed_history(app)
    clean = ledger_state(su)
    for table in ("work_orders_current", "work_order_step_attempts", "work_order_leases"):
        su.execute(f"DELETE FROM os_core.{table}")
    assert dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()").fetchone() == (
        2,
        3,
        8,
        3,
    )
    assert ledger_state(su) == clean


def test_past_1000_drifted_work_orders_the_rebuild_replays_the_whole_scope(
    dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    """1000 drifted work orders are rewritten one by one; 1001 make it replay all 1005.

    Each drifted work order differs in all three projections (and has two step attempts):
    it counts once. What the rebuild reports as rewritten tells the two paths apart. On
    Citus the rebuild always goes one by one (docs/scaling.md): 1001 are rewritten.
    """
    su.execute(
        """
        INSERT INTO os_core.work_order_ledger (
            tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
            reason_code, step_id, lease_owner_id, lease_token_hash, lease_expires_at, created_at
        )
        SELECT 'tenant-a', format('wo-%s', lpad(n::text, 4, '0')), n, e.turn, e.type,
            e.status, 1, e.step, e.owner, e.token, e.expires, 1000 * e.turn
        FROM generate_series(1, 1005) AS n
        CROSS JOIN (VALUES
            (1, 'WORK_ORDER_CREATED', 'DRAFT', NULL, NULL, NULL, NULL),
            (2, 'STEP_STARTED', 'EXECUTING', 'survey', 'worker-1', 'hash-1', 10000),
            (3, 'STEP_STARTED', 'EXECUTING', 'install', NULL, NULL, NULL)
        ) AS e (turn, type, status, step, owner, token, expires)
        ORDER BY e.turn, n
        """
    )
    rebuild = "SELECT * FROM os_core.work_orders_current_rebuild()"
    assert dba.execute(rebuild).fetchone() == (1, 1005, 3015, 1005)
    assert verify(dba) == []
    clean = ledger_state(su)

    for drifted, rewritten in ((1000, 1000), (1001, 1001 if CITUS else 1005)):
        last = f"wo-{drifted:04d}"
        su.execute(
            "UPDATE os_core.work_orders_current SET turn_id = 99 WHERE work_order_id <= %s",
            [last],
        )
        su.execute(
            "UPDATE os_core.work_order_step_attempts SET step_input_hash = 'x'"
            " WHERE work_order_id <= %s",
            [last],
        )
        su.execute("DELETE FROM os_core.work_order_leases WHERE work_order_id <= %s", [last])
        assert dba.execute(rebuild).fetchone() == (1, 1005, 3015, rewritten)
        assert ledger_state(su) == clean
        assert verify(dba) == []


def test_rebuild_and_verify_audit_only_when_asked(
    app: psycopg.Connection, dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    mixed_history(app)
    audit = (
        "SELECT count(*) FROM ph1j.audit_events WHERE capability <> 'OS_WORK_ORDER_LEDGER_APPEND'"
    )
    dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()")
    dba.execute("SELECT * FROM os_core.work_orders_current_verify()")
    assert su.execute(audit).fetchone() == (0,)

    su.execute("UPDATE os_core.work_orders_current SET turn_id = 99 WHERE work_order_id = 'wo-2'")
    assert (
        len(dba.execute("SELECT * FROM os_core.work_orders_current_verify(NULL, TRUE)").fetchall())
        == 1
    )
    dba.execute("SELECT * FROM os_core.work_orders_current_rebuild(p_emit_audit => TRUE)")
    rows = su.execute(
        "SELECT tenant_id, capability, outcome, details, work_order_id FROM ph1j.audit_events"
        " WHERE capability <> 'OS_WORK_ORDER_LEDGER_APPEND' ORDER BY audit_event_id"
    ).fetchall()
    assert rows == [
        (TENANT_A, "OS_WORK_ORDER_CURRENT_VERIFY", "VERIFIED", {"differences": 1}, None),
        (TENANT_B, "OS_WORK_ORDER_CURRENT_VERIFY", "VERIFIED", {"differences": 0}, None),
        (
            TENANT_A,
            "OS_WORK_ORDER_CURRENT_REBUILD",
            "REBUILT",
            {"work_orders": 2, "events": 7, "work_orders_rewritten": 1},
            None,
        ),
        (
            TENANT_B,
            "OS_WORK_ORDER_CURRENT_REBUILD",
            "REBUILT",
            {"work_orders": 1, "events": 1, "work_orders_rewritten": 0},
            None,
        ),
    ]


def test_verify_and_rebuild_of_another_tenant_need_the_dba_role(
    app: psycopg.Connection, su: psycopg.Connection
) -> None:
    mixed_history(app)
    for sql in (
        "SELECT * FROM os_core.work_orders_current_verify(%s::text)",
        "SELECT * FROM os_core.work_orders_current_rebuild(%s::text)",
    ):
        for tenant in (None, TENANT_B):
            before = ledger_state(su)
            with pytest.raises(psycopg.Error) as raised:
                read(app, sql, [tenant], TENANT_A)
            assert (raised.value.sqlstate, raised.value.diag.message_primary) == TENANT_SCOPE
            assert ledger_state(su) == before


def test_an_append_to_a_work_order_whose_current_row_is_missing_is_refused(
    app: psycopg.Connection, dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    history = History(app)
    su.execute("DELETE FROM os_core.work_orders_current WHERE work_order_id = 'wo-1'")
    # Without the check, a second WORK_ORDER_CREATED would reach the ledger for good.
    for fields in (
        event(correlation_id=999, created_at=1),
        history.next("FIELD_SET"),
    ):
        detail = refused(app, su, fields, CONTRACT)
        assert "no current row" in detail
    dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()")
    history.add("FIELD_SET")
    assert verify(dba) == []


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def test_step_attempts_are_paired_without_a_nested_loop_whatever_the_statistics(
    dba: psycopg.Connection, su: psycopg.Connection
) -> None:
    """Statistics from before a ledger had step events must not make the rebuild quadratic.

    With them, the planner estimated one row for the starts and one for the closes, and
    a pairing by join became a nested loop comparing every start with every close
    (unfinished after minutes on 1M events). The view pairs them in one window pass.
    """
    su.execute(
        """
        INSERT INTO os_core.work_order_ledger (
            tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
            reason_code, created_at
        )
        SELECT 'tenant-a', format('wo-%s', n), n, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, 1000
        FROM generate_series(1, 2000) AS n
        """
    )
    su.execute("ANALYZE os_core.work_order_ledger")  # statistics without a step event
    su.execute(
        """
        INSERT INTO os_core.work_order_ledger (
            tenant_id, work_order_id, correlation_id, turn_id, event_type, work_order_status,
            reason_code, step_id, created_at
        )
        SELECT 'tenant-a', format('wo-%s', n), n, e.turn, e.type, 'EXECUTING', 1, 'survey',
            1000 * e.turn
        FROM generate_series(1, 2000) AS n
        CROSS JOIN (VALUES (2, 'STEP_STARTED'), (3, 'STEP_FAILED'), (4, 'STEP_STARTED'))
            AS e (turn, type)
        ORDER BY e.turn, n
        """
    )
    [[plan]] = su.execute(
        "EXPLAIN (FORMAT JSON) SELECT * FROM os_core.work_order_step_attempts_from_ledger"
    ).fetchone()
    joins = ("Nested Loop", "Hash Join", "Merge Join")
    assert [n["Node Type"] for n in _plan_nodes(plan["Plan"]) if n["Node Type"] in joins] == []

    assert dba.execute("SELECT * FROM os_core.work_orders_current_rebuild()").fetchone() == (
        1,
        2000,
        8000,
        2000,
    )
    assert su.execute(
        "SELECT attempt_index, attempt_status, count(*) FROM os_core.work_order_step_attempts"
        " GROUP BY 1, 2 ORDER BY 1"
    ).fetchall() == [(1, "FAILED", 2000), (2, "STARTED", 2000)]

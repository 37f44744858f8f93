"""The set-based batch against the single append: same results, rows and refusals.

``os_core.work_order_ledger_append_many`` must do to a batch exactly what
``os_core.work_order_ledger_append`` does to its events one after another in one
transaction. Hypothesis draws histories of append attempts (``tests/test_model_based.py``'s
generator: mostly valid, refusals of every rule mixed in, replays of earlier events, the
same key again with other content), cuts each tenant's attempts into batches of random
sizes, and sends every batch twice, to two copies of the tenant:

- **single**: one transaction, ``os_core.work_order_ledger_append`` per event, rolled back
  at the first refusal;
- **batch**: one transaction, one call of ``os_core.work_order_ledger_append_many``.

Both must return the same results (event ids compared by their rank in the tenant's
ledger, replays as replays), or refuse the same event (index) with the same SQLSTATE,
message, DETAIL and HINT; after a refusal the refused event is dropped and the rest sent
again. At the end both copies' ledger, projections and audit rows must be equal, ids
again by rank. The client's ``append_many`` is checked on the refusal's ``event_index``
and on results equal to ``append``'s.

Citus runs the batch through the single append (``..._one_by_one``): the same test holds.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from selene_core_tables.errors import ContractValidationFailed, TenantScopeViolation
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.client_helpers import created
from tests.conftest import APP_ROLE, CITUS
from tests.sql_helpers import append_sql, ledger_state, set_tenant
from tests.test_model_based import EVERY_RULE, histories

Connect = Callable[..., psycopg.Connection]

MAX_EXAMPLES = 25 if CITUS else 120
APPEND_MANY_SQL = (
    "SELECT event_index, work_order_event_id, idempotency_replay"
    " FROM os_core.work_order_ledger_append_many(%s::text, %s::jsonb)"
)
EVENT_INDEX_HINT = re.compile(r"(?:\A|\n)event_index (\d+): [^\n]*\Z")

Outcome = tuple[Any, ...]


def document(attempts: list[dict[str, Any]]) -> str:
    """The batch as the function takes it; a decimal as its text (the same numeric)."""
    events = [{k: v for k, v in a.items() if k != "tenant_id"} for a in attempts]
    return json.dumps(events, default=lambda v: str(v) if isinstance(v, Decimal) else v)


def refusal(error: psycopg.Error, index: int | None) -> Outcome:
    return (
        "refused",
        index,
        error.sqlstate,
        error.diag.message_primary,
        error.diag.message_detail or None,
        error.diag.message_hint or None,
    )


def run_single(app: psycopg.Connection, tenant: str, attempts: list[dict[str, Any]]) -> Outcome:
    """The events one by one in one transaction: their results, or the first refusal."""
    results: list[tuple[int, bool]] = []
    try:
        with app.transaction():
            set_tenant(app, tenant)
            for attempt in attempts:
                query, params = append_sql({**attempt, "tenant_id": tenant})
                row = app.execute(query, params).fetchone()
                assert row is not None
                results.append((row[0], row[1]))
    except psycopg.Error as error:
        return refusal(error, len(results))
    return ("appended", tuple(results))


def run_batch(app: psycopg.Connection, tenant: str, attempts: list[dict[str, Any]]) -> Outcome:
    """The events in one call of the batch: their results, or the first refusal."""
    try:
        with app.transaction():
            set_tenant(app, tenant)
            rows = app.execute(APPEND_MANY_SQL, [tenant, document(attempts)]).fetchall()
    except psycopg.Error as error:
        hint = error.diag.message_hint or ""
        found = EVENT_INDEX_HINT.search(hint)
        assert found, f"a batch refusal without event_index: {error!r} {hint!r}"
        outcome = refusal(error, int(found.group(1)))
        return (*outcome[:5], hint[: found.start()] or None)
    assert [row[0] for row in rows] == list(range(len(attempts)))
    return ("appended", tuple((row[1], row[2]) for row in rows))


def ranks(su: psycopg.Connection, tenants: list[str]) -> dict[int, int]:
    """Each event id of the tenants' ledger -> its rank (ids differ between the copies)."""
    found = su.execute(
        "SELECT work_order_event_id FROM os_core.work_order_ledger"
        " WHERE tenant_id = ANY(%s) ORDER BY work_order_event_id",
        [tenants],
    ).fetchall()
    return {row[0]: rank for rank, row in enumerate(found)}


def comparable(outcome: Outcome, rank: dict[int, int]) -> Outcome:
    """An outcome with event ids as ranks (an id of no committed event as '?')."""
    if outcome[0] == "appended":
        return ("appended", tuple((rank.get(i, "?"), replay) for i, replay in outcome[1]))
    detail = outcome[4]
    if detail is not None:
        detail = re.sub(
            r"event (\d+)", lambda m: f"event #{rank.get(int(m.group(1)), '?')}", detail
        )
    return (*outcome[:4], detail, outcome[5])


TABLES = {
    "os_core.work_order_ledger": (
        "work_order_event_id",
        ("work_order_event_id",),
        ("paging_horizon", "paging_node_id", "recorded_at"),
    ),
    "os_core.work_orders_current": ("work_order_id", ("last_event_id",), ()),
    "os_core.work_order_step_attempts": (
        "work_order_id, step_id, attempt_index",
        ("started_event_id", "finished_event_id"),
        (),
    ),
    "os_core.work_order_leases": ("work_order_id", ("acquired_event_id", "last_event_id"), ()),
    "ph1j.audit_events": (
        "audit_event_id",
        ("work_order_event_id",),
        ("paging_horizon", "paging_node_id", "recorded_at"),
    ),
}


def rows_of(su: psycopg.Connection, tenant: str, rank: dict[int, int]) -> dict[str, list[dict]]:
    """Every row the tenant has, ids as ranks, without what differs by nature."""
    found = {}
    for table, (order, id_columns, skipped) in TABLES.items():
        rows = (
            su.cursor(row_factory=dict_row)
            .execute(f"SELECT * FROM {table} WHERE tenant_id = %s ORDER BY {order}", [tenant])
            .fetchall()
        )
        found[table] = [
            {
                column: rank.get(value) if column in id_columns and value is not None else value
                for column, value in row.items()
                if column not in (*skipped, "tenant_id", "audit_event_id")
            }
            for row in rows
        ]
    return found


def batches(attempts: list[dict[str, Any]], sizes: list[int]) -> list[list[dict[str, Any]]]:
    """Each tenant's attempts in order (tenants are independent), cut into batches."""
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_tenant.setdefault(attempt["tenant_id"], []).append(attempt)
    cut = []
    size = itertools.cycle(sizes or [5])
    for tenant_attempts in by_tenant.values():
        start = 0
        while start < len(tenant_attempts):
            length = next(size)
            cut.append(tenant_attempts[start : start + length])
            start += length
    return cut


def run_both(
    app: psycopg.Connection,
    su: psycopg.Connection,
    history: list[dict[str, Any]],
    sizes: list[int],
    prefix: str,
) -> tuple[int, int]:
    """Send every batch to both copies; returns (batches appended, refusals compared)."""
    appended = refused = 0
    for batch in batches(history, sizes):
        logical = batch[0]["tenant_id"]
        single, many = f"{prefix}s.{logical}", f"{prefix}m.{logical}"
        pending = [{k: v for k, v in a.items() if k != "tenant_id"} for a in batch]
        while pending:
            expected = run_single(app, single, pending)
            actual = run_batch(app, many, pending)
            # Ranks over both copies' tenants each, read after the calls.
            assert comparable(actual, ranks(su, [many])) == comparable(
                expected, ranks(su, [single])
            ), f"batch {pending}"
            if expected[0] == "appended":
                appended += 1
                break
            refused += 1
            del pending[expected[1]]
    for logical in sorted({attempt["tenant_id"] for attempt in history}):
        single, many = f"{prefix}s.{logical}", f"{prefix}m.{logical}"
        expected_rows = rows_of(su, single, ranks(su, [single]))
        actual_rows = rows_of(su, many, ranks(su, [many]))
        for table in TABLES:
            assert actual_rows[table] == expected_rows[table], f"{prefix}{logical}: {table}"
    return appended, refused


def test_batches_do_what_single_appends_do(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """Random batches: same results, refusals, ledger, projections and audit rows."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    examples = itertools.count()
    totals = [0, 0]

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None)
    @given(history=histories(), sizes=st.lists(st.integers(1, 16), min_size=1, max_size=6))
    @example(history=[attempt for _, attempt in EVERY_RULE], sizes=[50])
    @example(history=[attempt for _, attempt in EVERY_RULE], sizes=[3, 1, 7])
    def agrees(history: list[dict[str, Any]], sizes: list[int]) -> None:
        appended, refused = run_both(app, postgresql, history, sizes, f"am{next(examples)}")
        totals[0] += appended
        totals[1] += refused

    agrees()
    print(f"batches appended: {totals[0]}, refusals compared: {totals[1]}")
    assert totals[0] > MAX_EXAMPLES and totals[1] > MAX_EXAMPLES // 2


def test_a_batch_with_a_replay_of_its_own_event_and_a_bound_correlation(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """Within one batch: a replay of an earlier event, then a creation whose id is taken."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    first = {
        "work_order_id": "wo-1", "correlation_id": 7, "turn_id": 1,
        "event_type": "WORK_ORDER_CREATED", "work_order_status": "DRAFT", "reason_code": 1,
        "created_at": 10, "idempotency_key": "k1", "payload": {"a": 1},
    }  # fmt: skip
    replay = {**first, "created_at": 11, "payload": {"a": 1}}
    other = {**first, "work_order_id": "wo-2", "idempotency_key": None}
    for tenant, run in (("x-single", run_single), ("x-batch", run_batch)):
        outcome = run(app, tenant, [first, replay, other])
        assert outcome[0] == "refused" and outcome[1] == 2, outcome
        assert outcome[4] == "correlation_id 7 is already bound to work order 'wo-1' of this tenant"
        outcome = run(app, tenant, [first, replay])
        assert outcome[0] == "appended"
        assert outcome[1][0] == (outcome[1][1][0], True) or outcome[1][1] == (
            outcome[1][0][0],
            True,
        )
    audit = postgresql.execute(
        "SELECT outcome, replay_created_at FROM ph1j.audit_events"
        " WHERE tenant_id = 'x-batch' ORDER BY audit_event_id"
    ).fetchall()
    assert audit == [("APPENDED", None), ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", 11)]
    # Each audit row has the horizon os_core.audit_read pages by, read after its id was
    # drawn: at least one above the transaction's own xid, as a ledger event's.
    horizons = postgresql.execute(
        "SELECT a.paging_horizon >= l.paging_horizon, a.paging_node_id = os_core.node_id()"
        " FROM ph1j.audit_events AS a JOIN os_core.work_order_ledger AS l"
        " USING (tenant_id, work_order_event_id) WHERE a.tenant_id = 'x-batch'"
    ).fetchall()
    assert horizons == [(True, True), (True, True)]


@pytest.mark.parametrize("payload", [[], [["a", 1]], "text", 7], ids=repr)
def test_a_payload_that_is_not_an_object_is_refused_by_the_clients_batch_as_alone(
    postgresql: psycopg.Connection, connect: Connect, payload: Any
) -> None:
    """Found by the fuzz: the client's batch once sent a list dict() takes ([] -> {})."""
    postgresql.autocommit = True
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    event = created(payload=payload)
    with pytest.raises(ContractValidationFailed) as alone:
        repo.append(event)
    with pytest.raises(ContractValidationFailed) as batch:
        repo.append_many([event, created("wo-2")])
    assert batch.value.event_index == 0
    assert (batch.value.sqlstate, batch.value.detail) == (alone.value.sqlstate, alone.value.detail)
    assert ledger_state(postgresql).ledger_rows == 0


def test_a_batch_refuses_a_drifted_work_order_as_the_single_append_does(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """A work order with events but no current row: the first event on it is refused."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    first = {
        "work_order_id": "wo-1", "correlation_id": 7, "turn_id": 1,
        "event_type": "WORK_ORDER_CREATED", "work_order_status": "DRAFT", "reason_code": 1,
        "created_at": 10, "idempotency_key": "k1",
    }  # fmt: skip
    following = {**first, "event_type": "FIELD_SET", "idempotency_key": None, "created_at": 12}
    outcomes = []
    for tenant in ("d-single", "d-batch"):
        assert run_single(app, tenant, [first])[0] == "appended"
        postgresql.execute("DELETE FROM os_core.work_orders_current WHERE tenant_id = %s", [tenant])
    outcomes = [
        run_single(app, "d-single", [first, following]),
        run_batch(app, "d-batch", [first, following]),
    ]
    assert outcomes[0][0] == "refused" and outcomes[0][1] == 1
    assert outcomes[1][2:] == outcomes[0][2:] and outcomes[1][1] == 1


def test_the_client_names_the_refused_event_and_keeps_the_single_hint(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """StorageError.event_index from the batch; its HINT and DETAIL are the single append's."""
    postgresql.autocommit = True
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    step = created("wo-1", idempotency_key=None)
    batch = [
        step,
        WorkOrderLedgerEventInput(
            **{**step.to_dict(), "event_type": "STEP_FINISHED", "step_id": "s",
               "work_order_status": "EXECUTING"}
        ),
    ]  # fmt: skip
    with pytest.raises(ContractValidationFailed) as caught:
        repo.append_many(batch)
    assert caught.value.event_index == 1
    assert caught.value.detail == (
        "STEP_FINISHED for step 's' of work order 'wo-1', which has no open attempt"
    )
    assert caught.value.hint == "append STEP_STARTED for the step first"
    assert ledger_state(postgresql).ledger_rows == 0

    with pytest.raises(ContractValidationFailed) as caught:
        repo.append_many([step, created("wo-2", reason_code=0)])
    assert caught.value.event_index == 1
    assert caught.value.hint is None

    results = repo.append_many([step, created("wo-2", correlation_id=43)])
    assert [result.idempotency_replay for result in results] == [False, False]
    assert results[0].work_order_event_id < results[1].work_order_event_id


def test_a_batch_without_the_tenant_declared_is_refused_at_its_first_event(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    with pytest.raises(psycopg.Error) as caught:
        app.execute(APPEND_MANY_SQL, ["tenant-a", document([{"work_order_id": "wo-1"}])])
    assert caught.value.sqlstate == TenantScopeViolation.sqlstate_code
    assert caught.value.diag.message_detail == "no tenant is declared in this transaction"
    hint = caught.value.diag.message_hint or ""
    assert hint.startswith("call os_core.set_tenant(")
    assert EVENT_INDEX_HINT.search(hint) and EVENT_INDEX_HINT.search(hint).group(1) == "0"


def test_a_stored_correlation_binding_is_refused_before_a_later_refusal(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """Found by the insert, not in memory: still the batch's first refused event."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    first = {
        "work_order_id": "wo-1", "correlation_id": 7, "turn_id": 1,
        "event_type": "WORK_ORDER_CREATED", "work_order_status": "DRAFT", "reason_code": 1,
        "created_at": 10,
    }  # fmt: skip
    taken = {**first, "work_order_id": "wo-2"}
    missing = {**first, "work_order_id": "wo-3", "event_type": "FIELD_SET"}
    fine = {**first, "work_order_id": "wo-4", "correlation_id": 8}
    outcomes = []
    for tenant, run in (("c-single", run_single), ("c-batch", run_batch)):
        assert run(app, tenant, [first])[0] == "appended"
        outcomes.append(run(app, tenant, [fine, taken, missing]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][1] == 1
    assert outcomes[1][4] == "correlation_id 7 is already bound to work order 'wo-1' of this tenant"

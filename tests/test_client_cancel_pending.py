"""WORKORDER_CANCEL and WORKORDER_LIST_PENDING through both repositories, as selene_os.

Every refusal is checked for its class, SQLSTATE and reason code, and for having
written nothing (ledger, projection and audit trail, seen by the superuser). Every test
runs on WorkOrderRepository and on AsyncWorkOrderRepository (tests/client_flavors.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from selene_core_tables.errors import (
    CancelInvalidState,
    ContractValidationFailed,
    StorageError,
    TenantScopeViolation,
    storage_errors,
)
from selene_core_tables.records import (
    CancelResult,
    WorkEventType,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
)
from selene_core_tables.repository import WorkOrderRepository
from tests.client_helpers import created
from tests.conftest import APP_ROLE
from tests.sql_helpers import TENANT_A, TENANT_B, WAIT_SECONDS, ledger_state, wait_until_blocked

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]
pytestmark = pytest.mark.timeout(120)

Connect = Callable[..., psycopg.Connection]
# A session that waits longer than this on a lock fails instead of hanging.
LOCK_TIMEOUT = "-c lock_timeout=30s"


def moved(
    first: WorkOrderLedgerEventInput, status: WorkOrderStatus, created_at: int
) -> WorkOrderLedgerEventInput:
    """The STATUS_CHANGED event that moves ``first`` to ``status`` at ``created_at``."""
    return WorkOrderLedgerEventInput(
        tenant_id=first.tenant_id,
        work_order_id=first.work_order_id,
        correlation_id=first.correlation_id,
        turn_id=2,
        event_type=WorkEventType.STATUS_CHANGED,
        work_order_status=status,
        reason_code=2,
        created_at=created_at,
    )


def cancel_fields(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments of a valid cancel; ``overrides`` replace them."""
    fields: dict[str, Any] = {
        "reason_code": 77,
        "idempotency_key": "cancel-1",
        "created_at": 5_000,
        "turn_id": 9,
    }
    fields.update(overrides)
    return fields


def assert_refused(
    raised: pytest.ExceptionInfo[StorageError], cls: type[StorageError], sqlstate: str
) -> None:
    error = raised.value
    assert type(error) is cls
    assert error.sqlstate == sqlstate == cls.sqlstate_code
    assert error.reason_code == cls.reason_code
    assert str(error).startswith(f"{cls.reason_code}: ")
    assert error.detail
    assert isinstance(error.__cause__, psycopg.Error)


@pytest.fixture
def app_conn(client: Client) -> psycopg.Connection:
    return client.connect(APP_ROLE, autocommit=True)


@pytest.fixture
def repo(client: Client, app_conn: psycopg.Connection) -> WorkOrderRepository:
    return client.repository(app_conn)


# --- cancel -------------------------------------------------------------------------------


def test_cancel_appends_the_canceled_event_and_current_follows(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    first = created()
    appended = repo.append(first)

    result = repo.cancel(TENANT_A, "wo-1", **cancel_fields())
    assert result == CancelResult("wo-1", WorkOrderStatus.CANCELED, result.last_event_id)
    assert result.work_order_status is WorkOrderStatus.CANCELED
    assert result.last_event_id > appended.work_order_event_id

    record = repo.current(TENANT_A, "wo-1")
    assert record is not None
    assert (
        record.work_order_status,
        record.last_event_id,
        record.last_reason_code,
        record.last_updated_at,
        record.turn_id,
        record.correlation_id,
        record.event_count,
    ) == (WorkOrderStatus.CANCELED, result.last_event_id, 77, 5_000, 9, first.correlation_id, 2)

    [_, cancel] = repo.ledger(TENANT_A, "wo-1")
    assert cancel.work_order_event_id == result.last_event_id
    assert (cancel.event_type, cancel.work_order_status) == (
        WorkEventType.WORK_ORDER_CANCELED,
        WorkOrderStatus.CANCELED,
    )
    assert (cancel.correlation_id, cancel.idempotency_key) == (first.correlation_id, "cancel-1")

    state = ledger_state(su)
    assert (state.ledger_rows, state.current_rows, state.audit_rows) == (2, 1, 2)
    audit = su.execute(
        "SELECT outcome, event_type, work_order_event_id FROM ph1j.audit_events"
        " ORDER BY audit_event_id DESC LIMIT 1"
    ).fetchone()
    assert audit == ("APPENDED", "WORK_ORDER_CANCELED", result.last_event_id)


def test_a_replayed_cancel_returns_the_same_result_and_writes_only_an_audit_row(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    repo.append(created())
    first = repo.cancel(TENANT_A, "wo-1", **cancel_fields())
    before = ledger_state(su)

    assert repo.cancel(TENANT_A, "wo-1", **cancel_fields()) == first

    after = ledger_state(su)
    assert (after.ledger_rows, after.current, after.audit_rows) == (
        before.ledger_rows,
        before.current,
        before.audit_rows + 1,
    )
    audit = su.execute(
        "SELECT outcome, work_order_event_id FROM ph1j.audit_events"
        " ORDER BY audit_event_id DESC LIMIT 1"
    ).fetchone()
    assert audit == ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", first.last_event_id)


def test_a_cancel_retried_with_a_later_created_at_is_a_replay_of_the_first(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    """A retry re-stamps its clock: the first cancel's result and created_at stand."""
    repo.append(created())
    first = repo.cancel(TENANT_A, "wo-1", **cancel_fields())
    before = ledger_state(su)

    assert repo.cancel(TENANT_A, "wo-1", **cancel_fields(created_at=5_001)) == first

    after = ledger_state(su)
    assert (after.ledger_rows, after.current, after.audit_rows) == (
        before.ledger_rows,
        before.current,
        before.audit_rows + 1,
    )
    record = repo.current(TENANT_A, "wo-1")
    assert record is not None
    assert record.last_updated_at == 5_000
    audit = su.execute(
        "SELECT outcome, work_order_event_id, replay_created_at FROM ph1j.audit_events"
        " ORDER BY audit_event_id DESC LIMIT 1"
    ).fetchone()
    assert audit == ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", first.last_event_id, 5_001)


def test_a_replay_key_with_other_content_is_a_contract_violation(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    repo.append(created())
    repo.cancel(TENANT_A, "wo-1", **cancel_fields())
    before = ledger_state(su)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.cancel(TENANT_A, "wo-1", **cancel_fields(reason_code=78))
    assert_refused(raised, ContractValidationFailed, "SE004")
    assert raised.value.detail is not None
    assert "reason_code" in raised.value.detail
    assert ledger_state(su) == before


@pytest.mark.parametrize(
    "status",
    [
        WorkOrderStatus.DONE,
        WorkOrderStatus.REFUSED,
        WorkOrderStatus.FAILED,
        WorkOrderStatus.CANCELED,
    ],
)
def test_a_cancel_of_a_terminal_work_order_is_refused_and_writes_nothing(
    repo: WorkOrderRepository, su: psycopg.Connection, status: WorkOrderStatus
) -> None:
    first = created()
    repo.append(first)
    if status is WorkOrderStatus.CANCELED:
        repo.cancel(TENANT_A, "wo-1", **cancel_fields(idempotency_key="cancel-0"))
    else:
        repo.append(moved(first, status, 2_000))
    before = ledger_state(su)

    with pytest.raises(CancelInvalidState) as raised:
        repo.cancel(TENANT_A, "wo-1", **cancel_fields())
    assert_refused(raised, CancelInvalidState, "SE005")
    assert raised.value.exit_code == 15
    assert raised.value.detail is not None
    assert status.value in raised.value.detail
    assert ledger_state(su) == before


def test_bad_arguments_are_refused_before_the_state(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    first = created()
    repo.append(first)
    repo.append(moved(first, WorkOrderStatus.DONE, 2_000))
    before = ledger_state(su)
    for overrides, field in (
        ({"reason_code": 0}, "reason_code"),
        ({"reason_code": 2**32}, "reason_code"),
        ({"turn_id": 0}, "turn_id"),
        ({"created_at": 0}, "created_at"),
        ({"idempotency_key": " "}, "idempotency_key"),
        ({"idempotency_key": None}, "idempotency_key"),
    ):
        with pytest.raises(ContractValidationFailed) as raised:
            repo.cancel(TENANT_A, "wo-1", **cancel_fields(**overrides))
        assert_refused(raised, ContractValidationFailed, "SE004")
        assert raised.value.detail is not None
        assert field in raised.value.detail, overrides
    assert ledger_state(su) == before


def test_a_cancel_of_a_missing_work_order_is_a_contract_violation(
    repo: WorkOrderRepository, su: psycopg.Connection
) -> None:
    repo.append(created(tenant_id=TENANT_B, work_order_id="wo-b"))
    before = ledger_state(su)
    for tenant_id, work_order_id in ((TENANT_A, "wo-404"), (TENANT_A, "wo-b")):
        with pytest.raises(ContractValidationFailed) as raised:
            repo.cancel(tenant_id, work_order_id, **cancel_fields())
        assert_refused(raised, ContractValidationFailed, "SE004")
        assert raised.value.detail is not None
        assert "does not exist" in raised.value.detail
    assert ledger_state(su) == before


def test_a_cancel_under_another_tenant_is_a_scope_violation(
    repo: WorkOrderRepository, app_conn: psycopg.Connection, su: psycopg.Connection
) -> None:
    repo.append(created(tenant_id=TENANT_B, work_order_id="wo-b"))
    before = ledger_state(su)
    cancel_b = (
        "SELECT * FROM os_core.work_order_cancel(%s::text, 'wo-b', 1::bigint, 'k'::text,"
        " 5000::bigint, 2::bigint)"
    )
    # Joined to a transaction of tenant-a: the repository's call declares tenant-a,
    # the raw call in the same transaction names tenant-b.
    with (
        pytest.raises(TenantScopeViolation) as raised,
        storage_errors(),
        app_conn.transaction(),
    ):
        assert repo.current(TENANT_A, "wo-b") is None
        app_conn.execute(cancel_b, [TENANT_B])
    assert_refused(raised, TenantScopeViolation, "SE003")

    with pytest.raises(TenantScopeViolation) as undeclared, storage_errors():
        app_conn.execute(cancel_b, [TENANT_B])
    assert_refused(undeclared, TenantScopeViolation, "SE003")
    assert ledger_state(su) == before


# --- two cancels racing -------------------------------------------------------------------


@pytest.fixture
def worker() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


@pytest.mark.single_node(
    "watches the coordinator's backends for a lock wait that happens on a worker"
)
@pytest.mark.parametrize("first_commits", [True, False], ids=["commit", "rollback"])
def test_two_racing_cancels_one_work_order_exactly_one_wins(
    client: Client,
    connect: Connect,
    su: psycopg.Connection,
    worker: ThreadPoolExecutor,
    first_commits: bool,
) -> None:
    """A cancels and holds its transaction open; B's cancel (another key) waits on A's
    work-order lock, then reads the status A left: CANCELED (SE005), or DRAFT when A
    rolled back (B cancels)."""
    a_conn = client.connect(APP_ROLE, autocommit=True, options=LOCK_TIMEOUT)
    b_conn = client.connect(APP_ROLE, autocommit=True, options=LOCK_TIMEOUT)
    observer = connect(autocommit=True)
    a, b = client.repository(a_conn), client.repository(b_conn)
    a.append(created())

    b_fields = cancel_fields(idempotency_key="cancel-b", reason_code=88, turn_id=10)
    with a_conn.transaction():
        a_result = a.cancel(TENANT_A, "wo-1", **cancel_fields(idempotency_key="cancel-a"))
        b_future = worker.submit(b.cancel, TENANT_A, "wo-1", **b_fields)
        wait_until_blocked(observer, b_conn.info.backend_pid, "advisory", "advisory")
        assert not b_future.done()
        if not first_commits:
            raise psycopg.Rollback()

    if first_commits:
        with pytest.raises(CancelInvalidState) as raised:
            b_future.result(timeout=WAIT_SECONDS)
        assert_refused(raised, CancelInvalidState, "SE005")
        winner, key = a_result, "cancel-a"
    else:
        winner, key = b_future.result(timeout=WAIT_SECONDS), "cancel-b"
    assert winner.work_order_status is WorkOrderStatus.CANCELED
    state = ledger_state(su)
    assert (state.ledger_rows, state.current_rows, state.audit_rows) == (2, 1, 2)
    cancels = su.execute(
        "SELECT work_order_event_id, idempotency_key FROM os_core.work_order_ledger"
        " WHERE event_type = 'WORK_ORDER_CANCELED'"
    ).fetchall()
    assert cancels == [(winner.last_event_id, key)]
    record = client.repository(a_conn).current(TENANT_A, "wo-1")
    assert record is not None
    assert (record.work_order_status, record.last_event_id) == (
        WorkOrderStatus.CANCELED,
        winner.last_event_id,
    )


# --- list_pending -------------------------------------------------------------------------


@pytest.fixture
def listed(repo: WorkOrderRepository) -> WorkOrderRepository:
    """Work orders (status@last_updated_at) of tenant-a: a DRAFT@100, b CLARIFY@300,
    c CONFIRM@200, d DRAFT@300, e EXECUTING@400, f DONE@500, g CANCELED@600; of
    tenant-b: x DRAFT@900."""
    wo = {name: created(name, created_at=10) for name in "abcdefg"}
    repo.append_many(wo.values())
    repo.append_many(
        [
            moved(wo["a"], WorkOrderStatus.DRAFT, 100),
            moved(wo["b"], WorkOrderStatus.CLARIFY, 300),
            moved(wo["c"], WorkOrderStatus.CONFIRM, 200),
            moved(wo["d"], WorkOrderStatus.DRAFT, 300),
            moved(wo["e"], WorkOrderStatus.EXECUTING, 400),
            moved(wo["f"], WorkOrderStatus.DONE, 500),
        ]
    )
    repo.cancel(TENANT_A, "g", **cancel_fields(created_at=600))
    repo.append(created("x", tenant_id=TENANT_B, created_at=900))
    return repo


def ids(records: list[Any]) -> list[str]:
    return [record.work_order_id for record in records]


def test_list_pending_lists_the_pending_newest_first(listed: WorkOrderRepository) -> None:
    pending = listed.list_pending(TENANT_A)
    assert ids(pending) == ["b", "d", "c", "a"]
    assert [record.last_updated_at for record in pending] == [300, 300, 200, 100]
    assert all(record.tenant_id == TENANT_A for record in pending)
    assert pending == [listed.current(TENANT_A, record.work_order_id) for record in pending]
    assert ids(listed.list_pending(TENANT_B)) == ["x"]


def test_list_pending_filters_by_status_recency_and_limit(listed: WorkOrderRepository) -> None:
    assert ids(listed.list_pending(TENANT_A, limit=2)) == ["b", "d"]
    assert ids(listed.list_pending(TENANT_A, updated_after=200)) == ["b", "d"]
    assert ids(listed.list_pending(TENANT_A, updated_after=199)) == ["b", "d", "c"]
    assert listed.list_pending(TENANT_A, updated_after=300) == []
    terminal = [WorkOrderStatus.DONE, "CANCELED", WorkOrderStatus.EXECUTING]
    assert ids(listed.list_pending(TENANT_A, statuses=terminal)) == ["g", "f", "e"]
    assert ids(listed.list_pending(TENANT_A, statuses=("DRAFT", "DRAFT"), limit=1000)) == [
        "d",
        "a",
    ]
    assert ids(listed.list_pending(TENANT_A, statuses=["CONFIRM"], updated_after=150)) == ["c"]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"statuses": []}, "statuses"),
        ({"statuses": ["DRAFT", "PENDING"]}, "'PENDING'"),
        ({"statuses": ["draft"]}, "'draft'"),
    ],
)
def test_list_pending_refuses_bad_arguments(
    listed: WorkOrderRepository, su: psycopg.Connection, arguments: dict[str, Any], named: str
) -> None:
    before = ledger_state(su)
    with pytest.raises(ContractValidationFailed) as raised:
        listed.list_pending(TENANT_A, **arguments)
    assert_refused(raised, ContractValidationFailed, "SE004")
    assert raised.value.detail is not None
    assert named in raised.value.detail
    assert ledger_state(su) == before


@pytest.mark.single_node("reads the plan of the function's query on the server that runs it")
def test_list_pending_is_served_by_the_index(su: psycopg.Connection) -> None:
    """On 20000 work orders of 10 tenants, each status is one ordered index scan."""
    su.execute(
        """
        INSERT INTO os_core.work_orders_current (
            tenant_id, work_order_id, schema_version, correlation_id, turn_id,
            work_order_status, last_event_id, last_reason_code, last_updated_at, event_count)
        SELECT 'tenant-' || g % 10, 'wo-' || g, 1, g, 1,
            (ARRAY['DRAFT', 'CLARIFY', 'CONFIRM', 'EXECUTING', 'DONE', 'DONE', 'DONE',
                'CANCELED'])[1 + (g / 10) % 8],
            g, 1, 1 + (g * 7919) % 1000003, 1
        FROM generate_series(1, 20000) AS g
        """
    )
    su.execute("ANALYZE os_core.work_orders_current")
    plans: list[str] = []
    su.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    su.execute("LOAD 'auto_explain'")
    for setting in (
        "auto_explain.log_min_duration = 0",
        "auto_explain.log_nested_statements = on",
        "auto_explain.log_level = notice",
        "client_min_messages = notice",
    ):
        su.execute(f"SET {setting}")
    for mode in ("force_custom_plan", "force_generic_plan"):
        plans.clear()
        with su.transaction():
            su.execute(f"SET LOCAL plan_cache_mode = {mode}")
            su.execute("SELECT os_core.set_tenant('tenant-3')")
            rows = su.execute(
                "SELECT work_order_id FROM os_core.work_orders_list_pending("
                "p_tenant_id => 'tenant-3', p_updated_after => 1000::bigint)"
            ).fetchall()
        assert len(rows) == 50
        [plan] = [text for text in plans if "FROM os_core.work_orders_current AS c" in text]
        assert "Index Scan using work_orders_current_by_status" in plan, plan
        assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
        index_cond = plan.split("Index Cond: ", 1)[1].splitlines()[0]
        assert "work_order_status" in index_cond and "last_updated_at" in index_cond, plan

"""WorkOrderRepository and AsyncWorkOrderRepository against the real database, as selene_os.

Every test runs twice (tests/client_flavors.py): on the sync repository, and on the async
one over a real AsyncConnection or AsyncConnectionPool, driven from the test's thread.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from selene_core_tables.errors import (
    AppendOnlyViolation,
    ContractValidationFailed,
    IdempotencyReplay,
    TenantScopeViolation,
    storage_errors,
)
from selene_core_tables.records import (
    AppendResult,
    RebuildResult,
    WorkEventType,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
)
from selene_core_tables.repository import WorkOrderRepository
from tests.client_helpers import created
from tests.conftest import APP_ROLE, DBA_ROLE, conninfo
from tests.sql_helpers import TENANT_A, TENANT_B, ledger_state

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]

U128_MAX = 2**128 - 1


def then(previous: WorkOrderLedgerEventInput, **fields: Any) -> WorkOrderLedgerEventInput:
    """The next event of the same work order: ``previous`` with ``fields`` replaced."""
    return dataclasses.replace(previous, idempotency_key=None, payload=None, **fields)


@pytest.fixture
def app_conn(client: Client) -> psycopg.Connection:
    return client.connect(APP_ROLE, autocommit=True)


@pytest.fixture
def repo(client: Client, app_conn: psycopg.Connection) -> WorkOrderRepository:
    return client.repository(app_conn)


def test_append_returns_the_event_id_and_current_follows(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    first = created()
    appended = repo.append(first)
    assert appended == AppendResult(appended.work_order_event_id, idempotency_replay=False)

    moved = repo.append(
        then(first, event_type="STATUS_CHANGED", work_order_status="CONFIRM", created_at=2_000)
    )
    record = repo.current(TENANT_A, "wo-1")
    assert record is not None
    assert record.work_order_status is WorkOrderStatus.CONFIRM
    assert record.last_event_id == moved.work_order_event_id > appended.work_order_event_id
    assert record.last_updated_at == 2_000
    assert record.event_count == 2
    assert repo.current(TENANT_A, "no-such-work-order") is None
    assert ledger_state(postgresql).ledger_rows == 2


def test_an_accepted_event_round_trips_through_the_ledger_read(repo: WorkOrderRepository) -> None:
    full = created(
        correlation_id=U128_MAX,
        turn_id=2**63 - 1,
        reason_code=2**32 - 1,
        step_id="step-ü",
        step_input_hash="in-hash",
        lease_owner_id="worker-1",
        lease_token_hash="token-hash",
        lease_expires_at=9_000,
        idempotency_key="create-1",
        payload={"fields": {"site": "berlin", "n": [1, 2.5, None, True]}},
    )
    appended = repo.append(full)
    [stored] = repo.ledger(TENANT_A, "wo-1")
    assert stored.work_order_event_id == appended.work_order_event_id
    sent = full.to_dict()
    received = stored.to_dict()
    assert {key: received[key] for key in sent} == sent
    assert isinstance(stored.event_type, WorkEventType)


def test_a_replay_is_reported_and_writes_only_an_audit_row(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    event = created(idempotency_key="create-1")
    first = repo.append(event)
    again = repo.append(event)
    assert again == AppendResult(first.work_order_event_id, idempotency_replay=True)

    with pytest.raises(IdempotencyReplay) as raised:
        repo.append(event, replay_is_error=True)
    assert raised.value.work_order_event_id == first.work_order_event_id
    assert raised.value.sqlstate == "SE002"
    assert str(raised.value).startswith("OS_WORK_ORDER_IDEMPOTENCY_REPLAY: ")

    state = ledger_state(postgresql)
    assert (state.ledger_rows, state.audit_rows) == (1, 3)


def test_at_os_core_db_03_the_same_event_one_nanosecond_later_is_a_replay(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    """AT-OS-CORE-DB-03 as written: the same event and key again, re-stamped 1 ns later.

    A retry re-stamps its clock: the original id comes back as a replay, the ledger holds
    one row with the original created_at, and the replay's audit row records the created_at
    the retry carried.
    """
    event = created(idempotency_key="db-03", created_at=1_700_000_000_000_000_000)
    first = repo.append(event)
    assert first.idempotency_replay is False

    retried = repo.append(dataclasses.replace(event, created_at=event.created_at + 1))

    assert retried == AppendResult(first.work_order_event_id, idempotency_replay=True)
    [stored] = repo.ledger(TENANT_A, "wo-1")
    assert (stored.work_order_event_id, stored.created_at) == (
        first.work_order_event_id,
        event.created_at,
    )
    record = repo.current(TENANT_A, "wo-1")
    assert record is not None
    assert (record.last_updated_at, record.event_count) == (event.created_at, 1)
    audit = postgresql.execute(
        "SELECT outcome, work_order_event_id, replay_created_at FROM ph1j.audit_events"
        " WHERE tenant_id = %s ORDER BY audit_event_id",
        [TENANT_A],
    ).fetchall()
    assert audit == [
        ("APPENDED", first.work_order_event_id, None),
        ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", first.work_order_event_id, event.created_at + 1),
    ]


def test_a_re_stamped_retry_with_another_difference_is_refused_naming_that_field(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    event = created(idempotency_key="db-03")
    first = repo.append(event)
    before = ledger_state(postgresql)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.append(dataclasses.replace(event, created_at=event.created_at + 1, reason_code=2))
    detail = raised.value.detail
    assert detail is not None
    assert str(first.work_order_event_id) in detail
    assert "reason_code" in detail
    assert "created_at" not in detail
    assert ledger_state(postgresql) == before


def test_a_contract_violation_raises_its_class_and_writes_nothing(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    before = ledger_state(postgresql)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.append(created(event_type="NOT_A_TYPE"))
    error = raised.value
    assert error.sqlstate == "SE004"
    assert error.reason_code == "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED"
    assert error.detail is not None
    assert "event_type" in error.detail
    assert isinstance(error.__cause__, psycopg.Error)
    assert ledger_state(postgresql) == before


def test_an_expected_event_count_that_is_stale_is_refused(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    first = created()
    repo.append(first, expected_event_count=0)
    step = then(first, event_type="FIELD_SET", created_at=1_500)
    repo.append(step, expected_event_count=1)
    before = ledger_state(postgresql)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.append(then(step, created_at=1_600), expected_event_count=1)
    assert raised.value.detail is not None
    assert "expected_event_count" in raised.value.detail
    assert ledger_state(postgresql) == before


def test_rebuilding_every_tenant_needs_the_dba_role(
    repo: WorkOrderRepository, client: Client, postgresql: psycopg.Connection
) -> None:
    repo.append(created())
    repo.append(created(tenant_id=TENANT_B, work_order_id="wo-b"))
    with pytest.raises(TenantScopeViolation) as raised:
        repo.rebuild()
    assert raised.value.sqlstate == "SE003"

    assert repo.rebuild(TENANT_A) == RebuildResult(1, 1, 1, 0)
    dba = client.repository(client.connect(DBA_ROLE, autocommit=True))
    before = ledger_state(postgresql)
    assert dba.rebuild() == RebuildResult(2, 2, 2, 0)
    assert ledger_state(postgresql) == before


def test_postgres_refusals_map_to_the_same_classes(
    client: Client, app_conn: psycopg.Connection, postgresql: psycopg.Connection
) -> None:
    client.repository(app_conn).append(created())
    with pytest.raises(TenantScopeViolation) as scope, storage_errors():
        app_conn.execute("SELECT * FROM os_core.work_order_ledger")
    assert scope.value.sqlstate == "42501"

    with pytest.raises(AppendOnlyViolation) as append_only, storage_errors():
        postgresql.execute("UPDATE os_core.work_order_ledger SET turn_id = 2")
    assert append_only.value.sqlstate == "SE001"
    postgresql.rollback()
    assert ledger_state(postgresql).ledger_rows == 1


def test_append_many_returns_results_in_order_with_each_replay(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    existing = created("wo-0", idempotency_key="create-0")
    original = repo.append(existing)
    batch = [created(f"wo-{n}", idempotency_key=f"create-{n}") for n in range(1, 6)]
    batch.insert(2, existing)
    batch.append(then(batch[0], event_type="FIELD_SET", created_at=1_100))

    results = repo.append_many(batch)
    assert [result.idempotency_replay for result in results] == [
        False, False, True, False, False, False, False
    ]  # fmt: skip
    assert results[2].work_order_event_id == original.work_order_event_id
    fresh = [r.work_order_event_id for r in results if not r.idempotency_replay]
    assert fresh == sorted(fresh)
    assert len(set(fresh)) == 6
    # The order is the ledger's: each result is the id of the event sent at its position.
    by_id = {event.work_order_event_id: event for event in repo.ledger(TENANT_A)}
    for sent, result in zip(batch, results, strict=True):
        stored = by_id[result.work_order_event_id]
        assert (stored.work_order_id, stored.event_type) == (sent.work_order_id, sent.event_type)
    assert ledger_state(postgresql).ledger_rows == 7


def test_a_refused_event_aborts_its_whole_batch_and_is_named(
    repo: WorkOrderRepository, app_conn: psycopg.Connection, postgresql: psycopg.Connection
) -> None:
    batch = [created(f"wo-{n}") for n in range(6)]
    batch[4] = created("wo-4", reason_code=0)
    before = ledger_state(postgresql)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.append_many(batch)
    assert raised.value.event_index == 4
    assert raised.value.detail is not None
    assert "reason_code" in raised.value.detail
    assert ledger_state(postgresql) == before
    # The connection is usable afterwards.
    assert len(repo.append_many(batch[:4])) == 4


def test_an_event_the_client_refuses_before_sending_is_named_in_its_batch(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    batch = [created(f"wo-{n}") for n in range(3)]
    batch[2] = created("wo-2", turn_id=2**63)  # beyond bigint: refused before any round trip
    before = ledger_state(postgresql)
    with pytest.raises(ContractValidationFailed) as raised:
        repo.append_many(batch)
    assert raised.value.event_index == 2
    assert "turn_id" in (raised.value.detail or "")
    assert ledger_state(postgresql) == before


def test_append_many_takes_one_tenant_per_batch(
    repo: WorkOrderRepository, postgresql: psycopg.Connection
) -> None:
    assert repo.append_many([]) == []
    with pytest.raises(ValueError, match="one tenant"):
        repo.append_many([created("wo-1"), created("wo-2", tenant_id=TENANT_B)])
    assert ledger_state(postgresql).ledger_rows == 0


def test_the_ledger_iterator_pages_across_boundaries(repo: WorkOrderRepository) -> None:
    batch = [created(f"wo-{n:02d}") for n in range(23)]
    ids = [result.work_order_event_id for result in repo.append_many(batch)]
    repo.append(created("wo-b", tenant_id=TENANT_B))

    for page_size in (1, 5, 10, 23, 24, 1000):
        seen = [event.work_order_event_id for event in repo.ledger(TENANT_A, page_size=page_size)]
        assert seen == ids, page_size
    assert [e.work_order_event_id for e in repo.ledger(TENANT_A, after=ids[9], page_size=4)] == (
        ids[10:]
    )
    assert [e.work_order_id for e in repo.ledger(TENANT_A, "wo-07")] == ["wo-07"]
    with pytest.raises(ContractValidationFailed):
        repo.ledger_page(TENANT_A, limit=0)


def test_calls_join_the_callers_transaction(
    client: Client, app_conn: psycopg.Connection, postgresql: psycopg.Connection
) -> None:
    repo = client.repository(app_conn)
    with pytest.raises(RuntimeError), app_conn.transaction():
        repo.append(created("wo-1"))
        repo.append(created("wo-2"))
        assert repo.current(TENANT_A, "wo-2") is not None
        raise RuntimeError("the caller gives up")
    assert ledger_state(postgresql).ledger_rows == 0


@pytest.fixture
def pool(client: Client, postgresql_proc: Any, dbname: str) -> Any:
    """A ConnectionPool, or an AsyncConnectionPool in the async flavor."""
    return client.pool(conninfo(postgresql_proc, dbname, APP_ROLE), min_size=1, max_size=2)


def test_a_pool_serves_every_capability(client: Client, pool: Any) -> None:
    repo = client.repository(pool)
    first = repo.append(created())
    results = repo.append_many([created("wo-2"), created("wo-3")])
    record = repo.current(TENANT_A, "wo-3")
    assert record is not None
    assert record.last_event_id == results[1].work_order_event_id
    assert len(list(repo.ledger(TENANT_A))) == 3
    assert repo.rebuild(TENANT_A) == RebuildResult(1, 3, 3, 0)
    assert first.work_order_event_id < results[0].work_order_event_id
    with pytest.raises(TenantScopeViolation):
        repo.rebuild()


def test_step_attempts_lease_and_verify_through_the_client(
    repo: WorkOrderRepository, client: Client, postgresql: psycopg.Connection
) -> None:
    first = created()
    repo.append(first)
    started = then(
        first,
        event_type="STEP_STARTED",
        work_order_status="EXECUTING",
        step_id="survey",
        lease_owner_id="worker-1",
        lease_token_hash="sha-1",
        lease_expires_at=9_000,
        created_at=2_000,
    )
    started_id = repo.append(started).work_order_event_id
    [attempt] = repo.step_attempts(TENANT_A, "wo-1")
    assert (attempt.step_id, attempt.attempt_index, attempt.attempt_status) == (
        "survey",
        1,
        "STARTED",
    )
    assert attempt.started_event_id == started_id
    lease = repo.lease(TENANT_A, "wo-1")
    assert lease is not None
    assert (lease.lease_owner_id, lease.lease_state, lease.acquired_event_id) == (
        "worker-1",
        "ACTIVE",
        started_id,
    )
    assert repo.lease(TENANT_A, "wo-404") is None
    with pytest.raises(ContractValidationFailed):
        repo.append(then(started, created_at=3_000))  # a second start while one is open

    assert repo.verify(TENANT_A) == []
    postgresql.execute("DELETE FROM os_core.work_order_leases")
    postgresql.commit()
    [difference] = repo.verify(TENANT_A)
    assert (difference.projection, difference.difference) == ("work_order_leases", "missing row")
    dba = client.repository(client.connect(DBA_ROLE, autocommit=True))
    assert dba.rebuild(audit=True) == RebuildResult(1, 1, 2, 1)
    assert repo.lease(TENANT_A, "wo-1") == lease
    assert dba.verify() == []


def test_stats_through_the_client_and_their_scope(
    repo: WorkOrderRepository, client: Client, postgresql: psycopg.Connection
) -> None:
    first = created()
    first_id = repo.append(first).work_order_event_id
    repo.append(created(tenant_id=TENANT_B))

    [stats] = repo.stats(TENANT_A)
    assert (stats.tenant_id, stats.ledger_events, stats.last_event_id, stats.work_orders) == (
        TENANT_A,
        1,
        first_id,
        1,
    )
    assert stats.work_orders_by_status == {"DRAFT": 1}
    assert (stats.active_leases, stats.projection_agrees) == (0, True)
    assert stats.last_recorded_at is not None
    with pytest.raises(TenantScopeViolation):
        repo.stats()  # every tenant needs selene_dba

    dba = client.repository(client.connect(DBA_ROLE, autocommit=True))
    assert [s.tenant_id for s in dba.stats()] == [TENANT_A, TENANT_B]
    postgresql.execute("DELETE FROM os_core.work_orders_current WHERE tenant_id = %s", [TENANT_B])
    postgresql.commit()
    assert [(s.tenant_id, s.projection_agrees, s.work_orders) for s in dba.stats()] == [
        (TENANT_A, True, 1),
        (TENANT_B, False, 0),
    ]

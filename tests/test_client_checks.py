"""What the client checks before sending an append, and why the database alone cannot.

The client leaves every rule of the contract to the database, but for what it must
check to send a request the database can read at all (README, "Python quickstart").
Each test sends the same value through the client and as plain SQL, and shows either
that both refuse it alike (same SQLSTATE, same DETAIL: the client only answers
first), or what the database alone would do instead: fail with a code that names no
field, or round the value and write it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from selene_core_tables.errors import ContractValidationFailed, storage_error_from
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.sql_helpers import append_sql, ledger_state, set_tenant

BASE: dict[str, Any] = {
    "tenant_id": "tenant-a",
    "work_order_id": "wo-1",
    "correlation_id": 1,
    "turn_id": 1,
    "event_type": "WORK_ORDER_CREATED",
    "work_order_status": "DRAFT",
    "reason_code": 1,
    "created_at": 1_000,
}


def nested(depth: int) -> dict[str, Any]:
    """A payload whose deepest value is ``depth`` levels below the payload object."""
    value: Any = 1
    for _ in range(depth - 1):
        value = [value]
    return {"a": value}


def through_sql(app: psycopg.Connection, fields: dict[str, Any]) -> psycopg.Error | None:
    """Append ``fields`` as plain SQL in a transaction rolled back; the error, or None."""
    query, params = append_sql(fields)
    try:
        with app.transaction(force_rollback=True):
            set_tenant(app, fields["tenant_id"])
            app.execute(query, params)
    except psycopg.Error as error:
        return error
    return None


def test_a_too_deep_payload_gets_the_databases_own_refusal(
    postgresql: psycopg.Connection, app: psycopg.Connection
) -> None:
    """65 levels: the database refuses it too, with the same code and DETAIL."""
    fields = {**BASE, "payload": nested(65)}
    server = through_sql(app, fields)
    assert server is not None
    mapped = storage_error_from(server)
    assert isinstance(mapped, ContractValidationFailed)

    with pytest.raises(ContractValidationFailed) as client:
        WorkOrderRepository(app).append(WorkOrderLedgerEventInput(**fields))
    assert (client.value.sqlstate, client.value.detail) == (mapped.sqlstate, mapped.detail)
    assert mapped.detail == "payload must not nest values more than 64 levels deep"
    accepted = WorkOrderRepository(app).append(
        WorkOrderLedgerEventInput(**BASE, payload=nested(64))
    )
    assert accepted.idempotency_replay is False
    assert ledger_state(postgresql).ledger_rows == 1  # 64 levels: written, the 65 were not


def test_an_integer_beyond_its_sql_type_is_named_by_the_client_only(
    postgresql: psycopg.Connection, app: psycopg.Connection
) -> None:
    """The database's cast fails (22003) before its contract check, naming no field."""
    fields = {**BASE, "turn_id": 2**63}
    server = through_sql(app, fields)
    assert server is not None and server.sqlstate == "22003"
    assert "turn_id" not in str(server)

    with pytest.raises(ContractValidationFailed) as client:
        WorkOrderRepository(app).append(WorkOrderLedgerEventInput(**fields))
    assert client.value.sqlstate == "SE004"
    assert (client.value.detail or "").startswith("turn_id must be between")
    assert ledger_state(postgresql).ledger_rows == 0


def test_a_non_integral_number_would_be_rounded_and_written_by_the_database(
    postgresql: psycopg.Connection, app: psycopg.Connection
) -> None:
    """turn_id 2.5 as plain SQL is cast to bigint and appended; the client refuses it."""
    assert through_sql(app, {**BASE, "turn_id": 2.5}) is None  # accepted, then rolled back

    with pytest.raises(ContractValidationFailed) as client:
        WorkOrderRepository(app).append(WorkOrderLedgerEventInput(**{**BASE, "turn_id": 2.5}))
    assert client.value.detail == "turn_id must be an integer, got 2.5"
    assert ledger_state(postgresql).ledger_rows == 0


def test_a_contract_rule_the_client_does_not_check_reaches_the_database(
    postgresql: psycopg.Connection, app: psycopg.Connection
) -> None:
    """reason_code 0 fits its SQL type: the client sends it and the database refuses it."""
    fields = {**BASE, "reason_code": 0}
    server = through_sql(app, fields)
    assert server is not None
    mapped = storage_error_from(server)
    assert isinstance(mapped, ContractValidationFailed)

    with pytest.raises(ContractValidationFailed) as client:
        WorkOrderRepository(app).append(WorkOrderLedgerEventInput(**fields))
    assert (client.value.sqlstate, client.value.detail) == ("SE004", mapped.detail)
    assert ledger_state(postgresql).ledger_rows == 0

"""The append with values the fuzz test keeps apart: beyond a parameter's SQL type, wrongly
typed Python values, JSON that PostgreSQL cannot hold, NUL characters.

The client refuses them with the contract's code before any round trip; raw SQL meets
PostgreSQL's own refusal (22003, 54001) at the call, before the function runs. Nothing is
written either way.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from selene_core_tables.errors import ContractValidationFailed, storage_error_from
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.conftest import APP_ROLE
from tests.sql_helpers import append_sql, ledger_state, set_tenant

Connect = Callable[..., psycopg.Connection]
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")
I64 = 2**63
I32 = 2**31


def refusal_of(conn: psycopg.Connection, fields: dict[str, Any]) -> tuple[str | None, str]:
    """Append ``fields`` as the app role in a transaction of its own; the error's code."""
    query, params = append_sql(fields)
    try:
        with conn.transaction():
            set_tenant(conn, fields["tenant_id"])
            conn.execute(query, params)
    except psycopg.Error as error:
        return error.sqlstate, error.diag.message_primary or ""
    return None, "accepted"


BASE = {
    "tenant_id": "tenant-a",
    "work_order_id": "wo-1",
    "correlation_id": 42,
    "turn_id": 1,
    "event_type": "WORK_ORDER_CREATED",
    "work_order_status": "DRAFT",
    "reason_code": 1,
    "created_at": 1_000,
}


BEYOND_THE_SQL_TYPE = [
    ("turn_id", I64),
    ("turn_id", 2**64),
    ("reason_code", I64),
    ("created_at", I64),
    ("created_at", -(I64) - 1),
    ("lease_expires_at", 2**64),
    ("schema_version", I32),
    ("expected_event_count", I64),
]


@pytest.mark.parametrize(("name", "value"), BEYOND_THE_SQL_TYPE)
def test_an_integer_beyond_the_parameter_type_gets_the_contract_code_from_the_client(
    postgresql: psycopg.Connection, connect: Connect, name: str, value: int
) -> None:
    """The client refuses it before the round trip: SE004, a DETAIL naming the field."""
    postgresql.autocommit = True
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    fields = {**BASE, name: value}
    if name == "lease_expires_at":
        fields.update(lease_owner_id="o", lease_token_hash="h")
    with pytest.raises(ContractValidationFailed) as caught:
        if name == "expected_event_count":
            repo.append(WorkOrderLedgerEventInput(**BASE), expected_event_count=value)
        else:
            repo.append(WorkOrderLedgerEventInput(**fields))
    assert caught.value.sqlstate == CONTRACT[0]
    assert caught.value.detail is not None and caught.value.detail.startswith(name)
    assert ledger_and_audit_counts(postgresql) == (0, 0)


@pytest.mark.parametrize(("name", "value"), BEYOND_THE_SQL_TYPE)
def test_an_integer_beyond_the_parameter_type_is_refused_at_the_call_in_sql(
    postgresql: psycopg.Connection, connect: Connect, name: str, value: int
) -> None:
    """In SQL the argument cannot be passed: PostgreSQL refuses it with 22003, nothing written.

    The parameters have the columns' types (design §2), so the function never runs and
    its contract check cannot speak; the client maps 22003 to ContractValidationFailed.
    """
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    fields = {**BASE, name: value}
    if name == "lease_expires_at":
        fields.update(lease_owner_id="o", lease_token_hash="h")
    query, params = append_sql(fields)
    with pytest.raises(psycopg.Error) as caught, app.transaction():
        set_tenant(app, "tenant-a")
        app.execute(query, params)
    assert caught.value.sqlstate == "22003"
    mapped = storage_error_from(caught.value)
    assert isinstance(mapped, ContractValidationFailed)
    assert ledger_and_audit_counts(postgresql) == (0, 0)


def ledger_and_audit_counts(superuser: psycopg.Connection) -> tuple[int, int]:
    state = ledger_state(superuser)
    return state.ledger_rows, state.audit_rows


@pytest.mark.parametrize("name", ["turn_id", "reason_code", "created_at"])
def test_a_fractional_float_for_an_integer_field_is_refused(
    postgresql: psycopg.Connection, connect: Connect, name: str
) -> None:
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    with pytest.raises(ContractValidationFailed):
        repo.append(WorkOrderLedgerEventInput(**{**BASE, name: 2.5}))


@pytest.mark.parametrize(
    "value", [Decimal("sNaN"), Decimal("NaN"), Decimal("Infinity"), float("nan"), Decimal("2.5")]
)
def test_a_non_integral_decimal_or_float_for_an_integer_field_gets_the_contract_code(
    postgresql: psycopg.Connection, connect: Connect, value: Any
) -> None:
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    with pytest.raises(ContractValidationFailed) as caught:
        repo.append(WorkOrderLedgerEventInput(**{**BASE, "turn_id": value}))
    assert caught.value.sqlstate == CONTRACT[0]
    assert caught.value.detail is not None and caught.value.detail.startswith("turn_id")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_payload_number_json_cannot_hold_gets_the_contract_code(
    postgresql: psycopg.Connection, connect: Connect, value: float
) -> None:
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    with pytest.raises(ContractValidationFailed) as caught:
        repo.append(WorkOrderLedgerEventInput(**BASE, payload={"x": value}))
    assert caught.value.sqlstate == CONTRACT[0]


NESTED_TOO_DEEP_FOR_THE_SERVER = 20_000  # far beyond what jsonb input parses (54001)


def test_a_payload_nested_too_deep_to_parse_is_refused_by_the_client(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """Before json.dumps (RecursionError) or the server (54001) can fail on it: SE004."""
    postgresql.autocommit = True
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    payload: dict[str, Any] = {}
    for _ in range(NESTED_TOO_DEEP_FOR_THE_SERVER):
        payload = {"a": payload}
    cycle: dict[str, Any] = {}
    cycle["self"] = cycle
    for hostile in (payload, cycle):
        with pytest.raises(ContractValidationFailed) as caught:
            repo.append(WorkOrderLedgerEventInput(**BASE, payload=hostile))
        assert caught.value.sqlstate == CONTRACT[0]
        assert caught.value.detail == "payload must not nest values more than 64 levels deep"
    assert ledger_and_audit_counts(postgresql) == (0, 0)


def test_a_payload_nested_too_deep_to_parse_is_refused_by_jsonb_input_in_sql(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """PostgreSQL's jsonb input gives up (54001) before the function runs; nothing written.

    The contract's own limit (64 levels, SE004:
    pgtap_tests/work_order_ledger_append--contract-fields.sql) is far below the depth where
    the server's stack runs out, so only such a payload meets it.
    """
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    depth = NESTED_TOO_DEEP_FOR_THE_SERVER
    nested = '{"a":' + "[" * depth + "]" * depth + "}"
    query, params = append_sql(BASE)
    query = query.replace(
        "%(created_at)s::bigint", "%(created_at)s::bigint, p_payload => %(p)s::text::jsonb"
    )
    with pytest.raises(psycopg.Error) as caught, app.transaction():
        set_tenant(app, "tenant-a")
        app.execute(query, {**params, "p": nested})
    assert caught.value.sqlstate == "54001", caught.value.sqlstate
    assert ledger_and_audit_counts(postgresql) == (0, 0)


def test_nul_characters_are_refused_before_anything_is_written(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    """Out of the contract's alphabet (the issue fuzzes NUL-free text): refused, nothing written.

    In a text field psycopg refuses to send it (DataError, before any round trip); in a
    payload string PostgreSQL's jsonb input refuses ``\\u0000`` (22P05).
    """
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    repo = WorkOrderRepository(app)
    with pytest.raises(psycopg.DataError):
        repo.append(WorkOrderLedgerEventInput(**{**BASE, "work_order_id": "wo\x001"}))
    with pytest.raises(psycopg.Error) as caught:
        repo.append(WorkOrderLedgerEventInput(**BASE, payload={"a": "x\x00y"}))
    assert caught.value.sqlstate == "22P05"
    assert ledger_and_audit_counts(postgresql) == (0, 0)

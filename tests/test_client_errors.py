"""The client's error table mirrors the database's and maps real errors to the right class.

The errors are read through a psycopg Connection and through an AsyncConnection
(tests/client_flavors.py): the async client maps them with the same table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg
import pytest

from selene_core_tables.errors import (
    REASON_CODE_ERRORS,
    AppendOnlyViolation,
    ContractValidationFailed,
    StorageError,
    TenantScopeViolation,
    error_class_for,
    storage_error_from,
)
from tests.client_helpers import created
from tests.conftest import APP_ROLE

if TYPE_CHECKING:
    from tests.client_flavors import Client

pytest_plugins = ["tests.client_flavors"]


def test_the_client_mirrors_the_database_error_catalogue(postgresql: psycopg.Connection) -> None:
    in_database = postgresql.execute(
        "SELECT sqlstate, reason_code, exception_name FROM os_core.error_codes()"
    ).fetchall()
    in_client = [(cls.sqlstate_code, cls.reason_code, cls.__name__) for cls in REASON_CODE_ERRORS]
    assert sorted(in_client) == sorted(in_database)


@pytest.mark.parametrize(
    ("statement", "expected", "sqlstate"),
    [
        ("DELETE FROM os_core.work_order_ledger", AppendOnlyViolation, "SE001"),
        (
            "SELECT os_core.work_order_current_read('acme', 'wo-1')",
            TenantScopeViolation,
            "SE003",
        ),
        ("SELECT os_core.set_tenant('not a tenant')", ContractValidationFailed, "SE004"),
        ("SELECT 'bad tenant'::os_core.tenant_id", ContractValidationFailed, "23514"),
    ],
)
def test_a_database_refusal_maps_to_its_exception(
    client: Client,
    statement: str,
    expected: type[Exception],
    sqlstate: str,
) -> None:
    conn = client.connect()  # the superuser, in a transaction
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(statement)
    mapped = storage_error_from(raised.value)
    assert type(mapped) is expected
    assert mapped.sqlstate == sqlstate
    assert mapped.__cause__ is raised.value
    if sqlstate.startswith("SE"):
        assert mapped.detail
        assert str(mapped).startswith(expected.reason_code)


def test_a_direct_table_read_by_the_app_role_maps_to_tenant_scope(client: Client) -> None:
    with client.connect(APP_ROLE) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute("SELECT * FROM os_core.work_order_ledger")
    assert isinstance(storage_error_from(raised.value), TenantScopeViolation)


def test_an_unrelated_error_maps_to_nothing(client: Client) -> None:
    with pytest.raises(psycopg.Error) as raised:
        client.connect().execute("SELECT 1 / 0")
    assert storage_error_from(raised.value) is None


def test_an_unknown_project_sqlstate_falls_back_on_storage_error(
    client: Client, postgresql: psycopg.Connection, newer_rule: None
) -> None:
    """A newer schema's SE099 reaches the client as a StorageError, and nothing is written."""
    repo = client.repository(client.connect(APP_ROLE, autocommit=True))

    with pytest.raises(StorageError) as raised:
        repo.append(created(idempotency_key="newer-rule"))

    error = raised.value
    assert type(error) is StorageError
    assert error.sqlstate == "SE099"
    assert error.reason_code == "OS_WORK_ORDER_STORAGE_ERROR"
    assert error.detail == "a rule this client does not know"
    assert error.exit_code == 10
    assert str(error) == (
        "OS_WORK_ORDER_STORAGE_ERROR: OS_WORK_ORDER_NEWER_RULE: a rule this client does not know"
    )
    assert isinstance(error.__cause__, psycopg.Error)
    assert error.__cause__.sqlstate == "SE099"
    written = postgresql.execute(
        "SELECT (SELECT count(*) FROM os_core.work_order_ledger),"
        " (SELECT count(*) FROM ph1j.audit_events)"
    ).fetchone()
    assert written == (0, 0)


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("SE004", ContractValidationFailed),  # known: its own class
        ("SE099", StorageError),  # unknown, of the project's class: the base class
        ("SE0A1", StorageError),
        ("23514", ContractValidationFailed),  # PostgreSQL's, listed as an equivalent
        ("40001", None),  # PostgreSQL's own classes do not fall back (psycopg classes them)
        ("42P01", None),
        (None, None),
    ],
)
def test_error_class_for_falls_back_only_within_the_project_class(
    sqlstate: str | None, expected: type[StorageError] | None
) -> None:
    assert error_class_for(sqlstate) is expected

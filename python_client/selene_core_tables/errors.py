"""Exceptions for the engine's reason codes, found from a PostgreSQL error's SQLSTATE.

Hierarchy::

    StorageError
     ├── AppendOnlyViolation        SE001  OS_WORK_ORDER_APPEND_ONLY_VIOLATION
     ├── IdempotencyReplay          SE002  OS_WORK_ORDER_IDEMPOTENCY_REPLAY
     ├── TenantScopeViolation       SE003  OS_WORK_ORDER_TENANT_SCOPE_VIOLATION
     └── ContractValidationFailed   SE004  OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED

The database is the authority: ``os_core.error_codes()`` lists the same table,
and a test keeps the two equal. PostgreSQL's own errors that mean the same
thing map to the same classes (see :data:`POSTGRES_EQUIVALENTS`).
"""

from __future__ import annotations

from typing import ClassVar

import psycopg


class StorageError(Exception):
    """A refusal by the engine, carrying its reason code, SQLSTATE and DETAIL."""

    reason_code: ClassVar[str] = "OS_WORK_ORDER_STORAGE_ERROR"
    sqlstate_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None,
        detail: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        """Return the reason code, then the DETAIL: one line that says what to fix."""
        return f"{self.reason_code}: {self.detail}" if self.detail else self.reason_code


class AppendOnlyViolation(StorageError):
    """UPDATE, DELETE or TRUNCATE of the ledger or the audit table."""

    reason_code = "OS_WORK_ORDER_APPEND_ONLY_VIOLATION"
    sqlstate_code = "SE001"


class IdempotencyReplay(StorageError):
    """The event was already appended: raised only when a caller asks to treat replays as errors."""

    reason_code = "OS_WORK_ORDER_IDEMPOTENCY_REPLAY"
    sqlstate_code = "SE002"


class TenantScopeViolation(StorageError):
    """No tenant declared, or a tenant other than the declared one."""

    reason_code = "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION"
    sqlstate_code = "SE003"


class ContractValidationFailed(StorageError):
    """The event breaks the WorkOrderLedgerEventInput v1 contract; ``detail`` names the rule."""

    reason_code = "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED"
    sqlstate_code = "SE004"


REASON_CODE_ERRORS: tuple[type[StorageError], ...] = (
    AppendOnlyViolation,
    IdempotencyReplay,
    TenantScopeViolation,
    ContractValidationFailed,
)

#: PostgreSQL's own SQLSTATEs that mean one of the reason codes.
POSTGRES_EQUIVALENTS: dict[str, type[StorageError]] = {
    "42501": TenantScopeViolation,  # insufficient_privilege, incl. row-level security refusals
    "23514": ContractValidationFailed,  # check_violation (domains, table constraints)
    "23502": ContractValidationFailed,  # not_null_violation
    "22001": ContractValidationFailed,  # string_data_right_truncation
    "22003": ContractValidationFailed,  # numeric_value_out_of_range
    "22P02": ContractValidationFailed,  # invalid_text_representation
}

_BY_SQLSTATE: dict[str, type[StorageError]] = {
    **{cls.sqlstate_code: cls for cls in REASON_CODE_ERRORS if cls.sqlstate_code},
    **POSTGRES_EQUIVALENTS,
}


def storage_error_from(error: psycopg.Error) -> StorageError | None:
    """Return the StorageError that ``error`` means, or None when it means none of them."""
    sqlstate = error.sqlstate
    cls = _BY_SQLSTATE.get(sqlstate or "")
    if cls is None:
        return None
    diag = error.diag
    mapped = cls(
        diag.message_primary or str(error),
        sqlstate=sqlstate,
        detail=diag.message_detail,
        hint=diag.message_hint,
    )
    mapped.__cause__ = error
    return mapped

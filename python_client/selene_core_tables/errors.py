"""Exceptions for the engine's reason codes, found from a PostgreSQL error's SQLSTATE.

Hierarchy (class, SQLSTATE, reason code, exit code of the CLI)::

    StorageError                                                                  10
     ├── AppendOnlyViolation        SE001  OS_WORK_ORDER_APPEND_ONLY_VIOLATION       11
     ├── IdempotencyReplay          SE002  OS_WORK_ORDER_IDEMPOTENCY_REPLAY          12
     ├── TenantScopeViolation       SE003  OS_WORK_ORDER_TENANT_SCOPE_VIOLATION      13
     ├── ContractValidationFailed   SE004  OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED  14
     └── CancelInvalidState         SE005  OS_WORK_ORDER_CANCEL_INVALID_STATE        15

The database is the authority: ``os_core.error_codes()`` lists the same table,
and a test keeps the two equal. PostgreSQL's own errors that mean the same
thing map to the same classes (see :data:`POSTGRES_EQUIVALENTS`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import psycopg


class StorageError(Exception):
    """A refusal by the engine, carrying its reason code, SQLSTATE and DETAIL."""

    reason_code: ClassVar[str] = "OS_WORK_ORDER_STORAGE_ERROR"
    sqlstate_code: ClassVar[str | None] = None
    #: The exit status of the ``selene-core-tables`` CLI when this error stops it.
    exit_code: ClassVar[int] = 10

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
        #: In a refused ``append_many`` batch, the position of the event refused.
        self.event_index: int | None = None

    def __str__(self) -> str:
        """Return the reason code, then what to fix: the DETAIL, or PostgreSQL's own message."""
        message = self.args[0] if self.args else ""
        explanation = self.detail or (message if message != self.reason_code else None)
        return f"{self.reason_code}: {explanation}" if explanation else self.reason_code


class AppendOnlyViolation(StorageError):
    """UPDATE, DELETE or TRUNCATE of the ledger or the audit table."""

    reason_code = "OS_WORK_ORDER_APPEND_ONLY_VIOLATION"
    sqlstate_code = "SE001"
    exit_code = 11


class IdempotencyReplay(StorageError):
    """The event was already appended: raised only when a caller asks to treat replays as errors."""

    reason_code = "OS_WORK_ORDER_IDEMPOTENCY_REPLAY"
    sqlstate_code = "SE002"
    exit_code = 12

    #: The id of the event first appended with this idempotency key.
    work_order_event_id: int | None = None


class TenantScopeViolation(StorageError):
    """No tenant declared, or a tenant other than the declared one."""

    reason_code = "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION"
    sqlstate_code = "SE003"
    exit_code = 13


class ContractValidationFailed(StorageError):
    """The event breaks the WorkOrderLedgerEventInput v1 contract; ``detail`` names the rule."""

    reason_code = "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED"
    sqlstate_code = "SE004"
    exit_code = 14


class CancelInvalidState(StorageError):
    """A cancel of a work order already terminal; ``detail`` names its status."""

    reason_code = "OS_WORK_ORDER_CANCEL_INVALID_STATE"
    sqlstate_code = "SE005"
    exit_code = 15


REASON_CODE_ERRORS: tuple[type[StorageError], ...] = (
    AppendOnlyViolation,
    IdempotencyReplay,
    TenantScopeViolation,
    ContractValidationFailed,
    CancelInvalidState,
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


#: The last line of the HINT of a refusal by ``os_core.work_order_ledger_append_many``
#: (``os_core.raise_batch_error``): the index of the event refused, from 0.
_EVENT_INDEX_HINT = re.compile(r"(?:\A|\n)event_index (\d+): [^\n]*\Z")


def storage_error_from(error: psycopg.Error) -> StorageError | None:
    """Return the StorageError that ``error`` means, or None when it means none of them.

    A refusal of a batch carries the refused event's index as the last line of its
    HINT: it becomes ``event_index``, and the HINT is the single append's again.
    """
    sqlstate = error.sqlstate
    cls = _BY_SQLSTATE.get(sqlstate or "")
    if cls is None:
        return None
    diag = error.diag
    hint = diag.message_hint
    event_index = None
    found = _EVENT_INDEX_HINT.search(hint) if hint else None
    if hint and found:
        event_index = int(found.group(1))
        hint = hint[: found.start()] or None
    mapped = cls(
        diag.message_primary or str(error),
        sqlstate=sqlstate,
        detail=diag.message_detail,
        hint=hint,
    )
    mapped.event_index = event_index
    mapped.__cause__ = error
    return mapped


@contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise a psycopg error that means a reason code as its StorageError (``from`` it).

    Other errors pass through unchanged. The repository wraps every call in it; use
    it around your own SQL on the os_core functions to get the same exceptions.
    """
    try:
        yield
    except psycopg.Error as error:
        mapped = storage_error_from(error)
        if mapped is None:
            raise
        raise mapped from error

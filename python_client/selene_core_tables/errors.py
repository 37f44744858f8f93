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

A code the table does not know falls back on its class, as psycopg's own errors
do (:data:`CLASS_FALLBACKS`): a newer schema's ``SE0xx`` reaches an older client
as a plain :class:`StorageError` carrying that SQLSTATE, not as a raw psycopg
error. PostgreSQL's own classes do not fall back: within one class (``42``,
``22``) they mean unrelated things, and psycopg already gives each its class
(an unknown ``40xxx`` is a ``psycopg.errors.TransactionRollback``, of which the
repositories retry ``40001`` and ``40P01``; see :mod:`selene_core_tables.retry`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import psycopg


class StorageError(Exception):
    """A refusal by the engine, carrying its reason code, SQLSTATE and DETAIL.

    Raised as such (not as a subclass) for a project SQLSTATE (class ``SE``) this
    client does not know, from a newer schema: ``sqlstate`` is that code,
    ``reason_code`` the generic ``OS_WORK_ORDER_STORAGE_ERROR``, and the server's
    message (the newer reason code) is ``args[0]`` and leads ``str(error)``.
    """

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
        if type(self) is StorageError and self.detail and message and message != self.reason_code:
            # A code from a newer schema: its message is a reason code this client lacks.
            explanation = f"{message}: {self.detail}"
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

#: SQLSTATE class (its first two characters) -> the error of a code of that class
#: that neither :data:`REASON_CODE_ERRORS` nor :data:`POSTGRES_EQUIVALENTS` names.
#: Only the project's own class: a newer schema may add codes to it.
CLASS_FALLBACKS: dict[str, type[StorageError]] = {
    "SE": StorageError,
}


def error_class_for(sqlstate: str | None) -> type[StorageError] | None:
    """Return the StorageError class of ``sqlstate``: its own, else its class's, else None."""
    if not sqlstate:
        return None
    return _BY_SQLSTATE.get(sqlstate) or CLASS_FALLBACKS.get(sqlstate[:2])


#: The last line of the HINT of a refusal by ``os_core.work_order_ledger_append_many``
#: (``os_core.raise_batch_error``): the index of the event refused, from 0.
_EVENT_INDEX_HINT = re.compile(r"(?:\A|\n)event_index (\d+): [^\n]*\Z")


def storage_error_from(error: psycopg.Error) -> StorageError | None:
    """Return the StorageError that ``error`` means, or None when it means none of them.

    The class is found by SQLSTATE with :func:`error_class_for`, so an ``SE`` code
    this client does not know still maps, to :class:`StorageError`. A refusal of a
    batch carries the refused event's index as the last line of its HINT: it
    becomes ``event_index``, and the HINT is the single append's again.
    """
    sqlstate = error.sqlstate
    cls = error_class_for(sqlstate)
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

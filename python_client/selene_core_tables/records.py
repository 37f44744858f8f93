"""The records of SELENE_OS_CORE_TABLES v1 as typed, frozen dataclasses.

``WorkOrderLedgerEventInput`` is what a caller appends; ``WorkOrderLedgerEvent``
is a stored ledger row; ``WorkOrderCurrentRecord`` a row of the current
projection; ``AppendResult``, ``CancelResult`` and ``RebuildResult`` what the
capabilities return.
Field names are the columns' names (the upstream records' names).

No field is validated here: the database is the authority on the contract, and
an event it refuses raises :class:`~selene_core_tables.errors.ContractValidationFailed`
naming the rule. The enums are ``StrEnum``, so a plain string works wherever an
enum member does (and an unknown one reaches the database and its reason code).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class WorkOrderStatus(enum.StrEnum):
    """Status of a work order; DONE, REFUSED, FAILED and CANCELED are terminal."""

    DRAFT = "DRAFT"
    CLARIFY = "CLARIFY"
    CONFIRM = "CONFIRM"
    EXECUTING = "EXECUTING"
    DONE = "DONE"
    REFUSED = "REFUSED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def is_terminal(self) -> bool:
        """True when nothing but an idempotent replay may follow this status."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        WorkOrderStatus.DONE,
        WorkOrderStatus.REFUSED,
        WorkOrderStatus.FAILED,
        WorkOrderStatus.CANCELED,
    }
)


class WorkEventType(enum.StrEnum):
    """The eight PH1.WORK event types a ledger event can have."""

    WORK_ORDER_CREATED = "WORK_ORDER_CREATED"
    FIELD_SET = "FIELD_SET"
    FIELD_CONFLICT_RESOLVED = "FIELD_CONFLICT_RESOLVED"
    STATUS_CHANGED = "STATUS_CHANGED"
    STEP_STARTED = "STEP_STARTED"
    STEP_FINISHED = "STEP_FINISHED"
    STEP_FAILED = "STEP_FAILED"
    WORK_ORDER_CANCELED = "WORK_ORDER_CANCELED"


@dataclass(frozen=True, kw_only=True)
class WorkOrderLedgerEventInput:
    """One event to append (the WorkOrderLedgerEventInput v1 contract).

    ``created_at`` and ``lease_expires_at`` are monotonic nanoseconds chosen by the
    caller; ``correlation_id`` is a u128. Optional fields default to None.
    """

    tenant_id: str
    work_order_id: str
    correlation_id: int
    turn_id: int
    event_type: WorkEventType | str
    work_order_status: WorkOrderStatus | str
    reason_code: int
    created_at: int
    step_id: str | None = None
    step_input_hash: str | None = None
    lease_owner_id: str | None = None
    lease_token_hash: str | None = None
    lease_expires_at: int | None = None
    idempotency_key: str | None = None
    payload: Mapping[str, Any] | None = None
    schema_version: int = 1

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> WorkOrderLedgerEventInput:
        """Build an event from a mapping of field names (a parsed JSON object, say).

        Raises TypeError naming any key that is not a field, or a required field missing.
        """
        return cls(**fields)

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (enums as their text).

        The payload is copied one level deep, not recursively: the append builds its
        parameters with this, and a deep copy cost more than the rest of the client's
        work per event.
        """
        return {field.name: _plain(getattr(self, field.name)) for field in fields(self)}


@dataclass(frozen=True, kw_only=True)
class WorkOrderLedgerEvent:
    """One stored ledger event: its id, the contract fields, and when it was recorded.

    ``recorded_at`` is the wall-clock time of the append, for operators; no
    projection reads it.
    """

    work_order_event_id: int
    tenant_id: str
    work_order_id: str
    correlation_id: int
    turn_id: int
    event_type: WorkEventType
    work_order_status: WorkOrderStatus
    reason_code: int
    created_at: int
    step_id: str | None
    step_input_hash: str | None
    lease_owner_id: str | None
    lease_token_hash: str | None
    lease_expires_at: int | None
    idempotency_key: str | None
    payload: dict[str, Any] | None
    schema_version: int
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkOrderLedgerEvent:
        """Build the record from a ``os_core.work_order_ledger`` row read as a dict."""
        return cls(
            **{
                **_only_fields(cls, row),
                "correlation_id": int(row["correlation_id"]),
                "event_type": WorkEventType(row["event_type"]),
                "work_order_status": WorkOrderStatus(row["work_order_status"]),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (enums as text, time as ISO 8601)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class WorkOrderCurrentRecord:
    """The current state of one work order (a row of ``os_core.work_orders_current``).

    The ``last_*`` fields are of the latest event (``last_updated_at`` is its
    ``created_at``); the step fields are of the latest event that named a step; the
    lease fields of the latest event that carried a lease, cleared once terminal.
    ``event_count`` is what an optimistic-concurrency append expects.
    """

    schema_version: int
    tenant_id: str
    work_order_id: str
    correlation_id: int
    turn_id: int
    work_order_status: WorkOrderStatus
    last_event_id: int
    last_reason_code: int
    last_updated_at: int
    step_id: str | None
    step_input_hash: str | None
    lease_owner_id: str | None
    lease_token_hash: str | None
    lease_expires_at: int | None
    event_count: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkOrderCurrentRecord:
        """Build the record from a ``os_core.work_orders_current`` row read as a dict."""
        return cls(
            **{
                **_only_fields(cls, row),
                "correlation_id": int(row["correlation_id"]),
                "work_order_status": WorkOrderStatus(row["work_order_status"]),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (enums as their text)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


@dataclass(frozen=True)
class AppendResult:
    """What an append returns: the event's id, and whether it was an idempotent replay.

    On a replay nothing new was written to the ledger: ``work_order_event_id`` is
    the id of the event first appended with the same idempotency key and content.
    """

    work_order_event_id: int
    idempotency_replay: bool


@dataclass(frozen=True)
class CancelResult:
    """What a cancel returns: the work order, its status (CANCELED) and its last event.

    ``last_event_id`` is the id of the WORK_ORDER_CANCELED event; a replayed cancel
    (same idempotency key and content) returns the first cancel's result again.
    """

    work_order_id: str
    work_order_status: WorkOrderStatus
    last_event_id: int


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild found: the tenants, work orders and events the projection now holds.

    ``rewritten_work_order_count`` is how many work orders had drifted from the
    ledger and were rewritten; 0 when the projections were right.
    """

    tenant_count: int
    work_order_count: int
    event_count: int
    rewritten_work_order_count: int


@dataclass(frozen=True, kw_only=True)
class WorkOrderStepAttempt:
    """One attempt of a step of a work order (a row of ``os_core.work_order_step_attempts``).

    STEP_STARTED opens attempt ``attempt_index`` (1, 2, ... per step) as STARTED;
    STEP_FINISHED or STEP_FAILED closes it as FINISHED or FAILED, with its event,
    time and reason code.
    """

    tenant_id: str
    work_order_id: str
    step_id: str
    attempt_index: int
    attempt_status: str
    step_input_hash: str | None
    started_event_id: int
    started_at: int
    finished_event_id: int | None
    finished_at: int | None
    reason_code: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkOrderStepAttempt:
        """Build the record from a ``os_core.work_order_step_attempts`` row read as a dict."""
        return cls(**_only_fields(cls, row))


@dataclass(frozen=True, kw_only=True)
class WorkOrderLease:
    """The lease of a work order (a row of ``os_core.work_order_leases``).

    ``lease_state`` is ACTIVE or RELEASED (by a terminal status). Expiry is not
    judged here: compare ``lease_expires_at`` with your own monotonic clock. Only
    the token's hash is stored.
    """

    tenant_id: str
    work_order_id: str
    lease_owner_id: str
    lease_token_hash: str
    lease_state: str
    lease_expires_at: int
    acquired_event_id: int
    acquired_at: int
    last_event_id: int
    released_at: int | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WorkOrderLease:
        """Build the record from a ``os_core.work_order_leases`` row read as a dict."""
        return cls(**_only_fields(cls, row))


@dataclass(frozen=True, kw_only=True)
class ProjectionDifference:
    """One difference verify found between a projection and the ledger.

    ``difference`` is a column name (with its ``expected`` and ``actual`` values as
    text), ``missing row`` (``expected`` holds the row as JSON) or ``unexpected
    row`` (``actual`` does). ``row_key`` tells step attempts apart (``step #n``).
    """

    tenant_id: str
    work_order_id: str
    projection: str
    row_key: str | None
    difference: str
    expected: str | None
    actual: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ProjectionDifference:
        """Build the record from a row of ``os_core.work_orders_current_verify``."""
        return cls(**_only_fields(cls, row))


@dataclass(frozen=True, kw_only=True)
class TenantStats:
    """One tenant's monitoring figures (a row of ``os_core.tenant_stats``).

    ``projection_agrees`` is False when the projection's event counts or last event
    differ from the ledger's: something wrote around the product; run verify.
    ``last_event_id`` and ``last_recorded_at`` are None for a tenant with no event.
    """

    tenant_id: str
    ledger_events: int
    last_event_id: int | None
    last_recorded_at: datetime | None
    work_orders: int
    work_orders_by_status: dict[str, int]
    active_leases: int
    projected_events: int
    projected_last_event_id: int | None
    projection_agrees: bool

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TenantStats:
        """Build the record from a row of ``os_core.tenant_stats`` read as a dict."""
        return cls(**_only_fields(cls, row))

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (time as ISO 8601)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class AuditEvent:
    """One PH1.J audit row (``ph1j.audit_events``), as ``os_core.audit_read`` returns it.

    ``capability`` and ``outcome`` say what wrote it: an append (APPENDED), an
    idempotent replay (OS_WORK_ORDER_IDEMPOTENCY_REPLAY, with ``replay_created_at``),
    a rebuild (REBUILT) or a verify (VERIFIED, with ``details``). The work-order fields
    are None on a rebuild's or verify's row. The paging columns are not carried.
    """

    audit_event_id: int
    tenant_id: str
    capability: str
    outcome: str
    work_order_id: str | None
    correlation_id: int | None
    turn_id: int | None
    event_type: str | None
    reason_code: int | None
    idempotency_key: str | None
    work_order_event_id: int | None
    replay_created_at: int | None
    details: dict[str, Any] | None
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> AuditEvent:
        """Build the record from a ``ph1j.audit_events`` row read as a dict."""
        correlation = row["correlation_id"]
        return cls(
            **{
                **_only_fields(cls, row),
                "correlation_id": None if correlation is None else int(correlation),
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (time as ISO 8601)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


@dataclass(frozen=True, kw_only=True)
class ConsumerStats:
    """One durable consumer of a tenant and its lag (a row of ``os_core.consumer_stats``).

    ``stream`` is ``ledger`` or ``audit``; ``committed_position`` the id of the last
    event it processed (0: none yet); ``last_event_id`` the stream's last id for the
    tenant (None: no event yet); ``pending_events`` its lag, the number of the
    tenant's events after its position.
    """

    tenant_id: str
    stream: str
    consumer: str
    committed_position: int
    last_event_id: int | None
    pending_events: int
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ConsumerStats:
        """Build the record from a row of ``os_core.consumer_stats`` read as a dict."""
        return cls(**_only_fields(cls, row))

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as plain JSON-ready values (time as ISO 8601)."""
        return {key: _plain(value) for key, value in asdict(self).items()}


def _only_fields(cls: type[DataclassInstance], row: Mapping[str, Any]) -> dict[str, Any]:
    names = {field.name for field in fields(cls)}
    return {key: value for key, value in row.items() if key in names}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    return value

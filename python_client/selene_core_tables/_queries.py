"""What the async and the sync repository share: SQL text, parameter checks, row helpers.

Pure functions and constants, no I/O: :mod:`selene_core_tables.repository_async` and
the :mod:`selene_core_tables.repository` generated from it both import them, so each
check and each statement is written once.

The checks are not the contract's (the database is its one authority): they refuse,
with the contract's SQLSTATE, only what cannot be sent as asked. An integer field's
value must be integral (the SQL cast would round it) and within its SQL type (the
cast would fail with 22003 and name no field): :func:`check_integer`. A payload must
be JSON (no NaN, no cycles) and nest at most :data:`PAYLOAD_MAX_DEPTH` levels, the
contract's own limit, checked first because serialising and parsing deeper nesting
fail with errors of their own: :func:`check_payload_depth`.
``tests/test_client_checks.py`` compares each with what the database does alone.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from selene_core_tables.errors import ContractValidationFailed, IdempotencyReplay, StorageError
from selene_core_tables.records import (
    AppendResult,
    AuditEvent,
    WorkOrderLedgerEvent,
    WorkOrderLedgerEventInput,
    _plain,
)

#: Parameter (without its ``p_`` prefix) -> SQL type, in the order of
#: ``os_core.work_order_ledger_append``'s signature. Every value is cast, because
#: psycopg would otherwise send a Python int as int2, int4, int8 or numeric by size.
APPEND_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("tenant_id", "text"),
    ("work_order_id", "text"),
    ("correlation_id", "numeric"),
    ("turn_id", "bigint"),
    ("event_type", "text"),
    ("work_order_status", "text"),
    ("reason_code", "bigint"),
    ("created_at", "bigint"),
    ("step_id", "text"),
    ("step_input_hash", "text"),
    ("lease_owner_id", "text"),
    ("lease_token_hash", "text"),
    ("lease_expires_at", "bigint"),
    ("idempotency_key", "text"),
    ("payload", "jsonb"),
    ("schema_version", "integer"),
    ("expected_event_count", "bigint"),
)

#: Every placeholder is parenthesised before its cast: bound on the client (see
#: AsyncWorkOrderRepository._one_message), -9223372036854775808::bigint would cast the
#: literal before its minus sign and overflow.
APPEND_SQL = (
    "SELECT work_order_event_id, idempotency_replay FROM os_core.work_order_ledger_append("
    + ", ".join(f"p_{name} => (%({name})s)::{sql_type}" for name, sql_type in APPEND_PARAMETERS)
    + ")"
)
#: The set-based batch: the events as one JSON array (see ``batch_document``).
APPEND_MANY_SQL = (
    "SELECT event_index, work_order_event_id, idempotency_replay "
    "FROM os_core.work_order_ledger_append_many(p_tenant_id => (%s)::text, p_events => (%s)::jsonb)"
)
SET_TENANT_SQL = "SELECT os_core.set_tenant((%s)::text)"
# A call's transaction, or its savepoint when it joins the caller's, sent by hand in
# the call's pipeline (see AsyncWorkOrderRepository._call).
BEGIN_SQL = "BEGIN"
COMMIT_SQL = "COMMIT"
ROLLBACK_SQL = "ROLLBACK"
SAVEPOINT_SQL = "SAVEPOINT selene_call"
RELEASE_SQL = "RELEASE SAVEPOINT selene_call"
ROLLBACK_TO_SAVEPOINT_SQL = "ROLLBACK TO SAVEPOINT selene_call"
CURRENT_SQL = (
    "SELECT * FROM os_core.work_order_current_read("
    "p_tenant_id => (%s)::text, p_work_order_id => (%s)::text)"
)
LEDGER_SQL = (
    "SELECT * FROM os_core.work_order_ledger_read("
    "p_tenant_id => (%s)::text, p_work_order_id => (%s)::text, "
    "p_after_event_id => (%s)::bigint, p_limit => (%s)::integer)"
)
AUDIT_SQL = (
    "SELECT * FROM os_core.audit_read("
    "p_tenant_id => (%s)::text, p_after_audit_event_id => (%s)::bigint, p_limit => (%s)::integer)"
)
CONSUMER_POSITION_SQL = (
    "SELECT os_core.consumer_position("
    "p_tenant_id => (%s)::text, p_consumer => (%s)::text, p_stream => (%s)::text)"
)
CONSUMER_COMMIT_SQL = (
    "SELECT os_core.consumer_commit("
    "p_tenant_id => (%s)::text, p_consumer => (%s)::text, p_event_id => (%s)::bigint, "
    "p_stream => (%s)::text)"
)
CONSUMER_STATS_SQL = "SELECT * FROM os_core.consumer_stats(p_tenant_id => (%s)::text)"
#: What a follower or a durable consumer can follow: the ledger, or the PH1.J audit trail.
STREAMS = ("ledger", "audit")
# A SET LOCAL statement, not set_config: Citus propagates the statement to the workers
# (citus.propagate_set_commands = local), where the consumer's lock is waited for.
LOCK_TIMEOUT_SQL = sql.SQL("SET LOCAL lock_timeout = {}")
CANCEL_SQL = (
    "SELECT work_order_id, work_order_status, last_event_id FROM os_core.work_order_cancel("
    "p_tenant_id => (%s)::text, p_work_order_id => (%s)::text, p_reason_code => (%s)::bigint, "
    "p_idempotency_key => (%s)::text, p_created_at => (%s)::bigint, p_turn_id => (%s)::bigint)"
)
# Without statuses the database's default (the pending statuses) applies: the
# argument is left out rather than sent, so that the default lives in one place.
_LIST_PENDING_SQL = (
    "SELECT * FROM os_core.work_orders_list_pending("
    "p_tenant_id => (%(tenant_id)s)::text, {statuses}"
    "p_updated_after => (%(updated_after)s)::bigint, p_limit => (%(limit)s)::integer)"
)
LIST_PENDING_DEFAULT_SQL = _LIST_PENDING_SQL.format(statuses="")
LIST_PENDING_STATUSES_SQL = _LIST_PENDING_SQL.format(
    statuses="p_statuses => (%(statuses)s)::text[], "
)
REBUILD_SQL = (
    "SELECT tenant_count, work_order_count, event_count, rewritten_work_order_count "
    "FROM os_core.work_orders_current_rebuild("
    "p_tenant_id => (%s)::text, p_emit_audit => (%s)::boolean)"
)
STATS_SQL = "SELECT * FROM os_core.tenant_stats(p_tenant_id => (%s)::text)"
VERIFY_SQL = (
    "SELECT * FROM os_core.work_orders_current_verify("
    "p_tenant_id => (%s)::text, p_emit_audit => (%s)::boolean)"
)
STEP_ATTEMPTS_SQL = (
    "SELECT * FROM os_core.work_order_step_attempts_read("
    "p_tenant_id => (%s)::text, p_work_order_id => (%s)::text)"
)
LEASE_SQL = (
    "SELECT * FROM os_core.work_order_lease_read("
    "p_tenant_id => (%s)::text, p_work_order_id => (%s)::text)"
)
#: Sent after a pipeline without prepared statements (see ``_release_pooler_connection``).
RELEASE_POOLER_SQL = "SELECT 1"

#: Default number of events per ledger page (the database allows 1 to 10000).
DEFAULT_PAGE_SIZE = 1000

#: A follower's default wait between reads once it has caught up, and the longest
#: allowed: the wait bounds how late a follower sees an event when no notification
#: wakes it (a notification can be missed; see AsyncWorkOrderRepository.follow).
DEFAULT_POLL_INTERVAL = 0.5
MAX_POLL_INTERVAL = 60.0

#: The channel ph1j.emit_append_audit NOTIFYs on when ``selene.audit_notify`` is on.
AUDIT_CHANNEL = "ph1j_audit"
LISTEN_SQL = f"LISTEN {AUDIT_CHANNEL}"
UNLISTEN_SQL = f"UNLISTEN {AUDIT_CHANNEL}"

#: The append's integer parameters: a value PostgreSQL would round on its way in
#: (a float 2.5 cast to bigint becomes 2) is refused here instead.
_INTEGER_PARAMETERS = frozenset(
    name for name, sql_type in APPEND_PARAMETERS if sql_type in ("bigint", "integer", "numeric")
)
_PARAMETER_TYPES = dict(APPEND_PARAMETERS)

#: The range of each fixed-width SQL integer type. A value outside it cannot even
#: reach the database's contract check (the cast of the argument fails with 22003),
#: so it is refused here, with the contract's code and the field's name.
_SQL_INTEGER_RANGES = {"bigint": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}

#: The contract's payload nesting limit (os_core.work_order_event_contract_violation):
#: no value more than this many levels below the payload object.
PAYLOAD_MAX_DEPTH = 64


#: The fields of an event in a batch document (tenant_id is the batch's, the payload
#: is added as the text it was checked as) -> the SQL type of an integer field, or None.
_BATCH_FIELDS: tuple[tuple[str, str | None], ...] = tuple(
    (name, sql_type if name in _INTEGER_PARAMETERS else None)
    for name, sql_type in APPEND_PARAMETERS
    if name not in ("tenant_id", "payload", "expected_event_count")
)
#: psycopg's own refusal of a NUL in a text parameter, which a batch document would
#: otherwise send on as ``\u0000`` (and jsonb input refuse with 22P05).
_NUL_IN_TEXT = "PostgreSQL text fields cannot contain NUL (0x00) bytes"


def batch_document(batch: Sequence[WorkOrderLedgerEventInput]) -> Jsonb:
    """Return the batch as ``os_core.work_order_ledger_append_many`` takes it: a JSON array.

    Each event is refused here exactly when its single append's parameters would be
    (``append_parameters``), and a refused event's error carries its index. Integral
    floats and decimals are sent as the integers their parameter would have cast
    them to; the text is serialised once.
    """
    texts = []
    for index, event in enumerate(batch):
        try:
            texts.append(_event_json(event))
        except StorageError as error:
            error.event_index = index
            raise
    text = "[" + ",".join(texts) + "]"
    return Jsonb(None, dumps=lambda _document: text)


def _event_json(event: WorkOrderLedgerEventInput) -> str:
    """One event of a batch document (see ``batch_document``), without its tenant_id.

    A field that is None is left out (the function reads it as NULL), but for
    schema_version, whose absence means 1: it is sent as null.
    """
    payload = event.payload
    if payload is not None:
        check_payload_depth(payload)  # first: json.dumps recurses into it
    values: dict[str, Any] = {}
    for name, sql_type in _BATCH_FIELDS:
        value = getattr(event, name)
        if value is None:
            if name == "schema_version":
                values[name] = None
            continue
        if sql_type is not None:
            # A plain int within its type's range, the usual case, needs no more.
            bounds = _SQL_INTEGER_RANGES.get(sql_type)
            if type(value) is not int or (bounds and not bounds[0] <= value <= bounds[1]):
                check_integer(name, value, sql_type)
                if isinstance(value, float | Decimal):
                    value = _cast_integral(value, sql_type)
        elif isinstance(value, str):
            if "\x00" in value:
                raise psycopg.DataError(_NUL_IN_TEXT)
        else:
            value = _plain(value)
        values[name] = value
    text = json.dumps(values, ensure_ascii=False)
    if payload is None:
        return text
    try:
        # A mapping other than a dict is an object too; anything else (a list, even one
        # dict() would take) goes as it is, and the database refuses it as not an object.
        as_object = dict(payload) if isinstance(payload, Mapping) else payload
        payload_text = _strict_json(payload if type(payload) is dict else as_object)
    except (TypeError, ValueError) as error:
        raise refused_here(f"payload must be a JSON object of JSON values: {error}") from None
    return ("{" if text == "{}" else text[:-1] + ", ") + '"payload": ' + payload_text + "}"


def _cast_integral(value: float | Decimal, sql_type: str) -> int:
    """Return the integer PostgreSQL makes of an integral float or decimal of ``sql_type``.

    A float8 cast to numeric keeps 15 significant digits (DBL_DIG), to bigint all.
    """
    if isinstance(value, float) and sql_type == "numeric":
        return int(Decimal(format(value, ".15g")))
    return int(value)


def append_parameters(
    event: WorkOrderLedgerEventInput, expected_event_count: int | None
) -> dict[str, Any]:
    """Return the append's parameters for ``event``, refusing what cannot be sent."""
    if event.payload is not None:
        check_payload_depth(event.payload)  # first: json.dumps recurses into it
    values = event.to_dict()
    values["expected_event_count"] = expected_event_count
    for name in _INTEGER_PARAMETERS:
        check_integer(name, values[name], _PARAMETER_TYPES[name])
    if event.payload is not None:
        try:
            text = _strict_json(values["payload"])
        except (TypeError, ValueError) as error:
            raise refused_here(f"payload must be a JSON object of JSON values: {error}") from None
        # Serialised once: the text that passed the check is the text sent.
        values["payload"] = Jsonb(values["payload"], dumps=lambda _payload: text)
    return values


def check_integer(name: str, value: Any, sql_type: str) -> None:
    """Refuse a non-integral number, or one beyond the range of the parameter's SQL type."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float | Decimal):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not (finite and value == int(value)):
            raise refused_here(f"{name} must be an integer, got {value!r}")
    if sql_type in _SQL_INTEGER_RANGES and isinstance(value, int | float | Decimal):
        low, high = _SQL_INTEGER_RANGES[sql_type]
        if not low <= int(value) <= high:
            raise refused_here(
                f"{name} must be between {low} and {high} (its SQL type, {sql_type}), "
                f"got {int(value)}"
            )


def check_stream(stream: str) -> None:
    """Refuse a stream that is neither ``ledger`` nor ``audit`` (ValueError)."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be 'ledger' or 'audit', not {stream!r}")


def position_of(event: WorkOrderLedgerEvent | AuditEvent) -> int:
    """Return the id a follower reads on after: the audit row's, or the ledger event's."""
    if isinstance(event, AuditEvent):
        return event.audit_event_id
    return event.work_order_event_id


def check_poll_interval(poll_interval: Any) -> None:
    """Refuse a follower's poll interval that is not a number of seconds in (0, MAX]."""
    if (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, int | float)
        or not 0 < poll_interval <= MAX_POLL_INTERVAL
    ):
        raise ValueError(
            f"poll_interval must be a number of seconds above 0 and at most "
            f"{MAX_POLL_INTERVAL:g}, got {poll_interval!r}"
        )


def check_payload_depth(payload: Any) -> None:
    """Refuse a payload with a value nested deeper than PAYLOAD_MAX_DEPTH levels.

    The database has the same rule; checked here first because json.dumps and
    PostgreSQL's jsonb input both fail on very deep nesting with errors of their
    own (RecursionError, 54001) before the contract is ever checked. Iterative,
    so that the check itself cannot overflow the stack; a cycle counts as too deep.
    """
    pending: list[tuple[Any, int]] = [(payload, 0)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, Mapping):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        for child in children:
            if level + 1 > PAYLOAD_MAX_DEPTH:
                raise refused_here(
                    f"payload must not nest values more than {PAYLOAD_MAX_DEPTH} levels deep"
                )
            pending.append((child, level + 1))


def _strict_json(value: Any) -> str:
    """JSON text, refusing NaN and Infinity (which json.dumps writes and jsonb refuses)."""
    return json.dumps(value, allow_nan=False)


def refused_here(detail: str) -> ContractValidationFailed:
    """Refuse, before any round trip, a value the database could not even be sent.

    It carries the contract's SQLSTATE (SE004), as the database's refusal would.
    """
    return ContractValidationFailed(
        ContractValidationFailed.reason_code,
        sqlstate=ContractValidationFailed.sqlstate_code,
        detail=detail,
    )


def replay_error(event: WorkOrderLedgerEventInput, result: AppendResult) -> IdempotencyReplay:
    """Return the IdempotencyReplay that ``append(..., replay_is_error=True)`` raises."""
    replay = IdempotencyReplay(
        IdempotencyReplay.reason_code,
        sqlstate=IdempotencyReplay.sqlstate_code,
        detail=(
            f"idempotency_key {event.idempotency_key!r} of work order "
            f"{event.work_order_id!r} already names event {result.work_order_event_id}"
        ),
    )
    replay.work_order_event_id = result.work_order_event_id
    return replay


def one(row: Sequence[Any] | None) -> Sequence[Any]:
    """Return the row a capability function returned (it always returns one)."""
    if row is None:  # the functions always return a row; a None here is a bug
        raise RuntimeError("the capability function returned no row")
    return row

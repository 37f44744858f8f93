"""The per-event contract of an append, as the tests' one oracle of it.

Written from design §2 and ``docs/decisions.md``, not from the SQL. The fuzz test
(``test_fuzz.py``) and the reference model (``projection_model.py``, used by the
model-based test) both decide an event's per-event verdict here, so that a rule is
stated once for the tests as it is once in the schema:

- :func:`contract_violation` names the field of the first per-event rule an event breaks,
  in the order the append checks them (the DETAIL of its refusal names the same field);
- :func:`same_content` is the idempotency key's "same content";
- :func:`normalized` fills in the parameters a caller left out.

The payload's size is the server's measure, ``pg_column_size`` of the jsonb value: a caller
measures it there, or gives a payload too small for the measure to matter
(:func:`payload_size`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

EVENT_TYPES = (
    "WORK_ORDER_CREATED",
    "FIELD_SET",
    "FIELD_CONFLICT_RESOLVED",
    "STATUS_CHANGED",
    "STEP_STARTED",
    "STEP_FINISHED",
    "STEP_FAILED",
    "WORK_ORDER_CANCELED",
)
STEP_EVENT_TYPES = frozenset({"STEP_STARTED", "STEP_FINISHED", "STEP_FAILED"})
STATUSES = ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING", "DONE", "REFUSED", "FAILED", "CANCELED")
TERMINAL_STATUSES = frozenset({"DONE", "REFUSED", "FAILED", "CANCELED"})

TENANT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
# decisions.md: blank = empty or only Unicode White_Space, plus four zero-width characters.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
ZERO_WIDTH = "\u180e\u200b\u2060\ufeff"
BLANK_CHARACTERS = WHITE_SPACE + ZERO_WIDTH
U128 = 2**128
U32 = 2**32
PAYLOAD_MAX_BYTES = 65536  # pg_column_size of the jsonb value
PAYLOAD_MAX_DEPTH = 64  # no value more than 64 levels below the payload (decisions.md)
# A payload whose JSON text is this short is far below PAYLOAD_MAX_BYTES as jsonb too.
SMALL_PAYLOAD_TEXT = 1024
MAX_LENGTHS = {
    "work_order_id": 128,
    "step_id": 96,
    "step_input_hash": 128,
    "lease_owner_id": 128,
    "lease_token_hash": 128,
    "idempotency_key": 128,
}

# Every parameter of the append, with the value it has when the caller leaves it out.
APPEND_DEFAULTS: dict[str, Any] = {
    "tenant_id": None,
    "work_order_id": None,
    "correlation_id": None,
    "turn_id": None,
    "event_type": None,
    "work_order_status": None,
    "reason_code": None,
    "created_at": None,
    "step_id": None,
    "step_input_hash": None,
    "lease_owner_id": None,
    "lease_token_hash": None,
    "lease_expires_at": None,
    "idempotency_key": None,
    "payload": None,
    "schema_version": 1,
    "expected_event_count": None,
}
# Not content for idempotency: the ids the key is scoped by, the key itself, the call's
# condition (expected_event_count) and created_at, which a retry re-stamps (decisions.md,
# "Idempotency same content").
NOT_CONTENT = frozenset(
    {"tenant_id", "work_order_id", "idempotency_key", "expected_event_count", "created_at"}
)


def normalized(attempt: dict[str, Any]) -> dict[str, Any]:
    """The attempt with every append parameter present, defaults filled in."""
    unknown = set(attempt) - set(APPEND_DEFAULTS)
    assert not unknown, f"not parameters of the append: {sorted(unknown)}"
    return {**APPEND_DEFAULTS, **attempt}


def is_blank(value: str) -> bool:
    """Empty, or only Unicode White_Space and the four zero-width characters."""
    return all(ch in BLANK_CHARACTERS for ch in value)


def is_integral(value: Any) -> bool:
    """An int, or a finite Decimal with no fraction (a bool or float is neither)."""
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, int) and not isinstance(value, bool)


def deepest_level(value: Any, level: int = 0) -> int:
    """The level of the most deeply nested value: 0 for a scalar, 1 for a member of it, ..."""
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    return max((deepest_level(child, level + 1) for child in children), default=level)


def payload_size(payload: Any) -> int | None:
    """The size the payload rule needs, for a payload too small to need the server's measure.

    None for no payload. A payload of more than :data:`SMALL_PAYLOAD_TEXT` characters of
    JSON must be measured by the server (``pg_column_size(payload::jsonb)``) instead.
    """
    if payload is None:
        return None
    text = json.dumps(payload)
    assert len(text) <= SMALL_PAYLOAD_TEXT, "measure a payload this large with pg_column_size"
    return len(text)


def contract_violation(event: dict[str, Any], size: int | None) -> str | None:
    """The field of the first per-event rule the event breaks, in the append's order.

    ``event`` has every parameter (:func:`normalized`); ``size`` is the payload's jsonb size
    (None exactly when there is no payload). None when the event keeps every rule.
    """
    e = event

    def text_rule(name: str) -> tuple[bool, str]:
        value = e[name]
        return value is not None and (is_blank(value) or len(value) > MAX_LENGTHS[name]), name

    lease_missing = [e[name] is None for name in ("lease_owner_id", "lease_token_hash")]
    correlation = e["correlation_id"]
    checks = [
        (e["schema_version"] != 1, "schema_version"),
        (e["tenant_id"] is None or not TENANT_ID.fullmatch(e["tenant_id"]), "tenant_id"),
        (
            e["work_order_id"] is None
            or is_blank(e["work_order_id"])
            or len(e["work_order_id"]) > MAX_LENGTHS["work_order_id"],
            "work_order_id",
        ),
        (
            correlation is None or not is_integral(correlation) or not 1 <= correlation < U128,
            "correlation_id",
        ),
        (e["turn_id"] is None or e["turn_id"] <= 0, "turn_id"),
        (e["event_type"] not in EVENT_TYPES, "event_type"),
        (e["work_order_status"] not in STATUSES, "work_order_status"),
        (
            (e["event_type"] == "WORK_ORDER_CANCELED") != (e["work_order_status"] == "CANCELED"),
            "WORK_ORDER_CANCELED",
        ),
        (e["reason_code"] is None or not 1 <= e["reason_code"] < U32, "reason_code"),
        (e["step_id"] is None and e["event_type"] in STEP_EVENT_TYPES, "step_id"),
        text_rule("step_id"),
        (e["step_input_hash"] is not None and e["step_id"] is None, "step_input_hash"),
        text_rule("step_input_hash"),
        (
            lease_missing[0] != lease_missing[1]
            or lease_missing[0] != (e["lease_expires_at"] is None),
            "lease_owner_id, lease_token_hash and lease_expires_at",
        ),
        text_rule("lease_owner_id"),
        text_rule("lease_token_hash"),
        (e["created_at"] is None or e["created_at"] <= 0, "created_at"),
        (
            e["lease_expires_at"] is not None
            and e["created_at"] is not None
            and e["lease_expires_at"] <= e["created_at"],
            "lease_expires_at",
        ),
        text_rule("idempotency_key"),
        (size is not None and not isinstance(e["payload"], dict), "payload"),
        (size is not None and size > PAYLOAD_MAX_BYTES, "payload"),
        (size is not None and deepest_level(e["payload"]) > PAYLOAD_MAX_DEPTH, "payload"),
    ]
    for broken, name in checks:
        if broken:
            return name
    return None


def json_value(value: Any) -> Any:
    """A JSON value as JSON means it: numbers by decimal value, booleans apart from numbers."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float | Decimal):
        return ("number", Decimal(repr(value) if isinstance(value, float) else value).normalize())
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(json_value(item) for item in value))
    return ("object", tuple(sorted((key, json_value(item)) for key, item in value.items())))


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The append's "same content" for an idempotency key, of two normalized events."""
    for name in APPEND_DEFAULTS:
        if name in NOT_CONTENT:
            continue
        if name == "payload":
            if json_value(a[name]) != json_value(b[name]):
                return False
        elif a[name] != b[name]:  # correlation_id: int against Decimal compares by value
            return False
    return True

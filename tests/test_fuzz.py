"""Fuzzed input: generated events through the Python client and through raw SQL.

Hypothesis draws events field by field: mostly a plausible next event of a few work orders,
with zero to three fields replaced by hostile values (boundary lengths, empty, blank and
whitespace of every Unicode kind, look-alikes of whitespace that are not whitespace,
NUL-free control characters, any Unicode, SQL-injection strings, huge and negative numbers
within the parameters' types, u128 bounds, decimals, wrong enums, mismatched or expired
lease fields, non-object and oversized payloads), now and then an exact, re-stamped
(created_at later, as a retry sends it) or altered resend of an earlier event (idempotency
replay or conflict).

An oracle predicts each verdict: the contract's per-event rules written from design §2 and
decisions.md (``contract_violation`` below), then the history rules of the reference model
of ``tests/projection_model.py`` (first event, terminal status, correlation binding, time
order, lease fencing, step attempts). The database must agree event by event:

- a refused event gets SQLSTATE SE004 / OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED, never a
  raw error (22P02, 22003, 54000, XX000, ...), and when the oracle names a per-event rule,
  the DETAIL names the same field; it writes nothing (ledger, projections and audit counts
  are checked after every example);
- an accepted event round-trips exactly through ``OS_WORK_ORDER_LEDGER_READ``: every text
  byte for byte, every number by value, the payload as the same JSON value;
- a replay returns the original event's id, and its audit row records the created_at it
  carried (the ledger keeps the original's).

Two paths, each its own test and database:

- **client**: ``WorkOrderRepository.append`` one event per transaction, and
  ``append_many`` for runs of one tenant's events (a run holding one refused event is sent
  whole first: it must be refused with that ``event_index`` and write nothing);
- **raw SQL**: statements with the values as SQL literals (``psycopg.sql.Literal``), run in
  batches by a PL/pgSQL helper in ``pg_temp`` that executes each event in its own
  subtransaction and reports its SQLSTATE (one round trip per batch).

Values beyond a parameter's SQL type, wrongly typed Python values and JSON that PostgreSQL
cannot hold are tested apart, at the end of this module: the client refuses them with the
contract's code before any round trip; raw SQL meets PostgreSQL's own refusal (22003,
54001) at the call, before the function runs.

Each example gets tenants of its own (``f<N>.a``, ``f<N>.b``), so examples are independent.
Deterministic (``derandomize=True``). ``SELENE_LONG=1`` runs ten times as many examples.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from selene_core_tables.errors import ContractValidationFailed, StorageError, storage_error_from
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.projection_model import (
    APPENDED,
    REFUSED,
    REPLAY,
    Model,
    Verdict,
    normalized,
)
from tests.sql_helpers import APPEND_PARAMETER_TYPES, append_sql, ledger_state, set_tenant

LONG = os.environ.get("SELENE_LONG") == "1"
EVENTS_PER_EXAMPLE = 40
RAW_EXAMPLES = 1600 if LONG else 160  # events: 40 per example
CLIENT_EXAMPLES = 1000 if LONG else 100

pytestmark = pytest.mark.timeout(3600 if LONG else 240)

Connect = Callable[..., psycopg.Connection]
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")

# ------------------------------------------------------------------------------ the contract
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
OPEN_STATUSES = ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING")
TERMINAL_STATUSES = ("DONE", "REFUSED", "FAILED")
TENANT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)
# decisions.md: blank = empty or only Unicode White_Space, plus four zero-width characters.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
ZERO_WIDTH = "\u180e\u200b\u2060\ufeff"
BLANK_CHARACTERS = WHITE_SPACE + ZERO_WIDTH
# Not blank, though they look it or Python's str.isspace() says so (U+001C..U+001F).
NOT_BLANK_LOOK_ALIKES = "\x1c\x1d\x1e\x1f\u200c\u200d\u00ad\u034f\u2800\u3164\uffa0\u115f"
CONTROL = "".join(chr(code) for code in [*range(1, 32), *range(127, 160)])
U128 = 2**128
I64 = 2**63
I32 = 2**31
PAYLOAD_MAX_BYTES = 65536
PAYLOAD_MAX_DEPTH = 64  # no value more than 64 levels below the payload (decisions.md)
MAX_LENGTHS = {
    "work_order_id": 128,
    "step_id": 96,
    "step_input_hash": 128,
    "lease_owner_id": 128,
    "lease_token_hash": 128,
    "idempotency_key": 128,
}


def is_blank(value: str) -> bool:
    return all(ch in BLANK_CHARACTERS for ch in value)


def is_integral(value: Any) -> bool:
    if isinstance(value, Decimal):
        return value.is_finite() and value == value.to_integral_value()
    return isinstance(value, int)


def contract_violation(event: dict[str, Any], payload_size: int | None) -> str | None:
    """The field of the first per-event rule broken, in the order the append checks them.

    Written from design §2 and decisions.md; ``payload_size`` is the payload's jsonb size
    (``pg_column_size``, the measure decisions.md names).
    """
    e = event
    text_rules = []
    for name in ("step_input_hash", "lease_owner_id", "lease_token_hash", "idempotency_key"):
        value = e[name]
        text_rules.append(
            (value is not None and (is_blank(value) or len(value) > MAX_LENGTHS[name]), name)
        )
    lease_given = [e[name] is None for name in ("lease_owner_id", "lease_token_hash")]
    correlation = e["correlation_id"]
    checks = [
        (e["schema_version"] != 1, "schema_version"),
        (e["tenant_id"] is None or not TENANT_ID.fullmatch(e["tenant_id"]), "tenant_id"),
        (
            e["work_order_id"] is None
            or is_blank(e["work_order_id"])
            or len(e["work_order_id"]) > 128,
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
        (e["reason_code"] is None or not 1 <= e["reason_code"] < 2**32, "reason_code"),
        (e["step_id"] is None and e["event_type"] in STEP_EVENT_TYPES, "step_id"),
        (
            e["step_id"] is not None and (is_blank(e["step_id"]) or len(e["step_id"]) > 96),
            "step_id",
        ),
        (e["step_input_hash"] is not None and e["step_id"] is None, "step_input_hash"),
        text_rules[0],
        (
            lease_given[0] != lease_given[1] or lease_given[0] != (e["lease_expires_at"] is None),
            "lease_owner_id, lease_token_hash and lease_expires_at",
        ),
        text_rules[1],
        text_rules[2],
        (e["created_at"] is None or e["created_at"] <= 0, "created_at"),
        (
            e["lease_expires_at"] is not None
            and e["created_at"] is not None
            and e["lease_expires_at"] <= e["created_at"],
            "lease_expires_at",
        ),
        text_rules[3],
        (payload_size is not None and not isinstance(e["payload"], dict), "payload"),
        (payload_size is not None and payload_size > PAYLOAD_MAX_BYTES, "payload"),
        (payload_size is not None and deepest_level(e["payload"]) > PAYLOAD_MAX_DEPTH, "payload"),
    ]
    for broken, name in checks:
        if broken:
            return name
    return None


def deepest_level(value: Any, level: int = 0) -> int:
    """The level of the most deeply nested value: 0 for a scalar, 1 for a member of it, ..."""
    children = (
        value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    )
    return max((deepest_level(child, level + 1) for child in children), default=level)


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
    """The append's "same content" for an idempotency key: every field but the key's scope
    and created_at, which a retry re-stamps."""
    for name in normalized({}):
        if name in (
            "tenant_id",
            "work_order_id",
            "idempotency_key",
            "expected_event_count",
            "created_at",
        ):
            continue
        if name == "payload":
            if json_value(a[name]) != json_value(b[name]):
                return False
        elif a[name] != b[name]:  # correlation_id: int against Decimal compares by value
            return False
    return True


class Oracle:
    """The verdict the database must give each event, in order: contract, replay, history."""

    def __init__(self) -> None:
        self.model = Model()

    def decide(self, attempt: dict[str, Any], payload_size: int | None) -> tuple[Verdict, str]:
        """(verdict, the field of the per-event rule broken or '')."""
        event = normalized(attempt)
        # Both paths declare the tenant first: os_core.set_tenant refuses a malformed one.
        rule = contract_violation(event, payload_size)
        if rule is not None and not TENANT_ID.fullmatch(event["tenant_id"]):
            rule = "tenant_id"
        if rule is not None:
            return Verdict(REFUSED, rule=rule), rule
        event["correlation_id"] = int(event["correlation_id"])
        work_order = self.model.work_order(event["tenant_id"], event["work_order_id"])
        key = event["idempotency_key"]
        if work_order is not None and key in work_order.by_idempotency_key:
            original = work_order.by_idempotency_key[key]
            if not same_content(original, event):
                return Verdict(REFUSED, rule="idempotency conflict"), ""
            return Verdict(REPLAY, position=original["position"]), ""
        rule = self.model.history_violation(work_order, event)
        if rule is not None:
            return Verdict(REFUSED, rule=rule), ""
        return Verdict(APPENDED, position=self.model.accept(work_order, event)), ""


# ------------------------------------------------------------------------------- strategies
INJECTIONS = (
    "'; DROP TABLE os_core.work_order_ledger; --",
    "' OR '1'='1",
    "tenant-a' OR tenant_id <> '",
    "\\'; SELECT pg_sleep(10); --",
    "$$; DELETE FROM ph1j.audit_events; $$",
    "%s %L %I %1$s",
    "'); TRUNCATE os_core.work_orders_current; --",
    '"; SET ROLE postgres; --',
    "*/ SELECT 1 /*",
    "\\x27 OR 1=1",
    "E'\\\\'",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
)
ANY_CHARACTER = st.characters(codec="utf-8", exclude_characters="\x00")
MIXED_ALPHABET = st.one_of(
    st.sampled_from("abcXYZ019-_.:/ "),
    st.sampled_from(BLANK_CHARACTERS),
    st.sampled_from(NOT_BLANK_LOOK_ALIKES),
    st.sampled_from(CONTROL),
    ANY_CHARACTER,
)


def repeated_to(pair: tuple[str, int]) -> str:
    """A seed text repeated and cut to an exact length: long values at a few choices' cost."""
    seed, length = pair
    return (seed * (length // len(seed) + 1))[:length] if seed else ""


def hostile_text(max_length: int) -> st.SearchStrategy[str]:
    """Text at and around ``max_length``, blank or nearly blank, odd or hostile."""
    boundary = [0, 1, max_length - 1, max_length, max_length + 1, 2 * max_length]
    return st.one_of(
        st.tuples(st.text(MIXED_ALPHABET, min_size=1, max_size=6), st.sampled_from(boundary)).map(
            repeated_to
        ),
        st.tuples(
            st.text(st.sampled_from(BLANK_CHARACTERS), min_size=1, max_size=4),
            st.sampled_from(boundary),
        ).map(repeated_to),
        st.tuples(
            st.text(st.sampled_from(BLANK_CHARACTERS), max_size=4),
            st.sampled_from(NOT_BLANK_LOOK_ALIKES + CONTROL),
            st.text(st.sampled_from(BLANK_CHARACTERS), max_size=4),
        ).map("".join),
        st.text(MIXED_ALPHABET, max_size=12),
        st.sampled_from(INJECTIONS),
        # Long runs of one character: 1- to 4-byte UTF-8, combining, wide spaces.
        st.tuples(
            st.sampled_from(["a", "\u00e9", "\u20ac", "\U0001f600", "\u0301", " ", "\u3000"]),
            st.sampled_from([max_length, max_length + 1, 10_000]),
        ).map(repeated_to),
    )


HUGE_BIGINTS = [0, -1, 1, -(I64), I64 - 1, I64 - 2, -(I64) + 1, 2**32, 2**32 - 1, 2**53 + 1]
HOSTILE_CORRELATION_IDS = [
    0,
    -1,
    1,
    U128 - 1,
    U128,
    -(U128),
    2**200,
    I64 - 1,
    Decimal("42.000"),
    Decimal("42.5"),
    Decimal("1E+5"),
    Decimal("1E+38"),
    Decimal("3.4E+38"),
    Decimal("-0"),
    Decimal("0.0000001"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    Decimal("340282366920938463463374607431768211455.5"),
    Decimal("340282366920938463463374607431768211455.000"),
]
WRONG_ENUMS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "work_order_created",
            "Draft",
            "draft",
            "DRAFT ",
            " DONE",
            "DONE\n",
            "WORK_ORDER_CREATED\u200b",
            "WORK_ORDER_CREAT\u0415D",  # Cyrillic capital IE
            "\uff24\uff32\uff21\uff26\uff34",  # DRAFT in fullwidth letters
            "CANCELLED",
            "STEP_STARTED;",
            "NULL",
        ]
    ),
    st.sampled_from(INJECTIONS),
    st.text(MIXED_ALPHABET, max_size=30),
)
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(ANY_CHARACTER, max_size=20),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(ANY_CHARACTER, max_size=6), children, max_size=3),
    ),
    max_leaves=6,
)


@dataclass(frozen=True)
class Oversized:
    """A payload built rather than drawn: {"blob": character * count}."""

    character: str
    count: int

    def build(self) -> dict[str, str]:
        return {"blob": self.character * self.count}


@dataclass(frozen=True)
class Nested:
    """A payload built rather than drawn: {"a": [[...]]}, its innermost list at ``depth``."""

    depth: int

    def build(self) -> dict[str, Any]:
        value: list[Any] = []
        for _ in range(self.depth - 1):
            value = [value]
        return {"a": value}


PAYLOADS = st.one_of(
    st.dictionaries(st.text(ANY_CHARACTER, max_size=6), JSON_VALUES, max_size=4),
    st.lists(JSON_VALUES, max_size=3),
    JSON_SCALARS.filter(lambda value: value is not None),
    st.builds(
        Oversized,
        st.sampled_from(["x", "é", "😀"]),
        # jsonb {"blob": s} is 20 bytes + s: the boundary is at 65516 bytes of s.
        st.sampled_from([65_515, 65_516, 65_517, 32_758, 32_759, 16_379, 16_380, 300_000]),
    ),
    st.builds(Nested, st.sampled_from([63, 64, 65, 66, 500])),
)
FIELDS_TO_FUZZ = (
    "tenant_id",
    "work_order_id",
    "correlation_id",
    "turn_id",
    "event_type",
    "work_order_status",
    "reason_code",
    "created_at",
    "step_id",
    "step_input_hash",
    "lease",
    "lease_owner_id",
    "lease_token_hash",
    "lease_expires_at",
    "idempotency_key",
    "payload",
    "schema_version",
)


def hostile_value(name: str) -> st.SearchStrategy[Any]:
    """Hostile values for one field (or, for "lease", a mismatched set of lease fields)."""
    if name == "tenant_id":
        return st.one_of(
            st.sampled_from(
                [
                    "",
                    " ",
                    "a" * 65,
                    "tenant a",
                    "tenant/a",
                    "TENANT-Ä",
                    "\uff54\uff45\uff4e\uff41\uff4e\uff54",
                    "t\u200b",
                ]
            ),
            hostile_text(64),
        )
    if name in MAX_LENGTHS:
        return hostile_text(MAX_LENGTHS[name])
    if name == "correlation_id":
        return st.one_of(st.sampled_from(HOSTILE_CORRELATION_IDS), st.integers(-(U128), 2 * U128))
    if name in ("turn_id", "created_at", "lease_expires_at"):
        return st.one_of(st.sampled_from(HUGE_BIGINTS), st.integers(-(I64), I64 - 1))
    if name == "reason_code":
        return st.one_of(
            st.sampled_from([0, -1, 2**32, 2**32 - 1, 1, I64 - 1, -(I64)]),
            st.integers(-(I64), I64 - 1),
        )
    if name == "schema_version":
        return st.sampled_from([0, 2, -1, I32 - 1, -(I32), 100])
    if name in ("event_type", "work_order_status"):
        return st.one_of(WRONG_ENUMS, st.sampled_from(EVENT_TYPES + STATUSES))
    if name == "payload":
        return PAYLOADS
    assert name == "lease"
    return st.fixed_dictionaries(
        {
            "lease_owner_id": st.sampled_from([None, "owner-1", "owner-2"]),
            "lease_token_hash": st.sampled_from([None, "token"]),
            "lease_expires_at": st.sampled_from([None, -1, 0, 1, I64 - 1]),
        }
    )


HOSTILE_FIELD = st.one_of(
    *[st.tuples(st.just(name), hostile_value(name)) for name in FIELDS_TO_FUZZ]
)


@dataclass(frozen=True)
class Plan:
    """How to build one event from the oracle's state: all choices drawn at once."""

    tenant: int
    work_order: int
    event_type: int
    status: int
    turn_delta: int
    time_delta: int
    reason_code: int
    step: int
    lease: int
    lease_span: int
    key: int
    payload: Any
    # 0: no; 1: resend an earlier event; 2: resend it with one field changed; 3: resend it
    # re-stamped, created_at later by time_delta (or 1)
    resend: int
    fuzz: tuple[tuple[str, Any], ...]


PLANS = st.builds(
    Plan,
    tenant=st.integers(0, 1),
    work_order=st.integers(0, 5),
    event_type=st.integers(0, 99),
    status=st.integers(0, 99),
    turn_delta=st.integers(0, 3),
    time_delta=st.sampled_from([0, 1, 1_000]),
    reason_code=st.integers(1, 2**32 - 1),
    step=st.integers(0, 1),
    lease=st.integers(0, 9),
    lease_span=st.sampled_from([1, 10, 1_000_000]),
    key=st.integers(0, 9),
    payload=st.one_of(
        st.none(),
        st.none(),
        st.dictionaries(st.text(ANY_CHARACTER, max_size=6), JSON_SCALARS, max_size=3),
        st.dictionaries(st.text(ANY_CHARACTER, max_size=6), JSON_VALUES, max_size=3),
    ),
    resend=st.sampled_from([0] * 12 + [1, 2, 3]),
    # No hostile field 4 times in 7, one 2 times in 7, else two or three.
    fuzz=st.one_of(
        st.just(()),
        st.just(()),
        st.just(()),
        st.just(()),
        HOSTILE_FIELD.map(lambda pair: (pair,)),
        HOSTILE_FIELD.map(lambda pair: (pair,)),
        st.lists(HOSTILE_FIELD, min_size=2, max_size=3).map(tuple),
    ),
)
WORK_ORDERS = tuple(f"wo-{number}" for number in range(1, EVENTS_PER_EXAMPLE + 5))


@dataclass
class Generated:
    fields: dict[str, Any]
    verdict: Verdict
    rule: str  # the per-event rule's field, or ''


@dataclass
class Example:
    """One example's events, generated against the oracle, with its tenants."""

    tenants: tuple[str, str]
    oracle: Oracle = field(default_factory=Oracle)
    events: list[Generated] = field(default_factory=list)
    correlation_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_000))


def build_event(example: Example, plan: Plan) -> dict[str, Any]:
    """The event a plan describes, as a plausible next event of the oracle's state."""
    model = example.oracle.model
    if plan.resend and example.events:
        earlier = example.events[(plan.event_type * 7919) % len(example.events)].fields
        fields = dict(earlier)
        if plan.resend == 2:
            fields["reason_code"] = plan.reason_code
        elif plan.resend == 3:
            fields["created_at"] = min(fields["created_at"] + max(plan.time_delta, 1), I64 - 1)
        return fields
    tenant = example.tenants[plan.tenant]
    # Four work orders open at a time: one that reached a terminal status is replaced.
    alive = [
        name
        for name in WORK_ORDERS
        if (current := model.work_order(tenant, name)) is None or not current.is_terminal
    ]
    work_order_id = alive[plan.work_order % 4]
    if plan.work_order >= 4:  # a work order the oracle has, whatever its id and state
        known = sorted(key for key in model.work_orders if key[0] == tenant)
        if known:
            work_order_id = known[plan.work_order % len(known)][1]
    current = model.work_order(tenant, work_order_id)
    if current is None:
        event_type = "WORK_ORDER_CREATED"
        correlation_id = next(example.correlation_ids)
        turn_id, created_at = 1, 1_000
    else:
        if plan.event_type < 2:
            event_type = "WORK_ORDER_CANCELED"
        elif plan.event_type < 5:
            event_type = "WORK_ORDER_CREATED"  # a second one: refused
        else:
            event_type = EVENT_TYPES[1 + plan.event_type % 6]
        open_steps = current.open_steps()
        if event_type in ("STEP_FINISHED", "STEP_FAILED") and not open_steps:
            event_type = "STEP_STARTED"
        correlation_id = current.correlation_id
        # Within bigint: values beyond the parameter types are tested apart (see the end).
        turn_id = min(current.latest["turn_id"] + plan.turn_delta, I64 - 1)
        created_at = min(current.latest["created_at"] + plan.time_delta, I64 - 1)
    if event_type == "WORK_ORDER_CANCELED":
        status = "CANCELED"
    elif plan.status < 3:
        status = TERMINAL_STATUSES[plan.status]
    else:
        status = OPEN_STATUSES[plan.status % 4]
    fields: dict[str, Any] = {
        "tenant_id": tenant,
        "work_order_id": work_order_id,
        "correlation_id": correlation_id,
        "turn_id": max(turn_id, 1),
        "event_type": event_type,
        "work_order_status": status,
        "reason_code": plan.reason_code,
        "created_at": created_at,
    }
    if event_type in STEP_EVENT_TYPES:
        steps = current.open_steps() if current and event_type != "STEP_STARTED" else []
        fields["step_id"] = steps[0] if steps else ("fetch", "render")[plan.step]
        if plan.step:
            fields["step_input_hash"] = f"sha256:{plan.reason_code:x}"
    if plan.lease >= 7:
        fields["lease_owner_id"] = f"owner-{plan.lease - 6}"
        fields["lease_token_hash"] = f"token-{plan.reason_code % 97}"
        fields["lease_expires_at"] = min(created_at + plan.lease_span, I64 - 1)
    if plan.key >= 6:
        fields["idempotency_key"] = f"k{plan.key - 6}"
    if plan.payload is not None:
        fields["payload"] = plan.payload
    for name, value in plan.fuzz:
        if name.startswith("lease_") and "lease_owner_id" not in fields:
            # One lease field made hostile: on an event that carries a lease, so that the
            # field's own rule is what is tested, not "all three or none".
            fields["lease_owner_id"] = "owner-1"
            fields["lease_token_hash"] = "token"
            fields["lease_expires_at"] = min(created_at + 10, I64 - 1)
        if name == "lease":
            fields.update(value)
        elif name == "payload" and isinstance(value, Oversized | Nested):
            fields["payload"] = value.build()
        else:
            fields[name] = value
        if name == "tenant_id" and isinstance(value, str) and TENANT_ID.fullmatch(value):
            # A valid tenant id drawn here must stay this example's: keep it in the namespace.
            fields["tenant_id"] = (example.tenants[0] + "." + value)[:64]
    return fields


class PayloadSizes:
    """The jsonb size (pg_column_size) of each payload, asked of the server once."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        self._sizes: dict[str, int] = {}

    def __call__(self, payload: Any) -> int | None:
        if payload is None:
            return None
        text = json.dumps(payload)
        if text not in self._sizes:
            row = self._conn.execute("SELECT pg_column_size(%s::text::jsonb)", [text]).fetchone()
            self._sizes[text] = row[0]
        return self._sizes[text]


def generate(data: st.DataObject, example: Example, sizes: PayloadSizes) -> None:
    for _ in range(EVENTS_PER_EXAMPLE):
        fields = build_event(example, data.draw(PLANS))
        verdict, rule = example.oracle.decide(fields, sizes(fields.get("payload")))
        example.events.append(Generated(fields, verdict, rule))


# ------------------------------------------------------------------------------- the checks
@dataclass
class Figures:
    events: int = 0
    appended: int = 0
    replays: int = 0
    refused: int = 0
    refused_per_event_rule: int = 0
    batches: int = 0
    refused_batches: int = 0
    rules: Counter[str] = field(default_factory=Counter)


def check_refusal(generated: Generated, sqlstate: str | None, message: str, detail: str) -> None:
    fields = generated.fields
    assert (sqlstate, message) == CONTRACT, (
        f"refused with {sqlstate} {message!r} ({detail!r}) instead of SE004: {fields!r}"
    )
    too_deep = deepest_level(fields.get("payload")) > PAYLOAD_MAX_DEPTH
    if too_deep and detail.startswith("payload must not nest"):
        return  # the client checks nesting before sending, ahead of the rules listed before it
    if generated.rule:
        assert generated.rule.split(",")[0] in detail, (
            f"DETAIL {detail!r} does not name {generated.rule!r}: {fields!r}"
        )


def check_result(
    generated: Generated,
    ids: dict[int, int],
    outcome: tuple[int, bool] | None,
    error: tuple[str | None, str, str] | None,
    raw_errors: list[str],
) -> None:
    """Compare one event's outcome with the oracle's verdict; ``ids``: position -> event id.

    A refusal with another SQLSTATE than SE004 is collected in ``raw_errors`` (the example
    then fails, and Hypothesis shrinks it); any other disagreement fails at once.
    """
    verdict = generated.verdict
    if error is not None:
        assert verdict.outcome == REFUSED, (
            f"oracle says {verdict.outcome}, database refused {error}: {generated.fields!r}"
        )
        if error[0] != CONTRACT[0]:
            raw_errors.append(f"{error[0]} {error[1]!r}: {generated.fields!r}")
            return
        check_refusal(generated, *error)
        return
    assert outcome is not None
    assert verdict.outcome != REFUSED, (
        f"accepted, but breaks {verdict.rule!r}: {generated.fields!r} -> {outcome}"
    )
    event_id, replay = outcome
    assert replay is (verdict.outcome == REPLAY), (generated.fields, verdict, outcome)
    if verdict.outcome == REPLAY:
        assert event_id == ids[verdict.position], (generated.fields, verdict, outcome)
    else:
        ids[verdict.position] = event_id


def check_round_trip(example: Example, ids: dict[int, int], read: Callable[[str], list]) -> None:
    """Every accepted event reads back exactly as sent; nothing else is in its tenants."""
    sent = {
        ids[generated.verdict.position]: generated.fields
        for generated in example.events
        if generated.verdict.outcome == APPENDED
    }
    tenants = {fields["tenant_id"] for fields in sent.values()}
    stored = {row["work_order_event_id"]: row for tenant in tenants for row in read(tenant)}
    assert sorted(stored) == sorted(sent)
    for event_id, fields in sent.items():
        row = stored[event_id]
        expected = normalized(fields)
        for name, value in expected.items():
            if name == "expected_event_count":
                continue
            got = row[name]
            if name == "payload":
                assert json_value(got) == json_value(value), (name, value, got)
            elif name == "correlation_id":
                assert Decimal(got) == Decimal(value) and is_integral(Decimal(got)), (value, got)
            else:
                assert got == value and type(got) is type(value), (name, value, got)


def check_written(su: psycopg.Connection, dba: psycopg.Connection, example: Example) -> None:
    """The example's tenants hold its accepted events, their audit rows and nothing else."""
    verdicts = [generated.verdict.outcome for generated in example.events]
    main, _ = example.tenants
    tenants = su.execute(
        "SELECT DISTINCT tenant_id FROM os_core.work_order_ledger"
        " WHERE tenant_id = ANY(%s) OR tenant_id LIKE %s",
        [list(example.tenants), main + ".%"],
    ).fetchall()
    counts = su.execute(
        "SELECT (SELECT count(*) FROM os_core.work_order_ledger WHERE tenant_id = ANY(%(t)s)),"
        " (SELECT count(*) FROM os_core.work_orders_current WHERE tenant_id = ANY(%(t)s)),"
        " (SELECT count(*) FROM ph1j.audit_events"
        "  WHERE tenant_id = ANY(%(t)s) AND outcome = 'APPENDED'),"
        " (SELECT count(*) FROM ph1j.audit_events"
        "  WHERE tenant_id = ANY(%(t)s) AND outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'),"
        " (SELECT count(*) FROM ph1j.audit_events WHERE tenant_id = ANY(%(t)s))",
        {"t": [row[0] for row in tenants]},
    ).fetchone()
    appended, replays = verdicts.count(APPENDED), verdicts.count(REPLAY)
    work_orders = len(example.oracle.model.work_orders)
    assert counts == (appended, work_orders, appended, replays, appended + replays)
    carried = su.execute(
        "SELECT replay_created_at FROM ph1j.audit_events"
        " WHERE tenant_id = ANY(%s) AND outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY'"
        " ORDER BY audit_event_id",
        [[row[0] for row in tenants]],
    ).fetchall()
    assert [row[0] for row in carried] == [
        generated.fields["created_at"]
        for generated in example.events
        if generated.verdict.outcome == REPLAY
    ]
    with dba.transaction():
        for (tenant,) in tenants:
            drift = dba.execute(
                "SELECT * FROM os_core.work_orders_current_verify(%s::text)", [tenant]
            ).fetchall()
            assert drift == [], drift


def check_totals(su: psycopg.Connection, figures: Figures) -> None:
    """The whole database: nothing written but the accepted events and their audit rows."""
    counts = su.execute(
        "SELECT (SELECT count(*) FROM os_core.work_order_ledger),"
        " (SELECT count(*) FROM ph1j.audit_events WHERE outcome = 'APPENDED'),"
        " (SELECT count(*) FROM ph1j.audit_events"
        "  WHERE outcome = 'OS_WORK_ORDER_IDEMPOTENCY_REPLAY')"
    ).fetchone()
    assert counts == (figures.appended, figures.appended, figures.replays)


def tally(example: Example, figures: Figures) -> None:
    for generated in example.events:
        figures.events += 1
        outcome = generated.verdict.outcome
        figures.appended += outcome == APPENDED
        figures.replays += outcome == REPLAY
        figures.refused += outcome == REFUSED
        figures.refused_per_event_rule += bool(generated.rule)
        figures.rules[generated.rule or generated.verdict.rule or outcome] += 1


# --------------------------------------------------------------------------------- raw SQL
RAW_HELPER = """
CREATE FUNCTION pg_temp.fuzz_batch(p_declare text[], p_append text[])
RETURNS TABLE (idx integer, event_id bigint, replay boolean, state text, message text, detail text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(cardinality(p_append), 0) LOOP
        idx := i;
        event_id := NULL;
        replay := NULL;
        state := NULL;
        message := NULL;
        detail := NULL;
        BEGIN
            EXECUTE p_declare[i];
            EXECUTE p_append[i] INTO event_id, replay;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS
                state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
        END;
        RETURN NEXT;
    END LOOP;
END;
$$
"""


def raw_statements(conn: psycopg.Connection, fields: dict[str, Any]) -> tuple[str, str]:
    """SET the tenant, and call the append, with every value as an SQL literal."""
    declare = sql.SQL("SELECT os_core.set_tenant({}::text)").format(
        sql.Literal(fields["tenant_id"])
    )
    arguments = []
    for name, value in fields.items():
        literal = sql.Literal(Jsonb(value) if name == "payload" else value)
        arguments.append(
            sql.SQL("{} => ({})::{}").format(
                sql.Identifier(f"p_{name}"), literal, sql.SQL(APPEND_PARAMETER_TYPES[name])
            )
        )
    call = sql.SQL(
        "SELECT work_order_event_id, idempotency_replay FROM os_core.work_order_ledger_append({})"
    ).format(sql.SQL(", ").join(arguments))
    return declare.as_string(conn), call.as_string(conn)


def run_raw(app: psycopg.Connection, example: Example, figures: Figures) -> list[str]:
    """Run the example's events as literal SQL, one subtransaction each; return raw errors."""
    ids: dict[int, int] = {}
    raw_errors: list[str] = []
    statements = [raw_statements(app, generated.fields) for generated in example.events]
    with app.transaction():
        rows = app.execute(
            "SELECT * FROM pg_temp.fuzz_batch(%s::text[], %s::text[])",
            [[declare for declare, _ in statements], [call for _, call in statements]],
        ).fetchall()
    figures.batches += 1
    assert len(rows) == len(example.events)
    for generated, (_, event_id, replay, state, message, detail) in zip(
        example.events, rows, strict=True
    ):
        check_result(
            generated,
            ids,
            None if state else (event_id, replay),
            (state, message, detail or "") if state else None,
            raw_errors,
        )

    def read(tenant: str) -> list[dict[str, Any]]:
        with app.transaction():
            set_tenant(app, tenant)
            cursor = app.cursor(row_factory=dict_row)
            return cursor.execute(
                "SELECT * FROM os_core.work_order_ledger_read("
                "p_tenant_id => %s::text, p_limit => 10000)",
                [tenant],
            ).fetchall()

    check_round_trip(example, ids, read)
    return raw_errors


def test_fuzzed_events_through_raw_sql(postgresql: psycopg.Connection, connect: Connect) -> None:
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    dba = connect(user=DBA_ROLE, autocommit=True)
    app.execute(RAW_HELPER)
    sizes = PayloadSizes(postgresql)
    figures = Figures()
    numbers = itertools.count()

    @settings(
        max_examples=RAW_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def agrees(data: st.DataObject) -> None:
        number = next(numbers)
        example = Example((f"f{number}.a", f"f{number}.b"))
        generate(data, example, sizes)
        raw_errors = run_raw(app, example, figures)
        check_written(postgresql, dba, example)
        assert raw_errors == [], "refused with a raw error, not SE004:\n" + "\n".join(raw_errors)
        tally(example, figures)

    agrees()
    print(f"raw SQL fuzz: {figures}")
    check_totals(postgresql, figures)
    assert figures.events >= RAW_EXAMPLES * EVENTS_PER_EXAMPLE
    assert figures.appended > figures.events // 5
    assert figures.refused_per_event_rule > figures.events // 5


# ---------------------------------------------------------------------------------- client
def client_error(error: StorageError | psycopg.Error) -> tuple[str | None, str, str]:
    if isinstance(error, StorageError):
        return error.sqlstate, error.reason_code, error.detail or ""
    return error.sqlstate, str(error), ""


def run_client(repo: WorkOrderRepository, example: Example, figures: Figures) -> list[str]:
    """Runs of one tenant go through append_many; a run with one refusal is sent whole first."""
    ids: dict[int, int] = {}
    raw_errors: list[str] = []
    runs: list[list[Generated]] = []
    for generated in example.events:
        tenant = generated.fields["tenant_id"]
        if runs and runs[-1][0].fields["tenant_id"] == tenant and len(runs[-1]) < 12:
            runs[-1].append(generated)
        else:
            runs.append([generated])

    def one(generated: Generated) -> None:
        try:
            result = repo.append(WorkOrderLedgerEventInput(**generated.fields))
        except (StorageError, psycopg.Error) as error:
            assert error.sqlstate != CONTRACT[0] or isinstance(error, ContractValidationFailed)
            check_result(generated, ids, None, client_error(error), raw_errors)
            return
        outcome = (result.work_order_event_id, result.idempotency_replay)
        check_result(generated, ids, outcome, None, raw_errors)

    def many(batch: list[Generated]) -> None:
        results = repo.append_many(
            WorkOrderLedgerEventInput(**generated.fields) for generated in batch
        )
        figures.batches += 1
        for generated, result in zip(batch, results, strict=True):
            outcome = (result.work_order_event_id, result.idempotency_replay)
            check_result(generated, ids, outcome, None, raw_errors)

    for run in runs:
        refused = [index for index, g in enumerate(run) if g.verdict.outcome == REFUSED]
        if len(run) >= 2 and refused == [] and TENANT_ID.fullmatch(run[0].fields["tenant_id"]):
            many(run)
        elif (
            len(run) >= 2 and len(refused) == 1 and TENANT_ID.fullmatch(run[0].fields["tenant_id"])
        ):
            doomed = run[refused[0]]
            with pytest.raises((StorageError, psycopg.Error)) as caught:
                repo.append_many(WorkOrderLedgerEventInput(**g.fields) for g in run)
            error = caught.value
            assert error.event_index == refused[0], (error.event_index, refused, doomed.fields)
            if error.sqlstate != CONTRACT[0]:
                raw_errors.append(f"{error.sqlstate} {error}: {doomed.fields!r}")
            else:
                check_refusal(doomed, *client_error(error))
            figures.refused_batches += 1
            rest = [g for g in run if g is not doomed]
            if len(rest) >= 2:
                many(rest)
            else:
                one(rest[0])
        else:
            for generated in run:
                one(generated)

    check_round_trip(
        example,
        ids,
        lambda tenant: [
            {
                **vars(event),
                "event_type": str(event.event_type),
                "work_order_status": str(event.work_order_status),
            }
            for event in repo.ledger(tenant, page_size=10_000)
        ],
    )
    return raw_errors


def test_fuzzed_events_through_the_python_client(
    postgresql: psycopg.Connection, connect: Connect
) -> None:
    postgresql.autocommit = True
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    dba = connect(user=DBA_ROLE, autocommit=True)
    sizes = PayloadSizes(postgresql)
    figures = Figures()
    numbers = itertools.count()

    @settings(
        max_examples=CLIENT_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def agrees(data: st.DataObject) -> None:
        number = next(numbers)
        example = Example((f"f{number}.a", f"f{number}.b"))
        generate(data, example, sizes)
        raw_errors = run_client(repo, example, figures)
        check_written(postgresql, dba, example)
        assert raw_errors == [], "refused with a raw error, not SE004:\n" + "\n".join(raw_errors)
        tally(example, figures)

    agrees()
    print(f"client fuzz: {figures}")
    check_totals(postgresql, figures)
    assert figures.events >= CLIENT_EXAMPLES * EVENTS_PER_EXAMPLE
    assert figures.appended > figures.events // 5
    assert figures.refused_batches > 0


# ------------------------------------------------------------------- the defects, one by one
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

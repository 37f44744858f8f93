"""Hypothesis strategies of the fuzz test (test_fuzz.py): hostile values, payloads, plans.

Each plan says how to build one event from the reference model's state; the strategies
draw hostile values for a field (boundary lengths, blank and look-alike characters,
injection strings, huge numbers, wrong enums, oversized and deeply nested payloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from tests.contract_oracle import (
    BLANK_CHARACTERS,
    EVENT_TYPES,
    MAX_LENGTHS,
    STATUSES,
    U128,
)

EVENTS_PER_EXAMPLE = 40

# ------------------------------------------------------------------------------ the contract
# For generating: the statuses an event may end or stay open with.
OPEN_STATUSES = ("DRAFT", "CLARIFY", "CONFIRM", "EXECUTING")
ENDING_STATUSES = ("DONE", "REFUSED", "FAILED")
# Not blank, though they look it or Python's str.isspace() says so (U+001C..U+001F).
NOT_BLANK_LOOK_ALIKES = "\x1c\x1d\x1e\x1f\u200c\u200d\u00ad\u034f\u2800\u3164\uffa0\u115f"
CONTROL = "".join(chr(code) for code in [*range(1, 32), *range(127, 160)])
I64 = 2**63
I32 = 2**31


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

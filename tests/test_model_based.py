"""Model-based test of the append and its three projections (issue 4, item 6).

Hypothesis generates histories of append attempts across tenants and work orders, mostly
valid, with invalid ones mixed in; each attempt goes through
``os_core.work_order_ledger_append`` as the selene_os login, one transaction per event, and
the database must accept it, refuse it (SE004, nothing written) or report a replay exactly
as the reference model in ``tests/projection_model.py`` says (a replay's audit row naming the
original event and the created_at the replay carried), and leave the work order's
projection rows as the model has them. At the end of each example all the tenants' rows must
equal the model's, verify must report no drift, and a rebuild must rewrite nothing and leave
the projections as they were.

Every rule is also exercised, whatever Hypothesis draws, by one hand-written history
(``EVERY_RULE``) run as an explicit example; ``test_model_on_every_rule`` checks the model on it.

Determinism: ``derandomize=True`` seeds Hypothesis from the test function, so every run of
the same source tree (CI included) tries the same examples; ``database=None`` keeps no
example database, so a failure found on one machine is not replayed first on another, and a
failure is reported with its shrunk history. (Hypothesis still caches the source's constants
in ``.hypothesis/``, which it gitignores itself.) All examples share this test's database:
each one gets its own tenant ids (``mb<N>.<tenant>``) instead of a clean-up, which the
append-only ledger would refuse anyway.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import psycopg
from hypothesis import example, given, note, settings
from hypothesis import strategies as st
from psycopg.rows import dict_row

from tests.conftest import APP_ROLE, CITUS, DBA_ROLE
from tests.projection_model import (
    APPENDED,
    CURRENT_COLUMNS,
    EVENT_ID_COLUMNS,
    LEASE_COLUMNS,
    REFUSED,
    REPLAY,
    STEP_ATTEMPT_COLUMNS,
    Model,
    Verdict,
    WorkOrder,
)
from tests.sql_helpers import append, set_tenant

Connect = Callable[..., psycopg.Connection]
T = TypeVar("T")

MAX_EXAMPLES = 200
MIN_EVENTS = 1
MEAN_EXTRA = 25  # events beyond MIN_EVENTS, on average (before the cap)
MAX_EVENTS = 50

TENANTS = ("A", "B", "C")
WORK_ORDERS = ("wo-1", "wo-2", "wo-3")
STEPS = ("fetch", "render")
OWNERS = ("owner-1", "owner-2")
OPEN_STATUSES = ("EXECUTING", "DRAFT", "CLARIFY", "CONFIRM")
END_STATUSES = ("DONE", "REFUSED", "FAILED")
CONTRACT_VIOLATION = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")

PROJECTIONS = {
    "work_orders_current": (CURRENT_COLUMNS, ("tenant_id", "work_order_id")),
    "work_order_step_attempts": (
        STEP_ATTEMPT_COLUMNS,
        ("tenant_id", "work_order_id", "step_id", "attempt_index"),
    ),
    "work_order_leases": (LEASE_COLUMNS, ("tenant_id", "work_order_id")),
}


# --------------------------------------------------------------------------- generation
def choose(draw: Callable[..., Any], options: Sequence[tuple[int, T]]) -> T:
    """One of ``options`` (weight, value) by weight; shrinks towards the first one."""
    ticket = draw(st.integers(0, sum(weight for weight, _ in options) - 1))
    for weight, value in options:
        if ticket < weight:
            return value
        ticket -= weight
    raise AssertionError("unreachable")


class HistoryBuilder:
    """Draws append attempts one by one, steered by a model of what was accepted so far.

    The model only biases the drawing (towards events that fit the history, so that most
    are accepted); whether an attempt is valid is decided afresh when the test runs it.
    """

    def __init__(self, draw: Callable[..., Any]) -> None:
        self.draw = draw
        self.model = Model()
        self.attempts: list[dict[str, Any]] = []
        # Accepted keyed attempts, as sent: what a replay resends.
        self.sent_by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.keys_used: list[str] = []
        self.tenants = TENANTS[: draw(st.integers(1, len(TENANTS)))]

    # -- the loop
    def add_next(self) -> None:
        tenant_id, work_order_id = self.pick_work_order()
        work_order = self.model.work_order(tenant_id, work_order_id)
        if work_order is None:
            attempt = self.first_event(tenant_id, work_order_id)
        elif work_order.is_terminal:
            attempt = choose(self.draw, [(3, self.replay), (2, self.after_terminal)])(work_order)
        else:
            kind = choose(
                self.draw,
                [
                    # Valid when they fit the state, which they are drawn to do.
                    (10, self.field_set),
                    (8, self.status_change),
                    (10, self.step_start),
                    (10, self.step_close),
                    (12, self.lease_event),
                    (5, self.terminal),
                    (3, self.cancel),
                    (6, self.replay),
                    # Invalid on purpose (some turn out valid when the state allows nothing else).
                    (2, self.second_create),
                    (2, self.changed_correlation),
                    (2, self.backwards),
                    (2, self.close_unopened),
                    (2, self.start_open),
                    (3, self.takeover),
                    (2, self.stale_count),
                    (2, self.key_conflict),
                    (4, self.contract_breach),
                ],
            )
            attempt = kind(work_order)
        verdict = self.model.append(attempt)
        self.attempts.append(attempt)
        key = attempt.get("idempotency_key")
        if key is not None and verdict.outcome == APPENDED:
            self.keys_used.append(key)
            self.sent_by_key[(tenant_id, work_order_id, key)] = attempt

    def pick_work_order(self) -> tuple[str, str]:
        """Mostly the previous attempt's work order (unless it ended), else an ongoing one."""
        if self.attempts:
            previous = self.attempts[-1]
            work_order = self.model.work_order(previous["tenant_id"], previous["work_order_id"])
            stay = 2 if work_order is not None and work_order.is_terminal else 7
            if self.draw(st.integers(0, 9)) < stay:
                return previous["tenant_id"], previous["work_order_id"]
        ongoing = [
            key
            for key, work_order in sorted(self.model.work_orders.items())
            if key[0] in self.tenants and not work_order.is_terminal
        ]
        if ongoing and choose(self.draw, [(1, True), (1, False)]):
            return self.draw(st.sampled_from(ongoing))
        return self.draw(st.sampled_from(self.tenants)), self.draw(st.sampled_from(WORK_ORDERS))

    # -- shared parts
    def clock_step(self) -> int:
        return choose(self.draw, [(3, 100), (2, 0), (2, 1_000), (1, 1)])

    def idempotency_key(self) -> str | None:
        kind = choose(self.draw, [(5, "none"), (4, "fresh"), (1, "reused")])
        if kind == "fresh" or (kind == "reused" and not self.keys_used):
            return f"key-{len(self.attempts)}"
        if kind == "reused":
            # Another work order's key: a different scope, so a new key here (or a replay).
            return self.draw(st.sampled_from(self.keys_used))
        return None

    def lease_fields(self, owner_id: str, created_at: int) -> dict[str, Any]:
        return {
            "lease_owner_id": owner_id,
            "lease_token_hash": f"token-{owner_id}-{len(self.attempts)}",
            "lease_expires_at": created_at + choose(self.draw, [(3, 500), (2, 100), (1, 1)]),
        }

    def on(
        self, work_order: WorkOrder, event_type: str, status: str, **fields: Any
    ) -> dict[str, Any]:
        """An event of an existing work order that fits its history, with ``fields`` on top."""
        created_at = work_order.latest["created_at"] + self.clock_step()
        attempt: dict[str, Any] = {
            "tenant_id": work_order.tenant_id,
            "work_order_id": work_order.work_order_id,
            "correlation_id": work_order.correlation_id,
            "turn_id": len(work_order.events) + 1,
            "event_type": event_type,
            "work_order_status": status,
            "reason_code": self.draw(st.integers(1, 3)),
            "created_at": created_at,
        }
        key = self.idempotency_key()
        if key is not None:
            attempt["idempotency_key"] = key
        if choose(self.draw, [(6, False), (1, True)]):
            attempt["expected_event_count"] = len(work_order.events)
        if "lease_owner_id" not in fields and choose(self.draw, [(6, False), (1, True)]):
            holder = work_order.lease.owner_id if work_order.lease else OWNERS[0]
            attempt.update(self.lease_fields(holder, created_at))
        attempt.update(fields)
        return attempt

    def open_status(self, work_order: WorkOrder) -> str:
        return choose(
            self.draw, [(3, work_order.status), (2, self.draw(st.sampled_from(OPEN_STATUSES)))]
        )

    # -- events that fit
    def first_event(self, tenant_id: str, work_order_id: str) -> dict[str, Any]:
        """WORK_ORDER_CREATED, mostly; sometimes another type (refused) or a taken correlation."""
        own_correlation = 100 + WORK_ORDERS.index(work_order_id)  # the same in every tenant
        taken = [
            correlation_id
            for (tenant, correlation_id) in self.model.correlation_bindings
            if tenant == tenant_id
        ] or [own_correlation]
        created_at = self.draw(st.sampled_from([1_000, 2_000, 5_000]))
        attempt: dict[str, Any] = {
            "tenant_id": tenant_id,
            "work_order_id": work_order_id,
            "correlation_id": choose(
                self.draw,
                [
                    (12, own_correlation),
                    (1, self.draw(st.sampled_from(taken))),
                    (1, Decimal(f"{own_correlation}.000")),
                ],
            ),
            "turn_id": 1,
            "event_type": choose(
                self.draw,
                [(12, "WORK_ORDER_CREATED"), (1, "FIELD_SET"), (1, "STEP_STARTED")],
            ),
            "work_order_status": choose(self.draw, [(10, "DRAFT"), (2, "CLARIFY"), (1, "DONE")]),
            "reason_code": 1,
            "created_at": created_at,
        }
        if attempt["event_type"] == "STEP_STARTED" or choose(self.draw, [(5, False), (1, True)]):
            attempt["step_id"] = self.draw(st.sampled_from(STEPS))
        if choose(self.draw, [(4, False), (1, True)]):
            attempt.update(self.lease_fields(self.draw(st.sampled_from(OWNERS)), created_at))
        key = self.idempotency_key()
        if key is not None:
            attempt["idempotency_key"] = key
        expected = choose(self.draw, [(8, None), (2, 0), (1, 1)])
        if expected is not None:
            attempt["expected_event_count"] = expected
        return attempt

    def field_set(self, work_order: WorkOrder) -> dict[str, Any]:
        event_type = choose(self.draw, [(3, "FIELD_SET"), (1, "FIELD_CONFLICT_RESOLVED")])
        fields: dict[str, Any] = {
            "payload": {"field": "amount", "value": self.draw(st.integers(0, 9))}
        }
        if choose(self.draw, [(4, False), (1, True)]):  # a non-step event naming a step
            fields["step_id"] = self.draw(st.sampled_from(STEPS))
            fields["step_input_hash"] = self.draw(st.sampled_from([None, "hash-1"]))
        return self.on(work_order, event_type, self.open_status(work_order), **fields)

    def status_change(self, work_order: WorkOrder) -> dict[str, Any]:
        status = self.draw(st.sampled_from(OPEN_STATUSES))
        return self.on(work_order, "STATUS_CHANGED", status)

    def step_start(self, work_order: WorkOrder) -> dict[str, Any]:
        closed = [step for step in STEPS if work_order.open_attempt(step) is None]
        step_id = self.draw(st.sampled_from(closed or STEPS))
        return self.on(
            work_order,
            "STEP_STARTED",
            "EXECUTING",
            step_id=step_id,
            step_input_hash=self.draw(st.sampled_from([None, "hash-1", "hash-2"])),
        )

    def step_close(self, work_order: WorkOrder) -> dict[str, Any]:
        """Close an open attempt; with none open, start one instead."""
        if not work_order.open_steps():
            return self.step_start(work_order)
        step_id = self.draw(st.sampled_from(work_order.open_steps()))
        event_type = choose(self.draw, [(3, "STEP_FINISHED"), (1, "STEP_FAILED")])
        return self.on(work_order, event_type, "EXECUTING", step_id=step_id)

    def lease_event(self, work_order: WorkOrder, takeover: bool = False) -> dict[str, Any]:
        """A lease-carrying event, often timed around the held lease's expiry.

        At the expiry or after it the held lease has expired: another owner acquires it and
        the holder starts a new tenure. Just before it, the holder renews (same tenure) and
        another owner is refused; ``takeover`` draws that refusal on purpose.
        """
        held = work_order.lease
        last = work_order.latest["created_at"]
        created_at = last + self.clock_step()
        unexpired = held is not None and held.expires_at > last
        if takeover and held is not None and unexpired:
            owner_id = next(owner for owner in OWNERS if owner != held.owner_id)
            created_at = held.expires_at - 1
        else:
            holder = held.owner_id if held is not None else OWNERS[0]
            owner_id = choose(self.draw, [(1, holder), (1, self.draw(st.sampled_from(OWNERS)))])
            if held is not None and unexpired and choose(self.draw, [(1, False), (2, True)]):
                created_at = held.expires_at + choose(self.draw, [(2, 0), (2, 1), (1, -1)])
        event_type = choose(
            self.draw, [(3, "STATUS_CHANGED"), (1, "STEP_STARTED"), (1, "FIELD_SET")]
        )
        fields: dict[str, Any] = {"created_at": created_at}
        if event_type == "STEP_STARTED":
            closed = [step for step in STEPS if work_order.open_attempt(step) is None]
            fields["step_id"] = self.draw(st.sampled_from(closed or STEPS))
        fields.update(self.lease_fields(owner_id, created_at))
        return self.on(work_order, event_type, "EXECUTING", **fields)

    def terminal(self, work_order: WorkOrder) -> dict[str, Any]:
        """A terminal status: by STATUS_CHANGED, or by closing an open step."""
        open_steps = work_order.open_steps()
        if open_steps and choose(self.draw, [(1, False), (1, True)]):
            event_type = choose(self.draw, [(1, "STEP_FINISHED"), (1, "STEP_FAILED")])
            status = "DONE" if event_type == "STEP_FINISHED" else "FAILED"
            step_id = self.draw(st.sampled_from(open_steps))
            return self.on(work_order, event_type, status, step_id=step_id)
        return self.on(work_order, "STATUS_CHANGED", self.draw(st.sampled_from(END_STATUSES)))

    def cancel(self, work_order: WorkOrder) -> dict[str, Any]:
        return self.on(work_order, "WORK_ORDER_CANCELED", "CANCELED")

    def replay(self, work_order: WorkOrder) -> dict[str, Any]:
        """A resend of one of the work order's keyed attempts: the same content, any expected
        count, and now and then a created_at re-stamped later, as a retry does."""
        sent = [
            attempt
            for (tenant_id, work_order_id, _), attempt in self.sent_by_key.items()
            if (tenant_id, work_order_id) == (work_order.tenant_id, work_order.work_order_id)
        ]
        if not sent:
            return (
                self.after_terminal(work_order)
                if work_order.is_terminal
                else self.field_set(work_order)
            )
        attempt = dict(self.draw(st.sampled_from(sent)))
        attempt.pop("expected_event_count", None)
        # The same content, written differently: still a replay.
        if choose(self.draw, [(3, False), (1, True)]):
            attempt["expected_event_count"] = self.draw(st.integers(0, 2))  # not content
        if choose(self.draw, [(3, False), (1, True)]):
            attempt["schema_version"] = 1  # the default, now explicit
        if choose(self.draw, [(3, False), (1, True)]):
            attempt["correlation_id"] = Decimal(f"{int(attempt['correlation_id'])}.000")
        if attempt.get("payload") and choose(self.draw, [(3, False), (1, True)]):
            attempt["payload"] = dict(reversed(attempt["payload"].items()))
        if choose(self.draw, [(2, False), (1, True)]):
            # A retry re-stamps its clock: not content. (Past the lease's expiry the per-event
            # contract refuses it, as it would any event.)
            attempt["created_at"] += self.draw(st.sampled_from([1, 1_000]))
        return attempt

    # -- events that break a rule
    def after_terminal(self, work_order: WorkOrder) -> dict[str, Any]:
        return self.on(work_order, "FIELD_SET", "EXECUTING")

    def second_create(self, work_order: WorkOrder) -> dict[str, Any]:
        return self.on(work_order, "WORK_ORDER_CREATED", "DRAFT")

    def changed_correlation(self, work_order: WorkOrder) -> dict[str, Any]:
        return self.on(
            work_order, "FIELD_SET", "EXECUTING", correlation_id=work_order.correlation_id + 7
        )

    def backwards(self, work_order: WorkOrder) -> dict[str, Any]:
        step_back = self.draw(st.sampled_from([1, 100]))
        created_at = work_order.latest["created_at"] - step_back
        return self.on(work_order, "STATUS_CHANGED", "EXECUTING", created_at=created_at)

    def close_unopened(self, work_order: WorkOrder) -> dict[str, Any]:
        closed = [step for step in STEPS if work_order.open_attempt(step) is None]
        step_id = self.draw(st.sampled_from(closed or STEPS))
        return self.on(work_order, "STEP_FINISHED", "EXECUTING", step_id=step_id)

    def start_open(self, work_order: WorkOrder) -> dict[str, Any]:
        step_id = self.draw(st.sampled_from(work_order.open_steps() or list(STEPS)))
        return self.on(work_order, "STEP_STARTED", "EXECUTING", step_id=step_id)

    def takeover(self, work_order: WorkOrder) -> dict[str, Any]:
        return self.lease_event(work_order, takeover=True)

    def stale_count(self, work_order: WorkOrder) -> dict[str, Any]:
        stale = len(work_order.events) + self.draw(st.sampled_from([-1, 1]))
        return self.on(work_order, "FIELD_SET", "EXECUTING", expected_event_count=stale)

    def key_conflict(self, work_order: WorkOrder) -> dict[str, Any]:
        """A keyed attempt of the work order resent with another reason_code or payload."""
        attempt = self.replay(work_order)
        if "idempotency_key" in attempt and attempt["event_type"] != "FIELD_SET":
            attempt["reason_code"] = attempt["reason_code"] % 3 + 1
        elif "idempotency_key" in attempt:
            attempt["payload"] = {"field": "amount", "value": 10}
        return attempt

    def contract_breach(self, work_order: WorkOrder) -> dict[str, Any]:
        """An event that breaks one per-event rule of the contract."""
        attempt = self.on(work_order, "STATUS_CHANGED", "EXECUTING")
        breach = self.draw(
            st.sampled_from(
                [
                    "cancel without CANCELED",
                    "CANCELED without cancel",
                    "step event without step_id",
                    "step_input_hash without step_id",
                    "blank idempotency_key",
                    "lease without token",
                    "lease expiring at created_at",
                    "fractional correlation_id",
                    "schema_version 2",
                ]
            )
        )
        if breach == "cancel without CANCELED":
            attempt.update(event_type="WORK_ORDER_CANCELED", work_order_status="DONE")
        elif breach == "CANCELED without cancel":
            attempt.update(work_order_status="CANCELED")
        elif breach == "step event without step_id":
            attempt.update(event_type="STEP_STARTED", step_id=None)
        elif breach == "step_input_hash without step_id":
            attempt.update(step_id=None, step_input_hash="hash-1")
        elif breach == "blank idempotency_key":
            attempt.update(idempotency_key=" \t")
        elif breach == "fractional correlation_id":
            attempt.update(correlation_id=Decimal(f"{work_order.correlation_id}.5"))
        elif breach == "schema_version 2":
            attempt.update(schema_version=2)
        else:
            attempt.update(self.lease_fields(OWNERS[0], attempt["created_at"]))
            if breach == "lease without token":
                attempt.update(lease_token_hash=None)
            else:
                attempt.update(lease_expires_at=attempt["created_at"])
        return {name: value for name, value in attempt.items() if value is not None}


@st.composite
def histories(draw: Callable[..., Any]) -> list[dict[str, Any]]:
    """A list of append attempts (tenant ids still the logical A, B, C)."""
    builder = HistoryBuilder(draw)
    # One "go on?" draw per event rather than one length draw, which Hypothesis biases
    # towards short lists; stopping is the first option, so a failure shrinks shorter.
    while len(builder.attempts) < MIN_EVENTS or (
        len(builder.attempts) < MAX_EVENTS and choose(draw, [(1, False), (MEAN_EXTRA, True)])
    ):
        builder.add_next()
    return builder.attempts


# --------------------------------------------------------------------------- every rule
def appending(
    tenant_id: str, work_order_id: str, event_type: str, status: str, created_at: int, **fields: Any
) -> dict[str, Any]:
    """An attempt of the hand-written history; correlation_id 99 + the work order's number."""
    return {
        "tenant_id": tenant_id,
        "work_order_id": work_order_id,
        "correlation_id": 99 + int(work_order_id[-1]),
        "turn_id": 1,
        "event_type": event_type,
        "work_order_status": status,
        "reason_code": 1,
        "created_at": created_at,
        **fields,
    }


def lease(owner_id: str, expires_at: int) -> dict[str, Any]:
    return {
        "lease_owner_id": owner_id,
        "lease_token_hash": f"token-{owner_id}",
        "lease_expires_at": expires_at,
    }


FIRST_EVENT = appending(
    "A", "wo-1", "WORK_ORDER_CREATED", "DRAFT", 1_000, idempotency_key="k1", step_id="fetch",
    **lease("owner-1", 2_000),
)  # fmt: skip

# Every rule once, with its edge: (the outcome the rules give, the attempt). Run as an
# explicit example of the model-based test, so each rule is exercised whatever Hypothesis draws.
# fmt: off
EVERY_RULE: list[tuple[str, dict[str, Any]]] = [
    (APPENDED, FIRST_EVENT),
    (REFUSED, appending("A", "wo-2", "FIELD_SET", "DRAFT", 1_000)),  # not a create first
    (REFUSED, appending("A", "wo-1", "WORK_ORDER_CREATED", "DRAFT", 1_000)),  # a second create
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "DRAFT", 1_000, correlation_id=101)),
    (REFUSED, appending("A", "wo-2", "WORK_ORDER_CREATED", "DRAFT", 1_000, correlation_id=100)),
    # The same work order id and correlation_id in another tenant: another work order.
    (APPENDED, appending("B", "wo-1", "WORK_ORDER_CREATED", "DRAFT", 1_000)),
    (REFUSED, appending("A", "wo-1", "STATUS_CHANGED", "CLARIFY", 999)),  # backwards
    (APPENDED, appending("A", "wo-1", "STATUS_CHANGED", "CLARIFY", 1_000)),  # equal: fine
    (REFUSED, appending("A", "wo-1", "STEP_FINISHED", "EXECUTING", 1_100, step_id="fetch")),
    (APPENDED, appending("A", "wo-1", "STEP_STARTED", "EXECUTING", 1_100, step_id="fetch",
                         step_input_hash="hash-1")),
    (REFUSED, appending("A", "wo-1", "STEP_STARTED", "EXECUTING", 1_100, step_id="fetch")),
    # owner-1's lease runs to 2000: owner-2 may take it at 2000, not at 1999.
    (REFUSED, appending("A", "wo-1", "STATUS_CHANGED", "EXECUTING", 1_999,
                        **lease("owner-2", 3_000))),
    (APPENDED, appending("A", "wo-1", "STATUS_CHANGED", "EXECUTING", 2_000,
                         **lease("owner-2", 3_000))),
    # owner-2 renews before expiry (same tenure), then after it (a new tenure).
    (APPENDED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 2_500, **lease("owner-2", 3_500))),
    (APPENDED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_500, **lease("owner-2", 4_000))),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_500, expected_event_count=4)),
    (APPENDED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_500, expected_event_count=6,
                         idempotency_key="k2", payload={"a": 1, "b": 2})),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_500, idempotency_key="k2",
                        payload={"a": 1, "b": 3})),  # the key again, another content
    # The same content written differently, with a stale expectation: a replay.
    (REPLAY, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_500, idempotency_key="k2",
                       payload={"b": 2, "a": 1}, correlation_id=Decimal("100.000"),
                       schema_version=1, expected_event_count=1)),
    (REPLAY, FIRST_EVENT),
    # AT-OS-CORE-DB-03 as written: the retry re-stamps created_at one nanosecond later.
    (REPLAY, {**FIRST_EVENT, "created_at": 1_001}),
    # A created_at re-stamped to the lease's expiry breaks a per-event rule, checked first.
    (REFUSED, {**FIRST_EVENT, "created_at": 2_000}),
    # Per-event contract rules.
    (REFUSED, appending("A", "wo-1", "WORK_ORDER_CANCELED", "DONE", 3_600)),
    (REFUSED, appending("A", "wo-1", "STATUS_CHANGED", "CANCELED", 3_600)),
    (REFUSED, appending("A", "wo-1", "STEP_STARTED", "EXECUTING", 3_600)),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600, step_input_hash="hash-1")),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600, idempotency_key=" \t")),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600, lease_owner_id="owner-2",
                        lease_expires_at=4_000)),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600, **lease("owner-2", 3_600))),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600,
                        correlation_id=Decimal("100.5"))),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_600, schema_version=2)),
    # Attempt 1 of fetch fails, attempt 2 stays open; the cancel releases owner-2's lease.
    (APPENDED, appending("A", "wo-1", "STEP_FAILED", "EXECUTING", 3_600, step_id="fetch",
                         reason_code=7)),
    (APPENDED, appending("A", "wo-1", "STEP_STARTED", "EXECUTING", 3_700, step_id="fetch")),
    (APPENDED, appending("A", "wo-1", "WORK_ORDER_CANCELED", "CANCELED", 3_800)),
    (REFUSED, appending("A", "wo-1", "FIELD_SET", "EXECUTING", 3_900)),  # after terminal
    (REPLAY, FIRST_EVENT),  # a replay still answers after terminal
    (REFUSED, appending("A", "wo-3", "WORK_ORDER_CREATED", "DRAFT", 1_000,
                        expected_event_count=1)),
    # Created terminal, with a lease: acquired and released by the one event.
    (APPENDED, appending("A", "wo-3", "WORK_ORDER_CREATED", "DONE", 1_000, expected_event_count=0,
                         **lease("owner-1", 2_000))),
    (APPENDED, appending("B", "wo-1", "STEP_STARTED", "EXECUTING", 1_000, step_id="render")),
    (APPENDED, appending("B", "wo-1", "STEP_FINISHED", "DONE", 1_000, step_id="render")),
]
# fmt: on


def test_model_on_every_rule() -> None:
    """The model itself gives each hand-written attempt the outcome the rules say."""
    model = Model()
    outcomes = [model.append(attempt).outcome for _, attempt in EVERY_RULE]
    assert outcomes == [outcome for outcome, _ in EVERY_RULE]


# --------------------------------------------------------------------------- the database
@dataclass(frozen=True)
class Outcome:
    """What the database did with one append."""

    event_id: int | None = None
    replay: bool | None = None
    sqlstate: str | None = None
    message: str | None = None
    detail: str | None = None


def append_as_app(app: psycopg.Connection, attempt: dict[str, Any]) -> Outcome:
    """One transaction: declare the attempt's tenant, append, commit (or roll back)."""
    try:
        with app.transaction():
            set_tenant(app, attempt["tenant_id"])
            event_id, replay = append(app, **attempt)
    except psycopg.Error as error:
        return Outcome(
            sqlstate=error.sqlstate,
            message=error.diag.message_primary,
            detail=error.diag.message_detail,
        )
    return Outcome(event_id=event_id, replay=replay)


def row_counts(su: psycopg.Connection, tenant_id: str) -> dict[str, int]:
    """Rows of the tenant in the ledger, the audit trail and the three projections."""
    tables = {
        "ledger": "os_core.work_order_ledger",
        "audit": "ph1j.audit_events",
        **{name: f"os_core.{name}" for name in PROJECTIONS},
    }
    selects = ", ".join(
        f"(SELECT count(*) FROM {table} WHERE tenant_id = %(tenant)s) AS {name}"
        for name, table in tables.items()
    )
    row = su.cursor(row_factory=dict_row).execute(f"SELECT {selects}", {"tenant": tenant_id})
    found = row.fetchone()
    assert found is not None
    return found


def plain(value: Any) -> Any:
    """numeric columns come back as Decimal; the model's ids are ints."""
    return int(value) if isinstance(value, Decimal) else value


def projection_rows(
    su: psycopg.Connection, tenants: list[str], work_order_id: str | None = None
) -> dict[str, list[dict]]:
    """The three projections' rows of ``tenants`` (and of one work order), sorted."""
    found = {}
    for name, (columns, key) in PROJECTIONS.items():
        rows = (
            su.cursor(row_factory=dict_row)
            .execute(
                f"SELECT {', '.join(columns)} FROM os_core.{name}"
                " WHERE tenant_id = ANY(%(tenants)s)"
                " AND (%(work_order_id)s::text IS NULL OR work_order_id = %(work_order_id)s)",
                {"tenants": tenants, "work_order_id": work_order_id},
            )
            .fetchall()
        )
        found[name] = sorted(
            ({column: plain(row[column]) for column in columns} for row in rows),
            key=lambda row, key=key: tuple(row[column] for column in key),
        )
    return found


def model_rows(
    model: Model, event_ids: list[int], key: tuple[str, str] | None = None
) -> dict[str, list[dict]]:
    """The model's projections (or one work order's) with positions mapped to event ids."""

    def with_ids(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                column: event_ids[value]
                if column in EVENT_ID_COLUMNS[name] and value is not None
                else value
                for column, value in row.items()
            }
            for row in rows
            if key is None or (row["tenant_id"], row["work_order_id"]) == key
        ]

    return {
        "work_orders_current": with_ids("work_orders_current", model.current_rows()),
        "work_order_step_attempts": with_ids("work_order_step_attempts", model.step_attempt_rows()),
        "work_order_leases": with_ids("work_order_leases", model.lease_rows()),
    }


def differences(actual: dict[str, list[dict]], expected: dict[str, list[dict]]) -> str:
    """Row by row, what the database holds and the model does not, or the other way round."""
    lines = []
    for name, (_, key) in PROJECTIONS.items():
        by_key = {
            side: {tuple(row[column] for column in key): row for row in rows[name]}
            for side, rows in (("database", actual), ("model", expected))
        }
        for row_key in sorted(by_key["database"].keys() | by_key["model"].keys()):
            in_db = by_key["database"].get(row_key)
            in_model = by_key["model"].get(row_key)
            if in_db is None or in_model is None:
                lines.append(f"{name} {row_key}: database {in_db}, model {in_model}")
            elif in_db != in_model:
                columns = {
                    column: {"database": in_db[column], "model": in_model[column]}
                    for column in in_db
                    if in_db[column] != in_model[column]
                }
                lines.append(f"{name} {row_key}: {columns}")
    return "\n".join(lines)


def check_append(
    step: int,
    attempt: dict[str, Any],
    verdict: Verdict,
    outcome: Outcome,
    event_ids: list[int],
    last_ids: dict[str | None, int],
) -> None:
    """The database did with attempt ``step`` what the model said.

    ``last_ids`` holds the last id appended so far: on a single node one (key None), on
    Citus one per tenant, since each worker draws ids from its own range (docs/scaling.md,
    "Event ids and paging across nodes"), so a tenant's ids grow, not the cluster's.
    """
    said = f"attempt #{step} {attempt}: model says {verdict}, database did {outcome}"
    if verdict.outcome == REFUSED:
        assert (outcome.sqlstate, outcome.message) == CONTRACT_VIOLATION, said
        return
    assert outcome.sqlstate is None, said
    assert verdict.position is not None
    if verdict.outcome == REPLAY:
        assert outcome.replay is True, said
        assert outcome.event_id == event_ids[verdict.position], said
        return
    assert verdict.outcome == APPENDED
    assert outcome.replay is False, said
    assert verdict.position == len(event_ids), said
    # Ids are not predicted, only their order: each new event's id exceeds every earlier one
    # (on Citus, every earlier one of its tenant).
    assert outcome.event_id is not None
    scope = attempt["tenant_id"] if CITUS else None
    assert scope not in last_ids or outcome.event_id > last_ids[scope], said
    last_ids[scope] = outcome.event_id
    event_ids.append(outcome.event_id)


def check_counts(
    step: int, verdict: Verdict, before: dict[str, int], after: dict[str, int]
) -> None:
    """Refused: nothing written. Replay: one audit row. Appended: a ledger and an audit row.

    An appended event may add one row to each projection (a new work order, a new attempt,
    a first lease); which rows, and what they hold, the caller compares with the model.
    """
    added = {name: after[name] - before[name] for name in before}
    said = f"attempt #{step} ({verdict}): rows added {added}"
    accepted = verdict.outcome == APPENDED
    assert added["ledger"] == (1 if accepted else 0), said
    assert added["audit"] == (1 if verdict.outcome in {APPENDED, REPLAY} else 0), said
    for name in PROJECTIONS:
        assert added[name] in ({0, 1} if accepted else {0}), said


def check_replay_audit(
    su: psycopg.Connection, step: int, attempt: dict[str, Any], verdict: Verdict, event_id: int
) -> None:
    """A replay's audit row names the original event and the created_at the replay carried."""
    row = su.execute(
        "SELECT outcome, work_order_event_id, replay_created_at FROM ph1j.audit_events"
        " WHERE tenant_id = %s ORDER BY audit_event_id DESC LIMIT 1",
        [attempt["tenant_id"]],
    ).fetchone()
    assert row == ("OS_WORK_ORDER_IDEMPOTENCY_REPLAY", event_id, attempt["created_at"]), (
        f"attempt #{step} {attempt} ({verdict}): last audit row {row}"
    )


def run_history(
    app: psycopg.Connection,
    su: psycopg.Connection,
    dba: psycopg.Connection,
    history: list[dict[str, Any]],
    prefix: str,
) -> None:
    """Append every attempt, checking each against the model, then the projections."""
    attempts = [{**attempt, "tenant_id": f"{prefix}.{attempt['tenant_id']}"} for attempt in history]
    tenants = sorted({attempt["tenant_id"] for attempt in attempts})
    model = Model()
    event_ids: list[int] = []  # position -> the database's event id
    last_ids: dict[str | None, int] = {}
    for step, attempt in enumerate(attempts):
        verdict = model.append(attempt)
        before = row_counts(su, attempt["tenant_id"])
        outcome = append_as_app(app, attempt)
        check_append(step, attempt, verdict, outcome, event_ids, last_ids)
        check_counts(step, verdict, before, row_counts(su, attempt["tenant_id"]))
        if verdict.outcome == REPLAY:
            assert verdict.position is not None
            check_replay_audit(su, step, attempt, verdict, event_ids[verdict.position])
        key = (attempt["tenant_id"], attempt["work_order_id"])
        drift = differences(
            projection_rows(su, [key[0]], key[1]), model_rows(model, event_ids, key)
        )
        assert not drift, f"after attempt #{step} {attempt} ({verdict}):\n{drift}"
    note(f"event ids by position: {event_ids}")

    expected = model_rows(model, event_ids)
    drift = differences(projection_rows(su, tenants), expected)
    assert not drift, f"at the end, the projections differ from the model:\n{drift}"

    for tenant_id in tenants:
        drift = dba.execute(
            "SELECT * FROM os_core.work_orders_current_verify(%s::text)", [tenant_id]
        ).fetchall()
        assert drift == [], f"verify reports drift for {tenant_id}: {drift}"
        rebuilt = dba.execute(
            "SELECT * FROM os_core.work_orders_current_rebuild(%s::text)", [tenant_id]
        ).fetchone()
        work_orders = [
            work_order
            for (tenant, _), work_order in model.work_orders.items()
            if tenant == tenant_id
        ]
        assert rebuilt == (
            1 if work_orders else 0,
            len(work_orders),
            sum(len(work_order.events) for work_order in work_orders),
            0,  # rewritten_work_order_count: the appends left nothing to rewrite
        ), f"rebuild of {tenant_id} reports {rebuilt}"
    drift = differences(projection_rows(su, tenants), expected)
    assert not drift, f"after the rebuild, the projections differ from the model:\n{drift}"


def test_model_based(postgresql: psycopg.Connection, connect: Connect) -> None:
    """Random histories: the database agrees with the model, event by event and at the end."""
    postgresql.autocommit = True
    app = connect(user=APP_ROLE, autocommit=True)
    dba = connect(user=DBA_ROLE, autocommit=True)
    examples = itertools.count()

    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None)
    @given(history=histories())
    @example(history=[attempt for _, attempt in EVERY_RULE])
    def agrees_with_model(history: list[dict[str, Any]]) -> None:
        run_history(app, postgresql, dba, history, prefix=f"mb{next(examples)}")

    agrees_with_model()

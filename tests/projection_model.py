"""A reference model of the work-order engine, for the model-based test.

Written from the rules (``design.md`` §2-§3 and ``docs/decisions.md``), not from the SQL:
given append attempts in order, :class:`Model` says what the database must do with each
one, and holds what the three projections must then contain.

- :meth:`Model.append` returns a :class:`Verdict`: ``APPENDED`` (with the new event's
  position), ``REPLAY`` (with the original event's position) or ``REFUSED`` (with the rule
  broken, in words). Positions count accepted events from 0 in append order. The database's
  event ids come from a sequence that a refused append may still advance, so the model
  predicts only their order; the test maps each position to the id the database returned.
- :meth:`Model.current_rows`, :meth:`Model.step_attempt_rows` and :meth:`Model.lease_rows`
  return the rows of ``work_orders_current``, ``work_order_step_attempts`` and
  ``work_order_leases`` as dicts keyed by column name, event ids given as positions.

The per-event contract and "same content" are ``tests/contract_oracle.py``'s, which the fuzz
test uses too. Order of the checks (decisions.md, "Order of checks in an append"): the
per-event contract, then idempotency, then the rules that need the work order's history.
Only the per-event contract and the history decide between accepted and refused; every
refusal is the same reason code, so the model does not rank the history rules among
themselves.

Two history rules are in neither design.md §2 nor decisions.md: a step cannot be started
while an attempt of it is open, nor finished or failed with none open. They come from the
step-attempt projection's own definition (an attempt is opened by STEP_STARTED and closed by
STEP_FINISHED or STEP_FAILED, alternately).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.contract_oracle import (
    TENANT_ID,
    TERMINAL_STATUSES,
    contract_violation,
    normalized,
    payload_size,
    same_content,
)

APPENDED = "APPENDED"
REPLAY = "REPLAY"
REFUSED = "REFUSED"

CURRENT_COLUMNS = (
    "tenant_id",
    "work_order_id",
    "schema_version",
    "correlation_id",
    "turn_id",
    "work_order_status",
    "last_event_id",
    "last_reason_code",
    "last_updated_at",
    "step_id",
    "step_input_hash",
    "lease_owner_id",
    "lease_token_hash",
    "lease_expires_at",
    "event_count",
)
STEP_ATTEMPT_COLUMNS = (
    "tenant_id",
    "work_order_id",
    "step_id",
    "attempt_index",
    "attempt_status",
    "step_input_hash",
    "started_event_id",
    "started_at",
    "finished_event_id",
    "finished_at",
    "reason_code",
)
LEASE_COLUMNS = (
    "tenant_id",
    "work_order_id",
    "lease_owner_id",
    "lease_token_hash",
    "lease_state",
    "lease_expires_at",
    "acquired_event_id",
    "acquired_at",
    "last_event_id",
    "released_at",
)
# The columns that hold event ids (positions in the model), per projection.
EVENT_ID_COLUMNS = {
    "work_orders_current": ("last_event_id",),
    "work_order_step_attempts": ("started_event_id", "finished_event_id"),
    "work_order_leases": ("acquired_event_id", "last_event_id"),
}


@dataclass(frozen=True)
class Verdict:
    """What the database must do with one append attempt."""

    outcome: str  # APPENDED, REPLAY or REFUSED
    position: int | None = None  # APPENDED: the new event's; REPLAY: the original event's
    rule: str | None = None  # REFUSED: the rule broken
    field: str | None = None  # REFUSED by a per-event rule: the field its DETAIL names


@dataclass
class StepAttempt:
    """One attempt of a step: opened by STEP_STARTED, closed by STEP_FINISHED or STEP_FAILED."""

    index: int
    step_input_hash: str | None
    started_position: int
    started_at: int
    status: str = "STARTED"
    finished_position: int | None = None
    finished_at: int | None = None
    reason_code: int | None = None


@dataclass
class Lease:
    """The lease of a work order: the latest lease-carrying event, and when its tenure began."""

    owner_id: str
    token_hash: str
    expires_at: int
    acquired_position: int
    acquired_at: int
    last_position: int
    released_at: int | None = None


@dataclass
class WorkOrder:
    """Everything the model knows of one (tenant, work order): its accepted events and state."""

    tenant_id: str
    work_order_id: str
    events: list[dict[str, Any]] = field(default_factory=list)  # each with its "position"
    by_idempotency_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[str, list[StepAttempt]] = field(default_factory=dict)
    lease: Lease | None = None

    @property
    def latest(self) -> dict[str, Any]:
        return self.events[-1]

    @property
    def correlation_id(self) -> int:
        return self.events[0]["correlation_id"]

    @property
    def status(self) -> str:
        return self.latest["work_order_status"]

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def open_attempt(self, step_id: str) -> StepAttempt | None:
        """The step's attempt that was started and not yet closed, if any."""
        attempts = self.attempts.get(step_id, [])
        if attempts and attempts[-1].status == "STARTED":
            return attempts[-1]
        return None

    def open_steps(self) -> list[str]:
        return sorted(step for step in self.attempts if self.open_attempt(step) is not None)


class Model:
    """The engine's expected behaviour over a sequence of append attempts, in order."""

    def __init__(self) -> None:
        self.work_orders: dict[tuple[str, str], WorkOrder] = {}
        # Within a tenant, one correlation_id binds one work order (design §2).
        self.correlation_bindings: dict[tuple[str, int], str] = {}
        self.accepted = 0  # the number of accepted events: the next position

    # ----------------------------------------------------------------- deciding
    def work_order(self, tenant_id: str, work_order_id: str) -> WorkOrder | None:
        """The work order, or None when no event of it was accepted."""
        return self.work_orders.get((tenant_id, work_order_id))

    def append(self, attempt: dict[str, Any], *, measured_size: int | None = None) -> Verdict:
        """Decide one append attempt and, when it is accepted, apply it to the projections.

        ``measured_size`` is the payload's ``pg_column_size`` as jsonb, which a payload of
        more than a small JSON text needs (``contract_oracle.payload_size``).
        """
        event = normalized(attempt)
        size = measured_size if measured_size is not None else payload_size(event["payload"])
        name = contract_violation(event, size)
        # The call declares its tenant first (os_core.set_tenant), which refuses a malformed
        # one whatever else the event breaks.
        if name is not None and not TENANT_ID.fullmatch(event["tenant_id"] or ""):
            name = "tenant_id"
        if name is not None:
            return Verdict(REFUSED, rule=f"the contract's rule on {name}", field=name)
        # An integral correlation_id is one id however it is written (42, 42.000).
        event["correlation_id"] = int(event["correlation_id"])
        work_order = self.work_order(event["tenant_id"], event["work_order_id"])

        key = event["idempotency_key"]
        if work_order is not None and key in work_order.by_idempotency_key:
            original = work_order.by_idempotency_key[key]
            if not same_content(original, event):
                return Verdict(REFUSED, rule="idempotency_key reused with a different content")
            return Verdict(REPLAY, position=original["position"])

        rule = self.history_violation(work_order, event)
        if rule is not None:
            return Verdict(REFUSED, rule=rule)
        return Verdict(APPENDED, position=self.accept(work_order, event))

    def history_violation(self, work_order: WorkOrder | None, event: dict[str, Any]) -> str | None:
        """The rule about the work order's history that the event breaks, or None."""
        expected = event["expected_event_count"]
        if work_order is None:
            if event["event_type"] != "WORK_ORDER_CREATED":
                return "the first event of a work order is WORK_ORDER_CREATED"
            if (event["tenant_id"], event["correlation_id"]) in self.correlation_bindings:
                return "the correlation_id already binds another work order of the tenant"
            if expected is not None and expected != 0:
                return "expected_event_count: the work order has no events"
            return None
        if event["event_type"] == "WORK_ORDER_CREATED":
            return "no second WORK_ORDER_CREATED"
        if event["correlation_id"] != work_order.correlation_id:
            return "a work order keeps its correlation_id"
        if work_order.is_terminal:
            return "nothing but an idempotent replay follows a terminal status"
        if event["created_at"] < work_order.latest["created_at"]:
            return "created_at does not go backwards"
        if self.takes_over_unexpired_lease(work_order, event):
            return "another owner's unexpired lease cannot be taken over"
        if expected is not None and expected != len(work_order.events):
            return "expected_event_count differs from the work order's event count"
        open_attempt = work_order.open_attempt(event["step_id"])
        if event["event_type"] == "STEP_STARTED" and open_attempt is not None:
            return "the step already has an open attempt"
        if event["event_type"] in {"STEP_FINISHED", "STEP_FAILED"} and open_attempt is None:
            return "the step has no open attempt to close"
        return None

    @staticmethod
    def takes_over_unexpired_lease(work_order: WorkOrder, event: dict[str, Any]) -> bool:
        """An event carrying a lease of another owner while the held one has not expired.

        Expiry is judged against the event's created_at: the lease has expired when
        lease_expires_at <= created_at.
        """
        held = work_order.lease
        return (
            event["lease_owner_id"] is not None
            and held is not None
            and held.owner_id != event["lease_owner_id"]
            and held.expires_at > event["created_at"]
        )

    # ----------------------------------------------------------------- applying
    def accept(self, work_order: WorkOrder | None, event: dict[str, Any]) -> int:
        """Record an accepted event and apply it to the work order; return its position."""
        position = self.accepted
        self.accepted += 1
        event = {**event, "position": position}
        if work_order is None:
            work_order = WorkOrder(event["tenant_id"], event["work_order_id"])
            self.work_orders[(work_order.tenant_id, work_order.work_order_id)] = work_order
            self.correlation_bindings[(event["tenant_id"], event["correlation_id"])] = event[
                "work_order_id"
            ]
        work_order.events.append(event)
        if event["idempotency_key"] is not None:
            work_order.by_idempotency_key[event["idempotency_key"]] = event
        self.apply_step_attempt(work_order, event)
        self.apply_lease(work_order, event)
        return position

    @staticmethod
    def apply_step_attempt(work_order: WorkOrder, event: dict[str, Any]) -> None:
        """STEP_STARTED opens the step's next attempt; STEP_FINISHED/STEP_FAILED close it."""
        step_id = event["step_id"]
        if event["event_type"] == "STEP_STARTED":
            attempts = work_order.attempts.setdefault(step_id, [])
            attempts.append(
                StepAttempt(
                    index=len(attempts) + 1,
                    step_input_hash=event["step_input_hash"],
                    started_position=event["position"],
                    started_at=event["created_at"],
                )
            )
        elif event["event_type"] in {"STEP_FINISHED", "STEP_FAILED"}:
            attempt = work_order.open_attempt(step_id)
            assert attempt is not None, "closing an attempt that is not open was refused"
            attempt.status = "FINISHED" if event["event_type"] == "STEP_FINISHED" else "FAILED"
            attempt.finished_position = event["position"]
            attempt.finished_at = event["created_at"]
            attempt.reason_code = event["reason_code"]

    @staticmethod
    def apply_lease(work_order: WorkOrder, event: dict[str, Any]) -> None:
        """A lease event acquires the lease or renews it; a terminal status releases it.

        It renews when the holder is the same owner and the held lease has not expired at
        the event's created_at; otherwise the event starts a new tenure (acquisition).
        """
        held = work_order.lease
        if event["lease_owner_id"] is not None:
            renews = (
                held is not None
                and held.owner_id == event["lease_owner_id"]
                and held.expires_at > event["created_at"]
            )
            work_order.lease = Lease(
                owner_id=event["lease_owner_id"],
                token_hash=event["lease_token_hash"],
                expires_at=event["lease_expires_at"],
                acquired_position=held.acquired_position if renews else event["position"],
                acquired_at=held.acquired_at if renews else event["created_at"],
                last_position=event["position"],
            )
        if work_order.lease is not None and event["work_order_status"] in TERMINAL_STATUSES:
            work_order.lease.released_at = event["created_at"]
            work_order.lease.last_position = event["position"]

    # -------------------------------------------------------------- projections
    def current_rows(self) -> list[dict[str, Any]]:
        """work_orders_current, one row per work order (Projection rules, decisions.md)."""
        return [current_row(work_order) for _, work_order in sorted(self.work_orders.items())]

    def step_attempt_rows(self) -> list[dict[str, Any]]:
        """work_order_step_attempts, one row per attempt of each step of each work order."""
        rows = []
        for (tenant_id, work_order_id), work_order in sorted(self.work_orders.items()):
            for step_id, attempts in sorted(work_order.attempts.items()):
                for attempt in attempts:
                    rows.append(
                        {
                            "tenant_id": tenant_id,
                            "work_order_id": work_order_id,
                            "step_id": step_id,
                            "attempt_index": attempt.index,
                            "attempt_status": attempt.status,
                            "step_input_hash": attempt.step_input_hash,
                            "started_event_id": attempt.started_position,
                            "started_at": attempt.started_at,
                            "finished_event_id": attempt.finished_position,
                            "finished_at": attempt.finished_at,
                            "reason_code": attempt.reason_code,
                        }
                    )
        return rows

    def lease_rows(self) -> list[dict[str, Any]]:
        """work_order_leases, one row per work order that ever carried a lease."""
        rows = []
        for (tenant_id, work_order_id), work_order in sorted(self.work_orders.items()):
            lease = work_order.lease
            if lease is None:
                continue
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "work_order_id": work_order_id,
                    "lease_owner_id": lease.owner_id,
                    "lease_token_hash": lease.token_hash,
                    "lease_state": "ACTIVE" if lease.released_at is None else "RELEASED",
                    "lease_expires_at": lease.expires_at,
                    "acquired_event_id": lease.acquired_position,
                    "acquired_at": lease.acquired_at,
                    "last_event_id": lease.last_position,
                    "released_at": lease.released_at,
                }
            )
        return rows


def latest_where(events: list[dict[str, Any]], column: str) -> dict[str, Any] | None:
    """The latest of the events whose ``column`` is set, or None."""
    return next((event for event in reversed(events) if event[column] is not None), None)


def current_row(work_order: WorkOrder) -> dict[str, Any]:
    """The work_orders_current row of a work order, stated as the projection rules say.

    - schema_version, correlation_id, turn_id, status, last event id, reason code and
      last_updated_at: of the latest event;
    - step_id, step_input_hash: of the latest event that named a step;
    - lease columns: of the latest event that carried a lease, cleared once terminal.
    """
    latest = work_order.latest
    step_event = latest_where(work_order.events, "step_id") or {}
    lease_event = latest_where(work_order.events, "lease_owner_id") or {}
    if work_order.is_terminal:
        lease_event = {}
    return {
        "tenant_id": work_order.tenant_id,
        "work_order_id": work_order.work_order_id,
        "schema_version": latest["schema_version"],
        "correlation_id": latest["correlation_id"],
        "turn_id": latest["turn_id"],
        "work_order_status": latest["work_order_status"],
        "last_event_id": latest["position"],
        "last_reason_code": latest["reason_code"],
        "last_updated_at": latest["created_at"],
        "step_id": step_event.get("step_id"),
        "step_input_hash": step_event.get("step_input_hash"),
        "lease_owner_id": lease_event.get("lease_owner_id"),
        "lease_token_hash": lease_event.get("lease_token_hash"),
        "lease_expires_at": lease_event.get("lease_expires_at"),
        "event_count": len(work_order.events),
    }

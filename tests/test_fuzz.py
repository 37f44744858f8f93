"""Fuzzed input: generated events through the Python client and through raw SQL.

Hypothesis draws events field by field: mostly a plausible next event of a few work orders,
with zero to three fields replaced by hostile values (boundary lengths, empty, blank and
whitespace of every Unicode kind, look-alikes of whitespace that are not whitespace,
NUL-free control characters, any Unicode, SQL-injection strings, huge and negative numbers
within the parameters' types, u128 bounds, decimals, wrong enums, mismatched or expired
lease fields, non-object and oversized payloads), now and then an exact, re-stamped
(created_at later, as a retry sends it) or altered resend of an earlier event (idempotency
replay or conflict).

The reference model of ``tests/projection_model.py`` predicts each verdict: the contract's
per-event rules of ``tests/contract_oracle.py`` (written from design §2 and decisions.md, and
the tests' one statement of them), then its history rules (first event, terminal status,
correlation binding, time order, lease fencing, step attempts). The database must agree
event by event:

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
cannot hold are tested apart, in ``test_work_order_ledger_append_edge_values.py``.

Each example gets tenants of its own (``f<N>.a``, ``f<N>.b``), so examples are independent.
Deterministic (``derandomize=True``). ``SELENE_LONG=1`` runs ten times as many examples.
"""

from __future__ import annotations

import itertools
import json
import os
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

from selene_core_tables.errors import ContractValidationFailed, StorageError
from selene_core_tables.records import WorkOrderLedgerEventInput
from selene_core_tables.repository import WorkOrderRepository
from tests.conftest import APP_ROLE, DBA_ROLE
from tests.contract_oracle import (
    EVENT_TYPES,
    PAYLOAD_MAX_DEPTH,
    STEP_EVENT_TYPES,
    TENANT_ID,
    deepest_level,
    is_integral,
    json_value,
    normalized,
)
from tests.fuzz_strategies import (
    ENDING_STATUSES,
    EVENTS_PER_EXAMPLE,
    I64,
    OPEN_STATUSES,
    PLANS,
    WORK_ORDERS,
    Nested,
    Oversized,
    Plan,
)
from tests.projection_model import APPENDED, REFUSED, REPLAY, Model, Verdict
from tests.sql_helpers import APPEND_PARAMETER_TYPES, set_tenant

LONG = os.environ.get("SELENE_LONG") == "1"
RAW_EXAMPLES = 1600 if LONG else 160  # events: 40 per example
CLIENT_EXAMPLES = 1000 if LONG else 100

# A hang guard, not a speed target: a loaded machine (two test processes on 2 cores)
# has taken the client fuzz past 240 s.
pytestmark = pytest.mark.timeout(3600 if LONG else 600)

Connect = Callable[..., psycopg.Connection]
CONTRACT = ("SE004", "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")


@dataclass
class Generated:
    fields: dict[str, Any]
    verdict: Verdict
    rule: str  # the per-event rule's field, or ''


@dataclass
class Example:
    """One example's events, generated against the oracle, with its tenants."""

    tenants: tuple[str, str]
    model: Model = field(default_factory=Model)
    events: list[Generated] = field(default_factory=list)
    correlation_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1_000))


def build_event(example: Example, plan: Plan) -> dict[str, Any]:
    """The event a plan describes, as a plausible next event of the oracle's state."""
    model = example.model
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
        status = ENDING_STATUSES[plan.status]
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
        verdict = example.model.append(fields, measured_size=sizes(fields.get("payload")))
        example.events.append(Generated(fields, verdict, verdict.field or ""))


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
    work_orders = len(example.model.work_orders)
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


def fuzz(
    postgresql: psycopg.Connection,
    dba: psycopg.Connection,
    examples: int,
    run: Callable[[Example, Figures], list[str]],
) -> Figures:
    """Run ``examples`` generated examples through ``run``; every one must agree with the model.

    ``run`` sends an example's events and returns the refusals with a raw error; each
    example must write exactly its accepted events. Returns the figures of all of them.
    """
    postgresql.autocommit = True
    sizes = PayloadSizes(postgresql)
    figures = Figures()
    numbers = itertools.count()

    @settings(
        max_examples=examples,
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
        raw_errors = run(example, figures)
        check_written(postgresql, dba, example)
        assert raw_errors == [], "refused with a raw error, not SE004:\n" + "\n".join(raw_errors)
        tally(example, figures)

    agrees()
    check_totals(postgresql, figures)
    assert figures.events >= examples * EVENTS_PER_EXAMPLE
    assert figures.appended > figures.events // 5
    return figures


def test_fuzzed_events_through_raw_sql(postgresql: psycopg.Connection, connect: Connect) -> None:
    app = connect(user=APP_ROLE, autocommit=True)
    app.execute(RAW_HELPER)
    dba = connect(user=DBA_ROLE, autocommit=True)
    figures = fuzz(postgresql, dba, RAW_EXAMPLES, lambda ex, figs: run_raw(app, ex, figs))
    print(f"raw SQL fuzz: {figures}")
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
    repo = WorkOrderRepository(connect(user=APP_ROLE, autocommit=True))
    dba = connect(user=DBA_ROLE, autocommit=True)
    figures = fuzz(postgresql, dba, CLIENT_EXAMPLES, lambda ex, figs: run_client(repo, ex, figs))
    print(f"client fuzz: {figures}")
    assert figures.refused_batches > 0

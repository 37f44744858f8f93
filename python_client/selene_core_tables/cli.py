"""The ``selene-core-tables`` command: the capabilities from a shell.

Every command takes ``--dsn`` (or ``$SELENE_CORE_TABLES_DSN``); with neither it
uses the embedded database, started and migrated on first use under
``--home`` (or ``$SELENE_CORE_TABLES_HOME``). A refusal prints one line, the
reason code and the DETAIL, and exits with the code of its class (see
``selene_core_tables.errors``); a database that cannot be reached exits 3 and
bad input 2.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import psycopg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from selene_core_tables import migrate
from selene_core_tables._queries import position_of
from selene_core_tables.database import Database, Login
from selene_core_tables.embedded import EmbeddedClusterError
from selene_core_tables.errors import StorageError
from selene_core_tables.records import (
    AuditEvent,
    WorkEventType,
    WorkOrderLedgerEvent,
    WorkOrderLedgerEventInput,
    WorkOrderStatus,
)
from selene_core_tables.repository import WorkOrderRepository
from selene_core_tables.retry import AppendOutcomeUnknown
from selene_core_tables.server import ServerBinariesMissing
from selene_core_tables.tables import (
    consumer_stats_table,
    current_table,
    differences_table,
    lease_table,
    ledger_table,
    stats_table,
    step_attempts_table,
)

#: Exit status when the database cannot be reached or started.
EXIT_UNAVAILABLE = 3
#: Exit status for input the command cannot use (as click does for bad options).
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="The Selene OS work-order ledger: append, cancel, read, rebuild, and run the demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The embedded database: status, start, stop.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _stdout() -> Console:
    # Piped or captured output is not cut to 80 columns: tables keep whole ids.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int) -> NoReturn:
    _stderr().print(f"error: {message}", markup=False)
    raise typer.Exit(code)


@contextmanager
def _reported(database: Database) -> Iterator[None]:
    """Turn every expected failure into one line on stderr and its exit code."""
    try:
        yield
    except StorageError as error:
        hint = f" (hint: {error.hint})" if error.hint else ""
        _fail(f"{error} [SQLSTATE {error.sqlstate}]{hint}", error.exit_code)
    except (ServerBinariesMissing, EmbeddedClusterError) as error:
        _fail(str(error), EXIT_UNAVAILABLE)
    except AppendOutcomeUnknown as error:
        _fail(f"{error} ({error.__cause__})".replace("\n", " "), EXIT_UNAVAILABLE)
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        _fail(f"cannot reach {database.describe()}: {first_line}", EXIT_UNAVAILABLE)
    except psycopg.Error as error:
        _fail(f"{type(error).__name__}: {str(error).strip()} [SQLSTATE {error.sqlstate}]", 1)


@app.callback()
def main(
    ctx: typer.Context,
    dsn: Annotated[
        str | None,
        typer.Option(
            envvar="SELENE_CORE_TABLES_DSN",
            help="libpq connection string or postgresql:// URI. Default: the embedded database.",
            show_default=False,
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            envvar="SELENE_CORE_TABLES_HOME",
            help="Directory of the embedded database (default: see `db status`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Talk to the database of --dsn, or to the embedded one."""
    ctx.obj = Database(dsn=dsn, home=home)


def _database(ctx: typer.Context) -> Database:
    database = ctx.obj
    assert isinstance(database, Database)
    return database


def _repository(database: Database, login: Login) -> WorkOrderRepository:
    # Over a DSN the repository connects itself, and so retries across a failover.
    return WorkOrderRepository(database.conninfo(login))


@app.command("migrate")
def migrate_command(ctx: typer.Context) -> None:
    """Apply pending migrations and reinstall the functions (the DSN must be a superuser's)."""
    database = _database(ctx)
    with _reported(database):
        conninfo = database.conninfo(Login.ADMIN)
        applied = migrate.apply_migrations(conninfo)
        migrate.reinstall_sql(conninfo)
    _stdout().print(f"{applied} migration(s) applied; functions, policies and grants installed")


@app.command("append")
def append_command(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="tenant_id")] = None,
    work_order: Annotated[str | None, typer.Option(help="work_order_id")] = None,
    correlation_id: Annotated[int | None, typer.Option(help="correlation_id (a u128)")] = None,
    turn_id: Annotated[int, typer.Option(help="turn_id")] = 1,
    event_type: Annotated[
        str, typer.Option(help="event_type: " + ", ".join(WorkEventType))
    ] = WorkEventType.WORK_ORDER_CREATED.value,
    status: Annotated[
        str, typer.Option(help="work_order_status: " + ", ".join(WorkOrderStatus))
    ] = WorkOrderStatus.DRAFT.value,
    reason_code: Annotated[int, typer.Option(help="reason_code (1 to 2^32-1)")] = 1,
    created_at: Annotated[
        int | None, typer.Option(help="created_at in ns (default: the clock's time_ns)")
    ] = None,
    step_id: Annotated[str | None, typer.Option()] = None,
    step_input_hash: Annotated[str | None, typer.Option()] = None,
    lease_owner_id: Annotated[str | None, typer.Option()] = None,
    lease_token_hash: Annotated[str | None, typer.Option()] = None,
    lease_expires_at: Annotated[int | None, typer.Option()] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            help="Makes the append safe to retry: the same key and event again (created_at"
            " aside) returns the first event, as a replay"
        ),
    ] = None,
    payload: Annotated[str | None, typer.Option(help="A JSON object")] = None,
    expected_event_count: Annotated[
        int | None, typer.Option(help="Refuse unless the work order has this many events")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="A JSON file ('-' for stdin) holding one event object or an array of them.",
        ),
    ] = None,
    jsonl: Annotated[
        Path | None,
        typer.Option(help="A JSON-lines file ('-' for stdin) of events, appended in batches."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per batch with --jsonl")] = 500,
    replay_is_error: Annotated[
        bool, typer.Option(help="Exit 12 when the event was already appended")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON lines")] = False,
) -> None:
    """Append events: one from the flags, or many from --file or --jsonl."""
    database = _database(ctx)
    if file is not None and jsonl is not None:
        _fail("give --file or --jsonl, not both", EXIT_BAD_INPUT)
    if file is not None:
        events = list(_events_from_json(file))  # parsed whole before connecting
        with _reported(database):
            _append_batches(_repository(database, Login.APP), events, batch_size, as_json, False)
        return
    if jsonl is not None:
        with _reported(database), _opened(jsonl) as lines:
            repo = _repository(database, Login.APP)
            _append_batches(repo, _events_from_lines(lines), batch_size, as_json, True)
        return

    if tenant is None or work_order is None or correlation_id is None:
        missing = [
            flag
            for flag, value in (
                ("--tenant", tenant),
                ("--work-order", work_order),
                ("--correlation-id", correlation_id),
            )
            if value is None
        ]
        _fail(f"missing {', '.join(missing)} (or give --file / --jsonl)", EXIT_BAD_INPUT)
    event = WorkOrderLedgerEventInput(
        tenant_id=tenant,
        work_order_id=work_order,
        correlation_id=correlation_id,
        turn_id=turn_id,
        event_type=event_type,
        work_order_status=status,
        reason_code=reason_code,
        created_at=time.time_ns() if created_at is None else created_at,
        step_id=step_id,
        step_input_hash=step_input_hash,
        lease_owner_id=lease_owner_id,
        lease_token_hash=lease_token_hash,
        lease_expires_at=lease_expires_at,
        idempotency_key=idempotency_key,
        payload=None if payload is None else _json_object(payload, "--payload"),
    )
    with _reported(database):
        result = _repository(database, Login.APP).append(
            event, expected_event_count=expected_event_count, replay_is_error=replay_is_error
        )
    _print_append(event, result.work_order_event_id, result.idempotency_replay, as_json)


def _print_append(
    event: WorkOrderLedgerEventInput, event_id: int, replay: bool, as_json: bool
) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "tenant_id": event.tenant_id,
                    "work_order_id": event.work_order_id,
                    "work_order_event_id": event_id,
                    "idempotency_replay": replay,
                }
            )
        )
    elif replay:
        _stdout().print(
            f"replay: event {event_id} of {event.tenant_id}/{event.work_order_id} "
            "was already appended with this idempotency key; nothing written"
        )
    else:
        _stdout().print(f"appended event {event_id} to {event.tenant_id}/{event.work_order_id}")


def _append_batches(
    repo: WorkOrderRepository,
    events: Iterable[tuple[str, WorkOrderLedgerEventInput]],
    batch_size: int,
    as_json: bool,
    progress: bool,
) -> None:
    """Append labelled events in batches of one tenant each; name a refused one by its label."""
    appended = replayed = 0
    bar = Progress(
        TextColumn("appending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_stderr(),
        disable=not progress or as_json,
        transient=True,
    )
    with bar:
        task = bar.add_task("append", total=None)
        for batch in _batches(events, batch_size):
            try:
                results = repo.append_many(event for _, event in batch)
            except StorageError as error:
                if error.event_index is None:
                    raise
                _fail(
                    f"{batch[error.event_index][0]}: {error} [SQLSTATE {error.sqlstate}]; "
                    f"its batch of {len(batch)} was not written, "
                    f"the {appended + replayed} events before it were",
                    error.exit_code,
                )
            for (_, event), result in zip(batch, results, strict=True):
                if as_json:
                    _print_append(
                        event, result.work_order_event_id, result.idempotency_replay, True
                    )
                replayed += result.idempotency_replay
                appended += not result.idempotency_replay
            bar.advance(task, len(batch))
    if not as_json:
        _stdout().print(f"{appended} appended, {replayed} idempotent replays")


def _batches(
    events: Iterable[tuple[str, WorkOrderLedgerEventInput]], size: int
) -> Iterator[list[tuple[str, WorkOrderLedgerEventInput]]]:
    """Consecutive events of one tenant, at most ``size`` at a time."""
    batch: list[tuple[str, WorkOrderLedgerEventInput]] = []
    for numbered in events:
        if batch and (len(batch) == size or numbered[1].tenant_id != batch[0][1].tenant_id):
            yield batch
            batch = []
        batch.append(numbered)
    if batch:
        yield batch


@contextmanager
def _opened(path: Path) -> Iterator[TextIO]:
    if str(path) == "-":
        yield sys.stdin
        return
    try:
        with path.open(encoding="utf-8") as handle:
            yield handle
    except OSError as error:
        _fail(f"cannot read {path}: {error.strerror}", EXIT_BAD_INPUT)


def _events_from_json(path: Path) -> Iterator[tuple[str, WorkOrderLedgerEventInput]]:
    with _opened(path) as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as error:
            _fail(f"{path}: not JSON: {error}", EXIT_BAD_INPUT)
    items = document if isinstance(document, list) else [document]
    for number, item in enumerate(items, start=1):
        label = f"{path}: event {number}"
        yield label, _event_from(item, label)


def _events_from_lines(lines: TextIO) -> Iterator[tuple[str, WorkOrderLedgerEventInput]]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            label = f"line {number}"
            yield label, _event_from(_json_object(line, label), label)


_EVENT_FIELDS = {field.name for field in fields(WorkOrderLedgerEventInput)}


def _event_from(item: Any, where: str) -> WorkOrderLedgerEventInput:
    if not isinstance(item, dict):
        _fail(f"{where}: an event is a JSON object", EXIT_BAD_INPUT)
    unknown = sorted(set(item) - _EVENT_FIELDS)
    if unknown:
        _fail(f"{where}: unknown field(s) {', '.join(unknown)}", EXIT_BAD_INPUT)
    try:
        return WorkOrderLedgerEventInput.from_dict(item)
    except TypeError as error:
        _fail(f"{where}: {error}", EXIT_BAD_INPUT)


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        _fail(f"{where}: not JSON: {error}", EXIT_BAD_INPUT)
    if not isinstance(value, dict):
        _fail(f"{where}: expected a JSON object", EXIT_BAD_INPUT)
    return value


@app.command("current")
def current_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    work_order: Annotated[str, typer.Argument(help="work_order_id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON")] = False,
) -> None:
    """Show the current state of a work order (exit 1 when there is none)."""
    database = _database(ctx)
    with _reported(database):
        record = _repository(database, Login.APP).current(tenant, work_order)
    if record is None:
        _stderr().print(f"no work order {work_order!r} in tenant {tenant!r}", markup=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(record.to_dict()))
    else:
        _stdout().print(current_table([record]))


@app.command("ledger")
def ledger_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    work_order: Annotated[str | None, typer.Option(help="Only this work order's events")] = None,
    after: Annotated[int, typer.Option(min=0, help="Events with ids above this one")] = 0,
    limit: Annotated[
        int | None, typer.Option(min=1, help="At most this many events (default: all)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show a tenant's ledger (or one work order's) in event-id order, paging as it goes."""
    database = _database(ctx)
    with _reported(database):
        repo = _repository(database, Login.APP)
        events = repo.ledger(tenant, work_order, after=after)
        shown: list[WorkOrderLedgerEvent] = []
        for count, event in enumerate(events, start=1):
            if as_json:
                print(json.dumps(event.to_dict()))
            else:
                shown.append(event)
            if limit is not None and count >= limit:
                break
    if not as_json:
        _stdout().print(ledger_table(shown))


@app.command("follow")
def follow_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    after: Annotated[
        int | None, typer.Option(min=0, help="Start after this event id (default 0)")
    ] = None,
    consumer: Annotated[
        str | None,
        typer.Option(
            help="Durable consumer: start after its position and commit each event printed",
            show_default=False,
        ),
    ] = None,
    audit: Annotated[
        bool,
        typer.Option(
            "--audit",
            help="Follow the PH1.J audit trail instead of the ledger (--after and "
            "--consumer then name audit ids and an audit consumer)",
        ),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.001, max=60, help="Seconds between reads when caught up")
    ] = 0.5,
    lock_timeout: Annotated[
        float | None,
        typer.Option(
            min=0.001,
            help="With --consumer: give up after this many seconds when another instance "
            "holds it (default: wait)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
    limit: Annotated[
        int | None,
        typer.Option(min=1, hidden=True, help="Stop after this many events (for tests)"),
    ] = None,
) -> None:
    """Stream a tenant's events as they are appended, until interrupted (Ctrl-C).

    With --consumer NAME it starts after the durable consumer's committed position
    and commits each event once it is printed; a restart goes on after the last.
    With --audit it streams the tenant's PH1.J audit rows (appends, replays, and
    rebuilds and verifies run with their audit flag) the same way; an audit consumer
    and a ledger consumer of one name are two consumers.
    """
    database = _database(ctx)
    if consumer is not None and after is not None:
        _fail(
            "--after and --consumer exclude each other: a consumer starts after its position",
            EXIT_BAD_INPUT,
        )
    if lock_timeout is not None and consumer is None:
        _fail("--lock-timeout goes with --consumer", EXIT_BAD_INPUT)
    with _reported(database), _repository(database, Login.APP) as repo:
        if consumer is None:
            events: Iterable[WorkOrderLedgerEvent | AuditEvent]
            if audit:
                events = repo.follow_audit(
                    tenant, after_audit_event_id=after or 0, poll_interval=poll_interval
                )
            else:
                events = repo.follow(tenant, after_event_id=after or 0, poll_interval=poll_interval)
            _stream(events, None, as_json, limit)
            return
        with repo.consumer(
            tenant,
            consumer,
            poll_interval=poll_interval,
            lock_timeout=lock_timeout,
            stream="audit" if audit else "ledger",
        ) as durable:
            try:
                _stream(durable, durable.commit, as_json, limit)
            except psycopg.errors.LockNotAvailable:
                _fail(
                    f"consumer {consumer!r} of tenant {tenant!r} is held by another instance "
                    f"(waited {lock_timeout} s) [SQLSTATE 55P03]",
                    1,
                )


def _stream(
    events: Iterable[WorkOrderLedgerEvent | AuditEvent],
    commit: Callable[[int], int] | None,
    as_json: bool,
    limit: int | None,
) -> None:
    """Print each event (then commit it, for a consumer) until ``limit`` or Ctrl-C."""
    try:
        for count, event in enumerate(events, start=1):
            if as_json:
                print(json.dumps(event.to_dict()), flush=True)
            elif isinstance(event, AuditEvent):
                print(
                    f"{event.audit_event_id} {event.capability} {event.outcome} "
                    f"{event.work_order_id or '-'} {event.work_order_event_id or '-'} "
                    f"{event.recorded_at.isoformat()}",
                    flush=True,
                )
            else:
                print(
                    f"{event.work_order_event_id} {event.work_order_id} {event.event_type} "
                    f"{event.work_order_status} {event.recorded_at.isoformat()}",
                    flush=True,
                )
            if commit is not None:
                commit(position_of(event))
            if limit is not None and count >= limit:
                return
    except KeyboardInterrupt:
        return  # Ctrl-C: the normal end of a follow


@app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    work_order: Annotated[str, typer.Argument(help="work_order_id")],
    reason_code: Annotated[int, typer.Option(help="reason_code of the cancel (1 to 2^32-1)")],
    idempotency_key: Annotated[
        str,
        typer.Option(
            help="Unique to this cancel; resend it to retry (created_at may differ: the first"
            " cancel's stays)"
        ),
    ],
    created_at: Annotated[
        int | None, typer.Option(help="created_at in ns (default: the clock's time_ns)")
    ] = None,
    turn_id: Annotated[int, typer.Option(help="turn_id")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Cancel a work order: append its WORK_ORDER_CANCELED event (exit 15 when terminal)."""
    database = _database(ctx)
    with _reported(database):
        result = _repository(database, Login.APP).cancel(
            tenant,
            work_order,
            reason_code=reason_code,
            idempotency_key=idempotency_key,
            created_at=time.time_ns() if created_at is None else created_at,
            turn_id=turn_id,
        )
    if as_json:
        print(
            json.dumps(
                {
                    "tenant_id": tenant,
                    "work_order_id": result.work_order_id,
                    "work_order_status": result.work_order_status.value,
                    "last_event_id": result.last_event_id,
                }
            )
        )
    else:
        _stdout().print(
            f"canceled {tenant}/{result.work_order_id}: event {result.last_event_id}",
            markup=False,
        )


@app.command("list-pending")
def list_pending_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help="A work_order_status to list; repeat for several (default: DRAFT, CLARIFY, "
            "CONFIRM)",
            show_default=False,
        ),
    ] = None,
    updated_after: Annotated[
        int | None, typer.Option(help="Only work orders last updated after this time (ns)")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1 to 1000)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """List a tenant's pending work orders (or those of --status), newest first."""
    database = _database(ctx)
    with _reported(database):
        records = _repository(database, Login.APP).list_pending(
            tenant, statuses=status or None, updated_after=updated_after, limit=limit
        )
    if as_json:
        for record in records:
            print(json.dumps(record.to_dict()))
    else:
        _stdout().print(current_table(records))


@app.command("rebuild")
def rebuild_command(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Argument(help="tenant_id (default: every tenant, as a DBA)")
    ] = None,
    audit: Annotated[bool, typer.Option(help="Write a PH1.J audit row per tenant")] = False,
) -> None:
    """Make the projections equal to the ledger, for one tenant or all, while appends go on."""
    database = _database(ctx)
    with _reported(database):
        result = _repository(database, Login.DBA).rebuild(tenant, audit=audit)
    _stdout().print(
        f"rebuilt {result.work_order_count} work order(s) of {result.tenant_count} tenant(s) "
        f"from {result.event_count} event(s); "
        f"{result.rewritten_work_order_count} had drifted and were rewritten"
    )


@app.command("verify")
def verify_command(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Argument(help="tenant_id (default: every tenant, as a DBA)")
    ] = None,
    audit: Annotated[bool, typer.Option(help="Write a PH1.J audit row per tenant")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Compare the projections with the ledger; exit 1 when they differ. Writes nothing."""
    database = _database(ctx)
    with _reported(database):
        differences = _repository(database, Login.DBA).verify(tenant, audit=audit)
    if as_json:
        for difference in differences:
            print(json.dumps(dataclasses.asdict(difference)))
    elif differences:
        _stdout().print(differences_table(differences))
    else:
        _stdout().print("the projections agree with the ledger")
    if differences:
        raise typer.Exit(1)


@app.command("stats")
def stats_command(
    ctx: typer.Context,
    tenant: Annotated[
        str | None, typer.Argument(help="tenant_id (default: every tenant, as a DBA)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show each tenant's events, work orders by status and leases; exit 1 on drift.

    Durable consumers' positions and lag: consumer-stats T.
    """
    database = _database(ctx)
    with _reported(database):
        stats = _repository(database, Login.DBA).stats(tenant)
    if as_json:
        for tenant_stats in stats:
            print(json.dumps(tenant_stats.to_dict()))
    else:
        _stdout().print(stats_table(stats))
    if not all(tenant_stats.projection_agrees for tenant_stats in stats):
        raise typer.Exit(1)


@app.command("consumer-stats")
def consumer_stats_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show each durable consumer of a tenant: stream, position, last id and lag.

    The lag (pending) is the number of the tenant's events, or audit rows for an
    audit consumer, after the consumer's committed position (os_core.consumer_stats).
    """
    database = _database(ctx)
    with _reported(database):
        stats = _repository(database, Login.APP).consumer_stats(tenant)
    if as_json:
        for consumer in stats:
            print(json.dumps(consumer.to_dict()))
    else:
        _stdout().print(consumer_stats_table(stats))


@app.command("step-attempts")
def step_attempts_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    work_order: Annotated[str, typer.Argument(help="work_order_id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines")] = False,
) -> None:
    """Show the attempts of every step of a work order."""
    database = _database(ctx)
    with _reported(database):
        attempts = _repository(database, Login.APP).step_attempts(tenant, work_order)
    if as_json:
        for attempt in attempts:
            print(json.dumps(dataclasses.asdict(attempt)))
    else:
        _stdout().print(step_attempts_table(attempts))


@app.command("lease")
def lease_command(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(help="tenant_id")],
    work_order: Annotated[str, typer.Argument(help="work_order_id")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the lease as JSON")] = False,
) -> None:
    """Show the lease of a work order (exit 1 when it never had one)."""
    database = _database(ctx)
    with _reported(database):
        lease = _repository(database, Login.APP).lease(tenant, work_order)
    if lease is None:
        _stderr().print(f"work order {work_order!r} of {tenant!r} has no lease", markup=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(dataclasses.asdict(lease)))
    else:
        _stdout().print(lease_table(lease))


@app.command("demo")
def demo_command(
    ctx: typer.Context,
    yes_rewrite_this_database: Annotated[
        bool,
        typer.Option(
            "--yes-rewrite-this-database",
            help="Run on the database of --dsn, although the demo breaks a projection row "
            "there and rebuilds every tenant of it (without it, only the embedded database)",
        ),
    ] = False,
) -> None:
    """Show every capability and failure mode on two tenants, on the embedded database.

    The demo writes to the database (two tenants' events), rewrites a projection row
    as a superuser and rebuilds every tenant: on a database named by --dsn it refuses
    (exit 2, nothing written) unless given --yes-rewrite-this-database.
    """
    from selene_core_tables.demo import DemoFailed, run_demo

    database = _database(ctx)
    if not database.is_embedded and not yes_rewrite_this_database:
        _fail(
            "the demo rewrites a projection row and rebuilds every tenant of the database "
            "it runs on, and --dsn names one other than the embedded database: nothing "
            "done; add --yes-rewrite-this-database to run it there anyway",
            EXIT_BAD_INPUT,
        )
    with _reported(database):
        try:
            run_demo(database, _stdout())
        except DemoFailed as failed:
            _fail(f"the demo went wrong: {failed}", 1)


@db_app.command("status")
def db_status(ctx: typer.Context) -> None:
    """Say whether the embedded database exists and runs, and where."""
    database = _database(ctx)
    with _reported(database):
        status = database.cluster().status()
    state = "running" if status.running else "stopped"
    if not status.initialised:
        state = "not initialised (the first command that needs it creates it)"
    console = _stdout()
    console.print(f"embedded database: {state}", markup=False)
    console.print(f"home: {status.home}", markup=False)
    if status.running:
        console.print(f"pid: {status.pid}", markup=False)
        console.print(f"migrations applied: {status.migrations_applied}", markup=False)
        console.print(f"dsn: {database.cluster().conninfo()}", markup=False)
    console.print(f"log: {status.log_file}", markup=False)


@db_app.command("start")
def db_start(ctx: typer.Context) -> None:
    """Create, start and migrate the embedded database (what every command does when needed)."""
    database = _database(ctx)
    with _reported(database):
        cluster = database.cluster()
        cluster.ensure_running()
    _stdout().print(f"embedded database running under {cluster.home}", markup=False)


@db_app.command("stop")
def db_stop(ctx: typer.Context) -> None:
    """Stop the embedded database (its data stays; the next command starts it again)."""
    database = _database(ctx)
    with _reported(database):
        stopped = database.cluster().stop()
    _stdout().print("stopped" if stopped else "was not running")


def _deprecated_alias(old_name: str, command: Callable[..., None]) -> None:
    """Register ``old_name``, hidden, as ``command`` that first says it is deprecated.

    A command is named after the client method it calls, ``_`` -> ``-``; the old
    names stay working, with the same options and output, and one line on stderr.
    """
    new_name = command.__name__.removesuffix("_command").replace("_", "-")

    @functools.wraps(command)
    def alias(*args: Any, **kwargs: Any) -> None:
        _stderr().print(
            f"warning: `{old_name}` is deprecated; use `{new_name}` (it does the same)",
            markup=False,
        )
        command(*args, **kwargs)

    app.command(old_name, hidden=True)(alias)


_deprecated_alias("pending", list_pending_command)
_deprecated_alias("attempts", step_attempts_command)


def run() -> None:
    """Console-script entry point."""
    app()

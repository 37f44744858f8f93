"""The commands that write events: ``append`` (flags, a JSON file, JSON lines) and ``cancel``."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from selene_core_tables.cli.common import (
    EXIT_BAD_INPUT,
    fail,
    json_line,
    repository,
    stderr,
    stdout,
)
from selene_core_tables.database import Login
from selene_core_tables.errors import StorageError
from selene_core_tables.records import WorkEventType, WorkOrderLedgerEventInput, WorkOrderStatus
from selene_core_tables.repository import WorkOrderRepository

#: An event read from a file, with where it was read (``line 3``) to name it by.
_Labelled = tuple[str, WorkOrderLedgerEventInput]


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
    if file is not None and jsonl is not None:
        fail("give --file or --jsonl, not both", EXIT_BAD_INPUT)
    if file is not None:
        events = list(_events_from_json(file))  # parsed whole before connecting
        with repository(ctx, Login.APP) as repo:
            _append_batches(repo, events, batch_size, as_json, progress=False)
        return
    if jsonl is not None:
        with _opened(jsonl) as lines, repository(ctx, Login.APP) as repo:
            _append_batches(repo, _events_from_lines(lines), batch_size, as_json, progress=True)
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
        fail(f"missing {', '.join(missing)} (or give --file / --jsonl)", EXIT_BAD_INPUT)
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
    with repository(ctx, Login.APP) as repo:
        result = repo.append(
            event, expected_event_count=expected_event_count, replay_is_error=replay_is_error
        )
    _print_append(event, result.work_order_event_id, result.idempotency_replay, as_json)


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
    with repository(ctx, Login.APP) as repo:
        result = repo.cancel(
            tenant,
            work_order,
            reason_code=reason_code,
            idempotency_key=idempotency_key,
            created_at=time.time_ns() if created_at is None else created_at,
            turn_id=turn_id,
        )
    if as_json:
        print(json_line({"tenant_id": tenant, **asdict(result)}))
    else:
        stdout().print(
            f"canceled {tenant}/{result.work_order_id}: event {result.last_event_id}",
            markup=False,
        )


def _print_append(
    event: WorkOrderLedgerEventInput, event_id: int, replay: bool, as_json: bool
) -> None:
    if as_json:
        print(
            json_line(
                {
                    "tenant_id": event.tenant_id,
                    "work_order_id": event.work_order_id,
                    "work_order_event_id": event_id,
                    "idempotency_replay": replay,
                }
            )
        )
    elif replay:
        stdout().print(
            f"replay: event {event_id} of {event.tenant_id}/{event.work_order_id} "
            "was already appended with this idempotency key; nothing written"
        )
    else:
        stdout().print(f"appended event {event_id} to {event.tenant_id}/{event.work_order_id}")


def _append_batches(
    repo: WorkOrderRepository,
    events: Iterable[_Labelled],
    batch_size: int,
    as_json: bool,
    *,
    progress: bool,
) -> None:
    """Append labelled events in batches of one tenant each; name a refused one by its label."""
    appended = replayed = 0
    bar = Progress(
        TextColumn("appending"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr(),
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
                fail(
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
        stdout().print(f"{appended} appended, {replayed} idempotent replays")


def _batches(events: Iterable[_Labelled], size: int) -> Iterator[list[_Labelled]]:
    """Consecutive events of one tenant, at most ``size`` at a time."""
    batch: list[_Labelled] = []
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
        fail(f"cannot read {path}: {error.strerror}", EXIT_BAD_INPUT)


def _events_from_json(path: Path) -> Iterator[_Labelled]:
    with _opened(path) as handle:
        try:
            document = json.load(handle)
        except json.JSONDecodeError as error:
            fail(f"{path}: not JSON: {error}", EXIT_BAD_INPUT)
    items = document if isinstance(document, list) else [document]
    for number, item in enumerate(items, start=1):
        label = f"{path}: event {number}"
        yield label, _event_from(item, label)


def _events_from_lines(lines: TextIO) -> Iterator[_Labelled]:
    for number, line in enumerate(lines, start=1):
        if line.strip():
            label = f"line {number}"
            yield label, _event_from(_json_object(line, label), label)


_EVENT_FIELDS = {field.name for field in fields(WorkOrderLedgerEventInput)}


def _event_from(item: Any, where: str) -> WorkOrderLedgerEventInput:
    if not isinstance(item, dict):
        fail(f"{where}: an event is a JSON object", EXIT_BAD_INPUT)
    unknown = sorted(set(item) - _EVENT_FIELDS)
    if unknown:
        fail(f"{where}: unknown field(s) {', '.join(unknown)}", EXIT_BAD_INPUT)
    try:
        return WorkOrderLedgerEventInput.from_dict(item)
    except TypeError as error:
        fail(f"{where}: {error}", EXIT_BAD_INPUT)


def _json_object(text: str, where: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"{where}: not JSON: {error}", EXIT_BAD_INPUT)
    if not isinstance(value, dict):
        fail(f"{where}: expected a JSON object", EXIT_BAD_INPUT)
    return value

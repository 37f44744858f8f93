"""The selene-core-tables CLI through click's test runner, on the test server by --dsn."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from selene_core_tables.cli import app
from tests.conftest import APP_ROLE, DBA_ROLE, conninfo
from tests.sql_helpers import ledger_state

Invoke = Callable[..., Any]


@pytest.fixture
def dsn(postgresql_proc: Any, dbname: str) -> Callable[[str | None], str]:
    """The DSN of this test's database for a login role (None: the superuser)."""
    return lambda user: conninfo(postgresql_proc, dbname, user)


@pytest.fixture
def cli(dsn: Callable[[str | None], str]) -> Invoke:
    """Run the CLI as ``user`` (default the selene_os login) and return click's Result."""
    runner = CliRunner()

    def invoke(*args: str, user: str | None = APP_ROLE, stdin: str | None = None) -> Any:
        return runner.invoke(app, ["--dsn", dsn(user), *args], input=stdin)

    return invoke


def create_flags(work_order: str = "wo-1", **overrides: str) -> list[str]:
    flags = {
        "--tenant": "acme",
        "--work-order": work_order,
        "--correlation-id": str(1000 + int(work_order.rsplit("-", 1)[-1])),
        "--created-at": "1000",
        "--idempotency-key": f"create-{work_order}",
    }
    flags.update(overrides)
    return [item for pair in flags.items() for item in pair]


def jsonl_event(number: int, **overrides: Any) -> str:
    event = {
        "tenant_id": "acme",
        "work_order_id": f"wo-{number}",
        "correlation_id": 5000 + number,
        "turn_id": 1,
        "event_type": "WORK_ORDER_CREATED",
        "work_order_status": "DRAFT",
        "reason_code": 1,
        "created_at": 1000,
        "idempotency_key": f"create-{number}",
    }
    event.update(overrides)
    return json.dumps(event)


def test_append_from_flags_then_a_replay(cli: Invoke, postgresql: psycopg.Connection) -> None:
    first = cli("append", *create_flags())
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("appended event ")

    again = cli("append", *create_flags(), "--json")
    assert again.exit_code == 0
    reported = json.loads(again.stdout)
    assert reported["idempotency_replay"] is True
    assert str(reported["work_order_event_id"]) in first.stdout

    strict = cli("append", *create_flags(), "--replay-is-error")
    assert strict.exit_code == 12
    assert "OS_WORK_ORDER_IDEMPOTENCY_REPLAY" in strict.stderr
    assert ledger_state(postgresql).ledger_rows == 1


def test_a_refused_event_prints_one_line_and_exits_with_its_code(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    refused = cli("append", *create_flags(), "--reason-code", "0")
    assert refused.exit_code == 14
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED: reason_code")
    assert "[SQLSTATE SE004]" in line
    assert refused.stdout == ""
    assert ledger_state(postgresql).ledger_rows == 0


def test_current_shows_the_record_and_exits_1_when_there_is_none(cli: Invoke) -> None:
    cli("append", *create_flags())
    cli(
        "append",
        *create_flags(),
        "--event-type", "STATUS_CHANGED",
        "--status", "CONFIRM",
        "--created-at", "2000",
        "--idempotency-key", "confirm",
    )  # fmt: skip
    table = cli("current", "acme", "wo-1")
    assert table.exit_code == 0
    assert "CONFIRM" in table.stdout

    record = json.loads(cli("current", "acme", "wo-1", "--json").stdout)
    assert (record["work_order_status"], record["event_count"]) == ("CONFIRM", 2)

    missing = cli("current", "acme", "wo-404")
    assert missing.exit_code == 1
    assert "no work order 'wo-404'" in missing.stderr


def test_the_ledger_prints_json_lines_in_event_order(cli: Invoke) -> None:
    for number in range(1, 4):
        assert cli("append", *create_flags(f"wo-{number}")).exit_code == 0
    lines = cli("ledger", "acme", "--json").stdout.splitlines()
    events = [json.loads(line) for line in lines]
    assert [event["work_order_id"] for event in events] == ["wo-1", "wo-2", "wo-3"]
    ids = [event["work_order_event_id"] for event in events]
    assert ids == sorted(ids)

    after_first = cli("ledger", "acme", "--json", "--after", str(ids[0]), "--limit", "1")
    assert [json.loads(line)["work_order_id"] for line in after_first.stdout.splitlines()] == [
        "wo-2"
    ]
    one = cli("ledger", "acme", "--work-order", "wo-3")
    assert "wo-3" in one.stdout
    assert "wo-2" not in one.stdout


def test_rebuild_of_every_tenant_needs_the_dba_login(cli: Invoke) -> None:
    cli("append", *create_flags())
    refused = cli("rebuild")
    assert refused.exit_code == 13
    assert "OS_WORK_ORDER_TENANT_SCOPE_VIOLATION" in refused.stderr

    assert cli("rebuild", "acme").stdout.strip() == (
        "rebuilt 1 work order(s) of 1 tenant(s) from 1 event(s)"
    )
    assert cli("rebuild", user=DBA_ROLE).exit_code == 0


def test_jsonl_appends_in_batches_and_names_the_refused_line(
    cli: Invoke, tmp_path: Path, postgresql: psycopg.Connection
) -> None:
    good = [jsonl_event(number) for number in range(1, 13)]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(good) + "\n", encoding="utf-8")
    done = cli("append", "--jsonl", str(path), "--batch-size", "5")
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "12 appended, 0 idempotent replays"

    # Replays of the first 12, then a bad event on line 14 of a batch of 5 (lines 11-15).
    more = [*good, jsonl_event(13), jsonl_event(14, work_order_status="NOPE"), jsonl_event(15)]
    path.write_text("\n".join(more) + "\n", encoding="utf-8")
    before = ledger_state(postgresql)
    refused = cli("append", "--jsonl", str(path), "--batch-size", "5")
    assert refused.exit_code == 14
    assert refused.stderr.startswith("error: line 14: OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED")
    assert ledger_state(postgresql).ledger_rows == before.ledger_rows


def test_jsonl_from_stdin_and_a_json_file(cli: Invoke, tmp_path: Path) -> None:
    piped = cli("append", "--jsonl", "-", "--json", stdin=jsonl_event(1) + "\n" + jsonl_event(2))
    assert piped.exit_code == 0, piped.output
    assert [json.loads(line)["work_order_id"] for line in piped.stdout.splitlines()] == [
        "wo-1",
        "wo-2",
    ]
    array = tmp_path / "events.json"
    array.write_text(f"[{jsonl_event(3)}, {jsonl_event(1)}]", encoding="utf-8")
    both = cli("append", "--file", str(array))
    assert both.stdout.strip() == "1 appended, 1 idempotent replays"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "line 1: not JSON"),
        ('{"tenant_id": "acme", "colour": "red"}', "line 1: unknown field(s) colour"),
        ('{"tenant_id": "acme"}', "line 1: WorkOrderLedgerEventInput.__init__() missing"),
        ("[1, 2]", "line 1: expected a JSON object"),
    ],
)
def test_unusable_input_exits_2_before_anything_is_written(
    cli: Invoke, postgresql: psycopg.Connection, content: str, message: str
) -> None:
    result = cli("append", "--jsonl", "-", stdin=content)
    assert result.exit_code == 2
    assert message in result.stderr
    assert ledger_state(postgresql).ledger_rows == 0


def test_missing_flags_are_named(cli: Invoke) -> None:
    result = cli("append", "--tenant", "acme")
    assert result.exit_code == 2
    assert "missing --work-order, --correlation-id" in result.stderr


def test_an_unreachable_database_exits_3() -> None:
    result = CliRunner().invoke(
        app,
        ["--dsn", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "current", "a", "b"],
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: cannot reach the database of the given DSN")


def test_migrate_on_a_migrated_database_changes_nothing(cli: Invoke) -> None:
    result = cli("migrate", user=None)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 migration(s) applied")


def test_the_demo_shows_every_capability_and_failure_mode(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    result = cli("demo", user=None)
    assert result.exit_code == 0, result.output
    for expected in (
        "OS_WORK_ORDER_LEDGER_APPEND",
        "OS_WORK_ORDER_IDEMPOTENCY_REPLAY",
        "OS_WORK_ORDER_CURRENT_READ",
        "OS_WORK_ORDER_LEDGER_READ",
        "OS_WORK_ORDER_CURRENT_REBUILD",
        "refused: OS_WORK_ORDER_TENANT_SCOPE_VIOLATION [SQLSTATE SE003]",
        "refused: OS_WORK_ORDER_APPEND_ONLY_VIOLATION [SQLSTATE SE001]",
        "refused: OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED [SQLSTATE SE004]",
    ):
        assert expected in result.stdout
    assert result.stdout.count("\n    refused: ") == 9
    state = ledger_state(postgresql)
    assert state.ledger_rows == 13
    assert state.audit_rows == 14

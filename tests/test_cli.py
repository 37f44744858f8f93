"""The selene-core-tables CLI through click's test runner, on the test server by --dsn."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
        "rebuilt 1 work order(s) of 1 tenant(s) from 1 event(s); 0 had drifted and were rewritten"
    )
    assert cli("rebuild", user=DBA_ROLE).exit_code == 0


def test_verify_exits_1_on_drift_and_rebuild_repairs_it(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    cli("append", *create_flags())
    clean = cli("verify", "acme")
    assert (clean.exit_code, clean.stdout.strip()) == (0, "the projections agree with the ledger")

    postgresql.execute("UPDATE os_core.work_orders_current SET turn_id = 5")
    postgresql.commit()
    drift = cli("verify", "--json", user=DBA_ROLE)
    assert drift.exit_code == 1
    [difference] = [json.loads(line) for line in drift.stdout.splitlines()]
    assert (difference["difference"], difference["expected"], difference["actual"]) == (
        "turn_id",
        "1",
        "5",
    )
    repaired = cli("rebuild", "--audit", user=DBA_ROLE)
    assert repaired.stdout.strip().endswith("1 had drifted and were rewritten")
    assert cli("verify", user=DBA_ROLE).exit_code == 0


def test_stats_shows_each_tenant_and_exits_1_on_drift(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    cli("append", *create_flags())
    shown = cli("stats", "acme")
    assert shown.exit_code == 0, shown.output
    assert "acme" in shown.stdout and "DRAFT 1" in shown.stdout and "agrees" in shown.stdout

    postgresql.execute("DELETE FROM os_core.work_orders_current")
    postgresql.commit()
    drift = cli("stats", "--json", user=DBA_ROLE)
    assert drift.exit_code == 1
    [stats] = [json.loads(line) for line in drift.stdout.splitlines()]
    assert (stats["tenant_id"], stats["ledger_events"], stats["work_orders"]) == ("acme", 1, 0)
    assert stats["projection_agrees"] is False


def test_attempts_and_lease_show_the_projections(cli: Invoke) -> None:
    cli("append", *create_flags())
    cli(
        "append",
        *create_flags(),
        "--event-type", "STEP_STARTED",
        "--status", "EXECUTING",
        "--step-id", "survey",
        "--lease-owner-id", "worker-1",
        "--lease-token-hash", "sha-1",
        "--lease-expires-at", "9000",
        "--created-at", "2000",
        "--idempotency-key", "start",
    )  # fmt: skip
    attempts = cli("step-attempts", "acme", "wo-1", "--json").stdout
    [attempt] = [json.loads(line) for line in attempts.splitlines()]
    assert (attempt["step_id"], attempt["attempt_index"], attempt["attempt_status"]) == (
        "survey",
        1,
        "STARTED",
    )
    lease = json.loads(cli("lease", "acme", "wo-1", "--json").stdout)
    assert (lease["lease_owner_id"], lease["lease_state"], lease["lease_expires_at"]) == (
        "worker-1",
        "ACTIVE",
        9000,
    )
    assert "worker-1" in cli("lease", "acme", "wo-1").stdout
    assert "survey" in cli("step-attempts", "acme", "wo-1").stdout
    assert cli("lease", "acme", "wo-404").exit_code == 1


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


UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"


def test_an_unreachable_database_exits_3() -> None:
    """With --retry-for 0 the first failure is the answer: one line, no retry."""
    result = CliRunner().invoke(
        app, ["--dsn", UNREACHABLE, "--retry-for", "0", "current", "a", "b"]
    )
    assert result.exit_code == 3
    assert result.stderr.startswith("error: cannot reach the database of the given DSN")
    assert "retrying" not in result.stderr


def test_retry_for_is_how_long_a_command_keeps_trying() -> None:
    """A real process, so that the client's retry warnings reach its stderr as a user
    sees them: --retry-for 1 retries (more than once), then exits 3; so does the
    variable; a negative value is bad input."""
    command = [sys.executable, "-m", "selene_core_tables.cli", "--dsn", UNREACHABLE]
    for extra, env in ((["--retry-for", "1"], {}), ([], {"SELENE_CORE_TABLES_RETRY_FOR": "1"})):
        done = subprocess.run(
            [*command, *extra, "current", "a", "b"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
            check=False,
        )
        assert done.returncode == 3, done.stderr
        retries = [line for line in done.stderr.splitlines() if line.startswith("retrying a call")]
        assert len(retries) >= 2, done.stderr
        assert done.stderr.splitlines()[-1].startswith("error: cannot reach the database")
    bad = CliRunner().invoke(app, ["--dsn", UNREACHABLE, "--retry-for", "-1", "current", "a", "b"])
    assert bad.exit_code == 2
    assert "--retry-for" in bad.stderr


def test_migrate_on_a_migrated_database_changes_nothing(cli: Invoke) -> None:
    result = cli("migrate", user=None)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 migration(s) applied")


def test_the_demo_shows_every_capability_and_failure_mode(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    result = cli("demo", "--yes-rewrite-this-database", user=None)
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
        "refused: OS_WORK_ORDER_CANCEL_INVALID_STATE [SQLSTATE SE005]",
        "cancel (WORKORDER_CANCEL)",
        "pending work orders (WORKORDER_LIST_PENDING)",
        "its step attempts",
        "verify finds:",
    ):
        assert expected in result.stdout
    assert result.stdout.count("\n    refused: ") == 11
    state = ledger_state(postgresql)
    assert state.ledger_rows == 15
    assert state.audit_rows == 16 + 2  # appends and a replay; the audited rebuild of 2 tenants


def test_the_demo_refuses_a_database_other_than_the_embedded_one(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    before = ledger_state(postgresql)
    postgresql.commit()
    result = cli("demo", user=None)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: the demo rewrites a projection row")
    assert "--yes-rewrite-this-database" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert ledger_state(postgresql) == before


def test_cancel_then_a_replay_and_exit_15_on_a_terminal_work_order(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    assert cli("append", *create_flags()).exit_code == 0
    cancel = ["cancel", "acme", "wo-1", "--reason-code", "9", "--created-at", "2000"]
    first = cli(*cancel, "--idempotency-key", "cancel-1")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("canceled acme/wo-1: event ")

    again = cli(*cancel, "--idempotency-key", "cancel-1", "--json")
    assert again.exit_code == 0, again.output
    reported = json.loads(again.stdout)
    assert (reported["work_order_id"], reported["work_order_status"]) == ("wo-1", "CANCELED")
    assert first.stdout.strip().endswith(f"event {reported['last_event_id']}")
    assert json.loads(cli("current", "acme", "wo-1", "--json").stdout)["work_order_status"] == (
        "CANCELED"
    )

    before = ledger_state(postgresql)
    refused = cli(*cancel, "--idempotency-key", "cancel-2")
    assert refused.exit_code == 15
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: OS_WORK_ORDER_CANCEL_INVALID_STATE: ")
    assert "CANCELED" in line
    assert "[SQLSTATE SE005]" in line
    assert refused.stdout == ""
    assert ledger_state(postgresql) == before
    assert before.ledger_rows == 2


def test_a_retry_needs_only_its_idempotency_key_not_the_first_created_at(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    """Without --created-at a retry carries the clock's time: still a replay of the first."""
    first = json.loads(cli("append", *create_flags(), "--json").stdout)
    clock_flags = [flag for flag in create_flags() if flag not in ("--created-at", "1000")]
    again = cli("append", *clock_flags, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {**first, "idempotency_replay": True}

    cancel = ["cancel", "acme", "wo-1", "--reason-code", "9", "--idempotency-key", "cancel-1"]
    canceled = json.loads(cli(*cancel, "--created-at", "2000", "--json").stdout)
    retried = cli(*cancel, "--json")
    assert retried.exit_code == 0, retried.output
    assert json.loads(retried.stdout) == canceled

    current = json.loads(cli("current", "acme", "wo-1", "--json").stdout)
    assert (current["last_updated_at"], current["event_count"]) == (2000, 2)
    state = ledger_state(postgresql)
    assert (state.ledger_rows, state.audit_rows) == (2, 4)


def test_cancel_of_a_missing_work_order_exits_14_and_flags_are_required(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    missing = cli("cancel", "acme", "wo-404", "--reason-code", "1", "--idempotency-key", "k")
    assert missing.exit_code == 14
    assert "OS_WORK_ORDER_CONTRACT_VALIDATION_FAILED" in missing.stderr
    assert "does not exist" in missing.stderr
    unflagged = cli("cancel", "acme", "wo-1", "--idempotency-key", "k")
    assert unflagged.exit_code == 2
    assert "--reason-code" in unflagged.stderr
    assert ledger_state(postgresql).ledger_rows == 0


def test_list_pending_lists_newest_first_as_a_table_or_json_lines(cli: Invoke) -> None:
    for number, created_at in ((1, "1000"), (2, "3000"), (3, "2000"), (4, "4000")):
        flags = create_flags(f"wo-{number}", **{"--created-at": created_at})
        assert cli("append", *flags).exit_code == 0
    canceled = cli("cancel", "acme", "wo-4", "--reason-code", "1", "--idempotency-key", "c")
    assert canceled.exit_code == 0, canceled.output

    def listed(*flags: str) -> list[str]:
        result = cli("list-pending", "acme", "--json", *flags)
        assert result.exit_code == 0, result.output
        return [json.loads(line)["work_order_id"] for line in result.stdout.splitlines()]

    assert listed() == ["wo-2", "wo-3", "wo-1"]
    assert listed("--limit", "2") == ["wo-2", "wo-3"]
    assert listed("--updated-after", "1000") == ["wo-2", "wo-3"]
    assert listed("--status", "CANCELED", "--status", "DRAFT") == ["wo-4", "wo-2", "wo-3", "wo-1"]
    assert listed("--status", "DONE") == []

    table = cli("list-pending", "acme")
    assert table.exit_code == 0
    assert "wo-2" in table.stdout and "DRAFT" in table.stdout
    assert "wo-4" not in table.stdout

    refused = cli("list-pending", "acme", "--limit", "0")
    assert refused.exit_code == 14
    assert "limit" in refused.stderr
    unknown = cli("list-pending", "acme", "--status", "PENDING")
    assert unknown.exit_code == 14
    assert "'PENDING'" in unknown.stderr


@pytest.mark.parametrize(
    ("old", "new", "arguments"),
    [
        ("pending", "list-pending", ["acme", "--json"]),
        ("attempts", "step-attempts", ["acme", "wo-1", "--json"]),
    ],
)
def test_the_old_command_names_still_work_and_say_they_are_deprecated(
    cli: Invoke, old: str, new: str, arguments: list[str]
) -> None:
    assert cli("append", *create_flags()).exit_code == 0
    current = cli(new, *arguments)
    deprecated = cli(old, *arguments)
    assert current.exit_code == deprecated.exit_code == 0, deprecated.output
    assert deprecated.stdout == current.stdout
    assert current.stderr == ""
    assert deprecated.stderr == f"warning: `{old}` is deprecated; use `{new}` (it does the same)\n"
    listed = re.findall(r"^│ (\S+) ", cli("--help").stdout, flags=re.MULTILINE)
    assert new in listed
    assert old not in listed


def test_an_unknown_project_sqlstate_exits_with_the_storage_error_code(
    cli: Invoke, postgresql: psycopg.Connection, newer_rule: None
) -> None:
    """A newer schema's SE099 is reported as StorageError: one line, exit 10, nothing written."""
    result = cli("append", *create_flags())
    assert result.exit_code == 10
    assert result.stderr == (
        "error: OS_WORK_ORDER_STORAGE_ERROR: OS_WORK_ORDER_NEWER_RULE: a rule this client "
        "does not know [SQLSTATE SE099]\n"
    )
    assert ledger_state(postgresql).ledger_rows == 0

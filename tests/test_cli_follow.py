"""``selene-core-tables follow``: streaming a tenant's events, as a follower or a consumer.

Through click's test runner with the hidden ``--limit N`` (stop after N events), and once
as a real process stopped with SIGINT (Ctrl-C), which must exit 0 without a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from selene_core_tables.cli import app
from tests.conftest import APP_ROLE, conninfo

Invoke = Callable[..., Any]
pytestmark = pytest.mark.timeout(60)
RUN_CLI = "from selene_core_tables.cli import run; run()"


@pytest.fixture
def dsn(postgresql_proc: Any, dbname: str) -> str:
    return conninfo(postgresql_proc, dbname, APP_ROLE)


@pytest.fixture
def cli(dsn: str) -> Invoke:
    """Run the CLI as the selene_os login and return click's Result."""
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["--dsn", dsn, *args])


def append(cli: Invoke, *numbers: int) -> list[int]:
    ids = []
    for number in numbers:
        result = cli(
            "append",
            "--tenant", "acme",
            "--work-order", f"wo-{number}",
            "--correlation-id", str(1000 + number),
            "--created-at", "1000",
            "--idempotency-key", f"create-{number}",
            "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["work_order_event_id"])
    return ids


def stats(postgresql: psycopg.Connection) -> list[tuple[str, int, int]]:
    with postgresql.transaction():
        postgresql.execute("SELECT os_core.set_tenant('acme')")
        rows = postgresql.execute(
            "SELECT consumer, committed_position, pending_events "
            "FROM os_core.consumer_stats('acme')"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_follow_prints_json_lines_after_the_given_id(cli: Invoke) -> None:
    ids = append(cli, 1, 2, 3)
    result = cli("follow", "acme", "--json", "--after", str(ids[0]), "--limit", "2")
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [event["work_order_event_id"] for event in events] == ids[1:]
    assert [event["work_order_id"] for event in events] == ["wo-2", "wo-3"]

    readable = cli("follow", "acme", "--limit", "1")
    assert readable.stdout.split()[:3] == [str(ids[0]), "wo-1", "WORK_ORDER_CREATED"]


def test_follow_with_a_consumer_commits_and_goes_on_after_its_position(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    postgresql.autocommit = True
    ids = append(cli, 1, 2, 3)
    first = cli("follow", "acme", "--consumer", "shipper", "--json", "--limit", "2")
    assert first.exit_code == 0, first.output
    assert [json.loads(line)["work_order_event_id"] for line in first.stdout.splitlines()] == ids[
        :2
    ]
    assert stats(postgresql) == [("shipper", ids[1], 1)]

    second = cli("follow", "acme", "--consumer", "shipper", "--json", "--limit", "1")
    assert [json.loads(line)["work_order_event_id"] for line in second.stdout.splitlines()] == [
        ids[2]
    ]
    assert stats(postgresql) == [("shipper", ids[2], 0)]

    both = cli("follow", "acme", "--consumer", "shipper", "--after", "1")
    assert both.exit_code == 2
    assert "exclude each other" in both.stderr


def test_follow_streams_until_ctrl_c_then_exits_0_quietly(cli: Invoke, dsn: str) -> None:
    ids = append(cli, 1)
    process = subprocess.Popen(
        [
            sys.executable,
            "-X",
            "faulthandler",
            "-c",
            RUN_CLI,
            "--dsn",
            dsn,
            "follow",
            "acme",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["work_order_event_id"] == ids[0]
    later = append(cli, 2)
    assert json.loads(process.stdout.readline())["work_order_event_id"] == later[0]
    os.kill(process.pid, signal.SIGINT)
    try:
        stdout, stderr = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        # Hung: SIGABRT makes faulthandler (-X faulthandler) print where every thread is.
        os.kill(process.pid, signal.SIGABRT)
        _, stderr = process.communicate(timeout=20)
        pytest.fail(f"follow did not end 20 s after Ctrl-C; its threads:\n{stderr}")
    assert (process.returncode, stdout, stderr) == (0, "", "")


def audit_ids(postgresql: psycopg.Connection) -> list[int]:
    rows = postgresql.execute(
        "SELECT audit_event_id FROM ph1j.audit_events WHERE tenant_id = 'acme' ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def test_follow_audit_prints_the_audit_rows_after_the_given_id(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    postgresql.autocommit = True
    ids = append(cli, 1, 2)
    verified = cli("verify", "acme", "--audit")
    assert verified.exit_code == 0, verified.output
    audit = audit_ids(postgresql)
    assert len(audit) == 3

    result = cli("follow", "acme", "--audit", "--json", "--after", str(audit[0]), "--limit", "2")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["audit_event_id"] for row in rows] == audit[1:]
    assert [(row["outcome"], row["work_order_event_id"]) for row in rows] == [
        ("APPENDED", ids[1]),
        ("VERIFIED", None),
    ]
    readable = cli("follow", "acme", "--audit", "--limit", "1")
    assert readable.stdout.split()[:5] == [
        str(audit[0]), "OS_WORK_ORDER_LEDGER_APPEND", "APPENDED", "wo-1", str(ids[0])
    ]  # fmt: skip


def test_follow_audit_with_a_consumer_commits_audit_ids_apart_from_the_ledger_consumer(
    cli: Invoke, postgresql: psycopg.Connection
) -> None:
    postgresql.autocommit = True
    ids = append(cli, 1, 2, 3)
    audit = audit_ids(postgresql)
    shipped = cli("follow", "acme", "--audit", "--consumer", "shipper", "--json", "--limit", "2")
    assert shipped.exit_code == 0, shipped.output
    assert [json.loads(line)["audit_event_id"] for line in shipped.stdout.splitlines()] == audit[:2]
    # The same name on the ledger is another consumer, with a position of its own.
    ledger = cli("follow", "acme", "--consumer", "shipper", "--json", "--limit", "1")
    assert [json.loads(line)["work_order_event_id"] for line in ledger.stdout.splitlines()] == [
        ids[0]
    ]
    shown = cli("consumer-stats", "acme", "--json")
    assert shown.exit_code == 0, shown.output
    consumers = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [
        (
            c["stream"],
            c["consumer"],
            c["committed_position"],
            c["last_event_id"],
            c["pending_events"],
        )
        for c in consumers
    ] == [("audit", "shipper", audit[1], audit[2], 1), ("ledger", "shipper", ids[0], ids[2], 2)]
    table = cli("consumer-stats", "acme")
    assert table.exit_code == 0, table.output
    assert "consumers" in table.stdout and "audit" in table.stdout

    again = cli("follow", "acme", "--audit", "--consumer", "shipper", "--json", "--limit", "1")
    assert [json.loads(line)["audit_event_id"] for line in again.stdout.splitlines()] == audit[2:]

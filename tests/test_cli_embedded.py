"""The CLI with no DSN: the embedded database created, used and stopped from nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner
from yoyo import read_migrations

from selene_core_tables.cli import app
from selene_core_tables.resources import resource_dir

MIGRATION_COUNT = len(read_migrations(str(resource_dir("migrations"))))


def test_the_embedded_default_from_nothing_to_demo_and_stop(home: Path) -> None:
    runner = CliRunner(env={"SELENE_CORE_TABLES_DSN": None, "SELENE_CORE_TABLES_HOME": None})

    def cli(*args: str) -> Result:
        return runner.invoke(app, ["--home", str(home), *args])

    status = cli("db", "status")
    assert status.exit_code == 0
    assert "not initialised" in status.stdout

    appended = cli(
        "append",
        "--tenant", "acme",
        "--work-order", "wo-1",
        "--correlation-id", "7",
        "--idempotency-key", "create-wo-1",
        "--json",
    )  # fmt: skip
    assert appended.exit_code == 0, appended.output
    assert json.loads(appended.stdout)["idempotency_replay"] is False

    running = cli("db", "status")
    assert "embedded database: running" in running.stdout
    assert f"migrations applied: {MIGRATION_COUNT}" in running.stdout

    demo = cli("demo")
    assert demo.exit_code == 0, demo.output
    assert f"on the embedded database under {home}" in demo.stdout
    assert demo.stdout.count("\n    refused: ") == 11

    record = json.loads(cli("current", "acme", "wo-1", "--json").stdout)
    assert record["work_order_status"] == "DRAFT"

    assert cli("db", "stop").stdout.strip() == "stopped"
    assert cli("db", "stop").stdout.strip() == "was not running"
    # The data stays: the next command starts the same cluster again.
    again = cli("ledger", "acme", "--work-order", "wo-1", "--json")
    assert again.exit_code == 0, again.output
    assert [json.loads(line)["work_order_id"] for line in again.stdout.splitlines()] == ["wo-1"]

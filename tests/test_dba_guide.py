"""docs/dba.md runs as written.

Every ```sql and ```sh block of the guides is preceded by a marker:

    <!-- run: psql user=ROLE [db=NAME] [errors] [id=NAME] -->   psql, as ROLE, in order
    <!-- run: sh -->                                             bash, in a scratch directory
    <!-- not run: REASON -->                                     documentation only

A ```text block right after a psql block is psql's expected output, compared line by line
(trailing spaces and surrounding blank lines aside, psql's ``psql:<stdin>:N:`` prefix on
errors removed). ``errors`` lets the block go on after an error, as psql does without
ON_ERROR_STOP; any other block must succeed. The logins the guide creates are dropped at the
end; ``db=selene_restored`` is the database its restore recipe creates.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables.server import find_bindir

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDE_LOGINS = ("billing_service", "ops_alice")
RESTORED_DB = "selene_restored"

BLOCK = re.compile(
    r"<!-- (?P<marker>run: [^>]*|not run: [^>]*) -->\n```(?P<language>\w+)\n(?P<body>.*?)```\n"
    r"(?:```text\n(?P<output>.*?)```\n)?",
    re.S,
)


@dataclass(frozen=True)
class Block:
    """One marked code block of a guide."""

    marker: str
    language: str
    body: str
    output: str | None

    @property
    def options(self) -> dict[str, str]:
        words = self.marker.removeprefix("run: ").split()[1:]
        return dict(word.split("=", 1) if "=" in word else (word, "") for word in words)

    @property
    def runner(self) -> str | None:
        return (
            self.marker.removeprefix("run: ").split()[0] if self.marker.startswith("run:") else None
        )


def blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = [
        Block(m["marker"], m["language"], m["body"], m["output"]) for m in BLOCK.finditer(text)
    ]
    fences = re.findall(r"^```(sql|sh)$", text, re.M)
    assert len(fences) == len(found), (
        f"{path.name}: every ```sql and ```sh block needs a <!-- run: … --> or "
        "<!-- not run: … --> marker right above it"
    )
    for block in found:
        assert block.runner in {"psql", "sh", None}, block.marker
        assert (block.runner == "psql") == (block.language == "sql") or block.runner is None
        assert block.output is None or block.runner == "psql", "only psql blocks have output"
    return found


def normalise(output: str) -> str:
    lines = [re.sub(r"^psql:<stdin>:\d+: ", "", line).rstrip() for line in output.splitlines()]
    return "\n".join(lines).strip("\n")


@pytest.fixture
def guide_cluster(
    postgresql_proc: PostgreSQLExecutor, postgresql: psycopg.Connection
) -> Iterator[Callable[[], None]]:
    """Clean up what the guides leave in the cluster: their logins and the restored database."""

    def clean() -> None:
        with psycopg.connect(
            f"postgresql://{postgresql_proc.user}@{postgresql_proc.host}:{postgresql_proc.port}/postgres",
            autocommit=True,
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{RESTORED_DB}" WITH (FORCE)')
            for login in GUIDE_LOGINS:
                admin.execute(f"DROP ROLE IF EXISTS {login}")

    clean()
    yield clean
    clean()


class GuideRunner:
    """Runs a guide's blocks against the test server, in order."""

    def __init__(self, executor: PostgreSQLExecutor, dbname: str, workdir: Path) -> None:
        self.executor = executor
        self.dbname = dbname
        self.workdir = workdir
        bindir = str(find_bindir())
        self.env = {
            **os.environ,
            "PATH": os.pathsep.join([bindir, os.environ.get("PATH", "/usr/bin:/bin")]),
            "PGHOST": executor.host,
            "PGPORT": str(executor.port),
            "PGUSER": executor.user,
            "PGDATABASE": dbname,
        }
        self.env.pop("PGPASSWORD", None)

    def psql(self, sql: str, user: str, dbname: str, stop_on_error: bool) -> tuple[int, str]:
        command = ["psql", "--no-psqlrc", "--quiet", "--username", user, "--dbname", dbname]
        if stop_on_error:
            command += ["--set", "ON_ERROR_STOP=1"]
        ran = subprocess.run(
            [*command, "--file", "-"],
            input=sql,
            env=self.env,
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        return ran.returncode, ran.stdout

    def run(self, block: Block, hooks: dict[str, Callable[[], None]] | None = None) -> None:
        options = block.options
        if "id" in options and hooks and options["id"] in hooks:
            hooks[options["id"]]()
        if block.runner == "sh":
            ran = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", block.body],
                env=self.env,
                cwd=self.workdir,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert ran.returncode == 0, f"{block.body}\n{ran.stdout}{ran.stderr}"
            return
        assert block.runner == "psql"
        dbname = self.dbname if options.get("db", "selene") == "selene" else options["db"]
        user = self.executor.user if options["user"] == "postgres" else options["user"]
        code, output = self.psql(block.body, user, dbname, stop_on_error="errors" not in options)
        assert code == 0, f"{block.body}\n{output}"
        if block.output is not None:
            assert normalise(output) == normalise(block.output), (
                f"psql's output differs from the guide's for:\n{block.body}\n"
                f"--- psql printed:\n{normalise(output)}"
            )


def test_the_dba_guide_runs_as_written(
    postgresql_proc: PostgreSQLExecutor,
    dbname: str,
    guide_cluster: Callable[[], None],
    tmp_path: Path,
) -> None:
    workdir = tmp_path
    workdir.chmod(0o777)
    runner = GuideRunner(postgresql_proc, dbname, workdir)
    guide = blocks(DOCS / "dba.md")
    assert sum(block.runner is not None for block in guide) >= 20

    def shift_horizons_to_another_cluster() -> None:
        """Stand in for a restore into a cluster with a lower transaction-id counter.

        The restore ran into this cluster, whose counter is past every stored horizon; so
        move the restored horizons a billion transactions ahead, as they would be coming
        from a busier cluster, and show that tenant-wide pages on this primary still return
        them (a horizon ahead of every xid it has given out is passed).
        """
        code, output = runner.psql(
            """
            BEGIN;
            SET LOCAL session_replication_role = replica;
            UPDATE os_core.work_order_ledger
            SET paging_horizon = (pg_current_xact_id()::text::bigint + 1000000000)::text::xid8;
            COMMIT;
            """,
            postgresql_proc.user,
            RESTORED_DB,
            stop_on_error=True,
        )
        assert code == 0, output
        assert tenant_page(RESTORED_DB) == [1, 2, 3]

    def tenant_page(database: str) -> list[int]:
        code, output = runner.psql(
            "BEGIN; SELECT os_core.set_tenant('acme') \\g /dev/null\n"
            "SELECT work_order_event_id FROM os_core.work_order_ledger_read('acme'); COMMIT;",
            "billing_service",
            database,
            stop_on_error=True,
        )
        assert code == 0, output
        return [int(line) for line in re.findall(r"^\s+(\d+)$", output, re.M)]

    hooks = {"horizon-check": shift_horizons_to_another_cluster}
    for block in guide:
        if block.runner is not None:
            runner.run(block, hooks)
        if block.options.get("id") == "horizon-check":
            code, output = runner.psql(block.body, postgresql_proc.user, RESTORED_DB, True)
            assert code == 0 and re.search(r"^\s+4$", output, re.M), output

    # The archive files hold globex's one event and its one audit row (plus headers).
    assert len((workdir / "globex-ledger.csv").read_text().splitlines()) == 2
    assert len((workdir / "globex-audit.csv").read_text().splitlines()) == 2
    # After the repair (which a hot standby needs) the primary pages them as before.
    assert tenant_page(RESTORED_DB) == [1, 2, 3]
    # The dump, the roles and the restore happened in the scratch directory.
    assert {"roles.sql", "selene.dump"} <= {path.name for path in workdir.iterdir()}

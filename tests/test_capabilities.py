"""The capability catalogue, os_core.capabilities(), is the one list of capabilities.

sql/functions/capabilities.sql names, per SQL function selene_os or selene_dba may
execute, its client methods, CLI commands, roles and whether Citus delegates it. These
tests hold the rest of the project to it: the README's capability table, the methods of
both repository classes, and a pgTAP file named after each capability's SQL function
(tests findable by capability name), and the CLI's commands, each named after the client
method it calls. The grants are checked against it by pgtap_tests/schema.sql and
tests/test_tenant_attacks.py.

Also the one tenant-id rule: os_core.tenant_id_violation and the domain os_core.tenant_id
(which the tables' CHECKs cast to) accept and refuse the same edge inputs.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
import typer

from selene_core_tables.cli import app
from selene_core_tables.repository import WorkOrderRepository
from selene_core_tables.repository_async import AsyncWorkOrderRepository
from tests.conftest import CITUS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PGTAP_DIR = ROOT / "pgtap_tests"
TABLE_HEADER = "| SQL function | kind | client methods | CLI | roles | delegated on Citus | what |"

CATALOGUE_SQL = """
    SELECT sql_function, kind, client_methods, cli_commands, granted_to, delegated_on_citus,
           description
    FROM os_core.capabilities()
"""


def catalogue(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(CATALOGUE_SQL).fetchall()


def function_name(signature: str) -> str:
    """os_core.work_order_ledger_append(text,...) -> work_order_ledger_append"""
    return signature.split("(", 1)[0].split(".", 1)[1]


def readme_table(rows: list[tuple]) -> list[str]:
    """The README's capability table as the catalogue renders it: its public rows."""

    def codes(values: list[str]) -> str:
        return ", ".join(f"`{value}`" for value in values) or "-"

    lines = [TABLE_HEADER, "|---|---|---|---|---|---|---|"]
    for signature, kind, methods, commands, roles, delegated, description in rows:
        if kind == "internal":
            continue
        cells = [
            f"`{signature.split('(', 1)[0]}`",
            kind,
            codes(methods),
            codes(commands),
            ", ".join(roles),
            "yes" if delegated else "no",
            description,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def test_the_readme_capability_table_is_the_catalogues(postgresql: psycopg.Connection) -> None:
    text = README.read_text(encoding="utf-8").splitlines()
    assert TABLE_HEADER in text, f"README.md has no capability table ({TABLE_HEADER})"
    start = text.index(TABLE_HEADER)
    end = start
    while end < len(text) and text[end].startswith("|"):
        end += 1
    expected = readme_table(catalogue(postgresql))
    assert text[start:end] == expected, (
        "README.md's capability table differs from os_core.capabilities(); it should read:\n"
        + "\n".join(expected)
    )


@pytest.mark.parametrize("repository", [WorkOrderRepository, AsyncWorkOrderRepository])
def test_every_client_method_of_the_catalogue_exists(
    postgresql: psycopg.Connection, repository: type
) -> None:
    missing = sorted(
        f"{function_name(signature)}: {method}"
        for signature, _, methods, *_ in catalogue(postgresql)
        for method in methods
        if not callable(getattr(repository, method, None))
    )
    assert missing == [], f"{repository.__name__} lacks the catalogue's methods"


def cli_commands() -> set[str]:
    """The commands ``selene-core-tables --help`` lists (deprecated aliases are hidden)."""
    return {
        command.name or ""
        for command in typer.main.get_command(app).commands.values()  # type: ignore[attr-defined]
        if not command.hidden
    }


def test_every_cli_command_of_the_catalogue_exists_and_is_named_after_a_client_method(
    postgresql: psycopg.Connection,
) -> None:
    commands = cli_commands()
    rows = catalogue(postgresql)
    missing = sorted(
        f"{function_name(signature)}: {command}"
        for signature, _, _, cli, *_ in rows
        for command in cli
        if command.split()[0] not in commands
    )
    assert missing == [], "the CLI lacks the catalogue's commands"
    methods = {method for _, _, client, *_ in rows for method in client}
    unnamed = sorted(
        command
        for _, _, _, cli, *_ in rows
        for command in cli
        if command.split()[0].replace("-", "_") not in methods
    )
    assert unnamed == [], "a command not named after a client method (``_`` -> ``-``)"


def test_every_capability_has_a_client_method(postgresql: psycopg.Connection) -> None:
    without = [row[0] for row in catalogue(postgresql) if row[1] == "capability" and not row[2]]
    assert without == []


def test_every_capability_has_pgtap_files_named_after_it(postgresql: psycopg.Connection) -> None:
    names = [path.name for path in PGTAP_DIR.glob("*.sql")]
    without = [
        function_name(signature)
        for signature, kind, *_ in catalogue(postgresql)
        if kind == "capability"
        and not any(
            name in (f"{function_name(signature)}.sql",)
            or name.startswith(f"{function_name(signature)}--")
            for name in names
        )
    ]
    assert without == [], (
        "each capability's pgTAP tests go in pgtap_tests/<sql function>.sql or "
        "<sql function>--<topic>.sql"
    )


def test_every_pgtap_file_is_named_after_a_capability_or_a_topic(
    postgresql: psycopg.Connection,
) -> None:
    functions = {function_name(row[0]) for row in catalogue(postgresql)}
    for path in PGTAP_DIR.glob("*.sql"):
        stem = path.stem.split("--", 1)[0]
        if "_" in stem:
            assert stem in functions, f"{path.name} names no function of the catalogue"
        else:
            assert re.fullmatch(r"[a-z]+(-[a-z]+)*", stem), f"{path.name}: a topic is kebab-case"


@pytest.mark.skipif(not CITUS, reason="needs the Citus layout (make test-citus)")
def test_the_catalogue_says_which_functions_citus_delegates(
    postgresql: psycopg.Connection,
) -> None:
    """sql/citus/delegate_capabilities.sql finds them by its own rule; the catalogue says
    the same: exactly these are distributed functions routed by p_tenant_id."""
    delegated = {
        name
        for (name,) in postgresql.execute(
            """
            SELECT d.objid::regprocedure::text FROM pg_dist_object AS d
            WHERE d.classid = 'pg_proc'::regclass AND d.distribution_argument_index IS NOT NULL
            """
        )
    }
    listed = {row[0] for row in catalogue(postgresql) if row[5]}
    assert listed == delegated


# Edge inputs of the tenant-id rule: lengths 0, 1, 64, 65, every allowed punctuation
# mark, characters just outside the classes, non-ASCII letters and digits, whitespace,
# newlines (a $ that matches before a trailing newline would let one through).
TENANT_ID_EDGES = [
    "",
    "a",
    "a" * 64,
    "a" * 65,
    "Z9_.:-",
    "-",
    ".",
    ":",
    "_",
    "acme ",
    " acme",
    "acme\n",
    "\nacme",
    "ac/me",
    "ac@me",
    "acme%",
    "ac'me",
    "é",
    "\uff21",
    "\u0661",
    "a\tb",
    "[a]",
    "a*",
    "ß" * 64,
]


def test_the_tenant_id_rule_and_the_domain_agree(postgresql: psycopg.Connection) -> None:
    disagreements = []
    for value in TENANT_ID_EDGES:
        function_accepts = (
            postgresql.execute("SELECT os_core.tenant_id_violation(%s) IS NULL", [value]).fetchone()
        )[0]
        with postgresql.transaction(force_rollback=True):
            try:
                with postgresql.transaction():
                    postgresql.execute("SELECT %s::text::os_core.tenant_id", [value])
                domain_accepts = True
            except psycopg.errors.CheckViolation:
                domain_accepts = False
        if function_accepts != domain_accepts:
            disagreements.append((value, function_accepts, domain_accepts))
    assert disagreements == []
    accepted = [value for value in TENANT_ID_EDGES if re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", value)]
    assert len(accepted) == 7


def test_the_tenant_id_rule_has_one_source_in_sql() -> None:
    """The pattern appears in sql/ once: in os_core.tenant_id_violation."""
    pattern = "^[A-Za-z0-9_.:-]+$"
    holders = sorted(
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "sql").rglob("*.sql")
        if pattern in path.read_text(encoding="utf-8")
    )
    assert holders == ["sql/functions/tenant_id_violation.sql"]


TENANT_ID_DETAIL = "tenant_id must be 1 to 64 characters of A-Z, a-z, 0-9, _ . : -"
CONTRACT_ARGUMENTS = (
    "1, %s, 'wo-1', 1, 1, 'WORK_ORDER_CREATED', 'DRAFT', 1, "
    + ", ".join(["NULL"] * 5)
    + ", 1, NULL, NULL"
)


@pytest.mark.parametrize(
    ("statement", "value", "expected"),
    [
        ("SELECT os_core.set_tenant(%s)", None, ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.set_tenant(%s)", "", ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.set_tenant(%s)", "a" * 65, ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.set_tenant(%s)", "ac me", ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.set_tenant(%s)", "acme", None),
        ("SELECT os_core.require_dba_or_tenant_scope(%s)", "ac me", ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.require_dba_or_tenant_scope(%s)", None, None),
        ("SELECT os_core.require_dba_or_tenant_scope(%s)", "acme", None),
        ("SELECT os_core.lock_consumer(%s, 'c', 'ledger')", "ac me", ("SE004", TENANT_ID_DETAIL)),
        ("SELECT os_core.lock_consumer(%s, 'c', 'ledger')", "acme", None),
    ],
)
def test_every_check_of_the_tenant_id_rule_refuses_as_before(
    postgresql: psycopg.Connection, statement: str, value: str | None, expected: tuple | None
) -> None:
    """The same SQLSTATE and DETAIL as when each function stated the rule itself.

    As the superuser, a member of selene_dba: require_dba_or_tenant_scope then checks
    the tenant id only (NULL, every tenant, passes).
    """
    with postgresql.transaction(force_rollback=True):
        try:
            with postgresql.transaction():
                postgresql.execute(statement, [value])
            refused = None
        except psycopg.Error as error:
            refused = (error.sqlstate, error.diag.message_detail)
    assert refused == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "tenant_id is required"), ("ac me", TENANT_ID_DETAIL), ("a" * 65, TENANT_ID_DETAIL)],
)
def test_the_contract_check_names_the_tenant_id_rule_as_before(
    postgresql: psycopg.Connection, value: str | None, expected: str
) -> None:
    violation = postgresql.execute(
        f"SELECT os_core.work_order_event_contract_violation({CONTRACT_ARGUMENTS})", [value]
    ).fetchone()
    assert violation == (expected,)

"""What every command shares: the database option, failure reporting, and output.

One way for each: :func:`database_option` reads the ``--dsn`` / ``--home`` choice,
:func:`reported` turns an expected failure into one line on stderr and its exit
code, :func:`repository` opens the client for a command inside both, and
:func:`json_line` is the only way a command writes JSON.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import psycopg
import typer
from rich.console import Console, RenderableType

from selene_core_tables.database import Database, Login
from selene_core_tables.embedded import EmbeddedClusterError
from selene_core_tables.errors import StorageError
from selene_core_tables.records import _plain
from selene_core_tables.repository import WorkOrderRepository
from selene_core_tables.retry import AppendOutcomeUnknown, RetryPolicy
from selene_core_tables.server import ServerBinariesMissing

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: Exit status when the database cannot be reached or started.
EXIT_UNAVAILABLE = 3
#: Exit status for input the command cannot use (as click does for bad options).
EXIT_BAD_INPUT = 2

_Record = TypeVar("_Record", bound="DataclassInstance")


def stdout() -> Console:
    """Return the console of a command's output; piped or captured, 160 columns (whole ids)."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def stderr() -> Console:
    """Return the console of warnings and errors."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code``."""
    stderr().print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def database_option(ctx: typer.Context) -> Database:
    """Return the database the command talks to: ``--dsn``'s, or the embedded one."""
    database = ctx.obj
    assert isinstance(database, Database)
    return database


@contextmanager
def reported(database: Database) -> Iterator[None]:
    """Turn every expected failure into one line on stderr and its exit code."""
    try:
        yield
    except StorageError as error:
        hint = f" (hint: {error.hint})" if error.hint else ""
        fail(f"{error} [SQLSTATE {error.sqlstate}]{hint}", error.exit_code)
    except (ServerBinariesMissing, EmbeddedClusterError) as error:
        fail(str(error), EXIT_UNAVAILABLE)
    except AppendOutcomeUnknown as error:
        fail(f"{error} ({error.__cause__})".replace("\n", " "), EXIT_UNAVAILABLE)
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        fail(f"cannot reach {database.describe()}: {first_line}", EXIT_UNAVAILABLE)
    except psycopg.Error as error:
        fail(f"{type(error).__name__}: {str(error).strip()} [SQLSTATE {error.sqlstate}]", 1)


@contextmanager
def repository(ctx: typer.Context, login: Login) -> Iterator[WorkOrderRepository]:
    """Open the client on the command's database as ``login``, its failures reported.

    Over a DSN the repository connects itself, and so retries across a failover, for
    ``--retry-for`` seconds; it is closed when the block ends.
    """
    database = database_option(ctx)
    retry = RetryPolicy(deadline=database.retry_for)
    with reported(database), WorkOrderRepository(database.conninfo(login), retry=retry) as repo:
        yield repo


def json_line(value: DataclassInstance | Mapping[str, Any]) -> str:
    """Return a record (a dataclass) or a mapping as one line of JSON.

    Values are made plain as the records' ``to_dict`` makes them: enums as their
    text, times in ISO 8601.
    """
    fields = asdict(value) if is_dataclass(value) else dict(value)
    return json.dumps({key: _plain(item) for key, item in fields.items()})


def show(
    records: Iterable[_Record],
    as_json: bool,
    table: Callable[[list[_Record]], RenderableType],
) -> None:
    """Print records as JSON lines (``--json``) or as one table."""
    if as_json:
        for record in records:
            print(json_line(record))
    else:
        stdout().print(table(list(records)))


def deprecated_alias(app: typer.Typer, old_name: str, new_name: str, command: Any) -> None:
    """Register ``command`` again as ``old_name``, hidden, saying first that it is deprecated.

    A command is named after the client method it calls (``_`` -> ``-``); an older
    name keeps working, with the same options and output, and one line on stderr.
    """

    @functools.wraps(command)
    def alias(*args: Any, **kwargs: Any) -> None:
        stderr().print(
            f"warning: `{old_name}` is deprecated; use `{new_name}` (it does the same)",
            markup=False,
        )
        command(*args, **kwargs)

    summary = (command.__doc__ or "").strip().splitlines()[0]
    app.command(old_name, hidden=True, help=f"Deprecated: use {new_name}. {summary}")(alias)

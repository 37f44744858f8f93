"""The ``selene-core-tables`` Typer application and its global options.

The commands are registered on :data:`app` by :mod:`selene_core_tables.cli`, in one
list; this module holds only the applications and the global options (``--dsn``, ``--home``,
``--retry-for``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from selene_core_tables.database import Database
from selene_core_tables.retry import RetryPolicy

app = typer.Typer(
    help="The Selene OS work-order ledger: append, cancel, read, rebuild, and run the demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="The embedded database: status, start, stop.", no_args_is_help=True)


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
    retry_for: Annotated[
        float,
        typer.Option(
            envvar="SELENE_CORE_TABLES_RETRY_FOR",
            min=0,
            metavar="SECONDS",
            help="How long a call keeps retrying when the database cannot be reached or "
            "fails over (0: fail at once).",
        ),
    ] = RetryPolicy.deadline,
) -> None:
    """Talk to the database of --dsn, or to the embedded one."""
    ctx.obj = Database(dsn=dsn, home=home, retry_for=retry_for)

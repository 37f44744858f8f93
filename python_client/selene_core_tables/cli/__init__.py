"""The ``selene-core-tables`` command: the capabilities from a shell.

Every command takes ``--dsn`` (or ``$SELENE_CORE_TABLES_DSN``); with neither it
uses the embedded database, started and migrated on first use under
``--home`` (or ``$SELENE_CORE_TABLES_HOME``). A refusal prints one line, the
reason code and the DETAIL, and exits with the code of its class (see
``selene_core_tables.errors``); a database that cannot be reached exits 3 and
bad input 2.

A command is named after the client method it calls, ``_`` -> ``-``
(``list-pending`` is ``WorkOrderRepository.list_pending``). The modules, by job::

    app           the Typer applications and the --dsn / --home options
    common        the database option, failure reporting, JSON and table output
    appends       append, cancel
    reads         current, ledger, list-pending, step-attempts, lease, consumer-stats
    follow        follow
    maintenance   migrate, rebuild, verify, stats
    db            demo, db status / start / stop

and below, the one list of the commands, in the order ``--help`` shows them.
"""

from __future__ import annotations

from selene_core_tables.cli import appends, db, follow, maintenance, reads
from selene_core_tables.cli.app import app, db_app
from selene_core_tables.cli.common import deprecated_alias

app.command("migrate")(maintenance.migrate_command)
app.command("append")(appends.append_command)
app.command("current")(reads.current_command)
app.command("ledger")(reads.ledger_command)
app.command("follow")(follow.follow_command)
app.command("cancel")(appends.cancel_command)
app.command("list-pending")(reads.list_pending_command)
app.command("rebuild")(maintenance.rebuild_command)
app.command("verify")(maintenance.verify_command)
app.command("stats")(maintenance.stats_command)
app.command("consumer-stats")(reads.consumer_stats_command)
app.command("step-attempts")(reads.step_attempts_command)
app.command("lease")(reads.lease_command)
app.command("demo")(db.demo_command)
app.add_typer(db_app, name="db")
db_app.command("status")(db.status_command)
db_app.command("start")(db.start_command)
db_app.command("stop")(db.stop_command)

# The names before the capability catalogue fixed them: hidden, and they warn.
deprecated_alias(app, "pending", "list-pending", reads.list_pending_command)
deprecated_alias(app, "attempts", "step-attempts", reads.step_attempts_command)


def run() -> None:
    """Console-script entry point (``selene-core-tables``)."""
    app()


__all__ = ["app", "run"]

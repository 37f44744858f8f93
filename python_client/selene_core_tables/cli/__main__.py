"""``python -m selene_core_tables.cli``: the selene-core-tables command."""

from selene_core_tables.cli import run

run()

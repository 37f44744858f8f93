"""A throwaway Citus cluster for ``SELENE_TEST_LAYOUT=citus``: a coordinator and two workers.

Each node is a PostgreSQL server of this machine with ``shared_preload_libraries =
'citus'`` (Citus installed by ``scripts/install-citus.sh``), run by pytest-postgresql's
executor like the single-node test server, on loopback ports. ``wal_level = logical``
lets shards move; prepared transactions let the coordinator commit across workers.

The test database exists on every node with the extension; the coordinator knows the
workers and holds no shard. Migrations run on the coordinator only, as a DBA would run
them, and distribute the tables themselves (migration 0007).

Tests share that one database (a Citus database cannot be cloned from a template:
its shards live on the workers). Before each test :func:`reset_data` empties every
shard on every worker, as a superuser past the append-only triggers.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
from pytest_postgresql.executors import PostgreSQLExecutor

from selene_core_tables.server import find_bindir
from tests.servers import conninfo


def _plugin_allow_list() -> list[str]:
    """Allow Citus as a logical decoding plugin where the server has an allow list.

    Some PostgreSQL builds (Debian's 15.20 among them) accept only the output plugins
    named by ``output_plugin_libraries``; Citus's non-blocking shard moves decode WAL
    with its own plugin. Servers without the setting need nothing.
    """
    probe = subprocess.run(
        [str(find_bindir() / "postgres"), "--describe-config"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "output_plugin_libraries" not in probe.stdout:
        return []
    return ["-c output_plugin_libraries=pgoutput,test_decoding,citus"]


CITUS_SETTINGS = " ".join(
    [
        "-c shared_preload_libraries=citus",
        "-c wal_level=logical",
        "-c max_prepared_transactions=100",
        "-c max_worker_processes=32",
        # Fewer shards than the default 32: the same placement rules, a faster start.
        "-c citus.shard_count=8",
        *_plugin_allow_list(),
    ]
)

# Empties every shard of the product's tables on one worker. Shards are hidden from
# pg_class unless asked, and Citus refuses direct changes to them unless told.
RESET_SHARDS_SQL = """
SET citus.override_table_visibility TO off;
SET citus.enable_manual_changes_to_shards TO on;
SET session_replication_role = replica;
DO $$
DECLARE
    _shard text;
BEGIN
    FOR _shard IN
        SELECT format('%I.%I', n.nspname, c.relname)
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('os_core', 'ph1j') AND c.relkind = 'r' AND c.relname ~ '_[0-9]+$'
    LOOP
        BEGIN
            EXECUTE 'TRUNCATE ' || _shard;
        EXCEPTION WHEN undefined_table THEN
            -- The old placement of a moved shard, dropped by Citus's cleanup meanwhile.
            NULL;
        END;
    END LOOP;
END
$$;
"""


@dataclass
class CitusNodes:
    """The coordinator and workers of the test cluster, all on 127.0.0.1."""

    coordinator: PostgreSQLExecutor
    workers: list[PostgreSQLExecutor]

    @property
    def all(self) -> list[PostgreSQLExecutor]:
        return [self.coordinator, *self.workers]


def create_citus_database(nodes: CitusNodes, dbname: str) -> None:
    """Create ``dbname`` with the citus extension on every node; add the workers to it."""
    for node in nodes.all:
        with psycopg.connect(conninfo(node, "postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
        with psycopg.connect(conninfo(node, dbname), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION citus")
    coordinator = nodes.coordinator
    with psycopg.connect(conninfo(coordinator, dbname), autocommit=True) as conn:
        conn.execute(
            "SELECT citus_set_coordinator_host(%s, %s)", (coordinator.host, coordinator.port)
        )
        for worker in nodes.workers:
            conn.execute("SELECT citus_add_node(%s, %s)", (worker.host, worker.port))


def reset_data(nodes: CitusNodes, dbname: str) -> None:
    """Empty every table of the product on every worker (the coordinator holds no shard)."""

    def reset(node: PostgreSQLExecutor) -> None:
        with psycopg.connect(conninfo(node, dbname), autocommit=True) as conn:
            conn.execute(RESET_SHARDS_SQL)

    with ThreadPoolExecutor(max_workers=len(nodes.workers)) as pool:
        list(pool.map(reset, nodes.workers))

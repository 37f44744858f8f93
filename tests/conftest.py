"""Test harness: a throwaway PostgreSQL for the session, a migrated template, a copy per test.

The server is pytest-postgresql's executor driving ``selene-core-tables-pg-ctl``,
which runs pg_ctl as an unprivileged user when the tests run as root. Its data
directory lives in a temporary directory owned by that user (pytest's own tmp
directories are private to root). Every test gets a fresh database cloned from
a template that has the migrations applied, and login roles for the product's
group roles: ``selene_test_app`` (selene_os) and ``selene_test_dba`` (selene_dba).

With ``SELENE_TEST_LAYOUT=partitioned`` the template is then converted by
``CALL os_core.partition_by_tenant(8)``, so that the same suites run on the ledger and
audit trail partitioned by hash of tenant_id (``make test`` runs a second pass so).

With ``SELENE_TEST_LAYOUT=citus`` (``make test-citus``) the server is the coordinator of
a Citus cluster with two workers (tests/citus_cluster.py): the migrations distribute
the tables, and every test gets the one test database with its shards emptied.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import port_for
import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from selene_core_tables.embedded import EmbeddedCluster, EmbeddedClusterError
from selene_core_tables.migrate import apply_migrations
from selene_core_tables.server import hand_over
from tests.citus_cluster import CITUS_SETTINGS, CitusNodes, create_citus_database, reset_data
from tests.servers import conninfo

PG_CTL = Path(sys.executable).parent / "selene-core-tables-pg-ctl"
APP_ROLE = "selene_test_app"
DBA_ROLE = "selene_test_dba"
# "partitioned": the template's ledger and audit trail are partitioned (docs/dba.md).
LAYOUT = os.environ.get("SELENE_TEST_LAYOUT", "plain")
PARTITIONED = LAYOUT == "partitioned"
CITUS = LAYOUT == "citus"
TEST_PARTITIONS = 8
if LAYOUT not in {"plain", "partitioned", "citus"}:
    raise RuntimeError(f"SELENE_TEST_LAYOUT must be plain, partitioned or citus, not {LAYOUT!r}")
SERVER_SETTINGS = " ".join(
    [
        # Throwaway data: durability off for speed (the crash suite starts its own server).
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
        "-c max_connections=200",
    ]
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "single_node(reason): observes what a Citus cluster does differently;"
        " make test-citus deselects it",
    )


def _executor(workdir: Path, options: str) -> PostgreSQLExecutor:
    hand_over(workdir)
    return PostgreSQLExecutor(
        executable=str(PG_CTL),
        host="127.0.0.1",
        port=port_for.select_random(),
        datadir=str(workdir / "data"),
        unixsocketdir=str(workdir),
        logfile=str(workdir / "postgresql.log"),
        startparams="-w",
        dbname="selene_test",
        postgres_options=options,
    )


def _create_login_roles(conninfo_: str) -> None:
    with psycopg.connect(conninfo_, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN IN ROLE selene_os")
        admin.execute(f"CREATE ROLE {DBA_ROLE} LOGIN IN ROLE selene_dba")


@pytest.fixture(scope="session")
def citus_nodes() -> Iterator[CitusNodes | None]:
    """The Citus coordinator and workers, started and migrated (None outside the citus layout)."""
    if not CITUS:
        yield None
        return
    workdirs = [Path(tempfile.mkdtemp(prefix=f"selene-citus-{n}-")) for n in range(3)]
    executors = [_executor(d, f"{SERVER_SETTINGS} {CITUS_SETTINGS}") for d in workdirs]
    nodes = CitusNodes(coordinator=executors[0], workers=executors[1:])
    try:
        for executor in executors:
            executor.start()
        dbname = nodes.coordinator.dbname
        create_citus_database(nodes, dbname)
        apply_migrations(conninfo(nodes.coordinator, dbname))
        _create_login_roles(conninfo(nodes.coordinator, dbname))
        yield nodes
    finally:
        for executor in executors:
            with suppress(Exception):
                executor.stop()
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql_proc(citus_nodes: CitusNodes | None) -> Iterator[PostgreSQLExecutor]:
    if citus_nodes is not None:
        yield citus_nodes.coordinator
        return
    workdir = Path(tempfile.mkdtemp(prefix="selene-test-pg-"))
    executor = _executor(workdir, SERVER_SETTINGS)
    executor.start()
    try:
        DatabaseJanitor(
            user=executor.user,
            host=executor.host,
            port=executor.port,
            dbname=executor.template_dbname,
            as_template=True,
        ).init()
        apply_migrations(conninfo(executor, executor.template_dbname))
        if PARTITIONED:
            with psycopg.connect(conninfo(executor, executor.template_dbname)) as template:
                template.execute(f"CALL os_core.partition_by_tenant({TEST_PARTITIONS})")
        _create_login_roles(conninfo(executor, "postgres"))
        yield executor
    finally:
        executor.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if CITUS:

    @pytest.fixture
    def postgresql(
        citus_nodes: CitusNodes, postgresql_proc: PostgreSQLExecutor
    ) -> Iterator[psycopg.Connection]:
        """The cluster's test database with every shard emptied, as the superuser."""
        reset_data(citus_nodes, postgresql_proc.dbname)
        with psycopg.connect(conninfo(postgresql_proc, postgresql_proc.dbname)) as conn:
            yield conn

else:
    postgresql = factories.postgresql("postgresql_proc")


@pytest.fixture
def dbname(postgresql: psycopg.Connection) -> str:
    """The name of this test's fresh, migrated database."""
    return postgresql.info.dbname


@pytest.fixture
def connect(
    postgresql_proc: PostgreSQLExecutor, dbname: str
) -> Iterator[Callable[..., psycopg.Connection]]:
    """Open connections to this test's database; ``connect(user=APP_ROLE)`` logs in as selene_os."""
    opened: list[psycopg.Connection] = []

    def _connect(user: str | None = None, **kwargs: object) -> psycopg.Connection:
        conn = psycopg.connect(conninfo(postgresql_proc, dbname, user), **kwargs)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.fixture
def app_dsn(postgresql_proc: PostgreSQLExecutor, dbname: str) -> str:
    """The connection string of this test's database for the app login (selene_os)."""
    return conninfo(postgresql_proc, dbname, APP_ROLE)


# A session that waits longer than this on a lock fails instead of hanging.
LOCK_TIMEOUT = "30s"


@pytest.fixture
def su(postgresql: psycopg.Connection) -> psycopg.Connection:
    """The superuser connection in autocommit mode: every check reads committed rows."""
    postgresql.autocommit = True
    return postgresql


@pytest.fixture
def session(connect: Callable[..., psycopg.Connection]) -> Callable[..., psycopg.Connection]:
    """A new autocommit session as ``user`` (default the app role), with a lock timeout."""

    def _session(user: str = APP_ROLE) -> psycopg.Connection:
        return connect(user=user, autocommit=True, options=f"-c lock_timeout={LOCK_TIMEOUT}")

    return _session


@pytest.fixture
def app(session: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    """An autocommit session of the app login (selene_os), with a lock timeout."""
    return session()


@pytest.fixture
def dba(session: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    """An autocommit session of the DBA login (selene_dba), with a lock timeout."""
    return session(DBA_ROLE)


@pytest.fixture
def observer(connect: Callable[..., psycopg.Connection]) -> psycopg.Connection:
    """An autocommit superuser session that only watches pg_stat_activity and pg_locks."""
    return connect(autocommit=True)


@pytest.fixture
def home() -> Iterator[Path]:
    """An empty home for an embedded cluster; whatever cluster runs there is stopped afterwards.

    A ``tempfile.mkdtemp`` directory, short enough for the Unix socket path.
    """
    path = Path(tempfile.mkdtemp(prefix="selene-emb-"))
    try:
        yield path
    finally:
        for cluster_home in [path, *path.iterdir()]:
            if (cluster_home / "data").is_dir():
                with suppress(EmbeddedClusterError, OSError):
                    EmbeddedCluster(cluster_home).stop()
        shutil.rmtree(path, ignore_errors=True)


NEWER_RULE_DETAIL = "a rule this client does not know"


@pytest.fixture
def newer_rule(postgresql: psycopg.Connection) -> Iterator[None]:
    """A rule of a newer schema: every insert into the ledger is refused with SE099.

    A trigger raises it (SQLSTATE SE099, message OS_WORK_ORDER_NEWER_RULE); it is dropped
    afterwards. Not on Citus, where a trigger on a distributed table needs
    citus.enable_unsafe_triggers: what it tests is the client's mapping of the SQLSTATE.
    """
    if CITUS:
        pytest.skip("a new trigger on a distributed table needs citus.enable_unsafe_triggers")
    postgresql.execute(
        f"""
        CREATE FUNCTION os_core.tg_test_newer_rule() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = 'SE099', MESSAGE = 'OS_WORK_ORDER_NEWER_RULE',
                DETAIL = '{NEWER_RULE_DETAIL}';
        END $$;
        CREATE TRIGGER _000_test_newer_rule BEFORE INSERT ON os_core.work_order_ledger
            FOR EACH ROW EXECUTE FUNCTION os_core.tg_test_newer_rule();
        """
    )
    postgresql.commit()
    yield
    postgresql.rollback()
    postgresql.execute(
        "DROP TRIGGER _000_test_newer_rule ON os_core.work_order_ledger;"
        " DROP FUNCTION os_core.tg_test_newer_rule()"
    )
    postgresql.commit()

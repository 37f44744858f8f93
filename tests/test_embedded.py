"""The embedded default database: initialised, started, migrated and reused by itself.

Every test runs its own cluster under its own home (``tempfile.mkdtemp``, short enough
for the socket path) and stops it and removes the home afterwards. None of them uses
the session server of conftest.py.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from yoyo import read_migrations

from selene_core_tables.embedded import (
    APP_LOGIN,
    DBA_LOGIN,
    DEFAULT_DBNAME,
    EmbeddedCluster,
    EmbeddedClusterError,
    default_home,
)
from selene_core_tables.resources import resource_dir
from selene_core_tables.server import ServerBinariesMissing, hand_over, server_os_user
from tests.sql_helpers import append_committed, event

SOCKET_SUFFIX = b"/.s.PGSQL.5432"
MIGRATION_COUNT = len(read_migrations(str(resource_dir("migrations"))))
TENANT = "tenant-embedded"
LEDGER_READ = (
    "SELECT work_order_id FROM os_core.work_order_ledger_read("
    "p_tenant_id => %s::text, p_after_event_id => 0::bigint, p_limit => 100::integer)"
)


def append_work_order(cluster: EmbeddedCluster, work_order_id: str, correlation_id: int) -> int:
    """Append a WORK_ORDER_CREATED event as APP_LOGIN; return its event id."""
    with psycopg.connect(cluster.conninfo(APP_LOGIN), autocommit=True) as conn:
        event_id, replay = append_committed(
            conn,
            **event(
                tenant_id=TENANT,
                work_order_id=work_order_id,
                correlation_id=correlation_id,
                idempotency_key=f"create-{work_order_id}",
            ),
        )
    assert not replay
    return event_id


def work_order_ids(cluster: EmbeddedCluster) -> list[str]:
    """The work orders of TENANT's ledger, read as APP_LOGIN."""
    with psycopg.connect(cluster.conninfo(APP_LOGIN)) as conn:
        conn.execute("SELECT os_core.set_tenant(%s::text)", [TENANT])
        return [row[0] for row in conn.execute(LEDGER_READ, [TENANT]).fetchall()]


def home_of_socket_length(parent: Path, length: int) -> Path:
    """A home under ``parent`` whose socket path ``home/.s.PGSQL.5432`` has ``length`` bytes."""
    home = parent / ("h" * (length - len(os.fsencode(parent)) - len(b"/") - len(SOCKET_SUFFIX)))
    assert len(os.fsencode(home / ".s.PGSQL.5432")) == length
    return home


def wait_until_gone(pid: int) -> None:
    """Wait until process ``pid`` has exited and been reaped."""
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.02)
    pytest.fail(f"process {pid} still exists after 15 s")


def test_ensure_running_from_nothing_initialises_starts_and_migrates(home: Path) -> None:
    cluster = EmbeddedCluster(home)

    cluster.ensure_running()

    status = cluster.status()
    assert status.initialised
    assert status.running
    assert isinstance(status.pid, int)
    assert status.migrations_applied == MIGRATION_COUNT
    assert (status.home, status.socket_dir) == (home, home)
    assert status.log_file == home / "postgresql.log"
    assert stat.S_ISSOCK((home / ".s.PGSQL.5432").stat().st_mode)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / ".s.PGSQL.5432").stat().st_mode) == 0o700
    with psycopg.connect(cluster.conninfo()) as superuser:
        settings = superuser.execute(
            "SELECT current_setting('listen_addresses'), current_setting('fsync'),"
            " current_setting('server_encoding'), current_setting('lc_collate'),"
            " current_setting('data_directory')"
        ).fetchone()
    assert settings == ("", "on", "UTF8", "C", str(home / "data"))

    with psycopg.connect(cluster.conninfo(APP_LOGIN)) as app:
        assert app.info.dbname == DEFAULT_DBNAME
        with app.transaction():
            row = app.execute("SELECT os_core.set_tenant('t')").fetchone()
        assert row is not None
        with pytest.raises(errors.InsufficientPrivilege) as refused:
            app.execute("SELECT * FROM os_core.work_order_ledger")
        assert refused.value.sqlstate == "42501"
        app.rollback()
        memberships = app.execute(
            "SELECT pg_has_role('selene_os', 'MEMBER'), pg_has_role('selene_dba', 'MEMBER')"
        ).fetchone()
    assert memberships == (True, False)
    with psycopg.connect(cluster.conninfo(DBA_LOGIN)) as dba:
        memberships = dba.execute(
            "SELECT pg_has_role('selene_os', 'MEMBER'), pg_has_role('selene_dba', 'MEMBER')"
        ).fetchone()
    assert memberships == (False, True)


def test_reuse_keeps_the_running_cluster_and_restart_keeps_the_data(home: Path) -> None:
    # A space and a "+" in the path: pg_ctl's shell quoting, the socket-directory list
    # quoting, and the percent-encoded host that both libpq and yoyo must decode.
    home.chmod(0o755)
    cluster = EmbeddedCluster(home / "a b+c")
    cluster.ensure_running()
    first_pid = cluster.status().pid
    append_work_order(cluster, "wo-before", 1)

    EmbeddedCluster(home / "a b+c").ensure_running()

    again = cluster.status()
    assert again.running
    assert again.pid == first_pid
    assert again.migrations_applied == MIGRATION_COUNT
    assert work_order_ids(cluster) == ["wo-before"]

    assert cluster.stop() is True
    assert cluster.stop() is False
    stopped = cluster.status()
    assert (stopped.initialised, stopped.running, stopped.pid) == (True, False, None)
    assert stopped.migrations_applied is None

    cluster.ensure_running()

    restarted = cluster.status()
    assert restarted.running
    assert restarted.pid is not None
    assert restarted.pid != first_pid
    assert restarted.migrations_applied == MIGRATION_COUNT
    append_work_order(cluster, "wo-after", 2)
    assert work_order_ids(cluster) == ["wo-before", "wo-after"]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of the server's OS user, to stand for one that reused a pid."""
    process = subprocess.Popen(["sleep", "60"], user=server_os_user())
    yield process
    process.kill()
    process.wait()


def test_ensure_running_recovers_after_a_crash_and_from_a_reused_pid(
    home: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    cluster = EmbeddedCluster(home)
    cluster.ensure_running()
    append_work_order(cluster, "wo-1", 1)

    # The postmaster dies (SIGKILL) and leaves postmaster.pid behind; ensure_running
    # runs at once, while the dead postmaster may still be an unreaped zombie.
    crashed = cluster.status().pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    cluster.ensure_running()

    recovered = cluster.status()
    assert recovered.running
    assert recovered.pid != crashed
    assert work_order_ids(cluster) == ["wo-1"]

    # Crash again, then let another live process of the server's user take the
    # postmaster's pid (as after a reboot): postgres itself refuses to start over such a
    # lock file ("Is another postmaster (PID n) running"), whereas it ignores a pid that
    # is dead or belongs to another user.
    crashed = recovered.pid
    assert crashed is not None
    os.kill(crashed, signal.SIGKILL)
    wait_until_gone(crashed)
    for lock_file in (home / "data" / "postmaster.pid", home / ".s.PGSQL.5432.lock"):
        lines = lock_file.read_text().split("\n")
        lock_file.write_text("\n".join([str(sleeper.pid), *lines[1:]]))
    assert not cluster.status().running

    cluster.ensure_running()

    assert cluster.status().running
    assert work_order_ids(cluster) == ["wo-1"]
    assert "removing stale postmaster.pid" in cluster.log_file.read_text()


def test_two_callers_of_ensure_running_at_once_take_turns(home: Path) -> None:
    # The longest home the socket allows: home/.s.PGSQL.5432 is exactly 107 bytes.
    home.chmod(0o755)
    longest = home_of_socket_length(home, 107)
    failures: list[BaseException] = []

    def ensure() -> None:
        try:
            EmbeddedCluster(longest).ensure_running()
        except BaseException as failure:  # pragma: no cover - reported below
            failures.append(failure)

    threads = [threading.Thread(target=ensure) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    status = EmbeddedCluster(longest).status()
    assert status.running
    assert status.migrations_applied == MIGRATION_COUNT
    log = (longest / "postgresql.log").read_text()
    assert log.count("The files belonging to this database system") == 1
    assert log.count("database system is ready to accept connections") == 1


def test_status_and_stop_of_a_home_never_initialised(home: Path) -> None:
    for cluster in (EmbeddedCluster(home), EmbeddedCluster(home / "missing")):
        status = cluster.status()
        assert (status.initialised, status.running, status.pid) == (False, False, None)
        assert status.migrations_applied is None
        assert cluster.stop() is False
    assert list(home.iterdir()) == []


def test_a_home_too_long_for_the_socket_is_refused_before_anything_is_created(
    home: Path,
) -> None:
    too_long = home_of_socket_length(home, 108)

    with pytest.raises(EmbeddedClusterError, match="shorter SELENE_CORE_TABLES_HOME"):
        EmbeddedCluster(too_long).ensure_running()

    assert list(home.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands home over to another user")
def test_a_home_the_server_user_cannot_reach_is_refused_before_anything_is_created(
    home: Path,
) -> None:
    home.chmod(0o700)  # root's own directory: the server's user cannot enter it

    with pytest.raises(EmbeddedClusterError, match="cannot enter"):
        EmbeddedCluster(home / "cluster").ensure_running()

    assert list(home.iterdir()) == []


def test_missing_server_binaries_propagate_before_anything_is_created(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELENE_PG_BINDIR", str(home / "no-postgresql"))

    with pytest.raises(ServerBinariesMissing, match="apt-get install postgresql"):
        EmbeddedCluster(home / "cluster").ensure_running()

    assert list(home.iterdir()) == []


def test_initdb_failure_names_the_log_and_quotes_its_end(home: Path) -> None:
    hand_over(home)
    (home / "data").mkdir(mode=0o700)
    (home / "data" / "stray-file").write_text("not a cluster")
    hand_over(home / "data")
    cluster = EmbeddedCluster(home)

    with pytest.raises(EmbeddedClusterError) as failed:
        cluster.ensure_running()

    headline, *tail = str(failed.value).splitlines()
    assert headline.startswith("initdb failed")
    assert str(cluster.log_file) in headline
    assert any("not empty" in line for line in tail)


def test_pg_ctl_start_failure_names_the_log_and_quotes_its_end(home: Path) -> None:
    hand_over(home)
    data = home / "data"
    data.mkdir(mode=0o700)
    (data / "PG_VERSION").write_text("15\n")
    for path in (data, data / "PG_VERSION"):
        hand_over(path)
    cluster = EmbeddedCluster(home)

    with pytest.raises(EmbeddedClusterError) as failed:
        cluster.ensure_running()

    headline, *tail = str(failed.value).splitlines()
    assert headline.startswith("pg_ctl start failed")
    assert str(cluster.log_file) in headline
    assert any("postgresql.conf" in line for line in tail)
    assert not cluster.status().running


def test_default_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SELENE_CORE_TABLES_HOME", str(tmp_path / "chosen"))
    assert default_home() == tmp_path / "chosen"
    assert EmbeddedCluster().home == tmp_path / "chosen"

    monkeypatch.delenv("SELENE_CORE_TABLES_HOME")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_home() == Path("/var/lib/selene-core-tables")

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "selene-core-tables"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert default_home() == tmp_path / "user" / ".local" / "share" / "selene-core-tables"


def test_conninfo_is_a_socket_uri_for_libpq() -> None:
    cluster = EmbeddedCluster(Path("/tmp/a b+c"))

    assert cluster.conninfo() == "postgresql://postgres@/selene?host=/tmp/a%20b%2Bc&port=5432"
    parsed = conninfo_to_dict(cluster.conninfo(APP_LOGIN, "other"))
    assert parsed == {"user": APP_LOGIN, "dbname": "other", "host": "/tmp/a b+c", "port": "5432"}

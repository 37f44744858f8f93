"""The embedded default database: a PostgreSQL cluster that the CLI runs itself.

When no database is named, ``selene-core-tables`` uses a cluster of its own under a
home directory (:func:`default_home`), initialised, started and migrated on first use
and reused afterwards::

    home/
        data/               the cluster (PGDATA): initdb --auth=trust, UTF8, locale C
        postgresql.log      the server's log, and initdb's output
        .s.PGSQL.5432       the Unix socket; there is no TCP listener at all
        lock                flock()ed while ensure_running() or stop() works

Authentication is ``trust``, so the socket is the guard: it is created mode 0700, home
is mode 0700, and only the server's OS user (and root) can connect. As root, the server
runs as :func:`selene_core_tables.server.server_os_user` and home belongs to that user.

Errors: :class:`selene_core_tables.server.ServerBinariesMissing` when PostgreSQL is not
installed (its message is the install hint), :class:`EmbeddedClusterError` when initdb
or pg_ctl fails or home cannot be used.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shlex
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import psycopg
from psycopg import pq, sql
from yoyo import read_migrations

from selene_core_tables.migrate import apply_migrations
from selene_core_tables.resources import resource_dir
from selene_core_tables.server import find_bindir, hand_over, server_command, server_os_user

DEFAULT_DBNAME = "selene"
"""The database that holds the schema in the embedded cluster."""

APP_LOGIN = "selene_app"
"""Login role of the embedded cluster for services: a member of ``selene_os``."""

DBA_LOGIN = "selene_admin"
"""Login role of the embedded cluster for administrators: a member of ``selene_dba``."""

SUPERUSER = "postgres"
"""The bootstrap superuser of the embedded cluster (initdb --username)."""

PORT = 5432
"""The port number; with no TCP listener it only names the socket file ``.s.PGSQL.5432``."""

_SOCKET_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux; libpq says "maximum 107 bytes"
_LOG_TAIL_LINES = 5
_READY_TIMEOUT = 60.0  # seconds, as pg_ctl -w
_ZOMBIE_WAIT = 5.0  # seconds for init to reap a killed postmaster
# pg_ctl hands "-D <data>" and "-l <log>" to /bin/sh inside double quotes.
_SHELL_UNSAFE = frozenset('"\\$`\n')
_ProcessState = Literal["gone", "zombie", "ours", "postgres", "other"]
_LOGIN_ROLES = (
    (APP_LOGIN, "selene_os", "Embedded database: login for Selene OS services (selene_os)."),
    (DBA_LOGIN, "selene_dba", "Embedded database: login for administrators (selene_dba)."),
)


class EmbeddedClusterError(RuntimeError):
    """initdb or pg_ctl failed, or the home directory cannot hold a cluster.

    The first line of the message says what failed and names the log file; the lines
    after it are the end of that log.
    """


def default_home() -> Path:
    """Return the home directory of the embedded cluster.

    ``$SELENE_CORE_TABLES_HOME`` if set; else, as root, ``/var/lib/selene-core-tables``
    (``/root`` is mode 700 and the server runs as another user); else
    ``$XDG_DATA_HOME/selene-core-tables``, by default ``~/.local/share/selene-core-tables``.
    """
    override = os.environ.get("SELENE_CORE_TABLES_HOME")
    if override:
        return Path(override).expanduser().absolute()
    if os.geteuid() == 0:
        return Path("/var/lib/selene-core-tables")
    xdg = os.environ.get("XDG_DATA_HOME")
    # The XDG spec says to ignore a relative $XDG_DATA_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "selene-core-tables"


@dataclass(frozen=True)
class EmbeddedStatus:
    """What :meth:`EmbeddedCluster.status` found; it changes nothing to find it."""

    home: Path
    """The home directory."""
    initialised: bool
    """A cluster exists under home (``data/PG_VERSION``)."""
    running: bool
    """The cluster's postmaster is alive and accepts connections on the socket."""
    pid: int | None
    """The postmaster's process id, or None when it is not running."""
    socket_dir: Path
    """The directory of the Unix socket (the ``host`` of :meth:`EmbeddedCluster.conninfo`)."""
    log_file: Path
    """The server's log file."""
    migrations_applied: int | None
    """How many migrations the database has applied; None when not running (or not countable)."""


class EmbeddedCluster:
    """The PostgreSQL cluster under one home directory, started and migrated on demand."""

    def __init__(self, home: Path | None = None) -> None:
        """Use the cluster under ``home`` (default :func:`default_home`); touches nothing."""
        self._home = (home if home is not None else default_home()).expanduser().absolute()

    @property
    def home(self) -> Path:
        """The home directory (absolute)."""
        return self._home

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory, ``home/data``."""
        return self._home / "data"

    @property
    def socket_dir(self) -> Path:
        """The directory of the Unix socket: home itself, to keep the socket path short."""
        return self._home

    @property
    def log_file(self) -> Path:
        """The server's log file, ``home/postgresql.log``."""
        return self._home / "postgresql.log"

    @property
    def _socket_path(self) -> Path:
        return self.socket_dir / f".s.PGSQL.{PORT}"

    def conninfo(self, user: str | None = None, dbname: str = DEFAULT_DBNAME) -> str:
        """Return a libpq URI for ``dbname`` as ``user`` (None: the superuser) over the socket.

        The socket directory goes in the ``host`` query parameter, percent-encoded:
        psycopg (libpq) and yoyo (``parse_qsl``, then ``connect(**args)``) both decode
        it. yoyo would not read it from the netloc (it lower-cases the host and does not
        unquote it), and an unencoded ``+`` would reach yoyo as a space.
        """
        return (
            f"postgresql://{quote(user or SUPERUSER, safe='')}@/{quote(dbname, safe='')}"
            f"?host={quote(str(self.socket_dir), safe='/')}&port={PORT}"
        )

    def ensure_running(self) -> None:
        """Make the cluster exist, run, hold a migrated ``selene`` database and the login roles.

        initdb when there is no cluster, pg_ctl start when it is not running, CREATE
        DATABASE when missing, pending migrations, then :data:`APP_LOGIN` and
        :data:`DBA_LOGIN` when missing. Idempotent; when all is in place it costs one
        lock and a few queries. Two processes calling it at once take turns (flock on
        ``home/lock``).

        Raises ServerBinariesMissing when PostgreSQL is not installed, and
        EmbeddedClusterError when the home path is unusable or initdb / pg_ctl fails.
        """
        self._check_home_path()
        find_bindir()  # ServerBinariesMissing before anything is created
        self._prepare_home()
        with self._locked():
            if not self._initialised():
                if not self.data_dir.exists():
                    self.data_dir.mkdir(mode=0o700)
                    hand_over(self.data_dir)
                self._initdb()
            if not self._accepts_connections():
                self._start()
            self._ensure_database()
            if self._migrations_pending():
                apply_migrations(self.conninfo())
            self._ensure_login_roles()

    def status(self) -> EmbeddedStatus:
        """Describe the cluster without changing anything (no lock, no directory created)."""
        pid = self._postmaster_pid()
        running = pid is not None and self._ping() == pq.Ping.OK
        migrations = self._migrations_applied() if running else None
        return EmbeddedStatus(
            home=self.home,
            initialised=self._initialised(),
            running=running,
            pid=pid if running else None,
            socket_dir=self.socket_dir,
            log_file=self.log_file,
            migrations_applied=migrations,
        )

    def stop(self) -> bool:
        """Stop the cluster (pg_ctl stop -m fast); return False when it was not running."""
        if not self._initialised():
            return False
        with self._locked():
            if self._postmaster_pid() is None:
                return False
            self._server("pg_ctl stop", "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast")
            return True

    # -- home directory ---------------------------------------------------------------

    def _check_home_path(self) -> None:
        socket = os.fsencode(self._socket_path)
        if len(socket) > _SOCKET_PATH_MAX:
            raise EmbeddedClusterError(
                f"the home {self.home} is too long for a Unix socket: {self._socket_path} "
                f"is {len(socket)} bytes, the limit is {_SOCKET_PATH_MAX}; "
                "choose a shorter SELENE_CORE_TABLES_HOME"
            )
        unsafe = sorted(_SHELL_UNSAFE.intersection(str(self.home)))
        if unsafe:
            raise EmbeddedClusterError(
                f"the home {self.home} contains {''.join(unsafe)!r}, which pg_ctl cannot "
                "quote; choose another SELENE_CORE_TABLES_HOME"
            )

    def _prepare_home(self) -> None:
        """Create home (mode 0700), owned by the server's user when root."""
        user = server_os_user()
        entry = pwd.getpwnam(user) if user is not None else None
        if entry is not None:
            self._check_reachable(entry)  # the parents that exist, before creating anything
        created = not self.home.exists()
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        if entry is not None:
            self._check_reachable(entry)  # and the parents just created, under the umask
            if self.home.stat().st_uid != entry.pw_uid:
                if not created and any(self.home.iterdir()):
                    raise EmbeddedClusterError(
                        f"the home {self.home} is not empty and does not belong to {user!r}, "
                        "the user the server runs as; choose another SELENE_CORE_TABLES_HOME"
                    )
                self.home.chmod(0o700)
                hand_over(self.home)

    def _check_reachable(self, entry: pwd.struct_passwd) -> None:
        """Fail unless the server's user may enter every parent directory of home."""
        groups = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
        for parent in self.home.parents:
            if not parent.exists():
                continue
            info = parent.stat()
            if info.st_uid == entry.pw_uid:
                allowed = info.st_mode & 0o100
            elif info.st_gid in groups:
                allowed = info.st_mode & 0o010
            else:
                allowed = info.st_mode & 0o001
            if not allowed:
                raise EmbeddedClusterError(
                    f"the server runs as {entry.pw_name!r}, which cannot enter {parent} "
                    f"(on the way to {self.home}); choose another SELENE_CORE_TABLES_HOME, "
                    "e.g. /var/lib/selene-core-tables"
                )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        descriptor = os.open(self.home / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    # -- the server -------------------------------------------------------------------

    def _initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def _initdb(self) -> None:
        self._server(
            "initdb",
            "initdb",
            "--pgdata",
            str(self.data_dir),
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--data-checksums",
            "--no-instructions",
            log_output=True,
        )

    def _start(self) -> None:
        self._clear_foreign_pid()
        settings = {
            "listen_addresses": "",  # Unix socket only: no TCP port to clash with
            "port": str(PORT),
            "unix_socket_directories": _guc_list_item(str(self.socket_dir)),
            "unix_socket_permissions": "0700",
        }
        options = " ".join(
            f"-c {shlex.quote(f'{name}={value}')}" for name, value in settings.items()
        )
        self._server(
            "pg_ctl start",
            "pg_ctl",
            "start",
            "--wait",
            f"--timeout={int(_READY_TIMEOUT)}",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
        )

    def _server(self, what: str, binary: str, *args: str, log_output: bool = False) -> None:
        """Run a server binary (as the server's user when root); raise on failure."""
        result = subprocess.run(
            server_command(binary, *args),
            cwd=self.home,  # runuser keeps the cwd: it must be one the server's user can enter
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        output = (result.stdout + result.stderr).strip()
        if log_output and output:
            self._append_log(output)
        if result.returncode != 0:
            last = output.splitlines()[-1] if output else "no output"
            raise EmbeddedClusterError(
                f"{what} failed (exit {result.returncode}: {last}); see {self.log_file}"
                + self._log_tail()
            )

    def _append_log(self, text: str) -> None:
        created = not self.log_file.exists()
        descriptor = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as log:
            log.write(text + "\n")
        if created:
            hand_over(self.log_file)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        tail = [line for line in lines if line.strip()][-_LOG_TAIL_LINES:]
        return "".join(f"\n    {line}" for line in tail)

    def _read_pid(self) -> int | None:
        try:
            first = (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split("\n")[0]
            return int(first)
        except (FileNotFoundError, ValueError):
            return None

    def _postmaster_pid(self) -> int | None:
        """Return the pid in postmaster.pid when it is this cluster's live postmaster."""
        pid = self._read_pid()
        if pid is None or _process_state(pid, self.data_dir) != "ours":
            return None
        return pid

    def _clear_foreign_pid(self) -> None:
        """Before a start: deal with a postmaster.pid left by a postmaster that is gone.

        A dead pid pg_ctl start handles itself: the postmaster checks it, and the
        shared memory it names, and takes over the stale lock files. A pid that a
        process other than PostgreSQL has reused (after a reboot, say) makes the
        postmaster refuse to start, so those lock files are removed. A zombie postmaster
        (killed, not reaped yet) gets a few seconds to be reaped first; its backends
        exit as soon as it dies. A pid held by another PostgreSQL process is left alone.
        """
        pid = self._read_pid()
        if pid is None:
            return
        deadline = time.monotonic() + _ZOMBIE_WAIT
        state = _process_state(pid, self.data_dir)
        while state == "zombie" and time.monotonic() < deadline:
            time.sleep(0.05)
            state = _process_state(pid, self.data_dir)
        if state == "postgres":
            raise EmbeddedClusterError(
                f"{self.data_dir}/postmaster.pid names pid {pid}, a PostgreSQL process that "
                f"is not this cluster's postmaster as started here; stop it, or remove "
                f"postmaster.pid if it is not using {self.data_dir}; see {self.log_file}"
                + self._log_tail()
            )
        if state in ("other", "zombie"):
            self._append_log(
                f"selene-core-tables: removing stale postmaster.pid and socket lock file "
                f"(pid {pid} is not a PostgreSQL process, state {state})"
            )
            for stale in (self.data_dir / "postmaster.pid", Path(f"{self._socket_path}.lock")):
                with suppress(FileNotFoundError):
                    stale.unlink()

    def _ping(self) -> pq.Ping:
        """PQping the socket: OK when the server accepts connections (as pg_isready)."""
        return pq.Ping(pq.PGconn.ping(self.conninfo(dbname="postgres").encode()))

    def _accepts_connections(self) -> bool:
        """Return whether the cluster runs; wait while a live postmaster is starting up."""
        deadline = time.monotonic() + _READY_TIMEOUT
        while self._postmaster_pid() is not None:
            ping = self._ping()
            if ping == pq.Ping.OK:
                return True
            if time.monotonic() > deadline:
                raise EmbeddedClusterError(
                    f"the postmaster (pid {self._read_pid()}) of {self.data_dir} does not "
                    f"accept connections on {self._socket_path} (PQping: {ping.name}); "
                    f"see {self.log_file}" + self._log_tail()
                )
            time.sleep(0.1)
        return False

    # -- the database -----------------------------------------------------------------

    def _ensure_database(self) -> None:
        with psycopg.connect(self.conninfo(dbname="postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT FROM pg_catalog.pg_database WHERE datname = %s", (DEFAULT_DBNAME,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEFAULT_DBNAME)))

    def _migrations_pending(self) -> bool:
        """Return whether a migration file is not recorded as applied in DEFAULT_DBNAME.

        A cheaper look than apply_migrations, whose no-op run still leaves yoyo's
        failed CREATE TABLE / DROP TABLE probes as ERROR lines in the server log.
        """
        wanted = {migration.id for migration in read_migrations(str(resource_dir("migrations")))}
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL"
            ).fetchone()
            if row is None or not row[0]:
                return True
            applied = {
                migration_id
                for (migration_id,) in conn.execute(
                    "SELECT migration_id FROM public._yoyo_migration"
                ).fetchall()
            }
        return not wanted <= applied

    def _ensure_login_roles(self) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            for login, group, comment in _LOGIN_ROLES:
                exists = conn.execute(
                    "SELECT FROM pg_catalog.pg_roles WHERE rolname = %s", (login,)
                ).fetchone()
                if exists is None:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                            sql.Identifier(login), sql.Identifier(group)
                        )
                    )
                    conn.execute(
                        sql.SQL("COMMENT ON ROLE {} IS {}").format(
                            sql.Identifier(login), sql.Literal(comment)
                        )
                    )

    def _migrations_applied(self) -> int | None:
        """Count yoyo's applied migrations in DEFAULT_DBNAME; None if it cannot be read."""
        try:
            with psycopg.connect(self.conninfo(), connect_timeout=5, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT pg_catalog.to_regclass('public._yoyo_migration') IS NOT NULL"
                ).fetchone()
                if row is None or not row[0]:
                    return 0
                counted = conn.execute("SELECT count(*) FROM public._yoyo_migration").fetchone()
                return int(counted[0]) if counted else 0
        except psycopg.OperationalError:
            return None  # the database is not created yet, or the server is full


def _guc_list_item(value: str) -> str:
    """Quote one element of a list setting (unix_socket_directories) for PostgreSQL."""
    return '"' + value.replace('"', '""') + '"'


def _process_state(pid: int, data_dir: Path) -> _ProcessState:
    """Classify process ``pid`` with respect to the postmaster of ``data_dir``.

    "gone": no such process. "zombie": it died, or is dying, and is not reaped yet
    (just after SIGKILL an exiting process has already lost its command line but is
    not a zombie yet, so it cannot be told apart from another process). "ours": the
    postmaster of data_dir. "postgres": another PostgreSQL process. "other": any other
    process, so the pid was reused.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # alive, another user's
    if not Path("/proc/self").is_dir():
        return "ours"  # no /proc to look closer: trust the pid, as pg_ctl does
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text(encoding="utf-8", errors="replace")
        command = (proc / "comm").read_text(encoding="utf-8", errors="replace").strip()
        arguments = (proc / "cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return "gone"
    if stat.rpartition(")")[2].split()[0] in ("Z", "X") or arguments == [b""]:
        return "zombie"
    # The postmaster keeps the command line pg_ctl gave it: postgres -D <data_dir> ...
    if os.fsencode(data_dir) in arguments:
        return "ours"
    return "postgres" if command in ("postgres", "postmaster") else "other"

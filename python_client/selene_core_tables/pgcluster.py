"""A PostgreSQL cluster in a directory, supervised by this process: initdb, start, stop.

The one implementation of running a local server, used by the embedded database
(:mod:`selene_core_tables.embedded`) and the benchmarks' throwaway cluster
(``benchmarks/cluster.py``)::

    data_dir        the cluster (PGDATA): initdb --auth=trust, UTF8, locale C
    socket_dir      the Unix socket .s.PGSQL.5432; there is no TCP listener at all
    log_file        the server's log, and initdb's output

As root the binaries run as :func:`selene_core_tables.server.server_os_user`
(PostgreSQL refuses root), through :func:`selene_core_tables.server.server_command`.
It knows nothing of databases, roles or migrations: that is its users' business.
A failure raises :class:`ClusterError` (or the subclass a user asks for), whose
message says what failed, names the log and ends with its last lines.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from psycopg import pq

from selene_core_tables.server import hand_over, server_command

SUPERUSER = "postgres"
"""The bootstrap superuser (initdb --username)."""

PORT = 5432
"""The port number; with no TCP listener it only names the socket file ``.s.PGSQL.5432``."""

SOCKET_PATH_MAX = 107
"""sizeof(sockaddr_un.sun_path) - 1 on Linux; libpq says "maximum 107 bytes"."""

_LOG_TAIL_LINES = 5
_ZOMBIE_WAIT = 5.0  # seconds for init to reap a killed postmaster
ProcessState = Literal["gone", "zombie", "ours", "postgres", "other"]


class ClusterError(RuntimeError):
    """initdb or pg_ctl failed, or the cluster is in a state it cannot be started from.

    The first line of the message says what failed and names the log file; the lines
    after it are the end of that log.
    """


class LocalCluster:
    """The PostgreSQL cluster of ``data_dir``, listening on a Unix socket in ``socket_dir`` only."""

    def __init__(
        self,
        data_dir: Path,
        socket_dir: Path,
        log_file: Path,
        *,
        error: type[ClusterError] = ClusterError,
    ) -> None:
        """Describe the cluster (nothing is touched); failures raise ``error``."""
        self.data_dir = data_dir
        self.socket_dir = socket_dir
        self.log_file = log_file
        self._error = error

    @property
    def socket_path(self) -> Path:
        """The Unix socket's path."""
        return self.socket_dir / f".s.PGSQL.{PORT}"

    def conninfo(self, dbname: str, user: str | None = None) -> str:
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

    # -- state ------------------------------------------------------------------------

    def initialised(self) -> bool:
        """Return whether a cluster exists in data_dir (``PG_VERSION``)."""
        return (self.data_dir / "PG_VERSION").is_file()

    def read_pid(self) -> int | None:
        """Return the pid written in postmaster.pid, alive or not; None without one."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text(encoding="utf-8").split("\n")[0]
            return int(first)
        except (FileNotFoundError, ValueError):
            return None

    def postmaster_pid(self) -> int | None:
        """Return the pid in postmaster.pid when it is this cluster's live postmaster."""
        pid = self.read_pid()
        if pid is None or process_state(pid, self.data_dir) != "ours":
            return None
        return pid

    def ping(self) -> pq.Ping:
        """PQping the socket: OK when the server accepts connections (as pg_isready)."""
        return pq.Ping(pq.PGconn.ping(self.conninfo("postgres").encode()))

    def running(self) -> bool:
        """Return whether this cluster's postmaster is alive and accepts connections."""
        return self.postmaster_pid() is not None and self.ping() == pq.Ping.OK

    def wait_until_ready(self, timeout: float) -> bool:
        """Return whether the cluster runs, waiting while a live postmaster starts up.

        False when no postmaster of this cluster is alive; raises when one is but
        does not accept connections within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.postmaster_pid() is not None:
            ping = self.ping()
            if ping == pq.Ping.OK:
                return True
            if time.monotonic() > deadline:
                raise self._error(
                    f"the postmaster (pid {self.read_pid()}) of {self.data_dir} does not "
                    f"accept connections on {self.socket_path} (PQping: {ping.name}); "
                    f"see {self.log_file}" + self.log_tail()
                )
            time.sleep(0.1)
        return False

    # -- initdb, start, stop ------------------------------------------------------------

    def initdb(self, *options: str) -> None:
        """Create the cluster: trust authentication, UTF8, locale C, plus ``options``.

        data_dir is created (mode 0700, the server's user's) when missing.
        """
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
            hand_over(self.data_dir)
        self.run(
            "initdb",
            "initdb",
            "--pgdata",
            str(self.data_dir),
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
            *options,
            log_output=True,
        )

    def start(self, settings: Mapping[str, str] | None = None, *, timeout: float = 60.0) -> None:
        """pg_ctl start and wait: no TCP listener, the socket in socket_dir, ``settings``.

        A postmaster.pid left by a postmaster that is gone is dealt with first
        (:meth:`clear_stale_pid`).
        """
        self.clear_stale_pid()
        every = {
            "listen_addresses": "",  # Unix socket only: no TCP port to clash with
            "port": str(PORT),
            "unix_socket_directories": _guc_list_item(str(self.socket_dir)),
            **(settings or {}),
        }
        options = " ".join(f"-c {shlex.quote(f'{name}={value}')}" for name, value in every.items())
        self.run(
            "pg_ctl start",
            "pg_ctl",
            "start",
            "--wait",
            f"--timeout={int(timeout)}",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
        )

    def stop(self) -> bool:
        """Stop the cluster (pg_ctl stop -m fast); return False when it was not running."""
        if self.postmaster_pid() is None:
            return False
        self.run("pg_ctl stop", "pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast")
        return True

    def clear_stale_pid(self) -> None:
        """Before a start: deal with a postmaster.pid left by a postmaster that is gone.

        A dead pid pg_ctl start handles itself: the postmaster checks it, and the
        shared memory it names, and takes over the stale lock files. A pid that a
        process other than PostgreSQL has reused (after a reboot, say) makes the
        postmaster refuse to start, so those lock files are removed. A zombie postmaster
        (killed, not reaped yet) gets a few seconds to be reaped first; its backends
        exit as soon as it dies. A pid held by another PostgreSQL process is left alone.
        """
        pid = self.read_pid()
        if pid is None:
            return
        deadline = time.monotonic() + _ZOMBIE_WAIT
        state = process_state(pid, self.data_dir)
        while state == "zombie" and time.monotonic() < deadline:
            time.sleep(0.05)
            state = process_state(pid, self.data_dir)
        if state == "postgres":
            raise self._error(
                f"{self.data_dir}/postmaster.pid names pid {pid}, a PostgreSQL process that "
                f"is not this cluster's postmaster as started here; stop it, or remove "
                f"postmaster.pid if it is not using {self.data_dir}; see {self.log_file}"
                + self.log_tail()
            )
        if state in ("other", "zombie"):
            self.append_log(
                f"selene-core-tables: removing stale postmaster.pid and socket lock file "
                f"(pid {pid} is not a PostgreSQL process, state {state})"
            )
            for stale in (self.data_dir / "postmaster.pid", Path(f"{self.socket_path}.lock")):
                with suppress(FileNotFoundError):
                    stale.unlink()

    # -- running the binaries, the log -------------------------------------------------

    def run(self, what: str, binary: str, *args: str, log_output: bool = False) -> None:
        """Run a server binary (as the server's user when root); raise on failure.

        With ``log_output`` its output is appended to the log (initdb has no log of its own).
        """
        result = subprocess.run(
            server_command(binary, *args),
            # runuser keeps the cwd: it must be one the server's user can enter.
            cwd=self.socket_dir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        output = (result.stdout + result.stderr).strip()
        if log_output and output:
            self.append_log(output)
        if result.returncode != 0:
            last = output.splitlines()[-1] if output else "no output"
            raise self._error(
                f"{what} failed (exit {result.returncode}: {last}); see {self.log_file}"
                + self.log_tail()
            )

    def append_log(self, text: str) -> None:
        """Append a line to the server's log (created mode 0600, the server's user's)."""
        created = not self.log_file.exists()
        descriptor = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "a", encoding="utf-8") as log:
            log.write(text + "\n")
        if created:
            hand_over(self.log_file)

    def log_tail(self) -> str:
        """Return the last non-empty lines of the log, each on a new indented line."""
        try:
            lines = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        tail = [line for line in lines if line.strip()][-_LOG_TAIL_LINES:]
        return "".join(f"\n    {line}" for line in tail)


def _guc_list_item(value: str) -> str:
    """Quote one element of a list setting (unix_socket_directories) for PostgreSQL."""
    return '"' + value.replace('"', '""') + '"'


def process_state(pid: int, data_dir: Path) -> ProcessState:
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

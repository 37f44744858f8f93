"""Where the embedded database lives: its home directory, made safe to hold a cluster.

The home is mode 0700 and, as root, the server's user's (it holds the socket, whose
mode and the home's are the only guard of ``trust`` authentication); its path must
leave the socket's under 107 bytes and hold nothing pg_ctl cannot quote.
"""

from __future__ import annotations

import fcntl
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selene_core_tables.pgcluster import PORT, SOCKET_PATH_MAX, ClusterError
from selene_core_tables.server import hand_over, server_os_user

# pg_ctl hands "-D <data>" and "-l <log>" to /bin/sh inside double quotes.
_SHELL_UNSAFE = frozenset('"\\$`\n')


class EmbeddedClusterError(ClusterError):
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


def check_home_path(home: Path) -> None:
    """Refuse a home whose socket path is too long, or that pg_ctl cannot quote."""
    socket_path = home / f".s.PGSQL.{PORT}"
    socket = os.fsencode(socket_path)
    if len(socket) > SOCKET_PATH_MAX:
        raise EmbeddedClusterError(
            f"the home {home} is too long for a Unix socket: {socket_path} "
            f"is {len(socket)} bytes, the limit is {SOCKET_PATH_MAX}; "
            "choose a shorter SELENE_CORE_TABLES_HOME"
        )
    unsafe = sorted(_SHELL_UNSAFE.intersection(str(home)))
    if unsafe:
        raise EmbeddedClusterError(
            f"the home {home} contains {''.join(unsafe)!r}, which pg_ctl cannot "
            "quote; choose another SELENE_CORE_TABLES_HOME"
        )


def prepare_home(home: Path) -> None:
    """Create home (mode 0700), owned by the server's user when root."""
    user = server_os_user()
    entry = pwd.getpwnam(user) if user is not None else None
    if entry is not None:
        _check_reachable(home, entry)  # the parents that exist, before creating anything
    created = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if entry is not None:
        _check_reachable(home, entry)  # and the parents just created, under the umask
        if home.stat().st_uid != entry.pw_uid:
            if not created and any(home.iterdir()):
                raise EmbeddedClusterError(
                    f"the home {home} is not empty and does not belong to {user!r}, "
                    "the user the server runs as; choose another SELENE_CORE_TABLES_HOME"
                )
            home.chmod(0o700)
            hand_over(home)


def _check_reachable(home: Path, entry: pwd.struct_passwd) -> None:
    """Fail unless the server's user may enter every parent directory of home."""
    groups = set(os.getgrouplist(entry.pw_name, entry.pw_gid))
    for parent in home.parents:
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
                f"(on the way to {home}); choose another SELENE_CORE_TABLES_HOME, "
                "e.g. /var/lib/selene-core-tables"
            )


@contextmanager
def locked(home: Path) -> Iterator[None]:
    """Hold ``home/lock`` (flock) for the block: two processes take turns."""
    descriptor = os.open(home / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)

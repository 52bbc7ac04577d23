"""The Docker stack's database set-up, run for real on the machine's PostgreSQL (no Docker needed).

deploy/postgres-init.sh (roles and databases) and scripts/compose_init.py (audit tables, the Airflow
user's password) run as the stack runs them, under a unique name prefix; everything is dropped after.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
PREFIX = f"t_compose_{uuid.uuid4().hex[:8]}_"
NAMES = ("airflow", "mlflow", "modelops")
PASSWORD_VARS = {"airflow": "AIRFLOW_DB_PASSWORD", "mlflow": "MLFLOW_DB_PASSWORD", "modelops": "MODELOPS_DB_PASSWORD"}


def run_init(server: sa.engine.URL, prefix: str, passwords: dict[str, str]) -> subprocess.CompletedProcess:
    """deploy/postgres-init.sh against `server`, as PostgreSQL's image runs it (POSTGRES_USER / POSTGRES_DB)."""
    env = {
        **os.environ,
        "PGHOST": server.host or "127.0.0.1",
        "PGPORT": str(server.port or 5432),
        "POSTGRES_USER": server.username or "postgres",
        "POSTGRES_DB": "postgres",
        "MODELOPS_PG_PREFIX": prefix,
        **passwords,
    }
    return subprocess.run(
        ["bash", str(REPO / "deploy" / "postgres-init.sh")], capture_output=True, text=True, env=env, timeout=60
    )


def url_as(server: sa.engine.URL, role: str, database: str) -> sa.engine.URL:
    """`server` as login `role` on `database` (trust auth: no password needed)."""
    return server.set(username=role, password=None, database=database)


def scalar(url: sa.engine.URL, query: str, **params):
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query), params).scalar()
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def server(pg_url):
    """The machine's PostgreSQL, and the three roles and databases made by the init script (dropped after)."""
    server = make_url(pg_url).set(database="postgres")
    passwords = {var: uuid.uuid4().hex for var in PASSWORD_VARS.values()}
    try:
        result = run_init(server, PREFIX, passwords)
        assert result.returncode == 0, result.stderr
        yield server, passwords
    finally:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            for name in NAMES:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{PREFIX}{name}" WITH (FORCE)'))
                connection.execute(sa.text(f'DROP ROLE IF EXISTS "{PREFIX}{name}"'))
        engine.dispose()


def test_roles_and_databases(server):
    server, _ = server
    for name in NAMES:
        role = PREFIX + name
        assert scalar(server, "select pg_get_userbyid(datdba) from pg_database where datname = :n", n=role) == role
        verifier = scalar(server, "select rolpassword from pg_authid where rolname = :n", n=role)
        assert verifier.startswith("SCRAM-SHA-256$"), name
        assert not scalar(
            server, "select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = :n", n=role
        )
        # the owner works in its database (PostgreSQL 15+ no longer lets PUBLIC create in `public`)
        own = url_as(server, role, role)
        assert scalar(own, "create temp table probe(i int); select current_user") == role
        assert scalar(own, "select has_schema_privilege('public', 'CREATE')")
    # and nobody else may even connect
    with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
        scalar(url_as(server, PREFIX + "mlflow", PREFIX + "airflow"), "select 1")


def test_rerun_is_idempotent_and_sets_new_passwords(server):
    server, passwords = server
    role = PREFIX + "mlflow"
    before = scalar(server, "select rolpassword from pg_authid where rolname = :n", n=role)
    result = run_init(server, PREFIX, {**passwords, "MLFLOW_DB_PASSWORD": uuid.uuid4().hex})
    assert result.returncode == 0, result.stderr
    assert scalar(server, "select rolpassword from pg_authid where rolname = :n", n=role) != before
    assert scalar(server, "select count(*) from pg_database where datname like :p", p=PREFIX + "%") == 3


def test_missing_password_fails_before_creating_anything(server):
    server, passwords = server
    prefix = f"t_compose_{uuid.uuid4().hex[:8]}_"
    result = run_init(server, prefix, {**passwords, "MLFLOW_DB_PASSWORD": ""})
    assert result.returncode != 0
    assert "MLFLOW_DB_PASSWORD is not set" in result.stderr
    assert scalar(server, "select count(*) from pg_roles where rolname like :p", p=prefix + "%") == 0


def compose_init(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compose_init.py")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "include"), **env},
        timeout=120,
    )


def test_compose_init_creates_audit_tables_and_the_airflow_login(server, tmp_path, monkeypatch):
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

    from modelops.monitor import operations  # noqa: F401 (registers its tables)
    from modelops.store import history

    server, _ = server
    role = PREFIX + "modelops"
    audit_url = url_as(server, role, role).set(drivername="postgresql+psycopg2")
    passwords_file = tmp_path / "auth" / "passwords.json"
    env = {
        "MODELOPS_DB_URL": audit_url.render_as_string(hide_password=False),
        "AIRFLOW_ADMIN_USER": "admin",
        "AIRFLOW_ADMIN_PASSWORD": "first-secret",
        "AIRFLOW_REVIEWER_USER": "reviewer",
        "AIRFLOW_REVIEWER_PASSWORD": "reviewer-secret",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,reviewer:user,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
    }
    result = compose_init(env)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(audit_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(history.metadata.tables) <= tables
    assert {"alias_history", "monitoring_history", "task_figures"} <= tables
    owner = scalar(audit_url, "select tableowner from pg_tables where tablename = 'alias_history'")
    assert owner == role
    assert json.loads(passwords_file.read_text()) == {"admin": "first-secret", "reviewer": "reviewer-secret"}
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600

    # the api-server's auth manager reads that file and only adds users missing from it
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords_file))
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"])
    SimpleAuthManager().init()
    kept = SimpleAuthManager.get_passwords()
    assert kept["admin"] == "first-secret" and kept["reviewer"] == "reviewer-secret"
    assert set(kept) == {"admin", "reviewer", "viewer"}

    # a rerun (every `docker compose up`) keeps the tables, the other user, and sets the new password
    result = compose_init({**env, "AIRFLOW_ADMIN_PASSWORD": "second-secret"})
    assert result.returncode == 0, result.stderr
    assert json.loads(passwords_file.read_text()) == {
        "admin": "second-secret",
        "reviewer": "reviewer-secret",
        "viewer": kept["viewer"],
    }

    missing = compose_init({**env, "AIRFLOW_ADMIN_PASSWORD": ""})
    assert missing.returncode == 1 and "AIRFLOW_ADMIN_PASSWORD is not set" in missing.stderr
    stranger = compose_init({**env, "AIRFLOW_ADMIN_USER": "root"})
    assert stranger.returncode == 1 and "'root' is not among simple_auth_manager_users" in stranger.stderr
    # four eyes: the second login is required, exists, and is another user than the admin
    no_reviewer = compose_init({**env, "AIRFLOW_REVIEWER_PASSWORD": ""})
    assert no_reviewer.returncode == 1 and "AIRFLOW_REVIEWER_PASSWORD is not set" in no_reviewer.stderr
    same = compose_init({**env, "AIRFLOW_REVIEWER_USER": "admin"})
    assert same.returncode == 1 and "must name different users" in same.stderr
    assert json.loads(passwords_file.read_text())["admin"] == "second-secret"


def test_mlflow_store_migrates_as_its_own_role(server):
    """airflow-init's `mlflow db upgrade`: the unprivileged owner role can create and upgrade its store."""
    server, _ = server
    role = PREFIX + "mlflow"
    store = url_as(server, role, role).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    mlflow = Path(sys.executable).parent / "mlflow"
    for _ in range(2):  # the second run finds the schema current (init runs on every `up`)
        result = subprocess.run([str(mlflow), "db", "upgrade", store], capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-3000:]
    assert (
        scalar(url_as(server, role, role), "select tableowner from pg_tables where tablename = 'experiments'") == role
    )
    assert scalar(url_as(server, role, role), "select count(*) from alembic_version") == 1

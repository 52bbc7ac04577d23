"""Prepare MLflow's own authentication (`mlflow server --app-name basic-auth`) before the server starts.

    python scripts/mlflow_auth.py prepare

1. writes the auth app's configuration at MLFLOW_AUTH_CONFIG_PATH: `default_permission = NO_PERMISSIONS` (an
   anonymous request gets 401, a user without a grant gets 403), the user store at MODELOPS_MLFLOW_AUTH_DB,
   the admin's name; no secret goes into the file;
2. creates the admin (MODELOPS_MLFLOW_ADMIN_USER / MODELOPS_MLFLOW_ADMIN_PASSWORD) and the service account
   the Airflow tasks use (MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD, what MLflow's clients read),
   or sets their passwords to these values when they exist;
3. grants the service account MANAGE on every experiment and registered model, and nothing else: it logs
   runs, registers versions and moves aliases, but cannot create, delete or promote users.

The service account is not an admin so that the credentials every task can read cannot make users or
admins, nor lock people out; a person who holds them can still move `champion` outside the DAGs, which
`modelops.registry.alias_drift` reports and the next scoring and monitoring run alert.
Idempotent; configuration from the environment only (a missing variable is an error naming it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

GRANTS = (("experiment", "*", "MANAGE"), ("registered_model", "*", "MANAGE"))


class AuthSetupError(RuntimeError):
    """The environment does not say how to set up MLflow's authentication."""


def require_env(name: str) -> str:
    """The value of environment variable `name`; an AuthSetupError if it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise AuthSetupError(f"{name} is not set (see scripts/prod_env.sh or .env.example)")
    return value


def render_config(database_uri: str, admin_user: str) -> str:
    """The basic-auth app's INI: nobody gets anything without a grant; the admin's name; where users live."""
    return (
        "# written by scripts/mlflow_auth.py; passwords are hashed in the user store, never written here\n"
        "[mlflow]\n"
        "default_permission = NO_PERMISSIONS\n"
        f"database_uri = {database_uri}\n"
        f"admin_username = {admin_user}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        "# a checked login is trusted for 30 s per worker (PBKDF2 runs once, not on every request); a password\n"
        "# change or a deleted user reaches the other workers within that time\n"
        "auth_cache_ttl_seconds = 30\n"
    )


def write_config(path: Path | str, database_uri: str, admin_user: str) -> Path:
    """Write the INI at `path` (its folder created, mode 0700)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(render_config(database_uri, admin_user), encoding="utf-8")
    return path


def ensure_user(store, username: str, password: str, is_admin: bool) -> str:
    """Create `username` or set its password and admin flag; returns what was done."""
    if store.has_user(username, use_primary=True):
        store.update_user(username, password=password, is_admin=is_admin)
        return "password set"
    store.create_user(username, password, is_admin=is_admin)
    return "created"


def prepare() -> list[str]:
    """Steps 1-3 from the environment; returns one line per step."""
    database_uri = require_env("MODELOPS_MLFLOW_AUTH_DB")
    admin, admin_password = require_env("MODELOPS_MLFLOW_ADMIN_USER"), require_env("MODELOPS_MLFLOW_ADMIN_PASSWORD")
    service, service_password = require_env("MLFLOW_TRACKING_USERNAME"), require_env("MLFLOW_TRACKING_PASSWORD")
    if service == admin:
        raise AuthSetupError("the service account (MLFLOW_TRACKING_USERNAME) must not be the MLflow admin")
    if database_uri.startswith("sqlite:///"):
        Path(database_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    path = write_config(require_env("MLFLOW_AUTH_CONFIG_PATH"), database_uri, admin)
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(database_uri)
    done = [f"MLflow auth config {path} (default_permission NO_PERMISSIONS)"]
    done.append(f"MLflow admin {admin!r}: {ensure_user(store, admin, admin_password, True)}")
    done.append(f"MLflow service account {service!r}: {ensure_user(store, service, service_password, False)}")
    for resource, pattern, permission in GRANTS:
        store.grant_user_permission(service, resource, pattern, permission)
    done.append(f"  granted {', '.join(f'{p} on {r} {w}' for r, w, p in GRANTS)}")
    return done


def main(argv: list[str] | None = None) -> int:
    """Command line: `prepare`."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["prepare"]:
        print("usage: mlflow_auth.py prepare", file=sys.stderr)
        return 2
    try:
        for line in prepare():
            print(line)
    except AuthSetupError as exc:
        print(f"mlflow_auth: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The modelops steps of `airflow-init` in docker-compose.yaml, after `airflow db migrate` and `mlflow db upgrade`.

1. create the audit tables (alias history, promotion decisions, monitoring history, task figures, operations
   checks) in MODELOPS_DB_URL;
2. write the Airflow users' passwords into the simple auth manager's passwords file, so the logins are the
   ones in .env (AIRFLOW_ADMIN_USER / AIRFLOW_ADMIN_PASSWORD, and the second user who approves promotions,
   AIRFLOW_REVIEWER_USER / AIRFLOW_REVIEWER_PASSWORD: nobody approves their own request) and not passwords
   printed once in a log.

Both steps are idempotent: a rerun leaves existing tables and rows alone and sets the same passwords again.
Configuration comes from the environment only; a missing variable is an error naming it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import sqlalchemy as sa

from modelops.core import catalog

# the logins set from .env: AIRFLOW_<WHO>_USER / AIRFLOW_<WHO>_PASSWORD (the admin asks, a reviewer approves)
LOGINS = ("ADMIN", "REVIEWER")


class InitError(RuntimeError):
    """The environment cannot initialise the stack as asked."""


def require_env(name: str) -> str:
    """The value of environment variable `name`; an InitError if it is unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise InitError(f"{name} is not set (docker-compose.yaml passes it from .env; see .env.example)")
    return value


def create_audit_tables(url: str) -> list[str]:
    """Create every audit table in the database at `url`; return the tables it now holds."""
    from modelops.monitor import operations  # noqa: F401 (operations registers its tables on import)
    from modelops.store import history

    engine = history.get_engine(url)
    expected = set(history.metadata.tables)
    present = set(sa.inspect(engine).get_table_names())
    if missing := sorted(expected - present):
        raise InitError(f"audit tables not created in {engine.url.render_as_string()}: {missing}")
    return sorted(expected)


def configured_users(setting: str) -> list[str]:
    """User names of a `[core] simple_auth_manager_users` value (`name:role,name:role`)."""
    names = []
    for entry in setting.split(","):
        name, sep, role = entry.strip().partition(":")
        if not sep or not name or not role:
            raise InitError(f"simple_auth_manager_users entry {entry.strip()!r} is not name:role")
        names.append(name)
    return names


def write_password(path: Path | str, user: str, password: str) -> Path:
    """Set `user`'s password in the JSON passwords file at `path` (other users kept; file mode 0600)."""
    path = Path(path)
    passwords: dict[str, str] = {}
    if path.exists() and path.read_text(encoding="utf-8").strip():
        try:
            passwords = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InitError(f"{path} is not JSON ({exc}); remove it and rerun") from None
        if not isinstance(passwords, dict):
            raise InitError(f"{path} does not hold a JSON object of user -> password; remove it and rerun")
    passwords[user] = password
    with catalog.atomic_file(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(passwords) + "\n")
    return path


def main() -> int:
    """Run both steps from the environment; print what was done."""
    try:
        url = require_env("MODELOPS_DB_URL")
        tables = create_audit_tables(url)
        print(f"audit tables ready: {', '.join(tables)}")

        users = configured_users(require_env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"))
        logins = [(require_env(f"AIRFLOW_{who}_USER"), f"AIRFLOW_{who}_PASSWORD") for who in LOGINS]
        for (user, _), who in zip(logins, LOGINS, strict=True):
            if user not in users:
                raise InitError(f"AIRFLOW_{who}_USER {user!r} is not among simple_auth_manager_users {users}")
        if len({user for user, _ in logins}) < len(logins):
            raise InitError(f"{' and '.join(f'AIRFLOW_{who}_USER' for who in LOGINS)} must name different users")
        passwords = [(user, require_env(variable), variable) for user, variable in logins]  # all set, or none written
        path = require_env("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
        for user, password, variable in passwords:
            path = write_password(path, user, password)
            print(f"Airflow user {user!r}: password from {variable} written to {path}")
    except InitError as exc:
        print(f"compose_init: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

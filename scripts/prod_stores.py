"""Create or drop the production-shaped stack's PostgreSQL databases (Airflow metadata, MLflow, audit).

    python scripts/prod_stores.py ensure|drop

Names come from scripts/prod_env.sh (MODELOPS_AIRFLOW_DB, MODELOPS_MLFLOW_DB, MODELOPS_AUDIT_DB) on the
server MODELOPS_PG. `ensure` creates the missing ones and leaves existing ones alone (idempotent);
`drop` removes them, ending any sessions still connected.
"""

from __future__ import annotations

import os
import re
import sys

import psycopg

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def database_names() -> list[str]:
    """The three databases of the stack, checked to be plain identifiers."""
    names = [os.environ[k] for k in ("MODELOPS_AIRFLOW_DB", "MODELOPS_MLFLOW_DB", "MODELOPS_AUDIT_DB")]
    for name in names:
        if not NAME.match(name):
            raise ValueError(f"database name {name!r} is not a lower-case SQL identifier")
    return names


def main(action: str) -> int:
    if action not in {"ensure", "drop"}:
        raise SystemExit(f"usage: prod_stores.py ensure|drop (got {action!r})")
    server = os.environ.get("MODELOPS_PG", "postgresql://postgres@127.0.0.1:5432")
    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=10) as connection:
        existing = {row[0] for row in connection.execute("SELECT datname FROM pg_database")}
        for name in database_names():
            if action == "ensure" and name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')
                print(f"  created database {name}")
            elif action == "drop" and name in existing:
                connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                print(f"  dropped database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))

#!/usr/bin/env bash
# Roles and databases of the compose stack, one pair per consumer, each database owned by its role and
# closed to the others (CONNECT revoked from PUBLIC):
#   airflow  - Airflow's metadata DB and the Celery result backend   (password AIRFLOW_DB_PASSWORD)
#   mlflow   - MLflow's backend store                                  (password MLFLOW_DB_PASSWORD)
#   modelops - the audit tables (alias/monitoring history, figures)   (password MODELOPS_DB_PASSWORD)
# PostgreSQL's image runs it once, on the first start with an empty data volume. It is idempotent (roles
# and databases are created when missing, the passwords set every time), so after changing a password in
# .env rerun it:  docker compose exec postgres bash /docker-entrypoint-initdb.d/10-modelops.sh
# Passwords are read by psql from the environment (\getenv), never put on a command line.
# MODELOPS_PG_PREFIX (default empty) prefixes every role and database name: for tests on a shared server.
set -euo pipefail

: "${AIRFLOW_DB_PASSWORD:?AIRFLOW_DB_PASSWORD is not set}"
: "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is not set}"
: "${MODELOPS_DB_PASSWORD:?MODELOPS_DB_PASSWORD is not set}"
prefix="${MODELOPS_PG_PREFIX:-}"

create_owned_database() {  # name password-variable
  local name="$prefix$1"
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v name="$name" -v password_var="$2" <<'SQL'
\getenv password :password_var
SELECT format('CREATE ROLE %I LOGIN', :'name')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
  echo "postgres-init: role and database $name ready"
}

create_owned_database airflow AIRFLOW_DB_PASSWORD
create_owned_database mlflow MLFLOW_DB_PASSWORD
create_owned_database modelops MODELOPS_DB_PASSWORD

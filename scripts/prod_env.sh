# Environment of the production-shaped stack (make up-prod): Airflow metadata on the machine's PostgreSQL,
# CeleryExecutor with the machine's Redis, two Celery workers, MLflow server on PostgreSQL with its own
# login, all on 127.0.0.1. Sourced instead of scripts/env.sh (it sources env.sh last, for the shared settings).
# Override any variable before sourcing (the integration test gives each run its own ports and DBs).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MODELOPS_STACK=prod
export MODELOPS_HOME="${MODELOPS_HOME:-$_root/.local/prod}"
export MODELOPS_PG="${MODELOPS_PG:-postgresql://postgres@127.0.0.1:5432}"
export MODELOPS_PG_PREFIX="${MODELOPS_PG_PREFIX:-modelops}"
export MODELOPS_AIRFLOW_DB="${MODELOPS_AIRFLOW_DB:-${MODELOPS_PG_PREFIX}_airflow}"
export MODELOPS_MLFLOW_DB="${MODELOPS_MLFLOW_DB:-${MODELOPS_PG_PREFIX}_mlflow}"
export MODELOPS_AUDIT_DB="${MODELOPS_AUDIT_DB:-${MODELOPS_PG_PREFIX}_audit}"
export MODELOPS_DB_URL="${MODELOPS_DB_URL:-$MODELOPS_PG/$MODELOPS_AUDIT_DB}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8081}"
export MLFLOW_PORT="${MLFLOW_PORT:-5001}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-http://127.0.0.1:$MLFLOW_PORT}"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-$MODELOPS_PG/$MODELOPS_AIRFLOW_DB}"
export AIRFLOW__CELERY__BROKER_URL="${AIRFLOW__CELERY__BROKER_URL:-redis://127.0.0.1:6379/${MODELOPS_REDIS_DB:-5}}"
export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+$MODELOPS_PG/$MODELOPS_AIRFLOW_DB}"
# one queue per deployment: another stack on the same Redis never takes these tasks
export AIRFLOW__OPERATORS__DEFAULT_QUEUE="${AIRFLOW__OPERATORS__DEFAULT_QUEUE:-$MODELOPS_PG_PREFIX}"
export MODELOPS_WORKERS="${MODELOPS_WORKERS:-2}"
export MODELOPS_WORKER_CONCURRENCY="${MODELOPS_WORKER_CONCURRENCY:-2}"
# Airflow's Celery defaults, and each worker imports pandas, scikit-learn, MLflow and GX once before its pool forks
# (include/modelops_airflow/celery_config.py): a task starts with them imported, as under the LocalExecutor's preload
export AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS="${AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS:-modelops_airflow.celery_config.CELERY_CONFIG}"
# task_instance.hostname names the worker (include/modelops/core/hosts.py reads MODELOPS_WORKER_NAME)
export AIRFLOW__CORE__HOSTNAME_CALLABLE=modelops.core.hosts.task_hostname
# a killed worker's task is noticed in ~30 s (default 300 s) and retried on another worker
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT:-30}"
export AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="${AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL:-5}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
# MLflow runs its basic-auth app (scripts/stack.sh, scripts/mlflow_auth.py): nobody reads or writes without a
# login. Its secrets are generated once into $MODELOPS_HOME/secrets/mlflow.env (mode 0600, never committed):
# the admin's password (the MLflow UI login; only the MLflow server's start reads it) and the Flask secret
# key stay in that file; the tasks' service account is exported here (MLflow's clients read
# MLFLOW_TRACKING_USERNAME/PASSWORD), so every Airflow process talks to MLflow as that account.
export MODELOPS_MLFLOW_SECRETS="${MODELOPS_MLFLOW_SECRETS:-$MODELOPS_HOME/secrets/mlflow.env}"
export MODELOPS_MLFLOW_ADMIN_USER="${MODELOPS_MLFLOW_ADMIN_USER:-admin}"
export MLFLOW_TRACKING_USERNAME="${MLFLOW_TRACKING_USERNAME:-modelops-service}"
_modelops_secret() { LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32; }
if [ ! -s "$MODELOPS_MLFLOW_SECRETS" ]; then
  mkdir -p "$(dirname "$MODELOPS_MLFLOW_SECRETS")" && chmod 700 "$(dirname "$MODELOPS_MLFLOW_SECRETS")"
  ( umask 077
    { echo "MODELOPS_MLFLOW_ADMIN_PASSWORD=$(_modelops_secret)"
      echo "MLFLOW_FLASK_SERVER_SECRET_KEY=$(_modelops_secret)"
      echo "MLFLOW_TRACKING_PASSWORD=$(_modelops_secret)"; } > "$MODELOPS_MLFLOW_SECRETS" )
fi
_modelops_read_secret() { sed -n "s/^$1=//p" "$MODELOPS_MLFLOW_SECRETS" | tail -1; }
export MLFLOW_TRACKING_PASSWORD="${MLFLOW_TRACKING_PASSWORD:-$(_modelops_read_secret MLFLOW_TRACKING_PASSWORD)}"
# production-shaped: the training DAG's own promotion waits for a human too (promotion.require_approval),
# and a second user exists to answer it: the requester (whoever triggered the run) never may
# the local production-shaped stack rehearses the infrastructure under the demo profile's rules (so a
# working tree with changes can run it); MODELOPS_PROFILE=production applies the production rules here too
export MODELOPS_PROFILE="${MODELOPS_PROFILE:-demo}"
export MODELOPS_REQUIRE_APPROVAL="${MODELOPS_REQUIRE_APPROVAL:-true}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,reviewer:user}"
source "$_root/scripts/env.sh"

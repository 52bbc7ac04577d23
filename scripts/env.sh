# Environment for the embedded default (SQLite Airflow, local MLflow store); sourced by the Makefile.
# Everything generated lives under .local/ (git-ignored). Override any variable before sourcing.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MODELOPS_HOME="${MODELOPS_HOME:-$_root/.local}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$MODELOPS_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$_root/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$_root/plugins}"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# the MLflow UI of `make up` (scripts/stack.sh); every printed MLflow address uses it
export MLFLOW_PORT="${MLFLOW_PORT:-5000}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:${AIRFLOW__API__PORT}/execution/"
# two users (four eyes): whoever asks for a promotion (admin, say) may never approve it, so a second user
# (`reviewer`, role `user`: enough to answer a Required Action) answers; passwords in
# $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin,reviewer:user}"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$AIRFLOW_HOME/logs"
# The scheduler's LocalExecutor forks its workers from a forkserver that has imported pandas, scikit-learn,
# MLflow and GX once (include/modelops_airflow/preload.py): each task process, forked from a worker, starts with
# them instead of importing them again (docs/benchmarks.md). Only for the LocalExecutor: a CeleryExecutor's
# scheduler runs no task, and would only hold those libraries for nothing.
if [ "$AIRFLOW__CORE__EXECUTOR" = LocalExecutor ]; then
  export AIRFLOW__SCHEDULER__MP_START_METHOD="${AIRFLOW__SCHEDULER__MP_START_METHOD:-forkserver}"
  export AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD="${AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD:-modelops_airflow.preload}"
fi
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-30}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$MODELOPS_HOME/mlflow/mlflow.db}"
# no PYTHONPYCACHEPREFIX: the venv's bytecode is compiled at install (`make setup`), and a prefix would make
# Python look for it elsewhere and compile every import from source again
export GX_ANALYTICS_ENABLED=False
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false
export NO_PROXY="*"
# The MLflow server's job runner (GenAI judges/scorers; 8 huey worker processes) and usage telemetry serve
# nothing here: without them the server starts in 6 s instead of 13 and holds 399 MiB PSS instead of 1663.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"

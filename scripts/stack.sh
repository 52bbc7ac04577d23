#!/usr/bin/env bash
# Start/stop the stack: Airflow api-server, scheduler, dag-processor, triggerer and the MLflow server.
# Embedded (scripts/env.sh, the default): LocalExecutor on SQLite, MLflow UI on the same store.
# Production-shaped (scripts/prod_env.sh sets MODELOPS_STACK=prod): the PostgreSQL databases are created
# (scripts/prod_stores.py) and migrated, CeleryExecutor on Redis with MODELOPS_WORKERS Celery workers, each
# named by MODELOPS_WORKER_NAME (task_instance.hostname), and MLflow on PostgreSQL serving the artifacts behind
# its basic-auth login (scripts/mlflow_auth.py: no permission without a grant; the tasks' service account).
# Everything binds to 127.0.0.1; scheduler, triggerer and workers skip their log servers (those would
# bind 0.0.0.0). Usage: stack.sh up|down|status
set -euo pipefail
run_dir="$MODELOPS_HOME/run"; log_dir="$MODELOPS_HOME/logs"
mkdir -p "$run_dir" "$log_dir" "$MODELOPS_HOME/mlflow/artifacts"
# the model monitor (plugins/modelops_monitor.py) links runs and versions to this MLflow UI
export MODELOPS_MLFLOW_UI_URL="${MODELOPS_MLFLOW_UI_URL:-http://127.0.0.1:$MLFLOW_PORT}"
AF=.venv/bin/airflow

declare -A COMMANDS=(
  [api-server]="$AF api-server --host 127.0.0.1 --port $AIRFLOW__API__PORT"
  [scheduler]="$AF scheduler --skip-serve-logs"
  [dag-processor]="$AF dag-processor"
  [triggerer]="$AF triggerer --skip-serve-logs"
  [mlflow]=".venv/bin/mlflow server --host 127.0.0.1 --port $MLFLOW_PORT --workers 1 --backend-store-uri $MLFLOW_TRACKING_URI --default-artifact-root $MODELOPS_HOME/mlflow/artifacts"
)
ORDER=(api-server scheduler dag-processor triggerer mlflow)
PROFILE="${MODELOPS_STACK:-embedded}"
STOP_TARGET=down; [ "$PROFILE" = prod ] && STOP_TARGET=down-prod

if [ "$PROFILE" = prod ]; then
  # MLflow's basic-auth app: its config and user store beside the artifacts (scripts/mlflow_auth.py writes both)
  export MLFLOW_AUTH_CONFIG_PATH="${MLFLOW_AUTH_CONFIG_PATH:-$MODELOPS_HOME/mlflow/basic_auth.ini}"
  export MODELOPS_MLFLOW_AUTH_DB="${MODELOPS_MLFLOW_AUTH_DB:-sqlite:///$MODELOPS_HOME/mlflow/basic_auth.db}"
  COMMANDS[mlflow]="scripts/stack.sh serve_mlflow"
  for i in $(seq "${MODELOPS_WORKERS:-2}"); do
    COMMANDS[worker$i]="env MODELOPS_WORKER_NAME=worker$i $AF celery worker --skip-serve-logs --concurrency ${MODELOPS_WORKER_CONCURRENCY:-2} --celery-hostname worker$i@%h --queues $AIRFLOW__OPERATORS__DEFAULT_QUEUE"
    ORDER+=("worker$i")
  done
fi

secret() { sed -n "s/^$1=//p" "$MODELOPS_MLFLOW_SECRETS" | tail -1; }  # one value of scripts/prod_env.sh's file

serve_mlflow() {  # the prod MLflow server with its login; the Flask key from the secrets file, never argv
  MLFLOW_FLASK_SERVER_SECRET_KEY="$(secret MLFLOW_FLASK_SERVER_SECRET_KEY)" exec .venv/bin/mlflow server \
    --app-name basic-auth --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "$MODELOPS_PG/$MODELOPS_MLFLOW_DB" \
    --serve-artifacts --artifacts-destination "$MODELOPS_HOME/mlflow/artifacts"
}

running() { local state; state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ "$state" != Z* ]]; }

alive() { [ -f "$run_dir/$1.pid" ] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }

wait_http() {  # url, seconds
  for _ in $(seq "$2"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

prepare_prod() {  # the databases exist and Airflow's is migrated; the ports are ours to take
  local taken=""
  alive api-server || ! port_taken "$AIRFLOW__API__PORT" || taken="$taken $AIRFLOW__API__PORT (Airflow)"
  alive mlflow || ! port_taken "$MLFLOW_PORT" || taken="$taken $MLFLOW_PORT (MLflow)"
  if [ -n "$taken" ]; then echo "refusing to start: port(s)$taken already in use on 127.0.0.1"; exit 1; fi
  .venv/bin/python scripts/prod_stores.py ensure
  # the MLflow admin and the tasks' service account (MLFLOW_TRACKING_USERNAME), before the server reads them
  MODELOPS_MLFLOW_ADMIN_PASSWORD="$(secret MODELOPS_MLFLOW_ADMIN_PASSWORD)" \
    .venv/bin/python scripts/mlflow_auth.py prepare > "$log_dir/mlflow-auth.log" 2>&1 || { cat "$log_dir/mlflow-auth.log"; exit 1; }
  mkdir -p "$AIRFLOW_HOME"
  $AF db migrate > "$log_dir/db-migrate.log" 2>&1 || { tail -20 "$log_dir/db-migrate.log"; exit 1; }
}

all_alive() { for name in "${ORDER[@]}"; do alive "$name" || return 1; done; }

up() {
  if [ "$PROFILE" = prod ] && ! all_alive; then prepare_prod; fi
  for name in "${ORDER[@]}"; do
    if alive "$name"; then echo "  $name already running (pid $(cat "$run_dir/$name.pid"))"; continue; fi
    # setsid: its own process group, so `down` stops the workers it forks too
    setsid ${COMMANDS[$name]} > "$log_dir/$name.log" 2>&1 < /dev/null &
    echo $! > "$run_dir/$name.pid"
    echo "  started $name (pid $!, log $log_dir/$name.log)"
  done
  wait_http "http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health" 120 || { echo "Airflow API did not come up; see $log_dir/api-server.log"; exit 1; }
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health" 60 || { echo "MLflow did not come up; see $log_dir/mlflow.log"; exit 1; }
  local login="no login: anyone with a shell on this machine can read and write it"
  [ "$PROFILE" = prod ] && login="user/password: $MODELOPS_MLFLOW_ADMIN_USER / MODELOPS_MLFLOW_ADMIN_PASSWORD in $MODELOPS_MLFLOW_SECRETS"
  cat <<MSG

Airflow UI  http://127.0.0.1:$AIRFLOW__API__PORT   users (name:role): ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS}; passwords: $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
MLflow UI   http://127.0.0.1:$MLFLOW_PORT   $login
Stop with: make ${STOP_TARGET:-down}
MSG
}

down() {  # every process group is signalled at once, then waited for (10 s each at most, in parallel)
  local stopping=()
  for pidfile in "$run_dir"/*.pid; do
    [ -f "$pidfile" ] || continue
    name=$(basename "$pidfile" .pid)
    if alive "$name"; then
      pid=$(cat "$pidfile")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      stopping+=("$name:$pid")
    else
      rm -f "$pidfile"
    fi
  done
  for _ in $(seq 20); do
    local left=0
    for entry in "${stopping[@]}"; do running "${entry#*:}" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.5
  done
  for entry in "${stopping[@]}"; do
    pid="${entry#*:}"
    kill -KILL -- "-$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done  # a SIGKILL lands asynchronously
    rm -f "$run_dir/${entry%%:*}.pid"
    echo "  stopped ${entry%%:*}"
  done
}

status() { for name in "${ORDER[@]}"; do alive "$name" && echo "  $name running" || echo "  $name stopped"; done; }

"${1:-status}"

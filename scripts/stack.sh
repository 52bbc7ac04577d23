#!/usr/bin/env bash
# Start/stop the embedded stack: Airflow api-server, scheduler, dag-processor, triggerer
# (LocalExecutor on SQLite) and the MLflow UI on the same store. Everything binds to 127.0.0.1;
# scheduler and triggerer skip their log servers (those would bind 0.0.0.0).
# Usage: stack.sh up|down|status
set -euo pipefail
run_dir="$MODELOPS_HOME/run"; log_dir="$MODELOPS_HOME/logs"
mkdir -p "$run_dir" "$log_dir" "$MODELOPS_HOME/mlflow/artifacts"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
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

alive() { [ -f "$run_dir/$1.pid" ] && kill -0 "$(cat "$run_dir/$1.pid")" 2>/dev/null; }

wait_http() {  # url, seconds
  for _ in $(seq "$2"); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 1
  done
  return 1
}

up() {
  for name in "${ORDER[@]}"; do
    if alive "$name"; then echo "  $name already running (pid $(cat "$run_dir/$name.pid"))"; continue; fi
    # setsid: its own process group, so `down` stops the workers it forks too
    setsid ${COMMANDS[$name]} > "$log_dir/$name.log" 2>&1 < /dev/null &
    echo $! > "$run_dir/$name.pid"
    echo "  started $name (pid $!, log $log_dir/$name.log)"
  done
  wait_http "http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health" 120 || { echo "Airflow API did not come up; see $log_dir/api-server.log"; exit 1; }
  wait_http "http://127.0.0.1:$MLFLOW_PORT/health" 60 || { echo "MLflow did not come up; see $log_dir/mlflow.log"; exit 1; }
  cat <<MSG

Airflow UI  http://127.0.0.1:$AIRFLOW__API__PORT   user/password: ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*} / see $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
MLflow UI   http://127.0.0.1:$MLFLOW_PORT
Stop with: make down
MSG
}

down() {
  for name in "${ORDER[@]}"; do
    if alive "$name"; then
      pid=$(cat "$run_dir/$name.pid")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      echo "  stopped $name"
    fi
    rm -f "$run_dir/$name.pid"
  done
}

status() { for name in "${ORDER[@]}"; do alive "$name" && echo "  $name running" || echo "  $name stopped"; done; }

"${1:-status}"

#!/usr/bin/env bash
# Run the training DAG once through Airflow (`airflow dags test`: real metadata DB, in-process
# executor), show task progress as it goes, then the run summary. Usage: run_training.sh [CONF_JSON]
set -uo pipefail
conf="${1:-{\}}"
[ -z "$conf" ] && conf="{}"
mkdir -p "$MODELOPS_HOME/logs"
log="$MODELOPS_HOME/logs/training-$(date +%Y%m%dT%H%M%S).log"
echo "Running DAG modelops_training with conf $conf (full log: $log)"
started=$(date +%s)
.venv/bin/airflow dags test modelops_training --conf "$conf" > "$log" 2>&1 &
pid=$!
# Progress: one line per task start/end, as the log grows.
tail -n +1 -F --pid="$pid" "$log" 2>/dev/null | grep --line-buffered -oE "\[DAG TEST\] (starting|end task) task_id=[a-z_]+( map_index=[0-9-]+)?|new_state=(failed|up_for_retry|skipped)" \
  | sed -u -E 's/\[DAG TEST\] starting task_id=/  started  /; s/\[DAG TEST\] end task task_id=/  finished /; s/ map_index=-1//; s/new_state=/           -> /' &
wait "$pid"; status=$?
sleep 0.5
echo "Finished in $(( $(date +%s) - started )) s"
if [ "$status" -ne 0 ]; then
  echo "The DAG run FAILED. The reason, from the task log:"
  grep -E "AirflowFailException|Error:|failed validation|  - expect" "$log" | grep -v "^Traceback" | sort -u | head -30
  exit "$status"
fi
dataset=$(.venv/bin/python -c "import json,sys; from modelops.config import load_settings; print(json.loads(sys.argv[1]).get('dataset') or load_settings().default_dataset)" "$conf")
echo
cat "$MODELOPS_HOME/runs/$dataset/latest.txt"
echo
echo "Browse: make up, then Airflow http://127.0.0.1:${AIRFLOW__API__PORT} and MLflow http://127.0.0.1:5000"

#!/usr/bin/env bash
# Run one DAG once through Airflow (`airflow dags test`: real metadata DB, in-process executor), show task
# progress as it goes, then what the run left (scripts/dag_outcome.py). Usage: run_dag.sh DAG_ID [CONF_JSON]
set -uo pipefail
dag="${1:?usage: run_dag.sh DAG_ID [CONF_JSON]}"
conf="${2:-{\}}"
[ -z "$conf" ] && conf="{}"
export PYTHONPATH="$(cd "$(dirname "$0")/../include" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
# A configuration error is told first, plainly (the file and the key), not as "Dag ... could not be found".
.venv/bin/python -m modelops.config > /dev/null || exit 2
mkdir -p "$MODELOPS_HOME/logs"
log="$MODELOPS_HOME/logs/${dag#modelops_}-$(date +%Y%m%dT%H%M%S).log"
echo "Running DAG $dag with conf $conf (full log: $log)"
started=$(date +%s)
.venv/bin/airflow dags test "$dag" --conf "$conf" > "$log" 2>&1 &
pid=$!
# Progress: one line per task start/end, as the log grows.
tail -n +1 -F --pid="$pid" "$log" 2>/dev/null | grep --line-buffered -oE "\[DAG TEST\] (starting|end task) task_id=[a-z_.]+( map_index=[0-9-]+)?|new_state=(failed|up_for_retry|skipped)" \
  | sed -u -E 's/\[DAG TEST\] starting task_id=/  started  /; s/\[DAG TEST\] end task task_id=/  finished /; s/ map_index=-1//; s/new_state=/           -> /' &
wait "$pid"; status=$?
sleep 0.5
echo "Finished in $(( $(date +%s) - started )) s"
if [ "$status" -ne 0 ]; then
  # The reason is the message of the last exception in the log, kept whole and in order: for a failed
  # validation the headline, the failed rules, then where the quarantined batch and its report lie;
  # for an unusable file the file, the problem and where its copy lies. Traceback frames are left out.
  reason=$(awk '
    /^Traceback \(most recent call last\):/ { in_tb = 1; in_msg = 0; next }
    in_tb && /^[A-Za-z_][A-Za-z0-9_.]*(: |$)/ {
      msg = $0; sub(/^airflow[.a-z]*\.AirflowFailException: /, "", msg); in_tb = 0; in_msg = 1; next
    }
    in_msg && (/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T/ || /^$/ || /^The above exception/ || /^During handling/) { in_msg = 0 }
    in_msg { msg = msg "\n" $0 }
    END { if (msg != "") printf "%s\n", msg }
  ' "$log")
  echo "The DAG run FAILED:"
  if [ -n "$reason" ]; then
    printf '%s\n' "$reason"
  else
    echo "(no exception message in the log; its last lines:)"
    tail -n 15 "$log"
  fi
  echo "Full log: $log"
  exit "$status"
fi
echo
.venv/bin/python "$(dirname "$0")/dag_outcome.py" "$dag" "$conf" || exit $?
echo
echo "Browse: make up, then Airflow http://127.0.0.1:${AIRFLOW__API__PORT} and MLflow http://127.0.0.1:${MLFLOW_PORT}"

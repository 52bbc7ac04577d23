"""
### ModelOps monitoring: is the champion still right for the world it scores?

For the newest production window (or the `window` param) this DAG checks data quality (the
dataset's GX suite in production form), data drift per feature against the champion's stored
reference profile (KS / chi-squared p-values with Benjamini-Hochberg correction **and** an effect
size: Wasserstein/std, Jensen-Shannon; PSI reported), prediction drift (score distribution), a
label-free expected accuracy (CBPE) with its uncertainty, and — when labels have arrived for an
earlier window — labelled performance against the champion's holdout and a calibration-change test
(has the relation between inputs and outcome moved?).

**Decision** (`decide` branch): `trigger_retraining` only when the breach persisted for
`persistence` consecutive windows and no retraining was triggered within `cooldown_hours`; then the
training DAG runs with a conf saying why and which labelled windows to add. A data-quality break
alerts but never retrains. Every window's figures and verdict are appended to the
`monitoring_history` table; the HTML report (a plot per drifted feature and the scores) and JSON go
to the workspace and to the MLflow experiment `modelops/<dataset>/monitoring`. A breach sends a
structured alert (log line, and the `modelops_alerts` connection's webhook when defined).

**Params**: `dataset`, `window` (default: newest), `thresholds` (overrides of `monitoring:` in
`include/config/modelops.yaml`), `dry_run` (measure and report, but record nothing and trigger nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task
from modelops_notifiers import BreachNotifier

from modelops.config import load_settings, settings_and_spec
from modelops.handoffs import MONITORING_DAG_ID, NO_ACTION_TASK_ID, RETRAIN_TASK_ID, TRAINING_DAG_ID

_SETTINGS = load_settings()  # one small YAML read: schedule and the dataset dropdown

default_args = {
    "owner": "modelops",
    "retries": 1,
    "retry_delay": timedelta(seconds=20),
    "execution_timeout": timedelta(minutes=20),
}


def _settings_and_spec():
    return settings_and_spec(get_current_context()["params"]["dataset"])


@dag(
    dag_id=MONITORING_DAG_ID,
    doc_md=__doc__,
    schedule=_SETTINGS.monitoring.get("schedule", "@daily"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "monitoring"],
    default_args=default_args,
    render_template_as_native_obj=True,  # the retrain conf reaches the training DAG as a dict
    params={
        "dataset": Param(_SETTINGS.default_dataset, type="string", enum=sorted(_SETTINGS.datasets)),
        "window": Param(None, type=["null", "string"], description="Window id to check; empty = the newest."),
        "thresholds": Param({}, type="object", description="Overrides of the configured monitoring thresholds."),
        "dry_run": Param(False, type="boolean", description="Measure and report only: no history, no trigger."),
    },
)
def modelops_monitoring():
    @task
    def assess() -> dict:
        """Measure the window, decide, write the report; nothing is recorded yet."""
        from modelops import history, monitoring, registry, reports
        from modelops.scenarios import list_windows

        settings, spec = _settings_and_spec()
        context = get_current_context()
        params = context["params"]
        window_id = params["window"] or (list_windows(spec) or [None])[-1]
        if window_id is None:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"no production windows for {spec.name} yet")
        thresholds = monitoring.thresholds_for(settings, params["thresholds"])
        rows = history.read_monitoring_history(spec.name)
        judged = {r["labeled_window"] for r in rows if r["labeled_window"] and not r["dry_run"]}
        report, plot = monitoring.assess_window(spec, settings, window_id, thresholds, judged)
        window_end = context["dag_run"].run_after
        decision = monitoring.decide_action(report, rows, thresholds, window_end)
        html = reports.render_window_report(report, decision, plot, monitoring.report_folder(spec, window_id))
        run_id = registry.log_monitoring(
            spec.name,
            window_id,
            monitoring.summary_metrics(report),
            monitoring.to_json(report),
            str(html),
            {"modelops.action": decision["action"], "airflow.run_id": context["run_id"]},
        )
        return {
            "dataset": spec.name,
            "window_id": window_id,
            "window_end": window_end.isoformat(),
            "model_name": report["model_name"],
            "model_version": report["model_version"],
            "breach": report["breach"],
            "reasons": report["reasons"],
            **decision,
            "dry_run": bool(params["dry_run"]),
            "report_path": str(html),
            "mlflow_run_id": run_id,
            "history_row": monitoring.to_json(
                monitoring.history_row(
                    report, decision, window_end, context["run_id"], bool(params["dry_run"]), str(html)
                )
            ),
            "retrain_conf": monitoring.retrain_conf(spec, report, decision),
        }

    @task.branch
    def decide(outcome: dict) -> str:
        """Retrain only on a persistent breach outside the cooldown (never in a dry run)."""
        return RETRAIN_TASK_ID if outcome["action"] == "retrain" and not outcome["dry_run"] else NO_ACTION_TASK_ID

    trigger = TriggerDagRunOperator(
        task_id=RETRAIN_TASK_ID,
        trigger_dag_id=TRAINING_DAG_ID,
        conf="{{ ti.xcom_pull(task_ids='assess')['retrain_conf'] }}",
        wait_for_completion=False,
    )
    no_action = EmptyOperator(task_id=NO_ACTION_TASK_ID)

    @task(trigger_rule="none_failed_min_one_success", on_success_callback=BreachNotifier())
    def record(outcome: dict) -> dict:
        """Append the window's figures and verdict to monitoring_history (not in a dry run)."""
        from datetime import datetime as dt

        from modelops import history

        if not outcome["dry_run"]:
            row = dict(outcome["history_row"])
            row["window_end"] = dt.fromisoformat(row["window_end"])
            history.record_window(row)
        return {k: v for k, v in outcome.items() if k not in {"history_row", "retrain_conf"}} | {
            "run_id": get_current_context()["run_id"]
        }

    outcome = assess()
    branch = decide(outcome)
    branch >> [trigger, no_action]
    [trigger, no_action] >> record(outcome)


modelops_monitoring()

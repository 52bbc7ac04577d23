"""The whole model lifecycle through the real Airflow scheduler (what `make run` shows).

Starts the embedded stack (scripts/stack.sh), trains and promotes v1, then runs production as it
runs for real: each snapshot of a drifted election cycle is delivered as scoring input and scored
by the scoring DAG (the champion serves it; the manifest says who served which rows); the
monitoring DAG judges what was served, and triggers retraining once the breach persists; the
retrained version is judged against v1 (promoted, or kept as challenger); the next snapshot is
scored with it in shadow (or serving, if it won), and the shadow agreement is printed. Prints every
step and who served each snapshot's rows (the model version, the canary, the fallback), and stops
the stack it started. Run with the environment of scripts/env.sh (the embedded stack) or
scripts/prod_env.sh (the production-shaped one: `make run-prod`).

    python scripts/lifecycle.py [--rows 30000] [--window-rows 8000] [--scenario realignment]
                                [--partitions N] [--until retrain] [--keep-up]

`--partitions N` delivers each snapshot to score as a folder of N Parquet partitions, so the scoring DAG
fans out one mapped task per partition; `--until retrain` stops once the retraining run monitoring
triggered has finished; `--keep-up` leaves the stack running (stop it with stack.sh down).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

from modelops.collect import scenarios
from modelops.config.settings import REPO_ROOT as REPO
from modelops.config.settings import load_settings
from modelops.core import catalog
from modelops.core.handoffs import APPROVAL_TASK_ID, MONITORING_DAG_ID, SCORING_DAG_ID, TRAINING_DAG_ID
from modelops.core.served import served_by
from modelops.store import alias_log, history, registry

API = f"http://127.0.0.1:{os.environ.get('AIRFLOW__API__PORT', '8080')}"
MLFLOW = f"http://127.0.0.1:{os.environ.get('MLFLOW_PORT', '5000')}"


def say(text: str) -> None:
    print(text, flush=True)


class Airflow:
    """A tiny client of Airflow's REST API (v2) with the simple auth manager's admin user."""

    def __init__(self) -> None:
        self.token: str | None = None
        self.reviewer: tuple[str, str] | None = None  # (user, token) of a second user, who answers approvals

    def call(self, path: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{API}{path}", data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")

    def login(self) -> None:
        users = Path(os.environ["AIRFLOW_HOME"], "simple_auth_manager_passwords.json.generated")
        passwords = json.loads(users.read_text())
        self.token = self.call("/auth/token", "POST", {"username": "admin", "password": passwords["admin"]})[
            "access_token"
        ]
        # with promotion.require_approval (the production-shaped profile) a second user answers the
        # approvals: admin triggered the runs, and nobody may approve their own request
        for name in sorted(set(passwords) - {"admin"}):
            answer = self.call("/auth/token", "POST", {"username": name, "password": passwords[name]})
            self.reviewer = (name, answer["access_token"])
            break

    def approve(self, dag_id: str, run_id: str) -> None:
        """Answer a training run's parked approval as the second user (the demo's reviewer)."""
        url = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{APPROVAL_TASK_ID}/-1/hitlDetails"
        if self.reviewer is None:
            say(f"      {APPROVAL_TASK_ID:<22} waiting in Required Actions (no second user to answer it)")
            return
        name, token = self.reviewer
        say(f"      {APPROVAL_TASK_ID:<22} waiting in Required Actions; {name} reviews and approves")
        body = {"chosen_options": ["Approve"], "params_input": {"comment": "lifecycle demo: evidence reviewed"}}
        self.call(url, "PATCH", body, token=token)

    def wait_for_dags(self, dag_ids: list[str], seconds: int = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            known = {d["dag_id"] for d in self.call("/api/v2/dags?limit=100")["dags"]}
            if set(dag_ids) <= known:
                return
            time.sleep(2)
        raise TimeoutError(f"DAGs {dag_ids} were not parsed within {seconds} s")

    def unpause(self, dag_id: str) -> None:
        self.call(f"/api/v2/dags/{dag_id}", "PATCH", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict) -> str:
        return self.call(f"/api/v2/dags/{dag_id}/dagRuns", "POST", {"logical_date": None, "conf": conf})["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.call(f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=50")["dag_runs"]

    def follow(self, dag_id: str, run_id: str, seconds: int = 900) -> str:
        """Print each task as it finishes; return the run's final state."""
        seen: set[tuple[str, int]] = set()
        asked: set[tuple[str, int]] = set()  # approvals answered
        deadline = time.monotonic() + seconds
        state = "queued"
        while time.monotonic() < deadline:
            state = self.call(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            tis = self.call(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
            for ti in sorted(tis, key=lambda t: t["end_date"] or ""):
                key = (ti["task_id"], ti["map_index"])
                if ti["state"] in {"success", "failed", "skipped", "upstream_failed"} and key not in seen:
                    seen.add(key)
                    label = ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")
                    say(f"      {label:<22} {ti['state']}")
                if ti["state"] == "awaiting_input" and ti["task_id"] == APPROVAL_TASK_ID and key not in asked:
                    asked.add(key)
                    self.approve(dag_id, run_id)
            if state in {"success", "failed"}:
                return state
            time.sleep(1)  # two small REST reads a second: a finished run or a parked approval is seen at once
        raise TimeoutError(f"{dag_id} run {run_id} did not finish within {seconds} s")

    def idle(self, dag_id: str, seconds: int = 180) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not any(r["state"] in {"queued", "running"} for r in self.runs(dag_id)):
                return
            time.sleep(2)


def stack(action: str) -> None:
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "stack.sh"), action], cwd=REPO, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"stack.sh {action} failed:\n{result.stdout}\n{result.stderr}")


def summary_of(dataset: str) -> str:
    return catalog.latest_summary(dataset).read_text().rstrip()


def partition(dataset: str, snapshot: str, parts: int) -> Path:
    """The delivered snapshot again as a folder of `parts` Parquet partitions (what a fan-out scores)."""
    import pyarrow.parquet as pq

    table = pq.read_table(catalog.snapshot_inputs(dataset, snapshot))
    folder = catalog.production_dir(dataset) / "partitioned" / snapshot
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-table.num_rows // parts)
    for i in range(parts):
        with catalog.atomic_file(folder / f"part-{i:03d}.parquet") as tmp:
            pq.write_table(table.slice(i * size, size), tmp)
    return folder


def score(airflow: Airflow, dataset: str, snapshot: str, parts: int = 0) -> dict:
    """Score a delivered snapshot through the scoring DAG (fanned out over `parts` partitions when > 0);
    returns its committed manifest."""
    conf = {"dataset": dataset, "snapshot": snapshot}
    if parts:
        conf.update({"input": str(partition(dataset, snapshot, parts)), "groups": parts})
    run = airflow.trigger(SCORING_DAG_ID, conf)
    if airflow.follow(SCORING_DAG_ID, run) != "success":
        raise RuntimeError(f"scoring {snapshot} failed; see the Airflow UI")
    manifest = catalog.read_json(catalog.scoring_manifest(dataset, snapshot))
    say(f"    scored {snapshot}: {served_by(manifest).line()}")
    for alert in manifest.get("alerts") or []:  # what the scoring run alerted on (a shift, ids, a fallback share)
        say(f"      alert: {alert[:160]}")
    return manifest


def monitor(airflow: Airflow, dataset: str, snapshot: str) -> dict:
    """Judge a scored snapshot through the monitoring DAG; returns its monitoring_history row."""
    run = airflow.trigger(MONITORING_DAG_ID, {"dataset": dataset, "window": snapshot})
    if airflow.follow(MONITORING_DAG_ID, run) != "success":
        raise RuntimeError(f"monitoring {snapshot} failed; see the Airflow UI")
    row = [r for r in history.read_monitoring_history(dataset) if r["window_id"] == snapshot][-1]
    say(
        f"    -> action {row['action'].upper()} (judged v{row['model_version']}'s own scores): "
        f"drift share {row['drift_share']:.0%}, prediction PSI {row['prediction_psi'] or 0:.3f}, "
        f"fallback share {row['fallback_share'] or 0:.0%}, signals {', '.join(row['signals']) or 'none'}"
    )
    for reason in row["reasons"]:
        say(f"       - {reason[:160]}")
    return row


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30000, help="synthetic voters for the first training run")
    parser.add_argument("--window-rows", type=int, default=8000, help="voters per production snapshot")
    parser.add_argument("--scenario", default="realignment", choices=sorted(scenarios.SCENARIOS))
    parser.add_argument("--partitions", type=int, default=0, help="score each snapshot as N Parquet partitions")
    parser.add_argument("--until", choices=["end", "retrain"], default="end", help="stop after this step")
    parser.add_argument("--keep-up", action="store_true", help="leave the stack running at the end")
    args = parser.parse_args()
    if args.partitions < 0:
        parser.error("--partitions must be 0 (one file) or a positive number of partitions")
    settings = load_settings()
    spec = settings.dataset(settings.default_dataset)
    persistence = int(settings.monitoring.persistence)
    airflow = Airflow()
    started = time.monotonic()
    say(f"Workspace {catalog.root()} (Airflow DB, MLflow store, batches, scored snapshots, reports)")
    workers = " and two Celery workers" if os.environ.get("MODELOPS_STACK") == "prod" else ""
    say(f"[1/6] Starting Airflow (api-server, scheduler, dag-processor, triggerer){workers} and MLflow on 127.0.0.1")
    stack("up")
    try:
        airflow.login()
        dag_ids = [TRAINING_DAG_ID, SCORING_DAG_ID, MONITORING_DAG_ID]
        airflow.wait_for_dags(dag_ids)
        for dag_id in dag_ids:
            airflow.unpause(dag_id)
        airflow.idle(MONITORING_DAG_ID)  # its first scheduled run finds no scored snapshot and skips

        say(f"[2/6] Training v1 on {args.rows} synthetic voters (three cycles), through the scheduler")
        run = airflow.trigger(TRAINING_DAG_ID, {"sample_rows": args.rows, "reason": "make run: first model"})
        if airflow.follow(TRAINING_DAG_ID, run) != "success":
            say("training failed; see the Airflow UI")
            return 1
        say(summary_of(spec.name))

        say(
            f"[3/6] Production: the next cycle brings a '{args.scenario}' electorate. Each snapshot is scored by "
            "the scoring DAG, then monitoring judges what was served"
        )
        snapshots: list[str] = []
        retrain_run = None
        for i in range(persistence + 1):
            snapshot = f"{time.strftime('%Y%m%dT%H%M%S')}-s{i}"
            scenarios.write_window(spec, snapshot, args.scenario, args.window_rows, seed=1000 + i)
            if snapshots:  # the previous snapshot's election is over: its labels arrive
                scenarios.release_labels(spec, snapshots[-1])
            snapshots.append(snapshot)
            say(f"    snapshot {snapshot}: {args.window_rows} voters delivered")
            score(airflow, spec.name, snapshot, args.partitions)
            before = {r["dag_run_id"] for r in airflow.runs(TRAINING_DAG_ID)}
            monitor(airflow, spec.name, snapshot)
            new = [r for r in airflow.runs(TRAINING_DAG_ID) if r["dag_run_id"] not in before]
            if new:
                retrain_run = new[0]["dag_run_id"]
                break

        if retrain_run is None:
            say("[4/6] No retraining was triggered (the breach did not persist).")
        else:
            say(f"[4/6] Retraining triggered by monitoring (run {retrain_run}): the retrained version vs the champion")
            if airflow.follow(TRAINING_DAG_ID, retrain_run) != "success":
                say("retraining failed; see the Airflow UI")
                return 1
            say(summary_of(spec.name))
        if args.until == "retrain":
            say(f"Stopped after the retraining run (--until retrain) in {time.monotonic() - started:.0f} s.")
            return 0 if retrain_run else 1

        champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
        challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
        snapshot = f"{time.strftime('%Y%m%dT%H%M%S')}-s{len(snapshots)}"
        scenarios.write_window(spec, snapshot, args.scenario, args.window_rows, seed=1000 + len(snapshots))
        snapshots.append(snapshot)
        if challenger is not None:
            say(f"[5/6] Shadow: v{challenger.version} (challenger) scores the next snapshot beside v{champion.version}")
        else:
            say(f"[5/6] v{champion.version} is champion: it serves the next snapshot")
        manifest = score(airflow, spec.name, snapshot, args.partitions)
        agreement = manifest.get("agreement") or {}
        if agreement.get("rows"):
            sample = agreement.get("sample") or {}
            whose = "every row" if sample.get("every_row", True) else f"a {sample['share']:.0%} stable sample"
            say(
                f"    shadow agreement on {agreement['rows']} rows ({whose}): score correlation "
                f"{agreement['score_correlation']:.3f}, decision agreement {agreement['decision_agreement']:.1%}, "
                f"same decile {agreement['same_decile_share']:.1%}, top-decile overlap "
                f"{agreement['top_decile_overlap']:.1%} (MLflow modelops/{spec.name}/scoring)"
            )

        say("[6/6] Registry, audit trail, and who served each snapshot's rows")
        for row in history.read_alias_history(spec.model_name):
            say(f"    {row['changed_at']:%H:%M:%S} {row['alias']:<10} -> v{row['version']:<3} by {row['actor']}")
        for name in snapshots:
            served = catalog.read_json(catalog.scoring_manifest(spec.name, name))
            when = datetime.fromisoformat(served["scored_at"])
            say(f"    snapshot {name}: {alias_log.describe_serving(spec.model_name, when, served['alias'], served)}")
        champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
        say(f"    champion now: {spec.model_name} v{champion.version}")
        say(
            f"    scored snapshots: {catalog.scoring_dir(spec.name)}; "
            f"monitoring reports: {catalog.reports_dir(spec.name)}"
        )
        say(
            f"Done in {time.monotonic() - started:.0f} s. Browse it: MODELOPS_HOME={catalog.root()} make up "
            f"(Airflow {API}, MLflow {MLFLOW})"
        )
        return 0
    except (urllib.error.URLError, TimeoutError, RuntimeError) as exc:
        say(f"lifecycle failed: {exc}")
        return 1
    finally:
        if args.keep_up:
            say(f"The stack is still up (--keep-up): Airflow {API}, MLflow {MLFLOW}; stop it with stack.sh down.")
        else:
            stack("down")
            say("Stopped everything this run started.")


if __name__ == "__main__":
    sys.exit(main())

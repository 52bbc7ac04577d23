"""The embedded stack (`make up`) against the production-shaped one (`make up-prod`): memory, start time, and
what two Celery workers change for the training fan-out and for scoring 8 partitions.

    .venv/bin/python benchmarks/bench_stack.py [--rows 30000] [--score-rows 400000]

Each stack gets its own workspace under .local/bench_stack/ and free ports (the PostgreSQL databases of the
production-shaped one are `modelops_bench_*`, dropped at the end). Prints, per stack: seconds to up, the
proportional set size (PSS, shared pages split between the processes sharing them) of each process group
once idle, and the wall time of one training run (three candidates fanned out); then, on the production-shaped
stack, the wall time of scoring `--score-rows` rows in 8 partitions (8 mapped tasks) with two workers, and
again with one (worker2 stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".local" / "bench_stack"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shell(command: str, env: dict[str, str], profile: str) -> str:
    script = "scripts/prod_env.sh" if profile == "prod" else "scripts/env.sh"
    result = subprocess.run(
        ["bash", "-c", f"source {script} && {command}"], cwd=REPO, env=env, capture_output=True, text=True
    )
    if result.returncode:
        raise RuntimeError(f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def call(url: str, token: str | None = None, method: str = "GET", body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=60) as r:
        return json.loads(r.read() or b"{}")


def pss_by_group(run_dir: Path) -> dict[str, float]:
    """MiB of PSS per component: the process in each pid file and all its descendants."""
    out = {}
    for pidfile in sorted(run_dir.glob("*.pid")):
        root = psutil.Process(int(pidfile.read_text()))
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a process that ended meanwhile holds nothing
                total += proc.memory_full_info().pss
        out[pidfile.stem] = total / 2**20
    return out


def run_dag(api: str, token: str, dag_id: str, conf: dict, seconds: int = 3600) -> float:
    """Trigger a run and wait for it; its wall time from Airflow's start_date to end_date."""
    base = f"{api}/api/v2/dags/{dag_id}/dagRuns"
    run_id = call(base, token, "POST", {"logical_date": None, "conf": conf})["dag_run_id"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = call(f"{base}/{run_id}", token)
        if run["state"] in {"success", "failed"}:
            if run["state"] != "success":
                raise RuntimeError(f"{dag_id} run {run_id} failed")
            start, end = (datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
            return (end - start).total_seconds()
        time.sleep(2)
    raise TimeoutError(f"{dag_id} run {run_id} did not finish in {seconds} s")


def stack_env(profile: str) -> dict[str, str]:
    home = OUT / profile
    shutil.rmtree(home, ignore_errors=True)
    (home / "airflow").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLFLOW", "MODELOPS"))}
    env.update(
        {
            "MODELOPS_HOME": str(home),
            "AIRFLOW__API__PORT": str(free_port()),
            "MLFLOW_PORT": str(free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
    )
    if profile == "prod":
        env.update({"MODELOPS_PG_PREFIX": "modelops_bench", "MODELOPS_REDIS_DB": "10"})
    return env


def measure(profile: str, args: argparse.Namespace) -> dict:
    env = stack_env(profile)
    if profile == "prod":
        shell(".venv/bin/python scripts/prod_stores.py drop", env, profile)
    else:
        shell(".venv/bin/airflow db migrate > /dev/null", env, profile)
    figures: dict = {}
    try:
        started = time.monotonic()
        shell("scripts/stack.sh up", env, profile)
        figures["up_s"] = time.monotonic() - started
        api = f"http://127.0.0.1:{env['AIRFLOW__API__PORT']}"
        users = OUT / profile / "airflow" / "simple_auth_manager_passwords.json.generated"
        token = call(
            f"{api}/auth/token", None, "POST", {"username": "admin", "password": json.loads(users.read_text())["admin"]}
        )["access_token"]
        deadline = time.monotonic() + 300
        while {d["dag_id"] for d in call(f"{api}/api/v2/dags?limit=100", token)["dags"]} < {
            "modelops_training",
            "modelops_scoring",
        }:
            if time.monotonic() > deadline:
                raise TimeoutError("DAGs not parsed")
            time.sleep(2)
        time.sleep(30)  # settle: what an idle stack holds, not its start-up peak
        figures["pss"] = pss_by_group(OUT / profile / "run")
        for dag_id in ("modelops_training", "modelops_scoring"):
            call(f"{api}/api/v2/dags/{dag_id}", token, "PATCH", {"is_paused": False})
        figures["training_s"] = run_dag(api, token, "modelops_training", {"sample_rows": args.rows})
        if profile == "prod":
            figures["scoring_2_workers_s"] = score_partitions(env, api, token, "bench-2w", args.score_rows)
            pid = int((OUT / profile / "run" / "worker2.pid").read_text())
            os.killpg(pid, 15)
            while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.5)
            figures["scoring_1_worker_s"] = score_partitions(env, api, token, "bench-1w", args.score_rows)
    finally:
        shell("scripts/stack.sh down", env, profile)
        if profile == "prod":
            shell(".venv/bin/python scripts/prod_stores.py drop", env, profile)
    return figures


def score_partitions(env: dict[str, str], api: str, token: str, snapshot: str, rows: int) -> float:
    """Deliver `rows` voters as 8 Parquet partitions and time the scoring run fanned out over 8 groups."""
    os.environ["MODELOPS_HOME"] = env["MODELOPS_HOME"]
    import pyarrow.parquet as pq

    from modelops.collect import scenarios
    from modelops.config.settings import load_settings
    from modelops.core import catalog

    spec = load_settings().dataset("voter_turnout")
    table = pq.read_table(scenarios.write_window(spec, snapshot, "stable", rows, seed=5))
    folder = catalog.production_dir(spec.name) / "partitioned" / snapshot
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-rows // 8)
    for i in range(8):
        pq.write_table(table.slice(i * size, size), folder / f"part-{i}.parquet")
    conf = {"dataset": spec.name, "snapshot": snapshot, "input": str(folder), "groups": 8}
    return run_dag(api, token, "modelops_scoring", conf)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30000, help="synthetic voters of the training run")
    parser.add_argument("--score-rows", type=int, default=400000, help="voters scored in 8 partitions")
    args = parser.parse_args()
    results = {profile: measure(profile, args) for profile in ("embedded", "prod")}
    for profile, figures in results.items():
        total = sum(figures["pss"].values())
        groups = ", ".join(f"{k} {v:.0f}" for k, v in sorted(figures["pss"].items(), key=lambda kv: -kv[1]))
        print(f"{profile:<9} up {figures['up_s']:.1f} s; idle PSS {total:.0f} MiB ({groups})")
        print(f"{'':<9} training fan-out ({args.rows} rows, 3 candidates): {figures['training_s']:.1f} s")
    prod = results["prod"]
    print(
        f"scoring {args.score_rows} rows in 8 partitions: 2 workers {prod['scoring_2_workers_s']:.1f} s, "
        f"1 worker {prod['scoring_1_worker_s']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

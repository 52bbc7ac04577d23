"""The training DAG on N synthetic voters through Airflow, end to end: wall time, per-task time, peak memory.

Runs `airflow dags test modelops_training` in a fresh workspace (own Airflow SQLite DB and MLflow
store), sampling the RSS of the whole process tree every 0.2 s.

    python benchmarks/bench_training.py [--rows 1000000] [--max-fit-rows N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--max-fit-rows", type=int, default=None, help="override the configured cap on fit rows")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-training-"))
    env = {
        **os.environ,
        "MODELOPS_HOME": str(root),
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow' / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    (root / "airflow").mkdir(parents=True)
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    log_path = root / "run.log"
    conf = json.dumps({"sample_rows": args.rows, "max_fit_rows": args.max_fit_rows})
    started = time.monotonic()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [airflow, "dags", "test", "modelops_training", "--conf", conf],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        watcher = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(watcher))
            time.sleep(0.2)
    wall = time.monotonic() - started
    text = log_path.read_text()
    starts, ends = {}, {}
    for stamp, kind, task, index in re.findall(
        r"^(\S+Z) .*\[DAG TEST\] (starting|end task) task_id=(\w+) map_index=(-?\d+)", text, re.M
    ):
        key = task if index == "-1" else f"{task}[{index}]"
        (starts if kind == "starting" else ends)[key] = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    print(f"rows: {args.rows}, max_fit_rows: {args.max_fit_rows or 'configured'}")
    print(f"exit code: {proc.returncode}")
    print(f"wall time, end to end (airflow dags test): {wall:.1f} s")
    print(f"peak RSS of the process tree: {peak / 2**30:.2f} GiB")
    for key in starts:
        if key in ends:
            print(f"  {key:<24} {(ends[key] - starts[key]).total_seconds():7.1f} s")
    summary = root / "runs" / "voter_turnout" / "latest.txt"
    if summary.exists():
        print(summary.read_text())
    print(f"(workspace kept at {root})")


if __name__ == "__main__":
    main()

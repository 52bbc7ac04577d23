"""Parse time of each DAG file beyond importing airflow.sdk (the bar: at most 0.3 s).

Each measurement is a fresh interpreter: import airflow.sdk (timed apart), then execute the DAG
file as the DAG processor would; the median of several runs is printed.

    python benchmarks/bench_dag_parse.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import sys, time, runpy
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"{'DAG file':<28} {'airflow.sdk import':>18} {'parse beyond it':>16}  (median of {args.repeat})")
    for path in sorted((REPO / "dags").glob("*.py")):
        sdk, parse = [], []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
            a, b = map(float, out.stdout.split()[-2:])
            sdk.append(a)
            parse.append(b)
        verdict = "OK" if statistics.median(parse) <= 0.3 else "OVER 0.3 s"
        print(f"{path.name:<28} {statistics.median(sdk):>17.3f}s {statistics.median(parse):>15.3f}s  {verdict}")


if __name__ == "__main__":
    main()

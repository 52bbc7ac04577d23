"""Evidently side of the drift benchmark: DataDriftPreset on two parquet frames, one JSON line out.

Runs INSIDE the separate venv made by benchmarks/setup_evidently.sh (Evidently 0.7 needs pandas<3;
the project's venv is on pandas 3 and must not get evidently):

    PY=$(bash benchmarks/setup_evidently.sh | tail -n1)
    "$PY" benchmarks/evidently_side.py REF.parquet CUR.parquet --numeric a,b,c --categorical x,y

Column types are declared through DataDefinition, and DataDriftPreset runs with no method or
threshold overrides, so Evidently picks its default test per column type and reference size
(reference <= 1000 rows: K-S / chi-square / Z; above: Wasserstein (normed) / Jensen-Shannon).
Per-column verdicts come from Evidently's own "Value Drift for column X" test results (FAIL means
drift detected), the score and the chosen method from the ValueDrift metrics.

Only `report.run(...)` is timed ("seconds"); wrapping the frames in evidently Datasets (which copies
them) is timed apart ("wrap_seconds"). Stdout carries exactly one JSON line:

    {"seconds": float, "wrap_seconds": float, "drifted": {col: bool}, "method": {col: str},
     "score": {col: float}, "threshold": {col: float}, "evidently_version": str,
     "rows": {"reference": int, "current": int}}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time
import warnings

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry opt-out (only its UI/collector use it)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send everything written to fd 1 (Python prints and C-level writes alike) to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def split_cols(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def extract(snapshot_dict: dict) -> tuple[dict, dict, dict, dict]:
    """Per-column drift verdict, method, score and threshold from `Snapshot.dict()`.

    Structure (Evidently 0.7): "metrics" holds one ValueDrift entry per column
    ({"config": {"type": "evidently:metric_v2:ValueDrift", "column", "method", "threshold"},
    "value": score}); "tests" holds, with include_tests=True, one "Value Drift for column X" result
    per column whose "status" is "FAIL" when Evidently detected drift, "SUCCESS" otherwise.
    """
    method: dict[str, str] = {}
    score: dict[str, float] = {}
    threshold: dict[str, float] = {}
    for metric in snapshot_dict["metrics"]:
        config = metric.get("config", {})
        if config.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        column = config["column"]
        method[column] = config["method"]
        score[column] = float(metric["value"])
        threshold[column] = float(config["threshold"])

    drifted: dict[str, bool] = {}
    for test in snapshot_dict["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if params.get("type") != "evidently:metric_v2:ValueDrift":
            continue
        status = test["status"]
        if status not in ("FAIL", "SUCCESS"):
            raise RuntimeError(f"unexpected drift test status {status!r} for column {params['column']}")
        drifted[params["column"]] = status == "FAIL"

    missing = set(method) ^ set(drifted)
    if missing:
        raise RuntimeError(f"metrics and drift tests disagree on columns: {sorted(missing)}")
    return drifted, method, score, threshold


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", help="reference parquet file")
    parser.add_argument("current", help="current parquet file")
    parser.add_argument("--numeric", default="", help="comma-separated numeric columns")
    parser.add_argument("--categorical", default="", help="comma-separated categorical columns")
    args = parser.parse_args(argv)

    numeric = split_cols(args.numeric)
    categorical = split_cols(args.categorical)
    columns = numeric + categorical
    if not columns:
        parser.error("give at least one column with --numeric and/or --categorical")
    overlap = set(numeric) & set(categorical)
    if overlap:
        parser.error(f"columns both numeric and categorical: {sorted(overlap)}")

    with stdout_to_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Evidently/pandas/scipy warnings are noise for a benchmark

        import evidently
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        reference_df = pd.read_parquet(args.reference, columns=columns)
        current_df = pd.read_parquet(args.current, columns=columns)

        # Every type list given explicitly, so Evidently does no type inference of its own.
        definition = DataDefinition(
            numerical_columns=numeric,
            categorical_columns=categorical,
            text_columns=[],
            datetime_columns=[],
            list_columns=[],
            unknown_columns=[],
        )
        t0 = time.perf_counter()
        reference = Dataset.from_pandas(reference_df, data_definition=definition)
        current = Dataset.from_pandas(current_df, data_definition=definition)
        wrap_seconds = time.perf_counter() - t0

        report = Report([DataDriftPreset()], include_tests=True)
        t0 = time.perf_counter()
        snapshot = report.run(current_data=current, reference_data=reference)
        seconds = time.perf_counter() - t0

        drifted, method, score, threshold = extract(snapshot.dict())
        absent = [c for c in columns if c not in drifted]
        if absent:
            raise RuntimeError(f"Evidently returned no drift result for: {absent}")

    out = {
        "seconds": seconds,
        "wrap_seconds": wrap_seconds,
        "drifted": {c: drifted[c] for c in columns},
        "method": {c: method[c] for c in columns},
        "score": {c: (score[c] if math.isfinite(score[c]) else None) for c in columns},
        "threshold": {c: threshold[c] for c in columns},
        "evidently_version": evidently.__version__,
        "rows": {"reference": len(reference_df), "current": len(current_df)},
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What a DAG run left, for scripts/run_dag.sh: the training run's summary, the newest scoring output or
monitoring report of the dataset, or the forecast of the snapshot. Usage: dag_outcome.py DAG_ID CONF_JSON"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from modelops.config.settings import load_settings
from modelops.core import catalog
from modelops.core.handoffs import FORECAST_DAG_ID
from modelops.pipelines.forecast_records import ForecastOutcome


def newest(folders: list[Path]) -> Path | None:
    """The most recently changed of some folders, or None."""
    return max(folders, key=lambda p: p.stat().st_mtime, default=None)


def describe_outcome(dag_id: str, dataset: str) -> str:
    """A few lines on what the run of `dag_id` left for `dataset`, by where the catalog keeps it."""
    if dag_id == "modelops_training":
        return catalog.latest_summary(dataset).read_text()
    if dag_id == "modelops_scoring":
        scored = newest([catalog.scoring_manifest(dataset, s).parent for s in catalog.list_scored(dataset)])
        if scored is None:
            return f"no scoring output of {dataset} yet"
        manifest = catalog.read_json(scored / "manifest.json")
        return (
            f"Scored {manifest['rows_out']} rows of snapshot {manifest['snapshot']} with "
            f"{manifest['model_name']} v{manifest['model_version']} ({manifest['alias']}); "
            f"sources {manifest['sources']}\nOutput: {scored}"
        )
    reports = catalog.reports_dir(dataset)
    report = newest([p for p in reports.iterdir() if p.is_dir()]) if reports.is_dir() else None
    return f"Monitoring report: {report}" if report else f"no monitoring report of {dataset} yet"


def describe_forecast(forecast: str | None, snapshot: str) -> str:
    """The published forecast of `snapshot` (`forecast` empty: the first configured): its summary and report page."""
    name, _ = load_settings().forecast(forecast)
    outcome = ForecastOutcome.published(name, snapshot)
    return "\n".join([*outcome.summary_lines(), f"Report: {outcome.report_path}"])


if __name__ == "__main__":
    conf = json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    if sys.argv[1] == FORECAST_DAG_ID:
        print(describe_forecast(conf.get("forecast"), conf["snapshot"]))
    else:
        print(describe_outcome(sys.argv[1], conf.get("dataset") or load_settings().default_dataset))

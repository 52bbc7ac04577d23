"""A survey with weights through the real workflow steps: the evaluation report's weighted view, the gate on it,
the lineage tag; and a missing weight stopping the batch at validation.

The survey over-samples one region (B: 60% of the sample, 30% of the population) whose outcome rate is higher;
its weights are population share / sample share.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_training

from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings
from modelops.pipelines.training_summary import render_summary
from modelops.store import tracking
from modelops.validate.validation import DataValidationError

pytestmark = pytest.mark.integration
N = 2400


def _poll(n: int = N, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    region = np.where(rng.random(n) < 0.4, "A", "B")
    ideology = rng.integers(1, 8, n)
    logit = 0.8 * (ideology - 4) + np.where(region == "B", 1.0, -1.0)
    return pd.DataFrame(
        {
            "resp_id": [f"P{i:05d}" for i in range(n)],
            "ideology": ideology,
            "region": region,
            "support": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
            "w": np.where(region == "A", 0.7 / 0.4, 0.3 / 0.6),
        }
    )


def _settings(tmp_path, frame: pd.DataFrame, use: str):
    frame.to_csv(tmp_path / "poll.csv", index=False)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config.pop("forecasts", None)  # the bundled forecast is built on the bundled datasets replaced here
    config["datasets"] = {
        "poll": {
            "source": {"kind": "file", "path": str(tmp_path / "poll.csv")},
            "id_column": "resp_id",
            "target": "support",
            "numeric": ["ideology"],
            "categorical": ["region"],
            "baseline_rule": {"all": [{"column": "ideology", "op": ">=", "value": 5}]},
            "validation": {"row_count": [100, 1_000_000]},
            "weights": {"column": "w", "use": use},
            "permitted_uses": ["research"],
        }
    }
    config["default_dataset"] = "poll"
    path = tmp_path / f"poll-{use}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_settings(path)


def test_survey_weights_give_a_weighted_report_and_gate(workspace, tmp_path):
    settings = _settings(tmp_path, _poll(), "survey")
    done = run_training(settings, "poll", "weights-1")
    report = done["report"]
    weighted = report["weighted_metrics"]
    assert weighted["source"] == "survey weights (column 'w')" and weighted["gated"] is True
    assert set(weighted["metrics"]) == set(report["metrics"]) and set(weighted["baselines"]) == {"majority", "rule"}
    assert weighted["metrics"]["roc_auc"] != report["metrics"]["roc_auc"]
    primary = report["primary_metric"]
    interval = weighted["intervals"][primary]
    assert interval["ci_low"] <= weighted["metrics"][primary] <= interval["ci_high"]
    # the holdout over-represents region B (higher rate): weighted, the outcome rate is lower
    assert weighted["positive_rate"]["value"] < pd.read_parquet(done["plan"]["splits"]["holdout"])["support"].mean()
    checks = {c["check"]: c for c in report["verdict"]["checks"]}
    assert f"{weighted['metrics'][primary]:.4f} vs majority-class baseline" in checks["beats_majority"]["detail"]
    assert (
        "weighted" in checks["weights"]["detail"] and f"{report['metrics'][primary]:.4f}" in checks["weights"]["detail"]
    )
    version = tracking.client().get_model_version("poll_model", done["outcome"]["version"])
    assert version.tags["modelops.weights"] == "survey:w"
    parent = tracking.client().get_run(done["plan"]["parent_run_id"])
    assert parent.data.params["weights"] == "survey:w"
    assert "best_holdout_weighted_roc_auc" in parent.data.metrics
    summary = render_summary(
        done["batch"].to_xcom(), done["validation"].to_xcom(), done["plan"], report, done["outcome"]
    )
    assert (
        f"weighted by survey weights (column 'w') (the gate judges these, worth {weighted['effective_rows']:.0f}"
        in (summary)
    )


def test_unweighted_use_reports_the_weighted_view_but_gates_unweighted(workspace, tmp_path):
    settings = _settings(tmp_path, _poll(), "unweighted")
    report = run_training(settings, "poll", "weights-2")["report"]
    assert report["weighted_metrics"]["gated"] is False
    checks = {c["check"]: c for c in report["verdict"]["checks"]}
    assert "weights" not in checks
    primary = report["primary_metric"]
    assert f"{report['metrics'][primary]:.4f} vs majority-class baseline" in checks["beats_majority"]["detail"]


def test_a_batch_with_missing_weights_is_refused_at_validation(workspace, tmp_path):
    frame = _poll()
    frame.loc[[5, 17, 40], "w"] = np.nan
    settings = _settings(tmp_path, frame, "survey")
    with pytest.raises(DataValidationError) as caught:
        run_training(settings, "poll", "weights-3")
    assert "expect_column_values_to_not_be_null on 'w'" in str(caught.value)
    assert "3 bad rows" in str(caught.value)

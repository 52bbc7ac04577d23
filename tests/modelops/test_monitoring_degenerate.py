"""Degenerate windows are data-quality breaks: a window whose rows are (nearly) all copies, whose model
scores take one value, or with too few distinct rows alerts as data quality, is recorded as such, and
never counts toward (nor breaks) a retrain streak. Detection on tiny frames; the decision on hand-made
histories; then two identical-row windows served by a real champion and judged through the monitoring
DAG's own steps (real MLflow store and audit DB): no retrain."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import test_monitoring_scenarios as scenario_tests
import yaml

from modelops.collect import scenarios
from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings
from modelops.core import catalog
from modelops.monitor.decision import decide_action
from modelops.monitor.evidence import degenerate_window
from modelops.monitor.thresholds import thresholds_for
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.store import history

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

START = datetime(2028, 10, 1, tzinfo=UTC)
ROWS = scenario_tests.ROWS
champion = scenario_tests.champion  # a champion for this module, fresh windows per test
fresh_windows = scenario_tests.fresh_windows
MARKER = "ZZ-MARKER-7731"  # a row value: it must appear in no reason, verdict or history row


def _varied(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 90, rows),
            "income": rng.normal(50, 10, rows),
            "party": rng.choice(["D", "R", "I", MARKER], rows),
        }
    )


def _copies(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"age": [47] * rows, "income": [52.5] * rows, "party": [MARKER] * rows})


def _judge(features: pd.DataFrame, scores=None, min_distinct_rows: int = 50, max_duplicate_share: float = 0.5):
    scores = np.linspace(0.1, 0.9, len(features)) if scores is None else np.asarray(scores, dtype=float)
    return degenerate_window(features, scores, min_distinct_rows, max_duplicate_share)


# --- detection on tiny frames -----------------------------------------------------------------


def test_a_varied_window_is_not_degenerate():
    found = _judge(_varied(400))
    assert not found["degenerate"] and found["reasons"] == []
    assert found["distinct_rows"] == 400 and found["duplicate_share"] == 0.0


def test_every_row_one_copy_is_degenerate_saying_counts_and_column_names_only():
    found = _judge(_copies(400), scores=np.full(400, 0.37))
    assert found["degenerate"] and found["distinct_rows"] == 1 and found["duplicate_rows"] == 399
    assert found["single_valued_scores"] and found["constant_features"] == ["age", "income", "party"]
    text = " | ".join(found["reasons"])
    assert "1 distinct row over the 3 features (of 400 rows), fewer than min_distinct_rows 50" in text
    assert "399 of 400 rows (99.8%) are exact copies of an earlier row over the features" in text
    assert "the served model's 400 scores all take one value" in text
    assert "3 of 3 features hold a single value: age, income, party" in text
    for value in (MARKER, "47", "52.5", "0.37"):
        assert value not in text


def test_nearly_all_copies_is_degenerate_above_the_share():
    frame = pd.concat([_varied(100, seed=1), _copies(300)], ignore_index=True)  # 299 of 400 are copies
    found = _judge(frame)
    assert found["degenerate"] and found["duplicate_share"] == pytest.approx(299 / 400)
    assert found["distinct_rows"] == 101 and not found["single_valued_scores"]
    assert not _judge(frame, max_duplicate_share=0.8)["degenerate"]  # within a looser limit
    assert not _judge(frame, max_duplicate_share=1.0)["degenerate"]  # 1: off


def test_fewer_distinct_rows_than_the_minimum_is_degenerate():
    frame = _varied(30)
    found = _judge(frame)
    assert found["degenerate"] and found["duplicate_share"] == 0.0
    assert found["reasons"] == ["30 distinct rows over the 3 features (of 30 rows), fewer than min_distinct_rows 50"]
    assert not _judge(frame, min_distinct_rows=0)["degenerate"]  # 0: off
    assert _judge(frame.iloc[:0], min_distinct_rows=1)["degenerate"]  # an empty window has no distinct row


def test_single_valued_scores_are_degenerate_on_varied_rows():
    scores = np.full(400, 0.5) + np.linspace(0, 5e-10, 400)
    scores[:3] = np.nan  # scores the model could not give are not a value
    found = _judge(_varied(400), scores=scores)
    assert found["degenerate"] and found["single_valued_scores"] and found["scores"] == 397
    assert found["reasons"] == ["the served model's 397 scores all take one value (within 1e-09)"]
    assert not _judge(_varied(400), scores=np.full(400, 0.5) + np.linspace(0, 1e-6, 400))["degenerate"]
    assert not _judge(_varied(400), scores=[])["degenerate"]  # no score at all is not one value


def test_the_limits_are_configured_and_set_per_dataset(tmp_path):
    settings = load_settings()
    assert settings.monitoring.min_distinct_rows == 50 and settings.monitoring.max_duplicate_share == 0.5
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    own = copy.deepcopy(raw)
    own["datasets"]["anes96_vote"]["monitoring"] = {"min_distinct_rows": 10, "max_duplicate_share": 0.9}
    path = tmp_path / "modelops.yaml"
    path.write_text(yaml.safe_dump(own))
    spec_settings = load_settings(path)
    thresholds = thresholds_for(spec_settings, None, spec_settings.dataset("anes96_vote"))
    assert thresholds["min_distinct_rows"] == 10 and thresholds["max_duplicate_share"] == 0.9
    voters = thresholds_for(spec_settings, None, spec_settings.dataset("voter_turnout"))
    assert voters["min_distinct_rows"] == 50
    for section, bad, match in (
        ("global", {"max_duplicate_share": 1.5}, "monitoring.max_duplicate_share: a share between 0 and 1"),
        ("global", {"min_distinct_rows": -1}, "monitoring.min_distinct_rows: a whole number of rows, at least 0"),
        ("dataset", {"max_duplicate_share": 2}, "max_duplicate_share: a share between 0 and 1"),
        ("dataset", {"min_distinct_rows": 2.5}, "min_distinct_rows: a whole number of rows"),
    ):
        broken = copy.deepcopy(raw)
        if section == "global":
            broken["monitoring"].update(bad)
        else:
            broken["datasets"]["anes96_vote"]["monitoring"] = bad
        path.write_text(yaml.safe_dump(broken))
        with pytest.raises(ConfigError, match=match):
            load_settings(path)


# --- the decision ------------------------------------------------------------------------------

THRESHOLDS = {"persistence": 2, "cooldown_hours": 24, "retrain_on": ["prediction_drift", "performance"]}


def _report(window_id: str, signals: list[str]) -> dict:
    quality_ok = "data_quality" not in signals
    return {"window_id": window_id, "signals": signals, "breach": bool(signals), "quality": {"ok": quality_ok}}


def _row(window_id: str, day: int, action: str, signals: list[str]) -> dict:
    return {
        "window_id": window_id,
        "window_end": START + timedelta(days=day),
        "action": action,
        "signals": signals,
        "breach": bool(signals),
        "data_quality_ok": "data_quality" not in signals,
        "dry_run": False,
        "model_version": None,
    }


DEGENERATE = ["data_quality", "degenerate_window"]


def test_a_degenerate_window_alerts_and_never_retrains_even_with_drift_before_it():
    rows = [_row("w1", 0, "watch", ["prediction_drift"])]
    decision = decide_action(_report("w2", DEGENERATE), rows, THRESHOLDS, START + timedelta(days=1))
    assert decision["action"] == "alert" and decision["streak"] == 0 and decision["retrain_signals"] == []
    assert "degenerate window" in decision["why"]
    assert "neither counts toward nor breaks a retrain streak" in decision["why"]
    # a fallback listed in retrain_on changes nothing: a copied window is no evidence at all
    listed = {**THRESHOLDS, "retrain_on": ["fallback"], "persistence": 1}
    fallback = _report("w2", [*DEGENERATE, "fallback"])
    assert decide_action(fallback, rows, listed, START + timedelta(days=1))["action"] == "alert"


def test_two_degenerate_windows_in_a_row_are_no_streak():
    rows = [_row("w1", 0, "alert", DEGENERATE)]
    decision = decide_action(_report("w2", DEGENERATE), rows, THRESHOLDS, START + timedelta(days=1))
    assert decision["action"] == "alert" and decision["streak"] == 0


def test_a_streak_passes_over_a_degenerate_window_neither_counted_nor_broken():
    rows = [_row("w1", 0, "watch", ["prediction_drift"]), _row("w2", 1, "alert", DEGENERATE)]
    decision = decide_action(_report("w3", ["prediction_drift"]), rows, THRESHOLDS, START + timedelta(days=2))
    assert decision["action"] == "retrain" and decision["streak"] == 2  # w1 and w3; w2 said nothing
    # one real breach after a degenerate window is still one
    alone = decide_action(_report("w3", ["prediction_drift"]), rows[1:], THRESHOLDS, START + timedelta(days=2))
    assert alone["action"] == "watch" and alone["streak"] == 1
    # an ordinary data-quality break still breaks the streak (its data may have been the drift)
    broken = [rows[0], _row("w2", 1, "alert", ["data_quality"])]
    after_break = decide_action(_report("w3", ["prediction_drift"]), broken, THRESHOLDS, START + timedelta(days=2))
    assert after_break["action"] == "watch" and after_break["streak"] == 1


# --- two identical-row windows through the DAG's steps ------------------------------------------


def _one_voters_copy(spec, window_id: str, seed: int) -> None:
    """A delivered snapshot whose every row carries one voter's values (each row keeps its own id), served."""
    path = scenarios.write_window(spec, window_id, "stable", ROWS, seed=seed)
    inputs = pd.read_parquet(path)
    copied = inputs.iloc[np.zeros(len(inputs), dtype=int)].reset_index(drop=True)
    copied[spec.id_column] = inputs[spec.id_column].to_numpy()  # a fan-out of one record, not a repeated id
    copied.to_parquet(path, index=False)
    score_snapshot(spec, load_settings(), snapshot=window_id)


def test_two_identical_row_windows_alert_as_data_quality_and_never_retrain(fresh_windows):
    spec = fresh_windows
    for i, window_id in enumerate(("w-000", "w-001")):
        _one_voters_copy(spec, window_id, seed=60 + i)
    outcomes, verdicts = [], []
    for i in range(2):  # as the DAG runs them: assess (judge), the branch, record
        run = f"scheduled__{i}"
        outcome = monitoring_flow.judge_window(spec.name, None, {}, False, START + timedelta(days=i), run)
        outcomes.append(outcome)
        verdicts.append(monitoring_flow.record_verdict(outcome, run))
    decided = [(o.verdict.action, o.verdict.signals, o.verdict.why) for o in outcomes]
    assert not any(o.retrains for o in outcomes), decided  # today's code: prediction drift PSI 8.3, then retrain
    assert [v.window_id for v in verdicts] == ["w-000", "w-001"]
    for verdict in verdicts:
        assert verdict.action == "alert" and verdict.breach and verdict.streak == 0
        assert verdict.signals[:2] == ("data_quality", "degenerate_window") and verdict.retrain_signals == ()
        assert "prediction_drift" not in verdict.signals
        (reason,) = [r for r in verdict.reasons if r.startswith("data quality: degenerate window: ")]
        assert f"1 distinct row over the {len(spec.features)} features (of {ROWS} rows)" in reason
        assert f"{ROWS - 1} of {ROWS} rows (100.0%) are exact copies of an earlier row" in reason
        assert "degenerate window" in verdict.why
    rows = history.read_monitoring_history(spec.name)
    assert [(r["window_id"], r["action"], r["data_quality_ok"]) for r in rows] == [
        ("w-000", "alert", False),
        ("w-001", "alert", False),
    ]
    assert all("degenerate_window" in r["signals"] for r in rows)
    report = catalog.read_json(catalog.report_dir(spec.name, "w-001") / "report.json")
    assert report["degenerate"]["distinct_rows"] == 1 and report["quality"]["suite_ok"]  # GX alone passed it
    # no row value reaches what is recorded: the copied voter's county and party are not in it
    copied = pd.read_parquet(catalog.snapshot_inputs(spec.name, "w-001")).iloc[0]
    recorded = repr(rows) + repr([v.to_xcom() for v in verdicts])
    for column in ("party", "education", "urban_class"):
        assert f"'{copied[column]}'" not in recorded

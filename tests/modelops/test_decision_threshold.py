"""One decision threshold per dataset, and names declared once (metrics, model families, rule operators).

The frames are built here: scores between 0.3 and 0.5 make a threshold of 0.3 and a fixed 0.5 disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from modelops.config.checks import ConfigError
from modelops.config.settings import (
    CANDIDATE_FAMILIES,
    DEFAULT_CONFIG_PATH,
    METRICS,
    THRESHOLD_METRICS,
    DatasetSpec,
    parse_settings,
)
from modelops.core import rules
from modelops.evaluate.evaluation import bootstrap_metrics, weighted_metrics
from modelops.evaluate.fairness import assess_fairness
from modelops.govern import card_facts
from modelops.stats.metrics import compute_metrics, decide, score
from modelops.train.training import estimator_builders, make_estimator

DATASET = "voter_turnout"


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def _settings_at(threshold: float):
    raw = _raw()
    raw["datasets"][DATASET]["scoring"]["threshold"] = threshold
    return parse_settings(raw)


def _rows() -> tuple[pd.DataFrame, np.ndarray, np.ndarray, DatasetSpec]:
    """Twelve rows in two groups; four scores sit in [0.3, 0.5), where 0.3 and 0.5 decide differently."""
    frame = pd.DataFrame({"x": np.arange(12, dtype=float), "group": ["a"] * 6 + ["b"] * 6})
    y = np.array([1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1])
    proba = np.array([0.9, 0.35, 0.4, 0.1, 0.45, 0.2, 0.6, 0.32, 0.7, 0.1, 0.55, 0.2])
    spec = DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="y",
        positive_class=1,
        numeric=("x",),
        protected={"group": None},
    )
    return frame, y, proba, spec


def test_gate_card_fairness_and_scoring_judge_the_served_decision_at_0_3():
    settings = _settings_at(0.3)
    threshold = settings.decision_threshold(DATASET)
    assert threshold == settings.scoring_for(DATASET).threshold == 0.3  # what scoring serves
    frame, y, proba, spec = _rows()
    served = proba >= settings.scoring_for(DATASET).threshold  # scoring's decision column
    assert (decide(proba, threshold) == served).all()

    gate = compute_metrics(y, proba, threshold)
    assert gate["accuracy"] == pytest.approx(np.mean(served == (y == 1)))
    assert gate["recall"] == pytest.approx(served[y == 1].mean())
    assert gate["precision"] == pytest.approx(y[served].mean())
    assert gate["accuracy"] != pytest.approx(compute_metrics(y, proba, 0.5)["accuracy"])  # 0.5 would judge another

    segments = card_facts.error_segments(frame, y, proba, spec, min_rows=1, threshold=threshold)
    assert segments["overall"]["error_rate"] == pytest.approx(1 - gate["accuracy"])
    assert segments["threshold"] == 0.3
    card = bootstrap_metrics(y, proba, 20, 0.9, 100, seed=0, threshold=threshold)
    assert {name: card[name]["value"] for name in METRICS} == pytest.approx(gate)

    fairness = assess_fairness(frame, y, proba, spec, settings.fairness_for(DATASET), threshold)
    assert fairness["threshold"] == 0.3
    for label, body in fairness["columns"]["group"]["groups"].items():
        assert body["selection_rate"] == pytest.approx(served[frame["group"] == label].mean())


def test_fairness_has_no_threshold_of_its_own():
    raw = _raw()
    raw["fairness"]["threshold"] = 0.5
    with pytest.raises(
        ConfigError, match=r"^fairness\.threshold: fairness has no threshold of its own.*scoring\.threshold"
    ):
        parse_settings(raw)
    raw = _raw()
    raw["datasets"][DATASET]["fairness"]["threshold"] = 0.3
    with pytest.raises(ConfigError, match=rf"datasets\.{DATASET}\.fairness\.threshold: fairness has no threshold"):
        parse_settings(raw)
    assert "threshold" not in parse_settings(_raw()).fairness_for(DATASET)


def test_a_decision_metric_without_a_threshold_is_refused():
    y, proba = np.array([0, 1, 1]), np.array([0.2, 0.4, 0.9])
    for metric in THRESHOLD_METRICS:
        with pytest.raises(ValueError, match=f"{metric} judges decisions: it needs the dataset's decision threshold"):
            score(metric, y, proba)
    assert score("roc_auc", y, proba) == 1.0  # a metric of the score itself needs none


def test_the_threshold_shapes_a_version_only_when_the_primary_metric_judges_decisions():
    assert _settings_at(0.3).digest_for(DATASET) == _settings_at(0.5).digest_for(DATASET)  # primary: roc_auc
    raw_f1 = _raw()
    raw_f1["evaluation"]["primary_metric"] = "f1"
    raw_f1["evaluation"]["floors"] = {}
    other = yaml.safe_load(yaml.safe_dump(raw_f1))
    other["datasets"][DATASET]["scoring"]["threshold"] = 0.3
    assert parse_settings(raw_f1).digest_for(DATASET) != parse_settings(other).digest_for(DATASET)


def test_metric_names_are_declared_once_and_computed_each():
    """config.METRICS names every metric evaluation computes; the threshold moves exactly THRESHOLD_METRICS."""
    _, y, proba, _ = _rows()
    low, high = compute_metrics(y, proba, 0.3), compute_metrics(y, proba, 0.6)
    assert list(low) == list(METRICS)
    assert set(weighted_metrics(y, proba, np.ones((1, len(y))), 0.3)) == set(METRICS)
    moved = {name for name in METRICS if low[name] != pytest.approx(high[name])}
    assert moved == set(THRESHOLD_METRICS)


def test_every_model_family_has_an_estimator_and_no_other():
    assert set(estimator_builders()) == set(CANDIDATE_FAMILIES)
    for family in CANDIDATE_FAMILIES:
        assert hasattr(make_estimator(family, {}, seed=0), "predict_proba")
    with pytest.raises(ValueError, match=r"unknown candidate 'svm'; known model families"):
        make_estimator("svm", {}, seed=0)


def test_every_rule_operator_is_accepted_by_the_config_and_no_other():
    value = {"in": [1], "not_in": [1], "is_null": None, "not_null": None}
    for op in rules.OPS:
        raw = _raw()
        cond = {"column": "voted_general_lag1", "op": op}
        if value.get(op, 1) is not None:
            cond["value"] = value.get(op, 1)
        raw["datasets"][DATASET]["baseline_rule"] = {"all": [cond]}
        parse_settings(raw)
    assert set(rules.OPS) >= rules.NULL_OPS | rules.LIST_OPS
    raw = _raw()
    raw["datasets"][DATASET]["baseline_rule"] = {"all": [{"column": "voted_general_lag1", "op": "like", "value": 1}]}
    with pytest.raises(ConfigError, match=r"unknown op 'like'; known: \[.*'not_null'"):
        parse_settings(raw)

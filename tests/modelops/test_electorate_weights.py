"""Electorate-weighted figures (`datasets.<name>.electorate_weights: own_scores`): a turnout model judged on the
expected electorate, each voter counted by their probability of voting, beside the unweighted figures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from modelops.config.checks import ConfigError
from modelops.config.settings import load_settings, parse_settings
from modelops.monitor.labelled import electorate_window_metrics
from modelops.pipelines.judging import electorate_view
from modelops.pipelines.training_records import EvaluationReport

RAW = {
    "training": {"seed": 1, "candidates": ["logistic_regression"]},
    "search_spaces": {"logistic_regression": {"C": {"log_uniform": [0.1, 1.0]}}},
    "evaluation": {"primary_metric": "roc_auc", "bootstrap_resamples": 50},
    "datasets": {
        "voters": {
            "source": {"kind": "file", "path": "v.csv"},
            "target": "y",
            "numeric": ["x"],
            "permitted_uses": ["research"],
            "electorate_weights": "own_scores",
        }
    },
}
# Four voters: scores 0.9, 0.8 (right: they vote) and 0.3, 0.1 (the 0.3 voter votes: wrong at 0.5).
Y = np.array([1, 1, 1, 0])
P = np.array([0.9, 0.8, 0.3, 0.1])


def test_own_scores_weigh_the_window_by_the_expected_electorate():
    spec = parse_settings(RAW).dataset("voters")
    figures = electorate_window_metrics(spec, Y, P, 0.5)
    # accuracy at 0.5: rows 1, 2, 4 right; weighted by the scores: (0.9 + 0.8 + 0.1) / 2.1
    assert figures["metrics"]["accuracy"] == pytest.approx(1.8 / 2.1)
    assert figures["effective_rows"] == pytest.approx(2.1**2 / (0.81 + 0.64 + 0.09 + 0.01))
    assert "expected electorate" in figures["source"]
    unweighted = dataclasses.replace(spec, electorate_weights=None)
    assert electorate_window_metrics(unweighted, Y, P, 0.5) is None  # not asked for: not computed


def test_the_holdout_view_is_reported_beside_and_never_gated():
    settings = parse_settings(RAW)
    spec = settings.dataset("voters")
    view = electorate_view(spec, settings, Y, P, {"majority": np.full(4, 0.75)})
    assert view["gated"] is False and view["metrics"]["accuracy"] == pytest.approx(1.8 / 2.1)
    # the weighted outcome rate: (0.9 + 0.8 + 0.3) / 2.1 of the expected electorate voted
    assert view["positive_rate"]["value"] == pytest.approx(2.0 / 2.1)
    assert set(EvaluationReport.__dataclass_fields__) >= {"electorate_metrics", "weighted_metrics"}


def test_a_score_outside_zero_one_is_reported_not_used_and_a_bad_setting_is_refused():
    spec = parse_settings(RAW).dataset("voters")
    broken = electorate_window_metrics(spec, Y, np.array([0.9, np.nan, 0.3, 0.1]), 0.5)
    assert "metrics" not in broken and "1 of 4" in broken["error"]
    raw = {**RAW, "datasets": {"voters": {**RAW["datasets"]["voters"], "electorate_weights": "turnout"}}}
    with pytest.raises(ConfigError, match=r"datasets\.voters\.electorate_weights: one of \['own_scores'\]"):
        parse_settings(raw)


def test_the_setting_is_outside_the_identity():
    plain = {
        **RAW,
        "datasets": {"voters": {k: v for k, v in RAW["datasets"]["voters"].items() if k != "electorate_weights"}},
    }
    assert parse_settings(plain).digest_for("voters") == parse_settings(RAW).digest_for("voters")
    assert load_settings().dataset("voter_turnout").electorate_weights == "own_scores"

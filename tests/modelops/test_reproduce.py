"""Reproduction's pure parts on tiny frames: the prediction and metric comparison, settings from the record."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from modelops.config.checks import ConfigError
from modelops.config.settings import DatasetSpec, load_settings, parse_settings, settings_from_resolved
from modelops.core import catalog
from modelops.govern.reproduce import compare_metrics, compare_predictions


def _frame(keys, scores) -> pd.DataFrame:
    return pd.DataFrame({"key": np.array(keys, dtype=np.uint64), "score": np.array(scores, dtype=float)})


RECORDED = _frame([11, 12, 13, 14], [0.1, 0.25, 0.5, 0.975])


def test_same_scores_in_another_order_are_equal_bitwise():
    out = compare_predictions(RECORDED, RECORDED.iloc[::-1])
    assert out["equal"] and out["rows"] == 4 and out["bitwise_equal_rows"] == 4
    assert out["max_abs_diff"] == 0.0 and out["differing_rows"] == 0


def test_a_difference_within_the_tolerance_is_equal_but_not_bitwise():
    out = compare_predictions(RECORDED, RECORDED.assign(score=RECORDED["score"] + [0, 0, 4e-10, 0]))
    assert out["equal"] and out["bitwise_equal_rows"] == 3
    assert 0 < out["max_abs_diff"] <= 1e-9


def test_one_score_beyond_the_tolerance_fails_and_is_counted():
    out = compare_predictions(RECORDED, RECORDED.assign(score=RECORDED["score"] + [0, 2e-9, 0, 0]))
    assert not out["equal"] and out["differing_rows"] == 1
    assert out["max_abs_diff"] == pytest.approx(2e-9, rel=1e-3)


def test_a_row_missing_or_unexpected_fails():
    out = compare_predictions(RECORDED, RECORDED.iloc[:3])
    assert not out["equal"] and out["only_recorded"] == 1 and out["only_rebuilt"] == 0
    extra = pd.concat([RECORDED, _frame([99], [0.3])])
    out = compare_predictions(RECORDED, extra)
    assert not out["equal"] and out["only_rebuilt"] == 1 and out["differing_rows"] == 0


def test_rows_sharing_a_key_pair_up_by_score():
    # a dataset keyed by content: two identical rows, one key, the same score twice
    recorded = _frame([5, 5, 6], [0.4, 0.4, 0.7])
    assert compare_predictions(recorded, recorded.iloc[[2, 1, 0]])["equal"]
    out = compare_predictions(recorded, _frame([5, 6], [0.4, 0.7]))  # one of the twins lost
    assert not out["equal"] and out["only_recorded"] == 1


def test_a_missing_score_on_one_side_fails_and_on_both_sides_agrees():
    one = compare_predictions(RECORDED, RECORDED.assign(score=[0.1, np.nan, 0.5, 0.975]))
    assert not one["equal"] and one["missing_scores"] == 1 and math.isinf(one["max_abs_diff"])
    both = _frame([1, 2], [np.nan, 0.5])
    assert compare_predictions(both, both)["equal"]


def test_nothing_to_compare_is_not_a_reproduction_and_bad_shapes_are_refused():
    empty = _frame([], [])
    assert not compare_predictions(empty, empty)["equal"]
    with pytest.raises(ValueError, match=r"rebuilt predictions lack columns \['score'\]"):
        compare_predictions(RECORDED, RECORDED[["key"]])


def test_metrics_compare_with_tolerance_nan_and_missing_names():
    recorded = {"roc_auc": 0.75, "log_loss": 0.5, "f1": float("nan")}
    assert compare_metrics(recorded, dict(recorded))["equal"]
    assert compare_metrics(recorded, {**recorded, "log_loss": 0.5 + 1e-12})["equal"]
    off = compare_metrics(recorded, {**recorded, "roc_auc": 0.7501})
    assert not off["equal"] and off["differing"] == ["roc_auc"]
    assert compare_metrics(recorded, {"roc_auc": 0.75, "log_loss": 0.5})["differing"] == ["f1"]
    assert compare_metrics(recorded, {**recorded, "f1": 0.3})["differing"] == ["f1"]
    assert not compare_metrics({}, {})["equal"]


@pytest.mark.parametrize("dataset", ["voter_turnout", "anes96_vote"])
def test_settings_come_back_from_the_resolved_record(dataset):
    settings = load_settings()
    rebuilt = settings_from_resolved(settings.resolved(dataset))
    assert rebuilt.dataset(dataset) == settings.dataset(dataset)
    assert rebuilt.digest_for(dataset) == settings.digest_for(dataset) and rebuilt.default_dataset == dataset
    for section in ("training", "search_spaces", "evaluation", "monitoring", "scoring", "promotion"):
        assert getattr(rebuilt, section) == getattr(settings, section), section
    assert rebuilt.resolved(dataset) == settings.resolved(dataset)


def _record(spec_body: dict) -> dict:
    base = load_settings()
    raw = {
        "training": base.training.model_dump(),
        "search_spaces": base.search_spaces,
        "evaluation": base.evaluation.model_dump(),
        "datasets": {"tiny": spec_body},
    }
    return parse_settings(raw, "d1", "p").resolved("tiny")


def test_a_record_with_labels_given_by_positive_class_and_text_labels_round_trips():
    body = {
        "source": {"kind": "file", "path": "{repo}/x.csv", "filter": [{"column": "a", "op": ">", "value": 1}]},
        "target": "y",
        "positive_class": "yes",
        "numeric": ["a"],
        "categorical": ["b"],
        "protected": {"a": [0, 10, 20]},
        "permitted_uses": ["research"],
    }
    record = _record(body)
    assert "resolved_path" in record["dataset"]["source"]  # dropped again: paths are recomputed
    spec = settings_from_resolved(record).dataset("tiny")
    assert isinstance(spec, DatasetSpec)
    assert spec == parse_settings(
        {**{k: record[k] for k in ("training", "search_spaces", "evaluation")}, "datasets": {"tiny": body}}
    ).dataset("tiny")
    assert spec.positive_labels == ("yes",) and spec.negative_labels is None
    assert spec.row_filter == [{"column": "a", "op": ">", "value": 1}]


def test_a_record_todays_code_cannot_read_is_a_config_error():
    record = load_settings().resolved("anes96_vote")
    record["training"] = {**record["training"], "retired_option": 3}
    with pytest.raises(ConfigError, match="training: unknown key 'retired_option'"):
        settings_from_resolved(record)


def test_scratch_folders_are_removed_even_on_error(workspace):
    with catalog.scratch_dir("unit") as folder:
        catalog.write_text(folder / "a.txt", "x")
        kept = folder
    assert not kept.exists()
    with pytest.raises(RuntimeError), catalog.scratch_dir("unit") as folder:
        raise RuntimeError("boom")
    assert not folder.exists() and folder.parent.is_dir()
    with pytest.raises(ValueError, match="cannot name a folder"), catalog.scratch_dir("../out"):
        pass

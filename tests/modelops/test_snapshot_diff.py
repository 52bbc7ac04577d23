"""Snapshot diffs (adds, drops, moves, new registrants) and new registrants' score coverage and error."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from modelops.collect.snapshot_diff import DiffColumns, SnapshotDiff, diff_columns, diff_snapshots, id_keys
from modelops.config.models import DatasetScoring
from modelops.config.settings import ConfigError, DatasetSpec, load_settings, parse_settings, read_yaml
from modelops.evaluate.registrants import RegistrantScores, registrant_scores

RULE = {"column": "years_registered", "max_value": 0}
COLUMNS = DiffColumns("voter_id", "county", RULE)


def _pair() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Old: ids 1..6 (+ a row without id, + a repeat of 6). New: 1..4 kept (2 and 4 move), 5 and 6 dropped,
    7, 8, 9 added (7 and 9 new registrants, 9 with no county), one row without id."""
    old = pd.DataFrame(
        {
            "voter_id": [1, 2, 3, 4, 5, 6, None, 6],
            "county": ["A", "A", "B", "B", "B", "A", "A", "B"],
            "years_registered": [5, 3, 8, 0, 2, 1, 0, 0],
        }
    )
    new = pd.DataFrame(
        {
            "voter_id": ["1", "2", "3", "4", "7", "8", "9", None],
            "county": ["A", "B", "B", "A", "A", "B", None, "A"],
            "years_registered": [7, 5, 10, 2, 0, 4, 0, 0],
        }
    )
    return old, new


def test_diff_counts_known_adds_drops_moves_and_missing_ids():
    old, new = _pair()
    diff = diff_snapshots(old, new, COLUMNS)
    assert (diff.old.rows, diff.old.missing_ids, diff.old.duplicate_ids, diff.old.ids) == (8, 1, 1, 6)
    assert (diff.new.rows, diff.new.missing_ids, diff.new.duplicate_ids, diff.new.ids) == (8, 1, 0, 7)
    assert (diff.kept, diff.adds, diff.drops, diff.moves) == (4, 3, 2, 2)
    assert diff.add_share == pytest.approx(3 / 7)
    assert diff.drop_share == pytest.approx(2 / 6)
    assert diff.move_share == pytest.approx(2 / 4)
    # the row without an id meets the rule but has no id: counted as missing, never a registrant
    assert (diff.new_registrants, diff.new_registrants_among_adds) == (2, 2)
    assert diff.new_registrant_share == pytest.approx(2 / 7)
    by_geo = {g.geography: g for g in diff.geographies}
    assert list(by_geo) == ["A", "B", None]
    a, b, none = by_geo["A"], by_geo["B"], by_geo[None]
    assert (a.old_ids, a.new_ids, a.adds, a.drops, a.moves_in, a.moves_out, a.new_registrants) == (3, 3, 1, 1, 1, 1, 1)
    assert (b.old_ids, b.new_ids, b.adds, b.drops, b.moves_in, b.moves_out, b.new_registrants) == (3, 3, 1, 1, 1, 1, 0)
    assert (none.old_ids, none.new_ids, none.adds, none.new_registrants) == (0, 1, 1, 1)
    # the parts add up: every id of each side sits in one geography
    assert sum(g.new_ids for g in diff.geographies) == diff.new.ids
    assert sum(g.old_ids for g in diff.geographies) == diff.old.ids


def test_diff_reads_parquet_by_its_columns_and_round_trips(tmp_path):
    old, new = _pair()
    old.assign(first_name="x").to_parquet(tmp_path / "old.parquet")
    new.assign(first_name="y").to_parquet(tmp_path / "new.parquet")
    diff = diff_snapshots(tmp_path / "old.parquet", tmp_path / "new.parquet", COLUMNS)
    assert diff == diff_snapshots(old, new, COLUMNS)
    assert SnapshotDiff.from_xcom(json.loads(json.dumps(diff.to_xcom()))) == diff
    with pytest.raises(ValueError, match=r"missing column\(s\) \['county'\]"):
        diff_snapshots(old.drop(columns="county"), new, COLUMNS)
    new.drop(columns="years_registered").to_parquet(tmp_path / "bare.parquet")
    with pytest.raises(ValueError, match=r"bare.parquet: missing column\(s\) \['years_registered'\]"):
        diff_snapshots(tmp_path / "old.parquet", tmp_path / "bare.parquet", COLUMNS)


def test_diff_without_geography_or_rule():
    old, new = _pair()
    diff = diff_snapshots(old, new, DiffColumns("voter_id"))
    assert (diff.adds, diff.drops, diff.moves, diff.geographies) == (3, 2, 0, ())
    assert diff.new_registrants is None and diff.new_registrant_share is None
    empty = diff_snapshots(old.iloc[:0], new.iloc[:0], DiffColumns("voter_id"))
    assert (empty.adds, empty.add_share, empty.move_share) == (0, None, None)


def test_id_keys_match_across_types():
    keys = id_keys(pd.Series([7.0, None, 12.0]))
    assert keys.tolist() == ["7", None, "12"]
    assert id_keys(pd.Series([" 7", "", "7.0", "V-1"], dtype=object)).tolist() == ["7", None, "7", "V-1"]


def test_config_names_the_rule_and_a_column_outside_the_features_is_allowed():
    spec = load_settings().datasets["voter_turnout"]
    columns = diff_columns(spec)
    assert columns.read == ["voter_id", "county_fips", "years_registered"]
    from modelops.config.settings import config_path

    raw = read_yaml(config_path().read_text())
    raw["datasets"]["voter_turnout"]["scoring"]["new_registrants"] = {
        "column": "registered_on",  # a column of the snapshots that is no feature: read for the rule only
        "max_value": 0,
        "policy": "model",
    }
    assert diff_columns(parse_settings(raw).datasets["voter_turnout"]).read[-1] == "registered_on"
    raw["datasets"]["voter_turnout"]["scoring"]["new_registrants"]["column"] = "voted"
    with pytest.raises(ConfigError, match=r"scoring\.new_registrants\.column: 'voted' is the target"):
        parse_settings(raw)


def _spec() -> DatasetSpec:
    return DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "x"},
        target="voted",
        positive_class=1,
        id_column="voter_id",
        numeric=("years_registered",),
        scoring=DatasetScoring(new_registrants={"column": "years_registered", "max_value": 0, "policy": "model"}),
    )


def test_registrant_coverage_and_error_on_a_known_frame():
    # ids 0..9: 0-3 new registrants, 4-9 the rest. 1 and 5 fall back; 9 has no prediction; 3 and 8 unlabelled.
    snapshot = pd.DataFrame({"voter_id": range(10), "years_registered": [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]})
    scores = [0.9, 0.5, 0.2, 0.6, 0.8, 0.5, 0.3, 0.7, 0.4]
    sources = ["model", "fallback", "model", "model", "canary", "fallback", "model", "model", "model"]
    predictions = pd.DataFrame({"id": [str(i) for i in range(9)], "score": scores, "source": sources})
    labels = pd.DataFrame({"voter_id": [0, 1, 2, 4, 5, 6, 7, 9], "voted": [1, 1, 1, 1, 0, 0, 0, 1]})
    report = registrant_scores(snapshot, predictions, _spec(), fallback_source="fallback", labels=labels)
    new, rest = report.new, report.rest
    assert (new.rows, new.unscored, new.model_rows, new.fallback_rows) == (4, 0, 3, 1)
    assert (rest.rows, rest.unscored, rest.model_rows, rest.fallback_rows) == (6, 1, 4, 1)
    assert new.model_share == pytest.approx(3 / 4) and rest.model_share == pytest.approx(4 / 5)
    # labelled model-scored rows: new = ids 0, 2 (both voted); rest = 4, 6, 7 (id 8 unlabelled, 9 unscored)
    assert (new.labelled, rest.labelled) == (2, 3)
    assert new.brier == pytest.approx(((0.9 - 1) ** 2 + (0.2 - 1) ** 2) / 2)
    assert new.log_loss == pytest.approx(log_loss([1, 1], [0.9, 0.2], labels=[0, 1]))
    assert new.roc_auc is None  # one class only
    assert rest.roc_auc == pytest.approx(roc_auc_score([1, 0, 0], [0.8, 0.3, 0.7]))
    assert rest.brier == pytest.approx(((0.8 - 1) ** 2 + 0.3**2 + 0.7**2) / 3)
    assert report.gap("brier") == pytest.approx(new.brier - rest.brier)
    assert report.gap("roc_auc") is None
    assert report.rule == "years_registered <= 0"
    assert RegistrantScores.from_xcom(json.loads(json.dumps(report.to_xcom()))) == report


def test_registrant_scores_without_labels_and_bad_input():
    snapshot = pd.DataFrame({"voter_id": [1, 2, None], "years_registered": [0, 3, 0]})
    predictions = pd.DataFrame({"id": ["1", "2"], "score": [0.5, 0.5], "source": ["model", "model"]})
    report = registrant_scores(snapshot, predictions, _spec(), fallback_source="fallback")
    assert report.missing_ids == 1
    assert (report.new.rows, report.new.labelled, report.new.log_loss) == (1, 0, None)
    with pytest.raises(ValueError, match=r"predictions: missing column\(s\) \['source'\]"):
        registrant_scores(snapshot, predictions.drop(columns="source"), _spec(), fallback_source="fallback")

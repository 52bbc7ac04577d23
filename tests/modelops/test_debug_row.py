"""Debug one row: stages, checks, score (batch scoring's), exact linear effects, the tree's local method, no PII.

One MLflow store for the module: a logistic champion trained on synthetic voters, and one scored
snapshot built here (a missing number, an out-of-range age, PII columns beside the scored ones).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.core import catalog
from modelops.score import explain
from modelops.score.debug_page import render_html, render_text
from modelops.score.debug_row import RowRefused, debug_row, write_debug
from modelops.score.snapshot import score_snapshot

pytestmark = pytest.mark.slow  # trains a real model against an MLflow store

DATASET = "voter_turnout"
SNAPSHOT = "2028-10-01"
MARKER = "PIIMARK"  # every PII value of the snapshot starts with it: a leak scan finds it anywhere


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """A logistic champion and one scored snapshot (row 0: missing age, row 1: age out of range, PII beside)."""
    root = tmp_path_factory.mktemp("debug_row") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        spec = train_and_promote(settings, 2500, "debug-champion")
        frame = simulate_window(spec, "stable", 300, 11, with_pii=True).drop(columns=[spec.target])
        for column in spec.pii:
            frame[column] = MARKER + frame[column].astype(str)
        frame["age"] = frame["age"].astype("float64")
        frame.loc[0, "age"] = np.nan  # required: falls back (missing:age); the pipeline would impute the median
        frame.loc[1, "age"] = 150  # outside the spec's range: out_of_range:age
        path = catalog.snapshot_inputs(DATASET, SNAPSHOT)
        catalog.write_parquet(frame, path)
        score_snapshot(spec, _settings(settings), snapshot=SNAPSHOT)
        yield {"root": root, "spec": spec, "frame": frame}


@pytest.fixture
def env(store, monkeypatch):
    use_workspace(monkeypatch, store["root"])
    return store


def _settings(settings):
    return dataclasses.replace(settings, scoring=settings.scoring.model_copy(update={"input_roots": ["/"]}))


def _predictions() -> pd.DataFrame:
    return pd.read_parquet(catalog.scoring_dir(DATASET, SNAPSHOT) / catalog.PREDICTIONS)


def _train_fill(settings, column: str) -> tuple[str, float]:
    from modelops.store import registry

    spec = settings.dataset(DATASET)
    version = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    from modelops.store import artifacts

    pipeline = artifacts.load_model(f"models:/{spec.model_name}/{version.version}")
    imputer = pipeline.named_steps["features"].named_transformers_["numeric"].named_steps["impute"]
    return imputer.strategy, float(imputer.statistics_[list(spec.numeric).index(column)])


def test_stages_show_the_training_median_for_a_missing_number(env, settings):
    frame = env["frame"]
    record = debug_row(env["spec"], _settings(settings), id=str(frame.loc[0, "voter_id"]))
    train = pd.read_parquet(catalog.root() / "splits" / DATASET / _split_key() / "train.parquet")
    strategy, fitted = _train_fill(settings, "age")  # the search chooses the imputer's strategy
    ages = train["age"].dropna()
    expected = float(np.median(ages)) if strategy == "median" else float(np.mean(ages))
    assert record.raw["age"] is None or np.isnan(record.raw["age"])
    assert record.stages["numeric/impute"]["age"] == pytest.approx(expected, rel=1e-12)  # fit rows = the train split
    assert record.stages["numeric/impute"]["age"] == fitted
    scaled = record.stages["numeric/scale"]["age"]
    assert scaled != fitted  # the scaler's own output follows the imputer's
    assert any(name.startswith("party_") for name in record.stages["categorical/encode"])


def _split_key() -> str:
    (key,) = [p.name for p in (catalog.root() / "splits" / DATASET).iterdir()]
    return key


def test_linear_effects_plus_intercept_are_the_logit_of_the_score(env, settings):
    frame = env["frame"]
    record = debug_row(env["spec"], _settings(settings), id=str(frame.loc[5, "voter_id"]))
    assert record.source == "model"
    explanation = record.explanation
    assert explanation.method == explain.EXACT_LINEAR
    total = explanation.intercept + sum(e.effect for e in explanation.effects)
    assert abs(total - explain.logit(record.score)) < 1e-9
    assert set(e.column for e in explanation.effects) == set(env["spec"].features)
    effects = [abs(e.effect) for e in explanation.effects]
    assert effects == sorted(effects, reverse=True)


def test_the_score_is_batch_scorings_for_that_row(env, settings):
    frame, predictions = env["frame"], _predictions().set_index("row")
    for position in (0, 1, 2, 7, 42):
        record = debug_row(env["spec"], _settings(settings), id=str(frame.loc[position, "voter_id"]))
        batch = predictions.loc[position]
        assert record.row == position
        assert record.score == batch["score"], position  # the compiled path: the same float
        reason = batch["reason"] if isinstance(batch["reason"], str) else None
        assert (record.source, record.reason) == (batch["source"], reason), position
        assert record.recorded["score"] == batch["score"]


def test_a_failed_check_is_reported_with_batch_scorings_reason(env, settings):
    frame = env["frame"]
    missing = debug_row(env["spec"], _settings(settings), id=str(frame.loc[0, "voter_id"]))
    outside = debug_row(env["spec"], _settings(settings), id=str(frame.loc[1, "voter_id"]))
    assert (missing.source, missing.reason) == ("fallback", "missing:age")
    assert (outside.source, outside.reason) == ("fallback", "out_of_range:age")
    failed = {c.name for c in outside.checks if not c.passed}
    assert failed == {"out_of_range:age"}
    assert {c.name for c in missing.checks if not c.passed} == {"missing:age"}
    passed = debug_row(env["spec"], _settings(settings), id=str(frame.loc[5, "voter_id"]))
    assert all(c.passed for c in passed.checks) and passed.reason is None


def test_no_pii_in_any_output(env, settings):
    spec, frame = env["spec"], env["frame"]
    record = debug_row(spec, _settings(settings), id=str(frame.loc[3, "voter_id"]))
    assert not set(spec.pii) & set(record.raw)
    assert record.id == str(frame.loc[3, "voter_id"])  # the id column is no PII column
    paths = write_debug(record)
    texts = [render_text(record), render_html(record), *(Path(p).read_text(encoding="utf-8") for p in paths.values())]
    for text in texts:
        assert MARKER not in text
        for column in spec.pii:
            assert str(frame.loc[3, column]) not in text
    assert set(record.omitted) == set(spec.pii)
    with pytest.raises(RowRefused, match=r"first_name.*PII") as refused:
        debug_row(spec, _settings(settings), row={"age": 40, "first_name": MARKER + "Ann"})
    assert MARKER not in str(refused.value)


def test_a_given_row_is_validated_naming_the_column_never_the_value(env, settings):
    spec = env["spec"]
    with pytest.raises(RowRefused, match="favourite_colour") as refused:
        debug_row(spec, _settings(settings), row=json.dumps({"age": 40, "favourite_colour": "SECRET-VALUE-9"}))
    assert "SECRET-VALUE-9" not in str(refused.value)
    with pytest.raises(RowRefused, match="'party'") as refused:
        debug_row(spec, _settings(settings), row={"party": {"nested": "SECRET-VALUE-9"}})
    assert "SECRET-VALUE-9" not in str(refused.value)
    with pytest.raises(RowRefused, match="no valid JSON") as refused:
        debug_row(spec, _settings(settings), row='{"age": SECRET-VALUE-9}')
    assert "SECRET-VALUE-9" not in str(refused.value)


def test_an_unknown_id_is_refused_without_echoing_it(env, settings):
    with pytest.raises(RowRefused, match="not in snapshot") as refused:
        debug_row(env["spec"], _settings(settings), id="NO-SUCH-VOTER-77")
    assert "NO-SUCH-VOTER-77" not in str(refused.value)


def test_a_given_row_scores_as_a_one_row_batch(env, settings, tmp_path):
    spec, frame = env["spec"], env["frame"]
    row = frame.loc[9, [c for c in frame.columns if c not in spec.pii]].to_dict()
    row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
    record = debug_row(spec, _settings(settings), row=json.loads(json.dumps(row, default=str)))
    single = tmp_path / "one.parquet"
    pd.DataFrame([frame.loc[9]]).drop(columns=list(spec.pii)).to_parquet(single)
    score_snapshot(spec, _settings(settings), input=str(single), snapshot="0-one-row")
    try:
        batch = pd.read_parquet(catalog.scoring_dir(DATASET, "0-one-row") / catalog.PREDICTIONS)
        # an id without a snapshot reads the snapshot scored last, whatever its name sorts as
        assert debug_row(spec, _settings(settings), id=str(frame.loc[9, "voter_id"])).snapshot == "0-one-row"
    finally:
        shutil.rmtree(catalog.scoring_dir(DATASET, "0-one-row"))
    assert len(batch) == 1
    assert record.score == batch["score"].iloc[0] and record.origin == "given row"


def test_the_local_method_finds_the_column_that_drives_a_tree(settings):
    """A tree model trained where contact_attempts alone decides: the one-at-a-time method ranks it first."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    from modelops.train.features import build_preprocessor

    spec = settings.dataset(DATASET)
    frame = simulate_window(spec, "stable", 3000, 3)
    X = frame[list(spec.features)]
    cut = float(np.median(X["contact_attempts"]))
    y = (X["contact_attempts"] > cut).astype(int).to_numpy()
    pipeline = Pipeline(
        [("features", build_preprocessor(spec)), ("model", HistGradientBoostingClassifier(max_iter=30, random_state=0))]
    ).fit(X, y)
    row = X[X["contact_attempts"] == X["contact_attempts"].max()].iloc[[0]]
    score = float(pipeline.predict_proba(row)[0, 1])
    references = explain.references(pipeline, None, list(spec.numeric), list(spec.categorical))
    explanation = explain.contributions(pipeline, row, score, references)
    assert explanation.method == explain.ONE_AT_A_TIME
    assert explanation.effects[0].column == "contact_attempts"
    assert explanation.effects[0].effect > 1.0 > max(abs(e.effect) for e in explanation.effects[1:])


def test_the_command_prints_a_table_and_refuses_by_name(env, capsys):
    from modelops.score.debug_row import main

    voter = str(env["frame"].loc[1, "voter_id"])
    assert main(["--dataset", DATASET, "--id", voter, "--snapshot", SNAPSHOT]) == 0
    out = capsys.readouterr().out
    assert "reason out_of_range:age" in out and "out_of_range:age  FAIL" in out
    assert "exact_linear: model score" in out and catalog.DEBUG_ROW_HTML in out
    assert MARKER not in out
    assert main(["--dataset", DATASET, "--row", '{"shoe_size": "SECRET-VALUE-9"}']) == 2
    captured = capsys.readouterr()
    assert "shoe_size" in captured.err and "SECRET-VALUE-9" not in captured.err + captured.out


def test_a_champion_moved_outside_the_dags_is_replayed_as_batch_scoring_serves_it(env, settings):
    """The alias removed behind the product's back: batch scoring serves the recorded v1, and so does the debug."""
    from modelops.store import alias_log, tracking

    spec = env["spec"]
    voter = str(env["frame"].loc[5, "voter_id"])
    before = debug_row(spec, _settings(settings), id=voter)
    tracking.client().delete_registered_model_alias(spec.model_name, "champion")
    try:
        assert alias_log.alias_drift(spec.model_name) is not None
        record = debug_row(spec, _settings(settings), id=voter)
    finally:
        tracking.client().set_registered_model_alias(spec.model_name, "champion", before.version)
    assert record.version == before.version and record.score == before.score
    assert any("moved outside the training/promotion DAGs" in note for note in record.notes)

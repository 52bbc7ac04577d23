"""Real-shaped survey files, trained by a spec alone: unlabelled rows, no id, telling gaps, coded categories.

Each dataset is built here with a known answer (which rows have an outcome, what predicts it), written
as a CSV, described by a spec in a temporary parameters file, and run through the real workflow
steps (collect, GX validation, splits, training, evaluation, MLflow registration and aliases).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_training

from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT, load_settings
from modelops.store import artifacts, registry, tracking
from modelops.train.splits import row_keys
from modelops.validate.validation import DataValidationError

pytestmark = pytest.mark.integration
N = 2400


def _respondents(n: int, seed: int) -> pd.DataFrame:
    """A survey's inputs: ideology drives the outcome, age a little."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "resp_id": [f"R{seed}-{i:05d}" for i in range(n)],
            "age": rng.integers(18, 90, n).astype(float),
            "ideology": rng.integers(1, 8, n),
            "educ": rng.integers(1, 6, n),
            "region": rng.choice(["northeast", "south", "midwest", "west"], n),
        }
    )


def _outcome(frame: pd.DataFrame, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 1])
    logit = 0.9 * (frame["ideology"] - 4) + 0.01 * (frame["age"].fillna(50) - 50)
    return rng.random(len(frame)) < 1 / (1 + np.exp(-logit))


def _spec(path, **overrides) -> dict:
    spec = {
        "source": {"kind": "file", "path": str(path)},
        "id_column": "resp_id",
        "target": "vote",
        "numeric": ["age", "ideology"],
        "categorical": ["region", "educ"],
        "protected": {"age": [18, 30, 45, 65, 120]},
        "permitted_uses": ["research"],
        "baseline_rule": {"all": [{"column": "ideology", "op": ">=", "value": 5}]},
        "validation": {
            "row_count": [100, 1_000_000],
            "null_fraction": {"default": 0.0, "age": 0.5, "educ": 0.2},
            "ranges": {"age": [18, 100], "ideology": [1, 7]},
        },
    }
    spec.update(overrides)
    return spec


def _settings(tmp_path, datasets: dict):
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config.pop("forecasts", None)  # the bundled forecast is built on the bundled datasets replaced here
    config["datasets"] = datasets
    config["default_dataset"] = next(iter(datasets))
    path = tmp_path / "surveys.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return load_settings(path), path


def _feature_names(version_or_uri: str) -> list[str]:
    model = artifacts.load_model(version_or_uri)
    return list(model.named_steps["features"].get_feature_names_out())


def test_string_target_with_non_outcome_codes_and_blanks(workspace, tmp_path):
    frame = _respondents(N, seed=1)
    voted = _outcome(frame, seed=1)
    target = np.where(voted, "Y", "N").astype(object)
    codes = np.arange(N) % 20
    target[codes == 0] = "U"  # unknown
    target[codes == 1] = "A"  # absentee, not yet counted
    target[codes == 2] = None  # blank
    frame["vote"] = target
    frame.to_csv(tmp_path / "yn.csv", index=False)
    settings, _ = _settings(
        tmp_path, {"yn_survey": _spec(tmp_path / "yn.csv", labels={"positive": ["Y"], "negative": ["N"]})}
    )
    done = run_training(settings, "yn_survey", "yn-1")
    labels = done["plan"]["labels"]
    unlabelled = int((codes <= 2).sum())
    assert labels["unlabelled"] == unlabelled == 360
    assert labels["other_values"] == {"U": 120, "A": 120}
    assert labels["missing_target"] == 120
    assert labels["positive"] == int(voted[codes > 2].sum())
    assert labels["negative"] == int((~voted[codes > 2]).sum())
    assert sum(done["plan"]["split_rows"].values()) == N - unlabelled
    for part in done["plan"]["splits"].values():
        assert pd.read_parquet(part)["vote"].isin(["Y", "N"]).all()
    version = tracking.client().get_model_version("yn_survey_model", done["outcome"]["version"])
    assert version.tags["modelops.rows_unlabelled"] == "360"
    assert done["outcome"]["promote"] and done["report"]["metrics"]["roc_auc"] > 0.75
    # production scores every row, so the drift reference holds the unlabelled holdout-side rows too
    profile = artifacts.load_profile(done["report"]["best"]["run_id"])
    assert 0 < profile["unlabelled_rows"] < unlabelled
    assert profile["rows"] == done["report"]["holdout_rows"] + profile["unlabelled_rows"]
    calibrated = sum(g["rows"] for g in profile["calibration"]["score"].values())
    assert calibrated == done["report"]["holdout_rows"]  # calibration from labelled rows only


def test_a_third_of_outcomes_missing_is_never_the_negative_class(workspace, tmp_path):
    frame = _respondents(N, seed=2)
    voted = _outcome(frame, seed=2).astype(float)
    missing = np.random.default_rng(3).random(N) < 0.3
    voted[missing] = np.nan  # a CSV blank: the column reads as float
    frame["vote"] = voted
    frame.to_csv(tmp_path / "thirty.csv", index=False)
    settings, _ = _settings(tmp_path, {"thirty": _spec(tmp_path / "thirty.csv", positive_class=1)})
    done = run_training(settings, "thirty", "thirty-1")
    labels = done["plan"]["labels"]
    assert labels["unlabelled"] == labels["missing_target"] == int(missing.sum())
    assert labels["negative"] == int((voted == 0).sum())  # blanks did not join the zeros
    assert done["report"]["holdout_rows"] == done["plan"]["split_rows"]["holdout"]
    summary_labels = done["report"]["labels"]
    assert summary_labels["labelled"] == N - int(missing.sum())


def test_validation_bounds_the_unlabelled_share(workspace, tmp_path):
    frame = _respondents(600, seed=4)
    voted = _outcome(frame, seed=4).astype(float)
    voted[: 600 * 6 // 10] = np.nan
    frame["vote"] = voted
    frame.to_csv(tmp_path / "mostly_blank.csv", index=False)
    settings, _ = _settings(tmp_path, {"blank": _spec(tmp_path / "mostly_blank.csv")})
    with pytest.raises(DataValidationError, match=r"360 of 600 rows \(60.0%\) have no outcome") as caught:
        run_training(settings, "blank", "blank-1")
    assert "at most 50% of rows without an outcome" in str(caught.value)
    assert registry.version_by_alias("blank_model", registry.CHAMPION) is None


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"positive": ["Y"], "negative": ["Y", "N"]}, "both positive and negative"),
        ({"positive": ["Y"], "negative": [None]}, "can never be an outcome"),
        ({"positive": [None]}, "can never be an outcome"),
    ],
)
def test_no_configuration_makes_a_missing_label_an_outcome(tmp_path, labels, message):
    with pytest.raises(ConfigError, match=message):
        _settings(tmp_path, {"bad": _spec(tmp_path / "x.csv", labels=labels)})


def test_yaml_booleans_are_refused_with_a_hint(tmp_path):
    text = DEFAULT_CONFIG_PATH.read_text().replace(
        "labels: {positive: [1], negative: [0]}", "labels: {positive: [yes], negative: [no]}"
    )
    path = tmp_path / "yes_no.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"`yes` is read by YAML as a boolean; quote it \('yes'\)"):
        load_settings(path)


def test_without_an_id_a_retrain_is_judged_only_on_rows_neither_model_saw(workspace, tmp_path):
    first = _respondents(N, seed=5).drop(columns="resp_id")
    first["vote"] = _outcome(first, seed=5).astype(int)
    later = _respondents(800, seed=6).drop(columns="resp_id")
    later["vote"] = _outcome(later, seed=6).astype(int)
    first.to_csv(tmp_path / "wave1.csv", index=False)
    later.to_parquet(tmp_path / "wave2.parquet", index=False)
    spec = _spec(tmp_path / "wave1.csv", id_column=None)
    settings, _ = _settings(tmp_path, {"noid": spec})
    assert any("no id_column" in note for note in settings.dataset("noid").limitations)

    v1 = run_training(settings, "noid", "noid-1")
    assert v1["outcome"]["alias"] == registry.CHAMPION
    v1_trained = artifacts.load_trained_keys(v1["plan"]["parent_run_id"])
    # A retrain with a new wave: rows keep their side, so the new holdout holds none of v1's rows.
    v2 = run_training(settings, "noid", "noid-2", extra=[str(tmp_path / "wave2.parquet")])
    spec = settings.dataset("noid")
    holdout = pd.read_parquet(v2["plan"]["splits"]["holdout"])
    keys = row_keys(holdout, spec)
    assert not np.isin(keys, v1_trained).any()
    v2_trained = artifacts.load_trained_keys(v2["plan"]["parent_run_id"])
    assert not np.isin(keys, v2_trained).any()
    champion = v2["report"]["champion"]
    assert champion["comparison_rows"] == len(holdout) and champion["excluded_rows"] == 0
    # A retrain with a larger holdout fraction takes some of v1's training rows into its holdout:
    # those are left out of the comparison, and the summary says how many.
    v3 = run_training(settings, "noid", "noid-3", training_overrides={"holdout_fraction": 0.5})
    champion = v3["report"]["champion"]
    holdout = pd.read_parquet(v3["plan"]["splits"]["holdout"])
    overlap = int(np.isin(row_keys(holdout, spec), v1_trained).sum())
    assert overlap > 100
    assert champion["excluded_rows"] == overlap
    assert champion["comparison_rows"] == len(holdout) - overlap
    assert champion["bootstrap"]["rows"] == len(holdout) - overlap


def test_missingness_that_predicts_the_outcome_is_kept_as_a_feature(workspace, tmp_path):
    frame = _respondents(N, seed=7)
    rng = np.random.default_rng(8)
    refused = rng.random(N) < 0.35  # refused to give an age: in this survey, a strong sign of not voting
    frame.loc[refused, "age"] = np.nan
    frame["ideology"] = 4  # nothing else carries signal
    frame["vote"] = np.where(refused, rng.random(N) < 0.1, rng.random(N) < 0.8).astype(int)
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    spec = _spec(tmp_path / "gaps.csv", baseline_rule={"all": [{"column": "educ", "op": ">=", "value": 3}]})
    spec["validation"]["ranges"] = {"age": [18, 100]}
    settings, _ = _settings(tmp_path, {"gaps": spec})
    done = run_training(settings, "gaps", "gaps-1")
    assert "missingindicator_age" in _feature_names(done["report"]["best"]["model_uri"])
    assert done["report"]["metrics"]["roc_auc"] > 0.8
    without = run_training(settings, "gaps", "gaps-2", training_overrides={"missing_indicators": False})
    assert "missingindicator_age" not in _feature_names(without["report"]["best"]["model_uri"])
    assert without["report"]["metrics"]["roc_auc"] < 0.65  # median imputation alone loses the signal


def test_integer_category_codes_with_a_gap(workspace, tmp_path):
    frame = _respondents(N, seed=9)
    frame["vote"] = _outcome(frame, seed=9).astype(int)
    frame["educ"] = frame["educ"].astype(float)
    # the CSV now holds 1.0, 2.0 ... and blanks; one row in ten blank: frequent enough to stay a level of its own
    # whatever the searched `prep__min_frequency` (rarer levels are pooled)
    frame.loc[::10, "educ"] = np.nan
    frame.to_csv(tmp_path / "codes.csv", index=False)
    spec = _spec(tmp_path / "codes.csv")
    spec["validation"]["categories"] = {"educ": [1, 2, 3, 4, 5]}
    settings, _ = _settings(tmp_path, {"codes": spec})
    done = run_training(settings, "codes", "codes-1")
    names = _feature_names(done["report"]["best"]["model_uri"])
    assert {"educ_1.0", "educ_5.0"} <= set(names)
    assert "educ_nan" in names  # missing is a level of its own, not a code
    # Same data and configuration again: not registered a second time, and it says so.
    again = run_training(settings, "codes", "codes-2")
    assert again["outcome"]["duplicate_of"] == done["outcome"]["version"]
    assert "not registered again" in again["outcome"]["reasons"][0]
    assert len(tracking.client().search_model_versions("name = 'codes_model'")) == 1


def test_a_row_filter_defines_the_population_and_is_on_record(workspace, tmp_path):
    frame = _respondents(N, seed=10)
    frame["vote"] = _outcome(frame, seed=10).astype(int)
    frame["status"] = np.where(np.arange(N) % 4 == 0, "inactive", "active")
    frame.to_csv(tmp_path / "filtered.csv", index=False)
    spec = _spec(tmp_path / "filtered.csv")
    spec["source"]["filter"] = [
        {"column": "status", "op": "==", "value": "active"},
        {"column": "age", "op": "not_null"},
    ]
    settings, _ = _settings(tmp_path, {"filtered": spec})
    done = run_training(settings, "filtered", "filtered-1")
    assert done["batch"].rows == N - N // 4
    assert done["batch"].join_report["filter"]["rows_after"] == N - N // 4
    tags = tracking.client().get_run(done["plan"]["parent_run_id"]).data.tags
    assert tags["modelops.row_filter"] == "status == 'active' and age not_null"
    import mlflow.artifacts

    resolved = mlflow.artifacts.load_dict(f"runs:/{done['plan']['parent_run_id']}/resolved_config.json")
    assert resolved["dataset"]["source"]["filter"] == spec["source"]["filter"]
    assert resolved["dataset"]["source"]["resolved_path"] == str(tmp_path / "filtered.csv")
    assert resolved["training"]["search"]["max_rounds"] >= 1


def test_a_panel_where_voters_recur_every_cycle_can_replace_its_champion(workspace, tmp_path):
    """The same voter id in every cycle: a row is (voter, cycle), so the new cycle's holdout is fresh."""
    voters = _respondents(1500, seed=20)
    cycles = []
    for year in (2020, 2022, 2024):
        wave = voters.assign(cycle=year)
        wave["vote"] = _outcome(wave, seed=year).astype(int)
        cycles.append(wave)
    pd.concat(cycles[:2]).to_csv(tmp_path / "panel.csv", index=False)
    cycles[2].to_parquet(tmp_path / "cycle2024.parquet", index=False)
    settings, _ = _settings(tmp_path, {"panel": _spec(tmp_path / "panel.csv", time_column="cycle")})
    run_training(settings, "panel", "panel-1")
    v2 = run_training(settings, "panel", "panel-2", extra=[str(tmp_path / "cycle2024.parquet")])
    champion = v2["report"]["champion"]
    assert "error" not in champion, champion.get("error")
    assert champion["excluded_rows"] == 0 and champion["comparison_rows"] == v2["report"]["holdout_rows"]


def test_extra_batches_keep_the_population_the_filter_defines(workspace, tmp_path):
    frame = _respondents(N, seed=21)
    frame["vote"] = _outcome(frame, seed=21).astype(int)
    frame["status"] = "active"
    extra = _respondents(400, seed=22).assign(vote=1, status=["active", "inactive"] * 200)
    frame.to_csv(tmp_path / "main.csv", index=False)
    extra.to_parquet(tmp_path / "extra.parquet", index=False)
    spec = _spec(tmp_path / "main.csv")
    spec["source"]["filter"] = [{"column": "status", "op": "==", "value": "active"}]
    settings, _ = _settings(tmp_path, {"pop": spec})
    from modelops.collect.sources import collect_batch

    batch = collect_batch(settings.dataset("pop"), extra_paths=[str(tmp_path / "extra.parquet")])
    assert batch.rows == N + 200
    assert batch.join_report["extra_filter"]["applied_to"] == [str(tmp_path / "extra.parquet")]


def test_a_filter_on_a_column_the_file_lacks_names_it(workspace, tmp_path):
    frame = _respondents(300, seed=11)
    frame["vote"] = 1
    frame.to_csv(tmp_path / "f.csv", index=False)
    spec = _spec(tmp_path / "f.csv")
    spec["source"]["filter"] = [{"column": "status", "op": "==", "value": "active"}]
    settings, _ = _settings(tmp_path, {"f": spec})
    from modelops.collect.sources import SourceError, collect_batch

    with pytest.raises(SourceError, match=r"dataset 'f': source.filter\[0\] names column 'status'"):
        collect_batch(settings.dataset("f"))


def test_every_column_a_spec_names_is_checked_at_load(tmp_path):
    spec = _spec(tmp_path / "x.csv")
    spec["validation"]["ranges"]["agee"] = [0, 1]
    with pytest.raises(ConfigError, match=r"datasets.x.validation.ranges: column 'agee' is not one of"):
        _settings(tmp_path, {"x": spec})
    spec = _spec(tmp_path / "x.csv", baseline_rule={"all": [{"column": "party", "op": "==", "value": "D"}]})
    with pytest.raises(ConfigError, match=r"datasets.x.baseline_rule: column 'party'"):
        _settings(tmp_path, {"x": spec})


def test_the_bundled_examples_still_load():
    assert REPO_ROOT.joinpath("include", "data", "anes96.csv").exists()
    assert load_settings().dataset("anes96_vote").negative_labels == (0,)


def test_a_new_survey_csv_with_blank_outcomes_runs_through_the_training_dag(
    airflow_db, workspace, tmp_path, monkeypatch
):
    """Done means: a spec added to the YAML is all it takes (real Airflow, real GX, real MLflow)."""
    from airflow.dag_processing.dagbag import DagBag

    from modelops.core.handoffs import PROMOTE_TASK_ID, TRAINING_DAG_ID

    frame = _respondents(N, seed=12)
    target = np.where(_outcome(frame, seed=12), "Y", "N").astype(object)
    target[np.arange(N) % 5 == 0] = None  # a fifth of the outcomes are blank
    target[np.arange(N) % 7 == 1] = "DK"  # "don't know" is not an outcome
    frame["vote"] = target
    frame.to_csv(tmp_path / "new_survey.csv", index=False)
    _, path = _settings(
        tmp_path, {"new_survey": _spec(tmp_path / "new_survey.csv", labels={"positive": ["Y"], "negative": ["N"]})}
    )
    monkeypatch.setenv("MODELOPS_CONFIG", str(path))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    run = bag.get_dag(TRAINING_DAG_ID).test(run_conf={"dataset": "new_survey", "candidates": ["logistic_regression"]})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert states[PROMOTE_TASK_ID] == "success"
    champion = registry.version_by_alias("new_survey_model", registry.CHAMPION)
    unlabelled = int(pd.isna(target).sum() + (target == "DK").sum())
    assert champion.tags["modelops.rows_unlabelled"] == str(unlabelled)
    summary = (workspace / "runs" / "new_survey" / "latest.txt").read_text()
    assert f"{unlabelled} unlabelled" in summary and "'DK'" in summary
    assert "slices of the best candidate" in summary


# --- monitored by spec alone ---------------------------------------------------------------------


def _monitor(settings, dataset: str, window_id: str) -> dict:
    """The champion serves the snapshot (as the scoring DAG does), then one monitoring step as the DAG runs
    it; returns the window's report.json."""
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    from modelops.pipelines import monitoring_flow
    from modelops.score.snapshot import score_snapshot
    from modelops.store import history

    spec = settings.dataset(dataset)
    score_snapshot(spec, settings, snapshot=window_id)
    rows = history.read_monitoring_history(spec.name)
    outcome = monitoring_flow.monitor_window(spec, settings, window_id, None, False, datetime.now(UTC), "tests", rows)
    verdict = monitoring_flow.record_verdict(outcome, "tests")
    return json.loads(Path(verdict.report_path).with_name("report.json").read_text()) | {"outcome": verdict.to_xcom()}


def test_a_survey_with_non_outcome_codes_is_monitored_on_its_labelled_rows(workspace, tmp_path):
    from modelops.core import catalog

    frame = _respondents(N, seed=13)
    frame["vote"] = np.where(_outcome(frame, seed=13), "Y", "N")
    frame.to_csv(tmp_path / "panel.csv", index=False)
    settings, _ = _settings(
        tmp_path, {"panel": _spec(tmp_path / "panel.csv", labels={"positive": ["Y"], "negative": ["N"]})}
    )
    run_training(settings, "panel", "panel-1")
    spec = settings.dataset("panel")
    window = _respondents(1500, seed=14)
    outcome = np.where(_outcome(window, seed=14), "Y", "N").astype(object)
    outcome[::10] = "U"
    outcome[1::10] = None
    catalog.write_parquet(window, catalog.snapshot_inputs(spec.name, "2026-11-w1"))
    catalog.write_parquet(window[["resp_id"]].assign(vote=outcome), catalog.snapshot_labels(spec.name, "2026-11-w1"))
    report = _monitor(settings, "panel", "2026-11-w1")
    labelled = report["labelled"]
    assert labelled["delivered_rows"] == 1500
    assert labelled["unlabelled_rows"] == 300 and labelled["rows"] == 1200
    assert labelled["unlabelled_values"] == {"U": 150}
    assert report["outcome"]["action"] == "none", report["reasons"]  # the same world: nothing to do


def test_without_an_id_labels_come_with_the_inputs_or_monitoring_says_why(workspace, tmp_path):
    from modelops.core import catalog

    frame = _respondents(N, seed=15).drop(columns="resp_id")
    frame["vote"] = _outcome(frame, seed=15).astype(int)
    frame.to_csv(tmp_path / "anon.csv", index=False)
    settings, _ = _settings(tmp_path, {"anon": _spec(tmp_path / "anon.csv", id_column=None)})
    run_training(settings, "anon", "anon-1")
    spec = settings.dataset("anon")
    window = _respondents(1200, seed=16).drop(columns="resp_id")
    window["vote"] = _outcome(window, seed=16).astype(int)
    # w1: labels arrived on their own, with nothing to join them on
    catalog.write_parquet(window.drop(columns="vote"), catalog.snapshot_inputs(spec.name, "w1"))
    catalog.write_parquet(window[["vote"]], catalog.snapshot_labels(spec.name, "w1"))
    report = _monitor(settings, "anon", "w1")
    assert report["labelled"] is None
    assert report["labelled_status"].startswith(
        "labelled monitoring skipped: labels arrived for w1 but the spec has no"
    )
    # w2: delivered with the inputs beside the target: judged
    catalog.write_parquet(window.drop(columns="vote"), catalog.snapshot_inputs(spec.name, "w2"))
    catalog.write_parquet(window, catalog.snapshot_labeled(spec.name, "w2"))
    report = _monitor(settings, "anon", "w2")
    assert report["labelled"]["rows"] == 1200 and report["labelled"]["judged"]


def test_integer_codes_that_gained_a_gap_do_not_look_like_drift(workspace, tmp_path):
    from modelops.core import catalog

    frame = _respondents(N, seed=17)
    frame["vote"] = _outcome(frame, seed=17).astype(int)
    frame.to_csv(tmp_path / "coded.csv", index=False)  # educ as clean integers
    settings, _ = _settings(tmp_path, {"coded": _spec(tmp_path / "coded.csv")})
    run_training(settings, "coded", "coded-1")
    window = _respondents(1500, seed=18)
    window["educ"] = window["educ"].astype(float)
    window.loc[window.index[0], "educ"] = np.nan  # one gap: the extract now reads 1.0, 2.0, ...
    catalog.write_parquet(window, catalog.snapshot_inputs("coded", "w1"))
    report = _monitor(settings, "coded", "w1")
    educ = report["data_drift"]["columns"]["educ"]
    assert educ["unseen"] == [] and not educ["drifted"]
    assert report["outcome"]["action"] == "none", report["reasons"]


def test_unlabelled_respondents_who_skipped_a_block_are_served_by_the_model(workspace, tmp_path):
    """A third of the outcomes blank, and most of those respondents skipped a block of questions: the model
    (its imputation and was-missing indicators) serves them; the rule serves no one for a shifted crowd."""
    from modelops.core import catalog
    from modelops.score.snapshot import score_snapshot

    n = 6000
    rng = np.random.default_rng(21)
    frame = _respondents(n, seed=21)
    block = ["q_trust", "q_economy", "q_interest"]
    for i, column in enumerate(block):
        frame[column] = np.clip(frame["ideology"] + rng.integers(-1, 2, n) + i % 2, 1, 7).astype(float)
    frame["vote"] = _outcome(frame, seed=21).astype(float)
    unlabelled = rng.random(n) < 1 / 3
    frame.loc[unlabelled, "vote"] = np.nan
    skipped = unlabelled & (rng.random(n) < 0.8)  # most of the unlabelled skipped the block
    frame.loc[skipped, block] = np.nan
    frame.to_csv(tmp_path / "survey.csv", index=False)
    spec = _spec(
        tmp_path / "survey.csv",
        positive_class=1,
        numeric=["age", "ideology", *block],
        validation={
            "row_count": [100, 1_000_000],
            "null_fraction": {"default": 0.0, "age": 0.5, "educ": 0.2, **dict.fromkeys(block, 0.4)},
            "ranges": {"age": [18, 100], "ideology": [1, 7], **{c: [1, 7] for c in block}},
            "max_unlabelled_share": 0.5,
        },
    )
    settings, _ = _settings(tmp_path, {"block_survey": spec})
    done = run_training(settings, "block_survey", "block-1")
    assert done["outcome"]["alias"] == registry.CHAMPION
    # production: the respondents without an outcome, the rows a campaign most wants scored
    production = catalog.production_dir("block_survey")
    production.mkdir(parents=True, exist_ok=True)
    wanted = frame.loc[unlabelled].drop(columns="vote").reset_index(drop=True)
    wanted.to_parquet(production / "unlabelled.parquet", index=False)
    result = score_snapshot(
        settings.dataset("block_survey"), settings, str(production / "unlabelled.parquet"), snapshot="unlabelled"
    )
    rows = len(wanted)
    assert rows >= settings.scoring.score_check_min_rows  # the chunk is big enough to be judged
    assert result["sources"] == {"model": rows, "fallback": 0, "canary": 0}, result["fallback_reasons"]
    out = pd.concat(pd.read_parquet(p) for p in sorted((Path(result["folder"]) / "predictions").glob("*.parquet")))
    answered_none = wanted[block].isna().all(axis=1).to_numpy()
    assert answered_none.sum() > 0.7 * rows
    served = out.set_index("row").loc[np.flatnonzero(answered_none)]
    assert (served["source"] == "model").all() and served["reason"].isna().all()
    # distinct scores: the model, not a two-value rule, answered for the skipped block
    assert served["score"].nunique() > 20
    manifest = json.loads(Path(result["manifest"]).read_text())
    # their scores differ from the holdout's (the old whole-chunk swap fired at PSI >= 0.25): an alert, no swap
    assert manifest["score_shift"]["chunks_shifted"] == 1 and manifest["score_shift"]["max_psi"] >= 0.25
    assert any("PSI" in alert and "the model served them" in alert for alert in manifest["alerts"])


def _user_file(tmp_path, datasets: dict):
    """A user's own file beside the bundled one: only their datasets, nothing repeated."""
    path = tmp_path / "ours.yaml"
    path.write_text(yaml.safe_dump({"datasets": datasets}, sort_keys=False))
    return path


def test_a_real_survey_with_scattered_gaps_passes_on_the_documented_defaults(workspace, tmp_path, monkeypatch):
    """No validation section at all: the built-in missing-value limit lets it through, and says so."""
    frame = _respondents(N, seed=21)
    frame["vote"] = _outcome(frame, seed=21).astype(int)
    rng = np.random.default_rng(22)
    frame.loc[rng.random(N) < 0.08, "age"] = np.nan  # skipped questions, scattered
    frame["educ"] = frame["educ"].astype(float)
    frame.loc[rng.random(N) < 0.03, "educ"] = np.nan
    frame.to_csv(tmp_path / "gappy.csv", index=False)
    spec = {k: v for k, v in _spec(tmp_path / "gappy.csv").items() if k != "validation"}
    monkeypatch.setenv("MODELOPS_CONFIG", str(_user_file(tmp_path, {"gappy": spec})))
    settings = load_settings()
    done = run_training(settings, "gappy", "gappy-1")
    warnings = done["validation"].warnings
    assert [w.split(":")[0] for w in warnings] == ["age", "educ"]  # the columns with gaps, nothing else
    assert "allowed up to 50% by the built-in default" in warnings[0]
    page = (Path(done["validation"].report_dir) / "report.html").read_text()
    assert "Warnings" in page and "set validation.null_fraction.age to pin the limit" in page
    assert done["outcome"]["version"]


def test_editing_one_dataset_leaves_anothers_identical_retrain_unregistered(workspace, tmp_path, monkeypatch):
    frames = {}
    for name, seed in (("first", 31), ("second", 32)):
        frames[name] = _respondents(N, seed=seed)
        frames[name]["vote"] = _outcome(frames[name], seed=seed).astype(int)
        frames[name].to_csv(tmp_path / f"{name}.csv", index=False)
    specs = {name: _spec(tmp_path / f"{name}.csv") for name in frames}
    monkeypatch.setenv("MODELOPS_CONFIG", str(_user_file(tmp_path, specs)))
    before = load_settings()
    done = run_training(before, "second", "second-1")
    # the owner of `first` changes its spec: a new range and another fallback rule
    specs["first"]["validation"]["ranges"]["age"] = [18, 95]
    specs["first"]["baseline_rule"] = {"all": [{"column": "ideology", "op": ">=", "value": 6}]}
    _user_file(tmp_path, specs)
    settings = load_settings()
    assert settings.digest_for("first") != before.digest_for("first")
    assert settings.digest_for("second") == before.digest_for("second")
    again = run_training(settings, "second", "second-2")
    assert again["outcome"]["duplicate_of"] == done["outcome"]["version"]
    assert "not registered again" in again["outcome"]["reasons"][0]
    assert len(tracking.client().search_model_versions("name = 'second_model'")) == 1

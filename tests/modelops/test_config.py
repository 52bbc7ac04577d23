"""Unit tests for modelops.config: loading the parameters file, its checks and the dataset specs."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT, DatasetSpec, config_path, load_settings
from modelops.core import catalog

MINIMAL = {
    "default_dataset": "alpha",
    "training": {"seed": 1, "candidates": ["logistic_regression"]},
    "search_spaces": {"logistic_regression": {"C": {"log_uniform": [0.1, 1.0]}}},
    "evaluation": {"primary_metric": "roc_auc"},
    "datasets": {
        "alpha": {
            "description": "first",
            "source": {"kind": "file", "path": "{raw}/alpha.csv"},
            "id_column": "id",
            "time_column": "year",
            "target": "label",
            "positive_class": "yes",
            "numeric": ["age", "income"],
            "categorical": ["region"],
            "protected": {"age": [18, 65, 120], "gender": None},
            "pii": ["name"],
            "permitted_uses": ["research"],
            "baseline_rule": {"all": [{"column": "income", "op": ">", "value": 10}]},
        },
        "beta": {
            "source": {"kind": "sql", "conn_id": "warehouse", "query": "select 1"},
            "target": "y",
            "numeric": ["x"],
            "permitted_uses": ["research"],
        },
    },
}


def _write(tmp_path, raw, name="modelops.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _with(mutate):
    raw = copy.deepcopy(MINIMAL)
    mutate(raw)
    return raw


# --- the bundled file ------------------------------------------------------------------------


def test_bundled_config_loads():
    settings = load_settings(DEFAULT_CONFIG_PATH)
    assert settings.default_dataset == "voter_turnout"
    assert {"voter_turnout", "anes96_vote"} <= set(settings.datasets)
    assert set(settings.training.candidates) <= set(settings.search_spaces)
    assert settings.evaluation.primary_metric == "roc_auc"
    assert len(settings.digest) == 64
    int(settings.digest, 16)


def test_bundled_voter_spec_roles():
    spec = load_settings(DEFAULT_CONFIG_PATH).dataset("voter_turnout")
    assert spec.target == "voted"
    assert spec.id_column == "voter_id"
    assert spec.time_column == "cycle"
    assert spec.model_name == "voter_turnout_model"
    assert spec.source["kind"] == "synthetic_voters"
    assert spec.features == [*spec.numeric, *spec.categorical]
    assert not set(spec.pii) & set(spec.features)
    assert "first_name" in spec.pii
    assert spec.protected["age"] == [18, 30, 45, 65, 120]
    assert spec.protected["race_ethnicity"] is None
    assert "race_ethnicity" not in spec.features
    kept = spec.kept_columns
    assert kept[:3] == ["voter_id", "cycle", "voted"]
    assert len(kept) == len(set(kept))  # age is a feature and protected: kept once
    assert "race_ethnicity" in kept
    assert not set(spec.pii) & set(kept)


def test_bundled_file_spec_resolves_repo_path():
    spec = load_settings(DEFAULT_CONFIG_PATH).dataset("anes96_vote")
    assert spec.time_column is None
    path = spec.resolve_path(spec.source["path"])
    assert path == REPO_ROOT / "include" / "data" / "anes96.csv"
    assert path.exists()


def test_default_config_path(monkeypatch):
    monkeypatch.delenv("MODELOPS_CONFIG", raising=False)
    assert config_path() == DEFAULT_CONFIG_PATH.resolve()


def test_a_user_file_adds_to_the_bundled_one(tmp_path, monkeypatch):
    bundled = load_settings(DEFAULT_CONFIG_PATH)
    user = {
        "monitoring": {"cooldown_hours": 6},
        "datasets": {"alpha": MINIMAL["datasets"]["alpha"], "anes96_vote": {"description": "ours now"}},
    }
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, user)))
    settings = load_settings()
    assert config_path() == (tmp_path / "modelops.yaml").resolve()
    assert set(settings.datasets) == set(bundled.datasets) | {"alpha"}
    assert settings.training == bundled.training  # nothing repeated, nothing lost
    assert settings.monitoring.cooldown_hours == 6  # one key overridden ...
    assert settings.monitoring.persistence == bundled.monitoring.persistence  # ... its neighbours kept
    anes = settings.dataset("anes96_vote")
    assert anes.description == "ours now" and anes.features == bundled.dataset("anes96_vote").features
    assert settings.default_dataset == bundled.default_dataset
    assert settings.digest_for("voter_turnout") == bundled.digest_for("voter_turnout")


def test_several_user_files_layer_in_order_and_null_removes_a_dataset(tmp_path, monkeypatch):
    first = _write(
        tmp_path, {"datasets": {"alpha": MINIMAL["datasets"]["alpha"]}, "default_dataset": "alpha"}, "1.yaml"
    )
    second = _write(
        tmp_path,
        {"datasets": {"voter_turnout": None, "voter_support": None}, "monitoring": {"persistence": 5}},
        "2.yaml",
    )
    monkeypatch.setenv("MODELOPS_CONFIG", f"{first}:{second}")
    settings = load_settings()
    assert "voter_turnout" not in settings.datasets and "alpha" in settings.datasets
    assert settings.default_dataset == "alpha" and settings.monitoring.persistence == 5
    assert str(second) in settings.path and str(DEFAULT_CONFIG_PATH) in settings.path


def test_a_config_error_names_the_user_file_that_caused_it(tmp_path, monkeypatch):
    bad = _with(lambda r: r["datasets"]["alpha"].update(numeric="age"))
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, {"datasets": bad["datasets"]})))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"{tmp_path / 'modelops.yaml'}: datasets.alpha")
    monkeypatch.setenv("MODELOPS_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match=r"missing.yaml: no such file \(named by MODELOPS_CONFIG\)"):
        load_settings()


def test_the_cli_prints_a_config_error_plainly(tmp_path):
    import os
    import subprocess
    import sys

    path = _write(tmp_path, {"training": {"seed": "one"}})
    env = {**os.environ, "MODELOPS_CONFIG": str(path), "PYTHONPATH": str(REPO_ROOT / "include")}
    done = subprocess.run([sys.executable, "-m", "modelops.config"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == f"configuration error: {path.resolve()}: training.seed: expected int, got 'one'"
    env["MODELOPS_CONFIG"] = ""
    done = subprocess.run([sys.executable, "-m", "modelops.config"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "anes96_vote" in done.stdout


# --- a hand-made file ------------------------------------------------------------------------


def test_minimal_file_fields_and_defaults(tmp_path):
    settings = load_settings(_write(tmp_path, MINIMAL))
    alpha = settings.dataset("alpha")
    assert alpha.features == ["age", "income", "region"]
    assert alpha.positive_class == "yes"
    assert alpha.pii == ("name",)
    assert alpha.kept_columns == ["id", "year", "label", "age", "income", "region", "gender"]
    beta = settings.dataset("beta")
    assert beta.positive_class == 1
    assert beta.description == ""
    assert beta.id_column is None
    assert beta.time_column is None
    assert beta.protected == {}
    assert beta.pii == ()
    assert beta.kept_columns == ["y", "x"]


def test_default_dataset_falls_back_to_the_first(tmp_path):
    raw = _with(lambda r: r.pop("default_dataset"))
    assert load_settings(_write(tmp_path, raw)).default_dataset == "alpha"


def test_raw_dir_and_resolve_path_follow_the_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "ws"))
    assert catalog.root() == (tmp_path / "ws").resolve()
    spec = load_settings(_write(tmp_path, MINIMAL)).dataset("alpha")
    assert spec.raw_dir() == (tmp_path / "ws").resolve() / "raw" / "alpha"
    raw_dir = (tmp_path / "ws").resolve() / "raw" / "alpha"
    assert spec.resolve_path(spec.source["path"]) == raw_dir / "alpha.csv"
    assert spec.resolve_path("{repo}/x.csv") == REPO_ROOT / "x.csv"


def test_specs_are_immutable(tmp_path):
    spec = load_settings(_write(tmp_path, MINIMAL)).dataset("alpha")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.target = "other"


def test_a_datasets_identity_is_its_own(tmp_path):
    first = load_settings(_write(tmp_path, MINIMAL, "a.yaml"))
    reordered = dict(reversed(list(copy.deepcopy(MINIMAL).items())))
    assert load_settings(_write(tmp_path, reordered, "b.yaml")).digest_for("alpha") == first.digest_for("alpha")
    # another dataset's spec changed: alpha's identity is untouched, beta's moves
    other = load_settings(_write(tmp_path, _with(lambda r: r["datasets"]["beta"].update(numeric=["x", "z"])), "c.yaml"))
    assert other.digest_for("alpha") == first.digest_for("alpha")
    assert other.digest_for("beta") != first.digest_for("beta")
    # prose and operating options of alpha do not change its model either
    prose = _with(lambda r: r["datasets"]["alpha"].update(description="reworded", monitoring={"min_distinct_rows": 9}))
    assert load_settings(_write(tmp_path, prose, "d.yaml")).digest_for("alpha") == first.digest_for("alpha")
    # what shapes the model does: alpha's features, the training section
    for mutate in (
        lambda r: r["datasets"]["alpha"].update(categorical=[]),
        lambda r: r["training"].update(seed=2),
    ):
        changed = load_settings(_write(tmp_path, _with(mutate), "e.yaml"))
        assert changed.digest_for("alpha") != first.digest_for("alpha")


# --- errors ----------------------------------------------------------------------------------


def test_unknown_dataset_lists_known_ones(tmp_path):
    settings = load_settings(_write(tmp_path, MINIMAL))
    with pytest.raises(ConfigError, match=r"unknown dataset 'gamma'; configured datasets: alpha, beta"):
        settings.dataset("gamma")


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_pii_listed_as_feature_is_rejected(tmp_path):
    raw = _with(lambda r: r["datasets"]["alpha"]["categorical"].append("name"))
    with pytest.raises(ConfigError, match=r"datasets.alpha: PII columns listed as features: \['name'\]"):
        load_settings(_write(tmp_path, raw))


@pytest.mark.parametrize("column", ["label", "id", "year"])
def test_target_id_or_time_listed_as_feature_is_rejected(tmp_path, column):
    raw = _with(lambda r: r["datasets"]["alpha"]["numeric"].append(column))
    with pytest.raises(ConfigError, match=rf"target/id/time columns listed as features: \['{column}'\]"):
        load_settings(_write(tmp_path, raw))


def test_dataset_without_features_is_rejected(tmp_path):
    raw = _with(lambda r: r["datasets"]["beta"].pop("numeric"))
    with pytest.raises(ConfigError, match=r"datasets\.beta: no numeric or categorical features"):
        load_settings(_write(tmp_path, raw))


def test_source_without_kind_is_rejected(tmp_path):
    raw = _with(lambda r: r["datasets"]["beta"]["source"].pop("kind"))
    with pytest.raises(ConfigError, match="source needs a `kind`"):
        load_settings(_write(tmp_path, raw))


def test_unknown_rule_operator_is_rejected(tmp_path):
    raw = _with(lambda r: r["datasets"]["alpha"]["baseline_rule"]["all"][0].update(op="=~"))
    with pytest.raises(ConfigError, match=r"baseline_rule\[0\]: unknown op '=~'"):
        load_settings(_write(tmp_path, raw))


def test_unknown_candidate_is_rejected(tmp_path):
    raw = _with(lambda r: r["training"]["candidates"].extend(["xgboost", "svm"]))
    expected = r"training candidates without a search space: \['svm', 'xgboost'\]"
    with pytest.raises(ConfigError, match=expected):
        load_settings(_write(tmp_path, raw))


def test_dataset_spec_features_order_is_numeric_then_categorical():
    spec = DatasetSpec(
        name="d",
        description="",
        source={"kind": "file"},
        target="t",
        positive_class=1,
        numeric=("b", "a"),
        categorical=("z", "c"),
    )
    assert spec.features == ["b", "a", "z", "c"]
    assert spec.kept_columns == ["t", "b", "a", "z", "c"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r["training"].update(holdout_fraction=1.0), r"holdout_fraction: must be strictly between 0 and 1"),
        (lambda r: r["training"].update(calibration_fraction=0), r"calibration_fraction: must be strictly between"),
        (lambda r: r["training"].update(candidates=["xgboost"]), r"without a search space|unknown model families"),
        (lambda r: r["datasets"]["alpha"].update(validation={"row_count": 100}), r"row_count: expected \[min, max\]"),
        (lambda r: r["datasets"]["alpha"].update(validation={"ranges": {"age": 18}}), r"ranges.age: expected"),
        (lambda r: r["datasets"]["alpha"].update(validation={"null_fraction": {"age": 5}}), r"null_fraction.age"),
        (lambda r: r["datasets"]["alpha"].update(validation={"categories": {"region": "DEM"}}), r"categories.region"),
        (lambda r: r["datasets"]["alpha"].update(id_column="label"), r"must be different columns"),
        (lambda r: r["datasets"]["alpha"].update(target=None), r"missing required key 'target'"),
        (lambda r: r["datasets"]["alpha"]["protected"].update(age=[18, "x"]), r"strictly increasing list of numbers"),
        (lambda r: r["datasets"]["alpha"]["protected"].update(age=[18, 18, 30]), r"strictly increasing"),
        (
            lambda r: r["datasets"]["alpha"]["source"].update(filter={"column": "a", "op": "==", "value": 1}),
            r"write a list of conditions",
        ),
        (
            lambda r: (
                r["datasets"]["alpha"].pop("positive_class"),
                r["datasets"]["alpha"].update(labels={"positive": [1], "negative": ["1.0"]}),
            ),
            r"both positive and negative \(compared by value\)",
        ),
        (
            lambda r: (
                r["datasets"]["alpha"].pop("positive_class"),
                r["datasets"]["alpha"].update(labels={"positive": ["Y"], "negative": ["", "N"]}),
            ),
            r"'' is a missing value",
        ),
    ],
)
def test_invalid_sections_are_refused_with_a_message_naming_them(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, _with(mutate)))


def test_a_key_left_empty_takes_its_default(tmp_path):
    settings = load_settings(_write(tmp_path, _with(lambda r: r["training"].update(holdout_fraction=None))))
    assert settings.training.holdout_fraction == 0.25


def test_every_scoring_option_can_be_set_for_one_dataset(tmp_path):
    raw = _with(
        lambda r: (
            r.update(scoring={"shadow_sample": 0.2}),
            r["datasets"]["alpha"].update(scoring={"score_guard": "psi", "shadow_sample": 0.5, "chunk_rows": 1000}),
        )
    )
    settings = load_settings(_write(tmp_path, raw))
    alpha, beta = settings.scoring_for("alpha"), settings.scoring_for("beta")
    assert (alpha.score_guard, alpha.shadow_sample, alpha.chunk_rows) == ("psi", 0.5, 1000)
    assert (beta.score_guard, beta.shadow_sample) == ("none", 0.2)  # the section's own, untouched
    assert settings.resolved("alpha")["scoring"]["score_guard"] == "psi"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"score_guard": "always"}, r"datasets.alpha.scoring.score_guard: one of \['none', 'psi'\]"),
        ({"shadow_sample": 0}, r"datasets.alpha.scoring.shadow_sample: a share \(0 < x <= 1"),
        ({"max_id_problem_share": 2}, r"datasets.alpha.scoring.max_id_problem_share: must be between 0 and 1"),
        ({"chunk_rows": "many"}, r"datasets.alpha.scoring.chunk_rows: expected int"),
        ({"shadow_sampel": 0.1}, r"did you mean 'shadow_sample'"),
    ],
)
def test_a_datasets_scoring_override_is_checked_like_the_section(tmp_path, override, message):
    raw = _with(lambda r: r["datasets"]["alpha"].update(scoring=override))
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, raw))


def test_the_generated_reference_is_complete_and_committed():
    """Every key has a meaning, and docs/config-reference.md is the generator's output (regenerate:
    `python -m modelops.config.reference > docs/config-reference.md`)."""
    from modelops.config.reference import missing_meanings, reference_markdown

    assert missing_meanings() == []
    committed = (REPO_ROOT / "docs" / "config-reference.md").read_text(encoding="utf-8")
    assert committed == reference_markdown()
    assert "| `null_fraction` |" in committed and "Default 50%" in committed


def test_missing_values_default_to_half_a_column_but_never_in_the_id_or_time_column(tmp_path):
    spec = load_settings(_write(tmp_path, MINIMAL)).dataset("alpha")  # no validation section
    assert spec.null_limit("age") == (0.5, True)  # built-in: the report warns
    assert spec.null_limit("id") == (0.0, False) and spec.null_limit("year") == (0.0, False)
    own = _with(lambda r: r["datasets"]["alpha"].update(validation={"null_fraction": {"default": 0.2, "id": 0.01}}))
    spec = load_settings(_write(tmp_path, own)).dataset("alpha")
    assert spec.null_limit("age") == (0.2, False) and spec.null_limit("id") == (0.01, False)
    assert spec.null_limit("year") == (0.0, False)  # a spec's own default does not reach the time column


def test_a_user_file_may_give_a_bundled_dataset_another_kind_of_source_and_labels(tmp_path, monkeypatch):
    user = {
        "datasets": {
            "voter_turnout": {"source": {"kind": "file", "path": str(tmp_path / "voters.csv")}},
            "anes96_vote": {"positive_class": 1},
        }
    }
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, user)))
    settings = load_settings()
    assert settings.dataset("voter_turnout").source == {"kind": "file", "path": str(tmp_path / "voters.csv")}
    anes = settings.dataset("anes96_vote")
    assert anes.positive_labels == (1,) and anes.negative_labels is None
    # the same kind merges key by key: a new path keeps the bundled filter
    user = {"datasets": {"voter_turnout": {"source": {"rows": 500}}}}
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, user, "more.yaml")))
    source = load_settings().dataset("voter_turnout").source
    assert source["kind"] == "synthetic_voters" and source["rows"] == 500 and "seed" in source


def test_hiding_the_bundled_default_dataset_moves_the_default(tmp_path, monkeypatch):
    user = {"datasets": {"voter_turnout": None, "voter_support": None}}
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, user)))
    assert load_settings().default_dataset == "anes96_vote"
    user["default_dataset"] = "voter_turnout"  # the user's own choice is checked, and blamed on their file
    monkeypatch.setenv("MODELOPS_CONFIG", str(_write(tmp_path, user, "mine.yaml")))
    with pytest.raises(ConfigError, match=r"mine\.yaml: default_dataset 'voter_turnout' is not configured"):
        load_settings()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda r: r["training"].update(holdout_fraction=True),
            r"^training.holdout_fraction: expected int or float, got True$",
        ),
        (
            lambda r: r["training"].update(search={"n_configs": "6"}),
            r"^training.search.n_configs: expected int, got '6'$",
        ),
        (
            lambda r: r["training"].update(search={"n_confgs": 6}),
            r"training.search: unknown key 'n_confgs' \(did you mean",
        ),
        (lambda r: r["training"].pop("seed"), r"^training: missing required key 'seed'$"),
        (
            lambda r: r.update(monitoring={"domain_classifier": {"folds": 2.0}}),
            r"domain_classifier.folds: expected int, got 2.0",
        ),
    ],
)
def test_sections_are_strict_and_name_the_key(mutate, message):
    from modelops.config.settings import parse_settings

    with pytest.raises(ConfigError, match=message):
        parse_settings(_with(mutate))


def test_sections_are_frozen_models(tmp_path):
    from pydantic import ValidationError

    settings = load_settings(_write(tmp_path, MINIMAL))
    with pytest.raises(ValidationError):
        settings.training.seed = 2
    assert settings.resolved("alpha")["training"] == settings.training.model_dump(mode="json")


def _space(**entries):
    return lambda r: r["search_spaces"]["logistic_regression"].update(entries)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            _space(prep__max_categories={"choice": [5]}),
            r"search_spaces.logistic_regression.prep__max_categories: unknown preprocessing parameter "
            r"'max_categories'; known: \['prep__min_frequency', 'prep__imputer_strategy'\]",
        ),
        (
            _space(prep__imputer_strategy={"choice": ["median", "zero"]}),
            r"prep__imputer_strategy: expected mean, median or most_frequent.*got \['zero'\]",
        ),
        (
            _space(prep__min_frequency={"choice": [0, 5]}),
            r"prep__min_frequency: expected whole numbers >= 1.*got \[0\]",
        ),
        (_space(prep__min_frequency={"log_uniform": [1, 50]}), r"prep__min_frequency: .* sampled by choice"),
        (
            lambda r: r["training"].update(calibration_method=["sigmoid", "platt"]),
            r"training.calibration_method: one of \['sigmoid', 'isotonic'\].*got \['sigmoid', 'platt'\]",
        ),
        (lambda r: r["training"].update(search={"max_tree_levels": 0}), r"training.search.max_tree_levels: at least 1"),
    ],
)
def test_search_keys_beyond_the_estimator_are_checked_at_load(tmp_path, mutate, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(_write(tmp_path, _with(mutate)))


def test_preprocessing_keys_and_calibration_methods_load(tmp_path):
    space = _space(prep__min_frequency={"choice": [1, 50]}, prep__imputer_strategy={"choice": ["mean"]})
    settings = load_settings(
        _write(tmp_path, _with(lambda r: (space(r), r["training"].update(calibration_method=["isotonic", "sigmoid"]))))
    )
    assert settings.search_spaces["logistic_regression"]["prep__min_frequency"] == {"choice": [1, 50]}
    assert settings.training.calibration_method == ["isotonic", "sigmoid"]

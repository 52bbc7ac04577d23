"""The multivariate drift test (a domain classifier) on small hand-made frames with known answers: a change in
how two columns move together, invisible to every per-column test, is caught; the same world is not; blanks
and missing values are levels, never coerced; too few rows are reported, not judged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelops.collect.synthetic import couple_ranks
from modelops.config.checks import ConfigError
from modelops.config.settings import load_settings, parse_settings, read_yaml
from modelops.stats import drift, multivariate

OPTIONS = {"max_rows": 2000, "folds": 5, "auc_margin": 0.05, "confidence": 0.95, "top_features": 3}
NUMERIC = ["age", "contacts", "income"]
CATEGORICAL = ["party"]


def _voters(n: int, seed: int, coupling: float = 0.0) -> pd.DataFrame:
    """Real-shaped rows: ages, contact counts, incomes with gaps, a party code with blanks and missing values."""
    rng = np.random.default_rng(seed)
    age = np.clip(rng.gamma(3.6, 8.5, n) + 17, 18, 104).round()
    contacts = rng.poisson(1.2, n).astype(float)
    if coupling:
        contacts = couple_ranks(age, contacts, coupling, rng)
    income = rng.lognormal(10.8, 0.5, n)
    income[rng.random(n) < 0.05] = np.nan
    party = rng.choice(np.array(["DEM", "REP", "IND", "", None], dtype=object), n, p=[0.4, 0.4, 0.14, 0.03, 0.03])
    return pd.DataFrame({"age": age, "contacts": contacts, "income": income, "party": party})


def test_couple_ranks_keeps_each_column_and_moves_them_together():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=5000), rng.poisson(1.2, 5000)
    coupled = couple_ranks(x, y, 0.8, rng)
    np.testing.assert_array_equal(np.sort(coupled), np.sort(y))  # the same values, only reordered
    assert np.corrcoef(x, y)[0, 1] == pytest.approx(0, abs=0.05)
    assert np.corrcoef(x, coupled)[0, 1] > 0.6
    with pytest.raises(ValueError, match="rho must be within"):
        couple_ranks(x, y, 1.5, rng)


def test_auc_interval_matches_known_answers():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 500)
    scores = rng.normal(size=1000) + 0.5 * y
    result = multivariate.auc_interval(y, scores)
    assert result["auc"] == pytest.approx(roc_auc_score(y, scores))
    assert result["low"] < result["auc"] < result["high"]
    # with ties: every score the same is AUC 0.5 exactly, separated is 1
    assert multivariate.auc_interval(y, np.zeros(1000))["auc"] == 0.5
    assert multivariate.auc_interval(y, y.astype(float))["auc"] == 1.0
    assert np.isnan(multivariate.auc_interval(np.array([0, 1]), np.array([0.1, 0.9]))["auc"])  # too few to say


def test_a_correlation_change_is_caught_while_every_column_test_stays_quiet():
    reference = _voters(3000, seed=1)
    current = _voters(3000, seed=2, coupling=0.8)
    profile = drift.build_profile(reference, NUMERIC, CATEGORICAL, np.full(len(reference), 0.5), {}, threshold=0.5)
    thresholds = {"alpha": 0.05, "numeric_min_effect": 0.1, "categorical_min_effect": 0.1, "dataset_drift_share": 0.25}
    univariate = drift.detect_drift(profile, current, thresholds)
    assert univariate.drifted == [] and not univariate.dataset_drift
    result = multivariate.domain_classifier(reference, current, NUMERIC, CATEGORICAL, OPTIONS, seed=3)
    assert result["judged"] and result["drifted"], result
    assert result["low"] > 0.55 and result["rows_per_side"] == 1000 and len(result["fold_aucs"]) == 5
    assert {f["feature"] for f in result["top_features"][:2]} == {"age", "contacts"}


@pytest.mark.parametrize("seed", [10, 20, 30, 40])
def test_the_same_world_stays_quiet(seed):
    result = multivariate.domain_classifier(_voters(3000, seed), _voters(3000, seed + 1), NUMERIC, CATEGORICAL, OPTIONS)
    assert result["judged"] and not result["drifted"], result
    assert result["low"] < 0.5 < result["high"] + 0.02  # chance-level: the interval reaches 0.5 (or nearly)


def test_too_few_rows_or_no_shared_feature_are_reported_not_judged():
    small = multivariate.domain_classifier(_voters(3000, 1), _voters(60, 2), NUMERIC, CATEGORICAL, OPTIONS)
    assert not small["judged"] and not small["drifted"]
    assert small["status"] == "too few rows to judge: 3000 reference and 60 window rows (need 100 on each side)"
    none = multivariate.domain_classifier(_voters(300, 1), _voters(300, 2)[[]], NUMERIC, CATEGORICAL, OPTIONS)
    assert not none["judged"] and "no feature" in none["status"]


def test_the_reference_sample_is_bounded_seeded_and_features_only():
    frame = _voters(700, 5).assign(voter_id=[f"V{i}" for i in range(700)], first_name="x")
    sample = multivariate.reference_sample(frame, NUMERIC + CATEGORICAL, 500, seed=7)
    assert list(sample.columns) == NUMERIC + CATEGORICAL and len(sample) == 500
    pd.testing.assert_frame_equal(sample, multivariate.reference_sample(frame, NUMERIC + CATEGORICAL, 500, seed=7))
    assert len(multivariate.reference_sample(frame, NUMERIC, 5000, seed=7)) == 700  # smaller: every row
    with pytest.raises(KeyError, match=r"columns \['gender'\] are not in the reference frame"):
        multivariate.reference_sample(frame, ["gender"], 10, seed=7)


def _raw_config() -> dict:
    from modelops.config.settings import config_path

    return read_yaml(config_path().read_text())


def test_config_declares_the_new_keys_and_refuses_bad_ones():
    settings = load_settings()
    # the bundled bound comes from benchmarks/bench_score_decay.py: within the two cycles it measures
    assert 0 < settings.monitoring.max_champion_age_days <= 2 * 731
    assert settings.monitoring.domain_classifier.max_rows == 4000
    raw = _raw_config()
    raw["monitoring"]["domain_classifier"] = {"folds": 3}  # partial: the rest from the defaults
    assert parse_settings(raw).monitoring.domain_classifier.model_dump() == {
        "enabled": True,
        "max_rows": 4000,
        "folds": 3,
        "auc_margin": 0.05,
        "confidence": 0.95,
        "reference_rows": 5000,
        "top_features": 5,
    }
    for bad, message in (
        ({"folds": 1}, "folds: at least 2"),
        ({"auc_margin": 0.7}, "auc_margin: between 0 and 0.5"),
        ({"max_row": 10}, "did you mean 'max_rows'"),
    ):
        raw = _raw_config()
        raw["monitoring"]["domain_classifier"] = bad
        with pytest.raises(ConfigError, match=message):
            parse_settings(raw)
    raw = _raw_config()
    raw["monitoring"]["max_champion_age_days"] = 0
    with pytest.raises(ConfigError, match="max_champion_age_days: a number of days above 0"):
        parse_settings(raw)
    raw = _raw_config()
    raw["monitoring"]["retrain_on"] = ["performance", "multivariate_drift"]
    assert parse_settings(raw).monitoring.retrain_on == ["performance", "multivariate_drift"]


def test_a_dataset_sets_its_own_champion_age_and_runs_may_override():
    from modelops.monitor.thresholds import thresholds_for

    raw = _raw_config()
    raw["monitoring"]["max_champion_age_days"] = 180
    raw["datasets"]["anes96_vote"]["monitoring"] = {"max_champion_age_days": 90}
    settings = parse_settings(raw)
    anes, voters = settings.dataset("anes96_vote"), settings.dataset("voter_turnout")
    assert thresholds_for(settings, None, anes)["max_champion_age_days"] == 90
    assert thresholds_for(settings, None, voters)["max_champion_age_days"] == 180
    assert thresholds_for(settings, {"max_champion_age_days": 30}, anes)["max_champion_age_days"] == 30
    overridden = thresholds_for(settings, {"domain_classifier": {"auc_margin": 0.1}})
    assert overridden["domain_classifier"]["auc_margin"] == 0.1 and overridden["domain_classifier"]["folds"] == 5
    with pytest.raises(ValueError, match="domain_classifier overrides must be a mapping"):
        thresholds_for(settings, {"domain_classifier": {"margin": 0.1}})
    raw["datasets"]["anes96_vote"]["monitoring"] = {"cooldown_hours": 2, "persistence": 1}
    own = parse_settings(raw)
    assert thresholds_for(own, None, own.dataset("anes96_vote"))["cooldown_hours"] == 2
    assert thresholds_for(own, None, own.dataset("voter_turnout"))["cooldown_hours"] == 24
    raw["datasets"]["anes96_vote"]["monitoring"] = {"persistence": 0}
    with pytest.raises(ConfigError, match=r"datasets\.anes96_vote\.monitoring\.persistence: must be >= 1"):
        parse_settings(raw)
    raw["datasets"]["anes96_vote"]["monitoring"] = {"alpha": 0.1}
    with pytest.raises(ConfigError, match=r"datasets\.anes96_vote\.monitoring: unknown key 'alpha'"):
        parse_settings(raw)

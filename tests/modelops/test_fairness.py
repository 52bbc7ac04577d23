"""Unit tests for modelops.evaluate.fairness: group rates, parity gaps, limits, champion gaps, verdict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from modelops.config.checks import ConfigError
from modelops.config.models import DatasetFairness, EvaluationSection, FairnessLimits
from modelops.config.settings import DEFAULT_CONFIG_PATH, DatasetSpec, parse_settings
from modelops.evaluate.evaluation import decide_promotion
from modelops.evaluate.fairness import (
    MISSING_GROUP,
    assess_fairness,
    compare_to_champion,
    describe,
    group_labels,
    paired_gaps,
    summary_lines,
)

SETTINGS = DatasetFairness(
    min_group_rows=50,
    champion_tolerance=0.02,
    limits=FairnessLimits(demographic_parity_difference=0.25, equalized_odds_difference=0.25),
)
EVALUATION = EvaluationSection(primary_metric="roc_auc", floors={"roc_auc": 0.6}, baseline_margin=0.0, confidence=0.95)
GOOD = {"roc_auc": 0.80}
BASELINES = {"majority": {"roc_auc": 0.5}, "rule": {"roc_auc": 0.6}}


def _spec(protected, numeric=("x", "proxy")):
    """A voter-file-like spec: race is protected but never a feature."""
    return DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target="voted",
        positive_class=1,
        numeric=numeric,
        protected=protected,
    )


def _voters(n=2000, seed=0):
    """Outcome independent of race; `proxy` tracks race (think neighbourhood) and carries no signal."""
    rng = np.random.default_rng(seed)
    race = rng.choice(["white", "black"], n)
    x = rng.normal(size=n)
    proxy = np.where(rng.random(n) < 0.9, race == "black", race != "black").astype(float)
    voted = (x + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return pd.DataFrame({"x": x, "proxy": proxy, "race": race, "voted": voted})


def _model(frame, biased_share):
    """A real logistic regression; with `biased_share` > 0 its training labels under-record one group's votes."""
    rng = np.random.default_rng(1)
    y = frame["voted"].to_numpy().copy()
    y[(frame["race"] == "black").to_numpy() & (rng.random(len(y)) < biased_share)] = 0
    return LogisticRegression().fit(frame[["x", "proxy"]], y)


@pytest.fixture(scope="module")
def holdout():
    return _voters(2000, seed=7)


@pytest.fixture(scope="module")
def train():
    return _voters(4000, seed=3)


def _proba(model, frame):
    return model.predict_proba(frame[["x", "proxy"]])[:, 1]


def test_a_model_biased_against_a_group_breaches_the_limit_and_is_not_promoted(train, holdout):
    spec = _spec({"race": None})
    report = assess_fairness(holdout, holdout["voted"], _proba(_model(train, 0.9), holdout), spec, SETTINGS, 0.5)
    race = report["columns"]["race"]
    assert race["groups"]["black"]["selection_rate"] < race["groups"]["white"]["selection_rate"] - 0.25
    assert race["demographic_parity_difference"] > 0.25
    assert report["passed"] is False
    assert any(b.startswith("race: demographic parity difference") for b in report["breaches"])
    verdict = decide_promotion(GOOD, BASELINES, None, EVALUATION, report)
    assert verdict.promote is False
    checks = {c["check"]: c for c in verdict.checks}
    assert checks["fairness"]["passed"] is False
    assert verdict.reasons[0].startswith("FAIL fairness limits breached: race:")


def test_a_fair_model_passes_with_a_detail_line(train, holdout):
    spec = _spec({"race": None})
    report = assess_fairness(holdout, holdout["voted"], _proba(_model(train, 0.0), holdout), spec, SETTINGS, 0.5)
    race = report["columns"]["race"]
    assert race["demographic_parity_difference"] < 0.1
    assert race["equalized_odds_difference"] < 0.1
    assert report["passed"] is True and report["breaches"] == []
    verdict = decide_promotion(GOOD, BASELINES, None, EVALUATION, report)
    assert verdict.promote is True
    detail = {c["check"]: c["detail"] for c in verdict.checks}["fairness"]
    assert detail.startswith("fairness within limits (DPD <= 0.25, EOD <= 0.25): race DPD=")


def test_race_is_assessed_although_it_is_no_feature(train, holdout):
    spec = _spec({"race": None})
    assert "race" not in spec.features and "race" in spec.kept_columns
    report = assess_fairness(holdout, holdout["voted"], _proba(_model(train, 0.0), holdout), spec, SETTINGS, 0.5)
    assert set(report["columns"]["race"]["groups"]) == {"black", "white"}
    assert sum(g["rows"] for g in report["columns"]["race"]["groups"].values()) == len(holdout)
    with pytest.raises(ValueError, match=r"protected columns \['race'\] are not in the evaluated rows"):
        assess_fairness(holdout.drop(columns="race"), holdout["voted"], np.full(len(holdout), 0.5), spec, SETTINGS, 0.5)


def test_a_tiny_group_is_reported_not_gated(train, holdout):
    frame = holdout.copy()
    frame.loc[frame.index[:12], "race"] = "pacific_islander"
    proba = _proba(_model(train, 0.0), frame)
    proba[:12] = 0.0  # never selected: a gap of ~0.5 if it were gated
    report = assess_fairness(frame, frame["voted"], proba, _spec({"race": None}), SETTINGS, 0.5)
    race = report["columns"]["race"]
    tiny = race["groups"]["pacific_islander"]
    assert tiny == {**tiny, "rows": 12, "selection_rate": 0.0, "gated": False}
    assert race["small_groups"] == ["pacific_islander"]
    assert "pacific_islander: fewer than 50 rows, reported not gated" in race["note"]
    assert race["groups"]["black"]["gated"] and race["groups"]["white"]["gated"]
    rates = [race["groups"][g]["selection_rate"] for g in ("black", "white")]
    assert race["demographic_parity_difference"] == pytest.approx(abs(rates[0] - rates[1]))
    assert report["passed"] is True


def test_missing_protected_values_are_their_own_group_never_merged(train, holdout):
    frame = holdout.copy().astype({"race": object})
    frame.loc[frame.index[:30], "race"] = None
    frame.loc[frame.index[30:40], "race"] = "  "  # blank: missing as well
    frame.loc[frame.index[40:100], "race"] = "missing"  # a real (odd) category stays a class of its own
    proba = _proba(_model(train, 0.0), frame)
    report = assess_fairness(frame, frame["voted"], proba, _spec({"race": None}), SETTINGS, 0.5)
    groups = report["columns"]["race"]["groups"]
    assert groups[MISSING_GROUP]["rows"] == 40 and groups[MISSING_GROUP]["gated"] is False
    assert groups["missing"]["rows"] == 60 and groups["missing"]["gated"] is True
    assert f"{MISSING_GROUP} (40 rows): value unknown" in report["columns"]["race"]["note"]
    assert MISSING_GROUP not in report["columns"]["race"]["small_groups"]


def test_binned_column_buckets_and_keeps_missing_and_out_of_range_apart():
    frame = pd.DataFrame({"age": [20.0, 25.0, 40.0, np.nan, 150.0, 33.0]})
    labels = group_labels(frame, "age", [18, 30, 45])
    assert labels.tolist() == ["[18, 30)", "[18, 30)", "[30, 45)", MISSING_GROUP, "outside bins", "[30, 45)"]
    with pytest.raises(ValueError, match="'age' has bins in the spec but holds non-numeric values"):
        group_labels(pd.DataFrame({"age": ["20", "x"]}), "age", [18, 30])


def test_values_match_a_hand_computation():
    # group a: y 1 1 0 0, scores .9 .4 .6 .1 -> decisions 1 0 1 0
    # group b: y 1 0 0 0, scores .8 .7 .2 .3 -> decisions 1 1 0 0
    frame = pd.DataFrame({"g": list("aaaabbbb")})
    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    proba = np.array([0.9, 0.4, 0.6, 0.1, 0.8, 0.7, 0.2, 0.3])
    report = assess_fairness(
        frame, y, proba, _spec({"g": None}), SETTINGS.model_copy(update={"min_group_rows": 4}), 0.5
    )
    a, b = report["columns"]["g"]["groups"]["a"], report["columns"]["g"]["groups"]["b"]
    assert a == pytest.approx(
        {
            "rows": 4,
            "selection_rate": 0.5,
            "tpr": 0.5,
            "fpr": 0.5,
            "precision": 0.5,
            "calibration_gap": 0.0,
            "gated": True,
        }
    )
    # b: selected 2/4, TPR 1/1, FPR 1/3, precision 1/2, mean score .5 - positive rate .25
    assert b == pytest.approx(
        {
            "rows": 4,
            "selection_rate": 0.5,
            "tpr": 1.0,
            "fpr": 1 / 3,
            "precision": 0.5,
            "calibration_gap": 0.25,
            "gated": True,
        }
    )
    assert report["columns"]["g"]["demographic_parity_difference"] == pytest.approx(0.0)
    assert report["columns"]["g"]["equalized_odds_difference"] == pytest.approx(0.5)  # max(|.5-1|, |.5-1/3|)
    assert report["breaches"] == ["g: equalized odds difference 0.5000 above the limit 0.2500"]
    json.dumps(report, allow_nan=False)  # JSON-safe as returned


def test_undefined_rates_are_none_and_a_one_class_group_leaves_the_odds_gap():
    frame = pd.DataFrame({"g": list("aaaabbbb")})
    y = np.array([1, 0, 1, 0, 0, 0, 0, 0])  # group b has no positives: its TPR is undefined, not 0
    proba = np.array([0.9, 0.1, 0.8, 0.7, 0.1, 0.2, 0.3, 0.4])  # b: never selected
    report = assess_fairness(
        frame, y, proba, _spec({"g": None}), SETTINGS.model_copy(update={"min_group_rows": 4}), 0.5
    )
    body = report["columns"]["g"]
    assert body["groups"]["b"]["tpr"] is None and body["groups"]["b"]["precision"] is None
    assert body["groups"]["b"]["fpr"] == 0.0
    assert body["demographic_parity_difference"] == pytest.approx(0.75)
    assert body["equalized_odds_difference"] is None
    assert "b: one outcome class only, left out of the equalized-odds gap" in body["note"]


def test_no_gated_column_passes_and_says_so(holdout):
    spec = _spec({"race": None})
    report = assess_fairness(
        holdout,
        holdout["voted"],
        np.full(len(holdout), 0.6),
        spec,
        SETTINGS.model_copy(update={"min_group_rows": 5000}),
        0.5,
    )
    assert report["passed"] is True
    assert report["columns"]["race"]["demographic_parity_difference"] is None
    assert "0 group(s) with at least 5000 rows" in report["columns"]["race"]["note"]
    detail = describe(report)
    assert detail.startswith("fairness: no protected column could be gated")
    assert "race" in detail
    assert describe(
        assess_fairness(holdout, holdout["voted"], np.full(len(holdout), 0.6), _spec({}), SETTINGS, 0.5)
    ) == ("fairness: the spec names no protected column, nothing to gate")


def test_a_report_only_column_is_measured_never_gated(train, holdout):
    spec = _spec({"race": None})
    proba = _proba(_model(train, 0.9), holdout)
    report = assess_fairness(
        holdout, holdout["voted"], proba, spec, SETTINGS.model_copy(update={"report_only": ["race"]}), 0.5
    )
    race = report["columns"]["race"]
    assert race["demographic_parity_difference"] > 0.25
    assert not any(g["gated"] for g in race["groups"].values())
    assert report["passed"] is True and "report only" in race["note"]
    assert "(limit report only)" in summary_lines(report)[0]


def test_a_null_limit_reports_that_gap_only(train, holdout):
    limits = FairnessLimits(demographic_parity_difference=None, equalized_odds_difference=0.9)
    settings = SETTINGS.model_copy(update={"limits": limits})
    report = assess_fairness(
        holdout, holdout["voted"], _proba(_model(train, 0.9), holdout), _spec({"race": None}), settings, 0.5
    )
    assert report["columns"]["race"]["demographic_parity_difference"] > 0.25
    assert report["passed"] is True
    assert report["limits"] == {
        "demographic_parity_difference": None,
        "equalized_odds_difference": 0.9,
        "champion_tolerance": 0.02,
    }


def test_worsening_the_champions_gap_beyond_tolerance_fails(train, holdout):
    spec = _spec({"race": None})
    champion = _proba(_model(train, 0.0), holdout)
    challenger = _proba(_model(train, 0.25), holdout)  # mildly biased: within the limit, worse than the champion
    report = assess_fairness(holdout, holdout["voted"], challenger, spec, SETTINGS, 0.5)
    assert report["passed"] is True  # within the 0.25 limit on its own
    paired = paired_gaps(holdout, holdout["voted"], challenger, champion, spec, SETTINGS, 0.5)
    assert paired["rows"] == len(holdout)
    new, old = (paired[s]["race"]["demographic_parity_difference"] for s in ("challenger", "champion"))
    assert new - old > 0.02
    judged = compare_to_champion(report, paired, version=3)
    assert judged["passed"] is False
    assert judged["champion"] == paired["champion"]
    assert any("for champion v3 on the same 2000 rows" in b and "worse by" in b for b in judged["breaches"])
    assert report["passed"] is True and report["champion"] is None  # the input report is left as it was
    verdict = decide_promotion(GOOD, BASELINES, None, EVALUATION, judged)
    assert verdict.promote is False and {c["check"]: c["passed"] for c in verdict.checks}["fairness"] is False

    # the same model as the champion: nothing worsens
    same = compare_to_champion(
        report, paired_gaps(holdout, holdout["voted"], challenger, challenger, spec, SETTINGS, 0.5)
    )
    assert same["passed"] is True
    assert "no gap worse than the champion's by > 0.02" in describe(same)


def test_summary_lines_show_gaps_limits_and_small_groups(train, holdout):
    frame = holdout.copy()
    frame.loc[frame.index[:5], "race"] = "other"
    report = assess_fairness(
        frame, frame["voted"], _proba(_model(train, 0.0), frame), _spec({"race": None}), SETTINGS, 0.5
    )
    (line,) = summary_lines(report)
    assert "race" in line and "DPD=" in line and "(limit 0.25)" in line and "EOD=" in line
    assert "other: fewer than 50 rows, reported not gated" in line


# --- config ----------------------------------------------------------------------------------


def _raw():
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def test_fairness_defaults_and_a_null_limit():
    raw = _raw()
    raw.pop("fairness")
    assert parse_settings(raw).fairness.model_dump() == SETTINGS.model_dump(exclude={"report_only"})
    raw["fairness"] = {"limits": {"equalized_odds_difference": None}}
    limits = parse_settings(raw).fairness.limits
    assert limits.model_dump() == {"demographic_parity_difference": 0.25, "equalized_odds_difference": None}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"min_group_row": 10}, "did you mean 'min_group_rows'"),
        ({"threshold": 0.3}, "fairness has no threshold of its own"),
        ({"limits": {"demographic_parity": 0.2}}, "fairness.limits: unknown key"),
        ({"limits": {"equalized_odds_difference": 1.5}}, "between 0 and 1"),
        ({"min_group_rows": 0}, "at least 1"),
        ({"champion_tolerance": -0.1}, "must be >= 0"),
    ],
)
def test_fairness_section_refuses_bad_values(body, message):
    raw = _raw()
    raw["fairness"] = body
    with pytest.raises(ConfigError, match=message):
        parse_settings(raw)


def test_dataset_overrides_merge_into_the_fairness_section():
    settings = parse_settings(_raw())
    assert settings.fairness_for("voter_turnout").report_only == ["age"]
    raw = _raw()
    raw["datasets"]["anes96_vote"]["fairness"] = {
        "min_group_rows": 20,
        "limits": {"demographic_parity_difference": None},
    }
    merged = parse_settings(raw).fairness_for("anes96_vote")
    assert merged.min_group_rows == 20 and not hasattr(merged, "threshold") and merged.report_only == []
    assert merged.limits.model_dump() == {"demographic_parity_difference": None, "equalized_odds_difference": 0.25}
    assert parse_settings(raw).resolved("anes96_vote")["fairness"] == merged.model_dump()
    raw["datasets"]["anes96_vote"]["fairness"] = {"report_only": ["race"]}
    with pytest.raises(ConfigError, match=r"report_only: \['race'\] are not protected columns"):
        parse_settings(raw)


def test_condensed_rows_give_fairlearns_own_answer_on_every_row(train, holdout):
    """The gate condenses rows to weighted cells for speed; fairlearn on the raw rows must agree exactly."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    frame = holdout.copy()
    frame["age"] = np.random.default_rng(5).integers(18, 95, len(frame)).astype(float)
    proba = _proba(_model(train, 0.5), frame)
    y, decisions = frame["voted"].to_numpy(), (proba >= 0.4).astype(int)
    report = assess_fairness(frame, y, proba, _spec({"race": None, "age": [18, 30, 45, 65, 120]}), SETTINGS, 0.4)
    for column, bins in (("race", None), ("age", [18, 30, 45, 65, 120])):
        labels = group_labels(frame, column, bins)
        direct = MetricFrame(
            metrics={"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=y,
            y_pred=decisions,
            sensitive_features=labels,
        ).by_group.to_dict("index")
        body = report["columns"][column]
        for label, stats in direct.items():
            group = body["groups"][label]
            assert group["rows"] == int((labels == label).sum())
            assert group["calibration_gap"] == pytest.approx(proba[labels == label].mean() - y[labels == label].mean())
            for name, value in stats.items():
                assert group[name] == pytest.approx(value, abs=1e-12), (column, label, name)
        dpd = demographic_parity_difference(y, decisions, sensitive_features=labels)
        eod = equalized_odds_difference(y, decisions, sensitive_features=labels)
        assert body["demographic_parity_difference"] == pytest.approx(dpd, abs=1e-12)
        assert body["equalized_odds_difference"] == pytest.approx(eod, abs=1e-12)
    assert report["threshold"] == 0.4


def test_the_gaps_are_fairlearns_over_the_gated_groups():
    # the gaps come from the group rates of the one MetricFrame: they equal fairlearn's own functions run on the
    # rows of the gated groups (four races, one too small to gate, one without a single positive outcome)
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rng = np.random.default_rng(5)
    race = rng.choice(["asian", "black", "hispanic", "white"], 3000, p=[0.15, 0.25, 0.2, 0.4])
    race[:20] = "native"  # too small to gate
    y = (rng.random(3000) < np.where(race == "black", 0.6, 0.45)).astype(int)
    y[race == "asian"] = 0  # no positive outcome: out of the odds gap, still in the parity gap
    proba = np.clip(0.5 * y + rng.normal(0.3, 0.2, 3000) + 0.15 * (race == "white"), 0, 1)
    frame = pd.DataFrame({"race": race})
    report = assess_fairness(frame, y, proba, _spec({"race": None}, numeric=("x",)), SETTINGS, 0.5)["columns"]["race"]
    decisions = (proba >= 0.5).astype(int)
    gated = np.isin(race, ["asian", "black", "hispanic", "white"])
    both = np.isin(race, ["black", "hispanic", "white"])
    dpd = demographic_parity_difference(y[gated], decisions[gated], sensitive_features=race[gated])
    eod = equalized_odds_difference(y[both], decisions[both], sensitive_features=race[both])
    assert report["demographic_parity_difference"] == pytest.approx(dpd, rel=1e-12)
    assert report["equalized_odds_difference"] == pytest.approx(eod, rel=1e-12)
    assert dpd > 0.05 and eod > 0.05  # gaps worth comparing
    assert "native" in report["small_groups"] and "asian: one outcome class only" in report["note"]

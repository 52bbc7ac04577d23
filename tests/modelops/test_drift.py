"""Unit tests for modelops.stats.drift: the grid index, numeric/categorical drift, BH, the drift report,
prediction drift, label-free accuracy estimation and calibration change, all against known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelops.stats.drift import (
    MISSING,
    OTHER,
    benjamini_hochberg,
    build_profile,
    calibration_change,
    calibration_groups,
    categorical_drift,
    category_label,
    category_labels,
    detect_drift,
    edge_index,
    estimate_accuracy,
    group_labels,
    numeric_drift,
    prediction_drift,
    profile_categorical,
    profile_numeric,
    psi,
)

THRESHOLDS = {
    "alpha": 0.05,
    "numeric_min_effect": 0.1,
    "categorical_min_effect": 0.1,
    "dataset_drift_share": 0.3,
}


# --- edge_index ------------------------------------------------------------------------------


def _reference(kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.normal(size=20_000)
    if kind == "lognormal":
        return rng.lognormal(0.0, 2.0, size=20_000)
    if kind == "integer":
        return rng.poisson(20, size=20_000).astype(float)
    if kind == "rounded":
        return np.round(rng.normal(size=20_000), 2)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["normal", "lognormal", "integer", "rounded"])
def test_edge_index_equals_searchsorted(kind):
    ref = _reference(kind)
    edges = np.asarray(profile_numeric(ref)["edges"])
    assert len(edges) >= 20
    rng = np.random.default_rng(1)
    lo, hi = edges[0], edges[-1]
    span = hi - lo
    probes = {
        "reference": ref,
        "edges": edges,
        "midpoints": (edges[:-1] + edges[1:]) / 2,
        "fresh": np.concatenate([_reference(kind, seed=2), _reference(kind, seed=3)]),
        "fresh_rounded": np.round(rng.normal(size=50_000), 2),
        "outside": np.concatenate([lo - span * rng.uniform(0, 3, 1000), hi + span * rng.uniform(0, 3, 1000)]),
        "infinite": np.array([-np.inf, np.inf, lo, hi, -np.inf]),
        "dense": np.linspace(lo - 0.01 * span, hi + 0.01 * span, 200_001),
    }
    for name, x in probes.items():
        x = np.asarray(x, dtype=float)
        got = edge_index(edges, x)
        want = np.searchsorted(edges, x, side="left")
        wrong = np.flatnonzero(got != want)
        first = wrong[:3]
        detail = f"x={x[first]!r} got {got[first]} want {want[first]}"
        assert len(wrong) == 0, f"{kind}/{name}: {len(wrong)} mismatches, {detail}"


def test_edge_index_rounded_data_identical_sample_has_zero_ks():
    # Consequence of an exact index: the reference compared with itself has no KS gap at all.
    ref = _reference("rounded")
    result = numeric_drift(profile_numeric(ref), ref)
    assert result["ks"] == 0.0
    assert result["wasserstein"] == pytest.approx(0.0, abs=1e-12)


def test_edge_index_few_edges():
    edges = np.array([-2.0, -1.0, 0.0, 0.5, 3.0, 10.0])
    x = np.array([-np.inf, -5.0, -2.0, -1.5, -1.0, 0.0, 0.25, 0.5, 2.9, 3.0, 10.0, 11.0, np.inf])
    assert edge_index(edges, x).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6]
    assert np.array_equal(edge_index(edges, x), np.searchsorted(edges, x, side="left"))


def test_edge_index_many_edges_with_infinities():
    edges = np.linspace(-1, 1, 500)
    x = np.array([-np.inf, np.inf, -1.0, 1.0, 0.0, -1e300, 1e300])
    assert edge_index(edges, x).tolist() == [0, 500, 0, 499, int(np.searchsorted(edges, 0.0)), 0, 500]


# --- numeric profile and drift ---------------------------------------------------------------


def test_profile_numeric_fields():
    x = np.array([3.0, 1.0, np.nan, 2.0, 4.0])
    prof = profile_numeric(x, bins=4)
    assert prof["rows"] == 4
    assert prof["null_fraction"] == pytest.approx(0.2)
    assert prof["mean"] == pytest.approx(2.5)
    assert prof["std"] == pytest.approx(np.std([1.0, 2.0, 3.0, 4.0]))
    assert (prof["min"], prof["max"]) == (1.0, 4.0)
    assert prof["edges"] == [1.0, 1.75, 2.5, 3.25, 4.0]
    assert prof["cdf"] == [0.25, 0.25, 0.5, 0.75, 1.0]
    assert profile_numeric(np.array([np.nan, np.nan]))["rows"] == 0
    assert profile_numeric(np.array([np.nan, np.nan]))["null_fraction"] == 1.0


@pytest.mark.parametrize(
    ("shift", "scale"),
    [(0.0, 1.0), (0.1, 1.0), (0.0, 1.3), (0.5, 3.0)],
)
def test_numeric_ks_and_wasserstein_match_scipy(shift, scale):
    rng = np.random.default_rng(11)
    ref = rng.normal(size=20_000)
    cur = rng.normal(shift, scale, size=50_000)
    result = numeric_drift(profile_numeric(ref), cur)
    assert result["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=2e-3)
    want = stats.wasserstein_distance(ref, cur) / ref.std()
    assert result["wasserstein"] == pytest.approx(want, rel=0.02)
    assert result["rows"] == 50_000


def test_numeric_wasserstein_beyond_reference_range():
    rng = np.random.default_rng(12)
    ref = rng.uniform(0, 1, size=20_000)
    cur = rng.uniform(-1, 3, size=50_000)  # half of it is outside [0, 1]
    assert (cur < ref.min()).sum() > 5_000 and (cur > ref.max()).sum() > 5_000
    result = numeric_drift(profile_numeric(ref), cur)
    assert result["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std(), rel=0.02)
    assert result["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=2e-3)


def test_numeric_ks_integer_data_exact():
    rng = np.random.default_rng(13)
    ref = rng.poisson(5, size=20_000).astype(float)
    cur = rng.poisson(5.3, size=50_000).astype(float)
    result = numeric_drift(profile_numeric(ref), cur)
    assert result["ks"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=1e-9)
    assert result["wasserstein"] == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std(), rel=0.02)


def test_numeric_p_value_close_to_asymptotic_ks():
    rng = np.random.default_rng(14)
    ref = rng.normal(size=20_000)
    cur = rng.normal(0.03, 1.0, size=50_000)
    result = numeric_drift(profile_numeric(ref), cur)
    want = stats.ks_2samp(ref, cur, method="asymp").pvalue
    assert 1e-6 < want < 0.05  # a moderate shift: neither 0 nor 1
    assert result["p_value"] == pytest.approx(want, rel=0.3)


def test_numeric_same_distribution_small_effect():
    rng = np.random.default_rng(15)
    ref = rng.normal(size=20_000)
    cur = rng.normal(size=50_000)
    result = numeric_drift(profile_numeric(ref), cur)
    assert result["p_value"] > 0.01
    assert result["wasserstein"] < 0.03
    assert result["psi"] < 0.01


def test_numeric_psi_for_half_std_shift():
    rng = np.random.default_rng(16)
    ref = rng.normal(size=20_000)
    result = numeric_drift(profile_numeric(ref), rng.normal(0.5, 1.0, size=50_000))
    assert result["psi"] > 0.1
    assert result["wasserstein"] == pytest.approx(0.5, abs=0.03)


def test_numeric_empty_current_is_no_evidence():
    prof = profile_numeric(np.random.default_rng(17).normal(size=1000))
    for empty in (np.array([]), np.array([np.nan, np.nan])):
        result = numeric_drift(prof, empty)
        assert result["p_value"] == 1.0
        assert result["ks"] == 0.0 and result["wasserstein"] == 0.0 and result["psi"] == 0.0
        assert result["rows"] == 0
    assert numeric_drift(prof, np.array([np.nan, np.nan]))["null_fraction"] == 1.0
    empty_ref = profile_numeric(np.array([np.nan]))
    assert numeric_drift(empty_ref, np.array([1.0, 2.0]))["p_value"] == 1.0


def test_numeric_nans_excluded_and_reported():
    rng = np.random.default_rng(18)
    ref = rng.normal(size=20_000)
    cur = rng.normal(size=10_000)
    prof = profile_numeric(ref)
    with_nans = np.concatenate([cur, np.full(2_500, np.nan)])
    clean = numeric_drift(prof, cur)
    dirty = numeric_drift(prof, with_nans)
    assert dirty["null_fraction"] == pytest.approx(0.2)
    assert dirty["rows"] == 10_000
    for key in ("ks", "p_value", "wasserstein", "psi"):
        assert dirty[key] == pytest.approx(clean[key])
    assert math.isfinite(dirty["wasserstein"])


# --- categorical -----------------------------------------------------------------------------


def _categories(rng, probs, n):
    return pd.Series(rng.choice(["a", "b", "c", "d"], size=n, p=probs))


def test_profile_categorical_counts_missing_and_other():
    prof = profile_categorical(pd.Series(["x", "y", None, "x", np.nan, "z"]))
    assert prof == {"rows": 6, "counts": {"x": 2, MISSING: 2, "y": 1, "z": 1}}
    pooled = profile_categorical(pd.Series(["a"] * 3 + ["b"] * 2 + ["c", "d"]), max_categories=2)
    assert pooled["counts"] == {"a": 3, "b": 2, OTHER: 2}


def test_categorical_same_frequencies():
    rng = np.random.default_rng(21)
    probs = [0.4, 0.3, 0.2, 0.1]
    result = categorical_drift(profile_categorical(_categories(rng, probs, 20_000)), _categories(rng, probs, 30_000))
    assert result["p_value"] > 0.01
    assert result["js_distance"] < 0.05
    assert result["unseen"] == []
    assert result["rows"] == 30_000


def test_categorical_changed_frequencies():
    rng = np.random.default_rng(22)
    prof = profile_categorical(_categories(rng, [0.4, 0.3, 0.2, 0.1], 20_000))
    result = categorical_drift(prof, _categories(rng, [0.1, 0.2, 0.3, 0.4], 30_000))
    assert result["p_value"] < 1e-6
    assert result["js_distance"] > 0.1
    assert result["psi"] > 0.1


def test_categorical_unseen_pooled():
    prof = profile_categorical(pd.Series(["a"] * 50 + ["b"] * 50))
    cur = pd.Series(["a"] * 40 + ["b"] * 40 + ["new1"] * 15 + ["new2"] * 5)
    result = categorical_drift(prof, cur)
    assert result["unseen"] == ["new1", "new2"]
    assert result["rows"] == 100
    # pooled into one OTHER level: ref [50, 50, 0] against current [40, 40, 20]
    want = stats.chi2_contingency(np.array([[50, 50, 0], [40, 40, 20]]), correction=False)
    assert result["chi2"] == pytest.approx(want[0])
    assert result["p_value"] == pytest.approx(want[1])


def test_categorical_missing_values_are_the_missing_level():
    prof = profile_categorical(pd.Series(["a"] * 80 + [None] * 20))
    assert prof["counts"] == {"a": 80, MISSING: 20}
    result = categorical_drift(prof, pd.Series(["a"] * 40 + [np.nan] * 10))
    assert result["unseen"] == []
    assert result["js_distance"] == pytest.approx(0.0, abs=1e-9)
    assert result["p_value"] == pytest.approx(1.0)


def test_categorical_dtype_matches_strings():
    rng = np.random.default_rng(23)
    prof = profile_categorical(_categories(rng, [0.4, 0.3, 0.2, 0.1], 5_000))
    cur = _categories(rng, [0.3, 0.3, 0.3, 0.1], 5_000)
    cur[:100] = None
    plain = categorical_drift(prof, cur)
    as_category = categorical_drift(prof, cur.astype("category"))
    assert as_category == plain
    # also for a profile built from the category dtype
    assert profile_categorical(cur.astype("category")) == profile_categorical(cur)


def test_categorical_dtype_with_declared_but_absent_levels_matches_strings():
    # A fixed category list (schema) often declares levels that a given batch does not contain.
    prof = profile_categorical(pd.Series(["a", "b", "c"] * 10))
    cur = pd.Series(pd.Categorical(["a", "b", "a"] * 10, categories=["a", "b", "c", "z"]))
    plain = categorical_drift(prof, cur.astype(str))
    as_category = categorical_drift(prof, cur)
    assert plain["unseen"] == []
    assert as_category["unseen"] == [], "a level with zero rows is reported as unseen"
    assert as_category["psi"] == pytest.approx(plain["psi"])
    assert as_category == plain


def test_category_labels_compare_by_value():
    values = pd.Series([1, 2.0, np.nan, None, "3", 2.5, np.int8(4), -0.0], dtype=object)
    assert category_labels(values).tolist() == ["1", "2", MISSING, MISSING, "3", "2.5", "4", "0"]
    assert category_labels(pd.Series([True, False, None])).tolist() == ["True", "False", MISSING]
    assert category_label(np.float32(7.0)) == "7" and category_label(pd.NA) == MISSING
    # a float column that gained a missing value reads as the integer codes it holds
    assert category_labels(pd.Series([1.0, 2.0, np.nan])).tolist() == ["1", "2", MISSING]
    assert category_labels(np.array([3, 1, 3])).tolist() == ["3", "1", "3"]
    assert category_labels(pd.Series([1.0, np.nan], dtype="category")).tolist() == ["1", MISSING]


def test_int_codes_against_the_same_codes_as_floats_with_one_nan_do_not_drift():
    rng = np.random.default_rng(24)
    reference = pd.Series(rng.choice([1, 2, 3], size=3_000, p=[0.5, 0.3, 0.2]))
    current = pd.Series(rng.choice([1, 2, 3], size=3_000, p=[0.5, 0.3, 0.2])).astype(float)
    current.iloc[0] = np.nan  # one missing value turns the int column into floats
    assert current.astype(str).iloc[1] in {"1.0", "2.0", "3.0"}  # what plain text comparison saw
    prof = profile_categorical(reference)
    assert set(prof["counts"]) == {"1", "2", "3"}
    result = categorical_drift(prof, current)
    assert result["unseen"] == [] and result["missing_rows"] == 1
    assert result["js_distance"] < 0.05 and result["p_value"] > 0.01
    frame_ref = pd.DataFrame({"code": reference})
    profile = build_profile(frame_ref, [], ["code"], rng.uniform(0, 1, 3_000), {}, threshold=0.5)
    assert detect_drift(profile, pd.DataFrame({"code": current}), THRESHOLDS).drifted == []
    # calibration groups of the two spellings are the same levels
    assert set(group_labels({}, "categorical", current, 5)) == {"1", "2", "3", MISSING}
    assert set(group_labels({}, "categorical", reference, 5)) == {"1", "2", "3"}


def test_text_that_looks_like_a_number_keeps_its_spelling():
    profile = profile_categorical(pd.Series(["1.0", "2.0"] * 50))
    assert set(profile["counts"]) == {"1.0", "2.0"}
    assert categorical_drift(profile, pd.Series(["1.0", "2.0"] * 50))["unseen"] == []


def test_categorical_empty_current():
    prof = profile_categorical(pd.Series(["a", "b"]))
    result = categorical_drift(prof, pd.Series([], dtype=object))
    assert result["p_value"] == 1.0 and result["js_distance"] == 0.0 and result["rows"] == 0


# --- psi and BH ------------------------------------------------------------------------------


def test_psi_identical_zero_and_symmetric_positive():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)
    assert psi(p, q) > 0
    assert psi(p, q) == pytest.approx(psi(q, p))
    want = float(np.sum((q - p) * np.log(q / p)))
    assert psi(p, q) == pytest.approx(want)
    # zero proportions are clipped, not infinite
    assert math.isfinite(psi(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])))


def test_benjamini_hochberg_known_values():
    # sorted 0.01, 0.03, 0.04, 0.2 -> raw 0.04, 0.06, 0.0533, 0.2 -> step-up minimum 0.04, 0.0533, 0.0533, 0.2
    got = benjamini_hochberg([0.01, 0.04, 0.03, 0.2])
    assert got == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.5]) == pytest.approx([0.5])


# --- detect_drift ----------------------------------------------------------------------------


def _frame(rng, n, shifted=False):
    d = 0.5 if shifted else 0.0
    cat_probs = [0.1, 0.2, 0.3, 0.4] if shifted else [0.4, 0.3, 0.2, 0.1]
    return pd.DataFrame(
        {
            "n1": rng.normal(d, 1.0, n),
            "n2": rng.normal(5.0, 2.0, n),
            "n3": rng.lognormal(0.0, 0.5, n),
            "n4": rng.normal(0.0, 1.0 + d, n),
            "n5": rng.uniform(0, 1, n),
            "n6": rng.poisson(3, n).astype(float),
            "c1": rng.choice(["a", "b", "c", "d"], size=n, p=cat_probs),
            "c2": rng.choice(["x", "y", "z"], size=n, p=[0.5, 0.3, 0.2]),
        }
    )


NUMERIC = ["n1", "n2", "n3", "n4", "n5", "n6"]
CATEGORICAL = ["c1", "c2"]


@pytest.fixture(scope="module")
def drift_setup():
    rng = np.random.default_rng(31)
    ref = _frame(rng, 20_000)
    scores = rng.uniform(0, 1, 20_000)
    profile = build_profile(ref, NUMERIC, CATEGORICAL, scores, {"auc": 0.8}, threshold=0.5)
    return profile, _frame(rng, 20_000), _frame(rng, 20_000, shifted=True)


def test_detect_drift_flags_exactly_the_shifted_columns(drift_setup):
    profile, same, shifted = drift_setup
    assert detect_drift(profile, same, THRESHOLDS).drifted == []
    report = detect_drift(profile, shifted, THRESHOLDS)
    assert sorted(report.drifted) == ["c1", "n1", "n4"]
    assert report.drift_share == pytest.approx(3 / 8)
    assert report.dataset_drift is True
    assert report.columns["n1"]["kind"] == "numeric" and report.columns["c1"]["kind"] == "categorical"
    assert report.thresholds == THRESHOLDS
    as_dict = report.to_dict()
    assert sorted(as_dict["drifted"]) == ["c1", "n1", "n4"]
    json.dumps(as_dict)


def test_detect_drift_dataset_share_threshold(drift_setup):
    profile, _, shifted = drift_setup
    assert detect_drift(profile, shifted, {**THRESHOLDS, "dataset_drift_share": 0.375}).dataset_drift is True
    assert detect_drift(profile, shifted, {**THRESHOLDS, "dataset_drift_share": 0.4}).dataset_drift is False


def test_detect_drift_feature_weights(drift_setup):
    profile, _, shifted = drift_setup
    heavy = detect_drift(profile, shifted, {**THRESHOLDS, "feature_weights": {"n1": 5.0}})
    assert heavy.drift_share == pytest.approx(7 / 12)
    light = detect_drift(profile, shifted, {**THRESHOLDS, "feature_weights": {"n2": 10.0, "n3": 10.0}})
    assert light.drift_share == pytest.approx(3 / 26)
    assert light.dataset_drift is False
    assert sorted(light.drifted) == ["c1", "n1", "n4"]


def test_detect_drift_skips_columns_missing_from_frame(drift_setup):
    profile, _, shifted = drift_setup
    report = detect_drift(profile, shifted.drop(columns=["n2", "c2"]), THRESHOLDS)
    assert set(report.columns) == {"n1", "n3", "n4", "n5", "n6", "c1"}
    assert report.drift_share == pytest.approx(3 / 6)


def test_detect_drift_effect_size_gate_on_huge_sample():
    # Significance alone cries wolf on large samples: a 0.02-std shift is "significant" but not drift.
    rng = np.random.default_rng(32)
    ref = pd.DataFrame({"a": rng.normal(size=100_000), "b": rng.normal(size=100_000)})
    profile = build_profile(ref, ["a", "b"], [], rng.uniform(0, 1, 100), {}, threshold=0.5)
    cur = pd.DataFrame({"a": rng.normal(0.02, 1.0, 200_000), "b": rng.normal(size=200_000)})
    assert stats.ks_2samp(ref["a"], cur["a"]).pvalue < 0.05
    report = detect_drift(profile, cur, THRESHOLDS)
    col = report.columns["a"]
    assert col["p_value"] < 0.05
    assert col["p_adjusted"] < 0.05
    assert col["effect"] == pytest.approx(0.02, abs=0.01)
    assert col["drifted"] is False
    assert report.drifted == [] and report.dataset_drift is False
    # the same data with no effect-size gate would be flagged: the gate is what stops it
    assert detect_drift(profile, cur, {**THRESHOLDS, "numeric_min_effect": 0.0}).drifted == ["a"]


# --- prediction drift ------------------------------------------------------------------------


def test_prediction_drift_needs_both_p_and_psi():
    rng = np.random.default_rng(41)
    profile = {"score": profile_numeric(rng.beta(2, 5, 20_000))}
    thresholds = {"alpha": 0.05, "prediction_psi": 0.2}

    shifted = prediction_drift(profile, rng.beta(5, 2, 20_000), thresholds)
    assert shifted["p_value"] < 0.05 and shifted["psi"] >= 0.2
    assert shifted["drifted"] is True

    # tiny shift on a big sample: significant, but PSI below threshold
    tiny = prediction_drift(profile, np.clip(rng.beta(2, 5, 200_000) + 0.01, 0, 1), thresholds)
    assert tiny["p_value"] < 0.05 and tiny["psi"] < 0.2
    assert tiny["drifted"] is False

    # very few rows from the same distribution: PSI is noisy and large, but KS sees no evidence
    few = prediction_drift(profile, rng.beta(2, 5, 20), thresholds)
    assert few["psi"] >= 0.2 and few["p_value"] >= 0.05
    assert few["drifted"] is False

    same = prediction_drift(profile, rng.beta(2, 5, 20_000), thresholds)
    assert same["drifted"] is False


# --- estimate_accuracy -----------------------------------------------------------------------


def test_estimate_accuracy_known_values():
    half = estimate_accuracy(np.full(100, 0.5), 0.5)
    assert half["expected_accuracy"] == pytest.approx(0.5)
    assert half["rows"] == 100
    sure = estimate_accuracy(np.array([0.9, 0.1] * 50), 0.5)
    assert sure["expected_accuracy"] == pytest.approx(0.9)
    se = math.sqrt(100 * 0.9 * 0.1) / 100
    assert sure["low"] == pytest.approx(0.9 - 1.96 * se)
    assert sure["high"] == pytest.approx(0.9 + 1.96 * se)


def test_estimate_accuracy_interval_contains_mean_and_shrinks():
    rng = np.random.default_rng(51)
    small = estimate_accuracy(rng.uniform(0, 1, 100), 0.5)
    large = estimate_accuracy(rng.uniform(0, 1, 10_000), 0.5)
    for est in (small, large):
        assert est["low"] < est["expected_accuracy"] < est["high"]
    assert (large["high"] - large["low"]) < (small["high"] - small["low"]) / 5


def test_estimate_accuracy_empty():
    est = estimate_accuracy(np.array([]), 0.5)
    assert math.isnan(est["expected_accuracy"]) and math.isnan(est["low"]) and math.isnan(est["high"])
    assert est["rows"] == 0


def test_estimate_accuracy_covers_realised_accuracy_when_calibrated():
    rng = np.random.default_rng(52)
    p = rng.beta(2, 2, 20_000)
    y = rng.random(20_000) < p
    est = estimate_accuracy(p, 0.5)
    realised = float(np.mean((p >= 0.5) == y))
    assert est["low"] <= realised <= est["high"]
    # and over many repetitions the 95% interval covers about 95% of the time
    p = rng.beta(2, 2, (400, 2_000))
    y = rng.random(p.shape) < p
    covered = 0
    for row_p, row_y in zip(p, y, strict=True):
        est = estimate_accuracy(row_p, 0.5)
        covered += est["low"] <= float(np.mean((row_p >= 0.5) == row_y)) <= est["high"]
    assert 0.91 <= covered / 400 <= 0.99


# --- calibration -----------------------------------------------------------------------------

OFFSETS = {"a": 0.0, "b": 0.05, "c": -0.05, "d": 0.0}


def _labelled(rng, n, offsets):
    groups = rng.choice(list(offsets), size=n)
    p = rng.uniform(0.2, 0.6, n)
    rate = p + np.array([offsets[g] for g in groups])
    y = (rng.random(n) < rate).astype(float)
    return y, p, groups


def test_calibration_groups_values():
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.5, 0.5, 0.8, 0.2, 0.4])
    g = np.array(["x", "x", "x", "y", "y"])
    out = calibration_groups(y, p, g)
    assert out["x"]["rows"] == 3
    assert out["x"]["gap"] == pytest.approx((0.5 - 0.5 + 0.2) / 3)
    assert out["x"]["var"] == pytest.approx((0.25 + 0.25 + 0.16) / 9)
    assert out["y"]["gap"] == pytest.approx((0.8 - 0.4) / 2)


def test_calibration_change_stable_misfit_is_not_drift():
    rng = np.random.default_rng(61)
    reference = calibration_groups(*_labelled(rng, 20_000, OFFSETS))
    assert reference["b"]["gap"] == pytest.approx(0.05, abs=0.02)  # the model's own, stable misfit
    result = calibration_change(*_labelled(rng, 20_000, OFFSETS), reference, min_rows=50)
    assert result["groups"] == 4
    assert result["p_value"] > 0.01
    assert result["max_gap"] < 0.05


def test_calibration_change_detects_moved_group():
    rng = np.random.default_rng(62)
    reference = calibration_groups(*_labelled(rng, 20_000, OFFSETS))
    result = calibration_change(*_labelled(rng, 20_000, {**OFFSETS, "b": 0.25}), reference, min_rows=50)
    assert result["p_value"] < 1e-6
    assert result["max_gap"] == pytest.approx(0.2, abs=0.03)
    assert result["worst_group"] == "b"
    moved = result["by_group"]["b"]
    assert moved["used"] and moved["gap"] - moved["reference_gap"] == pytest.approx(0.2, abs=0.03)
    assert moved["rows"] == pytest.approx(5_000, rel=0.1) and moved["z"] > 2


def test_calibration_change_min_rows():
    rng = np.random.default_rng(63)
    reference = calibration_groups(*_labelled(rng, 20_000, OFFSETS))
    y, p, g = _labelled(rng, 20_000, OFFSETS)
    # a tiny group "e" with an enormous change, and one absent from the reference: both ignored
    y = np.concatenate([y, np.ones(10)])
    p = np.concatenate([p, np.full(10, 0.1)])
    g = np.concatenate([g, np.array(["e"] * 10)])
    ref_with_e = {**reference, "e": {"rows": 10, "gap": 0.0, "var": 0.01}}
    result = calibration_change(y, p, g, ref_with_e, min_rows=50)
    assert result["groups"] == 4 and result["worst_group"] != "e"
    assert result["by_group"]["e"] == {"rows": 10, "gap": pytest.approx(0.9), "reference_gap": 0.0, "used": False}
    assert calibration_change(y, p, g, reference, min_rows=50)["by_group"]["e"]["reference_gap"] is None
    assert result["p_value"] > 0.01
    none = calibration_change(y, p, g, reference, min_rows=1_000_000)
    assert none["groups"] == 0 and none["p_value"] == 1.0 and none["worst_group"] is None


# --- build_profile and group_labels ----------------------------------------------------------


def test_build_profile_with_labels_is_json():
    rng = np.random.default_rng(71)
    frame = _frame(rng, 3_000)
    frame.loc[:99, "n2"] = np.nan
    frame.loc[:49, "c2"] = None
    scores = rng.uniform(0, 1, 3_000)
    y = (rng.random(3_000) < scores).astype(int)
    profile = build_profile(frame, NUMERIC, CATEGORICAL, scores, {"auc": 0.7}, y=y, quantiles=4, threshold=0.5)
    assert set(profile["calibration"]) == {"score", *NUMERIC, *CATEGORICAL}
    assert set(profile["calibration"]["score"]) == {"q0", "q1", "q2", "q3"}
    assert MISSING in profile["calibration"]["n2"]
    assert profile["calibration"]["n2"][MISSING]["rows"] == 100
    assert profile["calibration"]["c2"][MISSING]["rows"] == 50
    assert set(profile["calibration"]["c1"]) == {"a", "b", "c", "d"}
    assert sum(g["rows"] for g in profile["calibration"]["n1"].values()) == 3_000
    assert profile["numeric"]["n2"]["null_fraction"] == pytest.approx(100 / 3_000)
    assert profile["expected_accuracy"] == pytest.approx(np.mean(np.maximum(scores, 1 - scores)))
    text = json.dumps(profile)
    assert json.loads(text)["calibration_quantiles"] == 4
    assert build_profile(frame, NUMERIC, CATEGORICAL, scores, {}, threshold=0.5)["calibration"] == {}


def test_group_labels_numeric_quantiles():
    rng = np.random.default_rng(81)
    ref = rng.normal(size=10_000)
    prof = profile_numeric(ref)
    labels = group_labels(prof, "numeric", ref, 5)
    values, counts = np.unique(labels, return_counts=True)
    assert values.tolist() == ["q0", "q1", "q2", "q3", "q4"]
    assert np.all(np.abs(counts - 2_000) <= 10)
    probe = np.array([-10.0, 10.0, np.nan, 0.0, np.quantile(ref, 0.3), np.quantile(ref, 0.7)])
    assert group_labels(prof, "numeric", probe, 5).tolist() == ["q0", "q4", MISSING, "q2", "q1", "q3"]
    assert group_labels(prof, "numeric", pd.Series([np.nan, 0.0]), 2).tolist() == [MISSING, "q1"]


def test_group_labels_categorical_strings():
    values = pd.Series(["a", None, "b", np.nan, 3])
    out = group_labels({}, "categorical", values, 5)
    assert out.tolist() == ["a", MISSING, "b", MISSING, "3"]
    assert all(isinstance(v, str) for v in out)
    cat = group_labels({}, "categorical", pd.Series(["x", None, "y"], dtype="category"), 5)
    assert cat.tolist() == ["x", MISSING, "y"]

"""Drift's multiple-testing guard: `detect_drift` judges columns by Benjamini-Hochberg adjusted p-values.

Five two-level categorical columns whose chi-squared p-values are known from their counts alone
(reference 500/500, current 500+k/500-k); the effect-size gate is off (minimum 0) so significance
alone decides. The BH answer is worked out here by hand from those p-values and differs from the
raw p < alpha answer, from Bonferroni and from BH without its step-up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from modelops.stats.drift import build_profile, detect_drift

ROWS = 1000
ALPHA = 0.05
# column -> (its two levels, k: how many current rows moved from the second level to the first).
# Input order is not p-value order, so adjusted values must come back in input order.
SHIFTS = {
    "device": (("mobile", "desktop"), 45),  # p ~ 0.044: raw says drift, BH does not
    "region": (("north", "south"), 3),  # p ~ 0.89
    "channel": (("web", "store"), 51),  # p ~ 0.022: p*m/rank = 0.056 > alpha, drifts only by the step-up
    "plan": (("basic", "premium"), 64),  # p ~ 0.004
    "payment": (("card", "cash"), 50),  # p ~ 0.025
}
THRESHOLDS = {
    "alpha": ALPHA,
    "numeric_min_effect": 0.1,
    "categorical_min_effect": 0.0,  # significance alone decides: this test is about the p-values
    "dataset_drift_share": 0.7,
}


def _column(levels: tuple[str, str], first: int, rng: np.random.Generator) -> np.ndarray:
    values = np.array([levels[0]] * first + [levels[1]] * (ROWS - first), dtype=object)
    return rng.permutation(values)


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    half = ROWS // 2
    reference = pd.DataFrame({c: _column(levels, half, rng) for c, (levels, _) in SHIFTS.items()})
    current = pd.DataFrame({c: _column(levels, half + k, rng) for c, (levels, k) in SHIFTS.items()})
    return reference, current


def _raw_p(k: int) -> float:
    """The chi-squared p-value of reference 500/500 against current 500+k/500-k (no continuity correction)."""
    half = ROWS // 2
    return float(chi2_contingency(np.array([[half, half], [half + k, half - k]]), correction=False)[1])


def _bh_by_hand(p_values: dict[str, float]) -> dict[str, float]:
    """Benjamini-Hochberg step-up: p_(i) * m / i, then the running minimum from the largest p down, capped at 1."""
    ranked = sorted(p_values, key=p_values.get)
    m = len(ranked)
    adjusted, running = {}, 1.0
    for rank in range(m, 0, -1):
        column = ranked[rank - 1]
        running = min(running, p_values[column] * m / rank)
        adjusted[column] = running
    return adjusted


def test_drifted_columns_are_the_bh_adjusted_ones_not_the_raw_ones():
    reference, current = _frames()
    profile = build_profile(reference, [], list(SHIFTS), np.linspace(0.01, 0.99, ROWS), {}, threshold=0.5)
    report = detect_drift(profile, current, THRESHOLDS)

    raw = {c: _raw_p(k) for c, (_, k) in SHIFTS.items()}
    for column, p in raw.items():  # the per-column p-values are the known ones
        assert report.columns[column]["p_value"] == pytest.approx(p, rel=1e-9), column
    adjusted = _bh_by_hand(raw)
    expected = {c for c, p in adjusted.items() if p < ALPHA}

    # the case is built so the corrections disagree: BH keeps three, raw p four, Bonferroni one
    assert expected == {"plan", "channel", "payment"}
    assert {c for c, p in raw.items() if p < ALPHA} == {"plan", "channel", "payment", "device"}
    assert {c for c, p in raw.items() if p * len(raw) < ALPHA} == {"plan"}
    assert raw["channel"] * len(raw) / 2 > ALPHA  # channel drifts only through the step-up

    assert set(report.drifted) == expected
    for column, p in adjusted.items():
        assert report.columns[column]["p_adjusted"] == pytest.approx(p, rel=1e-9), column
        assert report.columns[column]["drifted"] is (p < ALPHA), column
    assert report.drift_share == pytest.approx(3 / 5)
    assert report.dataset_drift is False  # 3 of 5 < 0.7; the raw p-values would give 4 of 5 and a dataset drift


def test_no_shift_no_drift_under_the_same_thresholds():
    reference, _ = _frames()
    profile = build_profile(reference, [], list(SHIFTS), np.linspace(0.01, 0.99, ROWS), {}, threshold=0.5)
    report = detect_drift(profile, reference, THRESHOLDS)
    assert report.drifted == [] and report.drift_share == 0.0
    assert all(r["p_adjusted"] == pytest.approx(1.0) for r in report.columns.values())

"""Backtest of a forecast against certified results on a hand-computed 3-county example; mismatches refused."""

import numpy as np
import pandas as pd
import pytest

from modelops.forecast.aggregate import ScoreColumns
from modelops.forecast.backtest import (
    Backtest,
    CertifiedColumns,
    GeographyMismatch,
    Residuals,
    ResidualSource,
    backtest_table,
    holdout_residuals,
    residuals_from,
    summarize_backtest,
)

COLUMNS = CertifiedColumns(geography="fips", ballots="ballots", dem_votes="dem", turnout="turnout", dem_share="share")


def _forecast():
    return pd.DataFrame(
        {"turnout": [0.60, 0.50, 0.70], "dem_share": [0.55, 0.40, 0.48]}, index=pd.Index([1, 2, 3], name="fips")
    )


def _certified():
    return pd.DataFrame(
        {"fips": [3, 1, 2], "ballots": [7, 6, 5], "dem": [4, 3, 2], "turnout": [0.66, 0.62, 0.45],
         "share": [0.50, 0.52, 0.41]}
    )  # fmt: skip


def test_three_counties_by_hand():
    table = backtest_table(_forecast(), _certified(), COLUMNS)
    # turnout errors: +0.60-0.62 = -0.02, 0.50-0.45 = +0.05, 0.70-0.66 = +0.04
    np.testing.assert_allclose(table["turnout_error"], [-0.02, 0.05, 0.04], atol=1e-12)
    # share errors: 0.55-0.52 = +0.03, 0.40-0.41 = -0.01, 0.48-0.50 = -0.02
    np.testing.assert_allclose(table["dem_share_error"], [0.03, -0.01, -0.02], atol=1e-12)
    summary = summarize_backtest(table, cycle=2024, worst=1)
    assert summary.of("turnout").mae_points == pytest.approx(11 / 3)
    assert summary.of("turnout").bias_points == pytest.approx(7 / 3)
    assert summary.of("dem_share").mae_points == pytest.approx(2.0)
    assert summary.of("dem_share").bias_points == pytest.approx(0.0, abs=1e-12)
    assert summary.of("turnout").coverage is None
    worst = {w.quantity: (w.geography, round(w.error_points, 6)) for w in summary.worst}
    assert worst == {"turnout": ("2", 5.0), "dem_share": ("1", 3.0)}
    assert Backtest.from_xcom(summary.to_xcom()) == summary


def test_coverage_counts_the_intervals_that_hold_the_certified_value():
    intervals = pd.DataFrame(
        {"turnout_lower": [0.46, 0.60, 0.55], "turnout_upper": [0.54, 0.65, 0.65],
         "dem_share_lower": [0.35, 0.40, 0.50], "dem_share_upper": [0.45, 0.50, 0.60]},
        index=pd.Index([2, 3, 1], name="fips"),  # another order: bounds are matched by geography
    )  # fmt: skip
    table = backtest_table(_forecast(), _certified(), COLUMNS, intervals)
    assert table["turnout_covered"].tolist() == [True, False, False]  # 1: 0.62 in; 2: 0.45 below 0.46; 3: 0.66 above
    assert table["dem_share_covered"].tolist() == [True, True, True]  # 3: 0.50 on the upper bound counts
    summary = summarize_backtest(table)
    assert summary.of("turnout").coverage == pytest.approx(1 / 3)
    assert summary.of("dem_share").coverage == 1.0


def test_different_geographies_are_refused_with_counts_on_each_side():
    certified = _certified()
    certified.loc[0, "fips"] = 9  # 3 -> 9: one only in the forecast, one only in the certified results
    certified = pd.concat([certified, certified.iloc[[0]].assign(fips=10)])
    with pytest.raises(GeographyMismatch, match=r"1 only in the forecast .*, 2 only in the certified results"):
        backtest_table(_forecast(), certified, COLUMNS)


def test_text_and_number_keys_are_named_as_the_likely_cause():
    with pytest.raises(GeographyMismatch, match="none in common; key types int64 vs"):
        backtest_table(_forecast(), _certified().astype({"fips": str}), COLUMNS)


def test_missing_certified_values_are_refused_not_dropped():
    certified = _certified()
    certified.loc[1, "turnout"] = np.nan
    with pytest.raises(ValueError, match=r"missing values \(rows per column: \{'turnout': 1\}\)"):
        backtest_table(_forecast(), certified, COLUMNS)


def test_residuals_keep_the_signed_errors_and_their_source():
    table = backtest_table(_forecast(), _certified(), COLUMNS)
    residuals = residuals_from(table, ResidualSource.BACKTEST, cycle=2024)
    np.testing.assert_allclose(residuals.of("turnout"), [-0.02, 0.05, 0.04], atol=1e-12)
    assert Residuals.from_xcom(residuals.to_xcom()) == residuals
    with pytest.raises(ValueError, match="is not a valid ResidualSource"):
        Residuals(source="guess", cycle=None, turnout=(), dem_share=())


def test_holdout_residuals_compare_scores_with_their_own_outcomes_per_geography():
    holdout = pd.DataFrame(
        {"fips": [1, 1, 2], "t": [0.5, 0.7, 0.4], "s": [0.6, 0.2, 0.5], "voted": [1, 0, 1], "dem": [1, 0, 0]}
    )
    scores = ScoreColumns(geography="fips", turnout="t", support="s")
    chunks = [holdout.iloc[:1], holdout.iloc[1:]]
    residuals = holdout_residuals(chunks, scores, voted="voted", dem_vote="dem")
    assert residuals.source == "holdout"
    # 1: turnout (0.5 + 0.7 - 1) / 2 = 0.1, share 0.44 / 1.2 - 1 / 1; 2: 0.4 - 1, share 0.5 - 0 / 1
    np.testing.assert_allclose(residuals.of("turnout"), [0.1, -0.6], atol=1e-12)
    np.testing.assert_allclose(residuals.of("dem_share"), [0.44 / 1.2 - 1.0, 0.5], atol=1e-12)
    turnout_only = holdout_residuals(chunks, scores, voted="voted")
    assert np.isnan(turnout_only.of("dem_share")).all()
    with pytest.raises(ValueError, match=r"missing values \(rows per column: \{'voted': 1\}\)"):
        holdout_residuals([holdout.assign(voted=[1, None, 0])], scores, voted="voted")

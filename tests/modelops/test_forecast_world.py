"""Known answers on simulated worlds: truth drawn from the scores, a uniform turnout surge, and interval
coverage under correlated county errors.

A world: counties of 300-3000 voters; turnout scores t_i = sigmoid(N(0.3, 1.2)), support scores
s_i = sigmoid(N(0, 1.5)); each voter votes with probability sigmoid(logit(t_i) + eta_g) and, voting, votes
Democratic with probability sigmoid(logit(s_i) + zeta_g). eta, zeta are the county errors the model misses.
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from modelops.forecast.aggregate import ScoreColumns, aggregate_scores
from modelops.forecast.backtest import (
    CertifiedColumns,
    ResidualSource,
    backtest_table,
    residuals_from,
    summarize_backtest,
)
from modelops.forecast.calibrate import fit_logit_shift
from modelops.forecast.intervals import forecast_intervals

SCORES = ScoreColumns(geography="county_fips", turnout="turnout_score", support="support_score")
CERTIFIED = CertifiedColumns(
    geography="county_fips", ballots="ballots_cast", dem_votes="dem_votes", turnout="turnout", dem_share="dem_share"
)


def _world(seed, counties, turnout_error, support_error, surge=0.0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(300, 3001, counties)
    county = np.repeat(np.arange(1000, 1000 + counties), sizes)
    t = expit(rng.normal(0.3, 1.2, county.size))
    s = expit(rng.normal(0.0, 1.5, county.size))
    eta = surge + rng.normal(0.0, turnout_error, counties)
    zeta = rng.normal(0.0, support_error, counties)
    code = county - 1000
    voted = rng.random(county.size) < expit(logit(t) + eta[code])
    dem = voted & (rng.random(county.size) < expit(logit(s) + zeta[code]))
    scores = pd.DataFrame({"county_fips": county, "turnout_score": t, "support_score": s})
    certified = (
        pd.DataFrame({"county_fips": county, "registered": 1, "ballots_cast": voted, "dem_votes": dem})
        .groupby("county_fips", as_index=False)
        .sum()
    )
    certified["rep_votes"] = certified["ballots_cast"] - certified["dem_votes"]
    certified["turnout"] = certified["ballots_cast"] / certified["registered"]
    certified["dem_share"] = certified["dem_votes"] / certified["ballots_cast"]
    return scores, certified


def _chunks(frame, size=100_000):
    return lambda: (frame.iloc[i : i + size] for i in range(0, len(frame), size))


def _shift_sds(scores):
    """Per county, the sd of the fitted turnout and support shifts when the truth is the model (linearised)."""
    t, s = scores["turnout_score"], scores["support_score"]
    sums = scores.assign(vt=t * (1 - t), slope=t * s * (1 - s)).groupby("county_fips")[["vt", "slope"]].sum()
    k = (scores.assign(x=t * (1 - t) * s).groupby("county_fips")["x"].sum() / sums["vt"]).rename("k")
    kk = scores["county_fips"].map(k)
    # dem votes net of what the turnout fit absorbs: sum_i V_i (C_i - k); its variance per voter is below
    var = t * (s * (1 - kk) ** 2 + (1 - s) * kk**2) - (t * (s - kk)) ** 2
    var_gamma = scores.assign(v=var).groupby("county_fips")["v"].sum()
    return 1 / np.sqrt(sums["vt"]), np.sqrt(var_gamma) / sums["slope"]


def test_when_truth_is_the_model_shifts_are_noise_and_errors_are_bernoulli():
    scores, certified = _world(seed=11, counties=200, turnout_error=0.0, support_error=0.0)
    shift = fit_logit_shift(_chunks(scores), certified, SCORES, CERTIFIED, cycle=2020).table()
    sd_delta, sd_gamma = _shift_sds(scores)
    z_delta, z_gamma = shift["turnout_shift"] / sd_delta, shift["support_shift"] / sd_gamma
    for z in (z_delta, z_gamma):  # standardised shifts: mean 0, sd 1 over 200 counties
        assert abs(z.mean()) < 4 / np.sqrt(len(z))
        assert 0.8 < z.std() < 1.2
        assert z.abs().max() < 4.5
    forecast = aggregate_scores(_chunks(scores)(), SCORES)
    summary = summarize_backtest(backtest_table(forecast, certified, CERTIFIED))
    expected_mae = np.sqrt(2 / np.pi) * forecast.table["turnout_sd"].mean() * 100  # E|N(0, sd)|, points
    assert summary.of("turnout").mae_points / expected_mae == pytest.approx(1.0, abs=0.2)
    assert abs(summary.of("turnout").bias_points) < 4 * forecast.table["turnout_sd"].mean() * 100 / np.sqrt(200)


def test_a_uniform_turnout_surge_is_recovered_as_the_turnout_shift():
    scores, certified = _world(seed=12, counties=60, turnout_error=0.0, support_error=0.0, surge=0.4)
    table = fit_logit_shift(_chunks(scores), certified, SCORES, CERTIFIED).table()
    # the slope of the ballots in the shift is sum t'(1 - t') at the surged scores
    t_new = expit(logit(scores["turnout_score"]) + 0.4)
    sd = 1 / np.sqrt(scores.assign(v=t_new * (1 - t_new)).groupby("county_fips")["v"].sum())
    z = (table["turnout_shift"] - 0.4) / sd
    assert z.abs().max() < 4.5  # every county within 4.5 of its own sd
    pooled_sd = np.sqrt((sd**2).sum()) / len(sd)  # sd of the mean shift (about 0.01 here)
    assert abs(table["turnout_shift"].mean() - 0.4) < 4 * pooled_sd
    assert (table["turnout_status"] == "fit").all()


@pytest.mark.parametrize("seed", [21, 22])
def test_intervals_from_last_cycles_residuals_cover_about_ninety_percent(seed):
    # correlated county errors of known sd (0.25 turnout log-odds, 0.2 support log-odds) in both cycles
    last_scores, last_certified = _world(seed, 600, turnout_error=0.25, support_error=0.2)
    scores, certified = _world(seed + 100, 1500, turnout_error=0.25, support_error=0.2)
    last = backtest_table(aggregate_scores(_chunks(last_scores)(), SCORES), last_certified, CERTIFIED)
    residuals = residuals_from(last, ResidualSource.BACKTEST, cycle=2022)
    forecast = aggregate_scores(_chunks(scores)(), SCORES)
    intervals = forecast_intervals(forecast, residuals, level=0.9)
    summary = summarize_backtest(backtest_table(forecast, certified, CERTIFIED, intervals.table))
    for quantity in ("turnout", "dem_share"):
        assert 0.85 <= summary.of(quantity).coverage <= 0.95
    # the Bernoulli noise alone gives far too narrow intervals: the reason for the residuals
    bernoulli = intervals.table.assign(
        turnout_lower=forecast.table["turnout"] - 1.645 * forecast.table["turnout_sd"],
        turnout_upper=forecast.table["turnout"] + 1.645 * forecast.table["turnout_sd"],
    )
    narrow = summarize_backtest(backtest_table(forecast, certified, CERTIFIED, bernoulli))
    assert narrow.of("turnout").coverage < 0.5

"""The logit-shift solve, its streaming fit, applying it to the next cycle, and its JSON round trip."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from modelops.forecast.aggregate import ScoreColumns
from modelops.forecast.backtest import CertifiedColumns, GeographyMismatch
from modelops.forecast.calibrate import LogitShift, TurnoutPass, apply_shift, fit_logit_shift, solve_shift

SCORES = ScoreColumns(geography="county", turnout="t", support="s")
CERTIFIED = CertifiedColumns(geography="county", ballots="ballots", dem_votes="dem", turnout="to", dem_share="ds")


def test_solve_shift_recovers_a_known_shift_and_marks_unreachable_targets():
    x = logit(np.array([0.2, 0.5, 0.7]))
    target = float(np.sum(expit(x + 0.4)))
    d, residual, status = solve_shift(x, np.ones(3), target)
    assert d == pytest.approx(0.4, abs=1e-9) and abs(residual) < 1e-9 and status == "fit"
    d, residual, status = solve_shift(x, np.ones(3), 3.5)  # more ballots than voters
    assert (d, status) == (15.0, "bound") and residual < 0


def _chunks(frame, size=3):
    return lambda: (frame.iloc[i : i + size] for i in range(0, len(frame), size))


def test_fit_recovers_exact_shifts_per_county_from_streamed_chunks():
    t = np.array([0.2, 0.5, 0.7, 0.4, 0.6, 0.9, 0.3])
    s = np.array([0.3, 0.6, 0.5, 0.8, 0.2, 0.5, np.nan])  # the last voter is excluded and counted
    county = np.array(["a", "a", "a", "b", "b", "b", "b"])
    frame = pd.DataFrame({"county": county, "t": t, "s": s})
    delta, gamma = {"a": 0.4, "b": -0.3}, {"a": -0.2, "b": 0.5}
    rows = []
    for g in ("a", "b"):
        k = (county == g) & ~np.isnan(s)
        t_new = expit(logit(t[k]) + delta[g])
        rows.append({"county": g, "ballots": t_new.sum(), "dem": (t_new * expit(logit(s[k]) + gamma[g])).sum()})
    certified = pd.DataFrame(rows)
    shift = fit_logit_shift(_chunks(frame), certified, SCORES, CERTIFIED, cycle=2022, bin_width=1e-4)
    table = shift.table()
    # at this width the binning error is below 1e-10 per voter: the fit is exact
    np.testing.assert_allclose(table["turnout_shift"], [0.4, -0.3], atol=1e-6)
    np.testing.assert_allclose(table["support_shift"], [-0.2, 0.5], atol=1e-6)
    assert table["voters"].tolist() == [3, 3] and table["excluded_missing"].tolist() == [0, 1]
    assert LogitShift.from_xcom(shift.to_xcom()) == shift
    # the first pass fed by a caller (categorical geography, as the forecast streams it): the same fit, one read
    coded = frame.assign(county=pd.Categorical(county, categories=["b", "z", "a"]))
    first = TurnoutPass(SCORES, bin_width=1e-4)
    for chunk in _chunks(coded)():
        first.add(chunk)
    reads = []

    def second_read():
        reads.append(1)
        return _chunks(coded)()

    again = fit_logit_shift(second_read, certified, SCORES, CERTIFIED, cycle=2022, bin_width=1e-4, first_pass=first)
    assert again == shift and len(reads) == 1
    with pytest.raises(ValueError, match="another bin width"):
        fit_logit_shift(_chunks(frame), certified, SCORES, CERTIFIED, first_pass=first)


def test_binning_error_stays_below_its_documented_bound():
    rng = np.random.default_rng(5)
    t = expit(rng.normal(0.3, 1.2, 50_000))
    frame = pd.DataFrame({"county": "a", "t": t, "s": 0.5})
    target = float(expit(logit(t) + 0.25).sum())
    certified = pd.DataFrame({"county": ["a"], "ballots": [target], "dem": [target / 2]})
    shift = fit_logit_shift(_chunks(frame, 10_000), certified, SCORES, CERTIFIED)  # default width 0.05
    exact_slope = float((expit(logit(t) + 0.25) * (1 - expit(logit(t) + 0.25))).sum())
    ballots_error = 0.012 * 0.05**2 * len(t)  # the docstring's bound, in ballots
    assert abs(shift.shifts[0].turnout_shift - 0.25) <= ballots_error / exact_slope


def test_geographies_without_certified_results_are_refused():
    frame = pd.DataFrame({"county": ["a", "b"], "t": [0.5, 0.5], "s": [0.5, 0.5]})
    certified = pd.DataFrame({"county": ["a"], "ballots": [1.0], "dem": [0.5]})
    with pytest.raises(GeographyMismatch, match="1 only in the scores, 0 only in the certified results"):
        fit_logit_shift(_chunks(frame), certified, SCORES, CERTIFIED)


def test_apply_shift_moves_known_geographies_and_counts_the_others():
    frame = pd.DataFrame({"county": ["a", "a", "c", "c", "c"], "t": [0.5, np.nan, 0.5, 0.2, 0.7], "s": 0.5})
    certified = pd.DataFrame({"county": ["a"], "ballots": [expit(0.8)], "dem": [expit(0.8) * expit(-0.4)]})
    fitted = fit_logit_shift(_chunks(frame.iloc[[0]]), certified, SCORES, CERTIFIED, shrink=0.5)
    shifted = apply_shift(frame, fitted, SCORES)
    assert shifted.frame.loc[0, "t"] == pytest.approx(expit(0.4), abs=1e-6)  # half of the 0.8 shift
    assert shifted.frame.loc[0, "s"] == pytest.approx(expit(-0.2), abs=1e-6)
    assert np.isnan(shifted.frame.loc[1, "t"])  # missing stays missing
    assert shifted.frame.loc[2:, "t"].tolist() == pytest.approx([0.5, 0.2, 0.7])  # c: unknown, no shift
    assert (shifted.unmatched_rows, shifted.unmatched_geographies) == (3, frozenset({"c"}))
    assert frame.loc[0, "t"] == 0.5  # the input chunk is left alone


def test_a_second_read_that_differs_from_the_first_is_refused():
    first = pd.DataFrame({"county": ["a"], "t": [0.5], "s": [0.5]})
    reads = iter([[first], [first.assign(county="b")]])
    certified = pd.DataFrame({"county": ["a"], "ballots": [0.5], "dem": [0.25]})
    with pytest.raises(ValueError, match="read_chunks must repeat"):
        fit_logit_shift(lambda: next(reads), certified, SCORES, CERTIFIED)

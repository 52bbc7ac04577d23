"""Streaming aggregation of voter scores by geography: sums, Bernoulli sds, scenarios, missing scores, JSON."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from modelops.core import jsonsafe
from modelops.forecast.aggregate import (
    Aggregation,
    GeographyAccumulator,
    MissingPolicy,
    ScoreColumns,
    aggregate_scores,
    geography_codes,
)
from modelops.forecast.logodds import clip_probability, odds_shift, shift_probability
from modelops.forecast.scenarios import TurnoutScenarios, delta_for_points

COLS = ScoreColumns(geography="county", turnout="p_vote", support="p_dem")


def _frame(geo, t, s):
    return pd.DataFrame({"county": geo, "p_vote": t, "p_dem": s})


def test_sums_rates_and_bernoulli_sds_by_hand():
    # county a: t = (0.5, 0.25), s = (0.5, 1.0); county b: one voter t = 1, s = 0
    table = aggregate_scores([_frame(["a", "a", "b"], [0.5, 0.25, 1.0], [0.5, 1.0, 0.0])], COLS).table
    a, b = table.loc["a"], table.loc["b"]
    assert a["registered"] == 2 and a["scored"] == 2 and a["excluded_missing"] == 0
    assert a["ballots_cast"] == 0.75 and a["dem_votes"] == 0.5 and a["rep_votes"] == 0.25
    assert a["turnout"] == 0.375 and a["dem_share"] == pytest.approx(2 / 3)
    assert a["turnout_sd"] == pytest.approx(np.sqrt(0.25 + 0.1875) / 2)  # sum t(1-t) / registered
    # delta method on D - pB: var_D = .25*.75 + .25*.75, cov = .25*.5 + .25*.75, var_B = .4375, p = 2/3
    var = 0.375 - 2 * (2 / 3) * 0.3125 + (2 / 3) ** 2 * 0.4375
    assert a["dem_share_sd"] == pytest.approx(np.sqrt(var) / 0.75)
    assert b["turnout"] == 1.0 and b["dem_share"] == 0.0 and b["turnout_sd"] == 0.0


def test_scenarios_shift_every_voter_on_the_log_odds_scale_in_the_same_pass():
    table = aggregate_scores([_frame(["a", "a"], [0.5, 0.8], [0.5, 0.5])], COLS, TurnoutScenarios(0.3)).table
    low = (expit(-0.3) + expit(np.log(4) - 0.3)) / 2
    high = (expit(0.3) + expit(np.log(4) + 0.3)) / 2
    assert table.at["a", "turnout_low"] == pytest.approx(low, rel=1e-9)
    assert table.at["a", "turnout"] == pytest.approx(0.65)
    assert table.at["a", "turnout_high"] == pytest.approx(high, rel=1e-9)
    assert table.at["a", "dem_share_low"] == pytest.approx(0.5)  # equal support: the share does not move


def test_default_delta_moves_an_electorate_near_half_by_about_five_points():
    assert expit(TurnoutScenarios().delta) - 0.5 == pytest.approx(0.05, abs=0.001)
    assert expit(np.log(0.6 / 0.4) + delta_for_points(0.6, 5.0)) == pytest.approx(0.65)


def test_chunked_aggregation_equals_one_shot_exactly():
    rng = np.random.default_rng(3)
    n = 20_000
    # dyadic scores (multiples of 1/64) make every unshifted sum exact, whatever the order of addition
    frame = _frame(rng.integers(0, 37, n), rng.integers(0, 65, n) / 64, rng.integers(0, 65, n) / 64)
    whole = aggregate_scores([frame], COLS).table
    chunked = aggregate_scores((frame.iloc[i : i + 1_234] for i in range(0, n, 1_234)), COLS).table
    exact = ["registered", "scored", "ballots_cast", "dem_votes", "rep_votes", "turnout", "dem_share"]
    pd.testing.assert_frame_equal(chunked[exact], whole[exact], check_exact=True)
    pd.testing.assert_frame_equal(chunked, whole, check_exact=False, rtol=1e-12)
    # and against a plain groupby of the whole frame
    assert (whole["ballots_cast"] == frame.groupby("county")["p_vote"].sum()).all()


def test_missing_scores_are_excluded_and_counted_per_geography():
    frame = _frame(["a", "a", "a", "b", None], [0.5, np.nan, 0.5, np.nan, 0.5], [0.5, 0.5, np.nan, np.nan, 0.5])
    result = aggregate_scores([frame], COLS)
    a, b = result.table.loc["a"], result.table.loc["b"]
    assert (a["registered"], a["scored"], a["excluded_missing"]) == (3, 1, 2)
    assert (a["missing_turnout"], a["missing_support"]) == (1, 1)
    assert a["ballots_cast"] == 0.5 and a["turnout"] == 0.5  # the rate among the scored rows
    assert (b["scored"], b["excluded_missing"], b["missing_turnout"], b["missing_support"]) == (0, 1, 1, 1)
    assert np.isnan(b["turnout"])  # nothing scored: no rate, never an imputed one
    assert (result.rows, result.rows_excluded, result.rows_missing_geography) == (5, 3, 1)


def test_refuse_policy_names_the_columns_and_counts_never_values():
    frame = _frame(["a", "a"], [0.5, np.nan], [0.123456, 0.5])
    with pytest.raises(ValueError, match=r"p_vote': 1") as caught:
        aggregate_scores([frame], COLS, missing=MissingPolicy.REFUSE)
    assert "0.123456" not in str(caught.value)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"county": ["a"], "p_vote": [0.5]}), r"lacks column\(s\) \['p_dem'\]"),
        (_frame(["a"], [1.5], [0.5]), r"'p_vote' holds scores outside \[0, 1\]"),
        (_frame(["a"], ["x"], [0.5]), r"'p_vote' holds values that are not numbers"),
    ],
)
def test_bad_chunks_are_refused_by_name(frame, message):
    with pytest.raises(ValueError, match=message):
        aggregate_scores([frame], COLS)


def test_geography_codes_of_a_categorical_leave_out_unused_categories_and_keep_missing_rows_missing():
    values = pd.Series(pd.Categorical(["b", None, "d", "b"], categories=["a", "b", "c", "d"]))
    codes, geographies = geography_codes(values)
    assert geographies.tolist() == ["b", "d"] and codes.tolist() == [0, -1, 1, 0]
    plain_codes, plain = geography_codes(pd.Series(["b", None, "d", "b"]))
    assert plain.tolist() == ["b", "d"] and plain_codes.tolist() == [0, -1, 1, 0]


def test_a_categorical_geography_aggregates_as_the_plain_one():
    geo = ["b", "a", None, "b", "a"]
    t, s = [0.5, 0.25, 0.9, 1.0, 0.0], [0.5, 1.0, 0.3, 0.0, 0.2]
    plain = aggregate_scores([_frame(geo, t, s)], COLS)
    categorical = _frame(pd.Categorical(geo, categories=["z", "b", "a"]), t, s)  # "z": no row
    coded = aggregate_scores([categorical.iloc[:2], categorical.iloc[2:]], COLS)
    pd.testing.assert_frame_equal(coded.table, plain.table, check_index_type=False)
    assert coded.table.index.tolist() == ["a", "b"] and coded.rows_missing_geography == 1


def test_odds_shift_is_the_log_odds_shift():
    p = clip_probability(np.array([0.0, 1e-7, 0.1, 0.5, 0.9, 1.0]))
    for delta in (-0.2, 0.0, 0.2, 3.0):
        np.testing.assert_allclose(odds_shift(p, delta), shift_probability(p, delta), rtol=1e-12, atol=0)


def test_no_chunk_is_an_error():
    with pytest.raises(ValueError, match="input was empty"):
        GeographyAccumulator(COLS).result()


def test_aggregation_round_trips_through_json():
    result = aggregate_scores([_frame([6001, 6001, 6003], [0.5, 0.25, np.nan], [0.5, 1.0, 0.5])], COLS)
    back = Aggregation.from_dict(json.loads(jsonsafe.dumps(result.to_dict())))
    pd.testing.assert_frame_equal(back.table, result.table)
    assert (back.columns, back.missing_policy, back.rows_excluded) == (COLS, MissingPolicy.EXCLUDE, 1)

"""The synthetic world's ground truth: two-party support, certified county results and a weighted poll.

Known answers: the certified counts are the truth file's sums; a poll weighted by its survey weights
recovers the voter file's share of voters aged 65+ while the unweighted poll misses it; a swing in
support moves every county's DEM votes one way; and the voter file of a seed is the one the generator
wrote before support and polls existed (its digest, computed at the commit before them).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from modelops.collect import electorate, polls
from modelops.collect.sources import collect_batch, content_hash, load_batch
from modelops.collect.synthetic import CycleScenario
from modelops.collect.world import FILES, generate_voter_file
from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings, parse_settings, read_yaml
from modelops.core import catalog

Z99 = 2.576  # two-sided 99% normal quantile
CYCLES = [CycleScenario(2020), CycleScenario(2022), CycleScenario(2024)]
# The voter file and county tables of `_world_before` as the generator wrote them before support and
# polls were added (sources.content_hash of each file read back, at commit edd11ad).
BEFORE = {
    "voters": "5427140ec140642c31d9b26dcac705d05db14956a736d8579699270e1363ccc7",
    "county_economics": "e7099fe9e785d148496584181168119c02d6109c69834cbe03a40339b6f1da65",
    "county_results": "4d949a958092e3e11067318439798639805e9d8442acad6aeee76ea11ddc6fad",
}


@pytest.fixture(autouse=True)
def _workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "workspace"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three cycles of 4,000 voters in 9 counties, each with a poll of at most 500 respondents."""
    out = tmp_path_factory.mktemp("world")
    paths = generate_voter_file(out, rows=12000, seed=31, scenarios=CYCLES, n_counties=9, poll_rows=500)
    return {name: pd.read_parquet(path) for name, path in paths.items()}


def _world_scenarios():
    return [
        CycleScenario(2020),
        CycleScenario(2022, turnout_shift=-0.2),
        CycleScenario(2024, young_registrant_share=0.1),
    ]


def _world_before(out, scenarios=None):
    """The world whose voter file and county tables `BEFORE` holds the digests of (several chunks per cycle)."""
    scenarios = scenarios or _world_scenarios()
    return generate_voter_file(out, rows=900, seed=2024, scenarios=scenarios, n_counties=7, chunk_rows=200)


# --- the files ---------------------------------------------------------------------------------


def test_the_world_writes_its_files_under_their_catalog_names(tmp_path):
    paths = generate_voter_file(tmp_path, rows=300, seed=1, scenarios=CYCLES[:1], n_counties=3, poll_rows=20)
    assert {name: paths[name] for name in FILES} == {name: str(tmp_path / file) for name, file in FILES.items()}
    assert FILES["truth"] == catalog.TRUTH_FILE == "truth.parquet"
    assert FILES["certified_results"] == catalog.CERTIFIED_RESULTS_FILE == "certified_results.parquet"
    assert FILES["polls"] == catalog.POLL_FILE and FILES["voters"] == catalog.VOTER_FILE


def test_the_voter_file_of_a_seed_is_unchanged_by_support_and_polls(tmp_path):
    paths = _world_before(tmp_path / "a")
    assert {name: content_hash(pd.read_parquet(paths[name])) for name in BEFORE} == BEFORE
    # a support swing and a stronger economy effect move the truth, never the voter file
    swung = [replace(s, support_shift=1.0, economy_support_effect=3.0) for s in _world_scenarios()]
    moved = _world_before(tmp_path / "b", swung)
    assert content_hash(pd.read_parquet(moved["voters"])) == BEFORE["voters"]
    assert not pd.read_parquet(moved["truth"]).equals(pd.read_parquet(paths["truth"]))


def test_the_same_seed_writes_the_same_files(tmp_path):
    kwargs = {"rows": 1200, "seed": 8, "scenarios": CYCLES, "n_counties": 4, "poll_rows": 60}
    a, b = generate_voter_file(tmp_path / "a", **kwargs), generate_voter_file(tmp_path / "b", **kwargs)
    other = generate_voter_file(tmp_path / "c", **{**kwargs, "seed": 9})
    for name in FILES:
        pd.testing.assert_frame_equal(pd.read_parquet(a[name]), pd.read_parquet(b[name]))
    for name in ("truth", "polls"):
        assert not pd.read_parquet(a[name]).equals(pd.read_parquet(other[name]))


def test_the_truth_covers_every_voter_with_the_voter_files_turnout(world):
    truth, voters = world["truth"], world["voters"]
    assert list(truth.columns) == list(electorate.TRUTH_COLUMNS)
    assert truth["voter_id"].tolist() == voters["voter_id"].tolist()
    assert (truth["voted"].to_numpy() == voters["voted"].to_numpy()).all()
    assert truth["supports_dem"].isin([0, 1]).all() and truth["p_support"].between(0, 1, inclusive="neither").all()
    assert "supports_dem" not in voters.columns and "p_support" not in voters.columns
    # the drawn outcomes follow the true probabilities (12,000 draws: within 4 standard errors)
    for p, drawn in (("p_turnout", "voted"), ("p_support", "supports_dem")):
        se = math.sqrt((truth[p] * (1 - truth[p])).sum()) / len(truth)
        assert abs(truth[drawn].mean() - truth[p].mean()) < 4 * se


# --- certified results -------------------------------------------------------------------------


def test_certified_results_are_the_sums_of_the_truth(world):
    truth, certified = world["truth"], world["certified_results"]
    assert list(certified.columns) == list(electorate.CERTIFIED_COLUMNS)
    assert len(certified) == 9 * 3  # every county in every cycle
    voted = truth["voted"] == 1
    expected = (
        truth.assign(
            registered=1,
            ballots_cast=voted.astype(int),
            dem_votes=(voted & (truth["supports_dem"] == 1)).astype(int),
            rep_votes=(voted & (truth["supports_dem"] == 0)).astype(int),
        )
        .groupby(["county_fips", "cycle"], as_index=False)[["registered", "ballots_cast", "dem_votes", "rep_votes"]]
        .sum()
    )
    got = certified.drop(columns=["turnout", "dem_share"]).sort_values(["county_fips", "cycle"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()), check_dtype=False)
    assert certified["registered"].sum() == 12000 and certified["ballots_cast"].sum() == truth["voted"].sum()
    assert (certified["dem_votes"] + certified["rep_votes"] == certified["ballots_cast"]).all()


def test_certified_shares_are_the_counts_ratios_inside_zero_and_one(world):
    certified = world["certified_results"]
    np.testing.assert_allclose(certified["turnout"], certified["ballots_cast"] / certified["registered"])
    np.testing.assert_allclose(certified["dem_share"], certified["dem_votes"] / certified["ballots_cast"])
    assert certified["dem_share"].between(0, 1, inclusive="neither").all()
    assert certified["turnout"].between(0, 1, inclusive="neither").all()


def test_a_county_without_voters_has_zero_counts_and_no_shares():
    truth = pd.DataFrame(
        {"county_fips": ["A", "A", "A"], "cycle": [2024] * 3, "voted": [1, 1, 0], "supports_dem": [1, 0, 1]}
    )
    certified = electorate.certify_results([electorate.tally_votes(truth)], pd.Series(["A", "B"]), [2024])
    a, b = certified.iloc[0], certified.iloc[1]
    assert (a["registered"], a["ballots_cast"], a["dem_votes"], a["rep_votes"]) == (3, 2, 1, 1)
    assert a["turnout"] == pytest.approx(2 / 3) and a["dem_share"] == pytest.approx(0.5)
    assert (b["registered"], b["ballots_cast"]) == (0, 0) and pd.isna(b["turnout"]) and pd.isna(b["dem_share"])


def test_a_support_swing_moves_every_countys_dem_votes_up(tmp_path):
    kwargs = {"rows": 6000, "seed": 12, "n_counties": 6, "poll_rows": 50}
    base = generate_voter_file(tmp_path / "base", scenarios=[CycleScenario(2024)], **kwargs)
    swing = generate_voter_file(tmp_path / "swing", scenarios=[CycleScenario(2024, support_shift=0.5)], **kwargs)
    before, after = pd.read_parquet(base["certified_results"]), pd.read_parquet(swing["certified_results"])
    # the same voters vote, and each one's support is drawn from the same uniform: DEM votes can only rise
    assert (after["ballots_cast"] == before["ballots_cast"]).all()
    assert (after["dem_votes"] >= before["dem_votes"]).all() and (after["dem_share"] >= before["dem_share"]).all()
    overall = (
        after["dem_votes"].sum() / after["ballots_cast"].sum()
        - before["dem_votes"].sum() / before["ballots_cast"].sum()
    )
    assert 0.05 < overall < 0.2  # +0.5 log-odds around a share near one half: about +0.1


# --- the support model -------------------------------------------------------------------------


def _voter(**values):
    row = {
        "party": "IND",
        "age": 45,
        "education": "some_college",
        "race_ethnicity": "other",
        "urban_class": "suburban",
        "gender": "X",
        "unemployment_change": 0.0,
        "income_change": 0.0,
    }
    return pd.DataFrame([{**row, **values}])


def test_support_logit_by_hand():
    # an IND aged 45 with some college, suburban, no economic change: intercept + other race + X gender
    assert electorate.support_logit(_voter(), CycleScenario(2024))[0] == pytest.approx(0.0 + 0.2 + 0.4)
    dem = _voter(party="DEM", age=25, race_ethnicity="black", urban_class="urban", gender="F")
    expected = 2.2 - 0.02 * (25 - 45) + 1.6 + 0.45 + 0.25
    assert electorate.support_logit(dem, CycleScenario(2024))[0] == pytest.approx(expected)
    worse = _voter(unemployment_change=0.02, income_change=-0.02)  # economy term: -25*0.02 + 5*(-0.02) = -0.6
    assert electorate.support_logit(worse, CycleScenario(2024))[0] == pytest.approx(0.6 - 0.6)
    assert electorate.support_logit(worse, CycleScenario(2024, economy_support_effect=0.0))[0] == pytest.approx(0.6)
    shifted = electorate.support_logit(worse, CycleScenario(2024, support_shift=-0.3, economy_support_effect=2.0))
    assert shifted[0] == pytest.approx(0.6 - 0.3 - 1.2)


def test_the_support_model_refuses_unknown_values_naming_the_column():
    with pytest.raises(ValueError, match=r"column 'party' holds 1 values outside"):
        electorate.support_logit(_voter(party="dem"), CycleScenario(2024))
    with pytest.raises(ValueError, match=r"lacks columns \['gender'\]"):
        electorate.support_logit(_voter().drop(columns="gender"), CycleScenario(2024))


# --- the poll ----------------------------------------------------------------------------------


def test_the_poll_has_its_own_ids_the_shared_columns_and_weights_summing_to_the_voters(world):
    poll, voters = world["polls"], world["voters"]
    assert list(poll.columns) == list(polls.POLL_COLUMNS)
    assert poll.groupby("cycle").size().to_dict() == {2020: 500, 2022: 500, 2024: 500}
    assert poll["respondent_id"].is_unique and not poll["respondent_id"].isin(voters["voter_id"]).any()
    sums = poll.groupby("cycle")["survey_weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), voters.groupby("cycle").size().to_numpy())
    assert (poll["survey_weight"] > 0).all()
    shared = [c for c in polls.SHARED_COLUMNS if c != "urban_class"]
    assert set(shared) <= set(voters.columns)
    # a blank answer is unlabelled, never a 0
    assert str(poll["vote_dem"].dtype) == "Int64" and set(poll["vote_dem"].dropna()) <= {0, 1}
    assert 0 < poll["vote_dem"].isna().mean() < 0.1


def test_survey_weights_are_the_inverse_response_probabilities_normalised():
    responders = pd.DataFrame({column: ["x", "y"] for column in polls.SHARED_COLUMNS})
    responders = responders.assign(supports_dem=[1, 0], p_response=[0.5, 0.25])
    poll = polls.draw_poll(responders, population=30, poll_rows=10, cycle=2024, rng=np.random.default_rng(0))
    weights = dict(zip(poll["age"], poll["survey_weight"], strict=True))  # 1/0.5 : 1/0.25 = 2 : 4, summing to 30
    assert weights == {"x": pytest.approx(10.0), "y": pytest.approx(20.0)}
    assert sorted(poll["respondent_id"]) == ["R2024-000000", "R2024-000001"]


def test_stated_votes_misreport_and_dont_know_at_the_documented_rates():
    n = 40000
    responders = pd.DataFrame({column: "x" for column in polls.SHARED_COLUMNS}, index=range(n))
    responders = responders.assign(supports_dem=1, p_response=0.5)
    poll = polls.draw_poll(responders, population=n, poll_rows=n, cycle=2024, rng=np.random.default_rng(5))
    blank, answered = poll["vote_dem"].isna(), poll["vote_dem"].dropna()
    for observed, rate, rows in (
        (blank.mean(), polls.DONT_KNOW_RATE, n),
        ((answered == 0).mean(), polls.MISREPORT_RATE, len(answered)),
    ):
        assert abs(observed - rate) < 4 * math.sqrt(rate * (1 - rate) / rows)


def test_weighting_the_poll_recovers_the_voter_files_share_of_65_plus(tmp_path):
    paths = generate_voter_file(tmp_path, rows=40000, seed=2024, scenarios=[CycleScenario(2024)], n_counties=10)
    voters, poll = pd.read_parquet(paths["voters"]), pd.read_parquet(paths["polls"])
    assert len(poll) == polls.DEFAULT_POLL_ROWS
    truth = float((voters["age"] >= 65).mean())
    old, weights = (poll["age"] >= 65).to_numpy(dtype=float), poll["survey_weight"].to_numpy()
    effective = weights.sum() ** 2 / (weights**2).sum()  # Kish's effective sample size
    weighted, unweighted = float(np.average(old, weights=weights)), float(old.mean())
    assert abs(weighted - truth) < Z99 * math.sqrt(truth * (1 - truth) / effective)
    # the known bias: older voters answer more, so the raw poll is too old, far beyond its own interval
    assert unweighted - truth > Z99 * math.sqrt(truth * (1 - truth) / len(poll))
    graduates = (poll["education"] == "graduate").to_numpy(dtype=float)
    assert graduates.mean() > np.average(graduates, weights=weights)  # and too educated


# --- the source kind and the dataset -----------------------------------------------------------


def test_the_voter_support_dataset_collects_the_poll_of_the_voter_turnout_world():
    settings = load_settings()
    turnout, support = settings.dataset("voter_turnout"), settings.dataset("voter_support")
    world_keys = ("rows", "seed", "cycles", "counties")
    assert {k: support.source[k] for k in world_keys} == {k: turnout.source[k] for k in world_keys}
    small = {"rows": 3000}
    support = replace(support, source={**support.source, **small})
    batch = collect_batch(support)
    frame = load_batch(batch)
    assert list(frame.columns) == support.kept_columns and "survey_weight" in frame.columns  # weights reach the batch
    assert (frame["survey_weight"] > 0).all()
    assert sorted(frame["cycle"].unique()) == [2020, 2022, 2024]
    assert frame["vote_dem"].isna().any() and set(frame["vote_dem"].dropna()) == {0, 1}
    assert frame[["unemployment_rate", "county_dem_share_prev"]].notna().all().all()  # the county joins matched
    polls_file = pd.read_parquet(support.raw_dir() / catalog.POLL_FILE)
    assert len(polls_file) == len(frame) and "survey_weight" in polls_file.columns  # the weights stay in the raw poll
    collect_batch(replace(turnout, source={**turnout.source, **small}))
    same = [content_hash(pd.read_parquet(d.raw_dir() / catalog.VOTER_FILE)) for d in (turnout, support)]
    assert same[0] == same[1]  # one world: the poll's voter file is the turnout dataset's
    for name in (catalog.TRUTH_FILE, catalog.CERTIFIED_RESULTS_FILE):
        assert (turnout.raw_dir() / name).is_file()


@pytest.mark.parametrize("bad", [0, -5, 2.5, True, "many"])
def test_a_poll_size_that_is_no_positive_whole_number_is_refused_naming_it(bad):
    raw = read_yaml(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["datasets"]["voter_support"]["source"]["poll_rows"] = bad
    with pytest.raises(ConfigError, match=r"datasets\.voter_support\.source\.poll_rows: .*whole number"):
        parse_settings(raw)


def test_a_poll_source_takes_only_its_keys():
    raw = read_yaml(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))
    raw["datasets"]["voter_support"]["source"]["pii_marker"] = "ZZ"
    with pytest.raises(ConfigError, match=r"voter_support\.source"):
        parse_settings(raw)
    del raw["datasets"]["voter_support"]["source"]["pii_marker"]
    del raw["datasets"]["voter_support"]["source"]["rows"]
    with pytest.raises(ConfigError, match=r"a synthetic_poll source needs 'rows'"):
        parse_settings(raw)

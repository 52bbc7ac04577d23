"""Two-party support with a known model, and the certified county results the simulated votes add up to.

Every registered voter has a true probability of supporting the DEM candidate (`support_logit`) and a
drawn outcome `supports_dem`; a voter who votes casts a DEM ballot when `supports_dem` is 1, else a REP
one (two-party: no third-party or blank ballots). The count per county and cycle is the certified
result, the ground truth a forecast from scores is judged against.

Support log-odds (all terms known, so a test can compute any voter's answer by hand):

    SUPPORT_INTERCEPT + scenario.support_shift
    + party registration (PARTY_SUPPORT)            DEM and GRN lean DEM; REP and LIB lean REP
    + AGE_SUPPORT_SLOPE * (age - 45)                 younger voters lean DEM
    + education, race/ethnicity, urban class, gender (the *_SUPPORT maps)
    + scenario.economy_support_effect * (UNEMPLOYMENT_CHANGE_SUPPORT * unemployment_change
                                         + INCOME_CHANGE_SUPPORT * income_change)

The economy reads as a referendum on the incumbent party, taken to be DEM: a county whose unemployment
rose or whose incomes fell supports DEM less. `economy_support_effect` scales that (0: the economy does
not matter; negative: the other party gets the blame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelops.collect.synthetic import EDUCATION, PARTIES, RACES, URBAN, CycleScenario

SUPPORT_INTERCEPT = 0.0
PARTY_SUPPORT = dict(zip(PARTIES, [2.2, -2.3, 0.0, -0.9, 1.4, 0.1], strict=True))
AGE_SUPPORT_SLOPE = -0.02  # per year of age, around 45
EDUCATION_SUPPORT = dict(zip(EDUCATION, [-0.1, -0.2, 0.0, 0.15, 0.3], strict=True))
RACE_SUPPORT = dict(zip(RACES, [-0.3, 1.6, 0.6, 0.5, 0.2], strict=True))
URBAN_SUPPORT = dict(zip(URBAN, [0.45, 0.0, -0.45], strict=True))
GENDER_SUPPORT = {"F": 0.25, "M": -0.2, "X": 0.4}
UNEMPLOYMENT_CHANGE_SUPPORT = -25.0  # per unit of change in the unemployment rate (0.01 = one point: -0.25)
INCOME_CHANGE_SUPPORT = 5.0  # per unit of relative income change (0.02 = 2%: +0.1)

# Columns the support model reads (the voter file joined with the county economics).
SUPPORT_COLUMNS = (
    "party",
    "age",
    "education",
    "race_ethnicity",
    "urban_class",
    "gender",
    "unemployment_change",
    "income_change",
)
TRUTH_COLUMNS = ("voter_id", "cycle", "county_fips", "p_turnout", "p_support", "voted", "supports_dem")
TALLY_COLUMNS = ("registered", "ballots_cast", "dem_votes", "rep_votes")
CERTIFIED_COLUMNS = ("county_fips", "cycle", *TALLY_COLUMNS, "turnout", "dem_share")


def _mapped(frame: pd.DataFrame, column: str, effects: dict[str, float]) -> np.ndarray:
    """A categorical column's effects; a value outside the model's vocabulary is refused, naming the column."""
    values = frame[column].map(effects)
    if values.isna().any():
        raise ValueError(
            f"support model: column {column!r} holds {int(values.isna().sum())} values outside {sorted(effects)}"
        )
    return values.to_numpy(dtype=float)


def support_logit(frame: pd.DataFrame, scenario: CycleScenario) -> np.ndarray:
    """The known model: log-odds that a voter supports DEM, given the voter's (joined) attributes."""
    missing = [c for c in SUPPORT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"support model: the frame lacks columns {missing}")
    numbers = frame[["age", "unemployment_change", "income_change"]]
    if numbers.isna().any().any():
        raise ValueError(f"support model: missing values in {sorted(numbers.columns[numbers.isna().any()])}")
    economy = UNEMPLOYMENT_CHANGE_SUPPORT * numbers["unemployment_change"].to_numpy(dtype=float)
    economy = economy + INCOME_CHANGE_SUPPORT * numbers["income_change"].to_numpy(dtype=float)
    return (
        SUPPORT_INTERCEPT
        + scenario.support_shift
        + _mapped(frame, "party", PARTY_SUPPORT)
        + AGE_SUPPORT_SLOPE * (numbers["age"].to_numpy(dtype=float) - 45)
        + _mapped(frame, "education", EDUCATION_SUPPORT)
        + _mapped(frame, "race_ethnicity", RACE_SUPPORT)
        + _mapped(frame, "urban_class", URBAN_SUPPORT)
        + _mapped(frame, "gender", GENDER_SUPPORT)
        + scenario.economy_support_effect * economy
    )


def support_probability(frame: pd.DataFrame, scenario: CycleScenario) -> np.ndarray:
    """Each voter's true probability of supporting DEM."""
    return 1.0 / (1.0 + np.exp(-support_logit(frame, scenario)))


def truth_chunk(
    voters: pd.DataFrame,
    county_economics: pd.DataFrame,
    scenario: CycleScenario,
    p_turnout: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """The truth of a chunk of voters (`TRUTH_COLUMNS`): their turnout and support, true and drawn.

    `voters` holds the voter file's columns with `voted` already drawn from `p_turnout`; support is
    drawn from `rng` alone (its own stream: the voter file does not move when support does).
    """
    joined = voters.merge(county_economics, on="county_fips", how="left", suffixes=("", "_county"))
    p_support = support_probability(joined, scenario)
    return pd.DataFrame(
        {
            "voter_id": voters["voter_id"].to_numpy(),
            "cycle": voters["cycle"].to_numpy(),
            "county_fips": voters["county_fips"].to_numpy(),
            "p_turnout": np.asarray(p_turnout, dtype=float),
            "p_support": p_support,
            "voted": voters["voted"].to_numpy(),
            "supports_dem": (rng.random(len(voters)) < p_support).astype(int),
        }
    )


def tally_votes(truth: pd.DataFrame) -> pd.DataFrame:
    """Counts per county and cycle (`TALLY_COLUMNS`): registered voters, ballots, DEM and REP votes."""
    voted = truth["voted"].to_numpy() == 1
    counts = pd.DataFrame(
        {
            "county_fips": truth["county_fips"].to_numpy(),
            "cycle": truth["cycle"].to_numpy(),
            "registered": 1,
            "ballots_cast": voted.astype(int),
            "dem_votes": (voted & (truth["supports_dem"].to_numpy() == 1)).astype(int),
        }
    )
    counts["rep_votes"] = counts["ballots_cast"] - counts["dem_votes"]
    return counts.groupby(["county_fips", "cycle"], as_index=False)[list(TALLY_COLUMNS)].sum()


def certify_results(tallies: list[pd.DataFrame], counties: pd.Series, cycles: list[int]) -> pd.DataFrame:
    """Certified results (`CERTIFIED_COLUMNS`) from chunk tallies: one row per county and cycle, in order.

    A county without a registered voter in a cycle has zero counts and no turnout or share (missing, not 0);
    one without a ballot has no share.
    """
    grid = pd.MultiIndex.from_product([list(counties), list(cycles)], names=["county_fips", "cycle"])
    if tallies:
        summed = pd.concat(tallies, ignore_index=True).groupby(["county_fips", "cycle"])[list(TALLY_COLUMNS)].sum()
    else:
        summed = pd.DataFrame(0, index=grid, columns=list(TALLY_COLUMNS))
    results = summed.reindex(grid, fill_value=0).reset_index().astype({c: "int64" for c in TALLY_COLUMNS})
    registered = results["registered"].where(results["registered"] > 0)
    two_party = (results["dem_votes"] + results["rep_votes"]).where(lambda n: n > 0)
    results["turnout"] = results["ballots_cast"] / registered
    results["dem_share"] = results["dem_votes"] / two_party
    return results[list(CERTIFIED_COLUMNS)]

"""Synthetic voters with a known turnout model, plus county economics and past results.

Seeded and reproducible, a chunk at a time (`modelops.collect.world` writes the files). A
`CycleScenario` carries the knobs later drift scenarios turn (young-registrant waves, a changed
age-turnout relation, a turnout shift, a swing in two-party support).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

PARTIES = ["DEM", "REP", "IND", "LIB", "GRN", "UNA"]
EDUCATION = ["less_than_hs", "high_school", "some_college", "bachelors", "graduate"]
INCOME = ["under_25k", "25k_50k", "50k_75k", "75k_100k", "100k_150k", "over_150k"]
RACES = ["white", "black", "hispanic", "asian", "other"]
URBAN = ["urban", "suburban", "rural"]
FIRST_NAMES = np.array(
    [
        "Mary",
        "James",
        "Linda",
        "Robert",
        "Maria",
        "John",
        "Aisha",
        "Wei",
        "Jose",
        "Emily",
        "Michael",
        "Fatima",
        "David",
        "Sofia",
        "Daniel",
        "Grace",
        "Carlos",
        "Hannah",
        "Kevin",
        "Olivia",
    ]
)
LAST_NAMES = np.array(
    [
        "Smith",
        "Johnson",
        "Garcia",
        "Nguyen",
        "Brown",
        "Williams",
        "Lee",
        "Martinez",
        "Davis",
        "Lopez",
        "Wilson",
        "Anderson",
        "Thomas",
        "Patel",
        "Jackson",
        "Kim",
        "Clark",
        "Lewis",
        "Walker",
        "Young",
    ]
)
PII_COLUMNS = ("first_name", "last_name", "street_address", "date_of_birth", "phone")
STREETS = np.array(["Oak St", "Maple Ave", "Main St", "Cedar Ln", "Elm St", "Pine Rd", "Lake Dr", "Hill St"])


@dataclass(frozen=True)
class CycleScenario:
    """One election cycle's world: the knobs drift scenarios turn."""

    year: int
    young_registrant_share: float = 0.0  # extra share of new 18-24 registrants (covariate shift)
    age_effect: float = 1.0  # multiplier on the age-turnout slope (concept drift)
    turnout_shift: float = 0.0  # added to the turnout log-odds (prior shift)
    civic_shift: float = 0.0  # shifts the latent civic propensity (history, education, income move)
    # Rank correlation forced between age and contact attempts (a campaign now contacts older voters):
    # each column keeps its distribution, only how the two move together changes.
    contact_age_coupling: float = 0.0
    # Two-party support (`modelops.collect.electorate`); the neutral values leave the support model as written.
    support_shift: float = 0.0  # added to every voter's DEM-support log-odds (a national swing)
    economy_support_effect: float = 1.0  # multiplier on the county-economy term of the support log-odds

    @property
    def presidential(self) -> bool:
        """General elections in years divisible by 4 are presidential."""
        return self.year % 4 == 0


def generate_counties(n_counties: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """County economics and past county results, keyed by a FIPS-like code."""
    rng = np.random.default_rng([seed, 1])
    fips = [f"{39000 + 2 * i + 1:05d}" for i in range(n_counties)]
    urban = rng.choice(URBAN, size=n_counties, p=[0.25, 0.35, 0.40])
    base_income = np.where(urban == "urban", 68000, np.where(urban == "suburban", 79000, 52000))
    income = np.round(base_income * rng.lognormal(0, 0.18, n_counties), -2)
    unemployment = np.clip(rng.normal(0.055, 0.015, n_counties), 0.015, 0.15)
    economics = pd.DataFrame(
        {
            "county_fips": fips,
            "county_name": [f"County {i + 1:03d}" for i in range(n_counties)],
            "urban_class": urban,
            "unemployment_rate": np.round(unemployment, 4),
            "unemployment_change": np.round(rng.normal(0.0, 0.008, n_counties), 4),
            "median_household_income": income,
            "income_change": np.round(rng.normal(0.02, 0.03, n_counties), 4),
        }
    )
    dem_share = np.clip(
        np.where(urban == "urban", 0.62, np.where(urban == "suburban", 0.49, 0.36)) + rng.normal(0, 0.06, n_counties),
        0.15,
        0.85,
    )
    turnout = np.clip(0.55 + 0.08 * (income - 65000) / 20000 + rng.normal(0, 0.04, n_counties), 0.3, 0.85)
    results = pd.DataFrame(
        {
            "county_fips": fips,
            "county_turnout_prev": np.round(turnout, 4),
            "county_dem_share_prev": np.round(dem_share, 4),
            "county_rep_share_prev": np.round(np.clip(1 - dem_share - rng.uniform(0.01, 0.05, n_counties), 0, 1), 4),
        }
    )
    return economics, results


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def turnout_logit(frame: pd.DataFrame, scenario: CycleScenario) -> np.ndarray:
    """The known model: log-odds of voting given a voter's (joined) attributes."""
    age = frame["age"].to_numpy(dtype=float)
    # Turnout rises with age and flattens for the oldest voters.
    age_term = scenario.age_effect * (1.1 * np.tanh((age - 40) / 18))
    history = (
        1.1 * frame["voted_general_lag1"].to_numpy()
        + 0.6 * frame["voted_general_lag2"].to_numpy()
        + 0.3 * frame["voted_general_lag3"].to_numpy()
        + 0.5 * frame["voted_primary_lag1"].to_numpy()
        + 0.25 * frame["voted_primary_lag2"].to_numpy()
    )
    edu = frame["education"].map(dict(zip(EDUCATION, [-0.5, -0.2, 0.0, 0.3, 0.5], strict=True)))
    party = frame["party"].map({"DEM": 0.2, "REP": 0.25, "IND": -0.1, "LIB": 0.0, "GRN": 0.0, "UNA": -0.35})
    contact = 0.15 * np.minimum(frame["contact_attempts"].to_numpy(), 4)
    county = 2.0 * (frame["county_turnout_prev"].to_numpy() - 0.6) - 4.0 * (
        frame["unemployment_rate"].to_numpy() - 0.055
    )
    cycle = 0.45 if scenario.presidential else -0.35
    return (
        -1.3
        + cycle
        + scenario.turnout_shift
        + age_term
        + history
        + edu.to_numpy(dtype=float)
        + party.to_numpy(dtype=float)
        + contact
        + county
    )


def voter_chunk(
    rng: np.random.Generator,
    n: int,
    start: int,
    scenario: CycleScenario,
    counties: pd.DataFrame,
    pii_marker: str | None = None,
) -> pd.DataFrame:
    """One chunk of voters for one cycle (no outcome yet: `draw_outcome` adds it).

    `pii_marker`: a string every name, address, birth date and phone starts with, so a leak scan
    can find any copy of any of them (a honeytoken); None gives plain values.
    """
    county_idx = rng.integers(0, len(counties), n)
    county_rows = counties.iloc[county_idx].reset_index(drop=True)
    young = rng.random(n) < scenario.young_registrant_share
    age = np.where(young, rng.integers(18, 25, n), np.clip(rng.gamma(3.6, 8.5, n) + 17, 18, 104)).astype(int)
    years_registered = np.minimum(age - 18, np.floor(rng.exponential(11, n))).astype(int)
    years_registered = np.where(young, np.minimum(years_registered, 1), years_registered)
    # A latent civic propensity links vote history, education and income.
    propensity = rng.normal(scenario.civic_shift, 1, n) + 0.02 * (age - 45)
    income_level = np.clip(np.round(2 + 0.7 * propensity + rng.normal(0, 1.2, n)), 0, 5).astype(int)
    edu_level = np.clip(np.round(2 + 0.5 * propensity + rng.normal(0, 1.0, n)), 0, 4).astype(int)
    urban_dem = county_rows["urban_class"].map({"urban": 0.45, "suburban": 0.33, "rural": 0.22}).to_numpy()
    u = rng.random(n)
    party = np.select(
        [u < urban_dem, u < 0.72, u < 0.86, u < 0.89, u < 0.91],
        ["DEM", "REP", "IND", "LIB", "GRN"],
        default="UNA",
    )
    eligible_lags = np.minimum(years_registered // 2, 3)
    history = {}
    for lag, base in ((1, 0.3), (2, 0.2), (3, 0.1)):
        p = _sigmoid(base + 1.3 * propensity)
        history[f"voted_general_lag{lag}"] = ((rng.random(n) < p) & (eligible_lags >= lag)).astype(int)
    for lag, base in ((1, -1.2), (2, -1.4)):
        p = _sigmoid(base + 1.2 * propensity)
        history[f"voted_primary_lag{lag}"] = ((rng.random(n) < p) & (eligible_lags >= lag)).astype(int)
    birth = pd.to_datetime(
        {"year": scenario.year - age, "month": rng.integers(1, 13, n), "day": rng.integers(1, 29, n)}
    )
    frame = pd.DataFrame(
        {
            "voter_id": [f"V{scenario.year}-{i:09d}" for i in range(start, start + n)],
            "cycle": scenario.year,
            "election_type": "presidential" if scenario.presidential else "midterm",
            "first_name": FIRST_NAMES[rng.integers(0, len(FIRST_NAMES), n)],
            "last_name": LAST_NAMES[rng.integers(0, len(LAST_NAMES), n)],
            "street_address": pd.Series(rng.integers(1, 9999, n)).astype(str).to_numpy()
            + " "
            + STREETS[rng.integers(0, len(STREETS), n)],
            "date_of_birth": birth.dt.strftime("%Y-%m-%d").to_numpy(),
            "phone": pd.Series(rng.integers(2000000, 9999999, n))
            .astype(str)
            .str.replace(r"^(\d{3})(\d{4})$", r"555-\1-\2", regex=True)
            .to_numpy(),
            "age": age,
            "gender": rng.choice(["F", "M", "X"], n, p=[0.52, 0.47, 0.01]),
            "race_ethnicity": rng.choice(RACES, n, p=[0.6, 0.13, 0.17, 0.06, 0.04]),
            "party": party,
            "registration_year": scenario.year - years_registered,
            "years_registered": years_registered,
            "county_fips": county_rows["county_fips"].to_numpy(),
            "education": np.array(EDUCATION)[edu_level],
            "income_bracket": np.array(INCOME, dtype=object)[income_level],
            "contact_attempts": rng.poisson(1.2, n),
            **history,
        }
    )
    # Self-reported income is missing for some voters (the validation allows up to 5%).
    frame.loc[rng.random(n) < 0.02, "income_bracket"] = None
    if scenario.contact_age_coupling:  # after every other draw: the other scenarios' streams are untouched
        frame["contact_attempts"] = couple_ranks(
            frame["age"].to_numpy(), frame["contact_attempts"].to_numpy(), scenario.contact_age_coupling, rng
        )
    if pii_marker:
        for column in PII_COLUMNS:
            frame[column] = pii_marker + frame[column].astype(str)
    return frame


def couple_ranks(x: np.ndarray, y: np.ndarray, rho: float, rng: np.random.Generator) -> np.ndarray:
    """`y`'s own values, reordered so they follow `x` with about this (normal-score) correlation.

    A Gaussian copula: each row gets z = rho * normal score of x + sqrt(1 - rho^2) * noise, and the
    sorted values of y are handed out in the order of z. The multiset of y is unchanged (so is x), so
    every per-column distribution stays exactly the same; only the joint one moves.
    """
    from scipy.stats import norm, rankdata

    if not -1 <= rho <= 1:
        raise ValueError(f"rho must be within [-1, 1], got {rho}")
    n = len(x)
    scores = norm.ppf((rankdata(x) - 0.5) / n)
    z = rho * scores + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    out = np.empty_like(y)
    out[np.argsort(z, kind="stable")] = np.sort(y, kind="stable")
    return out


def turnout_probability(voters: pd.DataFrame, county_table: pd.DataFrame, scenario: CycleScenario) -> np.ndarray:
    """Each voter's true probability of voting; county_table holds the county columns the model uses."""
    needed = voters.merge(county_table, on="county_fips", how="left")
    return _sigmoid(turnout_logit(needed, scenario))


def draw_outcome(
    voters: pd.DataFrame,
    county_table: pd.DataFrame,
    scenario: CycleScenario,
    rng: np.random.Generator,
    p_turnout: np.ndarray | None = None,
) -> np.ndarray:
    """Draw turnout from the known model (`p_turnout` when already computed by `turnout_probability`)."""
    if p_turnout is None:
        p_turnout = turnout_probability(voters, county_table, scenario)
    return (rng.random(len(voters)) < p_turnout).astype(int)

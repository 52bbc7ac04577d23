"""A simulated poll of registered voters with a known, documented response bias, and its survey weights.

Per cycle the pollster contacts a simple random sample of the voter file (each voter with the same
probability), and a contacted voter answers with a response probability that rises with age, education
and civic engagement (`response_logit`). That is the known bias: an unweighted poll is too old, too
educated and too engaged. Each respondent's `survey_weight` is the inverse of their response probability,
normalised so the weights of a cycle's poll sum to that cycle's registered voters: weighted, the poll
estimates the voter file's shares without that bias (a contact sample and a subsample both select
with equal probability, so they cancel in the normalisation). Since older voters lean REP in the support
model (`modelops.collect.electorate`), the unweighted poll understates DEM support by about a point.

A respondent states `vote_dem`: 1 (DEM) or 0 (REP), the true `supports_dem` except for a share
MISREPORT_RATE who state the other one, and blank ("don't know", never a 0) for a share DONT_KNOW_RATE.
Respondents get their own id (`respondent_id`), never a voter id: the poll cannot be joined to the voter
file row by row, as a real one cannot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelops.collect.synthetic import EDUCATION

DEFAULT_POLL_ROWS = 1500  # respondents per cycle (fewer when the voter file has fewer responders)
CONTACT_FACTOR = 6  # voters contacted per wanted respondent (mean response is about one in three)
MISREPORT_RATE = 0.03  # respondents stating the other party than the one they support
DONT_KNOW_RATE = 0.04  # respondents answering "don't know" (blank vote_dem: unlabelled)

# Response log-odds: RESPONSE_INTERCEPT + RESPONSE_AGE_SLOPE * (age - 45) + education + civic engagement
RESPONSE_INTERCEPT = -1.3
RESPONSE_AGE_SLOPE = 0.035  # per year of age: a 70-year-old answers at ~2.4x the odds of a 45-year-old
RESPONSE_EDUCATION = dict(zip(EDUCATION, [-0.6, -0.3, 0.0, 0.3, 0.5], strict=True))
RESPONSE_CIVIC = {"voted_general_lag1": 0.5, "voted_primary_lag1": 0.4}  # engaged voters answer more

# The poll's columns: those it shares with the (joined) voter file, then its own.
SHARED_COLUMNS = (
    "cycle",
    "age",
    "gender",
    "race_ethnicity",
    "party",
    "education",
    "income_bracket",
    "urban_class",
    "county_fips",
)
POLL_COLUMNS = ("respondent_id", *SHARED_COLUMNS, "vote_dem", "survey_weight")


def response_logit(frame: pd.DataFrame) -> np.ndarray:
    """The known bias: log-odds that a contacted voter answers the poll."""
    education = frame["education"].map(RESPONSE_EDUCATION)
    if education.isna().any():
        raise ValueError(f"poll response model: column 'education' holds values outside {sorted(RESPONSE_EDUCATION)}")
    civic = sum(weight * frame[column].to_numpy(dtype=float) for column, weight in RESPONSE_CIVIC.items())
    return (
        RESPONSE_INTERCEPT
        + RESPONSE_AGE_SLOPE * (frame["age"].to_numpy(dtype=float) - 45)
        + education.to_numpy(dtype=float)
        + civic
    )


def contact_share(cycle_rows: int, poll_rows: int) -> float:
    """The share of a cycle's voters the pollster contacts (all of them in a small voter file)."""
    if poll_rows < 1:
        raise ValueError(f"poll_rows must be at least 1, got {poll_rows}")
    return min(1.0, CONTACT_FACTOR * poll_rows / max(cycle_rows, 1))


def contact_chunk(
    voters: pd.DataFrame, supports_dem: np.ndarray, share: float, rng: np.random.Generator
) -> pd.DataFrame:
    """The contacted voters of a chunk who answer: their shared columns, `supports_dem` and `p_response`.

    `voters` is the chunk of the voter file joined with the county columns (urban_class).
    """
    p_response = 1.0 / (1.0 + np.exp(-response_logit(voters)))
    contacted = rng.random(len(voters)) < share
    answers = contacted & (rng.random(len(voters)) < p_response)
    kept = voters.loc[answers, list(SHARED_COLUMNS)].reset_index(drop=True)
    kept["supports_dem"] = np.asarray(supports_dem)[answers]
    kept["p_response"] = p_response[answers]
    return kept


def draw_poll(
    responders: pd.DataFrame, population: int, poll_rows: int, cycle: int, rng: np.random.Generator
) -> pd.DataFrame:
    """One cycle's poll (`POLL_COLUMNS`): at most `poll_rows` responders, their stated vote and weights.

    `population` is the cycle's registered voters: the weights sum to it.
    """
    if len(responders) > poll_rows:  # a simple random subsample: equal probability for every responder
        responders = responders.iloc[np.sort(rng.choice(len(responders), poll_rows, replace=False))]
    poll = responders.iloc[rng.permutation(len(responders))].reset_index(drop=True)  # not voter-file order
    n = len(poll)
    stated = np.where(rng.random(n) < MISREPORT_RATE, 1 - poll["supports_dem"], poll["supports_dem"])
    vote = pd.Series(stated, dtype="Int64")
    vote[rng.random(n) < DONT_KNOW_RATE] = pd.NA
    weight = 1.0 / poll["p_response"].to_numpy(dtype=float)
    poll["respondent_id"] = [f"R{cycle}-{i:06d}" for i in range(n)]
    poll["vote_dem"] = vote
    poll["survey_weight"] = weight * population / weight.sum() if n else weight
    return poll[list(POLL_COLUMNS)]

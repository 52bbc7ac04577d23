"""Streaming aggregation of voter-level scores by geography: expected ballots and votes, with every scenario.

Input: an iterable of chunks (DataFrames) holding a geography column, a turnout score t_i (probability of
voting) and a support score s_i (probability of a Democratic vote given a vote); the three names come
from config (`ScoreColumns`). Per geography and per turnout scenario (`scenarios.TurnoutScenarios`, each
voter's turnout shifted on the log-odds scale) the pass sums

    ballots  B = sum t_i            dem votes D = sum t_i s_i          rep votes = B - D
    var_B      = sum t_i (1 - t_i)                                     (voting is Bernoulli(t_i))
    var_D      = sum t_i s_i (1 - t_i s_i)                             (a Dem vote is Bernoulli(t_i s_i))
    cov_DB     = sum t_i s_i (1 - t_i)

so turnout = B / scored rows and dem_share = D / B (two-party share: every ballot is D or R here), with
Bernoulli sds sqrt(var_B) / rows and, by the delta method on D - p B, sqrt(var_D - 2 p cov_DB + p^2 var_B) / B.
These sds are the sampling noise only: `intervals` widens them with model error. The low and high
scenarios keep B and D only (their sds are not used).

Memory is flat: each chunk is reduced to one row of sums per geography (`np.bincount` over the chunk's
geography codes) and added to the running sums; no voter row is kept.

Missing scores are never imputed: with `MissingPolicy.EXCLUDE` a row missing either score leaves the
sums and is counted per geography (`excluded_missing`, and per score column `missing_turnout`,
`missing_support`); with `MissingPolicy.REFUSE` it is an error. Counts and votes then cover the scored
rows; `registered` counts every row. A row without a geography is counted in
`Aggregation.rows_missing_geography` (or refused).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from modelops.core.jsonsafe import json_safe
from modelops.forecast.logodds import clip_probability, odds_shift
from modelops.forecast.scenarios import Scenario, TurnoutScenarios

# Columns of the per-geography table, declared once (certified results use the same count names).
REGISTERED = "registered"  # every row of the geography
SCORED = "scored"  # rows in the sums
EXCLUDED = "excluded_missing"  # rows left out because a score was missing
MISSING_TURNOUT = "missing_turnout"
MISSING_SUPPORT = "missing_support"
BALLOTS = "ballots_cast"
DEM_VOTES = "dem_votes"
REP_VOTES = "rep_votes"
TURNOUT = "turnout"
DEM_SHARE = "dem_share"
BALLOTS_SD = "ballots_sd"
TURNOUT_SD = "turnout_sd"
DEM_SHARE_SD = "dem_share_sd"
LOWER, UPPER = "lower", "upper"  # an interval's bounds: `turnout_lower`, `dem_share_upper`
QUANTITIES = (TURNOUT, DEM_SHARE)  # the two rates a forecast is judged on
COUNTS = (REGISTERED, SCORED, EXCLUDED, MISSING_TURNOUT, MISSING_SUPPORT)
_SUMS = ("b", "d", "var_b", "var_d", "cov_db")  # see the module docstring; the other scenarios keep b and d


class MissingPolicy(StrEnum):
    """What a missing score does: leave the row out and count it, or stop."""

    EXCLUDE = "exclude"
    REFUSE = "refuse"


@dataclass(frozen=True)
class ScoreColumns:
    """Names of the score frame's columns (from config)."""

    geography: str
    turnout: str
    support: str


def bound_column(quantity: str, bound: str) -> str:
    """The column of an interval's bound of a quantity (`turnout_lower`)."""
    return f"{quantity}_{bound}"


def scenario_column(quantity: str, scenario: Scenario) -> str:
    """A quantity's column under a scenario: the bare name for the expected one, `turnout_low` for the others."""
    return quantity if scenario == Scenario.EXPECTED else f"{quantity}_{scenario.value}"


@dataclass(frozen=True, eq=False)
class Aggregation:
    """The forecast per geography (`table`, indexed by the geography) and what the pass saw."""

    table: pd.DataFrame
    columns: ScoreColumns
    scenario_delta: float
    missing_policy: MissingPolicy
    rows: int
    rows_excluded: int
    rows_missing_geography: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (the table as column lists, the geography first; NaN as null)."""
        return {
            "table": json_safe(self.table.reset_index().to_dict(orient="list")),
            "columns": vars(self.columns).copy(),
            "scenario_delta": self.scenario_delta,
            "missing_policy": self.missing_policy.value,
            "rows": self.rows,
            "rows_excluded": self.rows_excluded,
            "rows_missing_geography": self.rows_missing_geography,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregation:
        """The record `to_dict` gave `data`."""
        columns = ScoreColumns(**data["columns"])
        table = pd.DataFrame(data["table"]).set_index(columns.geography)
        for name in COUNTS:
            table[name] = table[name].astype("int64")
        numbers = [c for c in table.columns if c not in COUNTS]
        table[numbers] = table[numbers].astype(float)
        return cls(
            table=table,
            columns=columns,
            scenario_delta=float(data["scenario_delta"]),
            missing_policy=MissingPolicy(data["missing_policy"]),
            rows=int(data["rows"]),
            rows_excluded=int(data["rows_excluded"]),
            rows_missing_geography=int(data["rows_missing_geography"]),
        )


class GeographyAccumulator:
    """Running per-geography sums over chunks of scores; `result()` turns them into an `Aggregation`."""

    def __init__(
        self,
        columns: ScoreColumns,
        scenarios: TurnoutScenarios | None = None,
        missing: MissingPolicy = MissingPolicy.EXCLUDE,
    ) -> None:
        self.columns = columns
        self.scenarios = scenarios or TurnoutScenarios()
        self.missing = MissingPolicy(missing)
        self._slots: dict = {}  # geography -> column of the running sums
        self._names: list[str] = []  # the sums' names, in their row order (set by the first chunk)
        self._sums = np.zeros((0, 0))  # one row per sum, one column per geography met so far
        self._rows = 0
        self._missing_geography = 0

    def add(self, chunk: pd.DataFrame) -> None:
        """Add one chunk's per-geography sums (see the module docstring for the missing-score policy)."""
        cols = self.columns
        absent = [c for c in (cols.geography, cols.turnout, cols.support) if c not in chunk.columns]
        if absent:
            raise ValueError(f"score chunk lacks column(s) {absent}")
        t = score_values(chunk, cols.turnout)
        s = score_values(chunk, cols.support)
        no_geo = chunk[cols.geography].isna().to_numpy()
        miss_t, miss_s = np.isnan(t), np.isnan(s)
        if self.missing == MissingPolicy.REFUSE:
            _refuse_missing({cols.geography: no_geo, cols.turnout: miss_t, cols.support: miss_s})
        self._rows += len(chunk)
        self._missing_geography += int(no_geo.sum())
        keep = ~(miss_t | miss_s)
        codes, geographies = geography_codes(chunk[cols.geography])  # a missing geography is code -1
        has_geo = codes >= 0
        if not has_geo.all():
            codes, keep, t, s = codes[has_geo], keep[has_geo], t[has_geo], s[has_geo]
            miss_t, miss_s = miss_t[has_geo], miss_s[has_geo]
        whole = bool(keep.all())  # the usual chunk: no score missing, nothing to mask
        t0, s0 = (t, s) if whole else (np.where(keep, t, 0.0), np.where(keep, s, 0.0))
        parts = {REGISTERED: None, SCORED: None if whole else keep, MISSING_TURNOUT: miss_t, MISSING_SUPPORT: miss_s}
        parts |= {f"{name}_{Scenario.EXPECTED.value}": v for name, v in zip(_SUMS, _voter_terms(t0, s0), strict=True)}
        clipped = clip_probability(t0)
        for scenario, delta in self.scenarios.shifts().items():
            if scenario != Scenario.EXPECTED:  # a scenario needs its ballots and votes; its sds go unused
                ts = odds_shift(clipped, delta) if whole else np.where(keep, odds_shift(clipped, delta), 0.0)
                parts |= {f"b_{scenario.value}": ts, f"d_{scenario.value}": ts * s0}
        size = len(geographies)
        counts = np.bincount(codes, minlength=size).astype(float)  # every row of the chunk with a geography
        sums = {
            n: counts if v is None else np.bincount(codes, weights=v, minlength=size) if v.any() else np.zeros(size)
            for n, v in parts.items()
        }
        self._accumulate(geographies, sums)

    def _accumulate(self, geographies: pd.Index, sums: dict[str, np.ndarray]) -> None:
        """Add one chunk's sums per geography to the running ones (plain arrays: no index alignment per chunk)."""
        if not self._names:
            self._names = list(sums)
            self._sums = np.zeros((len(self._names), 0))
        slots = np.array([self._slots.setdefault(g, len(self._slots)) for g in geographies.tolist()], dtype=np.int64)
        if len(self._slots) > self._sums.shape[1]:
            grown = np.zeros((len(self._names), max(len(self._slots), 2 * self._sums.shape[1])))
            grown[:, : self._sums.shape[1]] = self._sums
            self._sums = grown
        self._sums[:, slots] += np.vstack([sums[n] for n in self._names])

    def result(self) -> Aggregation:
        """The per-geography forecast of every chunk added so far."""
        if not self._names:
            raise ValueError("no score chunk was aggregated (the input was empty)")
        index = pd.Index(list(self._slots))
        sums = pd.DataFrame(self._sums[:, : len(index)].T, index=index, columns=self._names).sort_index()
        sums[EXCLUDED] = sums[REGISTERED] - sums[SCORED]
        table = sums[list(COUNTS)].astype("int64")
        for scenario in (Scenario.EXPECTED, Scenario.LOW, Scenario.HIGH):
            table = table.join(_rates(sums, table[SCORED].to_numpy(), scenario))
        table.index.name = self.columns.geography
        return Aggregation(
            table=table,
            columns=self.columns,
            scenario_delta=self.scenarios.delta,
            missing_policy=self.missing,
            rows=self._rows,
            rows_excluded=int(table[EXCLUDED].sum()),
            rows_missing_geography=self._missing_geography,
        )


def aggregate_scores(
    chunks: Iterable[pd.DataFrame],
    columns: ScoreColumns,
    scenarios: TurnoutScenarios | None = None,
    missing: MissingPolicy = MissingPolicy.EXCLUDE,
) -> Aggregation:
    """One streaming pass over `chunks`: the per-geography forecast under every turnout scenario."""
    accumulator = GeographyAccumulator(columns, scenarios, missing)
    for chunk in chunks:
        accumulator.add(chunk)
    return accumulator.result()


def score_values(chunk: pd.DataFrame, column: str) -> np.ndarray:
    """A score column as floats (NaN where missing); text, booleans or values outside [0, 1] are refused by name."""
    series = chunk[column]
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise ValueError(f"column {column!r} holds values that are not numbers")
    values = series.to_numpy(dtype=float, na_value=np.nan)
    if ((values < 0.0) | (values > 1.0)).any():  # NaN compares false: a missing score is not out of range
        raise ValueError(f"column {column!r} holds scores outside [0, 1]")
    return values


def geography_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Each row's position in the geographies that occur (-1: missing), and those geographies, once each.

    A categorical column (what `scored.paired_chunks` yields) is read from its codes, without hashing a
    value per row; categories no row holds are left out.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        categories = values.cat.categories
        present = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        if present.all():
            return codes, pd.Index(categories)
        remap = np.cumsum(present) - 1
        return np.where(codes >= 0, remap[codes], -1), pd.Index(categories[present])
    codes, uniques = pd.factorize(values)
    return codes.astype(np.int64), pd.Index(uniques)


def _refuse_missing(missing: dict[str, np.ndarray]) -> None:
    counts = {name: int(mask.sum()) for name, mask in missing.items() if mask.any()}
    if counts:
        raise ValueError(f"missing values in score chunk (rows per column: {counts}) and the policy is 'refuse'")


def _voter_terms(t: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    ts = t * s
    return t, ts, t * (1.0 - t), ts * (1.0 - ts), ts * (1.0 - t)


def _rates(sums: pd.DataFrame, scored: np.ndarray, scenario: Scenario) -> pd.DataFrame:
    b, d = (sums[f"{name}_{scenario.value}"].to_numpy(dtype=float) for name in _SUMS[:2])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(b > 0, d / b, np.nan)
        values = {
            BALLOTS: b,
            DEM_VOTES: d,
            REP_VOTES: b - d,
            TURNOUT: np.where(scored > 0, b / scored, np.nan),
            DEM_SHARE: share,
        }
        if scenario == Scenario.EXPECTED:
            var_b, var_d, cov = (
                np.clip(sums[f"{name}_{scenario.value}"].to_numpy(dtype=float), 0.0, None) for name in _SUMS[2:]
            )
            share_var = np.clip(var_d - 2.0 * share * cov + share**2 * var_b, 0.0, None)
            values[BALLOTS_SD] = np.sqrt(var_b)
            values[TURNOUT_SD] = np.where(scored > 0, np.sqrt(var_b) / scored, np.nan)
            values[DEM_SHARE_SD] = np.where(b > 0, np.sqrt(share_var) / b, np.nan)
    return pd.DataFrame({scenario_column(k, scenario): v for k, v in values.items()}, index=sums.index)

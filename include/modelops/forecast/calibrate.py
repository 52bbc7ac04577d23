"""Per-geography logit shift (Rosenman et al. 2023): calibrate voter scores to certified results.

For each geography g the turnout shift delta_g solves  sum_i sigmoid(logit(t_i) + delta_g) = certified
ballots_g, then the support shift gamma_g solves  sum_i t'_i sigmoid(logit(s_i) + gamma_g) = certified
Democratic votes_g, with t'_i the calibrated turnout. Both sums rise monotonically in the shift, so each
is solved by `scipy.optimize.brentq` on [-SHIFT_BOUND, SHIFT_BOUND]; a target outside the reachable range
(more certified ballots than voters, say) takes the nearest bound and the status "bound".

Streaming, with flat memory, in two passes over the scores (`read_chunks` is called twice): the solve
needs each voter's log-odds, so each pass keeps, per geography, a histogram of them in bins of
`bin_width` log-odds (the summed weight and weighted log-odds per occupied bin; no voter row). The sum of
sigmoids over a bin is taken at the bin's weighted mean log-odds; the error of that is at most
max|sigmoid''| / 2 * (width / 2)^2 = 0.012 width^2 per voter (3e-5 at the default width 0.05: 0.3 ballots
in a county of 10 000 voters, far below its Bernoulli sd of ~50). Pass 1 bins logit(t) with weight 1 and
fits delta; pass 2 bins logit(s) with weight t'_i (which needs delta_g) and fits gamma. Scores are
clipped to [EPSILON, 1 - EPSILON] before the logit (`logodds`). Rows with a missing score are left out of
the sums and counted per geography; then the certified totals include those voters, so the shifts
overstate: the count says by how much to worry.

`LogitShift.shrink` (default 1.0) multiplies every shift when it is applied: a factor below 1 pulls
the calibration part way back to the uncalibrated model, for when last cycle's county deviations are
expected to persist only in part. `apply_shift` moves the next cycle's scores; geographies the shift does
not know get no shift and are counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from modelops.core.records import XComRecord
from modelops.forecast.aggregate import ScoreColumns, geography_codes, score_values
from modelops.forecast.backtest import CertifiedColumns, GeographyMismatch
from modelops.forecast.logodds import EPSILON, logit, shift_probability, sigmoid

DEFAULT_BIN_WIDTH = 0.05  # log-odds bin of the streaming histograms
DEFAULT_SHRINK = 1.0  # factor on every shift when applied (1: the full calibration)
SHIFT_BOUND = 15.0  # the bracket of the solve, log-odds
FIT, BOUND = "fit", "bound"  # a geography's solve status
LOGIT_MIN = float(logit(np.array([EPSILON]))[0])  # the lowest log-odds of a clipped score


@dataclass(frozen=True)
class GeographyShift(XComRecord):
    """One geography's fitted shifts (log-odds, before shrinking), its voters and the residuals after the fit."""

    geography: str | int
    turnout_shift: float
    support_shift: float
    voters: int
    excluded_missing: int
    ballots_residual: float
    dem_votes_residual: float
    turnout_status: str
    support_status: str
    # Fisher information of each shift (sum of w p(1-p) at the fit): 1 / information is the shift's sampling
    # variance from the certified outcomes' Bernoulli noise, what `pooling` weighs it by.
    turnout_information: float = 0.0
    support_information: float = 0.0
    turnout_fitted: float | None = None  # set by `pooling.pool`: the fit before pooling (the shift is pooled)
    support_fitted: float | None = None


@dataclass(frozen=True)
class LogitShift(XComRecord):
    """The fitted per-geography shifts of one cycle, and how they are applied."""

    cycle: int | None
    geography_column: str
    shrink: float
    bin_width: float
    shifts: tuple[GeographyShift, ...]
    pooling: str = "none"  # "none": each geography's own fit; "empirical_bayes": `pooling.pool` applied

    def table(self) -> pd.DataFrame:
        """The shifts as a frame indexed by geography."""
        rows = [s.to_xcom() for s in self.shifts]
        return pd.DataFrame(rows).set_index("geography").rename_axis(self.geography_column)


@dataclass(frozen=True, eq=False)
class ShiftedChunk:
    """A chunk with shifted scores, and the rows (geographies) the shift did not know."""

    frame: pd.DataFrame
    unmatched_rows: int
    unmatched_geographies: frozenset


class _BinnedLogits:
    """Per geography and log-odds bin: summed weight and weighted log-odds (a streaming histogram).

    Dense over the clipped log-odds range: geographies x (2 logit(1 - EPSILON) / width) cells, two floats
    each (27 MiB for 3 100 geographies at width 0.05), whatever the number of voters.
    """

    def __init__(self, width: float) -> None:
        self.width = width
        self._first = int(np.floor(LOGIT_MIN / width))
        self.bins = int(np.floor(-LOGIT_MIN / width)) - self._first + 1
        self._rows: dict = {}  # geography -> row of the arrays
        self._w = np.zeros((0, self.bins))
        self._wx = np.zeros((0, self.bins))

    def add(self, codes: np.ndarray, geographies: pd.Index, x: np.ndarray, weight: np.ndarray) -> None:
        """Add rows of log-odds `x` with `weight`, each in the geography `geographies[code]`."""
        rows = np.array([self._rows.setdefault(g, len(self._rows)) for g in geographies.tolist()], dtype=np.int64)
        if len(self._rows) > len(self._w):
            extra = np.zeros((max(len(self._rows), 2 * len(self._w)) - len(self._w), self.bins))
            self._w, self._wx = np.vstack([self._w, extra]), np.vstack([self._wx, extra])
        bins = np.clip(np.floor(x / self.width).astype(np.int64) - self._first, 0, self.bins - 1)
        flat = rows[codes] * self.bins + bins
        self._w.ravel()[:] += np.bincount(flat, weights=weight, minlength=self._w.size)
        self._wx.ravel()[:] += np.bincount(flat, weights=weight * x, minlength=self._w.size)

    def per_geography(self) -> dict[object, tuple[np.ndarray, np.ndarray]]:
        """geography -> (bin mean log-odds, bin weight) over the occupied bins."""
        out = {}
        for geography, row in self._rows.items():
            occupied = self._w[row] > 0
            w = self._w[row][occupied]
            out[geography] = (self._wx[row][occupied] / w, w)
        return out


class TurnoutPass:
    """The fit's first pass, a chunk at a time: voters and rows left out per geography, binned turnout log-odds."""

    def __init__(self, scores: ScoreColumns, bin_width: float = DEFAULT_BIN_WIDTH) -> None:
        self.scores = scores
        self.bins, self.voters, self.excluded = _BinnedLogits(bin_width), _Counter(), _Counter()

    def add(self, chunk: pd.DataFrame) -> None:
        """Add one chunk of scores (the chunks `fit_logit_shift` reads next, in the same order)."""
        for codes, geographies, t, _s, keep in _score_rows([chunk], self.scores):
            self.voters.add(codes[keep], geographies)
            self.excluded.add(codes[~keep], geographies)
            self.bins.add(codes[keep], geographies, logit(t[keep]), np.ones(int(keep.sum())))


def solve_shift(x: np.ndarray, weight: np.ndarray, target: float) -> tuple[float, float, str]:
    """The shift d with sum weight * sigmoid(x + d) = target: (d, fitted - target, status)."""

    def gap(d: float) -> float:
        return float(np.dot(weight, sigmoid(x + d)) - target)

    low, high = gap(-SHIFT_BOUND), gap(SHIFT_BOUND)
    if low >= 0:
        return -SHIFT_BOUND, low, BOUND if low > 0 else FIT
    if high <= 0:
        return SHIFT_BOUND, high, BOUND if high < 0 else FIT
    d = float(optimize.brentq(gap, -SHIFT_BOUND, SHIFT_BOUND, xtol=1e-10, rtol=1e-12))
    return d, gap(d), FIT


def information(x: np.ndarray, weight: np.ndarray, shift: float) -> float:
    """Fisher information of a logit shift at `shift`: sum weight * p (1 - p), p = sigmoid(x + shift)."""
    p = sigmoid(x + shift)
    return float(np.dot(weight, p * (1.0 - p)))


def fit_logit_shift(
    read_chunks: Callable[[], Iterable[pd.DataFrame]],
    certified: pd.DataFrame,
    scores: ScoreColumns,
    columns: CertifiedColumns,
    cycle: int | None = None,
    bin_width: float = DEFAULT_BIN_WIDTH,
    shrink: float = DEFAULT_SHRINK,
    first_pass: TurnoutPass | None = None,
) -> LogitShift:
    """Fit each geography's turnout and support shift to certified totals in two streaming passes over the scores.

    Given a `first_pass` already fed every chunk (by a caller streaming the scores anyway), the scores are
    read once more, not twice.
    """
    if not bin_width > 0 or not 0.0 <= shrink <= 1.0:
        raise ValueError("forecast calibration needs bin_width > 0 and 0 <= shrink <= 1")
    targets = _targets(certified, columns)
    if first_pass is None:
        first_pass = TurnoutPass(scores, bin_width)
        for chunk in read_chunks():
            first_pass.add(chunk)
    elif first_pass.scores != scores or first_pass.bins.width != bin_width:
        raise ValueError("the first pass given was fed other score columns or another bin width than the fit's")
    voters, excluded = first_pass.voters, first_pass.excluded
    binned = first_pass.bins.per_geography()
    turnout_binned = binned
    _require_match(set(binned), set(targets.index), columns.geography)
    ballots, dem = targets["ballots"].to_dict(), targets["dem"].to_dict()
    delta = {g: solve_shift(*binned[g], ballots[g]) for g in binned}
    support_bins, d = _BinnedLogits(bin_width), pd.Series({k: v[0] for k, v in delta.items()})
    for codes, geographies, t, s, keep in _score_rows(read_chunks(), scores):
        kept = codes[keep]
        weight = shift_probability(t[keep], d.reindex(geographies).to_numpy()[kept])
        if np.isnan(weight).any():
            raise ValueError(
                "the second read of the scores holds geographies the first did not: read_chunks must repeat"
            )
        support_bins.add(kept, geographies, logit(s[keep]), weight)
    binned = support_bins.per_geography()
    gamma = {g: solve_shift(*binned[g], dem[g]) for g in delta}
    shifts = tuple(
        GeographyShift(
            geography=g.item() if hasattr(g, "item") else g,
            turnout_shift=delta[g][0],
            support_shift=gamma[g][0],
            voters=voters.get(g),
            excluded_missing=excluded.get(g),
            ballots_residual=delta[g][1],
            dem_votes_residual=gamma[g][1],
            turnout_status=delta[g][2],
            support_status=gamma[g][2],
            turnout_information=information(*turnout_binned[g], delta[g][0]),
            support_information=information(*binned[g], gamma[g][0]),
        )
        for g in sorted(delta)
    )
    return LogitShift(cycle, scores.geography, float(shrink), float(bin_width), shifts)


def apply_shift(chunk: pd.DataFrame, shift: LogitShift, scores: ScoreColumns) -> ShiftedChunk:
    """The chunk with each voter's scores moved by shrink x their geography's shifts (unknown geographies: 0)."""
    table = shift.table()
    geography = chunk[scores.geography]
    known = geography.isin(table.index).to_numpy()
    frame = chunk.copy()
    for column, name in ((scores.turnout, "turnout_shift"), (scores.support, "support_shift")):
        d = table[name].reindex(geography.to_numpy()).fillna(0.0).to_numpy() * shift.shrink
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        frame[column] = np.where(np.isnan(values), np.nan, shift_probability(values, d))
    unknown = frozenset(geography[~known].dropna().unique().tolist())
    return ShiftedChunk(frame=frame, unmatched_rows=int((~known).sum()), unmatched_geographies=unknown)


class _Counter:
    """Rows per geography, added a chunk at a time from the chunk's geography codes."""

    def __init__(self) -> None:
        self._counts: dict = {}

    def add(self, codes: np.ndarray, geographies: pd.Index) -> None:
        counts = np.bincount(codes, minlength=len(geographies))
        for geography, count in zip(geographies.tolist(), counts.tolist(), strict=True):
            if count:
                self._counts[geography] = self._counts.get(geography, 0) + count

    def get(self, key: object) -> int:
        return int(self._counts.get(key, 0))


def _score_rows(
    chunks: Iterable[pd.DataFrame], scores: ScoreColumns
) -> Iterator[tuple[np.ndarray, pd.Index, np.ndarray, np.ndarray, np.ndarray]]:
    """Per chunk: each row's geography code, the geographies the codes index, both scores, rows with both."""
    for chunk in chunks:
        absent = [c for c in (scores.geography, scores.turnout, scores.support) if c not in chunk.columns]
        if absent:
            raise ValueError(f"score chunk lacks column(s) {absent}")
        codes, geographies = geography_codes(chunk[scores.geography])
        if (codes < 0).any():
            raise ValueError(f"score chunk has rows without a geography in {scores.geography!r}")
        t, s = score_values(chunk, scores.turnout), score_values(chunk, scores.support)
        yield codes, geographies, t, s, ~(np.isnan(t) | np.isnan(s))


def _targets(certified: pd.DataFrame, columns: CertifiedColumns) -> pd.DataFrame:
    needed = [columns.geography, columns.ballots, columns.dem_votes]
    absent = [c for c in needed if c not in certified.columns]
    if absent:
        raise ValueError(f"certified results lack column(s) {absent}")
    if certified[needed].isna().any().any():
        raise ValueError(f"certified results have missing values in {needed}")
    if certified[columns.geography].duplicated().any():
        raise ValueError(f"certified results repeat geographies in column {columns.geography!r}")
    frame = certified.set_index(columns.geography)[[columns.ballots, columns.dem_votes]]
    return frame.set_axis(["ballots", "dem"], axis=1).astype(float)


def _require_match(ours: set, theirs: set, geography: str) -> None:
    if ours != theirs:
        raise GeographyMismatch(
            f"scores and certified results cover different geographies in {geography!r}: "
            f"{len(ours - theirs)} only in the scores, {len(theirs - ours)} only in the certified results"
        )

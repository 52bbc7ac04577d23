"""Ids: a stable hash per row whatever the dtype, and the rows without an id or repeating an earlier one."""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelops.score.checks import Reasons
from modelops.score.plan import ScoringPlan

_NUMBER_TEXT = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"  # text read as a number for the id hash ("7" is 7)
_WHOLE_TEXT = r"-?(?:0|[1-9][0-9]{0,17})"  # a whole number int64 holds exactly as text
_EXACT_FLOAT = float(1 << 53)


def id_hashes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(uint64 per row, missing per row): equal ids hash alike whatever the dtype (7, 7.0 and "7").

    A whole number hashes as an integer (exact at any size: ids beyond float64's 2^53 stay distinct),
    other numbers as floats, other text as its stripped text; text of a whole number above 18 digits
    and integers of 19 digits hash as their decimal text, so a long id reads alike as text or number.
    Vectorised for the scoring loop; a 64-bit hash, so two distinct ids of one snapshot collide with a
    chance of about rows^2 / 2^65 (3e-6 at 10M rows).
    """
    if pd.api.types.is_integer_dtype(series) and not series.isna().any():
        values = series.to_numpy(dtype=np.int64)
        return _integer_hash(values), np.zeros(len(values), dtype=bool)
    if pd.api.types.is_bool_dtype(series) or (
        pd.api.types.is_numeric_dtype(series) and not isinstance(series.dtype, pd.CategoricalDtype)
    ):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
        missing = np.isnan(values)
        return _number_hash(np.where(missing, 0.0, values)), missing
    text = series.astype("str").str.strip()
    missing = (text.isna() | (text == "")).to_numpy(dtype=bool, na_value=True)
    filled = text.where(~missing, "")
    hashed = pd.util.hash_array(filled.to_numpy(dtype=object), categorize=False)
    whole = filled.str.fullmatch(_WHOLE_TEXT).to_numpy(dtype=bool, na_value=False)
    if whole.any():
        hashed[whole] = _integer_hash(filled[whole].astype("int64").to_numpy())
    number = filled.str.fullmatch(_NUMBER_TEXT).to_numpy(dtype=bool, na_value=False) & ~whole
    if number.any():
        parsed = pd.to_numeric(filled[number]).to_numpy(dtype="float64")
        long_whole = filled[number].str.fullmatch(r"-?[0-9]+").to_numpy(dtype=bool, na_value=False)
        hashed_number = _number_hash(parsed)
        hashed_number[long_whole] = hashed[number][long_whole]  # 19+ digits: its text, exact
        hashed[number] = hashed_number
    return hashed, missing


def _integer_hash(values: np.ndarray) -> np.ndarray:
    """Hash of whole numbers (int64): 19-digit ones as their decimal text, like the same id read as text."""
    hashed = pd.util.hash_array(values.astype(np.int64), categorize=False)
    long = np.abs(values) >= 10**18
    if long.any():
        hashed[long] = pd.util.hash_array(values[long].astype(str).astype(object), categorize=False)
    return hashed


def _number_hash(values: np.ndarray) -> np.ndarray:
    """Hash of float64 numbers: whole ones (exactly representable) as integers, the rest as floats."""
    from modelops.train.splits import float_hash

    whole = np.isfinite(values) & (np.floor(values) == values) & (np.abs(values) < _EXACT_FLOAT)
    hashed = float_hash(values)
    if whole.any():
        hashed[whole] = _integer_hash(values[whole].astype(np.int64))
    return hashed


def unit_interval(hashes: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per hash, the same for the same hash and salt."""
    mixed = pd.util.hash_array(hashes ^ np.uint64(salt), categorize=False)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class SeenIds:
    """The ids met so far in row order, as sorted runs of hashes merged like a binary counter.

    `repeats` marks each row whose id an earlier row (this chunk or a previous one) already held:
    the first occurrence is served, every later one falls back (reason duplicate_id).
    """

    def __init__(self) -> None:
        self.runs: list[np.ndarray] = []

    def add(self, hashes: np.ndarray) -> None:
        """Remember ids without judging them (the rows of earlier partition groups)."""
        if len(hashes):
            ordered = np.sort(hashes)
            keep = np.ones(len(ordered), dtype=bool)
            keep[1:] = ordered[1:] != ordered[:-1]
            self._push(ordered[keep])  # runs stay disjoint: later pushes hold only ids met for the first time

    def repeats(self, hashes: np.ndarray) -> np.ndarray:
        """Per row: was its id met before (earlier in the chunk, or in an earlier chunk or group)?"""
        n = len(hashes)
        if n == 0:
            return np.zeros(0, dtype=bool)
        order = np.argsort(hashes, kind="stable")  # equal ids keep their row order: the first one wins
        ordered = hashes[order]
        later = np.zeros(n, dtype=bool)
        later[1:] = ordered[1:] == ordered[:-1]
        met = later.copy()
        for run in self.runs:  # sorted queries walk each run once (numpy bounds each search by the last)
            at = np.minimum(np.searchsorted(run, ordered), len(run) - 1)
            met |= run[at] == ordered
        seen = np.empty(n, dtype=bool)
        seen[order] = met
        self._push(ordered[~met])
        return seen

    def _push(self, run: np.ndarray) -> None:
        if not len(run):  # nothing new (every id met before): an empty run would break the searches
            return
        self.runs.append(run)
        while len(self.runs) > 1 and len(self.runs[-2]) <= 2 * len(self.runs[-1]):
            top = self.runs.pop()
            # two sorted, disjoint runs: a stable sort merges them in linear time (np.unique hashes: 30x slower)
            self.runs[-1] = np.sort(np.concatenate([self.runs[-1], top]), kind="stable")


def earlier_ids(plan: ScoringPlan, group_index: int) -> np.ndarray:
    """The id hashes of the partition groups before this one (a repeat across groups falls back too)."""
    id_column = plan.checks["id_column"]
    if not id_column or group_index == 0 or plan.input_kind not in ("parquet", "parquet_folder"):
        return np.zeros(0, dtype=np.uint64)
    import pyarrow.parquet as pq

    found = []
    for name in (f for group in plan.groups[:group_index] for f in group):
        column = pq.read_table(name, columns=[id_column]).column(0).to_pandas()
        hashes, missing = id_hashes(column)
        found.append(hashes[~missing])
    return np.concatenate(found) if found else np.zeros(0, dtype=np.uint64)


def id_checks(
    frame: pd.DataFrame, id_column: str | None, seen: SeenIds, codes: np.ndarray, reasons: Reasons
) -> np.ndarray | None:
    """Mark rows without an id (missing_id) or with an id met before (duplicate_id); the id hashes, or None."""
    if not id_column or id_column not in frame:
        return None
    hashes, missing = id_hashes(frame[id_column])
    reasons.mark(codes, missing, "missing_id")
    repeated = np.zeros(len(frame), dtype=bool)
    present = ~missing
    repeated[present] = seen.repeats(hashes[present])
    reasons.mark(codes, repeated, "duplicate_id")
    return hashes

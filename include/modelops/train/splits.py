"""Row keys and data splits: which rows train, calibrate and judge, stable across reruns."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import UNLABELLED, label_values
from modelops.config.settings import DatasetSpec

_CANONICAL_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"  # "1", "1.0", "-2.5"; not "007" (a code, not a number)


_SALT_HOLDOUT = 0x9E3779B97F4A7C15


_SALT_LATEST = 0xC2B2AE3D27D4EB4F


def column_hash(series: pd.Series) -> np.ndarray:
    """uint64 per value, equal for equal values whatever the dtype: 1, 1.0, "1" and "1.0" hash alike."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        text = series.astype(object).where(series.notna(), None).map(lambda v: None if v is None else str(v).strip())
        numeric = text.str.fullmatch(_CANONICAL_NUMBER).fillna(False).to_numpy(dtype=bool)
        hashed = pd.util.hash_array(text.where(text.notna(), "\x00<missing>").to_numpy(dtype=object), categorize=False)
        if numeric.any():
            numbers = pd.to_numeric(text[numeric]).to_numpy(dtype="float64")
            hashed[numeric] = float_hash(numbers)
        return hashed
    return float_hash(values)


def float_hash(values: np.ndarray) -> np.ndarray:
    """uint64 per float, by value (-0.0 and 0.0 alike): the numeric half of `column_hash`."""
    values = np.where(values == 0, 0.0, values)  # -0.0 and 0.0 are one value
    return pd.util.hash_array(values, categorize=False)


def key_columns(spec: DatasetSpec, frame: pd.DataFrame | None = None) -> list[str]:
    """The columns that identify a row: id and time (a voter recurs every cycle), or all but the target and the
    weight (a reweighted survey holds the same respondents, and a window may come without weights)."""
    if spec.id_column:
        columns = [spec.id_column, *([spec.time_column] if spec.time_column else [])]
    else:
        columns = [c for c in spec.kept_columns if c not in (spec.target, spec.weight_column)]
    return [c for c in columns if frame is None or c in frame]


def row_keys(frame: pd.DataFrame, spec: DatasetSpec, columns: list[str] | None = None) -> np.ndarray:
    """A stable uint64 key per row from `columns` (default `key_columns`): same row, same key, in any batch."""
    key = np.zeros(len(frame), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns if columns is not None else key_columns(spec, frame):
            key = key * np.uint64(1_000_003) ^ column_hash(frame[column])
    return key


def _unit_interval(keys: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per key, the same for the same key and salt."""
    mixed = pd.util.hash_array(keys ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF), categorize=False)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _holdout_side(
    frame: pd.DataFrame, spec: DatasetSpec, training: dict[str, Any], positions: np.ndarray, latest: Any
) -> np.ndarray:
    """Which of `positions` are on the holdout side (a stable function of each row's key and the seed)."""
    seed = int(training["seed"])
    keys = row_keys(frame.iloc[positions], spec)
    if latest is not None:  # the latest period, but for the share of it that trains
        in_latest = (frame[spec.time_column].iloc[positions] == latest).to_numpy()
        share = float(training.get("latest_period_train_fraction", 0.0))
        learns = _unit_interval(keys, _SALT_LATEST + seed) < share if share > 0 else np.zeros(len(keys), bool)
        return in_latest & ~learns
    return _unit_interval(keys, _SALT_HOLDOUT + seed) < float(training["holdout_fraction"])


def _latest_period(frame: pd.DataFrame, spec: DatasetSpec, positions: np.ndarray) -> Any:
    """The latest time value among `positions` when there are at least two, else None."""
    if not spec.time_column or spec.time_column not in frame:
        return None
    values = frame[spec.time_column].iloc[positions].dropna().unique()
    return max(values) if len(values) >= 2 else None


def split_indices(frame: pd.DataFrame, spec: DatasetSpec, training: dict[str, Any]) -> dict[str, np.ndarray]:
    """Row positions of train / calibration / holdout, over labelled rows only.

    With a time column of at least two values the holdout comes from the latest period (a
    `latest_period_train_fraction` share of that period trains, so models learn the newest
    regime); otherwise a `holdout_fraction` of rows is held out. Who is held out is a stable
    function of the row's key (`row_keys`) and the seed, so a row stays on its side across
    retrains and added batches. The calibration split is a seeded stratified part of the rest.
    """
    from sklearn.model_selection import train_test_split

    seed = int(training["seed"])
    labels = label_values(frame, spec)
    positions = np.flatnonzero(labels != UNLABELLED)
    y = labels.astype(int)
    held = _holdout_side(frame, spec, training, positions, _latest_period(frame, spec, positions))
    holdout, rest = positions[held], positions[~held]
    stratify = y[rest] if min(np.bincount(y[rest], minlength=2)) >= 2 else None
    train, calibration = train_test_split(
        rest, test_size=float(training["calibration_fraction"]), stratify=stratify, random_state=seed
    )
    return {"train": np.sort(train), "calibration": np.sort(calibration), "holdout": np.sort(holdout)}


def unlabelled_holdout_side(frame: pd.DataFrame, spec: DatasetSpec, training: dict[str, Any]) -> np.ndarray:
    """Unlabelled rows that fall on the holdout side by the same rule: they join the drift reference."""
    labels = label_values(frame, spec)
    latest = _latest_period(frame, spec, np.flatnonzero(labels != UNLABELLED))
    positions = np.flatnonzero(labels == UNLABELLED)
    if len(positions) == 0:
        return positions
    return np.sort(positions[_holdout_side(frame, spec, training, positions, latest)])


def stratified_positions(y: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of at most `max_rows` rows, keeping the class balance (all rows when fewer).

    Rows are drawn uniformly within each class: whoever carries a row's weight keeps it unchanged, so a
    weighted fit on the sample sees each class's weighted make-up as the whole has it, in expectation."""
    if len(y) <= max_rows:
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=max_rows, stratify=y, random_state=seed)
    return np.sort(keep)


def stratified_cap(frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """At most `max_rows` rows, keeping the class balance."""
    if len(frame) <= max_rows:
        return frame, y
    keep = stratified_positions(y, max_rows, seed)
    return frame.iloc[keep], y[keep]

"""Labels, feature preparation and data splits, driven by the dataset spec's column roles.

Labels: `label_values` is the one place that says which rows have an outcome. A row whose target
is missing, or is a value the spec does not list as an outcome, is *unlabelled* (-1): validated as
an input, never trained on or evaluated, and never read as the negative class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.config import DatasetSpec

UNLABELLED = -1
_SALT_HOLDOUT = 0x9E3779B97F4A7C15
_SALT_LATEST = 0xC2B2AE3D27D4EB4F


class UnlabelledRowsError(ValueError):
    """Rows without an outcome reached code that needs labels."""


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _present(series: pd.Series) -> np.ndarray:
    """Rows that hold a value: not null, and not text that is empty once spaces are stripped."""
    present = series.notna().to_numpy(dtype=bool, copy=True)
    if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        text = series.astype(object).where(series.notna(), None)
        blank = text.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
        present &= ~blank
    return present


def _matches(series: pd.Series, values: tuple[Any, ...]) -> np.ndarray:
    """Rows equal to one of `values`, comparing numbers as numbers and text as text (never a missing value)."""
    present = _present(series)
    if pd.api.types.is_bool_dtype(series):
        hit = series.isin([v for v in values if isinstance(v, bool)])
    elif pd.api.types.is_numeric_dtype(series):  # a CSV read codes as numbers: 1, 1.0 and "1" all mean 1
        numbers = [n for n in map(_number, values) if n is not None]
        hit = series.astype("float64").isin(numbers)
    else:  # text: the config's 1 matches the file's "1" and "1.0"; "Y" matches "Y"
        text = series.astype(object).where(series.notna(), None)
        wanted = {str(v).strip() for v in values}
        numbers = {n for n in map(_number, values) if n is not None}

        def matches(value: Any) -> bool:
            if value is None:
                return False
            if str(value).strip() in wanted:
                return True
            number = _number(value)
            return number is not None and number in numbers

        hit = text.map(matches)
    return hit.fillna(False).to_numpy(dtype=bool) & present


def label_values(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """Per row: 1 (positive), 0 (negative) or -1 (unlabelled: missing, or not an outcome value)."""
    target = frame[spec.target]
    positive = _matches(target, spec.positive_labels)
    if spec.negative_labels is None:  # every other value that is present; blank text is not a value
        negative = _present(target) & ~positive
    else:
        negative = _matches(target, spec.negative_labels) & ~positive
    out = np.full(len(frame), UNLABELLED, dtype=np.int8)
    out[negative] = 0
    out[positive] = 1
    return out


def labelled_mask(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """True for rows that have an outcome."""
    return label_values(frame, spec) != UNLABELLED


def label_summary(frame: pd.DataFrame, spec: DatasetSpec, top: int = 10) -> dict[str, Any]:
    """Counts of labelled, positive, negative and unlabelled rows, and which target values were unlabelled."""
    values = label_values(frame, spec)
    unlabelled = values == UNLABELLED
    target = frame[spec.target]
    present = _present(target)
    missing = int((~present).sum())
    others = target[unlabelled & present].astype(str).value_counts().head(top)
    rows = len(frame)
    return {
        "rows": rows,
        "labelled": int((~unlabelled).sum()),
        "positive": int((values == 1).sum()),
        "negative": int((values == 0).sum()),
        "unlabelled": int(unlabelled.sum()),
        "unlabelled_share": float(unlabelled.mean()) if rows else 0.0,
        "missing_target": missing,
        "other_values": {str(k): int(v) for k, v in others.items()},
    }


def target_vector(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """1 for positive rows, 0 for negative ones; refuses a frame holding unlabelled rows."""
    values = label_values(frame, spec)
    bad = int((values == UNLABELLED).sum())
    if bad:
        raise UnlabelledRowsError(
            f"dataset {spec.name!r}: {bad} of {len(frame)} rows have no outcome in {spec.target!r} "
            "(missing or not a configured label); select labelled rows first"
        )
    return values.astype(int)


def build_preprocessor(spec: DatasetSpec, missing_indicators: bool = True):
    """ColumnTransformer: impute (+ was-missing indicators) and scale numeric columns, one-hot categorical ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    # The indicator keeps "this value was missing" as a feature: in surveys it often carries signal.
    # It is added only for columns that had gaps when fitted; its 0/1 is scaled like the rest.
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median", add_indicator=missing_indicators)), ("scale", StandardScaler())]
    )
    # Only stock scikit-learn parts, so the model saves in skops format with a vetted type list;
    # OneHotEncoder treats a missing value as a category of its own.
    categorical = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)
    return ColumnTransformer(
        [("numeric", numeric, list(spec.numeric)), ("categorical", categorical, list(spec.categorical))],
        verbose_feature_names_out=False,
    )


_CANONICAL_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"  # "1", "1.0", "-2.5"; not "007" (a code, not a number)


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
    """The columns that identify a row: id and time (a voter recurs every cycle), or all but the target."""
    if spec.id_column:
        columns = [spec.id_column, *([spec.time_column] if spec.time_column else [])]
    else:
        columns = [c for c in spec.kept_columns if c != spec.target]
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


def stratified_cap(frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """At most `max_rows` rows, keeping the class balance."""
    if len(frame) <= max_rows:
        return frame, y
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(frame)), train_size=max_rows, stratify=y, random_state=seed)
    keep = np.sort(keep)
    return frame.iloc[keep], y[keep]

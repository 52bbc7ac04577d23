"""Labels: which rows have an outcome, and the outcome as 0/1, driven by the dataset spec.

`label_values` is the one place that says which rows have an outcome. A row whose target is
missing, or is a value the spec does not list as an outcome, is *unlabelled* (-1): validated as an
input, never trained on or evaluated, and never read as the negative class.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.config.settings import DatasetSpec

UNLABELLED = -1


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

"""A column's values as the checks read them: codes of the distinct values, blanks, numbers, labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def factorize(series: pd.Series) -> tuple[np.ndarray, Any]:
    """(codes per row, -1 = missing; the distinct values): a categorical's own codes, else pd.factorize.

    A categorical may declare values no row holds; callers only gather per-value results by code.
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        return np.asarray(series.cat.codes, dtype=np.intp), series.cat.categories
    return pd.factorize(series)


def blank_rows(series: pd.Series) -> np.ndarray:
    """Missing, or text that is empty once spaces are stripped."""
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if not pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        codes, uniques = factorize(series)  # strip only the distinct values
        blank_unique = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [False], dtype=bool)
        missing |= blank_unique[codes]
    return missing


def as_numbers(series: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """(the column as float64, rows holding something that is no number); blanks stay missing."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series):
        return series.astype("float64"), np.zeros(len(series), dtype=bool)
    blank = blank_rows(series)
    codes, uniques = factorize(series)
    parsed_unique = pd.to_numeric(pd.Series(uniques, dtype=object).str.strip(), errors="coerce").to_numpy(
        dtype="float64", na_value=np.nan
    )
    parsed = np.append(parsed_unique, np.nan)[codes]
    return pd.Series(parsed, index=series.index), np.isnan(parsed) & ~blank


def label_set(values: list[Any]) -> set[str]:
    """The values' category labels (1, 1.0 and "1" share one)."""
    from modelops.stats.drift import category_label

    return {category_label(v) for v in values}


def labels_of_uniques(series: pd.Series) -> tuple[np.ndarray, np.ndarray, Any]:
    """(codes per row (-1 = missing), label per distinct value, the distinct values); 1, 1.0 and "1" share a label."""
    from modelops.stats.drift import category_label

    codes, uniques = factorize(series)
    labels = np.array([category_label(u) for u in uniques], dtype=object)
    return codes, labels, uniques


def missing_scalar(value: Any) -> bool:
    """Whether one value is missing (None, NaN, NaT); a value pandas cannot judge is not."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def plain_frame(X: pd.DataFrame) -> pd.DataFrame:
    """The frame as the pipeline was fitted on it (categorical dtypes as plain values)."""
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    return X.astype(dict.fromkeys(cats, object)) if cats else X


def require_registrant_column(frame: pd.DataFrame, rule: dict[str, Any] | None, what: str) -> None:
    """Refuse `frame` (named `what`) when the new-registrant rule's column is absent: a reader that must tell new
    registrants apart never takes a missing column for "nobody is new"."""
    if rule and rule["column"] not in frame.columns:
        raise ValueError(f"{what}: no column {rule['column']!r} (scoring.new_registrants) to tell new registrants")


def new_registrant_rows(frame: pd.DataFrame, rule: dict[str, Any] | None) -> np.ndarray:
    """Per row: is it a new registrant under `rule` (`scoring.new_registrants`: its column read as a number at most
    `max_value`, or equal to `value`, 1, 1.0 and "1" being one); all False without a rule or without its column.
    A missing or non-numeric value is no new registrant. The one test of it: scoring, snapshot diffs and the
    registrants' error all call this."""
    n = len(frame)
    if not rule or rule["column"] not in frame:
        return np.zeros(n, dtype=bool)
    series = frame[rule["column"]]
    if rule.get("max_value") is not None:
        values = as_numbers(series)[0].to_numpy(dtype="float64", na_value=np.nan)
        with np.errstate(invalid="ignore"):
            return np.isfinite(values) & (values <= float(rule["max_value"]))
    codes, labels, _ = labels_of_uniques(series)
    wanted = label_set([rule["value"]])
    hit = np.array([label in wanted for label in labels] + [False], dtype=bool)
    return hit[codes]

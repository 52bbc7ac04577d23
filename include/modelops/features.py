"""Feature preparation and data splits, driven by the dataset spec's column roles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.config import DatasetSpec


def build_preprocessor(spec: DatasetSpec):
    """ColumnTransformer: impute+scale numeric columns, one-hot categorical ones."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    # Only stock scikit-learn parts, so the model saves in skops format with a vetted type list;
    # OneHotEncoder treats a missing value as a category of its own.
    categorical = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)
    return ColumnTransformer(
        [("numeric", numeric, list(spec.numeric)), ("categorical", categorical, list(spec.categorical))],
        verbose_feature_names_out=False,
    )


def target_vector(frame: pd.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """1 for the positive class, 0 otherwise."""
    return (frame[spec.target] == spec.positive_class).to_numpy(dtype=int)


def split_indices(frame: pd.DataFrame, spec: DatasetSpec, training: dict[str, Any]) -> dict[str, np.ndarray]:
    """Row positions of train / calibration / holdout.

    With a time column of at least two values the holdout comes from the latest period (a
    `latest_period_train_fraction` share of that period trains, so models learn the newest
    regime); otherwise the holdout is a stratified random fraction.
    """
    from sklearn.model_selection import train_test_split

    seed = int(training["seed"])
    y = target_vector(frame, spec)
    positions = np.arange(len(frame))
    time_values = frame[spec.time_column].dropna().unique() if spec.time_column in frame else []
    if len(time_values) >= 2:
        latest = (frame[spec.time_column] == max(time_values)).to_numpy()
        holdout, rest = positions[latest], positions[~latest]
        share = float(training.get("latest_period_train_fraction", 0.0))
        if share > 0:
            learn, holdout = train_test_split(holdout, train_size=share, stratify=y[holdout], random_state=seed)
            rest = np.concatenate([rest, learn])
    else:
        rest, holdout = train_test_split(
            positions, test_size=float(training["holdout_fraction"]), stratify=y, random_state=seed
        )
    train, calibration = train_test_split(
        rest, test_size=float(training["calibration_fraction"]), stratify=y[rest], random_state=seed
    )
    return {"train": np.sort(train), "calibration": np.sort(calibration), "holdout": np.sort(holdout)}


def stratified_cap(frame: pd.DataFrame, y: np.ndarray, max_rows: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """At most `max_rows` rows, keeping the class balance."""
    if len(frame) <= max_rows:
        return frame, y
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(frame)), train_size=max_rows, stratify=y, random_state=seed)
    keep = np.sort(keep)
    return frame.iloc[keep], y[keep]

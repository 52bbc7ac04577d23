"""The compiled fast path: a fitted pipeline's preprocessing as numpy, and predict split over the cores."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import factorize

_MISSING_LEVEL = "\0missing"  # the missing value's key among a column's levels (no repr starts with NUL)
_MAX_LEVELS = 100_000  # distinct values remembered per categorical column


@dataclass
class ColumnMeter:
    """Per input column: the seconds `CompiledPipeline.matrix` spends on its work, and the bytes of the arrays it
    makes for it (its values, gaps, codes and slots, its table and its columns of the matrix).

    Work shared by every categorical column (the encoder's one call on values no chunk held before) is
    in `shared_seconds`: a chunk of known values (every chunk after the first, mostly) has none.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    nbytes: dict[str, int] = field(default_factory=dict)
    shared_seconds: float = 0.0

    def add(self, column: str, started: float, *arrays: np.ndarray) -> None:
        """Count the time since `started` (perf_counter) and the arrays' bytes to `column`."""
        self.seconds[column] = self.seconds.get(column, 0.0) + perf_counter() - started
        self.nbytes[column] = self.nbytes.get(column, 0) + sum(int(a.nbytes) for a in arrays)


@dataclass
class CompiledPipeline:
    """The fitted preprocessing as numpy, fed straight to the pipeline's final estimator.

    Numbers: the imputer's fill values, its was-missing indicators and the scaler's mean and scale
    (the same float64 operations sklearn applies). Categories: the encoder itself run on each
    column's distinct values, gathered per row by code. Only trusted once it matches the
    pipeline's own predict_proba on the first chunk.
    """

    numeric: list[str]
    categorical: list[str]
    fill: np.ndarray
    indicate: np.ndarray
    mean: np.ndarray | None
    scale: np.ndarray | None
    encoder: Any
    widths: list[int]
    estimator: Any
    used: np.ndarray | None = None  # per input column: does the estimator read it (None: every one)
    # per categorical column: {repr(value): row of its table} and the table (the encoder's output for that
    # column's block, one row per distinct value met so far, and one for the missing value)
    levels: list[dict[str, int]] = field(default_factory=list)
    tables: list[np.ndarray | None] = field(default_factory=list)
    buffer: np.ndarray | None = None  # the last full-size matrix, refilled by the next chunk (`reuse`)

    def matrix(
        self,
        X: pd.DataFrame,
        factors: dict[str, tuple[np.ndarray, Any]] | None = None,
        reuse: bool = False,
        meter: ColumnMeter | None = None,
    ) -> np.ndarray:
        """The model's input matrix, column-major (each feature written contiguously).

        Columns the estimator never reads (a tree ensemble that split on a subset) stay zero: they
        cannot change a score, and skipping them saves most of the matrix's cost for small trees.
        With `reuse`, the matrix is written into the previous call's memory when the shape matches
        (no fresh pages to fault in per chunk): the caller must be done with the previous one.
        With `meter`, each input column's work is timed and its arrays counted (what a feature costs).
        """
        n, k, m = len(X), len(self.numeric), len(self.indicate)
        width = k + m + sum(self.widths)
        used = self.used if self.used is not None else np.ones(width, dtype=bool)
        if reuse and self.buffer is not None and self.buffer.shape == (n, width):
            Z = self.buffer  # unused columns were never written: still zero
        else:
            if reuse:
                self.buffer = None  # never hold the old matrix and a new one together
            Z = (np.empty if used.all() else np.zeros)((n, width), dtype="float64", order="F")
            if reuse:
                self.buffer = Z
        indicator = {int(i): k + j for j, i in enumerate(self.indicate)}
        for i, column in enumerate(self.numeric):
            started = perf_counter()
            flag = indicator.get(i)
            wanted_flag = flag is not None and used[flag]
            if not (used[i] or wanted_flag):
                continue
            values = X[column].to_numpy(dtype="float64", na_value=np.nan)
            gaps = np.isnan(values)
            targets = []
            if used[i]:
                target = Z[:, i]
                target[:] = values
                target[gaps] = self.fill[i]
                targets.append((target, i))
            if wanted_flag:
                Z[:, flag] = gaps
                targets.append((Z[:, flag], flag))
            for target, at in targets:  # the scaler's own operations, column by column
                if self.mean is not None:
                    target -= self.mean[at]
                if self.scale is not None:
                    target /= self.scale[at]
            if meter is not None:
                meter.add(column, started, values, gaps, *(target for target, _ in targets))
        if self.categorical:
            self._one_hot(X, factors or {}, Z, k + m, used, meter)
        return Z

    def _one_hot(
        self,
        X: pd.DataFrame,
        factors: dict[str, tuple[np.ndarray, Any]],
        Z: np.ndarray,
        start: int,
        used: np.ndarray,
        meter: ColumnMeter | None = None,
    ) -> None:
        columns = []
        for c in self.categorical:
            started = perf_counter()
            codes, uniques = factors[c] if c in factors else factorize(X[c])
            columns.append((codes, pd.Series(uniques)))
            if meter is not None:
                meter.add(c, started, np.asarray(codes))
        offset = 0
        slots = self._learn([values for _, values in columns], meter)
        for i, ((codes, _), width) in enumerate(zip(columns, self.widths, strict=True)):
            started = perf_counter()
            rows = slots[i][codes]  # code -1 (missing) takes the last slot: the missing value's row
            table = self.tables[i]
            written = [start + offset + j for j in range(width) if used[start + offset + j]]
            for at in written:
                np.take(table[:, at - start - offset], rows, out=Z[:, at])
            if meter is not None:
                meter.add(self.categorical[i], started, rows, slots[i], table, *(Z[:, at] for at in written))
            offset += width

    def _learn(self, columns: list[pd.Series], meter: ColumnMeter | None = None) -> list[np.ndarray]:
        """Per column, the row of its table for each distinct value, then for the missing value; the encoder
        runs only on values no chunk held before (and on each column's missing value once).

        Chunks of one file mostly hold the same values, each chunk listing them in its own order (a
        Parquet row group's dictionary): values are remembered one by one, so a new order costs nothing.
        """
        if not self.levels:
            self.levels = [{} for _ in self.categorical]
            self.tables = [None for _ in self.categorical]
        keys: list[list[str]] = []
        fresh: list[dict[str, int]] = []  # per column: {key: position among the chunk's values}
        for i, values in enumerate(columns):
            started = perf_counter()
            column_keys = [repr(value) for value in values.tolist()]
            keys.append(column_keys)
            if len(self.levels[i]) > _MAX_LEVELS:  # a column of ever new values: start its memory over
                self.levels[i], self.tables[i] = {}, None
            seen = self.levels[i]
            new: dict[str, int] = {}
            for position, key in enumerate(column_keys):
                if key not in seen and key not in new:
                    new[key] = position
            if _MISSING_LEVEL not in seen:
                new[_MISSING_LEVEL] = len(values)  # past the end: reindex gives the column's missing value
            fresh.append(new)
            if meter is not None:
                meter.add(self.categorical[i], started)
        started = perf_counter()
        height = max(len(new) for new in fresh)
        if height:
            small = {}
            for c, values, new in zip(self.categorical, columns, fresh, strict=True):
                positions = list(new.values())
                small[c] = values.reindex(positions + [len(values)] * (height - len(positions))).to_numpy()
            encoded = np.asarray(self.encoder.transform(pd.DataFrame(small)), dtype="float64")
            if encoded.shape[1] != sum(self.widths):
                raise ValueError(f"the encoder gave {encoded.shape[1]} columns, expected {sum(self.widths)}")
            offset = 0
            for i, (new, width) in enumerate(zip(fresh, self.widths, strict=True)):
                if new:
                    table = self.tables[i]
                    before = 0 if table is None else len(table)
                    rows = encoded[: len(new), offset : offset + width]
                    self.tables[i] = rows.copy() if table is None else np.vstack([table, rows])
                    self.levels[i].update({key: before + r for r, key in enumerate(new)})
                offset += width
        if meter is not None:
            meter.shared_seconds += perf_counter() - started
        slots = []
        for i, column_keys in enumerate(keys):
            started = perf_counter()
            levels = self.levels[i]
            slots.append(np.array([levels[k] for k in column_keys] + [levels[_MISSING_LEVEL]], dtype=np.intp))
            if meter is not None:
                meter.add(self.categorical[i], started)
        return slots

    def predict(self, X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]] | None = None) -> np.ndarray:
        """Positive-class probabilities from the compiled matrix."""
        return predict_rows(self.estimator, self.matrix(X, factors, reuse=True))  # consumed before the next


def compile_pipeline(pipeline: Any, checks: dict[str, Any]) -> CompiledPipeline | None:
    """The pipeline's preprocessing as a `CompiledPipeline`, or None when it has another shape than ours."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    try:
        if list(pipeline.named_steps) != ["features", "model"]:
            return None
        features = pipeline.named_steps["features"]
        if not isinstance(features, ColumnTransformer):
            return None
        parts = {name: (step, list(cols)) for name, step, cols in features.transformers_ if name != "remainder"}
        if set(parts) != {"numeric", "categorical"} or features.remainder != "drop":
            return None
        numeric, numeric_columns = parts["numeric"]
        encoder, categorical_columns = parts["categorical"]
        if numeric_columns != list(checks["numeric"]) or categorical_columns != list(checks["categorical"]):
            return None
        if [name for name, _, _ in features.transformers_ if name != "remainder"] != ["numeric", "categorical"]:
            return None
        if not isinstance(encoder, OneHotEncoder) or not isinstance(numeric, Pipeline):
            return None
        steps = numeric.named_steps
        if list(steps) != ["impute", "scale"]:
            return None
        imputer, scaler = steps["impute"], steps["scale"]
        if not isinstance(imputer, SimpleImputer) or not isinstance(scaler, StandardScaler):
            return None
        fill = np.asarray(imputer.statistics_, dtype="float64")
        if not (isinstance(imputer.missing_values, float) and np.isnan(imputer.missing_values)):
            return None
        if not np.isfinite(fill).all():  # a column empty at fit time is dropped by sklearn: not mirrored here
            return None
        indicate = np.asarray(imputer.indicator_.features_ if imputer.indicator_ is not None else [], dtype=np.intp)
        width = len(fill) + len(indicate)
        mean = np.asarray(scaler.mean_, dtype="float64") if scaler.with_mean else None
        scale = np.asarray(scaler.scale_, dtype="float64") if scaler.with_std else None
        if (mean is not None and mean.shape != (width,)) or (scale is not None and scale.shape != (width,)):
            return None
        return CompiledPipeline(
            numeric=numeric_columns,
            categorical=categorical_columns,
            fill=fill,
            indicate=indicate,
            mean=mean,
            scale=scale,
            encoder=encoder,
            widths=[int(w) for w in encoder._n_features_outs],  # private: the first-chunk check guards it
            estimator=pipeline.named_steps["model"],
            used=_features_used(pipeline.named_steps["model"], width + sum(int(w) for w in encoder._n_features_outs)),
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _features_used(estimator: Any, width: int) -> np.ndarray | None:
    """Which of `width` input columns a (calibrated) tree ensemble splits on; None when unknown or all.

    Reads the fitted trees (scikit-learn internals, guarded by the first-chunk check like the rest
    of the compiled path): histogram gradient boosting's predictor nodes, random forests' trees.
    """
    used = np.zeros(width, dtype=bool)
    try:
        # a calibrated classifier's fitted estimators (a FrozenEstimator hands the attributes on), else the model
        calibrated = getattr(estimator, "calibrated_classifiers_", None)
        inner = [c.estimator for c in calibrated] if calibrated else [estimator]
        for model in inner:
            if hasattr(model, "_predictors"):  # HistGradientBoosting*
                for predictors in model._predictors:
                    for predictor in predictors:
                        nodes = predictor.nodes
                        used[nodes["feature_idx"][nodes["is_leaf"] == 0]] = True
            elif (
                hasattr(model, "estimators_")
                and not hasattr(model, "estimators_features_")  # bagging: each tree numbers its own subset
                and all(hasattr(t, "tree_") and t.n_features_in_ == width for t in model.estimators_)
            ):
                for tree in model.estimators_:
                    feature = tree.tree_.feature
                    used[feature[feature >= 0]] = True
            else:
                return None
            if int(getattr(model, "n_features_in_", width)) != width:
                return None
    except (AttributeError, IndexError, KeyError, TypeError, ValueError):
        return None
    return None if used.all() else used


_SPLIT_MIN_ROWS = 20_000  # smaller inputs are predicted in one call


def predict_rows(estimator: Any, X: Any) -> np.ndarray:
    """predict_proba(X)[:, 1], rows split over one thread per core (each row's score does not depend on the others).

    The trees' and the linear model's predict release the GIL, so the halves run on both cores;
    the native thread pools (OpenMP, BLAS) are held to one thread meanwhile (`score_group`).
    """
    threads = _predict_threads()
    n = len(X)
    if threads < 2 or n < _SPLIT_MIN_ROWS:
        return np.asarray(estimator.predict_proba(X)[:, 1], dtype="float64")
    from concurrent.futures import ThreadPoolExecutor

    bounds = np.linspace(0, n, threads + 1).astype(int)
    take = (lambda a, b: X.iloc[a:b]) if isinstance(X, pd.DataFrame) else (lambda a, b: X[a:b])
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scoring-predict") as pool:
        parts = pool.map(
            lambda ab: np.asarray(estimator.predict_proba(take(*ab))[:, 1], dtype="float64"),
            itertools.pairwise(bounds),
        )
        return np.concatenate(list(parts))


def _predict_threads() -> int:
    """Threads for predict: the cores this process may use (MODELOPS_SCORING_THREADS overrides)."""
    configured = os.environ.get("MODELOPS_SCORING_THREADS")
    if configured:
        return max(1, int(configured))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)

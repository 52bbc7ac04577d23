"""What a model card is made from: the version's record (`gather`) and the figures computed on its holdout.

`gather` reads the registry (the version's tags, the training run's evaluation report, resolved
configuration and training options) and the workspace (the holdout split; when the split files are
gone, the holdout is rebuilt from the recorded batch by the same split function the training used,
and checked against the report). `compute_figures` adds what the report does not hold:

- every metric with a seeded percentile-bootstrap interval (`evaluation.bootstrap_metrics`);
- permutation importance on the holdout (scikit-learn's `inspection`, on the pipeline with the raw
  feature columns, on at most `IMPORTANCE_MAX_ROWS` rows) and partial dependence of the top features;
- the segments where the model errs most (each categorical level, numeric quantile bucket or
  protected bin, ranked by log loss, at least a minimum of rows);
- a calibration plot's bins (observed outcome rate against the mean score, by score decile);
- what each feature earns and costs: the drop-one gain recorded at training (`evaluate.feature_value`)
  beside its share of the compiled scoring path's time and memory (`score.feature_cost`).

A card reads only the spec's feature and protected columns; PII never reaches a batch (collection
drops it), and `gather` drops any PII column from the holdout all the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.models import DatasetWeights
from modelops.config.settings import SPEC_SECTION_MODELS, DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.store import artifacts, registry

IMPORTANCE_MAX_ROWS = 5000  # permutation importance: a seeded stratified sample of the holdout
IMPORTANCE_REPEATS = 5
PD_FEATURES = 3  # partial dependence for this many top features
PD_MAX_ROWS = 1000  # rows averaged per grid point
PD_GRID = 20  # numeric grid points (quantiles 5%..95%); categorical: the most common levels
PD_LEVELS = 12
SEGMENT_QUANTILES = 5  # numeric features are cut into this many quantile buckets
SEGMENT_TOP = 8  # segments shown, worst first
SEGMENT_MIN_SHARE = 0.05  # a segment needs this share of the holdout (and at most min_slice_rows rows)
SEGMENT_FLOOR = 30
CALIBRATION_BINS = 10
COST_MAX_ROWS = 20000  # feature costs: the compiled path timed on a seeded sample of the holdout
COST_REPEATS = 5


class CardError(LookupError):
    """A card cannot be made: the version, its evaluation or its holdout is not on record."""


# --- gathering ----------------------------------------------------------------------------------


@dataclass
class CardInputs:
    """What a card is made from: the version, its spec at training time, its report and its holdout."""

    model_name: str
    version: str
    run_id: str
    tags: dict[str, str]
    aliases: list[str]
    spec: DatasetSpec
    statements: dict[str, Any]
    report: dict[str, Any]
    evaluation: dict[str, Any]
    training: dict[str, Any]
    holdout: pd.DataFrame
    holdout_source: str
    split_rows: dict[str, int] = field(default_factory=dict)
    offline_online: Any = None  # `monitor.offline_online.Agreement` of the dataset's versions (None: not gathered)


def spec_from_resolved(body: dict[str, Any]) -> DatasetSpec:
    """The DatasetSpec a run logged in resolved_config.json (its columns and labels as they were then)."""
    known = {f.name for f in fields(DatasetSpec)}
    kwargs = {k: v for k, v in body.items() if k in known}
    for key in ("numeric", "categorical", "pii", "permitted_uses", "joins", "positive_labels", "stated_limitations"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key] or ())
    if "source" in kwargs:  # the expanded path was added for the record; the spec holds the template
        kwargs["source"] = {k: v for k, v in kwargs["source"].items() if k != "resolved_path"}
    if kwargs.get("negative_labels") is not None:
        kwargs["negative_labels"] = tuple(kwargs["negative_labels"])
    for key, model in SPEC_SECTION_MODELS.items():
        if key in kwargs:
            kwargs[key] = model.model_validate(kwargs[key] or {})
    if kwargs.get("weights") is not None:
        kwargs["weights"] = DatasetWeights.model_validate(kwargs["weights"])
    return DatasetSpec(**kwargs)


def _statements(trained: DatasetSpec, current: DatasetSpec | None) -> dict[str, Any]:
    """Description, intended use, owner and stated limitations: as recorded at training, else as configured now."""
    out: dict[str, Any] = {"from_current_config": []}
    for key in ("description", "intended_use", "owner", "stated_limitations"):
        value = getattr(trained, key)
        if not value and current is not None and getattr(current, key):
            value = getattr(current, key)
            out["from_current_config"].append(key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _holdout(
    tags: dict[str, str], spec: DatasetSpec, training: dict[str, Any], report: dict[str, Any]
) -> tuple[pd.DataFrame, str, dict[str, int]]:
    """The version's holdout rows: the split file, or rebuilt from the recorded batch with the same split."""
    from modelops.collect.sources import BatchRef, SourceError, load_batch
    from modelops.train.lineage import split_key
    from modelops.train.splits import split_indices

    batch_path, data_hash = tags.get(Tag.BATCH_PATH), tags.get(Tag.DATA_HASH)
    if not batch_path or not data_hash:
        raise CardError("the version has no modelops.batch_path / modelops.data_hash tags: its data is not on record")
    ref = BatchRef(dataset=spec.name, path=batch_path, content_hash=data_hash, rows=0, columns=[], source={})
    key = split_key(ref, spec, training)
    recorded = tags.get(Tag.SPLIT_KEY)
    if recorded and recorded != key:
        raise CardError(
            f"the split recorded with the version ({recorded}) is not the one its training options give ({key}); "
            "the holdout cannot be identified"
        )
    folder = catalog.split_dir(spec.name, key)
    expected = report.get("holdout_rows")
    files = {n: catalog.split_file(spec.name, key, n) for n in catalog.SPLIT_PARTS}
    if files["holdout"].exists():
        holdout = pd.read_parquet(files["holdout"])
        sizes = {n: _rows(path) for n, path in files.items() if path.exists()}
        source = f"split files {folder}"
    else:
        if not Path(batch_path).exists():
            raise CardError(
                f"the holdout split ({folder}) and the batch it came from ({batch_path}) are both gone: "
                "the holdout cannot be rebuilt"
            )
        try:
            frame = load_batch(ref)
        except SourceError as exc:
            raise CardError(f"cannot rebuild the holdout: {exc}") from None
        parts = split_indices(frame, spec, training)
        holdout = frame.iloc[parts["holdout"]].reset_index(drop=True)
        sizes = {name: len(rows) for name, rows in parts.items()}
        source = f"rebuilt from batch {data_hash[:16]} with the training's split (the split files were gone)"
    if expected is not None and len(holdout) != int(expected):
        raise CardError(f"the holdout has {len(holdout)} rows but the evaluation report scored {expected}")
    return holdout, source, sizes


def gather(model_name: str, version: str, settings: Settings) -> CardInputs:
    """Read a version's tags, its run's report and configuration, and its holdout."""
    found = registry.model_version(model_name, str(version))
    if found is None:
        raise CardError(f"{model_name} has no version {version!r}")
    tags = dict(found.tags or {})
    parent = tags.get(Tag.PARENT_RUN_ID)
    if not parent:
        raise CardError(f"{model_name} v{version} has no modelops.parent_run_id tag: its training run is unknown")
    report = artifacts.load_run_dict(parent, artifacts.EVALUATION_ARTIFACT)
    resolved = artifacts.load_run_dict(parent, artifacts.RESOLVED_CONFIG_ARTIFACT)
    if report is None or resolved is None:
        missing = [n for n, v in (("evaluation.json", report), ("resolved_config.json", resolved)) if v is None]
        raise CardError(f"{model_name} v{version}: training run {parent} lacks {', '.join(missing)}")
    spec = spec_from_resolved(resolved["dataset"])
    current = settings.datasets.get(spec.name)
    training = artifacts.load_run_dict(parent, artifacts.TRAINING_OPTIONS_ARTIFACT)  # what the run used
    if training is None:
        raise CardError(f"{model_name} v{version}: training run {parent} lacks {artifacts.TRAINING_OPTIONS_ARTIFACT}")
    holdout, source, sizes = _holdout(tags, spec, training, report)
    pii = {*spec.pii, *(current.pii if current else ())}
    holdout = holdout.drop(columns=[c for c in holdout.columns if c in pii])  # never there; never shown
    evaluation = {**settings.evaluation.model_dump(), **(resolved.get("evaluation") or {})}
    return CardInputs(
        model_name=model_name,
        version=str(version),
        run_id=found.run_id,
        tags=tags,
        aliases=sorted(str(a) for a in (found.aliases or [])),
        spec=spec,
        statements=_statements(spec, current),
        report=report,
        evaluation=evaluation,
        training=training,
        holdout=holdout,
        holdout_source=source,
        split_rows=sizes,
        offline_online=_offline_online(
            spec, model_name, report.get("primary_metric") or evaluation["primary_metric"], settings
        ),
    )


def _offline_online(spec: DatasetSpec, model_name: str, metric: str, settings: Settings) -> Any:
    """Holdout beside online figures of every version of the model, and their correlation (`card_online`)."""
    from modelops.govern.card_online import gather_offline_online

    return gather_offline_online(spec.name, model_name, metric, settings)


# --- figures on the holdout ------------------------------------------------------------------------------------


def permutation_ranking(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    metric: str,
    seed: int,
    threshold: float,
    max_rows: int = IMPORTANCE_MAX_ROWS,
    repeats: int = IMPORTANCE_REPEATS,
) -> list[dict[str, Any]]:
    """Permutation importance of each raw feature column: the drop in `metric` (a decision one at `threshold`)
    when it is shuffled, best first."""
    from sklearn.inspection import permutation_importance

    from modelops.stats.metrics import higher_is_better, score
    from modelops.train.splits import stratified_cap

    sign = 1.0 if higher_is_better(metric) else -1.0

    def scorer(estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:  # greater is better, as sklearn wants
        return sign * score(metric, y_, estimator.predict_proba(X_)[:, 1], threshold)

    if len(np.unique(y)) < 2:
        return []
    X, y = stratified_cap(X, y, max_rows, seed)
    result = permutation_importance(model, X, y, scoring=scorer, n_repeats=repeats, random_state=seed, n_jobs=1)
    ranked = [
        {"feature": str(c), "importance": float(m), "std": float(s), "rows": len(X), "repeats": repeats}
        for c, m, s in zip(X.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    return sorted(ranked, key=lambda r: -r["importance"])


def partial_dependence_curves(
    model: Any, X: pd.DataFrame, features: list[str], categorical: set[str], seed: int
) -> list[dict[str, Any]]:
    """Average predicted probability as each feature is set to each grid value (scikit-learn's partial_dependence)."""
    from sklearn.inspection import partial_dependence

    sample = X.sample(n=min(len(X), PD_MAX_ROWS), random_state=seed) if len(X) else X
    # scikit-learn refuses integer columns as numeric PD features (grid values would be rounded); the
    # pipeline takes them as doubles anyway (the logged signature declares integers as doubles)
    integers = [c for c in sample.columns if c not in categorical and pd.api.types.is_integer_dtype(sample[c])]
    sample = sample.astype(dict.fromkeys(integers, "float64"))
    curves = []
    for feature in features:
        values = sample[feature].dropna()
        if values.empty:
            continue
        is_categorical = feature in categorical or not pd.api.types.is_numeric_dtype(values)
        if is_categorical:
            grid = np.array(list(values.value_counts().index[:PD_LEVELS]), dtype=object)
        elif values.nunique() <= PD_GRID:  # counts, flags, codes: their own values, never 2.65 votes
            grid = np.sort(values.astype(float).unique())
        else:
            grid = np.unique(np.quantile(values.astype(float), np.linspace(0.05, 0.95, PD_GRID)))
        result = partial_dependence(
            model,
            sample,
            [feature],
            kind="average",
            custom_values={feature: grid},
            categorical_features=[feature] if is_categorical else None,
        )
        curves.append(
            {
                "feature": feature,
                "kind": "categorical" if is_categorical else "numeric",
                "grid": [v.item() if hasattr(v, "item") else v for v in grid],
                "average": [float(v) for v in result["average"][0]],
                "rows": len(sample),
            }
        )
    return curves


def _segment_labels(frame: pd.DataFrame, column: str, spec: DatasetSpec) -> np.ndarray:
    """A segment name per row: the protected bins, numeric quantile buckets, or the level; gaps are `missing`."""
    from modelops.present.reports import plain_value
    from modelops.stats.drift import MISSING, category_labels, slice_labels

    values = frame[column]
    bins = spec.protected.get(column)
    if bins:
        return slice_labels(frame, column, bins).to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > SEGMENT_QUANTILES:
        numbers = values.astype(float)
        codes = pd.qcut(numbers, SEGMENT_QUANTILES, duplicates="drop", labels=False)
        # named by the values each bucket holds (qcut widens the lowest edge below the minimum)
        spans = numbers.groupby(codes).agg(["min", "max"])
        names = {
            c: f"{plain_value(lo)} to {plain_value(hi)}" if lo != hi else plain_value(lo)
            for c, (lo, hi) in spans.iterrows()
        }
        return np.array([names[c] if c == c else "missing" for c in codes], dtype=object)
    labels = category_labels(values)
    return np.where(labels == MISSING, "missing", labels).astype(object)


def error_segments(
    frame: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    spec: DatasetSpec,
    min_rows: int,
    threshold: float,
    top: int = SEGMENT_TOP,
) -> dict[str, Any]:
    """Where the model errs most: segments of feature and protected columns (never PII) ranked by log loss; an
    error is a decision (score >= `threshold`, the served one) that differs from the outcome."""
    from modelops.stats.metrics import EPS, decide

    y = np.asarray(y, dtype=float)
    proba = np.asarray(proba, dtype=float)
    clipped = np.clip(proba, EPS, 1 - EPS)
    losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    errors = (decide(proba, threshold) != (y == 1)).astype(float)
    overall = {"rows": len(y), "log_loss": float(losses.mean()), "error_rate": float(errors.mean())}
    columns = [c for c in dict.fromkeys([*spec.features, *spec.protected]) if c in frame and c not in spec.pii]
    segments = []
    for column in columns:
        labels = _segment_labels(frame, column, spec)
        for label in pd.unique(labels):
            mask = labels == label
            rows = int(mask.sum())
            if rows < min_rows or rows == len(y):
                continue
            segments.append(
                {
                    "column": column,
                    "segment": str(label),
                    "rows": rows,
                    "outcome_rate": float(y[mask].mean()),
                    "mean_score": float(proba[mask].mean()),
                    "log_loss": float(losses[mask].mean()),
                    "error_rate": float(errors[mask].mean()),
                }
            )
    segments.sort(key=lambda s: (-s["log_loss"], s["column"], s["segment"]))
    return {
        "overall": overall,
        "threshold": float(threshold),
        "min_rows": min_rows,
        "considered": len(segments),
        "worst": segments[:top],
    }


def calibration_bins(y: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Observed outcome rate against the mean score by score quantile bin, and the row-weighted mean gap."""
    y, proba = np.asarray(y, dtype=float), np.asarray(proba, dtype=float)
    if not len(y):
        return {"bins": [], "weighted_gap": None, "max_gap": None}
    edges = np.unique(np.quantile(proba, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, proba, side="right") - 1, 0, max(len(edges) - 2, 0))
    table = []
    for b in np.unique(which):
        mask = which == b
        table.append(
            {
                "rows": int(mask.sum()),
                "mean_score": float(proba[mask].mean()),
                "outcome_rate": float(y[mask].mean()),
            }
        )
    gaps = np.array([t["outcome_rate"] - t["mean_score"] for t in table])
    weights = np.array([t["rows"] for t in table], dtype=float)
    return {
        "bins": table,
        "weighted_gap": float(np.sum(np.abs(gaps) * weights) / weights.sum()),
        "max_gap": float(np.max(np.abs(gaps))),
    }


def _compiled_path(model: Any, spec: DatasetSpec, X: pd.DataFrame) -> tuple[Any, str | None]:
    """The compiled scoring path of `model`, or None and why it cannot be measured on `X`: as scoring does, it is
    trusted only where it gives the pipeline's own scores."""
    from modelops.score.fastpath import compile_pipeline, predict_rows
    from modelops.score.models import FAST_TOLERANCE

    if not len(X):
        return None, "the holdout is empty"
    compiled = compile_pipeline(model, {"numeric": list(spec.numeric), "categorical": list(spec.categorical)})
    if compiled is None:
        return None, "the pipeline has no compiled scoring path"
    try:
        fast = predict_rows(compiled.estimator, compiled.matrix(X))
    except (TypeError, ValueError) as exc:
        return None, f"the compiled path cannot read the holdout ({type(exc).__name__})"
    if not np.allclose(fast, model.predict_proba(X)[:, 1], rtol=0, atol=FAST_TOLERANCE):
        return None, "the compiled path does not give the pipeline's scores on the holdout"
    return compiled, None


def feature_value_and_cost(inputs: CardInputs, model: Any, seed: int) -> dict[str, Any]:
    """Per feature: the drop-one gain recorded at training (gain, interval, useless) and its share of the compiled
    scoring path's time and memory on the holdout; `cost_error` says why costs are missing."""
    from modelops.score.feature_cost import feature_costs

    spec = inputs.spec
    value = inputs.report.get("feature_value") or {}
    gains = {r["feature"]: r for r in value.get("features") or []}
    X = inputs.holdout[spec.features]
    X = X.sample(n=COST_MAX_ROWS, random_state=seed) if len(X) > COST_MAX_ROWS else X
    compiled, why = _compiled_path(model, spec, X)
    costs = feature_costs(compiled, X, COST_REPEATS) if compiled is not None else None
    spent = {r["feature"]: r for r in (costs or {}).get("features") or []}
    empty = {"gain": None, "ci_low": None, "ci_high": None, "useless": None}
    return {
        "metric": value.get("metric"),
        "recorded": bool(gains),
        "drop_one": {k: v for k, v in value.items() if k != "features"},
        "cost_error": why,
        "costs": {k: v for k, v in (costs or {}).items() if k != "features"},
        "features": [
            {
                "feature": f,
                **{k: gains.get(f, empty)[k] for k in empty},
                "time_share": spent.get(f, {}).get("time_share"),
                "memory_share": spent.get(f, {}).get("memory_share"),
            }
            for f in spec.features
        ],
    }


def compute_figures(inputs: CardInputs, model: Any) -> dict[str, Any]:
    """Everything the card computes on the holdout (metrics with CIs, explanations, segments, calibration)."""
    from modelops.collect.labels import target_vector
    from modelops.evaluate.evaluation import bootstrap_metrics

    spec, evaluation = inputs.spec, inputs.evaluation
    seed = int(inputs.training.get("seed", 0))
    primary = inputs.report.get("primary_metric") or evaluation["primary_metric"]
    X = inputs.holdout[spec.features]
    y = target_vector(inputs.holdout, spec)
    proba = model.predict_proba(X)[:, 1]
    threshold = inputs.report.get("threshold")
    if threshold is None:
        raise CardError("the evaluation report holds no decision threshold: the gate's decisions cannot be shown")
    metrics = bootstrap_metrics(
        y,
        proba,
        int(evaluation["bootstrap_resamples"]),
        float(evaluation["confidence"]),
        int(evaluation["bootstrap_max_rows"]),
        seed,
        threshold=float(threshold),
    )
    recorded = (inputs.report.get("metrics") or {}).get(primary)
    if recorded is not None and not math.isclose(metrics[primary]["value"], recorded, abs_tol=1e-6):
        raise CardError(
            f"{primary} on the holdout is {metrics[primary]['value']:.6f} but the evaluation report says "
            f"{recorded:.6f}: the holdout or the model is not the one that was evaluated"
        )
    importance = permutation_ranking(model, X, y, primary, seed, float(threshold))
    # the top features the model relies on (shuffling them costs something); noise gets no curve
    top = [r["feature"] for r in importance[:PD_FEATURES] if r["importance"] > 0]
    min_rows = min(int(evaluation.get("min_slice_rows", 100)), max(SEGMENT_FLOOR, int(SEGMENT_MIN_SHARE * len(y))))
    return {
        "primary_metric": primary,
        "metrics": metrics,
        "importance": importance,
        "partial_dependence": partial_dependence_curves(model, X, top, set(spec.categorical), seed),
        "segments": error_segments(inputs.holdout, y, proba, spec, min_rows, float(threshold)),
        "calibration": calibration_bins(y, proba),
        "feature_value": feature_value_and_cost(inputs, model, seed),
    }

"""Candidate training: a seeded, time-boxed successive-halving search, a final fit and calibration.

Each candidate is one scikit-learn Pipeline (preprocessor + calibrated estimator). A search space samples
the estimator's parameters and, under `prep__<key>`, the preprocessor's (`features.PREP_DEFAULTS` otherwise);
a configuration whose fitted trees exceed the scoring budget (`search.max_tree_levels`, `cost`) is excluded.
The calibration method is chosen per candidate when several are configured (`calibration`). A spec with
`weights.use: survey` fits with its weights as `sample_weight` everywhere a row counts: every search
round's fits and validation scores, the final fit, the calibration and the calibration metrics that rank
the candidates. Every family of `config.CANDIDATE_FAMILIES` takes `sample_weight` in its `fit`. Row caps
(`search.max_rows`, `max_fit_rows`) sample rows stratified by class and keep each kept row's own weight.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.checks import calibration_methods
from modelops.config.settings import CANDIDATE_FAMILIES, DatasetSpec
from modelops.stats.metrics import higher_is_better, score
from modelops.stats.weights import survey_weights
from modelops.train.calibration import choose_calibration, fit_calibrator
from modelops.train.cost import tree_levels_per_row
from modelops.train.features import PREP_DEFAULTS, build_preprocessor, split_params
from modelops.train.splits import stratified_positions

Weights = np.ndarray | None
MODEL_STEP = "model"  # the estimator's step in every candidate's Pipeline (its fit takes the sample weights)


def estimator_builders() -> dict[str, Callable[[dict[str, Any], int], Any]]:
    """How each model family of `config.CANDIDATE_FAMILIES` is built: family -> (params, seed) -> estimator."""
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    # defaults a search space may override (e.g. a cap on max_iter keeps the scoring cost bounded)
    boosting = {"max_iter": 300, "early_stopping": True, "validation_fraction": 0.1}
    return {
        "logistic_regression": lambda params, seed: LogisticRegression(
            **{"max_iter": 1000, **params, "random_state": seed}
        ),
        "hist_gradient_boosting": lambda params, seed: HistGradientBoostingClassifier(
            **{**boosting, **params, "random_state": seed}
        ),
        # n_jobs=1: candidates already run as parallel mapped tasks
        "random_forest": lambda params, seed: RandomForestClassifier(**{"n_jobs": 1, **params, "random_state": seed}),
    }


def make_estimator(name: str, params: dict[str, Any], seed: int):
    """A fresh, unfitted estimator for candidate `name` with `params`."""
    builders = estimator_builders()
    if name not in CANDIDATE_FAMILIES or name not in builders:
        raise ValueError(f"unknown candidate {name!r}; known model families: {list(CANDIDATE_FAMILIES)}")
    return builders[name](params, seed)


def sample_configs(space: dict[str, dict[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """`n` seeded draws from a search space of `log_uniform: [lo, hi]` and `choice: [...]` entries."""
    rng = np.random.default_rng(seed)
    configs = []
    for _ in range(n):
        config: dict[str, Any] = {}
        for param, dist in space.items():
            if "log_uniform" in dist:
                lo, hi = dist["log_uniform"]
                config[param] = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
            elif "choice" in dist:
                options = dist["choice"]
                config[param] = options[int(rng.integers(0, len(options)))]
            else:
                raise ValueError(f"search space for {param!r} needs log_uniform or choice, got {dist}")
        configs.append(config)
    unique = {tuple(sorted(c.items())): c for c in configs}  # duplicate draws waste budget
    return list(unique.values())


def build_pipeline(spec: DatasetSpec, name: str, params: dict[str, Any], seed: int, missing_indicators: bool = True):
    """The unfitted Pipeline of one candidate: the spec's preprocessor (its `prep__` params), then the family's
    estimator (the others)."""
    from sklearn.pipeline import Pipeline

    prep, model = split_params(params)
    features = build_preprocessor(spec, missing_indicators, **{**PREP_DEFAULTS, **prep})
    return Pipeline([("features", features), (MODEL_STEP, make_estimator(name, model, seed))])


def fit_weights(spec: DatasetSpec, frame: pd.DataFrame) -> Weights:
    """The rows' survey weights when the spec trains with them (`weights.use: survey`), else None (a WeightError
    names the column and the count of rows without a usable weight)."""
    return survey_weights(frame, spec.weight_column) if spec.survey_weighted and spec.weight_column else None


def fit_pipeline(pipeline: Any, X: pd.DataFrame, y: np.ndarray, sample_weight: Weights) -> Any:
    """`pipeline` fitted on X, y, its estimator step weighted by `sample_weight` when given."""
    if sample_weight is None:
        return pipeline.fit(X, y)
    return pipeline.fit(X, y, **{f"{MODEL_STEP}__sample_weight": sample_weight})


def _part(w: Weights, positions: np.ndarray) -> Weights:
    return None if w is None else w[positions]


@dataclass
class SearchResult:
    """Outcome of the halving search: the winner and every score on the way."""

    best_params: dict[str, Any]
    best_score: float
    rounds_completed: int
    configs_evaluated: int
    stopped_by_budget: bool
    trace: list[dict[str, Any]] = field(default_factory=list)
    space: dict[str, Any] = field(default_factory=dict)  # what was searched
    # every configuration within the budget, best first: the furthest round reached, then the score there
    ranking: list[dict[str, Any]] = field(default_factory=list)
    max_tree_levels: float | None = None  # the scoring budget configurations were held to (None: none)


def _race_round(
    spec: DatasetSpec,
    name: str,
    configs: list[dict[str, Any]],
    fit: tuple[pd.DataFrame, np.ndarray, Weights],
    validation: tuple[pd.DataFrame, np.ndarray, Weights],
    metric: str,
    round_index: int,
    trace: list[dict[str, Any]],
    *,
    seed: int,
    missing_indicators: bool,
    threshold: float | None,
    levels_cap: Any,
) -> list[tuple[dict[str, Any], float]]:
    """One round of the race: each configuration fitted on `fit` and scored on `validation`; those within the
    scoring budget returned as (config, value); every one appended to `trace`, an excluded one marked."""
    X_val, y_val, w_val = validation
    scored = []
    for config in configs:
        model = fit_pipeline(build_pipeline(spec, name, config, seed, missing_indicators), *fit)
        value = score(metric, y_val, model.predict_proba(X_val)[:, 1], threshold, w_val)
        levels = tree_levels_per_row(model.named_steps[MODEL_STEP])
        over = levels_cap is not None and levels > float(levels_cap)
        if not over:
            scored.append((config, value))
        trace.append(
            {"round": round_index, "rows": len(fit[0]), "params": config, metric: value, "tree_levels": levels}
            | ({"excluded": "over the scoring budget"} if over else {})
        )
    return scored


def successive_halving(
    spec: DatasetSpec,
    name: str,
    X: pd.DataFrame,
    y: np.ndarray,
    space: dict[str, Any],
    search: dict[str, Any],
    metric: str,
    seed: int,
    missing_indicators: bool = True,
    threshold: float | None = None,
    sample_weight: Weights = None,
) -> SearchResult:
    """Race configurations on growing row budgets, keeping the best 1/factor each round (a decision metric at
    `threshold`, the dataset's decision threshold).

    Scores come from a fixed 25% validation part of the search sample. The budget is a count:
    `n_configs` configurations over at most `max_rounds` rounds, so a rerun gives the same model.
    `safety_stop_seconds` is only a guard against a runaway search: a round that would start after
    it is not run, and the result says so (`stopped_by_budget`), since that run is not reproducible.
    `sample_weight` (one per row of X): every fit and validation score weighted by it.
    `max_tree_levels` (in `search`): a fitted configuration over this scoring cost (`cost.tree_levels_per_row`)
    is excluded from that round on (its trace row says so); a family whose every configuration is over it
    is refused, naming the budget.
    """
    from sklearn.model_selection import train_test_split

    configs = sample_configs(space, int(search["n_configs"]), seed)
    factor = int(search.get("factor", 3))
    cap = stratified_positions(y, int(search["max_rows"]), seed)
    X_cap, y_cap, w_cap = X.iloc[cap], y[cap], _part(sample_weight, cap)
    fit_idx, val_idx = train_test_split(np.arange(len(X_cap)), test_size=0.25, stratify=y_cap, random_state=seed)
    X_val, y_val, w_val = X_cap.iloc[val_idx], y_cap[val_idx], _part(w_cap, val_idx)
    pool_X, pool_y, pool_w = X_cap.iloc[fit_idx], y_cap[fit_idx], _part(w_cap, fit_idx)
    rows = min(int(search["min_rows"]), len(pool_X))
    stop = search.get("safety_stop_seconds")
    budget = math.inf if stop is None else float(stop)
    max_rounds = int(search.get("max_rounds") or 1_000)
    levels_cap = search.get("max_tree_levels")
    started = time.monotonic()
    survivors = [(c, float("nan")) for c in configs]
    trace: list[dict[str, Any]] = []
    rounds = 0
    stopped = False
    sign = 1.0 if higher_is_better(metric) else -1.0
    kw = {"seed": seed, "missing_indicators": missing_indicators, "threshold": threshold, "levels_cap": levels_cap}
    while True:
        if rounds > 0 and time.monotonic() - started > budget:
            stopped = True
            break
        drawn = stratified_positions(pool_y, rows, seed + rounds)
        X_round, y_round, w_round = pool_X.iloc[drawn], pool_y[drawn], _part(pool_w, drawn)
        round_fit = (X_round, y_round, w_round)
        configs_now = [config for config, _ in survivors]
        scored = _race_round(spec, name, configs_now, round_fit, (X_val, y_val, w_val), metric, rounds, trace, **kw)
        rounds += 1
        if not scored:
            raise ValueError(
                f"{name}: every configuration of round {rounds} tests a row on more tree levels than "
                f"training.search.max_tree_levels ({levels_cap}); narrow its search space or raise the budget"
            )
        scored.sort(key=lambda item: -sign * item[1] if not math.isnan(item[1]) else math.inf)
        survivors = scored
        if len(survivors) == 1 or rows >= len(pool_X) or rounds >= max_rounds:
            break
        survivors = scored[: max(1, math.ceil(len(scored) / factor))]
        rows = min(rows * factor, len(pool_X))
    best_config, best_value = survivors[0]
    return SearchResult(
        best_params=best_config,
        best_score=best_value,
        rounds_completed=rounds,
        configs_evaluated=len(configs),
        stopped_by_budget=stopped,
        trace=trace,
        space=dict(space),
        ranking=_ranking(trace, metric, sign),
        max_tree_levels=None if levels_cap is None else float(levels_cap),
    )


def _ranking(trace: list[dict[str, Any]], metric: str, sign: float) -> list[dict[str, Any]]:
    furthest: dict[tuple, tuple[int, float, dict[str, Any]]] = {}
    for row in trace:
        if "excluded" not in row:  # rows come in round order: a later round replaces an earlier one
            value = row[metric]
            furthest[tuple(sorted(row["params"].items()))] = (row["round"], value, row["params"])
    order = sorted(
        furthest.values(), key=lambda item: (-item[0], -sign * item[1] if not math.isnan(item[1]) else math.inf)
    )
    return [params for _, _, params in order]


@dataclass
class TrainedCandidate:
    """A fitted, calibrated candidate pipeline and how it was made."""

    name: str
    pipeline: Any
    params: dict[str, Any]
    search: SearchResult
    fit_rows: int
    fit_seconds: float
    calibration_metrics: dict[str, float]
    # the calibration method used and, when several were configured, each one's held-out log loss
    calibration_choice: dict[str, Any] = field(default_factory=dict)
    tree_levels: float = 0.0  # the final model's scoring cost (`cost.tree_levels_per_row`)
    # final fits over the scoring budget, in the order tried ({"params", "tree_levels"}): more rows grow trees
    over_budget_fits: list[dict[str, Any]] = field(default_factory=list)

    def search_record(self) -> dict[str, Any]:
        """How this candidate was tuned, as the run records it and the model card reads it back."""
        return {
            "space": self.search.space,
            "trace": self.search.trace,
            "best_params": self.params,
            "best_score": self.search.best_score,
            "rounds": self.search.rounds_completed,
            "configs": self.search.configs_evaluated,
            "stopped_by_budget": self.search.stopped_by_budget,
            "max_tree_levels": self.search.max_tree_levels,
            "tree_levels": self.tree_levels,
            "calibration": self.calibration_choice,
            "over_budget_fits": self.over_budget_fits,
        }


def final_fit(
    spec: DatasetSpec, name: str, search: SearchResult, X: pd.DataFrame, y: np.ndarray, w: Weights, seed: int, **kw: Any
) -> tuple[dict[str, Any], Any, list[dict[str, Any]]]:
    """(params, fitted pipeline, final fits over the budget): the best configuration of the search (`ranking`)
    whose fit on the final rows stays within `search.max_tree_levels` (more rows than the search's grow deeper
    trees and let early stopping run longer), trying the next one when it does not; none within: refused."""
    over: list[dict[str, Any]] = []
    for params in search.ranking or [search.best_params]:
        fitted = fit_pipeline(build_pipeline(spec, name, params, seed, **kw), X, y, w)
        levels = tree_levels_per_row(fitted.named_steps[MODEL_STEP])
        if search.max_tree_levels is None or levels <= search.max_tree_levels:
            return params, fitted, over
        over.append({"params": params, "tree_levels": levels})
    raise ValueError(
        f"{name}: the final fit of every configuration the search kept tests a row on more tree levels "
        f"than training.search.max_tree_levels ({search.max_tree_levels}); narrow its search space or raise the budget"
    )


def train_candidate(
    name: str,
    spec: DatasetSpec,
    train: pd.DataFrame,
    calibration: pd.DataFrame,
    training: dict[str, Any],
    space: dict[str, Any],
    metric: str,
    *,
    threshold: float,
) -> TrainedCandidate:
    """Search, refit on (at most max_fit_rows of) train, calibrate on the calibration split; decisions (the
    search's metric if it judges them, the calibration metrics) at `threshold`, the dataset's decision threshold.
    The calibration method: the configured one, or the best of the configured ones (`calibration`).
    With `weights.use: survey`, each step weighted by the rows' survey weights (module docstring)."""
    from sklearn.pipeline import Pipeline

    from modelops.collect.labels import target_vector
    from modelops.stats.metrics import metrics_or_nan

    seed = int(training["seed"])
    X, y = train[spec.features], target_vector(train, spec)
    started = time.monotonic()
    indicators = bool(training.get("missing_indicators", True))
    w, w_cal = fit_weights(spec, train), fit_weights(spec, calibration)
    search = successive_halving(
        spec, name, X, y, space, training["search"], metric, seed, indicators, threshold, sample_weight=w
    )
    keep = stratified_positions(y, int(training["max_fit_rows"]), seed)
    X_fit, y_fit = X.iloc[keep], y[keep]
    params, fitted, over = final_fit(
        spec, name, search, X_fit, y_fit, _part(w, keep), seed, missing_indicators=indicators
    )
    X_cal, y_cal = calibration[spec.features], target_vector(calibration, spec)
    features, model = fitted.named_steps["features"], fitted.named_steps[MODEL_STEP]
    Xt_cal = features.transform(X_cal)
    methods = calibration_methods(training.get("calibration_method", "sigmoid"))
    choice = choose_calibration(model, Xt_cal, y_cal, w_cal, methods, seed)
    calibrated = fit_calibrator(model, Xt_cal, y_cal, w_cal, choice["method"])
    pipeline = Pipeline([("features", features), (MODEL_STEP, calibrated)])
    return TrainedCandidate(
        name=name,
        pipeline=pipeline,
        params=params,
        search=search,
        fit_rows=len(X_fit),
        fit_seconds=time.monotonic() - started,
        calibration_metrics=metrics_or_nan(y_cal, pipeline.predict_proba(X_cal)[:, 1], threshold, w_cal),
        calibration_choice=choice,
        tree_levels=tree_levels_per_row(model),
        over_budget_fits=over,
    )

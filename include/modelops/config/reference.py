# ruff: noqa: E501  (a table of one-line meanings: a line per key reads better than wrapped strings)
"""The configuration reference: every key, its type, its default and what it means, generated.

Types and defaults come from the schemas in `modelops.config` (declared there once); this module
holds only the meaning of each key. `python -m modelops.config.reference` prints the Markdown that
`docs/config-reference.md` holds (a test keeps the two equal, and fails on a key without a meaning).
"""

from __future__ import annotations

from typing import Any

from modelops.config import settings as c

# section -> (schema, one line on the section)
SECTIONS: dict[str, tuple[dict[str, tuple[tuple[type, ...], Any]], str]] = {
    "training": (c.TRAINING_SCHEMA, "How a model is trained: splits, candidates, fit budget."),
    "training.search": (c.SEARCH_SCHEMA, "The hyperparameter search (successive halving; rows are the resource)."),
    "evaluation": (c.EVALUATION_SCHEMA, "The gates a candidate passes before it may be promoted."),
    "monitoring": (c.MONITORING_SCHEMA, "How a scored window is judged, and when monitoring retrains."),
    "monitoring.domain_classifier": (c.DOMAIN_CLASSIFIER_SCHEMA, "The multivariate drift test."),
    "scoring": (c.SCORING_SCHEMA, "Batch scoring of snapshots: fallback, shadow, canary, inputs."),
    "promotion": (c.PROMOTION_SCHEMA, "Who decides when `champion` moves."),
    "fairness": (c.FAIRNESS_SCHEMA, "The promotion gate on gaps between protected groups."),
    "fairness.limits": (c.FAIRNESS_LIMITS_SCHEMA, "The largest gap allowed; null = reported only."),
}

MEANINGS: dict[str, str] = {
    # training
    "training.seed": "Seed of every random choice (splits, search, fit): same data + config = same model.",
    "training.candidates": "Model families trained and compared (each needs a search space).",
    "training.holdout_fraction": "Share of rows held out (stable hash of id or content) when there is no time column.",
    "training.latest_period_train_fraction": "With a time column: share of the latest period that trains; the rest is the holdout.",
    "training.calibration_fraction": "Share of the non-holdout rows that fits calibration and ranks candidates.",
    "training.max_fit_rows": "The final fit uses at most this many rows (stratified sample); the holdout is scored whole.",
    "training.calibration_method": "Probability calibration: sigmoid (keeps the ranking) or isotonic.",
    "training.missing_indicators": "Numeric imputation adds a was-missing feature per column with gaps.",
    "training.search": "The search budget (the `training.search` section below).",
    "training.search.n_configs": "Configurations sampled per candidate family.",
    "training.search.max_rounds": "Halving rounds at most (the budget is a count: reruns give the same model).",
    "training.search.min_rows": "Rows of the first round.",
    "training.search.max_rows": "Rows of the last round at most.",
    "training.search.factor": "Survivors per round = configurations / factor; rows grow by the factor.",
    "training.search.safety_stop_seconds": "Wall-clock guard: a search stopped by it says so in the run.",
    # evaluation
    "evaluation.primary_metric": "The metric that picks the best candidate and gates promotion.",
    "evaluation.floors": "Absolute minimums on the holdout, per metric (e.g. roc_auc: 0.6).",
    "evaluation.baseline_margin": "The candidate must beat the rule-based baseline by this much (primary metric).",
    "evaluation.champion_margin": "The lower confidence bound of (candidate - champion) must exceed this.",
    "evaluation.confidence": "Two-sided level of the bootstrap intervals.",
    "evaluation.bootstrap_resamples": "Bootstrap resamples of the champion comparison.",
    "evaluation.bootstrap_max_rows": "Rows the bootstrap draws from at most.",
    "evaluation.slice_tolerance": "No protected slice may lose more than this against the champion.",
    "evaluation.min_slice_rows": "Smaller slices are reported, never gated.",
    "evaluation.min_comparison_rows": "Fewer rows unseen by both models: the champion comparison is not judged.",
    # monitoring
    "monitoring.schedule": "The monitoring DAG's schedule (cron or preset): its tick, and every dataset's schedule "
    "unless `datasets.<name>.monitoring.schedule` sets its own (or `off`: manual runs only).",
    "monitoring.alpha": "False-discovery rate of the per-feature drift tests (Benjamini-Hochberg).",
    "monitoring.numeric_min_effect": "A numeric feature drifts only with Wasserstein/std at least this.",
    "monitoring.categorical_min_effect": "A categorical feature drifts only with Jensen-Shannon distance at least this.",
    "monitoring.dataset_drift_share": "Share of (weighted) features drifting that makes the window drift.",
    "monitoring.feature_weights": "Weights of features in the drift share (column -> weight; default 1).",
    "monitoring.prediction_psi": "PSI of the served scores against the reference above which predictions drift.",
    "monitoring.max_relative_drop": "Largest relative drop of a labelled metric against the version's holdout.",
    "monitoring.estimated_accuracy_drop": "Largest drop of the label-free estimated accuracy (CBPE).",
    "monitoring.calibration_max_gap": "Largest gap between predicted and observed rates in a score group.",
    "monitoring.calibration_alpha": "Significance level of the calibration-change test.",
    "monitoring.calibration_min_group_rows": "Score groups smaller than this are not tested.",
    "monitoring.calibration_quantiles": "Score groups (quantiles) of the calibration test.",
    "monitoring.min_labeled_rows": "Fewer labelled rows: performance is reported, not judged.",
    "monitoring.persistence": "Consecutive breached windows before retraining.",
    "monitoring.cooldown_hours": "No second retraining trigger within this many hours.",
    "monitoring.retrain_on": "Signals that may retrain (default: performance, calibration, prediction_drift, estimated_accuracy).",
    "monitoring.fallback_share": "Share of rows served by the rule-based fallback above which the window alerts.",
    "monitoring.min_distinct_rows": "Fewer distinct feature rows: the window is degenerate (0: off).",
    "monitoring.max_duplicate_share": "More exact copies than this share: the window is degenerate (1: off).",
    "monitoring.max_champion_age_days": "A champion older than this is retrained without a breach (null: no bound).",
    "monitoring.domain_classifier": "The multivariate drift test (the `monitoring.domain_classifier` section below).",
    "monitoring.window_min_rows": "Fewest rows a window may hold (fewer is a data-quality break; 0: off).",
    "monitoring.window_max_rows": "Most rows a window may hold (null: no bound).",
    "monitoring.window_null_margin": "A window column may miss this much more than its share in the reference (per column: datasets.<name>.monitoring.window_null_fraction).",
    "monitoring.ops_history_runs": "Earlier runs an operational figure is compared with.",
    "monitoring.ops_min_history": "Fewer earlier runs: nothing to compare with.",
    "monitoring.ops_slower_factor": "A run slower than this x the median of its history is unusual.",
    "monitoring.ops_larger_factor": "Peak memory or bytes written above this x the median is unusual.",
    "monitoring.ops_min_seconds": "A slower run is unusual only when slower by more than this many seconds.",
    "monitoring.ops_min_mb": "A larger run is unusual only when larger by more than this many MB.",
    "monitoring.domain_classifier.enabled": "Run the multivariate test.",
    "monitoring.domain_classifier.max_rows": "Rows the classifier sees (half reference, half window).",
    "monitoring.domain_classifier.folds": "Stratified folds of the cross-validated AUC.",
    "monitoring.domain_classifier.auc_margin": "Fires when the AUC's lower bound exceeds 0.5 + this.",
    "monitoring.domain_classifier.confidence": "Two-sided level of the AUC interval.",
    "monitoring.domain_classifier.reference_rows": "Reference rows stored with a version at training time.",
    "monitoring.domain_classifier.top_features": "Features reported by importance (what moved).",
    # scoring
    "scoring.chunk_rows": "Rows per streamed chunk (memory stays flat whatever the file size).",
    "scoring.threshold": "Decision = score >= threshold (model, canary and fallback rows alike); the same decision is gated (accuracy, precision, recall, F1, champion comparison, fairness), shown on the card and judged by monitoring.",
    "scoring.unseen_category_share": "Rows with a category unseen at training fall back beyond this share of a chunk.",
    "scoring.score_guard": "none: a shifted score distribution alerts; psi: such a chunk also falls back whole.",
    "scoring.score_psi_limit": "PSI of a chunk's scores against the reference that alerts (or swaps with psi).",
    "scoring.score_check_min_rows": "Chunks smaller than this are not judged by the score checks.",
    "scoring.degenerate_score_span": "A large chunk whose scores span no more than this is a broken model.",
    "scoring.shadow": "A `challenger` alias, when set, scores the same rows in shadow (never decides).",
    "scoring.shadow_sample": "Share (0-1) or number of rows the challenger shadows (stable hash of the id).",
    "scoring.shadow_all_below": "Inputs of at most this many rows are shadowed on every row.",
    "scoring.max_id_problem_share": "Above this share of missing or repeated ids the run is refused.",
    "scoring.canary_share": "Share of rows decided by the challenger (source = canary); 0 = off.",
    "scoring.partition_groups": "A folder of Parquet partitions is scored as this many mapped groups.",
    "scoring.output_table": "PostgreSQL table the predictions are also loaded into (null: Parquet only).",
    "scoring.output_conn_id": "The Airflow connection of output_table.",
    "scoring.sql_role": "PostgreSQL role a scoring query runs as (SET LOCAL ROLE; null: the connection's user).",
    "scoring.input_roots": "Folders besides production/<dataset>/ that scoring may read (relative: to the workspace).",
    # promotion
    "promotion.require_approval": "The training DAG's own promotion waits for a human (MODELOPS_REQUIRE_APPROVAL overrides).",
    "promotion.approval_timeout_hours": "No answer by then = refused (the alias stays).",
    "promotion.approvers": "Airflow users or `role:<role>` who may answer; the requester never can.",
    # fairness
    "fairness.min_group_rows": "Smaller groups are reported, never gated.",
    "fairness.champion_tolerance": "A gap may not exceed the champion's (same rows) by more than this.",
    "fairness.limits": "The largest gaps allowed (the `fairness.limits` section below).",
    "fairness.limits.demographic_parity_difference": "Selection rates of two groups may differ by at most this.",
    "fairness.limits.equalized_odds_difference": "Max of the TPR gap and the FPR gap between groups.",
}

# A dataset's own keys (`datasets.<name>.<key>`): checked in modelops.config, described here.
DATASET_MEANINGS: dict[str, str] = {
    "description": "One line on the data (model card).",
    "intended_use": "What the model is for (model card).",
    "limitations": "What the model must not be used for (model card).",
    "owner": "Who answers for the model (model card).",
    "source": "Where the batch comes from: `kind` file (`path`), sql (`conn_id`, `query`) or synthetic_voters; optional `filter` (a rule: the population).",
    "joins": "Files joined on a key (`path`, `key`); coverage is validated.",
    "id_column": "A row's id: labels join by it, shadow and canary hash it. Optional.",
    "time_column": "A period column: the holdout is the latest period. Optional.",
    "target": "The outcome column.",
    "positive_class": "The positive outcome value (or use `labels`).",
    "labels": "`positive: [...]`, `negative: [...]`: anything else (or blank) is unlabelled.",
    "numeric": "Numeric features.",
    "categorical": "Categorical features (missing is a level of its own).",
    "protected": "Protected attributes: column -> bins (numeric) or null; sliced in evaluation and fairness.",
    "pii": "Columns dropped at collection; never reach a feature, log or artifact.",
    "baseline_rule": "The rule-based model (`all: [{column, op, value}]`): the baseline to beat and the per-row fallback.",
    "validation": "Data-quality rules of a training batch (the keys below).",
    "scoring": "`geography`, `canary_key`, and any key of the `scoring` section, for this dataset.",
    "fairness": "Any key of the `fairness` section for this dataset, plus `report_only` (columns reported, never gated).",
    "monitoring": f"Overrides of the `monitoring` section for this dataset: {', '.join(sorted(c.DATASET_MONITORING_KEYS))}.",
    "promotion": "`approvers` for this dataset.",
}
VALIDATION_MEANINGS: dict[str, str] = {
    "row_count": "[min, max] rows of a training batch (max may be null). Default [1, null].",
    "null_fraction": (
        f"Largest share of missing values per column (`default` for the rest). Default {c.DEFAULT_NULL_FRACTION:.0%}"
        " for every column: the validation report warns for each column with gaps under that built-in limit."
    ),
    "ranges": "[low, high] per numeric column (either may be null).",
    "categories": "Allowed values per column.",
    "max_unlabelled_share": "Largest share of rows without an outcome. Default 50%.",
}
ENVIRONMENT: dict[str, str] = {
    c.CONFIG_ENV: "Your parameters file(s), layered over the bundled one (several: separated by `:`).",
    "MODELOPS_HOME": "The workspace root for everything generated (default `<repo>/.local`).",
    c.REQUIRE_APPROVAL_ENV: "true/false: overrides `promotion.require_approval`.",
}


def _type(types: tuple[type, ...]) -> str:
    if set(types) == {int, float}:
        return "number"
    names = {int: "integer", float: "number", str: "text", bool: "true/false", list: "list", dict: "mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _default(value: Any) -> str:
    if value is c.REQUIRED:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def missing_meanings() -> list[str]:
    """Schema keys without a meaning here (a test keeps this empty)."""
    keys = [f"{section}.{key}" for section, (schema, _) in SECTIONS.items() for key in schema]
    missing = [k for k in keys if k not in MEANINGS]
    missing += [f"datasets.<name>.{k}" for k in sorted(c.DATASET_KEYS) if k not in DATASET_MEANINGS]
    missing += [f"validation.{k}" for k in sorted(c.VALIDATION_KEYS) if k not in VALIDATION_MEANINGS]
    return missing


def reference_markdown() -> str:
    """docs/config-reference.md: layering, environment, then every section's keys and every dataset key."""
    out = [
        "# Configuration reference",
        "",
        "Generated by `python -m modelops.config.reference` from the schemas in `include/modelops/config/settings.py`",
        "(a test keeps this file equal to its output). The bundled `include/config/modelops.yaml` holds these",
        "defaults and the demo datasets; your file (`MODELOPS_CONFIG`) adds datasets and overrides keys: mappings",
        "merge key by key, a list or a value replaces, `datasets.<name>: null` hides a bundled dataset.",
        "`python -m modelops.config` checks the result.",
        "",
        "## Environment",
        "",
        "| variable | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in ENVIRONMENT.items()),
        "",
        "`default_dataset`: the dataset a form offers first (default: the first configured).",
    ]
    for section, (schema, about) in SECTIONS.items():
        out += ["", f"## `{section}`", "", about, "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, (types, default, *_) in schema.items():
            out.append(f"| `{key}` | {_type(types)} | {_default(default)} | {MEANINGS.get(f'{section}.{key}', '')} |")
    out += [
        "",
        "## `search_spaces`",
        "",
        "Per candidate family, per hyperparameter: `log_uniform: [lo, hi]` or `choice: [...]`.",
        "",
        "## `datasets.<name>`",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {DATASET_MEANINGS.get(k, '')} |" for k in sorted(c.DATASET_KEYS)),
        "",
        "### `datasets.<name>.validation`",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {VALIDATION_MEANINGS.get(k, '')} |" for k in sorted(c.VALIDATION_KEYS)),
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")

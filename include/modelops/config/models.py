# ruff: noqa: E501  (a key per line with its meaning reads better than wrapped strings)
"""The parameters file's sections as typed models: each key's type, default and meaning, declared once.

Strict (no coercion: 'one' is no int, true is no number), frozen, unknown keys refused. The loader
(`modelops.config.settings`) checks ranges and cross-references and turns validation errors into
ConfigError text; `modelops.config.reference` renders these fields as docs/config-reference.md.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

Number = int | float

# Signals monitoring may retrain on (a subset of monitor.signals.names()); input drift alone only watches.
RETRAIN_SIGNALS = (
    "performance",
    "calibration",
    "prediction_drift",
    "estimated_accuracy",
    "data_drift",
    "multivariate_drift",
    "fallback",
    "forecast_backtest",
    "offline_online_gap",
)
DEFAULT_RETRAIN_ON = ("performance", "calibration", "prediction_drift", "estimated_accuracy")
# A column's missing values: a real survey always has some unanswered questions, so a spec without
# `validation.null_fraction` allows up to half of a column missing, and the validation report warns
# about every column that has missing values under this built-in limit (pin it per column, or set a
# `default` of the spec's own). The target's missing values are unlabelled rows (max_unlabelled_share).
DEFAULT_NULL_FRACTION = 0.5


class Section(BaseModel):
    """A checked section of the parameters file: strict, frozen, unknown keys refused."""

    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")
    # a key given as null keeps its default, except in sections where null is a value of its own
    null_is_a_value: ClassVar[bool] = False


def _d(text: str, default: Any = ..., **kw: Any) -> Any:
    return Field(default, description=text, **kw)


def _listed(text: str, default: tuple[Any, ...] = ()) -> Any:
    return Field(default_factory=lambda: list(default), description=text)


def _mapping(text: str) -> Any:
    return Field(default_factory=dict, description=text)


class SearchOptions(Section):
    """The hyperparameter search (successive halving; rows are the resource)."""

    n_configs: int = _d("Configurations sampled per candidate family.", 6)
    max_rounds: int = _d("Halving rounds at most (the budget is a count: reruns give the same model).", 4)
    min_rows: int = _d("Rows of the first round.", 2000)
    max_rows: int = _d("Rows of the last round at most.", 60000)
    factor: int = _d("Survivors per round = configurations / factor; rows grow by the factor.", 3)
    safety_stop_seconds: Number = _d("Wall-clock guard: a search stopped by it says so in the run.", 900)
    max_tree_levels: int | None = _d(
        "Scoring budget: a fitted configuration whose trees test a row more than this many times on average "
        "(summed over its trees, weighted by the rows reaching each leaf) is excluded from the search; "
        "null: no budget.",
        260,
    )


class TrainingSection(Section):
    """How a model is trained: splits, candidates, fit budget."""

    seed: int = _d("Seed of every random choice (splits, search, fit): same data + config = same model.")
    candidates: list[str] = _d("Model families trained and compared (each needs a search space).")
    holdout_fraction: Number = _d(
        "Share of rows held out (stable hash of id or content) when there is no time column.", 0.25
    )
    latest_period_train_fraction: Number = _d(
        "With a time column: share of the latest period that trains; the rest is the holdout.", 0.0
    )
    calibration_fraction: Number = _d("Share of the non-holdout rows that fits calibration and ranks candidates.", 0.15)
    max_fit_rows: int = _d(
        "The final fit uses at most this many rows (stratified sample); the holdout is scored whole.", 250000
    )
    calibration_method: str | list[str] = _d(
        "Probability calibration: sigmoid (keeps the ranking), isotonic, or a list of both: each candidate then "
        "takes the one with the lower log loss in seeded cross-validation on the calibration rows.",
        "sigmoid",
    )
    missing_indicators: bool = _d("Numeric imputation adds a was-missing feature per column with gaps.", True)
    search: SearchOptions = _d(
        "The search budget (the `training.search` section below).", default_factory=SearchOptions
    )


class EvaluationSection(Section):
    """The gates a candidate passes before it may be promoted."""

    primary_metric: str = _d("The metric that picks the best candidate and gates promotion.")
    floors: dict[str, Number] = _mapping("Absolute minimums on the holdout, per metric (e.g. roc_auc: 0.6).")
    baseline_margin: Number = _d("The candidate must beat the rule-based baseline by this much (primary metric).", 0.0)
    champion_margin: Number = _d("The lower confidence bound of (candidate - champion) must exceed this.", 0.0)
    confidence: Number = _d("Two-sided level of the bootstrap intervals.", 0.95)
    bootstrap_resamples: int = _d("Bootstrap resamples of the champion comparison.", 400)
    bootstrap_max_rows: int = _d("Rows the bootstrap draws from at most.", 40000)
    slice_tolerance: Number = _d("No protected slice may lose more than this against the champion.", 0.03)
    min_slice_rows: int = _d("Smaller slices are reported, never gated.", 100)
    min_comparison_rows: int = _d("Fewer rows unseen by both models: the champion comparison is not judged.", 100)
    max_useless_features: int | None = _d(
        "Most features the drop-one check may find useless (removing one does not lower the primary metric "
        "beyond noise) for a version to be promoted (null: reported only).",
        None,
        ge=0,
    )
    drop_one_max_rows: int = _d(
        "Rows the drop-one check refits each pipeline on, and judges on, at most (seeded samples of the train "
        "split and the holdout): it bounds the check's cost, one refit per feature.",
        5000,
        gt=0,
    )


class DomainClassifierOptions(Section):
    """The multivariate drift test: a classifier told to separate reference rows from window rows."""

    enabled: bool = _d("Run the multivariate test.", True)
    max_rows: int = _d("Rows the classifier sees (half reference, half window).", 4000)
    folds: int = _d("Stratified folds of the cross-validated AUC.", 5)
    auc_margin: Number = _d("Fires when the AUC's lower bound exceeds 0.5 + this.", 0.05)
    confidence: Number = _d("Two-sided level of the AUC interval.", 0.95)
    reference_rows: int = _d("Reference rows stored with a version at training time.", 5000)
    top_features: int = _d("Features reported by importance (what moved).", 5)


class MonitoringSection(Section):
    """How a scored window is judged, and when monitoring retrains."""

    schedule: str = _d(
        "Every dataset's monitoring schedule (cron or preset) unless `datasets.<name>.monitoring.schedule` "
        "sets its own (or `off`: manual runs only). The monitoring DAG ticks daily and judges the datasets "
        "whose schedule fired since the tick before; a schedule that fires more than once a day is refused.",
        "@daily",
    )
    alpha: Number = _d("False-discovery rate of the per-feature drift tests (Benjamini-Hochberg).", 0.05)
    numeric_min_effect: Number = _d("A numeric feature drifts only with Wasserstein/std at least this.", 0.1)
    categorical_min_effect: Number = _d(
        "A categorical feature drifts only with Jensen-Shannon distance at least this.", 0.1
    )
    dataset_drift_share: Number = _d("Share of (weighted) features drifting that makes the window drift.", 0.25)
    feature_weights: dict[str, Number] = _mapping(
        "Weights of features in the drift share (column -> weight; default 1)."
    )
    prediction_psi: Number = _d("PSI of the served scores against the reference above which predictions drift.", 0.1)
    max_relative_drop: Number = _d("Largest relative drop of a labelled metric against the version's holdout.", 0.05)
    estimated_accuracy_drop: Number = _d("Largest drop of the label-free estimated accuracy (CBPE).", 0.05)
    calibration_max_gap: Number = _d("Largest gap between predicted and observed rates in a score group.", 0.1)
    calibration_alpha: Number = _d("Significance level of the calibration-change test.", 0.01)
    calibration_min_group_rows: int = _d("Score groups smaller than this are not tested.", 300)
    calibration_quantiles: int = _d("Score groups (quantiles) of the calibration test.", 5)
    min_labeled_rows: int = _d("Fewer labelled rows: performance is reported, not judged.", 500)
    persistence: int = _d("Consecutive breached windows before retraining.", 2)
    cooldown_hours: Number = _d("No second retraining trigger within this many hours.", 24)
    retrain_on: list[str] = _listed("Signals that may retrain.", DEFAULT_RETRAIN_ON)
    fallback_share: Number = _d("Share of rows served by the rule-based fallback above which the window alerts.", 0.05)
    # the offline/online agreement: a labelled window's primary metric (with its bootstrap interval) against the
    # holdout figure of the version that served it (signal offline_online_gap; docs/monitoring.md)
    offline_online_tolerance: Number = _d(
        "A labelled window shows an offline/online gap when its primary metric's interval lies entirely worse than the serving version's holdout figure by more than this (in the metric's units).",
        0.02,
    )
    offline_online_persistence: int | None = _d(
        "Consecutive judged labelled windows of one version with a gap before `offline_online_gap` fires (null: `persistence`).",
        None,
    )
    offline_online_confidence: Number = _d("Two-sided level of a labelled window's bootstrap interval.", 0.95)
    offline_online_resamples: int = _d("Bootstrap resamples of a labelled window's interval.", 200)
    offline_online_max_rows: int = _d(
        "Labelled rows the window's bootstrap draws from at most (a seeded subset).", 20000
    )
    # A degenerate window is a data-quality break, never retrain evidence (also: the model's scores all one value).
    min_distinct_rows: int = _d("Fewer distinct feature rows: the window is degenerate (0: off).", 50)
    max_duplicate_share: Number = _d("More exact copies than this share: the window is degenerate (1: off).", 0.5)
    # A window is judged by its own data-quality limits, not the training batch's validation.row_count and
    # null_fraction (a small window or a subgroup is no broken extract).
    window_min_rows: int = _d("Fewest rows a window may hold (fewer is a data-quality break; 0: off).", 1)
    window_max_rows: int | None = _d("Most rows a window may hold (null: no bound).", None)
    window_null_margin: Number = _d(
        "A window column may miss this much more than its share in the reference (a column the reference "
        "lacks: above the training null_fraction; per column: datasets.<name>.monitoring.window_null_fraction).",
        0.1,
    )
    max_champion_age_days: Number | None = _d(
        "A champion older than this (days since it became champion) is retrained without a breach, never inside the cooldown (null: no bound).",
        None,
    )
    domain_classifier: DomainClassifierOptions = _d(
        "The multivariate drift test (the `monitoring.domain_classifier` section below).",
        default_factory=DomainClassifierOptions,
    )
    # operational figures: a finished run is flagged when its wall time (peak memory, bytes written) is
    # above factor x the median of the previous `ops_history_runs` runs AND by more than the floor
    ops_history_runs: int = _d("Earlier runs an operational figure is compared with.", 10)
    ops_min_history: int = _d("Fewer earlier runs: nothing to compare with.", 3)
    ops_slower_factor: Number = _d("A run slower than this x the median of its history is unusual.", 2.0)
    ops_larger_factor: Number = _d("Peak memory or bytes written above this x the median is unusual.", 2.0)
    ops_min_seconds: Number = _d("A slower run is unusual only when slower by more than this many seconds.", 60)
    ops_min_mb: Number = _d("A larger run is unusual only when larger by more than this many MB.", 256)


class ScoringSection(Section):
    """Batch scoring of snapshots: fallback, shadow, canary, inputs."""

    chunk_rows: int = _d("Rows per streamed chunk (memory stays flat whatever the file size).", 250000)
    threshold: Number = _d(
        "Decision = score >= threshold (model, canary and fallback rows alike); the same decision is gated (accuracy, precision, recall, F1, champion comparison, fairness), shown on the card and judged by monitoring.",
        0.5,
    )
    unseen_category_share: Number = _d(
        "Rows with a category unseen at training fall back beyond this share of a chunk.", 0.01
    )
    score_guard: str = _d("none: a shifted score distribution alerts; psi: such a chunk also falls back whole.", "none")
    score_psi_limit: Number = _d("PSI of a chunk's scores against the reference that alerts (or swaps with psi).", 0.25)
    score_check_min_rows: int = _d("Chunks smaller than this are not judged by the score checks.", 2000)
    degenerate_score_span: Number = _d("A large chunk whose scores span no more than this is a broken model.", 1e-9)
    shadow: bool = _d("A `challenger` alias, when set, scores the same rows in shadow (never decides).", True)
    shadow_sample: Number = _d("Share (0-1) or number of rows the challenger shadows (stable hash of the id).", 0.1)
    shadow_all_below: int = _d("Inputs of at most this many rows are shadowed on every row.", 200000)
    max_id_problem_share: Number = _d(
        "Rows with a missing or repeated id fall back; above this share of them the run is refused.", 0.01
    )
    canary_share: Number = _d("Share of rows decided by the challenger (source = canary); 0 = off.", 0.0)
    partition_groups: int = _d("A folder of Parquet partitions is scored as this many mapped groups.", 4)
    output_table: str | None = _d("PostgreSQL table the predictions are also loaded into (null: Parquet only).", None)
    output_conn_id: str = _d("The Airflow connection of output_table.", "modelops_scoring_db")
    sql_role: str | None = _d(
        "PostgreSQL role a scoring query runs as (SET LOCAL ROLE inside its read-only transaction; null: the connection's user).",
        None,
    )
    input_roots: list[str] | None = _d(
        "Folders besides production/<dataset>/ that scoring may read (relative: to the workspace).", None
    )


NEW_REGISTRANT_POLICIES = ("model", "fallback", "fixed")


class ScoringPopulation(Section):
    """The dataset whose snapshots this dataset's model scores (`datasets.<name>.scoring.population`)."""

    dataset: str = _d(
        "The other dataset whose snapshots are scored (its production folder and snapshot ids), e.g. a survey model scoring the voter file; its id column is the output's id."
    )
    columns: dict[str, str] = _mapping(
        "Model column -> the population's column of the same meaning (renamed before the per-row checks); a column not listed keeps its name."
    )


class NewRegistrants(Section):
    """How rows of new registrants are scored (`datasets.<name>.scoring.new_registrants`); absent: like every row."""

    column: str = _d("The column telling a new registrant (e.g. years_registered, or a flag column).")
    max_value: Number | None = _d(
        "Rows whose column, read as a number, is at most this are new registrants (give this or `value`); a missing or non-numeric value is not one.",
        None,
    )
    value: str | int | float | bool | None = _d(
        'Or: rows whose column equals this value (a flag; 1, 1.0 and "1" are one) are new registrants.', None
    )
    policy: str = _d(
        "model: the model scores them (reason new_registrant recorded); fallback: the rule-based baseline does (source fallback); fixed: every one gets `score` (source fallback)."
    )
    score: Number | None = _d("The score every new registrant gets under policy fixed (0-1; only then).", None)


class CanaryOptions(Section):
    """The production profile's canary (MODELOPS_PROFILE=production): a promoted version first decides a share of the rows; the demo profile promotes directly and says so."""

    null_is_a_value: ClassVar[bool] = True
    share: Number = _d(
        "Share of rows the canary decides (source = canary; a stable hash of scoring.canary_key, the same rows every snapshot).",
        0.1,
    )
    snapshots: int = _d("Scored snapshots the canary serves before it is judged (champion moves only after).", 2)
    min_rows: int = _d(
        "Rows the canary must have decided over those snapshots (fewer: refused, nothing judged on noise).", 200
    )
    min_agreement: Number | None = _d(
        "Least share of canary rows where its decision (score >= scoring.threshold) equals the champion's on the same rows; null: not judged.",
        0.9,
    )
    max_fallback_share: Number | None = _d(
        "Largest share of the canary's rows (its hash share) served by the rule-based fallback or without a usable canary score; null: not judged.",
        0.05,
    )
    max_score_psi: Number | None = _d(
        "Largest PSI of the canary's scores against the champion's on the same rows (ten 0.1-wide bins); null: not judged.",
        0.2,
    )
    max_mean_shift: Number | None = _d(
        "Largest |mean canary score - mean champion score| on the same rows; null: not judged.", 0.05
    )


class PromotionSection(Section):
    """Who decides when `champion` moves."""

    require_approval: bool = _d(
        "The training DAG's own promotion waits for a human (Required Actions), like the promotion DAG always does; false: gates alone decide (MODELOPS_REQUIRE_APPROVAL overrides).",
        False,
    )
    approval_timeout_hours: Number = _d("No answer by then = refused (the alias stays).", 72)
    approvers: list[str] = _listed(
        "Airflow users or `role:<role>` who may answer (empty: every user who can); the requester never can."
    )
    canary: CanaryOptions = _d(
        "The canary of the production profile (the `promotion.canary` section below).", default_factory=CanaryOptions
    )


class FairnessLimits(Section):
    """The largest gap allowed; null = reported only."""

    null_is_a_value: ClassVar[bool] = True
    demographic_parity_difference: Number | None = _d("Selection rates of two groups may differ by at most this.", 0.25)
    equalized_odds_difference: Number | None = _d("Max of the TPR gap and the FPR gap between groups.", 0.25)


class FairnessSection(Section):
    """The promotion gate on gaps between protected groups (of the served decision: scoring.threshold)."""

    min_group_rows: int = _d("Smaller groups are reported, never gated.", 50)
    champion_tolerance: Number = _d("A gap may not exceed the champion's (same rows) by more than this.", 0.02)
    limits: FairnessLimits = _d(
        "The largest gaps allowed (the `fairness.limits` section below).", default_factory=FairnessLimits
    )


class DatasetFairness(FairnessSection):
    """A dataset's fairness as applied: the section with its overrides, plus the columns never gated."""

    report_only: list[str] = _listed("Protected columns reported, never gated.")


class FairnessOverrides(Section):
    """A dataset's overrides of the fairness section (limits key by key), plus its report-only columns."""

    min_group_rows: int | None = _d(FairnessSection.model_fields["min_group_rows"].description, None)
    champion_tolerance: Number | None = _d(FairnessSection.model_fields["champion_tolerance"].description, None)
    limits: dict[str, Number | None] | None = _d("Overrides of `fairness.limits`, key by key.", None)
    report_only: list[str] = _listed("Protected columns reported, never gated.")


class _NullKept(Section):
    null_is_a_value: ClassVar[bool] = True


def _overrides(
    name: str, section: type[Section], keys: tuple[str, ...], doc: str, nulls: bool = False, **own: Any
) -> Any:
    """A dataset's overrides of `section`'s `keys`: each typed as the section's, None when not set.

    `nulls`: a null the dataset gives is its value (kept, then checked as the section's key), not "unset"."""
    fields = {
        k: (section.model_fields[k].annotation | None, Field(None, description=section.model_fields[k].description))
        for k in keys
    }
    return create_model(name, __base__=_NullKept if nulls else Section, __doc__=doc, **fields, **own)


DatasetScoring = _overrides(
    "DatasetScoring",
    ScoringSection,
    tuple(ScoringSection.model_fields),
    "A dataset's scoring columns, and any key of the scoring section for that dataset.",
    nulls=True,
    canary_key=(
        str | None,
        Field(None, description="The column whose stable hash picks canary rows (default: the id)."),
    ),
    geography=(
        str | None,
        Field(None, description="The column scoring reports break down by (e.g. county); never a feature."),
    ),
    population=(
        ScoringPopulation | None,
        Field(None, description="Score another dataset's snapshots, its columns renamed to the model's (below)."),
    ),
    new_registrants=(
        NewRegistrants | None,
        Field(None, description="How rows of new registrants are scored (below); absent: like every row."),
    ),
)
# a dataset's own scoring keys that are no key of the scoring section
DATASET_SCORING_OWN = ("canary_key", "geography", "population", "new_registrants")
DatasetMonitoring = _overrides(
    "DatasetMonitoring",
    MonitoringSection,
    (
        "max_champion_age_days",
        "min_distinct_rows",
        "max_duplicate_share",
        "window_min_rows",
        "window_max_rows",
        "window_null_margin",
        "schedule",
        "cooldown_hours",
        "persistence",
    ),
    "A dataset's overrides of the monitoring section.",
    window_null_fraction=(
        dict[str, Any] | None,
        Field(
            None,
            description="Column -> the largest missing share a window may have (in place of reference share + margin).",
        ),
    ),
)
DATASET_MONITORING_KEYS = frozenset(DatasetMonitoring.model_fields)


class DatasetPromotion(Section):
    """A dataset's overrides of the promotion section."""

    approvers: list[str] | None = _d("Who may answer this dataset's promotions (null: the section's approvers).", None)


# How a dataset's weight column is used: `survey` weights training and the gate; `unweighted` trains and gates as
# if there were none (the weighted metrics are still reported beside). No default: the choice is the owner's.
WEIGHT_USES = ("survey", "unweighted")


class DatasetWeights(Section):
    """A dataset's row weights (`datasets.<name>.weights`): the column and how it is used."""

    column: str = _d(
        "The column holding each row's weight (e.g. a survey's post-stratification weight): kept, never a feature; "
        "every value of a training batch finite and > 0 (a missing or non-positive weight fails validation)."
    )
    use: Literal["survey", "unweighted"] = _d(
        "survey: the weights are the fit's sample_weight (search, final fit, calibration) and the gate judges the "
        "weighted primary metric; unweighted: trained and gated as without weights. Weighted metrics are reported "
        "beside the unweighted ones either way. Required: there is no default."
    )

    @property
    def survey(self) -> bool:
        """Whether training and the gate use the weights."""
        return self.use == "survey"


class ValidationRules(Section):
    """Data-quality rules of a training batch (`datasets.<name>.validation`)."""

    row_count: list[Any] = _d(
        "[min, max] rows of a training batch (max may be null).", default_factory=lambda: [1, None]
    )
    null_fraction: dict[str, Any] = _mapping(
        f"Largest share of missing values per column (`default` for the rest). Default {DEFAULT_NULL_FRACTION:.0%}"
        " for every column: the validation report warns for each column with gaps under that built-in limit."
    )
    ranges: dict[str, Any] = _mapping("[low, high] per numeric column (either may be null).")
    categories: dict[str, Any] = _mapping("Allowed values per column.")
    max_unlabelled_share: Number = _d("Largest share of rows without an outcome.", 0.5)


FORECAST_PLACEHOLDERS = ("repo", "raw")  # what a forecast's certified path may hold: `{repo}`, `{raw}`


class CertifiedResults(Section):
    """The certified results a forecast is backtested against (`forecasts.<name>.certified`): one file, every cycle."""

    path: str = _d(
        "Parquet or CSV file of certified results per geography and cycle; `{raw}` is the turnout dataset's raw folder, `{repo}` the repository."
    )
    cycle_column: str = _d("The column holding the election cycle (a row per geography and cycle).", "cycle")
    geography: str | None = _d("The geography column (null: the forecast's geography).", None)
    ballots: str = _d("Certified ballots cast per geography.", "ballots_cast")
    dem_votes: str = _d("Certified Democratic votes per geography.", "dem_votes")
    turnout: str = _d("Certified turnout (ballots / registered, 0-1).", "turnout")
    dem_share: str = _d("Certified two-party Democratic share (0-1).", "dem_share")


class BacktestLimits(Section):
    """What a forecast's backtest must keep (`forecasts.<name>.backtest_limits`): the monitoring signal
    `forecast_backtest` of its datasets. The turnout dataset is judged on the turnout rate, the support
    dataset on the two-party share; a limit given null is not judged."""

    turnout_mae_points: Number | None = _d(
        "Largest turnout MAE over the geographies, in points (judges the turnout dataset's version).", None
    )
    share_mae_points: Number | None = _d(
        "Largest two-party share MAE over the geographies, in points (judges the support dataset's version).", None
    )
    min_coverage: Number | None = _d(
        "Smallest share of geographies whose model interval covers the certified rate (0-1; a backtest without intervals: not judged).",
        None,
    )


class ForecastSpec(Section):
    """An election forecast from two datasets' scores (`forecasts.<name>`): turnout x support, by geography."""

    turnout: str = _d("The dataset whose scores are each voter's probability of voting.")
    support: str = _d(
        "The dataset whose scores are each voter's probability of a Democratic vote; it scores the same snapshots (its `scoring.population` is the turnout dataset, or both share one)."
    )
    geography: str | None = _d(
        "The column the forecast is aggregated by (null: the turnout dataset's `scoring.geography`).", None
    )
    certified: CertifiedResults | None = _d("Certified results for backtests (null: never backtested).", None)
    interval_level: Number = _d(
        "Nominal coverage of the model intervals (split conformal on the previous backtest's residuals).", 0.9
    )
    scenario_delta: Number = _d("Low/high turnout scenarios: every voter's turnout log-odds moved by -/+ this.", 0.2)
    apply_calibration: bool = _d(
        "Also forecast with the previous backtested cycle's pooled logit shift applied (both are reported).", False
    )
    use: str = _d("The permitted use the forecast serves: both datasets must list it in `permitted_uses`.", "forecast")
    backtest_limits: BacktestLimits | None = _d(
        "Limits of the latest backtest by the version being monitored: exceeded, the signal `forecast_backtest` "
        "alerts (it retrains only where `monitoring.retrain_on` lists it); null: the backtest is reported, not judged.",
        None,
    )


# A dataset's own keys (`datasets.<name>.<key>`) and what each means (docs/config-reference.md).
DATASET_KEYS = {
    "description": "One line on the data (model card).",
    "intended_use": "What the model is for (model card).",
    "limitations": "What the model must not be used for (model card).",
    "owner": "Who answers for the model (model card).",
    "source": "Where the batch comes from: `kind` file (`path`), sql (`conn_id`, `query`), synthetic_voters (`rows`, `cycles`, `seed`, `counties`: the voter file) or synthetic_poll (the same world's polls, `poll_rows` respondents per cycle); optional `filter` (a rule: the population).",
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
    "permitted_uses": "Required: the uses its scores (and forecasts) may serve, identifiers, e.g. `[turnout_contact, research]`; a run asks for one (default the first) and any other is refused.",
    "baseline_rule": "The rule-based model (`all: [{column, op, value}]`): the baseline to beat and the per-row fallback.",
    "validation": "Data-quality rules of a training batch (the keys below).",
    "scoring": "`geography`, `canary_key`, `population`, `new_registrants`, and any key of the `scoring` section, for this dataset.",
    "fairness": "Any key of the `fairness` section for this dataset, plus `report_only` (columns reported, never gated).",
    "monitoring": f"Overrides of the `monitoring` section for this dataset: {', '.join(sorted(DATASET_MONITORING_KEYS))}.",
    "promotion": "`approvers` for this dataset.",
    "weights": "Row weights: `column` and `use` (survey or unweighted, required); see below.",
    "electorate_weights": "`own_scores`: every holdout and labelled-window metric is also reported weighted by the model's own scores, for a turnout model the expected electorate (each voter counted by their probability of voting), so a model good on frequent voters only is seen; reported beside, never gated. Absent: not computed.",
}

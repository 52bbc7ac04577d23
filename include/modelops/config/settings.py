# Over 600 lines: DatasetSpec, Settings and the loader that builds them, which the code imports from here.
"""Load the layered parameters files into typed, checked, immutable specs.

Light on purpose (PyYAML and pydantic, both in Airflow's own environment): DAG files import it at
parse time to build Params. Every section is checked at load against its model (`config.models`:
known keys, types) and the rules of `config.checks` (ranges, shapes), every column a dataset spec
names is checked against the spec's declared columns, and YAML 1.1's surprise booleans (`yes`, `no`,
`on`, `off`, `y`, `n`) are refused with a hint instead of becoming True/False.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from modelops.config.checks import (
    NUMBER,
    SCHEDULE_OFF,
    ConfigError,
    approver_list,
    build,
    calibration_methods,
    check_champion_age,
    check_degenerate_limits,
    check_domain_classifier,
    check_fractions,
    check_offline_online,
    check_rule,
    check_scoring,
    check_search_spaces,
    check_validation,
    check_weight_column,
    check_window_limits,
    columns_of_rule,
    dataset_weights,
    monitoring_cron,
    no_fairness_threshold,
    refuse_unknown,
    same_label,
    tuple_of_names,
)
from modelops.config.forecasts import parse_forecasts
from modelops.config.models import (
    DATASET_KEYS,
    DATASET_MONITORING_KEYS,
    DATASET_SCORING_OWN,
    DEFAULT_NULL_FRACTION,
    RETRAIN_SIGNALS,
    DatasetFairness,
    DatasetMonitoring,
    DatasetPromotion,
    DatasetScoring,
    DatasetWeights,
    EvaluationSection,
    FairnessOverrides,
    FairnessSection,
    ForecastSpec,
    MonitoringSection,
    PromotionSection,
    ScoringSection,
    Section,
    TrainingSection,
    ValidationRules,
)
from modelops.config.population import check_new_registrants, check_population
from modelops.config.uses import permitted_use_list
from modelops.core import catalog
from modelops.core.catalog import REPO_ROOT

DEFAULT_CONFIG_PATH = REPO_ROOT / "include" / "config" / "modelops.yaml"


CONFIG_ENV = "MODELOPS_CONFIG"


def config_paths() -> list[Path]:
    """The parameters files in force, in layering order: the bundled file, then each user file.

    `MODELOPS_CONFIG` names one user file or several (separated by `os.pathsep`, ":" here); each
    adds datasets and overrides settings of the layers before it (see `merge_layers`).
    """
    users = [Path(p).resolve() for p in os.environ.get(CONFIG_ENV, "").split(os.pathsep) if p.strip()]
    return [DEFAULT_CONFIG_PATH.resolve(), *[p for p in users if p != DEFAULT_CONFIG_PATH.resolve()]]


def config_path() -> Path:
    """The last layer in force: the user's file when `MODELOPS_CONFIG` names one, else the bundled file."""
    return config_paths()[-1]


# --- YAML without surprise booleans --------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that accepts only `true`/`false` as booleans."""


def _construct_bool(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    text = str(node.value)
    if text.lower() in {"true", "false"}:
        return text.lower() == "true"
    raise ConfigError(
        f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}: `{text}` is read by YAML as "
        f"a boolean; quote it ('{text}') if you mean the text, or write true/false"
    )


_StrictLoader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)


def read_yaml(text: str) -> Any:
    """Parse YAML with booleans only from true/false (see module docstring)."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}") from None


# --- vocabularies and the keys that are no section model ------------------------------------

# Airflow's cron presets as cron expressions (a dataset's schedule is matched against the DAG's ticks)
# MODELOPS_REQUIRE_APPROVAL=true|false overrides promotion.require_approval (the production-shaped
# profile sets it true: scripts/prod_env.sh, docker-compose.yaml)
REQUIRE_APPROVAL_ENV = "MODELOPS_REQUIRE_APPROVAL"
FRACTIONS = {
    "training": ("holdout_fraction", "latest_period_train_fraction", "calibration_fraction"),
    "evaluation": ("confidence",),
    "monitoring": ("alpha", "dataset_drift_share", "calibration_alpha", "fallback_share", "max_duplicate_share"),
    "scoring": ("threshold", "unseen_category_share", "canary_share", "max_id_problem_share"),
}
SOURCE_KEYS = {
    "file": {"kind", "path", "filter"},
    "sql": {"kind", "conn_id", "query", "filter"},
    # pii_marker: every generated PII value starts with it (a honeytoken for leak scans)
    "synthetic_voters": {"kind", "rows", "seed", "cycles", "counties", "filter", "pii_marker"},
    # the same world (same rows, seed, cycles, counties: same voters), its polls as the batch
    "synthetic_poll": {"kind", "rows", "seed", "cycles", "counties", "filter", "poll_rows"},
}
# The keys a source of each kind cannot do without.
SOURCE_REQUIRED = {
    "file": ("path",),
    "sql": ("conn_id", "query"),
    "synthetic_voters": ("rows", "cycles"),
    "synthetic_poll": ("rows", "cycles"),
}
# A dataset's keys that never change its model: prose for the card, and options of how the model is
# validated, scored, monitored, judged for fairness and promoted. They stay out of `Settings.digest_for`.
SPEC_OUTSIDE_IDENTITY = {
    "description",
    "intended_use",
    "owner",
    "stated_limitations",
    "limitations",
    "permitted_uses",
    "electorate_weights",  # what is reported beside, not what is trained
    "validation",
    "scoring",
    "fairness",
    "monitoring",
    "promotion",
}
# Metric names, declared here once (evaluation computes each; a test keeps the two equal). The first four
# judge the decision score >= the dataset's decision threshold; the others judge the score itself.
THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1")
METRICS = (*THRESHOLD_METRICS, "roc_auc", "log_loss", "brier")
# Model families, declared here once (training.make_estimator builds each; a test keeps the two equal).
CANDIDATE_FAMILIES = ("logistic_regression", "hist_gradient_boosting", "random_forest")
# --- dataset specs ---------------------------------------------------------------------------


# A spec's per-dataset sections and their models (a logged spec is read back through them).
SPEC_SECTION_MODELS: dict[str, type[Section]] = {
    "validation": ValidationRules,
    "scoring": DatasetScoring,
    "fairness": FairnessOverrides,
    "monitoring": DatasetMonitoring,
    "promotion": DatasetPromotion,
}


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the pipeline needs to know about one tabular dataset.

    Labels: a row is labelled when its target is one of `positive_labels` (1) or, when
    `negative_labels` is set, one of those (0); without `negative_labels`, every present value
    that is not positive is negative. A missing target is never an outcome.
    """

    name: str
    description: str
    source: dict[str, Any]
    target: str
    positive_class: Any
    id_column: str | None = None
    time_column: str | None = None
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    protected: dict[str, list[float] | None] = field(default_factory=dict)
    pii: tuple[str, ...] = ()
    # the uses its scores may serve (`modelops.config.uses.check_use`); required in a parameters file
    permitted_uses: tuple[str, ...] = ()
    joins: tuple[dict[str, Any], ...] = ()
    baseline_rule: dict[str, Any] = field(default_factory=dict)
    validation: ValidationRules = field(default_factory=ValidationRules)
    scoring: DatasetScoring = field(default_factory=DatasetScoring)
    fairness: FairnessOverrides = field(default_factory=FairnessOverrides)
    monitoring: DatasetMonitoring = field(default_factory=DatasetMonitoring)
    promotion: DatasetPromotion = field(default_factory=DatasetPromotion)
    negative_labels: tuple[Any, ...] | None = None
    positive_labels: tuple[Any, ...] = ()
    # What the owner states for the model card (`intended_use`, `limitations`, `owner` in the YAML);
    # `limitations` (below) is what the spec's shape cannot do, derived, so the stated ones get their own name.
    intended_use: str = ""
    owner: str = ""
    stated_limitations: tuple[str, ...] = ()
    weights: DatasetWeights | None = None  # `weights: {column, use}`: kept, never a feature
    electorate_weights: str | None = None  # `own_scores`: metrics also weighted by the model's own (turnout) scores

    def __post_init__(self) -> None:
        if not self.positive_labels:  # specs built in code may give only positive_class
            object.__setattr__(self, "positive_labels", (self.positive_class,))

    @property
    def features(self) -> list[str]:
        """Model inputs, in a stable order."""
        return [*self.numeric, *self.categorical]

    @property
    def kept_columns(self) -> list[str]:
        """Columns a collected batch keeps: id, time, target, features, protected attributes, geography, weight."""
        wanted = [
            self.id_column,
            self.time_column,
            self.target,
            *self.features,
            *self.protected,
            self.geography,
            self.weight_column,
        ]
        seen: dict[str, None] = {}
        for column in wanted:
            if column and column not in seen:
                seen[column] = None
        return list(seen)

    @property
    def geography(self) -> str | None:
        """The column scoring reports break down by (e.g. county), kept but never a feature; None if unset."""
        return self.scoring.geography

    @property
    def weight_column(self) -> str | None:
        """The column of each row's weight (`weights.column`), None without one."""
        return self.weights.column if self.weights else None

    @property
    def survey_weighted(self) -> bool:
        """Whether training and the gate use the weights (`weights.use: survey`)."""
        return bool(self.weights and self.weights.survey)

    @property
    def canary_key(self) -> str | None:
        """The column whose stable hash picks canary rows (e.g. the voter id or the county); None: the id."""
        return self.scoring.canary_key or self.id_column

    @property
    def model_name(self) -> str:
        """Registered model name in MLflow."""
        return f"{self.name}_model"

    @property
    def row_filter(self) -> list[dict[str, Any]]:
        """The source's row filter as a list of conditions (empty: every row)."""
        from modelops.core.rules import conditions

        return conditions(self.source.get("filter"))

    def null_limit(self, column: str) -> tuple[float, bool]:
        """The largest share of missing values validation allows in `column`, and whether that is the
        built-in `DEFAULT_NULL_FRACTION` (the spec sets neither `null_fraction.<column>` nor its `default`).

        The id and time columns allow none unless named: a row without them cannot be joined to its label
        or placed in its period. The weight column allows none (a missing weight is never taken as 1)."""
        rules = self.validation.null_fraction
        if column in rules:
            return float(rules[column]), False
        if column in (self.id_column, self.time_column, self.weight_column):
            return 0.0, False
        if "default" in rules:
            return float(rules["default"]), False
        return DEFAULT_NULL_FRACTION, True

    @property
    def max_unlabelled_share(self) -> float:
        """The largest share of rows without an outcome that validation lets through."""
        return float(self.validation.max_unlabelled_share)

    @property
    def limitations(self) -> list[str]:
        """What this spec cannot do, in words (stated at load, in summaries and reports)."""
        notes = []
        if not self.id_column:
            notes.append(
                "no id_column: labels arriving after the inputs cannot be joined, so labelled monitoring "
                "needs windows delivered with their target (labeled/<window>.parquet); the holdout is "
                "keyed on row content, so identical rows always fall on the same side"
            )
        if not self.time_column:
            notes.append("no time_column: the holdout is a stable hash-based fraction, not the latest period")
        return notes

    def raw_dir(self) -> Path:
        """Where generated raw inputs for this dataset live (`catalog.raw_dir`)."""
        return catalog.raw_dir(self.name)

    def resolve_path(self, template: str) -> Path:
        """Expand `{repo}` and `{raw}` in a configured path."""
        return Path(template.format(repo=REPO_ROOT, raw=self.raw_dir()))

    def resolved(self) -> dict[str, Any]:
        """The spec as plain data, paths expanded: what a run logs so its population is on record."""
        body: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for key, value in body.items():
            if isinstance(value, Section):  # only what the file set: the record reads back as the same file
                body[key] = value.model_dump(mode="json", exclude_unset=True)
        if "path" in self.source:
            body["source"] = {**self.source, "resolved_path": str(self.resolve_path(self.source["path"]))}
        body["limitations"] = self.limitations
        return json.loads(json.dumps(body, default=str))


def _check_dataset(spec: DatasetSpec) -> None:
    """Reject specs whose column roles contradict each other or name undeclared columns."""
    where = f"datasets.{spec.name}"
    _check_roles(where, spec)
    kind = spec.source.get("kind")
    if kind not in SOURCE_KEYS:
        raise ConfigError(f"{where}: source needs a `kind` (one of {sorted(SOURCE_KEYS)}), got {kind!r}")
    refuse_unknown(f"{where}.source", spec.source, SOURCE_KEYS[kind])
    for key in SOURCE_REQUIRED[kind]:
        if key not in spec.source:
            raise ConfigError(f"{where}.source: a {kind} source needs {key!r}")
    poll_rows = spec.source.get("poll_rows", 1)
    if isinstance(poll_rows, bool) or not isinstance(poll_rows, int) or poll_rows < 1:
        raise ConfigError(f"{where}.source.poll_rows: respondents per cycle, a whole number >= 1, got {poll_rows!r}")
    check_rule(f"{where}.source.filter", spec.source.get("filter"))
    check_rule(f"{where}.baseline_rule", spec.baseline_rule)
    for i, join in enumerate(spec.joins):
        if not isinstance(join, dict) or not {"path", "key"} <= set(join):
            raise ConfigError(f"{where}.joins[{i}]: a join is {{path, key}}, got {join!r}")
        refuse_unknown(f"{where}.joins[{i}]", join, {"path", "key"})
    _check_labels(where, spec)
    _check_named_columns(where, spec)


def _check_roles(where: str, spec: DatasetSpec) -> None:
    """Features, PII and the target/id/time roles are disjoint."""
    pii_in_features = sorted(set(spec.pii) & set(spec.features))
    if pii_in_features:
        raise ConfigError(f"{where}: PII columns listed as features: {pii_in_features}")
    roles = {spec.target, spec.id_column, spec.time_column} - {None}
    leaking = sorted(roles & set(spec.features))
    if leaking:
        raise ConfigError(f"{where}: target/id/time columns listed as features: {leaking}")
    if not spec.features:
        raise ConfigError(f"{where}: no numeric or categorical features configured")
    both = sorted(set(spec.numeric) & set(spec.categorical))
    if both:
        raise ConfigError(f"{where}: columns listed as numeric and categorical: {both}")


def _check_labels(where: str, spec: DatasetSpec) -> None:
    """Positive and negative values are distinct (by value: 1, 1.0 and "1" are one), never missing or blank."""
    for value in (*spec.positive_labels, *(spec.negative_labels or ())):
        if (
            value is None
            or (isinstance(value, float) and value != value)
            or (isinstance(value, str) and not value.strip())
        ):
            raise ConfigError(
                f"{where}.labels: {value!r} is a missing value, which can never be an outcome; leave it unlabelled"
            )
    overlap = sorted(repr(p) for p in spec.positive_labels for n in spec.negative_labels or () if same_label(p, n))
    if overlap:
        raise ConfigError(f"{where}.labels: values both positive and negative (compared by value): {overlap}")
    named_roles = [c for c in (spec.target, spec.id_column, spec.time_column) if c]
    if len(set(named_roles)) < len(named_roles):
        raise ConfigError(f"{where}: target, id_column and time_column must be different columns, got {named_roles}")


def _check_named_columns(where: str, spec: DatasetSpec) -> None:
    """Every column the spec names (rules, bins, reporting columns) is one of its declared columns."""
    declared = set(spec.kept_columns)
    rules = spec.validation
    named = [("validation.ranges", c) for c in rules.ranges] + [("validation.categories", c) for c in rules.categories]
    named += [("validation.null_fraction", c) for c in rules.null_fraction if c != "default"]
    named += [("baseline_rule", c) for c in columns_of_rule(spec.baseline_rule)]
    named += [("monitoring.window_null_fraction", c) for c in spec.monitoring.window_null_fraction or {}]
    for key, column in named:
        if column not in declared:
            raise ConfigError(
                f"{where}.{key}: column {column!r} is not one of the spec's columns "
                f"(id, time, target, numeric, categorical, protected): {sorted(declared)}"
            )
    for column, bins in spec.protected.items():
        numbers = isinstance(bins, list) and all(isinstance(b, NUMBER) and not isinstance(b, bool) for b in bins)
        if bins is not None and not (numbers and len(bins) >= 2 and all(a < b for a, b in itertools.pairwise(bins))):
            raise ConfigError(
                f"{where}.protected.{column}: bins must be a strictly increasing list of numbers, got {bins!r}"
            )
    overlap = sorted(set(spec.pii) & declared)
    if overlap:
        raise ConfigError(f"{where}: PII columns also listed in a kept role: {overlap}")
    if spec.geography and spec.geography in spec.features:
        raise ConfigError(f"{where}.scoring.geography: {spec.geography!r} is a feature; name a reporting column")
    roles = {
        "features": spec.features,
        "target/id/time": [spec.target, spec.id_column, spec.time_column],
        "protected": list(spec.protected),
        "pii": spec.pii,
        "scoring.geography": [spec.geography],
        "scoring.canary_key": [spec.scoring.canary_key],
    }
    check_weight_column(where, spec.weights, roles, dict(rules.null_fraction))
    if spec.scoring.canary_key and spec.scoring.canary_key not in declared:
        raise ConfigError(
            f"{where}.scoring.canary_key: column {spec.scoring.canary_key!r} is not one of the spec's columns: "
            f"{sorted(declared)}"
        )


def _labels(name: str, body: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...] | None, Any]:
    """(positive values, negative values or None, the primary positive value) of a dataset body."""
    labels = body.get("labels")
    if labels is None:
        positive = body.get("positive_class", 1)
        return (positive,), None, positive
    if not isinstance(labels, dict):
        raise ConfigError(f"datasets.{name}.labels: expected {{positive: [...], negative: [...]}}, got {labels!r}")
    refuse_unknown(f"datasets.{name}.labels", labels, {"positive", "negative"})
    if "positive_class" in body:
        raise ConfigError(f"datasets.{name}: give either `labels` or `positive_class`, not both")

    def as_tuple(value: Any) -> tuple[Any, ...]:
        return tuple(value) if isinstance(value, list) else (value,)

    if "positive" not in labels:
        raise ConfigError(f"datasets.{name}.labels: needs `positive`")
    positive = as_tuple(labels["positive"])
    negative = as_tuple(labels["negative"]) if labels.get("negative") is not None else None
    if not positive or negative == ():
        raise ConfigError(f"datasets.{name}.labels: positive and negative need at least one value each")
    return positive, negative, positive[0]


def _dataset(name: str, body: Any) -> DatasetSpec:
    where = f"datasets.{name}"
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping, got {body!r}")
    refuse_unknown(where, body, DATASET_KEYS)
    for key in ("source", "target"):
        if body.get(key) is None:
            raise ConfigError(f"{where}: missing required key {key!r}")
    if not isinstance(body["source"], dict):
        raise ConfigError(f"{where}.source: expected a mapping, got {body['source']!r}")
    for key in ("target", "id_column", "time_column"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ConfigError(f"{where}.{key}: expected a column name, got {body[key]!r}")
    positive, negative, primary = _labels(name, body)
    protected = body.get("protected") or {}
    if not isinstance(protected, dict):
        raise ConfigError(f"{where}.protected: expected {{column: bins or null}}, got {protected!r}")
    for key in ("description", "intended_use", "owner"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ConfigError(f"{where}.{key}: expected text, got {body[key]!r}")
    stated = body.get("limitations")
    if stated is not None and (
        not isinstance(stated, list) or not all(isinstance(s, str) and s.strip() for s in stated)
    ):
        raise ConfigError(f"{where}.limitations: expected a list of sentences, got {stated!r}")
    check_validation(where, body.get("validation") or {})
    return DatasetSpec(
        name=name,
        description=str(body.get("description") or ""),
        intended_use=str(body.get("intended_use") or "").strip(),
        owner=str(body.get("owner") or "").strip(),
        stated_limitations=tuple(s.strip() for s in stated or ()),
        source=dict(body["source"]),
        target=body["target"],
        positive_class=primary,
        positive_labels=positive,
        negative_labels=negative,
        id_column=body.get("id_column"),
        time_column=body.get("time_column"),
        numeric=tuple_of_names(f"{where}.numeric", body.get("numeric")),
        categorical=tuple_of_names(f"{where}.categorical", body.get("categorical")),
        protected=dict(protected),
        pii=tuple_of_names(f"{where}.pii", body.get("pii")),
        permitted_uses=permitted_use_list(where, body.get("permitted_uses")),
        joins=tuple(body.get("joins") or ()),
        baseline_rule=dict(body.get("baseline_rule") or {}),
        validation=build(ValidationRules, f"{where}.validation", body.get("validation")),
        scoring=build(
            DatasetScoring,
            f"{where}.scoring",
            _overrides_of(f"{where}.scoring", body.get("scoring"), DatasetScoring, _SCORING_SHAPE),
        ),
        fairness=_dataset_fairness(where, body.get("fairness"), protected),
        monitoring=_dataset_monitoring(where, body.get("monitoring")),
        promotion=_dataset_promotion(where, body.get("promotion")),
        weights=dataset_weights(where, body.get("weights")),
        electorate_weights=_electorate_weights(where, body.get("electorate_weights")),
    )


ELECTORATE_WEIGHTS = ("own_scores",)


def _electorate_weights(where: str, value: Any) -> str | None:
    """`datasets.<name>.electorate_weights`: absent, or one of ELECTORATE_WEIGHTS."""
    if value is None or value in ELECTORATE_WEIGHTS:
        return value
    raise ConfigError(f"{where}.electorate_weights: one of {list(ELECTORATE_WEIGHTS)} or absent, got {value!r}")


_SCORING_SHAPE = "a mapping (canary_key, geography, population, new_registrants, scoring options)"


def _dataset_promotion(where: str, body: Any) -> DatasetPromotion:
    """A dataset's overrides of the promotion section (its approvers)."""
    body = _overrides_of(f"{where}.promotion", body, DatasetPromotion)
    if "approvers" not in body:
        return DatasetPromotion()
    return DatasetPromotion(approvers=approver_list(f"{where}.promotion.approvers", body["approvers"]))


def _overrides_of(where: str, body: Any, model: type[Section], shape: str = "a mapping") -> dict[str, Any]:
    """A dataset's overrides of one section as given: {} when absent, unknown keys refused."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected {shape}, got {body!r}")
    refuse_unknown(where, body, model.model_fields)
    return dict(body)


def _dataset_fairness(where: str, body: Any, protected: dict[str, Any]) -> FairnessOverrides:
    """A dataset's overrides of the fairness section, plus `report_only`: protected columns never gated."""
    if body is None:
        return FairnessOverrides()
    if not isinstance(body, dict):
        raise ConfigError(f"{where}.fairness: expected a mapping, got {body!r}")
    no_fairness_threshold(f"{where}.fairness", body, f"{where}.scoring.threshold")
    refuse_unknown(f"{where}.fairness", body, FairnessOverrides.model_fields)
    report_only = tuple_of_names(f"{where}.fairness.report_only", body.get("report_only"))
    stray = sorted(set(report_only) - set(protected))
    if stray:
        raise ConfigError(f"{where}.fairness.report_only: {stray} are not protected columns: {sorted(protected)}")
    overrides = {k: v for k, v in body.items() if k != "report_only"}
    _fairness(overrides)  # the same checks as the global section
    return FairnessOverrides.model_validate({**overrides, "report_only": list(report_only)})


def _check_dataset_scoring(where: str, spec: DatasetSpec, scoring: ScoringSection) -> None:
    """A dataset's scoring overrides, the resolved section checked whole as the global one is."""
    resolved = _scoring_with(where, scoring, spec.scoring)
    check_fractions(where, resolved, FRACTIONS["scoring"])
    check_scoring(where, resolved)


def _scoring_with(where: str, scoring: ScoringSection, own: Section) -> ScoringSection:
    """The scoring section with a dataset's own values of its keys (the ones its file set)."""
    given = own.model_dump(exclude_unset=True, exclude=set(DATASET_SCORING_OWN))
    return build(ScoringSection, where, {**scoring.model_dump(), **given})


def _dataset_monitoring(where: str, body: Any) -> DatasetMonitoring:
    """A dataset's overrides of the monitoring section: the limits' own messages first, then their types."""
    at = f"{where}.monitoring"
    body = _overrides_of(at, body, DatasetMonitoring, f"a mapping of {sorted(DATASET_MONITORING_KEYS)}")
    check_champion_age(at, body.get("max_champion_age_days"))
    check_degenerate_limits(at, body)
    check_window_limits(at, body)
    if body.get("schedule") is not None and body["schedule"] != SCHEDULE_OFF:
        monitoring_cron(f"{at}.schedule", body["schedule"])
    monitoring = build(DatasetMonitoring, at, body)
    for key, least in (("cooldown_hours", 0), ("persistence", 1)):  # a dataset's own pace of retraining
        value = getattr(monitoring, key)
        if value is not None and value < least:
            raise ConfigError(f"{at}.{key}: must be >= {least}, got {value}")
    return monitoring


@dataclass(frozen=True)
class Settings:
    """The whole parameters file: training, evaluation, search spaces and datasets."""

    default_dataset: str
    training: TrainingSection
    search_spaces: dict[str, dict[str, Any]]
    evaluation: EvaluationSection
    monitoring: MonitoringSection
    datasets: dict[str, DatasetSpec]
    digest: str
    path: str = ""
    scoring: ScoringSection = field(default_factory=ScoringSection)
    promotion: PromotionSection = field(default_factory=PromotionSection)
    fairness: FairnessSection = field(default_factory=FairnessSection)
    forecasts: dict[str, ForecastSpec] = field(default_factory=dict)

    def dataset(self, name: str) -> DatasetSpec:
        """The spec called `name`, or a ConfigError listing the known ones."""
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets))
            raise ConfigError(f"unknown dataset {name!r}; configured datasets: {known}") from None

    def forecast(self, name: str | None) -> tuple[str, ForecastSpec]:
        """The forecast called `name` (empty: the first configured), or a ConfigError listing the known ones."""
        if not self.forecasts:
            raise ConfigError("no forecast is configured: add one under `forecasts:` in the parameters file")
        chosen = name or next(iter(self.forecasts))
        if chosen not in self.forecasts:
            raise ConfigError(f"unknown forecast {chosen!r}; configured forecasts: {sorted(self.forecasts)}")
        return chosen, self.forecasts[chosen]

    def fairness_for(self, dataset: str) -> DatasetFairness:
        """The fairness section with the dataset's overrides applied (limits key by key), plus its report_only."""
        own = self.dataset(dataset).fairness
        given = own.model_dump(exclude_unset=True, exclude={"report_only"})
        limits = {**self.fairness.limits.model_dump(), **(given.pop("limits", None) or {})}
        applied = _fairness({**self.fairness.model_dump(), **given, "limits": limits})
        return DatasetFairness.model_validate({**applied.model_dump(), "report_only": list(own.report_only)})

    def approvers_for(self, dataset: str) -> list[str]:
        """Who may answer `dataset`'s promotions: its own `promotion.approvers`, else the section's."""
        own = self.dataset(dataset).promotion.approvers
        return list(self.promotion.approvers if own is None else own)

    def scoring_for(self, dataset: str) -> ScoringSection:
        """The scoring section with the dataset's own overrides applied (its column keys left out)."""
        return _scoring_with(f"datasets.{dataset}.scoring", self.scoring, self.dataset(dataset).scoring)

    def decision_threshold(self, dataset: str) -> float:
        """The dataset's one decision threshold (score >= it): served, gated, fairness, card and monitoring."""
        return float(self.scoring_for(dataset).threshold)

    def digest_for(self, dataset: str) -> str:
        """The configuration's part of a version's identity ("same data, same config": nothing registered).

        It covers what shapes `dataset`'s model and nothing of other datasets: the resolved spec without
        its prose and its operating overrides (`SPEC_OUTSIDE_IDENTITY`), the training section, the search
        spaces of the configured candidates and the primary metric that picks among them (with the decision
        threshold when that metric judges decisions: the threshold then shapes the search).
        """
        spec = {k: v for k, v in self.dataset(dataset).resolved().items() if k not in SPEC_OUTSIDE_IDENTITY}
        spec["source"] = {k: v for k, v in spec["source"].items() if k != "resolved_path"}
        if spec.get("weights") is None:  # no weights: no key (the same digest as a spec that never had one)
            spec.pop("weights", None)
        body = {
            "dataset": spec,
            "training": self.training.model_dump(mode="json"),
            "search_spaces": {c: self.search_spaces[c] for c in self.training.candidates},
            "primary_metric": self.evaluation.primary_metric,
        }
        if body["primary_metric"] in THRESHOLD_METRICS:
            body["decision_threshold"] = self.decision_threshold(dataset)
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def resolved(self, dataset: str) -> dict[str, Any]:
        """Everything a run of `dataset` used: sections with defaults filled, and the resolved spec."""
        return {
            "config_path": self.path,
            "config_digest": self.digest_for(dataset),
            "training": self.training.model_dump(mode="json"),
            "search_spaces": self.search_spaces,
            "evaluation": self.evaluation.model_dump(mode="json"),
            "monitoring": self.monitoring.model_dump(mode="json"),
            "scoring": self.scoring_for(dataset).model_dump(mode="json"),
            "promotion": self.promotion.model_dump(mode="json"),
            "fairness": self.fairness_for(dataset).model_dump(mode="json"),
            "dataset": self.dataset(dataset).resolved(),
        }


def _fairness(body: Any) -> FairnessSection:
    """The fairness section with defaults; a limit given as null stays None (that gap is report-only)."""
    no_fairness_threshold("fairness", body or {}, "scoring.threshold")
    fairness = build(FairnessSection, "fairness", body)
    for key, value in fairness.limits.model_dump().items():
        if value is not None and not 0 <= float(value) <= 1:
            raise ConfigError(f"fairness.limits.{key}: a difference of rates is between 0 and 1, got {value}")
    if fairness.min_group_rows < 1:
        raise ConfigError(f"fairness.min_group_rows: must be at least 1, got {fairness.min_group_rows}")
    if fairness.champion_tolerance < 0:
        raise ConfigError(f"fairness.champion_tolerance: must be >= 0, got {fairness.champion_tolerance}")
    return fairness


def _monitoring(body: Any) -> MonitoringSection:
    """The monitoring section, its schedule, limits and multivariate test checked."""
    monitoring = build(MonitoringSection, "monitoring", body)
    check_domain_classifier(monitoring.domain_classifier)
    monitoring_cron("monitoring.schedule", monitoring.schedule)
    check_champion_age("monitoring", monitoring.max_champion_age_days)
    check_degenerate_limits("monitoring", monitoring.model_dump())
    check_window_limits("monitoring", monitoring.model_dump())
    check_offline_online("monitoring", monitoring.model_dump())
    refuse_unknown("monitoring.retrain_on", monitoring.retrain_on, RETRAIN_SIGNALS)
    return monitoring


def _promotion(body: Any) -> PromotionSection:
    """The promotion section, with MODELOPS_REQUIRE_APPROVAL applied."""
    given = dict(body or {}) if isinstance(body, dict) else body
    if isinstance(given, dict) and given.get("approvers") is not None:
        given["approvers"] = approver_list("promotion.approvers", given["approvers"])
    forced = os.environ.get(REQUIRE_APPROVAL_ENV, "").strip().lower()
    if forced:
        if forced not in ("true", "false"):
            raise ConfigError(f"{REQUIRE_APPROVAL_ENV}: expected true or false, got {forced!r}")
        given = {**(given or {}), "require_approval": forced == "true"}
    promotion = build(PromotionSection, "promotion", given)
    if float(promotion.approval_timeout_hours) <= 0:
        raise ConfigError(f"promotion.approval_timeout_hours: must be > 0, got {promotion.approval_timeout_hours!r}")
    _check_canary(promotion.canary)
    return promotion


def _check_canary(canary: Any) -> None:
    """The canary's share in (0, 1], at least one snapshot, shares in [0, 1], distances >= 0."""
    where = "promotion.canary"
    if not 0 < float(canary.share) <= 1:
        raise ConfigError(f"{where}.share: must be in (0, 1], got {canary.share!r}")
    if int(canary.snapshots) < 1 or int(canary.min_rows) < 0:
        raise ConfigError(
            f"{where}: snapshots must be >= 1 and min_rows >= 0, got {canary.snapshots!r}, {canary.min_rows!r}"
        )
    for key in ("min_agreement", "max_fallback_share"):
        value = getattr(canary, key)
        if value is not None and not 0 <= float(value) <= 1:
            raise ConfigError(f"{where}.{key}: must be in [0, 1] or null, got {value!r}")
    for key in ("max_score_psi", "max_mean_shift"):
        value = getattr(canary, key)
        if value is not None and float(value) < 0:
            raise ConfigError(f"{where}.{key}: must be >= 0 or null, got {value!r}")


def _sections(raw: dict[str, Any]) -> dict[str, Any]:
    """The checked sections of a parameters file (everything but the datasets)."""
    training = build(TrainingSection, "training", raw.get("training"))
    calibration_methods(training.calibration_method)
    if training.search.max_tree_levels is not None and training.search.max_tree_levels < 1:
        raise ConfigError(f"training.search.max_tree_levels: at least 1 or null, got {training.search.max_tree_levels}")
    evaluation = build(EvaluationSection, "evaluation", raw.get("evaluation"))
    monitoring = _monitoring(raw.get("monitoring"))
    promotion = _promotion(raw.get("promotion"))
    scoring = build(ScoringSection, "scoring", raw.get("scoring"))
    fairness = _fairness(raw.get("fairness"))
    for name, body in (
        ("training", training),
        ("evaluation", evaluation),
        ("monitoring", monitoring),
        ("scoring", scoring),
    ):
        check_fractions(name, body, FRACTIONS[name])
    check_scoring("scoring", scoring)
    if evaluation.primary_metric not in METRICS:
        raise ConfigError(f"evaluation.primary_metric: unknown metric {evaluation.primary_metric!r}; {METRICS}")
    refuse_unknown("evaluation.floors", evaluation.floors, METRICS)
    search_spaces = check_search_spaces(raw.get("search_spaces") or {})
    unknown = sorted(set(training.candidates) - set(search_spaces))
    if unknown:
        raise ConfigError(f"training candidates without a search space: {unknown}")
    foreign = sorted(set(training.candidates) - set(CANDIDATE_FAMILIES))
    if foreign:
        raise ConfigError(f"training.candidates: unknown model families {foreign}; known: {list(CANDIDATE_FAMILIES)}")
    return {
        "training": training,
        "search_spaces": search_spaces,
        "evaluation": evaluation,
        "monitoring": monitoring,
        "promotion": promotion,
        "scoring": scoring,
        "fairness": fairness,
    }


def parse_settings(raw: Any, digest: str = "", path: str = "") -> Settings:
    """Check a parsed parameters file section by section and build the Settings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the parameters file must be a mapping of sections, got {type(raw).__name__}")
    refuse_unknown("parameters file", raw, TOP_LEVEL_KEYS)
    sections = _sections(raw)
    datasets_raw = raw.get("datasets") or {}
    if not isinstance(datasets_raw, dict) or not datasets_raw:
        raise ConfigError("datasets: at least one dataset spec is needed")
    datasets = {}
    for name, body in datasets_raw.items():
        spec = _dataset(str(name), body)
        _check_dataset(spec)
        _check_dataset_scoring(f"datasets.{name}.scoring", spec, sections["scoring"])
        datasets[str(name)] = spec
    for spec in datasets.values():  # a population is another dataset: checked once all are known
        check_new_registrants(spec)
        check_population(spec, datasets)
    all_features = {f for s in datasets.values() for f in s.features}
    stray = sorted(set(sections["monitoring"].feature_weights) - all_features)
    if stray:
        raise ConfigError(f"monitoring.feature_weights: columns that are no dataset's feature: {stray}")
    default = raw.get("default_dataset") or next(iter(datasets))
    if default not in datasets:
        raise ConfigError(f"default_dataset {default!r} is not configured; datasets: {sorted(datasets)}")
    forecasts = parse_forecasts(raw.get("forecasts"), datasets)
    return Settings(
        default_dataset=default, datasets=datasets, digest=digest, path=path, forecasts=forecasts, **sections
    )


TOP_LEVEL_KEYS = (
    "default_dataset",
    "training",
    "search_spaces",
    "evaluation",
    "monitoring",
    "scoring",
    "promotion",
    "fairness",
    "datasets",
    "forecasts",
)


def merge_layers(base: dict[str, Any], layer: dict[str, Any], at: tuple[str, ...] = ()) -> dict[str, Any]:
    """`layer` over `base`: mappings merge key by key, any other value (a list, a number) replaces.

    Under `datasets`, a name given `null` removes that dataset (a user file hiding a demo dataset), and with
    it the earlier layers' forecasts built on it; under `forecasts`, a name given `null` removes it. In a
    dataset's spec, a `source` of another `kind` replaces the old one whole (its keys are another set),
    and `labels` and `positive_class` (two ways to say the outcome) replace each other.
    """
    out = dict(base)
    if len(at) == 2 and at[0] == "datasets":
        for given, other in (("labels", "positive_class"), ("positive_class", "labels")):
            if given in layer:
                out.pop(other, None)
    for key, value in layer.items():
        old = out.get(key)
        if at in (("datasets",), ("forecasts",)) and value is None:
            out.pop(key, None)
        elif (
            key == "source"
            and isinstance(value, dict)
            and isinstance(old, dict)
            and value.get("kind", old.get("kind")) != old.get("kind")
        ):
            out[key] = value
        elif isinstance(value, dict) and isinstance(old, dict):
            out[key] = merge_layers(old, value, (*at, str(key)))
        else:
            out[key] = value
    if not at:
        _drop_orphan_forecasts(out, layer)
    return out


def _drop_orphan_forecasts(merged: dict[str, Any], layer: dict[str, Any]) -> None:
    """Earlier layers' forecasts naming a dataset this layer hides go with it (the layer's own are checked)."""
    hidden = {k for k, v in (layer.get("datasets") or {}).items() if v is None}
    forecasts = merged.get("forecasts")
    if not hidden or not isinstance(forecasts, dict):
        return
    own = set(layer.get("forecasts") or {})
    merged["forecasts"] = {
        name: body
        for name, body in forecasts.items()
        if name in own or not (isinstance(body, dict) and {body.get("turnout"), body.get("support")} & hidden)
    }


def _read_layer(path: Path) -> dict[str, Any]:
    """One parameters file, parsed; a missing file, bad YAML or an unknown section is a ConfigError naming it."""
    if not path.is_file():
        named = f" (named by {CONFIG_ENV})" if path != DEFAULT_CONFIG_PATH.resolve() else ""
        raise ConfigError(f"{path}: no such file{named}")
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise ConfigError(f"a parameters file is a mapping of sections, got {type(raw).__name__}")
        refuse_unknown("parameters file", raw, TOP_LEVEL_KEYS)
    except (ConfigError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return raw


def _holds(raw: Any, keys: list[str]) -> bool:
    for key in keys:
        if not isinstance(raw, dict) or key not in raw:
            return False
        raw = raw[key]
    return True


def _blame(message: str, layers: list[tuple[Path, dict[str, Any]]]) -> str:
    """`message` prefixed with the file it is about: the last layer that sets the key path it names."""
    where = message.split(":", 1)[0].split(" ")[0].split(".")
    for n in range(len(where), 0, -1):
        owners = [path for path, raw in layers if _holds(raw, where[:n])]
        if owners:
            return f"{owners[-1]}: {message}"
    return f"{' + '.join(str(path) for path, _ in layers)}: {message}"


def load_settings(path: Path | None = None) -> Settings:
    """Read, layer and check the parameters files (`config_paths`); `path` reads that one file alone."""
    paths = [Path(path).resolve()] if path else config_paths()
    layers = [(p, _read_layer(p)) for p in paths]
    raw: dict[str, Any] = {}
    for _, layer in layers:
        raw = merge_layers(raw, layer)
    users_set_default = any("default_dataset" in layer for _, layer in layers[1:])
    if len(layers) > 1 and not users_set_default and raw.get("default_dataset") not in (raw.get("datasets") or {}):
        raw.pop("default_dataset", None)  # the bundled default was hidden: the first dataset left is the default
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    try:
        return parse_settings(raw, digest, " + ".join(str(p) for p in paths))
    except ConfigError as exc:
        raise ConfigError(_blame(str(exc), layers)) from None


def settings_from_resolved(resolved: dict[str, Any]) -> Settings:
    """The Settings a run logged (`Settings.resolved`), rebuilt and checked as a parameters file again.

    Only the run's dataset comes back (the resolved record holds one); paths the spec expanded are
    dropped (they are recomputed), and anything today's schema cannot read is a ConfigError naming it.
    """
    body = dict(resolved["dataset"])
    name = body.pop("name")
    source = {k: v for k, v in body.pop("source").items() if k != "resolved_path"}
    labels = {"positive": body.pop("positive_labels"), "negative": body.pop("negative_labels")}
    for derived in ("positive_class", "limitations"):
        body.pop(derived, None)
    for override in ("fairness", "monitoring"):  # per-dataset overrides: an empty one was never written
        if not body.get(override):
            body.pop(override, None)
    if "stated_limitations" in body:  # the owner's `limitations` key, kept apart from the derived ones
        body["limitations"] = list(body.pop("stated_limitations"))
    sections = ("training", "search_spaces", "evaluation", "monitoring", "scoring", "promotion")
    raw = {
        "default_dataset": name,
        **{key: resolved[key] for key in sections if key in resolved},
        # the dataset's fairness as applied (its own overrides come back with the dataset below)
        **(
            {"fairness": {k: v for k, v in resolved["fairness"].items() if k != "report_only"}}
            if "fairness" in resolved
            else {}
        ),
        "datasets": {name: {**body, "source": source, "labels": labels}},
    }
    raw = json.loads(json.dumps(raw))  # a private copy: the caller's record is never touched
    return parse_settings(raw, str(resolved.get("config_digest") or ""), str(resolved.get("config_path") or ""))


def settings_and_spec(dataset: str) -> tuple[Settings, DatasetSpec]:
    """The parameters file in force and the spec a run asked for (what every DAG task starts from)."""
    settings = load_settings()
    return settings, settings.dataset(dataset)


def main(argv: list[str] | None = None) -> int:
    """`python -m modelops.config`: check the parameters files and say what each dataset can and cannot do.

    A configuration error is printed as its plain message (no traceback) and the exit status is 2.
    """
    import sys

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    print(f"{settings.path}: ok")
    for name, spec in sorted(settings.datasets.items()):
        digest = settings.digest_for(name)[:16]
        print(f"  {name}: {len(spec.features)} features, target {spec.target!r} (identity digest {digest})")
        for note in spec.limitations:
            print(f"    - {note}")
    return 0

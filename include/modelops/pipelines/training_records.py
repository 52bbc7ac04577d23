"""The records the training workflow's tasks hand each other through XCom (references and figures, never frames).

Each is a frozen `XComRecord`: the steps in `workflow` take and return the `to_xcom()` dicts, whose
shape the DAG's templates, the run summary and the tests read; the keys templates name are declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.core.records import XComRecord
from modelops.core.tags import Tag

# Keys of the `register` task's XCom that the training DAG's approval template names.
REGISTRATION_MODEL_NAME = "model_name"
REGISTRATION_VERSION = "version"


@dataclass(frozen=True)
class TrainingPlan(XComRecord):
    """Task `prepare`: where the splits are, what they hold, the umbrella run and the lineage tags."""

    dataset: str
    splits: dict[str, str]  # part (catalog.SPLIT_PARTS) -> Parquet path
    holdout_unlabelled: str
    split_rows: dict[str, int]
    labels: dict[str, Any]  # collect.labels.label_summary
    parent_run_id: str
    lineage: dict[str, str]  # the run's lineage tags (Tag.* -> value), also every version's tags
    training: dict[str, Any]  # the training options with the run's overrides
    candidates: tuple[str, ...]

    @property
    def data_hash(self) -> str:
        """The content hash of the batch the splits come from."""
        return self.lineage[Tag.DATA_HASH]

    @property
    def identity(self) -> dict[str, str]:
        """What makes two trainings the same model: data, configuration and training options."""
        return {k: self.lineage[k] for k in (Tag.DATA_HASH, Tag.CONFIG_HASH, Tag.TRAINING_HASH)}


@dataclass(frozen=True)
class CandidateResult(XComRecord):
    """Task `train_candidate`: one logged candidate run (`runs.log_candidate`)."""

    candidate: str
    run_id: str
    model_uri: str
    selection_score: float
    holdout: dict[str, float | None]


@dataclass(frozen=True)
class RankedCandidate(XComRecord):
    """One line of the evaluation's ranking."""

    candidate: str
    selection_score: float
    run_id: str
    holdout: dict[str, float | None]


@dataclass(frozen=True)
class EvaluationReport(XComRecord):
    """Task `evaluate`: the best candidate against the baselines and the champion, and the verdict.

    The nested figures keep the evaluation modules' own dict shapes (the MLflow evaluation artifact,
    the model card and the promotion plan read them).
    """

    dataset: str
    primary_metric: str
    best: CandidateResult
    ranking: tuple[RankedCandidate, ...]
    holdout_rows: int
    threshold: float
    labels: dict[str, Any]
    limitations: tuple[str, ...]
    metrics: dict[str, float | None]
    baselines: dict[str, dict[str, float | None]]
    rule_baseline: dict[str, Any]
    slices: dict[str, Any]
    champion: dict[str, Any] | None  # workflow's champion comparison; None without a champion
    fairness: dict[str, Any]
    verdict: dict[str, Any]  # evaluation.Verdict.to_dict(): promote, checks, reasons
    # the holdout judged with the rows' weights (judging.weighted_view: source, column, use, gated, metrics,
    # intervals, baselines, positive_rate, mean_score, effective_rows); None without a weight column
    weighted_metrics: dict[str, Any] | None = None
    electorate_metrics: dict[str, Any] | None = None  # weighted by the model's own scores (electorate_weights)
    feature_value: dict[str, Any] | None = None  # the drop-one check (evaluate.feature_value.drop_one)

    @property
    def promote(self) -> bool:
        """Whether every gate passed."""
        return bool(self.verdict["promote"])

    @property
    def reasons(self) -> list[str]:
        """The verdict's lines, failures first."""
        return list(self.verdict["reasons"])


@dataclass(frozen=True)
class Registration(XComRecord):
    """Task `register`: the version registered (or the identical one that made registering needless)."""

    model_name: str
    version: str
    duplicate_of: str | None
    promote: bool
    reasons: tuple[str, ...]
    parent_run_id: str


@dataclass(frozen=True)
class Outcome(XComRecord):
    """Tasks `promote_champion` / `mark_challenger` (or a refused approval): the registration and its alias."""

    model_name: str
    version: str
    duplicate_of: str | None
    promote: bool
    reasons: tuple[str, ...]
    parent_run_id: str
    alias: str | None = None
    alias_changed: bool = False
    approver: str | None = None
    refused: bool = False

    @classmethod
    def of(cls, registration: Registration, **alias: Any) -> Outcome:
        """The registration with what happened to its alias."""
        return cls(**vars(registration), **alias)

    def registration(self) -> Registration:
        """The registration this outcome is about."""
        return Registration(
            self.model_name, self.version, self.duplicate_of, self.promote, self.reasons, self.parent_run_id
        )

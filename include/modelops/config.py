"""Load the one parameters file into typed, immutable specs.

Light on purpose (stdlib + PyYAML only): DAG files import it at parse time to build Params.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_PATH = REPO_ROOT / "include" / "config" / "modelops.yaml"


class ConfigError(ValueError):
    """The configuration names something inconsistent or missing."""


def workspace_root() -> Path:
    """Folder for everything generated at run time (batches, stores, reports)."""
    return Path(os.environ.get("MODELOPS_HOME", REPO_ROOT / ".local")).resolve()


def config_path() -> Path:
    """The parameters file in force (MODELOPS_CONFIG overrides the bundled one)."""
    return Path(os.environ.get("MODELOPS_CONFIG", DEFAULT_CONFIG_PATH)).resolve()


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the pipeline needs to know about one tabular dataset."""

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
    joins: tuple[dict[str, Any], ...] = ()
    baseline_rule: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """Model inputs, in a stable order."""
        return [*self.numeric, *self.categorical]

    @property
    def kept_columns(self) -> list[str]:
        """Columns a collected batch keeps: id, time, target, features and protected attributes."""
        wanted = [self.id_column, self.time_column, self.target, *self.features, *self.protected]
        seen: dict[str, None] = {}
        for column in wanted:
            if column and column not in seen:
                seen[column] = None
        return list(seen)

    @property
    def model_name(self) -> str:
        """Registered model name in MLflow."""
        return f"{self.name}_model"

    def raw_dir(self) -> Path:
        """Where generated raw inputs for this dataset live."""
        return workspace_root() / "raw" / self.name

    def resolve_path(self, template: str) -> Path:
        """Expand `{repo}` and `{raw}` in a configured path."""
        return Path(template.format(repo=REPO_ROOT, raw=self.raw_dir()))


@dataclass(frozen=True)
class Settings:
    """The whole parameters file: training, evaluation, search spaces and datasets."""

    default_dataset: str
    training: dict[str, Any]
    search_spaces: dict[str, dict[str, Any]]
    evaluation: dict[str, Any]
    monitoring: dict[str, Any]
    datasets: dict[str, DatasetSpec]
    digest: str

    def dataset(self, name: str) -> DatasetSpec:
        """The spec called `name`, or a ConfigError listing the known ones."""
        try:
            return self.datasets[name]
        except KeyError:
            known = ", ".join(sorted(self.datasets))
            raise ConfigError(f"unknown dataset {name!r}; configured datasets: {known}") from None


def _check_dataset(spec: DatasetSpec, search_spaces: dict[str, Any]) -> None:
    """Reject specs whose column roles contradict each other."""
    pii_in_features = sorted(set(spec.pii) & set(spec.features))
    if pii_in_features:
        raise ConfigError(f"dataset {spec.name!r}: PII columns listed as features: {pii_in_features}")
    roles = {spec.target, spec.id_column, spec.time_column} - {None}
    leaking = sorted(roles & set(spec.features))
    if leaking:
        raise ConfigError(f"dataset {spec.name!r}: target/id/time columns listed as features: {leaking}")
    if not spec.features:
        raise ConfigError(f"dataset {spec.name!r}: no numeric or categorical features configured")
    if "kind" not in spec.source:
        raise ConfigError(f"dataset {spec.name!r}: source needs a `kind` (file, sql, synthetic_voters)")
    for rule in spec.baseline_rule.get("all", []):
        if rule.get("op") not in {"==", "!=", ">", ">=", "<", "<=", "in"}:
            raise ConfigError(f"dataset {spec.name!r}: baseline rule has unknown op {rule.get('op')!r}")


def load_settings(path: Path | None = None) -> Settings:
    """Read and check the parameters file; the digest identifies it in lineage tags."""
    path = path or config_path()
    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    datasets = {}
    for name, body in raw.get("datasets", {}).items():
        spec = DatasetSpec(
            name=name,
            description=body.get("description", ""),
            source=dict(body["source"]),
            target=body["target"],
            positive_class=body.get("positive_class", 1),
            id_column=body.get("id_column"),
            time_column=body.get("time_column"),
            numeric=tuple(body.get("numeric", [])),
            categorical=tuple(body.get("categorical", [])),
            protected=dict(body.get("protected") or {}),
            pii=tuple(body.get("pii", [])),
            joins=tuple(body.get("joins", [])),
            baseline_rule=dict(body.get("baseline_rule") or {}),
            validation=dict(body.get("validation") or {}),
        )
        _check_dataset(spec, raw.get("search_spaces", {}))
        datasets[name] = spec
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()
    settings = Settings(
        default_dataset=raw.get("default_dataset") or next(iter(datasets)),
        training=raw["training"],
        search_spaces=raw.get("search_spaces", {}),
        evaluation=raw["evaluation"],
        monitoring=raw.get("monitoring", {}),
        datasets=datasets,
        digest=digest,
    )
    unknown = sorted(set(settings.training["candidates"]) - set(settings.search_spaces))
    if unknown:
        raise ConfigError(f"training candidates without a search space: {unknown}")
    return settings


def settings_and_spec(dataset: str) -> tuple[Settings, DatasetSpec]:
    """The parameters file in force and the spec a run asked for (what every DAG task starts from)."""
    settings = load_settings()
    return settings, settings.dataset(dataset)


def dataset_names() -> list[str]:
    """Configured dataset names, for the DAG's dropdown Param."""
    return sorted(load_settings().datasets)

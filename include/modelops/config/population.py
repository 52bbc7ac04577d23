"""Who a dataset's model scores: another dataset's snapshots through a column map, and its new registrants.

`scoring.population` lets a model trained on one dataset (a survey) score another's snapshots (the voter
file): the population's columns are renamed to the model's (`columns`: model column -> population column;
a column not listed keeps its name). At load every model feature must be covered (mapped, or of the same
name among the population's declared columns), every mapped name must be a plausible identifier, and no
population column may feed two model columns or be the population's id. `scoring.new_registrants` names the
rows of new registrants and the policy that scores them.
"""

from __future__ import annotations

from typing import Any

from modelops.config.checks import ConfigError
from modelops.config.models import NEW_REGISTRANT_POLICIES
from modelops.config.uses import is_identifier


def scorer_columns(spec: Any) -> list[str]:
    """The columns scoring reads by the model's names: features, slices, geography, canary key, new registrants."""
    from modelops.core.rules import conditions

    scoring = spec.scoring
    new = scoring.new_registrants
    wanted = [*spec.features, *spec.protected, scoring.geography, scoring.canary_key, new.column if new else None]
    wanted += [c["column"] for c in conditions(spec.baseline_rule)]
    return list(dict.fromkeys(c for c in wanted if c))


def declared_columns(spec: Any) -> set[str]:
    """The columns a dataset's snapshots hold: its kept columns without the target."""
    return set(spec.kept_columns) - {spec.target}


def check_population(spec: Any, datasets: dict[str, Any]) -> None:
    """A dataset's `scoring.population`: another configured dataset covering every model feature."""
    population = spec.scoring.population
    if population is None:
        return
    where = f"datasets.{spec.name}.scoring.population"
    if population.dataset == spec.name:
        raise ConfigError(f"{where}.dataset: the population is another dataset, got the dataset itself")
    if population.dataset not in datasets:
        raise ConfigError(
            f"{where}.dataset: unknown dataset {population.dataset!r}; configured datasets: {sorted(datasets)}"
        )
    other = datasets[population.dataset]
    readable = scorer_columns(spec)
    for column, source in population.columns.items():
        if column not in readable:
            raise ConfigError(
                f"{where}.columns: {column!r} is no column this model's scoring reads (features, protected, "
                f"geography, canary key, baseline rule, new registrants): {readable}"
            )
        if not is_identifier(source):
            raise ConfigError(f"{where}.columns.{column}: expected a column name (letters, digits, _), got {source!r}")
    have = declared_columns(other)
    uncovered = [f for f in spec.features if f not in population.columns and f not in have]
    if uncovered:
        raise ConfigError(
            f"{where}: model features {uncovered} are neither mapped in `columns` nor columns of "
            f"{population.dataset!r}: map each to the population's column of the same meaning"
        )
    sources: dict[str, list[str]] = {}
    for column in readable:
        sources.setdefault(population.columns.get(column, column), []).append(column)
    shared = {s: cs for s, cs in sources.items() if len(cs) > 1}
    if shared:
        raise ConfigError(f"{where}.columns: population columns feeding several model columns: {shared}")
    if other.id_column and other.id_column in sources:
        raise ConfigError(
            f"{where}.columns: {population.dataset!r}'s id column {other.id_column!r} would feed "
            f"{sources[other.id_column]}; it is the output's id, never an input"
        )


def check_new_registrants(spec: Any) -> None:
    """A dataset's `scoring.new_registrants`: a column, max_value or value, a policy and its score."""
    new = spec.scoring.new_registrants
    if new is None:
        return
    where = f"datasets.{spec.name}.scoring.new_registrants"
    if not is_identifier(new.column):
        raise ConfigError(f"{where}.column: expected a column name (letters, digits, _), got {new.column!r}")
    if new.column in (spec.target, spec.id_column) or new.column in spec.pii:
        raise ConfigError(f"{where}.column: {new.column!r} is the target, the id or a PII column")
    if (new.max_value is None) == (new.value is None):
        raise ConfigError(f"{where}: give either max_value (column <= it) or value (column == it), not both or none")
    if new.policy not in NEW_REGISTRANT_POLICIES:
        raise ConfigError(f"{where}.policy: one of {list(NEW_REGISTRANT_POLICIES)}, got {new.policy!r}")
    if new.policy == "fixed":
        if new.score is None or not 0 <= float(new.score) <= 1:
            raise ConfigError(f"{where}.score: policy fixed needs a score between 0 and 1, got {new.score!r}")
    elif new.score is not None:
        raise ConfigError(f"{where}.score: only policy fixed takes a score (policy is {new.policy!r})")

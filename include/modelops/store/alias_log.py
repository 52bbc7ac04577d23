"""The alias history read back: which version an alias named at an instant, and whether MLflow's alias drifted from it.

`registry.set_alias` writes the history; MLflow records neither who moved an alias nor when, so the
history is the record of serving, and a disagreement with MLflow is a move made outside the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from modelops.core.served import ServedBy, served_by
from modelops.store import history
from modelops.store.registry import CHAMPION
from modelops.store.tracking import client


def alias_history(model_name: str, alias: str = CHAMPION) -> list[dict[str, Any]]:
    """Every change of one alias of a model, oldest first (version, previous_version, changed_at UTC, ...)."""
    return history.read_alias_history(model_name, alias=alias)


def served_on(model_name: str, when: datetime, alias: str = CHAMPION) -> str | None:
    """The version that held `alias` at instant `when` (timezone-aware), from the alias history.

    One answer per instant: a change takes effect at its recorded `changed_at`, so at the exact
    instant of a change the new version serves. None before the alias was first set.
    """
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"served_on needs a timezone-aware instant, got naive {when.isoformat()}")
    serving = None
    for row in alias_history(model_name, alias):
        if row["changed_at"] > when:
            break
        serving = row["version"]
    return serving


@dataclass(frozen=True)
class AliasDrift:
    """MLflow's alias and the alias history disagree: the alias moved outside the training and promotion DAGs.

    MLflow records neither who moved an alias nor when, so the move is known only to have happened after
    the last recorded change (`recorded_at`, by `recorded_by`).
    """

    model_name: str
    alias: str
    registry_version: str | None  # what MLflow's alias names now (None: the alias was removed)
    recorded_version: str | None  # what the alias history says (None: no change was ever recorded)
    recorded_at: datetime | None
    recorded_by: str | None

    def line(self) -> str:
        """One sentence for alerts, logs and pages (names and versions only)."""
        now = f"v{self.registry_version}" if self.registry_version is not None else "no version"
        if self.recorded_version is None:
            record = "the alias history records no change of it"
        else:
            when = self.recorded_at.isoformat(timespec="seconds") if self.recorded_at else "an unknown time"
            record = f"the alias history says v{self.recorded_version} (moved {when} by {self.recorded_by})"
        return (
            f"{self.model_name}@{self.alias} moved outside the training/promotion DAGs: MLflow names {now} but "
            f"{record}; MLflow does not record who moved it or when (after the last recorded change). "
            "Move it back through the promotion DAG"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the time in ISO format)."""
        return {
            "model_name": self.model_name,
            "alias": self.alias,
            "registry_version": self.registry_version,
            "recorded_version": self.recorded_version,
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "recorded_by": self.recorded_by,
            "line": self.line(),
        }


def compare_alias(
    model_name: str, registry_version: str | None, history_rows: list[dict[str, Any]], alias: str = CHAMPION
) -> AliasDrift | None:
    """Pure: the drift between MLflow's alias (`registry_version`) and the alias history rows, or None if they agree.

    `history_rows` are `alias_history(model_name, alias)` rows, oldest first; the last one is what the
    product set. Both empty (no alias, no record) agree.
    """
    rows = [r for r in history_rows if r.get("alias", alias) == alias]
    last = rows[-1] if rows else None
    recorded = None if last is None else str(last["version"])
    current = None if registry_version is None else str(registry_version)
    if current == recorded:
        return None
    return AliasDrift(
        model_name=model_name,
        alias=alias,
        registry_version=current,
        recorded_version=recorded,
        recorded_at=None if last is None else last["changed_at"],
        recorded_by=None if last is None else last["actor"],
    )


def alias_drift(model_name: str, alias: str = CHAMPION) -> AliasDrift | None:
    """Whether `alias` of `model_name` moved outside the product: MLflow's alias against the alias history.

    A change made through `set_alias` writes the history row in the transaction that moves the alias,
    so the two agree except for that instant; anything else (a direct MLflow call, the MLflow UI, a
    REST request) shows here.
    """
    from mlflow.exceptions import MlflowException

    # the registered model's alias map: a missing model is an answer (404), a refused login or permission is not
    # (MLflow's auth app answers a by-alias lookup on a missing model with 403, hence not that call)
    try:
        aliases = client().get_registered_model(model_name).aliases or {}
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        aliases = {}
    current = aliases.get(alias)
    return compare_alias(model_name, None if current is None else str(current), alias_history(model_name, alias), alias)


def describe_serving(
    model_name: str,
    when: datetime | None = None,
    alias: str = CHAMPION,
    served: ServedBy | dict[str, Any] | None = None,
) -> str:
    """One line for run summaries: which version `alias` pointed to at `when` (default: now), and who scored.

    The alias history says which version the alias named, not who scored a snapshot's rows (the
    rule-based fallback may have served them all). Next to a snapshot, pass its manifest (or its
    `served_by`) as `served`: the line then adds the rows the version, the canary and the fallback
    served (`ServedBy.line`).
    """
    when = when or datetime.now(UTC)
    version = served_on(model_name, when, alias)
    shown = f"v{version}" if version is not None else "no version"
    line = f"{model_name}@{alias} pointed to {shown} at {when.isoformat(timespec='seconds')}"
    if served is None:
        return line
    truth = served if isinstance(served, ServedBy) else served_by(served)
    return f"{line}; {truth.line()}"

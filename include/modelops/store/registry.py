"""Registered versions and their aliases: register, look up, tag, retire, and move an alias with its audit row.

Aliases (`champion`, `challenger`, and `canary`: the production profile's version on trial) are the
promotion mechanism; stages are never used. Every alias change is written to the audit table in the
same transaction that allows it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelops.core.handoffs import CHAMPION_MOVERS, PROMOTION_DAG_ID
from modelops.core.tags import Tag, alias_tag
from modelops.store import history
from modelops.store.tracking import client, connect, short_tag

CHAMPION = "champion"
CHALLENGER = "challenger"
CANARY = "canary"  # the production profile's promoted version deciding its share of rows before `champion` moves


def version_by_alias(model_name: str, alias: str) -> Any | None:
    """The ModelVersion holding `alias`, or None (no model, or alias unset)."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def model_version(model_name: str, version: str) -> Any | None:
    """A registered ModelVersion (with its tags), or None when it does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client().get_model_version(model_name, str(version))
    except MlflowException:
        return None


def register_version(model_name: str, model_uri: str, run_id: str, tags: dict[str, str], description: str) -> str:
    """Register `model_uri` as a new version (or return the version already made from this run)."""
    mlflow = connect()
    mlflow_client = client()
    try:
        mlflow_client.create_registered_model(
            model_name, description="Managed by modelops: promotion by aliases, audit in alias_history."
        )
    except mlflow.exceptions.MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    for existing in mlflow_client.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'"):
        return str(existing.version)
    # A logged model's URI (models:/m-...) names its model id; an MLflow *server* refuses that source
    # unless the id comes with it (a local store let it pass).
    logged = model_uri.removeprefix("models:/")
    model_id = logged if logged.startswith("m-") and "/" not in logged else None
    version = mlflow_client.create_model_version(
        model_name,
        source=model_uri,
        run_id=run_id,
        tags={k: str(v) for k, v in tags.items()},
        description=description,
        model_id=model_id,
    )
    return str(version.version)  # MLflow 3 hands back ints; aliases and tags speak strings


def find_identical_version(model_name: str, identity: dict[str, str]) -> dict[str, str] | None:
    """A registered version whose tags equal `identity` (data hash, config digest, training options), if any."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client().search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return None
    for found in sorted(versions, key=lambda v: int(v.version)):
        tags = found.tags or {}
        if all(tags.get(k) == v for k, v in identity.items()):
            return {"version": str(found.version), "run_id": found.run_id}
    return None


def set_version_tags(model_name: str, version: str, tags: dict[str, str]) -> None:
    """Set tags on a registered version (values longer than MLflow allows are shortened)."""
    mlflow_client = client()
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, short_tag(str(value)))


def dag_actor(dag_id: str, who: str | None = None) -> str:
    """The actor string of an alias change: the DAG id first (what the champion guard reads), then who."""
    return f"{dag_id} ({who})" if who else dag_id


def actor_dag_id(actor: str) -> str:
    """The DAG id an actor string starts with (see `dag_actor`)."""
    return actor.split(" ", 1)[0]


class AliasGuardError(PermissionError):
    """An actor other than the training or promotion DAG tried to move `champion`."""


def check_champion_actor(actor: str) -> None:
    """Refuse to move `champion` unless the actor is one of handoffs.CHAMPION_MOVERS."""
    if actor_dag_id(actor) not in CHAMPION_MOVERS:
        raise AliasGuardError(
            f"only the DAGs {list(CHAMPION_MOVERS)} may move the {CHAMPION!r} alias; actor {actor!r} may not "
            f"(use the {PROMOTION_DAG_ID} DAG to promote, roll back or retire a version)"
        )


def set_alias(
    model_name: str,
    alias: str,
    version: str,
    actor: str,
    reason: str,
    run_id: str | None,
    *,
    approver: str | None = None,
    approved_at: datetime | None = None,
    action: str | None = None,
) -> bool:
    """Point `alias` at `version` and append the change to the audit table; False if already so.

    Moving `champion` needs an actor naming one of the two DAGs allowed to (`check_champion_actor`).
    Who approved, when and why go to the audit row and to the version's `<alias>_*` tags.
    """
    if alias == CHAMPION:
        check_champion_actor(actor)
    mlflow_client = client()
    current = version_by_alias(model_name, alias)
    previous = str(current.version) if current is not None else None
    if previous == str(version):
        return False
    with history.get_engine().begin() as connection:  # the audit row commits only if MLflow accepted
        history.alias_change(
            connection,
            model_name,
            alias,
            str(version),
            previous,
            actor,
            reason,
            run_id,
            approver=approver,
            approved_at=approved_at,
            action=action,
        )
        mlflow_client.set_registered_model_alias(model_name, alias, str(version))
    now = _now()
    tags = {
        alias_tag(alias, "since"): now,
        alias_tag(alias, "by"): short_tag(actor),
        alias_tag(alias, "reason"): short_tag(reason or ""),
    }
    if approver is not None:
        tags[alias_tag(alias, "approved_by")] = approver
        tags[alias_tag(alias, "approved_at")] = (approved_at or datetime.now(UTC)).isoformat(timespec="seconds")
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, value)
    if alias == CHAMPION:
        if previous is not None:
            mlflow_client.set_model_version_tag(model_name, previous, alias_tag(CHAMPION, "until"), now)
        for other in (CHALLENGER, CANARY):  # the new champion is no longer on trial
            held = version_by_alias(model_name, other)
            if held is not None and str(held.version) == str(version):
                mlflow_client.delete_registered_model_alias(model_name, other)
    return True


def remove_alias(model_name: str, alias: str) -> str | None:
    """Delete `alias` (never `champion`: it is only ever moved); returns the version it named, or None."""
    if alias == CHAMPION:
        raise AliasGuardError(f"the {CHAMPION!r} alias is never removed: promote or roll back to another version")
    held = version_by_alias(model_name, alias)
    if held is None:
        return None
    client().delete_registered_model_alias(model_name, alias)
    return str(held.version)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def retire_version(model_name: str, version: str, actor: str, reason: str, **approval: Any) -> list[str]:
    """Tag `version` retired and remove its aliases (never `champion`); returns the aliases removed."""
    found = model_version(model_name, version)
    if found is None:
        raise ValueError(f"{model_name} has no version {version!r}")
    aliases = [str(a) for a in (found.aliases or [])]
    if CHAMPION in aliases:
        raise ValueError(f"{model_name} v{version} is the serving champion: promote or roll back to another first")
    mlflow_client = client()
    tags = {
        Tag.RETIRED: "true",
        Tag.RETIRED_AT: _now(),
        Tag.RETIRED_BY: short_tag(actor),
        Tag.RETIRED_REASON: short_tag(reason),
    }
    if approval.get("approver") is not None:
        tags[Tag.RETIRED_APPROVED_BY] = approval["approver"]
        tags[Tag.RETIRED_APPROVED_AT] = (approval.get("approved_at") or datetime.now(UTC)).isoformat(timespec="seconds")
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(model_name, str(version), key, value)
    for alias in aliases:
        mlflow_client.delete_registered_model_alias(model_name, alias)
    return aliases

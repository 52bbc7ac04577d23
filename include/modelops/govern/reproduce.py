"""Rebuild a registered version from its record and check it gives the same holdout predictions.

What a version's record holds (tags on the version, artifacts on its runs): the batch's path and
content hash, the resolved configuration, the training options with the run's overrides, the split
scheme, the candidate family, the git commit, and the model's holdout scores by stable row key.
`reproduce_version` checks the batch is the one recorded, rebuilds the settings from the record (not
today's YAML), recomputes the splits, retrains the candidate with the same seed, scores the holdout
and compares: every recorded row within `TOLERANCE` and the metrics equal means reproduced. The
verdict goes on the version (tags) and on a run of the dataset's `reproduce` experiment.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.core import environment
from modelops.core.tags import Tag
from modelops.store import artifacts, registry, runs, tracking

TOLERANCE = 1e-9  # largest |recorded - rebuilt| score (and metric) difference still called equal


class NotReproducible(Exception):
    """The record says the version cannot be rebuilt as it was (e.g. its batch changed); the verdict is false."""


def compare_predictions(recorded: pd.DataFrame, rebuilt: pd.DataFrame, tolerance: float = TOLERANCE) -> dict[str, Any]:
    """Compare two `key`/`score` frames row by row (by key, in any order): counts, max |diff| and the verdict.

    Rows with the same key (identical content on a dataset keyed by content) are paired in score
    order. A key on one side only, a missing score on one side only, or any difference above
    `tolerance` makes them unequal.
    """
    for name, frame in (("recorded", recorded), ("rebuilt", rebuilt)):
        missing = sorted({"key", "score"} - set(frame.columns))
        if missing:
            raise ValueError(f"{name} predictions lack columns {missing}")

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[["key", "score"]].sort_values(["key", "score"], kind="stable").reset_index(drop=True)
        return out.assign(nth=out.groupby("key").cumcount())

    paired = ordered(recorded).merge(
        ordered(rebuilt), on=["key", "nth"], how="outer", suffixes=("_recorded", "_rebuilt"), indicator=True
    )
    both = paired["_merge"] == "both"
    a = paired.loc[both, "score_recorded"].to_numpy(dtype=float)
    b = paired.loc[both, "score_rebuilt"].to_numpy(dtype=float)
    one_missing = np.isnan(a) != np.isnan(b)
    diff = np.abs(a - b)
    diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)  # both missing: the same answer
    diff = np.where(one_missing, np.inf, diff)
    max_diff = float(diff.max()) if len(diff) else 0.0
    out = {
        "rows": int(both.sum()),
        "only_recorded": int((paired["_merge"] == "left_only").sum()),
        "only_rebuilt": int((paired["_merge"] == "right_only").sum()),
        "missing_scores": int(one_missing.sum()),
        "differing_rows": int((diff > tolerance).sum()),
        "bitwise_equal_rows": int((a == b).sum()),
        "max_abs_diff": max_diff,
        "tolerance": tolerance,
    }
    out["equal"] = (
        out["rows"] > 0 and out["only_recorded"] == 0 and out["only_rebuilt"] == 0 and out["differing_rows"] == 0
    )
    return out


def compare_metrics(recorded: dict[str, float], rebuilt: dict[str, float], tolerance: float = TOLERANCE) -> dict:
    """Compare two metric dicts: every recorded metric present in both, and within `tolerance` (NaN equals NaN)."""
    names = sorted(set(recorded) | set(rebuilt))
    differing, diffs = [], []
    for name in names:
        a, b = recorded.get(name), rebuilt.get(name)
        if a is None or b is None:
            differing.append(name)
            continue
        a, b = float(a), float(b)
        if math.isnan(a) and math.isnan(b):
            continue
        gap = abs(a - b) if not (math.isnan(a) or math.isnan(b)) else math.inf
        diffs.append(gap)
        if gap > tolerance:
            differing.append(name)
    return {
        "recorded": recorded,
        "rebuilt": rebuilt,
        "max_abs_diff": max(diffs, default=0.0),
        "differing": differing,
        "equal": bool(names) and not differing,
    }


def _verify_batch(path: str, recorded_hash: str) -> pd.DataFrame:
    """The recorded batch, read back and checked against its content hash (NotReproducible when it is not)."""
    import pyarrow as pa

    from modelops.collect.sources import content_hash

    if not path or not Path(path).is_file():
        raise NotReproducible(f"batch file missing: {path or '(no modelops.batch_path tag)'} is not on disk")
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise NotReproducible(f"batch file unreadable: {path} ({type(exc).__name__})") from None
    actual = content_hash(frame)
    if actual != recorded_hash:
        raise NotReproducible(
            f"batch changed since training: content hash of {path} is {actual[:16]}, the version recorded "
            f"{recorded_hash[:16]}"
        )
    return frame


def _recorded_options(parent: str, recorded_hash: str) -> dict[str, Any]:
    """The training options the version was trained with, checked against its `modelops.training_hash` tag."""
    from modelops.train.lineage import training_hash

    options = artifacts.load_run_dict(parent, artifacts.TRAINING_OPTIONS_ARTIFACT)
    if options is None or training_hash(options) != recorded_hash:
        raise NotReproducible(
            f"training options not on record: {artifacts.TRAINING_OPTIONS_ARTIFACT} does not match the version's "
            f"training hash {recorded_hash}"
        )
    return options


def _recorded_settings(tags: dict[str, str], parent: str) -> tuple[Any, Any]:
    """The settings and dataset spec the version was trained with, rebuilt from its run's resolved configuration
    and checked against the version's identity."""
    from modelops.config.checks import ConfigError
    from modelops.config.settings import settings_from_resolved
    from modelops.train.lineage import SPLIT_SCHEME

    if tags.get(Tag.SPLIT_SCHEME) != SPLIT_SCHEME:
        raise NotReproducible(
            f"split scheme changed: the version used {tags.get(Tag.SPLIT_SCHEME)!r}, this code {SPLIT_SCHEME!r}"
        )
    resolved = artifacts.load_run_dict(parent, artifacts.RESOLVED_CONFIG_ARTIFACT)
    if resolved is None:
        raise NotReproducible(f"configuration not on record: run {parent} has no {artifacts.RESOLVED_CONFIG_ARTIFACT}")
    if resolved.get("config_digest") != tags.get(Tag.CONFIG_HASH):
        raise NotReproducible(
            f"recorded configuration {str(resolved.get('config_digest'))[:16]} is not the version's "
            f"{str(tags.get(Tag.CONFIG_HASH))[:16]}"
        )
    try:
        settings = settings_from_resolved(resolved)
    except ConfigError as exc:
        raise NotReproducible(f"recorded configuration unreadable by this code: {exc}") from None
    spec = settings.dataset(tags[Tag.DATASET])
    if settings.digest_for(spec.name) != tags.get(Tag.CONFIG_HASH):
        raise NotReproducible(
            f"the recorded configuration rebuilds to identity {settings.digest_for(spec.name)[:16]}, "
            f"not the version's {str(tags.get(Tag.CONFIG_HASH))[:16]}"
        )
    return settings, spec


def _recomputed_splits(frame: pd.DataFrame, spec: Any, options: dict[str, Any], parent: str) -> list[pd.DataFrame]:
    """Train, calibration and holdout recomputed from the batch, the training rows checked against the record."""
    from modelops.train.splits import row_keys, split_indices

    parts = split_indices(frame, spec, options)
    train, calibration, holdout = (
        frame.iloc[parts[name]].reset_index(drop=True) for name in ("train", "calibration", "holdout")
    )
    seen = artifacts.load_trained_keys(parent)
    if seen is not None:
        learnt = np.unique(row_keys(pd.concat([train, calibration]), spec))
        if not np.array_equal(learnt, np.sort(seen)):
            raise NotReproducible(
                f"splits differ: {len(learnt)} training rows recomputed, {len(seen)} recorded (keys do not match)"
            )
    return [train, calibration, holdout]


def _search_as_recorded(options: dict[str, Any], params: dict[str, str], notes: list[str]) -> dict[str, Any]:
    """The training options with the search fixed to the rounds the original ran."""
    # The search ran a count of rounds; a safety stop that fired (or would fire on a slower machine)
    # must not change that count, so the rebuild runs exactly the recorded rounds.
    options = json.loads(json.dumps(options))
    rounds = params.get("search_rounds")
    if rounds is not None:
        options["search"] = {**options["search"], "max_rounds": int(rounds), "safety_stop_seconds": None}
    if params.get("search_stopped_by_budget") == "True":
        notes.append(f"the original search was cut by its safety stop after {rounds} rounds; rebuilt to match")
    return options


def _rebuild(tags: dict[str, str], run_id: str, out: dict[str, Any]) -> None:
    """Every check and the retraining, filling `out`; NotReproducible for a record that cannot give the model."""
    from modelops.collect.labels import target_vector
    from modelops.stats.metrics import compute_metrics
    from modelops.train.splits import row_keys
    from modelops.train.training import train_candidate

    parent = tags.get(Tag.PARENT_RUN_ID)
    candidate = tags.get(Tag.CANDIDATE)
    if not parent or not candidate:
        raise NotReproducible("lineage incomplete: the version has no modelops.parent_run_id or modelops.candidate")
    out["candidate"] = candidate
    settings, spec = _recorded_settings(tags, parent)
    options = _recorded_options(parent, tags.get(Tag.TRAINING_HASH, ""))
    recorded = artifacts.load_holdout_predictions(run_id)
    if recorded is None:
        raise NotReproducible(
            f"holdout predictions not on record: run {run_id} has no {artifacts.HOLDOUT_PREDICTIONS_ARTIFACT}"
        )
    run = tracking.run_record(run_id)
    frame = _verify_batch(tags.get(Tag.BATCH_PATH, ""), tags.get(Tag.DATA_HASH, ""))
    out["batch"] = {"path": tags[Tag.BATCH_PATH], "content_hash": tags[Tag.DATA_HASH], "verified": True}
    train, calibration, holdout = _recomputed_splits(frame, spec, options, parent)
    out["splits"] = {"train": len(train), "calibration": len(calibration), "holdout": len(holdout)}

    options = _search_as_recorded(options, run["params"], out["notes"])
    primary = settings.evaluation.primary_metric
    threshold = settings.decision_threshold(spec.name)  # the recorded one: the holdout metrics were logged at it
    trained = train_candidate(
        candidate, spec, train, calibration, options, settings.search_spaces[candidate], primary, threshold=threshold
    )
    recorded_params = {k.removeprefix("param_"): v for k, v in run["params"].items() if k.startswith("param_")}
    rebuilt_params = {k: str(v) for k, v in trained.params.items()}
    out["params"] = {"recorded": recorded_params, "rebuilt": rebuilt_params, "same": recorded_params == rebuilt_params}
    if not out["params"]["same"]:
        out["notes"].append("the search chose other hyperparameters than recorded")
    proba = trained.pipeline.predict_proba(holdout[spec.features])[:, 1]
    rebuilt = pd.DataFrame({"key": row_keys(holdout, spec), "score": proba})
    out["predictions"] = compare_predictions(recorded, rebuilt)
    recorded_metrics = {k.removeprefix("holdout_"): v for k, v in run["metrics"].items() if k.startswith("holdout_")}
    out["metrics"] = compare_metrics(recorded_metrics, compute_metrics(target_vector(holdout, spec), proba, threshold))


def _environment(tags: dict[str, str], model_name: str, version: str) -> dict[str, Any]:
    """The libraries the version was trained with against this process's: a rebuild elsewhere says what differs."""
    found = environment.compare(tags.get(Tag.ENVIRONMENT), f"{model_name} v{version}")
    found.pop("alert")
    return found


def _environment_note(verdict: dict[str, Any]) -> str:
    """Which libraries differ (trained -> rebuilt), and whether the predictions still matched."""
    if "predictions" not in verdict:
        matched = "the predictions were not compared"
    elif verdict["predictions"]["equal"]:
        matched = "the holdout predictions still matched"
    else:
        matched = "the holdout predictions did not match"
    differs = environment.describe(verdict["environment"]["differences"])
    return f"environment differs (trained -> rebuilt): {differs}; {matched}"


def _num(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def _detail(verdict: dict[str, Any]) -> str:
    """One short line for the version's tag."""
    if not verdict["reproduced"]:
        return f"failed: {verdict['reason']}"
    p = verdict["predictions"]
    code = "same commit" if verdict["code"]["same"] else f"other commit (trained at {verdict['code']['recorded']})"
    differs = (verdict.get("environment") or {}).get("differences")
    libraries = f"; other libraries ({environment.describe(differs)})" if differs else ""
    return (
        f"reproduced: {p['rows']} holdout predictions, max |diff| {_num(p['max_abs_diff'])} <= {p['tolerance']:g} "
        f"({p['bitwise_equal_rows']} bitwise equal), metrics equal; {code}{libraries}"
    )


def _reason(out: dict[str, Any]) -> str:
    p, m = out["predictions"], out["metrics"]
    if p["equal"] and m["equal"]:
        return "holdout predictions and metrics equal"
    problems = []
    if not p["equal"]:
        problems.append(
            f"predictions differ: {p['differing_rows']} of {p['rows']} rows beyond {p['tolerance']:g} "
            f"(max |diff| {_num(p['max_abs_diff'])}), {p['only_recorded']} recorded rows missing, "
            f"{p['only_rebuilt']} unexpected"
        )
    if not m["equal"]:
        problems.append(f"metrics differ: {', '.join(m['differing'])} (max |diff| {_num(m['max_abs_diff'])})")
    return "; ".join(problems)


def reproduce_version(model_name: str, version: str | int, run_key: str | None = None) -> dict[str, Any]:
    """Rebuild `model_name` v`version` from its record, compare, and log the verdict on the version.

    Returns the verdict: `reproduced`, `reason`, and the checks (batch, code, splits, params,
    predictions, metrics). A record that cannot give the same model (batch changed or missing,
    configuration or predictions not on record) is a false verdict with the reason, not an error; a
    version that does not exist is an error. `run_key` (e.g. the Airflow run id) makes a retried
    check reuse the verdict its run already recorded; without it every call checks afresh.
    """
    import uuid

    from modelops.core.jsonsafe import json_safe
    from modelops.train.lineage import git_commit

    version = str(version)
    found = registry.model_version(model_name, version)
    if found is None:
        raise ValueError(f"{model_name} has no version {version!r}")
    tags = dict(found.tags or {})
    dataset = tags.get(Tag.DATASET)
    if not dataset:
        raise ValueError(f"{model_name} v{version} has no modelops.dataset tag: it was not registered by training")
    key = {
        Tag.MODEL_NAME: model_name,
        Tag.MODEL_VERSION: version,
        Tag.REPRODUCE_KEY: run_key or uuid.uuid4().hex,
    }
    if run_key:
        done = runs.find_reproduction(dataset, key)
        if done is not None:
            _tag_version(done)
            return done
    recorded_commit, current_commit = tags.get(Tag.GIT_COMMIT, "unknown"), git_commit()
    verdict: dict[str, Any] = {
        "model_name": model_name,
        "version": version,
        "dataset": dataset,
        # a different commit is worth knowing, but the predictions decide
        "code": {"recorded": recorded_commit, "current": current_commit, "same": recorded_commit == current_commit},
        "notes": []
        if recorded_commit == current_commit
        else [f"code differs: trained at {recorded_commit}, rebuilt at {current_commit}"],
    }
    verdict["environment"] = _environment(tags, model_name, version)
    try:
        _rebuild(tags, found.run_id, verdict)
    except NotReproducible as exc:
        verdict.update(reproduced=False, reason=str(exc))
    else:
        verdict["reproduced"] = bool(verdict["predictions"]["equal"] and verdict["metrics"]["equal"])
        verdict["reason"] = _reason(verdict)
    if verdict["environment"]["differences"]:
        verdict["notes"].append(_environment_note(verdict))
    verdict["checked_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    verdict["detail"] = _detail(verdict)
    verdict = json_safe(verdict)  # an infinite difference (a score missing on one side) becomes null
    verdict["run_id"] = runs.log_reproduction(dataset, verdict, key)
    _tag_version(verdict)
    return verdict


def _tag_version(verdict: dict[str, Any]) -> None:
    registry.set_version_tags(
        verdict["model_name"],
        verdict["version"],
        {
            Tag.REPRODUCED: str(bool(verdict["reproduced"])).lower(),
            Tag.REPRODUCED_AT: verdict["checked_at"],
            Tag.REPRODUCE_DETAIL: verdict["detail"][:500],
            Tag.REPRODUCE_RUN_ID: verdict.get("run_id", ""),
        },
    )


def describe_verdict(verdict: dict[str, Any]) -> str:
    """The human report of a reproduction check (what the DAG's report task prints)."""
    lines = [
        f"Reproduction of {verdict['model_name']} v{verdict['version']} ({verdict['dataset']}): "
        f"{'REPRODUCED' if verdict['reproduced'] else 'NOT REPRODUCED'}",
        f"  reason    {verdict['reason']}",
    ]
    if verdict.get("batch"):
        lines.append(f"  batch     {verdict['batch']['path']} (hash {verdict['batch']['content_hash'][:16]} verified)")
    code = verdict.get("code") or {}
    if "current" in code:
        lines.append(f"  code      trained at {code['recorded']}, rebuilt at {code['current']}")
    env = verdict.get("environment") or {}
    if env.get("differences"):
        lines.append(f"  libraries trained -> rebuilt: {environment.describe(env['differences'])}")
    elif env.get("same"):
        lines.append("  libraries the same versions as at training")
    if verdict.get("splits"):
        lines.append("  splits    " + ", ".join(f"{k} {v}" for k, v in verdict["splits"].items()))
    if verdict.get("predictions"):
        p = verdict["predictions"]
        lines.append(
            f"  holdout   {p['rows']} rows compared, max |diff| {_num(p['max_abs_diff'])} "
            f"(tolerance {p['tolerance']:g}), {p['bitwise_equal_rows']} bitwise equal, "
            f"{p['only_recorded']} missing, {p['only_rebuilt']} unexpected"
        )
    if verdict.get("metrics"):
        m = verdict["metrics"]
        shown = ", ".join(f"{k} {v:.6f}" for k, v in sorted(m["rebuilt"].items()) if v is not None)
        lines.append(f"  metrics   {'equal' if m['equal'] else 'DIFFER: ' + ', '.join(m['differing'])} ({shown})")
    lines += [f"  note      {note}" for note in verdict.get("notes") or []]
    lines.append(f"  recorded  tags modelops.reproduced* on the version; MLflow run {verdict.get('run_id')}")
    return "\n".join(lines)

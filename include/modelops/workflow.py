"""The training workflow's steps, one function per DAG task; plain dicts in and out.

Steps hand each other references (paths, hashes, run ids, versions), never frames.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops import registry
from modelops.config import REPO_ROOT, DatasetSpec, Settings, workspace_root
from modelops.drift import build_profile
from modelops.evaluation import (
    compare_slices,
    compute_metrics,
    decide_promotion,
    fit_rule_baseline,
    paired_bootstrap,
    slice_metrics,
)
from modelops.features import split_indices, target_vector
from modelops.sources import BatchRef, load_batch


def git_commit() -> str:
    """HEAD of the project checkout, with `-dirty` when it has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def training_options(settings: Settings, candidates: list[str] | None, max_fit_rows: int | None) -> dict[str, Any]:
    """The training section with run-time overrides applied (and checked)."""
    training = json.loads(json.dumps(settings.training))
    if candidates:
        unknown = sorted(set(candidates) - set(settings.search_spaces))
        if unknown:
            raise ValueError(f"unknown candidates {unknown}; configured: {sorted(settings.search_spaces)}")
        training["candidates"] = list(candidates)
    if max_fit_rows:
        training["max_fit_rows"] = int(max_fit_rows)
        search = training["search"]
        search["max_rows"] = min(int(search["max_rows"]), int(max_fit_rows))
        search["min_rows"] = min(int(search["min_rows"]), int(search["max_rows"]))
    return training


def prepare_training(
    batch: dict[str, Any],
    validation: dict[str, Any],
    spec: DatasetSpec,
    settings: Settings,
    training: dict[str, Any],
    airflow_ids: dict[str, str],
) -> dict[str, Any]:
    """Write the deterministic splits of a validated batch and open the umbrella MLflow run."""
    ref = BatchRef.from_dict(batch)
    frame = load_batch(ref)
    split_key = hashlib.sha256(
        json.dumps(
            [ref.content_hash, training["seed"], training["holdout_fraction"], training["calibration_fraction"]]
        ).encode()
    ).hexdigest()[:16]
    folder = workspace_root() / "splits" / spec.name / split_key
    paths = {name: str(folder / f"{name}.parquet") for name in ("train", "calibration", "holdout")}
    if not all(Path(p).exists() for p in paths.values()):
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in split_indices(frame, spec, training).items():
            tmp = Path(paths[name] + ".tmp")
            frame.iloc[rows].to_parquet(tmp, index=False)
            tmp.replace(paths[name])
    lineage = {
        "modelops.dataset": spec.name,
        "modelops.data_hash": ref.content_hash,
        "modelops.batch_path": ref.path,
        "modelops.validation_id": validation["validation_id"],
        "modelops.validation_report": validation["report_dir"],
        "modelops.config_hash": settings.digest,
        "modelops.git_commit": git_commit(),
        "modelops.primary_metric": settings.evaluation["primary_metric"],
        "airflow.dag_id": airflow_ids["dag_id"],
        "airflow.run_id": airflow_ids["run_id"],
        "modelops.trigger_reason": (airflow_ids.get("reason") or "manual")[:4000],
        "modelops.extra_batches": str(len(ref.source.get("extra_batches") or [])),
    }
    parent = registry.start_parent_run(spec, lineage)
    sizes = {name: int(pd.read_parquet(p, columns=[spec.target]).shape[0]) for name, p in paths.items()}
    return {
        "dataset": spec.name,
        "splits": paths,
        "split_rows": sizes,
        "parent_run_id": parent,
        "lineage": lineage,
        "training": training,
        "candidates": training["candidates"],
    }


def run_candidate(plan: dict[str, Any], candidate: str, spec: DatasetSpec, settings: Settings) -> dict[str, Any]:
    """Train, calibrate and log one candidate; returns its run, model URI and scores."""
    from modelops.training import train_candidate

    done = registry.find_candidate(spec, plan["lineage"], candidate)
    if done is not None:  # a retry after the run was logged: same result, no retraining
        return done
    train = pd.read_parquet(plan["splits"]["train"])
    calibration = pd.read_parquet(plan["splits"]["calibration"])
    holdout = pd.read_parquet(plan["splits"]["holdout"])
    primary = settings.evaluation["primary_metric"]
    trained = train_candidate(
        candidate, spec, train, calibration, plan["training"], settings.search_spaces[candidate], primary
    )
    proba = trained.pipeline.predict_proba(holdout[spec.features])[:, 1]
    holdout_metrics = compute_metrics(target_vector(holdout, spec), proba)
    example = train[spec.features].head(5)
    return registry.log_candidate(trained, spec, plan["parent_run_id"], holdout_metrics, example, plan["lineage"])


def _champion_comparison(
    spec: DatasetSpec,
    settings: Settings,
    holdout: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    slices: dict[str, Any],
) -> dict[str, Any] | None:
    """Score the current champion on the same holdout and compare it pairwise with the challenger."""
    evaluation = settings.evaluation
    primary = evaluation["primary_metric"]
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if champion is None:
        return None
    out: dict[str, Any] = {"version": champion.version}
    try:
        model = registry.load_model(f"models:/{spec.model_name}/{champion.version}")
        champion_proba = model.predict_proba(holdout[spec.features])[:, 1]
    except (KeyError, ValueError) as exc:  # e.g. the champion needs columns this batch lacks
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["metrics"] = compute_metrics(y, champion_proba)
    out["bootstrap"] = paired_bootstrap(
        y,
        proba,
        champion_proba,
        primary,
        int(evaluation["bootstrap_resamples"]),
        float(evaluation["confidence"]),
        int(evaluation["bootstrap_max_rows"]),
        int(settings.training["seed"]),
    )
    champion_slices = slice_metrics(holdout, y, champion_proba, spec, primary)
    out["slices"] = champion_slices
    out["worse_slices"] = compare_slices(
        slices, champion_slices, primary, float(evaluation["slice_tolerance"]), int(evaluation["min_slice_rows"])
    )
    return out


def evaluate_candidates(
    plan: dict[str, Any], results: list[dict[str, Any]], spec: DatasetSpec, settings: Settings
) -> dict[str, Any]:
    """Pick the best candidate, score it against baselines and the champion, and decide."""
    from modelops.evaluation import higher_is_better

    primary = settings.evaluation["primary_metric"]
    sign = 1 if higher_is_better(primary) else -1
    ranked = sorted(results, key=lambda r: -sign * r["selection_score"])
    best = ranked[0]
    train = pd.read_parquet(plan["splits"]["train"])
    holdout = pd.read_parquet(plan["splits"]["holdout"])
    y_train, y = target_vector(train, spec), target_vector(holdout, spec)
    proba = registry.load_model(best["model_uri"]).predict_proba(holdout[spec.features])[:, 1]
    metrics = compute_metrics(y, proba)
    rule = fit_rule_baseline(train, y_train, spec.baseline_rule)
    baselines = {
        "majority": compute_metrics(y, np.full(len(y), y_train.mean())),
        "rule": compute_metrics(y, rule.predict_proba(holdout)),
    }
    slices = slice_metrics(holdout, y, proba, spec, primary)
    # What monitoring will compare production against: the holdout's inputs and scores.
    profile = build_profile(
        holdout,
        list(spec.numeric),
        list(spec.categorical),
        proba,
        metrics,
        y=y,
        quantiles=int(settings.monitoring.get("calibration_quantiles", 5)),
    )
    registry.log_profile(best["run_id"], profile)
    champion = _champion_comparison(spec, settings, holdout, y, proba, slices)
    verdict = decide_promotion(metrics, baselines, champion, settings.evaluation)
    report = {
        "dataset": spec.name,
        "primary_metric": primary,
        "best": best,
        "ranking": [
            {
                "candidate": r["candidate"],
                "selection_score": r["selection_score"],
                "run_id": r["run_id"],
                "holdout": r["holdout"],
            }
            for r in ranked
        ],
        "holdout_rows": len(y),
        "metrics": metrics,
        "baselines": baselines,
        "rule_baseline": {
            "rule": spec.baseline_rule,
            "rate_if_true": rule.rate_if_true,
            "rate_if_false": rule.rate_if_false,
        },
        "slices": slices,
        "champion": champion,
        "verdict": verdict.to_dict(),
    }
    registry.log_evaluation(plan["parent_run_id"], report)
    return report


def register_best(plan: dict[str, Any], report: dict[str, Any], spec: DatasetSpec) -> dict[str, Any]:
    """Register the winning candidate with its lineage and verdict as version tags."""
    verdict = report["verdict"]
    champion = report["champion"]
    tags = {
        **plan["lineage"],
        "modelops.candidate": report["best"]["candidate"],
        "modelops.parent_run_id": plan["parent_run_id"],
        "modelops.verdict": "promote" if verdict["promote"] else "keep_champion",
        "modelops.compared_to": f"v{champion['version']}" if champion else "none",
        f"modelops.holdout_{report['primary_metric']}": f"{report['metrics'][report['primary_metric']]:.4f}",
    }
    description = "\n".join(
        [
            f"{report['best']['candidate']} trained on batch {plan['lineage']['modelops.data_hash'][:16]}",
            *verdict["reasons"],
        ]
    )
    version = registry.register_version(
        spec.model_name, report["best"]["model_uri"], report["best"]["run_id"], tags, description
    )
    return {
        "model_name": spec.model_name,
        "version": version,
        "promote": verdict["promote"],
        "reasons": verdict["reasons"],
        "parent_run_id": plan["parent_run_id"],
    }


def apply_alias(registration: dict[str, Any], alias: str, actor: str, run_id: str) -> dict[str, Any]:
    """Set `alias` on the registered version and return what happened."""
    reason = "; ".join(registration["reasons"])
    changed = registry.set_alias(registration["model_name"], alias, registration["version"], actor, reason, run_id)
    return {**registration, "alias": alias, "alias_changed": changed}


def render_summary(
    batch: dict[str, Any],
    validation: dict[str, Any],
    plan: dict[str, Any],
    report: dict[str, Any],
    outcome: dict[str, Any],
) -> str:
    """The human summary `make run` prints: data, validation, candidates, comparison, decision."""
    primary = report["primary_metric"]
    lines = [
        f"Training run for dataset {batch['dataset']!r}",
        f"  data      batch {batch['content_hash'][:16]} ({batch['rows']} rows, {len(batch['columns'])} columns) "
        f"at {batch['path']}",
        "  splits    " + ", ".join(f"{k} {v}" for k, v in plan["split_rows"].items()),
        f"  validation passed: {validation['evaluated']} expectations, id {validation['validation_id']} "
        f"(report {validation['report_dir']}/report.html)",
        f"  candidates (ranked by calibration-split {primary}):",
    ]
    for r in report["ranking"]:
        h = r["holdout"]
        lines.append(
            f"    {r['candidate']:<24} selection {r['selection_score']:.4f}  holdout "
            + " ".join(f"{m}={h[m]:.4f}" for m in ("roc_auc", "accuracy", "f1", "log_loss", "brier"))
        )
    lines.append(
        "  baselines on the holdout: "
        + ", ".join(f"{name} {primary}={m[primary]:.4f}" for name, m in report["baselines"].items())
    )
    champion = report["champion"]
    if champion is None:
        lines.append("  champion  none yet")
    elif champion.get("error"):
        lines.append(f"  champion  v{champion['version']} could not score this holdout: {champion['error']}")
    else:
        lines.append(
            f"  champion  v{champion['version']} {primary}={champion['metrics'][primary]:.4f} on the same holdout"
        )
    lines.append(
        f"  decision  {'PROMOTE' if outcome['promote'] else 'KEEP CHAMPION'}: "
        f"{outcome['model_name']} v{outcome['version']} -> alias '{outcome['alias']}'"
    )
    lines.extend(f"    {reason}" for reason in report["verdict"]["reasons"])
    lines.append(
        f"  MLflow    {registry.tracking_uri()}: experiment modelops/{batch['dataset']}/training, "
        f"run {plan['parent_run_id']}, model {outcome['model_name']} v{outcome['version']}"
    )
    return "\n".join(lines)


def write_summary(text: str, dataset: str, run_id: str, parent_run_id: str) -> str:
    """Keep the summary in the workspace and on the MLflow run; returns its path."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
    path = workspace_root() / "runs" / dataset / f"{safe}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    (path.parent / "latest.txt").write_text(text + "\n")
    registry.client().log_dict(parent_run_id, {"summary": text.splitlines()}, "summary.json")
    return str(path)

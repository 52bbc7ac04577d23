"""The training workflow's steps, one function per DAG task; plain dicts in and out.

Steps hand each other references (paths, hashes, run ids, versions), never frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import label_summary, target_vector
from modelops.collect.sources import BatchRef, load_batch
from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.jsonsafe import json_safe
from modelops.core.rules import describe
from modelops.core.tags import Tag, holdout_tag
from modelops.evaluate.evaluation import (
    compare_slices,
    decide_promotion,
    fit_rule_baseline,
    paired_bootstrap,
    slice_metrics,
)
from modelops.evaluate.fairness import assess_fairness, compare_to_champion, paired_gaps
from modelops.evaluate.fairness import summary_lines as fairness_lines
from modelops.stats.drift import build_profile
from modelops.stats.metrics import compute_metrics
from modelops.stats.multivariate import reference_sample
from modelops.store import registry
from modelops.train.lineage import SPLIT_SCHEME, git_commit, split_key, training_hash
from modelops.train.splits import key_columns, row_keys, split_indices, unlabelled_holdout_side


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
    """Write the deterministic splits of a validated batch (labelled rows only) and open the umbrella run."""
    ref = BatchRef.from_dict(batch)
    frame = load_batch(ref)
    labels = label_summary(frame, spec)
    key = split_key(ref, spec, training)
    folder = catalog.split_dir(spec.name, key)
    names = catalog.SPLIT_PARTS
    paths = {name: str(catalog.split_file(spec.name, key, name)) for name in names}
    trained_rows = folder / registry.TRAINED_ROWS_ARTIFACT
    unlabelled_side = folder / catalog.HOLDOUT_UNLABELLED
    if not all(Path(p).exists() for p in [*paths.values(), trained_rows, unlabelled_side]):
        parts = split_indices(frame, spec, training)
        for name in names:
            catalog.write_parquet(frame.iloc[parts[name]], paths[name])
        # The rows this version learns from, by stable key: later challengers are compared to it
        # only on rows neither model saw.
        keys = row_keys(frame, spec)[np.concatenate([parts["train"], parts["calibration"]])]
        catalog.write_parquet(pd.DataFrame({"key": np.unique(keys)}), trained_rows)
        # Rows without an outcome on the holdout side: never evaluated, but production scores rows
        # like them, so they belong in the drift reference.
        catalog.write_parquet(frame.iloc[unlabelled_holdout_side(frame, spec, training)], unlabelled_side)
    lineage = {
        Tag.DATASET: spec.name,
        Tag.DATA_HASH: ref.content_hash,
        Tag.BATCH_PATH: ref.path,
        Tag.VALIDATION_ID: validation["validation_id"],
        Tag.VALIDATION_REPORT: validation["report_dir"],
        Tag.CONFIG_HASH: settings.digest_for(spec.name),
        Tag.GIT_COMMIT: git_commit(),
        Tag.PRIMARY_METRIC: settings.evaluation["primary_metric"],
        Tag.AIRFLOW_DAG_ID: airflow_ids["dag_id"],
        Tag.AIRFLOW_RUN_ID: airflow_ids["run_id"],
        Tag.TRIGGER_REASON: (airflow_ids.get("reason") or "manual")[:4000],
        Tag.EXTRA_BATCHES: str(len(ref.source.get("extra_batches") or [])),
        Tag.ROWS_LABELLED: str(labels["labelled"]),
        Tag.ROWS_UNLABELLED: str(labels["unlabelled"]),
        Tag.ROW_FILTER: describe(spec.row_filter)[:4000],
        Tag.SPLIT_SCHEME: SPLIT_SCHEME,
        Tag.SPLIT_KEY: key,  # where the splits are (a model card finds, or rebuilds, its holdout)
        # what a row's key is made of: a later comparison must key the holdout the same way
        Tag.ROW_KEY_COLUMNS: json.dumps(key_columns(spec, frame))[:5000],
        # run-time overrides (candidates, max_fit_rows) shape the model as much as the file does
        Tag.TRAINING_HASH: training_hash(training),
    }
    parent = registry.start_parent_run(spec, lineage)
    registry.log_resolved_config(parent, settings.resolved(spec.name))
    registry.log_training_options(parent, training)  # with the run's overrides: what a rebuild trains with
    registry.log_artifact(parent, str(trained_rows))
    sizes = {name: int(pd.read_parquet(p, columns=[spec.target]).shape[0]) for name, p in paths.items()}
    return {
        "dataset": spec.name,
        "splits": paths,
        "holdout_unlabelled": str(unlabelled_side),
        "split_rows": sizes,
        "labels": labels,
        "parent_run_id": parent,
        "lineage": lineage,
        "training": training,
        "candidates": training["candidates"],
    }


def run_candidate(plan: dict[str, Any], candidate: str, spec: DatasetSpec, settings: Settings) -> dict[str, Any]:
    """Train, calibrate and log one candidate; returns its run, model URI and scores."""
    from modelops.train.training import train_candidate

    done = registry.find_candidate(spec, plan["lineage"], candidate)
    if done is not None:  # a retry after the run was logged: same result, no retraining
        return done
    train = pd.read_parquet(plan["splits"]["train"])
    calibration = pd.read_parquet(plan["splits"]["calibration"])
    holdout = pd.read_parquet(plan["splits"]["holdout"])
    primary = settings.evaluation["primary_metric"]
    threshold = settings.decision_threshold(spec.name)
    trained = train_candidate(
        candidate,
        spec,
        train,
        calibration,
        plan["training"],
        settings.search_spaces[candidate],
        primary,
        threshold=threshold,
    )
    proba = trained.pipeline.predict_proba(holdout[spec.features])[:, 1]
    holdout_metrics = compute_metrics(target_vector(holdout, spec), proba, threshold)
    example = train[spec.features].head(5)
    return registry.log_candidate(trained, spec, plan["parent_run_id"], holdout_metrics, example, plan["lineage"])


def _champion_comparison(
    spec: DatasetSpec,
    settings: Settings,
    holdout: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
) -> dict[str, Any] | None:
    """Score the champion and compare it pairwise with the challenger on rows neither model trained on.

    The champion's training rows come from its recorded lineage (the row keys its run logged); a
    holdout row the champion learned from would bias the comparison toward it, so it is left out,
    and the comparison says how many rows remain. If the champion's rows cannot be read, or too few
    remain, the comparison is refused (and the champion stays).
    """
    evaluation = settings.evaluation
    primary = evaluation["primary_metric"]
    threshold = settings.decision_threshold(spec.name)
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if champion is None:
        return None
    out: dict[str, Any] = {"version": str(champion.version), "holdout_rows": len(y)}
    parent = (champion.tags or {}).get(Tag.PARENT_RUN_ID)
    seen = registry.load_trained_keys(parent) if parent else None
    if seen is None:
        out["error"] = (
            f"the rows champion v{champion.version} trained on are not on record (run {parent}), so a fair "
            "comparison cannot be guaranteed"
        )
        return out
    tags = champion.tags or {}
    columns = json.loads(tags.get(Tag.ROW_KEY_COLUMNS) or "null")
    if tags.get(Tag.SPLIT_SCHEME) != SPLIT_SCHEME or not columns or not set(columns) <= set(holdout.columns):
        out["error"] = (
            f"champion v{champion.version} keyed its training rows differently (scheme "
            f"{tags.get(Tag.SPLIT_SCHEME)!r}, columns {columns}); this holdout cannot be matched to them, "
            "so a fair comparison cannot be guaranteed"
        )
        return out
    # keyed the champion's way, whatever this spec's key is now (e.g. a feature added since)
    fresh = ~np.isin(row_keys(holdout, spec, columns), seen)
    out["comparison_rows"] = int(fresh.sum())
    out["excluded_rows"] = int((~fresh).sum())
    needed = int(evaluation.get("min_comparison_rows", 100))
    if fresh.sum() < needed or len(np.unique(y[fresh])) < 2:
        out["error"] = (
            f"only {int(fresh.sum())} holdout rows are new to both models (need {needed} with both classes); "
            f"{out['excluded_rows']} were in champion v{champion.version}'s training data"
        )
        return out
    rows, y, proba = holdout.loc[fresh], y[fresh], proba[fresh]
    try:
        model = registry.load_model(f"models:/{spec.model_name}/{champion.version}")
        champion_proba = model.predict_proba(rows[spec.features])[:, 1]
    except (KeyError, ValueError) as exc:  # e.g. the champion needs columns this batch lacks
        out["error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["metrics"] = compute_metrics(y, champion_proba, threshold)
    out["challenger_metrics"] = compute_metrics(y, proba, threshold)
    out["bootstrap"] = paired_bootstrap(
        y,
        proba,
        champion_proba,
        primary,
        int(evaluation["bootstrap_resamples"]),
        float(evaluation["confidence"]),
        int(evaluation["bootstrap_max_rows"]),
        int(settings.training["seed"]),
        threshold,
    )
    challenger_slices = slice_metrics(rows, y, proba, spec, primary, threshold)
    champion_slices = slice_metrics(rows, y, champion_proba, spec, primary, threshold)
    out["slices"] = champion_slices
    out["worse_slices"] = compare_slices(
        challenger_slices,
        champion_slices,
        primary,
        float(evaluation["slice_tolerance"]),
        int(evaluation["min_slice_rows"]),
    )
    # both models' parity gaps on these same rows: the fairness gate refuses a worsening beyond tolerance
    out["fairness"] = paired_gaps(rows, y, proba, champion_proba, spec, settings.fairness_for(spec.name), threshold)
    return out


def evaluate_candidates(
    plan: dict[str, Any], results: list[dict[str, Any]], spec: DatasetSpec, settings: Settings
) -> dict[str, Any]:
    """Pick the best candidate, score it against baselines and the champion, and decide."""
    from modelops.stats.metrics import higher_is_better

    primary = settings.evaluation["primary_metric"]
    sign = 1 if higher_is_better(primary) else -1
    ranked = sorted(results, key=lambda r: -sign * r["selection_score"])
    best = ranked[0]
    train = pd.read_parquet(plan["splits"]["train"])
    holdout = pd.read_parquet(plan["splits"]["holdout"])
    y_train, y = target_vector(train, spec), target_vector(holdout, spec)
    model = registry.load_model(best["model_uri"])
    proba = model.predict_proba(holdout[spec.features])[:, 1]
    threshold = settings.decision_threshold(spec.name)
    metrics = compute_metrics(y, proba, threshold)
    rule = fit_rule_baseline(train, y_train, spec.baseline_rule)
    baselines = {
        "majority": compute_metrics(y, np.full(len(y), y_train.mean()), threshold),
        "rule": compute_metrics(y, rule.predict_proba(holdout), threshold),
    }
    slices = slice_metrics(holdout, y, proba, spec, primary, threshold)
    # What monitoring compares production against: the inputs and scores of every holdout-side
    # row (unlabelled ones too: production scores them all); calibration from the labelled ones.
    reference, scores, y_all = holdout, proba, y
    side = plan.get("holdout_unlabelled")
    unlabelled = pd.read_parquet(side) if side and Path(side).exists() else holdout.iloc[:0]
    if len(unlabelled):
        reference = pd.concat([holdout, unlabelled], ignore_index=True)
        scores = np.concatenate([proba, model.predict_proba(unlabelled[spec.features])[:, 1]])
        y_all = np.concatenate([y, np.full(len(unlabelled), -1)])  # no outcome: masked out of calibration
    profile = build_profile(
        reference,
        list(spec.numeric),
        list(spec.categorical),
        scores,
        metrics,
        y=y_all,
        quantiles=int(settings.monitoring.get("calibration_quantiles", 5)),
        slices=json_safe(slices),
        labelled=np.arange(len(reference)) < len(holdout),
        threshold=threshold,
    )
    profile["unlabelled_rows"] = len(unlabelled)
    registry.log_profile(best["run_id"], profile)
    # The registered model's own holdout scores by row key: a rebuild of this version must match them.
    registry.log_holdout_predictions(best["run_id"], row_keys(holdout, spec), proba)
    # A bounded sample of the same reference rows (features only: no id, no PII) for the multivariate
    # drift test, which needs rows, not a summary.
    options = settings.monitoring["domain_classifier"]
    sample = reference_sample(reference, spec.features, int(options["reference_rows"]), int(settings.training["seed"]))
    folder = Path(plan["splits"]["holdout"]).parent
    registry.log_reference_sample(
        best["run_id"], str(catalog.write_parquet(sample, folder / registry.REFERENCE_SAMPLE_ARTIFACT))
    )
    champion = _champion_comparison(spec, settings, holdout, y, proba)
    fairness = assess_fairness(holdout, y, proba, spec, settings.fairness_for(spec.name), threshold)
    if champion and champion.get("fairness"):
        fairness = compare_to_champion(fairness, champion["fairness"], champion["version"])
    verdict = decide_promotion(metrics, baselines, champion, settings.evaluation, fairness)
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
        "threshold": threshold,
        "labels": plan.get("labels", {}),
        "limitations": spec.limitations,
        "metrics": metrics,
        "baselines": baselines,
        "rule_baseline": {
            "rule": spec.baseline_rule,
            "rate_if_true": rule.rate_if_true,
            "rate_if_false": rule.rate_if_false,
        },
        "slices": slices,
        "champion": champion,
        "fairness": fairness,
        "verdict": verdict.to_dict(),
    }
    report = json_safe(report)  # a one-class slice has no AUC: NaN becomes null, not an XCom error
    registry.log_evaluation(plan["parent_run_id"], report)
    return report


def register_best(plan: dict[str, Any], report: dict[str, Any], spec: DatasetSpec) -> dict[str, Any]:
    """Register the winning candidate with its lineage and verdict as version tags."""
    verdict = report["verdict"]
    champion = report["champion"]
    tags = {
        **plan["lineage"],
        Tag.CANDIDATE: report["best"]["candidate"],
        Tag.PARENT_RUN_ID: plan["parent_run_id"],
        Tag.VERDICT: "promote" if verdict["promote"] else "keep_champion",
        Tag.COMPARED_TO: f"v{champion['version']}" if champion else "none",
        holdout_tag(report["primary_metric"]): f"{report['metrics'][report['primary_metric']]:.4f}",
    }
    description = "\n".join(
        [
            f"{report['best']['candidate']} trained on batch {plan['lineage'][Tag.DATA_HASH][:16]}",
            *verdict["reasons"],
        ]
    )
    same = registry.find_identical_version(
        spec.model_name,
        {k: plan["lineage"][k] for k in (Tag.DATA_HASH, Tag.CONFIG_HASH, Tag.TRAINING_HASH)},
    )
    if same is not None and same["run_id"] != report["best"]["run_id"]:
        why = (
            f"not registered again: v{same['version']} was trained on the same data "
            f"({plan['lineage'][Tag.DATA_HASH][:16]}) with the same configuration and training options"
        )
        return {
            "model_name": spec.model_name,
            "version": same["version"],
            "duplicate_of": same["version"],
            "promote": False,
            "reasons": [why],
            "parent_run_id": plan["parent_run_id"],
        }
    # The rule baseline's rates go with the version: batch scoring falls back to them row by row.
    registry.log_baseline(report["best"]["run_id"], report["rule_baseline"])
    version = registry.register_version(
        spec.model_name, report["best"]["model_uri"], report["best"]["run_id"], tags, description
    )
    return {
        "model_name": spec.model_name,
        "version": version,
        "duplicate_of": None,
        "promote": verdict["promote"],
        "reasons": verdict["reasons"],
        "parent_run_id": plan["parent_run_id"],
    }


def apply_alias(
    registration: dict[str, Any],
    alias: str,
    actor: str,
    run_id: str,
    approver: str | None = None,
    approved_at: Any = None,
    comment: str | None = None,
) -> dict[str, Any]:
    """Set `alias` on the registered version and return what happened (nothing for a duplicate).

    `approver`/`approved_at`/`comment`: the human approval asked before a promotion, when the
    configuration requires one (promotion.require_approval).
    """
    if registration.get("duplicate_of"):
        return {**registration, "alias": None, "alias_changed": False}
    reason = "; ".join(registration["reasons"])
    if comment:
        reason += f"; approver: {comment}"
    changed = registry.set_alias(
        registration["model_name"],
        alias,
        registration["version"],
        actor,
        reason,
        run_id,
        approver=approver,
        approved_at=approved_at,
        action="training" if approver is None else "training (approved)",
    )
    return {**registration, "alias": alias, "alias_changed": changed, "approver": approver}


def refused_outcome(registration: dict[str, Any], approver: str | None) -> dict[str, Any]:
    """What a training run reports when its promotion was refused (or not answered): nothing moved."""
    return {**registration, "alias": None, "alias_changed": False, "approver": approver, "refused": True}


def _slice_lines(slices: dict[str, Any], primary: str, min_rows: int) -> list[str]:
    """Per protected column, one line of its slices: rows, positive rate and the metric."""
    lines = []
    for column, groups in slices.items():
        parts = []
        for label, stats in groups.items():
            flag = "" if stats["rows"] >= min_rows else " (too few to gate)"
            value = stats[primary]
            shown = "n/a" if value is None or value != value else f"{value:.3f}"  # one class only: no AUC
            parts.append(f"{label}: n={stats['rows']} {primary}={shown}{flag}")
        lines.append(f"    {column:<14} " + "; ".join(parts))
    return lines


def render_summary(
    batch: dict[str, Any],
    validation: dict[str, Any],
    plan: dict[str, Any],
    report: dict[str, Any],
    outcome: dict[str, Any],
    min_slice_rows: int = 100,
    card: dict[str, Any] | None = None,
) -> str:
    """The human summary `make run` prints: data, labels, validation, candidates, slices, comparison, decision."""
    primary = report["primary_metric"]
    labels = plan.get("labels") or {}
    lines = [
        f"Training run for dataset {batch['dataset']!r}",
        f"  data      batch {batch['content_hash'][:16]} ({batch['rows']} rows, {len(batch['columns'])} columns) "
        f"at {batch['path']}",
    ]
    row_filter = (batch.get("join_report") or {}).get("filter")
    if row_filter:
        lines.append(
            f"  filter    {row_filter['rule']}: kept {row_filter['rows_after']} of {row_filter['rows_before']} rows"
        )
    if labels:
        lines.append(
            f"  labels    {labels['labelled']} labelled ({labels['positive']} positive, {labels['negative']} "
            f"negative), {labels['unlabelled']} unlabelled ({labels['missing_target']} blank, other values "
            f"{labels['other_values'] or 'none'}): never trained on or evaluated"
        )
    lines += [
        "  splits    " + ", ".join(f"{k} {v}" for k, v in plan["split_rows"].items()),
        f"  validation passed: {validation.get('expectations', {}).get('evaluated_expectations')} GX expectations "
        f"and {validation.get('own_checks')} checks of our own, id {validation['validation_id']} "
        f"(report {validation['report_dir']}/{catalog.REPORT_HTML})",
        *(f"  warning   {w}" for w in validation.get("warnings") or []),
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
    if report.get("slices"):
        lines.append("  slices of the best candidate on the holdout:")
        lines += _slice_lines(report["slices"], primary, min_slice_rows)
    fairness = report.get("fairness")
    if fairness and fairness["columns"]:
        lines.append(
            f"  fairness  of the best candidate on the holdout (decision = score >= {fairness['threshold']}; "
            f"groups under {fairness['min_group_rows']} rows reported, not gated): "
            + ("passed" if fairness["passed"] else "BREACHED")
        )
        lines += fairness_lines(fairness)
        lines.extend(f"    breach: {b}" for b in fairness["breaches"])
    champion = report["champion"]
    if champion is None:
        lines.append("  champion  none yet")
    elif champion.get("error"):
        lines.append(f"  champion  v{champion['version']} could not be compared: {champion['error']}")
    else:
        lines.append(
            f"  champion  v{champion['version']} {primary}={champion['metrics'][primary]:.4f} vs challenger "
            f"{champion['challenger_metrics'][primary]:.4f} on {champion['comparison_rows']} holdout rows neither "
            f"model trained on ({champion['excluded_rows']} left out: in the champion's training data)"
        )
    if outcome.get("duplicate_of"):
        lines.append(f"  decision  NOTHING REGISTERED: {outcome['reasons'][0]}")
    elif outcome.get("refused"):
        who = outcome.get("approver") or "nobody before the timeout"
        lines.append(
            f"  decision  PROMOTION REFUSED by {who}: {outcome['model_name']} v{outcome['version']} registered, "
            "no alias moved"
        )
        lines.extend(f"    {reason}" for reason in report["verdict"]["reasons"])
    else:
        lines.append(
            f"  decision  {'PROMOTE' if outcome['promote'] else 'KEEP CHAMPION'}: "
            f"{outcome['model_name']} v{outcome['version']} -> alias '{outcome['alias']}'"
        )
        lines.extend(f"    {reason}" for reason in report["verdict"]["reasons"])
    if outcome.get("approver"):
        lines.append(f"  approval  approved by {outcome['approver']}")
    lines.append(f"  serving   {registry.describe_serving(outcome['model_name'])}")
    if card:
        lines.append(
            f"  card      {card['card_html']} ({card['primary_metric']} {card['value']:.4f}, "
            f"CI {card['ci_low']:.4f} .. {card['ci_high']:.4f}; errs most on {card['worst_segment'] or 'no segment'}; "
            f"fairness {card['fairness']})"
        )
    for note in report.get("limitations") or []:
        lines.append(f"  note      {note}")
    lines.append(
        f"  MLflow    {registry.tracking_uri()}: experiment modelops/{batch['dataset']}/training, "
        f"run {plan['parent_run_id']}, model {outcome['model_name']} v{outcome['version']}"
    )
    return "\n".join(lines)


def _decision_line(outcome: dict[str, Any]) -> str:
    """The decision in one Markdown line: promoted, kept as challenger, refused, or nothing registered."""
    if outcome.get("duplicate_of"):
        return "**NOTHING REGISTERED**: the same data, config and options as an existing version"
    version = f"`{outcome['model_name']}` v{outcome['version']}"
    if outcome.get("refused"):
        who = outcome.get("approver") or "nobody before the timeout"
        return f"**PROMOTION REFUSED** by {who}: {version}, no alias moved"
    verb = "PROMOTE" if outcome["promote"] else "KEEP CHAMPION"
    return f"**{verb}**: {version} -> alias `{outcome['alias']}`"


def _metric_line(report: dict[str, Any]) -> str:
    """The primary metric of the new model against the champion's, on the rows neither trained on."""
    primary, champion = report["primary_metric"], report["champion"]
    if champion is None:
        best = report["ranking"][0]["holdout"][primary]
        return f"{primary} **{best:.4f}** on the holdout; no champion yet"
    if champion.get("error"):
        return f"champion v{champion['version']} could not be compared: {champion['error']}"
    return (
        f"{primary} **{champion['challenger_metrics'][primary]:.4f}** vs champion v{champion['version']} "
        f"**{champion['metrics'][primary]:.4f}** on {champion['comparison_rows']} holdout rows neither model "
        "trained on"
    )


RUN_NOTE_LIMIT = 1000


def render_run_note(report: dict[str, Any], outcome: dict[str, Any], card: dict[str, Any] | None) -> str:
    """The training run's short Markdown note for the Airflow UI: decision, primary metric vs champion, card
    (linked through the Model monitor, which serves the workspace's cards)."""
    from modelops.core.handoffs import MONITOR_URL_PREFIX

    lines = [_decision_line(outcome), "", f"- {_metric_line(report)}"]
    lines += [f"- {reason}" for reason in report["verdict"]["reasons"][:3]]
    if card:
        name = catalog.served_name(card["card_html"])
        shown = f"[model card]({MONITOR_URL_PREFIX}/files/{name})" if name else "model card"
        lines.append(f"- {shown}: `{card['card_html']}`")
    note = "\n".join(lines)
    # Airflow keeps a run's note in 1,000 characters (a longer one fails to save on PostgreSQL)
    return note if len(note) <= RUN_NOTE_LIMIT else note[: RUN_NOTE_LIMIT - 1] + "…"


def write_summary(text: str, dataset: str, run_id: str, parent_run_id: str) -> str:
    """Keep the summary in the workspace and on the MLflow run; returns its path."""
    path = catalog.write_text(catalog.run_summary(dataset, run_id), text + "\n")
    catalog.write_text(catalog.latest_summary(dataset), text + "\n")
    registry.client().log_dict(parent_run_id, {"summary": text.splitlines()}, "summary.json")
    return str(path)

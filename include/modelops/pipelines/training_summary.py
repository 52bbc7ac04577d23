"""The training run's summary (what `make run` prints and the MLflow run keeps) and its note in the Airflow UI."""

from __future__ import annotations

from typing import Any

from modelops.collect.sources import BatchRef
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.evaluate.fairness import summary_lines as fairness_lines
from modelops.evaluate.feature_value import useless_summary
from modelops.pipelines.training_records import EvaluationReport, Outcome, TrainingPlan
from modelops.store import alias_log, tracking
from modelops.validate.validation import ValidationReport


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


def _data_lines(batch: BatchRef, plan: TrainingPlan) -> list[str]:
    """The batch, its row filter, its labels and the splits."""
    lines = [
        f"  data      batch {batch.content_hash[:16]} ({batch.rows} rows, {len(batch.columns)} columns) "
        f"at {batch.path}",
    ]
    row_filter = (batch.join_report or {}).get("filter")
    if row_filter:
        lines.append(
            f"  filter    {row_filter['rule']}: kept {row_filter['rows_after']} of {row_filter['rows_before']} rows"
        )
    labels = plan.labels
    if labels:
        lines.append(
            f"  labels    {labels['labelled']} labelled ({labels['positive']} positive, {labels['negative']} "
            f"negative), {labels['unlabelled']} unlabelled ({labels['missing_target']} blank, other values "
            f"{labels['other_values'] or 'none'}): never trained on or evaluated"
        )
    lines.append("  splits    " + ", ".join(f"{k} {v}" for k, v in plan.split_rows.items()))
    if plan.lineage.get(Tag.SPEC_REVIEWED) == "false":
        lines.append(f"  WARNING   spec not reviewed (tag {Tag.SPEC_REVIEWED}=false): {plan.lineage[Tag.SPEC_REVIEW]}")
    return lines


def _validation_lines(validation: ValidationReport) -> list[str]:
    """The validation's counts, id and report, and its warnings."""
    return [
        f"  validation passed: {validation.expectations.get('evaluated_expectations')} GX expectations "
        f"and {validation.own_checks} checks of our own, id {validation.validation_id} "
        f"(report {validation.report_dir}/{catalog.REPORT_HTML})",
        *(f"  warning   {w}" for w in validation.warnings or []),
    ]


def _figure(value: float | None) -> str:
    """A metric to four places; undefined (a candidate with NaN scores, refused by the evaluation) as n/a."""
    return "n/a" if value is None or value != value else f"{value:.4f}"


def _candidate_lines(report: EvaluationReport, min_slice_rows: int) -> list[str]:
    """The ranked candidates, the baselines and the best candidate's slices."""
    primary = report.primary_metric
    lines = [f"  candidates (ranked by calibration-split {primary}):"]
    for r in report.ranking:
        h = r.holdout
        lines.append(
            f"    {r.candidate:<24} selection {_figure(r.selection_score)}  holdout "
            + " ".join(f"{m}={_figure(h.get(m))}" for m in ("roc_auc", "accuracy", "f1", "log_loss", "brier"))
        )
    lines.append(
        "  baselines on the holdout: "
        + ", ".join(f"{name} {primary}={m[primary]:.4f}" for name, m in report.baselines.items())
    )
    for weighted in (report.weighted_metrics, report.electorate_metrics):
        if not weighted:
            continue
        judged = "the gate judges these" if weighted["gated"] else "reported beside; the gate judges unweighted"
        lines.append(
            f"  weighted by {weighted['source']} ({judged}, worth {weighted['effective_rows']:.0f} rows): "
            + " ".join(f"{m}={weighted['metrics'][m]:.4f}" for m in ("roc_auc", "accuracy", "f1", "log_loss", "brier"))
            + "; baselines "
            + ", ".join(f"{name} {primary}={m[primary]:.4f}" for name, m in weighted["baselines"].items())
        )
    if report.slices:
        lines.append("  slices of the best candidate on the holdout:")
        lines += _slice_lines(report.slices, primary, min_slice_rows)
    return lines


def _fairness_lines(fairness: dict[str, Any] | None) -> list[str]:
    """The fairness gate's verdict, its groups and its breaches (nothing without protected columns)."""
    if not fairness or not fairness["columns"]:
        return []
    return [
        f"  fairness  of the best candidate on the holdout (decision = score >= {fairness['threshold']}; "
        f"groups under {fairness['min_group_rows']} rows reported, not gated): "
        + ("passed" if fairness["passed"] else "BREACHED"),
        *fairness_lines(fairness),
        *(f"    breach: {b}" for b in fairness["breaches"]),
    ]


def _feature_value_lines(report: EvaluationReport) -> list[str]:
    """A warning naming the features the drop-one check found useless (nothing when every one earns its place)."""
    found = useless_summary(report.feature_value)
    return [f"  warning   {found}"] if found else []


def _champion_line(report: EvaluationReport) -> str:
    """The champion comparison in one line: none yet, refused, or both models' metric on the fair rows."""
    primary, champion = report.primary_metric, report.champion
    if champion is None:
        return "  champion  none yet"
    if champion.get("error"):
        return f"  champion  v{champion['version']} could not be compared: {champion['error']}"
    return (
        f"  champion  v{champion['version']} {primary}={champion['metrics'][primary]:.4f} vs challenger "
        f"{champion['challenger_metrics'][primary]:.4f} on {champion['comparison_rows']} holdout rows neither "
        f"model trained on ({champion['excluded_rows']} left out: in the champion's training data)"
    )


def _outcome_lines(report: EvaluationReport, outcome: Outcome) -> list[str]:
    """The decision (nothing registered, refused, promoted or kept), its reasons and who approved."""
    if outcome.duplicate_of:
        lines = [f"  decision  NOTHING REGISTERED: {outcome.reasons[0]}"]
    elif outcome.refused:
        who = outcome.approver or "nobody before the timeout"
        lines = [
            f"  decision  PROMOTION REFUSED by {who}: {outcome.model_name} v{outcome.version} registered, "
            "no alias moved",
            *(f"    {reason}" for reason in report.reasons),
        ]
    else:
        lines = [
            f"  decision  {'PROMOTE' if outcome.promote else 'KEEP CHAMPION'}: "
            f"{outcome.model_name} v{outcome.version} -> alias '{outcome.alias}'",
            *(f"    {reason}" for reason in report.reasons),
        ]
    if outcome.approver:
        lines.append(f"  approval  approved by {outcome.approver}")
    return lines


def _card_line(card: dict[str, Any]) -> str:
    """The model card: where, the headline metric with its interval, the worst segment, fairness."""
    return (
        f"  card      {card['card_html']} ({card['primary_metric']} {card['value']:.4f}, "
        f"CI {card['ci_low']:.4f} .. {card['ci_high']:.4f}; errs most on {card['worst_segment'] or 'no segment'}; "
        f"fairness {card['fairness']})"
    )


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
    ref, steps = BatchRef.from_xcom(batch), TrainingPlan.from_xcom(plan)
    evaluated, done = EvaluationReport.from_xcom(report), Outcome.from_xcom(outcome)
    lines = [
        f"Training run for dataset {ref.dataset!r}",
        *_data_lines(ref, steps),
        *_validation_lines(ValidationReport.from_xcom(validation)),
        *_candidate_lines(evaluated, min_slice_rows),
        *_fairness_lines(evaluated.fairness),
        *_feature_value_lines(evaluated),
        _champion_line(evaluated),
        *_outcome_lines(evaluated, done),
        f"  serving   {alias_log.describe_serving(done.model_name)}",
    ]
    if card:
        lines.append(_card_line(card))
    lines += [f"  note      {note}" for note in evaluated.limitations]
    lines.append(
        f"  MLflow    {tracking.tracking_uri()}: experiment modelops/{ref.dataset}/training, "
        f"run {steps.parent_run_id}, model {done.model_name} v{done.version}"
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
    tracking.client().log_dict(parent_run_id, {"summary": text.splitlines()}, "summary.json")
    return str(path)

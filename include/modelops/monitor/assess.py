"""Measuring one production window (a snapshot the champion scored) from what was served.

A window is a snapshot whose scoring output the `champion` alias committed (`windows.list_windows`).
`assess_window` reads the served predictions and the inputs they were made from (never scoring
again), measures what every signal reads against the reference profile of the version that
actually served (who served the rows, the canary rows, data quality, the degenerate-window check,
the labelled result of an earlier window whose labels arrived), then every registered signal
(`modelops.monitor.signals`) in turn. It names the signals that breached; `decision.decide_action`
turns them into an action. The step a DAG task runs (measure, decide, report, log to MLflow,
record) is `modelops.pipelines.monitoring_flow`; the policy is docs/monitoring.md.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from modelops.collect import windows
from modelops.config.settings import DatasetSpec, Settings
from modelops.monitor import signals
from modelops.monitor.decision import champion_tenure
from modelops.monitor.evidence import (
    canary_rows,
    degenerate_of,
    measurable_frame,
    reference_of,
    served_summary,
    validate_window,
)
from modelops.monitor.labelled import LabelledJudgement, judge_labels
from modelops.monitor.thresholds import window_limits
from modelops.store import registry

DEGENERATE_STATUS = "not measured: the window failed data quality (degenerate window)"


def assess_window(
    spec: DatasetSpec,
    settings: Settings,
    window_id: str,
    thresholds: dict[str, Any],
    evaluated_labels: set[str],
    dry_run: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Measure one scored window from what was served; returns (report, plot data), no decision, nothing recorded.

    Nothing is scored again: prediction drift and the estimate read the served version's own scores
    (`windows.model_rows`), judged against that version's reference profile; the fallback share is
    a figure of its own; canary rows are reported apart. report["signals"] names what breached (see
    `signals.names()`); report["reasons"] says it in words. The validation report goes to the window's
    report folder (a dry run's to its own). A degenerate window is no evidence about anything: only
    the signals measured on one (`Signal.on_degenerate`) are.
    """
    window = windows.load_scored_window(spec, window_id)
    profile = reference_of(spec, window.served_version)
    decision = settings.decision_threshold(spec.name)  # the served decision: score >= it
    report = _header(spec, window, thresholds, decision)
    report["served"] = served_summary(window, thresholds)
    report["canary"] = canary_rows(spec, window, thresholds, decision)
    report["quality"], report["degenerate"] = _quality(spec, window, profile, thresholds, dry_run)
    plot: dict[str, Any] = {"frame": window.inputs, "profile": profile, "scores": None}
    ctx = signals.WindowContext(
        spec=spec,
        settings=settings,
        window=window,
        profile=profile,
        thresholds=thresholds,
        decision_threshold=decision,
        served=report["served"],
        quality=report["quality"],
        degenerate=report["degenerate"],
        frame=window.inputs,
        not_measured={},
        scores=None,
        nonfinite_scores=0,
        labelled=None,
    )
    degenerate = bool(report["degenerate"]["degenerate"])
    judgement = LabelledJudgement(None, DEGENERATE_STATUS)
    if not degenerate:
        invalid = int((window.predictions["reason"].astype(str) == "invalid_score").sum())
        scores = window.model_scores()  # the served version's own scores: no baseline score among them
        report["nonfinite_scores"], report["model_scored_rows"] = invalid, len(scores)
        measured, left_out = measurable_frame(window.inputs, spec)
        plot.update(frame=measured, scores=scores)  # the plots read what the tests measured
        judgement = _labels(spec, settings, ctx, evaluated_labels)
        ctx = dataclasses.replace(
            ctx,
            frame=measured,
            not_measured=left_out,
            scores=scores,
            nonfinite_scores=invalid,
            labelled=judgement.result,
        )
    breached, reasons = measure_signals(ctx, report, degenerate)
    report["labelled"], report["labelled_status"] = judgement.result, judgement.status
    report["signals"] = breached
    report["breach"] = bool(breached)
    report["reasons"] = reasons
    return report, plot


def measure_signals(
    ctx: signals.WindowContext, report: dict[str, Any], degenerate: bool
) -> tuple[list[str], list[str]]:
    """Every registered signal on the window, its section written to `report`; (breached names in report order,
    reasons in measuring order). On a degenerate window a signal not measured on one leaves its section None."""
    breached, reasons = set(), []
    for signal in signals.registered():
        if degenerate and not signal.on_degenerate:
            if signal.section:
                report[signal.section] = None
            continue
        result = signal.measure(ctx)
        if signal.section:
            report[signal.section] = result.section
        if result.breach:
            breached.add(signal.name)
        reasons.extend(result.reasons)
    return [name for name in signals.names() if name in breached], reasons


def _header(
    spec: DatasetSpec, window: windows.ScoredWindow, thresholds: dict[str, Any], decision: float
) -> dict[str, Any]:
    """The report's opening: what was judged, by which thresholds, and the champion now."""
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    return {
        "dataset": spec.name,
        "window_id": window.snapshot,
        "rows": len(window.inputs),
        "model_name": spec.model_name,
        "model_version": window.served_version,
        "champion_version": str(champion.version) if champion is not None else None,
        "thresholds": thresholds,
        "decision_threshold": decision,
        "limitations": spec.limitations,
        "champion_tenure": champion_tenure(spec.model_name, champion),
    }


def _quality(
    spec: DatasetSpec, window: windows.ScoredWindow, profile: dict[str, Any], t: dict[str, Any], dry_run: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The data-quality suite on the window with its own limits, and the degenerate-window check; the suite's
    verdict is `suite_ok`, `ok` also needs a window that is no copy."""
    limits = window_limits(spec, profile, t)
    quality = validate_window(window.inputs, spec, window.snapshot, dry_run, limits)
    quality["limits"] = {"min_rows": limits.min_rows, "max_rows": limits.max_rows, "max_null": limits.max_null}
    degenerate = degenerate_of(spec, window, t)
    quality["suite_ok"] = quality["ok"]
    quality["ok"] = bool(quality["suite_ok"] and not degenerate["degenerate"])
    return quality, degenerate


def _labels(
    spec: DatasetSpec, settings: Settings, ctx: signals.WindowContext, evaluated: set[str]
) -> LabelledJudgement:
    """The labelled judgement of a window that is no copy (`labelled.judge_labels`)."""
    return judge_labels(
        spec,
        ctx.window,
        ctx.profile,
        ctx.thresholds,
        evaluated,
        bool(ctx.quality["ok"]),
        settings.evaluation.floors or {},
        settings.evaluation.primary_metric,
        ctx.decision_threshold,
    )

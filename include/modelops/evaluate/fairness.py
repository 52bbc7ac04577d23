"""Fairness gate: per protected group rates (fairlearn's MetricFrame) and the parity gaps promotion is judged on.

Every protected column of the spec is assessed, feature or not (e.g. race in a voter file). Decisions
are `score >= threshold`, the dataset's one decision threshold (`scoring.threshold`: the served decision).
Per group: rows, selection rate, TPR, FPR, precision and the calibration gap (mean score minus the
observed positive rate). The demographic-parity and equalized-odds differences (fairlearn's, largest
gap between groups) use only the gated groups: at least `min_group_rows` rows and a known value.
Smaller groups, rows whose protected value is missing and, for binned columns, values outside the
bins are reported and never gated; the column's note says which.

The report (a JSON-safe dict, rendered by the summary and the model card):

    {"threshold", "min_group_rows", "limits": {"demographic_parity_difference", "equalized_odds_difference",
     "champion_tolerance"},
     "columns": {column: {"groups": {label: {"rows", "selection_rate", "tpr", "fpr", "precision",
                                             "calibration_gap", "gated"}},
                          "demographic_parity_difference", "equalized_odds_difference", "small_groups", "note"}},
     "passed", "breaches", "champion": {column: {"demographic_parity_difference",
                                                 "equalized_odds_difference"}} | None}

Undefined values are None (a TPR without positives, a precision without positive decisions).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.models import DatasetFairness
from modelops.config.settings import DatasetSpec
from modelops.stats.drift import slice_labels

MISSING_GROUP = "(missing)"  # rows whose protected value is missing (null or blank): reported, never gated
OUTSIDE_BINS = "outside bins"  # drift.slice_labels' label for a value outside a binned column's bins
GAPS = ("demographic_parity_difference", "equalized_odds_difference")
GAP_NAMES = {
    "demographic_parity_difference": "demographic parity difference",
    "equalized_odds_difference": "equalized odds difference",
}
SHORT = {"demographic_parity_difference": "DPD", "equalized_odds_difference": "EOD"}


def group_labels(frame: pd.DataFrame, column: str, bins: list[float] | None) -> np.ndarray:
    """Group label per row: the bin (binned numeric columns) or the value; missing values are their own group."""
    values = frame[column]
    if bins and not pd.api.types.is_numeric_dtype(values):
        raise ValueError(
            f"protected column {column!r} has bins in the spec but holds non-numeric values "
            f"(dtype {values.dtype}); it cannot be bucketed"
        )
    missing = values.isna().to_numpy(dtype=bool, copy=True)
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        codes, uniques = pd.factorize(values)  # blanks looked up among the distinct values only
        blank = np.array([isinstance(u, str) and not u.strip() for u in uniques] + [False])
        missing |= blank[codes]
    labels = slice_labels(frame, column, bins).to_numpy(dtype=object, copy=True)
    if (labels[~missing] == MISSING_GROUP).any():
        raise ValueError(
            f"protected column {column!r} has a value labelled {MISSING_GROUP!r}, the label kept for missing values"
        )
    labels[missing] = MISSING_GROUP
    return labels


def _tpr(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Like fairlearn's true_positive_rate, but undefined (NaN), not 0, for a group without positives."""
    from fairlearn.metrics import true_positive_rate

    if not (np.asarray(y_true) == 1).any():
        return float("nan")
    return float(true_positive_rate(y_true, y_pred, sample_weight=sample_weight, pos_label=1))


def _fpr(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Like fairlearn's false_positive_rate, but undefined (NaN), not 0, for a group without negatives."""
    from fairlearn.metrics import false_positive_rate

    if not (np.asarray(y_true) == 0).any():
        return float("nan")
    return float(false_positive_rate(y_true, y_pred, sample_weight=sample_weight, pos_label=1))


def _precision(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    """Positive predictive value; undefined (NaN) for a group never selected."""
    from sklearn.metrics import precision_score

    return float(
        precision_score(y_true, y_pred, labels=[0, 1], pos_label=1, sample_weight=sample_weight, zero_division=np.nan)
    )


def _rows(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(np.sum(sample_weight))


def _calibration_gap(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray, scores: np.ndarray) -> float:
    """Mean score minus the observed positive rate (positive: the model over-predicts the group)."""
    return float(np.average(scores, weights=sample_weight) - np.average(y_true, weights=sample_weight))


def _cells(labels: np.ndarray, y: np.ndarray, decisions: np.ndarray, proba: np.ndarray) -> pd.DataFrame:
    """Rows condensed to one per (group, outcome, decision) with its count and mean score.

    Every rate here is a weighted mean over these cells, so the results are exact; fairlearn 0.15's
    MetricFrame stacks its inputs element by element (about 50 s per column at 250k rows), the cells
    keep it to a few rows per group.
    """
    rows = pd.DataFrame({"group": labels, "y": y, "decision": decisions, "score": proba})
    cells = rows.groupby(["group", "y", "decision"], sort=True).agg(weight=("score", "size"), score=("score", "mean"))
    return cells.reset_index()


def _number(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _column_report(
    labels: np.ndarray,
    y: np.ndarray,
    proba: np.ndarray,
    decisions: np.ndarray,
    min_rows: int,
    binned: bool,
    gate: bool = True,
) -> dict[str, Any]:
    """Per-group rates (MetricFrame) and the two gaps over the large enough groups of one protected column.

    `gate=False` (a report-only column): the gaps are measured the same way, but no group is gated.
    """
    cells = _cells(labels, y, decisions, proba)
    groups: dict[str, dict[str, Any]] = {}
    small, unknown, gated = [], [], []
    for label, stats in sorted(_group_rates(cells).items()):
        rows = int(stats["rows"])
        known = label != MISSING_GROUP and not (binned and label == OUTSIDE_BINS)
        if known and rows >= min_rows:
            gated.append(str(label))
        elif known:
            small.append(str(label))
        else:
            unknown.append(f"{label} ({rows} rows)")
        groups[str(label)] = {
            "rows": rows,
            **{k: _number(stats[k]) for k in ("selection_rate", "tpr", "fpr", "precision", "calibration_gap")},
            "gated": gate and known and rows >= min_rows,
        }
    notes = [] if gate else ["report only (the dataset's fairness.report_only): gaps measured, never gated"]
    if small:
        notes.append(f"{', '.join(small)}: fewer than {min_rows} rows, reported not gated")
    if unknown:
        notes.append(f"{', '.join(unknown)}: value unknown to the spec's groups, reported not gated")
    dpd, eod = _gaps(groups, gated, min_rows, notes)
    return {
        "groups": groups,
        "demographic_parity_difference": None if dpd is None else _number(dpd),
        "equalized_odds_difference": None if eod is None else _number(eod),
        "small_groups": small,
        "note": "; ".join(notes) or None,
    }


def _group_rates(cells: pd.DataFrame) -> dict[Any, dict[str, float]]:
    """Each group's rows and rates from the condensed cells, by fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame, selection_rate

    weight = cells["weight"].to_numpy(dtype=float)
    metrics = {
        "rows": _rows,
        "selection_rate": selection_rate,
        "tpr": _tpr,
        "fpr": _fpr,
        "precision": _precision,
        "calibration_gap": _calibration_gap,
    }
    params = {name: {"sample_weight": weight} for name in metrics}
    params["calibration_gap"]["scores"] = cells["score"].to_numpy(dtype=float)
    frame = MetricFrame(
        metrics=metrics,
        y_true=cells["y"].to_numpy(dtype=int),
        y_pred=cells["decision"].to_numpy(dtype=int),
        sensitive_features=pd.Series(cells["group"].to_numpy(dtype=object), name="group"),
        sample_params=params,
    )
    return frame.by_group.to_dict("index")


def _gaps(
    groups: dict[str, dict[str, Any]], gated: list[str], min_rows: int, notes: list[str]
) -> tuple[float | None, float | None]:
    """The demographic-parity and equalized-odds differences over the gated groups (None when not measurable).

    Fairlearn's definitions (between groups, the worst case of TPR and FPR), taken from the group rates the one
    MetricFrame measured rather than from two more MetricFrames over the same rows. Why a gap is missing, or
    leaves a group out, is appended to `notes`.
    """
    if len(gated) < 2:
        notes.append(f"{len(gated)} group(s) with at least {min_rows} rows: no gap to gate")
        return None, None

    def spread(names: list[str], rate: str) -> float:
        values = [groups[name][rate] for name in names]
        return max(values) - min(values)

    dpd = spread(gated, "selection_rate")
    # TPR/FPR are undefined for a group with one outcome class: such a group leaves the odds gap
    both = [g for g in gated if groups[g]["tpr"] is not None and groups[g]["fpr"] is not None]
    if len(both) < len(gated):
        one_class = ", ".join(sorted(set(gated) - set(both)))
        notes.append(f"{one_class}: one outcome class only, left out of the equalized-odds gap")
    eod = max(spread(both, "tpr"), spread(both, "fpr")) if len(both) >= 2 else None
    return dpd, eod


def assess_fairness(
    frame: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    spec: DatasetSpec,
    settings_fairness: DatasetFairness,
    threshold: float,
) -> dict[str, Any]:
    """Per protected column: group rates and the parity gaps of the decisions score >= `threshold` (the dataset's
    decision threshold, the one scoring serves), judged against the configured limits.

    A protected column absent from `frame` is an error (a kept column: it must reach the holdout).
    """
    y = np.asarray(y).astype(int)
    proba = np.asarray(proba, dtype=float)
    if len(y) != len(frame) or len(proba) != len(frame):
        raise ValueError(f"fairness needs one outcome and one score per row: {len(frame)} rows, {len(y)}, {len(proba)}")
    absent = [c for c in spec.protected if c not in frame.columns]
    if absent:
        raise ValueError(f"protected columns {absent} are not in the evaluated rows (they must be kept columns)")
    min_rows = int(settings_fairness.min_group_rows)
    report_only = set(settings_fairness.report_only)
    limits = {k: _limit(getattr(settings_fairness.limits, k)) for k in GAPS}
    decisions = (proba >= float(threshold)).astype(int)
    columns, breaches = {}, []
    for column, bins in spec.protected.items():
        gate = column not in report_only
        report = _column_report(group_labels(frame, column, bins), y, proba, decisions, min_rows, bool(bins), gate)
        columns[column] = report
        for gap in GAPS if gate else ():
            value, limit = report[gap], limits[gap]
            if value is not None and limit is not None and value > limit:
                breaches.append(f"{column}: {GAP_NAMES[gap]} {value:.4f} above the limit {limit:.4f}")
    return {
        "threshold": float(threshold),
        "min_group_rows": min_rows,
        "limits": {**limits, "champion_tolerance": float(settings_fairness.champion_tolerance)},
        "columns": columns,
        "passed": not breaches,
        "breaches": breaches,
        "champion": None,
    }


def _limit(value: Any) -> float | None:
    return None if value is None else float(value)


def gaps_of(report: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """The two gaps per protected column of an `assess_fairness` report."""
    return {column: {gap: body[gap] for gap in GAPS} for column, body in report["columns"].items()}


def paired_gaps(
    frame: pd.DataFrame,
    y: np.ndarray,
    challenger_proba: np.ndarray,
    champion_proba: np.ndarray,
    spec: DatasetSpec,
    settings_fairness: DatasetFairness,
    threshold: float,
) -> dict[str, Any]:
    """Both models' gaps on the same rows (the champion comparison rows): {rows, challenger, champion}."""
    return {
        "rows": len(frame),
        "challenger": gaps_of(assess_fairness(frame, y, challenger_proba, spec, settings_fairness, threshold)),
        "champion": gaps_of(assess_fairness(frame, y, champion_proba, spec, settings_fairness, threshold)),
    }


def compare_to_champion(report: dict[str, Any], paired: dict[str, Any], version: Any = None) -> dict[str, Any]:
    """The report with the champion's gaps, and a breach for each gap the challenger worsens beyond tolerance.

    `paired` comes from `paired_gaps` on the comparison rows, so both sides are measured on rows neither
    model trained on. A gap whose limit is null is report-only here as well.
    """
    out = copy.deepcopy(report)
    tolerance = float(out["limits"]["champion_tolerance"])
    who = f"champion v{version}" if version is not None else "the champion"
    out["champion"] = paired["champion"]
    gated = set(gated_columns(out))
    for column, champion in paired["champion"].items():
        if column not in gated:  # report-only, or no group large enough on the holdout
            continue
        challenger = paired["challenger"].get(column, {})
        for gap in GAPS:
            new, old = challenger.get(gap), champion.get(gap)
            if new is None or old is None or out["limits"][gap] is None:
                continue
            if new - old > tolerance:
                out["breaches"].append(
                    f"{column}: {GAP_NAMES[gap]} {new:.4f} vs {old:.4f} for {who} on the same {paired['rows']} "
                    f"rows (worse by {new - old:+.4f}, tolerance {tolerance:.4f})"
                )
    out["passed"] = not out["breaches"]
    return out


def gated_columns(report: dict[str, Any]) -> list[str]:
    """Protected columns whose gaps are gated: at least one gap measured between gated groups."""
    return [
        c
        for c, body in report["columns"].items()
        if any(body[gap] is not None for gap in GAPS) and any(g["gated"] for g in body["groups"].values())
    ]


def report_only_columns(report: dict[str, Any]) -> list[str]:
    """Protected columns whose gaps are measured but never gated (the dataset's fairness.report_only)."""
    return [
        c
        for c, body in report["columns"].items()
        if any(body[gap] is not None for gap in GAPS) and not any(g["gated"] for g in body["groups"].values())
    ]


def describe(report: dict[str, Any]) -> str:
    """One line for the verdict: the breaches, or the gaps within limits, or why nothing could be gated."""
    if report["breaches"]:
        return "fairness limits breached: " + "; ".join(report["breaches"])
    if not report["columns"]:
        return "fairness: the spec names no protected column, nothing to gate"
    gated, report_only = gated_columns(report), report_only_columns(report)
    too_few = sorted(set(report["columns"]) - set(gated) - set(report_only))
    rest = ""
    if report_only:
        rest += f"; report only (dataset setting): {', '.join(report_only)}"
    if too_few:
        rest += f"; not gated (fewer than two groups of {report['min_group_rows']}+ rows): {', '.join(too_few)}"
    if not gated:
        return "fairness: no protected column could be gated" + rest
    limits = report["limits"]
    shown = ", ".join(f"{SHORT[g]} {'report only' if limits[g] is None else f'<= {limits[g]:.2f}'}" for g in GAPS)
    parts = [f"{c} " + " ".join(f"{SHORT[g]}={_fmt(report['columns'][c][g])}" for g in GAPS) for c in gated]
    if report["champion"] is not None:
        rest = f"; no gap worse than the champion's by > {limits['champion_tolerance']:.2f}" + rest
    return f"fairness within limits ({shown}): " + "; ".join(parts) + rest


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """One line per protected column for the run summary: DPD, EOD, the limits, small groups."""
    limits = report["limits"]
    report_only = set(report_only_columns(report))
    lines = []
    for column, body in report["columns"].items():
        shown = []
        for gap in GAPS:
            limit = "report only" if limits[gap] is None or column in report_only else f"{limits[gap]:.2f}"
            shown.append(f"{SHORT[gap]}={_fmt(body[gap])} (limit {limit})")
        line = f"    {column:<14} {' '.join(shown)}"
        champion = (report.get("champion") or {}).get(column)
        if champion:
            line += " vs champion " + " ".join(f"{SHORT[g]}={_fmt(champion[g])}" for g in GAPS)
        # the note names the small groups (and missing values), each reported and never gated
        lines.append(line + "; " + (body["note"] or "small groups: none"))
    return lines

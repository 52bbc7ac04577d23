"""Per-row input checks and whole-chunk guards: which rows fall back and why; the baseline scores them.

Missing values are never filled here: the checks decide from the spec which rows fall back, and
the model's own imputation handles the missing values the spec allows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import as_numbers, blank_rows, label_set, labels_of_uniques
from modelops.score.models import LoadedModel
from modelops.score.plan import ScoringPlan


class Reasons:
    """Reason strings of one group, coded as small integers per row (0 = no reason)."""

    def __init__(self) -> None:
        import threading

        self.names: list[str | None] = [None]
        self.codes: dict[str, int] = {}
        self.failed: dict[str, int] = {}  # rows failing each check, first failure or not (a pattern's columns)
        self.lock = threading.Lock()  # the checks run on the reader thread, the score guard on the main one

    def code(self, reason: str) -> int:
        """The small integer standing for `reason` in this group."""
        with self.lock:
            if reason not in self.codes:
                self.codes[reason] = len(self.names)
                self.names.append(reason)
            return self.codes[reason]

    def mark(self, reasons: np.ndarray, mask: np.ndarray, reason: str) -> None:
        """Give `reason` to the rows of `mask` that have none yet (the first failed check is the reason)."""
        if not mask.any():  # the usual case: one pass, no temporaries
            return
        with self.lock:
            self.failed[reason] = self.failed.get(reason, 0) + int(mask.sum())
        hit = mask & (reasons == 0)
        if hit.any():
            reasons[hit] = self.code(reason)


def check_chunk(
    frame: pd.DataFrame,
    plan: ScoringPlan,
    model: LoadedModel | None,
    reasons: Reasons,
    factors: dict[str, tuple[np.ndarray, Any]] | None = None,
    codes: np.ndarray | None = None,
) -> Any:
    """(the model's input frame, a reason code per row (0 = passes), chunk-level alerts).

    With `codes` (reason codes earlier checks already set), those are updated in place and only
    (input frame, alerts) is returned.

    `factors`, when given, receives each categorical column's (codes, distinct values) of the frame
    handed to the model, so the fast path encodes the distinct values without factorizing again.

    Never fills a missing value: a missing required value is a reason; an allowed one stays missing
    for the model's own imputation. Text in a numeric column is read by value ("3" is 3) or, when
    it is no number, is a reason.
    """
    checks = plan.checks
    n = len(frame)
    given = codes is not None
    codes = codes if given else np.zeros(n, dtype=np.int16)
    alerts: list[str] = []
    features = [*checks["numeric"], *checks["categorical"]]
    absent = [c for c in features if c not in frame.columns]
    X = {}
    for column in absent:
        reasons.mark(codes, np.ones(n, dtype=bool), f"missing_column:{column}")
    if absent:
        alerts.append(f"input lacks feature columns {absent}: those rows fell back")
    required = set(checks["required"])
    for column in checks["numeric"]:
        if column not in absent:
            X[column] = _check_numeric(frame[column], column, checks["ranges"], column in required, reasons, codes)
    share = float(plan.options["unseen_category_share"])
    for column in checks["categorical"]:
        if column in absent:
            continue
        series, row_codes, labels, uniques = _check_categorical(
            frame[column], column, checks, column in required, model, reasons, codes
        )
        if factors is not None:
            factors[column] = (row_codes, uniques)
        if model is not None and column in model.known:
            alert = _unseen_categories(column, labels, row_codes, model.known[column], share, reasons, codes)
            alerts += [alert] if alert else []
        X[column] = series
    X_frame = pd.DataFrame(X, index=frame.index, copy=False)  # no consolidating copy of the columns
    return (X_frame, alerts) if given else (X_frame, codes, alerts)


def _check_numeric(
    series: pd.Series, column: str, ranges: dict[str, Any], required: bool, reasons: Reasons, codes: np.ndarray
) -> pd.Series:
    """Mark missing required values, text that is no number, infinities, values out of range; the column as numbers."""
    values, not_number = as_numbers(series)
    x = values.to_numpy(dtype="float64", na_value=np.nan)
    if required:
        reasons.mark(codes, np.isnan(x) & ~not_number, f"missing:{column}")
    reasons.mark(codes, not_number, f"not_a_number:{column}")
    reasons.mark(codes, np.isinf(x), f"non_finite:{column}")
    if column in ranges:
        low, high = ranges[column]
        with np.errstate(invalid="ignore"):
            outside = np.zeros(len(x), dtype=bool)
            if low is not None:
                outside |= x < low
            if high is not None:
                outside |= x > high
        reasons.mark(codes, outside & np.isfinite(x), f"out_of_range:{column}")
    return values


def _check_categorical(
    series: pd.Series,
    column: str,
    checks: dict[str, Any],
    required: bool,
    model: LoadedModel | None,
    reasons: Reasons,
    codes: np.ndarray,
) -> tuple[pd.Series, np.ndarray, np.ndarray, Any]:
    """Mark missing required values and codes not allowed.

    Returns the column as the model reads it, its codes per row (-1 = missing), the label of each
    distinct value, and the distinct values.
    """
    blank = blank_rows(series)
    if model is not None and column in model.numeric_codes and not pd.api.types.is_numeric_dtype(series):
        series, not_number = as_numbers(series)  # CSV text of a code the model learned as a number
        reasons.mark(codes, not_number, f"not_allowed:{column}")
    elif blank.any():
        # blank text is a missing value, as validation reads it; and every missing value is NaN (a SQL
        # chunk's None is another category to the encoder: all zeros where NaN is the learned missing)
        series = series.where(~blank)
    if required:
        reasons.mark(codes, blank, f"missing:{column}")
    row_codes, labels, uniques = labels_of_uniques(series)
    if column in checks["categories"]:
        allowed = label_set(checks["categories"][column])
        bad = np.array([label not in allowed for label in labels] + [False], dtype=bool)
        reasons.mark(codes, bad[row_codes], f"not_allowed:{column}")
    return series, row_codes, labels, uniques


def _unseen_categories(
    column: str,
    labels: np.ndarray,
    row_codes: np.ndarray,
    known: set[str],
    share: float,
    reasons: Reasons,
    codes: np.ndarray,
) -> str | None:
    """Mark the passing rows whose category the model never saw, when they exceed `share`; the alert then."""
    unseen_u = np.array([label not in known for label in labels] + [False], dtype=bool)
    unseen = unseen_u[row_codes] & (codes == 0)
    if not (unseen.any() and unseen.mean() > share):
        return None
    reasons.mark(codes, unseen, f"unseen_category:{column}")
    return (
        f"{int(unseen.sum())} rows ({unseen.mean():.1%}) with categories of {column!r} the model never "
        f"saw, above the tolerated {share:.1%}: they fell back"
    )


def baseline_scores(frame: pd.DataFrame, baseline: dict[str, Any]) -> np.ndarray:
    """The rule-based baseline's probability per row (the rule never holds on a missing value)."""
    from modelops.core.rules import conditions, rule_holds

    present = frame.copy()
    for cond in conditions(baseline["rule"]):
        if cond["column"] not in present:
            present[cond["column"]] = np.nan  # a column the input lacks: the condition cannot hold
    return np.where(
        rule_holds(present, baseline["rule"]), float(baseline["rate_if_true"]), float(baseline["rate_if_false"])
    )


def inputs_vary(X: pd.DataFrame, factors: dict[str, tuple[np.ndarray, Any]], rows: np.ndarray) -> bool:
    """Whether the rows' model inputs differ at all (identical rows rightly get identical scores)."""
    for column in X.columns:
        if column in factors:
            values = factors[column][0][rows]
        else:
            values = X[column].to_numpy(dtype="float64", na_value=np.nan)[rows]
            values = np.where(np.isnan(values), np.inf, values)  # missing is a value of its own
        if len(values) and (values != values[0]).any():
            return True
    return False


def chunk_guards(
    options: dict[str, Any],
    profile: dict[str, Any] | None,
    scores: np.ndarray,
    scored: np.ndarray,
    inputs_vary: Any,
    rows: str,
    shift: dict[str, Any],
) -> tuple[np.ndarray, str | None, list[str]]:
    """(rows the whole-chunk guards withhold, their reason, alerts): a broken model always, a shifted
    distribution only when the dataset opted in (`score_guard: psi`); a shift alone is an alert and
    monitoring evidence, never a silent swap.

    Broken: the chunk's scores (at least `score_check_min_rows`) span at most `degenerate_score_span`
    although its inputs differ (`inputs_vary()`); a chunk of identical rows is monitoring's concern.
    """
    from modelops.stats import drift

    withheld = np.zeros(len(scores), dtype=bool)
    count = int(scored.sum())
    if count < int(options["score_check_min_rows"]):
        return withheld, None, []
    values = scores[scored]
    span = float(values.max() - values.min())
    if span <= float(options["degenerate_score_span"]) and inputs_vary():
        return (
            scored.copy(),
            "degenerate_scores",
            [
                f"{rows}: the model looks broken: its {count} scores span {span:.2g} (all equal or nearly so); "
                "the chunk fell back to the rule-based baseline (reason degenerate_scores)"
            ],
        )
    if not profile:
        return withheld, None, []
    psi = float(drift.numeric_drift(profile, values)["psi"])
    limit = float(options["score_psi_limit"])
    shift["judged"] += 1
    shift["max_psi"] = psi if shift["max_psi"] is None else max(shift["max_psi"], psi)
    if psi < limit:
        return withheld, None, []
    shift["chunks"] += 1
    if options["score_guard"] == "psi":
        return (
            scored.copy(),
            "score_distribution",
            [
                f"{rows}: score PSI {psi:.3f} >= {limit} against the reference; the dataset's score_guard is psi, "
                "so the chunk fell back (reason score_distribution)"
            ],
        )
    return (
        withheld,
        None,
        [
            f"{rows}: score PSI {psi:.3f} >= {limit} against the reference: the scores shifted (the model served "
            "them; monitoring judges the shift)"
        ],
    )

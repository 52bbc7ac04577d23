"""New registrants: which rows they are, and the policy that scores them (`scoring.new_registrants`).

A row is a new registrant when its column, read as a number, is at most `max_value`, or when it equals
`value` (a flag; 1, 1.0 and "1" are one). A missing or non-numeric value is no new registrant (the
input checks judge that value as for any row). The policy decides who scores them:
- `model`: the model, like every row (source model); the row's reason says `new_registrant`;
- `fallback`: the rule-based baseline (source fallback, reason `new_registrant`);
- `fixed`: every one gets the configured score (source fallback, reason `new_registrant`).
An id problem (missing or repeated id) comes first: such a row is a fallback row with that reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.score.checks import Reasons

NEW_REGISTRANT = "new_registrant"
MODEL_POLICY, FALLBACK_POLICY, FIXED_POLICY = "model", "fallback", "fixed"


def mark_policy_rows(rule: dict[str, Any] | None, new: np.ndarray, codes: np.ndarray, reasons: Reasons) -> None:
    """Under policy fallback or fixed, new registrants leave the model (reason new_registrant)."""
    if rule and rule["policy"] in (FALLBACK_POLICY, FIXED_POLICY):
        reasons.mark(codes, new, NEW_REGISTRANT)


def fixed_scores(rule: dict[str, Any] | None, codes: np.ndarray, reasons: Reasons, score: np.ndarray) -> None:
    """Under policy fixed, the rows whose reason is new_registrant get the configured score (in place)."""
    if not rule or rule["policy"] != FIXED_POLICY or NEW_REGISTRANT not in reasons.codes:
        return
    score[codes == reasons.codes[NEW_REGISTRANT]] = float(rule["score"])


def output_codes(rule: dict[str, Any] | None, new: np.ndarray, codes: np.ndarray, reasons: Reasons) -> np.ndarray:
    """The reason codes written per row: under policy model, a new registrant the model served says so too."""
    if not rule or rule["policy"] != MODEL_POLICY or not new.any():
        return codes
    served = new & (codes == 0)
    return np.where(served, reasons.code(NEW_REGISTRANT), codes).astype(codes.dtype) if served.any() else codes


def missing_column_alert(frame: pd.DataFrame, rule: dict[str, Any] | None) -> list[str]:
    """An alert when the input lacks the new-registrant column: no row was treated as one."""
    if rule and rule["column"] not in frame:
        return [f"input lacks the new_registrants column {rule['column']!r}: no row was treated as a new registrant"]
    return []

"""Row conditions in the config's `{column, op, value}` shape: baseline rules and source filters.

A comparison never holds on a missing value (as in SQL, `NULL != 'x'` is not true); missingness is
asked about explicitly with `is_null` / `not_null`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config loader imports this module at DAG parse time: no pandas there
    import numpy as np
    import pandas as pd

OPS: dict[str, Callable[[pd.Series, Any], pd.Series]] = {
    "==": lambda s, v: s == v,
    "!=": lambda s, v: s != v,
    ">": lambda s, v: s > v,
    ">=": lambda s, v: s >= v,
    "<": lambda s, v: s < v,
    "<=": lambda s, v: s <= v,
    "in": lambda s, v: s.isin(list(v)),
    "not_in": lambda s, v: ~s.isin(list(v)),
    "is_null": lambda s, v: s.isna(),
    "not_null": lambda s, v: s.notna(),
}
NULL_OPS = frozenset({"is_null", "not_null"})
LIST_OPS = frozenset({"in", "not_in"})


def conditions(rule: dict[str, Any] | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The list of conditions of a rule given as `{all: [...]}`, a bare list, or nothing."""
    if not rule:
        return []
    if isinstance(rule, list):
        return list(rule)
    return list(rule.get("all", []))


def condition_holds(frame: pd.DataFrame, cond: dict[str, Any]) -> np.ndarray:
    """Rows where one condition holds (False wherever the column is missing, but for `is_null`)."""
    series = frame[cond["column"]]
    op = cond["op"]
    result = OPS[op](series, cond.get("value"))
    if op not in NULL_OPS:
        result = result & series.notna()
    return result.fillna(False).to_numpy(dtype=bool)


def rule_holds(frame: pd.DataFrame, rule: dict[str, Any] | list[dict[str, Any]] | None) -> np.ndarray:
    """Rows where every condition of a rule holds (all rows for an empty rule)."""
    import numpy as np

    holds = np.ones(len(frame), dtype=bool)
    for cond in conditions(rule):
        holds &= condition_holds(frame, cond)
    return holds


def describe(rule: dict[str, Any] | list[dict[str, Any]] | None) -> str:
    """The rule as one readable line, e.g. `vote in ['Y', 'N'] and age not_null`."""
    parts = []
    for cond in conditions(rule):
        value = "" if cond["op"] in NULL_OPS else f" {cond.get('value')!r}"
        parts.append(f"{cond['column']} {cond['op']}{value}")
    return " and ".join(parts) or "(all rows)"

"""The Great Expectations suite built from a dataset spec, each expectation tagged with its reason.

A monitoring window is checked by the production form (`WindowLimits`): no target, no join checks, and the
window's own row-count and missing-value limits in place of the training batch's.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelops.collect.sources import BatchRef
from modelops.config.settings import DatasetSpec
from modelops.validate.redaction import PII_PATTERNS

NUMERIC_TYPES = [
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "float32",
    "float64",
    "Float32",
    "Float64",
]


@dataclass(frozen=True)
class WindowLimits:
    """The production form's own limits for a monitoring window, in place of the training batch's
    `validation.row_count` and `null_fraction` (see `monitor.thresholds.window_limits`)."""

    min_rows: int = 1
    max_rows: int | None = None
    max_null: dict[str, float] = field(default_factory=dict)  # column -> largest missing share
    null_basis: dict[str, str] = field(default_factory=dict)  # column -> where its limit came from, in words
    # the weight column when the window does not carry it (production inputs may come without survey weights)
    absent: tuple[str, ...] = ()


def import_gx():
    """Import GX quietly: Airflow's logging setup would otherwise print its import chatter."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def build_suite(spec: DatasetSpec, batch: BatchRef, text_columns: list[str], window: WindowLimits | None = None):
    """The expectation suite for one batch of `spec`, each expectation tagged with its reason.

    `window`: the production form for a monitoring window (no target column, no join checks, and the
    window's own row-count and missing-value limits instead of the training batch's).

    The suite is a set, as GX's own add_expectation keeps it: of two equal checks the first stays, with
    its reason. It is keyed once per check here; add_expectation compares each new check with every one
    before it, which cost a third of a second per batch at ~60 checks.
    """
    gx, _ = import_gx()
    unique: dict[str, Any] = {}
    for expectation in offered_checks(spec, batch, text_columns, window):
        checks = _numbers_alike(expectation.dict(exclude={"id", "rendered_content", "notes", "meta"}))
        unique.setdefault(json.dumps([expectation.expectation_type, checks], sort_keys=True, default=str), expectation)
    return gx.ExpectationSuite(name=f"{spec.name}_suite", expectations=list(unique.values()))


def offered_checks(
    spec: DatasetSpec, batch: BatchRef, text_columns: list[str], window: WindowLimits | None = None
) -> list:
    """Every check the spec asks of the batch, in order, each tagged with its reason; a check may come twice
    (a joined column's coverage is also its missing-value rule): `build_suite` keeps the first."""
    _, gxe = import_gx()
    rules = spec.validation
    offered: list[Any] = []

    def add(expectation, why: str) -> None:
        expectation.meta = {"why": why, **({"values": "hidden"} if why == WEIGHT_WHY else {})}
        offered.append(expectation)

    production = window is not None
    columns = [c for c in spec.kept_columns if not (production and c in (spec.target, *window.absent))]
    add(
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True),
        "schema: exactly the configured columns (no PII or unlisted column reaches the features)",
    )
    if window is None:
        low, high = rules.row_count
        add(gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high), "row count bounds")
    elif window.min_rows or window.max_rows is not None:
        add(
            gxe.ExpectTableRowCountToBeBetween(min_value=window.min_rows or None, max_value=window.max_rows),
            "window row count bounds (monitoring.window_min_rows, window_max_rows)",
        )
    if spec.joins and not production:
        source_rows = batch.join_report.get("source_rows", batch.rows)
        add(gxe.ExpectTableRowCountToEqual(value=source_rows), "join coverage: the joins added no duplicated rows")
        for join in batch.join_report.get("joins", []):
            for column in join["columns"]:
                if column in spec.kept_columns:
                    add(
                        gxe.ExpectColumnValuesToNotBeNull(column=column),
                        f"join coverage: every row matched {Path(join['path']).name} on {join['key']}",
                    )
    if spec.id_column and spec.time_column:  # a panel: a voter recurs every cycle, once per cycle
        add(
            gxe.ExpectCompoundColumnsToBeUnique(column_list=[spec.id_column, spec.time_column]),
            "unique ids within each period",
        )
    elif spec.id_column:
        add(gxe.ExpectColumnValuesToBeUnique(column=spec.id_column), "unique ids")
    for column in columns:
        if column == spec.target:  # a missing target marks an unlabelled row: bounded by check_labels
            continue
        allowed, _ = spec.null_limit(column)
        why = f"at most {allowed:.0%} missing"
        if window is not None and column in window.max_null:
            allowed = float(window.max_null[column])
            why = f"at most {allowed:.1%} missing ({window.null_basis.get(column, 'window limit')})"
        if allowed < 1.0:
            add(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - allowed), why)
    for column in spec.numeric:
        add(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES), "numeric type")
    for column, (low, high) in rules.ranges.items():
        add(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high), "value range")
    if spec.weight_column in columns:
        for expectation in weight_checks(spec.weight_column):
            add(expectation, WEIGHT_WHY)
    for column, allowed in rules.categories.items():
        if column not in columns:
            continue
        add(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(allowed)), "allowed categories")
    for column in text_columns:
        add(
            gxe.ExpectColumnValuesToNotMatchRegexList(column=column, regex_list=PII_PATTERNS),
            "no PII-shaped content (e-mail, SSN, phone)",
        )
    return offered


WEIGHT_WHY = "weights: every row a finite number > 0 (a missing weight is never taken as 1)"


def weight_checks(column: str) -> list:
    """The weight column's checks beyond its missing values (`null_limit` allows none): a number, finite and > 0.

    The largest finite float bounds it from above, so an infinite weight fails too; the checks are marked
    `values: hidden`, so a failure names the column and the count, never a weight."""
    _, gxe = import_gx()
    return [
        gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES),
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, max_value=float(np.finfo(float).max), strict_min=True
        ),
    ]


def _numbers_alike(value: Any) -> Any:
    """`value` with every number (not bool) as a float: mostly=1 and mostly=1.0 are one check, as GX has them."""
    if isinstance(value, dict):
        return {k: _numbers_alike(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_numbers_alike(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value

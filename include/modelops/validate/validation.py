"""Data-quality gate: a batch checked by the Great Expectations suite of its dataset spec (`validate.suite`).

A failing batch is moved to quarantine with its report (GX data-docs HTML + JSON) and
`DataValidationError` lists the failed expectations; a passing batch gets a recorded,
deterministic validation id that the model version points to. A monitoring window is checked by
the production form (`WindowLimits`): no target, and the window's own row-count and missing-value
limits in place of the training batch's.

Values that look like personal data are never copied: failures name the column, how many rows and
which row positions, and the GX result is scrubbed before anything is written. Text longer than
MAX_TEXT_LENGTH fails on its own and never reaches a regex.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.sources import BatchRef, load_batch
from modelops.config.settings import DatasetSpec
from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.present.validation_page import FailedCheck, ValidationSummary, render_validation_page
from modelops.validate.failures import describe_failure, failure_parts, format_failures
from modelops.validate.redaction import MAX_TEXT_LENGTH, redact_texts, safe_value, scrub, scrub_result
from modelops.validate.suite import WindowLimits, build_suite, import_gx

log = logging.getLogger(__name__)
GX_COUNTS = ("evaluated_expectations", "successful_expectations", "unsuccessful_expectations")


class DataValidationError(RuntimeError):
    """A batch failed its data-quality suite; the message lists the failed expectations."""

    def __init__(self, message: str, report: ValidationReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ValidationReport(XComRecord):
    """The verdict on one batch, small enough for XCom and model-version tags."""

    validation_id: str
    dataset: str
    batch_hash: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    report_dir: str = ""
    labels: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what passed only by a built-in default
    # GX's own statistics of the result (evaluated/successful/unsuccessful_expectations), as its page shows them
    expectations: dict[str, int] = field(default_factory=dict)
    own_checks: int = 0  # our checks outside GX (text length, numbers read as text, labels)

    def count_text(self) -> str:
        """The one count of checks every report states: GX's statistics, then our own checks beside them."""
        stats = self.expectations
        own_failed = len(self.failed) - int(stats.get("unsuccessful_expectations", 0))
        return (
            f"{stats.get('unsuccessful_expectations', 0)} of {stats.get('evaluated_expectations', 0)} GX expectations "
            f"failed ({stats.get('successful_expectations', 0)} passed); {own_failed} of {self.own_checks} checks of "
            "our own outside GX failed"
        )


def check_labels(frame: pd.DataFrame, spec: DatasetSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Label counts of a batch, and failures: no target column, too many unlabelled rows, or a class missing."""
    from modelops.collect.labels import label_summary

    if spec.target not in frame.columns:  # a training batch without its outcome: no label to count
        return {}, [
            {
                "expectation": "target_column_present",
                "column": spec.target,
                "why": "a training batch needs the target column, the outcome the model learns",
                "observed_value": (
                    f"the batch has no column {spec.target!r}: the source holds {len(frame.columns)} of the "
                    "configured columns but not the target"
                ),
            }
        ]
    summary = label_summary(frame, spec)
    summary["other_values"] = scrub(summary["other_values"])  # target values are data: shown only if safe
    failed = []
    limit = spec.max_unlabelled_share
    if summary["unlabelled_share"] > limit:
        failed.append(
            {
                "expectation": "unlabelled_share_at_most",
                "column": spec.target,
                "why": f"at most {limit:.0%} of rows without an outcome (validation.max_unlabelled_share)",
                "unexpected_count": summary["unlabelled"],
                "observed_value": (
                    f"{summary['unlabelled']} of {summary['rows']} rows ({summary['unlabelled_share']:.1%}) have no "
                    f"outcome: {summary['missing_target']} blank, other values {summary['other_values']}"
                ),
            }
        )
    for name, label_set in (("positive", spec.positive_labels), ("negative", spec.negative_labels)):
        if summary[name] == 0:
            described = list(label_set) if label_set is not None else "any other present value"
            failed.append(
                {
                    "expectation": f"labelled_rows_hold_{name}_class",
                    "column": spec.target,
                    "why": f"the labelled rows need both classes ({name}: {described})",
                    "observed_value": f"0 {name} rows among {summary['labelled']} labelled",
                }
            )
    return summary, failed


def _text_lengths(series: pd.Series) -> np.ndarray:
    """Length of each text value (NaN for missing and non-text values)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    if series.dtype != object and pd.api.types.is_string_dtype(series.dtype):
        return series.str.len().to_numpy(dtype="float64", na_value=np.nan)
    return series.map(lambda v: len(v) if isinstance(v, str) else np.nan).to_numpy(dtype="float64")


def _numbers_as_numbers(series: pd.Series) -> pd.Series:
    """Values that read as numbers become numbers ("3" -> 3); anything else stays as it is."""
    values = series.astype(object).to_numpy(copy=True)
    parsed = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")
    ok = ~np.isnan(parsed)
    values[ok] = [int(v) if float(v).is_integer() else float(v) for v in parsed[ok]]
    return pd.Series(values, index=series.index, dtype=object)


def _frame_to_check(
    frame: pd.DataFrame, spec: DatasetSpec, text_columns: list[str]
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The frame GX checks, and the over-long-text failures; the batch itself is not changed.

    Rows are numbered by position; text longer than MAX_TEXT_LENGTH is replaced by a short marker
    (it fails here and never reaches a regex); a category column whose allowed values are numbers
    but which was read as text compares by value, so only the truly bad rows fail ("3" is 3, "DK" is not).
    """
    checked = frame.reset_index(drop=True)
    failures = []
    for column in text_columns:
        lengths = _text_lengths(checked[column])
        long = lengths > MAX_TEXT_LENGTH
        if not long.any():
            continue
        rows = np.flatnonzero(long)
        values = checked[column].astype(object).to_numpy(copy=True)
        for i in rows:
            values[i] = f"<text of {int(lengths[i])} characters, row {i}>"
        dtype = checked[column].dtype
        keep = isinstance(dtype, pd.StringDtype)  # GX types a text column by its dtype: keep `str` as `str`
        checked[column] = pd.Series(values, dtype=dtype if keep else object)
        failures.append(
            {
                "expectation": "text_length_at_most",
                "column": column,
                "why": f"text values at most {MAX_TEXT_LENGTH} characters (longer ones are refused unread)",
                "unexpected_count": len(rows),
                "rows": rows[:5].tolist(),
                "observed_value": (
                    f"values longer than {MAX_TEXT_LENGTH} characters in column {column!r}: "
                    f"{len(rows)} row{'' if len(rows) == 1 else 's'} "
                    f"(longest {int(lengths[long].max())})"
                ),
            }
        )
    for column in spec.numeric:  # a numeric column read as text: name the values that are not numbers
        if column not in text_columns:
            continue
        present = checked[column].notna().to_numpy()
        parsed = pd.to_numeric(checked[column].astype(object), errors="coerce").to_numpy(dtype="float64")
        rows = np.flatnonzero(present & np.isnan(parsed))
        if len(rows):
            examples = checked[column].iloc[rows[:20]].astype(str)
            failures.append(
                {
                    "expectation": "values_are_numbers",
                    "column": column,
                    "why": "numeric column: every value a number",
                    "unexpected_count": len(rows),
                    "rows": rows[:5].tolist(),
                    "examples": [safe_value(v) for v in dict.fromkeys(examples)][:5],
                }
            )
    for column, allowed in spec.validation.categories.items():
        numeric_codes = bool(allowed) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in allowed)
        if numeric_codes and column in checked.columns and not pd.api.types.is_numeric_dtype(checked[column]):
            checked[column] = _numbers_as_numbers(checked[column])
    return checked, failures


def validate_frame(
    frame: pd.DataFrame, spec: DatasetSpec, batch: BatchRef, window: WindowLimits | None = None
) -> tuple[ValidationReport, Any]:
    """Run the spec's suite (or, given a window's limits, its production form) on a frame; returns the report
    and the (scrubbed) GX result."""
    gx, _ = import_gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch_definition = (
        context.data_sources.add_pandas(name=spec.name)
        .add_dataframe_asset(name="batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    if window is not None and spec.weight_column and spec.weight_column not in frame.columns:
        window = replace(window, absent=(spec.weight_column,))
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    checked, text_failures = _frame_to_check(frame, spec, text_columns)
    suite = context.suites.add(build_suite(spec, batch, text_columns, window))
    result = batch_definition.get_batch(batch_parameters={"dataframe": checked}).validate(
        suite, result_format="SUMMARY"
    )
    scrub_result(result)
    # GX gives every expectation a random id: hash only what the expectations check.
    checks = [{k: v for k, v in e.items() if k != "id"} for e in suite.to_json_dict()["expectations"]]
    suite_json = json.dumps(checks, sort_keys=True, default=str)
    label_rules = json.dumps(
        [list(map(str, spec.positive_labels)), spec.negative_labels, spec.max_unlabelled_share], default=str
    )
    validation_id = hashlib.sha256(
        f"{batch.content_hash}:{suite_json}:{label_rules}:text<={MAX_TEXT_LENGTH}".encode()
    ).hexdigest()[:16]
    failed = [describe_failure(r) for r in result.results if not r.success] + text_failures
    labels: dict[str, Any] = {}
    label_checks = 0
    if window is None:
        labels, label_failures = check_labels(frame, spec)
        missing_target = any(f["expectation"] == "target_column_present" for f in label_failures)
        # a missing target is the headline: every other label rule and the schema check follow from it
        failed = label_failures + failed if missing_target else failed + label_failures
        label_checks = 3
    own_checks = len(text_columns) + len(set(spec.numeric) & set(text_columns)) + label_checks
    stats = result.statistics
    report = ValidationReport(
        warnings=default_null_warnings(frame, spec),
        validation_id=validation_id,
        dataset=spec.name,
        batch_hash=batch.content_hash,
        success=bool(result.success) and not failed,
        evaluated=len(result.results) + own_checks,
        failed=redact_texts(failed),
        labels=labels,
        expectations={k: int(stats[k]) for k in GX_COUNTS},
        own_checks=own_checks,
    )
    return report, result


def default_null_warnings(frame: pd.DataFrame, spec: DatasetSpec) -> list[str]:
    """One sentence per column with missing values judged only by the built-in missing-value limit."""
    out = []
    for column in spec.kept_columns:
        if column == spec.target or column not in frame.columns:
            continue
        limit, built_in = spec.null_limit(column)
        share = float(frame[column].isna().mean()) if len(frame) else 0.0
        if built_in and share > 0:
            out.append(
                f"{column}: {share:.1%} missing, allowed up to {limit:.0%} by the built-in default "
                f"(no validation.null_fraction for it); set validation.null_fraction.{column} to pin the limit"
            )
    return out


def report_summary(report: ValidationReport) -> ValidationSummary:
    """What the report page states on top: the verdict, the count of checks, each failure's evidence in words."""
    failed = [
        FailedCheck(
            f["expectation"], str(f["column"]) if f.get("column") else None, f["why"], "; ".join(failure_parts(f))
        )
        for f in report.failed
    ]
    return ValidationSummary(
        dataset=report.dataset,
        batch_hash=report.batch_hash,
        success=report.success,
        counts=report.count_text(),
        failed=failed,
        warnings=list(report.warnings),
        labels=dict(report.labels),
    )


def write_report(report: ValidationReport, result: Any, folder: Path) -> None:
    """Offline HTML report (failures first) plus the full JSON result and our summary, all without PII values.

    The folder is published whole (an earlier report in it is replaced).
    """
    scrub_result(result)  # a result from elsewhere is scrubbed too (idempotent)
    page = render_validation_page(report_summary(report), result)
    with catalog.atomic_dir(folder) as staging:
        (staging / catalog.REPORT_HTML).write_text(page, encoding="utf-8")
        (staging / "result.json").write_text(json.dumps(result.to_json_dict(), indent=2, default=str))
        (staging / "summary.json").write_text(json.dumps(report.to_xcom(), indent=2))


def quarantine_batch(batch: BatchRef, report: ValidationReport, result: Any) -> Path:
    """Move a rejected batch out of the batch store, its report beside it; nothing is deleted."""
    source_dir = Path(batch.path).parent
    target = catalog.quarantine_dir(batch.dataset, source_dir.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source_dir.exists():
        if target.exists():  # the same batch was rejected before: keep one copy, the newest report
            shutil.rmtree(target)
        shutil.move(str(source_dir), str(target))
    write_report(report, result, target / "validation")
    return target


def validate_batch(batch: BatchRef | dict[str, Any], spec: DatasetSpec) -> ValidationReport:
    """Validate a collected batch; record the result, or quarantine the batch and raise.

    The message reads top-down: the headline, the failed rules, then where the batch and report lie.
    """
    batch = BatchRef.from_xcom(batch) if isinstance(batch, dict) else batch
    frame = load_batch(batch)
    report, result = validate_frame(frame, spec, batch)
    if report.success:
        folder = catalog.validation_dir(spec.name, report.validation_id)
        write_report(report, result, folder)
        for warning in report.warnings:
            log.warning("dataset %s, batch %s: %s", spec.name, batch.content_hash[:16], warning)
        return replace(report, report_dir=str(folder))
    target = quarantine_batch(batch, report, result)
    report = replace(report, report_dir=str(target / "validation"))
    message = (
        f"batch {batch.content_hash[:16]} of dataset {spec.name!r} failed validation: "
        f"{report.count_text()}\n{format_failures(report.failed)}\n"
        f"batch quarantined at {target}\nreport: {target / 'validation' / catalog.REPORT_HTML}\n"
        "nothing was trained or registered"
    )
    raise DataValidationError(message, report)

"""Data-quality gate: a Great Expectations suite built from the dataset spec.

A failing batch is moved to quarantine with its report (GX data-docs HTML + JSON) and
`DataValidationError` lists the failed expectations; a passing batch gets a recorded,
deterministic validation id that the model version points to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from modelops.config import DatasetSpec, workspace_root
from modelops.sources import BatchRef, load_batch

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
# Content that looks like personal data must not sit in any kept text column.
PII_PATTERNS = [
    r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",  # e-mail address
    r"\b\d{3}-\d{2}-\d{4}\b",  # social security number
    r"\(?\b\d{3}\)?[-. ]\d{3}[-. ]\d{4}\b",  # phone number
]


class DataValidationError(RuntimeError):
    """A batch failed its data-quality suite; the message lists the failed expectations."""

    def __init__(self, message: str, report: ValidationReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on one batch, small enough for XCom and model-version tags."""

    validation_id: str
    dataset: str
    batch_hash: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    report_dir: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for XCom."""
        return asdict(self)


def _gx():
    """Import GX quietly: Airflow's logging setup would otherwise print its import chatter."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    return gx, gxe


def build_suite(spec: DatasetSpec, batch: BatchRef, text_columns: list[str], production: bool = False):
    """The expectation suite for one batch of `spec`, each expectation tagged with its reason.

    `production`: the form for model inputs in production (no target column, no join checks).
    """
    gx, gxe = _gx()
    rules = spec.validation
    suite = gx.ExpectationSuite(name=f"{spec.name}_suite")

    def add(expectation, why: str) -> None:
        expectation.meta = {"why": why}
        suite.add_expectation(expectation)

    columns = [c for c in spec.kept_columns if not (production and c == spec.target)]
    add(
        gxe.ExpectTableColumnsToMatchSet(column_set=columns, exact_match=True),
        "schema: exactly the configured columns (no PII or unlisted column reaches the features)",
    )
    low, high = rules.get("row_count", [1, None])
    add(gxe.ExpectTableRowCountToBeBetween(min_value=low, max_value=high), "row count bounds")
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
    if spec.id_column:
        add(gxe.ExpectColumnValuesToBeUnique(column=spec.id_column), "unique ids")
    if not production:
        add(
            gxe.ExpectColumnDistinctValuesToContainSet(column=spec.target, value_set=[spec.positive_class]),
            "target holds the positive class",
        )
        add(gxe.ExpectColumnUniqueValueCountToBeBetween(column=spec.target, min_value=2, max_value=2), "binary target")
    null_rules = rules.get("null_fraction", {})
    default_null = float(null_rules.get("default", 0.0))
    for column in columns:
        allowed = float(null_rules.get(column, default_null))
        if allowed < 1.0:
            add(
                gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - allowed), f"at most {allowed:.0%} missing"
            )
    for column in spec.numeric:
        add(gxe.ExpectColumnValuesToBeInTypeList(column=column, type_list=NUMERIC_TYPES), "numeric type")
    for column, (low, high) in rules.get("ranges", {}).items():
        add(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high), "value range")
    for column, allowed in rules.get("categories", {}).items():
        if column not in columns:
            continue
        add(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(allowed)), "allowed categories")
    for column in text_columns:
        add(
            gxe.ExpectColumnValuesToNotMatchRegexList(column=column, regex_list=PII_PATTERNS),
            "no PII-shaped content (e-mail, SSN, phone)",
        )
    return suite


def _describe_failure(result) -> dict[str, Any]:
    """One failed expectation as a small dict: what, where, and examples."""
    config = result.expectation_config
    details = {
        k: result.result[k] for k in ("unexpected_count", "unexpected_percent", "observed_value") if k in result.result
    }
    if "partial_unexpected_list" in result.result:
        details["examples"] = [str(v) for v in result.result["partial_unexpected_list"][:5]]
    if "details" in result.result:
        details["details"] = json.loads(json.dumps(result.result["details"], default=str))
    return {
        "expectation": config.type,
        "column": config.kwargs.get("column"),
        "why": (config.meta or {}).get("why", ""),
        **{k: (round(v, 4) if isinstance(v, float) else v) for k, v in details.items()},
    }


def format_failures(failed: list[dict[str, Any]]) -> str:
    """Human-readable list of failed expectations for error messages and logs."""
    lines = []
    for f in failed:
        where = f" on {f['column']!r}" if f.get("column") else ""
        extra = []
        if "unexpected_count" in f:
            extra.append(f"{f['unexpected_count']} bad rows")
        if f.get("examples"):
            extra.append(f"e.g. {f['examples']}")
        if "observed_value" in f and "unexpected_count" not in f:
            extra.append(f"observed {f['observed_value']}")
        if f.get("details"):
            extra.append(str(f["details"]))
        lines.append(f"  - {f['expectation']}{where} ({f['why']}): {'; '.join(extra)}")
    return "\n".join(lines)


def validate_frame(
    frame: pd.DataFrame, spec: DatasetSpec, batch: BatchRef, production: bool = False
) -> tuple[ValidationReport, Any]:
    """Run the spec's suite (or its production form) on a frame; returns the report and the raw GX result."""
    gx, _ = _gx()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch_definition = (
        context.data_sources.add_pandas(name=spec.name)
        .add_dataframe_asset(name="batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    suite = context.suites.add(build_suite(spec, batch, text_columns, production))
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format="SUMMARY")
    # GX gives every expectation a random id: hash only what the expectations check.
    checks = [{k: v for k, v in e.items() if k != "id"} for e in suite.to_json_dict()["expectations"]]
    suite_json = json.dumps(checks, sort_keys=True, default=str)
    validation_id = hashlib.sha256(f"{batch.content_hash}:{suite_json}".encode()).hexdigest()[:16]
    failed = [_describe_failure(r) for r in result.results if not r.success]
    report = ValidationReport(
        validation_id=validation_id,
        dataset=spec.name,
        batch_hash=batch.content_hash,
        success=bool(result.success),
        evaluated=len(result.results),
        failed=failed,
    )
    return report, result


def write_report(report: ValidationReport, result: Any, folder: Path) -> None:
    """GX data-docs HTML plus the full JSON result and our summary."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    folder.mkdir(parents=True, exist_ok=True)
    html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(result))
    (folder / "report.html").write_text(html, encoding="utf-8")
    (folder / "result.json").write_text(json.dumps(result.to_json_dict(), indent=2, default=str))
    (folder / "summary.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))


def quarantine_batch(batch: BatchRef, report: ValidationReport, result: Any) -> Path:
    """Move a rejected batch out of the batch store, its report beside it; nothing is deleted."""
    source_dir = Path(batch.path).parent
    target = workspace_root() / "quarantine" / batch.dataset / source_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source_dir.exists():
        if target.exists():  # the same batch was rejected before: keep one copy, the newest report
            shutil.rmtree(target)
        shutil.move(str(source_dir), str(target))
    write_report(report, result, target / "validation")
    return target


def validate_batch(batch: BatchRef | dict[str, Any], spec: DatasetSpec) -> ValidationReport:
    """Validate a collected batch; record the result, or quarantine the batch and raise."""
    batch = BatchRef.from_dict(batch) if isinstance(batch, dict) else batch
    frame = load_batch(batch)
    report, result = validate_frame(frame, spec, batch)
    if report.success:
        folder = workspace_root() / "validations" / spec.name / report.validation_id
        write_report(report, result, folder)
        return ValidationReport(**{**report.to_dict(), "report_dir": str(folder)})
    target = quarantine_batch(batch, report, result)
    report = ValidationReport(**{**report.to_dict(), "report_dir": str(target / "validation")})
    message = (
        f"batch {batch.content_hash[:16]} of dataset {spec.name!r} failed validation: "
        f"{len(report.failed)} of {report.evaluated} expectations failed\n{format_failures(report.failed)}\n"
        f"batch quarantined at {target} (report: {target / 'validation' / 'report.html'}); "
        "nothing was trained or registered"
    )
    raise DataValidationError(message, report)

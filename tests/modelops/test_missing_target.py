"""A training file without the target column: refused at validation naming the column, the batch
quarantined with its report, as a file missing a feature is; nothing reaches the batch store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from modelops.collect.sources import collect_batch
from modelops.config.settings import REPO_ROOT
from modelops.validate.validation import DataValidationError, validate_batch

ANES = REPO_ROOT / "include" / "data" / "anes96.csv"


def test_a_file_without_the_target_is_refused_naming_it_and_quarantined_with_its_report(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    path = tmp_path / "extract.csv"
    pd.read_csv(ANES).head(300).drop(columns=[spec.target]).to_csv(path, index=False)

    batch = collect_batch(spec, path=str(path))  # collected like a file missing a feature: validation judges it
    assert spec.target not in batch.columns
    with pytest.raises(DataValidationError) as caught:
        validate_batch(batch, spec)

    message = str(caught.value)
    headline, first = message.splitlines()[:2]
    assert f"dataset {spec.name!r} failed validation" in headline
    assert first.startswith(f"  - target_column_present on {spec.target!r}")  # the target first, by name
    assert f"the batch has no column {spec.target!r}" in first
    assert "nothing was trained or registered" in message
    assert not isinstance(caught.value.__cause__, KeyError)

    quarantined = workspace / "quarantine" / spec.name / Path(batch.path).parent.name
    assert f"batch quarantined at {quarantined}" in message
    assert (quarantined / "batch.parquet").exists() and not Path(batch.path).exists()
    assert (quarantined / "validation" / "report.html").exists()
    summary = json.loads((quarantined / "validation" / "summary.json").read_text())
    assert not summary["success"] and summary["labels"] == {}
    assert summary["failed"][0]["expectation"] == "target_column_present"
    assert summary["failed"][0]["column"] == spec.target
    page = (quarantined / "validation" / "report.html").read_text(encoding="utf-8")
    assert "target_column_present" in page and f"<b>{spec.target}</b>" in page
    # the schema check names it as well, as it names a missing feature
    schema = [f for f in summary["failed"] if f["expectation"] == "expect_table_columns_to_match_set"]
    assert schema and spec.target in json.dumps(schema)

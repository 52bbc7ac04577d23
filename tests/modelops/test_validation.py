"""The GX gate: good batches pass with a stable id; bad ones are quarantined with a report and listed reasons."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from modelops.sources import collect_batch
from modelops.validation import DataValidationError, validate_batch


@pytest.fixture
def voter_spec(settings):
    return settings.dataset("voter_turnout")


def _raw_voters(spec) -> pd.DataFrame:
    """The generated raw voter table (with PII and join key), as a source system would hold it."""
    collect_batch(spec, sample_rows=800)
    return pd.read_parquet(spec.raw_dir() / "voters.parquet")


def test_good_batch_passes_with_a_deterministic_id_and_a_report(workspace, voter_spec):
    batch = collect_batch(voter_spec, sample_rows=800)
    first = validate_batch(batch, voter_spec)
    second = validate_batch(batch.to_dict(), voter_spec)
    assert first.success and not first.failed
    assert first.evaluated > 40
    assert first.validation_id == second.validation_id
    report = Path(first.report_dir)
    assert (report / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((report / "summary.json").read_text())["batch_hash"] == batch.content_hash


def test_anes_batch_passes(workspace, settings):
    spec = settings.dataset("anes96_vote")
    assert validate_batch(collect_batch(spec), spec).success


def test_bad_batch_is_quarantined_and_every_problem_is_named(workspace, voter_spec, tmp_path):
    raw = _raw_voters(voter_spec)
    raw.loc[0, "age"] = 150
    raw.loc[1, "party"] = "XYZ"
    raw.loc[2, "education"] = None
    raw.loc[4, "voter_id"] = raw.loc[3, "voter_id"]
    raw.loc[5, "gender"] = "call 555-123-4567"
    raw.to_csv(tmp_path / "bad.csv", index=False)
    batch = collect_batch(voter_spec, path=str(tmp_path / "bad.csv"))

    with pytest.raises(DataValidationError) as caught:
        validate_batch(batch, voter_spec)

    message = str(caught.value)
    failed = {(f["expectation"], f["column"]) for f in caught.value.report.failed}
    assert ("expect_column_values_to_be_between", "age") in failed
    assert ("expect_column_values_to_be_in_set", "party") in failed
    assert ("expect_column_values_to_not_be_null", "education") in failed
    assert ("expect_column_values_to_be_unique", "voter_id") in failed
    assert ("expect_column_values_to_not_match_regex_list", "gender") in failed
    assert "150" in message and "XYZ" in message and "nothing was trained or registered" in message
    quarantined = Path(caught.value.report.report_dir).parent
    assert quarantined.parent.parent.name == "quarantine"
    assert (quarantined / "batch.parquet").exists()
    assert (quarantined / "validation" / "report.html").exists()
    assert not Path(batch.path).exists()  # moved, not copied: the batch store only holds good data


def test_unmatched_join_rows_fail_coverage(workspace, voter_spec, tmp_path):
    raw = _raw_voters(voter_spec)
    raw.loc[:9, "county_fips"] = "99999"  # no such county in the side tables
    raw.to_parquet(tmp_path / "orphans.parquet", index=False)
    batch = collect_batch(voter_spec, path=str(tmp_path / "orphans.parquet"))
    assert [j["unmatched_rows"] for j in batch.join_report["joins"]] == [10, 10]
    with pytest.raises(DataValidationError) as caught:
        validate_batch(batch, voter_spec)
    coverage = [f for f in caught.value.report.failed if f["why"].startswith("join coverage")]
    assert {f["column"] for f in coverage} >= {"unemployment_rate", "county_turnout_prev"}
    assert all(f["unexpected_count"] == 10 for f in coverage)


def test_missing_column_and_single_class_target_fail(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    frame = pd.read_csv(spec.resolve_path(spec.source["path"])).drop(columns=["TVnews"])
    frame["vote"] = 1
    frame.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(DataValidationError) as caught:
        validate_batch(collect_batch(spec, path=str(tmp_path / "broken.csv")), spec)
    failed = {f["expectation"]: f for f in caught.value.report.failed}
    assert failed["expect_table_columns_to_match_set"]["details"]["mismatched"]["missing"] == ["TVnews"]
    assert "expect_column_unique_value_count_to_be_between" in failed

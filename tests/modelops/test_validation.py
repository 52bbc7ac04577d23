"""The GX gate: good batches pass with a stable id; bad ones are quarantined with a report and listed reasons."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from modelops.collect.sources import BatchRef, collect_batch, content_hash, read_table, write_batch
from modelops.config.models import ValidationRules
from modelops.config.settings import DatasetSpec
from modelops.validate.failures import format_failures
from modelops.validate.redaction import MAX_TEXT_LENGTH, PII_EXPECTATION, PII_PATTERNS, REDACTED
from modelops.validate.suite import build_suite, import_gx, offered_checks
from modelops.validate.validation import DataValidationError, validate_batch, validate_frame


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
    second = validate_batch(batch.to_xcom(), voter_spec)
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
    assert ("expect_compound_columns_to_be_unique", "voter_id+cycle") in failed  # a voter once per cycle
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


def test_the_suite_is_a_set_and_a_repeated_check_keeps_its_first_reason(workspace, voter_spec):
    # The join's coverage check and the column's missing-value rule are the same GX check on the joined
    # columns: the suite holds it once, with the join's reason (added first), as GX's add_expectation would.
    batch = collect_batch(voter_spec, sample_rows=300)
    joined = {c for j in batch.join_report["joins"] for c in j["columns"] if c in voter_spec.kept_columns}
    assert joined
    suite = build_suite(voter_spec, batch, text_columns=[])
    not_null = [e for e in suite.expectations if e.expectation_type == "expect_column_values_to_not_be_null"]
    columns = [e.column for e in not_null]
    assert len(columns) == len(set(columns)) and joined <= set(columns)
    assert all(e.meta["why"].startswith("join coverage") for e in not_null if e.column in joined)
    # the same suite as GX's own add_expectation makes of every check offered, repeats included
    gx, _ = import_gx()
    gx.get_context(mode="ephemeral")  # (add_expectation asks for a context)
    offered = offered_checks(voter_spec, batch, text_columns=[])
    assert len(offered) > len(suite.expectations)  # repeats were offered
    reference = gx.ExpectationSuite(name="reference")
    for expectation in offered:
        reference.add_expectation(expectation)

    def described(expectations):
        return [(e.expectation_type, e.configuration.kwargs, e.meta["why"]) for e in expectations]

    assert described(suite.expectations) == described(reference.expectations)


def test_missing_column_and_single_class_target_fail(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    frame = pd.read_csv(spec.resolve_path(spec.source["path"])).drop(columns=["TVnews"])
    frame["vote"] = 1
    frame.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(DataValidationError) as caught:
        validate_batch(collect_batch(spec, path=str(tmp_path / "broken.csv")), spec)
    failed = {f["expectation"]: f for f in caught.value.report.failed}
    assert failed["expect_table_columns_to_match_set"]["details"]["mismatched"]["missing"] == ["TVnews"]
    assert failed["labelled_rows_hold_negative_class"]["observed_value"] == "0 negative rows among 944 labelled"


# --- Bad files, told plainly: linear checks, no PII copied, truly bad rows, readable reports -------------

SURVEY = DatasetSpec(
    name="survey",
    description="a small survey extract",
    source={"kind": "file", "path": "unused.csv"},
    target="voted",
    positive_class=1,
    id_column="id",
    numeric=("age",),
    categorical=("comment", "code"),
    validation=ValidationRules(
        row_count=[1, None], ranges={"age": [18, 110]}, categories={"code": [1, 2, 3, 4, 5, 6, 7], "voted": [0, 1]}
    ),
    positive_labels=(1,),
    negative_labels=(0,),
)


def _survey_csv(path: Path, rows: int = 200, **cells: dict[int, str]) -> pd.DataFrame:
    """A survey extract as a CSV on disk (codes written as numbers), read back the way collection reads it."""
    frame = pd.DataFrame(
        {
            "id": range(rows),
            "age": [18 + i % 60 for i in range(rows)],
            "comment": [("fine", "call back later", "moved away")[i % 3] for i in range(rows)],
            "code": [1 + i % 7 for i in range(rows)],
            "voted": [i % 2 for i in range(rows)],
        }
    ).astype({"comment": object, "code": object, "voted": object})
    for column, values in cells.items():
        frame[column] = frame[column].astype(object)
        for row, value in values.items():
            frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return read_table(path)


def _ref(frame: pd.DataFrame) -> BatchRef:
    return BatchRef(
        dataset=SURVEY.name,
        path="",
        content_hash=content_hash(frame),
        rows=len(frame),
        columns=list(frame.columns),
        source={},
    )


def _fail(workspace: Path, frame: pd.DataFrame) -> DataValidationError:
    batch = write_batch(frame, SURVEY, {"kind": "file"}, {})
    with pytest.raises(DataValidationError) as caught:
        validate_batch(batch, SURVEY)
    return caught.value


def _written_reports(error: DataValidationError) -> dict[str, bytes]:
    """Every file the gate wrote under the quarantine folder (the moved batch data itself aside)."""
    folder = Path(error.report.report_dir).parent
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "batch.parquet"}


def test_twenty_very_long_values_fail_on_length_without_being_scanned(workspace, tmp_path):
    long_values = {row: "x" * 200_000 for row in range(20)}
    long_values[19] = "x" * 199_980 + " joe@example.com"  # PII inside over-long text: refused unread
    frame = _survey_csv(tmp_path / "long.csv", comment=long_values)

    error = _fail(workspace, frame)

    (length,) = [f for f in error.report.failed if f["expectation"] == "text_length_at_most"]
    assert length["column"] == "comment" and length["unexpected_count"] == 20 and length["rows"] == [0, 1, 2, 3, 4]
    assert "values longer than 1000 characters in column 'comment': 20 rows (longest 200000)" in str(error)
    assert not [f for f in error.report.failed if f["expectation"] == PII_EXPECTATION]  # never fed to the regex
    assert len(str(error)) < 3000
    assert all(b"x" * (MAX_TEXT_LENGTH + 1) not in data for data in _written_reports(error).values())
    assert (Path(error.report.report_dir).parent / "batch.parquet").exists()  # quarantined


@pytest.mark.parametrize(
    ("text", "personal"),
    [
        ("write to joe.bloggs@example.com today", True),
        ("a+b@mail.example.co.uk", True),
        ("x@y.io", True),
        ("ssn 123-45-6789", True),
        ("(555) 123-4567", True),
        ("555.123.4567", True),
        ("call back later", False),
        ("user@localhost", False),
        ("name@domain.c", False),
        ("2024-01-15", False),
        ("12-345-6789", False),
        ("x" * 5000, False),
        ("@" * 5000, False),
        ("a@" * 2500, False),
    ],
)
def test_pii_patterns_find_what_the_former_ones_found(text, personal):
    current = any(re.search(p, text) for p in PII_PATTERNS)
    former = any(re.search(p, text) for p in [r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", *PII_PATTERNS[1:]])
    assert current == former == personal


def test_pii_values_are_never_copied_into_messages_or_reports(workspace, tmp_path):
    pii = {
        "comment": {3: "write to joe.bloggs@example.com", 7: "ssn 123-45-6789", 11: "(555) 123-4567"},
        "code": {20: "555-867-5309"},  # also an unexpected category: its example must not be the value
        "voted": {30: "jane@example.org"},  # also an unlabelled row: label counts must not show it
    }
    error = _fail(workspace, _survey_csv(tmp_path / "pii.csv", **pii))

    values = [v for cells in pii.values() for v in cells.values()]
    written = _written_reports(error)
    assert {Path(p).name for p in written} >= {"report.html", "result.json", "summary.json"}
    for value in values:
        assert value not in str(error)
        assert value not in json.dumps(error.report.to_xcom())
        for path, data in written.items():
            assert value.encode() not in data, (value, path)
    checks = {(f["expectation"], f["column"]): f for f in error.report.failed}
    comment = checks[(PII_EXPECTATION, "comment")]
    assert comment["unexpected_count"] == 3 and comment["rows"] == [3, 7, 11] and "examples" not in comment
    assert "3 bad rows at row positions 3, 7, 11\n" in str(error)
    assert checks[(PII_EXPECTATION, "code")]["rows"] == [20]
    assert checks[("expect_column_values_to_be_in_set", "code")]["examples"] == [REDACTED]
    assert error.report.labels["other_values"] == {REDACTED: 1}


def test_numeric_codes_read_as_text_count_only_the_truly_bad_rows(tmp_path):
    frame = _survey_csv(tmp_path / "dk.csv", code={57: "DK"})
    assert not pd.api.types.is_numeric_dtype(frame["code"])  # one text value: the whole column reads as text
    before = frame["code"].tolist()

    report, _ = validate_frame(frame, SURVEY, _ref(frame))

    (bad,) = report.failed
    assert (bad["expectation"], bad["column"]) == ("expect_column_values_to_be_in_set", "code")
    assert bad["unexpected_count"] == 1 and bad["examples"] == ["DK"] and bad["rows"] == [57]
    assert "1 bad row at row position 57; e.g. ['DK']" in format_failures(report.failed)
    assert frame["code"].tolist() == before  # the batch itself is not changed
    clean = _survey_csv(tmp_path / "clean.csv")
    assert validate_frame(clean, SURVEY, _ref(clean))[0].success


def test_a_numeric_column_read_as_text_names_only_the_values_that_are_not_numbers(tmp_path):
    frame = _survey_csv(tmp_path / "age.csv", age={4: "DK", 11: "joe@example.com"})
    report, _ = validate_frame(frame, SURVEY, _ref(frame))
    checks = {f["expectation"]: f for f in report.failed if f["column"] == "age"}
    numbers = checks["values_are_numbers"]
    assert numbers["unexpected_count"] == 2 and numbers["rows"] == [4, 11]
    assert numbers["examples"] == ["DK", REDACTED]
    assert checks["expect_column_values_to_be_in_type_list"]["observed_value"] == "str"


def test_the_failure_message_reads_headline_rules_then_where_things_lie(workspace, tmp_path):
    error = _fail(workspace, _survey_csv(tmp_path / "bad.csv", code={5: "DK"}, age={9: 150}))
    lines = str(error).splitlines()
    folder = Path(error.report.report_dir).parent
    assert re.fullmatch(
        r"batch [0-9a-f]{16} of dataset 'survey' failed validation: 2 of \d+ GX expectations failed \(\d+ passed\); "
        r"0 of \d+ checks of our own outside GX failed",
        lines[0],
    )
    assert lines[1].startswith("  - expect_column_values_to_be_between on 'age' (value range): 1 bad row at row")
    assert lines[2].startswith("  - expect_column_values_to_be_in_set on 'code' (allowed categories): 1 bad row")
    assert lines[3:] == [
        f"batch quarantined at {folder}",
        f"report: {folder / 'validation' / 'report.html'}",
        "nothing was trained or registered",
    ]


def test_the_report_states_one_count_of_checks_the_same_as_gx_statistics(workspace, tmp_path):
    error = _fail(workspace, _survey_csv(tmp_path / "bad.csv", code={5: "DK"}, comment={8: "x" * 2000}))
    page = (Path(error.report.report_dir) / "report.html").read_text()
    result = json.loads((Path(error.report.report_dir) / "result.json").read_text())
    stats = result["statistics"]
    text = re.sub(r"<[^>]+>", " ", page)
    shown = {
        name: int(re.search(rf"{name}\s+(\d+)", text).group(1))
        for name in ("Evaluated Expectations", "Successful Expectations", "Unsuccessful Expectations")
    }
    assert shown == {
        "Evaluated Expectations": stats["evaluated_expectations"],
        "Successful Expectations": stats["successful_expectations"],
        "Unsuccessful Expectations": stats["unsuccessful_expectations"],
    }
    ours = re.search(r"(\d+) of (\d+) GX expectations failed \((\d+) passed\); (\d+) of (\d+) checks of our own", text)
    assert ours, "our summary states GX's count"
    failed, evaluated, passed, own_failed, own = map(int, ours.groups())
    assert (evaluated, passed, failed) == (
        stats["evaluated_expectations"],
        stats["successful_expectations"],
        stats["unsuccessful_expectations"],
    )
    assert own_failed == 1 and own >= 1  # the over-long comment: a check of our own, not a GX expectation


def test_the_report_loads_nothing_from_the_network_and_shows_failures_first(workspace, tmp_path):
    error = _fail(workspace, _survey_csv(tmp_path / "bad.csv", code={5: "DK"}, comment={8: "x" * 2000}))
    page = (Path(error.report.report_dir) / "report.html").read_text()

    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\bsrc\s*=\s*[\"']?(?:https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?(?:https?:)?//", page, re.IGNORECASE)
    assert not re.search(r"\b(?:src|href)\s*=\s*[\"']?https?://|url\(\s*[\"']?https?://", page, re.IGNORECASE)
    assert "<style>" in page
    summary = page.index('class="modelops-summary failed"')
    assert summary < page.index("text_length_at_most") < page.index('id="section-1"')  # our checks on top
    icons = re.findall(r'<i class="fas (fa-times|fa-check-circle) text-(?:danger|success)" >', page)
    assert icons[0] == "fa-times" and "fa-check-circle" in icons  # the GX rows: failed ones first
    assert icons.index("fa-check-circle") == icons.count("fa-times")

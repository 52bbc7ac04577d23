"""Who served a scored snapshot: `served_by` on hand-built manifests shaped as commit_scoring writes them
(all model, mixed, all fallback, canary, shadow, a block of questions missing), its refusals, the
monitoring report's `served` record, and `alias_log.describe_serving` next to a snapshot (real audit DB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelops.core.served import percent, served_by, split_reason
from modelops.store import alias_log, history, registry

MODEL_NAME = "voter_turnout_model"


def _manifest(model: int, fallback: int = 0, canary: int = 0, reasons: dict | None = None, **extra) -> dict:
    """The keys of a scoring manifest that say who served (see scoring.commit_scoring)."""
    rows = model + fallback + canary
    return {
        "dataset": "voter_turnout",
        "snapshot": "2028-10-01",
        "model_name": MODEL_NAME,
        "alias": "champion",
        "model_version": "1",
        "challenger_version": None,
        "shadow": False,
        "canary_share": 0.0,
        "rows_in": rows,
        "rows_out": rows,
        "sources": {"model": model, "fallback": fallback, "canary": canary},
        "fallback_reasons": dict(sorted((reasons or {}).items(), key=lambda kv: -kv[1])),
        **extra,
    }


def test_all_rows_by_the_model():
    truth = served_by(_manifest(4000))
    assert (truth.rows, truth.model_rows, truth.canary_rows, truth.fallback_rows) == (4000, 4000, 0, 0)
    assert truth.line() == "v1 scored all 4,000 rows; rule-based fallback 0"
    assert truth.share("model") == 1.0 and truth.columns == {} and truth.fallback_reasons == ()


def test_mixed_rows_name_the_fallback_reasons_and_the_canary():
    manifest = _manifest(
        3990,
        fallback=10,
        reasons={"missing:age": 6, "not_a_number:income": 4},
        challenger_version="2",
        canary_share=0.05,
    )
    truth = served_by(manifest)
    assert truth.line() == (
        "v1 scored 3,990 of 4,000 rows (99.8%); rule-based fallback 10 (missing:age 6, not_a_number:income 4); "
        "canary v2 0"
    )
    assert truth.columns == {"missing": ("age",), "not_a_number": ("income",)}
    assert truth.reason_kinds == {"missing": 6, "not_a_number": 4}


def test_all_fallback_never_says_the_version_served():
    truth = served_by(_manifest(0, fallback=4000, reasons={"score_distribution": 4000}))
    line = truth.line()
    assert line == "the rule-based fallback served all 4,000 rows (score_distribution 4,000); v1 scored none"
    assert not line.startswith("v1") and "served by v1" not in line
    assert truth.share("fallback") == 1.0 and truth.columns == {}  # a bare kind names no column


def test_canary_rows_are_counted_apart_and_shadow_is_said():
    canary = served_by(_manifest(3800, canary=200, challenger_version="2", canary_share=0.05))
    assert canary.line() == "v1 scored 3,800 of 4,000 rows (95.0%); rule-based fallback 0; canary v2 200"
    shadow = served_by(_manifest(4000, challenger_version="2", shadow=True))
    assert shadow.line() == "v1 scored all 4,000 rows; rule-based fallback 0; v2 in shadow"
    nobody = served_by(_manifest(0, fallback=300, canary=100, reasons={"model_unavailable": 300}, canary_share=0.25))
    assert nobody.line() == "v1 scored none of 400 rows; rule-based fallback 300 (model_unavailable 300); canary 100"


def test_a_block_of_questions_missing_names_its_columns():
    # the unlabelled respondents skipped q1-q8: each row's first failed check names the first blank one
    block = {f"missing:q{i}": 900 - 100 * i for i in range(1, 9)}
    reasons = {**block, "not_a_number:age": 5, "score_distribution": 3}
    fallback = sum(reasons.values())
    truth = served_by(_manifest(1000, fallback=fallback, reasons=reasons))
    assert truth.columns == {"missing": tuple(f"q{i}" for i in range(1, 9)), "not_a_number": ("age",)}
    assert truth.line() == (
        f"v1 scored 1,000 of {1000 + fallback:,} rows ({percent(1000, 1000 + fallback)}); rule-based fallback "
        f"{fallback:,} (missing {sum(block.values()):,} in q1, q2, q3, q4, q5, q6, q7, q8; not_a_number 5 in age; "
        "score_distribution 3)"
    )
    few = served_by(_manifest(10, fallback=3, reasons={"missing:q1": 2, "missing:q2": 1}))
    assert few.reasons_text() == "missing:q1 2, missing:q2 1" and few.columns == {"missing": ("q1", "q2")}


def test_shares_never_round_a_remainder_away():
    assert (
        served_by(_manifest(3999, fallback=1, reasons={"missing_id": 1}))
        .line()
        .startswith("v1 scored 3,999 of 4,000 rows (>99.9%)")
    )
    assert percent(1, 4000) == "<0.1%" and percent(0, 10) == "0.0%" and percent(1, 0) == "n/a"
    assert split_reason("missing:q:1") == ("missing", "q:1") and split_reason("duplicate_id") == ("duplicate_id", None)


def test_counts_that_do_not_add_up_are_refused_by_name():
    broken = _manifest(10, fallback=2)
    broken["rows_in"] = 13
    with pytest.raises(ValueError, match="add up to 12 rows, not its 13 rows in"):
        served_by(broken)
    with pytest.raises(ValueError, match="needs 'sources'"):
        served_by({"model_version": "1"})
    with pytest.raises(ValueError, match="unknown sources in the manifest: baseline"):
        served_by({**_manifest(1), "sources": {"model": 1, "baseline": 0}, "rows_in": 1})


def test_the_monitoring_reports_served_record_reads_the_same():
    # monitoring's _served_summary: the served version under `served_version`, no rows_in
    served = {
        "served_version": "3",
        "challenger_version": None,
        "shadow": False,
        "sources": {"model": 0, "canary": 0, "fallback": 8000},
        "fallback_reasons": {"score_distribution": 8000},
    }
    assert served_by(served).line() == (
        "the rule-based fallback served all 8,000 rows (score_distribution 8,000); v3 scored none"
    )


def test_describe_serving_adds_the_rows_truth_next_to_a_snapshot(workspace):
    before = datetime.now(UTC) - timedelta(seconds=1)
    with history.get_engine().begin() as connection:
        history.alias_change(connection, MODEL_NAME, registry.CHAMPION, "1", None, "tests", "first", None)
    when = datetime.now(UTC) + timedelta(seconds=1)
    manifest = _manifest(0, fallback=4000, reasons={"score_distribution": 4000})
    stamp = when.isoformat(timespec="seconds")
    assert alias_log.describe_serving(MODEL_NAME, when) == f"{MODEL_NAME}@champion pointed to v1 at {stamp}"
    assert alias_log.describe_serving(MODEL_NAME, when, served=manifest) == (
        f"{MODEL_NAME}@champion pointed to v1 at {stamp}; the rule-based fallback served all 4,000 rows "
        "(score_distribution 4,000); v1 scored none"
    )
    assert alias_log.describe_serving(MODEL_NAME, when, served=served_by(manifest)) == alias_log.describe_serving(
        MODEL_NAME, when, served=manifest
    )
    assert "served v" not in alias_log.describe_serving(MODEL_NAME, when)  # the alias names, it does not serve
    assert "no version" in alias_log.describe_serving(MODEL_NAME, before)


def test_a_block_of_questions_missing_is_named_whole_not_by_its_first_question():
    block = [f"q{i}" for i in range(1, 9)]
    manifest = {
        "model_version": "3",
        "rows_in": 1000,
        "sources": {"model": 400, "canary": 0, "fallback": 600},
        "fallback_reasons": {"missing:q1": 600},  # a row's first failed check
        "failed_checks": {f"missing:{c}": 600 for c in block},  # every check that failed
    }
    served = served_by(manifest)
    assert served.columns == {"missing": tuple(block)}
    line = served.line()
    assert "v3 scored 400 of 1,000 rows (40.0%)" in line
    assert "missing 600 in q1, q2, q3, q4, q5, q6, q7, q8" in line
    # two checks failed on the same rows: both are named, the second as "also failed"
    pair = {**manifest, "failed_checks": {"missing:q1": 600, "missing:q2": 600}}
    assert "missing:q1 600; the same rows also failed missing:q2 600" in served_by(pair).line()

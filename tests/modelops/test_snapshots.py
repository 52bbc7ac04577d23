"""Snapshots: what a scoring run scores, from its Params or from the snapshot event that started it."""

from __future__ import annotations

import pandas as pd
import pytest

from modelops.collect.snapshots import default_snapshot_id, describe, request_from
from modelops.core import catalog
from modelops.core.alerts import build_failure_alert, build_scoring_alert

PARAMS = {
    "dataset": "voter_turnout",
    "input": None,
    "conn_id": None,
    "query": None,
    "snapshot": None,
    "alias": "champion",
}


def test_params_are_the_request_when_a_person_triggers():
    request = request_from({**PARAMS, "input": "/data/2028-10-01.parquet"}, [])
    assert request["input"] == "/data/2028-10-01.parquet" and request["alias"] == "champion"
    assert "queued_snapshots" not in request


def test_the_newest_event_is_scored_and_earlier_ones_are_named():
    events = [
        {"dataset": "voter_turnout", "snapshot": "2028-10-01", "input": "/a.parquet"},
        {"dataset": "voter_turnout", "snapshot": "2028-10-02", "input": "/b.parquet"},
    ]
    request = request_from(PARAMS, events)
    assert (request["snapshot"], request["input"]) == ("2028-10-02", "/b.parquet")
    assert request["queued_snapshots"] == ["2028-10-01"]
    assert request["alias"] == "champion"  # the Params' default stays where the event says nothing


def test_an_event_that_names_nothing_is_refused():
    with pytest.raises(ValueError, match="without dataset and input/snapshot"):
        request_from(PARAMS, [{"note": "hello"}])
    with pytest.raises(ValueError, match="no dataset"):
        request_from({**PARAMS, "dataset": None}, [])


def test_snapshot_ids_come_from_names_and_refuse_paths(tmp_path):
    assert default_snapshot_id("/x/2028-10-01.parquet") == "2028-10-01"
    assert default_snapshot_id("/x/voters.csv") == "voters"
    folder = tmp_path / "national-2028"
    folder.mkdir()
    assert default_snapshot_id(str(folder)) == "national-2028"
    assert default_snapshot_id(None) is None
    with pytest.raises(ValueError, match="cannot name a folder"):
        catalog.safe_id("../etc", "snapshot id")


def test_describe_checks_the_input_is_there(workspace, tmp_path):
    with pytest.raises(FileNotFoundError, match="no input at"):
        describe("voter_turnout", None, "2028-10-01")
    catalog.write_parquet(pd.DataFrame({"voter_id": ["a"]}), catalog.snapshot_inputs("voter_turnout", "2028-10-01"))
    extra = describe("voter_turnout", None, "2028-10-01")
    assert extra["snapshot"] == "2028-10-01" and extra["input"].endswith("inputs/2028-10-01.parquet")
    empty = tmp_path / "parts"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"holds no \.parquet partitions"):
        describe("voter_turnout", str(empty), None, [str(tmp_path)])
    text = tmp_path / "voters.txt"
    text.write_text("x")
    with pytest.raises(ValueError, match=r"neither \.parquet nor \.csv"):
        describe("voter_turnout", str(text), None, [str(tmp_path)])


def test_scoring_alerts_only_beyond_single_rows():
    manifest = {"dataset": "d", "snapshot": "s", "model_name": "m", "model_version": "3", "rows": 10}
    assert build_scoring_alert({**manifest, "alerts": []}) is None
    alert = build_scoring_alert({**manifest, "rows_fallback": 10, "alerts": ["model could not be loaded: boom"]})
    assert alert["kind"] == "modelops.scoring.fallback" and alert["model"] == "m v3"
    assert alert["why"].startswith("10 of 10 rows") and alert["reasons"] == ["model could not be loaded: boom"]
    # a shift the model served is a warning, not a fallback alert
    shifted = build_scoring_alert({**manifest, "rows_fallback": 0, "alerts": ["rows 0..9: score PSI 0.4 >= 0.25"]})
    assert shifted["kind"] == "modelops.scoring.alert" and shifted["severity"] == "warning"
    # a fallback share above its limit is one, whatever the cause (values here)
    share = "4 of 10 rows (40.0%) were served by the rule-based fallback, above fallback_share 5.0%"
    by_share = build_scoring_alert({**manifest, "rows_fallback": 4, "alerts": [share], "fallback_reasons": {"x": 4}})
    assert by_share["kind"] == "modelops.scoring.fallback" and by_share["severity"] == "critical"


def test_failure_alert_says_what_was_left_undone():
    alert = build_failure_alert(
        "modelops_scoring",
        "commit",
        "r1",
        {"dataset": "d", "snapshot": "s"},
        OSError("disk"),
        "modelops.scoring.failure",
    )
    assert alert["kind"] == "modelops.scoring.failure" and alert["snapshot"] == "s"
    assert alert["why"] == "scoring task commit failed: the snapshot was not scored (no output was committed)"
    assert alert["error"] == "OSError: disk"

"""Reproduction of registered versions: a first version and a retrain with an extra batch are rebuilt
from their record (through the DAG and directly); a batch changed on disk makes the check fail."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import run_training, use_workspace

from modelops.config.settings import REPO_ROOT
from modelops.core import catalog
from modelops.core.handoffs import REPRODUCE_DAG_ID
from modelops.govern.reproduce import TOLERANCE, reproduce_version
from modelops.store import artifacts, registry

pytestmark = pytest.mark.integration
MODEL = "voter_turnout_model"


@pytest.fixture(scope="module")
def versions(tmp_path_factory, settings):
    """v1 on 3000 synthetic voters; v2 retrained with a labelled extra batch of 600 new voters added."""
    patch = pytest.MonkeyPatch()
    root = use_workspace(patch, tmp_path_factory.mktemp("reproduce") / "workspace")
    first = run_training(settings, "voter_turnout", "repro-v1", rows=3000)
    window = pd.read_parquet(first["batch"].path).sample(600, random_state=7)
    extra = catalog.write_parquet(window.assign(voter_id="new-" + window["voter_id"]), root / "extra" / "w1.parquet")
    second = run_training(settings, "voter_turnout", "repro-v2", rows=3000, extra=[str(extra)])
    yield first, second
    patch.undo()


@pytest.fixture(scope="module")
def dag(airflow_db, versions):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(REPRODUCE_DAG_ID)


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _recorded_verdict(version: str) -> tuple[dict, dict]:
    tags = registry.model_version(MODEL, version).tags
    return tags, artifacts.load_run_dict(tags["modelops.reproduce_run_id"], artifacts.REPRODUCTION_ARTIFACT)


def _assert_reproduced(verdict: dict, done: dict) -> None:
    assert verdict["reproduced"] is True, verdict["reason"]
    predictions = verdict["predictions"]
    assert predictions["rows"] == done["plan"]["split_rows"]["holdout"] > 0
    assert predictions["max_abs_diff"] <= TOLERANCE and predictions["only_recorded"] == 0
    assert verdict["metrics"]["equal"] and verdict["metrics"]["recorded"] == pytest.approx(done["report"]["metrics"])
    assert verdict["batch"]["content_hash"] == done["batch"].content_hash
    assert verdict["code"]["same"] and verdict["params"]["same"]


def test_both_versions_reproduce(versions, dag):
    first, second = versions
    v1, v2 = first["outcome"]["version"], second["outcome"]["version"]
    assert (v1, v2) == ("1", "2")
    assert registry.model_version(MODEL, v2).tags["modelops.extra_batches"] == "1"

    run = dag.test(run_conf={"model_name": MODEL, "version": int(v1)})
    assert run.state == "success", _states(run)
    tags, verdict = _recorded_verdict(v1)
    assert tags["modelops.reproduced"] == "true" and tags["modelops.reproduce_detail"].startswith("reproduced: ")
    assert tags["modelops.reproduced_at"] == verdict["checked_at"]
    _assert_reproduced(verdict, first)

    verdict = reproduce_version(MODEL, v2, run_key="check-v2")
    _assert_reproduced(verdict, second)
    assert registry.model_version(MODEL, v2).tags["modelops.reproduced"] == "true"
    again = reproduce_version(MODEL, v2, run_key="check-v2")  # a retried check: its recorded verdict, one run
    assert again == verdict


def test_a_changed_batch_fails_the_check_and_says_so(versions, dag):
    first, second = versions
    path = first["batch"].path
    batch = pd.read_parquet(path)
    batch.loc[0, "age"] = batch.loc[0, "age"] + 1  # one value rewritten on disk
    catalog.write_parquet(batch, path)

    run = dag.test(run_conf={"model_name": MODEL, "version": "1"})
    states = _states(run)
    assert run.state == "failed" and states == {"reproduce": "success", "report": "failed"}, states
    tags, verdict = _recorded_verdict("1")
    assert tags["modelops.reproduced"] == "false"
    assert verdict["reproduced"] is False and verdict["reason"].startswith("batch changed since training")
    assert first["batch"].content_hash[:16] in verdict["reason"]
    assert tags["modelops.reproduce_detail"] == f"failed: {verdict['reason']}"

    # the retrain's batch is its own file: it still reproduces; once gone, the check says so
    assert reproduce_version(MODEL, "2")["reproduced"] is True
    Path(second["batch"].path).unlink()
    gone = reproduce_version(MODEL, "2")
    assert gone["reproduced"] is False and gone["reason"].startswith("batch file missing")
    assert registry.model_version(MODEL, "2").tags["modelops.reproduced"] == "false"

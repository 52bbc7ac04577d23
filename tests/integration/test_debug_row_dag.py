"""The debug-row DAG end to end: an id of a scored snapshot gives its record; a refused row fails at once."""

from __future__ import annotations

import dataclasses
import json

import pytest
from conftest import train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.config.settings import REPO_ROOT
from modelops.core import catalog
from modelops.core.handoffs import DEBUG_ROW_DAG_ID
from modelops.score.snapshot import score_snapshot

pytestmark = pytest.mark.integration
DATASET = "voter_turnout"


@pytest.fixture(scope="module")
def scored(tmp_path_factory, settings):
    """A logistic champion and one scored snapshot of 200 voters."""
    patch = pytest.MonkeyPatch()
    use_workspace(patch, tmp_path_factory.mktemp("debug-dag") / "workspace")
    spec = train_and_promote(settings, 2500, "debug-dag")
    frame = simulate_window(spec, "stable", 200, 4).drop(columns=[spec.target])
    catalog.write_parquet(frame, catalog.snapshot_inputs(DATASET, "2028-11-01"))
    options = settings.scoring.model_copy(update={"input_roots": ["/"]})
    score_snapshot(spec, dataclasses.replace(settings, scoring=options), snapshot="2028-11-01")
    yield frame
    patch.undo()


@pytest.fixture(scope="module")
def dag(airflow_db, scored):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(DEBUG_ROW_DAG_ID)


def _tries(run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def test_an_id_gives_its_record_and_a_refused_row_fails_without_retry(dag, scored):
    voter = str(scored.loc[3, "voter_id"])
    run = dag.test(run_conf={"dataset": DATASET, "id": voter})
    assert run.state == "success", _tries(run)
    (folder,) = (catalog.root() / "debug" / DATASET).iterdir()
    record = json.loads((folder / catalog.DEBUG_ROW_JSON).read_text(encoding="utf-8"))
    assert record["id"] == voter and record["snapshot"] == "2028-11-01" and record["row"] == 3
    assert (folder / catalog.DEBUG_ROW_HTML).exists()

    refused = dag.test(run_conf={"dataset": DATASET, "row": {"age": 40, "shoe_size": 9}})
    assert refused.state == "failed"
    assert _tries(refused) == {"debug": ("failed", 1)}  # deterministic: no retry

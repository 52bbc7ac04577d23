"""Every DAG file imports cleanly, quickly and lightly, and follows the house rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "sklearn", "mlflow", "great_expectations", "scipy", "matplotlib")


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"modelops_training", "modelops_model_card"} <= set(dagbag.dag_ids)


def test_house_rules(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags and "modelops" in dag.tags, dag_id
        assert dag.doc_md and dag.doc_md.strip(), dag_id
        assert dag.catchup is False, dag_id
        assert dag.max_active_runs == 1, dag_id
        for task in dag.tasks:
            assert task.retries is not None and task.execution_timeout is not None, (dag_id, task.task_id)


@pytest.mark.parametrize("dag_file", sorted(p.name for p in (REPO / "dags").glob("*.py")))
def test_dag_files_import_nothing_heavy(dag_file):
    code = f"import runpy, sys; runpy.run_path(sys.argv[1]);print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / dag_file)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1:] in ([""], []), f"heavy modules imported at parse: {out.stdout}"


def test_a_config_error_hides_no_dag_and_fails_the_step_that_reads_the_config(airflow_db, tmp_path, monkeypatch):
    """A user file with a bad key: every DAG still loads (none reads the YAML at parse), and the step that
    reads the files fails at once with one plain line naming the file and the key."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import AirflowFailException

    from modelops_airflow.runtime import read_settings, settings_and_spec

    user = tmp_path / "ours.yaml"
    user.write_text("training:\n  seed: one\n", encoding="utf-8")
    monkeypatch.setenv("MODELOPS_CONFIG", str(user))
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert len(bag.dag_ids) == len(list((REPO / "dags").glob("modelops_*.py"))) == 7
    for read in (read_settings, lambda: settings_and_spec("voter_turnout")):
        with pytest.raises(AirflowFailException) as failed:
            read()
        assert str(failed.value) == f"{user}: training.seed: expected int, got 'one'"
        assert failed.value.__cause__ is None and failed.value.__suppress_context__  # no ConfigError traceback


def test_an_unknown_dataset_fails_the_step_naming_it_and_the_known_ones():
    from airflow.sdk.exceptions import AirflowFailException

    from modelops_airflow.runtime import settings_and_spec

    with pytest.raises(AirflowFailException) as failed:
        settings_and_spec("no_such_dataset")
    assert str(failed.value) == "unknown dataset 'no_such_dataset'; configured datasets: anes96_vote, voter_turnout"
    assert settings_and_spec(None)[1].name == "voter_turnout"  # empty: the configured default_dataset

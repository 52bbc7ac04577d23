"""Every DAG file imports cleanly, quickly and lightly, and follows the house rules."""

from __future__ import annotations

import ast
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
    assert {"modelops_training", "modelops_model_card", "modelops_debug_row"} <= set(dagbag.dag_ids)


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
    assert len(bag.dag_ids) == len(list((REPO / "dags").glob("modelops_*.py"))) == 9
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
    known = "anes96_vote, voter_support, voter_turnout"  # the bundled datasets, sorted
    assert str(failed.value) == f"unknown dataset 'no_such_dataset'; configured datasets: {known}"
    assert settings_and_spec(None)[1].name == "voter_turnout"  # empty: the configured default_dataset


def _imported_modules(path: Path) -> set[str]:
    """Top names of every module a file imports (in functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_plugins_only_register_and_dags_never_import_them():
    plugins = sorted((REPO / "plugins").glob("*.py"))
    assert plugins
    for path in plugins:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
        assert [n.name for n in defined if not isinstance(n, ast.ClassDef)] == [], path.name  # logic lives elsewhere
        for node in defined:
            assert [getattr(b, "id", None) for b in node.bases] == ["AirflowPlugin"], (path.name, node.name)
        assert _imported_modules(path) - {"__future__", "typing", "airflow", "modelops_airflow"} == set(), path.name
    names = {p.stem for p in plugins}
    for dag_file in sorted((REPO / "dags").glob("*.py")):
        assert _imported_modules(dag_file) & names == set(), dag_file.name


def _shapes(bag) -> dict[str, tuple]:
    """Per DAG what a YAML edit must not change: task ids and their edges, Params, schedule."""
    return {
        dag_id: (
            sorted((t.task_id, tuple(sorted(t.downstream_task_ids))) for t in dag.tasks),
            sorted((k, repr(v)) for k, v in dag.params.dump().items()),
            repr(dag.schedule),
        )
        for dag_id, dag in bag.dags.items()
    }


def test_the_dags_shape_does_not_depend_on_the_yaml(airflow_db, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    bundled = _shapes(DagBag(dag_folder=str(REPO / "dags")))
    user = tmp_path / "ours.yaml"
    user.write_text(
        "default_dataset: anes96_vote\ndatasets:\n  voter_turnout: null\n"
        "promotion:\n  require_approval: true\n  approval_timeout_hours: 2\n"
        "monitoring:\n  schedule: '@weekly'\ntraining:\n  candidates: [logistic_regression]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MODELOPS_CONFIG", str(user))
    assert _shapes(DagBag(dag_folder=str(REPO / "dags"))) == bundled

"""The scoring DAG refuses what cannot be scored at once: a deterministic refusal (a path outside the roots,
a query of more than one statement, a ragged row found while reading) fails its task on the first try,
without the retry transient errors get, names the problem without any row value, and leaves nothing
behind in the scoring staging area."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from conftest import psql_admin, train_and_promote

from modelops.collect.scenarios import simulate_window
from modelops.config.settings import REPO_ROOT
from modelops.core import catalog
from modelops.core.handoffs import SCORING_DAG_ID

pytestmark = pytest.mark.integration
MARKER = "MARKER-555-0199"


def _dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(SCORING_DAG_ID)


def _tries(run) -> dict[str, list[tuple[str, int]]]:
    """(state, try number) of every task instance, by task id."""
    tries: dict[str, list[tuple[str, int]]] = {}
    for ti in run.get_task_instances():
        tries.setdefault(ti.task_id, []).append((ti.state, ti.try_number))
    return tries


@pytest.fixture
def scratch_conn(monkeypatch, settings):
    """A scratch PostgreSQL database (voters and a table `x`) behind the Airflow connection `scratch_voters`."""
    import sqlalchemy as sa

    name = f"scoring_refusals_{uuid.uuid4().hex[:10]}"
    psql_admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    engine = sa.create_engine(url)
    try:
        spec = settings.dataset("voter_turnout")
        simulate_window(spec, "stable", 50, seed=4).drop(columns=[spec.target]).to_sql("voters", engine, index=False)
        pd.DataFrame({"keep": range(5)}).to_sql("x", engine, index=False)
    finally:
        engine.dispose()
    monkeypatch.setenv("AIRFLOW_CONN_SCRATCH_VOTERS", f"postgresql://postgres@127.0.0.1:5432/{name}")
    yield url
    psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _x_rows(url: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("select count(*) from x")).scalar())
    finally:
        engine.dispose()


def test_refused_inputs_fail_the_plan_once(airflow_db, workspace, tmp_path, scratch_conn):
    outside = tmp_path / "outside.parquet"
    pd.DataFrame({"voter_id": ["a", "b"]}).to_parquet(outside)
    climbing = "../" * (len(workspace.resolve().parts) + 1) + str(outside).lstrip("/")
    dag = _dag()
    for conf in (
        {"input": climbing, "snapshot": "2028-12-01"},
        {"input": str(outside), "snapshot": "2028-12-01"},
        {"conn_id": "scratch_voters", "query": "SELECT * FROM voters; COMMIT; DROP TABLE x; COMMIT"},
    ):
        run = dag.test(run_conf=conf)
        tries = _tries(run)
        assert run.state == "failed"
        assert tries["plan"] == [("failed", 1)], (conf, tries)  # no retry: the same input is refused again
        assert {state for state, _ in tries.get("commit", [])} <= {"upstream_failed"}
    assert _x_rows(scratch_conn) == 5
    assert not catalog.scoring_dir("voter_turnout").exists() or not any(catalog.scoring_dir("voter_turnout").iterdir())


def test_a_use_the_dataset_does_not_permit_fails_the_plan_once_naming_the_rule(
    airflow_db, workspace, settings, capfd, caplog
):
    frame = simulate_window(settings.dataset("voter_turnout"), "stable", 50, seed=3).drop(columns=["voted"])
    path = catalog.snapshot_inputs("voter_turnout", "2028-12-03")
    path.parent.mkdir(parents=True)
    frame.to_parquet(path, index=False)  # a readable snapshot: only the use is wrong
    run = _dag().test(run_conf={"snapshot": "2028-12-03", "use": "persuasion"})
    tries = _tries(run)
    assert run.state == "failed"
    assert tries["plan"] == [("failed", 1)], tries  # no retry: the same request is refused again
    assert {state for state, _ in tries.get("commit", [])} <= {"upstream_failed"}
    seen = capfd.readouterr()
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records) + seen.out + seen.err
    assert "permits uses [turnout_contact, research, forecast]; 'persuasion' was asked" in logged
    assert not catalog.scoring_dir("voter_turnout").exists()


def test_a_ragged_row_fails_its_group_once_and_leaves_no_staging(airflow_db, workspace, settings, capfd, caplog):
    spec = train_and_promote(settings, 3000, "refusals-v1")
    frame = simulate_window(spec, "stable", 400, seed=8).drop(columns=[spec.target])
    frame.insert(0, "phone", "555-0100")  # first: the reader's own message (cut after ~100 characters) shows it
    frame.loc[300, "phone"] = MARKER
    path = catalog.production_dir(spec.name) / "deliveries" / "2028-12-02.csv"
    path.parent.mkdir(parents=True)
    lines = frame.to_csv(index=False).splitlines()
    lines[301] += ",stray"  # line 302 of the file: the marker's row, one field too many
    path.write_text("\n".join(lines) + "\n")

    run = _dag().test(run_conf={"input": str(path)})
    tries = _tries(run)
    assert run.state == "failed"
    assert tries["plan"] == [("success", 1)]
    assert tries["score_group"] == [("failed", 1)], tries  # found while reading, still refused without retry
    assert tries["commit"] == [("upstream_failed", 0)]
    assert not catalog.scoring_manifest(spec.name, "2028-12-02").exists()
    staging = catalog.scoring_dir(spec.name) / ".parts"
    assert not staging.exists(), list(staging.rglob("*"))  # a failed run leaves nothing behind
    seen = capfd.readouterr()
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records) + seen.out + seen.err
    assert MARKER not in logged

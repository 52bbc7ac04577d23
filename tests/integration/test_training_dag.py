"""Whole training-DAG runs through Airflow (real SQLite metadata DB) against a temporary MLflow store."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT, load_settings
from modelops.core.handoffs import (
    CARD_TASK_ID,
    CHAMPION_ASSET_URI,
    KEEP_TASK_ID,
    MODEL_CARD_DAG_ID,
    PROMOTE_TASK_ID,
    TRAINING_DAG_ID,
)
from modelops.core.tags import Tag
from modelops.store import history, registry, tracking

pytestmark = pytest.mark.integration
MODEL = "voter_turnout_model"


def _load_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(TRAINING_DAG_ID)


def _states(run) -> dict[str, str]:
    return {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti.state for ti in run.get_task_instances()
    }


def _asset_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == CHAMPION_ASSET_URI)
        )


def _run_note(run_id: str) -> str | None:
    """The DAG run's note as the UI reads it (the run's row in the metadata DB, fresh)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return (
            session.scalars(select(DagRun).where(DagRun.dag_id == TRAINING_DAG_ID, DagRun.run_id == run_id)).one().note
        )


@pytest.fixture(scope="module")
def module_workspace(tmp_path_factory):
    """One workspace + MLflow store shared by the ordered lifecycle tests of this module."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("lifecycle") / "workspace"
    mp.setenv("MODELOPS_HOME", str(root))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow' / 'mlflow.db'}")
    yield root
    mp.undo()


@pytest.fixture(scope="module")
def training_dag(airflow_db, module_workspace):
    return _load_dag()


def test_first_run_promotes_a_champion_with_lineage(training_dag, module_workspace):
    events_before = _asset_events()
    run = training_dag.test(run_conf={"sample_rows": 6000})
    states = _states(run)
    assert run.state == "success", states
    assert states[PROMOTE_TASK_ID] == "success" and states[KEEP_TASK_ID] == "skipped"
    assert {states[f"train_candidate[{i}]"] for i in range(3)} == {"success"}

    champion = registry.version_by_alias(MODEL, registry.CHAMPION)
    assert str(champion.version) == "1"
    tags = champion.tags
    for key in (
        "modelops.data_hash",
        "modelops.validation_id",
        "modelops.git_commit",
        "modelops.config_hash",
        "airflow.dag_id",
        "airflow.run_id",
        "modelops.verdict",
    ):
        assert tags.get(key), key
    assert tags["modelops.verdict"] == "promote"
    assert tags["airflow.run_id"] == run.run_id
    assert tags["modelops.config_hash"] == load_settings().digest_for(tags["modelops.dataset"])
    assert Path(tags["modelops.validation_report"], "report.html").exists()
    (row,) = history.read_alias_history(MODEL)
    assert (row["alias"], row["version"], row["previous_version"]) == ("champion", "1", None)
    assert "no champion yet" in row["reason"] and row["run_id"] == run.run_id
    assert _asset_events() == events_before + 1
    summary = (module_workspace / "runs" / "voter_turnout" / "latest.txt").read_text()
    assert "PROMOTE" in summary and "champion  none yet" in summary
    # every registered version has its card, linked from its tags, before the alias moved
    assert states[CARD_TASK_ID] == "success"
    card = Path(tags[Tag.CARD_PATH])
    assert card == module_workspace / "cards" / "voter_turnout" / MODEL / "1" / "card.html" and card.exists()
    assert tags[Tag.CARD] == f"runs:/{champion.run_id}/model_card/card.html"
    assert f"  card      {card} (roc_auc" in summary
    text = card.with_name("card.md").read_text()
    assert "## At a glance" in text and "Fairness" in text and "| voted_general_lag1 |" in text
    # the run's page in the Airflow UI shows the decision, the metric and a link to the card (the run note)
    note = _run_note(run.run_id)
    assert note.startswith(f"**PROMOTE**: `{MODEL}` v1 -> alias `champion`")
    assert "- roc_auc **0." in note and "on the holdout; no champion yet" in note
    assert f"[model card](/modelops-monitor/files/cards/voter_turnout/{MODEL}/1/card.html): `{card}`" in note

    # operational figures: every task measured as it ended (the listener plugin), logged to MLflow by summarize
    from modelops.monitor import operations

    figures = operations.run_figures(TRAINING_DAG_ID, run.run_id)
    measured = {t["task"] for t in figures["tasks"]}
    ran = {name for name, state in states.items() if state == "success"}
    assert ran <= measured, ran - measured
    assert all(t["peak_rss_mb"] and t["peak_rss_mb"] > 50 for t in figures["tasks"])
    assert sum(t["bytes_written"] or 0 for t in figures["tasks"]) > 0  # batch, splits, models were written
    parent = tracking.client().get_run(tags["modelops.parent_run_id"])
    assert parent.data.metrics["ops.run.task_s"] > 0 and "ops.train_candidate_0.wall_s" in parent.data.metrics
    assert "  run       " in summary and "slowest:" in summary
    # the run's labelled rows go with its figures: its throughput is judged against earlier runs'
    assert figures["totals"]["rows"] > 0 and " ms per row" in summary and "ops.run.ms_per_row" in parent.data.metrics


def test_worse_challenger_keeps_the_champion_and_says_why(training_dag, module_workspace):
    events_before = _asset_events()
    # Same data, but one model family fitted on 150 rows: measurably worse than v1 on the holdout.
    run = training_dag.test(run_conf={"sample_rows": 6000, "candidates": ["logistic_regression"], "max_fit_rows": 150})
    states = _states(run)
    assert run.state == "success", states
    assert states[KEEP_TASK_ID] == "success" and states[PROMOTE_TASK_ID] == "skipped"
    assert str(registry.version_by_alias(MODEL, registry.CHAMPION).version) == "1"
    challenger = registry.version_by_alias(MODEL, registry.CHALLENGER)
    assert str(challenger.version) == "2"
    assert challenger.tags["modelops.verdict"] == "keep_champion"
    assert challenger.tags["modelops.compared_to"] == "v1"
    last = history.read_alias_history(MODEL)[-1]
    assert (last["alias"], last["version"]) == ("challenger", "2")
    assert "FAIL roc_auc change vs champion v1: -" in last["reason"]
    summary = (module_workspace / "runs" / "voter_turnout" / "latest.txt").read_text()
    assert "KEEP CHAMPION" in summary and "champion  v1" in summary
    note = _run_note(run.run_id)
    assert note.startswith(f"**KEEP CHAMPION**: `{MODEL}` v2 -> alias `challenger`")
    assert "vs champion v1 **0." in note and "holdout rows neither model trained on" in note
    assert "- FAIL roc_auc change vs champion v1: -" in note
    assert _asset_events() == events_before
    assert "Against champion v1" in Path(challenger.tags[Tag.CARD_PATH]).with_name("card.md").read_text()


def test_on_demand_card_dag_remakes_an_older_versions_card(airflow_db, module_workspace):
    from airflow.dag_processing.dagbag import DagBag

    card = module_workspace / "cards" / "voter_turnout" / MODEL / "1" / "card.html"
    card.unlink()
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(MODEL_CARD_DAG_ID)
    run = dag.test(run_conf={"model_name": MODEL, "version": "champion"})
    assert run.state == "success", _states(run)
    assert card.exists() and registry.model_version(MODEL, "1").tags[Tag.CARD_PATH] == str(card)
    missing = dag.test(run_conf={"model_name": MODEL, "version": "99"})
    assert missing.state == "failed" and _states(missing)[CARD_TASK_ID] == "failed"


def test_bad_batch_fails_validation_is_quarantined_and_registry_is_untouched(training_dag, module_workspace, tmp_path):
    raw = pd.read_parquet(module_workspace / "raw" / "voter_turnout" / "voters.parquet")
    raw.loc[:4, "age"] = -3
    raw.loc[5:9, "party"] = "WHIG"
    raw.to_csv(tmp_path / "bad_extract.csv", index=False)
    versions_before = len(tracking.client().search_model_versions(f"name = '{MODEL}'"))
    history_before = len(history.read_alias_history(MODEL))

    run = training_dag.test(run_conf={"source_path": str(tmp_path / "bad_extract.csv")})
    states = _states(run)
    assert run.state == "failed"
    assert states["collect"] == "success" and states["validate"] == "failed"
    assert states["prepare"] == "upstream_failed" and states["register"] == "upstream_failed"
    assert len(tracking.client().search_model_versions(f"name = '{MODEL}'")) == versions_before
    assert len(history.read_alias_history(MODEL)) == history_before
    assert str(registry.version_by_alias(MODEL, registry.CHAMPION).version) == "1"
    quarantined = list((module_workspace / "quarantine" / "voter_turnout").glob("*/validation/report.html"))
    assert len(quarantined) == 1
    summary = (quarantined[0].parent / "summary.json").read_text()
    assert "expect_column_values_to_be_between" in summary and "WHIG" in summary


def test_sql_dataset_through_an_airflow_connection(airflow_db, workspace, pg_url, tmp_path, monkeypatch):
    """A new dataset is a config change: ANES served from PostgreSQL via an Airflow connection."""
    import sqlalchemy as sa

    table = f"anes_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(pg_url)
    pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv").to_sql(table, engine, index=False)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    spec = dict(config["datasets"]["anes96_vote"])
    spec["source"] = {"kind": "sql", "conn_id": "survey_pg", "query": f"select * from {table}"}
    config["datasets"]["anes_from_postgres"] = spec
    (tmp_path / "modelops.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MODELOPS_CONFIG", str(tmp_path / "modelops.yaml"))
    monkeypatch.setenv("AIRFLOW_CONN_SURVEY_PG", pg_url.replace("postgresql+psycopg2://", "postgres://"))
    try:
        run = _load_dag().test(run_conf={"dataset": "anes_from_postgres", "candidates": ["logistic_regression"]})
        assert run.state == "success", _states(run)
        champion = registry.version_by_alias("anes_from_postgres_model", registry.CHAMPION)
        assert champion is not None and champion.tags["modelops.dataset"] == "anes_from_postgres"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"drop table if exists {table}"))
        engine.dispose()

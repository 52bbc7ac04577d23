"""The scoring DAG through Airflow: a folder of partitions fans out as mapped groups, every input row comes
out exactly once (fallback rows with their reason), shadow and canary as configured, a rerun of the
snapshot leaves one copy; registering a snapshot emits the asset event that schedules scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_training, train_and_promote

from modelops.collect.scenarios import simulate_window
from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT
from modelops.core import catalog
from modelops.core.handoffs import SCORING_DAG_ID, SNAPSHOT_ASSET_URI, SNAPSHOT_DAG_ID
from modelops.monitor import operations
from modelops.store import registry, tracking

pytestmark = pytest.mark.integration


def _states(run) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(ti.state)
    return states


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(dag_id)


@pytest.fixture
def canary_config(tmp_path, monkeypatch) -> Path:
    """The bundled config with a 20% canary (the shipped default has none)."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["scoring"].update({"canary_share": 0.2, "shadow": True, "input_roots": [str(tmp_path)]})
    path = tmp_path / "modelops.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MODELOPS_CONFIG", str(path))
    return path


def _partitions(spec, folder: Path, parts: int, rows: int) -> pd.DataFrame:
    """A snapshot as a folder of Parquet partitions, with a few rows a vendor extract gets wrong."""
    frame = simulate_window(spec, "stable", rows, seed=77).drop(columns=[spec.target])
    frame["age"] = frame["age"].astype("float64")
    frame.loc[3, "age"] = np.nan  # required: falls back
    frame.loc[10, "party"] = "Whig"  # not an allowed code
    frame.loc[20, "unemployment_rate"] = np.inf
    folder.mkdir(parents=True)
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), parts)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    return frame


def test_scoring_dag_fans_out_and_keeps_every_row_once(airflow_db, workspace, settings, canary_config, tmp_path):
    spec = train_and_promote(settings, 4000, "v1")
    challenger = run_training(settings, spec.name, "v2", ("hist_gradient_boosting",), rows=5000)["outcome"]
    if registry.version_by_alias(spec.model_name, registry.CHALLENGER) is None:
        registry.set_alias(spec.model_name, registry.CHALLENGER, challenger["version"], "tests", "canary", None)
    champion = str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version)
    frame = _partitions(spec, tmp_path / "national", parts=6, rows=3000)

    dag = _dag(SCORING_DAG_ID)
    conf = {"input": str(tmp_path / "national"), "snapshot": "2028-10-01", "groups": 3}
    run = dag.test(run_conf=conf)
    states = _states(run)
    assert run.state == "success", states
    assert states["score_group"] == ["success"] * 3  # one mapped task per group of partitions

    out = pd.read_parquet(catalog.scoring_dir(spec.name, "2028-10-01") / "predictions")
    assert len(out) == len(frame) and out["id"].is_unique
    assert set(out["id"]) == set(frame["voter_id"])
    fallback = out.set_index("row").loc[[3, 10, 20]]
    assert (fallback["source"] == "fallback").all()
    assert fallback["reason"].tolist() == ["missing:age", "not_allowed:party", "non_finite:unemployment_rate"]
    served = out[out["source"] == "model"]
    # model rows carry no reason but voter_turnout's new-registrant mark (they are scored by the model, marked)
    assert (served["model_version"] == champion).all()
    assert set(served["reason"].dropna().astype(str)) <= {"new_registrant"}
    canary = out[out["source"] == "canary"]
    assert 0.1 < len(canary) / len(out) < 0.3  # 20% by a stable hash of voter_id
    assert (canary["model_version"] == str(challenger["version"])).all()
    checked = out["source"] != "fallback"  # rows failing the input checks are scored by neither model
    assert out.loc[checked, "challenger_score"].notna().all()  # shadow: the challenger scored them all
    assert out.loc[~checked, "challenger_score"].isna().all()
    manifest = catalog.read_json(catalog.scoring_manifest(spec.name, "2028-10-01"))
    assert manifest["rows_in"] == manifest["rows_out"] == len(frame)
    # operational figures: every task measured as it ended, the run's figures on its MLflow run
    figures = operations.run_figures(SCORING_DAG_ID, run.run_id)
    assert figures["totals"]["rows"] == len(frame)  # the scored rows go with the figures: throughput
    assert {t["task"] for t in figures["tasks"]} == {
        "plan",
        "group_indices",
        "score_group[0]",
        "score_group[1]",
        "score_group[2]",
        "commit",
        "discard_staging",  # the teardown that removes staged parts after the commit
    }
    assert {t["state"] for t in figures["tasks"]} == {"success"}  # commit's "so far" row replaced at its end
    assert all(t["peak_rss_mb"] > 50 and t["wall_seconds"] > 0 for t in figures["tasks"])
    (scored,) = tracking.client().search_runs([tracking.scoring_experiment(spec.name)])
    assert {"ops.plan.wall_s", "ops.score_group_2.peak_rss_mb", "ops.run.wall_s"} <= set(scored.data.metrics)

    # A rerun replaces the snapshot's output: one copy, the same canary rows.
    again = dag.test(run_conf=conf)
    assert again.state == "success"
    rerun = pd.read_parquet(catalog.scoring_dir(spec.name, "2028-10-01") / "predictions")
    assert len(rerun) == len(frame)
    assert set(rerun.loc[rerun["source"] == "canary", "id"]) == set(canary["id"])
    assert catalog.list_scored(spec.name) == ["2028-10-01"]
    assert manifest["serving"].startswith(f"{spec.model_name}@champion pointed to v{champion} at ")

    # An alias moved behind the record's back (not by the training or promotion DAG) is never served: the
    # recorded champion scores the snapshot and the run alerts (alias_log.alias_drift).
    tracking.client().set_registered_model_alias(spec.model_name, registry.CHAMPION, str(challenger["version"]))
    drifted = dag.test(run_conf={**conf, "snapshot": "2028-10-02"})
    assert drifted.state == "success", _states(drifted)
    manifest = catalog.read_json(catalog.scoring_manifest(spec.name, "2028-10-02"))
    assert manifest["model_version"] == champion and manifest["alerts"][0] == manifest["alias_drift"]
    assert f"MLflow names v{challenger['version']}" in manifest["alias_drift"]


def test_registering_a_snapshot_emits_the_event_scoring_is_scheduled_on(airflow_db, workspace, settings):
    spec = settings.dataset("voter_turnout")
    frame = simulate_window(spec, "stable", 200, seed=3).drop(columns=[spec.target])
    catalog.write_parquet(frame, catalog.snapshot_inputs(spec.name, "2028-11-01"))
    run = _dag(SNAPSHOT_DAG_ID).test(run_conf={"snapshot": "2028-11-01"})
    assert run.state == "success"

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == SNAPSHOT_ASSET_URI)
            .all()
        )
        extras = [e.extra for e in events]
    assert {"dataset": spec.name, "snapshot": "2028-11-01"}.items() <= extras[-1].items()
    assert extras[-1]["input"].endswith("inputs/2028-11-01.parquet")
    scoring = _dag(SCORING_DAG_ID)
    assert [a.uri for a in scoring.timetable.asset_condition.objects] == [SNAPSHOT_ASSET_URI]

    missing = _dag(SNAPSHOT_DAG_ID).test(run_conf={"snapshot": "2028-11-02"})
    assert missing.state == "failed"  # nothing to score: no event

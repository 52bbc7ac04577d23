"""A champion moved outside the training and promotion DAGs: `alias_log.alias_drift` compares MLflow's alias with
the alias history; the next monitoring run alerts it, and scoring serves the recorded version and alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from conftest import train_and_promote, use_workspace

from modelops.collect import scenarios
from modelops.config.settings import load_settings
from modelops.core import alerts, catalog
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.store import alias_log, registry, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

T0 = datetime(2028, 1, 1, tzinfo=UTC)


def _row(version: str, actor: str = "modelops_promotion (alice)", alias: str = "champion") -> dict:
    return {"alias": alias, "version": version, "changed_at": T0, "actor": actor}


@pytest.mark.parametrize(
    ("registry_version", "rows", "drifted"),
    [
        (None, [], False),  # nothing set, nothing recorded
        ("2", [_row("1"), _row("2")], False),  # the last recorded change is what MLflow says
        ("1", [_row("1"), _row("2")], True),  # rolled back behind the record's back
        ("3", [], True),  # set outside the product on a model the product never promoted
        (None, [_row("1")], True),  # the alias was removed
    ],
)
def test_compare_alias_says_when_mlflow_and_the_history_disagree(registry_version, rows, drifted):
    drift = alias_log.compare_alias("m", registry_version, rows)
    assert (drift is not None) is drifted
    if drift is not None:
        assert drift.registry_version == registry_version
        assert drift.recorded_version == (rows[-1]["version"] if rows else None)
        assert "moved outside the training/promotion DAGs" in drift.line()
        assert json.loads(json.dumps(drift.to_dict()))["line"] == drift.line()


def test_the_line_names_versions_and_the_last_recorded_move():
    drift = alias_log.compare_alias("voter_turnout_model", "2", [_row("1")])
    line = drift.line()
    assert "MLflow names v2" in line and "the alias history says v1" in line
    assert "2028-01-01T00:00:00+00:00 by modelops_promotion (alice)" in line
    assert alias_log.compare_alias("m", None, [_row("1")]).line().count("no version") == 1


@pytest.fixture(scope="module")
def moved(tmp_path_factory, settings):
    """Champion v1 through the product, then v2 made champion with the MLflow client directly."""
    root = tmp_path_factory.mktemp("alias-drift") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        spec = train_and_promote(settings, 3000, "drift-champion")
        assert alias_log.alias_drift(spec.model_name) is None  # moved through the product: no drift
        v1 = registry.version_by_alias(spec.model_name, registry.CHAMPION)
        mlflow_client = tracking.client()
        v2 = mlflow_client.create_model_version(spec.model_name, v1.source, v1.run_id, model_id=v1.model_id)
        # the side door: an alias move that is neither the training nor the promotion DAG
        mlflow_client.set_registered_model_alias(spec.model_name, registry.CHAMPION, str(v2.version))
        yield {"root": root, "spec": spec, "v1": str(v1.version), "v2": str(v2.version)}


@pytest.fixture
def env(moved, monkeypatch):
    use_workspace(monkeypatch, moved["root"])
    return moved


def test_an_out_of_band_move_is_detected(env):
    drift = alias_log.alias_drift(env["spec"].model_name)
    assert drift is not None
    assert (drift.registry_version, drift.recorded_version) == (env["v2"], env["v1"])
    assert drift.recorded_by.startswith("modelops_training")


def test_scoring_serves_the_recorded_version_and_alerts(env):
    spec = env["spec"]
    scenarios.write_window(spec, "drift-s1", "stable", 400, seed=5)
    out = score_snapshot(spec, load_settings(), snapshot="drift-s1")
    assert out["model_version"] == env["v1"]  # never the version nobody approved
    assert out["alerts"][0] == out["alias_drift"] and f"MLflow names v{env['v2']}" in out["alias_drift"]
    assert f"served the recorded v{env['v1']}" in out["alias_drift"]
    alert = alerts.build_scoring_alert(out)
    assert alert["kind"] == alerts.AlertKind.ALIAS_DRIFT and alert["severity"] == "critical"
    manifest = catalog.read_json(catalog.scoring_manifest(spec.name, "drift-s1"))
    assert manifest["alias_drift"] == out["alias_drift"] and manifest["model_version"] == env["v1"]
    predictions = pd.read_parquet(catalog.scoring_dir(spec.name, "drift-s1") / "predictions")
    assert set(predictions["model_version"].dropna().astype(str)) <= {env["v1"]}
    # scoring did not touch the registry: the alias still says v2 until the promotion DAG moves it
    assert str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version) == env["v2"]


def test_the_next_monitoring_run_alerts(env):
    spec = env["spec"]
    scenarios.write_window(spec, "drift-w1", "stable", 400, seed=6)
    score_snapshot(spec, load_settings(), snapshot="drift-w1")
    end = datetime(2028, 11, 10, tzinfo=UTC)
    outcome = monitoring_flow.judge_window(spec.name, "drift-w1", {}, False, end, "scheduled__drift")
    verdict = monitoring_flow.record_verdict(outcome, "scheduled__drift")
    data = json.loads(json.dumps(verdict.to_xcom()))  # what the breach notifier pulls
    assert monitoring_flow.WindowVerdict.from_xcom(data) == verdict
    assert f"MLflow names v{env['v2']}" in data["alias_drift"]
    assert alerts.should_alert(data)
    alert = alerts.build_alert(data)
    assert alert["severity"] == "critical" and alert["reasons"][0] == data["alias_drift"]
    run = tracking.client().get_run(verdict.mlflow_run_id)
    assert run.data.tags["modelops.alias_drift"] == data["alias_drift"]
    # a dry run measures and reports the drift, and alerts nobody
    dry = monitoring_flow.judge_window(spec.name, "drift-w1", {}, True, end, "manual__dry")
    assert dry.verdict.alias_drift and not alerts.should_alert(dry.verdict.to_xcom())

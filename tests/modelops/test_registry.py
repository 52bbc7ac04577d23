"""MLflow registry wrapper on a real temporary store: logging, versions, aliases and their audit trail."""

from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest

from modelops.collect.labels import target_vector
from modelops.core.handoffs import TRAINING_DAG_ID
from modelops.store import artifacts, history, registry, runs, tracking
from modelops.train.training import train_candidate

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`


@pytest.fixture
def trained(settings):
    spec = settings.dataset("anes96_vote")
    frame = pd.read_csv(spec.resolve_path(spec.source["path"]))
    training = {
        **settings.training.model_dump(),
        "search": {"n_configs": 2, "min_rows": 200, "max_rows": 400, "factor": 2},
    }
    model = train_candidate(
        "logistic_regression",
        spec,
        frame.iloc[:600],
        frame.iloc[600:800],
        training,
        settings.search_spaces["logistic_regression"],
        "roc_auc",
        threshold=0.5,
    )
    return spec, frame, model


def _lineage(run: str) -> dict[str, str]:
    return {"airflow.run_id": run, "airflow.dag_id": "test", "modelops.primary_metric": "roc_auc"}


def test_log_register_alias_round_trip(workspace, trained):
    spec, frame, model = trained
    lineage = _lineage("run-1")
    parent = runs.start_parent_run(spec, lineage)
    assert runs.start_parent_run(spec, lineage) == parent  # rerun reuses the umbrella run
    logged = runs.log_candidate(model, spec, parent, {"roc_auc": 0.7}, frame[spec.features].head(3), lineage)
    again = runs.log_candidate(model, spec, parent, {"roc_auc": 0.7}, frame[spec.features].head(3), lineage)
    assert again["run_id"] == logged["run_id"]

    version = registry.register_version(
        spec.model_name, logged["model_uri"], logged["run_id"], {"modelops.data_hash": "abc"}, "test"
    )
    assert version == "1"
    assert registry.register_version(spec.model_name, logged["model_uri"], logged["run_id"], {}, "") == "1"
    assert registry.version_by_alias(spec.model_name, registry.CHAMPION) is None

    loaded = artifacts.load_model(f"models:/{spec.model_name}/1")
    X = frame[spec.features].iloc[800:]
    np.testing.assert_allclose(loaded.predict_proba(X), model.pipeline.predict_proba(X))
    tags = tracking.client().get_model_version(spec.model_name, "1").tags
    assert tags["modelops.data_hash"] == "abc"


def test_alias_changes_are_audited_once_and_challenger_is_cleared_on_promotion(workspace, trained):
    spec, frame, model = trained
    name = spec.model_name
    versions = []
    for run in ("a", "b"):
        lineage = _lineage(run)
        parent = runs.start_parent_run(spec, lineage)
        logged = runs.log_candidate(model, spec, parent, {"roc_auc": 0.7}, frame[spec.features].head(3), lineage)
        versions.append(registry.register_version(name, logged["model_uri"], logged["run_id"], {}, ""))
    v1, v2 = versions

    tester = registry.dag_actor(TRAINING_DAG_ID, "tester")  # only the training/promotion DAGs move champion
    assert registry.set_alias(name, registry.CHAMPION, v1, tester, "first model", "run-a")
    assert not registry.set_alias(name, registry.CHAMPION, v1, tester, "again", "run-a")  # no-op, no row
    assert registry.set_alias(name, registry.CHALLENGER, v2, tester, "not better", "run-b")
    assert registry.set_alias(name, registry.CHAMPION, v2, tester, "better now", "run-c")

    assert str(registry.version_by_alias(name, registry.CHAMPION).version) == v2
    assert registry.version_by_alias(name, registry.CHALLENGER) is None
    assert "champion_until" in tracking.client().get_model_version(name, v1).tags
    rows = history.read_alias_history(name)
    assert [(r["alias"], r["version"], r["previous_version"], r["reason"]) for r in rows] == [
        ("champion", v1, None, "first model"),
        ("challenger", v2, None, "not better"),
        ("champion", v2, v1, "better now"),
    ]
    assert all(r["actor"] == tester and r["changed_at"] is not None for r in rows)


def test_models_with_foreign_types_are_refused():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    model = Pipeline([("f", FunctionTransformer(_identity)), ("m", LogisticRegression())])
    model.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
    with pytest.raises(TypeError, match="refusing to save"):
        runs.skops_trusted_types(model)


def _identity(x):
    return x


def test_alias_history_on_postgres(pg_url, monkeypatch):
    monkeypatch.setenv("MODELOPS_DB_URL", pg_url)
    name = f"pg_model_{uuid.uuid4().hex[:8]}"
    with history.get_engine().begin() as connection:
        history.alias_change(connection, name, "champion", "3", "2", "tester", "why", "run")
    (row,) = history.read_alias_history(name)
    assert (row["version"], row["previous_version"], row["actor"]) == ("3", "2", "tester")
    with history.get_engine().begin() as connection:
        connection.execute(history.alias_history.delete().where(history.alias_history.c.model_name == name))


def test_target_vector_marks_the_positive_class(settings):
    spec = settings.dataset("anes96_vote")
    frame = pd.DataFrame({spec.target: [0, 1, 1, 0]})
    assert target_vector(frame, spec).tolist() == [0, 1, 1, 0]


def test_loading_a_model_does_not_flood_the_log_with_warnings(workspace, settings, caplog):
    import warnings

    import airflow.sdk  # noqa: F401  (its deprecated shims are what skops' import scan trips over)
    from conftest import run_training

    done = run_training(settings, "anes96_vote", "quiet")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        artifacts.load_model(done["report"]["best"]["model_uri"])
    assert caught == []
    assert not [r for r in caplog.records if r.levelname == "WARNING" and r.name.startswith("mlflow")]

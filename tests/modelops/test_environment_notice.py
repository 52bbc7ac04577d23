"""Dependency changes notice: a version records the library versions it was trained with; scoring, monitoring
and reproduction compare them with their own process and say, by name, what differs (trained -> serving).

The difference is made for real: the version's `modelops.environment` tag is rewritten in MLflow to claim an
older scikit-learn than the one installed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import module_store, train_and_promote, use_workspace

from modelops.collect import scenarios
from modelops.core import alerts, catalog, environment
from modelops.core.tags import Tag
from modelops.govern.reproduce import describe_verdict, reproduce_version
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.store import registry, tracking

pytestmark = pytest.mark.slow  # trains a real model against an MLflow store: too slow for `make test-fast`

OLD = "0.24.2"  # a scikit-learn this environment does not run
END = datetime(2028, 11, 10, tzinfo=UTC)
NO_AGE_BOUND = {"max_champion_age_days": None}


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    with module_store(tmp_path_factory, "environment", lambda: train_and_promote(settings, 2000, "env-v1")) as done:
        yield done


@pytest.fixture
def spec(store, monkeypatch):
    use_workspace(monkeypatch, store["root"])
    return store["spec"]


@pytest.fixture
def older_sklearn(spec):
    """The champion's record rewritten to an older scikit-learn (restored after the test)."""
    version = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    recorded = version.tags[Tag.ENVIRONMENT]
    faked = {**environment.from_tag(recorded), "scikit-learn": OLD}
    registry.set_version_tags(spec.model_name, str(version.version), {Tag.ENVIRONMENT: environment.to_tag(faked)})
    yield str(version.version)
    registry.set_version_tags(spec.model_name, str(version.version), {Tag.ENVIRONMENT: recorded})


def _current_sklearn() -> str:
    return environment.versions()["scikit-learn"]


def test_comparison_names_each_difference_and_equal_versions_say_nothing():
    here = environment.versions()
    assert set(here) == {environment.PYTHON, *environment.PACKAGES} and here["scikit-learn"] != environment.ABSENT
    same = environment.compare(environment.to_tag(here), "m v1")
    assert same["same"] is True and same["differences"] == {} and same["alert"] is None
    older = {**here, "scikit-learn": OLD, "python": "3.9.0"}
    found = environment.compare(environment.to_tag(older), "m v1")
    assert found["differences"] == {
        "python": {"trained": "3.9.0", "serving": here["python"]},
        "scikit-learn": {"trained": OLD, "serving": here["scikit-learn"]},
    }
    assert f"python: 3.9.0 -> {here['python']}, scikit-learn: {OLD} -> {here['scikit-learn']}" in found["alert"]
    unknown = environment.compare(None, "m v1")  # a version trained before versions were recorded
    assert unknown["trained"] is None and unknown["alert"] is None and unknown["same"] is False


def test_training_records_the_versions_on_the_version_and_its_runs(spec):
    version = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    assert environment.from_tag(version.tags[Tag.ENVIRONMENT]) == environment.versions()
    run_tags = tracking.run_record(version.tags[Tag.PARENT_RUN_ID])["tags"]
    assert environment.from_tag(run_tags[Tag.ENVIRONMENT]) == environment.versions()


def _score(spec, settings, window: str, seed: int) -> dict:
    scenarios.write_window(spec, window, "stable", 600, seed=seed)
    return score_snapshot(spec, settings, snapshot=window)


def test_scoring_with_the_training_versions_raises_no_alert(spec, settings):
    result = _score(spec, settings, "env-same", 1)
    assert not [a for a in result["alerts"] if "library versions" in a] and result["environment_drift"] is None
    manifest = catalog.read_json(result["manifest"])
    assert manifest["environment"]["same"] is True and manifest["environment"]["differences"] == {}
    assert tracking.run_record(result["mlflow_run_id"])["tags"][Tag.ENVIRONMENT_DRIFT] == "none"


def test_scoring_alerts_naming_the_library_and_both_versions(spec, settings, older_sklearn):
    result = _score(spec, settings, "env-older", 2)
    line = f"scikit-learn: {OLD} -> {_current_sklearn()}"
    assert any(line in a for a in result["alerts"]) and line in result["environment_drift"]
    manifest = catalog.read_json(result["manifest"])
    assert manifest["environment"]["differences"] == {"scikit-learn": {"trained": OLD, "serving": _current_sklearn()}}
    assert any(line in a for a in manifest["alerts"])
    alert = alerts.build_scoring_alert(result)
    assert alert["kind"] == alerts.AlertKind.SCORING_ALERT and any(line in r for r in alert["reasons"])
    assert tracking.run_record(result["mlflow_run_id"])["tags"][Tag.ENVIRONMENT_DRIFT] == line


def test_monitoring_records_and_alerts_the_difference(spec, settings, older_sklearn):
    _score(spec, settings, "w-001", 3)
    outcome = monitoring_flow.monitor_window(spec, settings, "w-001", NO_AGE_BOUND, True, END, "manual__env", [])
    line = f"scikit-learn: {OLD} -> {_current_sklearn()}"
    verdict = outcome.verdict
    assert line in verdict.environment_drift
    record = catalog.read_json(catalog.report_dir(spec.name, "w-001", True) / catalog.REPORT_JSON)
    assert record["environment"]["differences"]["scikit-learn"] == {"trained": OLD, "serving": _current_sklearn()}
    assert tracking.run_record(verdict.mlflow_run_id)["tags"][Tag.ENVIRONMENT_DRIFT] == verdict.environment_drift
    recorded = {**verdict.to_xcom(), "dry_run": False}  # as a recorded (not dry) run's verdict
    assert alerts.should_alert(recorded)
    alert = alerts.build_alert(recorded)
    assert any(line in r for r in alert["reasons"])
    assert (verdict.breach, verdict.action) == (False, "none")  # a stable window: the libraries alone alert
    assert alert["kind"] == alerts.AlertKind.ENVIRONMENT_DRIFT and alert["severity"] == "warning"


def test_monitoring_with_the_training_versions_has_no_difference(spec, settings):
    _score(spec, settings, "w-002", 4)
    outcome = monitoring_flow.monitor_window(spec, settings, "w-002", NO_AGE_BOUND, True, END, "manual__same", [])
    assert outcome.verdict.environment_drift is None
    record = catalog.read_json(catalog.report_dir(spec.name, "w-002", True) / catalog.REPORT_JSON)
    assert record["environment"]["same"] is True


def test_reproduction_says_which_libraries_differ_and_whether_predictions_matched(spec, older_sklearn):
    verdict = reproduce_version(spec.model_name, older_sklearn)
    line = f"scikit-learn: {OLD} -> {_current_sklearn()}"
    assert verdict["environment"]["differences"] == {"scikit-learn": {"trained": OLD, "serving": _current_sklearn()}}
    assert verdict["reproduced"] is True, verdict["reason"]  # the libraries did not really change
    note = f"environment differs (trained -> rebuilt): {line}; the holdout predictions still matched"
    assert note in verdict["notes"]
    assert f"other libraries ({line})" in verdict["detail"]
    assert f"libraries trained -> rebuilt: {line}" in describe_verdict(verdict)


def test_reproduction_in_the_training_environment_reports_the_same_libraries(spec):
    version = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    verdict = reproduce_version(spec.model_name, str(version.version))
    assert verdict["environment"]["same"] is True
    assert not [n for n in verdict["notes"] if "environment" in n] and "other libraries" not in verdict["detail"]
    assert "libraries the same versions as at training" in describe_verdict(verdict)

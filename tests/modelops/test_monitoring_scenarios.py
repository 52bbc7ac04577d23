"""Election-cycle scenarios with known answers, run window by window: score -> assess -> decide -> record.

One champion (trained through the workflow functions on a real MLflow store) serves sequences of
production snapshots drawn by the voter-file generator (score_snapshot, as the scoring DAG
does); monitoring judges what was served.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import carry_serving_record, train_and_promote

from modelops.collect import scenarios
from modelops.monitor.assess import assess_window
from modelops.monitor.decision import champion_tenure, decide_action
from modelops.monitor.evidence import domain_classifier_test
from modelops.monitor.record import history_row
from modelops.monitor.thresholds import thresholds_for
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.stats import multivariate
from modelops.store import alias_log, artifacts, history, registry, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

START = datetime(2028, 9, 1, tzinfo=UTC)
ROWS = 3000


@pytest.fixture(scope="module")
def champion(tmp_path_factory, settings):
    """Train and promote a champion once for the module (its MLflow store outlives each test's workspace)."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("champion")
    mp.setenv("MODELOPS_HOME", str(root / "workspace"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    spec = train_and_promote(settings, 20000, "champion")
    yield spec
    mp.undo()


@pytest.fixture
def fresh_windows(champion, tmp_path, monkeypatch):
    """Each test gets its own production folder and history DB (the champion stays)."""
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "workspace"))
    monkeypatch.delenv("MODELOPS_DB_URL", raising=False)
    carry_serving_record(champion)
    return champion


def run_windows(
    spec, settings, scenario: str, count: int, label_delay: int | None = 1, seed: int = 0, overrides: dict | None = None
) -> list[dict]:
    """Monitor `count` daily windows of `scenario`; labels of window i arrive at window i + label_delay."""
    # The windows sit on a calendar from START (2028), years after the champion was registered (the wall
    # clock): its age would exceed the bundled max_champion_age_days in every window. These runs judge the
    # drift signals; the age bound has its own test (test_an_overdue_champion_is_retrained_...) below.
    thresholds = thresholds_for(settings, {"max_champion_age_days": None, **(overrides or {})})
    outcomes, ids = [], []
    for i in range(count):
        window_id = f"{scenario}-{seed:04d}-{i:03d}"
        ids.append(window_id)
        scenarios.write_window(spec, window_id, scenario, ROWS, seed=seed * 1000 + i)
        score_snapshot(spec, settings, snapshot=window_id)  # the champion serves the snapshot
        if label_delay is not None and i >= label_delay:
            scenarios.release_labels(spec, ids[i - label_delay])
        rows = history.read_monitoring_history(spec.name)
        judged = {r["labeled_window"] for r in rows if r["labeled_window"]}
        report, _ = assess_window(spec, settings, window_id, thresholds, judged)
        window_end = START + timedelta(days=i)
        decision = decide_action(report, rows, thresholds, window_end)
        history.record_window(history_row(report, decision, window_end, f"run-{i}", False, None))
        outcomes.append({"report": report, **decision})
    return outcomes


def test_stable_windows_rarely_raise_a_false_alarm(fresh_windows, settings):
    outcomes = run_windows(fresh_windows, settings, "stable", 50, label_delay=1, seed=1)
    retrains = sum(o["action"] == "retrain" for o in outcomes)
    breaches = sum(o["report"]["breach"] for o in outcomes)
    assert retrains / len(outcomes) <= 0.02, [o["report"]["reasons"] for o in outcomes if o["report"]["breach"]]
    assert breaches / len(outcomes) <= 0.1
    labelled = [o["report"]["labelled"] for o in outcomes if o["report"]["labelled"]]
    assert len(labelled) == 49  # every window but the last had its labels judged exactly once
    assert len(history.read_monitoring_history(fresh_windows.name)) == 50
    # the multivariate test judged every window against the champion's reference sample, and never fired
    multivariate = [o["report"]["multivariate"] for o in outcomes]
    assert all(m["judged"] and not m["drifted"] for m in multivariate), [m["status"] for m in multivariate]


@pytest.mark.parametrize("scenario", ["covariate_shift", "prediction_drift", "realignment"])
def test_without_labels_a_persisting_prediction_drift_retrains(fresh_windows, settings, scenario):
    # No labelled evidence either way: prediction drift is in retrain_on, so it retrains once it persists.
    persistence = int(settings.monitoring.persistence)
    outcomes = run_windows(fresh_windows, settings, scenario, persistence, label_delay=None, seed=2)
    assert [o["action"] for o in outcomes] == ["watch"] * (persistence - 1) + ["retrain"]
    first = outcomes[0]["report"]
    assert first["prediction"]["drifted"] and first["labelled"] is None
    assert "prediction_drift" in first["signals"]
    if scenario == "covariate_shift":
        # The young wave moves the scores far (PSI ~0.43, above scoring's score_psi_limit 0.25): a shifted
        # electorate, not a broken model, so the champion served every row (no fallback) and scoring alerted;
        # prediction drift is measured on those served scores.
        # a shift of the marginals is a joint shift too: the domain classifier sees it as well
        assert first["signals"] == ["data_drift", "multivariate_drift", "prediction_drift"]
        assert first["served"]["fallback_reasons"] == {} and first["served"]["sources"]["model"] == ROWS
        assert first["prediction"]["rows"] == ROWS
    if scenario == "realignment":  # 4-5 of 20 features drift: right at the 25% dataset line, either side
        assert {"age", "years_registered"} <= set(first["data_drift"]["drifted"])
    assert outcomes[-1]["retrain_signals"] == ["prediction_drift"]  # data drift alone would not retrain
    if scenario == "covariate_shift":
        assert {"age", "years_registered"} <= set(first["data_drift"]["drifted"])
    if scenario == "prediction_drift":
        assert "age" not in first["data_drift"]["drifted"]
    conf = monitoring_flow.retrain_conf(fresh_windows, outcomes[-1]["report"], outcomes[-1])
    assert conf["dataset"] == "voter_turnout" and "prediction_drift: breach persisted for 2 windows" in conf["reason"]
    (row,) = [r for r in history.read_monitoring_history(fresh_windows.name) if r["action"] == "retrain"]
    assert "prediction_drift" in row["signals"] and row["why"] == outcomes[-1]["why"]


def test_input_drift_alone_watches_and_alerts_but_never_retrains(fresh_windows, settings):
    # Scores may not move at all (prediction_psi out of reach): what is left is input drift alone.
    outcomes = run_windows(
        fresh_windows, settings, "covariate_shift", 3, label_delay=None, seed=7, overrides={"prediction_psi": 10.0}
    )
    assert [o["action"] for o in outcomes] == ["watch"] * 3
    for o in outcomes:
        # a breach: the notifier alerts. The champion served the moved scores (no fallback).
        assert o["report"]["breach"] and o["report"]["signals"] == ["data_drift", "multivariate_drift"]
        assert "data_drift and multivariate_drift alone is no evidence the model suffers" in o["why"]
        assert o["streak"] == 0


def test_input_drift_retrains_when_retrain_on_lists_it(fresh_windows, settings):
    overrides = {"prediction_psi": 10.0, "retrain_on": ["data_drift"]}
    outcomes = run_windows(fresh_windows, settings, "covariate_shift", 2, label_delay=None, seed=8, overrides=overrides)
    assert [o["action"] for o in outcomes] == ["watch", "retrain"]
    assert outcomes[-1]["retrain_signals"] == ["data_drift"]


@pytest.mark.parametrize("scenario", ["covariate_shift", "prediction_drift"])
def test_strong_drift_with_unchanged_labelled_performance_does_not_retrain(fresh_windows, settings, scenario):
    outcomes = run_windows(fresh_windows, settings, scenario, 4, label_delay=1, seed=2)
    assert [o["action"] for o in outcomes] == ["watch"] * 4
    for o in outcomes:
        assert o["report"]["breach"]  # watched and alerted, every window
        assert o["report"]["data_drift"]["dataset_drift"] and o["report"]["prediction"]["drifted"]
    assert "breach 1 of 2" in outcomes[0]["why"]  # no labels yet
    for o in outcomes[1:]:  # the previous window's labels: judged, within tolerance
        lab = o["report"]["labelled"]
        assert lab["judged"] and not lab["performance_breach"] and not lab["calibration_breach"]
        assert o["streak"] >= 2  # persistent, yet vetoed
        assert "vetoes a retrain asked for only by drift signals (prediction_drift)" in o["why"]
    if scenario == "covariate_shift":
        assert outcomes[0]["report"]["data_drift"]["drift_share"] >= 0.25


def test_realignment_with_labels_retrains_on_labelled_evidence(fresh_windows, settings):
    # scripts/lifecycle.py's story: the flattened age effect is concept drift, so labels confirm the breach.
    outcomes = run_windows(fresh_windows, settings, "realignment", 2, label_delay=1, seed=2)
    assert [o["action"] for o in outcomes] == ["watch", "retrain"]
    assert {"performance", "calibration"} <= set(outcomes[1]["retrain_signals"])
    lab = outcomes[1]["report"]["labelled"]
    assert lab["performance_breach"] and lab["calibration"]["age"]["breach"]


def test_concept_drift_is_caught_by_the_performance_path_while_inputs_look_the_same(fresh_windows, settings):
    persistence = int(settings.monitoring.persistence)
    outcomes = run_windows(fresh_windows, settings, "concept_drift", persistence + 1, label_delay=1, seed=3)
    for o in outcomes:  # input and score distributions are untouched
        assert not o["report"]["data_drift"]["dataset_drift"] and not o["report"]["data_drift"]["drifted"]
        assert not o["report"]["prediction"]["drifted"]
    assert outcomes[0]["action"] == "none"  # no labels yet: nothing to see
    assert [o["action"] for o in outcomes[1:]] == ["watch"] * (persistence - 1) + ["retrain"]
    assert outcomes[-1]["retrain_signals"] == ["performance", "calibration"]
    labelled = outcomes[1]["report"]["labelled"]
    assert labelled["performance_breach"] and labelled["calibration_breach"]
    assert labelled["calibration"]["age"]["breach"]
    conf = monitoring_flow.retrain_conf(fresh_windows, outcomes[-1]["report"], outcomes[-1])
    assert len(conf["extra_batches"]) == persistence  # the labelled windows go to the training DAG


def test_a_data_quality_break_alerts_but_never_retrains(fresh_windows, settings):
    outcomes = run_windows(fresh_windows, settings, "quality_break", 3, label_delay=None, seed=4)
    assert [o["action"] for o in outcomes] == ["alert"] * 3
    failed = {f["column"] for f in outcomes[0]["report"]["quality"]["failed"]}
    assert {"age", "party"} <= failed


def test_cooldown_holds_back_a_second_retrain(fresh_windows, settings):
    outcomes = run_windows(
        fresh_windows,
        settings,
        "covariate_shift",
        4,
        label_delay=None,
        seed=5,
        overrides={"persistence": 2, "cooldown_hours": 72},
    )
    # after a retrain the streak starts again; once it persists again, the cooldown holds it back
    assert [o["action"] for o in outcomes] == ["watch", "retrain", "watch", "cooldown"]
    assert "a retrain was triggered at" in outcomes[-1]["why"]


def test_threshold_overrides_are_checked(settings):
    with pytest.raises(ValueError, match="unknown threshold overrides"):
        thresholds_for(settings, {"alpah": 0.1})
    assert thresholds_for(settings, {"alpha": 0.01})["alpha"] == 0.01
    configured = thresholds_for(settings)
    assert configured["retrain_on"] == ["performance", "calibration", "prediction_drift", "estimated_accuracy"]
    assert configured["calibration_alpha"] == settings.monitoring.calibration_alpha
    assert thresholds_for(settings, {"retrain_on": ["performance"]})["retrain_on"] == ["performance"]
    for bad in (["performance", "vibes"], "performance"):
        with pytest.raises(ValueError, match="retrain_on must be a list"):
            thresholds_for(settings, {"retrain_on": bad})


def test_labelled_metrics_below_the_floors_are_a_breach(fresh_windows, settings):
    import dataclasses

    # No model reaches this floor, so every judged window breaches.
    strict = dataclasses.replace(
        settings, evaluation=settings.evaluation.model_copy(update={"floors": {"roc_auc": 0.99}})
    )
    outcomes = run_windows(fresh_windows, strict, "stable", 2, label_delay=1, seed=6)
    labelled = outcomes[1]["report"]["labelled"]
    assert labelled["below_floors"]["roc_auc"]["floor"] == 0.99
    assert any("misses the floor 0.99" in r for r in outcomes[1]["report"]["reasons"])
    assert "performance" in outcomes[1]["report"]["signals"]


def test_monitoring_history_on_postgres(pg_url, monkeypatch):
    import uuid

    monkeypatch.setenv("MODELOPS_DB_URL", pg_url)
    dataset = f"pg_{uuid.uuid4().hex[:8]}"
    row = {
        "dataset": dataset,
        "window_id": "w1",
        "window_end": START,
        "model_name": "m",
        "model_version": "1",
        "rows": 10,
        "data_quality_ok": True,
        "drift_share": 0.5,
        "drifted_columns": ["age"],
        "prediction_psi": 0.2,
        "prediction_drift": True,
        "expected_accuracy": 0.7,
        "labeled_window": None,
        "labeled_metrics": None,
        "breach": True,
        "signals": ["data_drift"],
        "reasons": ["data drift"],
        "action": "watch",
        "why": "data_drift alone is no evidence the model suffers",
        "dry_run": False,
        "run_id": "r",
        "report_path": None,
    }
    history.record_window(row)
    history.record_window(row)  # a rerun of the same Airflow run replaces its row
    (stored,) = history.read_monitoring_history(dataset)
    assert stored["drifted_columns"] == ["age"] and stored["action"] == "watch"
    assert stored["signals"] == ["data_drift"] and stored["why"].startswith("data_drift alone")
    with history.get_engine().begin() as connection:
        table = history.monitoring_history
        connection.execute(table.delete().where(table.c.dataset == dataset))


# --- multivariate drift: a change only in how features move together ---------------------------


def test_a_correlation_shift_is_caught_only_by_the_multivariate_test(fresh_windows, settings):
    # A campaign now contacts older voters: age and contact attempts become correlated, each column keeping
    # its distribution. Input drift: it watches and alerts, and retrains only when retrain_on lists it.
    outcomes = run_windows(fresh_windows, settings, "correlation_shift", 2, label_delay=None, seed=9)
    for o in outcomes:
        report = o["report"]
        columns = report["data_drift"]["columns"]
        assert len(columns) == len(fresh_windows.features)
        assert not any(c["drifted"] for c in columns.values()), report["data_drift"]["drifted"]  # every column quiet
        assert not report["prediction"]["drifted"] and not report["estimate"]["breach"]
        mv = report["multivariate"]
        assert mv["judged"] and mv["drifted"] and mv["low"] > mv["threshold"]
        assert {f["feature"] for f in mv["top_features"][:2]} == {"age", "contact_attempts"}
        assert report["signals"] == ["multivariate_drift"]
        assert any(r.startswith("multivariate drift: a classifier tells the window") for r in report["reasons"])
        assert o["action"] == "watch" and "multivariate_drift alone is no evidence the model suffers" in o["why"]


def test_a_correlation_shift_retrains_when_retrain_on_lists_multivariate_drift(fresh_windows, settings):
    overrides = {"retrain_on": [*settings.monitoring.retrain_on, "multivariate_drift"]}
    outcomes = run_windows(
        fresh_windows, settings, "correlation_shift", 2, label_delay=None, seed=10, overrides=overrides
    )
    assert [o["action"] for o in outcomes] == ["watch", "retrain"]
    assert outcomes[-1]["retrain_signals"] == ["multivariate_drift"]
    assert "multivariate_drift: breach persisted for 2 windows" in outcomes[-1]["why"]


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_stable_windows_keep_the_multivariate_test_quiet(champion, settings, seed):
    """The champion's stored reference sample against stable windows of other seeds: no false alarm."""
    version = registry.version_by_alias(champion.model_name, registry.CHAMPION)
    sample = artifacts.load_reference_sample(version.run_id)
    options = settings.monitoring.domain_classifier
    assert list(sample.columns) == champion.features and len(sample) <= options.reference_rows
    assert not set(sample.columns) & {*champion.pii, champion.id_column, champion.target}
    window = scenarios.simulate_window(champion, "stable", ROWS, seed=seed)
    numeric, categorical = list(champion.numeric), list(champion.categorical)
    result = multivariate.domain_classifier(sample, window, numeric, categorical, options.model_dump(), seed=seed)
    assert result["judged"] and not result["drifted"], result
    assert result["low"] < 0.5 + options.auc_margin / 2


def test_champion_tenure_reads_the_alias_history_then_falls_back(fresh_windows):
    from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

    champion = registry.version_by_alias(fresh_windows.model_name, registry.CHAMPION)
    tenure = champion_tenure(fresh_windows.model_name, champion)
    last = [r for r in alias_log.alias_history(fresh_windows.model_name) if r["version"] == str(champion.version)][-1]
    assert tenure["source"] == "alias history" and tenure["since"] == last["changed_at"].isoformat(timespec="seconds")
    # a version the audit table never saw become champion: its champion_since tag, else its creation time
    other = ModelVersion(
        fresh_windows.model_name,
        "99",
        champion.creation_timestamp,
        tags=[ModelVersionTag("champion_since", "2027-01-02T03:04:05+00:00")],
    )
    tagged = champion_tenure(fresh_windows.model_name, other)
    assert tagged["source"] == "champion_since tag" and tagged["since"] == "2027-01-02T03:04:05+00:00"
    bare = champion_tenure(fresh_windows.model_name, ModelVersion(fresh_windows.model_name, "99", 0))
    assert bare["source"] == "version creation time" and bare["since"] == "1970-01-01T00:00:00+00:00"
    assert "measured from when it was registered" in bare["note"]
    assert champion_tenure(fresh_windows.model_name, None) is None


def test_an_overdue_champion_is_retrained_through_the_workflow_step_and_said_everywhere(fresh_windows, settings):
    from datetime import UTC, datetime
    from pathlib import Path

    spec = fresh_windows
    scenarios.write_window(spec, "w-000", "stable", ROWS, seed=31)
    score_snapshot(spec, settings, snapshot="w-000")
    end = datetime.now(UTC) + timedelta(days=400)
    outcome = monitoring_flow.monitor_window(
        spec, settings, "w-000", {"max_champion_age_days": 365}, False, end, "m1", []
    )
    verdict = outcome.verdict
    assert verdict.action == "retrain" and outcome.retrains and not verdict.signals
    assert f"champion v{verdict.model_version} has served 400 days (> 365 allowed)" in verdict.why
    assert "the age bound retrains even without a breach" in outcome.retrain_conf["reason"]
    page = Path(verdict.report_path).read_text(encoding="utf-8")
    assert "Champion age: champion v" in page and "Multivariate drift (domain classifier)" in page
    metrics = tracking.client().get_run(verdict.mlflow_run_id).data.metrics
    assert metrics["champion_age_days"] == pytest.approx(400, abs=0.1) and metrics["champion_max_age_days"] == 365
    assert 0.4 < metrics["multivariate_auc"] < 0.6 and metrics["multivariate_drift"] == 0.0
    # a dry run says the same and triggers nothing; inside the cooldown the age bound waits
    dry = monitoring_flow.monitor_window(spec, settings, "w-000", {"max_champion_age_days": 365}, True, end, "m2", [])
    assert dry.verdict.action == "retrain" and not dry.retrains
    row = outcome.history_row
    held = monitoring_flow.monitor_window(
        spec, settings, "w-000", {"max_champion_age_days": 365}, False, end + timedelta(hours=1), "m3", [row]
    )
    assert held.verdict.action == "cooldown" and "the age bound never retrains inside the cooldown" in held.verdict.why


def test_a_version_without_a_reference_sample_reports_the_test_not_available(workspace, settings):
    from modelops.config.settings import DatasetSpec

    mlflow = tracking.connect()
    spec = DatasetSpec(name="legacy", description="", source={}, target="y", positive_class=1, numeric=("x",))
    with mlflow.start_run(experiment_id=tracking.experiment_id("legacy")) as run:  # a run without a sample
        mlflow.log_dict({"version": 1}, artifacts.PROFILE_ARTIFACT)
    version = registry.register_version(spec.model_name, f"runs:/{run.info.run_id}/model", run.info.run_id, {}, "")
    assert artifacts.load_reference_sample(run.info.run_id) is None
    frame = __import__("pandas").DataFrame({"x": range(500)})
    result = domain_classifier_test(spec, version, frame, thresholds_for(settings), 0)
    assert not result["available"] and not result["drifted"]
    assert result["status"].startswith(f"not available: v{version} was registered without a reference sample")
    off = thresholds_for(settings, {"domain_classifier": {"enabled": False}})
    assert domain_classifier_test(spec, version, frame, off, 0)["status"] == "disabled in the configuration"

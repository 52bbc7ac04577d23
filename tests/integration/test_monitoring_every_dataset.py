"""Every dataset is watched, through the real scheduler (`make up`'s stack on free loopback ports): a second
voter dataset added by a user parameters file beside the bundled one, both with a champion and a scored
window; the scheduled run the scheduler makes for the daily tick judges each of them exactly once (one
mapped instance each, labelled with its dataset), leaves the dataset without a champion out, and a second
(manual) run judges nothing new."""

from __future__ import annotations

import os
import time

import pytest
import yaml
from conftest import admin_token, free_port, http_json, run_training, stack, use_workspace

from modelops.collect import scenarios
from modelops.config.settings import CONFIG_ENV, DEFAULT_CONFIG_PATH, load_settings
from modelops.core.handoffs import JUDGE_GROUP_ID, MONITORING_DAG_ID, TRAINING_DAG_ID
from modelops.pipelines import workflow
from modelops.score.snapshot import score_snapshot
from modelops.store import history, registry

pytestmark = pytest.mark.integration

WATCHED = ("voter_turnout", "voter_turnout_east")  # the bundled one, and the one the user file adds
WINDOW, LATER, SHIFTED = "2028-10-01", "2028-10-02", "2028-10-03"


def _champion(settings, dataset: str, run_id: str):
    """Train the dataset without Airflow and make the result champion; returns its spec."""
    done = run_training(settings, dataset, run_id, rows=3000)
    if done["outcome"]["alias"] != registry.CHAMPION:
        workflow.apply_alias(done["outcome"], registry.CHAMPION, registry.dag_actor(TRAINING_DAG_ID, "tests"), run_id)
    return done["spec"]


@pytest.fixture(scope="module")
def live(airflow_db, tmp_path_factory):
    """Two watched datasets (a champion and a scored window each) in a fresh workspace, then the stack on it."""
    patch = pytest.MonkeyPatch()
    root = use_workspace(patch, tmp_path_factory.mktemp("every-dataset") / "workspace")
    bundled = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    user = root.parent / "watch.yaml"  # adds a dataset to the bundled file (layered), nothing else
    east = {**bundled["datasets"][WATCHED[0]], "monitoring": {"persistence": 1}}  # its own pace: one window
    user.write_text(yaml.safe_dump({"datasets": {WATCHED[1]: east}}, sort_keys=False))
    patch.setenv(CONFIG_ENV, str(user))
    settings = load_settings()
    assert set(WATCHED) < set(settings.datasets)  # the bundled datasets are still there, anes96_vote too
    for seed, name in enumerate(WATCHED):
        spec = _champion(settings, name, f"watch-{name}")
        scenarios.write_window(spec, WINDOW, "stable", 800, seed=70 + seed)
        score_snapshot(spec, settings, snapshot=WINDOW)
    api_port = free_port()
    env = {
        **os.environ,
        "AIRFLOW__API__PORT": str(api_port),
        "MLFLOW_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    try:
        started = stack("up", env)
        assert started.returncode == 0, started.stdout + started.stderr
        base = f"http://127.0.0.1:{api_port}"
        token = admin_token(base)
        yield {"api": f"{base}/api/v2", "token": token, "settings": settings}
    finally:
        stopped = stack("down", env)
        patch.undo()
        assert stopped.returncode == 0, stopped.stderr


def _wait_for_dag(live, seconds: int = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dags = http_json(f"{live['api']}/dags?dag_id_pattern={MONITORING_DAG_ID}", live["token"])["dags"]
        if dags:
            return
        time.sleep(2)
    raise TimeoutError(f"{MONITORING_DAG_ID} was not parsed within {seconds} s")


def _finished(live, run_id: str, seconds: int = 600, expected: str = "success") -> list[dict]:
    """Wait until a monitoring run ends (in the `expected` state); returns its task instances."""
    api, token = live["api"], live["token"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = http_json(f"{api}/dags/{MONITORING_DAG_ID}/dagRuns/{run_id}", token)["state"]
        if state in ("success", "failed"):
            tis = http_json(f"{api}/dags/{MONITORING_DAG_ID}/dagRuns/{run_id}/taskInstances?limit=100", token)
            assert state == expected, [(t["task_id"], t["map_index"], t["state"]) for t in tis["task_instances"]]
            return tis["task_instances"]
        time.sleep(1)
    raise TimeoutError(f"monitoring run {run_id} did not finish within {seconds} s")


def _scheduled_run(live, seconds: int = 240) -> str:
    """The run the scheduler makes for the latest tick once the DAG is unpaused (catchup off)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # the metadata DB is the session's: other modules' manual runs of this DAG may be in it
        runs = http_json(f"{live['api']}/dags/{MONITORING_DAG_ID}/dagRuns?limit=100", live["token"])["dag_runs"]
        scheduled = [r["dag_run_id"] for r in runs if r["run_type"] == "scheduled"]
        if scheduled:
            assert len(scheduled) == 1, runs  # catchup off: the latest tick only
            return scheduled[0]
        time.sleep(2)
    raise TimeoutError(f"no scheduled run of {MONITORING_DAG_ID} within {seconds} s")


def _instances(tis: list[dict], task: str) -> dict[str, str]:
    """A group task's mapped instances: {dataset: state}; the dataset is the label `assess` showed for the
    map index (an instance that never ran has no label of its own)."""
    labels = {t["map_index"]: t["rendered_map_index"] for t in tis if t["task_id"] == f"{JUDGE_GROUP_ID}.assess"}
    return {labels[t["map_index"]]: t["state"] for t in tis if t["task_id"] == f"{JUDGE_GROUP_ID}.{task}"}


def test_one_scheduled_run_judges_every_dataset_with_a_champion_once(live):
    api, token = live["api"], live["token"]
    _wait_for_dag(live)
    http_json(f"{api}/dags/{MONITORING_DAG_ID}", token, "PATCH", {"is_paused": False})

    first = _finished(live, _scheduled_run(live))  # the daily tick: every dataset's @daily schedule is due
    assert _instances(first, "assess") == dict.fromkeys(WATCHED, "success")
    assert _instances(first, "no_action") == dict.fromkeys(WATCHED, "success")
    assert _instances(first, "trigger_retraining") == dict.fromkeys(WATCHED, "skipped")  # a stable window
    assert _instances(first, "record") == dict.fromkeys(WATCHED, "success")
    for name in WATCHED:  # each judged exactly once, in its own history, by its own champion
        rows = history.read_monitoring_history(name)
        assert [(r["window_id"], r["model_name"]) for r in rows] == [(WINDOW, f"{name}_model")], name
    assert history.read_monitoring_history("anes96_vote") == []  # no champion: left out, not failed

    # a second run (manual, no dataset named: every dataset with a champion) finds nothing new to judge
    run_id = http_json(f"{api}/dags/{MONITORING_DAG_ID}/dagRuns", token, "POST", {"logical_date": None, "conf": {}})
    second = _finished(live, run_id["dag_run_id"])
    assert _instances(second, "assess") == dict.fromkeys(WATCHED, "skipped")  # judged already
    assert set(_instances(second, "record").values()) == {"skipped"}
    for name in WATCHED:
        assert len(history.read_monitoring_history(name)) == 1, name

    # one dataset failing leaves the others alone: a later window, delivered and scored for one of them only
    east = live["settings"].dataset(WATCHED[1])
    scenarios.write_window(east, LATER, "stable", 800, seed=80)
    score_snapshot(east, live["settings"], snapshot=LATER)
    conf = {"logical_date": None, "conf": {"window": LATER}}
    run_id = http_json(f"{api}/dags/{MONITORING_DAG_ID}/dagRuns", token, "POST", conf)
    third = _finished(live, run_id["dag_run_id"], expected="failed")
    assert _instances(third, "assess") == {WATCHED[0]: "failed", WATCHED[1]: "success"}
    assert _instances(third, "record") == {WATCHED[0]: "upstream_failed", WATCHED[1]: "success"}
    ran = [
        t["rendered_map_index"] for t in third if t["task_id"].startswith(JUDGE_GROUP_ID) and t["state"] == "success"
    ]
    assert set(ran) == {WATCHED[1]}  # what ran shows its dataset in the grid
    assert [r["window_id"] for r in history.read_monitoring_history(WATCHED[1])] == [WINDOW, LATER]
    assert len(history.read_monitoring_history(WATCHED[0])) == 1

    # each dataset's branch is its own: a shifted window retrains the east dataset (persistence 1), while the
    # same run's stable window of the other takes no action (a branch in a mapped group skips per map index)
    for name, scenario, seed in ((WATCHED[0], "stable", 81), (WATCHED[1], "prediction_drift", 82)):
        spec = live["settings"].dataset(name)
        scenarios.write_window(spec, SHIFTED, scenario, 800, seed=seed)
        score_snapshot(spec, live["settings"], snapshot=SHIFTED)
    training_runs = f"{api}/dags/{TRAINING_DAG_ID}/dagRuns?limit=100"
    before = {r["dag_run_id"] for r in http_json(training_runs, token)["dag_runs"]}
    run_id = http_json(f"{api}/dags/{MONITORING_DAG_ID}/dagRuns", token, "POST", {"logical_date": None, "conf": {}})
    fourth = _finished(live, run_id["dag_run_id"])
    assert _instances(fourth, "trigger_retraining") == {WATCHED[0]: "skipped", WATCHED[1]: "success"}
    assert _instances(fourth, "no_action") == {WATCHED[0]: "success", WATCHED[1]: "skipped"}
    actions = {name: history.read_monitoring_history(name)[-1] for name in WATCHED}
    assert (actions[WATCHED[0]]["window_id"], actions[WATCHED[0]]["action"]) == (SHIFTED, "none")
    assert (actions[WATCHED[1]]["window_id"], actions[WATCHED[1]]["action"]) == (SHIFTED, "retrain")
    triggered = [r for r in http_json(training_runs, token)["dag_runs"] if r["dag_run_id"] not in before]
    assert [r["conf"]["dataset"] for r in triggered] == [WATCHED[1]]  # one retrain, for its own dataset

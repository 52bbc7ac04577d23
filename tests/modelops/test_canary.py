"""The production profile's canary before `champion` moves, on a real MLflow store and real scored snapshots.

One store for the module: champion v1 (logistic regression), v2 trained the same way on more rows (it
agrees with v1) and v3 trained on the same voters with the outcome inverted (it disagrees). Each test
puts the aliases back (champion v1, no canary) and scores its own snapshots.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_training, train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.collect.sources import load_batch
from modelops.config.checks import ConfigError
from modelops.config.models import CanaryOptions
from modelops.config.profile import PROFILE_ENV
from modelops.config.settings import load_settings
from modelops.core.handoffs import TRAINING_DAG_ID
from modelops.core.tags import Tag
from modelops.govern import canary
from modelops.govern.promotion import (
    PromotionError,
    apply_promotion,
    plan_promotion,
    read_approval,
    render_outcome,
)
from modelops.pipelines import workflow
from modelops.pipelines.training_records import Registration
from modelops.score.snapshot import score_snapshot
from modelops.store import alias_log, artifacts, history, registry, runs

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

DATASET = "voter_turnout"
TRAINING = registry.dag_actor(TRAINING_DAG_ID, "tests")


def _inverted_version(spec, settings, batch, champion: str) -> str:
    """A real model trained on the same voters with the outcome inverted, registered with a passed verdict."""
    from modelops.train.training import train_candidate

    frame = load_batch(batch)
    frame = frame[frame[spec.target].isin([0, 1])].reset_index(drop=True)
    flipped = frame.assign(**{spec.target: 1 - frame[spec.target]})
    training = {**settings.training.model_dump(), "search": {"n_configs": 1, "min_rows": 300, "max_rows": 600}}
    train, calibration = flipped.iloc[:2000], flipped.iloc[2000:2600]
    model = train_candidate("logistic_regression", spec, train, calibration, training, {}, "roc_auc", threshold=0.5)
    lineage = {
        "airflow.run_id": "inverted",
        "airflow.dag_id": "tests",
        Tag.DATASET: spec.name,
        Tag.PRIMARY_METRIC: "roc_auc",
    }
    parent = runs.start_parent_run(spec, lineage)
    logged = runs.log_candidate(model, spec, parent, {"roc_auc": 0.3}, flipped[spec.features].head(3), lineage)
    served = registry.model_version(spec.model_name, champion)
    artifacts.log_baseline(logged["run_id"], artifacts.load_baseline(spec.model_name, champion, served.run_id))
    tags = {Tag.VERDICT: "promote", Tag.DATASET: spec.name, Tag.COMPARED_TO: f"v{champion}"}
    return registry.register_version(spec.model_name, logged["model_uri"], logged["run_id"], tags, "inverted")


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """Champion v1, v2 (agrees with it) and v3 (its outcome inverted) in one module-wide store (demo profile)."""
    root = tmp_path_factory.mktemp("canary") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        patch.delenv(PROFILE_ENV, raising=False)
        spec = train_and_promote(settings, 3000, "canary-v1")
        v1 = str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version)
        done = run_training(settings, DATASET, "canary-v2", rows=4000)
        v2 = str(done["outcome"]["version"])
        v3 = _inverted_version(spec, settings, done["batch"], v1)
        yield {"root": root, "spec": spec, "v1": v1, "v2": v2, "v3": v3}


@pytest.fixture
def env(store, monkeypatch):
    """The module's store with champion v1 and no canary or challenger; the production profile."""
    use_workspace(monkeypatch, store["root"])
    monkeypatch.setenv(PROFILE_ENV, "production")
    name = store["spec"].model_name
    registry.set_alias(name, registry.CHAMPION, store["v1"], TRAINING, "reset for the test", None)
    registry.remove_alias(name, registry.CANARY)
    registry.remove_alias(name, registry.CHALLENGER)
    return store


def _settings(settings, **limits):
    canary_options = settings.promotion.canary.model_copy(update={"share": 0.1, "snapshots": 2, **limits})
    return dataclasses.replace(
        settings,
        scoring=settings.scoring.model_copy(update={"input_roots": ["/"], "shadow": False}),
        promotion=settings.promotion.model_copy(update={"canary": canary_options}),
    )


def _approval(name: str = "alice"):
    return read_approval(
        {
            "chosen_options": ["Approve"],
            "params_input": {"comment": "ok"},
            "responded_at": datetime.now(UTC),
            "responded_by_user": {"id": name, "name": name},
        }
    )


def _promote(spec, version: str, options, run_id: str):
    return plan_promotion(
        spec.model_name,
        "promote",
        version,
        "a better model",
        override=True,
        override_reason="the test's v2 may have lost to v1 on its holdout",
        requester="bob",
        settings=options,
        run_id=run_id,
    )


def _snapshot(tmp_path: Path, spec, name: str) -> Path:
    """The same voters delivered again (seed fixed): the canary must pick the same ids every time."""
    path = tmp_path / f"{name}.parquet"
    simulate_window(spec, "stable", 2000, 41).drop(columns=[spec.target]).to_parquet(path, index=False)
    return path


def _champion(spec) -> str:
    return str(registry.version_by_alias(spec.model_name, registry.CHAMPION).version)


def _start(spec, version: str, options, run_id: str):
    plan = _promote(spec, version, options, run_id)
    return plan, apply_promotion(plan, _approval(), run_id)


def test_production_promotion_starts_a_canary_and_champion_stays(env, settings):
    spec, options = env["spec"], _settings(settings)
    plan, outcome = _start(spec, env["v2"], options, "start-1")
    assert plan.starts_canary and not plan.moves_champion
    assert plan.headline().startswith(f"Canary {spec.model_name}: v{env['v2']} decides 10% of the rows")
    assert "becomes the \\`canary\\`" in plan.describe() or "becomes the `canary`" in plan.describe()
    assert outcome["canary_started"] and not outcome["alias_changed"]
    assert _champion(spec) == env["v1"]
    assert str(registry.version_by_alias(spec.model_name, registry.CANARY).version) == env["v2"]
    started = alias_log.alias_history(spec.model_name, registry.CANARY)[-1]
    assert started["version"] == env["v2"] and started["action"] == "canary" and started["approver"] == "alice"
    tags = registry.model_version(spec.model_name, env["v2"]).tags
    assert tags[Tag.CANARY_STATE] == "running"
    assert "canary starts" in render_outcome(outcome)


def test_the_canary_decides_its_share_on_the_same_ids(env, settings, tmp_path):
    spec, options = env["spec"], _settings(settings)
    _start(spec, env["v2"], options, "start-2")
    served = []
    for name in ("canary-share-a", "canary-share-b"):
        result = score_snapshot(spec, options, str(_snapshot(tmp_path, spec, name)), snapshot=name)
        out = pd.read_parquet(Path(result["folder"]) / "predictions")
        rows = out[out["source"] == "canary"]
        assert 0.06 < len(rows) / len(out) < 0.14  # share 0.1 of 2000 voters
        assert (rows["model_version"] == env["v2"]).all() and (rows["alias"] == "canary").all()
        assert (out.loc[out["source"] == "model", "model_version"] == env["v1"]).all()
        block = pd.read_json(result["manifest"], typ="series")["canary"]
        assert block["version"] == env["v2"] and block["rows"] == len(rows) and block["alias"] == "canary"
        assert 0 <= block["decision_agreement"] <= 1 and block["score_psi"] >= 0
        assert any(f"v{env['v2']} is the canary" in n for n in pd.read_json(result["manifest"], typ="series")["notes"])
        served.append(set(rows["id"]))
    assert served[0] == served[1]  # a stable hash: the same voters each snapshot


def test_an_agreeing_canary_moves_champion_after_its_second_snapshot(env, settings, tmp_path):
    spec, options = env["spec"], _settings(settings)
    _start(spec, env["v2"], options, "start-3")
    score_snapshot(spec, options, str(_snapshot(tmp_path, spec, "agree-1")), snapshot="agree-1")
    with pytest.raises(PromotionError, match=r"decided in 1 of the 2 scored snapshots"):
        _promote(spec, env["v2"], options, "judge-early")
    assert _champion(spec) == env["v1"]
    assert registry.version_by_alias(spec.model_name, registry.CANARY) is not None  # still on trial
    score_snapshot(spec, options, str(_snapshot(tmp_path, spec, "agree-2")), snapshot="agree-2")
    plan = _promote(spec, env["v2"], options, "judge")
    assert plan.moves_champion and plan.canary["stage"] == canary.JUDGED
    body = plan.describe()
    assert "Canary" in body and "PASS decision" in body and "agree\\-2" in body  # the approver sees the evidence
    outcome = apply_promotion(plan, _approval(), "judge")
    assert outcome["alias_changed"] and _champion(spec) == env["v2"]
    assert registry.version_by_alias(spec.model_name, registry.CANARY) is None
    moved = alias_log.alias_history(spec.model_name)[-1]
    assert moved["version"] == env["v2"] and moved["action"] == "promote (canary passed)"
    assert "canary v" in moved["reason"] and "passed over 2 snapshots" in moved["reason"]
    tags = registry.model_version(spec.model_name, env["v2"]).tags
    assert tags[Tag.CANARY_STATE] == "passed" and "PASS decision_agreement" in tags[Tag.CANARY_EVIDENCE]


def test_a_disagreeing_canary_is_refused_with_its_evidence(env, settings, tmp_path):
    spec, options = env["spec"], _settings(settings)
    _start(spec, env["v3"], options, "start-4")
    for name in ("disagree-1", "disagree-2"):
        score_snapshot(spec, options, str(_snapshot(tmp_path, spec, name)), snapshot=name)
    with pytest.raises(PromotionError, match=r"FAIL decision_agreement") as refused:
        _promote(spec, env["v3"], options, "judge-inverted")
    assert "champion stays v" + env["v1"] in str(refused.value)
    assert _champion(spec) == env["v1"]
    assert registry.version_by_alias(spec.model_name, registry.CANARY) is None  # the canary is removed
    tags = registry.model_version(spec.model_name, env["v3"]).tags
    assert tags[Tag.CANARY_STATE] == "failed" and "FAIL decision_agreement" in tags[Tag.CANARY_EVIDENCE]
    decision = history.read_promotion_decisions(spec.model_name)[-1]
    assert decision["decision"] == "canary_failed" and decision["run_id"] == "judge-inverted"
    assert decision["version"] == env["v3"] and "FAIL decision_agreement" in decision["reason"]


def test_the_demo_profile_promotes_directly_and_says_no_canary(env, settings, monkeypatch):
    monkeypatch.delenv(PROFILE_ENV)
    spec, options = env["spec"], _settings(settings)
    plan = _promote(spec, env["v2"], options, "demo")
    assert plan.moves_champion and plan.canary["stage"] == canary.SKIPPED
    outcome = apply_promotion(plan, _approval(), "demo")
    assert outcome["alias_changed"] and _champion(spec) == env["v2"]
    assert registry.version_by_alias(spec.model_name, registry.CANARY) is None
    assert "demo profile: no canary" in alias_log.alias_history(spec.model_name)[-1]["reason"]
    assert "demo profile: no canary" in history.read_promotion_decisions(spec.model_name)[-1]["reason"]
    assert "canary skipped: demo profile: no canary" in render_outcome(outcome)


def test_the_training_dags_promotion_starts_a_canary_in_production(env, settings, monkeypatch):
    spec, options = env["spec"], _settings(settings)
    registration = Registration(spec.model_name, env["v2"], None, True, ("gates passed",), "p").to_xcom()
    outcome = workflow.apply_alias(registration, registry.CHAMPION, TRAINING, "train-prod", settings=options)
    assert outcome["alias"] == registry.CANARY and outcome["alias_changed"]
    assert _champion(spec) == env["v1"]
    assert str(registry.version_by_alias(spec.model_name, registry.CANARY).version) == env["v2"]
    registry.remove_alias(spec.model_name, registry.CANARY)
    monkeypatch.delenv(PROFILE_ENV)  # the demo profile: champion moves, and the record says why no canary
    outcome = workflow.apply_alias(registration, registry.CHAMPION, TRAINING, "train-demo", settings=options)
    assert outcome["alias"] == registry.CHAMPION and _champion(spec) == env["v2"]
    assert "demo profile: no canary" in alias_log.alias_history(spec.model_name)[-1]["reason"]


def _block(rows: int, agree: int, fallback: int = 0, shift: float = 0.0) -> dict:
    """One snapshot's canary counts: `rows` decided, `agree` of them as the champion did, scores shifted by `shift`."""
    champion = [0, 0, 0, rows // 2, 0, 0, rows - rows // 2, 0, 0, 0]
    return {
        "snapshot": f"s{rows}-{agree}",
        "scored_at": "2026-01-01T00:00:00+00:00",
        "slice_rows": rows + fallback,
        "rows": rows,
        "fallback": fallback,
        "unusable": 0,
        "agree": agree,
        "champion_sum": 0.5 * rows,
        "canary_sum": (0.5 + shift) * rows,
        "champion_hist": champion,
        "canary_hist": champion,
    }


def test_each_limit_judges_the_summed_evidence():
    limits = CanaryOptions(
        share=0.1, snapshots=2, min_rows=100, min_agreement=0.9, max_fallback_share=0.1, max_mean_shift=0.05
    )
    good = canary.judge("2", [_block(100, 95), _block(100, 95)], limits)
    assert good.ready and good.passed
    assert not canary.judge("2", [_block(100, 95)], limits).ready  # one of two snapshots: not judged yet
    failed = {
        "decision_agreement": [_block(100, 95), _block(100, 70)],  # 165 of 200: 0.825
        "rows": [_block(40, 40), _block(40, 40)],
        "fallback_share": [_block(100, 95, fallback=30), _block(100, 95)],  # 30 of 230
        "mean_shift": [_block(100, 95, shift=0.1), _block(100, 95, shift=0.1)],
    }
    for check, snapshots in failed.items():
        verdict = canary.judge("2", snapshots, limits)
        assert verdict.ready and not verdict.passed
        assert [c["check"] for c in verdict.checks if not c["passed"]] == [check], check
        assert f"FAIL {check}" in verdict.summary()
    unlimited = CanaryOptions(min_rows=0, min_agreement=None, max_fallback_share=None, max_score_psi=None)
    assert canary.judge("2", failed["decision_agreement"], unlimited.model_copy(update={"max_mean_shift": None})).passed


def test_the_canary_section_is_checked(tmp_path, monkeypatch):
    import yaml

    from modelops.core import catalog

    raw = yaml.safe_load((catalog.REPO_ROOT / "include" / "config" / "modelops.yaml").read_text())
    for bad, message in (({"share": 0}, r"share: must be in \(0, 1\]"), ({"snapshots": 0}, "snapshots must be >= 1")):
        raw["promotion"]["canary"] = {**raw["promotion"]["canary"], **bad}
        path = tmp_path / "bad.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError, match=message):
            load_settings(str(path))
        raw["promotion"]["canary"].update({"share": 0.1, "snapshots": 2})

"""Offline and online metrics agree (or the monitoring says so): the `offline_online_gap` signal on labelled
windows whose served scores are built in the test beside a holdout built the same way, its persistence read
from the real monitoring history, and the holdout-beside-online table with its correlation across versions
on the model card and the Model monitor page. Fast: nothing is trained."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelops.collect import windows
from modelops.config.settings import load_settings
from modelops.govern.card_doc import Doc
from modelops.govern.card_online import offline_online_section
from modelops.monitor import labelled, offline_online, record, signals
from modelops.monitor.thresholds import thresholds_for
from modelops.stats.metrics import compute_metrics
from modelops.store import history
from modelops.ui import datasets_overview, monitor_page
from modelops.ui.approvals_view import ApprovalList
from modelops.ui.dataset_view import DatasetView
from modelops.ui.offline_online_view import offline_online_view

MODEL = "voter_turnout_model"
START = datetime(2030, 1, 1, tzinfo=UTC)
STRONG, WEAK = 0.45, 0.08  # how far the scores of positives sit above the negatives'


def _scores(strength: float, seed: int, rows: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and scores: the larger `strength`, the better the scores rank the outcomes."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    p = np.clip(0.5 + strength * (y - 0.5) + rng.normal(0, 0.2, rows), 0.001, 0.999)
    return y, p


def _holdout() -> float:
    """The served version's holdout AUC: its scores on a holdout where they rank well."""
    y, p = _scores(STRONG, seed=1)
    return compute_metrics(y, p, 0.5)["roc_auc"]


def _labelled(window_id: str, version: str, strength: float, seed: int, t: dict[str, Any]) -> dict[str, Any]:
    """A judged labelled result as `labelled.performance` gives it (the keys the signal and record read)."""
    y, p = _scores(strength, seed)
    interval = labelled.primary_interval(y, p, "roc_auc", 0.5, t, window_id)
    metrics = compute_metrics(y, p, 0.5)
    return {"window_id": window_id, "served_version": version, "judged": True, "primary": "roc_auc",
            "metrics": metrics, "reference": _holdout(), "interval": interval}  # fmt: skip


def _gap_signal() -> signals.Signal:
    return next(s for s in signals.registered() if s.name == "offline_online_gap")


def _judge(window_id: str, lab: dict[str, Any], t: dict[str, Any], settings, day: int) -> dict[str, Any]:
    """The gap signal on a window whose newest labels are `lab`, then the window's history row recorded."""
    spec = settings.dataset("voter_turnout")
    manifest = {"dataset": spec.name, "model_version": lab["served_version"]}
    window = windows.ScoredWindow(window_id, manifest, pd.DataFrame(), pd.DataFrame())
    ctx = signals.WindowContext(
        spec, settings, window, {}, t, 0.5, {}, {"ok": True}, {}, pd.DataFrame(), {}, None, 0, lab
    )
    result = _gap_signal().measure(ctx)
    report = {"dataset": spec.name, "window_id": window_id, "model_name": spec.model_name,
              "model_version": lab["served_version"], "rows": 10, "quality": {"ok": True}, "labelled": lab,
              "breach": result.breach, "signals": ["offline_online_gap"] if result.breach else [],
              "reasons": list(result.reasons), "offline_online": result.section}  # fmt: skip
    row = record.history_row(report, {"why": "", "action": "none"}, START + timedelta(days=day), "run", False, None)
    history.record_window(row)
    return {"result": result, "row": row}


@pytest.fixture
def gap_settings():
    settings = load_settings()
    return settings, thresholds_for(settings, {"offline_online_persistence": 2})


def test_two_labelled_windows_far_below_the_holdout_fire_with_their_evidence(workspace, gap_settings):
    settings, t = gap_settings
    holdout = _holdout()
    first = _judge("2030-02", _labelled("2030-01", "1", WEAK, 11, t), t, settings, 31)["result"]
    assert not first.breach and first.reasons == ()  # one window: not persistent
    assert first.section["gap"] and first.section["streak"] == ["2030-01"]

    second = _judge("2030-03", _labelled("2030-02", "1", WEAK, 12, t), t, settings, 60)["result"]
    found = second.section
    assert second.breach and found["streak"] == ["2030-02", "2030-01"] and found["persistence"] == 2
    assert found["holdout"] == pytest.approx(holdout) and found["high"] < holdout - found["tolerance"]
    assert found["low"] <= found["online"] <= found["high"] and found["confidence"] == 0.95
    assert found["difference"] == pytest.approx(holdout - found["online"])
    (reason,) = second.reasons
    assert f"{found['online']:.3f} (95% interval {found['low']:.3f}..{found['high']:.3f})" in reason
    assert f"holdout {holdout:.3f}" in reason and "2 consecutive labelled windows (2030-01, 2030-02" in reason
    assert _gap_signal().metrics({"offline_online": found})["offline_online_streak"] == 2.0
    assert "offline_online_gap" not in settings.monitoring.retrain_on  # alert only unless retrain_on lists it


def test_a_window_within_its_interval_is_quiet_and_breaks_the_streak(workspace, gap_settings):
    settings, t = gap_settings
    _judge("2030-02", _labelled("2030-01", "1", WEAK, 11, t), t, settings, 31)
    quiet = _judge("2030-03", _labelled("2030-02", "1", STRONG, 13, t), t, settings, 60)["result"]
    assert not quiet.breach and not quiet.section["gap"] and quiet.section["streak"] == []
    assert quiet.section["low"] <= quiet.section["holdout"] + quiet.section["tolerance"]
    after = _judge("2030-04", _labelled("2030-03", "1", WEAK, 14, t), t, settings, 90)["result"]
    assert not after.breach and after.section["streak"] == ["2030-03"]  # the quiet window ended the streak


def test_another_versions_gap_does_not_count_and_nothing_judged_is_not_measured(workspace, gap_settings):
    settings, t = gap_settings
    _judge("2030-02", _labelled("2030-01", "1", WEAK, 11, t), t, settings, 31)
    other = _judge("2030-03", _labelled("2030-02", "2", WEAK, 12, t), t, settings, 60)["result"]
    assert not other.breach and other.section["streak"] == ["2030-02"]
    lab = {**_labelled("2030-03", "2", WEAK, 13, t), "judged": False}
    assert _judge("2030-04", lab, t, settings, 90)["result"] == signals.SignalResult(False)


# --- across versions ------------------------------------------------------------------------------------------


def _row(window: str, version: str, labelled_window: str | None = None, auc: float | None = None, **kw) -> dict:
    metrics = {"roc_auc": auc} if labelled_window else None
    return {"window_id": window, "window_end": START, "model_name": MODEL, "model_version": version,
            "labeled_window": labelled_window, "labeled_metrics": metrics, "dry_run": False, **kw}  # fmt: skip


# the labelled windows each version served: v1 w1, w2; v2 w3; v3 w4, w5; v4 w6 (w7 was never recorded)
ONLINE = {"1": [0.70, 0.74], "2": [0.66], "3": [0.80, 0.78], "4": [0.69]}
HOLDOUT = {"1": 0.78, "2": 0.71, "3": 0.84, "4": 0.80}


def history_rows() -> list[dict]:
    served = [("w1", "1"), ("w2", "1"), ("w3", "2"), ("w4", "3"), ("w5", "3"), ("w6", "4")]
    values = [v for version in ONLINE for v in ONLINE[version]]
    rows = [_row(w, version) for w, version in served]
    rows += [_row(f"x{i}", "4", w, value) for i, ((w, _), value) in enumerate(zip(served, values, strict=True))]
    rows.append(_row("x9", "4", "w7", 0.5))  # cannot be attributed
    rows.append(_row("x10", "4", "w6", 0.1, dry_run=True))  # a dry run never counts
    return rows


def test_the_correlation_across_versions_is_scipys_on_holdout_beside_online():
    found = offline_online.agreement(history_rows(), MODEL, "roc_auc", HOLDOUT, 0.02)
    assert [(v.version, v.holdout, v.windows) for v in found.versions] == [
        (k, HOLDOUT[k], len(ONLINE[k])) for k in ONLINE
    ]
    online = {k: sum(v) / len(v) for k, v in ONLINE.items()}
    assert [v.online for v in found.versions] == pytest.approx(list(online.values()))
    pairs = [HOLDOUT[k] for k in ONLINE], list(online.values())
    c = found.correlation
    assert c.versions == 4 and found.unattributed == 1
    assert c.spearman == pytest.approx(stats.spearmanr(*pairs).statistic)
    assert c.pearson == pytest.approx(stats.pearsonr(*pairs).statistic)
    assert c.spearman_p == pytest.approx(stats.spearmanr(*pairs).pvalue)


def test_fewer_than_three_versions_is_said_plainly():
    rows = [r for r in history_rows() if r["model_version"] in ("1", "2") or r.get("labeled_window") in ("w1", "w3")]
    found = offline_online.agreement(rows, MODEL, "roc_auc", HOLDOUT, 0.02)
    assert [v.version for v in found.versions] == ["1", "2"]
    assert found.correlation.spearman is None
    assert found.correlation.note == "not enough versions: 2 with both figures, 3 needed"


def test_the_card_shows_the_table_and_the_correlation():
    found = offline_online.agreement(history_rows(), MODEL, "roc_auc", HOLDOUT, 0.02)
    doc = Doc()
    offline_online_section(doc, found, "3")
    text = doc.markdown()
    table = next(b for b in doc.blocks if b.kind == "table")
    assert table.rows[2] == ["v3 (this card)", 0.84, pytest.approx(0.79), 2, 0.78, 0.80, 0]
    assert [r[0] for r in table.rows] == ["v1", "v2", "v3 (this card)", "v4"]
    assert "## Offline and online metrics" in text and "holdout 0.840, online 0.790 (the mean of 2" in text
    assert f"Spearman {found.correlation.spearman:.3f}" in text and "over 4 versions with both figures" in text
    alone = Doc()
    offline_online_section(alone, offline_online.agreement([], MODEL, "roc_auc", {}, 0.02), "1")
    assert "No labelled monitoring window of this version yet" in alone.markdown()
    assert "not enough versions: 0 with both figures, 3 needed" in alone.markdown()


def _page(**fields) -> str:
    base = {"dataset": "voter_turnout", "model_name": MODEL, "generated_at": START, "serving_now": "serving",
            "champion": None, "challenger": None, "alias_history": [], "served": [], "recent_fallback_share": None,
            "trends": [], "verdicts": [], "mlflow_ui": None}  # fmt: skip
    approvals = ApprovalList(approvals=[], required_actions_path="required_actions")
    return monitor_page.render(DatasetView(**(base | fields)), datasets_overview.DatasetList(datasets=[]), approvals)


def test_the_monitor_page_shows_the_table_and_the_correlation():
    found = offline_online.agreement(history_rows(), MODEL, "roc_auc", HOLDOUT, 0.02)
    html = _page(offline_online=offline_online_view(found))
    rows = re.findall(r'<tr data-version="(\d)" data-holdout="([\d.]+)" data-online="([\d.]+)"', html)
    assert [(v, float(h)) for v, h, _ in rows] == [(k, HOLDOUT[k]) for k in ONLINE]
    assert float(rows[2][2]) == pytest.approx(0.79)
    assert f'data-versions="4" data-spearman="{found.correlation.spearman:.6f}"' in html
    assert "1 labelled window(s) left out" in html
    assert 'id="no-offline-online"' in _page()

"""The model monitor's data and page, built from real state without Airflow: two trained versions in a
real MLflow store, snapshots scored by the champion, monitoring windows judged and recorded by the
real workflow steps; then the view's records, the rendered HTML hooks, the file server's refusals and
the approvals reader (its parsing, and its error when Airflow cannot be reached)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from conftest import free_port, run_training, train_and_promote, use_workspace

from modelops.collect import scenarios
from modelops.core import catalog
from modelops.pipelines import monitoring_flow
from modelops.score.snapshot import score_snapshot
from modelops.store import history
from modelops.ui import (
    approvals_view,
    dataset_view,
    datasets_overview,
    free_text,
    links,
    monitor_page,
    serving_view,
    trends_view,
    versions_view,
)

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

ROWS = 1500
END = datetime(2028, 11, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def state(tmp_path_factory, settings):
    """v1 champion, v2 from a second training, two scored and monitored snapshots (stable, then drifted)."""
    patch = pytest.MonkeyPatch()
    root = use_workspace(patch, tmp_path_factory.mktemp("monitor") / "workspace")
    patch.setenv(links.MLFLOW_UI_ENV, "http://127.0.0.1:5999/")
    spec = train_and_promote(settings, 4000, "monitor-v1")
    second = run_training(settings, "voter_turnout", "monitor-v2", rows=5000)
    outcomes = []
    for i, (window, scenario) in enumerate((("s-000", "stable"), ("s-001", "realignment"))):
        scenarios.write_window(spec, window, scenario, ROWS, seed=40 + i)
        score_snapshot(spec, settings, snapshot=window)
        outcome = monitoring_flow.judge_window(spec.name, window, {}, False, END + timedelta(days=i), f"manual__{i}")
        monitoring_flow.record_verdict(outcome, f"manual__{i}")
        outcomes.append(outcome)
    yield {"spec": spec, "root": root, "second": second["outcome"], "outcomes": outcomes, "settings": settings}
    patch.undo()


@pytest.fixture(scope="module")
def view(state):
    return dataset_view.dataset_view("voter_turnout", state["settings"])


def test_champion_and_challenger_carry_their_gate_checks(state, view):
    second = state["second"]
    if second["alias"] == "champion":  # v2 won its gate against v1: v1 holds no alias any more
        assert view.champion.version == "2" and view.challenger is None
    else:
        assert view.champion.version == "1" and view.challenger.version == "2"
        assert view.challenger.verdict == "keep_champion" and not all(g.passed for g in view.challenger.gates)
    assert view.champion.verdict == "promote" and view.champion.gates
    names = {g.name for g in view.champion.gates}
    assert {"beats_majority", "beats_rule", "champion"} <= names
    assert all(g.passed for g in view.champion.gates)  # a promoted version passed every check
    assert view.champion.primary_metric == "roc_auc" and 0.5 < view.champion.holdout_value <= 1
    hrefs = [link.href for link in view.champion.links]
    assert f"http://127.0.0.1:5999/#/models/voter_turnout_model/versions/{view.champion.version}" in hrefs
    assert any(re.fullmatch(r"http://127\.0\.0\.1:5999/#/experiments/\d+/runs/\w+", h) for h in hrefs)


def test_alias_history_is_newest_first_and_matches_the_audit_table(state, view):
    rows = history.read_alias_history("voter_turnout_model")
    assert [(c.alias, c.version) for c in view.alias_history] == [
        (r["alias"], str(r["version"])) for r in reversed(rows)
    ]
    assert view.alias_history[-1].alias == "champion" and view.alias_history[-1].version == "1"
    assert view.alias_history[-1].previous_version is None and view.alias_history[-1].actor.startswith(
        "modelops_training"
    )
    assert {c.version for c in view.alias_history} == {"1", "2"}
    assert view.serving_now.startswith(f"voter_turnout_model@champion pointed to v{view.champion.version} at ")


def test_served_snapshots_and_fallback_share_come_from_the_manifests(state, view):
    assert [s.snapshot for s in view.served] == ["s-001", "s-000"]
    manifests = {s: catalog.read_json(catalog.scoring_manifest("voter_turnout", s)) for s in ("s-000", "s-001")}
    for served in view.served:
        manifest = manifests[served.snapshot]
        assert served.rows == ROWS == manifest["rows_out"]
        assert served.fallback_rows == manifest["sources"].get("fallback", 0)
        assert served.serving == manifest["serving"] and served.model_version == str(manifest["model_version"])
        labels = [link.label for link in served.links]
        assert labels[:2] == ["scoring report", "manifest"] and "MLflow: scoring run" in labels
    total = sum(s.fallback_rows for s in view.served)
    assert view.recent_fallback_share == pytest.approx(total / (2 * ROWS))
    assert serving_view.recent_fallback_share(view.served, count=1) == pytest.approx(view.served[0].fallback_share)
    assert serving_view.recent_fallback_share([]) is None


def test_trends_and_verdicts_follow_the_recorded_windows(state, view):
    rows = history.read_monitoring_history("voter_turnout")
    assert [r["window_id"] for r in rows] == ["s-000", "s-001"]
    by_key = {t.key: t for t in view.trends}
    assert set(by_key) == {"drift_share", "prediction_psi", "expected_accuracy", "fallback_share", "labelled_roc_auc"}
    drift = by_key["drift_share"]
    assert [p.window_id for p in drift.points] == ["s-000", "s-001"]
    assert [p.value for p in drift.points] == pytest.approx([r["drift_share"] for r in rows])
    assert [p.breach for p in drift.points] == ["data_drift" in r["signals"] for r in rows]
    assert drift.limit == state["settings"].monitoring.dataset_drift_share
    assert by_key["labelled_roc_auc"].points[0].value is None  # no labels arrived: nothing to plot, no error
    # the drifted snapshot breached what the recorded verdict says it breached
    latest = view.verdicts[0]
    recorded = state["outcomes"][1].verdict
    assert (latest.window_id, latest.action, latest.breach) == ("s-001", recorded.action, recorded.breach)
    assert latest.breach and latest.signals and latest.reasons
    assert [link.label for link in latest.links] == ["monitoring report", "MLflow: monitoring run"]
    assert latest.links[0].href == "files/reports/voter_turnout/s-001/" + latest.links[0].href.rsplit("/", 1)[1]


class _Hooks(HTMLParser):
    """Collects (tag, attributes, enclosing ids) for every start tag."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []
        self.stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes, tuple(i for _, i in self.stack if i)))
        if tag not in ("meta", "br", "img", "input", "link", "hr"):  # void elements never close
            self.stack.append((tag, attributes.get("id")))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def find(self, tag=None, within=None, **attrs):
        return [
            a
            for t, a, ids in self.tags
            if (tag is None or t == tag)
            and (within is None or within in ids)
            and all(k.replace("_", "-") in a and (v is True or a[k.replace("_", "-")] == v) for k, v in attrs.items())
        ]


def test_the_dataset_page_carries_the_champions_decay_and_the_forecasts_on_its_scores(state, view):
    decay = view.decay
    assert decay.version == view.champion.version and decay.metric == view.champion.primary_metric
    assert decay.points[0].label == "holdout" and decay.points[0].value == view.champion.holdout_value
    assert decay.start is not None and decay.start_source == "alias history"
    assert decay.max_age_days == state["settings"].monitoring.max_champion_age_days
    assert view.forecasts.forecasts == ["voter_forecast"] and view.forecasts.runs == []  # none published here
    html = monitor_page.render(view, datasets_overview.dataset_list(state["settings"]), _empty_approvals(), "/")
    assert '<tr data-label="holdout" data-age="0.00"' in html and "No run of voter_forecast was published yet." in html
    agreement = view.offline_online  # no labels arrived here: no version has an online figure yet
    assert agreement.metric == view.champion.primary_metric and agreement.versions == []
    assert agreement.note == "not enough versions: 0 with both figures, 3 needed"
    assert "No labelled monitoring window recorded yet." in html and 'data-versions="0"' in html


def test_the_page_carries_the_stable_hooks(state, view):
    approvals = approvals_view.ApprovalList(
        approvals=approvals_view.parse_approvals(_hitl_payload()), required_actions_path="required_actions"
    )
    html = monitor_page.render(view, datasets_overview.dataset_list(state["settings"]), approvals, "/")
    page = _Hooks()
    page.feed(html)
    assert page.find(id="champion-version")[0]["data-version"] == view.champion.version
    assert page.find(id="challenger-version")
    history_rows = page.find("tr", within="alias-history", data_alias=True, data_version=True)
    assert [(r["data-alias"], r["data-version"]) for r in history_rows] == [
        (c.alias, c.version) for c in view.alias_history
    ]
    assert [r["data-snapshot"] for r in page.find("tr", within="serving")] == ["s-001", "s-000"]
    for trend in view.trends:
        circles = page.find("circle", within=f"trend-{trend.key}", data_window=True, data_breach=True)
        assert [c["data-window"] for c in circles] == [p.window_id for p in trend.points if p.value is not None]
        assert [c["data-breach"] for c in circles] == [
            str(p.breach).lower() for p in trend.points if p.value is not None
        ]
    assert len(page.find("circle", within="trend-drift_share")) == 2
    verdict_rows = page.find("tr", within="verdicts", data_window=True, data_action=True)
    assert [(r["data-window"], r["data-action"]) for r in verdict_rows] == [
        (v.window_id, v.action) for v in view.verdicts
    ]
    share = page.find(id="recent-fallback-share")[0]
    assert float(share["data-value"]) == pytest.approx(view.recent_fallback_share)
    assert [r["data-run-id"] for r in page.find("tr", within="approvals", data_run_id=True)] == ["manual__pending"]
    assert page.find("a", id="required-actions-link")[0]["href"] == "/required_actions"
    mlflow = [a for a in page.find("a") if a["href"].startswith("http://127.0.0.1:5999")]
    assert mlflow and all(a["target"] == "_blank" for a in mlflow)
    assert "<script src" not in html and "http://" not in re.sub(r'href="http://127\.0\.0\.1:5999[^"]*"', "", html)


def test_the_page_escapes_what_it_shows(state, view):
    hostile = view.model_copy(update={"serving_now": "<img src=x onerror=alert(1)>"})
    html = monitor_page.render(hostile, datasets_overview.DatasetList(datasets=[]), _empty_approvals(), "/")
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_files_serves_reports_cards_and_scoring_files_and_nothing_else(state):
    root = state["root"]
    report = next((root / "reports" / "voter_turnout" / "s-001").glob("*.html"))
    assert catalog.resolve_served(report.relative_to(root).as_posix()) == report.resolve()
    manifest = "scoring/voter_turnout/s-000/manifest.json"
    assert catalog.resolve_served(manifest) == (root / manifest).resolve()
    (root / "secret.json").write_text("{}")
    outside = root.parent / "outside.html"
    outside.write_text("<p>outside</p>")
    (root / "reports" / "voter_turnout" / "link.html").symlink_to(outside)
    refused = [
        "../secret.json",
        "reports/../secret.json",
        "reports/voter_turnout/../../secret.json",
        "scoring/voter_turnout/%2e%2e/secret.json",
        "/etc/passwd",
        "secret.json",
        "batches/voter_turnout/x/manifest.json",  # not a served folder
        "scoring/voter_turnout/s-000/predictions/part-00000.parquet",  # not html/json
        "reports/voter_turnout/.hidden.html",
        "reports/voter_turnout/link.html",  # a symlink out of the folder
        "reports/voter_turnout/s-009/report.html",  # missing
        "reports",
    ]
    for name in refused:
        with pytest.raises(catalog.RefusedFile):
            catalog.resolve_served(name)
    assert catalog.served_name(outside) is None and links.file_link("x", root / "secret.json") == []


def _hitl_payload() -> dict:
    task = {"dag_id": "modelops_promotion", "task_id": "approve_promotion", "map_index": -1}
    return {
        "hitl_details": [
            {
                "task_instance": {**task, "dag_run_id": "manual__pending", "state": "awaiting_input"},
                "subject": "Promote voter_turnout_model v2?",
                "body": "gate evidence",
                "options": ["Approve", "Reject"],
                "assigned_users": [{"id": "alice", "name": "alice"}],
                "created_at": "2028-11-10T10:00:00Z",
                "response_received": False,
            },
            {  # answered already
                "task_instance": {**task, "dag_run_id": "manual__answered", "state": "success"},
                "subject": "Roll back?",
                "options": ["Approve", "Reject"],
                "created_at": "2028-11-09T10:00:00Z",
                "response_received": True,
            },
            {  # never answered, but the run was stopped: nothing waits any more
                "task_instance": {**task, "dag_run_id": "manual__stopped", "state": "failed"},
                "subject": "Retire?",
                "options": ["Approve", "Reject"],
                "created_at": "2028-11-08T10:00:00Z",
                "response_received": False,
            },
        ],
        "total_entries": 3,
    }


def _empty_approvals() -> approvals_view.ApprovalList:
    return approvals_view.ApprovalList(approvals=[], required_actions_path="required_actions")


def test_pending_approvals_are_the_unanswered_waiting_ones():
    approvals = approvals_view.parse_approvals(_hitl_payload())
    assert [(a.run_id, a.subject, a.assigned_users) for a in approvals] == [
        ("manual__pending", "Promote voter_turnout_model v2?", ["alice"])
    ]
    assert approvals[0].created_at == datetime(2028, 11, 10, 10, tzinfo=UTC)


def test_approvals_say_why_when_airflow_cannot_be_asked():
    port = free_port()
    answer = approvals_view.pending_approvals(f"http://127.0.0.1:{port}", "token", timeout=5)
    assert answer.approvals == [] and f"127.0.0.1:{port}" in answer.error


def test_an_unknown_dataset_is_refused_naming_the_configured_ones(state):
    from modelops.config.checks import ConfigError

    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'.*voter_turnout"):
        dataset_view.dataset_view("nope", state["settings"])


def test_the_dataset_list_summarizes_every_configured_dataset(state, view):
    listed = {d.dataset: d for d in datasets_overview.dataset_list(state["settings"]).datasets}
    assert set(listed) == set(state["settings"].datasets)
    mine = listed["voter_turnout"]
    assert (mine.champion_version, mine.windows, mine.latest_window) == (view.champion.version, 2, "s-001")
    assert mine.latest_action == view.verdicts[0].action
    assert listed["anes96_vote"].champion_version is None and listed["anes96_vote"].windows == 0


def test_the_overview_shows_every_dataset_with_its_last_verdict_and_waiting_approvals(state, view):
    (waiting,) = approvals_view.parse_approvals(_hitl_payload())
    mine, unknown = waiting.model_copy(update={"dataset": "voter_turnout"}), waiting.model_copy(update={"run_id": "x"})
    approvals = approvals_view.ApprovalList(approvals=[mine, unknown], required_actions_path="required_actions")
    overview = datasets_overview.overview(state["settings"], approvals)
    rows = {r.dataset: r for r in overview.datasets}
    assert list(rows) == sorted(state["settings"].datasets)
    voter, last = rows["voter_turnout"], view.verdicts[0]
    assert (voter.champion_version, voter.last_window, voter.last_action) == (
        view.champion.version,
        "s-001",
        last.action,
    )
    assert voter.open_signals == last.signals and voter.open_signals  # the realigned window breached
    recorded = history.read_monitoring_history("voter_turnout")[-1]["recorded_at"]
    assert voter.judged_at == recorded.replace(tzinfo=recorded.tzinfo or UTC)  # when the verdict was recorded
    assert (voter.pending_approvals, voter.schedule, voter.page) == (1, "@daily", "?dataset=voter_turnout")
    anes = rows["anes96_vote"]
    assert (anes.champion_version, anes.last_window, anes.last_action, anes.pending_approvals) == (None, None, None, 0)
    assert overview.unattributed_approvals == 1

    page = _Hooks()
    page.feed(monitor_page.render_overview(overview, approvals, "/"))
    shown = page.find("tr", within="overview", data_dataset=True, data_champion=True, data_action=True)
    assert [(r["data-dataset"], r["data-champion"], r["data-action"], r["data-pending"]) for r in shown] == [
        (r.dataset, r.champion_version or "", r.last_action or "", str(r.pending_approvals)) for r in overview.datasets
    ]
    assert [a["href"] for a in page.find("a", within="overview")] == [r.page for r in overview.datasets]
    nav = [a["href"] for a in page.find("a") if a["href"].startswith("?")]
    assert nav[0] == "?" and "?dataset=voter_turnout" in nav  # the overview first, then each dataset's page


def test_a_trend_chart_places_every_window_and_marks_breaches():
    points = [
        trends_view.TrendPoint(window_id=f"w-{i}", window_end=END, model_version="1", value=v, breach=b)
        for i, (v, b) in enumerate([(0.1, False), (None, False), (0.3, True), (0.2, False)])
    ]
    trend = trends_view.Trend(
        key="drift_share", label="Share", signal="data_drift", limit=0.25, higher_is_worse=True, points=points
    )
    page = _Hooks()
    page.feed(monitor_page.svg_chart(trend))
    circles = page.find("circle", within="trend-drift_share", data_window=True, data_breach=True)
    assert [(c["data-window"], c["data-breach"]) for c in circles] == [
        ("w-0", "false"),
        ("w-2", "true"),
        ("w-3", "false"),
    ]
    xs = [float(c["cx"]) for c in circles]
    assert xs[1] - xs[0] == pytest.approx(2 * (xs[2] - xs[1]), abs=0.2)  # the window without a value keeps its place
    ys = [float(c["cy"]) for c in circles]
    assert ys[1] < ys[2] < ys[0]  # higher values are drawn higher
    assert page.find("line", data_limit="0.25")
    full = trend.model_copy(update={"points": [*points, points[0].model_copy(update={"value": 1.0})], "ceiling": 1.0})
    top = max(float(t) for t in re.findall(r'text-anchor="end">([0-9.]+)</text>', monitor_page.svg_chart(full)))
    assert top == 1.0  # a share of 100% is the top of its axis, not 108%
    empty = trend.model_copy(update={"points": []})
    assert "no recorded window has this figure yet" in monitor_page.svg_chart(empty)


def test_the_plugin_imports_nothing_heavy():
    """Every Airflow component loads plugins: the monitor's MLflow, pandas and friends wait for a request."""
    import subprocess
    import sys
    from pathlib import Path

    plugins = Path(__file__).resolve().parents[2] / "plugins"
    heavy = ("mlflow", "sklearn", "pandas", "numpy", "scipy", "pyarrow", "great_expectations")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import modelops_monitor; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(plugins)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_a_snapshot_the_fallback_served_whole_is_never_shown_as_served_by_its_version(workspace, settings):
    """Hand-built manifests as commit_scoring writes them: one mixed snapshot, one the fallback served whole."""
    from modelops.core.served import served_by
    from modelops.store import alias_log

    spec = settings.dataset("voter_turnout")
    with history.get_engine().begin() as connection:
        history.alias_change(connection, spec.model_name, "champion", "1", None, "tests", "first", None)
    scored_at = datetime.now(UTC) + timedelta(seconds=1)
    cases = {
        "s-000": ({"model": 3990, "fallback": 10, "canary": 0}, {"missing:q1": 6, "missing:q2": 4}),
        "s-001": ({"model": 0, "fallback": 4000, "canary": 0}, {"score_distribution": 4000}),
    }
    manifests = {}
    for i, (snapshot, (sources, reasons)) in enumerate(cases.items()):
        when = scored_at + timedelta(seconds=i)
        manifests[snapshot] = {
            "dataset": spec.name,
            "snapshot": snapshot,
            "model_name": spec.model_name,
            "alias": "champion",
            "model_version": "1",
            "challenger_version": None,
            "shadow": False,
            "canary_share": 0.0,
            "scored_at": when.isoformat(),
            "rows_in": 4000,
            "rows_out": 4000,
            "sources": sources,
            "fallback_reasons": reasons,
            "serving": alias_log.describe_serving(spec.model_name, when, "champion"),  # as commit_scoring writes it
        }
        catalog.write_json(catalog.scoring_manifest(spec.name, snapshot), manifests[snapshot])
    served = serving_view.served_snapshots(spec)
    assert [s.snapshot for s in served] == ["s-001", "s-000"]
    whole, mixed = served
    assert (whole.model_rows, whole.canary_rows, whole.fallback_rows) == (0, 0, 4000)
    assert whole.served_line == served_by(manifests["s-001"]).line()
    assert mixed.fallback_columns == {"missing": ["q1", "q2"]}
    view = dataset_view.DatasetView(
        dataset=spec.name,
        model_name=spec.model_name,
        generated_at=datetime.now(UTC),
        serving_now=alias_log.describe_serving(spec.model_name),
        champion=None,
        challenger=None,
        alias_history=versions_view.alias_changes(spec.model_name),
        served=served,
        recent_fallback_share=serving_view.recent_fallback_share(served),
        trends=[],
        verdicts=[],
        mlflow_ui=None,
    )
    html = monitor_page.render(view, datasets_overview.DatasetList(datasets=[]), _empty_approvals(), "/")
    page = _Hooks()
    page.feed(html)
    rows = {r["data-snapshot"]: r for r in page.find("tr", within="serving", data_model_rows=True)}
    assert (rows["s-001"]["data-model-rows"], rows["s-001"]["data-fallback-rows"]) == ("0", "4000")
    assert (rows["s-000"]["data-model-rows"], rows["s-000"]["data-fallback-rows"]) == ("3990", "10")
    assert "the rule-based fallback served all 4,000 rows (score_distribution 4,000); v1 scored none" in html
    assert "4000 (100.0%)" in html and "columns missing: q1, q2" in html
    assert "the model scored 3990, the canary decided 0 and the rule-based baseline served 4010" in html
    assert "served by v1" not in html and "served v1" not in html


def _decision(**fields) -> versions_view.Decision:
    base = {
        "action": "promote",
        "version": "3",
        "previous_version": "2",
        "decision": "approved",
        "override": False,
        "requester": "alice",
        "approver": "bob",
        "decided_at": END,
        "reason": "promote: better recall",
        "comment": "fine",
        "run_id": "manual__a",
    }
    return versions_view.Decision(**(base | fields))


def _bare_view(**fields) -> dataset_view.DatasetView:
    base = {
        "dataset": "voter_turnout",
        "model_name": "voter_turnout_model",
        "generated_at": END,
        "serving_now": "voter_turnout_model@champion pointed to v2",
        "champion": None,
        "challenger": None,
        "alias_history": [],
        "served": [],
        "recent_fallback_share": None,
        "trends": [],
        "verdicts": [],
        "mlflow_ui": None,
    }
    return dataset_view.DatasetView(**(base | fields))


def test_the_page_shows_refusals_timeouts_and_overrides_with_who_and_why():
    """Hand-built decisions: a refusal with approver and comment (hostile HTML), a timeout, an override."""
    comment = "<script>alert(1)</script> not before the\nfairness review"
    view = _bare_view(
        decisions=[
            _decision(decision="refused", approver="bob", comment=free_text.plain_text(comment), run_id="manual__r"),
            _decision(decision="timed_out", approver=None, comment=None, run_id="manual__t", requester=None),
            _decision(override=True, comment="gap accepted for one week", run_id="manual__o", version="4"),
        ]
    )
    html = monitor_page.render(view, datasets_overview.DatasetList(datasets=[]), _empty_approvals(), "/")
    page = _Hooks()
    page.feed(html)
    rows = page.find("tr", within="decisions", data_decision=True)
    assert [(r["data-run-id"], r["data-decision"], r["data-override"]) for r in rows] == [
        ("manual__r", "refused", "false"),
        ("manual__t", "timed_out", "false"),
        ("manual__o", "approved", "true"),
    ]
    refusal = re.search(r'<tr data-decision="refused".*?</tr>', html).group(0)
    assert ">refused<" in refusal and ">alice<" in refusal and ">bob<" in refusal
    assert "&lt;script&gt;alert(1)&lt;/script&gt; not before the\\nfairness review" in refusal
    assert "<script>alert(1)" not in html
    timeout = re.search(r'<tr data-decision="timed_out".*?</tr>', html).group(0)
    assert ">timed out<" in timeout and "nobody (no answer before the timeout)" in timeout and "not known" in timeout
    override = re.search(r'<tr data-decision="approved".*?</tr>', html).group(0)
    assert ">overridden<" in override and "failed gates overridden" in override and "champion v2 -&gt; v4" in override


def test_pending_approvals_open_the_page_with_what_they_would_change():
    """A pending rollback as Airflow returns it (run and plan): dataset, change, requester and since when, first."""
    approval = approvals_view.parse_approvals(_hitl_payload())[0]
    run = {"triggering_user_name": "alice", "run_type": "manual", "conf": {"dataset": "voter_turnout"}}
    plan = {"model_name": "voter_turnout_model", "action": "rollback", "version": "1", "current_champion": "2"}
    described = approvals_view.describe_change(approval, run, plan)
    assert (described.dataset, described.requester, described.from_version, described.to_version) == (
        "voter_turnout",
        "alice",
        "2",
        "1",
    )
    assert described.change == "rollback: voter_turnout_model alias champion v2 -> v1"
    approvals = approvals_view.ApprovalList(approvals=[described], required_actions_path="required_actions")
    html = monitor_page.render(
        _bare_view(decisions=[_decision()]), datasets_overview.DatasetList(datasets=[]), approvals
    )
    page = _Hooks()
    page.feed(html)
    (row,) = page.find("tr", within="approvals", data_run_id=True)
    assert (row["data-run-id"], row["data-dataset"], row["data-requester"]) == (
        "manual__pending",
        "voter_turnout",
        "alice",
    )
    pending = re.search(r'<tr data-run-id="manual__pending".*?</tr>', html).group(0)
    assert (
        "rollback: voter_turnout_model alias champion v2 -&gt; v1" in pending and "2028-11-10T10:00:00+00:00" in pending
    )
    # at the top: before the dataset's champion, its history and its decisions
    assert html.index('id="approvals"') < html.index('id="champion-version"') < html.index('id="decisions"')

    trained = approvals_view.describe_change(
        approval.model_copy(update={"dag_id": "modelops_training"}),
        {"triggering_user_name": None, "run_type": "asset_triggered", "conf": {}},
        {"model_name": "voter_turnout_model", "version": "5", "promote": True},
        {"voter_turnout_model": "voter_turnout"},
        champion="4",
    )
    assert (trained.dataset, trained.requester, trained.change) == (
        "voter_turnout",
        "asset_triggered run",
        "promote: voter_turnout_model alias champion v4 -> v5",
    )
    retire = approvals_view.describe_change(approval, run, {**plan, "action": "retire", "version": "1"})
    assert retire.change == "retire voter_turnout_model v1 (its aliases removed)"


def test_decisions_are_read_from_the_audit_table_with_who_asked(workspace):
    """promotion_decisions rows as promotion._record writes them; who asked comes from the runs' requests."""
    model = "voter_turnout_model"
    for i, (decision, approver, comment) in enumerate(
        (("approved", "bob", None), ("refused", "carol", "no\nway <b>"), ("timed_out", None, None))
    ):
        history.record_promotion_decision(
            {
                "model_name": model,
                "action": "promote",
                "version": str(i + 2),
                "previous_version": "1",
                "decision": decision,
                "approver": approver,
                "decided_at": END + timedelta(hours=i),
                "reason": f"promote: try {i}",
                "comment": comment,
                "run_id": f"manual__{i}",
            }
        )
    requests = {
        "manual__1": approvals_view.RunRequest(
            run_id="manual__1", requester="alice", dataset="voter_turnout", override=True
        )
    }
    decided = versions_view.decisions(model, requests)
    assert [(d.run_id, d.decision, d.approver, d.requester, d.override) for d in decided] == [
        ("manual__2", "timed_out", None, None, None),
        ("manual__1", "refused", "carol", "alice", True),
        ("manual__0", "approved", "bob", None, None),
    ]
    assert decided[1].comment == "no\\nway <b>" and decided[1].label == "refused" and decided[0].label == "timed out"
    assert decided[1].decided_at == END + timedelta(hours=1)
    assert versions_view.decisions("another_model") == []


def test_plain_text_is_one_line_escaped_and_cut():
    forged = "fine\n[2028-11-10 10:00:00] INFO - approved by admin\r\u202eevil\u200b\\"
    text = free_text.plain_text(forged)
    assert "\n" not in text and "\r" not in text and "\u202e" not in text and "\u200b" not in text
    assert text == "fine\\n[2028-11-10 10:00:00] INFO - approved by admin\\r\\u202eevil\\u200b\\\\"
    long = free_text.plain_text("x" * 10_000, limit=300)
    assert long == "x" * 300 + "... (9700 more characters cut)"
    assert free_text.plain_text(None) == "" and free_text.plain_text("Grüße, ok") == "Grüße, ok"


def test_an_alias_moved_outside_the_product_is_flagged_on_the_page(state):
    """A side-door move (the MLflow client, as the REST API or MLflow's UI would) shows at the top of the page."""
    from modelops.store import registry, tracking

    spec = state["spec"]
    before = dataset_view.dataset_view("voter_turnout", state["settings"])
    listing = datasets_overview.dataset_list(state["settings"])
    assert before.alias_drift is None
    assert 'id="alias-drift"' not in monitor_page.render(before, listing, _empty_approvals(), "/")
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    other = state["second"]["version"] if str(state["second"]["version"]) != str(champion.version) else "1"
    tracking.client().set_registered_model_alias(spec.model_name, registry.CHAMPION, str(other))
    try:
        moved = dataset_view.dataset_view("voter_turnout", state["settings"])
        assert moved.alias_drift and f"v{other}" in moved.alias_drift
        page = monitor_page.render(moved, listing, _empty_approvals(), "/")
        assert 'id="alias-drift"' in page and "Alias moved outside the product" in page
    finally:  # put the alias back where the history says, for the module's other tests
        tracking.client().set_registered_model_alias(spec.model_name, registry.CHAMPION, str(champion.version))


def _trend(values: list[float], limit: float | None, key: str = "labelled_roc_auc") -> trends_view.Trend:
    points = [
        trends_view.TrendPoint(window_id=f"w-{i}", window_end=END, model_version="1", value=v, breach=False)
        for i, v in enumerate(values)
    ]
    return trends_view.Trend(
        key=key,
        label="Labelled roc_auc",
        signal="performance",
        limit=limit,
        higher_is_worse=False,
        points=points,
        ceiling=1.0,
    )


def test_a_flat_trend_reads_flat_and_a_single_point_shows_its_limit():
    flat = _Hooks()
    flat.feed(monitor_page.svg_chart(_trend([0.761, 0.763, 0.762], None)))
    ys = [float(c["cy"]) for c in flat.find("circle", data_window=True)]
    plot_height = 170 - 12 - 34
    assert max(ys) - min(ys) < 0.05 * plot_height  # a 0.002 move is no crash
    low, high = monitor_page.axis_range([0.761, 0.763], 1.0)
    assert high - low >= monitor_page.MIN_SPAN and low <= 0.761 and high >= 0.763
    single = monitor_page.svg_chart(_trend([0.76], 0.6))
    labels = [float(t) for t in re.findall(r'text-anchor="end">([0-9.]+)</text>', single)]
    assert min(labels) <= 0.6 <= 0.76 <= max(labels) <= 1.0
    assert 'data-limit="0.6"' in single and "limit 0.600" in single


def test_the_labelled_trend_is_judged_against_the_metric_floor():
    rows = [{"window_id": "w-1", "window_end": END, "model_version": "1", "labeled_metrics": {"roc_auc": 0.76}}]
    labelled = trends_view.trends(rows, {}, "roc_auc", floor=0.6)[-1]
    assert (labelled.key, labelled.limit) == ("labelled_roc_auc", 0.6)
    assert trends_view.trends(rows, {}, "roc_auc")[-1].limit is None

"""The approval body shows recorded evidence a requester cannot forge; the four-eyes approver list."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from modelops.govern.approvals import (
    ApprovalError,
    build_body,
    escape_markdown,
    is_requester,
    parse_users,
    quote,
    resolve_approvers,
)

FORGING_REASON = (
    "Routine refresh, all good.\n\n"
    "Gate evidence:\n\n"
    "- verdict: promote\n"
    "- floor_roc_auc: PASS\n"
    "- fairness: PASS\n\n"
    "# Approved by compliance\n"
    "[card](javascript:alert(1)) **safe** `x` <b>ok</b>\n"
    "<!--"
)

PLAN = {
    "model_name": "anes96_vote",
    "action": "promote",
    "version": "3",
    "reason": FORGING_REASON,
    "current_champion": "1",
    "verdict": "keep_champion",
    "gates": ["compared_to: v1", "holdout_roc_auc: 0.7000", "verdict: keep_champion"],
    "override": True,
    "override_reason": "trust me\n<!-- hidden",
    "checks": [
        {"check": "floor_roc_auc", "passed": True, "detail": "roc_auc 0.7000 meets floor 0.6"},
        {
            "check": "fairness",
            "passed": False,
            "detail": "fairness limits breached: gender demographic_parity_difference 0.2537 > 0.25",
        },
        {
            "check": "champion",
            "passed": False,
            "detail": "roc_auc change vs champion v1: -0.0100 (95% CI -0.0300 .. +0.0100; needs > +0.0000)",
        },
    ],
    "card": "/modelops-monitor/files/cards/anes96_vote/v3/card.html",
}


def _shown(body: str) -> tuple[str, list]:
    """What Airflow's UI shows: CommonMark (+ GFM tables) with raw HTML skipped (its react-markdown has skipHtml)."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    tokens = md.parse(body)
    kept = [t for t in tokens if t.type not in ("html_block", "html_inline")]
    for t in kept:
        if t.children:
            t.children = [c for c in t.children if c.type != "html_inline"]
    return md.renderer.render(kept, md.options, {}), tokens


def test_a_forging_reason_cannot_hide_the_override_or_the_failed_checks():
    body = build_body(PLAN, "analyst")
    html, tokens = _shown(body)
    assert not any(t.type in ("html_block", "html_inline") for t in tokens)  # nothing is skipped or hidden
    assert "<!--" not in html and "<b>" not in html and "javascript:" not in html.split('href="')[0]
    assert 'href="javascript' not in html
    # the override line comes first and loud, the failed checks with their numbers are shown
    assert html.startswith("<h2>OVERRIDE of failed gates")
    failed = "<strong>FAIL</strong> fairness: fairness limits breached: gender demographic_parity_difference 0.2537"
    assert failed in html
    assert "95% CI -0.0300 .. +0.0100" in html
    assert 'href="/modelops-monitor/files/cards/anes96_vote/v3/card.html"' in html
    assert "moves from v1 to v3" in html
    # the reason: one paragraph of text, after every recorded fact, no heading or list of its own
    reason_at = html.index("Reason: Routine refresh")
    assert html.index("OVERRIDE") < html.index("<strong>FAIL</strong> fairness") < reason_at
    assert html.index("Model card") < reason_at
    assert html.count("<h1>") == 0 and html.count("<h2>") == 1 and html.count("<h3>") == 1
    assert html.count("<li>") == len(PLAN["checks"])  # the only list items are the recorded checks
    assert "Gate evidence: - verdict: promote - floor_roc_auc: PASS - fairness: PASS # Approved by" in html
    assert "&lt;!-- hidden" in html and "&lt;!--</p>" in html  # shown as typed


def test_quote_collapses_newlines_escapes_and_cuts():
    assert quote("a\n\n# b\r\n- c") == "a \\# b \\- c"
    assert quote("x" * 600) == "x" * 500 + " (cut at 500 characters)"
    assert quote("   ") == "(none given)"
    assert escape_markdown("<!-- *a* [b](c) `d` _e_ | f & g") == (
        "\\<\\!\\-\\- \\*a\\* \\[b\\]\\(c\\) \\`d\\` \\_e\\_ \\| f \\& g"
    )


def test_a_retirement_body_says_champion_stays():
    body = build_body({**PLAN, "action": "retire", "override": False, "override_reason": None}, None)
    assert "v3 is retired" in body and "`champion` stays v1" in body and "OVERRIDE" not in body
    assert "**Requested by**: unknown" in body


USERS = "alice:admin,bob:user,olga:op,victor:viewer,analyst:user"


def test_empty_approvers_means_anyone_who_can_answer_but_the_requester():
    users = parse_users(USERS)
    assert users == {"alice": "admin", "bob": "user", "olga": "op", "victor": "viewer", "analyst": "user"}
    assert resolve_approvers([], users, "analyst") == ["alice", "bob", "olga"]  # no viewer, no requester
    assert resolve_approvers([], users, None) == ["alice", "analyst", "bob", "olga"]


def test_named_approvers_and_roles_never_include_the_requester():
    users = parse_users(USERS)
    assert resolve_approvers(["role:admin", "bob"], users, "alice") == ["bob"]
    assert resolve_approvers(["role:user"], users, "bob") == ["analyst"]
    assert resolve_approvers(["carol"], None, "alice") == ["carol"]  # another auth manager: named users as given
    with pytest.raises(ApprovalError, match="nobody may approve this request: alice asked for it"):
        resolve_approvers(["alice"], users, "alice")
    with pytest.raises(ApprovalError, match="nobody may approve"):
        resolve_approvers([], parse_users("admin:admin"), "admin")  # the demo's single user cannot approve itself
    with pytest.raises(ApprovalError, match="cannot be listed"):
        resolve_approvers([], None, "alice")


def test_is_requester():
    assert is_requester({"id": "alice", "name": "alice"}, "alice")
    assert not is_requester({"id": "bob", "name": "bob"}, "alice")
    assert not is_requester(None, "alice") and not is_requester({"id": "alice"}, None)


def test_the_promotion_plan_body_keeps_the_override_visible_after_a_forging_reason():
    from modelops.govern.promotion_plan import PromotionPlan

    plan = PromotionPlan(
        model_name="anes96_vote",
        action="promote",
        version="3",
        reason=FORGING_REASON,
        current_champion="1",
        verdict="keep_champion",
        gates=["verdict: keep_champion"],
        override=True,
        override_reason="slice gate flagged a 40-row group",
    )
    html, tokens = _shown(plan.describe())
    assert not any(t.type in ("html_block", "html_inline") for t in tokens)
    assert "OVERRIDE of failed gates" in html and "keep\\_champion" not in html and "keep_champion" in html
    assert html.index("OVERRIDE of failed gates") < html.index("Routine refresh")
    assert "<li>verdict: promote</li>" not in html and "<h1>" not in html


PRINT_PROMOTION = (
    "from modelops.config.settings import load_settings; s = load_settings(); "
    "print(s.promotion.require_approval, s.approvers_for(s.default_dataset))"
)


@pytest.mark.parametrize(("profile", "expected"), [("env.sh", "False []"), ("prod_env.sh", "True []")])
def test_the_production_shaped_profile_requires_approval_and_the_demo_does_not(profile, expected, tmp_path):
    import os
    import subprocess
    import sys

    from modelops.config.settings import REPO_ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("MODELOPS_REQUIRE_APPROVAL", "MODELOPS_CONFIG")}
    env["MODELOPS_HOME"] = str(tmp_path)
    script = f'source "{REPO_ROOT}/scripts/{profile}" && "{sys.executable}" -c "{PRINT_PROMOTION}"'
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == expected, out.stderr


def test_dataset_approvers_override_the_section_and_the_env_switch_is_checked(tmp_path, monkeypatch):
    import yaml

    from modelops.config.checks import ConfigError
    from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["promotion"]["approvers"] = ["role:admin"]
    name = raw["default_dataset"] if "default_dataset" in raw else next(iter(raw["datasets"]))
    raw["datasets"][name]["promotion"] = {"approvers": ["olga", "role:op"]}
    path = tmp_path / "modelops.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("MODELOPS_CONFIG", str(path))
    settings = load_settings()
    assert settings.approvers_for(name) == ["olga", "role:op"]
    other = next(d for d in settings.datasets if d != name)
    assert settings.approvers_for(other) == ["role:admin"]
    monkeypatch.setenv("MODELOPS_REQUIRE_APPROVAL", "true")
    assert load_settings().promotion.require_approval is True
    monkeypatch.setenv("MODELOPS_REQUIRE_APPROVAL", "yes please")
    with pytest.raises(ConfigError, match="MODELOPS_REQUIRE_APPROVAL: expected true or false"):
        load_settings()
    raw["datasets"][name]["promotion"] = {"approvers": "olga"}
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("MODELOPS_REQUIRE_APPROVAL")
    with pytest.raises(ConfigError, match=r"promotion.approvers: expected a list"):
        load_settings()

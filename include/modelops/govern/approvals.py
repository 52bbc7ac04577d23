"""What an approver is shown and who may answer: the approval body and the four-eyes rule, pure Python.

The body is built only from recorded facts (the version's gate checks as the training run wrote
them, the champion it would replace, its model card); the requester's own words are quoted last,
under their own heading, as plain text: every Markdown and HTML metacharacter escaped, newlines
collapsed, length cut. Airflow's UI renders the body as Markdown with raw HTML skipped, so an
unescaped `<!--` in a reason would swallow everything after it; escaped, it is shown as typed.

Who may answer: the dataset's `promotion.approvers` (user names, or `role:<role>` for every user of
that Airflow role), or, when the list is empty, every user who can answer at all; in every case
minus the requester. Nobody left is an error, never "anyone".
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REASON_LIMIT = 500  # characters of the requester's reason shown to the approver
MONITOR_FILES = "/modelops-monitor/files/"  # where the Model monitor plugin serves workspace cards
ROLE_PREFIX = "role:"
# simple auth manager roles allowed to answer a Required Action (PUT on the DAG's HITL detail needs `user`)
ANSWERING_ROLES = ("user", "op", "admin")
_PUNCTUATION = frozenset(string.punctuation)
_SPACE = re.compile(r"\s+")


class ApprovalError(ValueError):
    """Nobody may approve a request (the requester is the only approver left, or none is configured)."""


def escape_markdown(text: Any) -> str:
    """`text` with every ASCII punctuation character backslash-escaped: no Markdown or HTML syntax survives."""
    return "".join(f"\\{ch}" if ch in _PUNCTUATION else ch for ch in str(text))


def plain_line(text: Any, limit: int | None = None) -> str:
    """One line of plain text: control characters dropped, whitespace (newlines too) collapsed, cut to `limit`."""
    cleaned = "".join(ch if ch.isprintable() or ch.isspace() else " " for ch in str(text or ""))
    line = _SPACE.sub(" ", cleaned).strip()
    if limit is not None and len(line) > limit:
        line = line[:limit].rstrip() + " [cut]"
    return line


def quote(text: Any, limit: int | None = REASON_LIMIT) -> str:
    """Requester text as the approver sees it: one escaped line, or `(none given)`."""
    line = plain_line(text)
    if not line:
        return "(none given)"
    if limit is not None and len(line) > limit:
        return escape_markdown(line[:limit].rstrip()) + f" (cut at {limit} characters)"
    return escape_markdown(line)


def build_body(evidence: Mapping[str, Any], requester: str | None) -> str:
    """The approval body (Markdown) from a plan's recorded evidence; the requester's words last, quoted.

    `evidence` is a `PromotionPlan.to_xcom()`: action, model_name, version, current_champion,
    verdict, gates (recorded tags as lines), checks (`{check, passed, detail}` from the training
    run's evaluation), card (a link or an artifact URI), reason, override, override_reason.
    """
    e = {k: evidence.get(k) for k in evidence}
    model, version, action = escape_markdown(e["model_name"]), escape_markdown(e["version"]), e["action"]
    lines: list[str] = []
    if e.get("override"):
        lines += [
            "## OVERRIDE of failed gates: this version did NOT pass its gates",
            "",
            "The requester asks to ignore the failed checks below; their stated reason is quoted at the end.",
            "",
        ]
    now = f"v{escape_markdown(e['current_champion'])}" if e.get("current_champion") else "none"
    canary = e.get("canary") or {}
    if action == "retire":
        change = f"**What changes**: {model} v{version} is retired (its aliases removed); `champion` stays {now}."
    elif canary.get("stage") == "start":
        change = (
            f"**What changes**: {model} v{version} becomes the `canary`: it decides a share of the rows of the next "
            f"scored snapshots; `champion` stays {now} until the canary's evidence is judged."
        )
    else:
        change = f"**What changes**: `champion` of {model} moves from {now} to v{version} ({escape_markdown(action)})."
    lines += [change, "", f"**Requested by**: {escape_markdown(requester or 'unknown')}", ""]
    if canary.get("lines"):
        lines.append("**Canary** (production profile), as scoring recorded it:")
        lines.append("")
        lines += [f"- {escape_markdown(plain_line(line))}" for line in canary["lines"]]
        lines.append("")
    verdict = e.get("verdict")
    lines.append(f"**Gate verdict recorded at training**: {escape_markdown(verdict) if verdict else 'none on record'}")
    lines.append("")
    checks = list(e.get("checks") or [])
    if checks:
        failed = [c for c in checks if not c.get("passed")]
        lines.append(f"**Gate checks** ({len(failed)} failed of {len(checks)}), as the training run recorded them:")
        lines.append("")
        for c in sorted(checks, key=lambda c: bool(c.get("passed"))):  # failures first
            mark = "PASS" if c.get("passed") else "**FAIL**"
            lines.append(f"- {mark} {escape_markdown(c.get('check'))}: {escape_markdown(plain_line(c.get('detail')))}")
    else:
        lines.append("**Gate checks**: none on record for this version.")
    lines.append("")
    gates = list(e.get("gates") or [])
    if gates:
        lines.append("**Version tags**: " + "; ".join(escape_markdown(plain_line(g)) for g in gates))
        lines.append("")
    card = e.get("card")
    if card and str(card).startswith(MONITOR_FILES):
        lines.append(f"**Model card**: [{model} v{version}]({card})")
    elif card:
        lines.append(f"**Model card**: {escape_markdown(card)} (MLflow artifact)")
    else:
        lines.append("**Model card**: none on record")
    lines += ["", "Approve carries it out now; Reject (or no answer in time) changes nothing.", ""]
    lines += ["### The requester's words (not checked by anyone)", "", f"Reason: {quote(e.get('reason'))}"]
    if e.get("override"):
        lines += ["", f"Why the gates may be ignored: {quote(e.get('override_reason'))}"]
    return "\n".join(lines)


def parse_users(setting: str | None) -> dict[str, str]:
    """User -> role from a `[core] simple_auth_manager_users` value (`name:role,name:role`)."""
    users: dict[str, str] = {}
    for entry in (setting or "").split(","):
        name, sep, role = entry.strip().partition(":")
        if sep and name.strip() and role.strip():
            users[name.strip()] = role.strip().lower()
    return users


def resolve_approvers(
    named: Sequence[str],
    users: Mapping[str, str] | None,
    requester: str | None,
    where: str = "promotion.approvers",
) -> list[str]:
    """The concrete users who may answer: `named` (users, or `role:<role>`) or every answering user, minus `requester`.

    `users` maps the auth manager's users to their roles (None when it cannot list them). An empty
    `named` means every user with a role that can answer, never "anyone". Raises ApprovalError when
    nobody is left.
    """
    chosen: list[str] = []

    def add(names: Iterable[str]) -> None:
        chosen.extend(n for n in names if n not in chosen)

    if not named:
        if users is None:
            raise ApprovalError(
                f"{where} is empty and the auth manager's users cannot be listed: name the approvers in {where}"
            )
        add(sorted(u for u, role in users.items() if role in ANSWERING_ROLES))
    for entry in named:
        entry = entry.strip()
        if entry.startswith(ROLE_PREFIX):
            role = entry.removeprefix(ROLE_PREFIX).strip().lower()
            if users is None:
                raise ApprovalError(f"{where} names {entry!r} but the auth manager's users cannot be listed by role")
            add(sorted(u for u, r in users.items() if r == role))
        elif entry:
            add([entry])
    left = [u for u in chosen if u != requester]
    if not left:
        raise ApprovalError(
            f"nobody may approve this request: {requester or 'the requester'} asked for it and cannot answer it, "
            f"and no other user qualifies ({where}: {list(named) or 'empty = every user who can answer'}); "
            "add another approver"
        )
    return left


def is_requester(responder: Mapping[str, Any] | None, requester: str | None) -> bool:
    """Whether an answer (`{id, name}` of the responder) came from the person who asked."""
    if not responder or not requester:
        return False
    return requester in {responder.get("id"), responder.get("name")}

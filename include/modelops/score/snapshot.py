"""Scoring a snapshot in one process: plan, score every group, commit (tests, scripts, small files)."""

from __future__ import annotations

from typing import Any

from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.score.commit import commit_scoring
from modelops.score.ids import SeenIds
from modelops.score.models import load_models
from modelops.score.plan import plan_scoring
from modelops.score.run import score_group


def score_snapshot(
    spec: DatasetSpec,
    settings: Settings,
    input: str | None = None,
    snapshot: str | None = None,
    alias: str = "champion",
    sql_url: str | None = None,
    query: str | None = None,
    groups: int | None = None,
    output_url: str | None = None,
    use: str | None = None,
) -> dict[str, Any]:
    """Plan, score every group one after another, and commit (tests, scripts, small files); `use` is the
    permitted use served (empty: the dataset's first), a use not permitted refused before any work."""
    plan = plan_scoring(spec, settings, input, snapshot, alias, sql_url, query, groups, use=use)
    models = load_models(plan)  # one load per model for all the groups
    seen = SeenIds()  # the ids of the groups scored so far, kept rather than read back
    try:
        parts = [score_group(plan, i, models, seen) for i in range(len(plan.groups))]
        return commit_scoring(plan, parts, output_url, spec)
    except BaseException:
        import shutil

        shutil.rmtree(catalog.scoring_staging(plan.dataset, plan.snapshot), ignore_errors=True)  # nothing left behind
        raise

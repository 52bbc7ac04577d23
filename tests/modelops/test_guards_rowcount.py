"""Scoring's rows in = rows out guard: a part that lost or gained a row stops the run and publishes nothing.

A real champion (logistic regression on synthetic voters) in a module-wide MLflow store; each test
scores its own snapshot (three Parquet partitions in the production folder, three groups), damages
one group's output, and checks that the commit (or the group itself) raises RowCountError, that no
scoring folder, manifest or MLflow run exists for the snapshot, and that the run can still be completed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import module_store, train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.core import catalog
from modelops.score import run
from modelops.score.commit import commit_scoring
from modelops.score.plan import RowCountError, ScoringPlan, plan_scoring
from modelops.score.run import score_group
from modelops.store import tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

DATASET = "voter_turnout"
GROUPS = 3


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """A champion in one module-wide workspace and MLflow store."""

    def champion():
        return train_and_promote(settings, 2000, "guard-rows-champion")

    with module_store(tmp_path_factory, "guard-rows", champion) as s:
        yield s


@pytest.fixture
def env(store, monkeypatch):
    """The module's store for one test."""
    use_workspace(monkeypatch, store["root"])
    return store


def _plan(spec, settings, snapshot: str, rows: int = 300) -> ScoringPlan:
    """A snapshot of `rows` voters in GROUPS Parquet partitions (in the production folder), planned as GROUPS groups."""
    frame = simulate_window(spec, "stable", rows, 17).drop(columns=[spec.target])
    folder = catalog.production_dir(DATASET) / "inputs" / snapshot
    folder.mkdir(parents=True)
    for i, piece in enumerate(np.array_split(np.arange(rows), GROUPS)):
        frame.iloc[piece].to_parquet(folder / f"part-{i}.parquet", index=False)
    options = dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"shadow": False, "chunk_rows": 10_000})
    )  # a group is one chunk
    plan = plan_scoring(spec, options, str(folder), snapshot=snapshot, groups=GROUPS)
    assert len(plan.groups) == GROUPS
    return plan


def _rewrite(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path)


def _nothing_published(snapshot: str) -> None:
    assert not catalog.scoring_dir(DATASET, snapshot).exists()
    assert not catalog.scoring_manifest(DATASET, snapshot).exists()
    assert snapshot not in catalog.list_scored(DATASET)
    runs = tracking.client().search_runs(
        [tracking.scoring_experiment(DATASET)], filter_string=f"tags.`modelops.snapshot` = '{snapshot}'"
    )
    assert runs == []


def _damage_one_row_fewer(part: dict) -> dict:
    table = pq.read_table(part["part"])
    _rewrite(Path(part["part"]), table.slice(0, table.num_rows - 1))
    return part


def _damage_one_row_more(part: dict) -> dict:
    table = pq.read_table(part["part"])
    _rewrite(Path(part["part"]), pa.concat_tables([table, table.slice(0, 1)]))
    return part


def _damage_count_one_more(part: dict) -> dict:
    return {**part, "rows_in": part["rows_in"] + 1}  # the hand-off claims a row its file does not hold


def _damage_count_one_fewer(part: dict) -> dict:
    return {**part, "rows_in": part["rows_in"] - 1}


@pytest.mark.parametrize(
    ("damage", "snapshot"),
    [
        (_damage_one_row_fewer, "guard-row-lost"),
        (_damage_one_row_more, "guard-row-extra"),
        (_damage_count_one_more, "guard-count-more"),
        (_damage_count_one_fewer, "guard-count-fewer"),
    ],
)
def test_commit_refuses_a_part_whose_rows_disagree_and_publishes_nothing(env, settings, damage, snapshot):
    plan = _plan(env["spec"], settings, snapshot)
    parts = [score_group(plan, i) for i in range(GROUPS)]
    read = parts[1]["rows_in"]
    parts[1] = damage(parts[1])
    written = pq.ParquetFile(parts[1]["part"]).metadata.num_rows
    assert written != parts[1]["rows_in"]  # the damage is a disagreement between the count and the file
    # the per-part check names the group and its file (counts only, no row values)
    with pytest.raises(
        RowCountError, match=rf"^group 1: {parts[1]['rows_in']} rows read, {written} in part-00001\.parquet$"
    ):
        commit_scoring(plan, parts)
    _nothing_published(snapshot)
    assert all(Path(p["part"]).exists() for p in parts)  # nothing lost: the parts wait for a rescore

    parts[1] = score_group(plan, 1)  # the damaged group scored again: the commit goes through whole
    assert parts[1]["rows_in"] == read
    result = commit_scoring(plan, parts)
    assert result["rows"] == 300
    out = pq.read_table(Path(result["folder"]) / "predictions")
    assert sorted(out.column("row").to_pylist()) == list(range(300))


def test_a_group_whose_writer_loses_a_row_raises_and_leaves_no_part(env, settings, monkeypatch):
    """A part file short of what was read (a writer that dropped a row) fails the group, not just the commit."""
    snapshot = "guard-writer-lost"
    plan = _plan(env["spec"], settings, snapshot)
    real_write = run._Background.write

    def lossy(self, table):  # fault injection: the real writer, handed each chunk's table less its last row
        real_write(self, table.slice(0, table.num_rows - 1))

    monkeypatch.setattr(run._Background, "write", lossy)
    rows = plan.group_rows[0]
    with pytest.raises(RowCountError, match=rf"^group 0: {rows} rows read, {rows} scored, {rows - 1} written$"):
        score_group(plan, 0)
    group = catalog.scoring_staging(DATASET, snapshot) / "group-00000"
    assert not group.exists()  # the group's folder was never published: commit cannot pick up a short part
    _nothing_published(snapshot)

    monkeypatch.setattr(run._Background, "write", real_write)
    assert score_group(plan, 0)["rows_in"] == rows  # with a sound writer the same group scores


def test_a_partition_changed_after_planning_is_refused(env, settings):
    """The plan counted each group's rows; a group that reads another count (the file changed) raises."""
    snapshot = "guard-input-changed"
    plan = _plan(env["spec"], settings, snapshot)
    source = Path(plan.groups[2][0])
    table = pq.read_table(source)
    _rewrite(source, table.slice(0, table.num_rows - 1))
    with pytest.raises(
        RowCountError,
        match=rf"^group 2: the plan counted {plan.group_rows[2]} rows, {table.num_rows - 1} were read$",
    ):
        score_group(plan, 2)
    assert not (catalog.scoring_staging(DATASET, snapshot) / "group-00002").exists()
    _nothing_published(snapshot)

"""Snapshot diffs in scoring: the snapshot scored now against the one scored before it, with known adds, drops,
moves and new registrants; the new registrants' coverage (model vs fallback); never a failed scoring.

The unit tests hand `score.changes.snapshot_changes` a plan, the earlier snapshot's manifest and part files
written here (no model); the slow test scores two snapshots end to end and reads the manifest and the page."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from conftest import train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.core import catalog
from modelops.score.changes import snapshot_changes
from modelops.score.plan import ScoringPlan, compile_checks
from modelops.score.snapshot import score_snapshot

DATASET = "voter_turnout"


def _snapshot(ids: list[int], counties: list[str], years: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"voter_id": ids, "county_fips": counties, "years_registered": years, "age": 40.0})


OLD = _snapshot([1, 2, 3, 4], ["A", "A", "B", "B"], [5, 6, 7, 8])
# 1 stays in A; 2 moves A -> B; 3 stays in B; 4 is dropped; 5 and 6 are added (5 a new registrant); 7 too
NEW = _snapshot([1, 2, 3, 5, 6, 7], ["A", "B", "B", "A", "B", "B"], [5, 6, 0, 0, 3, 0])


def _write(frame: pd.DataFrame, snapshot: str) -> Path:
    path = catalog.snapshot_inputs(DATASET, snapshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _plan(spec, snapshot: str, files: list[Path]) -> ScoringPlan:
    return ScoringPlan(
        dataset=DATASET,
        snapshot=snapshot,
        alias="champion",
        model_name=spec.model_name,
        version="1",
        run_id="r",
        input_kind="parquet",
        input=str(files[0]),
        groups=(tuple(str(f) for f in files),),
        group_rows=(None,),
        baseline={},
        checks=compile_checks(spec),
        options={},
        scored_at="2030-01-01T00:00:00",
    )


def _scored_before(snapshot: str, files: list[Path]) -> None:
    """A committed scoring of `snapshot` (its manifest: the input files the diff reads)."""
    manifest = {
        "dataset": DATASET,
        "snapshot": snapshot,
        "input_kind": "parquet",
        "input_files": [str(f) for f in files],
    }
    catalog.write_json(catalog.scoring_manifest(DATASET, snapshot), manifest)


def _parts(folder: Path, sources: list[str]) -> list[Path]:
    """A part file of the new snapshot's predictions: id, score, source per row."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "part-00000.parquet"
    pd.DataFrame({"id": NEW["voter_id"].astype(str), "score": 0.5, "source": sources}).to_parquet(path)
    return [path]


def test_adds_drops_moves_and_new_registrants_against_the_snapshot_scored_before(workspace, settings):
    spec = settings.dataset(DATASET)
    _scored_before("2030-01", [_write(OLD, "2030-01")])
    _scored_before("2029-06", [_write(NEW, "2029-06")])  # older still: not the one compared with
    new_file = _write(NEW, "2030-02")
    parts = _parts(workspace / "parts", ["model", "model", "fallback", "model", "model", "fallback"])

    changes = snapshot_changes(_plan(spec, "2030-02", [new_file]), parts, spec)

    entry = changes.entry
    assert entry["computed"] and entry["previous"] == "2030-01"
    assert (entry["adds"], entry["drops"], entry["moves"], entry["kept"]) == (3, 1, 1, 3)
    assert entry["add_share"] == pytest.approx(3 / 6) and entry["drop_share"] == pytest.approx(1 / 4)
    assert entry["move_share"] == pytest.approx(1 / 3)
    assert (entry["new_registrants"], entry["new_registrants_among_adds"]) == (3, 2)  # ids 3, 5, 7
    assert entry["new_registrant_share"] == pytest.approx(3 / 6)
    by_geo = {g["geography"]: g for g in changes.geographies}
    assert (by_geo["A"]["old_ids"], by_geo["A"]["new_ids"], by_geo["A"]["moves_out"], by_geo["A"]["adds"]) == (
        2,
        2,
        1,
        1,
    )
    assert (by_geo["B"]["drops"], by_geo["B"]["moves_in"], by_geo["B"]["new_registrants"]) == (1, 1, 2)

    # the new registrants (3: fallback, 5: model, 7: fallback) against the rest (1, 2, 6: model)
    registrants = entry["registrants"]
    assert registrants["new"] == {"rows": 3, "unscored": 0, "model_rows": 1, "fallback_rows": 2, "model_share": 1 / 3}
    assert registrants["rest"]["model_rows"] == 3 and registrants["rest"]["model_share"] == 1.0


def test_nothing_scored_before_or_an_unreadable_previous_snapshot_is_not_computed_with_the_reason(workspace, settings):
    spec = settings.dataset(DATASET)
    new_file = _write(NEW, "2030-02")
    plan = _plan(spec, "2030-02", [new_file])
    parts = _parts(workspace / "parts", ["model"] * 6)

    first = snapshot_changes(plan, parts, spec).entry
    assert first == {
        "computed": False,
        "previous": None,
        "reason": "no snapshot of voter_turnout was scored before 2030-02",
    }

    broken = catalog.snapshot_inputs(DATASET, "2030-01")
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not parquet at all")
    _scored_before("2030-01", [broken])
    found = snapshot_changes(plan, parts, spec)
    assert not found.entry["computed"] and found.entry["previous"] == "2030-01" and found.geographies is None
    assert found.entry["reason"].startswith("BadFileError: ") and "2030-01.parquet" in found.entry["reason"]

    without_id = dataclasses.replace(plan, checks={**plan.checks, "id_column": None})
    assert "no id column" in snapshot_changes(without_id, parts, spec).entry["reason"]


def test_without_the_spec_the_coverage_says_why(workspace, settings):
    spec = settings.dataset(DATASET)
    _scored_before("2030-01", [_write(OLD, "2030-01")])
    plan = _plan(spec, "2030-02", [_write(NEW, "2030-02")])
    entry = snapshot_changes(plan, _parts(workspace / "parts", ["model"] * 6), None).entry
    assert entry["computed"] and entry["adds"] == 3
    assert entry["registrants"] == {"computed": False, "reason": "the dataset's spec was not handed to the commit"}


@pytest.mark.slow
def test_scoring_two_snapshots_records_the_diff_in_the_manifest_and_the_page(tmp_path, settings):
    """Trains a champion (MLflow): two snapshots scored one after the other, rows in = rows out both times."""
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, tmp_path / "workspace")
        spec = train_and_promote(settings, 3000, "changes-champion")
        frame = simulate_window(spec, "stable", 300, 11).drop(columns=[spec.target])
        frame["voter_id"] = range(300)
        older = frame.iloc[:250].copy()
        newer = frame.iloc[50:].copy()  # 50 dropped, 50 added
        newer.loc[newer.index[:10], "county_fips"] = "moved-away"  # 10 kept ids move
        _write(older, "2030-01")
        _write(newer, "2030-02")
        first = score_snapshot(spec, settings, snapshot="2030-01")
        second = score_snapshot(spec, settings, snapshot="2030-02")

    assert first["snapshot_diff"]["computed"] is False
    assert second["rows"] == 250 and second["snapshot_diff"]["previous"] == "2030-01"
    manifest = catalog.read_json(Path(second["manifest"]))
    diff = manifest["snapshot_diff"]
    assert (diff["adds"], diff["drops"], diff["moves"]) == (50, 50, 10)
    assert manifest["rows_in"] == manifest["rows_out"] == 250
    registrants = diff["registrants"]
    new_rows = int((pd.to_numeric(newer["years_registered"]) <= 0).sum())
    assert registrants["new"]["rows"] == new_rows and registrants["rest"]["rows"] == 250 - new_rows
    geographies = catalog.read_json(Path(second["folder"]) / catalog.SNAPSHOT_DIFF_FILE)["geographies"]
    assert sum(g["moves_in"] for g in geographies) == 10
    assert next(g for g in geographies if g["geography"] == "moved-away")["moves_in"] == 10
    page = (Path(second["folder"]) / catalog.REPORT_HTML).read_text()
    assert "Changes since the previous snapshot" in page and "against snapshot 2030-01" in page

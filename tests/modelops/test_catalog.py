"""The catalog: every location under the workspace, ids that cannot escape it, and writes that are whole or absent."""

from __future__ import annotations

import pandas as pd
import pytest

from modelops.core import catalog


def test_locations_follow_the_workspace(workspace):
    root = catalog.root()
    assert catalog.batch_dir("ds", "ab" * 32) == root / "batches" / "ds" / ("ab" * 8)
    assert catalog.snapshot_inputs("ds", "2028-10-01") == root / "production" / "ds" / "inputs" / "2028-10-01.parquet"
    assert catalog.report_dir("ds", "w1", dry_run=True) == root / "reports" / "ds" / "w1" / "dry_run"
    assert (
        catalog.run_summary("ds", "manual__2028-10-01T00:00:00+00:00").name == "manual__2028-10-01T00_00_00_00_00.txt"
    )
    assert catalog.audit_db() == root / "modelops.db" and catalog.mlflow_dir() == root / "mlflow"


@pytest.mark.parametrize("bad", ["../up", "a/b", ".hidden", "", "a..b"])
def test_an_id_that_could_leave_its_folder_is_refused(workspace, bad):
    with pytest.raises(ValueError, match="cannot name a folder"):
        catalog.snapshot_inputs("ds", bad)


def test_snapshot_lists_skip_pending_and_temp_files(workspace):
    frame = pd.DataFrame({"x": [1]})
    for name in ("w2", "w1"):
        catalog.write_parquet(frame, catalog.snapshot_inputs("ds", name))
    catalog.write_parquet(frame, catalog.pending_labels("ds", "w3"))
    (catalog.production_dir("ds") / "inputs" / ".tmp-w9.parquet-0123").write_bytes(b"partial")
    catalog.write_parquet(frame, catalog.snapshot_labeled("ds", "w1"))
    assert catalog.list_snapshots("ds") == ["w1", "w2"]
    assert catalog.list_labeled("ds") == ["w1"]


def test_a_failed_file_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out" / "report.json"
    catalog.write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), catalog.atomic_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer died")
    assert catalog.read_json(path) == {"v": 1}
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_writer_that_wrote_nothing_fails_loudly(tmp_path):
    with pytest.raises(FileNotFoundError), catalog.atomic_file(tmp_path / "x.parquet"):
        pass
    assert not list(tmp_path.iterdir())


def test_a_folder_is_replaced_whole_or_kept_when_content_addressed(tmp_path):
    folder = tmp_path / "batch"
    with catalog.atomic_dir(folder) as staging:
        (staging / "a.txt").write_text("old")
        (staging / "stale.txt").write_text("old")
    with catalog.atomic_dir(folder) as staging:
        (staging / "a.txt").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["a.txt"] and (folder / "a.txt").read_text() == "new"
    with catalog.atomic_dir(folder, replace=False) as staging:  # the same content published already: it stands
        (staging / "a.txt").write_text("other")
    assert (folder / "a.txt").read_text() == "new"
    with pytest.raises(RuntimeError), catalog.atomic_dir(folder) as staging:
        (staging / "a.txt").write_text("broken")
        raise RuntimeError("writer died")
    assert (folder / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["batch"]  # no staging or old folder left behind

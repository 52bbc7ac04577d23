"""`make run`'s lifecycle, for real: scheduler, train v1, then scoring -> monitoring -> retraining -> shadow ->
promotion on a drifted cycle, the verdict of who served what, stop."""

from __future__ import annotations

import gzip
import io
import os
import re
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import free_port

from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT
from modelops.core import catalog
from modelops.core.served import served_by
from modelops.store import history, tracking

pytestmark = pytest.mark.integration


# Every name, address, birth date and phone of the voter file starts with this (synthetic `pii_marker`).
# A value is the marker followed by a letter or digit; the bare marker in a copy of the config is no value.
MARKER = "Qz7PiiLeak"
VALUE = re.compile(MARKER + "[A-Za-z0-9]")


def _hits(data: bytes, name: str) -> list[str]:
    """Where MARKER occurs in a file's content, looking inside Parquet columns, zip members and gzip."""
    if name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        found = [f"column name {c}" for c in table.column_names if VALUE.search(c)]
        for column in table.column_names:
            values = table.column(column)
            kind = values.type
            plain = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
            if not (plain or pa.types.is_temporal(kind)) and any(
                VALUE.search(str(v)) for v in values.to_pylist() if v is not None
            ):
                found.append(f"column {column}")
        return found
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [f"{m}: {h}" for m in archive.namelist() for h in _hits(archive.read(m), m)]
    if data[:2] == b"\x1f\x8b":
        return _hits(gzip.decompress(data), name.removesuffix(".gz"))
    return ["bytes"] if re.search(VALUE.pattern.encode(), data) else []


def _scan(root: Path, skip: list[Path]) -> dict[str, list[str]]:
    """Every file under root but the skipped folders, with where the marker was found in it."""
    out = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if any(path.is_relative_to(s) for s in skip):
            continue
        found = _hits(path.read_bytes(), path.name)
        if found:
            out[str(path.relative_to(root))] = found
    return out


def test_lifecycle_script_closes_the_loop(tmp_path, monkeypatch):
    home = tmp_path / "workspace"
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["datasets"]["voter_turnout"]["source"]["pii_marker"] = MARKER
    (tmp_path / "modelops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    env = {
        **os.environ,
        "MODELOPS_CONFIG": str(tmp_path / "modelops.yaml"),
        "MODELOPS_HOME": str(home),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'airflow.db'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        "AIRFLOW__API__PORT": str(free_port()),
        "MLFLOW_PORT": str(free_port()),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    env.pop("MODELOPS_DB_URL", None)
    (home / "airflow").mkdir(parents=True)
    command = (
        "source scripts/env.sh && .venv/bin/airflow db migrate > /dev/null && "
        ".venv/bin/python scripts/lifecycle.py --rows 8000 --window-rows 4000"
    )
    result = subprocess.run(
        ["bash", "-c", command], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1500
    )
    out = result.stdout
    assert result.returncode == 0, out[-5000:] + result.stderr[-3000:]
    assert "action WATCH" in out and "action RETRAIN" in out
    assert "Retraining triggered by monitoring" in out
    # the scoring DAG scored the snapshots before retraining, each line saying who served its rows
    assert len(re.findall(r"^    scored \S+: .*\bv1 scored", out, flags=re.MULTILINE)) >= 2
    assert out.rstrip().endswith("Stopped everything this run started.")
    assert not list((home / "run").glob("*.pid"))

    monkeypatch.setenv("MODELOPS_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", env["MLFLOW_TRACKING_URI"])
    # scoring: every snapshot was scored by the scoring DAG (committed output, an MLflow run each)
    scored = catalog.list_scored("voter_turnout")
    assert len(scored) == 3 and scored == sorted(scored)
    manifests = [catalog.read_json(catalog.scoring_manifest("voter_turnout", s)) for s in scored]
    assert all(m["rows_out"] == m["rows_in"] == 4000 for m in manifests)
    # the realignment snapshots are served by the champion: the fallback serves a row only when its own checks
    # fail, never a whole chunk for a shifted electorate (scoring alerted on the shift instead)
    for manifest in manifests[:2]:
        assert not {"score_distribution", "degenerate_scores", "model_unavailable"} & set(manifest["fallback_reasons"])
        assert manifest["sources"]["model"] >= 0.99 * manifest["rows_in"], manifest["fallback_reasons"]
    assert any("the model served them" in a for m in manifests[:2] for a in m["alerts"])
    for name, manifest in zip(scored, manifests, strict=True):  # the printed lines are the manifests' counts
        assert f"scored {name}: {served_by(manifest).line()}" in out
        line = re.escape(served_by(manifest).line())
        step6 = rf"snapshot {name}: voter_turnout_model@champion pointed to v\d+ at \S+; {line}$"
        assert re.search(step6, out, flags=re.MULTILINE)
    client = tracking.client()
    experiment = client.get_experiment_by_name("modelops/voter_turnout/scoring")
    assert len(client.search_runs([experiment.experiment_id])) == 3
    # monitoring judged what was served, snapshot by snapshot, against the version that served it
    rows = history.read_monitoring_history("voter_turnout")
    assert [r["window_id"] for r in rows] == scored[:2]  # the shadow snapshot is scored, not judged here
    assert [r["action"] for r in rows] == ["watch", "retrain"]
    assert [r["model_version"] for r in rows] == [m["model_version"] for m in manifests[:2]]
    assert all(r["fallback_share"] is not None for r in rows)
    assert rows[1]["labeled_window"] == scored[0]  # labels joined the first snapshot's served predictions
    # retraining, then promotion: judged against v1 either way
    aliases = [(r["alias"], r["version"]) for r in history.read_alias_history("voter_turnout_model")]
    assert aliases[0] == ("champion", "1")
    assert aliases[-1] in {("champion", "2"), ("challenger", "2")}
    # shadow: the next snapshot is scored with the retrained version beside v1 (or by it, if it won)
    last = manifests[-1]
    assert [m["model_version"] for m in manifests[:2]] == ["1", "1"]
    if aliases[-1] == ("challenger", "2"):
        assert last["model_version"] == "1" and last["challenger_version"] == "2" and last["shadow"]
        # a small snapshot (under shadow_all_below) is shadowed on every row
        assert last["agreement"]["rows"] == 4000 and "shadow agreement on 4000 rows" in out
        assert last["agreement"]["sample"]["every_row"]
        assert f"snapshot {scored[-1]}: voter_turnout_model@champion pointed to v1 at" in out
        assert served_by(last).line().endswith("; v2 in shadow")
    else:
        assert last["model_version"] == "2"
        assert f"snapshot {scored[-1]}: voter_turnout_model@champion pointed to v2 at" in out
    assert f"snapshot {scored[0]}: voter_turnout_model@champion pointed to v1 at" in out
    retrained = tracking.client().get_model_version("voter_turnout_model", "2")
    assert retrained.tags["modelops.trigger_reason"].startswith("monitoring window")
    assert retrained.tags["modelops.compared_to"] == "v1"
    assert int(retrained.tags["modelops.extra_batches"]) >= 1
    # the real scheduler's run-note listener: each training run's page leads with its decision
    with sqlite3.connect(home / "airflow" / "airflow.db") as db:
        notes = db.execute(
            "select n.content from dag_run r join dag_run_note n on n.dag_run_id = r.id "
            "where r.dag_id = 'modelops_training' order by r.id"
        ).fetchall()
    assert len(notes) == 2, notes
    assert notes[0][0].startswith("**PROMOTE**: `voter_turnout_model` v1"), notes
    assert notes[1][0].split(":")[0] in ("**PROMOTE**", "**KEEP CHAMPION**"), notes
    assert all("model card" in n[0] and "roc_auc" in n[0] for n in notes), notes

    # PII, end to end: the voter file and every delivery carry names, addresses, birth dates and phones,
    # each value marked; nothing the run wrote holds any of them (batches, splits, validation and
    # monitoring reports, MLflow store and artifacts, model cards, scoring outputs, summaries, task
    # logs, the Airflow metadata DB with its XComs, the audit DB). Only the inputs themselves (the
    # generated voter file and the delivered snapshots) and the quarantine (kept as evidence) hold them.
    inputs = [home / "raw", home / "production" / "voter_turnout" / "inputs", home / "quarantine"]
    assert _scan(home / "raw", [])  # the scan sees the marked values where they are, so it can fail
    assert _scan(home / "production" / "voter_turnout" / "inputs", [])
    written = [p for p in home.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in inputs)]
    kinds = {p.suffix for p in written}
    assert {".parquet", ".html", ".json", ".db", ".log"} <= kinds, kinds  # the scan covers every kind of output
    assert any(p.is_relative_to(home / "airflow" / "logs") for p in written)
    assert _scan(home, inputs) == {}

"""Bad files, told plainly: an unusable source fails at once in collect, naming the file and the problem,
with a copy of the raw file quarantined beside a note; nothing reaches the batch store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from modelops.collect.sources import BadFileError, SourceError, collect_batch, read_table
from modelops.config.settings import REPO_ROOT

ANES = REPO_ROOT / "include" / "data" / "anes96.csv"


def _anes(rows: int = 30) -> pd.DataFrame:
    return pd.read_csv(ANES).head(rows)


def _csv_text(rows: int = 30) -> str:
    return _anes(rows).to_csv(index=False)


def _empty(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "extract.csv"
    path.write_bytes(b"")
    return path, "file is empty"


def _latin1(tmp_path: Path) -> tuple[Path, str]:
    frame = _anes()
    frame["respondent_id"] = frame["respondent_id"].astype(str)
    frame.loc[4, "respondent_id"] = "café-4"
    path = tmp_path / "extract.csv"
    data = frame.to_csv(index=False).encode("latin-1")
    path.write_bytes(data)
    offset = data.index("é".encode("latin-1"))
    return path, f"not UTF-8 text (byte 0xe9 at offset {offset}); save it as UTF-8"


def _utf16(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "extract.csv"
    path.write_bytes(_csv_text().encode("utf-16"))
    return path, "not UTF-8 text (byte 0xff at offset 0); save it as UTF-8 (it starts with a UTF-16 byte-order mark"


def _truncated_parquet(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "extract.parquet"
    _anes(300).to_parquet(path, index=False)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, "truncated or corrupt Parquet: the file ends without the Parquet footer"


def _ragged(tmp_path: Path) -> tuple[Path, str]:
    lines = _csv_text().splitlines()
    lines[11] += ",oops"  # line 12 of the file (the header is line 1)
    path = tmp_path / "extract.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, "row 12 has 12 fields, the header has 11"


def _ragged_first_row(tmp_path: Path) -> tuple[Path, str]:
    lines = _csv_text().splitlines()
    lines[1] += ",oops"  # pandas would silently make the first column an index
    path = tmp_path / "extract.csv"
    path.write_text("\n".join(lines) + "\n")
    return path, "row 2 has 12 fields, the header has 11"


def _compressed(path: Path, data: bytes) -> Path:
    """`data` written gzip- or Zstandard-compressed by its name (pyarrow's codecs, as the readers use)."""
    import pyarrow as pa

    with pa.output_stream(str(path), compression="gzip" if path.name.lower().endswith(".gz") else "zstd") as out:
        out.write(data)
    return path


def _truncated_gzip(tmp_path: Path) -> tuple[Path, str]:
    path = _compressed(tmp_path / "extract.csv.gz", _csv_text(300).encode())
    path.write_bytes(path.read_bytes()[:-40])
    return path, "truncated or corrupt gzip data: the stream cannot be decompressed to its end"


def _truncated_zstd(tmp_path: Path) -> tuple[Path, str]:
    path = _compressed(tmp_path / "extract.csv.zst", _csv_text(300).encode())
    path.write_bytes(path.read_bytes()[:-40])
    return path, "truncated or corrupt Zstandard data: the stream cannot be decompressed to its end"


def _plain_csv_named_gz(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "extract.csv.gz"
    path.write_text(_csv_text())
    return path, "not gzip-compressed: the file does not start with the gzip marker, yet its name ends .csv.gz"


def _latin1_gzip(tmp_path: Path) -> tuple[Path, str]:
    plain, _ = _latin1(tmp_path)
    data = plain.read_bytes()
    path = _compressed(tmp_path / "extract.csv.gz", data)
    offset = data.index("é".encode("latin-1"))
    return path, f"not UTF-8 text (byte 0xe9 at offset {offset} of the decompressed text); save it as UTF-8"


BAD_FILES = {
    "zero bytes": _empty,
    "latin-1 text": _latin1,
    "utf-16 text": _utf16,
    "truncated parquet": _truncated_parquet,
    "a row with more fields than the header": _ragged,
    "a first row with more fields than the header": _ragged_first_row,
    "truncated gzip": _truncated_gzip,
    "truncated zstd": _truncated_zstd,
    "a plain CSV named .csv.gz": _plain_csv_named_gz,
    "latin-1 text in gzip": _latin1_gzip,
}


def _batches(workspace: Path) -> list[Path]:
    root = workspace / "batches"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_read_table_names_the_file_and_the_problem(tmp_path, make):
    path, problem = make(tmp_path)
    with pytest.raises(BadFileError) as caught:
        read_table(path)
    assert str(caught.value).startswith(f"cannot use {path}: ")
    assert problem in str(caught.value)
    assert isinstance(caught.value, SourceError)  # the DAG's collect task fails without retrying on this


@pytest.mark.parametrize("make", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_collect_quarantines_an_unusable_file_with_a_note_and_writes_no_batch(workspace, settings, tmp_path, make):
    path, problem = make(tmp_path)
    with pytest.raises(SourceError) as caught:
        collect_batch(settings.dataset("anes96_vote"), path=str(path))

    message = str(caught.value)
    assert str(path) in message and problem in message
    (folder,) = (workspace / "quarantine" / "anes96_vote").glob("raw-*")
    assert f"the file was copied to {folder}" in message
    assert (folder / path.name).read_bytes() == path.read_bytes()
    assert problem in (folder / "note.txt").read_text()
    note = json.loads((folder / "note.json").read_text())
    assert note["file"] == str(path) and problem in note["problem"]
    assert _batches(workspace) == []


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.zst", ".CSV.GZ"])
def test_a_compressed_source_is_collected_as_its_plain_csv(workspace, settings, tmp_path, suffix):
    spec = settings.dataset("anes96_vote")
    plain = tmp_path / "extract.csv"
    plain.write_text(_csv_text(120))
    packed = _compressed(tmp_path / f"extract{suffix}", plain.read_bytes())
    assert packed.read_bytes()[:4] != plain.read_bytes()[:4]  # really compressed
    pd.testing.assert_frame_equal(read_table(packed), read_table(plain))
    pd.testing.assert_frame_equal(read_table(packed, ["vote", "age"]), read_table(plain, ["vote", "age"]))
    assert collect_batch(spec, path=str(packed)).content_hash == collect_batch(spec, path=str(plain)).content_hash


def test_a_file_named_neither_way_is_refused_naming_the_formats_read(tmp_path):
    path = tmp_path / "extract.csv.bz2"
    path.write_text(_csv_text())
    with pytest.raises(SourceError, match=r"neither \.parquet nor \.csv \(plain, \.csv\.gz or \.csv\.zst\)"):
        read_table(path)


def test_the_offset_of_a_bad_byte_is_its_place_in_the_whole_file(tmp_path):
    path = tmp_path / "big.csv"
    head = ("a,b\n" + "1,plain ascii text\n" * 70_000).encode()  # past the 1 MiB read chunk
    path.write_bytes(head + "2,Zoë\n".encode("latin-1"))
    with pytest.raises(BadFileError, match=rf"byte 0xeb at offset {len(head) + 4}\)"):
        read_table(path)


def test_a_truncated_extra_batch_is_named_and_quarantined(workspace, settings, tmp_path):
    path, problem = _truncated_parquet(tmp_path)
    with pytest.raises(SourceError) as caught:
        collect_batch(settings.dataset("anes96_vote"), extra_paths=[str(path)])
    assert str(path) in str(caught.value) and problem in str(caught.value)
    assert len(list((workspace / "quarantine" / "anes96_vote").glob("raw-*"))) == 1
    assert _batches(workspace) == []


def test_a_semicolon_file_is_refused_naming_the_missing_columns_and_the_delimiter(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    path = tmp_path / "extract.csv"
    frame = _anes().assign(**{f"extra_{i}": i for i in range(30)})  # a long header: shown shortened
    frame.to_csv(path, index=False, sep=";")

    with pytest.raises(SourceError) as caught:
        collect_batch(spec, path=str(path))

    message = str(caught.value)
    assert f"cannot use {path}: none of the configured columns is in it" in message
    assert f"(missing: {', '.join(spec.kept_columns)})" in message
    assert "it was read as 1 column whose header holds the spec's columns respondent_id, popul, TVnews," in message
    assert "and 30 other fields (not shown)" in message  # only the spec's own column names are shown
    assert "extra_29" not in message
    assert "the delimiter may be wrong: the header is separated by semicolons" in message
    assert _batches(workspace) == []  # no column-less batch left behind
    (folder,) = (workspace / "quarantine" / spec.name).glob("raw-*")
    assert "the delimiter may be wrong" in (folder / "note.txt").read_text()


def test_a_file_missing_some_columns_is_collected_for_validation_to_judge(workspace, settings, tmp_path):
    path = tmp_path / "extract.csv"
    _anes(200).drop(columns=["TVnews", "income"]).to_csv(path, index=False)
    batch = collect_batch(settings.dataset("anes96_vote"), path=str(path))
    assert "TVnews" not in batch.columns and "age" in batch.columns


def _fake_airflow(tmp_path: Path, log: str) -> dict[str, str]:
    """A working copy where `.venv/bin/airflow dags test` prints `log` and fails, as a real failed run does."""
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / "canned.log").write_text(log)
    airflow = tmp_path / ".venv" / "bin" / "airflow"
    airflow.write_text(f"#!/usr/bin/env bash\ncat {tmp_path / 'canned.log'}\nexit 1\n")
    airflow.chmod(airflow.stat().st_mode | stat.S_IEXEC)
    python = tmp_path / ".venv" / "bin" / "python"  # the real virtualenv's (a symlink would not be inside it)
    python.write_text(f'#!/usr/bin/env bash\nexec {REPO_ROOT / ".venv" / "bin" / "python"} "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "MODELOPS_HOME": str(tmp_path / "home")}


def _task_log(message: str) -> str:
    """The tail of a real `airflow dags test` log whose task raised AirflowFailException(message) from exc."""
    return "\n".join(
        [
            "2026-11-23T11:29:58.100000Z [info     ] [DAG TEST] starting task_id=validate map_index=-1 [airflow]",
            "2026-11-23T11:30:01.634034Z [error    ] Task failed with exception     [task] loc=task_runner.py:1639",
            "Traceback (most recent call last):",
            '  File "/work/main/dags/modelops_training.py", line 130, in validate',
            "    return validate_batch(batch, spec).to_dict()",
            "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
            '  File "/work/main/include/modelops/validate/validation.py", line 612, in validate_batch',
            "    raise DataValidationError(message, report)",
            f"modelops.validate.validation.DataValidationError: {message}",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            '  File "/work/main/.venv/lib/python3.11/site-packages/airflow/sdk/execution_time/task_runner.py", line 1',
            "    result = _execute_task(context=context, ti=ti, log=log)",
            '  File "/work/main/dags/modelops_training.py", line 132, in validate',
            "    raise AirflowFailException(str(exc)) from exc",
            f"airflow.sdk.exceptions.AirflowFailException: {message}",
            "2026-11-23T11:30:01.640681Z [info     ] ::group::Post Execute          [task] loc=task_runner.py:1640",
            "2026-11-23T11:30:01.666769Z [info     ] Task instance state updated [airflow] new_state=failed",
            "2026-11-23T11:30:01.697252Z [info     ] [DAG TEST] end task task_id=validate map_index=-1 [airflow]",
            "DagRun failed",
            "",
        ]
    )


def _run_dag(tmp_path: Path, env: dict[str, str], conf: str = "{}") -> subprocess.CompletedProcess:
    """scripts/run_dag.sh for the training DAG in the stand-in working copy at `tmp_path`."""
    return subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "run_dag.sh"), "modelops_training", conf],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run_training(tmp_path: Path, message: str) -> str:
    done = _run_dag(tmp_path, _fake_airflow(tmp_path, _task_log(message)))
    assert done.returncode == 1
    return done.stdout.split("The DAG run FAILED:\n", 1)[1]


def test_run_training_prints_the_headline_rules_and_report_path_first(tmp_path):
    message = (
        "batch 1fa4f08c71d7bcd0 of dataset 'anes96_vote' failed validation: 2 of 34 expectations failed\n"
        "  - expect_column_values_to_be_between on 'age' (value range): 1 bad row at row position 3; e.g. ['999']\n"
        "  - text_length_at_most on 'comment' (text values at most 1000 characters): 2 bad rows at row positions 0, 1\n"
        "batch quarantined at /w/quarantine/anes96_vote/1fa4f08c71d7bcd0\n"
        "report: /w/quarantine/anes96_vote/1fa4f08c71d7bcd0/validation/report.html\n"
        "nothing was trained or registered"
    )
    shown = _run_training(tmp_path, message)
    assert shown.startswith(message + "\n")  # whole, in order, the headline first
    assert "raise AirflowFailException" not in shown and "Traceback" not in shown
    assert shown.count("failed validation") == 1


def test_run_training_prints_why_a_source_file_was_refused(tmp_path):
    message = (
        "cannot use /data/extract.parquet: truncated or corrupt Parquet: the file ends without the Parquet footer, "
        "so it was cut short (an interrupted copy or download?); fetch or write it again\n"
        "the file was copied to /w/quarantine/anes96_vote/raw-8a35eadb35d9 (note.txt says why); no batch was written"
    )
    shown = _run_training(tmp_path, message)
    assert shown.startswith(message + "\n")


def test_run_dag_prints_what_the_run_left_and_the_configured_ports(tmp_path):
    env = _fake_airflow(tmp_path, "[DAG TEST] end task task_id=summarize map_index=-1\n")
    airflow = tmp_path / ".venv" / "bin" / "airflow"
    airflow.write_text(airflow.read_text().replace("exit 1", "exit 0"))
    summary = Path(env["MODELOPS_HOME"]) / "runs" / "anes96_vote" / "latest.txt"
    summary.parent.mkdir(parents=True)
    summary.write_text("decision: promoted v3\n")
    ports = {"AIRFLOW__API__PORT": "18080", "MLFLOW_PORT": "15000"}
    done = _run_dag(tmp_path, {**env, **ports}, '{"dataset": "anes96_vote"}')
    assert done.returncode == 0, done.stderr
    assert "decision: promoted v3" in done.stdout
    assert "Airflow http://127.0.0.1:18080 and MLflow http://127.0.0.1:15000" in done.stdout


def test_run_dag_tells_a_config_error_plainly_before_any_dag_runs(tmp_path):
    env = _fake_airflow(tmp_path, "the DAG must not run")
    (tmp_path / "ours.yaml").write_text("monitoring:\n  persistence: twice\n")
    env["MODELOPS_CONFIG"] = str(tmp_path / "ours.yaml")
    done = _run_dag(tmp_path, env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"configuration error: {tmp_path / 'ours.yaml'}: monitoring.persistence: expected int, got 'twice'"
    )
    assert "the DAG must not run" not in done.stdout and "Traceback" not in done.stderr

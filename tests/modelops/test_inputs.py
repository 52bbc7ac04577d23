"""Inputs that cannot hurt, without a model: where a file may lie, what a query may be, and the one diagnosis
of unreadable files (never a row's text) that training, scoring, registration and monitoring share."""

from __future__ import annotations

import os
import traceback

import pandas as pd
import pytest

from modelops.collect import csv_files, inputs, parquet_files, safe_sql
from modelops.collect.refusals import BadFileError, InputRefused
from modelops.config.checks import ConfigError
from modelops.core import catalog

DATASET = "voter_turnout"
MARKER = "MARKER-555-0199"


def _voters(rows: int = 40) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "voter_id": [f"v{i:04d}" for i in range(rows)],
            "age": [20 + i % 60 for i in range(rows)],
            "party": ["DEM", "REP", "IND", "OTH"] * (rows // 4),
            "phone": [f"555-01{i:02d}" for i in range(rows)],
        }
    )


def _ragged_csv(path, line: int = 7):
    """A voter CSV whose `line` (1 = header) has one field too many, the extra field holding the marker."""
    lines = _voters().to_csv(index=False).splitlines()
    lines[line - 1] = lines[line - 1].replace(lines[line - 1].split(",")[-1], MARKER) + ",extra"
    path.write_text("\n".join(lines) + "\n")
    return path


def _texts(exc: BaseException) -> str:
    """Everything an exception can show: its message, repr, traceback and chained exceptions."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.__context__) + repr(exc.__cause__)


# --- where an input may lie ----------------------------------------------------------------------


def test_an_input_under_the_production_folder_is_taken_from_the_workspace_not_the_cwd(workspace, tmp_path, monkeypatch):
    inside = catalog.production_dir(DATASET) / "inputs" / "s1.parquet"
    inside.parent.mkdir(parents=True)
    _voters().to_parquet(inside)
    decoy = tmp_path / "cwd" / "production" / DATASET / "inputs" / "s1.parquet"  # same relative path, elsewhere
    decoy.parent.mkdir(parents=True)
    _voters(8).to_parquet(decoy)
    monkeypatch.chdir(tmp_path / "cwd")
    roots = inputs.input_roots(DATASET, {})
    resolved = inputs.resolve_input(f"production/{DATASET}/inputs/s1.parquet", roots)
    assert resolved == inside.resolve() and resolved.is_absolute()


def test_traversal_and_outside_paths_are_refused_by_name(workspace, tmp_path):
    outside = tmp_path / "elsewhere" / "voters.parquet"
    outside.parent.mkdir()
    _voters().to_parquet(outside)
    roots = inputs.input_roots(DATASET, {})
    climbing = f"production/{DATASET}/inputs/../../../../elsewhere/voters.parquet"
    with pytest.raises(InputRefused) as caught:
        inputs.resolve_input(climbing, roots)
    assert repr(climbing) in str(caught.value) and "'..' climbs out" in str(caught.value)
    assert str(outside.resolve()) in str(caught.value)
    with pytest.raises(InputRefused, match="outside the folders scoring reads from"):
        inputs.resolve_input(str(outside), roots)
    # a symlink inside the production folder to a file outside is followed, and refused
    link = catalog.production_dir(DATASET) / "inputs" / "linked.parquet"
    link.parent.mkdir(parents=True)
    os.symlink(outside, link)
    with pytest.raises(InputRefused, match="outside the folders"):
        inputs.resolve_input(str(link), roots)


def test_configured_roots_admit_their_folders_relative_ones_from_the_workspace(workspace, tmp_path):
    outside = tmp_path / "elsewhere" / "voters.parquet"
    outside.parent.mkdir()
    _voters().to_parquet(outside)
    roots = inputs.input_roots(DATASET, {"input_roots": [str(tmp_path / "elsewhere"), "deliveries"]})
    assert inputs.resolve_input(str(outside), roots) == outside.resolve()
    assert workspace.resolve() / "deliveries" in roots
    with pytest.raises(ConfigError, match="input_roots"):
        inputs.input_roots(DATASET, {"input_roots": "/data"})


# --- queries -------------------------------------------------------------------------------------

ACCEPTED = {
    "select * from voters": "select * from voters",
    "SELECT * FROM voters;": "SELECT * FROM voters",
    "  with v as (select 1) select * from v ;  -- done; drop table x": "  with v as (select 1) select * from v",
    "select ';' as s, \"a;b\" from voters /* ; drop table x */": "select ';' as s, \"a;b\" from voters",
    "select $$;drop table x$$, E'it\\'s; fine' from voters": "select $$;drop table x$$, E'it\\'s; fine' from voters",
    "(select 1)": "(select 1)",
}
REFUSED = {
    "SELECT * FROM voters; COMMIT; DROP TABLE x; COMMIT": "more than one statement",
    "SELECT * FROM voters; DROP TABLE x": "more than one statement",
    "DROP TABLE x": "it starts with DROP",
    "delete from x": "it starts with DELETE",
    "-- only a comment": "it is empty",
    "select 'unclosed from x": "never closed",
    "select 1 /* open": "never closed",
}


@pytest.mark.parametrize("query", ACCEPTED)
def test_one_select_or_with_statement_is_accepted(query):
    assert safe_sql.check_query(query) == ACCEPTED[query]


@pytest.mark.parametrize("query", REFUSED)
def test_anything_else_is_refused_plainly_and_the_same_way_each_time(query):
    messages = set()
    for _ in range(2):
        with pytest.raises(InputRefused) as caught:
            safe_sql.check_query(query)
        messages.add(str(caught.value))
    (message,) = messages
    assert REFUSED[query] in message


def test_only_backends_with_a_known_read_only_mode_are_read():
    assert safe_sql.check_sql_url("postgresql+psycopg2://u@h/db") == "postgresql"
    assert safe_sql.check_sql_url("sqlite:///x.db") == "sqlite"
    with pytest.raises(InputRefused, match="mysql connection"):
        safe_sql.check_sql_url("mysql://u@h/db")


def test_a_sqlite_query_runs_on_a_query_only_connection(tmp_path):
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'v.db'}"
    engine = sa.create_engine(url)
    _voters().to_sql("voters", engine, index=False)
    engine.dispose()
    chunks = list(safe_sql.query_rows(url, "select voter_id, age from voters;", 16))
    assert [len(rows) for _, rows in chunks] == [16, 16, 8] and chunks[0][0] == ["voter_id", "age"]
    with pytest.raises(InputRefused, match="cannot run as written"):
        list(safe_sql.query_rows(url, "select * from no_such_table", 16))
    # the connection the query runs on refuses any write (SQLite has no writing SELECT to try it with)
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        safe_sql._hold_read_only(connection, "sqlite")
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            connection.exec_driver_sql("delete from voters")
    engine.dispose()
    assert pd.read_sql("select count(*) as n from voters", f"sqlite:///{tmp_path / 'v.db'}")["n"][0] == 40


# --- one diagnosis of unreadable files -----------------------------------------------------------


def test_a_ragged_row_is_told_by_its_line_never_its_text(tmp_path):
    path = _ragged_csv(tmp_path / "voters.csv", line=7)
    with pytest.raises(BadFileError) as caught:
        for _ in csv_files.csv_batches(path, ["voter_id", "age"]):  # the marker's column is not even read
            pass
    assert "row 7 has 5 fields, the header has 4 (line 7 of the file" in str(caught.value)
    assert MARKER not in _texts(caught.value)
    assert caught.value.__context__ is None  # Arrow's error (it quotes the row) is not kept


def test_monitoring_reads_only_kept_columns_yet_sees_a_ragged_row(tmp_path):
    path = _ragged_csv(tmp_path / "window.csv", line=4)
    with pytest.raises(BadFileError, match="row 4 has 5 fields") as caught:
        inputs.read_table(path, columns=["voter_id", "age"])  # pandas alone lets this row through
    assert MARKER not in _texts(caught.value)
    good = tmp_path / "good.csv"
    _voters().to_csv(good, index=False)
    assert list(inputs.read_table(good, columns=["age", "voter_id"]).columns) == ["voter_id", "age"]


def test_a_non_utf8_byte_deep_in_a_read_column_is_told_by_offset(tmp_path):
    path = tmp_path / "voters.csv"
    head = _voters().to_csv(index=False).encode()
    path.write_bytes(head + "v9999,30,DEM,Zoë\n".encode("latin-1"))
    with pytest.raises(BadFileError, match=rf"byte 0xeb at offset {len(head) + 15}\)"):
        for _ in csv_files.csv_batches(path, ["voter_id", "phone"]):
            pass


def test_utf16_header_empty_and_header_only_files(tmp_path):
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(_voters().to_csv(index=False).encode("utf-16"))
    with pytest.raises(BadFileError, match="UTF-16 byte-order mark"):
        csv_files.csv_header(utf16)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(BadFileError, match=r"file is empty \(0 bytes\)"):
        inputs.file_rows("csv", [empty], empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("voter_id,age,party,phone\n\n")
    with pytest.raises(BadFileError, match="holds a header and no rows"):
        inputs.file_rows("csv", [header_only], header_only)


def test_zero_row_and_truncated_parquet(tmp_path):
    none = tmp_path / "none.parquet"
    _voters().head(0).to_parquet(none)
    with pytest.raises(BadFileError, match="holds 0 rows"):
        inputs.file_rows("parquet", [none], none)
    folder = tmp_path / "parts"
    folder.mkdir()
    _voters().head(0).to_parquet(folder / "a.parquet")
    with pytest.raises(InputRefused, match="1 Parquet partitions and 0 rows"):
        inputs.file_rows("parquet_folder", [folder / "a.parquet"], folder)
    cut = tmp_path / "cut.parquet"
    _voters(400).to_parquet(cut)
    cut.write_bytes(cut.read_bytes()[:300])
    with pytest.raises(BadFileError, match="ends without the Parquet footer"):
        parquet_files.parquet_rows(cut)


def test_a_first_line_of_values_never_reaches_the_message():
    """A file without a header line: its first data row is read as the header; none of it is shown."""
    hint = csv_files.header_hint(["V001", "34", "Jane Doe", "MARKER-555-0199"], ["voter_id", "age"])
    assert "Jane" not in hint and "MARKER" not in hint and "V001" not in hint
    assert "none of its first line's 4 fields is a column of the spec (not shown)" in hint
    named = csv_files.header_hint(["voter_id", "age", "notes_free_text"], ["voter_id", "age"])
    assert "holds the spec's columns voter_id, age and 1 other field (not shown)" in named
    assert "notes_free_text" not in named

"""Data collection: joins, PII dropping, immutable content-hashed batches, file and SQL sources."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelops.collect.sources import (
    SourceError,
    collect_batch,
    content_hash,
    join_sources,
    load_batch,
    sql_url_from_uri,
    write_batch,
)
from modelops.config.settings import REPO_ROOT

ANES_SHA256 = "eea949100c18b7aceff105f8b9e38f5f4eda09c9d32f5468397ac742e68b12dd"


def test_voter_batch_keeps_configured_roles_and_drops_pii(workspace, settings):
    spec = settings.dataset("voter_turnout")
    batch = collect_batch(spec, sample_rows=900)
    frame = load_batch(batch)
    assert list(frame.columns) == spec.kept_columns
    assert not set(spec.pii) & set(frame.columns)
    assert {"first_name", "phone"} <= set(batch.join_report["dropped_columns"])
    assert batch.rows == len(frame) == 900
    assert [j["unmatched_rows"] for j in batch.join_report["joins"]] == [0, 0]
    assert batch.join_report["joined_rows"] == batch.join_report["source_rows"] == 900
    manifest = json.loads((Path(batch.path).parent / "manifest.json").read_text())
    assert manifest["content_hash"] == batch.content_hash


def test_recollecting_the_same_data_reuses_the_immutable_batch(workspace, settings):
    spec = settings.dataset("voter_turnout")
    first = collect_batch(spec, sample_rows=600)
    mtime = Path(first.path).stat().st_mtime_ns
    second = collect_batch(spec, sample_rows=600)
    assert second == first
    assert Path(second.path).stat().st_mtime_ns == mtime
    other = collect_batch(spec, sample_rows=601)
    assert other.content_hash != first.content_hash


def test_load_batch_refuses_a_changed_file(workspace, settings):
    batch = collect_batch(settings.dataset("anes96_vote"))
    frame = pd.read_parquet(batch.path)
    frame.loc[0, "age"] = 99
    frame.to_parquet(batch.path, index=False)
    with pytest.raises(SourceError, match="changed since collection"):
        load_batch(batch)


def test_content_hash_sees_values_order_and_dtypes():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert content_hash(frame) == content_hash(frame.copy())
    assert content_hash(frame) != content_hash(frame.iloc[::-1].reset_index(drop=True))
    assert content_hash(frame) != content_hash(frame.astype({"a": "float64"}))


def test_join_reports_unmatched_and_duplicated_rows(workspace, settings, tmp_path):
    side = pd.DataFrame({"k": ["a", "b", "b"], "extra": [1, 2, 3]})  # "b" twice: duplicates rows
    side.to_parquet(tmp_path / "side.parquet", index=False)
    spec = dataclasses.replace(
        settings.dataset("anes96_vote"), joins=({"path": str(tmp_path / "side.parquet"), "key": "k"},)
    )
    frame, report = join_sources(pd.DataFrame({"k": ["a", "b", "c"]}), spec)
    (join,) = report["joins"]
    assert join["unmatched_rows"] == 1
    assert join["added_rows"] == 1
    assert report["source_rows"] == 3 and report["joined_rows"] == len(frame) == 4


def test_missing_join_key_is_a_clear_error(settings, tmp_path):
    pd.DataFrame({"other": [1]}).to_parquet(tmp_path / "side.parquet", index=False)
    spec = dataclasses.replace(
        settings.dataset("anes96_vote"), joins=({"path": str(tmp_path / "side.parquet"), "key": "k"},)
    )
    with pytest.raises(SourceError, match="join key 'k' missing"):
        join_sources(pd.DataFrame({"k": ["a"]}), spec)


def test_bundled_anes_file_is_the_documented_one(workspace, settings):
    path = REPO_ROOT / "include" / "data" / "anes96.csv"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ANES_SHA256
    batch = collect_batch(settings.dataset("anes96_vote"))
    assert batch.rows == 944
    assert load_batch(batch)["vote"].isin([0, 1]).all()


def test_csv_path_override_and_sampling(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    source = pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv").head(300)
    source["ssn"] = "123-45-6789"  # an unlisted column never reaches the batch
    source.to_csv(tmp_path / "extract.csv", index=False)
    batch = collect_batch(spec, sample_rows=120, seed=3, path=str(tmp_path / "extract.csv"))
    frame = load_batch(batch)
    assert len(frame) == 120 and "ssn" not in frame
    assert set(frame["respondent_id"]) <= set(source["respondent_id"])
    assert batch.source["path"] == str(tmp_path / "extract.csv")


def test_missing_file_and_unknown_kind_are_clear_errors(workspace, settings):
    spec = settings.dataset("anes96_vote")
    with pytest.raises(SourceError, match="source file not found"):
        collect_batch(spec, path="/nonexistent/file.csv")
    with pytest.raises(SourceError, match="unknown source kind 'ftp'"):
        collect_batch(dataclasses.replace(spec, source={"kind": "ftp"}))


def test_sql_source_against_real_postgres(workspace, settings, pg_url):
    import sqlalchemy as sa

    table = f"anes_{uuid.uuid4().hex[:8]}"
    data = pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv")
    engine = sa.create_engine(pg_url)
    try:
        data.to_sql(table, engine, index=False)
        spec = dataclasses.replace(
            settings.dataset("anes96_vote"),
            source={"kind": "sql", "conn_id": "anes_pg", "query": f'select * from {table} order by "respondent_id"'},
        )
        batch = collect_batch(spec, sql_url=pg_url)
        frame = load_batch(batch)
        assert len(frame) == 944
        assert frame["respondent_id"].tolist() == sorted(data["respondent_id"])
        assert frame["vote"].sum() == data["vote"].sum()
        with pytest.raises(SourceError, match="needs a connection URL"):
            collect_batch(spec)
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"drop table if exists {table}"))
        engine.dispose()


def test_airflow_connection_uris_become_sqlalchemy_urls():
    assert sql_url_from_uri("postgres://u:p@h:5432/db") == "postgresql+psycopg2://u:p@h:5432/db"
    assert sql_url_from_uri("postgresql://h/db") == "postgresql+psycopg2://h/db"
    assert sql_url_from_uri("sqlite:///x.db") == "sqlite:///x.db"


SHAPES = {
    "all-null object column": lambda: pd.DataFrame({"a": [1, 2, 3], "b": pd.Series([None] * 3, dtype=object)}),
    "all-NaN float column": lambda: pd.DataFrame({"a": [1, 2, 3], "b": [np.nan] * 3}),
    "mixed object column": lambda: pd.DataFrame({"a": pd.Series([1, "DK", 2.5, None], dtype=object)}),
    "numbers in an object column": lambda: pd.DataFrame({"a": pd.Series([1, None, 3], dtype=object)}),
    "text as object": lambda: pd.DataFrame({"a": pd.Series(["x", None, "y"], dtype=object)}),
    "text as str": lambda: pd.DataFrame({"a": pd.Series(["x", None, "y"], dtype="str")}),
    "text as string": lambda: pd.DataFrame({"a": pd.Series(["x", None, "y"], dtype="string")}),
    "categorical text": lambda: pd.DataFrame({"a": pd.Categorical(["x", "y", None, "x"])}),
    "categorical codes": lambda: pd.DataFrame({"a": pd.Categorical([1, 2, None, 1])}),
    "single column": lambda: pd.DataFrame({"only": [0.5]}),
    "zero rows": lambda: pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=object)}),
    "integer column names": lambda: pd.DataFrame({0: [1, 2], 1: ["a", "b"]}),
    "a non-range index": lambda: pd.DataFrame({"a": [1, 2, 3]}, index=[10, 20, 5]),
    "nullable integers and booleans": lambda: pd.DataFrame(
        {"a": pd.array([1, None], dtype="Int64"), "b": pd.array([True, None], dtype="boolean")}
    ),
    "timestamps": lambda: pd.DataFrame({"a": pd.to_datetime(["2024-11-05", None]), "b": [True, False]}),
    "lists": lambda: pd.DataFrame({"a": [[1, 2], [3]]}),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_content_hash_survives_the_parquet_round_trip(workspace, settings, shape):
    frame = shape()
    batch = write_batch(frame, settings.dataset("anes96_vote"), {"kind": "file"}, {})
    assert content_hash(frame) == batch.content_hash == content_hash(pd.read_parquet(batch.path))
    assert len(load_batch(batch)) == len(frame)  # never a false "changed since collection"


def test_equivalent_representations_hash_alike_and_other_content_does_not():
    text = ["x", None, "y"]
    assert content_hash(pd.DataFrame({"a": pd.Series(text, dtype=object)})) == content_hash(
        pd.DataFrame({"a": pd.Series(text, dtype="str")})
    )
    assert content_hash(pd.DataFrame({0: [1]})) == content_hash(pd.DataFrame({"0": [1]}))
    assert content_hash(pd.DataFrame({"a": ["x", "y"]})) != content_hash(pd.DataFrame({"a": ["x", "z"]}))
    assert content_hash(pd.DataFrame({"a": [1, 2]})) != content_hash(pd.DataFrame({"a": ["1", "2"]}))


def test_a_column_mixing_numbers_and_text_is_stored_as_text(workspace, settings, tmp_path):
    spec = settings.dataset("anes96_vote")
    source = pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv")
    source.head(100).to_parquet(tmp_path / "main.parquet", index=False)
    extra = source.tail(20).astype({"educ": object})
    extra.loc[extra.index[3], "educ"] = "DK"  # an extract holding one text code: its whole column reads as text
    extra.to_csv(tmp_path / "extra.csv", index=False)
    batch = collect_batch(spec, path=str(tmp_path / "main.parquet"), extra_paths=[str(tmp_path / "extra.csv")])
    frame = load_batch(batch)
    assert batch.join_report["stored_as_text"] == ["educ"]
    assert frame["educ"].tolist()[:3] == [str(v) for v in source["educ"][:3]] and "DK" in set(frame["educ"])

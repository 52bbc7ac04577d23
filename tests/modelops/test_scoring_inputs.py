"""Scoring inputs that cannot hurt: confined files by their resolved path, read-only single-statement SQL on
a scratch PostgreSQL database, the shared bad-file diagnosis at plan and while streaming (no row text
anywhere), 0-row inputs refused at plan and at registration.

One MLflow store for the module: a real champion (logistic regression) trained on synthetic voters.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
import uuid

import pandas as pd
import pytest
from conftest import module_store, psql_admin, train_and_promote, use_workspace

from modelops.collect import csv_files, refusals, safe_sql
from modelops.collect.scenarios import simulate_window
from modelops.collect.snapshots import describe
from modelops.core import catalog
from modelops.score.plan import InputRefused, ScoringError, plan_scoring
from modelops.score.run import score_group
from modelops.score.snapshot import score_snapshot

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

DATASET = "voter_turnout"
MARKER = "MARKER-555-0199"


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """A champion in one module-wide workspace and MLflow store."""

    def champion():
        return train_and_promote(settings, 3000, "inputs-champion")

    with module_store(tmp_path_factory, "scoring-inputs", champion) as s:
        yield s


@pytest.fixture
def env(store, monkeypatch):
    """The module's store for one test."""
    use_workspace(monkeypatch, store["root"])
    return store


def _settings(settings, **scoring_options):
    return dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"shadow": False, **scoring_options})
    )


def _frame(spec, rows: int = 200, seed: int = 3) -> pd.DataFrame:
    return simulate_window(spec, "stable", rows, seed).drop(columns=[spec.target])


def _production(spec, name: str):
    path = catalog.production_dir(spec.name) / "deliveries" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _texts(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.__context__) + repr(exc.__cause__)


# --- files ---------------------------------------------------------------------------------------


def test_the_plan_and_the_manifest_record_the_resolved_absolute_path(env, settings, monkeypatch, tmp_path):
    spec = env["spec"]
    path = _production(spec, "snap-rel.parquet")
    _frame(spec).to_parquet(path, index=False)
    monkeypatch.chdir(tmp_path)  # the worker's working directory plays no part
    given = f"production/{spec.name}/deliveries/../deliveries/snap-rel.parquet"
    result = score_snapshot(spec, _settings(settings), given)
    manifest = catalog.read_json(result["manifest"])
    assert manifest["input"] == str(path.resolve())
    assert plan_scoring(spec, _settings(settings), given).input == str(path.resolve())


def test_traversal_and_absolute_paths_outside_the_roots_are_refused(env, settings, tmp_path):
    spec = env["spec"]
    outside = tmp_path / "outside.parquet"
    _frame(spec).to_parquet(outside, index=False)
    climbing = "../" * (len(env["root"].resolve().parts) + 1) + str(outside).lstrip("/")
    for given in (climbing, str(outside)):
        with pytest.raises(InputRefused) as caught:
            plan_scoring(spec, _settings(settings), given)
        assert repr(given) in str(caught.value) and "outside the folders scoring reads from" in str(caught.value)
        assert isinstance(caught.value, refusals.InputRefused) and isinstance(caught.value, ScoringError)
    allowed = plan_scoring(spec, _settings(settings, input_roots=[str(tmp_path)]), str(outside))
    assert allowed.input == str(outside.resolve()) and allowed.group_rows == (200,)


def test_a_ragged_row_never_shows_a_value_of_a_column_scoring_does_not_read(env, settings, caplog, capsys):
    spec = env["spec"]
    frame = _frame(spec, 300)
    frame.insert(0, "phone", "555-0100")  # first: the reader's own message (cut after ~100 characters) shows it
    frame.loc[150, "phone"] = MARKER
    path = _production(spec, "snap-ragged.csv")
    lines = frame.to_csv(index=False).splitlines()
    lines[151] += ",stray"  # line 152 of the file: the row with the marker, one field too many
    path.write_text("\n".join(lines) + "\n")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputRefused) as caught:
        score_snapshot(spec, _settings(settings, chunk_rows=64), str(path))
    message = str(caught.value)
    assert f"cannot use {path.resolve()}: row 152 has {len(frame.columns) + 1} fields" in message
    assert MARKER not in _texts(caught.value)
    logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert not any(MARKER in text for text in logged)
    out = capsys.readouterr()
    assert MARKER not in out.out and MARKER not in out.err
    assert not catalog.scoring_manifest(spec.name, "snap-ragged").exists()


def test_unreadable_files_are_told_at_plan_as_training_tells_them(env, settings):
    spec = env["spec"]
    utf16 = _production(spec, "snap-utf16.csv")
    utf16.write_bytes(_frame(spec, 20).to_csv(index=False).encode("utf-16"))
    with pytest.raises(InputRefused, match=r"byte 0xff at offset 0.*UTF-16 byte-order mark"):
        plan_scoring(spec, _settings(settings), str(utf16))
    semicolons = _production(spec, "snap-semi.csv")
    _frame(spec, 20).to_csv(semicolons, index=False, sep=";")
    with pytest.raises(InputRefused) as caught:
        plan_scoring(spec, _settings(settings), str(semicolons))
    assert "no id column 'voter_id'" in str(caught.value)
    assert "the delimiter may be wrong: the header is separated by semicolons" in str(caught.value)
    cut = _production(spec, "snap-cut.parquet")
    _frame(spec, 500).to_parquet(cut, index=False)
    cut.write_bytes(cut.read_bytes()[:400])
    with pytest.raises(InputRefused, match="truncated or corrupt Parquet"):
        plan_scoring(spec, _settings(settings), str(cut))


def _compressed(path, data: bytes):
    import pyarrow as pa

    with pa.output_stream(str(path), compression="gzip" if path.name.endswith(".gz") else "zstd") as out:
        out.write(data)
    return path


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.zst"])
def test_a_compressed_csv_is_registered_and_scored_as_its_plain_csv(env, settings, suffix):
    spec = env["spec"]
    text = _frame(spec, 150).to_csv(index=False).encode()
    plain = _production(spec, "snap-plain.csv")
    plain.write_bytes(text)
    packed = _compressed(_production(spec, f"snap-packed{suffix}"), text)
    assert describe(spec.name, str(packed), None)["snapshot"] == "snap-packed"
    assert csv_files.csv_line_rows(packed) == csv_files.csv_line_rows(plain) == 150
    scored = score_snapshot(spec, _settings(settings, chunk_rows=64), str(packed))
    assert scored["rows"] == 150 and scored["snapshot"] == "snap-packed"
    base = score_snapshot(spec, _settings(settings, chunk_rows=64), str(plain))
    served = [
        pd.read_parquet(catalog.scoring_manifest(spec.name, s).parent / "predictions")[["row", "id", "score", "source"]]
        for s in ("snap-packed", "snap-plain")
    ]
    pd.testing.assert_frame_equal(*served)
    assert base["rows"] == 150


def test_a_truncated_compressed_csv_is_told_as_training_tells_it(env, settings):
    spec = env["spec"]
    cut = _compressed(_production(spec, "snap-cut.csv.gz"), _frame(spec, 400).to_csv(index=False).encode())
    cut.write_bytes(cut.read_bytes()[:-60])  # the header and first rows still decompress
    with pytest.raises(InputRefused) as caught:
        score_snapshot(spec, _settings(settings, chunk_rows=64), str(cut))
    assert f"cannot use {cut.resolve()}: truncated or corrupt gzip data" in str(caught.value)
    assert not catalog.scoring_manifest(spec.name, "snap-cut").exists()


def test_an_input_without_rows_is_refused_at_plan_and_at_registration(env, settings):
    spec = env["spec"]
    header_only = _production(spec, "snap-header.csv")
    _frame(spec, 5).head(0).to_csv(header_only, index=False)
    empty = _production(spec, "snap-empty.parquet")
    _frame(spec, 5).head(0).to_parquet(empty, index=False)
    for path in (header_only, empty):
        with pytest.raises(InputRefused, match=r"no rows|0 rows"):
            plan_scoring(spec, _settings(settings), str(path))
        with pytest.raises(refusals.InputRefused, match=r"no rows|0 rows"):
            describe(spec.name, str(path), None)


def test_a_bad_snapshot_id_and_a_missing_input_are_refusals(env, settings):
    spec = env["spec"]
    with pytest.raises(InputRefused, match="cannot name a folder"):
        plan_scoring(spec, _settings(settings), snapshot="../x")
    with pytest.raises(InputRefused, match="does not exist"):
        plan_scoring(spec, _settings(settings), snapshot="never-delivered")


# --- SQL on a scratch PostgreSQL database ---------------------------------------------------------


@pytest.fixture
def scratch_pg(env):
    """A PostgreSQL database of its own with the voters and a table `x` no query may touch; dropped after."""
    import sqlalchemy as sa

    name = f"scoring_inputs_{uuid.uuid4().hex[:10]}"
    psql_admin(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    engine = sa.create_engine(url)
    try:
        _frame(env["spec"], 150, 9).to_sql("voters", engine, index=False)
        pd.DataFrame({"keep": range(5)}).to_sql("x", engine, index=False)
    finally:
        engine.dispose()
    yield url
    psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows_of_x(url: str) -> int | None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            exists = connection.execute(sa.text("select to_regclass('public.x') is not null")).scalar()
            return int(connection.execute(sa.text("select count(*) from x")).scalar()) if exists else None
    finally:
        engine.dispose()


PLAN_REFUSED = [
    "SELECT * FROM voters; COMMIT; DROP TABLE x; COMMIT",
    "SELECT * FROM voters; DROP TABLE x",
]


@pytest.mark.postgres  # scratch_pg makes a database on the machine's PostgreSQL
@pytest.mark.parametrize("query", PLAN_REFUSED)
def test_more_than_one_statement_is_refused_at_plan_and_changes_nothing(env, settings, scratch_pg, query):
    spec = env["spec"]
    messages = set()
    for _ in range(2):  # deterministic: the same words every time
        with pytest.raises(InputRefused) as caught:
            score_snapshot(spec, _settings(settings), sql_url=scratch_pg, query=query, snapshot="snap-sql")
        messages.add(str(caught.value))
    assert messages == {
        "the query holds more than one statement (a ';' before its end): scoring runs one SELECT or WITH "
        "statement, nothing else"
    }
    assert _rows_of_x(scratch_pg) == 5


@pytest.mark.postgres
def test_a_data_modifying_with_runs_read_only_and_changes_nothing(env, settings, scratch_pg):
    spec = env["spec"]
    query = "WITH d AS (DELETE FROM x RETURNING *) SELECT v.* FROM voters v, d"
    plan = plan_scoring(spec, _settings(settings), sql_url=scratch_pg, query=query, snapshot="snap-cte")
    for _ in range(2):
        with pytest.raises(InputRefused, match="nothing changed"):
            score_group(plan, 0)
    assert _rows_of_x(scratch_pg) == 5
    # the read-only transaction holds on its own too (a statement the check would pass to it)
    with pytest.raises(refusals.InputRefused, match="read-only transaction refused it"):
        list(safe_sql.query_rows(scratch_pg, "SELECT * FROM voters FOR UPDATE", 50))
    assert _rows_of_x(scratch_pg) == 5


@pytest.mark.postgres
def test_a_plain_select_still_scores_every_row(env, settings, scratch_pg):
    spec = env["spec"]
    result = score_snapshot(
        spec, _settings(settings, chunk_rows=64), sql_url=scratch_pg, query="select * from voters;", snapshot="s-pg"
    )
    assert result["rows"] == 150


@pytest.mark.postgres
def test_a_query_runs_as_the_configured_read_only_role(env, settings, scratch_pg):
    """The least privilege that works: as a role with SELECT on the voters only, a superuser connection's file
    functions and the other tables are out of reach, and scoring the voters still works."""
    import sqlalchemy as sa

    role = f"scoring_reader_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(scratch_pg)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE ROLE "{role}" NOLOGIN')
            connection.exec_driver_sql(f'GRANT SELECT ON voters TO "{role}"')
    finally:
        engine.dispose()
    try:
        # the connection's own user (postgres, a superuser) may read a server file, even read-only
        (_, rows), *_ = safe_sql.query_rows(scratch_pg, "SELECT pg_read_file('PG_VERSION') AS v", 10)
        assert rows and rows[0][0].strip()
        for query in ("SELECT pg_read_file('PG_VERSION') AS v", "SELECT * FROM x"):
            with pytest.raises(refusals.InputRefused, match="permission error"):
                list(safe_sql.query_rows(scratch_pg, query, 10, role=role))
        with pytest.raises(refusals.InputRefused, match="role name"):
            list(safe_sql.query_rows(scratch_pg, "SELECT 1", 10, role='x"; DROP TABLE x; --'))
        options = _settings(settings, sql_role=role)
        result = score_snapshot(
            env["spec"], options, sql_url=scratch_pg, query="select * from voters", snapshot="s-pg-role"
        )
        assert result["rows"] == 150 and _rows_of_x(scratch_pg) == 5
    finally:
        psql_admin(f'DROP DATABASE IF EXISTS "{scratch_pg.rsplit("/", 1)[1]}" WITH (FORCE)')
        psql_admin(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        "SELECT 1 AS a$$x$; COMMIT; DROP TABLE x; SELECT 1 AS b$x$, 2",  # `$` inside a name opens no quote
        "SELECT 1 AS a\u20ac$x$; COMMIT; DROP TABLE x; SELECT 1 AS b$x$, 2",
    ],
)
def test_a_dollar_inside_a_name_cannot_hide_a_second_statement(scratch_pg, query):
    with pytest.raises(refusals.InputRefused):
        list(safe_sql.query_rows(scratch_pg, query, 10))
    assert _rows_of_x(scratch_pg) == 5


@pytest.mark.postgres
def test_the_server_refuses_a_second_statement_even_past_the_text_check(scratch_pg):
    """Defence in depth: were the text check fooled, the query goes by the extended protocol (one statement)."""
    for query in ("SELECT 1; COMMIT; DROP TABLE x", "SELECT 1; SET default_transaction_read_only = off"):
        with pytest.raises(refusals.InputRefused, match="cannot run as written"):
            list(safe_sql._postgres_rows(scratch_pg, query, 10, None))
    assert _rows_of_x(scratch_pg) == 5
    # a valid query ending in a $-quoted text is run whole, not cut at its literal
    keys, rows = next(safe_sql.query_rows(scratch_pg, "SELECT count(*) AS n FROM x WHERE $$O'Brien$$ <> ''", 10))
    assert keys == ["n"] and rows[0][0] == 5

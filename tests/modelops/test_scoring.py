"""Batch scoring: rows in = rows out, fallback reasons, shadow and canary, reruns, partitions, CSV, SQL, COPY.

One MLflow store for the module: a real champion (logistic regression) and a real challenger
(histogram gradient boosting) trained on synthetic voters; each test scores its own snapshot
built here, on small real-shaped frames (blanks, unknown codes, inf, text in number columns).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import run_training, train_and_promote, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.config.checks import ConfigError
from modelops.config.models import DatasetScoring
from modelops.core import catalog
from modelops.score.checks import chunk_guards
from modelops.score.commit import commit_scoring
from modelops.score.ids import SeenIds, id_hashes
from modelops.score.models import load_model, load_models
from modelops.score.plan import InputRefused, RowCountError, ScoringError, ScoringPlan, plan_scoring
from modelops.score.run import score_group
from modelops.score.snapshot import score_snapshot
from modelops.store import artifacts, registry, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

DATASET = "voter_turnout"


@pytest.fixture(scope="module")
def store(tmp_path_factory, settings):
    """Champion v1 and challenger v2 in one module-wide workspace and MLflow store."""
    root = tmp_path_factory.mktemp("scoring") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        spec = train_and_promote(settings, 4000, "score-champion")
        done = run_training(settings, DATASET, "score-challenger", ("hist_gradient_boosting",), rows=5000)
        version = done["outcome"]["version"]
        if registry.version_by_alias(spec.model_name, registry.CHALLENGER) is None:
            registry.set_alias(spec.model_name, registry.CHALLENGER, version, "tests", "shadow test", None)
        yield {"root": root, "spec": spec}


@pytest.fixture
def env(store, monkeypatch):
    """The module's store for one test."""
    use_workspace(monkeypatch, store["root"])
    return store


def _settings(settings, **scoring_options):
    # the inputs here are each test's own tmp_path files; where inputs may lie is test_scoring_inputs.py's
    return dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"input_roots": ["/"], **scoring_options})
    )


def _frame(spec, rows: int, seed: int) -> pd.DataFrame:
    return simulate_window(spec, "stable", rows, seed).drop(columns=[spec.target])


def _messy(spec, rows: int = 400, seed: int = 5) -> pd.DataFrame:
    """Production rows with the problems a vendor extract has, at known positions."""
    frame = _frame(spec, rows, seed)
    frame["age"] = frame["age"].astype("float64")
    frame.loc[0, "age"] = np.nan  # required (null_fraction 0): falls back
    frame.loc[1, "age"] = 150  # out of the spec's range
    frame.loc[2, "unemployment_rate"] = np.inf  # not a finite number
    frame.loc[3, "party"] = "Whig"  # not an allowed code
    frame.loc[4, "income_bracket"] = None  # allowed missing (5%): the model imputes, no fallback
    frame.loc[5, "party"] = "   "  # blank text is missing, and party is required
    return frame


def _predictions(result) -> pd.DataFrame:
    return pd.read_parquet(Path(result["folder"]) / "predictions")


def test_every_row_once_with_fallback_reasons(env, settings, tmp_path):
    spec = env["spec"]
    frame = _messy(spec)
    path = tmp_path / "snap-messy.parquet"
    frame.to_parquet(path, index=False)
    result = score_snapshot(spec, _settings(settings, shadow=False), str(path))
    out = _predictions(result)
    assert len(out) == len(frame)
    assert sorted(out["id"]) == sorted(frame["voter_id"])
    assert out["row"].tolist() == list(range(len(frame)))
    by_row = out.set_index("row")
    expected = {0: "missing:age", 1: "out_of_range:age", 2: "non_finite:unemployment_rate", 3: "not_allowed:party"}
    for row, reason in expected.items():
        assert by_row.loc[row, "source"] == "fallback"
        assert by_row.loc[row, "reason"] == reason
    assert by_row.loc[5, "reason"] == "missing:party"
    assert by_row.loc[4, "source"] == "model" and pd.isna(by_row.loc[4, "reason"])
    # fallback rows carry the baseline's rates, and every row the exact served version
    baseline = artifacts.load_baseline(spec.model_name, result["model_version"], _run_of(spec, result))
    rates = {baseline["rate_if_true"], baseline["rate_if_false"]}
    assert set(by_row.loc[list(expected), "score"]) <= rates
    assert (out["model_version"] == result["model_version"]).all()
    assert (out["decision"] == (out["score"] >= 0.5)).all()
    # a model row carries no reason but the new-registrant mark (voter_turnout scores them by the model, marked)
    assert set(out.loc[out["source"] == "model", "reason"].dropna().astype(str)) <= {"new_registrant"}
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["rows_in"] == manifest["rows_out"] == len(frame)
    assert manifest["fallback_reasons"]["missing:age"] == 1
    assert sum(manifest["sources"].values()) == len(frame)
    assert manifest["sources"]["fallback"] == 5


def _run_of(spec, result) -> str:
    return tracking.client().get_model_version(spec.model_name, result["model_version"]).run_id


def test_unseen_categories_fall_back_beyond_the_tolerated_share(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 300, 11)
    # an allowed code the model never saw: pretend a new party level appears in 10% of rows
    allowed = dataclasses.replace(
        spec,
        validation=spec.validation.model_copy(
            update={
                "categories": {**spec.validation.categories, "party": [*spec.validation.categories["party"], "NEW"]}
            }
        ),
    )
    frame.loc[frame.index[:30], "party"] = "NEW"
    path = tmp_path / "snap-unseen.parquet"
    frame.to_parquet(path, index=False)
    strict = score_snapshot(allowed, _settings(settings, shadow=False, unseen_category_share=0.05), str(path))
    out = _predictions(strict)
    assert (out.set_index("row").loc[range(30), "reason"] == "unseen_category:party").all()
    assert any("never saw" in a for a in strict["alerts"])
    tolerant = score_snapshot(
        allowed, _settings(settings, shadow=False, unseen_category_share=0.2), str(path), snapshot="snap-unseen-ok"
    )
    assert tolerant["sources"]["fallback"] == 0


def test_a_shifted_score_distribution_is_served_and_alerted_unless_the_dataset_opts_into_the_guard(
    env, settings, tmp_path
):
    spec = env["spec"]
    frame = _frame(spec, 3000, 12)
    # everyone a habitual voter: scores far above the reference (a shifted electorate, not a broken model)
    for column in ("voted_general_lag1", "voted_general_lag2", "voted_general_lag3"):
        frame[column] = 1
    path = tmp_path / "snap-shifted.parquet"
    frame.to_parquet(path, index=False)
    result = score_snapshot(
        spec, _settings(settings, shadow=False, score_check_min_rows=500, score_psi_limit=0.25), str(path)
    )
    assert result["sources"] == {"model": 3000, "fallback": 0, "canary": 0}
    assert result["fallback_reasons"] == {}
    assert any("PSI" in a and "the model served them" in a for a in result["alerts"])
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["score_guard"] == "none"
    assert manifest["score_shift"]["chunks_shifted"] >= 1 and manifest["score_shift"]["max_psi"] >= 0.25
    # the swap is an explicit opt-in: with score_guard psi the chunk falls back whole and says why
    guarded = score_snapshot(
        spec,
        _settings(settings, shadow=False, score_check_min_rows=500, score_psi_limit=0.25, score_guard="psi"),
        str(path),
        snapshot="snap-shifted-guarded",
    )
    assert guarded["sources"] == {"model": 0, "fallback": 3000, "canary": 0}
    assert guarded["fallback_reasons"] == {"score_distribution": 3000}
    # with a challenger in shadow, the withheld chunk is still compared: both models scored it
    shadowed = score_snapshot(
        spec,
        _settings(settings, shadow=True, score_check_min_rows=500, score_psi_limit=0.25, score_guard="psi"),
        str(path),
        snapshot="snap-shifted-shadow",
    )
    assert shadowed["sources"]["fallback"] == 3000 and shadowed["agreement"]["rows"] == 3000
    out = _predictions(shadowed)
    assert out["champion_score"].notna().all() and out["challenger_score"].notna().all()


def test_shadow_and_canary(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 2000, 13)
    path = tmp_path / "snap-shadow.parquet"
    frame.to_parquet(path, index=False)
    options = _settings(settings, shadow=True, canary_share=0.2)
    result = score_snapshot(spec, options, str(path))
    out = _predictions(result)
    challenger = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
    assert result["challenger_version"] == str(challenger.version)
    canary = out[out["source"] == "canary"]
    model = out[out["source"] == "model"]
    assert 0.1 < len(canary) / len(out) < 0.3
    # canary rows: the challenger decides and is named; model rows: the champion decides
    assert (canary["model_version"] == str(challenger.version)).all() and (canary["alias"] == "challenger").all()
    assert np.allclose(canary["score"], canary["challenger_score"])
    assert np.allclose(model["score"], model["champion_score"])
    assert (model["model_version"] == result["model_version"]).all()
    # shadow: the challenger scored every model row but decided none of them
    assert model["challenger_score"].notna().all()
    # the same keys are canary on a rerun (stable hash), and the choice follows the key
    again = _predictions(score_snapshot(spec, options, str(path), snapshot="snap-shadow-2"))
    assert set(again.loc[again["source"] == "canary", "id"]) == set(canary["id"])
    agreement = json.loads(Path(result["manifest"]).read_text())["agreement"]
    assert agreement["rows"] == len(model) + len(canary)
    assert -1 <= agreement["score_correlation"] <= 1 and agreement["score_correlation"] > 0.5
    assert np.asarray(agreement["decile_transition"]).sum() == agreement["rows"]
    assert 0 <= agreement["decision_agreement"] <= 1 and 0 <= agreement["top_decile_overlap"] <= 1
    assert set(agreement["slices"]) >= {"gender", "age", "race_ethnicity", "geography:county_fips"}
    assert sum(s["rows"] for s in agreement["slices"]["gender"].values()) == agreement["rows"]
    report = Path(result["report"]).read_text()
    assert "Decile transitions" in report and "geography:county_fips" in report
    run = tracking.client().get_run(result["mlflow_run_id"])
    assert run.data.tags["modelops.model_version"] == result["model_version"]
    assert run.data.tags["modelops.challenger_version"] == str(challenger.version)
    assert run.data.metrics["rows"] == 2000


def test_rerun_replaces_the_snapshot(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 500, 14)
    path = tmp_path / "snap-rerun.parquet"
    frame.to_parquet(path, index=False)
    options = _settings(settings, shadow=False)
    first = score_snapshot(spec, options, str(path))
    second = score_snapshot(spec, options, str(path))
    assert first["folder"] == second["folder"]
    out = _predictions(second)
    assert len(out) == 500 and out["id"].is_unique
    assert len(list((Path(second["folder"]) / "predictions").glob("*.parquet"))) == 1
    assert first["mlflow_run_id"] == second["mlflow_run_id"]  # one run per snapshot and version
    assert not catalog.scoring_staging(DATASET, "snap-rerun").exists()


def _partitions(frame: pd.DataFrame, folder: Path, count: int) -> Path:
    """The frame as a folder of `count` Parquet partitions, rows in order."""
    folder.mkdir()
    for i, piece in enumerate(np.array_split(np.arange(len(frame)), count)):
        frame.iloc[piece].to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder


def test_folder_of_partitions_in_groups(env, settings, tmp_path):
    spec = env["spec"]
    frame = _messy(spec, 1000, 15)
    folder = _partitions(frame, tmp_path / "snap-parts", 8)
    options = _settings(settings, shadow=False, chunk_rows=50)
    plan = plan_scoring(spec, options, str(folder), groups=3)
    assert len(plan.groups) == 3 and sum(len(g) for g in plan.groups) == 8
    plan = ScoringPlan.from_xcom(json.loads(json.dumps(plan.to_xcom())))  # through XCom
    parts = [score_group(plan, i) for i in reversed(range(3))]  # any order
    with pytest.raises(ScoringError, match="no scored part"):
        commit_scoring(plan, parts[:2])
    result = commit_scoring(plan, parts)
    out = _predictions(result)
    assert out["row"].sort_values().tolist() == list(range(1000))
    assert sorted(out["id"]) == sorted(frame["voter_id"])
    assert result["fallback_reasons"]["missing:age"] == 1
    with pytest.raises(RowCountError, match="twice"):
        commit_scoring(plan, [*parts, parts[0]])


def test_groups_scored_in_one_process_load_each_model_once(env, settings, tmp_path, monkeypatch):
    spec = env["spec"]
    frame = _messy(spec, 600, 21)
    folder = _partitions(frame, tmp_path / "snap-once", 4)
    loads = []
    real = load_model

    def counted(plan, version, run_id):
        loads.append(version)
        return real(plan, version, run_id)

    monkeypatch.setattr("modelops.score.models.load_model", counted)
    plan = plan_scoring(spec, _settings(settings, shadow=True), str(folder), snapshot="snap-once", groups=4)
    models = load_models(plan)  # as score_snapshot does
    parts = [score_group(plan, i, models) for i in range(4)]
    assert sorted(loads) == sorted(v for v in (plan.version, plan.challenger_version) if v is not None)  # once each
    for part in parts:  # every group checked the compiled path on its own first chunk
        assert part["fast_path"]["served"]["fast"] is True
    out = _predictions(commit_scoring(plan, parts))
    assert out["row"].sort_values().tolist() == list(range(600))


def test_csv_input_reads_text_by_value(env, settings, tmp_path):
    spec = env["spec"]
    frame = _messy(spec, 300, 16)
    frame["contact_attempts"] = frame["contact_attempts"].astype(object)
    frame.loc[6, "contact_attempts"] = "lots"  # text in a number column
    path = tmp_path / "snap-csv.csv"
    frame.to_csv(path, index=False)
    parquet = tmp_path / "snap-csv-ref.parquet"
    clean = frame.drop(index=[6]).reset_index(drop=True)
    clean["contact_attempts"] = clean["contact_attempts"].astype("int64")
    clean.to_parquet(parquet, index=False)
    options = _settings(settings, shadow=False)
    out = _predictions(score_snapshot(spec, options, str(path))).set_index("id")
    assert len(out) == 300
    assert out.loc[frame.loc[6, "voter_id"], "reason"] == "not_a_number:contact_attempts"
    assert out.loc[frame.loc[0, "voter_id"], "reason"] == "missing:age"
    assert out.loc[frame.loc[5, "voter_id"], "reason"] == "missing:party"
    # the model sees the CSV's numbers as the Parquet's: same scores
    ref = _predictions(score_snapshot(spec, options, str(parquet))).set_index("id")
    common = ref.index[ref["source"] == "model"]
    assert np.allclose(out.loc[common, "score"], ref.loc[common, "score"])


def test_csv_input_in_shadow_bins_text_ages_by_value(env, settings, tmp_path):
    """CSV gives every column as text: the shadow report still bins the protected age column by value."""
    spec = env["spec"]
    frame = _frame(spec, 400, 22)
    path = tmp_path / "snap-csv-shadow.csv"
    frame.to_csv(path, index=False)
    result = score_snapshot(spec, _settings(settings, shadow=True), str(path), snapshot="snap-csv-shadow")
    assert result["challenger_version"] is not None
    agreement = json.loads(Path(result["manifest"]).read_text())["agreement"]
    ages = agreement["slices"]["age"]
    assert sum(s["rows"] for s in ages.values()) == agreement["rows"] > 0
    assert "outside bins" not in ages and all(label.startswith("[") for label in ages if label != "missing")


def test_sql_input_streams_a_query(env, settings, tmp_path):
    import sqlalchemy as sa

    spec = env["spec"]
    frame = _messy(spec, 300, 17)
    url = f"sqlite:///{tmp_path / 'voters.db'}"
    engine = sa.create_engine(url)
    frame.replace({np.inf: 1e308}).to_sql("voters", engine, index=False)  # SQLite stores no inf
    engine.dispose()
    options = _settings(settings, shadow=False, chunk_rows=64)
    result = score_snapshot(
        spec, options, sql_url=url, query="select * from voters order by voter_id", snapshot="snap-sql"
    )
    out = _predictions(result)
    assert len(out) == 300 and sorted(out["id"]) == sorted(frame["voter_id"])
    assert result["fallback_reasons"]["missing:age"] == 1
    assert result["fallback_reasons"]["out_of_range:unemployment_rate"] == 1


def test_dataset_without_id_numbers_rows(env, settings, tmp_path):
    spec = env["spec"]
    no_id = dataclasses.replace(spec, id_column=None, scoring=DatasetScoring(geography="county_fips"))
    frame = _frame(spec, 200, 18).drop(columns=["voter_id"])
    path = tmp_path / "snap-noid.parquet"
    frame.to_parquet(path, index=False)
    out = _predictions(score_snapshot(no_id, _settings(settings, shadow=False), str(path)))
    assert out["row"].tolist() == list(range(200)) and out["id"].isna().all()
    # a dataset with ids refuses an input without them
    with pytest.raises(ScoringError, match="no id column 'voter_id'"):
        plan_scoring(spec, _settings(settings), str(path))


def test_unloadable_model_falls_back_whole(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 100, 19)
    path = tmp_path / "snap-broken.parquet"
    frame.to_parquet(path, index=False)
    plan = plan_scoring(spec, _settings(settings, shadow=False), str(path))
    broken = dataclasses.replace(plan, model_name="no_such_model")  # the registry cannot serve it
    result = commit_scoring(broken, [score_group(broken, 0)])
    assert result["fallback_reasons"] == {"model_unavailable": 100}
    assert any("could not be loaded" in a for a in result["alerts"])


def test_plan_errors_are_plain(env, settings, tmp_path):
    spec = env["spec"]
    with pytest.raises(ScoringError, match="does not exist"):
        plan_scoring(spec, _settings(settings), str(tmp_path / "nothing.parquet"))
    with pytest.raises(ScoringError, match="alias 'gold'"):
        plan_scoring(spec, _settings(settings), snapshot="x", alias="gold", input=str(_write(spec, tmp_path)))
    other = dataclasses.replace(spec, name="voter_turnout", source=spec.source)
    run = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    with pytest.raises(artifacts.MissingArtifactError, match=f"v{run.version}"):
        artifacts.load_baseline(other.model_name, str(run.version), "0" * 32)


def _write(spec, tmp_path) -> Path:
    path = tmp_path / "small.parquet"
    _frame(spec, 20, 20).to_parquet(path, index=False)
    return path


def test_postgres_copy_is_idempotent(env, settings, tmp_path, pg_url):
    import sqlalchemy as sa

    spec = env["spec"]
    frame = _messy(spec, 300, 21)
    path = tmp_path / "snap-pg.parquet"
    frame.to_parquet(path, index=False)
    table = f"scoring_test_{abs(hash(str(tmp_path))) % 10**8}"
    options = _settings(settings, shadow=False, output_table=table)
    with pytest.raises(ScoringError, match="no database URL"):
        score_snapshot(spec, options, str(path))
    engine = sa.create_engine(pg_url)
    try:
        for _ in range(2):
            result = score_snapshot(spec, options, str(path), output_url=pg_url)
            assert result["table_rows"] == 300
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    f"select count(*), count(distinct id), "
                    f"sum(case when source = 'fallback' then 1 else 0 end) from {table}"
                )
            ).one()
            reason = connection.execute(sa.text(f"select reason from {table} where row = 0")).scalar()
        assert rows == (300, 300, result["sources"]["fallback"])
        assert reason == "missing:age"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"drop table if exists {table}"))
        engine.dispose()
    assert pq.ParquetFile(Path(result["folder"]) / "predictions" / "part-00000.parquet").metadata.num_rows == 300


def test_missing_and_repeated_ids_fall_back_row_by_row_and_are_counted(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 1000, 31)
    frame["voter_id"] = frame["voter_id"].astype(object)
    frame.loc[[3, 400], "voter_id"] = None
    frame.loc[7, "voter_id"] = "   "  # blank text is no id either
    frame.loc[[10, 20, 900], "voter_id"] = frame.loc[2, "voter_id"]  # row 2 came first: it keeps its model score
    # the same rows as two partitions scored as two groups: a repeat across groups is caught too
    folder = tmp_path / "snap-ids"
    folder.mkdir()
    frame.iloc[:500].to_parquet(folder / "part-0.parquet", index=False)
    frame.iloc[500:].to_parquet(folder / "part-1.parquet", index=False)
    options = _settings(settings, shadow=False, max_id_problem_share=0.01)
    result = score_snapshot(spec, options, str(folder), groups=2)
    by_row = _predictions(result).set_index("row")
    assert (by_row.loc[[3, 400, 7], "reason"] == "missing_id").all()
    assert (by_row.loc[[10, 20, 900], "reason"] == "duplicate_id").all()
    assert by_row.loc[2, "source"] == "model"
    assert (by_row.loc[[3, 400, 7, 10, 20, 900], "source"] == "fallback").all()
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["id_problems"] == {"missing_id": 3, "duplicate_id": 3}
    assert any("without an id" in a for a in manifest["alerts"])
    # above the configured share the run is refused and nothing is published
    strict = _settings(settings, shadow=False, max_id_problem_share=0.002)
    with pytest.raises(InputRefused, match="max_id_problem_share"):
        score_snapshot(spec, strict, str(folder), snapshot="snap-ids-refused", groups=2)
    assert not catalog.scoring_dir(spec.name, "snap-ids-refused").exists()
    assert not catalog.scoring_staging(spec.name, "snap-ids-refused").exists()  # no staged parts left


def test_a_fallback_share_above_the_limit_alerts_whatever_the_cause(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 400, 32)
    frame["age"] = "unknown"  # every age is text, no number: values, not a missing column
    path = tmp_path / "snap-text-age.parquet"
    frame.to_parquet(path, index=False)
    result = score_snapshot(spec, _settings(settings, shadow=False), str(path))
    assert result["sources"]["fallback"] == 400
    assert result["alerts"][0].startswith("400 of 400 rows (100.0%) were served by the rule-based fallback")
    assert "not_a_number:age 400" in result["alerts"][0]
    from modelops.core.alerts import build_scoring_alert

    assert build_scoring_alert(result) is not None


def test_shadow_scores_a_stable_sample_and_states_its_size_and_intervals(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 6000, 33)
    path = tmp_path / "snap-sample.parquet"
    frame.to_parquet(path, index=False)
    options = _settings(settings, shadow=True, shadow_sample=0.25, shadow_all_below=1000)
    result = score_snapshot(spec, options, str(path))
    out = _predictions(result)
    sampled = out["challenger_score"].notna()
    assert 0.2 < sampled.mean() < 0.3
    agreement = json.loads(Path(result["manifest"]).read_text())["agreement"]
    assert agreement["rows"] == int(sampled.sum())
    assert agreement["sample"] == {"rows": int(sampled.sum()), "of_rows": 6000, "share": 0.25, "every_row": False}
    low, high = agreement["intervals"]["decision_agreement"]
    assert low < agreement["decision_agreement"] < high and high - low < 0.05
    low, high = agreement["intervals"]["score_correlation"]
    assert low < agreement["score_correlation"] < high
    assert "A stable sample" in Path(result["report"]).read_text()
    # stable: the same voters are sampled in the next snapshot, whatever their order
    shuffled = frame.sample(frac=1.0, random_state=1)
    later = tmp_path / "snap-sample-later.parquet"
    shuffled.to_parquet(later, index=False)
    again = _predictions(score_snapshot(spec, options, str(later)))
    assert set(again.loc[again["challenger_score"].notna(), "id"]) == set(out.loc[sampled, "id"])
    # a small input is shadowed on every row, and its figures are exact (no interval)
    small = tmp_path / "snap-sample-small.csv"
    frame.iloc[:800].to_csv(small, index=False)
    exact = score_snapshot(spec, options, str(small))
    exact_agreement = json.loads(Path(exact["manifest"]).read_text())["agreement"]
    assert exact_agreement["rows"] == 800 and exact_agreement["sample"]["every_row"]
    assert exact_agreement["intervals"] is None


def test_the_whole_chunk_falls_back_only_for_a_broken_model():
    options = {
        "score_check_min_rows": 100,
        "degenerate_score_span": 1e-9,
        "score_psi_limit": 0.25,
        "score_guard": "none",
    }
    flat = np.full(500, 0.37)
    every = np.ones(500, dtype=bool)
    shift = {"chunks": 0, "judged": 0, "max_psi": None}
    withheld, reason, alerts = chunk_guards(options, None, flat, every, lambda: True, "rows 0..499", shift)
    assert reason == "degenerate_scores" and withheld.all() and "looks broken" in alerts[0]
    # identical rows rightly get identical scores: not a broken model (monitoring judges such a window)
    withheld, reason, _ = chunk_guards(options, None, flat, every, lambda: False, "rows 0..499", shift)
    assert reason is None and not withheld.any()
    # too few rows to judge
    small = {**options, "score_check_min_rows": 1000}
    assert chunk_guards(small, None, flat, every, lambda: True, "rows 0..499", shift)[1] is None


def test_id_hashes_agree_across_dtypes_and_seen_ids_keep_the_first_occurrence():
    as_text = pd.Series(["7", " 8 ", "x1", None, ""], dtype=object)
    as_numbers = pd.Series([7.0, 8.0, np.nan, np.nan, np.nan])
    text_hashes, text_missing = id_hashes(as_text)
    number_hashes, _ = id_hashes(as_numbers)
    assert text_missing.tolist() == [False, False, False, True, True]
    assert (text_hashes[:2] == number_hashes[:2]).all()
    seen = SeenIds()
    first = id_hashes(pd.Series(["a", "b", "a", "c"]))[0]
    assert seen.repeats(first).tolist() == [False, False, True, False]
    for i in range(40):  # many chunks: the runs merge, nothing is forgotten
        assert not seen.repeats(id_hashes(pd.Series([f"n{i}-{j}" for j in range(50)]))[0]).any()
    assert seen.repeats(id_hashes(pd.Series(["c", "n3-7", "new"]))[0]).tolist() == [True, True, False]
    assert len(seen.runs) < 10


def test_a_chunk_of_only_repeated_ids_and_long_numeric_ids():
    seen = SeenIds()
    same = np.array([5, 5, 5], dtype=np.uint64)
    assert seen.repeats(same).tolist() == [False, True, True]
    for _ in range(3):  # every id met before: nothing new to remember, and no crash on the next chunk
        assert seen.repeats(same).all()
    assert not seen.repeats(np.array([6], dtype=np.uint64)).any()
    # distinct ids beyond float64's exact integers stay distinct, as numbers and as CSV text alike
    big = pd.Series(np.arange(1234567890123456789, 1234567890123456789 + 5, dtype=np.int64))
    hashes, missing = id_hashes(big)
    assert len(set(hashes.tolist())) == 5 and not missing.any()
    text = id_hashes(pd.Series(["1234567890123456789", "1234567890123456790", "99999999999999999999"]))[0]
    assert len(set(text.tolist())) == 3
    assert (id_hashes(big.astype(str))[0] == hashes).all()  # the same id as text or number
    assert id_hashes(pd.Series([7.0, 7.5]))[0][0] == id_hashes(pd.Series(["7"]))[0][0]


def test_shadow_sample_as_a_number_of_rows(env, settings, tmp_path):
    spec = env["spec"]
    frame = _frame(spec, 6000, 34)
    options = _settings(settings, shadow=True, shadow_sample=1500, shadow_all_below=1000)
    for name, write in (("snap-rows.parquet", frame.to_parquet), ("snap-rows.csv", frame.to_csv)):
        path = tmp_path / name
        write(path, index=False)
        result = score_snapshot(spec, options, str(path))
        sample = json.loads(Path(result["manifest"]).read_text())["agreement"]["sample"]
        assert sample["share"] == 0.25 and not sample["every_row"], name  # 1500 of 6000 rows (a CSV's counted)
        assert 1300 < sample["rows"] < 1700, name
    with pytest.raises(ConfigError, match=r"a share .* or a number of rows"):
        load_settings_with(settings, shadow_sample=1)


def load_settings_with(settings, **scoring_options):
    """The bundled file with scoring options replaced, loaded and checked as a parameters file."""
    import yaml

    from modelops.config.settings import DEFAULT_CONFIG_PATH, parse_settings

    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["scoring"].update(scoring_options)
    return parse_settings(raw)

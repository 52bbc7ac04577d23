"""The compiled (numpy) scoring path equals the pipeline's own predict_proba, for every candidate family.

One MLflow store for the module with one real model per family in config.CANDIDATE_FAMILIES, each
behind its own alias (`fast_<family>`); the frames are small, real-shaped and messy (blanks, codes
the model never saw, inf, text in number columns), read from Parquet (text as Arrow dictionaries)
and from CSV (everything as text).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_training, use_workspace

from modelops.collect.scenarios import simulate_window
from modelops.collect.values import plain_frame
from modelops.config.settings import CANDIDATE_FAMILIES
from modelops.score import agreement, fastpath, run
from modelops.score.checks import Reasons, check_chunk
from modelops.score.fastpath import compile_pipeline, predict_rows
from modelops.score.models import FAST_TOLERANCE, load_model
from modelops.score.plan import compile_checks, plan_scoring
from modelops.score.readers import iter_chunks
from modelops.score.snapshot import score_snapshot
from modelops.store import registry

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

DATASET = "voter_turnout"


@pytest.fixture(scope="module")
def models(tmp_path_factory, settings):
    """One registered version per candidate family, each behind alias fast_<family>."""
    root = tmp_path_factory.mktemp("scoring-fast") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        spec = None
        for family in CANDIDATE_FAMILIES:
            done = run_training(settings, DATASET, f"fast-{family}", (family,), rows=3000)
            spec = done["spec"]
            registry.set_alias(spec.model_name, f"fast_{family}", done["outcome"]["version"], "tests", "fast", None)
        yield {"root": root, "spec": spec}


@pytest.fixture
def env(models, monkeypatch):
    use_workspace(monkeypatch, models["root"])
    return models


def _options(settings, **extra):
    # the inputs are each test's tmp_path files (where inputs may lie: test_scoring_inputs.py)
    options = {"shadow": False, "canary_share": 0.0, "input_roots": ["/"], **extra}
    return dataclasses.replace(settings, scoring=settings.scoring.model_copy(update=options))


def _messy(spec, rows: int = 600, seed: int = 31) -> pd.DataFrame:
    frame = simulate_window(spec, "stable", rows, seed).drop(columns=[spec.target])
    frame["age"] = frame["age"].astype("float64")
    frame.loc[0, "age"] = np.nan  # required: falls back
    frame.loc[1, "unemployment_rate"] = np.inf  # not finite: falls back
    frame.loc[2, "party"] = "Whig"  # not allowed: falls back
    frame.loc[3, "party"] = "  "  # blank: missing, required
    frame.loc[[4, 5, 6, 7, 8], "income_bracket"] = None  # allowed missing: the model imputes it
    frame.loc[9:20, "gender"] = "X"  # allowed; rare or never seen at training: the encoder decides
    frame.loc[21:24, "income_bracket"] = "   "  # blank text in an allowed-missing column: missing, scored
    return frame


def _compare(plan, frame_chunks) -> tuple[float, int]:
    """Largest |compiled - pipeline| over the rows the checks pass, and how many rows that was."""
    model = load_model(plan, plan.version, plan.run_id)
    assert model.compiled is not None, "our pipeline shape compiles"
    reasons = Reasons()
    worst, rows = 0.0, 0
    for frame in frame_chunks:
        factors: dict = {}
        X, codes, _ = check_chunk(frame, plan, model, reasons, factors)
        ok = codes == 0
        X_ok = X.loc[ok]
        factors_ok = {c: (row_codes[ok], uniques) for c, (row_codes, uniques) in factors.items()}
        fast = model.compiled.predict(X_ok, factors_ok)
        plain = model.pipeline.predict_proba(plain_frame(X_ok))[:, 1]
        assert fast.shape == plain.shape and np.isfinite(fast).all()
        worst = max(worst, float(np.max(np.abs(fast - plain))))
        rows += int(ok.sum())
    return worst, rows


@pytest.mark.parametrize("family", CANDIDATE_FAMILIES)
def test_compiled_path_equals_the_pipeline_on_parquet(env, settings, tmp_path, family):
    spec = env["spec"]
    frame = _messy(spec)
    path = tmp_path / f"fast-{family}.parquet"
    frame.to_parquet(path, index=False)
    plan = plan_scoring(spec, _options(settings, chunk_rows=256), str(path), alias=f"fast_{family}")
    chunks = list(iter_chunks(plan, 0))
    assert isinstance(chunks[0]["party"].dtype, pd.CategoricalDtype)  # text read as Arrow dictionaries
    worst, rows = _compare(plan, chunks)
    assert rows >= len(frame) - 10
    assert worst <= FAST_TOLERANCE
    # end to end: the run used the compiled path and says so
    result = score_snapshot(spec, _options(settings, chunk_rows=256), str(path), alias=f"fast_{family}")
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["fast_path"]["served"]["fast"] is True
    assert manifest["fast_path"]["served"]["max_diff"] <= FAST_TOLERANCE
    out = pd.read_parquet(Path(result["folder"]) / "predictions").set_index("row")
    assert out.loc[0, "reason"] == "missing:age" and out.loc[1, "reason"] == "non_finite:unemployment_rate"
    assert out.loc[2, "reason"] == "not_allowed:party" and out.loc[3, "reason"] == "missing:party"
    assert (out.loc[[4, 21], "source"] == "model").all()


@pytest.mark.parametrize("family", CANDIDATE_FAMILIES)
def test_compiled_path_equals_the_pipeline_on_csv_text(env, settings, tmp_path, family):
    spec = env["spec"]
    frame = _messy(spec, 400, 32)
    frame["contact_attempts"] = frame["contact_attempts"].astype(object)
    frame.loc[30, "contact_attempts"] = "lots"  # text in a number column: falls back
    frame.loc[31, "contact_attempts"] = " 3 "  # a number written as text: read by value
    path = tmp_path / f"fast-{family}.csv"
    frame.to_csv(path, index=False)
    plan = plan_scoring(spec, _options(settings, chunk_rows=150), str(path), alias=f"fast_{family}")
    worst, rows = _compare(plan, iter_chunks(plan, 0))
    assert rows >= len(frame) - 12
    assert worst <= FAST_TOLERANCE


@pytest.mark.parametrize("family", CANDIDATE_FAMILIES)
def test_each_distinct_value_is_encoded_once_whatever_order_a_row_group_lists_it_in(env, settings, tmp_path, family):
    """A file written in parts: each row group's dictionary lists its text values in its own order, and
    later parts bring values the first never held. The compiled path still equals the pipeline chunk by
    chunk, and the encoder runs only for a chunk that holds a value not met before."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    spec = env["spec"]
    frame = _messy(spec, 900, 33)
    parts = [frame.iloc[i : i + 300].reset_index(drop=True) for i in range(0, 900, 300)]
    first = parts[0]
    keep = first["party"].isin(["DEM", "REP"]) | (first.index < 25)  # the messy rows keep theirs
    first.loc[~keep, "party"] = "DEM"  # the other parties arrive with the second part
    # the second part meets its parties in ascending order, the third in descending order
    parts[1] = parts[1].sort_values("party", kind="stable").reset_index(drop=True)
    parts[2] = parts[2].sort_values("party", ascending=False, kind="stable").reset_index(drop=True)
    path = tmp_path / f"parts-{family}.parquet"
    schema = pa.Table.from_pandas(parts[0], preserve_index=False).schema
    with pq.ParquetWriter(path, schema) as writer:
        for part in parts:
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))
    plan = plan_scoring(spec, _options(settings, chunk_rows=300), str(path), alias=f"fast_{family}")
    model = load_model(plan, plan.version, plan.run_id)
    compiled = model.compiled
    calls = []
    transform = compiled.encoder.transform
    compiled.encoder.transform = lambda small: calls.append(len(small)) or transform(small)
    reasons, met, orders = Reasons(), {}, []
    for frame_chunk in iter_chunks(plan, 0):
        factors: dict = {}
        X, codes, _ = check_chunk(frame_chunk, plan, model, reasons, factors)
        ok = codes == 0
        factors_ok = {c: (row_codes[ok], uniques) for c, (row_codes, uniques) in factors.items()}
        before = len(calls)
        fast = compiled.predict(X.loc[ok], factors_ok)
        encoded = len(calls) - before  # (the pipeline below runs the same encoder on every row)
        plain = model.pipeline.predict_proba(plain_frame(X.loc[ok]))[:, 1]
        assert np.max(np.abs(fast - plain)) <= FAST_TOLERANCE
        new = {c for c, (_, uniques) in factors.items() if set(uniques) - met.setdefault(c, set())}
        for c, (_, uniques) in factors.items():
            met[c] |= set(uniques)
        assert encoded == (1 if new else 0), (new, calls)
        orders.append(list(factors["party"][1]))
    assert len(orders) == 3 and set(orders[1]) - set(orders[0])  # the second part brought new parties
    assert orders[1] == sorted(orders[1]) and orders[2] == sorted(orders[2], reverse=True)
    assert calls[0] < 20  # the compiled path hands the encoder distinct values, not the chunk's 300 rows


def test_a_compiled_path_that_disagrees_is_not_used(env, settings, tmp_path, monkeypatch):
    """A wrong compiled step (here: a shifted scaler) is caught on the first chunk; the plain path scores."""
    spec = env["spec"]
    family = CANDIDATE_FAMILIES[0]
    frame = _messy(spec, 300, 33)
    path = tmp_path / "fast-broken.parquet"
    frame.to_parquet(path, index=False)
    real_compile = compile_pipeline

    def shifted(pipeline, checks):
        compiled = real_compile(pipeline, checks)
        return dataclasses.replace(compiled, mean=compiled.mean + 0.5)

    monkeypatch.setattr(fastpath, "compile_pipeline", shifted)
    options = _options(settings)
    result = score_snapshot(spec, options, str(path), snapshot="fast-broken", alias=f"fast_{family}")
    manifest = json.loads(Path(result["manifest"]).read_text())
    assert manifest["fast_path"]["served"]["fast"] is False
    assert manifest["fast_path"]["served"]["max_diff"] > FAST_TOLERANCE
    assert any("plain sklearn path" in n for n in manifest["notes"])
    # the scores are the pipeline's own
    monkeypatch.setattr(fastpath, "compile_pipeline", real_compile)
    plan = plan_scoring(spec, options, str(path), alias=f"fast_{family}")
    model = load_model(plan, plan.version, plan.run_id)
    X, codes, _ = check_chunk(next(iter_chunks(plan, 0)), plan, model, Reasons())
    expected = model.pipeline.predict_proba(plain_frame(X.loc[codes == 0]))[:, 1]
    out = pd.read_parquet(Path(result["folder"]) / "predictions").set_index("row").sort_index()
    assert np.allclose(out.loc[codes == 0, "champion_score"].to_numpy(), expected, rtol=0, atol=1e-12)


def test_prefetch_hands_on_the_reader_error_and_keeps_order():
    def chunks():
        yield 1
        yield 2
        raise ValueError("broken file")

    seen = []
    with pytest.raises(ValueError, match="broken file"):
        for item in run._prefetch(chunks()):
            seen.append(item)
    assert seen == [1, 2]
    # a consumer that stops early does not leave the reader hanging
    stream = run._prefetch(iter(range(100)))
    assert next(stream) == 0
    stream.close()


@pytest.mark.parametrize("family", CANDIDATE_FAMILIES)
def test_a_chunk_whose_allowed_missing_column_is_all_none_scores_as_missing(env, settings, tmp_path, family):
    """Rows from a SQL cursor carry None for NULL. A chunk where an allowed-missing category column is NULL
    on every row scores as missing (NaN, what the encoder learned), the same on both paths."""
    spec = env["spec"]
    frame = _messy(spec, 300, 34).iloc[30:].reset_index(drop=True)  # the rows that pass every check
    frame.to_parquet(tmp_path / "input.parquet", index=False)
    plan = plan_scoring(spec, _options(settings), str(tmp_path / "input.parquet"), alias=f"fast_{family}")
    as_sql = frame.copy()
    for column in spec.categorical:  # text as a cursor hands it over: object values, None for NULL
        as_sql[column] = frame[column].astype(object).where(frame[column].notna(), None)
    as_sql["income_bracket"] = None
    as_nan = frame.copy()  # missing text as pandas reads it from a file
    as_nan["income_bracket"] = pd.Series([np.nan] * len(frame), dtype=object)
    worst, rows = _compare(plan, [as_sql])
    assert rows == len(frame) and worst <= FAST_TOLERANCE
    model = load_model(plan, plan.version, plan.run_id)
    scored = []
    for chunk in (as_sql, as_nan):
        X, codes, _ = check_chunk(chunk, plan, model, Reasons(), {})
        assert (codes == 0).all() and X["income_bracket"].isna().all()
        scored.append(model.pipeline.predict_proba(plain_frame(X))[:, 1])
    np.testing.assert_array_equal(scored[0], scored[1])


def test_predict_split_over_threads_equals_one_call(env, settings, tmp_path, monkeypatch):
    spec = env["spec"]
    frame = simulate_window(spec, "stable", 30_000, 34).drop(columns=[spec.target])
    path = tmp_path / "fast-split.parquet"
    frame.to_parquet(path, index=False)
    family = CANDIDATE_FAMILIES[-1]
    plan = plan_scoring(spec, _options(settings), str(path), alias=f"fast_{family}")
    model = load_model(plan, plan.version, plan.run_id)
    factors: dict = {}
    X, _, _ = check_chunk(next(iter_chunks(plan, 0)), plan, model, Reasons(), factors)
    Z = model.compiled.matrix(X, factors)
    monkeypatch.setenv("MODELOPS_SCORING_THREADS", "1")
    one = predict_rows(model.compiled.estimator, Z)
    monkeypatch.setenv("MODELOPS_SCORING_THREADS", "3")
    split = predict_rows(model.compiled.estimator, Z)
    assert len(one) == len(split) == len(X) >= fastpath._SPLIT_MIN_ROWS
    assert np.max(np.abs(one - split)) <= 1e-12


@pytest.mark.parametrize("calibrated", [True, False])
@pytest.mark.parametrize("family", [*CANDIDATE_FAMILIES])
def test_columns_no_tree_reads_stay_zero_and_change_no_score(settings, family, calibrated):
    """Small trees split on a few columns: the compiled matrix skips the rest, the scores stay the pipeline's.

    Our training calibrates every model; a registered pipeline without calibration compiles too.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline

    from modelops.collect.labels import target_vector
    from modelops.train.features import build_preprocessor
    from modelops.train.training import make_estimator

    spec = settings.dataset(DATASET)
    frame = simulate_window(spec, "stable", 3000, 35)
    small = {
        "logistic_regression": {"C": 1.0},
        "hist_gradient_boosting": {"max_iter": 3, "max_leaf_nodes": 2},
        "random_forest": {"n_estimators": 2, "max_depth": 2},
    }[family]
    model = make_estimator(family, small, seed=0)
    model = CalibratedClassifierCV(model, cv=2) if calibrated else model
    pipeline = Pipeline([("features", build_preprocessor(spec)), ("model", model)])
    pipeline.fit(frame[spec.features], target_vector(frame, spec))
    compiled = compile_pipeline(pipeline, compile_checks(spec))
    assert compiled is not None
    X = frame[spec.features]
    Z = compiled.matrix(X)
    if family == "logistic_regression":
        assert compiled.used is None  # a linear model reads every column
    else:
        assert compiled.used is not None and 0 < compiled.used.sum() < Z.shape[1] / 2
        assert not Z[:, ~compiled.used].any()  # skipped: left zero
        assert np.isfinite(Z[:, compiled.used]).all()
    plain = pipeline.predict_proba(X)[:, 1]
    assert np.max(np.abs(compiled.predict(X) - plain)) <= FAST_TOLERANCE
    # chunks of one size refill one matrix: each is scored from its own rows, never the previous chunk's
    halves = [(X.iloc[:1500], plain[:1500]), (X.iloc[1500:], plain[1500:])]
    for part, expected in [*halves, halves[0]]:
        assert np.max(np.abs(compiled.predict(part) - expected)) <= FAST_TOLERANCE
    assert compiled.buffer is not None and compiled.buffer.shape[0] == 1500


_SLICE_CASES = {  # real-shaped slice columns: ages with bins, codes that gained gaps, text, categoricals
    "ages": (lambda rng, n: pd.Series(rng.integers(18, 90, n)), [18, 30, 45, 65, 200]),
    "ages_with_gaps_and_outliers": (
        lambda rng, n: pd.Series(np.where(rng.random(n) < 0.1, np.nan, rng.integers(10, 99, n).astype(float))),
        [18, 30, 45, 65],
    ),
    "text_with_blanks": (lambda rng, n: pd.Series(rng.choice(["DEM", "REP", None, "UNA"], n)), None),
    "codes_now_float": (
        lambda rng, n: pd.Series(np.where(rng.random(n) < 0.1, np.nan, rng.integers(1, 4, n).astype(float))),
        None,
    ),
    "categorical": (lambda rng, n: pd.Series(rng.choice(["x", "y", None], n)).astype("category"), None),
    "categorical_declaring_more": (
        lambda rng, n: pd.Series(pd.Categorical(rng.choice(["x", "y"], n), categories=["x", "y", "z"])),
        None,
    ),
    "all_missing_binned": (lambda rng, n: pd.Series([np.nan] * n), [0, 10]),
    "all_missing_text": (lambda rng, n: pd.Series([None] * n, dtype="str"), None),
    "flags": (lambda rng, n: pd.Series(rng.random(n) < 0.5), None),
    "nullable_ints": (
        lambda rng, n: pd.Series(pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 3, n)), dtype="Int64")),
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(_SLICE_CASES))
def test_slice_codes_give_every_row_the_label_slice_labels_gives(case):
    """The shadow report labels distinct values only; each row must still get drift.slice_labels' label."""
    from modelops.stats.drift import slice_labels

    make, bins = _SLICE_CASES[case]
    values = make(np.random.default_rng(7), 3000)
    codes, labels = agreement._slice_codes(values, bins)
    assert codes.min() >= 0 and codes.max() < len(labels)
    expected = slice_labels(pd.DataFrame({"c": values}), "c", bins).to_numpy()
    assert (np.array(labels, dtype=object)[codes] == expected).all()


def test_trees_numbering_their_own_column_subsets_build_every_column():
    """Bagged trees each see a subset of the columns: their split numbers are not the matrix's: skip nothing."""
    from sklearn.ensemble import BaggingClassifier
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 12))
    y = (X[:, 0] + X[:, 5] > 0).astype(int)
    bagged = BaggingClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=4, max_features=0.5, random_state=0)
    bagged.fit(X, y)
    assert fastpath._features_used(bagged, 12) is None

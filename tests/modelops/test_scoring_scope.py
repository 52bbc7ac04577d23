"""Scoring's scope, end to end with a real survey model: the permitted use on every output (manifest, Parquet
metadata, PostgreSQL rows, MLflow tag) and a refused use writing nothing; the survey model scoring another
dataset's snapshot through a column map (the same scores as the un-renamed rows); the new-registrant policies
on rows known in advance."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import run_training, use_workspace

from modelops.config.settings import DEFAULT_CONFIG_PATH, REPO_ROOT, parse_settings
from modelops.config.uses import UseRefused
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.score.checks import baseline_scores
from modelops.score.output import USE_METADATA_KEY
from modelops.score.snapshot import score_snapshot
from modelops.store import artifacts, registry, tracking

pytestmark = pytest.mark.slow  # trains a real model against an MLflow store

SURVEY = "anes96_vote"
RENAMED = {"PID": "party_code", "educ": "education_level", "selfLR": "ideology", "age": "age_years"}
NEW_ROWS = [0, 5, 17, 40, 41, 99]  # the rows made new registrants (years_registered 0)


def _raw(fallback_share: float = 0.05, **survey_scoring) -> dict:
    """The bundled file, a voter-file-like dataset `voters` (the survey's columns under other names) and the
    survey's own scoring keys."""
    raw = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()))
    raw["datasets"]["voters"] = {
        "source": {"kind": "file", "path": "{raw}/voters.csv"},
        "id_column": "vid",
        "target": "turned_out",
        "numeric": ["popul", "TVnews", "ideology", "ClinLR", "DoleLR", "age_years", "income", "years_registered"],
        "categorical": ["party_code", "education_level"],
        "permitted_uses": ["turnout_contact"],
    }
    raw["datasets"][SURVEY]["permitted_uses"] = ["research", "teaching"]
    raw["datasets"][SURVEY]["scoring"] = {"input_roots": ["/"], "shadow": False, **survey_scoring}
    raw["monitoring"]["fallback_share"] = fallback_share
    return raw


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The survey's champion in a module-wide workspace and MLflow store."""
    root = tmp_path_factory.mktemp("scoring-scope") / "workspace"
    with pytest.MonkeyPatch.context() as patch:
        use_workspace(patch, root)
        settings = parse_settings(_raw())
        done = run_training(settings, SURVEY, "scope-v1")
        if done["outcome"]["alias"] != registry.CHAMPION:
            registry.set_alias(
                settings.dataset(SURVEY).model_name,
                registry.CHAMPION,
                done["outcome"]["version"],
                "tests",
                "scope",
                None,
            )
        yield {"root": root}


@pytest.fixture
def env(store, monkeypatch):
    use_workspace(monkeypatch, store["root"])
    return store


def _survey_rows() -> pd.DataFrame:
    """The survey's own rows without the outcome, one out of range (it falls back by the model's column name)."""
    frame = pd.read_csv(REPO_ROOT / "include" / "data" / "anes96.csv").drop(columns=["vote"]).head(120)
    frame.loc[3, "age"] = 150
    frame["years_registered"] = 4.0
    frame.loc[NEW_ROWS, "years_registered"] = 0.0
    frame.loc[7, "years_registered"] = np.nan  # unknown: no new registrant
    return frame


def _predictions(result) -> pd.DataFrame:
    return pd.read_parquet(Path(result["folder"]) / "predictions").set_index("id").sort_values("row")


def _write(frame: pd.DataFrame, dataset: str, snapshot: str) -> None:
    path = catalog.snapshot_inputs(dataset, snapshot)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)


def test_a_use_not_permitted_is_refused_before_any_work(workspace):
    settings = parse_settings(_raw())
    _write(_survey_rows(), SURVEY, "2028-10-01")
    # an empty store: the refusal comes before any model is looked up
    with pytest.raises(UseRefused) as refused:
        score_snapshot(settings.dataset(SURVEY), settings, snapshot="2028-10-01", use="persuasion")
    assert str(refused.value).startswith("dataset 'anes96_vote' permits uses [research, teaching]; 'persuasion'")
    assert not catalog.scoring_dir(SURVEY).exists()


def test_the_use_is_carried_on_every_output(env, tmp_path, pg_url):
    import sqlalchemy as sa

    table = f"scope_use_{abs(hash(str(tmp_path))) % 10**8}"
    settings = parse_settings(_raw(output_table=table))
    spec = settings.dataset(SURVEY)
    _write(_survey_rows(), SURVEY, "use-1")
    engine = sa.create_engine(pg_url)
    try:
        result = score_snapshot(spec, settings, snapshot="use-1", output_url=pg_url, use="teaching")
        with engine.connect() as connection:
            used = connection.execute(sa.text(f"select permitted_use, count(*) from {table} group by 1")).all()
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"drop table if exists {table}"))
        engine.dispose()
    assert used == [("teaching", 120)]
    assert catalog.read_json(Path(result["manifest"]))["permitted_use"] == "teaching"
    part = next((Path(result["folder"]) / "predictions").glob("*.parquet"))
    assert pq.read_schema(part).metadata[USE_METADATA_KEY] == b"teaching"
    assert set(pd.read_parquet(part)["permitted_use"].astype(str)) == {"teaching"}
    assert tracking.client().get_run(result["mlflow_run_id"]).data.tags[Tag.PERMITTED_USE] == "teaching"
    default = score_snapshot(spec, parse_settings(_raw()), snapshot="use-1")  # no use asked: the first permitted
    assert catalog.read_json(Path(default["manifest"]))["permitted_use"] == "research"


def test_a_population_scored_through_the_column_map_gets_the_survey_rows_scores(env):
    plain = parse_settings(_raw())
    frame = _survey_rows()
    _write(frame, SURVEY, "direct")
    direct = _predictions(score_snapshot(plain.dataset(SURVEY), plain, snapshot="direct"))

    mapped = parse_settings(_raw(population={"dataset": "voters", "columns": RENAMED}))
    voters = frame.rename(columns={**RENAMED, "respondent_id": "vid"})
    voters = voters[list(reversed(voters.columns))]  # another column order too
    _write(voters, "voters", "2028-10-01")  # the voter file's own snapshot, by its id
    result = score_snapshot(mapped.dataset(SURVEY), mapped, snapshot="2028-10-01")
    out = _predictions(result)

    assert result["rows"] == len(frame) == len(out)  # rows in = rows out
    assert out.index.tolist() == frame["respondent_id"].tolist()  # the population's id is the output's id
    assert np.allclose(out["score"], direct["score"], rtol=0, atol=1e-12)
    assert out["source"].astype(str).tolist() == direct["source"].astype(str).tolist()
    assert out.loc["R0004", "reason"] == direct.loc["R0004", "reason"] == "out_of_range:age"  # the model's name
    manifest = catalog.read_json(Path(result["manifest"]))
    assert manifest["population"] == "voters" and manifest["dataset"] == SURVEY
    assert manifest["input"] == str(catalog.snapshot_inputs("voters", "2028-10-01").resolve())


def _score(raw: dict, snapshot: str) -> dict:
    """Score a snapshot of the survey with the settings `raw` describes (its spec carries the dataset's keys)."""
    settings = parse_settings(raw)
    return score_snapshot(settings.dataset(SURVEY), settings, snapshot=snapshot)


def _policy(policy: str, **rule) -> dict:
    return {"new_registrants": {"column": "years_registered", "max_value": 0, "policy": policy, **rule}}


def test_each_new_registrant_policy_on_known_rows(env):
    frame = _survey_rows()
    _write(frame, SURVEY, "reg")
    ids = frame["respondent_id"]
    new_ids = ids[NEW_ROWS].tolist()
    others = ids[~ids.isin(new_ids)].tolist()
    plain = parse_settings(_raw())
    today = _predictions(score_snapshot(plain.dataset(SURVEY), plain, snapshot="reg"))
    spec = plain.dataset(SURVEY)

    fixed_settings = parse_settings(_raw(fallback_share=0.01, **_policy("fixed", score=0.37)))
    fixed_result = score_snapshot(fixed_settings.dataset(SURVEY), fixed_settings, snapshot="reg")
    fixed = _predictions(fixed_result)
    assert (fixed.loc[new_ids, "score"] == 0.37).all() and not fixed.loc[new_ids, "decision"].any()
    assert set(fixed.loc[new_ids, "reason"].astype(str)) == {"new_registrant"}
    assert set(fixed.loc[new_ids, "source"].astype(str)) == {"fallback"}
    # the rest as today: the same model on the same rows (up to the last bit of a float: the batch the model
    # sees is smaller, and a matrix product of another shape may round its last bit differently)
    np.testing.assert_allclose(fixed.loc[others, "score"], today.loc[others, "score"], rtol=1e-12, atol=0)
    manifest = catalog.read_json(Path(fixed_result["manifest"]))
    assert manifest["new_registrants"] == {
        "policy": "fixed",
        "column": "years_registered",
        "rows": 6,
        "sources": {"model": 0, "fallback": 6, "canary": 0},
    }
    assert manifest["fallback_reasons"]["new_registrant"] == 6
    # 7 fallback rows of 120, above fallback_share 1%: only the out-of-range row is a failure, and 1 of 120 is not
    assert not any("rule-based fallback" in a for a in manifest["alerts"])

    fallback = _predictions(_score(_raw(**_policy("fallback")), "reg"))
    version = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    baseline = artifacts.load_baseline(spec.model_name, str(version.version), version.run_id)
    rule_scores = baseline_scores(frame.set_index("respondent_id").loc[new_ids], baseline)
    assert fallback.loc[new_ids, "score"].tolist() == rule_scores.tolist()  # the baseline rule's decision
    assert set(fallback.loc[new_ids, "reason"].astype(str)) == {"new_registrant"}
    assert fallback.loc[new_ids, "decision"].tolist() == (rule_scores >= 0.5).tolist()

    model_result = _score(_raw(**_policy("model")), "reg")
    served = _predictions(model_result)
    assert served.loc[new_ids, "score"].tolist() == today.loc[new_ids, "score"].tolist()
    assert set(served.loc[new_ids, "source"].astype(str)) == {"model"}
    assert set(served.loc[new_ids, "reason"].astype(str)) == {"new_registrant"}
    assert served.loc[others, "reason"].isna().sum() == len(others) - 1  # R0004 keeps out_of_range:age
    assert catalog.read_json(Path(model_result["manifest"]))["fallback_reasons"] == {"out_of_range:age": 1}

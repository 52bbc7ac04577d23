"""Model cards: a real pipeline trained on a survey-shaped frame built here, then its card read back.

The frame has a known answer: `signal` drives the outcome, `noise` does not, respondents in the
`island` region answer against the trend (the model errs there), and a PII column holds names that
must never reach a card.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_training

from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, METRICS, DatasetSpec, load_settings
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.evaluate.evaluation import bootstrap_metrics, weighted_metrics
from modelops.govern import card_facts, cards
from modelops.pipelines.training_summary import render_summary
from modelops.stats.metrics import compute_metrics
from modelops.store import registry, tracking

pytestmark = pytest.mark.slow  # trains real models against an MLflow store: too slow for `make test-fast`

N = 2400
PII_NAME = "Zebulon Quixwright"  # a value of the PII column: it must appear in no card
MODEL = "survey_card_model"
SECTIONS = (
    "## At a glance",
    "## Intended use and limitations",
    "## Data",
    "## Features and their roles",
    "## Metrics on the holdout",
    "## Champion comparison and decision",
    "## Protected slices",
    "## Fairness",
    "## Calibration",
    "## Explanations",
    "## What each feature earns and costs",
    "## Where the model errs most",
    "## Forecast and backtest",
    "## Score decay",
    "## Offline and online metrics",
    "## Candidates",
    "## Lineage",
    "## Hyperparameter search",
)


def _survey(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "resp_id": [f"S{seed}-{i:05d}" for i in range(n)],
            "full_name": [PII_NAME if i % 3 == 0 else f"Person {i}" for i in range(n)],
            "age": rng.integers(18, 90, n).astype(float),
            "signal": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "contacts": rng.integers(0, 6, n),  # an integer feature that matters a little
            "region": rng.choice(["north", "south", "east", "island"], n, p=[0.3, 0.3, 0.3, 0.1]),
            "gender": rng.choice(["F", "M"], n),
        }
    )
    frame.loc[frame.index[::25], "age"] = np.nan  # gaps, as real extracts have
    logit = 2.5 * frame["signal"] + 0.5 * (frame["contacts"] - 2.5)
    logit = np.where(frame["region"] == "island", -logit, logit)  # the trend reverses on the island
    frame["vote"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[frame.index[1::40], "vote"] = np.nan  # unlabelled rows: counted, never evaluated
    return frame


def _config(tmp_path: Path, csv: Path, max_useless_features: int | None = None) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["evaluation"]["max_useless_features"] = max_useless_features
    config.pop("forecasts", None)  # the bundled forecast is built on the bundled datasets replaced here
    config["datasets"] = {
        "survey_card": {
            "description": "A survey built in the test.",
            "intended_use": "Checking that model cards say what they should.",
            "owner": "Card tests",
            "limitations": ["Built in a test; says nothing about real voters."],
            "source": {"kind": "file", "path": str(csv)},
            "id_column": "resp_id",
            "target": "vote",
            "numeric": ["age", "signal", "noise", "contacts"],
            "categorical": ["region", "gender"],
            "protected": {"gender": None, "age": [18, 30, 45, 65, 120]},
            "pii": ["full_name"],
            "permitted_uses": ["research"],
            "baseline_rule": {"all": [{"column": "signal", "op": ">", "value": 0}]},
            "validation": {"row_count": [100, 1_000_000], "null_fraction": {"default": 0.0, "age": 0.1}},
        }
    }
    config["default_dataset"] = "survey_card"
    path = tmp_path / "cards.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One workspace for the module: v1 trained and carded."""
    mp = pytest.MonkeyPatch()
    root = tmp_path_factory.mktemp("cards")
    mp.setenv("MODELOPS_HOME", str(root / "workspace"))
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'workspace' / 'mlflow' / 'mlflow.db'}")
    mp.delenv("MODELOPS_DB_URL", raising=False)
    _survey(N, seed=1).to_csv(root / "survey.csv", index=False)
    settings = load_settings(_config(root, root / "survey.csv"))
    done = run_training(settings, "survey_card", "card-1")
    summary = cards.build_card(MODEL, done["outcome"]["version"], settings)
    yield {"root": root, "settings": settings, "done": done, "summary": summary}
    mp.undo()


def _texts(summary: dict) -> tuple[str, str, dict]:
    md = Path(summary["card_md"]).read_text()
    page = Path(summary["card_html"]).read_text()
    data = json.loads((Path(summary["card_md"]).parent / "card.json").read_text())
    return md, page, data


def test_card_has_every_section_and_the_numbers_of_the_version(trained):
    summary, done = trained["summary"], trained["done"]
    md, page, data = _texts(summary)
    for section in SECTIONS:
        assert section in md, section
        assert f"<h2>{section[3:]}</h2>" in page, section
    assert summary["version"] == "1" and summary["dataset"] == "survey_card"
    assert f"aliases at writing ({data['generated_at']}): " in md and "aliases now:" not in md
    assert Path(summary["card_md"]).parent == catalog.card_dir("survey_card", MODEL, "1")
    tags = registry.model_version(MODEL, "1").tags
    assert tags["modelops.data_hash"] in md and tags["modelops.batch_path"] in md
    labels = done["plan"]["labels"]
    assert labels["unlabelled"] == N // 40 and f"| rows unlabelled (never trained on or evaluated) | {N // 40} |" in md
    assert f"| rows labelled | {labels['labelled']} |" in md
    assert "Checking that model cards say what they should." in md and "Owner: Card tests" in md
    assert "Built in a test; says nothing about real voters." in md
    assert "| full_name | PII: dropped at collection" in md  # the column's name, never its values
    # metrics: the card recomputes the report's numbers, each inside its own interval
    for name in METRICS:
        m = data["metrics"][name]
        assert m["value"] == pytest.approx(done["report"]["metrics"][name], abs=1e-9), name
        assert m["ci_low"] <= m["value"] <= m["ci_high"], name
        assert m["ci_high"] - m["ci_low"] > 0, name
    auc = data["metrics"]["roc_auc"]
    assert f"| roc_auc | {auc['value']:.3f} | {auc['ci_low']:.3f} | {auc['ci_high']:.3f} |" in md
    assert summary["value"] == auc["value"] and summary["ci_low"] == auc["ci_low"]
    # explanations: the informative column ranks above the noise, and gets a partial-dependence curve
    ranked = [r["feature"] for r in data["importance"]]
    assert ranked[0] == "signal" and ranked.index("signal") < ranked.index("noise")
    assert data["importance"][0]["importance"] > 0.1 > abs(data["importance"][ranked.index("noise")]["importance"])
    curves = [c["feature"] for c in data["partial_dependence"]]
    assert curves[:2] == ["signal", "contacts"] and curves == ranked[: len(curves)] and "noise" not in curves
    contacts = data["partial_dependence"][1]
    assert contacts["grid"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0] and contacts["average"][-1] > contacts["average"][0]
    assert summary["top_features"] == curves and "Relies most on (drop in roc_auc when shuffled): signal (" in md
    signal_curve = data["partial_dependence"][0]
    assert signal_curve["average"][-1] > signal_curve["average"][0]  # more signal, more likely
    # the segment where the trend reverses is where the model errs most
    worst = data["segments"]["worst"][0]
    assert (worst["column"], worst["segment"]) == ("region", "island")
    assert worst["log_loss"] > data["segments"]["overall"]["log_loss"]
    assert summary["worst_segment"] == "region = island"
    assert "Errs most on region = island" in md
    # calibration, no champion, and the training's fairness results per protected column
    assert len(data["calibration"]["bins"]) == card_facts.CALIBRATION_BINS
    assert "no champion when this version was evaluated" in md
    assert "### By gender" in md and "### By age" in md and "Demographic parity difference" in md
    assert summary["fairness"] in {"passed"} or summary["fairness"].startswith("breached")
    assert f"- Fairness: {summary['fairness']}." in md
    # the HTML stands alone: every figure embedded; the Markdown's figures sit beside it
    assert page.count("data:image/png;base64,") == 2 + len(curves)
    assert "src='http" not in page and 'src="http' not in page
    for name in ("calibration.png", "importance.png", "pd_1.png"):
        assert f"]({name})" in md and (Path(summary["card_md"]).parent / name).stat().st_size > 1000


def test_the_drop_one_check_flags_the_noise_in_the_record_the_summary_and_the_card(trained):
    done, summary = trained["done"], trained["summary"]
    checked = done["report"]["feature_value"]
    by_feature = {r["feature"]: r for r in checked["features"]}
    assert set(by_feature) == {"age", "signal", "noise", "contacts", "region", "gender"}
    assert by_feature["noise"]["useless"] and not by_feature["signal"]["useless"]
    assert by_feature["signal"]["ci_low"] > 0.1 and by_feature["noise"]["ci_low"] <= 0
    assert "useless_features" not in {c["check"] for c in done["report"]["verdict"]["checks"]}  # null: report only
    # recorded with the run and the version
    parent = tracking.client().get_run(done["plan"]["parent_run_id"])
    assert parent.data.metrics["useless_features"] == len(checked["useless"])
    assert registry.model_version(MODEL, "1").tags[Tag.USELESS_FEATURES] == ",".join(checked["useless"])
    # the training summary warns
    text = render_summary(done["batch"].to_xcom(), done["validation"].to_xcom(), done["plan"], done["report"],
                          done["outcome"])  # fmt: skip
    warning = next(line for line in text.splitlines() if "earn no place" in line)
    assert warning.startswith("  warning   ") and "noise" in warning and "signal" not in warning
    # the card: one table beside the costs on the compiled path
    md, page, data = _texts(summary)
    table = data["feature_value"]
    assert sum(r["time_share"] for r in table["features"]) == pytest.approx(1.0)
    assert sum(r["memory_share"] for r in table["features"]) == pytest.approx(1.0)
    assert "| feature | roc_auc gain | CI low | CI high | time share | memory share | useless |" in md
    section = md.split("## What each feature earns and costs")[1].split("\n## ")[0].splitlines()
    assert next(line for line in section if line.startswith("| noise | ")).endswith(" | yes |")
    assert next(line for line in section if line.startswith("| signal | ")).endswith(" | no |")
    assert "<h2>What each feature earns and costs</h2>" in page


def test_a_limit_on_useless_features_refuses_the_version(workspace, tmp_path):
    _survey(N, seed=1).to_csv(tmp_path / "survey.csv", index=False)
    settings = load_settings(_config(tmp_path, tmp_path / "survey.csv", max_useless_features=0))
    done = run_training(settings, "survey_card", "card-strict")
    verdict = done["report"]["verdict"]
    assert verdict["promote"] is False and done["outcome"]["alias"] == registry.CHALLENGER
    refusal = next(r for r in verdict["reasons"] if "drop-one" in r)
    assert refusal.startswith("FAIL ") and "at most 0 allowed: " in refusal and "noise" in refusal


def test_card_reports_the_search_space_every_config_and_the_choices(trained):
    md, _, data = _texts(trained["summary"])
    settings = trained["settings"]
    (fact,) = data["search"]  # one candidate family trained
    search = fact["search"]
    assert fact["candidate"] == "logistic_regression"
    assert search["space"] == settings.search_spaces["logistic_regression"]
    chosen = search["best_params"]
    assert {"C", "prep__min_frequency", "prep__imputer_strategy"} <= set(chosen)
    assert "### logistic_regression" in md
    for name in settings.search_spaces["logistic_regression"]:
        assert re.search(rf"\| {name} \| (log-uniform|choice of) [^|]+ \| {re.escape(str(chosen[name]))[:6]}", md), name
    # every configuration tried, per round, with its validation score
    rows = [line for line in md.splitlines() if line.startswith("| ") and "prep__imputer_strategy=" in line]
    assert len(rows) == len(search["trace"]) >= settings.training.search.n_configs - 1
    assert {row["round"] for row in search["trace"]} == set(range(search["rounds"]))
    calibration = search["calibration"]
    assert calibration["method"] in {"sigmoid", "isotonic"} and set(calibration["log_loss"]) == {"sigmoid", "isotonic"}
    assert f"calibration {calibration['method']}, chosen by the lower mean held-out log loss over 3" in md
    model = registry.model_version(MODEL, "1")
    params = tracking.client().get_run(model.run_id).data.params
    assert params["calibration_method"] == calibration["method"]
    assert params["param_prep__min_frequency"] == str(chosen["prep__min_frequency"])


def test_a_new_version_says_it_has_no_forecast_and_only_its_holdout_by_age(trained):
    md, page, data = _texts(trained["summary"])
    auc = data["metrics"]["roc_auc"]
    assert "## Forecast and backtest" in md and "No published forecast used this version's scores yet" in md
    assert "<h2>Score decay</h2>" in page and "No labelled monitoring window of this version yet" in md
    assert f"only the holdout is known (roc_auc {auc['value']:.3f}, CI {auc['ci_low']:.3f} to" in md
    decay = data["served"]["decay"]
    assert decay["holdout"]["value"] == auc["value"] and decay["windows"] == [] and data["served"]["forecasts"] == []
    assert "decay.png" not in md  # no chart of a single point
    assert "## Offline and online metrics" in md and "<h2>Offline and online metrics</h2>" in page
    assert "No labelled monitoring window of this version yet: its roc_auc is known on the holdout only." in md
    assert "across versions: not enough versions: 0 with both figures, 3 needed." in md
    assert data["offline_online"]["versions"] == [] and data["offline_online"]["metric"] == "roc_auc"


def test_no_pii_value_reaches_the_card_or_its_logged_copies(trained):
    md, page, data = _texts(trained["summary"])
    for text in (md, page, json.dumps(data)):
        assert PII_NAME not in text and "Person 1" not in text
    logged = tracking.client().download_artifacts(registry.model_version(MODEL, "1").run_id, "model_card")
    for path in Path(logged).iterdir():
        if path.suffix in {".md", ".html", ".json"}:
            assert PII_NAME not in path.read_text()


def test_card_is_logged_with_the_version_and_linked_from_its_tags(trained):
    summary = trained["summary"]
    version = registry.model_version(MODEL, "1")
    assert version.tags[Tag.CARD] == summary["artifact_uri"] == f"runs:/{version.run_id}/model_card/card.html"
    assert version.tags[Tag.CARD_PATH] == summary["card_html"]
    names = {Path(a.path).name for a in tracking.client().list_artifacts(version.run_id, "model_card")}
    assert {"card.md", "card.html", "card.json", "calibration.png", "importance.png"} <= names
    import mlflow.artifacts

    local = mlflow.artifacts.download_artifacts(summary["artifact_uri"])
    assert Path(local).read_text() == Path(summary["card_html"]).read_text()


def test_on_demand_card_of_an_older_version_rebuilds_its_holdout(trained, capsys):
    settings = trained["settings"]
    # v2 from a second wave of respondents added to the first: a newer version, maybe the champion
    wave = _survey(1200, seed=2)
    wave.drop(columns="full_name").to_parquet(trained["root"] / "wave2.parquet")
    second = run_training(settings, "survey_card", "card-2", extra=[str(trained["root"] / "wave2.parquet")])
    assert second["outcome"]["version"] == "2"
    v2 = cards.build_card(MODEL, "2", settings)
    assert "Against champion v1" in Path(v2["card_md"]).read_text()
    first_card = Path(trained["summary"]["card_md"]).read_text()
    # the split files are gone: v1's card is remade from its recorded batch, by the training's split
    shutil.rmtree(catalog.root() / "splits")
    before = json.loads((Path(trained["summary"]["card_md"]).parent / "card.json").read_text())
    cards.main([MODEL, "1"])
    assert "survey_card_model v1:" in capsys.readouterr().out
    md, _, data = _texts(trained["summary"])
    assert "| holdout read from | rebuilt from batch" in md
    assert data["metrics"] == before["metrics"]  # the same rows: the same numbers and intervals
    assert data["importance"] == before["importance"]
    assert [line for line in md.splitlines() if line.startswith("## ")] == list(SECTIONS)
    assert (
        first_card.split("## Data")[1].split("holdout read from")[0]
        == md.split("## Data")[1].split("holdout read from")[0]
    )
    # rerunning replaced the card: one folder, one set of logged files, tags still on v1
    folder = catalog.card_dir("survey_card", MODEL, "1")
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1", "2"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    assert registry.model_version(MODEL, "1").tags[Tag.CARD_PATH] == str(folder / "card.html")
    assert registry.model_version(MODEL, "2").tags[Tag.CARD_PATH] == v2["card_html"]
    # an alias names a version too
    assert cards.resolve_version(MODEL, "champion") == str(registry.version_by_alias(MODEL, "champion").version)
    with pytest.raises(cards.CardError, match="no version or alias 'nightly'"):
        cards.resolve_version(MODEL, "nightly")
    with pytest.raises(cards.CardError, match="has no version '9'"):
        cards.build_card(MODEL, "9", settings)


def test_without_splits_or_batch_the_card_says_why(trained, tmp_path):
    settings = trained["settings"]
    tags = registry.model_version(MODEL, "1").tags
    batch = Path(tags["modelops.batch_path"])
    shutil.rmtree(catalog.root() / "splits", ignore_errors=True)
    moved = tmp_path / "batch.parquet"
    shutil.move(batch, moved)
    try:
        with pytest.raises(cards.CardError, match="are both gone"):
            cards.build_card(MODEL, "1", settings)
    finally:
        shutil.move(moved, batch)


# --- pure parts ---------------------------------------------------------------------------------


def test_weighted_metrics_equal_compute_metrics_on_unit_and_resample_weights():
    rng = np.random.default_rng(3)
    proba = np.round(rng.random(3000), 2)  # ties, as tree models give
    y = (rng.random(3000) < proba).astype(int)
    once = weighted_metrics(y, proba, np.ones((1, len(y))), 0.5)
    for name, value in compute_metrics(y, proba, 0.5).items():
        assert once[name][0] == pytest.approx(value, abs=1e-12), name
    counts = np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y))
    rows = np.repeat(np.arange(len(y)), counts)
    resampled = weighted_metrics(y, proba, counts[None, :], 0.5)
    for name, value in compute_metrics(y[rows], proba[rows], 0.5).items():
        assert resampled[name][0] == pytest.approx(value, abs=1e-12), name


def test_bootstrap_metrics_are_seeded_bounded_and_safe_on_empty_input():
    rng = np.random.default_rng(4)
    proba = rng.random(5000)
    y = (rng.random(5000) < proba).astype(int)
    first = bootstrap_metrics(y, proba, 200, 0.95, 1000, seed=7, threshold=0.5)
    assert first == bootstrap_metrics(y, proba, 200, 0.95, 1000, seed=7, threshold=0.5)
    assert first != bootstrap_metrics(y, proba, 200, 0.95, 1000, seed=8, threshold=0.5)
    assert first["roc_auc"]["rows"] == 1000 and first["roc_auc"]["resamples"] == 200
    assert first["roc_auc"]["value"] == compute_metrics(y, proba, 0.5)["roc_auc"]  # the value is on every row
    narrow = bootstrap_metrics(y, proba, 200, 0.95, 5000, seed=7, threshold=0.5)["roc_auc"]
    assert narrow["ci_high"] - narrow["ci_low"] < first["roc_auc"]["ci_high"] - first["roc_auc"]["ci_low"]
    empty = bootstrap_metrics(np.array([]), np.array([]), 50, 0.95, 100, seed=1, threshold=0.5)
    assert all(np.isnan(m["value"]) and np.isnan(m["ci_low"]) for m in empty.values())


def test_error_segments_rank_the_bad_segment_first_and_never_read_pii():
    rng = np.random.default_rng(5)
    n = 2000
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "region": rng.choice(["a", "b", "c"], n),
            "secret_name": rng.choice(["Ada", "Bob"], n),
        }
    )
    y = (rng.random(n) < 0.5).astype(int)
    proba = np.where(y == 1, 0.8, 0.2)
    bad = (frame["region"] == "c").to_numpy()
    proba[bad] = 1 - proba[bad]  # wrong and confident in region c
    proba[(frame["secret_name"] == "Ada").to_numpy() & ~bad] = 0.5  # PII rows look worse, but PII is never read
    spec = DatasetSpec(
        name="t",
        description="",
        source={},
        target="y",
        positive_class=1,
        numeric=("x",),
        categorical=("region",),
        pii=("secret_name",),
    )
    segments = card_facts.error_segments(frame, y, proba, spec, min_rows=50, threshold=0.5)
    assert segments["worst"][0]["column"] == "region" and segments["worst"][0]["segment"] == "c"
    assert segments["worst"][0]["error_rate"] == 1.0
    assert {s["column"] for s in segments["worst"]} <= {"x", "region"}
    assert "Ada" not in json.dumps(segments)
    assert (
        card_facts.error_segments(frame, y, proba, spec, min_rows=n, threshold=0.5)["worst"] == []
    )  # no segment is big enough


def test_numeric_segments_read_as_plain_numbers():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"income": rng.integers(20_000, 400_000, 1000).astype(float), "rate": rng.random(1000)})
    spec = DatasetSpec(name="t", description="", source={}, target="y", positive_class=1, numeric=("income", "rate"))
    labels = [str(s) for c in ("income", "rate") for s in set(card_facts._segment_labels(frame, c, spec))]
    assert labels and not any(re.search(r"\de[+-]\d", s) for s in labels), labels
    assert any(re.fullmatch(r"\d{2,3},\d{3} to \d{3},\d{3}", s) for s in labels), labels
    assert all(re.fullmatch(r"\d\.\d{3} to \d\.\d{3}", s) for s in labels if s[0] == "0"), labels


def test_the_alias_line_is_dated_at_writing():
    line = cards.alias_line(["champion"], "2028-10-01T12:00:00+00:00")
    assert line.startswith("aliases at writing (2028-10-01T12:00:00+00:00): champion") and "Model monitor" in line
    assert "none" in cards.alias_line([], "2028-10-01T12:00:00+00:00")


def test_fairness_is_rendered_when_present():
    fairness = {
        "threshold": 0.5,
        "min_group_rows": 100,
        "limits": {"demographic_parity_difference": 0.2, "equalized_odds_difference": None, "champion_tolerance": 0.02},
        "columns": {
            "gender": {
                "groups": {
                    "F": {
                        "rows": 400,
                        "selection_rate": 0.61,
                        "tpr": 0.8,
                        "fpr": 0.3,
                        "precision": 0.7,
                        "calibration_gap": 0.01,
                        "gated": True,
                    },
                    "X": {
                        "rows": 12,
                        "selection_rate": 0.5,
                        "tpr": None,
                        "fpr": 0.2,
                        "precision": 0.5,
                        "calibration_gap": -0.04,
                        "gated": False,
                    },
                },
                "demographic_parity_difference": 0.25,
                "equalized_odds_difference": 0.1,
                "small_groups": ["X"],
                "note": None,
            }
        },
        "passed": False,
        "breaches": ["gender: demographic parity difference 0.2500 above the limit 0.2000"],
        "champion": {"gender": {"demographic_parity_difference": 0.05, "equalized_odds_difference": 0.04}},
    }
    doc = cards.Doc()
    status = cards._fairness_section(doc, fairness)
    md = doc.markdown()
    assert status == "breached (1)"
    assert "| F | 400 | 0.610 | 0.800 | 0.300 | 0.700 | 0.010 | yes |" in md
    assert "| X | 12 | 0.500 | n/a | 0.200 | 0.500 | -0.040 | no |" in md
    assert "Demographic parity difference 0.250 (limit 0.200)" in md and "(limit n/a)" in md
    assert "Champion on the same rows: DPD 0.050, EOD 0.040" in md and "Too small to gate: X" in md
    assert "breaches: gender: demographic parity difference" in md
    absent = cards.Doc()
    assert cards._fairness_section(absent, None) == "not assessed"
    assert "Fairness not assessed" in absent.markdown()


def test_spec_reads_owner_statements_and_keeps_the_derived_limitations(tmp_path):
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    body = config["datasets"]["anes96_vote"]
    spec = load_settings().dataset("anes96_vote")
    assert spec.owner and spec.intended_use and len(spec.stated_limitations) == len(body["limitations"])
    assert len(spec.limitations) == 1 and "no time_column" in spec.limitations[0]  # the derived ones, unchanged
    resolved = spec.resolved()
    assert resolved["stated_limitations"] == list(spec.stated_limitations)
    assert card_facts.spec_from_resolved(resolved) == spec
    body["limitations"] = "one sentence, not a list"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"datasets\.anes96_vote\.limitations: expected a list of sentences"):
        load_settings(tmp_path / "bad.yaml")
    body["limitations"] = []
    body["owner"] = 7
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"datasets\.anes96_vote\.owner: expected text"):
        load_settings(tmp_path / "bad.yaml")

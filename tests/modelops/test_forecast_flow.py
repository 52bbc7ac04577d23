"""The forecast workflow on a hand-built workspace: two scoring outputs, a snapshot, certified results, known answers.

Six voters in two counties. Turnout scores t and support scores s are chosen so the sums are easy by hand:

    county 1: t = .5 .8 .2   s = .5 .25 .9   ballots 1.5  dem votes .25 + .2 + .18 = .63
    county 2: t = .6 .9 .3   s = .5 .2  .6   ballots 1.8  dem votes .3 + .18 + .18 = .66

Certified (cycle 2020): turnout .6 and .5, two-party share .5 and .4 (ballots 1.8 and 1.5 of 3 voters).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from modelops.config.settings import REPO_ROOT
from modelops.config.uses import UseRefused
from modelops.core import catalog
from modelops.forecast.calibrate import LogitShift
from modelops.forecast.logodds import logit, sigmoid
from modelops.forecast.scored import ScoresMismatch
from modelops.pipelines.forecast_flow import ForecastRefused, run_forecast
from modelops.pipelines.forecast_records import NO_INTERVAL_NOTE, ForecastOutcome

FORECAST = "voter_forecast"
COUNTY = [1, 1, 1, 2, 2, 2]
IDS = ["a", "b", "c", "d", "e", "f"]
TURNOUT = [0.5, 0.8, 0.2, 0.6, 0.9, 0.3]
SUPPORT = [0.5, 0.25, 0.9, 0.5, 0.2, 0.6]


def _settings(settings, **changes):
    spec = settings.forecasts[FORECAST].model_copy(update={"interval_level": 0.5, **changes})
    return dataclasses.replace(settings, forecasts={FORECAST: spec})


def _output(dataset: str, snapshot: str, scores: list[float], ids: list[str], split: int, run_id=None) -> None:
    """A committed scoring output: parts of `row, id, score` (split at `split`) and its manifest."""
    folder = catalog.scoring_dir(dataset, snapshot)
    (folder / catalog.PREDICTIONS).mkdir(parents=True)
    frame = pd.DataFrame({"row": np.arange(len(scores), dtype="int64"), "id": ids, "score": scores})
    parts = []
    for i, part in enumerate((frame.iloc[:split], frame.iloc[split:])):
        name = f"{catalog.PREDICTIONS}/part-{i}.parquet"
        part.to_parquet(folder / name, index=False)
        parts.append({"file": name, "rows": len(part)})
    catalog.write_json(
        folder / catalog.MANIFEST,
        {
            "dataset": dataset,
            "snapshot": snapshot,
            "input_kind": "file",
            "input_files": [str(catalog.snapshot_inputs("voter_turnout", snapshot))],
            "model_name": f"{dataset}_model",
            "model_version": "3" if dataset == "voter_turnout" else "7",
            "model_run_id": run_id,
            "permitted_use": "research",
            "rows_out": len(scores),
            "fallback_share": 0.0,
            "parts": parts,
        },
    )


def _snapshot(snapshot: str, turnout=TURNOUT, support=SUPPORT, support_ids=IDS, runs=(None, None)) -> None:
    inputs = catalog.snapshot_inputs("voter_turnout", snapshot)
    inputs.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"voter_id": IDS, "county_fips": COUNTY}).to_parquet(inputs, index=False)
    _output("voter_turnout", snapshot, turnout, IDS, split=4, run_id=runs[0])
    _output("voter_support", snapshot, support, support_ids, split=1, run_id=runs[1])


def _certified(cycles=(2020,)) -> None:
    rows = [
        {"county_fips": c, "cycle": y, "ballots_cast": b, "dem_votes": d, "turnout": t, "dem_share": s}
        for y in cycles
        for c, b, d, t, s in ((1, 1.8, 0.9, 0.6, 0.5), (2, 1.5, 0.6, 0.5, 0.4))
    ]
    path = catalog.raw_dir("voter_turnout") / catalog.CERTIFIED_RESULTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)


def test_forecast_table_is_the_hand_computed_sums_and_says_it_has_no_interval(workspace, settings):
    _snapshot("s1")
    outcome = run_forecast(_settings(settings), None, "s1", 2020, track=False)
    table = pd.read_parquet(catalog.forecast_dir(FORECAST, "s1") / catalog.FORECAST_TABLE).set_index("county_fips")
    assert table["ballots_cast"].tolist() == pytest.approx([1.5, 1.8])
    assert table["dem_votes"].tolist() == pytest.approx([0.63, 0.66])
    assert table["turnout"].tolist() == pytest.approx([0.5, 0.6])
    assert table["dem_share"].tolist() == pytest.approx([0.63 / 1.5, 0.66 / 1.8])
    assert table["registered"].tolist() == [3, 3]
    # no earlier backtest and no certified results: no model interval, no backtest, and the record says so
    assert outcome.intervals is None and outcome.interval_note == NO_INTERVAL_NOTE
    assert outcome.backtest is None and outcome.shift_path is None
    assert (outcome.rows, outcome.geographies, outcome.turnout.model_version, outcome.support.model_version) == (
        6,
        2,
        "3",
        "7",
    )
    page = (catalog.forecast_dir(FORECAST, "s1") / catalog.REPORT_HTML).read_text()
    assert "No model interval" in page
    assert ForecastOutcome.published(FORECAST, "s1") == outcome  # forecast.json gives the outcome back
    with pytest.raises(FileNotFoundError, match="no published forecast voter_forecast of snapshot 's9'"):
        ForecastOutcome.published(FORECAST, "s9")


def test_backtest_on_known_numbers_and_the_stored_shift_round_trips(workspace, settings):
    _snapshot("s1")
    _certified()
    outcome = run_forecast(_settings(settings), FORECAST, "s1", 2020, track=False)
    turnout, share = outcome.backtest.of("turnout"), outcome.backtest.of("dem_share")
    # turnout errors .5 - .6 = -.1 and .6 - .5 = +.1
    assert turnout.mae_points == pytest.approx(10.0) and turnout.bias_points == pytest.approx(0.0)
    errors = [0.63 / 1.5 - 0.5, 0.66 / 1.8 - 0.4]
    assert share.mae_points == pytest.approx(100 * np.mean(np.abs(errors)))
    assert share.bias_points == pytest.approx(100 * np.mean(errors))
    assert turnout.coverage is None  # no interval without an earlier backtest
    stored = catalog.read_json(outcome.shift_path)
    shift = LogitShift.from_xcom(stored["shift"])
    assert shift.pooling == "empirical_bayes" and shift.cycle == 2020
    assert LogitShift.from_xcom(shift.to_xcom()) == shift
    # the fitted (unpooled) turnout shift of each county reproduces its certified ballots
    for county, ballots in ((1, 1.8), (2, 1.5)):
        fitted = next(s for s in shift.shifts if s.geography == county).turnout_fitted
        t = np.array([v for v, c in zip(TURNOUT, COUNTY, strict=True) if c == county])
        assert sigmoid(logit(t) + fitted).sum() == pytest.approx(ballots, abs=1e-3)


def test_run_dag_sh_tells_what_a_forecast_run_published(workspace, settings):
    """scripts/dag_outcome.py (run_dag.sh's last word) describes the forecast of the conf's snapshot."""
    _snapshot("s1")
    _certified()
    run_forecast(_settings(settings), FORECAST, "s1", 2020, track=False)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "include")}
    conf = '{"snapshot": "s1", "cycle": 2020}'
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "dag_outcome.py"), "modelops_forecast", conf],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("forecast voter_forecast of snapshot s1 (cycle 2020, use forecast): 6 voter rows")
    assert lines[2] == NO_INTERVAL_NOTE
    assert lines[3].startswith("backtest: turnout MAE 10.00 points, bias +0.00; dem_share MAE ")
    assert lines[-1] == f"Report: {catalog.forecast_dir(FORECAST, 's1') / catalog.REPORT_HTML}"


def test_next_cycle_takes_intervals_from_the_last_backtest_and_reports_calibrated_and_not(workspace, settings):
    _snapshot("s1")
    _snapshot("s2")
    _certified(cycles=(2020, 2022))
    run_forecast(_settings(settings), FORECAST, "s1", 2020, track=False)
    outcome = run_forecast(_settings(settings), FORECAST, "s2", 2022, apply_calibration=True, track=False)
    # level .5 over two residuals: the 2nd smallest absolute one, .1 for turnout
    assert outcome.intervals.residual_cycle == 2020 and outcome.intervals.residuals_used == 2
    assert outcome.intervals.turnout_half_width == pytest.approx(0.1)
    assert outcome.backtest.of("turnout").coverage == 1.0  # |error| .1 <= half-width .1
    assert outcome.calibration.from_cycle == 2020 and outcome.calibration.unmatched_rows == 0
    assert outcome.calibrated_backtest is not None and outcome.backtest is not None  # both reported
    table = pd.read_parquet(catalog.forecast_dir(FORECAST, "s2") / catalog.FORECAST_TABLE).set_index("county_fips")
    assert {"turnout_lower", "turnout_upper", "dem_share_calibrated"} <= set(table.columns)
    # the calibrated turnout is each voter's turnout moved by s1's pooled shift of their county, averaged
    shift = LogitShift.from_xcom(
        catalog.read_json(catalog.forecast_dir(FORECAST, "s1") / catalog.LOGIT_SHIFT_FILE)["shift"]
    )
    for county in (1, 2):
        pooled = next(s for s in shift.shifts if s.geography == county).turnout_shift
        t = np.array([v for v, c in zip(TURNOUT, COUNTY, strict=True) if c == county])
        assert table.at[county, "turnout_calibrated"] == pytest.approx(sigmoid(logit(t) + pooled).mean())
    errors = np.abs(table["turnout_calibrated"].to_numpy() - [0.6, 0.5])
    assert outcome.calibrated_backtest.of("turnout").mae_points == pytest.approx(100 * errors.mean())


def test_calibration_without_an_earlier_shift_is_refused(workspace, settings):
    _snapshot("s1")
    with pytest.raises(ForecastRefused, match="no earlier backtest of this forecast stored one"):
        run_forecast(_settings(settings, apply_calibration=True), FORECAST, "s1", 2020, track=False)


def test_a_refused_use_writes_nothing(workspace, settings):
    _snapshot("s1")
    _certified()
    with pytest.raises(UseRefused, match=r"dataset 'voter_support' permits uses .*datasets.<name>.permitted_uses"):
        run_forecast(_settings(settings, use="turnout_contact"), FORECAST, "s1", 2020, track=False)
    assert not catalog.forecasts_dir(FORECAST).exists()


def test_mismatched_ids_are_refused_by_count_never_by_value(workspace, settings):
    secret = ["a", "b", "zz-secret-1", "d", "zz-secret-2", "f"]
    _snapshot("s1", support_ids=secret)
    with pytest.raises(ScoresMismatch) as caught:
        run_forecast(_settings(settings), FORECAST, "s1", 2020, track=False)
    assert "2 of 6 rows" in str(caught.value) and "zz-secret" not in str(caught.value)
    assert not catalog.forecasts_dir(FORECAST).exists()


def test_outputs_of_different_row_counts_are_refused(workspace, settings):
    _snapshot("s1", support=SUPPORT[:5], support_ids=IDS[:5])
    with pytest.raises(ScoresMismatch, match=r"voter_turnout scored 6 rows .* voter_support 5"):
        run_forecast(_settings(settings), FORECAST, "s1", 2020, track=False)


@pytest.mark.slow
def test_the_run_is_logged_and_the_shift_goes_to_both_model_runs(workspace, settings):
    from modelops.store.forecast_runs import forecast_experiment_name
    from modelops.store.tracking import client, connect, experiment_id

    mlflow = connect()
    runs = []
    for name in ("turnout", "support"):
        with mlflow.start_run(experiment_id=experiment_id(f"test/{name}")) as run:
            runs.append(run.info.run_id)
    _snapshot("s1", runs=tuple(runs))
    _certified()
    outcome = run_forecast(_settings(settings), FORECAST, "s1", 2020)
    logged = client().get_run(outcome.mlflow_run_id)
    assert logged.data.tags["modelops.permitted_use"] == "forecast"
    assert logged.data.params["turnout_model"] == "voter_turnout_model/3"
    assert logged.data.metrics["turnout_mae_points"] == pytest.approx(10.0)
    assert mlflow.get_experiment(logged.info.experiment_id).name == forecast_experiment_name(FORECAST)
    assert len(outcome.shift_artifacts) == 2
    for run_id in runs:
        names = [f.path for f in client().list_artifacts(run_id, f"forecasts/{FORECAST}/cycle=2020")]
        assert names == [f"forecasts/{FORECAST}/cycle=2020/{catalog.LOGIT_SHIFT_FILE}"]
    again = run_forecast(_settings(settings), FORECAST, "s1", 2020)  # a rerun updates the same run
    assert again.mlflow_run_id == outcome.mlflow_run_id

"""County forecast accuracy, interval coverage and the calibration's effect, on the synthetic world.

For each seed and scenario a world of five cycles is generated (collect.world: voter file, truth, certified
county results, weighted polls). The turnout model is trained on the voter file's first three cycles, the
support model on their polls (survey weights as `sample_weight`), both with the project's own pipelines
(train.training.build_pipeline: the dataset's preprocessor + logistic regression). Then

- cycle t (the fourth): the voters are scored, aggregated by county (forecast.aggregate) and compared with
  the certified results (forecast.backtest): MAE in points before calibration; the per-county logit shift
  is fitted to them (forecast.calibrate);
- cycle t+1 (the fifth): forecast without and with the shift; MAE of each; the 90% intervals built from
  cycle t's county residuals (forecast.intervals) and their coverage of the certified values.

Scenarios: `stable` (every cycle the same world), `turnout_surge` (t and t+1 turnout +0.4 log-odds),
`support_swing` (t and t+1 support +0.3 log-odds), `economic_realignment` (t and t+1: the economy's
weight on support tripled, which moves counties differently). Drift persists from t to t+1, as it does
between adjacent elections.

    python benchmarks/bench_forecast_accuracy.py [--rows-per-cycle 200000] [--seeds 1 2 3] [--shrink auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from modelops.collect.synthetic import CycleScenario
from modelops.collect.world import generate_voter_file
from modelops.config.settings import load_settings
from modelops.forecast.aggregate import ScoreColumns, aggregate_scores
from modelops.forecast.backtest import CertifiedColumns, ResidualSource, backtest_table, residuals_from
from modelops.forecast.calibrate import apply_shift, fit_logit_shift
from modelops.forecast.intervals import forecast_intervals
from modelops.forecast.pooling import pool
from modelops.train.training import build_pipeline

CYCLES = (2010, 2012, 2014, 2016, 2018, 2020)
TRAIN_CYCLES, FORECAST_CYCLES = CYCLES[:3], CYCLES[3:]  # three to train on; forecast t, t + 1, t + 2
SCENARIOS = {
    "stable": {},
    "turnout_surge": {"turnout_shift": 0.4},
    "support_swing": {"support_shift": 0.3},
    "economic_realignment": {"economy_support_effect": 3.0},
}
COLUMNS = ScoreColumns(geography="county_fips", turnout="turnout_score", support="support_score")
CERTIFIED = CertifiedColumns("county_fips", "ballots_cast", "dem_votes", "turnout", "dem_share")
MAX_FIT_ROWS = 150_000


def world(folder: Path, scenario: str, seed: int, rows_per_cycle: int) -> dict[str, pd.DataFrame]:
    drift = SCENARIOS[scenario]
    cycles = [CycleScenario(year=y, **(drift if y in FORECAST_CYCLES else {})) for y in CYCLES]
    paths = generate_voter_file(folder, rows_per_cycle * len(CYCLES), seed, cycles, poll_rows=1500)
    economics = pd.read_parquet(paths["county_economics"])
    results = pd.read_parquet(paths["county_results"])

    def joined(frame: pd.DataFrame) -> pd.DataFrame:
        extra = [c for c in economics.columns if c in frame.columns and c != "county_fips"]
        return frame.merge(economics.drop(columns=extra), on="county_fips", how="left").merge(
            results, on="county_fips", how="left"
        )

    return {
        "voters": joined(pd.read_parquet(paths["voters"])),
        "polls": joined(pd.read_parquet(paths["polls"])),
        "certified": pd.read_parquet(paths["certified_results"]),
    }


def fit(spec, frame: pd.DataFrame, target: str, seed: int, weight: str | None = None):
    labelled = frame[frame[target].notna()]
    if len(labelled) > MAX_FIT_ROWS:
        labelled = labelled.sample(MAX_FIT_ROWS, random_state=seed)
    model = build_pipeline(spec, "logistic_regression", {"C": 1.0}, seed)
    kwargs = {"model__sample_weight": labelled[weight].to_numpy(dtype=float)} if weight else {}
    model.fit(labelled[spec.features], labelled[target].astype(int).to_numpy(), **kwargs)
    return model


def scored(voters: pd.DataFrame, turnout_model, support_model, turnout_spec, support_spec) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "county_fips": voters["county_fips"].to_numpy(),
            "turnout_score": turnout_model.predict_proba(voters[turnout_spec.features])[:, 1],
            "support_score": support_model.predict_proba(voters[support_spec.features])[:, 1],
        }
    )


def one_world(scenario: str, seed: int, rows_per_cycle: int, shrink: str) -> list[dict[str, float]]:
    """One row per forecast cycle after the first: its forecast before/after the previous cycle's calibration."""
    settings = load_settings()
    turnout_spec, support_spec = settings.datasets["voter_turnout"], settings.datasets["voter_support"]
    with tempfile.TemporaryDirectory() as tmp:
        data = world(Path(tmp), scenario, seed, rows_per_cycle)
    voters, polls, certified = data["voters"], data["polls"], data["certified"]
    turnout_model = fit(turnout_spec, voters[voters["cycle"].isin(TRAIN_CYCLES)], "voted", seed)
    support_model = fit(support_spec, polls[polls["cycle"].isin(TRAIN_CYCLES)], "vote_dem", seed, "survey_weight")
    rows, previous = [], None
    for cycle in FORECAST_CYCLES:
        cert = certified[certified["cycle"] == cycle].drop(columns=["cycle"])
        scores = scored(voters[voters["cycle"] == cycle], turnout_model, support_model, turnout_spec, support_spec)
        aggregation = aggregate_scores([scores], COLUMNS)
        intervals = None
        if previous is not None:
            residuals = residuals_from(previous["table"], ResidualSource.BACKTEST, cycle=previous["cycle"])
            intervals = forecast_intervals(aggregation, residuals, 0.9).table
        table = backtest_table(aggregation, cert, CERTIFIED, intervals)
        row = {"cycle": cycle, "turnout_mae": mae(table, "turnout"), "share_mae": mae(table, "dem_share")}
        if previous is not None:
            calibrated = aggregate_scores([apply_shift(scores, previous["shift"], COLUMNS).frame], COLUMNS)
            table_cal = backtest_table(calibrated, cert, CERTIFIED)
            row |= {
                "turnout_mae_cal": mae(table_cal, "turnout"),
                "share_mae_cal": mae(table_cal, "dem_share"),
                "turnout_cover": float(table["turnout_covered"].mean()),
                "share_cover": float(table["dem_share_covered"].mean()),
                "counties": len(table),
            }
        rows.append(row)
        shift = fit_logit_shift(lambda s=scores: [s], cert, COLUMNS, CERTIFIED, cycle=cycle)
        if shrink == "auto":
            shift, _figures = pool(shift)
        elif shrink != "1":
            shift = replace(shift, shrink=float(shrink))
        previous = {"cycle": cycle, "table": table, "shift": shift}
    return rows


def mae(table: pd.DataFrame, quantity: str) -> float:
    """Mean absolute county error in points."""
    return float(np.mean(np.abs(table[f"{quantity}_error"])) * 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows-per-cycle", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    parser.add_argument("--shrink", default="auto", help="auto (empirical Bayes pooling), 1, or a factor")
    args = parser.parse_args(argv)
    rows = []
    for scenario in args.scenarios:
        for seed in args.seeds:
            started = time.perf_counter()
            for row in one_world(scenario, seed, args.rows_per_cycle, args.shrink):
                rows.append({"scenario": scenario, "seed": seed, **row})
                print(
                    f"{scenario:21s} seed {seed} cycle {row['cycle']}: MAE turnout {row['turnout_mae']:.2f} -> "
                    f"{row.get('turnout_mae_cal', np.nan):.2f}, share {row['share_mae']:.2f} -> "
                    f"{row.get('share_mae_cal', np.nan):.2f} | 90% cover {row.get('turnout_cover', np.nan):.2f} / "
                    f"{row.get('share_cover', np.nan):.2f}",
                    flush=True,
                )
            print(f"  ({time.perf_counter() - started:.0f} s)", flush=True)
    report(pd.DataFrame(rows))
    return 0


def report(frame: pd.DataFrame) -> None:
    """The bars' figures: MAE before calibration (stable world), calibration gains, interval coverage."""
    later = frame.dropna(subset=["turnout_mae_cal"])
    by = later.groupby("scenario", sort=False)[
        ["turnout_mae", "turnout_mae_cal", "share_mae", "share_mae_cal", "turnout_cover", "share_cover"]
    ].mean()
    by["turnout_gain_%"] = (1 - by["turnout_mae_cal"] / by["turnout_mae"]) * 100
    by["share_gain_%"] = (1 - by["share_mae_cal"] / by["share_mae"]) * 100
    by["mae_gain_%"] = (1 - (by["turnout_mae_cal"] + by["share_mae_cal"]) / (by["turnout_mae"] + by["share_mae"])) * 100
    print(
        "\ncycles t+1 and t+2, mean over seeds (MAE in points;"
        " gain = MAE reduction by the previous cycle's calibration):"
    )
    print(by.round(3).to_string())
    before = frame.groupby("scenario", sort=False)[["turnout_mae", "share_mae"]].mean()
    print("\nbefore calibration, all three forecast cycles (bars: turnout <= 2, two-party share <= 3):")
    print(before.round(3).to_string())
    cover = later[["turnout_cover", "share_cover"]].to_numpy()
    weights = later["counties"].to_numpy()[:, None].repeat(2, axis=1)
    print(
        f"\n90% interval coverage (intervals from the previous cycle's county residuals): "
        f"{np.average(cover, weights=weights):.3f} over {int(weights.sum())} county-rates (bar 0.85-0.95); "
        f"per world and cycle {cover.min():.2f}-{cover.max():.2f}"
    )
    drift = by.drop(index=["stable"], errors="ignore")
    print(f"mean MAE gain in the drift scenarios: {drift['mae_gain_%'].mean():.1f}% (bar >= 20%)")
    if "stable" in by.index:
        print(f"stable scenario: MAE change {-by.loc['stable', 'mae_gain_%']:+.1f}% (bar: worse by at most 5%)")


if __name__ == "__main__":
    sys.exit(main())

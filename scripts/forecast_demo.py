"""The election forecast end to end through the real DAGs (what `make forecast` shows).

Each step is one DAG run through `airflow dags test` (scripts/run_dag.sh: the workspace's Airflow metadata
DB, an in-process executor, no running stack needed):

1. trains the forecast's turnout and support datasets (training DAG); both must end with a champion, or the
   demo prints the gate's verdict and stops;
2. delivers two voter-file snapshots, the turnout dataset's own voter file of two election cycles with
   certified results (joined like its training batch, the target column dropped), to
   `catalog.snapshot_inputs`, checked as the snapshot-registration DAG checks them;
3. scores each snapshot with both datasets (scoring DAG; the support dataset with the forecast's use);
4. forecasts the first snapshot with its cycle (backtest against the certified results, logit shift fitted),
   then the second with `apply_calibration` (intervals from the first backtest's county residuals, the first
   cycle's pooled shift applied, both forecasts backtested);
5. prints the county forecast (highest and lowest two-party share, with intervals), the backtest of both
   cycles, the calibration's effect and where the report pages are.

The models were trained on these very cycles, so the figures show the mechanics, not accuracy:
docs/benchmarks.md has the out-of-sample figures (benchmarks/bench_forecast_accuracy.py). Any failure
stops the demo with a non-zero exit and its reason. Run with the environment of scripts/env.sh.

    python scripts/forecast_demo.py [--forecast voter_forecast] [--cycles 2022 2024] [--counties 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from modelops.collect import scenarios
from modelops.collect.inputs import read_table
from modelops.collect.snapshots import describe
from modelops.config.forecasts import certified_path
from modelops.config.models import ForecastSpec
from modelops.config.settings import REPO_ROOT as REPO
from modelops.config.settings import DatasetSpec, Settings, load_settings
from modelops.core import catalog
from modelops.core.handoffs import FORECAST_DAG_ID, SCORING_DAG_ID, TRAINING_DAG_ID
from modelops.core.tags import Tag
from modelops.forecast.backtest import Backtest
from modelops.pipelines.forecast_records import ForecastOutcome
from modelops.store import registry, tracking
from modelops.store.forecast_runs import forecast_experiment_name

RUN_DAG = REPO / "scripts" / "run_dag.sh"
CAVEAT = (
    "Both models were trained on these very cycles: these figures show the mechanics, not accuracy. The "
    "out-of-sample figures (train on earlier cycles, forecast a later one) are in docs/benchmarks.md "
    "(make bench-forecast: benchmarks/bench_forecast_accuracy.py)."
)


class DemoFailed(RuntimeError):
    """A step failed: the message is the reason the demo prints before exiting non-zero."""


def say(text: str = "") -> None:
    print(text, flush=True)


def run_dag(dag_id: str, conf: dict) -> str:
    """One DAG run through scripts/run_dag.sh (`airflow dags test`); its output, or DemoFailed with the reason."""
    started = time.monotonic()
    result = subprocess.run(["bash", str(RUN_DAG), dag_id, json.dumps(conf)], cwd=REPO, text=True, capture_output=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        failed = output[output.find("The DAG run FAILED") :] if "The DAG run FAILED" in output else output[-3000:]
        raise DemoFailed(f"{dag_id} {json.dumps(conf)} failed:\n{failed.rstrip()}")
    say(f"    {dag_id} {json.dumps(conf)}: success in {time.monotonic() - started:.0f} s")
    return output


def train(spec: DatasetSpec) -> str:
    """Train `spec` through the training DAG; its champion version, or DemoFailed with the gate's verdict."""
    run_dag(TRAINING_DAG_ID, {"dataset": spec.name})
    champion = registry.version_by_alias(spec.model_name, registry.CHAMPION)
    if champion is None:
        summary = catalog.latest_summary(spec.name).read_text()
        verdict = summary[summary.find("  decision") :] if "  decision" in summary else summary
        verdict = verdict.split("\n  serving")[0]  # the decision and its checks
        raise DemoFailed(f"{spec.model_name} has no champion after training; the gate said:\n{verdict.rstrip()}")
    return str(champion.version)


def deliver(spec: DatasetSpec, cycle: int, snapshot: str, settings: Settings) -> int:
    """One cycle of the voter file delivered as `snapshot`, checked as the registration DAG checks it; its rows."""
    try:
        path = scenarios.deliver_cycle(spec, cycle, snapshot)
        # the checks (and words) of the snapshot-registration DAG: where scoring may read, readable, not empty
        describe(spec.name, str(path), snapshot, settings.scoring_for(spec.name).input_roots)
    except (OSError, ValueError) as exc:  # InputRefused is a ValueError
        raise DemoFailed(f"delivering cycle {cycle} of {spec.name} as snapshot {snapshot}: {exc}") from exc
    return len(pd.read_parquet(path, columns=[spec.id_column]))


@dataclass(frozen=True)
class Snapshot:
    """A delivered snapshot and the election cycle its certified results belong to."""

    id: str
    cycle: int


def default_cycles(certified: Path, cycle_column: str) -> list[int]:
    """The two newest cycles of the certified results."""
    if not certified.exists():
        raise DemoFailed(f"no certified results at {certified}")
    return sorted(set(read_table(certified)[cycle_column].astype(int)))[-2:]


def errors_line(backtest: Backtest | None) -> str:
    if backtest is None:
        return "not backtested"
    parts = []
    for e in backtest.errors:
        cover = "no interval" if e.coverage is None else f"coverage {e.coverage:.0%}"
        parts.append(f"{e.quantity} MAE {e.mae_points:.2f} pts, bias {e.bias_points:+.2f}, {cover}")
    return "; ".join(parts)


def print_counties(name: str, snapshot: str, geography: str, counties: int) -> None:
    """The counties with the highest and the lowest forecast two-party share, with their intervals."""
    table = pd.read_parquet(catalog.forecast_dir(name, snapshot) / catalog.FORECAST_TABLE)
    table = table.sort_values("dem_share", ascending=False)
    has_interval = "dem_share_lower" in table.columns
    say(f"    {geography:<12} {'voters':>7} {'turnout':>8}  {'turnout 90%':>15}  {'dem share':>9}  {'share 90%':>15}")
    shown = pd.concat([table.head(counties), table.tail(counties)]) if len(table) > 2 * counties else table
    for i, (_, row) in enumerate(shown.iterrows()):
        if i == counties and len(table) > 2 * counties:
            say("    ...")
        t_band = f"{row['turnout_lower']:.1%}..{row['turnout_upper']:.1%}" if has_interval else "none"
        s_band = f"{row['dem_share_lower']:.1%}..{row['dem_share_upper']:.1%}" if has_interval else "none"
        say(
            f"    {row[geography]!s:<12} {int(row['registered']):>7} {row['turnout']:>8.1%}  {t_band:>15}  "
            f"{row['dem_share']:>9.1%}  {s_band:>15}"
        )


def print_calibration(outcome: ForecastOutcome) -> None:
    """The calibrated forecast's backtest beside the plain one's."""
    calibration, plain, calibrated = outcome.calibration, outcome.backtest, outcome.calibrated_backtest
    if calibration is None or plain is None or calibrated is None:
        say("    none applied")
        return
    say(f"    shift of cycle {calibration.from_cycle} (snapshot {calibration.from_snapshot})")
    for e in plain.errors:
        c = calibrated.of(e.quantity)
        say(
            f"    {e.quantity:<10} MAE uncalibrated {e.mae_points:.2f} pts, calibrated {c.mae_points:.2f} "
            f"({c.mae_points - e.mae_points:+.2f}); bias {e.bias_points:+.2f} -> {c.bias_points:+.2f}"
        )
    if calibration.unmatched_rows:
        say(f"    {calibration.unmatched_rows} rows in counties the shift did not know (left unshifted)")


def report(name: str, spec: ForecastSpec, snapshots: list[Snapshot], counties: int) -> None:
    """Step 5: the county forecast, both backtests, the calibration's effect, the report pages."""
    outcomes = [ForecastOutcome.published(name, s.id) for s in snapshots]
    last, second = outcomes[-1], snapshots[-1]
    say(f"  County forecast of snapshot {second.id} (cycle {second.cycle}), by two-party share:")
    method = last.intervals
    if method is not None:
        say(
            f"    {method.level:.0%} split-conformal intervals from {method.residuals_used} county residuals "
            f"of cycle {method.residual_cycle} (the first snapshot's backtest)"
        )
    else:
        say(f"    {last.interval_note}")
    print_counties(name, second.id, str(spec.geography), counties)
    say("  Backtest against the certified results (forecast - certified, in points):")
    for snap, outcome in zip(snapshots, outcomes, strict=True):
        say(f"    cycle {snap.cycle} ({snap.id}): {errors_line(outcome.backtest)}")
    say("  Calibration (the earlier cycle's pooled per-county logit shift applied):")
    print_calibration(last)
    say(f"  {CAVEAT}")
    say("  Report pages (and each forecast's MLflow run):")
    experiment = forecast_experiment_name(name)
    runs = tracking.runs_by_tag(experiment, Tag.SNAPSHOT)
    for snap, outcome in zip(snapshots, outcomes, strict=True):
        run = runs.get((snap.id, None))
        say(f"    {outcome.report_path}")
        say(f"      MLflow {experiment} run {run[1] if run else '(none found)'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--forecast", default=None, help="a `forecasts` name; empty = the first configured")
    parser.add_argument("--cycles", type=int, nargs=2, default=None, help="two cycles with certified results")
    parser.add_argument("--counties", type=int, default=5, help="counties shown at each end of the table")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    settings = load_settings()
    name, spec = settings.forecast(args.forecast)
    turnout, support = settings.dataset(spec.turnout), settings.dataset(spec.support)
    say(f"Workspace {catalog.root()} (Airflow DB, MLflow store, scored snapshots, forecasts)")
    try:
        say(f"[1/5] Training {turnout.name} and {support.name} (training DAG); both must end with a champion")
        for dataset in (turnout, support):
            say(f"    {dataset.model_name}: champion v{train(dataset)}")

        certified = certified_path(spec, turnout)
        if certified is None:
            raise DemoFailed(f"forecast {name} names no certified results (forecasts.{name}.certified)")
        cycles = args.cycles or default_cycles(certified, spec.certified.cycle_column)
        if len(cycles) != 2:
            raise DemoFailed(f"two cycles with certified results are needed; {certified} covers {cycles}")
        snapshots = [Snapshot(f"cycle-{c}", c) for c in cycles]
        say(f"[2/5] Delivering the voter file of cycles {cycles[0]} and {cycles[1]} as two snapshots")
        for snap in snapshots:
            rows = deliver(turnout, snap.cycle, snap.id, settings)
            say(f"    snapshot {snap.id}: {rows} voters at {catalog.snapshot_inputs(turnout.name, snap.id)}")

        say(f"[3/5] Scoring each snapshot with {turnout.name} and {support.name} (scoring DAG)")
        for snap in snapshots:
            run_dag(SCORING_DAG_ID, {"dataset": turnout.name, "snapshot": snap.id})
            run_dag(SCORING_DAG_ID, {"dataset": support.name, "snapshot": snap.id, "use": spec.use})

        say(f"[4/5] Forecasting (forecast DAG): {snapshots[0].id} backtested, then {snapshots[1].id} calibrated")
        first, second = snapshots
        run_dag(FORECAST_DAG_ID, {"forecast": name, "snapshot": first.id, "cycle": first.cycle})
        run_dag(
            FORECAST_DAG_ID,
            {"forecast": name, "snapshot": second.id, "cycle": second.cycle, "apply_calibration": True},
        )

        say(f"[5/5] Forecast {name}")
        report(name, spec, snapshots, args.counties)
    except DemoFailed as exc:
        say(f"forecast demo FAILED: {exc}")
        return 1
    say(f"Done in {time.monotonic() - started:.0f} s. Browse it: MODELOPS_HOME={catalog.root()} make up")
    return 0


if __name__ == "__main__":
    sys.exit(main())

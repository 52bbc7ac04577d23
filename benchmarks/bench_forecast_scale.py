"""The forecast of a big voter file end to end, against the scoring of that file (issue 21's bar).

    python benchmarks/bench_forecast_scale.py [--rows 10000000] [--counties 3100] [--family logistic_regression]
                                              [--rescore] [--profile] [--home /tmp/bench_forecast_scale]

Issue 21: "Forecast for a 10M-row voter file: aggregation adds <= 10% to scoring time and no memory growth."
Everything runs in a throwaway workspace under --home (MODELOPS_HOME and a local MLflow store):

1. a synthetic world of one cycle (collect.world.generate_voter_file: voters, truth, certified county results)
   with --rows voters in --counties counties; its voters joined with its county tables are written as two
   voter_turnout snapshots: all rows, and the first tenth (the memory comparison);
2. champions of voter_turnout and voter_support, trained with the training workflow's steps on the datasets'
   configured (small) sources, --family only (logistic regression by default: the fastest scorer, so the
   strictest ratio);
3. each snapshot scored with both datasets (`score.snapshot.score_snapshot`, use `forecast`; voter_support
   scores voter_turnout's snapshot through `scoring.population`);
4. `pipelines.forecast_flow.run_forecast(track=False)` on each snapshot without a cycle (the streaming pass
   only) and, on the full one, with the world's cycle (certified results: backtest and the logit-shift fit,
   one more pass over the scores: the fit's first pass rides on the aggregation's).

Every step runs in its own child process (`--step`), which reports its wall time without the imports and its
RSS before the step and at peak (VmHWM), so peak RSS is per step; the parent times the whole child too. The
world, the champions and the scoring outputs are cached in --home (--rescore scores again, so scoring and
forecast are timed under the same load); the forecasts always run. With --profile
the full-size forecasts run under cProfile and print their top functions. Prints a Markdown table and the
ratio forecast / (turnout + support scoring).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HOME = Path("/tmp/bench_forecast_scale")
CYCLE = 2028  # the world's one cycle: certified results exist for it
SEED = 21
FORECAST = "voter_forecast"
DATASETS = ("voter_turnout", "voter_support")
CHUNK = 250_000


def use_home(home: Path) -> None:
    os.environ["MODELOPS_HOME"] = str(home / "workspace")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'workspace' / 'mlflow' / 'mlflow.db'}"
    os.environ.pop("MODELOPS_DB_URL", None)
    sys.path.insert(0, str(REPO / "include"))


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident set (VmRSS) or its peak (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def world_dir(home: Path, rows: int, counties: int) -> Path:
    return home / f"world_{rows}_{counties}"


def snapshot_ids(rows: int, counties: int) -> tuple[str, str]:
    """(the full snapshot, its first tenth)."""
    return f"w{rows}c{counties}", f"w{rows}c{counties}-first{rows // 10}"


def step_world(home: Path, rows: int, counties: int) -> dict:
    """The world of one cycle, and the two snapshots of its voters joined with its county tables."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelops.collect.synthetic import CycleScenario
    from modelops.collect.world import generate_voter_file
    from modelops.config.settings import load_settings
    from modelops.core import catalog

    spec = load_settings().dataset(DATASETS[0])
    paths = generate_voter_file(
        world_dir(home, rows, counties), rows, SEED, [CycleScenario(year=CYCLE)], counties, chunk_rows=CHUNK
    )
    counties_table = pd.read_parquet(paths["county_economics"]).merge(
        pd.read_parquet(paths["county_results"]), on="county_fips"
    )
    columns = [c for c in spec.kept_columns if c != spec.target]
    full, tenth = (catalog.snapshot_inputs(DATASETS[0], s) for s in snapshot_ids(rows, counties))
    done = full.with_suffix(".done")
    if done.exists():
        return {"rows": rows}
    full.parent.mkdir(parents=True, exist_ok=True)
    writers: dict[Path, pq.ParquetWriter] = {}
    written = 0
    with pq.ParquetFile(paths["voters"]) as handle:
        for batch in handle.iter_batches(batch_size=CHUNK):
            frame = batch.to_pandas().merge(counties_table, on="county_fips", how="left")[columns]
            table = pa.Table.from_pandas(frame, preserve_index=False)
            targets = [full] + ([tenth] if written < rows // 10 else [])
            for target in targets:
                if target not in writers:
                    writers[target] = pq.ParquetWriter(target, table.schema)
                take = table if target == full else table.slice(0, rows // 10 - written)
                writers[target].write_table(take)
            written += len(frame)
    for writer in writers.values():
        writer.close()
    done.write_text(json.dumps({"rows": rows}))
    return {"rows": rows}


def step_train(home: Path, family: str) -> dict:
    """A champion of each dataset, from the training workflow's steps (collect to alias), as tests/conftest does."""
    from modelops.collect.sources import collect_batch
    from modelops.config.settings import load_settings
    from modelops.core.handoffs import TRAINING_DAG_ID
    from modelops.pipelines import workflow
    from modelops.store import registry
    from modelops.validate.validation import validate_batch

    record = home / f"champions_{family}.json"
    if record.exists():
        return json.loads(record.read_text())
    settings = load_settings()
    actor = registry.dag_actor(TRAINING_DAG_ID, "bench")
    versions = {}
    for dataset in DATASETS:
        spec = settings.dataset(dataset)
        run_id = f"bench-scale-{dataset}-{family}"
        batch = collect_batch(spec)
        validation = validate_batch(batch, spec)
        training = workflow.training_options(settings, [family], None)
        plan = workflow.prepare_training(
            batch.to_xcom(), validation.to_xcom(), spec, settings, training, {"dag_id": "bench", "run_id": run_id}
        )
        result = workflow.run_candidate(plan, family, spec, settings)
        report = workflow.evaluate_candidates(plan, [result], spec, settings)
        registration = workflow.register_best(plan, report, spec)
        outcome = workflow.apply_alias(registration, registry.CHAMPION, actor, run_id)
        versions[dataset] = str(outcome.get("version", registration["version"]))
    record.write_text(json.dumps(versions))
    return versions


def step_score(dataset: str, snapshot: str, again: bool) -> dict:
    import shutil

    from modelops.config.settings import load_settings
    from modelops.core import catalog
    from modelops.score.snapshot import score_snapshot

    settings = load_settings()
    if again:  # the benchmark's own throwaway workspace
        shutil.rmtree(catalog.scoring_dir(dataset, snapshot), ignore_errors=True)
    if catalog.scoring_manifest(dataset, snapshot).exists():
        return {"cached": True}
    started = time.perf_counter()
    result = score_snapshot(settings.dataset(dataset), settings, snapshot=snapshot, use="forecast")
    return {"rows": result["rows"], "call_s": time.perf_counter() - started}


def forecast_settings(home: Path, rows: int, counties: int):
    """The bundled settings, the forecast's certified results those of the benchmark's world."""
    from modelops.config.settings import load_settings
    from modelops.core import catalog

    settings = load_settings()
    spec = settings.forecasts[FORECAST]
    path = str(world_dir(home, rows, counties) / catalog.CERTIFIED_RESULTS_FILE)
    certified = spec.certified.model_copy(update={"path": path})
    return dataclasses.replace(
        settings, forecasts={**settings.forecasts, FORECAST: spec.model_copy(update={"certified": certified})}
    )


def step_forecast(home: Path, rows: int, counties: int, snapshot: str, cycle: int | None, profile: bool) -> dict:
    from modelops.pipelines.forecast_flow import run_forecast

    settings = forecast_settings(home, rows, counties)
    if not profile:
        started = time.perf_counter()
        outcome = run_forecast(settings, FORECAST, snapshot, cycle, track=False)
        call = time.perf_counter() - started
        return {"rows": outcome.rows, "geographies": outcome.geographies, "call_s": call}
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    outcome = profiler.runcall(run_forecast, settings, FORECAST, snapshot, cycle, track=False)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(out.getvalue(), file=sys.stderr)
    return {"rows": outcome.rows, "geographies": outcome.geographies, "call_s": float("nan")}


def run_step(args: argparse.Namespace) -> None:
    """(child process) One step; prints its figures as one JSON line."""
    home = Path(args.home)
    started = time.perf_counter()
    import numpy  # noqa: F401  (the heavy imports, timed apart from the step)
    import pandas  # noqa: F401
    import sklearn  # noqa: F401

    before = rss_mb()
    imported = time.perf_counter()
    name, *rest = args.step
    if name == "world":
        out = step_world(home, args.rows, args.counties)
    elif name == "train":
        out = step_train(home, args.family)
    elif name == "score":
        out = step_score(rest[0], rest[1], args.rescore)
    else:
        cycle = int(rest[1]) if rest[1] != "none" else None
        out = step_forecast(home, args.rows, args.counties, rest[0], cycle, args.profile)
    done = time.perf_counter()
    figures = {"import_s": imported - started, "step_s": done - imported, "rss_before_mb": before}
    print(json.dumps({**out, **figures, "peak_rss_mb": rss_mb("VmHWM")}))


def child(args: argparse.Namespace, *step: str, profile: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--home", args.home, "--rows", str(args.rows), "--counties", str(args.counties)]
    cmd += ["--family", args.family, *(["--profile"] if profile else []), *(["--rescore"] if args.rescore else [])]
    cmd += ["--step", *step]
    load_before = load_average()
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"step failed: {' '.join(cmd)}\n{out.stderr[-4000:]}")
    if profile:
        print(out.stderr, file=sys.stderr)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "load": (load_before, load_average())}


def score_once(args: argparse.Namespace, dataset: str, snapshot: str) -> dict:
    """Score a snapshot in a child, or the figures of the time it was scored (kept beside its output)."""
    record = Path(args.home) / f"scored_{dataset}_{snapshot}_{args.family}.json"
    if record.exists() and not args.rescore:
        return {**json.loads(record.read_text()), "cached": True}
    result = child(args, "score", dataset, snapshot)
    if not result.get("cached"):
        record.write_text(json.dumps(result))
    return result


def row(label: str, r: dict) -> str:
    growth = r["peak_rss_mb"] - r["rss_before_mb"]
    return (
        f"| {label} | {r['call_s']:.1f} | {r['step_s']:.1f} | {r['wall_s']:.1f} | {r['rss_before_mb']:,.0f} "
        f"| {r['peak_rss_mb']:,.0f} "
        f"| {growth:,.0f} | {r['load'][0]:.1f}/{r['load'][1]:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--counties", type=int, default=3100)
    parser.add_argument("--family", default="logistic_regression")
    parser.add_argument("--home", default=str(DEFAULT_HOME))
    parser.add_argument("--profile", action="store_true", help="the full-size forecasts under cProfile")
    parser.add_argument("--rescore", action="store_true", help="score both snapshots again")
    parser.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_home(Path(args.home))
    if args.step:
        run_step(args)
        return
    full, tenth = snapshot_ids(args.rows, args.counties)
    print(f"world: {args.rows:,} voters, {args.counties:,} counties (cached)", file=sys.stderr, flush=True)
    child(args, "world")
    print(f"champions: {args.family} (cached)", file=sys.stderr, flush=True)
    child(args, "train")
    scored = {}
    for snapshot in (tenth, full):
        for dataset in DATASETS:
            print(f"scoring {snapshot} with {dataset} (cached)", file=sys.stderr, flush=True)
            scored[dataset, snapshot] = score_once(args, dataset, snapshot)
    print("forecasts", file=sys.stderr, flush=True)
    plain_tenth = child(args, "forecast", tenth, "none")
    plain = child(args, "forecast", full, "none", profile=args.profile)
    cycled = child(args, "forecast", full, str(CYCLE), profile=args.profile)
    report(args, scored, full, tenth, plain_tenth, plain, cycled)


def report(args, scored, full, tenth, plain_tenth, plain, cycled) -> None:
    print(f"{args.rows:,} voters, {args.counties:,} counties, champions {args.family}; nproc {os.cpu_count()}")
    print(
        "| step | call s | step s (+ its modules' imports) | process wall s | RSS before MiB | peak RSS MiB "
        "| growth MiB | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for (dataset, snapshot), r in scored.items():
        if r.get("cached") and "call_s" not in r:
            print(f"| score {dataset} {snapshot} | scored before, figures lost: run with --rescore | | | | | | |")
        else:
            print(row(f"score {dataset} {snapshot}{' (figures of its run)' if r.get('cached') else ''}", r))
    print(row(f"forecast {tenth} (no cycle)", plain_tenth))
    print(row(f"forecast {full} (no cycle)", plain))
    print(row(f"forecast {full} cycle {CYCLE} (backtest + calibration)", cycled))
    scoring = [scored[d, full] for d in DATASETS]
    if any("call_s" not in r for r in scoring):
        print("full-size scoring figures missing: no ratio (run with --rescore)")
        return
    for key, what in (("call_s", "the calls"), ("step_s", "the calls with their modules' imports")):
        turnout, support = (r[key] for r in scoring)
        total = turnout + support
        print(f"{what}: scoring {DATASETS[0]} {turnout:.1f} s + {DATASETS[1]} {support:.1f} s = {total:.1f} s")
        for label, r in (("  forecast", plain), (f"  forecast with cycle {CYCLE}", cycled)):
            print(f"{label}: {r[key]:.1f} s = {r[key] / total:.1%} of scoring (bar: <= 10%)")
    print(
        f"forecast peak RSS growth: {plain_tenth['peak_rss_mb'] - plain_tenth['rss_before_mb']:,.0f} MiB at "
        f"{args.rows // 10:,} rows, {plain['peak_rss_mb'] - plain['rss_before_mb']:,.0f} MiB at {args.rows:,}"
    )


if __name__ == "__main__":
    main()

"""Batch-scoring throughput and peak memory on a synthetic voter file (10M rows by default).

    python benchmarks/bench_scoring.py [--rows 10000000] [--families logistic_regression ...]
                                       [--spaces configured|small|budget]

Everything goes to .local/bench_scoring/ (git-ignored): the voter file (kept columns, no target,
written in chunks), an 8-partition copy, a workspace with its own MLflow store where one model per
candidate family is trained and registered: with `--spaces configured` (the default) the family's
configured search (include/config/modelops.yaml, as the training DAG runs it) on a 250k-row sample,
i.e. the model a real champion of that family would be; with `--spaces small` one fixed small
configuration on a 60k-row sample (the engine's figure before the search spaces were capped); with
`--spaces budget` the configured search with the tree caps halved (BUDGET_SPACES), the size at which two
tree models fit the shadow figure's per-row budget on two cores. Each measurement runs
in a fresh child process (`--measure`): plan + every group + commit, as `score_snapshot` does; the
child reports its wall time and peak RSS (VmHWM from /proc/self/status). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".local" / "bench_scoring"
os.environ.setdefault("MODELOPS_HOME", str(HOME / "workspace"))
os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{HOME / 'workspace' / 'mlflow' / 'mlflow.db'}")
sys.path.insert(0, str(REPO / "include"))

DATASET = "voter_turnout"
CHUNK = 250_000
SMALL_SPACES = {  # small models: the figure is about the engine, not the biggest forest
    "logistic_regression": {"C": {"choice": [1.0]}},
    "hist_gradient_boosting": {
        "learning_rate": {"choice": [0.1]},
        "max_leaf_nodes": {"choice": [31]},
        "min_samples_leaf": {"choice": [50]},
        "l2_regularization": {"choice": [0.1]},
    },
    "random_forest": {
        "n_estimators": {"choice": [30]},
        "max_depth": {"choice": [10]},
        "min_samples_leaf": {"choice": [20]},
        "max_features": {"choice": ["sqrt"]},
    },
}

# The configured search with the tree caps about halved: HGB 20 rounds, RF 10 trees (the tree-size table
# in docs/benchmarks.md puts each near 0.6 µs per row, so a champion and a challenger fit ~3.4 µs together
# with the engine's share). Measured to tell what the shadow figure would cost in accuracy, not configured.
BUDGET_SPACES = {
    "hist_gradient_boosting": {"max_iter": {"choice": [20]}, "learning_rate": {"log_uniform": [0.2, 0.3]}},
    "random_forest": {"n_estimators": {"choice": [10]}, "max_depth": {"choice": [10]}},
}


def bench_settings():
    """The bundled settings, with the benchmark's data folder (beside the workspace) a scoring input root."""
    from modelops.config.settings import load_settings

    settings = load_settings()
    return dataclasses.replace(
        settings, scoring=settings.scoring.model_copy(update={"input_roots": [str(HOME / "data")]})
    )


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_voter_file(spec, rows: int, path: Path, parts_dir: Path, parts: int = 8) -> None:
    """The production voter file (kept columns without the target) in 250k-row chunks, and an 8-file copy."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from modelops.collect.synthetic import CycleScenario, generate_counties, voter_chunk

    done = path.with_suffix(".done")
    if done.exists() and json.loads(done.read_text()) == {"rows": rows}:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    economics, results = generate_counties(int(spec.source.get("counties", 40)), int(spec.source.get("seed", 0)))
    counties = economics.merge(results, on="county_fips")
    world = CycleScenario(year=2028)
    rng = np.random.default_rng([2028, 9])
    columns = [c for c in spec.kept_columns if c != spec.target]
    parts_dir.mkdir(parents=True, exist_ok=True)
    per_part = -(-rows // parts)
    writer = None
    part_writer, part_index, part_rows = None, -1, per_part
    tmp = path.with_suffix(".tmp")
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        voters = voter_chunk(rng, n, start, world, economics[["county_fips", "urban_class"]])
        joined = voters.drop(columns=["urban_class"], errors="ignore").merge(counties, on="county_fips", how="left")
        table = pa.Table.from_pandas(joined[columns], preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        offset = 0
        while offset < n:  # the same rows, cut into `parts` files
            if part_rows >= per_part:
                if part_writer is not None:
                    part_writer.close()
                part_index += 1
                part_writer = pq.ParquetWriter(parts_dir / f"part-{part_index:02d}.parquet", table.schema)
                part_rows = 0
            take = min(per_part - part_rows, n - offset)
            part_writer.write_table(table.slice(offset, take))
            part_rows += take
            offset += take
        print(f"  wrote {start + n:,} rows", file=sys.stderr, flush=True)
    writer.close()
    part_writer.close()
    tmp.replace(path)
    done.write_text(json.dumps({"rows": rows}))


def first_rows(source: Path, rows: int, path: Path) -> None:
    """The first `rows` rows of the file (the 1M-row measurement)."""
    import pyarrow.parquet as pq

    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    handle = pq.ParquetFile(source)
    with pq.ParquetWriter(path.with_suffix(".tmp"), handle.schema_arrow) as writer:
        left = rows
        for batch in handle.iter_batches(batch_size=CHUNK):
            writer.write_batch(batch.slice(0, min(left, batch.num_rows)))
            left -= min(left, batch.num_rows)
            if left <= 0:
                break
    path.with_suffix(".tmp").replace(path)


def models_record(spaces: str) -> Path:
    return HOME / ("models.json" if spaces == "small" else f"models_{spaces}.json")


def train_families(families: list[str], spaces: str = "configured") -> dict[str, str]:
    """One registered model per family (reused when already trained): {family: version}."""
    from modelops.collect.sources import collect_batch
    from modelops.config.settings import load_settings
    from modelops.pipelines import workflow
    from modelops.store import tracking
    from modelops.validate.validation import validate_batch

    record = models_record(spaces)
    known = json.loads(record.read_text()) if record.exists() else {}
    settings = load_settings()
    if spaces == "small":
        settings = dataclasses.replace(settings, search_spaces={**settings.search_spaces, **SMALL_SPACES})
    if spaces == "budget":
        capped = {f: {**settings.search_spaces[f], **caps} for f, caps in BUDGET_SPACES.items()}
        settings = dataclasses.replace(settings, search_spaces={**settings.search_spaces, **capped})
    spec = settings.dataset(DATASET)
    for family in families:
        if family in known:
            continue
        # a run id per search space: the training steps reuse a run already logged under the same id
        space = json.dumps(settings.search_spaces[family], sort_keys=True)
        run_id = f"{family}-{spaces}-{hashlib.sha256(space.encode()).hexdigest()[:8]}"
        batch = collect_batch(spec, sample_rows=60_000 if spaces == "small" else 250_000)
        validation = validate_batch(batch, spec)
        training = workflow.training_options(settings, [family], None)
        if spaces == "small":
            training["search"] = {**training["search"], "n_configs": 1, "max_rounds": 1}
        plan = workflow.prepare_training(
            batch.to_dict(), validation.to_dict(), spec, settings, training, {"dag_id": "bench", "run_id": run_id}
        )
        # The spaces are replaced in memory, not in the config file its hash is taken of: without this the
        # registry would take another space's model on the same sample for this one's (not registered again).
        lineage = plan["lineage"]
        lineage["modelops.config_hash"] = hashlib.sha256(
            f"{lineage['modelops.config_hash']}:{space}".encode()
        ).hexdigest()
        result = workflow.run_candidate(plan, family, spec, settings)
        report = workflow.evaluate_candidates(plan, [result], spec, settings)
        registration = workflow.register_best(plan, report, spec)
        if registration["duplicate_of"]:
            raise SystemExit(f"{family}: the registry gave v{registration['duplicate_of']}, not this run's model")
        known[family] = registration["version"]
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(known))
        params = {k: v for k, v in tracking.client().get_run(result["run_id"]).data.params.items() if "param_" in k}
        auc = result["holdout"].get("roc_auc")
        print(f"  {family}: v{registration['version']} holdout AUC {auc} {params}", file=sys.stderr, flush=True)
    return known


def load_average() -> float:
    """The 1-minute load average (other work sharing the cores)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def score_groups(plan: dict, indices: list[int]) -> tuple[list[dict], float, float]:
    """(worker process) Score some groups of a plan: (their results, seconds to load the model, peak RSS)."""
    from modelops.score.models import load_models
    from modelops.score.plan import ScoringPlan
    from modelops.score.run import score_group

    started = time.perf_counter()
    models = load_models(ScoringPlan.from_xcom(plan))  # imports + load, timed apart
    loaded = time.perf_counter() - started
    return [score_group(plan, i, models) for i in indices], loaded, peak_rss_mb()


def measure(
    family: str, challenger: str | None, path: str, groups: int | None, workers: int = 1, spaces: str = "configured"
) -> dict:
    """(child process) Point the aliases, score the file, report times and peak memory.

    The one-off cost (imports of mlflow/sklearn/skops, first model load) is timed apart, so the
    figure is given with and without it; the parent also times the whole child process.
    """
    started = time.perf_counter()
    from modelops.score.commit import commit_scoring
    from modelops.score.models import load_models
    from modelops.score.plan import plan_scoring
    from modelops.score.run import score_group
    from modelops.store import registry, tracking

    versions = json.loads(models_record(spaces).read_text())
    settings = bench_settings()
    spec = settings.dataset(DATASET)
    alias = f"bench_{family}"  # not `champion`: only the training/promotion DAGs may move that alias
    registry.set_alias(spec.model_name, alias, versions[family], "bench", "bench", None)
    if challenger:
        registry.set_alias(spec.model_name, registry.CHALLENGER, versions[challenger], "bench", "bench", None)
    else:
        current = registry.version_by_alias(spec.model_name, registry.CHALLENGER)
        if current is not None:
            tracking.client().delete_registered_model_alias(spec.model_name, registry.CHALLENGER)
    imported = time.perf_counter()
    plan = plan_scoring(spec, settings, path, snapshot="bench", alias=alias, groups=groups)
    models = load_models(plan) if workers == 1 else {}  # the one-off import + load, timed apart
    loaded = time.perf_counter()
    worker_load = 0.0
    worker_rss: list[float] = []
    if workers == 1:
        parts = [score_group(plan, i, models) for i in range(len(plan.groups))]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # one native thread per process: the processes share the cores
        os.environ["MODELOPS_SCORING_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))
        share = [list(range(len(plan.groups)))[w::workers] for w in range(workers)]
        context = multiprocessing.get_context("spawn")  # each worker pays its own imports, as an Airflow task does
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            done = list(pool.map(score_groups, [plan.to_xcom()] * workers, share))
        parts = [p for results, _, _ in done for p in results]
        worker_load = max(w for _, w, _ in done)
        worker_rss = [r for _, _, r in done]
    scored = time.perf_counter()
    result = commit_scoring(plan, parts)
    done_at = time.perf_counter()
    return {
        "rows": result["rows"],
        "groups": len(plan.groups),
        "workers": workers,
        "shadow": bool(plan.shadow),
        "import_s": imported - started,
        "plan_s": loaded - imported,  # plan + first model load(s) when in this process
        "worker_load_s": worker_load,
        "score_s": scored - loaded,
        "commit_s": done_at - scored,
        "steady_s": done_at - loaded - worker_load,  # plan excluded too: scoring + commit
        "peak_rss_mb": peak_rss_mb(),
        "worker_rss_mb": worker_rss,
        "sources": result["sources"],
        "fast_path": json.loads(Path(result["manifest"]).read_text())["fast_path"],
        # the challenger's stable sample (scoring.shadow_sample): rows it scored, of the rows it could have
        "shadow_sample": (json.loads(Path(result["manifest"]).read_text()).get("agreement") or {}).get("sample"),
    }


def warm_cache(path: Path) -> None:
    """Read the input once, so the figure is the engine's and not the disk's (this machine's kernel
    pages out idle file pages, so whether a file was still cached varied from run to run)."""
    for name in sorted(path.glob("*.parquet")) if path.is_dir() else [path]:
        with open(name, "rb") as handle:
            while handle.read(1 << 24):
                pass


def child(
    family: str,
    challenger: str | None,
    path: Path,
    groups: int | None,
    workers: int = 1,
    spaces: str = "configured",
    warm: bool = True,
) -> dict:
    cmd = [sys.executable, __file__, "--measure", family, str(path), "--challenger", challenger or "", "--groups"]
    cmd += [str(groups or 0), "--workers", str(workers), "--spaces", spaces]
    if warm:
        warm_cache(path)
    load_before = load_average()
    started = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"measurement failed: {' '.join(cmd)}\n{out.stderr[-4000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(wall_s=wall, load_before=load_before, load_after=load_average())
    return result


def table_row(family: str, label: str, other: str, workers: int, r: dict) -> str:
    """One Markdown row of the results table."""
    sample = r.get("shadow_sample") or {}
    sampled = f"; {sample['rows']:,} of {sample['of_rows']:,} rows sampled" if sample.get("of_rows") else ""
    shadow = f"yes ({other}{sampled})" if r["shadow"] else "no"
    one_off = r["wall_s"] - r["steady_s"]
    rss = (
        f"{r['peak_rss_mb']:,.0f} MiB"
        if workers == 1
        else f"{max(r['worker_rss_mb']):,.0f} MiB per worker ({sum(r['worker_rss_mb']):,.0f} MiB both)"
    )
    fast = all(v["fast"] for v in r["fast_path"].values())
    return (
        f"| {family} | {label} | {shadow} | {r['groups']} x {workers} | {r['rows']:,} | {r['wall_s']:.1f} | "
        f"{one_off:.1f} | {r['steady_s']:.1f} | {r['rows'] / r['wall_s']:,.0f} | "
        f"**{r['rows'] / r['steady_s']:,.0f}** | **{rss}** | {r['load_before']:.1f}/{r['load_after']:.1f}"
        f"{'' if fast else ' (plain path!)'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--small-rows", type=int, default=1_000_000)
    parser.add_argument("--families", nargs="*", default=None)
    parser.add_argument("--measure", nargs=2, metavar=("FAMILY", "PATH"))
    parser.add_argument("--challenger", default="")
    parser.add_argument("--groups", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--spaces", choices=["configured", "small", "budget"], default="configured")
    parser.add_argument("--only", choices=["small", "full", "shadow", "parts", "parts2"], nargs="*", default=None)
    parser.add_argument("--shadow-with", default=None, help="challenger family of the shadow rows (default: another)")
    parser.add_argument("--repeat", type=int, default=1, help="measure each row this many times")
    parser.add_argument("--cold", action="store_true", help="do not read the input into the page cache first")
    args = parser.parse_args()
    if args.measure:
        family, path = args.measure
        result = measure(family, args.challenger or None, path, args.groups or None, args.workers, args.spaces)
        print(json.dumps(result))
        return
    from modelops.config.settings import CANDIDATE_FAMILIES, load_settings

    spec = load_settings().dataset(DATASET)
    families = args.families or list(CANDIDATE_FAMILIES)
    full = HOME / "data" / f"voters_{args.rows}.parquet"
    parts = HOME / "data" / f"voters_{args.rows}_parts"
    small = HOME / "data" / f"voters_{args.small_rows}.parquet"
    print(f"generating {args.rows:,} voters (cached)", file=sys.stderr)
    write_voter_file(spec, args.rows, full, parts)
    first_rows(full, args.small_rows, small)
    print(f"training one model per family, {args.spaces} search spaces (cached)", file=sys.stderr)
    train_families(list(CANDIDATE_FAMILIES), args.spaces)
    only = set(args.only or ["small", "full", "shadow", "parts", "parts2"])
    print(f"nproc {os.cpu_count()}, load average before: {load_average():.2f}")
    print(
        "| family | input | shadow | groups x processes | rows | wall s (process) | one-off s (imports + load) "
        "| steady s | rows/s incl. load | rows/s excl. load | peak RSS | load avg (before/after) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for family in families:
        other = args.shadow_with or next(f for f in CANDIDATE_FAMILIES if f != family)
        runs = []
        if "small" in only:
            runs.append(("1M file", None, small, None, 1))
        if "full" in only:
            runs.append(("10M file", None, full, None, 1))
        if "shadow" in only:
            runs.append(("10M file", other, full, None, 1))
        if "parts" in only:
            runs.append(("8 partitions", None, parts, 8, 1))
        if "parts2" in only:
            runs.append(("8 partitions", None, parts, 8, 2))
        for label, challenger, path, groups, workers in runs:
            for _ in range(args.repeat):
                r = child(family, challenger, path, groups, workers, args.spaces, not args.cold)
                print(table_row(family, label, other, workers, r), flush=True)


if __name__ == "__main__":
    main()

"""Production windows for the voter-file generator: what the champion scores, and labels later.

A window is `<workspace>/production/<dataset>/inputs/<window_id>.parquet` (the collected columns
without the target) and, once the election is over, `labels/<window_id>.parquet` (id + target).
A dataset without an id column cannot join late labels to inputs, so its outcomes arrive as
`labeled/<window_id>.parquet`: the inputs with the target beside them.
Scenarios with known answers exercise the monitoring DAG.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from modelops.config import DatasetSpec, workspace_root
from modelops.synthetic import CycleScenario, draw_outcome, generate_counties, voter_chunk

# Known answers: what each scenario should make the monitoring do.
SCENARIOS: dict[str, dict] = {
    "stable": {},  # same world as the reference cycle: no retraining
    "covariate_shift": {"young_registrant_share": 0.35},  # a wave of young new registrants: data drift
    "concept_drift": {"age_effect": -1.0},  # age-turnout relation reverses; inputs look the same
    "prediction_drift": {"civic_shift": 0.9},  # a more engaged electorate: scores move
    "quality_break": {},  # a broken extract: validation fails, alert only, no retraining
    # A realigning electorate: young registrants surge and the age-turnout slope flattens.
    "realignment": {"young_registrant_share": 0.3, "age_effect": 0.0},
}


def production_dir(spec: DatasetSpec) -> Path:
    """Where a dataset's production windows live."""
    return workspace_root() / "production" / spec.name


def window_paths(spec: DatasetSpec, window_id: str) -> dict[str, Path]:
    """Input, label and labelled (inputs + target) files of one window."""
    root = production_dir(spec)
    return {
        "inputs": root / "inputs" / f"{window_id}.parquet",
        "labels": root / "labels" / f"{window_id}.parquet",
        "labeled": root / "labeled" / f"{window_id}.parquet",
    }


def list_windows(spec: DatasetSpec) -> list[str]:
    """Window ids with inputs, oldest first (ids sort in time order)."""
    return sorted(p.stem for p in (production_dir(spec) / "inputs").glob("*.parquet"))


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)


def simulate_window(spec: DatasetSpec, scenario: str, rows: int, seed: int, year: int | None = None) -> pd.DataFrame:
    """A joined, labelled window of voters drawn from `scenario`."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")
    source = spec.source
    cycles = [c["year"] if isinstance(c, dict) else int(c) for c in source["cycles"]]
    # Production comes after training: by default the next presidential cycle (same kind of
    # election as the newest reference cycle, so "stable" really is stable).
    world = replace(CycleScenario(year=year or max(cycles) + 4), **SCENARIOS[scenario])
    economics, results = generate_counties(int(source.get("counties", 40)), int(source.get("seed", 0)))
    rng = np.random.default_rng([seed, 7])
    voters = voter_chunk(rng, rows, 0, world, economics[["county_fips", "urban_class"]])
    voters["voter_id"] = [f"P{seed}-{i:08d}" for i in range(rows)]
    county = results.merge(economics[["county_fips", "unemployment_rate"]], on="county_fips")
    voters["voted"] = draw_outcome(voters, county, world, rng)
    joined = voters.merge(economics, on="county_fips").merge(results, on="county_fips")
    frame = joined[spec.kept_columns].copy()
    if scenario == "quality_break":  # a new vendor extract: lower-case party codes, ages missing
        frame["party"] = frame["party"].str.lower()
        frame.loc[frame.sample(frac=0.2, random_state=seed).index, "age"] = np.nan
    return frame


def write_window(
    spec: DatasetSpec, window_id: str, scenario: str, rows: int, seed: int, with_labels: bool = False
) -> dict[str, Path]:
    """Write a window's inputs (and its labels when `with_labels`); returns the paths."""
    frame = simulate_window(spec, scenario, rows, seed)
    paths = window_paths(spec, window_id)
    _write(frame.drop(columns=[spec.target]), paths["inputs"])
    # Labels arrive later (after the election): kept aside until `release_labels`. Without an id
    # they can only come with the inputs beside them.
    label_frame = frame[[spec.id_column, spec.target]] if spec.id_column else frame
    _write(label_frame, _pending(spec, window_id))
    if with_labels:
        release_labels(spec, window_id)
    return paths


def _pending(spec: DatasetSpec, window_id: str) -> Path:
    return window_paths(spec, window_id)["labels"].with_name(f".pending-{window_id}.parquet")


def release_labels(spec: DatasetSpec, window_id: str) -> Path:
    """The election is over: a window's labels (or, without an id, its labelled file) reach monitoring."""
    paths = window_paths(spec, window_id)
    target = paths["labels"] if spec.id_column else paths["labeled"]
    pending = _pending(spec, window_id)
    if pending.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pending.replace(target)
    return target

"""A producer of production windows: the voter-file generator, drifted by scenarios with known answers.

It simulates frames and delivers them through the catalog like any real feed would: a window's
inputs (the collected columns, without the target) to `catalog.snapshot_inputs`, its outcomes held
back at `catalog.pending_labels` until the election is over, then released to
`catalog.snapshot_labels` (id + target) or, for a dataset without an id column (late labels cannot
be joined), to `catalog.snapshot_labeled` (the inputs with the target beside them). `deliver_cycle`
delivers one cycle of the generated voter file itself (a forecast's backtest needs the very voters the
certified results counted). Nothing reads the layout from here: monitoring asks the catalog.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from modelops.collect.inputs import read_table
from modelops.collect.sources import join_sources
from modelops.collect.synthetic import CycleScenario, draw_outcome, generate_counties, voter_chunk
from modelops.config.settings import DatasetSpec
from modelops.core import catalog

# Known answers: what each scenario should make the monitoring do.
SCENARIOS: dict[str, dict] = {
    "stable": {},  # same world as the reference cycle: no retraining
    "covariate_shift": {"young_registrant_share": 0.35},  # a wave of young new registrants: data drift
    "concept_drift": {"age_effect": -1.0},  # age-turnout relation reverses; inputs look the same
    "prediction_drift": {"civic_shift": 0.9},  # a more engaged electorate: scores move
    "quality_break": {},  # a broken extract: validation fails, alert only, no retraining
    # A realigning electorate: young registrants surge and the age-turnout slope flattens.
    "realignment": {"young_registrant_share": 0.3, "age_effect": 0.0},
    # A campaign now contacts older voters: age and contact attempts become correlated, each keeping its
    # own distribution. Every per-column test stays quiet; only the multivariate (domain classifier) test sees it.
    "correlation_shift": {"contact_age_coupling": 0.8},
}


def drifted_world(scenario: str, year: int, fraction: float = 1.0) -> CycleScenario:
    """The world of `year` with `scenario`'s knobs moved `fraction` of the way from the reference world's."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {sorted(SCENARIOS)}")
    base = CycleScenario(year=year)
    knobs = {k: getattr(base, k) + fraction * (v - getattr(base, k)) for k, v in SCENARIOS[scenario].items()}
    return replace(base, **knobs)


def simulate_window(
    spec: DatasetSpec, scenario: str, rows: int, seed: int, year: int | None = None, with_pii: bool = False
) -> pd.DataFrame:
    """A joined, labelled window of voters drawn from `scenario` (with the spec's PII columns when `with_pii`)."""
    cycles = [c["year"] if isinstance(c, dict) else int(c) for c in spec.source["cycles"]]
    # Production comes after training: by default the next presidential cycle (same kind of
    # election as the newest reference cycle, so "stable" really is stable).
    world = drifted_world(scenario, year or max(cycles) + 4)
    frame = simulate_cycle(spec, world, rows, seed, with_pii)
    if scenario == "quality_break":  # a new vendor extract: lower-case party codes, ages missing
        frame["party"] = frame["party"].str.lower()
        frame.loc[frame.sample(frac=0.2, random_state=seed).index, "age"] = np.nan
    return frame


def simulate_cycle(
    spec: DatasetSpec, world: CycleScenario, rows: int, seed: int, with_pii: bool = False
) -> pd.DataFrame:
    """A joined, labelled frame of `rows` voters drawn from `world` (the spec's kept columns, PII when asked)."""
    source = spec.source
    economics, results = generate_counties(int(source.get("counties", 40)), int(source.get("seed", 0)))
    rng = np.random.default_rng([seed, 7])
    voters = voter_chunk(rng, rows, 0, world, economics[["county_fips", "urban_class"]], source.get("pii_marker"))
    voters["voter_id"] = [f"P{seed}-{i:08d}" for i in range(rows)]
    county = results.merge(economics[["county_fips", "unemployment_rate"]], on="county_fips")
    voters["voted"] = draw_outcome(voters, county, world, rng)
    joined = voters.merge(economics, on="county_fips").merge(results, on="county_fips")
    pii = [c for c in spec.pii if c in joined.columns and c not in spec.kept_columns] if with_pii else []
    return joined[[*spec.kept_columns, *pii]].copy()


def write_window(
    spec: DatasetSpec, window_id: str, scenario: str, rows: int, seed: int, with_labels: bool = False
) -> Path:
    """Deliver a window's inputs (and release its labels when `with_labels`); returns the inputs' path."""
    # a delivery is the whole voter file, names and addresses included (a campaign contacts these voters)
    frame = simulate_window(spec, scenario, rows, seed, with_pii=True)
    inputs = catalog.write_parquet(frame.drop(columns=[spec.target]), catalog.snapshot_inputs(spec.name, window_id))
    # Labels arrive later (after the election): kept aside until `release_labels`. Without an id
    # they can only come with the inputs beside them.
    label_frame = frame[[spec.id_column, spec.target]] if spec.id_column else frame[[*spec.kept_columns]]
    catalog.write_parquet(label_frame, catalog.pending_labels(spec.name, window_id))
    if with_labels:
        release_labels(spec, window_id)
    return inputs


def deliver_cycle(spec: DatasetSpec, cycle: int, window_id: str) -> Path:
    """Deliver one election `cycle` of the dataset's generated voter file as snapshot `window_id`; the inputs' path.

    The rows of the cycle in `catalog.VOTER_FILE` (the world a training run of a `synthetic_voters` source
    wrote), joined like the dataset's batches, the target dropped, names and addresses kept (a delivery is
    the whole voter file). The world's certified results of the same cycle are what a forecast of it is
    backtested against.
    """
    path = spec.raw_dir() / catalog.VOTER_FILE
    if not path.exists():
        raise FileNotFoundError(f"no voter file of {spec.name} at {path}: collect the dataset first (training does)")
    column = spec.time_column
    if not column:
        raise ValueError(f"dataset {spec.name!r} has no time_column: its voter file cannot be cut by cycle")
    frame = read_table(path)
    if column not in frame.columns:
        raise ValueError(f"{spec.name}'s voter file {path.name} lacks the time column {column!r}")
    rows = frame[frame[column] == cycle].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"{spec.name}'s voter file {path.name} holds no rows of {column} {cycle}")
    joined, _ = join_sources(rows, spec)
    inputs = joined.drop(columns=[c for c in (spec.target,) if c in joined.columns])
    return catalog.write_parquet(inputs, catalog.snapshot_inputs(spec.name, window_id))


def release_labels(spec: DatasetSpec, window_id: str) -> Path:
    """The election is over: a window's labels (or, without an id, its labelled file) reach monitoring."""
    target = (catalog.snapshot_labels if spec.id_column else catalog.snapshot_labeled)(spec.name, window_id)
    pending = catalog.pending_labels(spec.name, window_id)
    if pending.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        pending.replace(target)  # a whole file, renamed: readers never see part of it
    return target

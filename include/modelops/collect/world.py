"""The synthetic world on disk: voter file, county tables, the truth, certified results and polls.

One pass over the voters, a chunk at a time, so memory stays bounded by the chunk (and the polls'
responders), not the file. Each kind of draw has its own random stream per cycle (voters and turnout
`[seed, 2, cycle]`, support `[seed, 3, cycle]`, the poll `[seed, 4, cycle]`), so support and polls
never move the voter file: the turnout world of a seed stays what it was.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect import electorate, polls
from modelops.collect.synthetic import CycleScenario, draw_outcome, generate_counties, turnout_probability, voter_chunk
from modelops.core import catalog

GENERATOR_VERSION = 2  # the files a manifest vouches for: 2 added the truth, certified results and polls
FILES = {
    "voters": catalog.VOTER_FILE,
    "county_economics": catalog.COUNTY_ECONOMICS_FILE,
    "county_results": catalog.COUNTY_RESULTS_FILE,
    "truth": catalog.TRUTH_FILE,
    "certified_results": catalog.CERTIFIED_RESULTS_FILE,
    "polls": catalog.POLL_FILE,
}


class _ChunkedParquet:
    """A Parquet file written chunk by chunk (every chunk cast to the first one's schema)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writer: Any = None

    def write(self, frame: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table.cast(self.writer.schema))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def generate_voter_file(
    out_dir: Path,
    rows: int,
    seed: int,
    scenarios: list[CycleScenario],
    n_counties: int = 40,
    chunk_rows: int = 200_000,
    pii_marker: str | None = None,
    poll_rows: int = polls.DEFAULT_POLL_ROWS,
) -> dict[str, str]:
    """Write the world's files (`FILES`: name -> file in `out_dir`) and return their paths by name.

    Rows are split evenly across the scenarios' cycles; each cycle gets a poll of at most `poll_rows`
    respondents. Rerunning with the same arguments reuses the files already written (a manifest
    records the arguments).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {name: str(out_dir / file) for name, file in FILES.items()}
    manifest = {
        "rows": rows,
        "seed": seed,
        "scenarios": [asdict(s) for s in scenarios],
        "n_counties": n_counties,
        "chunk_rows": chunk_rows,
        "poll_rows": poll_rows,
        "generator_version": GENERATOR_VERSION,
        **({"pii_marker": pii_marker} if pii_marker else {}),
    }
    manifest_path = out_dir / catalog.MANIFEST
    unchanged = manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest
    if unchanged and all(Path(p).exists() for p in paths.values()):
        return paths

    manifest_path.unlink(missing_ok=True)  # files half-replaced by a crash are never vouched for
    economics, results = generate_counties(n_counties, seed)
    catalog.write_parquet(economics, paths["county_economics"])
    catalog.write_parquet(results, paths["county_results"])
    tallies, cycle_polls = _write_voters_and_truth(
        paths, rows, seed, scenarios, economics, results, chunk_rows, pii_marker, poll_rows
    )
    years = [s.year for s in scenarios]
    certified = electorate.certify_results(tallies, economics["county_fips"], years)
    catalog.write_parquet(certified, paths["certified_results"])
    catalog.write_parquet(pd.concat(cycle_polls, ignore_index=True), paths["polls"])
    catalog.write_json(manifest_path, manifest)  # last: a manifest vouches for the files beside it
    return paths


def _write_voters_and_truth(
    paths: dict[str, str],
    rows: int,
    seed: int,
    scenarios: list[CycleScenario],
    economics: pd.DataFrame,
    results: pd.DataFrame,
    chunk_rows: int,
    pii_marker: str | None,
    poll_rows: int,
) -> tuple[list[pd.DataFrame], list[pd.DataFrame]]:
    """Stream the voter file and its truth to disk; return the chunks' vote tallies and each cycle's poll."""
    county_lookup = economics[["county_fips", "urban_class"]]
    county_table = results.merge(economics[["county_fips", "unemployment_rate"]], on="county_fips")
    per_cycle = np.diff(np.linspace(0, rows, len(scenarios) + 1).astype(int))
    tallies: list[pd.DataFrame] = []
    cycle_polls: list[pd.DataFrame] = []
    with catalog.atomic_file(paths["voters"]) as voters_tmp, catalog.atomic_file(paths["truth"]) as truth_tmp:
        voters_out, truth_out = _ChunkedParquet(voters_tmp), _ChunkedParquet(truth_tmp)
        try:
            for cycle_index, (scenario, cycle_rows) in enumerate(zip(scenarios, per_cycle, strict=True)):
                rng = np.random.default_rng([seed, 2, cycle_index])
                support_rng = np.random.default_rng([seed, 3, cycle_index])
                poll_rng = np.random.default_rng([seed, 4, cycle_index])
                share = polls.contact_share(int(cycle_rows), poll_rows)
                responders = []
                for start in range(0, cycle_rows, chunk_rows):
                    n = min(chunk_rows, cycle_rows - start)
                    chunk = voter_chunk(rng, n, start, scenario, county_lookup, pii_marker)
                    p_turnout = turnout_probability(chunk, county_table, scenario)
                    chunk["voted"] = draw_outcome(chunk, county_table, scenario, rng, p_turnout)
                    voters_out.write(chunk)
                    truth = electorate.truth_chunk(chunk, economics, scenario, p_turnout, support_rng)
                    truth_out.write(truth)
                    tallies.append(electorate.tally_votes(truth))
                    joined = chunk.merge(county_lookup, on="county_fips", how="left")
                    responders.append(polls.contact_chunk(joined, truth["supports_dem"].to_numpy(), share, poll_rng))
                pool = pd.concat(responders, ignore_index=True) if responders else _no_responders()
                cycle_polls.append(polls.draw_poll(pool, int(cycle_rows), poll_rows, scenario.year, poll_rng))
        finally:
            voters_out.close()
            truth_out.close()
    return tallies, cycle_polls


def _no_responders() -> pd.DataFrame:
    """The responders of a cycle without voters: none, in the responders' shape."""
    return pd.DataFrame(columns=[*polls.SHARED_COLUMNS, "supports_dem", "p_response"])


def generate_source(source: dict[str, Any], out_dir: Path, rows: int | None = None) -> dict[str, str]:
    """The world a `synthetic_voters` or `synthetic_poll` source describes, written to `out_dir` (its paths).

    `rows` replaces the source's `rows` (a smaller demo run); the cycles are years or scenario mappings.
    """
    scenarios = [CycleScenario(**s) if isinstance(s, dict) else CycleScenario(year=int(s)) for s in source["cycles"]]
    return generate_voter_file(
        out_dir,
        rows=int(rows or source["rows"]),
        seed=int(source.get("seed", 0)),
        scenarios=scenarios,
        n_counties=int(source.get("counties", 40)),
        pii_marker=source.get("pii_marker"),
        poll_rows=int(source.get("poll_rows", polls.DEFAULT_POLL_ROWS)),
    )

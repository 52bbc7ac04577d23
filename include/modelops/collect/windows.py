"""A production window as monitoring reads it: a scored snapshot, its inputs and, later, its outcomes.

The scoring output is the production window. `load_scored_window` reads what was served (the
predictions of the committed scoring output) and the inputs from the files its manifest names,
checks that they are the same rows in the same order (row count, and the id column when the spec
has one), and returns them side by side; nothing is scored again. `attach_labels` adds the
outcomes once they arrive: labels (id + target) join the served predictions by id; a dataset
without an id delivers `labeled/<snapshot>.parquet` (the inputs with the target), aligned with the
predictions by row order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.settings import DatasetSpec
from modelops.core import catalog

CHAMPION_ALIAS = "champion"
# Prediction columns monitoring reads (the rest of the output is for consumers and audits).
PREDICTION_COLUMNS = ["row", "id", "score", "source", "reason", "model_version", "champion_score", "challenger_score"]
# A fallback row whose served model's score was computed and withheld by the scoring guard.
WITHHELD_REASON = "score_distribution"  # the opt-in guard (scoring.score_guard: psi) withheld a shifted chunk
# chunks whose model scores were computed, kept in champion_score, and withheld whole: the model's own view
WITHHELD_REASONS = (WITHHELD_REASON, "degenerate_scores")


class WindowError(ValueError):
    """A scored snapshot cannot be read as a window (missing output, inputs that are not its rows)."""


@dataclass(frozen=True)
class ScoredWindow:
    """One scored snapshot: its manifest, its inputs and its served predictions, row for row."""

    snapshot: str
    manifest: dict[str, Any]
    inputs: pd.DataFrame
    predictions: pd.DataFrame  # PREDICTION_COLUMNS, in row order, index 0..n-1 like `inputs`

    @property
    def served_version(self) -> str:
        """The version behind the alias the snapshot was scored with."""
        return str(self.manifest["model_version"])

    @property
    def challenger_version(self) -> str | None:
        """The challenger that shadowed (and decided the canary rows), if any."""
        version = self.manifest.get("challenger_version")
        return str(version) if version is not None else None

    def source_mask(self, source: str) -> np.ndarray:
        """Rows whose served prediction came from `source` (model, fallback or canary)."""
        return (self.predictions["source"].astype(str) == source).to_numpy()

    def model_mask(self) -> np.ndarray:
        """Rows the served version scored itself (see `model_rows`)."""
        p = self.predictions
        return model_rows(p["source"], p["reason"], p["champion_score"])

    def model_scores(self) -> np.ndarray:
        """The served version's own scores of `model_mask()` rows."""
        return self.predictions["champion_score"].to_numpy(dtype=float, na_value=np.nan)[self.model_mask()]


def model_rows(source: pd.Series, reason: pd.Series, champion_score: pd.Series) -> np.ndarray:
    """Rows the served version scored itself: served (source model) or withheld by the score guard.

    A chunk withheld whole (reason `score_distribution` under the opt-in PSI guard, or
    `degenerate_scores` for a model that looks broken) still has the served version's own scores,
    kept in `champion_score`: they are the model's view of that population, so prediction drift
    stays visible however strong it is.
    Baseline scores (every fallback row's `score`) and canary rows are never part of it.
    """
    source = source.astype(str)
    withheld = (source == "fallback") & reason.astype(str).isin(WITHHELD_REASONS)
    finite = np.isfinite(champion_score.to_numpy(dtype=float, na_value=np.nan))
    return ((source == "model") | withheld).to_numpy() & finite


def is_production_window(spec: DatasetSpec, snapshot: str) -> bool:
    """Whether a snapshot's scoring output is committed and was served by the champion alias."""
    path = catalog.scoring_manifest(spec.name, snapshot)
    return path.exists() and catalog.read_json(path).get("alias") == CHAMPION_ALIAS


def list_windows(spec: DatasetSpec) -> list[str]:
    """Scored snapshots served by the champion alias, oldest first: the production windows."""
    return [s for s in catalog.list_scored(spec.name) if is_production_window(spec, s)]


def _input_files(manifest: dict[str, Any], snapshot: str) -> list[Path]:
    kind = manifest.get("input_kind")
    if kind == "sql":
        raise WindowError(
            f"snapshot {snapshot} was scored from a SQL query: monitoring reads a window's inputs from files; "
            "score a file or folder snapshot instead"
        )
    paths = [Path(f) for f in manifest["input_files"]]
    gone = [str(p) for p in paths if not p.exists()]
    if gone:
        raise WindowError(f"snapshot {snapshot}: its scored input files are gone: {gone[:5]}")
    return paths


def _read_inputs(paths: list[Path], keep: list[str]) -> pd.DataFrame:
    """The delivered inputs, only the columns the dataset keeps: names, addresses (spec.pii) and anything
    else the voter file carries never enter monitoring (as collection drops them from a batch)."""
    from modelops.collect.inputs import read_table

    # the one reader: an unreadable file is told as training and scoring tell it (BadFileError, no row text)
    frames = [read_table(p, columns=keep) for p in paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)


def _as_text(values: pd.Series) -> pd.Series:
    """Ids as the scoring output writes them (Arrow's cast to string), nulls as None."""
    import pyarrow as pa

    return pd.Series(pa.array(values, from_pandas=True).cast(pa.string()).to_pylist(), dtype=object)


def load_scored_window(spec: DatasetSpec, snapshot: str) -> ScoredWindow:
    """The served predictions and the inputs of a committed scoring output, checked to be the same rows."""
    manifest_path = catalog.scoring_manifest(spec.name, snapshot)
    if not manifest_path.exists():
        inputs = catalog.snapshot_inputs(spec.name, snapshot)
        raise FileNotFoundError(
            f"window {snapshot!r} of {spec.name} has no committed scoring output at {manifest_path.parent}"
            + (": score the snapshot first (the scoring DAG)" if inputs.exists() else " and no production inputs")
        )
    manifest = catalog.read_json(manifest_path)
    if manifest.get("alias") != CHAMPION_ALIAS:
        raise WindowError(
            f"snapshot {snapshot} was scored with alias {manifest.get('alias')!r}, not {CHAMPION_ALIAS!r}: "
            "it is no production window (only what the champion served is monitored)"
        )
    folder = catalog.scoring_dir(spec.name, snapshot)
    parts = [folder / p["file"] for p in manifest["parts"]]
    predictions = pd.concat([pd.read_parquet(p, columns=PREDICTION_COLUMNS) for p in parts], ignore_index=True)
    for column in ("source", "reason", "model_version"):
        predictions[column] = predictions[column].astype(object)
    predictions = predictions.sort_values("row", kind="stable").reset_index(drop=True)
    rows = int(manifest["rows_out"])
    if len(predictions) != rows or not np.array_equal(predictions["row"].to_numpy(), np.arange(rows)):
        raise WindowError(
            f"snapshot {snapshot}: the manifest counts {rows} rows but the predictions hold {len(predictions)} "
            "(or their row numbers are not 0..n-1): the scoring output is not whole; score it again"
        )
    inputs = _read_inputs(_input_files(manifest, snapshot), spec.kept_columns)
    if len(inputs) != rows:
        raise WindowError(
            f"snapshot {snapshot}: {len(inputs)} input rows but {rows} served predictions: the input files "
            "changed after scoring; score the snapshot again"
        )
    if spec.id_column:
        if spec.id_column not in inputs:
            raise WindowError(f"snapshot {snapshot}: the inputs lack the id column {spec.id_column!r}")
        ids = _as_text(inputs[spec.id_column])
        served = predictions["id"].astype(object).where(predictions["id"].notna(), None)
        differ = ids.fillna("\0").to_numpy() != served.fillna("\0").to_numpy()
        if differ.any():
            first = int(np.flatnonzero(differ)[0])
            raise WindowError(
                f"snapshot {snapshot}: {int(differ.sum())} rows whose input id differs from the served prediction's "
                f"(first at row {first}: input {ids[first]!r}, prediction {served[first]!r}): the inputs are not "
                "the rows that were scored; score the snapshot again"
            )
    return ScoredWindow(snapshot, manifest, inputs, predictions)


# --- outcomes ----------------------------------------------------------------------------------


def labelled_source(spec: DatasetSpec, snapshot: str) -> str | None:
    """How a window's outcomes can be read: "join" (labels on the id), "delivered" (inputs + target), or None."""
    if spec.id_column and catalog.snapshot_labels(spec.name, snapshot).exists():
        return "join"
    if catalog.snapshot_labeled(spec.name, snapshot).exists():
        return "delivered"
    return None


def attach_labels(spec: DatasetSpec, window: ScoredWindow) -> tuple[pd.DataFrame | None, str, dict[str, Any]]:
    """(the window's inputs + served prediction columns + target, how, counts), or (None, why not, {}).

    Every served row is kept; rows whose outcome did not arrive have a missing target (the caller
    leaves them out and counts them). Prediction columns are prefixed `served_`.
    """
    snapshot = window.snapshot
    source = labelled_source(spec, snapshot)
    served = window.predictions.drop(columns=["row"]).add_prefix("served_")
    counts: dict[str, Any] = {}
    if source == "join":
        labels = pd.read_parquet(catalog.snapshot_labels(spec.name, snapshot))
        missing = [c for c in (spec.id_column, spec.target) if c not in labels]
        if missing:
            return None, f"labels/{snapshot}.parquet lacks {missing}", {}
        key = _as_text(labels[spec.id_column].reset_index(drop=True))
        duplicated = key[key.duplicated(keep=False) & key.notna()]
        if len(duplicated):
            return (
                None,
                f"labels/{snapshot}.parquet repeats {duplicated.nunique()} ids (e.g. {duplicated.iloc[0]!r}): "
                "an outcome per id is needed to join them to the served predictions",
                {},
            )
        outcomes = pd.Series(labels[spec.target].to_numpy(), index=key.to_numpy())
        outcomes = outcomes[outcomes.index.notna()]
        ids = served["served_id"]
        frame = pd.concat([window.inputs.drop(columns=[spec.target], errors="ignore"), served], axis=1)
        frame[spec.target] = ids.map(outcomes).to_numpy() if len(outcomes) else np.nan
        counts["unmatched_labels"] = int((~outcomes.index.isin(ids.dropna().to_numpy())).sum())
        labeled_path = catalog.snapshot_labeled(spec.name, snapshot)
        if not labeled_path.exists():  # materialised once: the retraining DAG reads inputs + target
            joined = frame[ids.isin(outcomes.index).to_numpy()]
            catalog.write_parquet(joined.drop(columns=list(served.columns)), labeled_path)
        how = f"joined labels/{snapshot}.parquet to the served predictions on {spec.id_column!r}"
        if counts["unmatched_labels"]:
            how += f" ({counts['unmatched_labels']} labels match no served row)"
        return frame, how, counts
    if source == "delivered":
        delivered = pd.read_parquet(catalog.snapshot_labeled(spec.name, snapshot))
        if spec.target not in delivered:
            return None, f"labeled/{snapshot}.parquet has no target column {spec.target!r}", {}
        if len(delivered) != len(served):
            return (
                None,
                f"labeled/{snapshot}.parquet holds {len(delivered)} rows but {len(served)} were served: without an "
                "id the outcomes align with the predictions by row order only, so the counts must match",
                {},
            )
        frame = pd.concat([delivered.reset_index(drop=True), served], axis=1)
        return frame, f"labeled/{snapshot}.parquet (inputs delivered with their target, aligned by row order)", counts
    return None, f"no labels for window {snapshot}", {}

"""Where everything lives in the workspace, and how it is written: the one place that knows both.

Every location a task reads or writes (raw inputs, batches, splits, validations, quarantine,
production snapshots and labels, scoring outputs, monitoring reports, model cards, run summaries)
is a function of this module, keyed by dataset name and an id. Producers (the collection task, the
scoring DAG, the scenario generator, a person dropping a file) write through `atomic_file` or
`atomic_dir`, so a reader sees a whole file or folder or none of it: the temp name lives in the
same folder as the final one, then one rename publishes it.

Layout under `$MODELOPS_HOME` (default `<repo>/.local`):

    raw/<dataset>/                                 generated raw sources (the synthetic voter file, its truth,
                                                   certified results and polls)
    batches/<dataset>/<hash16>/                    batch.parquet + manifest.json (immutable)
    splits/<dataset>/<key>/                        train/valid/holdout Parquet of one split
    validations/<dataset>/<validation_id>/         GX report (HTML, JSON) of a batch that passed
    quarantine/<dataset>/<id>/                     a rejected batch or raw file, with a note
    production/<dataset>/inputs/<snapshot>.parquet a snapshot to score (a voter-file delivery)
    production/<dataset>/labels/<snapshot>.parquet outcomes that arrived later (id + target)
    production/<dataset>/labeled/<snapshot>.parquet outcomes beside inputs (datasets without an id)
    scoring/<dataset>/<snapshot>/                  predictions/part-*.parquet + manifest.json (+ snapshot_diff.json)
    scoring/<dataset>/.parts/<snapshot>/group-*/   a scoring run's parts until the commit
    reports/<dataset>/<window>/                    monitoring report (dry runs under dry_run/)
    cards/<dataset>/<model>/<version>/             model cards
    debug/<dataset>/<request>/                     one row's debug record (row.json, row.html; no PII)
    runs/<dataset>/                                run summaries (text; latest.txt is the newest)
    forecasts/<forecast>/<snapshot>/               forecast.parquet (per geography), forecast.json (every figure,
                                                   the backtest's residuals), logit_shift.json, report.html
    mlflow/                                        default MLflow store (mlflow.db, artifacts/)
    modelops.db                                    default audit database (alias and monitoring history)

`MODELOPS_HOME` itself is read by `root`; every location below it is named here and nowhere else. This module
imports no other modelops module: the config and every stage stand on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modelops.core import jsonsafe

REPO_ROOT = Path(__file__).resolve().parents[3]

# File names inside the folders below (a folder function says where, these say what), declared once.
BATCH_FILE = "batch.parquet"  # a batch's rows
MANIFEST = "manifest.json"  # beside a batch, a scoring output, the generated raw sources
SPLIT_PARTS = ("train", "calibration", "holdout")  # the Parquet files of one split
HOLDOUT_UNLABELLED = "holdout_unlabelled.parquet"  # a split's rows without a label (never trained on)
PREDICTIONS = "predictions"  # a scoring output's folder of Parquet parts
REPORT_HTML = "report.html"  # the page of a monitoring, validation or scoring report
SNAPSHOT_DIFF_FILE = "snapshot_diff.json"  # beside a scoring manifest: the diff from the previous scored snapshot
REPORT_JSON = "report.json"  # every figure of a monitoring report
DEBUG_ROW_JSON = "row.json"  # one row's debug record (score.debug_row)
DEBUG_ROW_HTML = "row.html"  # the same record as a page
CARD_MD = "card.md"
CARD_HTML = "card.html"  # self-contained, figures embedded
CARD_JSON = "card.json"
AUDIT_DB = "modelops.db"
# The generated raw sources of a synthetic dataset (in its `raw_dir`), declared once.
VOTER_FILE = "voters.parquet"  # the voter file: one row per registered voter and cycle
COUNTY_ECONOMICS_FILE = "county_economics.parquet"
COUNTY_RESULTS_FILE = "county_results.parquet"  # past county results (features of the voter file)
TRUTH_FILE = "truth.parquet"  # per voter and cycle: the true turnout and support probabilities and outcomes
CERTIFIED_RESULTS_FILE = "certified_results.parquet"  # per county and cycle: the count of the simulated votes
POLL_FILE = "polls.parquet"  # the simulated poll of every cycle, with survey weights
# A forecast's files (in its `forecast_dir`), declared once.
FORECAST_TABLE = "forecast.parquet"  # the table per geography
FORECAST_JSON = "forecast.json"  # every figure of the run (and its backtest's residuals)
LOGIT_SHIFT_FILE = "logit_shift.json"  # the pooled per-geography logit shift fitted to certified results

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]{0,199}$")


def safe_id(value: str, what: str = "id") -> str:
    """An id used as a path part: letters, digits and `._=+-`, no separators, no leading dot."""
    text = str(value)
    if not _SAFE_ID.match(text) or ".." in text:
        raise ValueError(
            f"{what} {text!r} cannot name a folder: use letters, digits and . _ = + - (no '/', no leading dot)"
        )
    return text


def root() -> Path:
    """The workspace root: folder for everything generated at run time (the `MODELOPS_HOME` setting)."""
    return Path(os.environ.get("MODELOPS_HOME", REPO_ROOT / ".local")).resolve()


def raw_dir(dataset: str) -> Path:
    """Generated raw inputs of a dataset."""
    return root() / "raw" / dataset


def batches_dir(dataset: str) -> Path:
    """Immutable collected batches of a dataset, one folder per content hash."""
    return root() / "batches" / dataset


def batch_dir(dataset: str, content_hash: str) -> Path:
    """One batch (batch.parquet + manifest.json), named by the first 16 hex digits of its content hash."""
    return batches_dir(dataset) / safe_id(content_hash[:16], "content hash")


def split_dir(dataset: str, key: str) -> Path:
    """The train/calibration/holdout files of one split (the key covers every setting that shapes it)."""
    return root() / "splits" / dataset / safe_id(key, "split key")


def split_file(dataset: str, key: str, part: str) -> Path:
    """One part of a split (`SPLIT_PARTS`: train, calibration or holdout) as Parquet."""
    if part not in SPLIT_PARTS:
        raise ValueError(f"split part {part!r} is not one of {', '.join(SPLIT_PARTS)}")
    return split_dir(dataset, key) / f"{part}.parquet"


def validation_dir(dataset: str, validation_id: str) -> Path:
    """GX validation report of a batch that passed."""
    return root() / "validations" / dataset / safe_id(validation_id, "validation id")


def quarantine_dir(dataset: str, item: str | None = None) -> Path:
    """Rejected batches and raw files of a dataset (or one of them), kept for inspection."""
    folder = root() / "quarantine" / dataset
    return folder / safe_id(item, "quarantine id") if item else folder


def production_dir(dataset: str) -> Path:
    """Snapshots delivered for scoring, and the labels that arrive for them later."""
    return root() / "production" / dataset


def snapshot_inputs(dataset: str, snapshot: str) -> Path:
    """A snapshot's input file (the collected columns, without the target)."""
    return production_dir(dataset) / "inputs" / f"{safe_id(snapshot, 'snapshot id')}.parquet"


def snapshot_labels(dataset: str, snapshot: str) -> Path:
    """Outcomes of a snapshot's rows (id + target), once known."""
    return production_dir(dataset) / "labels" / f"{safe_id(snapshot, 'snapshot id')}.parquet"


def snapshot_labeled(dataset: str, snapshot: str) -> Path:
    """A snapshot's inputs with the target beside them (how datasets without an id get outcomes)."""
    return production_dir(dataset) / "labeled" / f"{safe_id(snapshot, 'snapshot id')}.parquet"


def pending_labels(dataset: str, snapshot: str) -> Path:
    """Outcomes held back until released (the simulator's election day)."""
    return production_dir(dataset) / "labels" / f".pending-{safe_id(snapshot, 'snapshot id')}.parquet"


def list_snapshots(dataset: str) -> list[str]:
    """Snapshot ids with inputs, oldest first (ids sort in time order)."""
    return _stems(production_dir(dataset) / "inputs")


def list_labeled(dataset: str) -> list[str]:
    """Snapshot ids whose inputs with the target (`labeled/`) are on disk, oldest first."""
    return _stems(production_dir(dataset) / "labeled")


def _stems(folder: Path) -> list[str]:
    """Names of the published Parquet files of a folder (hidden temp and pending files left out)."""
    return sorted(p.stem for p in folder.glob("*.parquet") if not p.name.startswith("."))


def scoring_dir(dataset: str, snapshot: str | None = None) -> Path:
    """Scoring outputs of a dataset, or of one snapshot (predictions/ + manifest.json)."""
    folder = root() / "scoring" / dataset
    return folder / safe_id(snapshot, "snapshot id") if snapshot else folder


def scoring_manifest(dataset: str, snapshot: str) -> Path:
    """The committed manifest of a snapshot's scoring (present only once the output is whole)."""
    return scoring_dir(dataset, snapshot) / MANIFEST


def scoring_report(dataset: str, snapshot: str) -> Path:
    """The HTML report of a snapshot's committed scoring."""
    return scoring_dir(dataset, snapshot) / REPORT_HTML


def scoring_staging(dataset: str, snapshot: str) -> Path:
    """Where a snapshot's scoring groups write their parts before the commit publishes them."""
    return scoring_dir(dataset) / ".parts" / safe_id(snapshot, "snapshot id")


def list_scored(dataset: str) -> list[str]:
    """Snapshots whose scoring output is committed, oldest first."""
    folder = scoring_dir(dataset)
    return sorted(p.parent.name for p in folder.glob(f"*/{MANIFEST}") if not p.parent.name.startswith("."))


def reports_dir(dataset: str) -> Path:
    """Monitoring reports of a dataset, one folder per window."""
    return root() / "reports" / dataset


def report_dir(dataset: str, window_id: str, dry_run: bool = False) -> Path:
    """A monitoring report (a dry run's goes beside, never over, the recorded one)."""
    folder = reports_dir(dataset) / safe_id(window_id, "window id")
    return folder / "dry_run" if dry_run else folder


def card_dir(dataset: str, model_name: str, version: str) -> Path:
    """Model cards of one registered version."""
    return root() / "cards" / dataset / safe_id(model_name, "model name") / safe_id(str(version), "version")


def card_html(dataset: str, model_name: str, version: str) -> Path:
    """The self-contained HTML model card of one registered version."""
    return card_dir(dataset, model_name, version) / CARD_HTML


def debug_row_dir(dataset: str, request: str) -> Path:
    """One debugged row's record (row.json, row.html), a folder per request."""
    return root() / "debug" / dataset / safe_id(request, "debug request")


def runs_dir(dataset: str) -> Path:
    """Run summaries of a dataset."""
    return root() / "runs" / dataset


def run_summary(dataset: str, run_id: str) -> Path:
    """One run's summary text (any run id: characters outside `[A-Za-z0-9._-]` become `_`)."""
    return runs_dir(dataset) / ("".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id) + ".txt")


def latest_summary(dataset: str) -> Path:
    """The newest run summary of a dataset."""
    return runs_dir(dataset) / "latest.txt"


def forecasts_dir(forecast: str) -> Path:
    """Every run of a named forecast, one folder per snapshot."""
    return root() / "forecasts" / safe_id(forecast, "forecast name")


def forecast_dir(forecast: str, snapshot: str) -> Path:
    """One forecast of one snapshot: table, figures, logit shift and page (published whole, `atomic_dir`)."""
    return forecasts_dir(forecast) / safe_id(snapshot, "snapshot id")


def list_forecasts(forecast: str) -> list[str]:
    """Snapshots with a published forecast of `forecast`, oldest first."""
    folder = forecasts_dir(forecast)
    return sorted(p.parent.name for p in folder.glob(f"*/{FORECAST_JSON}") if not p.parent.name.startswith("."))


@contextlib.contextmanager
def scratch_dir(purpose: str) -> Iterator[Path]:
    """A fresh, private folder under `scratch/<purpose>/` for files a step only passes on (removed after)."""
    folder = root() / "scratch" / safe_id(purpose, "scratch purpose") / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def mlflow_dir() -> Path:
    """The default MLflow store (used when MLFLOW_TRACKING_URI / MODELOPS_ARTIFACT_ROOT are not set)."""
    return root() / "mlflow"


def audit_db() -> Path:
    """The default SQLite audit database (alias history, monitoring history)."""
    return root() / AUDIT_DB


# --- atomic writes ---------------------------------------------------------------------------


def _temp_name(final: Path, kind: str) -> Path:
    """A hidden, unique name beside `final` (same folder, so the publishing rename stays on one filesystem)."""
    return final.parent / f".{kind}-{final.name}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def atomic_file(path: Path | str) -> Iterator[Path]:
    """Yield a temp path beside `path` for the caller to create; on success it replaces `path` in one rename.

    On error the temp file is removed and `path` is left as it was. The temp file is not created in
    advance, so it gets the same permissions as any file the process writes.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(final, "tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: Path | str, replace: bool = True) -> Iterator[Path]:
    """Yield an empty staging folder beside `path`; on success it becomes `path`.

    With `replace`, an existing folder is swapped out (renamed aside, then removed): readers see the
    old whole, the new whole, or (between the two renames) no folder, never a mix. Without it, an
    existing folder wins and the staging is dropped (the content-addressed case: the same content
    was already published).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = _temp_name(final, "staging")
    staging.mkdir()
    old: Path | None = None
    try:
        yield staging
        if final.exists():
            if not replace:
                return
            old = _temp_name(final, "old")
            os.replace(final, old)
        try:
            os.replace(staging, final)
        except OSError:
            if not final.exists():  # else a concurrent writer published first: its whole folder stands
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def write_text(path: Path | str, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: Path | str, payload: Any) -> Path:
    """Write JSON atomically (indented; values made JSON-safe by `jsonsafe.json_safe`, NaN as null)."""
    return write_text(path, jsonsafe.dumps(payload, indent=2) + "\n")


def write_parquet(frame: Any, path: Path | str) -> Path:
    """Write a DataFrame as Parquet atomically (no index)."""
    with atomic_file(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def read_json(path: Path | str) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


# --- workspace files the Model monitor serves (the run note links them too) ----------------

SERVED_FOLDERS = ("reports", "cards", "scoring", "forecasts")  # the only top folders of the workspace ever served
SERVED_SUFFIXES = (".html", ".json")


class RefusedFile(FileNotFoundError):
    """A file name that is not served (outside the reports, cards, scoring and forecasts folders, or missing)."""


def resolve_served(name: str) -> Path:
    """The workspace file a served name points to; `RefusedFile` for anything else.

    Served: `.html` and `.json` files under `reports/`, `cards/`, `scoring/` and `forecasts/` of the workspace. Every
    part of the name must be a plain file or folder name (no `..`, no absolute path, no hidden part),
    and the resolved file (symlinks followed) must still lie in that folder.
    """
    text = str(name)
    parts = text.split("/")
    if not parts or parts[0] not in SERVED_FOLDERS or len(parts) < 3:
        raise RefusedFile(f"{text!r} is not a file of {'/, '.join(SERVED_FOLDERS)}/ in the workspace")
    try:
        for part in parts[1:]:
            safe_id(part, "path part")
    except ValueError as exc:
        raise RefusedFile(f"{text!r} is refused: {exc}") from None
    if not text.endswith(SERVED_SUFFIXES):
        raise RefusedFile(f"{text!r} is refused: only {' and '.join(SERVED_SUFFIXES)} files are served")
    base = (root() / parts[0]).resolve()
    path = (base / Path(*parts[1:])).resolve()
    if not path.is_relative_to(base):
        raise RefusedFile(f"{text!r} is refused: it resolves outside {parts[0]}/")
    if not path.is_file():
        raise RefusedFile(f"{text!r} does not exist")
    return path


def served_name(path: str | Path | None) -> str | None:
    """The name under which a workspace file is served (its path below the workspace), or None.

    None when the file is outside the workspace, not a report/card/scoring file, or missing.
    """
    if not path:
        return None
    try:
        relative = Path(path).resolve().relative_to(root().resolve()).as_posix()
        resolve_served(relative)
    except (ValueError, FileNotFoundError):
        return None
    return relative

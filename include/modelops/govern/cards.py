"""Model cards: one per registered version, in Markdown and HTML, logged with the version and linked from its tags.

`build_card` gathers everything from the registry (the version's tags, the training run's evaluation
report, resolved configuration and training options) and the workspace (the holdout split; when the
split files are gone, the holdout is rebuilt from the recorded batch by the same split function the
training used, and checked against the report), then computes what the report does not hold:

- every metric with a seeded percentile-bootstrap interval (`evaluation.bootstrap_metrics`);
- permutation importance on the holdout (scikit-learn's `inspection`, on the pipeline with the raw
  feature columns, on at most `IMPORTANCE_MAX_ROWS` rows) and partial dependence of the top features;
- the segments where the model errs most (each categorical level, numeric quantile bucket or
  protected bin, ranked by log loss, at least a minimum of rows);
- a calibration plot (observed outcome rate against the mean score, by score decile).

It writes card.md (PNG figures beside it), card.html (self-contained, figures embedded) and card.json
(every figure) under `catalog.card_dir`, logs the folder on the version's run (`model_card/`) and sets
the version tags `modelops.card` (artifact URI) and `modelops.card_path`. Running it again replaces
all of it. Cards never show a value of a PII column: PII never reaches a batch (collection drops it),
and a card reads only the spec's feature and protected columns.

`python -m modelops.govern.cards MODEL VERSION` makes the card of any registered version on demand.
"""

from __future__ import annotations

import argparse
import base64
import html
import math
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.store import registry

IMPORTANCE_MAX_ROWS = 5000  # permutation importance: a seeded stratified sample of the holdout
IMPORTANCE_REPEATS = 5
PD_FEATURES = 3  # partial dependence for this many top features
PD_MAX_ROWS = 1000  # rows averaged per grid point
PD_GRID = 20  # numeric grid points (quantiles 5%..95%); categorical: the most common levels
PD_LEVELS = 12
SEGMENT_QUANTILES = 5  # numeric features are cut into this many quantile buckets
SEGMENT_TOP = 8  # segments shown, worst first
SEGMENT_MIN_SHARE = 0.05  # a segment needs this share of the holdout (and at most min_slice_rows rows)
SEGMENT_FLOOR = 30
CALIBRATION_BINS = 10


class CardError(LookupError):
    """A card cannot be made: the version, its evaluation or its holdout is not on record."""


# --- gathering ----------------------------------------------------------------------------------


@dataclass
class CardInputs:
    """What a card is made from: the version, its spec at training time, its report and its holdout."""

    model_name: str
    version: str
    run_id: str
    tags: dict[str, str]
    aliases: list[str]
    spec: DatasetSpec
    statements: dict[str, Any]
    report: dict[str, Any]
    evaluation: dict[str, Any]
    training: dict[str, Any]
    holdout: pd.DataFrame
    holdout_source: str
    split_rows: dict[str, int] = field(default_factory=dict)


def spec_from_resolved(body: dict[str, Any]) -> DatasetSpec:
    """The DatasetSpec a run logged in resolved_config.json (its columns and labels as they were then)."""
    known = {f.name for f in fields(DatasetSpec)}
    kwargs = {k: v for k, v in body.items() if k in known}
    for key in ("numeric", "categorical", "pii", "joins", "positive_labels", "stated_limitations"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key] or ())
    if "source" in kwargs:  # the expanded path was added for the record; the spec holds the template
        kwargs["source"] = {k: v for k, v in kwargs["source"].items() if k != "resolved_path"}
    if kwargs.get("negative_labels") is not None:
        kwargs["negative_labels"] = tuple(kwargs["negative_labels"])
    return DatasetSpec(**kwargs)


def _statements(trained: DatasetSpec, current: DatasetSpec | None) -> dict[str, Any]:
    """Description, intended use, owner and stated limitations: as recorded at training, else as configured now."""
    out: dict[str, Any] = {"from_current_config": []}
    for key in ("description", "intended_use", "owner", "stated_limitations"):
        value = getattr(trained, key)
        if not value and current is not None and getattr(current, key):
            value = getattr(current, key)
            out["from_current_config"].append(key)
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _holdout(
    tags: dict[str, str], spec: DatasetSpec, training: dict[str, Any], report: dict[str, Any]
) -> tuple[pd.DataFrame, str, dict[str, int]]:
    """The version's holdout rows: the split file, or rebuilt from the recorded batch with the same split."""
    from modelops.collect.sources import BatchRef, SourceError, load_batch
    from modelops.train.lineage import split_key
    from modelops.train.splits import split_indices

    batch_path, data_hash = tags.get(Tag.BATCH_PATH), tags.get(Tag.DATA_HASH)
    if not batch_path or not data_hash:
        raise CardError("the version has no modelops.batch_path / modelops.data_hash tags: its data is not on record")
    ref = BatchRef(dataset=spec.name, path=batch_path, content_hash=data_hash, rows=0, columns=[], source={})
    key = split_key(ref, spec, training)
    recorded = tags.get(Tag.SPLIT_KEY)
    if recorded and recorded != key:
        raise CardError(
            f"the split recorded with the version ({recorded}) is not the one its training options give ({key}); "
            "the holdout cannot be identified"
        )
    folder = catalog.split_dir(spec.name, key)
    expected = report.get("holdout_rows")
    files = {n: catalog.split_file(spec.name, key, n) for n in catalog.SPLIT_PARTS}
    if files["holdout"].exists():
        holdout = pd.read_parquet(files["holdout"])
        sizes = {n: _rows(path) for n, path in files.items() if path.exists()}
        source = f"split files {folder}"
    else:
        if not Path(batch_path).exists():
            raise CardError(
                f"the holdout split ({folder}) and the batch it came from ({batch_path}) are both gone: "
                "the holdout cannot be rebuilt"
            )
        try:
            frame = load_batch(ref)
        except SourceError as exc:
            raise CardError(f"cannot rebuild the holdout: {exc}") from None
        parts = split_indices(frame, spec, training)
        holdout = frame.iloc[parts["holdout"]].reset_index(drop=True)
        sizes = {name: len(rows) for name, rows in parts.items()}
        source = f"rebuilt from batch {data_hash[:16]} with the training's split (the split files were gone)"
    if expected is not None and len(holdout) != int(expected):
        raise CardError(f"the holdout has {len(holdout)} rows but the evaluation report scored {expected}")
    return holdout, source, sizes


def gather(model_name: str, version: str, settings: Settings) -> CardInputs:
    """Read a version's tags, its run's report and configuration, and its holdout."""
    found = registry.model_version(model_name, str(version))
    if found is None:
        raise CardError(f"{model_name} has no version {version!r}")
    tags = dict(found.tags or {})
    parent = tags.get(Tag.PARENT_RUN_ID)
    if not parent:
        raise CardError(f"{model_name} v{version} has no modelops.parent_run_id tag: its training run is unknown")
    report = registry.load_run_dict(parent, registry.EVALUATION_ARTIFACT)
    resolved = registry.load_run_dict(parent, registry.RESOLVED_CONFIG_ARTIFACT)
    if report is None or resolved is None:
        missing = [n for n, v in (("evaluation.json", report), ("resolved_config.json", resolved)) if v is None]
        raise CardError(f"{model_name} v{version}: training run {parent} lacks {', '.join(missing)}")
    spec = spec_from_resolved(resolved["dataset"])
    current = settings.datasets.get(spec.name)
    training = registry.load_run_dict(parent, registry.TRAINING_OPTIONS_ARTIFACT)  # what the run used
    if training is None:
        raise CardError(f"{model_name} v{version}: training run {parent} lacks {registry.TRAINING_OPTIONS_ARTIFACT}")
    holdout, source, sizes = _holdout(tags, spec, training, report)
    pii = {*spec.pii, *(current.pii if current else ())}
    holdout = holdout.drop(columns=[c for c in holdout.columns if c in pii])  # never there; never shown
    return CardInputs(
        model_name=model_name,
        version=str(version),
        run_id=found.run_id,
        tags=tags,
        aliases=sorted(str(a) for a in (found.aliases or [])),
        spec=spec,
        statements=_statements(spec, current),
        report=report,
        evaluation={**settings.evaluation, **(resolved.get("evaluation") or {})},
        training=training,
        holdout=holdout,
        holdout_source=source,
        split_rows=sizes,
    )


# --- figures ------------------------------------------------------------------------------------


def permutation_ranking(
    model: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    metric: str,
    seed: int,
    threshold: float,
    max_rows: int = IMPORTANCE_MAX_ROWS,
    repeats: int = IMPORTANCE_REPEATS,
) -> list[dict[str, Any]]:
    """Permutation importance of each raw feature column: the drop in `metric` (a decision one at `threshold`)
    when it is shuffled, best first."""
    from sklearn.inspection import permutation_importance

    from modelops.stats.metrics import higher_is_better, score
    from modelops.train.splits import stratified_cap

    sign = 1.0 if higher_is_better(metric) else -1.0

    def scorer(estimator: Any, X_: pd.DataFrame, y_: np.ndarray) -> float:  # greater is better, as sklearn wants
        return sign * score(metric, y_, estimator.predict_proba(X_)[:, 1], threshold)

    if len(np.unique(y)) < 2:
        return []
    X, y = stratified_cap(X, y, max_rows, seed)
    result = permutation_importance(model, X, y, scoring=scorer, n_repeats=repeats, random_state=seed, n_jobs=1)
    ranked = [
        {"feature": str(c), "importance": float(m), "std": float(s), "rows": len(X), "repeats": repeats}
        for c, m, s in zip(X.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    return sorted(ranked, key=lambda r: -r["importance"])


def partial_dependence_curves(
    model: Any, X: pd.DataFrame, features: list[str], categorical: set[str], seed: int
) -> list[dict[str, Any]]:
    """Average predicted probability as each feature is set to each grid value (scikit-learn's partial_dependence)."""
    from sklearn.inspection import partial_dependence

    sample = X.sample(n=min(len(X), PD_MAX_ROWS), random_state=seed) if len(X) else X
    # scikit-learn refuses integer columns as numeric PD features (grid values would be rounded); the
    # pipeline takes them as doubles anyway (the logged signature declares integers as doubles)
    integers = [c for c in sample.columns if c not in categorical and pd.api.types.is_integer_dtype(sample[c])]
    sample = sample.astype(dict.fromkeys(integers, "float64"))
    curves = []
    for feature in features:
        values = sample[feature].dropna()
        if values.empty:
            continue
        is_categorical = feature in categorical or not pd.api.types.is_numeric_dtype(values)
        if is_categorical:
            grid = np.array(list(values.value_counts().index[:PD_LEVELS]), dtype=object)
        elif values.nunique() <= PD_GRID:  # counts, flags, codes: their own values, never 2.65 votes
            grid = np.sort(values.astype(float).unique())
        else:
            grid = np.unique(np.quantile(values.astype(float), np.linspace(0.05, 0.95, PD_GRID)))
        result = partial_dependence(
            model,
            sample,
            [feature],
            kind="average",
            custom_values={feature: grid},
            categorical_features=[feature] if is_categorical else None,
        )
        curves.append(
            {
                "feature": feature,
                "kind": "categorical" if is_categorical else "numeric",
                "grid": [v.item() if hasattr(v, "item") else v for v in grid],
                "average": [float(v) for v in result["average"][0]],
                "rows": len(sample),
            }
        )
    return curves


def _segment_labels(frame: pd.DataFrame, column: str, spec: DatasetSpec) -> np.ndarray:
    """A segment name per row: the protected bins, numeric quantile buckets, or the level; gaps are `missing`."""
    from modelops.present.reports import plain_value
    from modelops.stats.drift import MISSING, category_labels, slice_labels

    values = frame[column]
    bins = spec.protected.get(column)
    if bins:
        return slice_labels(frame, column, bins).to_numpy(dtype=object)
    if pd.api.types.is_numeric_dtype(values) and values.nunique() > SEGMENT_QUANTILES:
        numbers = values.astype(float)
        codes = pd.qcut(numbers, SEGMENT_QUANTILES, duplicates="drop", labels=False)
        # named by the values each bucket holds (qcut widens the lowest edge below the minimum)
        spans = numbers.groupby(codes).agg(["min", "max"])
        names = {
            c: f"{plain_value(lo)} to {plain_value(hi)}" if lo != hi else plain_value(lo)
            for c, (lo, hi) in spans.iterrows()
        }
        return np.array([names[c] if c == c else "missing" for c in codes], dtype=object)
    labels = category_labels(values)
    return np.where(labels == MISSING, "missing", labels).astype(object)


def error_segments(
    frame: pd.DataFrame,
    y: np.ndarray,
    proba: np.ndarray,
    spec: DatasetSpec,
    min_rows: int,
    threshold: float,
    top: int = SEGMENT_TOP,
) -> dict[str, Any]:
    """Where the model errs most: segments of feature and protected columns (never PII) ranked by log loss; an
    error is a decision (score >= `threshold`, the served one) that differs from the outcome."""
    from modelops.stats.metrics import EPS, decide

    y = np.asarray(y, dtype=float)
    proba = np.asarray(proba, dtype=float)
    clipped = np.clip(proba, EPS, 1 - EPS)
    losses = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    errors = (decide(proba, threshold) != (y == 1)).astype(float)
    overall = {"rows": len(y), "log_loss": float(losses.mean()), "error_rate": float(errors.mean())}
    columns = [c for c in dict.fromkeys([*spec.features, *spec.protected]) if c in frame and c not in spec.pii]
    segments = []
    for column in columns:
        labels = _segment_labels(frame, column, spec)
        for label in pd.unique(labels):
            mask = labels == label
            rows = int(mask.sum())
            if rows < min_rows or rows == len(y):
                continue
            segments.append(
                {
                    "column": column,
                    "segment": str(label),
                    "rows": rows,
                    "outcome_rate": float(y[mask].mean()),
                    "mean_score": float(proba[mask].mean()),
                    "log_loss": float(losses[mask].mean()),
                    "error_rate": float(errors[mask].mean()),
                }
            )
    segments.sort(key=lambda s: (-s["log_loss"], s["column"], s["segment"]))
    return {
        "overall": overall,
        "threshold": float(threshold),
        "min_rows": min_rows,
        "considered": len(segments),
        "worst": segments[:top],
    }


def calibration_bins(y: np.ndarray, proba: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, Any]:
    """Observed outcome rate against the mean score by score quantile bin, and the row-weighted mean gap."""
    y, proba = np.asarray(y, dtype=float), np.asarray(proba, dtype=float)
    if not len(y):
        return {"bins": [], "weighted_gap": None, "max_gap": None}
    edges = np.unique(np.quantile(proba, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, proba, side="right") - 1, 0, max(len(edges) - 2, 0))
    table = []
    for b in np.unique(which):
        mask = which == b
        table.append(
            {
                "rows": int(mask.sum()),
                "mean_score": float(proba[mask].mean()),
                "outcome_rate": float(y[mask].mean()),
            }
        )
    gaps = np.array([t["outcome_rate"] - t["mean_score"] for t in table])
    weights = np.array([t["rows"] for t in table], dtype=float)
    return {
        "bins": table,
        "weighted_gap": float(np.sum(np.abs(gaps) * weights) / weights.sum()),
        "max_gap": float(np.max(np.abs(gaps))),
    }


# --- plots --------------------------------------------------------------------------------------


def _plots(figures: dict[str, Any], primary: str) -> dict[str, str]:
    """PNG (base64) per file name: calibration, importance, one per partial-dependence curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from modelops.present.reports import png_base64

    out: dict[str, str] = {}
    cal = figures["calibration"]["bins"]
    if cal:
        fig, ax = plt.subplots(figsize=(4.5, 4.0))
        ax.plot([0, 1], [0, 1], ls="--", color="#999999", label="perfect calibration")
        ax.plot([b["mean_score"] for b in cal], [b["outcome_rate"] for b in cal], "o-", color="#4c72b0", label="model")
        ax.set_xlabel("mean predicted probability (score decile)")
        ax.set_ylabel("observed outcome rate")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left")
        ax.set_title("calibration on the holdout")
        out["calibration.png"] = png_base64(fig)
        plt.close(fig)
    ranking = figures["importance"][:12]
    if ranking:
        fig, ax = plt.subplots(figsize=(5.5, 1.0 + 0.3 * len(ranking)))
        positions = np.arange(len(ranking))
        ax.barh(positions, [r["importance"] for r in ranking], xerr=[r["std"] for r in ranking], color="#4c72b0")
        ax.set_yticks(positions, [r["feature"] for r in ranking])
        ax.invert_yaxis()
        ax.set_xlabel(f"drop in {primary} when shuffled")
        ax.set_title("permutation importance (holdout)")
        out["importance.png"] = png_base64(fig)
        plt.close(fig)
    for i, curve in enumerate(figures["partial_dependence"], start=1):
        fig, ax = plt.subplots(figsize=(4.5, 3.0))
        if curve["kind"] == "categorical":
            positions = np.arange(len(curve["grid"]))
            ax.bar(positions, curve["average"], color="#4c72b0")
            ax.set_xticks(positions, [str(g)[:14] for g in curve["grid"]], rotation=45, ha="right")
        else:
            ax.plot(curve["grid"], curve["average"], "o-", color="#4c72b0")
        ax.set_xlabel(curve["feature"])
        ax.set_ylabel("average predicted probability")
        ax.set_title(f"partial dependence: {curve['feature']}")
        out[f"pd_{i}.png"] = png_base64(fig)
        plt.close(fig)
    return out


# --- the document -------------------------------------------------------------------------------


def _f(value: Any, spec: str = "") -> str:
    """The reports' number formatter (`reports.format_value`) for the card: None is "n/a", a text stays as it is."""
    from modelops.present.reports import format_value

    if value is None:
        return "n/a"
    return value if isinstance(value, str) else format_value(value, spec)


class Doc:
    """A card as a list of blocks, rendered to Markdown and to HTML from the same content."""

    def __init__(self) -> None:
        self.blocks: list[tuple[Any, ...]] = []

    def h(self, level: int, text: str) -> None:
        """A heading."""
        self.blocks.append(("h", level, text))

    def p(self, text: str) -> None:
        """A paragraph."""
        self.blocks.append(("p", text))

    def items(self, items: list[str]) -> None:
        """A bullet list."""
        if items:
            self.blocks.append(("list", list(items)))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        """A table (cells as text)."""
        self.blocks.append(("table", header, [[_f(c) if not isinstance(c, str) else c for c in r] for r in rows]))

    def image(self, name: str, caption: str) -> None:
        """A figure (a PNG of the card's folder)."""
        self.blocks.append(("img", name, caption))

    def markdown(self) -> str:
        """The card as Markdown (figures as PNG files beside it)."""

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append("#" * block[1] + " " + block[2])
            elif kind == "p":
                out.append(block[1])
            elif kind == "list":
                out.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                header, rows = block[1], block[2]
                lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
                out.append("\n".join(lines))
            elif kind == "img":
                out.append(f"![{block[2]}]({block[1]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str, images: dict[str, str]) -> str:
        """The card as one self-contained HTML page (figures embedded)."""
        esc = html.escape
        parts = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                parts.append(f"<h{block[1]}>{esc(block[2])}</h{block[1]}>")
            elif kind == "p":
                parts.append(f"<p>{esc(block[1])}</p>")
            elif kind == "list":
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{esc(h)}</th>" for h in block[1])
                body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block[2])
                parts.append(f"<table><tr>{head}</tr>{body}</table>")
            elif kind == "img" and block[1] in images:
                parts.append(
                    f"<figure><img src='data:image/png;base64,{images[block[1]]}' alt='{esc(block[2])}'>"
                    f"<figcaption>{esc(block[2])}</figcaption></figure>"
                )
        return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:62em;line-height:1.4}}table{{border-collapse:collapse;
margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:left}}figure{{display:inline-block;
margin:0.5em;vertical-align:top}}h2{{border-bottom:1px solid #ddd;margin-top:1.6em}}</style></head><body>
{"".join(parts)}</body></html>
"""


def _labels_text(spec: DatasetSpec) -> str:
    negative = "any other value" if spec.negative_labels is None else " or ".join(map(str, spec.negative_labels))
    other = "blank is unlabelled" if spec.negative_labels is None else "blank or other values are unlabelled"
    return f"{spec.target} (1 when {' or '.join(map(str, spec.positive_labels))}, 0 when {negative}; {other})"


def _roles(spec: DatasetSpec) -> list[list[str]]:
    roles: dict[str, list[str]] = {}

    def add(column: str | None, role: str) -> None:
        if column:
            roles.setdefault(column, []).append(role)

    add(spec.target, "target: " + _labels_text(spec))
    add(spec.id_column, "id (row key; never a feature)")
    add(spec.time_column, "time (holdout = latest period when it has 2+ values)")
    for column in spec.numeric:
        add(column, "numeric feature")
    for column in spec.categorical:
        add(column, "categorical feature")
    for column, bins in spec.protected.items():
        add(column, f"protected, sliced by bins {bins}" if bins else "protected, sliced by value")
    add(spec.geography, "geography (reporting only)")
    for column in spec.pii:
        add(column, "PII: dropped at collection, never in the batch or this card")
    return [[column, "; ".join(r)] for column, r in roles.items()]


def _fairness_section(doc: Doc, fairness: dict[str, Any] | None) -> str:
    """Render report['fairness'] when present; returns the one-line status for the summary."""
    doc.h(2, "Fairness")
    if not fairness:
        doc.p("Fairness not assessed: the evaluation report of this version holds no fairness results.")
        return "not assessed"
    limits = fairness.get("limits") or {}
    shown = ", ".join(f"{k.replace('_', ' ')} {'report only' if v is None else _f(v)}" for k, v in limits.items())
    status = "passed" if fairness.get("passed") else "breaches: " + "; ".join(fairness.get("breaches") or [])
    doc.p(
        f"Decision threshold {_f(fairness.get('threshold'))}; groups under {fairness.get('min_group_rows')} rows "
        f"are reported, not gated. Limits: {shown or 'none'}. Result: {status}."
    )
    champion = fairness.get("champion") or {}
    for column, body in (fairness.get("columns") or {}).items():
        doc.h(3, f"By {column}")
        doc.table(
            ["group", "rows", "selection rate", "TPR", "FPR", "precision", "calibration gap", "gated"],
            [
                [
                    str(label),
                    g.get("rows"),
                    g.get("selection_rate"),
                    g.get("tpr"),
                    g.get("fpr"),
                    g.get("precision"),
                    g.get("calibration_gap"),
                    bool(g.get("gated")),
                ]
                for label, g in (body.get("groups") or {}).items()
            ],
        )
        line = (
            f"Demographic parity difference {_f(body.get('demographic_parity_difference'))} (limit "
            f"{_f(limits.get('demographic_parity_difference'))}); equalized odds difference "
            f"{_f(body.get('equalized_odds_difference'))} (limit {_f(limits.get('equalized_odds_difference'))})."
        )
        old = champion.get(column) if isinstance(champion, dict) else None
        if isinstance(old, dict):
            line += (
                f" Champion on the same rows: DPD {_f(old.get('demographic_parity_difference'))}, "
                f"EOD {_f(old.get('equalized_odds_difference'))}."
            )
        if body.get("small_groups"):
            line += f" Too small to gate: {', '.join(map(str, body['small_groups']))}."
        if body.get("note"):
            line += f" {body['note']}."
        doc.p(line)
    return "passed" if fairness.get("passed") else f"breached ({len(fairness.get('breaches') or [])})"


def alias_line(aliases: list[str], generated_at: str) -> str:
    """The aliases as they were when the card was written, dated: a card is a static file, aliases move."""
    return (
        f"aliases at writing ({generated_at}): {', '.join(aliases) or 'none'} (the aliases now are on the Model "
        "monitor page and in MLflow)"
    )


def render(inputs: CardInputs, figures: dict[str, Any], generated_at: str) -> Doc:
    """The card's content: at a glance first (a two-minute read), then the evidence section by section."""
    spec, report, tags, st = inputs.spec, inputs.report, inputs.tags, inputs.statements
    primary = report.get("primary_metric") or inputs.evaluation["primary_metric"]
    metrics, champion = figures["metrics"], report.get("champion")
    head = metrics[primary]
    confidence = float(inputs.evaluation.get("confidence", 0.95))
    baselines = report.get("baselines") or {}
    verdict = report.get("verdict") or {}
    doc = Doc()
    doc.h(1, f"Model card: {inputs.model_name} v{inputs.version}")
    doc.p(
        f"Dataset {spec.name}; {report.get('best', {}).get('candidate', tags.get(Tag.CANDIDATE, '?'))} "
        f"pipeline; {alias_line(inputs.aliases, generated_at)}; card generated {generated_at}."
    )

    # At a glance
    glance = [
        f"Predicts: {_labels_text(spec)}. {st['description']}".strip(),
        f"Intended use: {st['intended_use'] or 'not stated (add intended_use to the dataset spec)'}",
        f"Owner: {st['owner'] or 'not stated (add owner to the dataset spec)'}",
        f"Holdout {primary} {_f(head['value'])} ({confidence:.0%} CI {_f(head['ci_low'])} to {_f(head['ci_high'])}) "
        f"on {report.get('holdout_rows', len(inputs.holdout))} labelled rows; rule baseline "
        f"{_f((baselines.get('rule') or {}).get(primary))}, majority baseline "
        f"{_f((baselines.get('majority') or {}).get(primary))}.",
    ]
    if champion is None:
        glance.append("Champion comparison: there was no champion when this version was evaluated.")
    elif champion.get("error"):
        glance.append(f"Champion comparison: v{champion['version']} could not be compared ({champion['error']}).")
    else:
        boot = champion["bootstrap"]
        glance.append(
            f"Against champion v{champion['version']}: {primary} change {_f(boot['improvement'], '+.4f')} "
            f"(CI {_f(boot['ci_low'], '+.4f')} to {_f(boot['ci_high'], '+.4f')}) on {champion['comparison_rows']} "
            "rows neither model trained on."
        )
    glance.append(
        f"Decision at training: {'PROMOTE' if verdict.get('promote') else 'KEEP CHAMPION'}"
        f" ({sum(not c['passed'] for c in verdict.get('checks', []))} of {len(verdict.get('checks', []))} gates "
        "failed)."
    )
    top = [
        f"{r['feature']} ({_f(r['importance'])})" for r in figures["importance"][:PD_FEATURES] if r["importance"] > 0
    ]
    if top:
        glance.append(f"Relies most on (drop in {primary} when shuffled): {', '.join(top)}.")
    worst = figures["segments"]["worst"]
    if worst:
        w, o = worst[0], figures["segments"]["overall"]
        glance.append(
            f"Errs most on {w['column']} = {w['segment']} ({w['rows']} rows): log loss {_f(w['log_loss'])} vs "
            f"{_f(o['log_loss'])} overall, error rate {_f(w['error_rate'])} vs {_f(o['error_rate'])}."
        )
    cal = figures["calibration"]
    glance.append(
        f"Calibration: observed rate within {_f(cal['weighted_gap'])} of the mean score on average across "
        f"score deciles (largest gap {_f(cal['max_gap'])})."
    )
    fairness_lines = Doc()
    fairness_status = _fairness_section(fairness_lines, report.get("fairness"))
    glance.append(f"Fairness: {fairness_status}.")
    n_limits = len(st["stated_limitations"]) + len(report.get("limitations") or spec.limitations)
    glance.append(f"Limitations: {n_limits} listed below; read them before use.")
    doc.h(2, "At a glance")
    doc.items(glance)

    # Intended use and limitations
    doc.h(2, "Intended use and limitations")
    doc.p(f"Intended use: {st['intended_use'] or 'not stated.'}")
    doc.p(f"Owner: {st['owner'] or 'not stated.'}")
    doc.p("Limitations stated by the owner:")
    doc.items(st["stated_limitations"] or ["none stated (add `limitations` to the dataset spec)"])
    derived = report.get("limitations") or spec.limitations
    if derived:
        doc.p("What the dataset spec cannot do (derived from its shape):")
        doc.items(derived)
    if st["from_current_config"]:
        doc.p(
            f"{', '.join(st['from_current_config'])}: from the current configuration (not recorded when this "
            "version was trained)."
        )

    # Data
    labels = report.get("labels") or {}
    doc.h(2, "Data")
    doc.table(
        ["item", "value"],
        [
            ["batch (data snapshot)", tags.get(Tag.BATCH_PATH, "")],
            ["data hash (SHA-256)", tags.get(Tag.DATA_HASH, "")],
            ["validation", f"{tags.get(Tag.VALIDATION_ID, '')} ({tags.get(Tag.VALIDATION_REPORT, '')})"],
            ["rows labelled", tags.get(Tag.ROWS_LABELLED, str(labels.get("labelled", "")))],
            ["rows unlabelled (never trained on or evaluated)", tags.get(Tag.ROWS_UNLABELLED, "")],
            ["row filter", tags.get(Tag.ROW_FILTER, "") or "none"],
            ["extra batches", tags.get(Tag.EXTRA_BATCHES, "0")],
            ["splits (rows)", ", ".join(f"{k} {v}" for k, v in inputs.split_rows.items())],
            ["holdout read from", inputs.holdout_source],
        ],
    )
    if labels:
        doc.p(
            f"Labelled rows: {labels.get('positive')} positive, {labels.get('negative')} negative; unlabelled: "
            f"{labels.get('missing_target')} blank, other target values {labels.get('other_values') or 'none'}."
        )

    doc.h(2, "Features and their roles")
    doc.table(["column", "role"], _roles(spec))

    # Metrics
    doc.h(2, "Metrics on the holdout")
    doc.p(
        f"{confidence:.0%} percentile-bootstrap intervals ({head['resamples']} seeded resamples of "
        f"{head['rows']} rows); the baselines are scored on the same rows."
    )
    doc.table(
        ["metric", "value", "CI low", "CI high", "rule baseline", "majority baseline"],
        [
            [
                name,
                m["value"],
                m["ci_low"],
                m["ci_high"],
                (baselines.get("rule") or {}).get(name),
                (baselines.get("majority") or {}).get(name),
            ]
            for name, m in metrics.items()
        ],
    )

    doc.h(2, "Champion comparison and decision")
    if champion is None:
        doc.p("No champion existed when this version was evaluated.")
    elif champion.get("error"):
        doc.p(f"Champion v{champion['version']} could not be compared: {champion['error']}")
    else:
        doc.p(
            f"Champion v{champion['version']} and this version on {champion['comparison_rows']} holdout rows neither "
            f"trained on ({champion['excluded_rows']} left out: in the champion's training data)."
        )
        doc.table(
            ["metric", "this version", f"champion v{champion['version']}"],
            [[k, champion["challenger_metrics"].get(k), v] for k, v in champion["metrics"].items()],
        )
        if champion.get("worse_slices"):
            doc.items(
                [
                    f"{w['column']} = {w['slice']}: {_f(w['challenger'])} vs {_f(w['champion'])} ({w['rows']} rows)"
                    for w in champion["worse_slices"]
                ]
            )
    doc.p("Gates:")
    doc.items(verdict.get("reasons") or [])

    # Slices and fairness
    doc.h(2, "Protected slices")
    slices = report.get("slices") or {}
    if not slices:
        doc.p("The spec names no protected column: no slices.")
    for column, groups in slices.items():
        doc.h(3, f"By {column}")
        doc.table(
            ["slice", "rows", "outcome rate", "mean score", primary],
            [
                [str(k), g.get("rows"), g.get("positive_rate"), g.get("mean_score"), g.get(primary)]
                for k, g in groups.items()
            ],
        )
    doc.blocks += fairness_lines.blocks

    # Calibration
    doc.h(2, "Calibration")
    doc.p(
        "Observed outcome rate against the mean predicted probability, by score decile of the holdout "
        "(the dashed line is perfect calibration)."
    )
    doc.image("calibration.png", "calibration on the holdout")
    doc.table(
        ["bin", "rows", "mean score", "outcome rate"],
        [[str(i), b["rows"], b["mean_score"], b["outcome_rate"]] for i, b in enumerate(cal["bins"], start=1)],
    )

    # Explanations
    doc.h(2, "Explanations")
    ranking = figures["importance"]
    if ranking:
        doc.p(
            f"Permutation importance: the drop in {primary} when one raw input column is shuffled "
            f"({ranking[0]['repeats']} repeats, {ranking[0]['rows']} holdout rows, seeded). Near zero or below: "
            "the model does not rely on it."
        )
        doc.image("importance.png", "permutation importance")
        doc.table(
            ["feature", f"drop in {primary}", "std"], [[r["feature"], r["importance"], r["std"]] for r in ranking]
        )
    else:
        doc.p("Permutation importance not computed: the holdout has one outcome class only.")
    if figures["partial_dependence"]:
        doc.p(
            "Partial dependence of the top features: the average predicted probability when every row's value is "
            "set to each grid value (a model's view, not a causal effect)."
        )
        for i, curve in enumerate(figures["partial_dependence"], start=1):
            doc.image(f"pd_{i}.png", f"partial dependence: {curve['feature']}")

    doc.h(2, "Where the model errs most")
    seg = figures["segments"]
    doc.p(
        f"Segments of each feature and protected column (levels, quantile buckets of numbers, protected bins) with "
        f"at least {seg['min_rows']} rows, ranked by log loss; overall log loss {_f(seg['overall']['log_loss'])}, "
        f"error rate {_f(seg['overall']['error_rate'])} (decision threshold {_f(seg['threshold'])}). "
        f"{seg['considered']} segments considered."
    )
    if seg["worst"]:
        doc.table(
            ["column", "segment", "rows", "outcome rate", "mean score", "log loss", "error rate"],
            [
                [
                    s["column"],
                    s["segment"],
                    s["rows"],
                    s["outcome_rate"],
                    s["mean_score"],
                    s["log_loss"],
                    s["error_rate"],
                ]
                for s in seg["worst"]
            ],
        )

    doc.h(2, "Candidates")
    doc.table(
        ["candidate", f"calibration-split {primary}", f"holdout {primary}", "run"],
        [
            [r["candidate"], r["selection_score"], (r.get("holdout") or {}).get(primary), r["run_id"]]
            for r in report.get("ranking") or []
        ],
    )

    doc.h(2, "Lineage")
    lineage = [
        ("training run", tags.get(Tag.PARENT_RUN_ID, "")),
        ("model run", inputs.run_id),
        ("git commit", tags.get(Tag.GIT_COMMIT, "")),
        ("config hash", tags.get(Tag.CONFIG_HASH, "")),
        ("training options hash", tags.get(Tag.TRAINING_HASH, "")),
        ("Airflow", f"{tags.get(Tag.AIRFLOW_DAG_ID, '')} / {tags.get(Tag.AIRFLOW_RUN_ID, '')}"),
        ("trigger reason", tags.get(Tag.TRIGGER_REASON, "")),
        ("compared to", tags.get(Tag.COMPARED_TO, "")),
    ]
    doc.table(["item", "value"], [[k, v] for k, v in lineage])
    return doc


# --- the card -----------------------------------------------------------------------------------


def compute_figures(inputs: CardInputs, model: Any) -> dict[str, Any]:
    """Everything the card computes on the holdout (metrics with CIs, explanations, segments, calibration)."""
    from modelops.collect.labels import target_vector
    from modelops.evaluate.evaluation import bootstrap_metrics

    spec, evaluation = inputs.spec, inputs.evaluation
    seed = int(inputs.training.get("seed", 0))
    primary = inputs.report.get("primary_metric") or evaluation["primary_metric"]
    X = inputs.holdout[spec.features]
    y = target_vector(inputs.holdout, spec)
    proba = model.predict_proba(X)[:, 1]
    threshold = inputs.report.get("threshold")
    if threshold is None:
        raise CardError("the evaluation report holds no decision threshold: the gate's decisions cannot be shown")
    metrics = bootstrap_metrics(
        y,
        proba,
        int(evaluation["bootstrap_resamples"]),
        float(evaluation["confidence"]),
        int(evaluation["bootstrap_max_rows"]),
        seed,
        threshold=float(threshold),
    )
    recorded = (inputs.report.get("metrics") or {}).get(primary)
    if recorded is not None and not math.isclose(metrics[primary]["value"], recorded, abs_tol=1e-6):
        raise CardError(
            f"{primary} on the holdout is {metrics[primary]['value']:.6f} but the evaluation report says "
            f"{recorded:.6f}: the holdout or the model is not the one that was evaluated"
        )
    importance = permutation_ranking(model, X, y, primary, seed, float(threshold))
    # the top features the model relies on (shuffling them costs something); noise gets no curve
    top = [r["feature"] for r in importance[:PD_FEATURES] if r["importance"] > 0]
    min_rows = min(int(evaluation.get("min_slice_rows", 100)), max(SEGMENT_FLOOR, int(SEGMENT_MIN_SHARE * len(y))))
    return {
        "primary_metric": primary,
        "metrics": metrics,
        "importance": importance,
        "partial_dependence": partial_dependence_curves(model, X, top, set(spec.categorical), seed),
        "segments": error_segments(inputs.holdout, y, proba, spec, min_rows, float(threshold)),
        "calibration": calibration_bins(y, proba),
    }


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def build_card(model_name: str, version: str, settings: Settings) -> dict[str, Any]:
    """Make, store, log and link the card of one registered version; returns its paths and a short summary."""
    from modelops.core.jsonsafe import json_safe

    inputs = gather(model_name, str(version), settings)
    model = registry.load_model(f"models:/{model_name}/{inputs.version}")
    figures = compute_figures(inputs, model)
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    doc = render(inputs, figures, generated_at)
    images = _plots(figures, figures["primary_metric"])
    title = f"Model card: {model_name} v{inputs.version}"
    final = catalog.card_dir(inputs.spec.name, model_name, inputs.version)
    with catalog.atomic_dir(final, replace=True) as staging:
        catalog.write_text(staging / catalog.CARD_MD, doc.markdown())
        catalog.write_text(staging / catalog.CARD_HTML, doc.html(title, images))
        catalog.write_json(
            staging / catalog.CARD_JSON,
            json_safe({"model_name": model_name, "version": inputs.version, "generated_at": generated_at, **figures}),
        )
        for name, png in images.items():
            with catalog.atomic_file(staging / _file_name(name)) as tmp:
                tmp.write_bytes(base64.b64decode(png))
    uri = registry.log_card(
        model_name, inputs.version, inputs.run_id, str(final), catalog.CARD_HTML, str(final / catalog.CARD_HTML)
    )
    head = figures["metrics"][figures["primary_metric"]]
    worst = figures["segments"]["worst"]
    fairness = inputs.report.get("fairness")
    return json_safe(
        {
            "model_name": model_name,
            "version": inputs.version,
            "dataset": inputs.spec.name,
            "card_md": str(final / catalog.CARD_MD),
            "card_html": str(final / catalog.CARD_HTML),
            "artifact_uri": uri,
            "primary_metric": figures["primary_metric"],
            "value": head["value"],
            "ci_low": head["ci_low"],
            "ci_high": head["ci_high"],
            "top_features": [c["feature"] for c in figures["partial_dependence"]],
            "worst_segment": f"{worst[0]['column']} = {worst[0]['segment']}" if worst else None,
            "fairness": "not assessed" if not fairness else ("passed" if fairness.get("passed") else "breached"),
            "holdout_source": inputs.holdout_source,
        }
    )


def resolve_version(model_name: str, version: str) -> str:
    """A version number as given, or the version an alias (`champion`, `@challenger`) points at."""
    text = str(version).strip().lstrip("@")
    if text.isdigit():
        return text
    found = registry.version_by_alias(model_name, text)
    if found is None:
        raise CardError(f"{model_name} has no version or alias {version!r}")
    return str(found.version)


def main(argv: list[str] | None = None) -> None:
    """`python -m modelops.govern.cards MODEL VERSION`: make (or remake) the card of a registered version."""
    from modelops.config.settings import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_name")
    parser.add_argument("version", help="a version number or an alias (champion, challenger)")
    args = parser.parse_args(argv)
    summary = build_card(args.model_name, resolve_version(args.model_name, args.version), load_settings())
    print(f"{summary['model_name']} v{summary['version']}: {summary['card_html']}")
    print(f"  markdown {summary['card_md']}; logged as {summary['artifact_uri']}")


if __name__ == "__main__":
    main()

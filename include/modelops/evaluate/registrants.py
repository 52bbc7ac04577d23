"""New registrants in a scored snapshot: how many the model scored (not the fallback), and its error on them.

New registrants are the rows the dataset's `scoring.new_registrants` rule holds for (e.g. registered
this cycle): the model has seen the fewest people like them, and they have no vote history. A scored
snapshot's predictions (id, score, source) are matched to the snapshot's rows by id; with labels (id
and target) the model's log loss, Brier score and AUC on them are set against the other rows', each
with the number of labelled rows it rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.labels import UNLABELLED, label_values
from modelops.collect.snapshot_diff import id_keys, registrant_config
from modelops.collect.values import new_registrant_rows, require_registrant_column
from modelops.config.settings import DatasetSpec
from modelops.core.records import XComRecord
from modelops.core.rules import describe
from modelops.stats.metrics import score

ERROR_METRICS = ("log_loss", "brier", "roc_auc")
PREDICTION_COLUMNS = ("id", "score", "source")


@dataclass(frozen=True)
class GroupScores(XComRecord):
    """One group's rows: scored by the model or the fallback (or not at all), and the model's error."""

    rows: int
    unscored: int  # snapshot rows without a prediction
    model_rows: int
    fallback_rows: int
    model_share: float | None  # model_rows / scored rows
    labelled: int  # model-scored rows with an outcome: what the error figures rest on
    log_loss: float | None
    brier: float | None
    roc_auc: float | None  # None with one class only


@dataclass(frozen=True)
class RegistrantScores(XComRecord):
    """New registrants against every other row of one scored snapshot."""

    rule: str
    missing_ids: int  # snapshot rows without an id: in neither group
    new: GroupScores
    rest: GroupScores

    def gap(self, metric: str) -> float | None:
        """The metric on new registrants minus on the rest (None when either is undefined)."""
        new, rest = getattr(self.new, metric), getattr(self.rest, metric)
        return None if new is None or rest is None else new - rest


def _first_by_key(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The frame indexed by its id text, the first row per id, rows without an id left out."""
    keys = id_keys(frame[column])
    kept = keys.notna().to_numpy() & ~keys.duplicated(keep="first").to_numpy()
    return frame.loc[kept].set_axis(keys[kept].to_numpy(), axis=0)


def _metric(name: str, y: np.ndarray, proba: np.ndarray) -> float | None:
    if len(y) == 0:
        return None
    value = score(name, y, proba)
    return value if math.isfinite(value) else None


def _group(rows: pd.DataFrame, fallback_source: str) -> GroupScores:
    """Coverage and error of one group (rows: the snapshot's, with score, source and label joined)."""
    scored = rows["source"].notna().to_numpy()
    fallback = scored & (rows["source"] == fallback_source).to_numpy()
    by_model = scored & ~fallback
    labelled = by_model & (rows["label"] != UNLABELLED).to_numpy()
    y = rows["label"].to_numpy()[labelled].astype(int)
    proba = rows["score"].to_numpy(dtype=float)[labelled]
    return GroupScores(
        rows=len(rows),
        unscored=int((~scored).sum()),
        model_rows=int(by_model.sum()),
        fallback_rows=int(fallback.sum()),
        model_share=float(by_model.sum() / scored.sum()) if scored.any() else None,
        labelled=int(labelled.sum()),
        **{name: _metric(name, y, proba) for name in ERROR_METRICS},
    )


def registrant_scores(
    snapshot: pd.DataFrame,
    predictions: pd.DataFrame,
    spec: DatasetSpec,
    *,
    fallback_source: str,
    labels: pd.DataFrame | None = None,
    id_column: str | None = None,
) -> RegistrantScores:
    """Score coverage and model error of new registrants (the spec's rule) against the rest of a snapshot.

    `predictions`: the scoring output's id, score and source (`fallback_source` names the fallback's);
    `labels`: the id and the target, when outcomes are known (otherwise the error figures are None);
    `id_column`: the snapshot's id column when it is not the spec's (a `scoring.population`'s snapshot).
    """
    rule = registrant_config(spec.scoring.new_registrants)
    id_column = id_column or spec.id_column
    if not id_column or rule is None:
        raise ValueError(f"dataset {spec.name!r} needs an id_column and a scoring.new_registrants rule")
    absent = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if absent:
        raise ValueError(f"predictions: missing column(s) {absent}")
    if labels is not None and not {spec.id_column, spec.target} <= set(labels.columns):
        raise ValueError(f"labels: need columns {[spec.id_column, spec.target]}")
    rows = _first_by_key(snapshot, id_column)
    require_registrant_column(rows, rule, "snapshot")
    rows = rows.assign(new_registrant=new_registrant_rows(rows, rule))
    served = _first_by_key(predictions, "id")[["score", "source"]]
    rows = rows.join(served, how="left")
    if labels is not None:
        known = _first_by_key(labels, spec.id_column)
        rows["label"] = pd.Series(label_values(known, spec), index=known.index).reindex(rows.index)
        rows["label"] = rows["label"].fillna(UNLABELLED).astype(int)
    else:
        rows["label"] = UNLABELLED
    is_new = rows["new_registrant"].to_numpy()
    return RegistrantScores(
        rule=_in_words(rule),
        missing_ids=int(id_keys(snapshot[id_column]).isna().sum()),
        new=_group(rows.loc[is_new], fallback_source),
        rest=_group(rows.loc[~is_new], fallback_source),
    )


def _in_words(config: dict[str, Any]) -> str:
    """`scoring.new_registrants` as one line, e.g. `years_registered <= 0`."""
    by_number = config.get("max_value") is not None
    value = config["max_value"] if by_number else config.get("value")
    return describe([{"column": config["column"], "op": "<=" if by_number else "==", "value": value}])

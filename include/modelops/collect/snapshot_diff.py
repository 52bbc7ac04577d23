"""Between two voter-file snapshots: who was added, dropped or moved, overall and per geography.

Only the id column, the geography column and the columns of the new-registrant rule are read (a
Parquet file is read by those columns alone), all named by the dataset spec (`id_column`,
`scoring.geography`, `scoring.new_registrants`). A row without an id is counted, never matched; an id
repeated inside one snapshot is counted and its first row stands for it (as scoring does). A missing
geography is a geography of its own (None), so a move from or to "unknown" is counted, not lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import new_registrant_rows, require_registrant_column
from modelops.config.settings import DatasetSpec
from modelops.core.records import XComRecord

_WHOLE = r"-?[0-9]+"


@dataclass(frozen=True)
class DiffColumns:
    """The columns a diff reads, from the spec: the id, the geography (optional), the new-registrant rule."""

    id_column: str
    geography: str | None = None
    new_registrants: dict[str, Any] | None = None  # `scoring.new_registrants` (column, max_value | value)

    @property
    def read(self) -> list[str]:
        """Every column the diff needs, in a stable order."""
        rule_columns = [str(self.new_registrants["column"])] if self.new_registrants else []
        wanted = [self.id_column, *([self.geography] if self.geography else []), *rule_columns]
        return list(dict.fromkeys(wanted))


def diff_columns(spec: DatasetSpec) -> DiffColumns:
    """The diff's columns of a dataset; a spec without an id column cannot be diffed."""
    if not spec.id_column:
        raise ValueError(f"dataset {spec.name!r} has no id_column: snapshots cannot be matched row to row")
    return DiffColumns(spec.id_column, spec.geography, registrant_config(spec.scoring.new_registrants))


def registrant_config(config: Any) -> dict[str, Any] | None:
    """The dataset's `scoring.new_registrants` (a typed section or its dict) as the dict `new_registrant_rows` reads."""
    if config is None:
        return None
    return dict(config) if isinstance(config, dict) else config.model_dump()


def read_snapshot(source: pd.DataFrame | Path | str, columns: DiffColumns) -> pd.DataFrame:
    """The diff's columns of a snapshot (a frame or a Parquet file, read by those columns only)."""
    if isinstance(source, pd.DataFrame):
        frame = source
    else:
        from modelops.collect.parquet_files import parquet_columns, read_parquet_file

        path = Path(source)
        present = set(parquet_columns(path))
        missing = [c for c in columns.read if c not in present]
        if missing:
            raise ValueError(f"snapshot {path.name}: missing column(s) {missing} the diff needs")
        frame = read_parquet_file(path, columns.read)
    missing = [c for c in columns.read if c not in frame.columns]
    if missing:
        raise ValueError(f"snapshot frame: missing column(s) {missing} the diff needs")
    return frame[columns.read]


def id_keys(series: pd.Series) -> pd.Series:
    """The id as comparable text (7, 7.0 and " 7" alike), missing (None) where there is no id."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.astype("float64")
        whole = values.notna() & (values == np.floor(values))
        text = values.astype(object).map(repr)
        text[whole] = values[whole].astype("int64").astype(str)
    else:
        text = series.astype(object).map(lambda v: None if v is None or v is pd.NA else str(v).strip())
        number = text.str.fullmatch(r"-?[0-9]+\.0+").fillna(False).astype(bool)
        text[number] = text[number].str.replace(r"\.0+$", "", regex=True)
    missing = series.isna().to_numpy() | (text.fillna("") == "").to_numpy()
    return pd.Series(np.where(missing, None, text.to_numpy(dtype=object)), index=series.index, dtype=object)


@dataclass(frozen=True)
class SideCounts(XComRecord):
    """One snapshot's rows: all of them, those without an id, and repeats of an earlier row's id."""

    rows: int
    missing_ids: int
    duplicate_ids: int

    @property
    def ids(self) -> int:
        """Distinct ids."""
        return self.rows - self.missing_ids - self.duplicate_ids


@dataclass(frozen=True)
class GeographyDiff(XComRecord):
    """One geography's part of a diff (ids counted where each snapshot places them; None: no geography)."""

    geography: str | None
    old_ids: int
    new_ids: int
    adds: int
    drops: int
    moves_in: int
    moves_out: int
    new_registrants: int | None


@dataclass(frozen=True)
class SnapshotDiff(XComRecord):
    """Adds (ids only in the new snapshot), drops (only in the old), moves (same id, other geography)."""

    old: SideCounts
    new: SideCounts
    kept: int
    adds: int
    drops: int
    moves: int
    add_share: float | None  # of the new snapshot's ids
    drop_share: float | None  # of the old snapshot's ids
    move_share: float | None  # of the ids in both
    new_registrants: int | None  # ids of the new snapshot the rule holds for (None: no rule)
    new_registrant_share: float | None
    new_registrants_among_adds: int | None
    geographies: tuple[GeographyDiff, ...] = ()


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _side(frame: pd.DataFrame, columns: DiffColumns) -> tuple[pd.DataFrame, SideCounts]:
    """Distinct ids of one snapshot (first row per id) with geography and the rule's verdict, and its counts."""
    require_registrant_column(frame, columns.new_registrants, "snapshot")
    keys = id_keys(frame[columns.id_column])
    has_id = keys.notna().to_numpy()
    repeated = keys.duplicated(keep="first").to_numpy() & has_id
    keep = has_id & ~repeated
    geo = frame[columns.geography] if columns.geography else pd.Series(None, index=frame.index, dtype=object)
    geo_text = geo.astype(object).map(lambda v: None if pd.isna(v) else str(v))
    side = pd.DataFrame(
        {
            "key": keys[keep].to_numpy(),
            "geo": geo_text[keep].to_numpy(),
            "new_registrant": new_registrant_rows(frame, columns.new_registrants)[keep],
        }
    )
    counts = SideCounts(rows=len(frame), missing_ids=int((~has_id).sum()), duplicate_ids=int(repeated.sum()))
    return side.set_index("key"), counts


def diff_snapshots(
    old: pd.DataFrame | Path | str, new: pd.DataFrame | Path | str, columns: DiffColumns
) -> SnapshotDiff:
    """Adds, drops and moves between two snapshots, with shares, per geography, and the new registrants."""
    old_side, old_counts = _side(read_snapshot(old, columns), columns)
    new_side, new_counts = _side(read_snapshot(new, columns), columns)
    both = old_side.join(new_side, how="outer", lsuffix="_old", rsuffix="_new")
    in_old, in_new = both.index.isin(old_side.index), both.index.isin(new_side.index)
    geo_old, geo_new = both["geo_old"], both["geo_new"]
    same_geo = (geo_old == geo_new) | (geo_old.isna() & geo_new.isna())
    added, dropped = in_new & ~in_old, in_old & ~in_new
    moved = in_old & in_new & ~same_geo.to_numpy()
    registrant = both["new_registrant_new"].fillna(False).astype(bool).to_numpy() & in_new
    has_rule = columns.new_registrants is not None
    return SnapshotDiff(
        old=old_counts,
        new=new_counts,
        kept=int((in_old & in_new).sum()),
        adds=int(added.sum()),
        drops=int(dropped.sum()),
        moves=int(moved.sum()),
        add_share=_share(int(added.sum()), int(in_new.sum())),
        drop_share=_share(int(dropped.sum()), int(in_old.sum())),
        move_share=_share(int(moved.sum()), int((in_old & in_new).sum())),
        new_registrants=int(registrant.sum()) if has_rule else None,
        new_registrant_share=_share(int(registrant.sum()), int(in_new.sum())) if has_rule else None,
        new_registrants_among_adds=int((registrant & added).sum()) if has_rule else None,
        geographies=_per_geography(both, in_old, in_new, added, dropped, moved, registrant, has_rule)
        if columns.geography
        else (),
    )


def _per_geography(
    both: pd.DataFrame,
    in_old: np.ndarray,
    in_new: np.ndarray,
    added: np.ndarray,
    dropped: np.ndarray,
    moved: np.ndarray,
    registrant: np.ndarray,
    has_rule: bool,
) -> tuple[GeographyDiff, ...]:
    """The diff's counts by geography: old-side counts where the old snapshot placed an id, new-side by the new."""
    marker = "\x00none"  # a missing geography grouped as one (never a real value: reported back as None)
    geo_old = both["geo_old"].fillna(marker).to_numpy(dtype=object)
    geo_new = both["geo_new"].fillna(marker).to_numpy(dtype=object)
    out = []
    for geo in sorted(set(geo_old[in_old]) | set(geo_new[in_new]), key=lambda g: (g == marker, g)):
        at_old, at_new = in_old & (geo_old == geo), in_new & (geo_new == geo)
        out.append(
            GeographyDiff(
                geography=None if geo == marker else str(geo),
                old_ids=int(at_old.sum()),
                new_ids=int(at_new.sum()),
                adds=int((added & at_new).sum()),
                drops=int((dropped & at_old).sum()),
                moves_in=int((moved & at_new).sum()),
                moves_out=int((moved & at_old).sum()),
                new_registrants=int((registrant & at_new).sum()) if has_rule else None,
            )
        )
    return tuple(out)

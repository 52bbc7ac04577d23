"""The challenger beside the served model: which rows it scores (shadow sample, canary share) and how far it agrees."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelops.collect.values import as_numbers, factorize
from modelops.score.ids import unit_interval
from modelops.score.models import LoadedModel
from modelops.score.plan import ScoringPlan, shadow_share

DECILES = 10
_CANARY_SALT = 0x5851F42D4C957F2D
_SHADOW_SALT = 0x2545F4914F6CDD1D


def canary_mask(values: pd.Series, share: float) -> np.ndarray:
    """Rows whose key hashes below `share`: the same key is always on the same side."""
    from modelops.train.splits import column_hash

    if share <= 0:
        return np.zeros(len(values), dtype=bool)
    mixed = pd.util.hash_array(column_hash(values) ^ np.uint64(_CANARY_SALT), categorize=False)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53) < share


CANARY_BINS = 10  # the canary's and the champion's scores on the same rows, in 0.1-wide bins (mergeable)
_CANARY_COUNTS = ("slice_rows", "rows", "fallback", "unusable", "agree", "champion_sum", "canary_sum")


class CanaryStats:
    """Mergeable counts of the canary's rows: its hash share, what it decided, how far from the champion."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(_CANARY_COUNTS, 0.0)
        self.hist = {"champion": np.zeros(CANARY_BINS, dtype=np.int64), "canary": np.zeros(CANARY_BINS, dtype=np.int64)}

    def add(
        self,
        in_slice: np.ndarray,
        canary: np.ndarray,
        fallback: np.ndarray,
        champ: np.ndarray,
        chall: np.ndarray,
        threshold: float,
    ) -> None:
        """One chunk: `in_slice` the rows the hash gives the canary, `canary` those it decided, `fallback` the
        rows the rule-based baseline served; both models' scores of the canary's rows are compared."""
        x, y = champ[canary], chall[canary]
        c = self.counts
        c["slice_rows"] += int(in_slice.sum())
        c["rows"] += int(canary.sum())
        c["fallback"] += int((in_slice & fallback).sum())
        c["unusable"] += int((in_slice & ~fallback & ~canary).sum())  # the champion scored it, the canary could not
        c["agree"] += int(((x >= threshold) == (y >= threshold)).sum())
        c["champion_sum"] += float(x.sum())
        c["canary_sum"] += float(y.sum())
        for name, values in (("champion", x), ("canary", y)):
            bins = np.minimum((np.clip(values, 0.0, 1.0) * CANARY_BINS).astype(int), CANARY_BINS - 1)
            self.hist[name] += np.bincount(bins, minlength=CANARY_BINS)

    def to_dict(self) -> dict[str, Any]:
        hist = {f"{name}_hist": counts.tolist() for name, counts in self.hist.items()}
        return {**self.counts, **hist}


def canary_figures(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """The canary's counts summed over groups (or snapshots) and its figures: decision agreement with the champion
    on the same rows, the share of its hash share it did not decide, the PSI and mean shift of its scores."""
    from modelops.stats.drift import psi

    counts: dict[str, Any] = {k: sum(float(s.get(k, 0)) for s in stats) for k in _CANARY_COUNTS}
    for key in ("champion_hist", "canary_hist"):
        counts[key] = np.sum([np.asarray(s[key], dtype=np.int64) for s in stats], axis=0).tolist() if stats else []
    rows, slice_rows = counts["rows"], counts["slice_rows"]
    counts.update({k: int(counts[k]) for k in ("slice_rows", "rows", "fallback", "unusable", "agree")})
    return {
        **counts,
        "decision_agreement": counts["agree"] / rows if rows else None,
        "fallback_share": (counts["fallback"] + counts["unusable"]) / slice_rows if slice_rows else None,
        "score_psi": psi(counts["champion_hist"], counts["canary_hist"]) if rows else None,
        "mean_shift": (counts["canary_sum"] - counts["champion_sum"]) / rows if rows else None,
    }


def _decile_edges(profile: dict[str, Any] | None) -> np.ndarray | None:
    """The reference score's nine decile edges, read off the profile's quantile grid."""
    if not profile or not profile.get("edges"):
        return None
    edges, cdf = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    idx = np.minimum(np.searchsorted(cdf, np.linspace(0.1, 0.9, DECILES - 1)), len(edges) - 1)
    return edges[idx]


class _Agreement:
    """Mergeable shadow statistics of one group (sums and counts only)."""

    def __init__(self) -> None:
        self.n = 0
        self.eligible = 0  # rows both models could have scored (the sample is drawn from them)
        self.sums = np.zeros(5)  # x, y, xx, yy, xy
        self.deciles = np.zeros((DECILES, DECILES), dtype=np.int64)
        self.decisions = np.zeros((2, 2), dtype=np.int64)
        self.slices: dict[str, dict[str, list[float]]] = {}

    def add(
        self,
        champion: np.ndarray,
        challenger: np.ndarray,
        threshold: float,
        edges: tuple[np.ndarray | None, np.ndarray | None],
        groups: dict[str, tuple[np.ndarray, list[str]]],
    ) -> None:
        x, y = champion, challenger
        self.n += len(x)
        self.sums += [x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
        dx = np.searchsorted(edges[0], x, side="right") if edges[0] is not None else np.zeros(len(x), int)
        dy = np.searchsorted(edges[1], y, side="right") if edges[1] is not None else np.zeros(len(y), int)
        self.deciles += np.bincount(dx * DECILES + dy, minlength=DECILES * DECILES).reshape(DECILES, DECILES)
        cx, cy = (x >= threshold).astype(int), (y >= threshold).astype(int)
        self.decisions += np.bincount(cx * 2 + cy, minlength=4).reshape(2, 2)
        for column, (codes, labels) in groups.items():
            table = self.slices.setdefault(column, {})
            size = len(labels)
            # rows, sum champion, sum challenger, decisions agree, champion positive, challenger positive
            parts = [
                np.bincount(codes, minlength=size),
                np.bincount(codes, weights=x, minlength=size),
                np.bincount(codes, weights=y, minlength=size),
                np.bincount(codes, weights=(cx == cy), minlength=size),
                np.bincount(codes, weights=cx, minlength=size),
                np.bincount(codes, weights=cy, minlength=size),
            ]
            for i, label in enumerate(labels):  # several codes may share a label (values of one bin)
                if not parts[0][i]:
                    continue
                row = table.setdefault(label, [0.0] * 6)
                for k in range(6):
                    row[k] += float(parts[k][i])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "eligible": self.eligible,
            "sums": self.sums.tolist(),
            "deciles": self.deciles.tolist(),
            "decisions": self.decisions.tolist(),
            "slices": self.slices,
        }


def _slice_codes(values: pd.Series, bins: list[float] | None) -> tuple[np.ndarray, list[str]]:
    """(a code per row, the slice label of each code): `drift.slice_labels`, worked out on the
    distinct values only (labelling every row as text cost more than both models' predict)."""
    from modelops.stats.drift import slice_labels

    codes, uniques = factorize(values)  # a categorical's categories, else the distinct values in their dtype
    labels = [str(label) for label in slice_labels(pd.DataFrame({"value": pd.Series(uniques)}), "value", bins)]
    return np.where(codes < 0, len(uniques), codes), [*labels, "missing"]  # code -1: missing


def _slice_groups(
    frame: pd.DataFrame, checks: dict[str, Any], keep: np.ndarray, X: pd.DataFrame | None = None
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Slice codes and labels (protected columns, geography) of the kept rows.

    A binned column is binned by value: the checked model input's numbers when it is a feature
    (CSV text "34" is 34), else the column read as numbers (text that is no number: missing).
    """
    out: dict[str, tuple[np.ndarray, list[str]]] = {}
    wanted = [(column, column, bins) for column, bins in checks["protected"].items()]
    geo = checks.get("geography")
    if geo:
        wanted.append((f"geography:{geo}", geo, None))
    for name, column, bins in wanted:
        if column not in frame:
            continue
        values = frame[column]
        if bins:
            if X is not None and column in X and pd.api.types.is_numeric_dtype(X[column]):
                values = X[column]
            elif not pd.api.types.is_numeric_dtype(values):
                values = as_numbers(values)[0]
        codes, labels = _slice_codes(values, bins)
        out[name] = (codes[keep], labels)
    return out


class Shadow:
    """Which rows the challenger scores beside the served model, and the agreement statistics.

    A stable sample: rows whose id hashes below the share (the same voters every snapshot; without an
    id, the row's position). An input known to be small is shadowed on every row; one of unknown size
    (CSV, SQL) is shadowed on every row while it stays under `shadow_all_below`, and on the sample
    from then on; its report uses every row when it ended small, the sample otherwise.
    """

    def __init__(self, plan: ScoringPlan, challenger: LoadedModel | None, champion: LoadedModel | None) -> None:
        self.on = plan.shadow and challenger is not None
        self.plan = plan
        self.known = shadow_share(plan)
        self.share = self.known if self.known is not None else float(plan.options["shadow_sample"])
        self.limit = int(plan.options["shadow_all_below"])
        self.threshold = float(plan.options["threshold"])
        self.edges = (
            _decile_edges(champion.score_profile if champion else None),
            _decile_edges(challenger.score_profile if challenger else None),
        )
        self.sampled = _Agreement()
        self.every = _Agreement() if self.known is None else None  # every row, while the input is small
        self.chunk_sample = np.zeros(0, dtype=bool)

    def rows(self, ok: np.ndarray, hashes: np.ndarray | None, first: int, seen_after: int) -> np.ndarray:
        """The rows of this chunk the challenger scores for shadow (`seen_after`: the group's rows read so far)."""
        n = len(ok)
        if not self.on:
            return np.zeros(n, dtype=bool)
        self.chunk_sample = np.ones(n, dtype=bool) if self.known == 1.0 else self._in_sample(hashes, first, n)
        if self.every is not None and seen_after > self.limit:
            self.every = None  # the input is not small after all: its report is the sample's
        return np.ones(n, dtype=bool) if self.every is not None else self.chunk_sample

    def _in_sample(self, hashes: np.ndarray | None, first: int, n: int) -> np.ndarray:
        if hashes is None:  # no id: the row's position in the snapshot
            hashes = pd.util.hash_array(np.arange(first, first + n, dtype=np.int64), categorize=False)
        return unit_interval(hashes, _SHADOW_SALT) < self.share

    def add(
        self, champ: np.ndarray, chall: np.ndarray, eligible: np.ndarray, frame: pd.DataFrame, X: pd.DataFrame
    ) -> None:
        """Count the chunk's rows both models scored (eligible: rows with the served model's own score)."""
        if not self.on:
            return
        both = eligible & np.isfinite(champ) & np.isfinite(chall)
        checks = self.plan.checks
        for into, rows in ((self.sampled, both & self.chunk_sample), (self.every, both)):
            if into is None:
                continue
            into.eligible += int(eligible.sum())
            if rows.any():
                into.add(champ[rows], chall[rows], self.threshold, self.edges, _slice_groups(frame, checks, rows, X))

    def stats(self, rows_in: int) -> dict[str, Any]:
        """The group's statistics: every row when the input ended at most `shadow_all_below` rows, else the sample."""
        use_every = self.every is not None and rows_in <= self.limit
        chosen = self.every if use_every else self.sampled
        share = 1.0 if (use_every or self.known == 1.0) else self.share
        return {**chosen.to_dict(), "share": share}


def merge_agreement(stats: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum the groups' shadow statistics."""
    merged: dict[str, Any] = {
        "n": 0,
        "eligible": 0,
        "share": min((float(st.get("share", 1.0)) for st in stats), default=1.0),
        "sums": np.zeros(5),
        "deciles": np.zeros((DECILES, DECILES), dtype=np.int64),
        "decisions": np.zeros((2, 2), dtype=np.int64),
        "slices": {},
    }
    for s in stats:
        merged["n"] += int(s["n"])
        merged["eligible"] += int(s.get("eligible", s["n"]))
        merged["sums"] += np.asarray(s["sums"], dtype=float)
        merged["deciles"] += np.asarray(s["deciles"], dtype=np.int64)
        merged["decisions"] += np.asarray(s["decisions"], dtype=np.int64)
        for column, table in s["slices"].items():
            into = merged["slices"].setdefault(column, {})
            for label, row in table.items():
                into[label] = [a + b for a, b in zip(into.get(label, [0.0] * 6), row, strict=True)]
    return merged


def agreement_report(
    stats: list[dict[str, Any]], min_slice_rows: int = 100, confidence: float = 0.95
) -> dict[str, Any]:
    """Champion vs challenger on the same rows: correlation, deciles, top decile, decisions, slices.

    Deciles are each model's reference deciles (its training holdout), so the transition matrix
    and the top-decile overlap compare like with like across snapshots. On a sample (share < 1) every
    figure comes with its `confidence` interval: Wilson for shares, Fisher's z for the correlation,
    the normal interval for the mean difference; on every row the figures are exact (no interval).
    """
    m = merge_agreement(stats)
    n = m["n"]
    sample = {"rows": int(n), "of_rows": int(m["eligible"]), "share": m["share"], "every_row": m["share"] >= 1.0}
    if n == 0:
        return {"rows": 0, "sample": sample, "note": "no row was scored by both models"}
    sx, sy, sxx, syy, sxy = m["sums"]
    cov = sxy / n - (sx / n) * (sy / n)
    var_x, var_y = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
    corr = float(cov / np.sqrt(var_x * var_y)) if var_x > 0 and var_y > 0 else float("nan")
    deciles = m["deciles"]
    diagonal = float(np.trace(deciles) / n)
    near = float(sum(deciles[i, j] for i in range(DECILES) for j in range(DECILES) if abs(i - j) <= 1) / n)
    top_champion = int(deciles[-1].sum())
    top_both = int(deciles[-1, -1])
    decisions = m["decisions"]
    agreed = int(np.trace(decisions))
    mean_diff = float((sy - sx) / n)
    var_diff = max(float((syy - 2 * sxy + sxx) / n) - mean_diff**2, 0.0)
    intervals = None
    if not sample["every_row"]:
        from scipy.stats import norm

        z = float(norm.ppf(0.5 + confidence / 2))
        half = z * np.sqrt(var_diff / n)
        intervals = {
            "confidence": confidence,
            "score_correlation": _correlation_interval(corr, n, z),
            "mean_difference": [mean_diff - half, mean_diff + half],
            "same_decile_share": wilson_interval(int(np.trace(deciles)), n, z),
            "within_one_decile_share": wilson_interval(round(near * n), n, z),
            "top_decile_overlap": wilson_interval(top_both, top_champion, z),
            "decision_agreement": wilson_interval(agreed, n, z),
        }
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for column, table in m["slices"].items():
        out = {}
        for label, (rows, s_c, s_h, agree, pos_c, pos_h) in sorted(table.items()):
            out[label] = {
                "rows": int(rows),
                "champion_mean": s_c / rows,
                "challenger_mean": s_h / rows,
                "mean_difference": (s_h - s_c) / rows,
                "decision_agreement": agree / rows,
                "champion_positive_rate": pos_c / rows,
                "challenger_positive_rate": pos_h / rows,
                "small": rows < min_slice_rows,
            }
        slices[column] = out
    return {
        "rows": int(n),
        "sample": sample,
        "intervals": intervals,
        "score_correlation": corr,
        "mean_difference": mean_diff,
        "decile_transition": deciles.tolist(),
        "same_decile_share": diagonal,
        "within_one_decile_share": near,
        "top_decile_overlap": top_both / top_champion if top_champion else float("nan"),
        "top_decile_rows": top_champion,
        "decision_agreement": agreed / n,
        "decisions": {
            "both_negative": int(decisions[0, 0]),
            "champion_only": int(decisions[1, 0]),
            "challenger_only": int(decisions[0, 1]),
            "both_positive": int(decisions[1, 1]),
        },
        "slices": slices,
    }


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> list[float] | None:
    """Wilson score interval of a share (None without trials)."""
    if trials <= 0:
        return None
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def _correlation_interval(r: float, n: int, z: float) -> list[float] | None:
    """Fisher's z interval of a correlation (None when undefined or too few rows)."""
    if not np.isfinite(r) or n <= 3:
        return None
    if abs(r) >= 1.0:
        return [float(r), float(r)]
    centre, half = np.arctanh(r), z / np.sqrt(n - 3)
    return [float(np.tanh(centre - half)), float(np.tanh(centre + half))]

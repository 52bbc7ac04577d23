"""Who served a scored snapshot, row for row: the one truth every screen prints about it.

A scoring manifest counts each row under the source that decided it (`model`: the version behind the
alias scored it; `canary`: the challenger decided it; `fallback`: the rule-based baseline served it,
with a reason per row). `served_by(manifest)` reads those counts into a `ServedBy`, and
`ServedBy.line()` is the sentence the run, the Model monitor, the monitoring report and the alias
history print next to a snapshot, so no screen says "served by v1" for rows v1 did not score.

A fallback reason is `<kind>:<column>` (a row's input check failed on that column: `missing:age`,
`not_a_number:age`, `missing_column:x`, `out_of_range:age`, `unseen_category:party`) or a bare kind
(`model_unavailable`, `invalid_score`, `score_distribution`, `missing_id`, `duplicate_id`,
`degenerate_scores`). A row's reason is its first failed check; the manifest's `failed_checks` counts
every failed check, so `ServedBy.columns` names every column of a pattern (a block of questions
missing reads as the whole block, not its first question). No row value is ever part of a reason:
only kinds, column names and counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODEL, CANARY, FALLBACK = "model", "canary", "fallback"
REASONS_SHOWN = 6  # reasons named one by one in the line; more are grouped per kind with their columns
COLUMNS_SHOWN = 12  # columns named per kind in the line


@dataclass(frozen=True)
class ServedBy:
    """Rows of one scored snapshot per source (model, canary, fallback) with the fallback's reasons."""

    version: str | None  # the version behind the alias at scoring time
    alias: str | None
    challenger_version: str | None
    shadow: bool
    canary_share: float  # the configured share of rows the challenger decides (0: no canary)
    rows: int
    model_rows: int
    canary_rows: int
    fallback_rows: int
    fallback_reasons: tuple[tuple[str, int], ...]  # (reason, rows), most rows first
    failed_checks: tuple[tuple[str, int], ...] = ()  # every failed check (reason, rows), not only the first

    @property
    def columns(self) -> dict[str, tuple[str, ...]]:
        """The columns the fallback reasons name, per reason kind (most rows first): {"missing": ("q1", "q2")}."""
        out: dict[str, list[str]] = {}
        for reason, _ in self.fallback_reasons + self.failed_checks:
            kind, column = split_reason(reason)
            if column is not None and column not in out.setdefault(kind, []):
                out[kind].append(column)
        return {kind: tuple(columns) for kind, columns in out.items()}

    @property
    def reason_kinds(self) -> dict[str, int]:
        """Fallback rows per reason kind, most rows first: {"missing": 5200, "score_distribution": 10}."""
        out: dict[str, int] = {}
        for reason, count in self.fallback_reasons:
            kind = split_reason(reason)[0]
            out[kind] = out.get(kind, 0) + count
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def share(self, source: str) -> float | None:
        """Rows of `source` (model, canary or fallback) / rows; None for a snapshot of no rows."""
        count = {MODEL: self.model_rows, CANARY: self.canary_rows, FALLBACK: self.fallback_rows}[source]
        return count / self.rows if self.rows else None

    def reasons_text(self, limit: int = REASONS_SHOWN) -> str:
        """The fallback reasons with their rows ("missing:age 6, not_a_number:income 4").

        Beyond `limit` reasons, one entry per kind with the columns it names, so a block of questions
        missing reads "missing 5,200 in q1, q2, q3; score_distribution 45" instead of a cut list.
        """
        first = {reason for reason, _ in self.fallback_reasons}
        hidden = [(reason, count) for reason, count in self.failed_checks if reason not in first]
        if len(self.fallback_reasons) + len(hidden) <= limit:
            text = ", ".join(f"{reason} {count:,}" for reason, count in self.fallback_reasons)
            also = ", ".join(f"{reason} {count:,}" for reason, count in hidden)
            return text + (f"; the same rows also failed {also}" if also else "")
        columns = self.columns
        return "; ".join(
            f"{kind} {count:,}" + (f" in {_names(columns[kind])}" if kind in columns else "")
            for kind, count in self.reason_kinds.items()
        )

    def line(self) -> str:
        """The one-line truth: rows the version scored, the fallback's rows and reasons, the canary's rows."""
        who = f"v{self.version}" if self.version is not None else "the model"
        fallback = f"rule-based fallback {self.fallback_rows:,}" + (
            f" ({self.reasons_text()})" if self.fallback_reasons else ""
        )
        canary = (
            f"canary{f' v{self.challenger_version}' if self.challenger_version else ''} {self.canary_rows:,}"
            if self.canary_share > 0 or self.canary_rows
            else None
        )
        shadow = f"v{self.challenger_version} in shadow" if self.shadow and self.challenger_version else None
        if self.rows == 0:
            return f"no rows in: {who} scored none"
        if self.model_rows == 0 and self.fallback_rows == self.rows:
            why = f" ({self.reasons_text()})" if self.fallback_reasons else ""
            parts = [f"the rule-based fallback served all {self.rows:,} rows{why}", f"{who} scored none"]
        elif self.model_rows == 0:
            parts = [f"{who} scored none of {self.rows:,} rows", fallback]
        else:
            scored = (
                f"all {self.rows:,} rows"
                if self.model_rows == self.rows
                else f"{self.model_rows:,} of {self.rows:,} rows ({percent(self.model_rows, self.rows)})"
            )
            parts = [f"{who} scored {scored}", fallback]
        return "; ".join(p for p in (*parts, canary, shadow) if p)


def split_reason(reason: str) -> tuple[str, str | None]:
    """("missing", "age") for "missing:age"; ("score_distribution", None) for a bare kind."""
    kind, sep, column = str(reason).partition(":")
    return (kind, column) if sep and column else (kind, None)


def percent(part: int, whole: int) -> str:
    """part / whole as a percentage with one decimal that never rounds a remainder away (">99.9%", "<0.1%")."""
    if not whole:
        return "n/a"
    share = part / whole
    if 0 < share < 0.001:
        return "<0.1%"
    if part < whole and share > 0.999:
        return ">99.9%"
    return f"{share:.1%}"


def _names(columns: tuple[str, ...], limit: int = COLUMNS_SHOWN) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def served_by(manifest: Mapping[str, Any]) -> ServedBy:
    """The rows truth of a scoring manifest (or a monitoring report's `served` record, keyed `served_version`).

    Raises ValueError naming the key when the counts are missing or do not add up to the rows.
    """
    sources = manifest.get("sources")
    if not isinstance(sources, Mapping):
        raise ValueError("a scoring manifest needs 'sources' ({model, canary, fallback: rows}) to say who served")
    counts = {s: int(sources.get(s) or 0) for s in (MODEL, CANARY, FALLBACK)}
    unknown = sorted(set(sources) - set(counts))
    if unknown:
        raise ValueError(f"unknown sources in the manifest: {', '.join(map(str, unknown))}")
    total = sum(counts.values())
    rows = manifest.get("rows_in", manifest.get("rows_out"))
    rows = total if rows is None else int(rows)
    if rows != total:
        raise ValueError(f"the manifest's sources add up to {total} rows, not its {rows} rows in")
    reasons = manifest.get("fallback_reasons") or {}
    ordered = sorted(((str(r), int(c)) for r, c in reasons.items()), key=lambda rc: (-rc[1], rc[0]))
    failed = manifest.get("failed_checks") or {}
    checks = sorted(((str(r), int(c)) for r, c in failed.items()), key=lambda rc: (-rc[1], rc[0]))
    version = manifest.get("model_version", manifest.get("served_version"))
    challenger = manifest.get("challenger_version")
    return ServedBy(
        version=None if version is None else str(version),
        alias=None if manifest.get("alias") is None else str(manifest["alias"]),
        challenger_version=None if challenger is None else str(challenger),
        shadow=bool(manifest.get("shadow")),
        canary_share=float(manifest.get("canary_share") or 0.0),
        rows=rows,
        model_rows=counts[MODEL],
        canary_rows=counts[CANARY],
        fallback_rows=counts[FALLBACK],
        fallback_reasons=tuple(ordered),
        failed_checks=tuple(checks),
    )

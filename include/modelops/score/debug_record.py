"""The debug record of one row (`debug_row` builds it, `debug_page` renders it): plain data, no PII."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from modelops.core import jsonsafe
from modelops.score import explain


@dataclass(frozen=True)
class Check:
    """One per-row check of batch scoring: passed or not, and the reason batch scoring records when it fails."""

    name: str
    passed: bool
    reason: str  # the reason string a failing row is recorded with (the first failed check wins)
    meaning: str


@dataclass(frozen=True)
class RowDebug:
    """Everything about one row's score (no PII: see the module docstring)."""

    dataset: str
    model_name: str
    version: str
    alias: str | None
    origin: str  # "snapshot <id>" or "given row"
    snapshot: str | None
    row: int | None  # position in the snapshot
    id: str | None  # None when the id column is PII or absent
    raw: dict[str, Any]
    stages: dict[str, dict[str, Any]]
    score: float
    source: str  # model | fallback
    reason: str | None
    decision: bool
    threshold: float
    model_score: float | None  # the model's own probability (None: it could not score the row)
    checks: tuple[Check, ...]
    explanation: explain.Explanation | None
    recorded: dict[str, Any] | None = None  # the snapshot's recorded prediction of the row
    omitted: tuple[str, ...] = ()  # PII columns never shown
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return jsonsafe.json_safe(dataclasses.asdict(self))

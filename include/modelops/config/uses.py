"""Permitted use: what a dataset's scores (and forecasts) may serve, and the check every run makes first.

Each dataset declares `permitted_uses` (a non-empty list of identifiers, e.g. `[turnout_contact, research]`).
A run asks for one use (empty: the dataset's first); `check_use` returns it, or refuses a use the dataset
does not permit with `UseRefused`, naming the rule. The refusal is deterministic (the same request is
refused again), so a task fails at once without retry. Scoring carries the use on every output (manifest,
Parquet metadata, the PostgreSQL rows, the MLflow tag); forecasts call `check_use` the same way.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from modelops.config.checks import ConfigError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")  # a plausible column or use name (PostgreSQL's 63)


class UseRefused(ValueError):
    """A run asked for a use its dataset does not permit: deterministic, retrying cannot help."""


class _HasUses(Protocol):
    name: str
    permitted_uses: tuple[str, ...]


def is_identifier(text: Any) -> bool:
    """Whether `text` is a plausible identifier: a letter or _, then letters, digits, _ (at most 63)."""
    return isinstance(text, str) and bool(IDENTIFIER.match(text))


def permitted_use_list(where: str, value: Any) -> tuple[str, ...]:
    """The `permitted_uses` of a dataset body: required, a non-empty list of distinct identifiers."""
    if value is None:
        raise ConfigError(
            f"{where}: missing required key 'permitted_uses' (the uses its scores may serve, e.g. [research])"
        )
    if not isinstance(value, list) or not value or not all(is_identifier(v) for v in value):
        raise ConfigError(
            f"{where}.permitted_uses: expected a non-empty list of identifiers (letters, digits, _), got {value!r}"
        )
    repeated = sorted({v for v in value if value.count(v) > 1})
    if repeated:
        raise ConfigError(f"{where}.permitted_uses: listed more than once: {repeated}")
    return tuple(value)


def check_use(spec: _HasUses, use: str | None) -> str:
    """The use a run serves: `use`, or the dataset's first permitted use when empty; UseRefused otherwise."""
    permitted = list(spec.permitted_uses)
    if not permitted:
        raise UseRefused(f"dataset {spec.name!r} declares no permitted_uses: its scores may serve no use")
    asked = (use or "").strip()
    if not asked:
        return permitted[0]
    if asked not in permitted:
        shown = repr(asked) if is_identifier(asked) else "a use that is no identifier"  # never echo free text
        raise UseRefused(
            f"dataset {spec.name!r} permits uses [{', '.join(permitted)}]; {shown} was asked: refused "
            "(the rule: datasets.<name>.permitted_uses)"
        )
    return asked

"""Typed records across the XCom boundary: one conversion each way for every frozen dataclass a task hands on.

A record subclasses `XComRecord`: `record.to_xcom()` is its JSON-safe dict (`jsonsafe.json_safe`:
tuples as lists, datetimes as ISO text, NaN as null); `Record.from_xcom(data)` checks the keys
against the fields and rebuilds it, reading tuples, datetimes and nested records back by the fields'
type hints.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

from modelops.core.jsonsafe import json_safe

R = TypeVar("R", bound="XComRecord")


class XComRecord:
    """Base of a dataclass record handed between tasks: `to_xcom` and `from_xcom`, the same for every record."""

    def to_xcom(self) -> dict[str, Any]:
        """The record as a JSON-safe dict of its fields."""
        return json_safe(self)

    @classmethod
    def from_xcom(cls: type[R], data: dict[str, Any], *, ignore_unknown: bool = False) -> R:
        """The record `to_xcom` gave `data`; a missing required key (or, unless `ignore_unknown`, an unknown
        one) is an error."""
        return _build(cls, data, ignore_unknown)


def _build(cls: type[R], data: dict[str, Any], ignore_unknown: bool = False) -> R:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    required = {
        n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    unknown = [] if ignore_unknown else sorted(set(data) - set(fields))
    if missing or unknown:
        raise ValueError(f"not a {cls.__name__} XCom: missing keys {missing}, unknown keys {unknown}")
    hints = _hints(cls)
    return cls(**{name: _revive(hints[name], value) for name, value in data.items() if name in fields})


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _revive(hint: Any, value: Any) -> Any:
    """`value` as the type `hint` names, for the types JSON cannot carry (tuples, datetimes, records)."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return _revive(kinds[0], value) if len(kinds) == 1 else value
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_revive(args[0], v) for v in value)
        return tuple(_revive(a, v) for a, v in zip(args, value, strict=True)) if args else tuple(value)
    if origin is list and args:
        return [_revive(args[0], v) for v in value]
    if origin is dict and len(args) == 2:
        return {k: _revive(args[1], v) for k, v in value.items()}
    if hint is datetime and isinstance(value, str):
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return _build(hint, value)
    return value

"""JSON-safe values: the one conversion applied before anything goes to XCom, a JSON file or an MLflow artifact.

One policy: NaN and infinities become null (strict JSON, PostgreSQL's JSON columns and browsers refuse
them), numpy scalars and arrays become Python numbers and lists, tuples and sets become lists, paths
become text, datetimes and dates ISO text, dataclasses and pydantic models dicts of their fields, and
anything else its `str()`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date
from pathlib import PurePath
from typing import Any


def json_safe(value: Any) -> Any:
    """A copy of `value` that `json.dumps(..., allow_nan=False)` accepts (see the module's policy)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and not isinstance(value, type):  # a pydantic model
        return json_safe(value.model_dump())
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):  # arrays and scalars, without importing numpy
        return json_safe(value.tolist())
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    return str(value)


def _key(key: Any) -> Any:
    return key.tolist() if type(key).__module__ == "numpy" else key


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps` of `json_safe(value)` (strict JSON: no NaN token)."""
    return json.dumps(json_safe(value), allow_nan=False, **options)

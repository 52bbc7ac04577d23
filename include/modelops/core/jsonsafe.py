"""JSON-safe values: the one conversion applied before anything goes to XCom, a JSON file or an MLflow tag."""

from __future__ import annotations

from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """A copy with NaN/inf floats as None and numpy scalars as Python ones (XCom and JSON refuse them)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value

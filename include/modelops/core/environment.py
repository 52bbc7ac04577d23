"""The libraries that shape a model's predictions: their versions at training, and a serving process's.

A version records `versions()` at training (the `modelops.environment` tag, JSON). Scoring, monitoring
and reproduction compare it with the process they run in (`compare`): a model unpickled by another
scikit-learn (or numpy, scipy...) may predict differently, or not load, so any difference is said by
name (`scikit-learn: 1.5.2 -> 1.9.1`). This module imports nothing of modelops.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any

PYTHON = "python"
# what unpickles the model and computes its scores: estimators, arrays, frames, Parquet, the pickles themselves
PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "pyarrow", "joblib", "cloudpickle")
ABSENT = "absent"


def versions() -> dict[str, str]:
    """The Python version and each of `PACKAGES`' installed version in this process (`absent` when missing)."""
    found = {PYTHON: platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = ABSENT
    return found


def to_tag(recorded: dict[str, str]) -> str:
    """The tag value of a version's environment (compact JSON, sorted keys)."""
    return json.dumps(recorded, sort_keys=True, separators=(",", ":"))


def from_tag(value: str | None) -> dict[str, str] | None:
    """The environment a tag recorded, or None when the version has none (trained before it was recorded) or it
    is not a JSON object of names to versions."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    return {str(k): str(v) for k, v in parsed.items()}


def differences(trained: dict[str, str], serving: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every library (and Python) whose version differs: name -> {trained, serving}; a library recorded on
    one side only is a difference too (`absent` on the other)."""
    names = sorted(set(trained) | set(serving), key=lambda n: (n != PYTHON, n))
    return {
        name: {"trained": trained.get(name, ABSENT), "serving": serving.get(name, ABSENT)}
        for name in names
        if trained.get(name, ABSENT) != serving.get(name, ABSENT)
    }


def describe(found: dict[str, dict[str, str]]) -> str:
    """`scikit-learn: 1.5.2 -> 1.9.1, numpy: ...` (trained -> serving)."""
    return ", ".join(f"{name}: {v['trained']} -> {v['serving']}" for name, v in found.items())


def compare(recorded_tag: str | None, what: str) -> dict[str, Any]:
    """The record of one comparison, for a manifest, a report or a verdict: `trained` (None: not on record),
    `serving`, `differences`, `same`, and `alert` (a line naming what differs, or None). `what` names the
    model in the line (e.g. `voter_turnout v3`)."""
    trained, serving = from_tag(recorded_tag), versions()
    found = differences(trained, serving) if trained is not None else {}
    alert = None
    if found:
        alert = (
            f"{what} was trained with other library versions than this process runs (trained -> serving): "
            f"{describe(found)}; its predictions may differ from those it was validated on"
        )
    return {
        "trained": trained,
        "serving": serving,
        "differences": found,
        "same": trained is not None and not found,
        "alert": alert,
    }

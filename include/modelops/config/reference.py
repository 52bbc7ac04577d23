# ruff: noqa: E501  (a table of one-line meanings: a line per key reads better than wrapped strings)
"""The configuration reference: every key, its type, its default and what it means, generated.

Types, defaults and meanings come from the section models in `modelops.config.models` (each key
declared there once). `python -m modelops.config.reference` prints the Markdown that
`docs/config-reference.md` holds (a test keeps the two equal, and fails on a key without a meaning).
"""

from __future__ import annotations

import types
import typing
from typing import Any

from modelops.config import models as m
from modelops.config import settings as c
from modelops.config.checks import PREP_PARAMETERS, PREP_PREFIX

# section -> its model (the model's docstring is the section's one line)
SECTIONS: dict[str, type[m.Section]] = {
    "training": m.TrainingSection,
    "training.search": m.SearchOptions,
    "evaluation": m.EvaluationSection,
    "monitoring": m.MonitoringSection,
    "monitoring.domain_classifier": m.DomainClassifierOptions,
    "scoring": m.ScoringSection,
    "promotion": m.PromotionSection,
    "promotion.canary": m.CanaryOptions,
    "fairness": m.FairnessSection,
    "fairness.limits": m.FairnessLimits,
}

# a dataset's own scoring subsections (`datasets.<name>.scoring.<key>`)
DATASET_SCORING: dict[str, type[m.Section]] = {
    "population": m.ScoringPopulation,
    "new_registrants": m.NewRegistrants,
}

# the named forecasts (`forecasts.<name>`) and their certified results
FORECAST: dict[str, type[m.Section]] = {
    "forecasts.<name>": m.ForecastSpec,
    "forecasts.<name>.certified": m.CertifiedResults,
    "forecasts.<name>.backtest_limits": m.BacktestLimits,
}

ENVIRONMENT: dict[str, str] = {
    c.CONFIG_ENV: "Your parameters file(s), layered over the bundled one (several: separated by `:`).",
    "MODELOPS_HOME": "The workspace root for everything generated (default `<repo>/.local`).",
    c.REQUIRE_APPROVAL_ENV: "true/false: overrides `promotion.require_approval`.",
}


def _type(types: tuple[type, ...]) -> str:
    if set(types) == {int, float}:
        return "number"
    names = {int: "integer", float: "number", str: "text", bool: "true/false", list: "list", dict: "mapping"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _default(value: Any) -> str:
    if value is c.REQUIRED:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def _type(annotation: Any) -> str:
    members = (
        [t for t in typing.get_args(annotation) if t is not type(None)]
        if isinstance(annotation, types.UnionType)
        else [annotation]
    )
    if set(members) == {int, float}:
        return "number"
    names = {int: "integer", float: "number", str: "text", bool: "true/false", list: "list", dict: "mapping"}
    words = []
    for member in members:
        if typing.get_origin(member) is typing.Literal:
            words.append(" or ".join(f"`{v}`" for v in typing.get_args(member)))
            continue
        origin = typing.get_origin(member) or member
        words.append(
            "mapping" if isinstance(origin, type) and issubclass(origin, m.Section) else names.get(origin, str(origin))
        )
    return " or ".join(words)


def _default(info: Any) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, m.Section):
        return "below"
    if value is None or value == {}:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def _about(model: type[m.Section]) -> str:
    return (model.__doc__ or "").strip().splitlines()[0]


def _table(model: type[m.Section]) -> list[str]:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    rows += [
        f"| `{k}` | {_type(i.annotation)} | {_default(i)} | {i.description} |" for k, i in model.model_fields.items()
    ]
    return rows


def missing_meanings() -> list[str]:
    """Keys without a meaning (a test keeps this empty)."""
    missing = [
        f"{section}.{key}"
        for section, model in SECTIONS.items()
        for key, info in model.model_fields.items()
        if not info.description
    ]
    missing += [f"datasets.<name>.{k}" for k, text in sorted(m.DATASET_KEYS.items()) if not text]
    missing += [f"validation.{k}" for k, info in m.ValidationRules.model_fields.items() if not info.description]
    missing += [
        f"scoring.{name}.{k}"
        for name, model in DATASET_SCORING.items()
        for k, info in model.model_fields.items()
        if not info.description
    ]
    missing += [f"weights.{k}" for k, info in m.DatasetWeights.model_fields.items() if not info.description]
    missing += [
        f"{name}.{k}" for name, model in FORECAST.items() for k, i in model.model_fields.items() if not i.description
    ]
    return missing


def reference_markdown() -> str:
    """docs/config-reference.md: layering, environment, then every section's keys and every dataset key."""
    out = [
        "# Configuration reference",
        "",
        "Generated by `python -m modelops.config.reference` from the section models in `include/modelops/config/models.py`",
        "(a test keeps this file equal to its output). The bundled `include/config/modelops.yaml` holds these",
        "defaults and the demo datasets; your file (`MODELOPS_CONFIG`) adds datasets and overrides keys: mappings",
        "merge key by key, a list or a value replaces, `datasets.<name>: null` hides a bundled dataset.",
        "`python -m modelops.config` checks the result.",
        "",
        "## Environment",
        "",
        "| variable | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in ENVIRONMENT.items()),
        "",
        "`default_dataset`: the dataset a form offers first (default: the first configured).",
    ]
    for section, model in SECTIONS.items():
        out += ["", f"## `{section}`", "", _about(model), "", *_table(model)]
    out += [
        "",
        "## `search_spaces`",
        "",
        "Per candidate family, per hyperparameter: `log_uniform: [lo, hi]` or `choice: [...]`. A key",
        f"`{PREP_PREFIX}<name>` (sampled by `choice`) configures the candidate's feature pipeline instead of its",
        "estimator; any other prefixed name is refused at load:",
        "",
        "| key | values |",
        "|---|---|",
        *(f"| `{PREP_PREFIX}{k}` | {text} |" for k, text in PREP_PARAMETERS.items()),
        "",
        "## `datasets.<name>`",
        "",
        "| key | meaning |",
        "|---|---|",
        *(f"| `{k}` | {text} |" for k, text in sorted(m.DATASET_KEYS.items())),
        "",
        "### `datasets.<name>.validation`",
        "",
        *_table(m.ValidationRules),
        "",
        "### `datasets.<name>.weights`",
        "",
        _about(m.DatasetWeights),
        "",
        *_table(m.DatasetWeights),
        "",
        "The holdout metrics are reported unweighted (`metrics`) and weighted (`weighted_metrics`, naming the weight",
        "column) side by side; with `use: survey` the gate judges the weighted ones. A dataset without survey weights",
        "(a voter file) may weight its metrics by another model's turnout scores (`stats.weights.electorate_weights`).",
        "",
    ]
    for name, model in DATASET_SCORING.items():
        out += ["", f"### `datasets.<name>.scoring.{name}`", "", _about(model), "", *_table(model)]
    for name, model in FORECAST.items():
        out += ["", f"## `{name}`", "", _about(model), "", *_table(model)]
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")

"""The `forecasts` section: named election forecasts, each a turnout dataset x a support dataset by geography.

Checked at load once every dataset is known: both datasets exist and differ, they score the same snapshots
(the support dataset's `scoring.population` is the turnout dataset, or both share one population), the
geography (default: the turnout dataset's `scoring.geography`) is a column of those snapshots, the
certified path uses only the `{repo}` and `{raw}` placeholders, the level lies in (0, 1) and the scenario
delta is >= 0. The permitted use is checked when a forecast runs (`uses.check_use` on both datasets), as a
scoring run checks its own: a refusal then names the rule.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

from modelops.config.checks import ConfigError, build
from modelops.config.models import FORECAST_PLACEHOLDERS, ForecastSpec
from modelops.config.population import declared_columns
from modelops.config.uses import is_identifier


def snapshot_dataset(spec: Any) -> str:
    """The dataset whose snapshots a dataset's model scores: its `scoring.population`, or itself."""
    population = spec.scoring.population
    return population.dataset if population is not None else spec.name


def parse_forecasts(body: Any, datasets: dict[str, Any]) -> dict[str, ForecastSpec]:
    """The checked `forecasts` section (empty when absent), every forecast's geography filled in."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ConfigError(f"forecasts: expected a mapping of named forecasts, got {type(body).__name__}")
    return {str(name): _forecast(str(name), spec, datasets) for name, spec in body.items()}


def _forecast(name: str, body: Any, datasets: dict[str, Any]) -> ForecastSpec:
    where = f"forecasts.{name}"
    if not is_identifier(name):
        raise ConfigError(f"{where}: a forecast's name is an identifier (letters, digits, _): it names a folder")
    spec = build(ForecastSpec, where, body)
    for role in ("turnout", "support"):
        if getattr(spec, role) not in datasets:
            raise ConfigError(
                f"{where}.{role}: unknown dataset {getattr(spec, role)!r}; configured datasets: {sorted(datasets)}"
            )
    if spec.turnout == spec.support:
        raise ConfigError(f"{where}: turnout and support are two datasets, got {spec.turnout!r} for both")
    turnout, support = datasets[spec.turnout], datasets[spec.support]
    population = snapshot_dataset(turnout)
    if snapshot_dataset(support) != population:
        raise ConfigError(
            f"{where}: {spec.support!r} scores the snapshots of {snapshot_dataset(support)!r}, {spec.turnout!r} "
            f"those of {population!r}: set datasets.{spec.support}.scoring.population.dataset to {population!r}"
        )
    geography = spec.geography or turnout.scoring.geography
    if not geography:
        raise ConfigError(f"{where}.geography: not set, and datasets.{spec.turnout}.scoring.geography is not either")
    if geography not in declared_columns(datasets[population]):
        raise ConfigError(f"{where}.geography: {geography!r} is not a declared column of {population!r}'s snapshots")
    if not (isinstance(spec.interval_level, int | float) and 0.0 < spec.interval_level < 1.0):
        raise ConfigError(f"{where}.interval_level: a coverage strictly between 0 and 1, got {spec.interval_level!r}")
    if not (math.isfinite(spec.scenario_delta) and spec.scenario_delta >= 0):
        raise ConfigError(f"{where}.scenario_delta: a log-odds shift >= 0, got {spec.scenario_delta!r}")
    if not is_identifier(spec.use):
        raise ConfigError(f"{where}.use: expected a use identifier (letters, digits, _), got {spec.use!r}")
    _check_limits(where, spec)
    if spec.certified is not None:
        fields = [f for _, f, _, _ in string.Formatter().parse(spec.certified.path) if f is not None]
        foreign = sorted(set(fields) - set(FORECAST_PLACEHOLDERS))
        if foreign:
            raise ConfigError(
                f"{where}.certified.path: unknown placeholder(s) {foreign}; known: {list(FORECAST_PLACEHOLDERS)}"
            )
    return spec.model_copy(update={"geography": geography})


def _check_limits(where: str, spec: ForecastSpec) -> None:
    """Backtest limits: MAEs finite and >= 0, coverage within [0, 1]; limits without certified results are refused."""
    limits = spec.backtest_limits
    if limits is None:
        return
    if spec.certified is None:
        raise ConfigError(f"{where}.backtest_limits: set, but the forecast has no certified results to backtest on")
    for key in ("turnout_mae_points", "share_mae_points"):
        value = getattr(limits, key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ConfigError(f"{where}.backtest_limits.{key}: an MAE in points >= 0, got {value!r}")
    if limits.min_coverage is not None and not 0.0 <= limits.min_coverage <= 1.0:
        raise ConfigError(f"{where}.backtest_limits.min_coverage: a share within [0, 1], got {limits.min_coverage!r}")


def certified_path(forecast: ForecastSpec, turnout_spec: Any) -> Path | None:
    """The certified results file of a forecast, placeholders expanded (`{raw}`: the turnout dataset's raw folder)."""
    if forecast.certified is None:
        return None
    return Path(turnout_spec.resolve_path(forecast.certified.path))

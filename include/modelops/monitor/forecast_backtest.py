"""A forecast's backtest as evidence about a model version: what the signal `forecast_backtest` reads.

A dataset that is a forecast's turnout or support dataset (`forecasts.<name>`) is judged by the latest
published backtest of that forecast (`forecasts/<name>/<snapshot>/forecast.json`, newest snapshot first)
that the version under judgement served in that role. Each model is judged on the rate it predicts: the
turnout dataset on the turnout rate, the support dataset on the two-party share; the forecast's
`backtest_limits` say how large an MAE (points) and how small an interval coverage may be. No backtest by
that version yet: not measured, and the check says so. A forecast.json that cannot be read is passed over
and named in the check's notes (never a failed window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.config.models import BacktestLimits, ForecastSpec
from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.records import XComRecord
from modelops.forecast.aggregate import DEM_SHARE, TURNOUT
from modelops.forecast.backtest import Backtest
from modelops.forecast.published import PublishedForecastError, read_published

ROLES = ("turnout", "support")
RATE_OF_ROLE = {"turnout": TURNOUT, "support": DEM_SHARE}  # the rate each role's model predicts
MAE_LIMIT_OF_RATE = {TURNOUT: "turnout_mae_points", DEM_SHARE: "share_mae_points"}


@dataclass(frozen=True)
class BacktestCheck(XComRecord):
    """One forecast's latest backtest by the version under judgement, against the forecast's limits."""

    forecast: str
    role: str  # turnout | support: the dataset's part in the forecast
    rate: str  # the rate judged (turnout or dem_share)
    model_version: str
    measured: bool  # a backtest by this version was found
    judged: bool  # measured and the forecast sets limits
    snapshot: str | None = None
    cycle: int | None = None
    mae_points: float | None = None
    coverage: float | None = None
    limits: dict[str, float | None] | None = None
    exceeded: tuple[str, ...] = ()  # each exceeded limit in words (no value of a row)
    status: str = ""
    notes: tuple[str, ...] = ()

    @property
    def breach(self) -> bool:
        """Whether a limit was exceeded."""
        return bool(self.exceeded)


def forecasts_of(settings: Settings, dataset: str) -> list[tuple[str, ForecastSpec, str]]:
    """The forecasts `dataset` takes part in: (name, spec, role) in configuration order."""
    return [
        (name, spec, role)
        for name, spec in settings.forecasts.items()
        for role in ROLES
        if getattr(spec, role) == dataset
    ]


def backtest_checks(settings: Settings, spec: DatasetSpec, version: str) -> list[BacktestCheck]:
    """Every forecast of `spec`'s dataset: its latest backtest by `version` of `spec`'s model, judged."""
    return [
        _check(name, forecast, role, spec, str(version)) for name, forecast, role in forecasts_of(settings, spec.name)
    ]


def _check(name: str, forecast: ForecastSpec, role: str, spec: DatasetSpec, version: str) -> BacktestCheck:
    rate = RATE_OF_ROLE[role]
    found, notes = _latest_backtest(name, role, spec, version)
    base = {"forecast": name, "role": role, "rate": rate, "model_version": version, "notes": tuple(notes)}
    if found is None:
        status = (
            f"not measured: no published backtest of forecast {name} used v{version} of {spec.model_name} "
            f"as its {role} model yet"
        )
        return BacktestCheck(**base, measured=False, judged=False, status=status)
    snapshot, backtest = found
    errors = backtest.of(rate)
    figures = {
        "snapshot": snapshot,
        "cycle": backtest.cycle,
        "mae_points": errors.mae_points,
        "coverage": errors.coverage,
    }
    where = f"forecast {name} of snapshot {snapshot} (cycle {backtest.cycle})"
    limits = forecast.backtest_limits
    if limits is None:
        status = f"{where}: reported, not judged (forecasts.{name}.backtest_limits is not set)"
        return BacktestCheck(**base, **figures, measured=True, judged=False, status=status)
    exceeded = _exceeded(rate, errors.mae_points, errors.coverage, limits)
    status = f"{where}: " + ("; ".join(exceeded) if exceeded else "within its limits")
    shown = {k: v for k, v in limits.model_dump().items()}
    return BacktestCheck(
        **base, **figures, measured=True, judged=True, limits=shown, exceeded=tuple(exceeded), status=status
    )


def _exceeded(rate: str, mae: float, coverage: float | None, limits: BacktestLimits) -> list[str]:
    """Each limit the rate's figures break, in words."""
    out = []
    key = MAE_LIMIT_OF_RATE[rate]
    ceiling = getattr(limits, key)
    if ceiling is not None and mae > float(ceiling):
        out.append(f"{rate} MAE {mae:.2f} points > {key} {float(ceiling):g}")
    floor = limits.min_coverage
    if floor is not None and coverage is not None and coverage < float(floor):
        out.append(f"{rate} interval coverage {coverage:.0%} < min_coverage {float(floor):.0%}")
    return out


def _latest_backtest(
    name: str, role: str, spec: DatasetSpec, version: str
) -> tuple[tuple[str, Backtest] | None, list[str]]:
    """(snapshot, backtest) of the newest published run of `name` backtested with `version` in `role`, and notes
    on the runs that could not be read (read by `forecast.published`, the one reader of a published run)."""
    notes = []
    for snapshot in reversed(catalog.list_forecasts(name)):
        try:
            run = read_published(name, snapshot)
        except (OSError, PublishedForecastError) as exc:
            notes.append(
                f"forecast {name} of snapshot {snapshot}: {catalog.FORECAST_JSON} unreadable ({type(exc).__name__})"
            )
            continue
        served = run.turnout if role == "turnout" else run.support
        if served.dataset != spec.name or served.model_name != spec.model_name:
            continue
        if str(served.model_version) != version or run.backtest is None:
            continue
        return (snapshot, run.backtest), notes
    return None, notes


def backtest_section(checks: list[BacktestCheck], dataset: str) -> dict[str, Any]:
    """The report section of the signal: every check, whether any was measured, and a status line."""
    if not checks:
        status = f"not measured: no forecast reads {dataset}"
    elif not any(c.measured for c in checks):
        status = "not measured: " + "; ".join(c.status.removeprefix("not measured: ") for c in checks)
    else:
        status = "; ".join(c.status for c in checks)
    return {
        "measured": any(c.measured for c in checks),
        "judged": any(c.judged for c in checks),
        "breach": any(c.breach for c in checks),
        "status": status,
        "forecasts": [c.to_xcom() for c in checks],
    }

"""A model card's record of service: the forecasts that summed the version's scores, and its score decay.

`gather_history` reads the published forecast runs of the configured forecasts
(`forecast.published`) and keeps those whose turnout or support scores this version served; and the
version's primary metric by age (`monitor.served_decay`): the holdout (age 0, with the card's bootstrap
interval) and each labelled monitoring window it served, beside the champion age bound. `served_sections`
writes the two card sections ("Forecast and backtest", "Score decay") from that record alone, so they can
be tested from a record built by hand; with nothing yet, each says so in a sentence (no empty table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelops.config.settings import Settings
from modelops.core.jsonsafe import json_safe
from modelops.forecast.backtest import Backtest
from modelops.forecast.published import PublishedForecast, published_runs
from modelops.govern.card_doc import Doc, fmt
from modelops.govern.card_facts import CardInputs
from modelops.monitor.served_decay import Holdout, ServedDecay, load_served_decay

DECAY_PLOT = "decay.png"
BACKTEST_HEADER = ["forecast", "snapshot", "cycle", "kind", "rate", "MAE (points)", "bias (points)", "coverage"]
RUNS_HEADER = ["forecast", "snapshot", "cycle", "this version as", "other model", "rows", "geographies", "intervals"]


@dataclass(frozen=True)
class CardHistory:
    """What the version did in service: forecasts that used its scores, unreadable forecast files, its decay."""

    model_name: str
    version: str
    configured: tuple[str, ...]  # the forecasts configured now
    forecasts: tuple[PublishedForecast, ...]  # runs whose turnout or support scores this version served
    unreadable: tuple[str, ...]  # why a forecast file could not be read (file and keys named)
    decay: ServedDecay | None

    def to_json(self) -> dict[str, Any]:
        """The record for card.json (paths as text)."""
        return json_safe(
            {
                "forecasts": [
                    {
                        "forecast": f.forecast,
                        "snapshot": f.snapshot,
                        "cycle": f.cycle,
                        "served_as": f.served_by(self.model_name, self.version),
                        "rows": f.rows,
                        "geographies": f.geographies,
                        "intervals": f.intervals,
                        "backtest": f.backtest,
                        "calibrated_backtest": f.calibrated,
                        "report": str(f.report_path),
                    }
                    for f in self.forecasts
                ],
                "unreadable_forecasts": list(self.unreadable),
                "decay": self.decay,
            }
        )


def gather_history(inputs: CardInputs, settings: Settings, figures: dict[str, Any]) -> CardHistory:
    """The version's forecasts (workspace) and decay (registry, alias and monitoring history)."""
    from modelops.monitor.thresholds import thresholds_for

    runs = published_runs(settings.forecasts)
    mine = tuple(r for r in runs if isinstance(r, PublishedForecast) and r.served_by(inputs.model_name, inputs.version))
    primary = figures["primary_metric"]
    head = figures["metrics"][primary]
    spec = settings.datasets.get(inputs.spec.name, inputs.spec)
    decay = load_served_decay(
        inputs.spec.name,
        inputs.model_name,
        inputs.version,
        primary,
        Holdout(head.get("value"), head.get("ci_low"), head.get("ci_high")),
        thresholds_for(settings, None, spec),
    )
    return CardHistory(
        model_name=inputs.model_name,
        version=inputs.version,
        configured=tuple(settings.forecasts),
        forecasts=mine,
        unreadable=tuple(str(r) for r in runs if not isinstance(r, PublishedForecast)),
        decay=decay,
    )


def _points(value: float | None, spec: str = ".2f") -> str:
    return fmt(value, spec)


def _coverage(run: PublishedForecast, value: float | None) -> str:
    if value is None:
        return "no model interval"
    level = f" (nominal {run.intervals.level:.0%})" if run.intervals is not None else ""
    return f"{value:.0%}{level}"


def _backtest_rows(run: PublishedForecast, kind: str, backtest: Backtest | None) -> list[list[Any]]:
    if backtest is None:
        return []
    return [
        [run.forecast, run.snapshot, run.cycle, kind, e.quantity, _points(e.mae_points), _points(e.bias_points, "+.2f"),
         _coverage(run, e.coverage)]
        for e in backtest.errors
    ]  # fmt: skip


def _interval_text(run: PublishedForecast) -> str:
    m = run.intervals
    if m is None:
        return "no model interval"
    return (
        f"{m.level:.0%} split conformal from {m.residuals_used} {m.source} residuals"
        + (f" of cycle {m.residual_cycle}" if m.residual_cycle is not None else "")
        + f": half-width turnout {m.turnout_half_width * 100:.2f}, share {m.dem_share_half_width * 100:.2f} points"
    )


def forecast_section(doc: Doc, h: CardHistory) -> None:
    """ "Forecast and backtest": every run that used this version's scores, then their backtests."""
    doc.h(2, "Forecast and backtest")
    if not h.forecasts:
        which = ", ".join(h.configured) if h.configured else "none is configured"
        doc.p(f"No published forecast used this version's scores yet (forecasts: {which}).")
    else:
        doc.p(
            "Published forecast runs that summed this version's scores (newest snapshot first); the other model is "
            "the one whose scores they were multiplied by."
        )
        doc.table(
            RUNS_HEADER,
            [
                [f.forecast, f.snapshot, f.cycle, " and ".join(roles := f.served_by(h.model_name, h.version)),
                 _other(f, roles), f.rows, f.geographies, _interval_text(f)]
                for f in h.forecasts
            ],
        )  # fmt: skip
        rows = [r for f in h.forecasts for r in _backtest_rows(f, "plain", f.backtest)]
        rows += [r for f in h.forecasts for r in _backtest_rows(f, "calibrated", f.calibrated)]
        if rows:
            doc.p(
                "Backtests against certified results, by geography: mean absolute error and signed bias (forecast - "
                "certified) in percentage points; coverage is the share of geographies whose interval held the "
                "certified value. A calibrated row is the same forecast with the previous cycle's logit shift."
            )
            doc.table(BACKTEST_HEADER, rows)
        else:
            doc.p("None of these runs was backtested yet (no certified results of their cycle).")
    if h.unreadable:
        doc.p("Forecast files that could not be read:")
        doc.items(list(h.unreadable))


def _other(run: PublishedForecast, roles: list[str]) -> str:
    if len(roles) == 2:
        return "none (this version served both)"
    other = run.support if roles == ["turnout"] else run.turnout
    return f"{other.model_name} v{other.model_version}"


def _bound_lines(d: ServedDecay) -> list[str]:
    bound = (
        f"Champion age bound (monitoring.max_champion_age_days): {fmt(d.max_age_days)} days; a champion older is "
        "retrained without a breach."
        if d.max_age_days is not None
        else "No champion age bound is configured (monitoring.max_champion_age_days is null)."
    )
    lines = [bound]
    if d.windows and d.max_relative_drop is not None:
        age = d.age_at_tolerance
        lines.append(
            f"The relative drop reaches the monitoring tolerance ({d.max_relative_drop:.0%}) at about {age:.0f} days "
            "(linear between windows)."
            if age is not None
            else f"The relative drop stays below the monitoring tolerance ({d.max_relative_drop:.0%}) in every "
            "recorded window."
        )
    if d.unattributed:
        lines.append(
            f"{d.unattributed} labelled window(s) left out: the window's own monitoring row is not recorded, so "
            "which version served it is not known."
        )
    return lines


def decay_section(doc: Doc, h: CardHistory) -> None:
    """ "Score decay": the primary metric by age, holdout first, with the bound; a sentence when there is nothing."""
    doc.h(2, "Score decay")
    d = h.decay
    if d is None or (d.holdout is None and not d.windows):
        doc.p("No score decay can be shown: neither a holdout value nor a labelled monitoring window is on record.")
        return
    start = (
        f"{d.start.at.date().isoformat()} (from the {d.start.source})"
        if d.start is not None
        else "unknown (not registered)"
    )
    doc.p(
        f"{d.metric} by age: the holdout at age 0 and each labelled monitoring window this version served, at the "
        f"window's end minus the date it became champion or was registered: {start}. Windows record no interval."
    )
    if not d.windows:
        head = d.holdout
        doc.p(
            f"No labelled monitoring window of this version yet: only the holdout is known ({d.metric} "
            f"{fmt(head.value)}, CI {fmt(head.ci_low)} to {fmt(head.ci_high)})."
        )
    else:
        doc.image(DECAY_PLOT, f"{d.metric} by age (days)")
        doc.table(
            ["measured on", "age (days)", d.metric, "CI low", "CI high", "relative drop"],
            [
                [p.label, f"{p.age_days:.0f}", p.value, p.ci_low, p.ci_high, fmt(p.relative_drop, "+.1%")]
                for p in d.points
            ],
        )
    doc.items(_bound_lines(d))


def served_sections(doc: Doc, h: CardHistory) -> None:
    """Both sections of the card's record of service."""
    forecast_section(doc, h)
    decay_section(doc, h)


def history_plots(h: CardHistory) -> dict[str, str]:
    """The decay chart (PNG, base64) when the version has labelled windows: metric by age, the bound dashed."""
    d = h.decay
    if d is None or not d.windows:
        return {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from modelops.present.reports import png_base64

    points = [p for p in d.points if p.value is not None]
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot([p.age_days for p in points], [p.value for p in points], "o-", color="#4c72b0", label=d.metric)
    for p in points:
        if p.ci_low is not None and p.ci_high is not None:
            ax.vlines(p.age_days, p.ci_low, p.ci_high, color="#4c72b0", lw=2, alpha=0.5)
    if d.max_age_days is not None:
        ax.axvline(d.max_age_days, ls="--", color="#c44e52", label="champion age bound")
    ax.set_xlabel("age (days since champion or registration)")
    ax.set_ylabel(d.metric)
    ax.set_title("score decay: holdout and labelled windows")
    ax.legend(loc="best", fontsize=8)
    png = png_base64(fig)
    plt.close(fig)
    return {DECAY_PLOT: png}

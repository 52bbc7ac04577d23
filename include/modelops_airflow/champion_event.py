"""The `champion` asset event, emitted only when `champion` actually moved.

A task's plain `outlets=[Asset]` emits an event whenever the task succeeds: a promotion that only starts a
canary, keeps the champion or retires a version would still tell every consumer "champion changed". The
promoting tasks declare this alias instead and add the champion asset's event when, and only when, the alias
moved (Airflow's documented way to emit an asset event conditionally).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetAlias

from modelops.core.handoffs import CHAMPION_ASSET_URI

CHAMPION_MOVES = AssetAlias("modelops-champion-moves")


def announce_champion(context: Any, moved: bool, model_name: str, version: str | int, **extra: Any) -> bool:
    """Add the champion asset's event to the running task's outlet events when `moved`; returns `moved`."""
    if moved:
        details = {"model_name": model_name, "version": str(version), **extra}
        context["outlet_events"][CHAMPION_MOVES].add(Asset(CHAMPION_ASSET_URI), extra=details)
    return moved

"""The monitoring thresholds of a dataset (configuration, the dataset's own, run-time overrides) and the window
limits of the production data-quality suite (docs/monitoring.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelops.config.models import RETRAIN_SIGNALS, MonitoringSection
from modelops.config.settings import DatasetSpec, Settings
from modelops.stats import drift

if TYPE_CHECKING:
    from modelops.validate.suite import WindowLimits

THRESHOLD_KEYS = (
    "alpha",
    "numeric_min_effect",
    "categorical_min_effect",
    "dataset_drift_share",
    "feature_weights",
    "prediction_psi",
    "max_relative_drop",
    "estimated_accuracy_drop",
    "calibration_max_gap",
    "calibration_alpha",
    "calibration_min_group_rows",
    "calibration_quantiles",
    "min_labeled_rows",
    "persistence",
    "cooldown_hours",
    "retrain_on",
    "fallback_share",
    "offline_online_tolerance",
    "offline_online_persistence",
    "offline_online_confidence",
    "offline_online_resamples",
    "offline_online_max_rows",
    "min_distinct_rows",
    "max_duplicate_share",
    "window_min_rows",
    "window_max_rows",
    "window_null_margin",
    "max_champion_age_days",
    "domain_classifier",
)


def thresholds_for(
    settings: Settings, overrides: dict[str, Any] | None = None, spec: DatasetSpec | None = None
) -> dict[str, Any]:
    """The configured monitoring thresholds, the dataset's own (`datasets.<name>.monitoring`), then run-time
    overrides (unknown keys and signals rejected)."""
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(THRESHOLD_KEYS))
    if unknown:
        raise ValueError(f"unknown threshold overrides {unknown}; known: {sorted(THRESHOLD_KEYS)}")
    if "retrain_on" in overrides:
        retrain_on = overrides["retrain_on"]
        if not isinstance(retrain_on, list) or set(map(str, retrain_on)) - set(RETRAIN_SIGNALS):
            raise ValueError(f"retrain_on must be a list of {list(RETRAIN_SIGNALS)}, got {retrain_on!r}")
    configured = {k: v for k, v in settings.monitoring.model_dump().items() if k in THRESHOLD_KEYS}
    if spec is not None:
        # the dataset's schedule says when it is judged (monitoring_flow.datasets_due), not how
        configured.update({k: v for k, v in spec.monitoring.model_dump().items() if v is not None and k != "schedule"})
    if "domain_classifier" in overrides:  # a partial override of the test's options
        base = dict(configured.get("domain_classifier") or {})
        given = overrides["domain_classifier"]
        if not isinstance(given, dict) or set(given) - set(base):
            raise ValueError(f"domain_classifier overrides must be a mapping of {sorted(base)}, got {given!r}")
        overrides["domain_classifier"] = {**base, **given}
    return {**configured, **overrides}


def reference_null_share(profile: dict[str, Any], column: str) -> float | None:
    """The share of a column's values missing in a reference profile (None: the profile lacks the column)."""
    if column in profile["numeric"]:
        return float(profile["numeric"][column]["null_fraction"])
    if column in profile["categorical"]:
        found = profile["categorical"][column]
        return found["counts"].get(drift.MISSING, 0) / found["rows"] if found["rows"] else 0.0
    return None


def window_limits(spec: DatasetSpec, profile: dict[str, Any], t: dict[str, Any]) -> WindowLimits:
    """The production suite's limits for a window of `spec` served by the version of `profile` (docs/monitoring.md):
    its row-count bounds and each kept column's largest missing share, with where it came from."""
    from modelops.validate.suite import WindowLimits

    margin = float(t.get("window_null_margin", MonitoringSection.model_fields["window_null_margin"].default))
    named = t.get("window_null_fraction") or {}
    max_null, basis = {}, {}
    for column in spec.kept_columns:
        if column == spec.target:
            continue
        if column in named:
            max_null[column], basis[column] = float(named[column]), "monitoring.window_null_fraction"
            continue
        if column in (spec.id_column, spec.time_column):  # structural: the training limit, no margin
            max_null[column] = spec.null_limit(column)[0]
            role = "id" if column == spec.id_column else "time"
            basis[column] = f"training null_fraction {max_null[column]:.1%} ({role} column: no margin)"
            continue
        share = reference_null_share(profile, column)
        source = "reference"
        if share is None:
            share, source = spec.null_limit(column)[0], "training null_fraction"
        max_null[column] = min(1.0, share + margin)
        basis[column] = f"{source} {share:.1%} + window_null_margin {margin:.1%}"
    low = t.get("window_min_rows", MonitoringSection.model_fields["window_min_rows"].default)
    return WindowLimits(int(low or 0), t.get("window_max_rows"), max_null, basis)

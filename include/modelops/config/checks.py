"""The loader's rules beyond types: shapes of rules and bounds, cross-field limits, and the plain messages.

`build` checks a section against its model (`modelops.config.models`) and turns a validation error into
the text a user reads (`training.seed: expected int, got 'one'`); the other checks add what a type cannot say.
"""

from __future__ import annotations

import difflib
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from modelops.config.models import (
    WEIGHT_USES,
    DatasetWeights,
    DomainClassifierOptions,
    ScoringSection,
    Section,
    ValidationRules,
)
from modelops.core.handoffs import MONITORING_TICK


class ConfigError(ValueError):
    """The configuration names something inconsistent or missing."""


NUMBER = (int, float)
SCHEDULE_OFF = "off"
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}
SCORE_GUARDS = ("none", "psi")
OPEN_FRACTIONS = ("holdout_fraction", "calibration_fraction")  # 0 or 1 leaves a split empty
# A search-space key with this prefix configures the candidate's feature pipeline, not its estimator.
PREP_PREFIX = "prep__"
# The preprocessing parameters a search may sample (modelops.train.features builds them), and what each allows.
PREP_PARAMETERS = {
    "min_frequency": "whole numbers >= 1: rarer categories share one `infrequent` column",
    "imputer_strategy": "mean, median or most_frequent: a numeric column's fill value",
}
IMPUTER_STRATEGIES = ("mean", "median", "most_frequent")
CALIBRATION_METHODS = ("sigmoid", "isotonic")

S = TypeVar("S", bound=Section)


def refuse_unknown(where: str, keys: Any, known: Any) -> None:
    """Refuse keys a section does not know, suggesting the closest known one."""
    for key in keys:
        if key not in known:
            close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {sorted(map(str, known))}"
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")


def _prepared(where: str, body: Any, model: type[Section]) -> dict[str, Any]:
    """`body` ready for `model`: a mapping of known keys, a null dropped where it means the default."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(body).__name__}")
    refuse_unknown(where, body, model.model_fields)
    out = {}
    for key, value in body.items():
        info = model.model_fields[key]
        if value is None and not info.is_required() and not model.null_is_a_value:
            continue  # `key:` with no value means the default
        nested = _model_of(info.annotation)
        out[key] = _prepared(f"{where}.{key}", value, nested) if nested and isinstance(value, dict) else value
    return out


def _model_of(annotation: Any) -> type[Section] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, Section) else None


def _type_names(annotation: Any) -> str:
    """The old schema's words for a field's type: int, int or float, str, bool, list, dict."""
    members = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    names = []
    for member in members:
        if member is type(None):
            continue
        origin = typing.get_origin(member) or member
        names.append("dict" if _model_of(origin) else getattr(origin, "__name__", str(origin)))
    return " or ".join(names)


def build(model: type[S], where: str, body: Any) -> S:
    """`body` checked as `model`; a ConfigError naming the key (`<where>.<key>: expected int, got 'one'`)."""
    data = _prepared(where, body, model)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_plain(where, exc.errors()[0], model, data)) from None


def _plain(where: str, error: Any, model: type[Section], data: Any) -> str:
    """One pydantic error as the loader's plain message, its path walked through the nested models."""
    if error["type"] == "missing":
        *parents, key = error["loc"]
        return f"{'.'.join([where, *map(str, parents)])}: missing required key {key!r}"
    path: list[str] = []
    at: type[Section] | None = model
    value, annotation = data, None
    for part in error["loc"]:
        if at is None or not isinstance(part, str) or part not in at.model_fields:
            break  # a union member's tag or a key inside a mapping: the field is named
        path.append(part)
        annotation = at.model_fields[part].annotation
        value = value.get(part) if isinstance(value, dict) else None
        at = _model_of(annotation)
    return f"{'.'.join([where, *path])}: expected {_type_names(annotation)}, got {value!r}"


def dataset_weights(where: str, body: Any) -> DatasetWeights | None:
    """A dataset's `weights` section (None when not given): a column and an explicit `use`, never a default."""
    if body is None:
        return None
    at = f"{where}.weights"
    if not isinstance(body, dict):
        raise ConfigError(f"{at}: expected a mapping {{column, use}}, got {body!r}")
    refuse_unknown(at, body, DatasetWeights.model_fields)
    if not isinstance(body.get("column"), str) or not body["column"].strip():
        raise ConfigError(f"{at}: missing required key 'column' (the weight column's name)")
    if body.get("use") not in WEIGHT_USES:
        given = "missing" if body.get("use") is None else f"got {body['use']!r}"
        raise ConfigError(
            f"{at}.use: required, one of {list(WEIGHT_USES)} ({given}); a weight column is never used or ignored "
            "by default: `survey` weights training and the gate, `unweighted` states they are ignored"
        )
    return build(DatasetWeights, at, body)


def check_weight_column(
    where: str, weights: DatasetWeights | None, roles: dict[str, Any], null_fraction: dict[str, Any]
) -> None:
    """The weight column is no feature, target, id, time, protected, PII or reporting column (`roles`: role ->
    column names), and its validation allows no missing value (a missing weight is never taken as 1)."""
    if weights is None:
        return
    for role, columns in roles.items():
        if weights.column in columns:
            raise ConfigError(f"{where}.weights.column: {weights.column!r} is also the spec's {role}; a weight is none")
    allowed = null_fraction.get(weights.column)
    if allowed is not None and float(allowed) != 0:
        raise ConfigError(
            f"{where}.validation.null_fraction.{weights.column}: the weight column allows no missing value (got "
            f"{allowed}); drop the key, or drop the rows without a weight at the source"
        )


def check_fractions(where: str, body: Section, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = getattr(body, key, None)
        if value is None:
            continue
        if key in OPEN_FRACTIONS and not 0 < float(value) < 1:
            raise ConfigError(f"{where}.{key}: must be strictly between 0 and 1 (a split would be empty), got {value}")
        if not 0 <= float(value) <= 1:
            raise ConfigError(f"{where}.{key}: must be between 0 and 1, got {value}")


def same_label(a: Any, b: Any) -> bool:
    """Two configured label values that a target column could not tell apart."""
    if str(a).strip() == str(b).strip():
        return True
    try:
        return not isinstance(a, bool) and not isinstance(b, bool) and float(a) == float(b)
    except (TypeError, ValueError):
        return False


def check_validation(where: str, rules: dict[str, Any]) -> None:
    """The shapes of a spec's validation section: bounds are numbers, sets are lists."""
    at = f"{where}.validation"
    refuse_unknown(at, rules, ValidationRules.model_fields)

    def number(value: Any) -> bool:
        return isinstance(value, NUMBER) and not isinstance(value, bool)

    count = rules.get("row_count")
    if count is not None and not (
        isinstance(count, list) and len(count) == 2 and number(count[0]) and (count[1] is None or number(count[1]))
    ):
        raise ConfigError(f"{at}.row_count: expected [min, max] (max may be null), got {count!r}")
    for column, value in (rules.get("null_fraction") or {}).items():
        if not number(value) or not 0 <= value <= 1:
            raise ConfigError(f"{at}.null_fraction.{column}: a fraction between 0 and 1, got {value!r}")
    for column, bounds in (rules.get("ranges") or {}).items():
        ok = isinstance(bounds, list) and len(bounds) == 2 and all(b is None or number(b) for b in bounds)
        if not ok or (bounds[0] is not None and bounds[1] is not None and bounds[0] > bounds[1]):
            raise ConfigError(
                f"{at}.ranges.{column}: expected [low, high] numbers (either may be null), got {bounds!r}"
            )
    for column, allowed in (rules.get("categories") or {}).items():
        if not isinstance(allowed, list) or not allowed:
            raise ConfigError(f"{at}.categories.{column}: expected a non-empty list of allowed values, got {allowed!r}")
    share = rules.get("max_unlabelled_share", 0.5)
    if not number(share) or not 0 <= share <= 1:
        raise ConfigError(f"{where}.validation.max_unlabelled_share: a fraction between 0 and 1, got {share!r}")


def columns_of_rule(rule: Any) -> list[str]:
    from modelops.core.rules import conditions

    return [str(c.get("column")) for c in conditions(rule)]


def check_rule(where: str, rule: Any) -> None:
    from modelops.core.rules import LIST_OPS, NULL_OPS, OPS, conditions

    if rule and not isinstance(rule, dict | list):
        raise ConfigError(f"{where}: expected {{all: [conditions]}} or a list of conditions, got {rule!r}")
    if isinstance(rule, dict):
        if "column" in rule:
            raise ConfigError(f"{where}: write a list of conditions ([{{column, op, value}}]) or {{all: [...]}}")
        refuse_unknown(where, rule, {"all"})
    for i, cond in enumerate(conditions(rule)):
        at = f"{where}[{i}]"
        if not isinstance(cond, dict):
            raise ConfigError(f"{at}: a condition is {{column, op, value}}, got {cond!r}")
        refuse_unknown(at, cond, {"column", "op", "value"})
        if "column" not in cond:
            raise ConfigError(f"{at}: condition without a column")
        op = cond.get("op")
        if op not in OPS:
            raise ConfigError(f"{at}: unknown op {op!r}; known: {sorted(OPS)}")
        if op in LIST_OPS and not isinstance(cond.get("value"), list):
            raise ConfigError(f"{at}: op {op!r} needs a list value, got {cond.get('value')!r}")
        if op not in NULL_OPS and "value" not in cond:
            raise ConfigError(f"{at}: op {op!r} needs a value")


def tuple_of_names(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of column names, got {value!r}")
    return tuple(value)


def approver_list(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
        raise ConfigError(f"{where}: expected a list of Airflow user names or role:<role>, got {value!r}")
    return [a.strip() for a in value]


def check_scoring(where: str, scoring: ScoringSection) -> None:
    """The scoring section's rules beyond types and fractions (the global one, or a dataset's resolved one)."""
    for key in ("chunk_rows", "partition_groups", "score_check_min_rows", "shadow_all_below"):
        if getattr(scoring, key) < 1:
            raise ConfigError(f"{where}.{key}: must be at least 1, got {getattr(scoring, key)}")
    if scoring.score_psi_limit <= 0:
        raise ConfigError(f"{where}.score_psi_limit: must be above 0, got {scoring.score_psi_limit}")
    if scoring.score_guard not in SCORE_GUARDS:
        raise ConfigError(f"{where}.score_guard: one of {list(SCORE_GUARDS)}, got {scoring.score_guard!r}")
    sample = scoring.shadow_sample
    if (isinstance(sample, int) and sample < 2) or (isinstance(sample, float) and not 0 < sample <= 1):
        raise ConfigError(
            f"{where}.shadow_sample: a share (0 < x <= 1, e.g. 0.1; 1.0 = every row) or a number of rows (2 or "
            f"more), got {sample!r}"
        )
    if scoring.degenerate_score_span < 0:
        raise ConfigError(f"{where}.degenerate_score_span: at least 0, got {scoring.degenerate_score_span}")


def monitoring_cron(where: str, schedule: Any) -> str:
    """The cron expression of a monitoring schedule (a cron line or an Airflow preset); else a ConfigError."""
    from croniter import croniter

    cron = CRON_PRESETS.get(schedule, schedule) if isinstance(schedule, str) else None
    if cron is None or not croniter.is_valid(cron):
        raise ConfigError(
            f"{where}: a cron expression, one of {sorted(CRON_PRESETS)} or {SCHEDULE_OFF!r}, got {schedule!r}"
        )
    if _shortest_gap(cron) < _shortest_gap(CRON_PRESETS.get(MONITORING_TICK, MONITORING_TICK)):
        raise ConfigError(
            f"{where}: {schedule!r} fires more often than the monitoring DAG's tick ({MONITORING_TICK}), "
            "which judges a dataset at most once per tick; give a schedule that fires at most once a tick"
        )
    return cron


def _shortest_gap(cron: str, fires: int = 400) -> timedelta:
    """The shortest time between two consecutive fire times of `cron` over its next `fires` fires."""
    from croniter import croniter

    times = croniter(cron, datetime(2026, 1, 1, tzinfo=UTC))
    previous, shortest = times.get_next(datetime), timedelta.max
    for _ in range(fires):
        current = times.get_next(datetime)
        shortest = min(shortest, current - previous)
        if shortest < timedelta(minutes=1, seconds=1):
            break
        previous = current
    return shortest


def check_degenerate_limits(where: str, body: dict[str, Any]) -> None:
    """min_distinct_rows: a whole number >= 0; max_duplicate_share: a share (null keeps the default)."""
    rows, share = body.get("min_distinct_rows"), body.get("max_duplicate_share")
    if rows is not None and (not isinstance(rows, int) or isinstance(rows, bool) or rows < 0):
        raise ConfigError(f"{where}.min_distinct_rows: a whole number of rows, at least 0, got {rows!r}")
    if share is not None and (not isinstance(share, NUMBER) or isinstance(share, bool) or not 0 <= share <= 1):
        raise ConfigError(f"{where}.max_duplicate_share: a share between 0 and 1, got {share!r}")


def check_window_limits(where: str, body: dict[str, Any]) -> None:
    """window_min_rows / window_max_rows: whole numbers of rows (min <= max); window_null_margin and each
    window_null_fraction value: a share (null keeps the default)."""

    def share(value: Any) -> bool:
        return isinstance(value, NUMBER) and not isinstance(value, bool) and 0 <= value <= 1

    low, high = body.get("window_min_rows"), body.get("window_max_rows")
    for key, value, least in (("window_min_rows", low, 0), ("window_max_rows", high, 1)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < least):
            raise ConfigError(f"{where}.{key}: a whole number of rows, at least {least}, got {value!r}")
    if low is not None and high is not None and low > high:
        raise ConfigError(f"{where}: window_min_rows {low} is above window_max_rows {high}")
    margin = body.get("window_null_margin")
    if margin is not None and not share(margin):
        raise ConfigError(f"{where}.window_null_margin: a share between 0 and 1, got {margin!r}")
    shares = body.get("window_null_fraction")
    if shares is not None and not isinstance(shares, dict):
        raise ConfigError(f"{where}.window_null_fraction: a mapping of column to share, got {shares!r}")
    for column, value in (shares or {}).items():
        if not share(value):
            raise ConfigError(f"{where}.window_null_fraction.{column}: a share between 0 and 1, got {value!r}")


def check_champion_age(where: str, value: Any) -> None:
    if value is not None and (not isinstance(value, NUMBER) or isinstance(value, bool) or value <= 0):
        raise ConfigError(f"{where}.max_champion_age_days: a number of days above 0 (or null), got {value!r}")


def check_offline_online(where: str, body: dict[str, Any]) -> None:
    """The offline/online gap's tolerance (>= 0), persistence (>= 1 or null), interval level (strictly between 0
    and 1), resamples and rows (>= 1)."""
    tolerance, persistence = body.get("offline_online_tolerance"), body.get("offline_online_persistence")
    if tolerance is not None and not float(tolerance) >= 0:
        raise ConfigError(f"{where}.offline_online_tolerance: must be >= 0, got {tolerance}")
    if persistence is not None and persistence < 1:
        raise ConfigError(f"{where}.offline_online_persistence: at least 1 window (or null), got {persistence}")
    confidence = body.get("offline_online_confidence")
    if confidence is not None and not 0 < float(confidence) < 1:
        raise ConfigError(f"{where}.offline_online_confidence: strictly between 0 and 1, got {confidence}")
    for key in ("offline_online_resamples", "offline_online_max_rows"):
        if body.get(key) is not None and body[key] < 1:
            raise ConfigError(f"{where}.{key}: at least 1, got {body[key]}")


def check_domain_classifier(body: DomainClassifierOptions) -> None:
    where = "monitoring.domain_classifier"
    if body.folds < 2:
        raise ConfigError(f"{where}.folds: at least 2, got {body.folds}")
    for key in ("max_rows", "reference_rows"):
        if getattr(body, key) < 20 * body.folds:
            raise ConfigError(f"{where}.{key}: at least 20 rows per fold ({20 * body.folds}), got {getattr(body, key)}")
    if not 0 <= body.auc_margin < 0.5:
        raise ConfigError(f"{where}.auc_margin: between 0 and 0.5, got {body.auc_margin}")
    if not 0 < body.confidence < 1:
        raise ConfigError(f"{where}.confidence: strictly between 0 and 1, got {body.confidence}")
    if body.top_features < 1:
        raise ConfigError(f"{where}.top_features: at least 1, got {body.top_features}")


def check_search_spaces(spaces: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(spaces, dict):
        raise ConfigError(f"search_spaces: expected a mapping, got {spaces!r}")
    for name, space in spaces.items():
        if not isinstance(space, dict):
            raise ConfigError(f"search_spaces.{name}: expected a mapping of parameters")
        for param, dist in space.items():
            at = f"search_spaces.{name}.{param}"
            if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in {"log_uniform", "choice"}:
                raise ConfigError(f"{at}: expected {{log_uniform: [lo, hi]}} or {{choice: [...]}}, got {dist!r}")
            if "log_uniform" in dist:
                bounds = dist["log_uniform"]
                numbers = isinstance(bounds, list) and all(isinstance(b, int | float) for b in bounds)
                if not (numbers and len(bounds) == 2 and 0 < bounds[0] < bounds[1]):
                    raise ConfigError(f"{at}: log_uniform needs [lo, hi] with 0 < lo < hi, got {bounds!r}")
            elif not isinstance(dist["choice"], list) or not dist["choice"]:
                raise ConfigError(f"{at}: choice needs a non-empty list, got {dist['choice']!r}")
            if param.startswith(PREP_PREFIX):
                _check_prep(at, param.removeprefix(PREP_PREFIX), dist)
    return spaces


def _check_prep(at: str, key: str, dist: dict[str, Any]) -> None:
    """A preprocessing key of a search space: a known parameter, sampled by `choice` among allowed values."""
    if key not in PREP_PARAMETERS:
        known = [PREP_PREFIX + k for k in PREP_PARAMETERS]
        raise ConfigError(f"{at}: unknown preprocessing parameter {key!r}; known: {known}")
    options = dist.get("choice")
    if options is None:
        raise ConfigError(f"{at}: a preprocessing parameter is sampled by choice: [...], got {dist!r}")
    if key == "min_frequency":
        bad = [o for o in options if isinstance(o, bool) or not isinstance(o, int) or o < 1]
    else:
        bad = [o for o in options if o not in IMPUTER_STRATEGIES]
    if bad:
        raise ConfigError(f"{at}: expected {PREP_PARAMETERS[key]}, got {bad!r}")


def calibration_methods(value: str | list[str]) -> list[str]:
    """training.calibration_method as a list: one method (fixed) or several (chosen per candidate)."""
    methods = [value] if isinstance(value, str) else list(value)
    unknown = [m for m in methods if m not in CALIBRATION_METHODS]
    if not methods or unknown or len(set(methods)) != len(methods):
        raise ConfigError(
            f"training.calibration_method: one of {list(CALIBRATION_METHODS)} or a list of distinct ones, got {value!r}"
        )
    return methods


def no_fairness_threshold(where: str, body: Any, instead: str) -> None:
    """Fairness judges the served decision: a threshold of its own would judge another one."""
    if isinstance(body, dict) and "threshold" in body:
        raise ConfigError(
            f"{where}.threshold: fairness has no threshold of its own; it judges the served decision "
            f"(score >= {instead}), as the promotion gate, the card and monitoring do: remove it (set {instead})"
        )

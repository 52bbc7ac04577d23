"""The one JSON policy (core.jsonsafe) and the one XCom conversion of records (core.records)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from modelops.core.jsonsafe import dumps, json_safe
from modelops.core.records import XComRecord


@dataclass(frozen=True)
class _Inner(XComRecord):
    name: str
    score: float | None


@dataclass(frozen=True)
class _Outer(XComRecord):
    when: datetime
    parts: tuple[str, ...]
    inner: _Inner
    ranked: tuple[_Inner, ...]
    note: str | None = None


class _Model(BaseModel):
    value: float


def _outer() -> _Outer:
    return _Outer(
        when=datetime(2026, 3, 1, 12, tzinfo=UTC),
        parts=("a", "b"),
        inner=_Inner("x", 0.5),
        ranked=(_Inner("y", 1.0), _Inner("z", None)),
    )


def test_json_safe_makes_nan_null_and_numpy_paths_records_plain():
    value = {
        "nan": float("nan"),
        "inf": np.float64("inf"),
        "int": np.int64(3),
        "flag": np.bool_(True),
        "array": np.array([1.0, np.nan]),
        "path": Path("/tmp/x"),
        "when": datetime(2026, 1, 2, tzinfo=UTC),
        "record": _Inner("a", float("nan")),
        "model": _Model(value=float("inf")),
        "tuple": (1, 2),
    }
    safe = json_safe(value)
    assert safe == {
        "nan": None,
        "inf": None,
        "int": 3,
        "flag": True,
        "array": [1.0, None],
        "path": "/tmp/x",
        "when": "2026-01-02T00:00:00+00:00",
        "record": {"name": "a", "score": None},
        "model": {"value": None},
        "tuple": [1, 2],
    }
    assert type(safe["int"]) is int and type(safe["flag"]) is bool
    json.loads(dumps(value))  # strict JSON: no NaN token


def test_a_record_goes_through_xcom_json_and_comes_back_equal():
    record = _outer()
    data = json.loads(json.dumps(record.to_xcom(), allow_nan=False))  # what XCom stores
    assert data["parts"] == ["a", "b"] and data["when"] == "2026-03-01T12:00:00+00:00"
    assert _Outer.from_xcom(data) == record


def test_a_record_refuses_missing_and_unknown_keys_unless_told_to_ignore_unknown():
    data = _outer().to_xcom()
    with pytest.raises(ValueError, match=r"missing keys \['inner'\]"):
        _Outer.from_xcom({k: v for k, v in data.items() if k != "inner"})
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\]"):
        _Outer.from_xcom({**data, "extra": 1})
    assert _Outer.from_xcom({**data, "extra": 1}, ignore_unknown=True) == _outer()


def test_template_keys_are_fields_of_their_records():
    from modelops.govern.promotion_plan import PLAN_ACTION, PLAN_MODEL_NAME, PLAN_VERSION, PromotionPlan
    from modelops.pipelines.monitoring_flow import RETRAIN_CONF_KEY, WindowOutcome
    from modelops.pipelines.training_records import REGISTRATION_MODEL_NAME, REGISTRATION_VERSION, Registration

    fields = {f.name for f in dataclasses.fields(Registration)}
    assert {REGISTRATION_MODEL_NAME, REGISTRATION_VERSION} <= fields
    assert RETRAIN_CONF_KEY in {f.name for f in dataclasses.fields(WindowOutcome)}
    assert {PLAN_ACTION, PLAN_MODEL_NAME, PLAN_VERSION} <= {f.name for f in dataclasses.fields(PromotionPlan)}


def test_a_scoring_plan_goes_through_xcom_json_and_comes_back_equal():
    from modelops.score.plan import ScoringPlan

    plan = ScoringPlan(
        dataset="voter_turnout",
        snapshot="s-001",
        alias="champion",
        model_name="voter_turnout_model",
        version="3",
        run_id="abc",
        input_kind="parquet_folder",
        input="/ws/production/voter_turnout/s-001",
        groups=(("part-0.parquet", "part-1.parquet"), ("part-2.parquet",)),
        group_rows=(200, None),
        baseline={"kind": "rule", "rate": 0.4},
        checks={"required": ["age"], "ranges": {"age": [18, 120]}},
        options={"shadow": True, "canary_share": 0.0},
        scored_at="2028-10-01T12:00:00+00:00",
        challenger_version="4",
        notes=("a note",),
    )
    data = json.loads(json.dumps(plan.to_xcom(), allow_nan=False))  # what XCom stores
    assert data["groups"] == [["part-0.parquet", "part-1.parquet"], ["part-2.parquet"]]
    assert ScoringPlan.from_xcom(data) == plan

"""Score decay: known drops on constructed frames (exact with a binary score; a rotating label rule trained for)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from modelops.collect.scenarios import SCENARIOS, drifted_world
from modelops.collect.synthetic import CycleScenario
from modelops.config.settings import DatasetSpec, load_settings
from modelops.evaluate.decay import (
    BacktestPlan,
    DecayOptions,
    DecayReport,
    age_at_drop,
    backtest_decay,
    election_date,
    measure_decay,
    period_rows,
)

OPTIONS = DecayOptions(metric="roc_auc", threshold=0.5, resamples=200, seed=3)


def _flipped(n: int, flip: float) -> tuple[np.ndarray, np.ndarray]:
    """A binary score and labels equal to it but for a `flip` share of each class: AUC exactly 1 - flip."""
    score = np.repeat([0.0, 1.0], n // 2)
    labels = score.copy()
    k = round(flip * n / 2)
    labels[:k] = 1  # k of the score-0 rows are positives
    labels[n // 2 : n // 2 + k] = 0  # k of the score-1 rows are negatives
    return labels.astype(int), score


def test_measure_decay_gives_the_known_drops_slopes_and_age():
    y0, p0 = _flipped(1000, 0.1)
    parts = []
    for year, flip in ((2022, 0.2), (2024, 0.3)):
        y, p = _flipped(1000, flip)
        parts.append(pd.DataFrame({"label": y, "score": p, "period": str(year), "date": pd.Timestamp(year, 11, 1)}))
    report = measure_decay(
        y0, p0, pd.concat(parts), trained_on="2020", reference_date=election_date(2020), options=OPTIONS
    )
    assert report.reference.value == pytest.approx(0.9)
    assert [p.period for p in report.later] == ["2022", "2024"]
    assert [p.value for p in report.later] == pytest.approx([0.8, 0.7])
    assert [p.relative_drop for p in report.later] == pytest.approx([1 / 9, 2 / 9])
    assert [p.age_days for p in report.later] == [730.0, 1461.0]
    # monotone: each period worse than the one before, each interval around its value
    assert report.reference.value > report.later[0].value > report.later[1].value
    for p in (report.reference, *report.later):
        assert p.ci_low < p.value < p.ci_high
        assert p.rows == 1000
    ages, drops = np.array([730.0, 1461.0]), np.array([1 / 9, 2 / 9])
    assert report.drop_per_day == pytest.approx(ages @ drops / (ages @ ages))
    assert report.drop_per_period == pytest.approx((1 / 9 + 4 / 9) / 5)  # slope on ranks 1, 2
    assert report.age_at_drop(0.05) == pytest.approx(0.05 * 9 * 730)  # 328.5 days, linear from (0, 0)
    assert report.age_at_drop(0.15) == pytest.approx(730 + (0.15 - 1 / 9) / (1 / 9) * 731)
    assert report.age_at_drop(0.5) is None  # never within the horizon
    assert DecayReport.from_xcom(json.loads(json.dumps(report.to_xcom()))) == report


def test_a_loss_metric_drops_when_it_grows():
    y0, p0 = _flipped(400, 0.1)
    y1, p1 = _flipped(400, 0.3)
    later = pd.DataFrame({"label": y1, "score": p1 * 0.8 + 0.1, "period": "b", "date": pd.Timestamp(2021, 1, 1)})
    options = DecayOptions(metric="brier", threshold=0.5, resamples=50)
    report = measure_decay(y0, p0 * 0.8 + 0.1, later, trained_on="a", reference_date=date(2020, 1, 1), options=options)
    # Brier of a 0.1/0.9 score: flip share x 0.81 + the rest x 0.01
    assert report.reference.value == pytest.approx(0.1 * 0.81 + 0.9 * 0.01)
    assert report.later[0].value == pytest.approx(0.3 * 0.81 + 0.7 * 0.01)
    assert report.later[0].relative_drop == pytest.approx((0.25 - 0.09) / 0.09)


def test_age_at_drop_is_linear_and_starts_at_zero():
    assert age_at_drop([(100.0, 0.1)], 0.05) == pytest.approx(50.0)
    assert age_at_drop([(100.0, -0.01), (300.0, 0.09)], 0.04) == pytest.approx(100 + 0.05 / 0.10 * 200)
    assert age_at_drop([(100.0, None), (200.0, 0.02)], 0.05) is None


def test_months_of_a_date_column_are_periods():
    frame = pd.DataFrame({"cycle": [2024] * 4, "seen": ["2025-01-10", "2025-01-20", "2025-03-05", "2025-03-07"]})
    rows = period_rows(frame, "cycle", "seen")
    assert rows["period"].tolist() == ["2025-01", "2025-01", "2025-03", "2025-03"]
    by_cycle = period_rows(frame, "cycle", cycle_date=lambda y: date(int(y), 11, 5))
    assert by_cycle["date"].unique().tolist() == [pd.Timestamp(2024, 11, 5)]
    with pytest.raises(ValueError, match="column 'seen': 1 rows without a readable date"):
        period_rows(frame.assign(seen=["2025-01-10", None, "2025-03-05", "2025-03-07"]), "cycle", "seen")
    # monthly decay: the month's age is its rows' mean age
    y0, p0 = _flipped(200, 0.1)
    parts = []
    for month, flip in ((1, 0.15), (2, 0.25)):
        y, p = _flipped(200, flip)
        seen = [f"2025-{month:02d}-{1 + i % 20:02d}" for i in range(200)]
        parts.append(pd.DataFrame({"label": y, "score": p, "seen": seen, "cycle": 2024}))
    later = pd.concat(parts, ignore_index=True)
    later = later.join(period_rows(later, "cycle", "seen"))
    report = measure_decay(y0, p0, later, trained_on="2024", reference_date=date(2024, 11, 1), options=OPTIONS)
    assert [p.period for p in report.later] == ["2025-01", "2025-02"]
    jan_age = (pd.Timestamp(2025, 1, 1) - pd.Timestamp(2024, 11, 1)).days + 9.5  # days 1..20, mean 10.5
    assert report.later[0].age_days == pytest.approx(jan_age)
    assert [p.relative_drop for p in report.later] == pytest.approx([0.05 / 0.9, 0.15 / 0.9])


def _rotating_frame(rows: int, angles: dict[int, float], seed: int) -> pd.DataFrame:
    """Labels from a linear rule whose direction turns by cycle: y = [cos(a) x1 + sin(a) x2 > 0]."""
    rng = np.random.default_rng(seed)
    parts = []
    for cycle, angle in angles.items():
        x = rng.standard_normal((rows, 2))
        y = (np.cos(angle) * x[:, 0] + np.sin(angle) * x[:, 1] > 0).astype(int)
        ids = [f"{cycle}-{i}" for i in range(rows)]
        parts.append(pd.DataFrame({"rid": ids, "cycle": cycle, "x1": x[:, 0], "x2": x[:, 1], "y": y}))
    return pd.concat(parts, ignore_index=True)


def _ideal_auc(angle: float) -> float:
    """AUC of the score x1 (the rule at angle 0) against the rule turned by `angle`, on a large sample."""
    x = np.random.default_rng(0).standard_normal((400_000, 2))
    return roc_auc_score((np.cos(angle) * x[:, 0] + np.sin(angle) * x[:, 1] > 0).astype(int), x[:, 0])


def test_backtest_trains_on_one_cycle_and_sees_the_rule_turn_away():
    spec = DatasetSpec(
        name="rotating",
        description="",
        source={"kind": "file", "path": "x"},
        target="y",
        positive_class=1,
        id_column="rid",
        time_column="cycle",
        numeric=("x1", "x2"),
    )
    angles = {2020: 0.0, 2022: np.pi / 6, 2024: np.pi / 3}
    frame = _rotating_frame(4000, angles, seed=1)
    settings = load_settings()
    # the model pinned (one C, sigmoid calibration: a monotone map keeps the linear rule's ranking, so the
    # ideal AUCs below hold; isotonic's steps would tie scores on this noise-free rule)
    training = {**settings.training.model_dump(mode="json"), "calibration_method": "sigmoid"}
    plan = BacktestPlan(training, {"logistic_regression": {"C": {"choice": [10.0]}}}, ("logistic_regression",))
    report = backtest_decay(spec, frame, 2020, plan, OPTIONS)
    assert report.trained_on == "2020" and [p.period for p in report.later] == ["2022", "2024"]
    assert report.reference.rows == pytest.approx(1000, abs=100)  # the holdout_fraction (0.25) of 2020
    assert [p.rows for p in report.later] == [4000, 4000]
    values = [report.reference.value, *(p.value for p in report.later)]
    assert values[0] > 0.99  # a noise-free linear rule, learnt
    assert values[0] > values[1] > values[2]  # monotone decay
    expected = [_ideal_auc(a) for a in angles.values()]
    assert values == pytest.approx(expected, abs=0.015)
    drops = [p.relative_drop for p in report.later]
    assert drops == pytest.approx([(expected[0] - e) / expected[0] for e in expected[1:]], abs=0.02)
    assert report.age_at_drop(0.05) == pytest.approx(0.05 / drops[0] * 730, rel=0.01)


def test_drifted_world_moves_the_knobs_part_way():
    half = drifted_world("concept_drift", 2026, 0.5)
    assert half.age_effect == pytest.approx(0.0) and half.year == 2026
    assert drifted_world("covariate_shift", 2026, 0.5).young_registrant_share == pytest.approx(0.175)
    assert drifted_world("stable", 2026, 0.5) == CycleScenario(year=2026)
    for name, knobs in SCENARIOS.items():
        full = drifted_world(name, 2026)
        assert all(getattr(full, k) == v for k, v in knobs.items())
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        drifted_world("nope", 2026)

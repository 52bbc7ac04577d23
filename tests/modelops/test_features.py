"""Unit tests for modelops.features: the preprocessor, target vector, splits and the stratified cap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelops.config import DatasetSpec
from modelops.features import build_preprocessor, split_indices, stratified_cap, target_vector

TRAINING = {"seed": 7, "holdout_fraction": 0.25, "calibration_fraction": 0.2}


def _spec(time_column="cycle", positive_class=1, target="y"):
    return DatasetSpec(
        name="toy",
        description="",
        source={"kind": "file", "path": "unused.csv"},
        target=target,
        positive_class=positive_class,
        id_column="id",
        time_column=time_column,
        numeric=("x1", "x2"),
        categorical=("color",),
    )


def _frame(n=400, cycles=(2020, 2022, 2024), seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "cycle": np.array(cycles)[np.arange(n) % len(cycles)],
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
            "color": rng.choice(["red", "green", "blue"], n),
            "y": (np.arange(n) % 4 == 0).astype(int),  # 25% positives
        }
    )


def _assert_partition(parts, n):
    assert set(parts) == {"train", "calibration", "holdout"}
    combined = np.concatenate(list(parts.values()))
    assert len(combined) == n
    assert np.array_equal(np.sort(combined), np.arange(n))
    for positions in parts.values():
        assert np.array_equal(positions, np.sort(positions))


# --- preprocessor ----------------------------------------------------------------------------


def test_preprocessor_imputes_scales_and_one_hot_encodes():
    frame = pd.DataFrame(
        {
            "x1": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
            "x2": [10.0, 10.0, 20.0, 20.0, 30.0, 30.0],
            "color": ["red"] * 6,
        }
    )
    out = build_preprocessor(_spec()).fit(frame)
    transformed = out.transform(frame)
    names = list(out.get_feature_names_out())
    assert names == ["x1", "x2", "color_red"]
    assert transformed.shape == (6, 3)
    assert not np.isnan(transformed).any()
    # the missing x1 is imputed with the median (4.0) before scaling
    x1 = transformed[:, 0]
    assert x1[2] == pytest.approx(x1[3])
    np.testing.assert_allclose(transformed[:, :2].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(transformed[:, 2], 1.0)


def test_preprocessor_groups_rare_and_unknown_categories():
    frame = pd.DataFrame({"x1": range(12), "x2": range(12), "color": ["red"] * 6 + ["blue"] * 5 + ["pink"]})
    pre = build_preprocessor(_spec()).fit(frame)
    names = list(pre.get_feature_names_out())
    assert "color_red" in names
    assert "color_blue" in names
    assert "color_pink" not in names  # seen once: below min_frequency=5
    assert "color_infrequent_sklearn" in names
    unseen = pre.transform(pd.DataFrame({"x1": [0], "x2": [0], "color": ["never_seen"]}))
    categorical = unseen[0, 2:]
    assert categorical[names.index("color_infrequent_sklearn") - 2] == 1.0
    assert categorical.sum() == 1.0


def test_target_vector_marks_the_positive_class():
    frame = pd.DataFrame({"vote": ["dole", "clinton", "dole", None]})
    spec = _spec(target="vote", positive_class="dole")
    y = target_vector(frame, spec)
    assert y.tolist() == [1, 0, 1, 0]
    assert y.dtype.kind == "i"


# --- splits ----------------------------------------------------------------------------------


def test_split_uses_latest_time_value_as_holdout():
    frame = _frame()
    parts = split_indices(frame, _spec(), TRAINING)
    _assert_partition(parts, len(frame))
    expected_holdout = np.flatnonzero(frame["cycle"].to_numpy() == 2024)
    assert np.array_equal(parts["holdout"], expected_holdout)
    rest = np.concatenate([parts["train"], parts["calibration"]])
    assert set(frame["cycle"].iloc[rest]) == {2020, 2022}


def test_split_with_two_time_values_still_holds_out_the_latest():
    frame = _frame(n=200, cycles=(2024, 2022))
    parts = split_indices(frame, _spec(), TRAINING)
    _assert_partition(parts, len(frame))
    assert (frame["cycle"].iloc[parts["holdout"]] == 2024).all()
    assert len(parts["holdout"]) == 100


def test_split_calibration_is_a_stratified_fraction_of_the_rest():
    frame = _frame(n=400, cycles=(2020, 2024))
    parts = split_indices(frame, _spec(), TRAINING)
    rest = len(parts["train"]) + len(parts["calibration"])
    assert rest == 200
    assert len(parts["calibration"]) == 40  # 20% of 200
    y = frame["y"].to_numpy()
    assert y[parts["calibration"]].mean() == pytest.approx(
        y[np.concatenate([parts["train"], parts["calibration"]])].mean()
    )


@pytest.mark.parametrize("case", ["single_value", "no_time_column", "column_absent", "single_value_with_nan"])
def test_split_without_two_time_values_is_stratified_random(case):
    frame = _frame(n=400, cycles=(2024,))
    spec = _spec()
    if case == "no_time_column":
        spec = _spec(time_column=None)
    elif case == "column_absent":
        frame = frame.drop(columns="cycle")
    elif case == "single_value_with_nan":
        frame["cycle"] = frame["cycle"].astype(float)
        frame.loc[::2, "cycle"] = np.nan
    parts = split_indices(frame, spec, TRAINING)
    _assert_partition(parts, len(frame))
    assert len(parts["holdout"]) == 100
    assert len(parts["calibration"]) == 60
    y = frame["y"].to_numpy()
    for positions in parts.values():
        assert y[positions].mean() == pytest.approx(0.25)
    # random, not a contiguous tail
    assert not np.array_equal(parts["holdout"], np.arange(300, 400))


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    frame = _frame(n=400, cycles=(2024,))
    first = split_indices(frame, _spec(), TRAINING)
    second = split_indices(frame, _spec(), TRAINING)
    other = split_indices(frame, _spec(), {**TRAINING, "seed": 8})
    for key in first:
        assert np.array_equal(first[key], second[key])
    assert not np.array_equal(first["holdout"], other["holdout"])


# --- stratified cap --------------------------------------------------------------------------


def test_stratified_cap_returns_small_inputs_unchanged():
    frame = _frame(n=50)
    y = frame["y"].to_numpy()
    capped, capped_y = stratified_cap(frame, y, 50, seed=0)
    assert capped is frame
    assert capped_y is y


def test_stratified_cap_keeps_class_balance_and_alignment():
    n = 1000
    frame = pd.DataFrame({"row": np.arange(n), "y": (np.arange(n) % 10 < 3).astype(int)})  # 30% positives
    y = frame["y"].to_numpy()
    capped, capped_y = stratified_cap(frame, y, 100, seed=1)
    assert len(capped) == 100
    assert len(capped_y) == 100
    assert capped_y.sum() == 30
    assert np.array_equal(capped["y"].to_numpy(), capped_y)
    assert capped["row"].is_monotonic_increasing
    assert capped["row"].is_unique


def test_stratified_cap_is_seeded():
    n = 500
    frame = pd.DataFrame({"row": np.arange(n)})
    y = (np.arange(n) % 2).astype(int)
    a, _ = stratified_cap(frame, y, 50, seed=3)
    b, _ = stratified_cap(frame, y, 50, seed=3)
    c, _ = stratified_cap(frame, y, 50, seed=4)
    assert a["row"].tolist() == b["row"].tolist()
    assert a["row"].tolist() != c["row"].tolist()

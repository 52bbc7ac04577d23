"""Unit tests for modelops.train.features: the preprocessor, target vector, splits and the stratified cap."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from modelops.collect.labels import UnlabelledRowsError, label_summary, label_values, labelled_mask, target_vector
from modelops.config.settings import DatasetSpec
from modelops.train.features import build_preprocessor
from modelops.train.splits import row_keys, split_indices, stratified_cap

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
    assert names == ["x1", "x2", "missingindicator_x1", "color_red"]
    assert transformed.shape == (6, 4)
    assert not np.isnan(transformed).any()
    # the missing x1 is imputed with the median (4.0) before scaling
    x1 = transformed[:, 0]
    assert x1[2] == pytest.approx(x1[3])
    np.testing.assert_allclose(transformed[:, :3].mean(axis=0), 0.0, atol=1e-12)
    assert transformed[2, 2] > 0 > transformed[0, 2]  # the indicator marks the missing row
    np.testing.assert_allclose(transformed[:, 3], 1.0)


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
    frame = pd.DataFrame({"vote": ["dole", "clinton", "dole", "perot"]})
    spec = _spec(target="vote", positive_class="dole")
    y = target_vector(frame, spec)
    assert y.tolist() == [1, 0, 1, 0]  # without `negative` labels, any other present value is negative
    assert y.dtype.kind == "i"


def test_a_missing_target_is_never_the_negative_class():
    frame = pd.DataFrame({"vote": ["dole", "clinton", None, np.nan]})
    spec = _spec(target="vote", positive_class="dole")
    assert label_values(frame, spec).tolist() == [1, 0, -1, -1]
    with pytest.raises(UnlabelledRowsError, match="2 of 4 rows have no outcome in 'vote'"):
        target_vector(frame, spec)


def test_labels_with_non_outcome_codes_and_blanks():
    # a voter-file style target: Y/N are outcomes; U (unknown), A (absentee pending) and blanks are not
    frame = pd.DataFrame({"t": ["Y", "N", "U", "A", None, "Y", " ", "N"]})
    spec = dataclasses.replace(_spec(target="t", positive_class="Y"), positive_labels=("Y",), negative_labels=("N",))
    assert label_values(frame, spec).tolist() == [1, 0, -1, -1, -1, 1, -1, 0]
    summary = label_summary(frame, spec)
    assert summary == {
        "rows": 8,
        "labelled": 4,
        "positive": 2,
        "negative": 2,
        "unlabelled": 4,
        "unlabelled_share": 0.5,
        "missing_target": 2,  # None and a cell of spaces: blank text is missing, not a code
        "other_values": {"U": 1, "A": 1},
    }
    assert labelled_mask(frame, spec).sum() == 4


def test_blank_text_is_never_a_negative_even_without_negative_labels():
    frame = pd.DataFrame({"t": ["Y", "N", "", "  ", None, "U"]})  # SQL/Parquet keep '' as text
    spec = _spec(target="t", positive_class="Y")  # default: every other *present* value is negative
    assert label_values(frame, spec).tolist() == [1, 0, -1, -1, -1, 0]


def test_panel_rows_are_keyed_by_id_and_period():
    spec = _spec()  # id and cycle
    frame = pd.DataFrame({"id": [1, 1, 2], "cycle": [2020, 2024, 2024], "x1": 0.0, "x2": 0.0, "color": "a", "y": 1})
    keys = row_keys(frame, spec)
    assert len(set(keys.tolist())) == 3  # the same voter in two cycles is two observations


def test_content_keys_ignore_how_a_file_typed_its_numbers():
    spec = dataclasses.replace(_spec(time_column=None), id_column=None)
    typed = pd.DataFrame({"x1": [1, 2], "x2": [0.5, 3.0], "color": [7, "x"], "y": [1, 0]})
    as_text = pd.DataFrame({"x1": [1.0, 2.0], "x2": [0.5, 3.0], "color": ["7.0", "x"], "y": [1, 0]})
    padded = as_text.assign(color=["007", "x"])  # a zero-padded code is text, not the number 7
    assert row_keys(typed, spec).tolist() == row_keys(as_text, spec).tolist()
    assert row_keys(padded, spec)[0] != row_keys(as_text, spec)[0]


def test_numeric_codes_match_whatever_the_file_dtype():
    spec = dataclasses.replace(_spec(target="t"), positive_labels=(1,), negative_labels=(0,))
    as_float = pd.DataFrame({"t": [1.0, 0.0, np.nan, 9.0]})  # a CSV with a blank reads codes as floats
    as_text = pd.DataFrame({"t": ["1", "0.0", None, "9"]})
    assert label_values(as_float, spec).tolist() == [1, 0, -1, -1]
    assert label_values(as_text, spec).tolist() == [1, 0, -1, -1]


def test_missing_indicator_is_a_feature_and_can_be_switched_off():
    frame = pd.DataFrame(
        {"x1": [1.0, np.nan] * 6, "x2": np.arange(12.0), "color": ["a", None, "b"] * 4}  # each level 4+ times
    )
    frame = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    names = list(build_preprocessor(_spec()).fit(frame).get_feature_names_out())
    assert "missingindicator_x1" in names
    assert "missingindicator_x2" not in names  # no gaps when fitted: no indicator
    assert "color_None" in names or "color_nan" in names  # a missing category is its own level
    off = list(build_preprocessor(_spec(), missing_indicators=False).fit(frame).get_feature_names_out())
    assert not [n for n in off if n.startswith("missingindicator")]


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
def test_split_without_two_time_values_holds_out_a_stable_fraction(case):
    frame = _frame(n=4000, cycles=(2024,))
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
    assert 900 <= len(parts["holdout"]) <= 1100  # 25% by a hash of the id: binomial around 1000
    assert len(parts["calibration"]) == pytest.approx(0.2 * (4000 - len(parts["holdout"])), abs=1)
    assert not np.array_equal(parts["holdout"], np.arange(3000, 4000))  # not a contiguous tail


@pytest.mark.parametrize("with_id", [True, False])
def test_holdout_membership_survives_reordering_and_added_rows(with_id):
    spec = _spec(time_column=None) if with_id else dataclasses.replace(_spec(time_column=None), id_column=None)
    frame = _frame(n=2000, cycles=(2024,))
    if not with_id:
        frame = frame.drop(columns="id")
    first = split_indices(frame, spec, TRAINING)
    held = set(row_keys(frame, spec)[first["holdout"]].tolist())
    # a retrain: the same rows shuffled, with 500 new ones and an int column turned float by one gap
    more = _frame(n=500, cycles=(2024,), seed=9).assign(id=lambda f: f["id"] + 10_000)
    if not with_id:
        more = more.drop(columns="id")
    bigger = pd.concat([frame.sample(frac=1.0, random_state=3), more], ignore_index=True)
    bigger["cycle"] = bigger["cycle"].astype(float)
    second = split_indices(bigger, spec, TRAINING)
    keys = row_keys(bigger, spec)
    old = np.isin(keys, row_keys(frame, spec))
    assert held == set(keys[second["holdout"]][old[second["holdout"]]].tolist())
    trained = np.concatenate([second["train"], second["calibration"]])
    assert not held & set(keys[trained].tolist())


def test_unlabelled_rows_are_in_no_split():
    frame = _frame(n=400, cycles=(2024,))
    frame["y"] = frame["y"].astype(float)
    frame.loc[::3, "y"] = np.nan
    parts = split_indices(frame, _spec(), TRAINING)
    used = np.concatenate(list(parts.values()))
    assert len(used) == int(frame["y"].notna().sum())
    assert frame["y"].iloc[used].notna().all()


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

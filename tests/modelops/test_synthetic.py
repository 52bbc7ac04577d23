"""Unit tests for modelops.collect.synthetic: the seeded voter file, county tables and the known turnout model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelops.collect.synthetic import (
    EDUCATION,
    INCOME,
    PARTIES,
    CycleScenario,
    generate_counties,
    turnout_logit,
)
from modelops.collect.world import generate_voter_file

PII = ["first_name", "last_name", "street_address", "date_of_birth", "phone"]
SCENARIOS = [CycleScenario(2020), CycleScenario(2022), CycleScenario(2024)]


@pytest.fixture(autouse=True)
def _workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path / "workspace"))


def _voters(paths):
    return pd.read_parquet(paths["voters"])


def _logit_frame(ages):
    n = len(ages)
    return pd.DataFrame(
        {
            "age": ages,
            "voted_general_lag1": [1] * n,
            "voted_general_lag2": [0] * n,
            "voted_general_lag3": [0] * n,
            "voted_primary_lag1": [0] * n,
            "voted_primary_lag2": [0] * n,
            "education": ["bachelors"] * n,
            "party": ["DEM"] * n,
            "contact_attempts": [2] * n,
            "county_turnout_prev": [0.6] * n,
            "unemployment_rate": [0.055] * n,
        }
    )


# --- scenarios and the known model ------------------------------------------------------------


def test_presidential_years():
    assert CycleScenario(2024).presidential is True
    assert CycleScenario(2020).presidential is True
    assert CycleScenario(2022).presidential is False


def test_turnout_logit_by_hand_at_age_40():
    # age 40: tanh(0) = 0, so only the constant, cycle, history, education, party and contact remain
    logit = turnout_logit(_logit_frame([40]), CycleScenario(2024))
    assert logit[0] == pytest.approx(-1.3 + 0.45 + 1.1 + 0.3 + 0.2 + 0.15 * 2)
    midterm = turnout_logit(_logit_frame([40]), CycleScenario(2022))
    assert logit[0] - midterm[0] == pytest.approx(0.8)


def test_turnout_logit_rises_with_age():
    logit = turnout_logit(_logit_frame([18, 30, 45, 60, 80]), CycleScenario(2024))
    assert np.all(np.diff(logit) > 0)


def test_age_effect_changes_turnout_logit():
    frame = _logit_frame([20, 40, 70])
    base = turnout_logit(frame, CycleScenario(2024))
    doubled = turnout_logit(frame, CycleScenario(2024, age_effect=2.0))
    flat = turnout_logit(frame, CycleScenario(2024, age_effect=0.0))
    assert not np.allclose(base, doubled)
    assert np.allclose(flat, flat[0])  # no age slope left
    assert doubled[2] - doubled[0] == pytest.approx(2 * (base[2] - base[0]))
    assert doubled[1] == pytest.approx(base[1])  # age 40 is the pivot


def test_turnout_shift_is_added_to_the_log_odds():
    frame = _logit_frame([25, 55])
    base = turnout_logit(frame, CycleScenario(2022))
    shifted = turnout_logit(frame, CycleScenario(2022, turnout_shift=-0.5))
    np.testing.assert_allclose(shifted - base, -0.5)


def test_generate_counties_is_seeded_and_consistent():
    economics, results = generate_counties(12, seed=3)
    again_economics, again_results = generate_counties(12, seed=3)
    other_economics, _ = generate_counties(12, seed=4)
    pd.testing.assert_frame_equal(economics, again_economics)
    pd.testing.assert_frame_equal(results, again_results)
    assert not economics.equals(other_economics)
    assert len(economics) == len(results) == 12
    assert economics["county_fips"].is_unique
    assert economics["county_fips"].tolist() == results["county_fips"].tolist()
    assert economics["county_fips"].str.len().eq(5).all()
    assert economics["unemployment_rate"].between(0.015, 0.15).all()
    assert results["county_turnout_prev"].between(0.3, 0.85).all()
    assert results["county_dem_share_prev"].between(0.15, 0.85).all()


# --- the voter file --------------------------------------------------------------------------


def test_voter_file_is_reproducible_for_a_seed(tmp_path):
    a = generate_voter_file(tmp_path / "a", rows=600, seed=5, scenarios=SCENARIOS, n_counties=8)
    b = generate_voter_file(tmp_path / "b", rows=600, seed=5, scenarios=SCENARIOS, n_counties=8)
    c = generate_voter_file(tmp_path / "c", rows=600, seed=6, scenarios=SCENARIOS, n_counties=8)
    pd.testing.assert_frame_equal(_voters(a), _voters(b))
    for table in ("county_economics", "county_results"):
        pd.testing.assert_frame_equal(pd.read_parquet(a[table]), pd.read_parquet(b[table]))
    assert not _voters(a).equals(_voters(c))


def test_voter_file_columns_rows_and_cycles(tmp_path):
    paths = generate_voter_file(tmp_path / "raw", rows=301, seed=1, scenarios=SCENARIOS, n_counties=6)
    assert set(paths) == {"voters", "county_economics", "county_results", "truth", "certified_results", "polls"}
    voters = _voters(paths)
    assert len(voters) == 301
    expected = [*PII, "voter_id", "cycle", "age", "party", "voted", "county_fips", "gender", "race_ethnicity"]
    for column in expected:
        assert column in voters.columns, column
    assert voters["voter_id"].is_unique
    assert voters.groupby("cycle").size().to_dict() == {2020: 100, 2022: 100, 2024: 101}
    types = voters.groupby("cycle")["election_type"].unique().map(list).to_dict()
    assert types == {2020: ["presidential"], 2022: ["midterm"], 2024: ["presidential"]}
    assert set(voters["voted"].unique()) <= {0, 1}
    assert set(voters["party"]) <= set(PARTIES)
    assert set(voters["education"]) <= set(EDUCATION)
    assert set(voters["income_bracket"].dropna()) <= set(INCOME)
    assert voters["age"].between(18, 110).all()
    assert (voters["years_registered"] <= voters["age"] - 18).all()
    assert (voters["registration_year"] == voters["cycle"] - voters["years_registered"]).all()
    economics = pd.read_parquet(paths["county_economics"])
    assert len(economics) == 6
    assert set(voters["county_fips"]) <= set(economics["county_fips"])


def test_voter_file_pii_looks_like_pii(tmp_path):
    paths = generate_voter_file(tmp_path, rows=200, seed=2, scenarios=[CycleScenario(2024)], n_counties=4)
    voters = _voters(paths)
    assert voters["phone"].str.fullmatch(r"555-\d{3}-\d{4}").all()
    assert voters["street_address"].str.fullmatch(r"\d+ [A-Za-z ]+").all()
    birth = pd.to_datetime(voters["date_of_birth"], format="%Y-%m-%d")
    assert ((2024 - birth.dt.year) == voters["age"]).all()
    assert voters["first_name"].notna().all()
    assert voters["last_name"].notna().all()


def test_second_call_with_identical_args_reuses_the_files(tmp_path):
    out = tmp_path / "raw"
    paths = generate_voter_file(out, rows=150, seed=3, scenarios=SCENARIOS, n_counties=5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == 150
    assert manifest["seed"] == 3
    assert [s["year"] for s in manifest["scenarios"]] == [2020, 2022, 2024]
    stamps = {name: (out / p).stat().st_mtime_ns for name, p in paths.items()}
    again = generate_voter_file(out, rows=150, seed=3, scenarios=SCENARIOS, n_counties=5)
    assert again == paths
    assert {name: (out / p).stat().st_mtime_ns for name, p in again.items()} == stamps


def test_changed_args_regenerate_the_files(tmp_path):
    out = tmp_path / "raw"
    generate_voter_file(out, rows=150, seed=3, scenarios=SCENARIOS, n_counties=5)
    paths = generate_voter_file(out, rows=90, seed=3, scenarios=SCENARIOS, n_counties=5)
    assert len(_voters(paths)) == 90
    assert json.loads((out / "manifest.json").read_text())["rows"] == 90


def test_missing_output_is_regenerated_even_with_a_matching_manifest(tmp_path):
    out = tmp_path / "raw"
    paths = generate_voter_file(out, rows=120, seed=3, scenarios=SCENARIOS, n_counties=5)
    before = _voters(paths)
    (out / "voters.parquet").unlink()
    generate_voter_file(out, rows=120, seed=3, scenarios=SCENARIOS, n_counties=5)
    pd.testing.assert_frame_equal(_voters(paths), before)


def test_small_chunks_write_every_row(tmp_path):
    paths = generate_voter_file(tmp_path, rows=250, seed=4, scenarios=SCENARIOS[:2], n_counties=5, chunk_rows=40)
    voters = _voters(paths)
    assert len(voters) == 250
    assert voters["voter_id"].is_unique
    assert voters.groupby("cycle").size().to_dict() == {2020: 125, 2022: 125}
    expected = [f"V2020-{i:09d}" for i in range(125)] + [f"V2022-{i:09d}" for i in range(125)]
    assert voters["voter_id"].tolist() == expected
    assert not list(tmp_path.glob(".*"))  # no temp file left beside the published ones


def test_young_registrant_share_lowers_mean_age(tmp_path):
    base = _voters(
        generate_voter_file(tmp_path / "base", rows=1500, seed=8, scenarios=[CycleScenario(2024)], n_counties=5)
    )
    wave = [CycleScenario(2024, young_registrant_share=0.5)]
    young = _voters(generate_voter_file(tmp_path / "young", rows=1500, seed=8, scenarios=wave, n_counties=5))
    assert young["age"].mean() < base["age"].mean() - 5
    assert (young["age"] < 25).mean() > (base["age"] < 25).mean() + 0.3
    assert young["years_registered"].mean() < base["years_registered"].mean()


def test_turnout_follows_the_known_model(tmp_path):
    voters = _voters(
        generate_voter_file(
            tmp_path, rows=3000, seed=9, scenarios=[CycleScenario(2022), CycleScenario(2024)], n_counties=8
        )
    )
    by_cycle = voters.groupby("cycle")["voted"].mean()
    assert by_cycle[2024] > by_cycle[2022]  # presidential cycles turn out more
    by_history = voters.groupby("voted_general_lag1")["voted"].mean()
    assert by_history[1] > by_history[0] + 0.2
    assert 0.2 < voters["voted"].mean() < 0.8


def test_turnout_shift_raises_turnout(tmp_path):
    kwargs = {"rows": 1500, "seed": 10, "n_counties": 5}
    low = _voters(generate_voter_file(tmp_path / "low", scenarios=[CycleScenario(2024)], **kwargs))
    high = _voters(generate_voter_file(tmp_path / "high", scenarios=[CycleScenario(2024, turnout_shift=1.5)], **kwargs))
    assert high["voted"].mean() > low["voted"].mean() + 0.1


def test_some_income_is_missing_but_little(tmp_path):
    voters = _voters(generate_voter_file(tmp_path, rows=3000, seed=11, scenarios=[CycleScenario(2024)], n_counties=5))
    missing = voters["income_bracket"].isna().mean()
    assert 0.0 < missing <= 0.05

"""The `forecasts` section: typed, checked against the datasets, resolved once (geography, certified path)."""

from __future__ import annotations

import copy

import pytest
import yaml

from modelops.config.checks import ConfigError
from modelops.config.forecasts import certified_path
from modelops.config.settings import DEFAULT_CONFIG_PATH, load_settings, merge_layers, parse_settings


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())


def _with_forecast(**changes) -> dict:
    raw = copy.deepcopy(_raw())
    raw["forecasts"]["voter_forecast"].update(changes)
    return raw


def test_bundled_forecast_resolves_geography_and_certified_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELOPS_HOME", str(tmp_path))
    settings = load_settings()
    name, spec = settings.forecast(None)
    assert name == "voter_forecast"
    assert (spec.turnout, spec.support, spec.geography, spec.use) == (
        "voter_turnout",
        "voter_support",
        "county_fips",
        "forecast",
    )
    path = certified_path(spec, settings.dataset(spec.turnout))
    assert path == tmp_path / "raw" / "voter_turnout" / "certified_results.parquet"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"turnout": "nope"}, "forecasts.voter_forecast.turnout: unknown dataset 'nope'"),
        ({"support": "voter_turnout"}, "turnout and support are two datasets"),
        ({"support": "anes96_vote"}, "set datasets.anes96_vote.scoring.population.dataset"),
        ({"geography": "no_such_column"}, "forecasts.voter_forecast.geography: 'no_such_column'"),
        ({"interval_level": 1.0}, "forecasts.voter_forecast.interval_level"),
        ({"scenario_delta": -0.1}, "forecasts.voter_forecast.scenario_delta"),
        ({"interval_level": "0.9"}, "forecasts.voter_forecast.interval_level: expected"),
        ({"certified": {"path": "{home}/x.parquet"}}, "unknown placeholder(s) ['home']"),
        ({"colour": "red"}, "forecasts.voter_forecast: unknown key 'colour'"),
    ],
)
def test_a_bad_forecast_is_refused_naming_the_key(changes, named):
    with pytest.raises(ConfigError) as caught:
        parse_settings(_with_forecast(**changes))
    assert named in str(caught.value)


def test_unknown_forecast_names_the_configured_ones():
    settings = parse_settings(_raw())
    with pytest.raises(ConfigError, match=r"unknown forecast 'x'; configured forecasts: \['voter_forecast'\]"):
        settings.forecast("x")
    assert parse_settings({**_raw(), "forecasts": None}).forecasts == {}


def test_hiding_a_dataset_hides_the_bundled_forecasts_built_on_it():
    merged = merge_layers(_raw(), {"datasets": {"voter_support": None}})
    assert parse_settings(merged).forecasts == {}
    removed = merge_layers(_raw(), {"forecasts": {"voter_forecast": None}})
    assert parse_settings(removed).forecasts == {}

"""Who may be scored, for what: permitted uses, a population's column map and the new-registrant policy,
checked at load and by the small functions scoring calls (no model, no store)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from modelops.collect.values import new_registrant_rows
from modelops.config.checks import ConfigError
from modelops.config.settings import DEFAULT_CONFIG_PATH, parse_settings
from modelops.config.uses import UseRefused, check_use
from modelops.score.checks import Reasons
from modelops.score.registrants import NEW_REGISTRANT, fixed_scores, mark_policy_rows

BUNDLED = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
SURVEY = "anes96_vote"
FEATURES = ["popul", "TVnews", "selfLR", "ClinLR", "DoleLR", "age", "income", "PID", "educ"]


def _raw() -> dict:
    return copy.deepcopy(BUNDLED)


def _with_population(columns: dict[str, str], declared: list[str] | None = None) -> dict:
    """The bundled file plus a voter-file-like dataset `voters` and the survey scoring it through `columns`."""
    raw = _raw()
    numeric = declared if declared is not None else [c for c in FEATURES if c not in ("PID", "educ")]
    raw["datasets"]["voters"] = {
        "source": {"kind": "file", "path": "{raw}/voters.csv"},
        "id_column": "vid",
        "target": "turned_out",
        "numeric": numeric,
        "categorical": ["party_code", "education_level"],
        "permitted_uses": ["turnout_contact"],
    }
    raw["datasets"][SURVEY]["scoring"] = {"population": {"dataset": "voters", "columns": columns}}
    return raw


def test_check_use_defaults_to_the_first_permitted_use_and_refuses_any_other_naming_the_rule():
    spec = parse_settings(_raw()).dataset("voter_turnout")
    assert spec.permitted_uses == ("turnout_contact", "research", "forecast")
    assert check_use(spec, None) == "turnout_contact"
    assert check_use(spec, "") == "turnout_contact"
    assert check_use(spec, "forecast") == "forecast"
    with pytest.raises(UseRefused) as refused:
        check_use(spec, "persuasion")
    assert str(refused.value).startswith(
        "dataset 'voter_turnout' permits uses [turnout_contact, research, forecast]; 'persuasion' was asked"
    )
    with pytest.raises(UseRefused, match="a use that is no identifier was asked") as odd:
        check_use(spec, "x'; drop table y")
    assert "drop table" not in str(odd.value)  # free text never reaches a message


def test_permitted_uses_are_required_non_empty_and_identifiers():
    for value, message in (
        (None, r"datasets.anes96_vote: missing required key 'permitted_uses'"),
        ([], r"datasets.anes96_vote.permitted_uses: expected a non-empty list of identifiers"),
        (["research", "two words"], r"permitted_uses: expected a non-empty list of identifiers"),
        (["research", "research"], r"permitted_uses: listed more than once: \['research'\]"),
    ):
        raw = _raw()
        raw["datasets"][SURVEY]["permitted_uses"] = value
        if value is None:
            del raw["datasets"][SURVEY]["permitted_uses"]
        with pytest.raises(ConfigError, match=message):
            parse_settings(raw)


def test_a_population_must_cover_every_model_feature():
    mapped = {"PID": "party_code", "educ": "education_level"}
    settings = parse_settings(_with_population(mapped))
    assert settings.dataset(SURVEY).scoring.population.columns == mapped
    # the voter file has no `income` and the map does not say which of its columns means it
    raw = _with_population({"PID": "party_code", "educ": "education_level"}, [c for c in FEATURES[:6]])
    with pytest.raises(ConfigError, match=r"population: model features \['income'\] are neither mapped"):
        parse_settings(raw)
    with pytest.raises(ConfigError, match=r"population: model features \['PID'\] are neither mapped"):
        parse_settings(_with_population({"educ": "education_level"}))


def test_a_population_is_another_configured_dataset_with_plausible_names_each_feeding_one_column():
    good = {"PID": "party_code", "educ": "education_level"}
    cases = [
        (lambda r: r["datasets"][SURVEY]["scoring"]["population"].update(dataset="nope"), "unknown dataset 'nope'"),
        (lambda r: r["datasets"][SURVEY]["scoring"]["population"].update(dataset=SURVEY), "another dataset"),
        (lambda r: r["datasets"][SURVEY]["scoring"]["population"]["columns"].update(PID="party code"), "PID: expected"),
        (lambda r: r["datasets"][SURVEY]["scoring"]["population"]["columns"].update(vote="x"), "'vote' is no column"),
        (
            lambda r: r["datasets"][SURVEY]["scoring"]["population"]["columns"].update(educ="party_code"),
            r"feeding several model columns: \{'party_code': \['PID', 'educ'\]\}",
        ),
        (
            lambda r: r["datasets"][SURVEY]["scoring"]["population"]["columns"].update(age="vid"),
            "id column 'vid' would feed",
        ),
    ]
    for mutate, message in cases:
        raw = _with_population(dict(good))
        mutate(raw)
        with pytest.raises(ConfigError, match=message):
            parse_settings(raw)


def test_new_registrants_config_is_checked():
    def with_rule(rule: dict) -> dict:
        raw = _raw()
        raw["datasets"]["voter_turnout"]["scoring"]["new_registrants"] = rule
        return raw

    rule = {"column": "years_registered", "max_value": 0, "policy": "fixed", "score": 0.4}
    assert parse_settings(with_rule(rule)).dataset("voter_turnout").scoring.new_registrants.score == 0.4
    for bad, message in (
        ({**rule, "value": 1}, "either max_value"),
        ({k: v for k, v in rule.items() if k != "max_value"}, "either max_value"),
        ({**rule, "score": None}, "policy fixed needs a score between 0 and 1"),
        ({**rule, "score": 1.5}, "policy fixed needs a score between 0 and 1"),
        ({**rule, "policy": "model"}, "only policy fixed takes a score"),
        ({**rule, "policy": "skip", "score": None}, r"policy: one of \['model', 'fallback', 'fixed'\]"),
        ({**rule, "column": "voted"}, "is the target, the id or a PII column"),
        ({**rule, "column": "phone"}, "is the target, the id or a PII column"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_settings(with_rule(bad))


def test_new_registrant_rows_by_value_or_flag_and_missing_is_none():
    frame = pd.DataFrame(
        {
            "years": [0, 3, None, -1, 0.0, 7],
            "text": ["0", "2", "", "x", " 0 ", None],
            "flag": ["Y", "N", None, "Y", "y", 1],
        }
    )
    by_value = new_registrant_rows(frame, {"column": "years", "max_value": 0})
    assert by_value.tolist() == [True, False, False, True, True, False]
    as_text = new_registrant_rows(frame, {"column": "text", "max_value": 0})
    assert as_text.tolist() == [True, False, False, False, True, False]  # "x" is no number: no new registrant
    flagged = new_registrant_rows(frame, {"column": "flag", "value": "Y"})
    assert flagged.tolist() == [True, False, False, True, False, False]
    assert not new_registrant_rows(frame, {"column": "absent", "max_value": 0}).any()


def test_the_fixed_policy_scores_exactly_the_rows_it_marked():
    reasons = Reasons()
    codes = np.zeros(4, dtype=np.int16)
    reasons.mark(codes, np.array([False, False, False, True]), "missing_id")  # an id problem comes first
    new = np.array([True, False, True, True])
    rule = {"column": "years", "max_value": 0, "policy": "fixed", "score": 0.25}
    mark_policy_rows(rule, new, codes, reasons)
    score = np.array([0.9, 0.8, 0.7, 0.6])
    fixed_scores(rule, codes, reasons, score)
    assert [reasons.names[c] for c in codes] == [NEW_REGISTRANT, None, NEW_REGISTRANT, "missing_id"]
    assert score.tolist() == [0.25, 0.8, 0.25, 0.6]

"""The deployment profile: demo unless MODELOPS_PROFILE says production; anything else refused by name."""

import pytest

from modelops.config.checks import ConfigError
from modelops.config.profile import PROFILE_ENV, Profile, current_profile, is_production


@pytest.mark.parametrize(
    ("given", "expected"),
    [(None, Profile.DEMO), ("", Profile.DEMO), ("demo", Profile.DEMO), (" Production ", Profile.PRODUCTION)],
)
def test_profile_from_the_environment(monkeypatch, given, expected):
    if given is None:
        monkeypatch.delenv(PROFILE_ENV, raising=False)
    else:
        monkeypatch.setenv(PROFILE_ENV, given)
    assert current_profile() is expected
    assert is_production() is (expected is Profile.PRODUCTION)


def test_an_unknown_profile_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(PROFILE_ENV, "staging")
    with pytest.raises(ConfigError, match="MODELOPS_PROFILE: expected one of demo, production, got 'staging'"):
        current_profile()

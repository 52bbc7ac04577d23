"""The deployment profile: `demo` (the embedded default) or `production`.

Read from MODELOPS_PROFILE (docker-compose.yaml sets production). The production profile holds a
deployment to the rules a demo would only warn about: training from reviewed, checked-in specs, and a
canary before a promoted version serves everyone. Each rule says what it does in the demo profile.
"""

from __future__ import annotations

import os
from enum import StrEnum

from modelops.config.checks import ConfigError

PROFILE_ENV = "MODELOPS_PROFILE"


class Profile(StrEnum):
    DEMO = "demo"
    PRODUCTION = "production"


def current_profile() -> Profile:
    """The profile in force (MODELOPS_PROFILE; unset or empty: demo); any other value is a ConfigError."""
    given = os.environ.get(PROFILE_ENV, "").strip().lower()
    if not given:
        return Profile.DEMO
    try:
        return Profile(given)
    except ValueError:
        known = ", ".join(p.value for p in Profile)
        raise ConfigError(f"{PROFILE_ENV}: expected one of {known}, got {given!r}") from None


def is_production() -> bool:
    """True when the production profile is in force."""
    return current_profile() is Profile.PRODUCTION

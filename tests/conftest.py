"""Shared test configuration."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fuzz", deadline=None, max_examples=20000, suppress_health_check=list(HealthCheck)
)
# ``tox -e fuzz`` sets HYPOTHESIS_PROFILE=fuzz for a long run.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

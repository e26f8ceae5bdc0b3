"""The bundled library against every profile: each scenario passes or is skipped by its requires."""

from __future__ import annotations

import pytest

from fakeservers.profiles.catalogue import profile_names, server_config
from refclient.scenario.runner import FAILED, PASSED, SKIPPED
from tests.cli.library_runs import library, run_library


@pytest.mark.parametrize("profile", [name for name in profile_names() if name != "default"])
def test_the_bundled_library_passes_or_skips_on_every_profile(profile: str) -> None:
    results = run_library(server_config(profile), library())
    assert {result.status for result in results} <= {PASSED, SKIPPED}, [
        (result.scenario.id, result.reason) for result in results if result.status == FAILED
    ]
    assert sum(result.status == PASSED for result in results) > len(results) // 2

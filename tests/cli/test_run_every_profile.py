"""The bundled library against every profile: scenarios pass, or are skipped by requires.

The only failures allowed are scenarios checking exactly what one of the
profile's own quirks breaks (``BREAKS``), as they would against the provider.
"""

from __future__ import annotations

import pytest

from fakeservers.profiles.catalogue import load_profile, profile_names, server_config
from refclient.scenario.runner import FAILED, PASSED
from tests.cli.library_runs import BREAKS, library, run_library


@pytest.mark.parametrize("profile", [name for name in profile_names() if name != "default"])
def test_the_bundled_library_passes_or_skips_on_every_profile(profile: str) -> None:
    """Only the scenarios that check exactly what one of the profile's quirks breaks fail."""
    results = run_library(server_config(profile), library())
    allowed = {sid for quirk in load_profile(profile).quirks for sid in BREAKS.get(quirk) or ()}
    failed = {result.scenario.id for result in results if result.status == FAILED}
    assert failed <= allowed, [
        (result.scenario.id, result.reason) for result in results if result.status == FAILED
    ]
    assert sum(result.status == PASSED for result in results) > len(results) // 2

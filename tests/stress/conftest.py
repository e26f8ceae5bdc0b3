"""The storms run only when asked for (``-m stress``, ``tox -e stress``): they take seconds
each and open thousands of connections, which the everyday run should not pay for."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "stress" in (config.getoption("markexpr") or ""):
        return
    storms = [item for item in items if item.get_closest_marker("stress")]
    if storms:
        config.hook.pytest_deselected(items=storms)
        items[:] = [item for item in items if not item.get_closest_marker("stress")]

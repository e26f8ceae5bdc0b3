"""Running the bundled library in-process against fake servers of any configuration."""

from __future__ import annotations

import asyncio

from fakeservers.config import ServerConfig
from refclient.cli.run import bundled_scenarios
from refclient.scenario.loader import load_paths
from refclient.scenario.model import Scenario
from refclient.scenario.runner import Result, run_all
from refclient.scenario.targets import fake_target_with
from refclient.session.options import ClientOptions


def library(*protocols: str) -> list[Scenario]:
    """The bundled scenarios that use the default servers, without the 10 MB round trip."""
    return [
        scenario
        for scenario in load_paths([bundled_scenarios()])
        if not scenario.server.changes_server
        and "large" not in scenario.tags
        and (not protocols or set(protocols) & set(scenario.tags))
    ]


def run_library(config: ServerConfig, scenarios: list[Scenario]) -> list[Result]:
    """Every scenario against fresh fake servers with ``config``, eight at a time."""
    with fake_target_with(config) as target:
        options = ClientOptions(ca_file=target.ca_file)
        return asyncio.run(run_all(scenarios, [target], options=options, jobs=8))

"""One rule engine for the three fake servers: match an event, then act on the connection.

:mod:`.model` says what a rule is, :mod:`.loading` reads rules from data,
:mod:`.engine` decides which rules fire (sans-IO) and :mod:`.wire` carries
out their actions on an asyncio transport.
"""

from fakeservers.rules.engine import Fired, RuleBook, RuleSet, SessionRules
from fakeservers.rules.loading import RuleError, load_rules_file, rule_from_data, ruleset_from_data
from fakeservers.rules.model import Action, Ending, Event, Match, Rule
from fakeservers.rules.wire import Wire

__all__ = [
    "Action",
    "Ending",
    "Event",
    "Fired",
    "Match",
    "Rule",
    "RuleBook",
    "RuleError",
    "RuleSet",
    "SessionRules",
    "Wire",
    "load_rules_file",
    "rule_from_data",
    "ruleset_from_data",
]

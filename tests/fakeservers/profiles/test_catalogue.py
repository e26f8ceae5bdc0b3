"""The profile catalogue: every file loads, mistakes are named, and nothing is overstated."""

from __future__ import annotations

import imaplib
import poplib
import smtplib

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles.catalogue import (
    ProfileError,
    implemented,
    load_profile,
    load_quirks,
    profile_from_data,
    profile_names,
    server_config,
    unimplemented,
)
from fakeservers.rules import ruleset_from_data

REQUIRED = {
    "default", "dovecot", "gmail", "outlook", "yahoo", "icloud", "fastmail", "yandex", "gmx",
    "proton-bridge",
}  # fmt: skip


def test_every_required_profile_is_bundled_and_cites_its_sources() -> None:
    assert set(profile_names()) >= REQUIRED
    assert profile_names()[0] == "default"
    for name in profile_names():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.description
        if name != "default":
            assert profile.sources, f"{name} cites no source"


def test_every_quirk_has_a_description_a_source_and_an_effect() -> None:
    for quirk in load_quirks().values():
        assert quirk.description and quirk.source, quirk.name
        assert quirk.rules or quirk.behaviours or quirk.settings, quirk.name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x"}, "description must be a string"),
        ({"name": "x", "description": "d", "imap": {"greetng": "hi"}}, "did you mean 'greeting'"),
        ({"name": "x", "description": "d", "quirks": ["nope"]}, "unknown quirk(s) ['nope']"),
        ({"name": "x", "description": "d", "limits": {"max_lines": 1}}, "did you mean 'max_line'"),
        (
            {"name": "x", "description": "d", "imap": {"capabilities": {"after": []}}},
            "unknown key 'after'",
        ),
        ({"name": "x", "description": "d", "rules": [{"event": "nope"}]}, "'event' must be"),
    ],
)
def test_profile_mistakes_are_named(data: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=None) as caught:
        profile_from_data(data, where="x.yaml")
    assert message in str(caught.value)
    assert "x.yaml" in str(caught.value)


def test_unknown_names_get_a_suggestion() -> None:
    with pytest.raises(ProfileError, match="did you mean 'gmail'"):
        load_profile("gmial")
    with pytest.raises(ProfileError, match="unknown quirk"):
        server_config("default", quirks=["nope"])


def test_a_config_collects_quirks_profile_rules_and_extra_rules() -> None:
    extra = ruleset_from_data({"seed": 4, "rules": [{"name": "mine", "event": "greeting"}]})
    config = server_config(
        "outlook", quirks=["repeated-bye"], rules=extra, limits={"max_line": 900}
    )
    names = list(config.rules.current.hits())
    assert names[-1] == "mine"
    assert "repeated-bye/1" in names and "bad-after-failed-login/1" in names
    assert config.rules.current.seed == 4
    assert config.limits.max_line == 900
    assert config.limits.max_message_size == 157286400  # the profile's own limit


def test_the_default_servers_advertise_only_what_is_implemented(mail_pki: TestPKI) -> None:
    """The implemented sets follow the servers: a live default server advertises nothing else."""
    with FakeMailServers(pki=mail_pki) as servers:
        context = servers.client_context()
        port = servers.endpoints["imaps"].port
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context) as imap:
            advertised = set(imap.capabilities)
            imap.login("alice@example.test", "alice-pass")
            advertised |= set(imap.capability()[1][0].decode().upper().split())
        assert advertised <= implemented("imap")
        pop = poplib.POP3_SSL("127.0.0.1", servers.endpoints["pop3s"].port, context=context)
        assert set(pop.capa()) - {"IMPLEMENTATION"} <= implemented("pop3")
        pop.quit()
        port = servers.endpoints["submissions"].port
        with smtplib.SMTP_SSL("127.0.0.1", port, context=context) as smtp:
            smtp.ehlo()
            keywords = {name.upper() for name in smtp.esmtp_features}
        assert keywords <= implemented("smtp")


def test_unimplemented_lists_what_a_profile_overstates() -> None:
    gmail = unimplemented(load_profile("gmail"))
    assert "XLIST" in gmail["imap"]
    assert "IDLE" not in gmail["imap"]
    assert unimplemented(load_profile("default")) == {"imap": [], "pop3": [], "smtp": []}

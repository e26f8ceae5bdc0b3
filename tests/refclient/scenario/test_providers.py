"""The provider catalogue: valid endpoints, credentials only from the environment.

No test here connects to a provider (the test machine has no Internet);
what is checked is what ``mailcompat run --target NAME`` would use.
"""

from __future__ import annotations

import pytest

from refclient.scenario.loader import load_text
from refclient.scenario.providers import PROVIDERS, provider_target, variable_prefix
from refclient.scenario.runner import _skip_reason
from refclient.urls import Security, ServerURL

EXPECTED = {
    "gmail",
    "outlook.com",
    "office365",
    "yahoo",
    "aol",
    "icloud",
    "fastmail",
    "gmx",
    "web.de",
    "zoho",
    "yandex",
    "mail.ru",
    "proton-bridge",
}


def test_the_catalogue_names_the_providers_with_valid_urls() -> None:
    assert set(PROVIDERS) == EXPECTED
    for provider in PROVIDERS.values():
        for endpoint, url in provider.urls.items():
            parsed = ServerURL.parse(url)
            assert parsed.security is not Security.INSECURE
            assert endpoint.startswith(parsed.protocol.replace("smtp", "submission"))
    assert ServerURL.parse(PROVIDERS["gmail"].urls["imaps"]).host == "imap.gmail.com"
    assert PROVIDERS["icloud"].login == "local-part"


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAILCOMPAT_OUTLOOK_COM_USER", raising=False)
    bare = provider_target("outlook.com")
    assert bare.accounts == ()
    scenario = load_text(
        "id: x\ntitle: y\nrequires: {accounts: 1}\nsteps:\n  - imap.noop: {}\n", file="s.yaml"
    )[0]
    reason = _skip_reason(scenario, bare)
    assert reason is not None and "MAILCOMPAT_OUTLOOK_COM_USER" in reason
    monkeypatch.setenv("MAILCOMPAT_OUTLOOK_COM_USER", "me@outlook.com")
    monkeypatch.setenv("MAILCOMPAT_OUTLOOK_COM_OAUTH2_TOKEN", "tok")
    (account,) = provider_target("outlook.com").accounts
    assert (account.user, account.token, account.password) == ("me@outlook.com", "tok", None)
    assert _skip_reason(scenario, provider_target("outlook.com")) is None


def test_variable_names() -> None:
    assert variable_prefix("web.de") == "MAILCOMPAT_WEB_DE"
    assert variable_prefix("proton-bridge") == "MAILCOMPAT_PROTON_BRIDGE"

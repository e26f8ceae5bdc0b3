"""The built-in provider catalogue: public endpoints of common mail providers.

Values come from the providers' published settings (Thunderbird's ISPDB and
the providers' help pages, as of 2026). ``mailcompat run --target gmail``
runs the scenarios against a provider; credentials come only from the
environment: ``MAILCOMPAT_<PROVIDER>_USER`` with ``MAILCOMPAT_<PROVIDER>_PASSWORD``
(an app password) or ``MAILCOMPAT_<PROVIDER>_OAUTH2_TOKEN``. Without them,
pre-login scenarios (greeting, capabilities, TLS, certificate) still run and
the others are skipped, naming the variables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from refclient.scenario.targets import Target, TargetAccount


@dataclass(frozen=True)
class Provider:
    """One provider's endpoints and how it wants to be logged in to."""

    name: str
    urls: dict[str, str]
    #: ``address`` (the full address) or ``local-part`` for the login name.
    login: str = "address"
    auth: str = "password or OAuth2"
    notes: str = ""


def _urls(imap: str | None, pop3: str | None, smtp: dict[str, str]) -> dict[str, str]:
    urls = dict(smtp)
    if imap:
        urls["imaps"] = f"imaps://{imap}:993"
    if pop3:
        urls["pop3s"] = f"pop3s://{pop3}:995"
    return urls


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "gmail",
            _urls(
                "imap.gmail.com",
                "pop.gmail.com",
                {
                    "submissions": "smtps://smtp.gmail.com:465",
                    "submission": "smtp://smtp.gmail.com:587",
                },
            ),
            auth="OAuth2 (scope https://mail.google.com/) or an app password",
        ),
        Provider(
            "outlook.com",
            _urls(
                "outlook.office365.com",
                "outlook.office365.com",
                {
                    "submission": "smtp://smtp-mail.outlook.com:587",
                },
            ),
            auth="OAuth2 only",
        ),
        Provider(
            "office365",
            _urls(
                "outlook.office365.com",
                "outlook.office365.com",
                {
                    "submission": "smtp://smtp.office365.com:587",
                },
            ),
            auth="OAuth2 (IMAP.AccessAsUser.All, POP.AccessAsUser.All, SMTP.Send)",
        ),
        Provider(
            "yahoo",
            _urls(
                "imap.mail.yahoo.com",
                "pop.mail.yahoo.com",
                {
                    "submissions": "smtps://smtp.mail.yahoo.com:465",
                },
            ),
            auth="OAuth2 or an app password",
        ),
        Provider(
            "aol",
            _urls("imap.aol.com", "pop.aol.com", {"submissions": "smtps://smtp.aol.com:465"}),
        ),
        Provider(
            "icloud",
            _urls("imap.mail.me.com", None, {"submission": "smtp://smtp.mail.me.com:587"}),
            login="local-part",
            auth="app-specific password",
            notes="IMAP logs in with the local part, SMTP with the full address",
        ),
        Provider(
            "fastmail",
            _urls(
                "imap.fastmail.com",
                "pop.fastmail.com",
                {
                    "submissions": "smtps://smtp.fastmail.com:465",
                },
            ),
            auth="OAuth2 or an app password",
        ),
        Provider(
            "gmx",
            _urls(
                "imap.gmx.net",
                "pop.gmx.net",
                {
                    "submissions": "smtps://mail.gmx.net:465",
                    "submission": "smtp://mail.gmx.net:587",
                },
            )
            | {"imap": "imap://imap.gmx.net:143", "pop3": "pop3://pop.gmx.net:110"},
            auth="password; IMAP/POP enabled in the web settings",
        ),
        Provider(
            "web.de",
            _urls(
                "imap.web.de",
                "pop3.web.de",
                {
                    "submissions": "smtps://smtp.web.de:465",
                    "submission": "smtp://smtp.web.de:587",
                },
            )
            | {"imap": "imap://imap.web.de:143", "pop3": "pop3://pop3.web.de:110"},
            login="local-part",
            auth="password",
        ),
        Provider(
            "zoho",
            _urls(
                "imap.zoho.com",
                "pop.zoho.com",
                {
                    "submissions": "smtps://smtp.zoho.com:465",
                    "submission": "smtp://smtp.zoho.com:587",
                },
            ),
            auth="password",
        ),
        Provider(
            "yandex",
            _urls(
                "imap.yandex.com",
                "pop.yandex.com",
                {
                    "submissions": "smtps://smtp.yandex.com:465",
                },
            ),
        ),
        Provider(
            "mail.ru",
            _urls(
                "imap.mail.ru",
                "pop.mail.ru",
                {
                    "submissions": "smtps://smtp.mail.ru:465",
                    "submission": "smtp://smtp.mail.ru:587",
                },
            )
            | {"imap": "imap://imap.mail.ru:143", "pop3": "pop3://pop.mail.ru:110"},
        ),
        Provider(
            "proton-bridge",
            {"imap": "imap://127.0.0.1:1143", "submission": "smtp://127.0.0.1:1025"},
            auth="the bridge password",
            notes="self-signed certificate: export it from the bridge and pass it as ca_file",
        ),
    )
}


def variable_prefix(name: str) -> str:
    """``MAILCOMPAT_OUTLOOK_COM`` for ``outlook.com``."""
    return "MAILCOMPAT_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def provider_target(name: str) -> Target:
    """The provider as a target, with an account when the environment provides one."""
    provider = PROVIDERS[name]
    prefix = variable_prefix(name)
    user = os.environ.get(f"{prefix}_USER")
    password = os.environ.get(f"{prefix}_PASSWORD") or None
    token = os.environ.get(f"{prefix}_OAUTH2_TOKEN") or None
    accounts: tuple[TargetAccount, ...] = ()
    if user and (password or token):
        address = os.environ.get(f"{prefix}_ADDRESS") or user
        accounts = (TargetAccount(user, address, password, token),)
    return Target(
        name=name,
        kind="server",
        urls=dict(provider.urls),
        ca_file=None,
        accounts=accounts,
        missing_accounts=f"{prefix}_USER and {prefix}_PASSWORD or {prefix}_OAUTH2_TOKEN",
    )

"""Every profile, read back by the standard library's clients exactly as the profile declares it.

For each bundled profile: the greeting and the capabilities before STARTTLS,
under TLS before login, and after login, over IMAP (imaplib), POP3 (poplib)
and SMTP (smtplib). The declared lists are compared as lists, in order.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
from collections.abc import Iterator

import pytest

from fakeservers.controller import FakeMailServers
from fakeservers.pki import TestPKI
from fakeservers.profiles import CapabilitySets, Profile
from fakeservers.profiles.catalogue import load_profile, profile_names, server_config
from fakeservers.store import DEFAULT_FOLDERS

ALICE = ("alice@example.test", "alice-pass")
DECLARING = [name for name in profile_names() if name != "default"]


@pytest.fixture(scope="module", params=DECLARING)
def emulated(request: pytest.FixtureRequest) -> Iterator[tuple[Profile, FakeMailServers]]:
    profile = load_profile(request.param)
    pki = TestPKI.create()
    with FakeMailServers(config=server_config(profile), pki=pki) as servers:
        yield profile, servers


def _derived_starttls(
    declared: CapabilitySets, credentials: tuple[str, ...], offer: list[str]
) -> list[str]:
    if declared.starttls is not None:
        return list(declared.starttls)
    kept = [
        c for c in declared.before_login if c.split(" ")[0].split("=")[0].upper() not in credentials
    ]
    return kept + offer


def _imap_capabilities(client: imaplib.IMAP4) -> list[str]:
    status, data = client.capability()
    assert status == "OK"
    return data[0].decode().split()


def test_imap_greeting_and_capabilities(emulated: tuple[Profile, FakeMailServers]) -> None:
    profile, servers = emulated
    declared = profile.imap.capabilities
    assert declared is not None
    context = servers.client_context()
    with imaplib.IMAP4_SSL("127.0.0.1", servers.endpoints["imaps"].port, ssl_context=context) as c:
        welcome = c.welcome.decode()
        greeting = (profile.imap.greeting or "").replace("{peer}", "127.0.0.1")
        if profile.imap.greeting_capabilities:
            assert welcome == f"* OK [CAPABILITY {' '.join(declared.before_login)}] {greeting}"
        else:
            assert welcome == f"* OK {greeting}"
        assert _imap_capabilities(c) == list(declared.before_login)
        c.login(*ALICE)
        assert _imap_capabilities(c) == list(declared.after_login)
    with imaplib.IMAP4("127.0.0.1", servers.endpoints["imap"].port) as c:
        expected = _derived_starttls(declared, ("AUTH",), ["STARTTLS", "LOGINDISABLED"])
        assert _imap_capabilities(c) == expected
        c.starttls(context)
        assert _imap_capabilities(c) == list(declared.before_login)


def test_imap_folders_carry_their_special_use(emulated: tuple[Profile, FakeMailServers]) -> None:
    profile, servers = emulated
    folders = profile.imap.folders or DEFAULT_FOLDERS
    context = servers.client_context()
    with imaplib.IMAP4_SSL("127.0.0.1", servers.endpoints["imaps"].port, ssl_context=context) as c:
        c.login(*ALICE)
        status, listed = c.list()
    assert status == "OK"
    lines = [item.decode() for item in listed if isinstance(item, bytes)]
    for name, special_use in folders:
        if special_use is not None and name.isascii():  # others are in modified UTF-7
            assert any(special_use in line and name in line for line in lines), (name, lines)
    assert len(listed) == len(folders)


def test_pop3_greeting_and_capabilities(emulated: tuple[Profile, FakeMailServers]) -> None:
    profile, servers = emulated
    declared = profile.pop3.capabilities
    if declared is None:
        pytest.skip(f"{profile.name} has no POP3 service (the profile declares none)")
    context = servers.client_context()
    client = poplib.POP3_SSL("127.0.0.1", servers.endpoints["pop3s"].port, context=context)
    assert client.getwelcome().decode() == f"+OK {profile.pop3.greeting}"
    assert _capa(client) == _as_capa(list(declared.before_login))
    client.user(ALICE[0])
    client.pass_(ALICE[1])
    assert _capa(client) == _as_capa(list(declared.after_login))
    client.quit()
    clear = poplib.POP3("127.0.0.1", servers.endpoints["pop3"].port)
    assert _capa(clear) == _as_capa(_derived_starttls(declared, ("USER", "SASL"), ["STLS"]))
    clear.stls(context)
    assert _capa(clear) == _as_capa(list(declared.before_login))
    clear.quit()


def _capa(client: poplib.POP3) -> dict[str, list[str]]:
    return client.capa()


def _as_capa(lines: list[str]) -> dict[str, list[str]]:
    """A declared list the way poplib's capa() reports it (name -> arguments)."""
    return {line.split()[0]: line.split()[1:] for line in lines}


def _ehlo_keywords(banner: bytes) -> list[str]:
    return banner.decode().split("\n")[1:]


def test_smtp_greeting_and_ehlo(emulated: tuple[Profile, FakeMailServers]) -> None:
    profile, servers = emulated
    declared = profile.smtp.capabilities
    assert declared is not None
    context = servers.client_context()
    port = servers.endpoints["submission"].port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        greeting = raw.makefile("rb").readline()
    assert greeting.decode() == f"220 localhost {profile.smtp.greeting}\r\n"
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        code, banner = smtp.ehlo()
        assert code == 250
        assert _ehlo_keywords(banner) == _derived_starttls(declared, ("AUTH",), ["STARTTLS"])
        smtp.starttls(context=context)
        code, banner = smtp.ehlo()
        assert _ehlo_keywords(banner) == list(declared.before_login)
    with smtplib.SMTP_SSL(
        "127.0.0.1", servers.endpoints["submissions"].port, context=context
    ) as smtp:
        assert _ehlo_keywords(smtp.ehlo()[1]) == list(declared.before_login)
        assert smtp.login(*ALICE)[0] == 235

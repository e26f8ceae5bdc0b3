"""Server-side SASL: each mechanism against a client side computed here with the stdlib."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.sasl import (
    MECHANISMS,
    Accepted,
    Challenge,
    Rejected,
    ServerExchange,
    UnknownMechanism,
    start_exchange,
)
from fakeservers.store import MailStore

USER = "alice@example.test"
PASSWORD = "alice-pass"
TOKEN = "ya29.alice-token"


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    store.add_account(USER, PASSWORD).tokens.add(TOKEN)
    store.add_account("bob@example.test", "bob-pass")
    return store


def begin(store: MailStore, mechanism: str) -> ServerExchange:
    return start_exchange(mechanism, store, hostname="mail.example.test")


def accepted_user(step: object) -> str:
    assert isinstance(step, Accepted), step
    return step.account.user


# -- registry -----------------------------------------------------------------------


def test_every_advertised_mechanism_starts_case_insensitively(store: MailStore) -> None:
    for name in MECHANISMS:
        assert begin(store, name.lower()).mechanism == name


def test_unknown_mechanism_is_refused(store: MailStore) -> None:
    with pytest.raises(UnknownMechanism):
        begin(store, "GSSAPI")


def test_exchange_is_never_reused(store: MailStore) -> None:
    exchange = begin(store, "PLAIN")
    assert isinstance(exchange.step(f"\0{USER}\0{PASSWORD}".encode()), Accepted)
    assert isinstance(exchange.outcome, Accepted)
    assert isinstance(exchange.step(f"\0{USER}\0{PASSWORD}".encode()), Rejected)


# -- PLAIN ----------------------------------------------------------------------------


def test_plain_with_initial_response(store: MailStore) -> None:
    assert accepted_user(begin(store, "PLAIN").step(f"\0{USER}\0{PASSWORD}".encode())) == USER


def test_plain_without_initial_response_gets_empty_challenge(store: MailStore) -> None:
    exchange = begin(store, "PLAIN")
    assert exchange.step(None) == Challenge(b"")
    assert accepted_user(exchange.step(f"{USER}\0{USER}\0{PASSWORD}".encode())) == USER


@pytest.mark.parametrize(
    "message",
    [
        f"\0{USER}\0wrong".encode(),
        f"\0nobody@example.test\0{PASSWORD}".encode(),
        f"bob@example.test\0{USER}\0{PASSWORD}".encode(),  # authzid differs
        f"{USER}\0{PASSWORD}".encode(),  # one NUL only
        f"\0{USER}\0{PASSWORD}\0".encode(),  # too many
        b"\0" + USER.encode() + b"\0\xff\xfe",  # not UTF-8
        b"",
    ],
)
def test_plain_rejects_bad_messages(store: MailStore, message: bytes) -> None:
    assert isinstance(begin(store, "PLAIN").step(message), Rejected)


# -- LOGIN ----------------------------------------------------------------------------


def test_login_asks_username_then_password(store: MailStore) -> None:
    exchange = begin(store, "LOGIN")
    assert exchange.step(None) == Challenge(b"Username:")
    assert exchange.step(USER.encode()) == Challenge(b"Password:")
    assert accepted_user(exchange.step(PASSWORD.encode())) == USER


def test_login_initial_response_is_the_username(store: MailStore) -> None:
    exchange = begin(store, "LOGIN")
    assert exchange.step(USER.encode()) == Challenge(b"Password:")
    assert accepted_user(exchange.step(PASSWORD.encode())) == USER


def test_login_wrong_password(store: MailStore) -> None:
    exchange = begin(store, "LOGIN")
    exchange.step(USER.encode())
    assert isinstance(exchange.step(b"bob-pass"), Rejected)


# -- CRAM-MD5 ---------------------------------------------------------------------------


def cram_response(challenge: bytes, user: str, password: str) -> bytes:
    digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
    return f"{user} {digest}".encode()


def test_cram_md5_challenge_and_digest(store: MailStore) -> None:
    exchange = begin(store, "CRAM-MD5")
    challenge = exchange.step(None)
    assert isinstance(challenge, Challenge)
    assert challenge.data.startswith(b"<") and challenge.data.endswith(b"@mail.example.test>")
    assert accepted_user(exchange.step(cram_response(challenge.data, USER, PASSWORD))) == USER


def test_cram_md5_challenges_differ(store: MailStore) -> None:
    assert begin(store, "CRAM-MD5").step(None) != begin(store, "CRAM-MD5").step(None)


@pytest.mark.parametrize(("user", "password"), [(USER, "wrong"), ("nobody@example.test", PASSWORD)])
def test_cram_md5_wrong_credentials(store: MailStore, user: str, password: str) -> None:
    exchange = begin(store, "CRAM-MD5")
    challenge = exchange.step(None)
    assert isinstance(challenge, Challenge)
    assert isinstance(exchange.step(cram_response(challenge.data, user, password)), Rejected)


def test_cram_md5_replayed_response_fails(store: MailStore) -> None:
    first = begin(store, "CRAM-MD5")
    challenge = first.step(None)
    assert isinstance(challenge, Challenge)
    response = cram_response(challenge.data, USER, PASSWORD)
    second = begin(store, "CRAM-MD5")
    second.step(None)
    assert isinstance(second.step(response), Rejected)


def test_cram_md5_refuses_initial_response(store: MailStore) -> None:
    assert isinstance(begin(store, "CRAM-MD5").step(b"alice"), Rejected)


# -- SCRAM ------------------------------------------------------------------------------


class ScramClient:
    """The client side of RFC 5802, written from the RFC independently of the server."""

    def __init__(self, digest: str, *, user: str, password: str, gs2: str = "n,,") -> None:
        self.digest = digest
        self.password = password
        self.gs2 = gs2
        self.bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r=clientNONCE123"

    def first(self) -> bytes:
        return (self.gs2 + self.bare).encode()

    def final(self, server_first: bytes) -> bytes:
        fields = dict(item.split("=", 1) for item in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(
            self.digest, self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
        )
        channel = base64.b64encode(self.gs2.encode()).decode()
        without_proof = f"c={channel},r={fields['r']}"
        self.auth_message = f"{self.bare},{server_first.decode()},{without_proof}".encode()
        client_key = hmac.digest(salted, b"Client Key", self.digest)
        stored_key = hashlib.new(self.digest, client_key).digest()
        signature = hmac.digest(stored_key, self.auth_message, self.digest)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.server_key = hmac.digest(salted, b"Server Key", self.digest)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def expected_server_final(self) -> bytes:
        return b"v=" + base64.b64encode(
            hmac.digest(self.server_key, self.auth_message, self.digest)
        )


SCRAMS = [("SCRAM-SHA-1", "sha1"), ("SCRAM-SHA-256", "sha256")]


@pytest.mark.parametrize(("mechanism", "digest"), SCRAMS)
def test_scram_full_exchange_and_server_signature(
    store: MailStore, mechanism: str, digest: str
) -> None:
    client = ScramClient(digest, user=USER, password=PASSWORD)
    exchange = begin(store, mechanism)
    server_first = exchange.step(client.first())
    assert isinstance(server_first, Challenge)
    assert server_first.data.startswith(b"r=clientNONCE123")
    assert server_first.data.endswith(b",i=4096")
    result = exchange.step(client.final(server_first.data))
    assert isinstance(result, Accepted) and result.account.user == USER
    assert result.data == client.expected_server_final()


@pytest.mark.parametrize(("mechanism", "digest"), SCRAMS)
def test_scram_without_initial_response(store: MailStore, mechanism: str, digest: str) -> None:
    client = ScramClient(digest, user=USER, password=PASSWORD)
    exchange = begin(store, mechanism)
    assert exchange.step(None) == Challenge(b"")
    server_first = exchange.step(client.first())
    assert isinstance(server_first, Challenge)
    assert isinstance(exchange.step(client.final(server_first.data)), Accepted)


@pytest.mark.parametrize(("mechanism", "digest"), SCRAMS)
@pytest.mark.parametrize(("user", "password"), [(USER, "wrong"), ("nobody@x.test", "pw")])
def test_scram_wrong_credentials(
    store: MailStore, mechanism: str, digest: str, user: str, password: str
) -> None:
    client = ScramClient(digest, user=user, password=password)
    exchange = begin(store, mechanism)
    server_first = exchange.step(client.first())
    # An unknown user gets a normal-looking server-first message too.
    assert isinstance(server_first, Challenge)
    assert isinstance(exchange.step(client.final(server_first.data)), Rejected)


def test_scram_replayed_client_final_fails(store: MailStore) -> None:
    client = ScramClient("sha256", user=USER, password=PASSWORD)
    first = begin(store, "SCRAM-SHA-256")
    server_first = first.step(client.first())
    assert isinstance(server_first, Challenge)
    replay = client.final(server_first.data)
    second = begin(store, "SCRAM-SHA-256")
    second.step(client.first())
    result = second.step(replay)
    assert isinstance(result, Rejected) and "nonce" in result.reason


def test_scram_mismatched_channel_binding_data_fails(store: MailStore) -> None:
    client = ScramClient("sha256", user=USER, password=PASSWORD)
    exchange = begin(store, "SCRAM-SHA-256")
    server_first = exchange.step(client.first())
    assert isinstance(server_first, Challenge)
    final = client.final(server_first.data).replace(b"c=biws", b"c=eSws")
    assert isinstance(exchange.step(final), Rejected)


def test_scram_y_flag_is_accepted_since_no_plus_variant_is_offered(store: MailStore) -> None:
    client = ScramClient("sha256", user=USER, password=PASSWORD, gs2="y,,")
    exchange = begin(store, "SCRAM-SHA-256")
    server_first = exchange.step(client.first())
    assert isinstance(server_first, Challenge)
    assert isinstance(exchange.step(client.final(server_first.data)), Accepted)


@pytest.mark.parametrize(
    "first",
    [
        b"p=tls-unique,,n=alice@example.test,r=abc",  # channel binding asked
        b"n,,m=ext,n=alice@example.test,r=abc",  # mandatory extension
        b"n,,r=abc,n=alice@example.test",  # wrong order
        b"n,,n=al=ice,r=abc",  # bad saslname escape
        b"n,,n=alice@example.test,r=",  # empty nonce
        "n,,n=alice@example.test,r=caf\u00e9".encode(),  # nonce not printable ASCII
        b"n,a=bob@example.test,n=alice@example.test,r=abc",  # authzid of another user
        b"x,,n=alice@example.test,r=abc",
        b"n=alice@example.test,r=abc",  # no GS2 header
    ],
)
def test_scram_rejects_bad_client_first(store: MailStore, first: bytes) -> None:
    exchange = begin(store, "SCRAM-SHA-256")
    step = exchange.step(first)
    if isinstance(step, Challenge):  # refused only at the end (no user enumeration)
        client = ScramClient("sha256", user=USER, password=PASSWORD)
        client.bare = first.decode().split(",", 2)[2]
        client.gs2 = first.decode()[: -len(client.bare)]
        step = exchange.step(client.final(step.data))
    assert isinstance(step, Rejected)


def test_scram_channel_binding_reason_is_clear(store: MailStore) -> None:
    step = begin(store, "SCRAM-SHA-1").step(b"p=tls-unique,,n=alice@example.test,r=abc")
    assert isinstance(step, Rejected) and "channel binding" in step.reason


# -- XOAUTH2 / OAUTHBEARER --------------------------------------------------------------


def xoauth2(user: str, token: str) -> bytes:
    return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()


def test_xoauth2_valid_token(store: MailStore) -> None:
    assert accepted_user(begin(store, "XOAUTH2").step(xoauth2(USER, TOKEN))) == USER


def test_xoauth2_bad_token_gives_gmail_error_json(store: MailStore) -> None:
    step = begin(store, "XOAUTH2").step(xoauth2(USER, "expired"))
    assert isinstance(step, Rejected) and step.data is not None
    assert json.loads(step.data) == {
        "status": "400",
        "schemes": "Bearer",
        "scope": "https://mail.google.com/",
    }


def test_xoauth2_password_is_not_a_token(store: MailStore) -> None:
    assert isinstance(begin(store, "XOAUTH2").step(xoauth2(USER, PASSWORD)), Rejected)


@pytest.mark.parametrize(
    "message",
    [
        f"user={USER}\x01auth=Bearer {TOKEN}\x01".encode(),  # one ^A at the end
        f"user={USER}\x01auth=Basic {TOKEN}\x01\x01".encode(),
        f"auth=Bearer {TOKEN}\x01\x01".encode(),
    ],
)
def test_xoauth2_malformed(store: MailStore, message: bytes) -> None:
    assert isinstance(begin(store, "XOAUTH2").step(message), Rejected)


def oauthbearer(authzid: str, token: str) -> bytes:
    header = f"n,a={authzid}," if authzid else "n,,"
    return f"{header}\x01host=localhost\x01port=993\x01auth=Bearer {token}\x01\x01".encode()


@pytest.mark.parametrize("authzid", [USER, ""])
def test_oauthbearer_valid_token(store: MailStore, authzid: str) -> None:
    assert accepted_user(begin(store, "OAUTHBEARER").step(oauthbearer(authzid, TOKEN))) == USER


def test_oauthbearer_bad_token_gives_rfc7628_error(store: MailStore) -> None:
    step = begin(store, "OAUTHBEARER").step(oauthbearer(USER, "nope"))
    assert isinstance(step, Rejected) and step.data is not None
    assert json.loads(step.data)["status"] == "invalid_token"


def test_oauthbearer_token_of_another_user_fails(store: MailStore) -> None:
    assert isinstance(
        begin(store, "OAUTHBEARER").step(oauthbearer("bob@example.test", TOKEN)), Rejected
    )


@pytest.mark.parametrize(
    "message",
    [
        b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
        b"n,,auth=Bearer t\x01\x01",  # no kvsep after the header
        b"n,,\x01host=x\x01\x01",  # no auth
        b"n,user,\x01auth=Bearer t\x01\x01",
    ],
)
def test_oauthbearer_malformed(store: MailStore, message: bytes) -> None:
    step = begin(store, "OAUTHBEARER").step(message)
    assert isinstance(step, Rejected) and step.data is None


# -- robustness -------------------------------------------------------------------------


@pytest.mark.parametrize("mechanism", MECHANISMS)
@given(responses=st.lists(st.one_of(st.none(), st.binary(max_size=200)), min_size=1, max_size=4))
def test_arbitrary_input_never_raises(mechanism: str, responses: list[bytes | None]) -> None:
    store = MailStore()
    store.add_account(USER, PASSWORD).tokens.add(TOKEN)
    exchange = start_exchange(mechanism, store, hostname="h")
    for response in responses:
        step = exchange.step(response)
        assert isinstance(step, Challenge | Rejected)

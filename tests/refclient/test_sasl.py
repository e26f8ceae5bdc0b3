"""Client SASL mechanisms: RFC test vectors, the fake servers' side, hostile challenges."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fakeservers.sasl import Accepted, Challenge, Rejected, start_exchange
from fakeservers.store import MailStore
from refclient.credentials import Credentials
from refclient.sasl import (
    MAX_SCRAM_ITERATIONS,
    ClientMechanism,
    CramMD5,
    Login,
    NoSuitableMechanism,
    OAuthBearer,
    Plain,
    SaslError,
    Scram,
    XOAuth2,
    choose_mechanism,
    create_mechanism,
    salted_password,
    saslprep,
)

USER = "alice@example.test"
PASSWORD = "alice-pass"
TOKEN = "ya29.token-for-alice"

ALL_MECHANISMS = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "XOAUTH2",
    "OAUTHBEARER",
)


# -- RFC test vectors -------------------------------------------------------------------


def test_scram_sha1_rfc5802_section5_exchange() -> None:
    mechanism = Scram("SCRAM-SHA-1", "user", "pencil", client_nonce="fyko+d2lbbFgONRv9qkxdawL")
    assert mechanism.initial_response() == b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
    final = mechanism.respond(
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
    )
    assert final == (
        b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
    )
    mechanism.finish(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")


RFC7677_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC7677_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _rfc7677() -> Scram:
    return Scram("SCRAM-SHA-256", "user", "pencil", client_nonce="rOprNGfwEbeRWgbNEkqO")


def test_scram_sha256_rfc7677_section3_exchange() -> None:
    mechanism = _rfc7677()
    assert mechanism.initial_response() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert mechanism.respond(RFC7677_FIRST) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    # The server-final message as a challenge (IMAP/SMTP style), then success.
    assert mechanism.respond(RFC7677_FINAL) == b""
    mechanism.finish(None)


def test_salted_password_is_pbkdf2_and_the_same_when_asked_again() -> None:
    expected = hashlib.pbkdf2_hmac("sha256", b"pencil", b"salt-1", 4096)
    assert salted_password("sha256", b"pencil", b"salt-1", 4096) == expected
    assert salted_password("sha256", b"pencil", b"salt-1", 4096) == expected  # remembered


@pytest.mark.parametrize(
    ("digest", "password", "salt", "iterations"),
    [
        ("sha256", b"pencil!", b"salt-1", 4096),
        ("sha256", b"pencil", b"salt-2", 4096),
        ("sha256", b"pencil", b"salt-1", 4097),
        ("sha1", b"pencil", b"salt-1", 4096),
    ],
)
def test_salted_password_is_not_served_for_other_inputs(
    digest: str, password: bytes, salt: bytes, iterations: int
) -> None:
    salted_password("sha256", b"pencil", b"salt-1", 4096)  # remembered first
    assert salted_password(digest, password, salt, iterations) == hashlib.pbkdf2_hmac(
        digest, password, salt, iterations
    )


def test_salted_password_cache_stays_small() -> None:
    for number in range(100):
        salt = number.to_bytes(2, "big")
        assert salted_password("sha1", b"pw", salt, 2) == hashlib.pbkdf2_hmac(
            "sha1", b"pw", salt, 2
        )
    from refclient import sasl  # noqa: PLC0415  (the cache itself, to bound its size)

    assert len(sasl._SALTED) <= sasl._SALTED_MAX


def test_scram_wrong_server_signature_is_refused() -> None:
    mechanism = _rfc7677()
    mechanism.respond(RFC7677_FIRST)
    forged = b"v=" + base64.b64encode(b"\x00" * 32)
    with pytest.raises(SaslError, match="wrong server signature"):
        mechanism.finish(forged)


def test_scram_success_without_server_signature_is_refused() -> None:
    mechanism = _rfc7677()
    mechanism.respond(RFC7677_FIRST)
    with pytest.raises(SaslError, match="without proving"):
        mechanism.finish(None)


def test_scram_server_error_is_kept() -> None:
    mechanism = _rfc7677()
    mechanism.respond(RFC7677_FIRST)
    with pytest.raises(SaslError, match="invalid-proof"):
        mechanism.respond(b"e=invalid-proof")
    assert mechanism.error_detail == "invalid-proof"


@pytest.mark.parametrize(
    ("server_first", "message"),
    [
        (b"r=someoneelse123,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),
        (b"r=rOprNGfwEbeRWgbNEkqO,s=QSXCR+Q6sek8bf92,i=4096", "nonce"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=not*base64,i=4096", "base64"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92,i=0", "iteration"),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92,i=-5", "iteration"),
        (
            f"r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92,i={MAX_SCRAM_ITERATIONS + 1}".encode(),
            "iteration",
        ),
        (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92", "lacks"),
        (b"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=QSXCR+Q6sek8bf92,i=4096", "extension"),
        (b"garbage", "attr=value"),
        (b"r=\xff\xfe", "UTF-8"),
    ],
)
def test_scram_malformed_server_first_is_refused(server_first: bytes, message: str) -> None:
    with pytest.raises(SaslError, match=message):
        _rfc7677().respond(server_first)


def test_cram_md5_rfc2195_example() -> None:
    mechanism = CramMD5("tim", "tanstaaftanstaaf")
    assert mechanism.initial_response() is None
    answer = mechanism.respond(b"<1896.697170952@postoffice.reston.mci.net>")
    assert answer == b"tim b913a602c7eda7a495b4e6e7334d3890"
    mechanism.finish(None)


def test_cram_md5_refuses_empty_and_repeated_challenges() -> None:
    with pytest.raises(SaslError, match="empty"):
        CramMD5("tim", "x").respond(b"")
    mechanism = CramMD5("tim", "x")
    mechanism.respond(b"<1@host>")
    with pytest.raises(SaslError, match="more than one"):
        mechanism.respond(b"<2@host>")
    with pytest.raises(SaslError, match="without a challenge"):
        CramMD5("tim", "x").finish(None)


def test_plain_rfc4616_message_and_empty_challenge() -> None:
    mechanism = Plain("tim", "tanstaaftanstaaf")
    assert mechanism.initial_response() == b"\x00tim\x00tanstaaftanstaaf"
    # A server without initial responses asks with an empty challenge.
    assert mechanism.respond(b"") == b"\x00tim\x00tanstaaftanstaaf"
    with pytest.raises(SaslError, match="unexpected challenge"):
        mechanism.respond(b"")


def test_plain_refuses_nul_and_nonempty_challenge() -> None:
    with pytest.raises(SaslError, match="NUL"):
        Plain("tim\x00x", "pw")
    with pytest.raises(SaslError, match="unexpected challenge"):
        Plain("tim", "pw").respond(b"what?")


def test_login_answers_in_order_and_refuses_a_third_challenge() -> None:
    mechanism = Login("tim", "secret")
    assert mechanism.initial_response() is None
    assert mechanism.respond(b"Username:") == b"tim"
    with pytest.raises(SaslError, match="before asking for the password"):
        Login("tim", "secret").finish(None)
    assert mechanism.respond(b"Password:") == b"secret"
    mechanism.finish(None)
    with pytest.raises(SaslError, match="more than two"):
        mechanism.respond(b"Again:")


def test_xoauth2_message_and_gmail_error_continuation() -> None:
    mechanism = XOAuth2("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")
    # Google's documented example of the initial client response.
    assert mechanism.initial_response() == (
        b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
        b"\x01\x01"
    )
    error = {"status": "401", "schemes": "bearer mac", "scope": "https://mail.google.com/"}
    assert mechanism.error_detail is None
    assert mechanism.respond(json.dumps(error).encode()) == b""
    assert mechanism.error_detail is not None
    assert json.loads(mechanism.error_detail) == error


def test_oauthbearer_rfc7628_message_and_error_answer() -> None:
    mechanism = OAuthBearer("user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==")
    assert mechanism.initial_response() == (
        b"n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
    )
    # RFC 7628 section 3.2.3: the client answers the error JSON with a single ^A.
    assert mechanism.respond(b'{"status":"invalid_token"}') == b"\x01"
    assert mechanism.error_detail == '{"status":"invalid_token"}'


def test_oauth_user_with_separator_is_refused() -> None:
    with pytest.raises(SaslError, match=r"\^A"):
        XOAuth2("a\x01b", "tok")
    with pytest.raises(SaslError, match=r"\^A"):
        OAuthBearer("ab", "t\x01ok")


def test_gs2_user_name_is_escaped() -> None:
    assert (
        OAuthBearer("a=b,c", "t").initial_response() == b"n,a=a=3Db=2Cc,\x01auth=Bearer t\x01\x01"
    )
    scram = Scram("SCRAM-SHA-1", "a=b,c", "p", client_nonce="abc")
    assert scram.initial_response() == b"n,,n=a=3Db=2Cc,r=abc"


# -- SASLprep ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("I\u00adX", "IX"),  # RFC 4013 section 3, example 1: soft hyphen mapped to nothing
        ("user", "user"),
        ("\u00aa", "a"),  # NFKC
        ("\u2168", "IX"),  # NFKC
        ("a\u00a0b", "a b"),  # non-ASCII space mapped to SPACE
    ],
)
def test_saslprep_maps_and_normalises(given: str, expected: str) -> None:
    assert saslprep(given) == expected


@pytest.mark.parametrize("given", ["\u0007", "a\x00b", "\u0627\u0031"])
def test_saslprep_refuses_prohibited_and_bad_bidi(given: str) -> None:
    with pytest.raises(SaslError, match="SASLprep"):
        saslprep(given)


def test_scram_uses_saslprep_on_the_password() -> None:
    """'I<soft hyphen>X' and 'IX' are the same SCRAM password."""
    server_first = b"r=abcdef,s=QSXCR+Q6sek8bf92,i=4096"
    one = Scram("SCRAM-SHA-1", "u", "I\u00adX", client_nonce="abc").respond(server_first)
    two = Scram("SCRAM-SHA-1", "u", "IX", client_nonce="abc").respond(server_first)
    three = Scram("SCRAM-SHA-1", "u", "IY", client_nonce="abc").respond(server_first)
    assert one == two != three


# -- against the fake servers' side --------------------------------------------------


@pytest.fixture
def store() -> MailStore:
    store = MailStore()
    account = store.add_account(USER, PASSWORD)
    account.tokens.add(TOKEN)
    return store


def _exchange(mechanism: ClientMechanism, store: MailStore) -> Accepted | Rejected:
    """Run ``mechanism`` against the fake servers' SASL as a protocol layer would."""
    server = start_exchange(mechanism.name, store, hostname="mail.example.test")
    step = server.step(mechanism.initial_response())
    for _ in range(5):
        if isinstance(step, Challenge):
            step = server.step(mechanism.respond(step.data))
            continue
        if isinstance(step, Accepted):
            if step.data is not None:  # additional data delivered as a challenge
                assert mechanism.respond(step.data) == b""
            mechanism.finish(None)
        elif step.data is not None:  # error challenge before the failure
            mechanism.respond(step.data)
        return step
    raise AssertionError("exchange did not end")


@pytest.mark.parametrize("name", ALL_MECHANISMS)
def test_every_mechanism_is_accepted_by_the_fake_server(name: str, store: MailStore) -> None:
    credentials = Credentials(user=USER, password=PASSWORD, oauth2_token=TOKEN)
    outcome = _exchange(create_mechanism(name, credentials), store)
    assert isinstance(outcome, Accepted), outcome
    assert outcome.account.user == USER


@pytest.mark.parametrize("name", ALL_MECHANISMS)
def test_every_mechanism_is_rejected_with_wrong_secrets(name: str, store: MailStore) -> None:
    credentials = Credentials(user=USER, password="wrong-pass", oauth2_token="wrong-token")
    mechanism = create_mechanism(name, credentials)
    outcome = _exchange(mechanism, store)
    assert isinstance(outcome, Rejected)
    if name in ("XOAUTH2", "OAUTHBEARER"):
        assert mechanism.error_detail is not None
        assert "status" in json.loads(mechanism.error_detail)


def test_scram_detects_a_server_not_knowing_the_password(store: MailStore) -> None:
    """A server that accepts anything cannot produce the right signature (mutual auth)."""
    mechanism = Scram("SCRAM-SHA-256", USER, PASSWORD)
    initial = mechanism.initial_response()
    assert initial is not None
    nonce = initial.decode().split("r=")[1] + "server"
    mechanism.respond(f"r={nonce},s={base64.b64encode(b'salt').decode()},i=4096".encode())
    salted = hashlib.pbkdf2_hmac("sha256", b"guess", b"salt", 4096)
    fake = hmac.digest(hmac.digest(salted, b"Server Key", "sha256"), b"anything", "sha256")
    with pytest.raises(SaslError, match="wrong server signature"):
        mechanism.respond(b"v=" + base64.b64encode(fake))


# -- choice -----------------------------------------------------------------------


PASSWORD_ONLY = Credentials(user=USER, password=PASSWORD)
TOKEN_ONLY = Credentials(user=USER, oauth2_token=TOKEN)


@pytest.mark.parametrize(
    ("offered", "credentials", "tls", "expected"),
    [
        (ALL_MECHANISMS, PASSWORD_ONLY, True, "SCRAM-SHA-256"),
        (("PLAIN", "SCRAM-SHA-1", "CRAM-MD5"), PASSWORD_ONLY, True, "SCRAM-SHA-1"),
        (("LOGIN", "PLAIN", "CRAM-MD5"), PASSWORD_ONLY, False, "CRAM-MD5"),
        (("LOGIN", "PLAIN"), PASSWORD_ONLY, True, "PLAIN"),
        (("login",), PASSWORD_ONLY, True, "LOGIN"),
        (ALL_MECHANISMS, TOKEN_ONLY, True, "OAUTHBEARER"),
        (("PLAIN", "XOAUTH2"), TOKEN_ONLY, True, "XOAUTH2"),
        (
            ("PLAIN", "XOAUTH2"),
            Credentials(user=USER, password="p", oauth2_token="t"),
            True,
            "XOAUTH2",
        ),
    ],
)
def test_choose_the_strongest_allowed(
    offered: tuple[str, ...], credentials: Credentials, tls: bool, expected: str
) -> None:
    assert choose_mechanism(offered, credentials, tls=tls).name == expected


@pytest.mark.parametrize(
    ("offered", "credentials", "tls"),
    [
        (("PLAIN", "LOGIN"), PASSWORD_ONLY, False),  # clear text would reveal the password
        (("XOAUTH2", "OAUTHBEARER"), PASSWORD_ONLY, True),
        (("PLAIN", "SCRAM-SHA-256"), TOKEN_ONLY, True),
        ((), PASSWORD_ONLY, True),
        (("GSSAPI", "SCRAM-SHA-256-PLUS"), PASSWORD_ONLY, True),
    ],
)
def test_choose_refuses_when_nothing_fits(
    offered: tuple[str, ...], credentials: Credentials, tls: bool
) -> None:
    with pytest.raises(NoSuitableMechanism, match="offered"):
        choose_mechanism(offered, credentials, tls=tls)


def test_forced_mechanism_is_used_when_offered() -> None:
    chosen = choose_mechanism(("PLAIN", "SCRAM-SHA-256"), PASSWORD_ONLY, forced="plain", tls=True)
    assert chosen.name == "PLAIN"


@pytest.mark.parametrize(
    ("forced", "tls", "message"),
    [
        ("CRAM-MD5", True, r"not offered \(offered: PLAIN SCRAM-SHA-256\)"),
        ("PLAIN", False, "clear text"),
        ("XOAUTH2", True, "not offered"),
    ],
)
def test_forced_mechanism_refused(forced: str, tls: bool, message: str) -> None:
    with pytest.raises(NoSuitableMechanism, match=message):
        choose_mechanism(("PLAIN", "SCRAM-SHA-256"), PASSWORD_ONLY, forced=forced, tls=tls)


def test_forced_mechanism_needs_the_right_credential() -> None:
    with pytest.raises(NoSuitableMechanism, match="needs an OAuth2 token"):
        choose_mechanism(("XOAUTH2",), PASSWORD_ONLY, forced="XOAUTH2", tls=True)
    with pytest.raises(NoSuitableMechanism, match="unknown SASL mechanism"):
        create_mechanism("GSSAPI", PASSWORD_ONLY)


# -- hostile challenges ----------------------------------------------------------------


@given(
    name=st.sampled_from(ALL_MECHANISMS), challenges=st.lists(st.binary(max_size=200), max_size=4)
)
def test_arbitrary_challenges_raise_only_sasl_error(name: str, challenges: list[bytes]) -> None:
    credentials = Credentials(user=USER, password=PASSWORD, oauth2_token=TOKEN)
    mechanism = create_mechanism(name, credentials)
    try:
        for challenge in challenges:
            mechanism.respond(challenge)
        mechanism.finish(None)
    except SaslError:
        pass


@given(
    nonce_suffix=st.text(alphabet="abcdefghijklmnop0123456789+/", min_size=1, max_size=20),
    salt=st.binary(min_size=1, max_size=32),
    final=st.binary(max_size=80),
)
def test_arbitrary_scram_server_final_raises_only_sasl_error(
    nonce_suffix: str, salt: bytes, final: bytes
) -> None:
    mechanism = Scram("SCRAM-SHA-1", "u", "p", client_nonce="abc")
    server_first = f"r=abc{nonce_suffix},s={base64.b64encode(salt).decode()},i=1".encode()
    mechanism.respond(server_first)
    with pytest.raises(SaslError):
        mechanism.finish(final)

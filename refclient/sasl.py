"""Client-side SASL mechanisms (RFC 4422) and the choice among those a server offers.

A mechanism only turns decoded challenges into decoded responses; the
protocol layer (IMAP AUTHENTICATE, POP3 AUTH, SMTP AUTH) does base64, the
``*`` cancel (RFC 4422 section 3.5) and the ``=`` empty initial response of
SASL-IR (RFC 4959), and delivers "additional data with success" to
:meth:`ClientMechanism.finish`.

Implemented: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login-00),
CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677;
without channel binding, so never the ``-PLUS`` variants), XOAUTH2 (Google's
protocol, with its error-JSON continuation) and OAUTHBEARER (RFC 7628).

Every failure, including malformed challenges from a hostile server, is a
:class:`SaslError`; no other exception escapes :meth:`ClientMechanism.respond`
or :meth:`ClientMechanism.finish`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Protocol

from refclient.credentials import Credentials

#: Highest SCRAM iteration count accepted: PBKDF2 runs on the client, so a hostile
#: server announcing ``i=2000000000`` would otherwise stall it (RFC 5802 section 9).
MAX_SCRAM_ITERATIONS = 1_000_000

#: Mechanisms tried with an OAuth2 bearer token, strongest first.
TOKEN_PREFERENCE: tuple[str, ...] = ("OAUTHBEARER", "XOAUTH2")
#: Mechanisms tried with a password, strongest first.
PASSWORD_PREFERENCE: tuple[str, ...] = (
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "CRAM-MD5",
    "PLAIN",
    "LOGIN",
)
#: Mechanisms that reveal the password to anyone who can read the connection.
CLEAR_TEXT_MECHANISMS: frozenset[str] = frozenset({"PLAIN", "LOGIN"})


class SaslError(Exception):
    """The exchange cannot go on (malformed challenge, server not verified, misuse)."""


class NoSuitableMechanism(SaslError):
    """No offered mechanism fits the credentials and the connection's protection."""


class ClientMechanism(Protocol):
    """One authentication exchange of one mechanism, from the client's side."""

    name: str
    #: Text the server gave with a failure (e.g. XOAUTH2's error JSON), else None.
    error_detail: str | None

    def initial_response(self) -> bytes | None:
        """The initial response to send with the command, or None if the mechanism has none."""
        ...

    def respond(self, challenge: bytes) -> bytes:
        """The response to one decoded server challenge."""
        ...

    def finish(self, additional: bytes | None) -> None:
        """The server said success; raise SaslError if it did not prove itself (SCRAM)."""
        ...


# -- client-first mechanisms ------------------------------------------------------------


class _ClientFirst:
    """A mechanism whose whole message is its initial response (PLAIN, XOAUTH2, OAUTHBEARER).

    A server that does not take initial responses asks for it with an empty
    challenge (RFC 4422 section 5, item 2), which is answered with the message.
    """

    name = ""

    def __init__(self, message: bytes) -> None:
        self._message = message
        self._asked = False
        self.error_detail: str | None = None

    def initial_response(self) -> bytes | None:
        return self._message

    def respond(self, challenge: bytes) -> bytes:
        if challenge == b"" and not self._asked:
            self._asked = True
            return self._message
        return self._unexpected(challenge)

    def _unexpected(self, challenge: bytes) -> bytes:
        raise SaslError(f"{self.name}: unexpected challenge of {len(challenge)} octets")

    def finish(self, additional: bytes | None) -> None:
        return None


class Plain(_ClientFirst):
    """PLAIN (RFC 4616 section 2): ``[authzid] NUL authcid NUL passwd``, authzid left empty."""

    name = "PLAIN"

    def __init__(self, user: str, password: str) -> None:
        if "\x00" in user or "\x00" in password:
            raise SaslError("PLAIN user names and passwords cannot contain NUL")
        super().__init__(b"\x00" + user.encode() + b"\x00" + password.encode())


class _BearerMechanism(_ClientFirst):
    """A bearer-token mechanism: a non-empty challenge is the server's error JSON."""

    #: What the client answers an error challenge with, to let the server fail the exchange.
    error_answer = b""

    def _unexpected(self, challenge: bytes) -> bytes:
        self.error_detail = challenge.decode("utf-8", errors="replace")
        return self.error_answer


class XOAuth2(_BearerMechanism):
    """XOAUTH2 (https://developers.google.com/gmail/imap/xoauth2-protocol).

    On failure Gmail sends a base64 JSON challenge; the client answers it with
    an empty response and the server then fails the command.
    """

    name = "XOAUTH2"

    def __init__(self, user: str, token: str) -> None:
        _check_kv_value(user, token)
        super().__init__(f"user={user}\x01auth=Bearer {token}\x01\x01".encode())


class OAuthBearer(_BearerMechanism):
    """OAUTHBEARER (RFC 7628 section 3.1): GS2 header, then ``auth=Bearer`` in ^A pairs.

    On failure the server sends an error JSON (section 3.2.2); the client must
    answer with a single ^A (section 3.2.3) and the server fails the exchange.
    """

    name = "OAUTHBEARER"
    error_answer = b"\x01"

    def __init__(self, user: str, token: str) -> None:
        _check_kv_value(user, token)
        gs2 = f"n,a={_saslname(user)},"
        super().__init__(f"{gs2}\x01auth=Bearer {token}\x01\x01".encode())


def _check_kv_value(*values: str) -> None:
    if any("\x01" in value for value in values):
        raise SaslError("OAuth2 user names and tokens cannot contain ^A")


# -- server-first mechanisms -----------------------------------------------------------


class Login:
    """LOGIN (draft-murchison-sasl-login-00): the user name, then the password, on request."""

    name = "LOGIN"

    def __init__(self, user: str, password: str) -> None:
        self._answers = [user.encode(), password.encode()]
        self.error_detail: str | None = None

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        # The prompts are usually "Username:" and "Password:", but the draft
        # (section 2) says clients must not depend on their text; order counts.
        if not self._answers:
            raise SaslError("LOGIN: more than two challenges")
        return self._answers.pop(0)

    def finish(self, additional: bytes | None) -> None:
        if self._answers:
            raise SaslError("LOGIN: the server accepted before asking for the password")


class CramMD5:
    """CRAM-MD5 (RFC 2195 section 2): ``user SP hex(HMAC-MD5(password, challenge))``."""

    name = "CRAM-MD5"

    def __init__(self, user: str, password: str) -> None:
        self._user = user
        self._password = password.encode()
        self._answered = False
        self.error_detail: str | None = None

    def initial_response(self) -> bytes | None:
        return None

    def respond(self, challenge: bytes) -> bytes:
        if self._answered:
            raise SaslError("CRAM-MD5: more than one challenge")
        if not challenge:
            raise SaslError("CRAM-MD5: empty challenge")
        self._answered = True
        digest = hmac.new(self._password, challenge, hashlib.md5).hexdigest()
        return f"{self._user} {digest}".encode()

    def finish(self, additional: bytes | None) -> None:
        if not self._answered:
            raise SaslError("CRAM-MD5: the server accepted without a challenge")


# -- SCRAM (RFC 5802, RFC 7677) ------------------------------------------------------


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013) of a query string, as SCRAM asks (RFC 5802 section 2.2).

    Applied: non-ASCII spaces map to SPACE and "commonly mapped to nothing"
    characters are removed (section 2.1), NFKC (section 2.2), the prohibited
    output of section 2.3 is refused, and so are strings breaking the bidi
    rule (RFC 3454 section 6). Not applied: the unassigned-code-point check,
    which RFC 4013 section 2.5 leaves out for queries, and which depends on
    the Unicode 3.2 tables ``stringprep`` carries. A refused string raises
    :class:`SaslError`.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case, unchanged by every step below
    mapped = "".join(
        " " if stringprep.in_table_c12(char) else char
        for char in text
        if not stringprep.in_table_b1(char)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    for char in normal:
        if _prohibited(char):
            raise SaslError(f"SASLprep: prohibited character U+{ord(char):04X}")
    _check_bidi(normal)
    return normal


_PROHIBITED: tuple[Callable[[str], bool], ...] = (
    stringprep.in_table_c12,
    stringprep.in_table_c21_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def _prohibited(char: str) -> bool:
    return any(table(char) for table in _PROHIBITED)


def _check_bidi(text: str) -> None:
    """RFC 3454 section 6: right-to-left text must start and end with RandALCat, no LCat."""
    rtl = [stringprep.in_table_d1(char) for char in text]
    if not any(rtl):
        return
    if any(stringprep.in_table_d2(char) for char in text) or not (rtl[0] and rtl[-1]):
        raise SaslError("SASLprep: invalid mix of right-to-left and left-to-right text")


def _saslname(name: str) -> str:
    """Escape ``=`` and ``,`` in a SCRAM / GS2 user name (RFC 5802 section 5.1)."""
    return name.replace("=", "=3D").replace(",", "=2C")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError(f"SCRAM: {what} is not base64") from None


def _attributes(message: bytes, what: str) -> dict[str, str]:
    """The ``a=value`` attributes of a SCRAM message (RFC 5802 section 7)."""
    try:
        text = message.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"SCRAM: {what} is not UTF-8") from None
    attributes: dict[str, str] = {}
    for item in text.split(","):
        if len(item) < 2 or item[1] != "=" or not item[0].isalpha():
            raise SaslError(f"SCRAM: {what}: {item[:40]!r} is not attr=value")
        attributes.setdefault(item[0], item[2:])
    return attributes


#: hashlib names of the SCRAM variants implemented.
_SCRAM_DIGESTS = MappingProxyType({"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"})


def salted_password(digest: str, password: bytes, salt: bytes, iterations: int) -> bytes:
    """SCRAM's SaltedPassword, Hi(password, salt, i) (RFC 5802 section 3), remembered.

    Deriving it is the costly step of SCRAM on purpose (4,096 rounds or more,
    a few milliseconds); a server gives an account the same salt and count
    each time, so a client that logs in again (a scenario run, a benchmark, a
    reconnect) would pay again for the same result. RFC 5802 section 5.1 lets
    a client cache it for reauthentication to the same service. The cache is
    keyed by a digest of the password, not the password itself, and holds at
    most :data:`_SALTED_MAX` entries (emptied when full: simple, and safe
    under threads, since each dict operation is atomic).
    """
    key = (digest, hashlib.sha256(password).digest(), salt, iterations)
    salted = _SALTED.get(key)
    if salted is None:
        salted = hashlib.pbkdf2_hmac(digest, password, salt, iterations)
        if len(_SALTED) >= _SALTED_MAX:
            _SALTED.clear()
        _SALTED[key] = salted
    return salted


_SALTED_MAX = 16
_SALTED: dict[tuple[str, bytes, bytes, int], bytes] = {}


class Scram:
    """SCRAM-SHA-1 / SCRAM-SHA-256 without channel binding (GS2 flag ``n``).

    ``client_nonce`` is for test vectors (RFC 5802 section 5, RFC 7677
    section 3); by default it is 24 random octets from :mod:`secrets`.
    """

    _GS2_HEADER = "n,,"

    def __init__(
        self, name: str, user: str, password: str, *, client_nonce: str | None = None
    ) -> None:
        if name not in _SCRAM_DIGESTS:
            raise SaslError(f"unknown SCRAM variant {name!r}")
        self.name = name
        self.error_detail: str | None = None
        self._digest = _SCRAM_DIGESTS[name]
        self._password = saslprep(password).encode()
        nonce = client_nonce or base64.b64encode(secrets.token_bytes(24)).decode()
        self._client_first_bare = f"n={_saslname(saslprep(user))},r={nonce}"
        self._nonce = nonce
        self._expected_signature: bytes | None = None
        self._verified = False

    def initial_response(self) -> bytes | None:
        return (self._GS2_HEADER + self._client_first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        if self._verified:
            raise SaslError(f"{self.name}: challenge after the server-final message")
        if self._expected_signature is not None:
            self._verify(challenge)
            return b""  # RFC 4422 section 5: the empty response to additional data
        if challenge == b"":
            initial = self.initial_response()
            assert initial is not None  # SCRAM is client-first
            return initial  # the server asked for the initial response
        return self._client_final(challenge)

    def finish(self, additional: bytes | None) -> None:
        if additional and not self._verified:
            self._verify(additional)
        if not self._verified:
            raise SaslError(
                f"{self.name}: the server reported success without proving it knows the "
                "password (no server signature)"
            )

    def _client_final(self, server_first: bytes) -> bytes:
        """RFC 5802 section 3: client-final-message with the ClientProof."""
        attributes = _attributes(server_first, "server-first-message")
        if "m" in attributes:
            raise SaslError("SCRAM: the server requires an unsupported extension (m=)")
        nonce, salt_text, count_text = (attributes.get(key) for key in "rsi")
        if nonce is None or salt_text is None or count_text is None:
            raise SaslError("SCRAM: server-first-message lacks r=, s= or i=")
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError("SCRAM: the server nonce does not extend the client nonce")
        salt = _b64decode(salt_text, "the salt")
        if not count_text.isdigit() or not 0 < int(count_text) <= MAX_SCRAM_ITERATIONS:
            raise SaslError(f"SCRAM: iteration count {count_text[:20]!r} out of range")
        salted = salted_password(self._digest, self._password, salt, int(count_text))
        channel_binding = base64.b64encode(self._GS2_HEADER.encode()).decode()
        without_proof = f"c={channel_binding},r={nonce}"
        auth_message = ",".join(
            (self._client_first_bare, server_first.decode(), without_proof)
        ).encode()
        client_key = hmac.digest(salted, b"Client Key", self._digest)
        stored_key = hashlib.new(self._digest, client_key).digest()
        signature = hmac.digest(stored_key, auth_message, self._digest)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", self._digest)
        self._expected_signature = hmac.digest(server_key, auth_message, self._digest)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify(self, server_final: bytes) -> None:
        """RFC 5802 section 3: ``v=ServerSignature``, or ``e=`` naming the server's error."""
        if self._expected_signature is None:
            raise SaslError(f"{self.name}: server-final message before server-first")
        attributes = _attributes(server_final, "server-final-message")
        if "e" in attributes:
            self.error_detail = attributes["e"]
            raise SaslError(f"{self.name}: the server reported error {attributes['e'][:80]!r}")
        if "v" not in attributes:
            raise SaslError(f"{self.name}: server-final-message lacks v=")
        signature = _b64decode(attributes["v"], "the server signature")
        if not hmac.compare_digest(signature, self._expected_signature):
            raise SaslError(f"{self.name}: wrong server signature: the server is not verified")
        self._verified = True


# -- choice ------------------------------------------------------------------------


def create_mechanism(name: str, credentials: Credentials) -> ClientMechanism:
    """The mechanism ``name`` (case-insensitive) for ``credentials``.

    Raises :class:`NoSuitableMechanism` when the name is unknown or the
    credentials lack what it needs (a password or a token).
    """
    upper = name.upper()
    user, password, token = credentials.user, credentials.password, credentials.oauth2_token
    if upper in TOKEN_PREFERENCE:
        if token is None:
            raise NoSuitableMechanism(f"{upper} needs an OAuth2 token")
        return OAuthBearer(user, token) if upper == "OAUTHBEARER" else XOAuth2(user, token)
    if upper not in PASSWORD_PREFERENCE:
        known = ", ".join(TOKEN_PREFERENCE + PASSWORD_PREFERENCE)
        raise NoSuitableMechanism(f"unknown SASL mechanism {name!r} (known: {known})")
    if password is None:
        raise NoSuitableMechanism(f"{upper} needs a password")
    if upper.startswith("SCRAM-"):
        return Scram(upper, user, password)
    factories: dict[str, Callable[[str, str], ClientMechanism]] = {
        "CRAM-MD5": CramMD5,
        "PLAIN": Plain,
        "LOGIN": Login,
    }
    return factories[upper](user, password)


def choose_mechanism(
    offered: Iterable[str],
    credentials: Credentials,
    *,
    forced: str | None = None,
    tls: bool,
) -> ClientMechanism:
    """The strongest offered mechanism the credentials allow, or ``forced``.

    With a token: OAUTHBEARER, then XOAUTH2. With a password: SCRAM-SHA-256,
    SCRAM-SHA-1, CRAM-MD5, then PLAIN and LOGIN, the last two only when
    ``tls`` is true (the connection is protected, or clear text was
    explicitly allowed). A ``forced`` mechanism must be offered and allowed
    too. Raises :class:`NoSuitableMechanism` naming what was offered.
    """
    available = {name.upper() for name in offered}
    shown = " ".join(sorted(available)) or "none"
    allowed = [
        name
        for name in (
            (TOKEN_PREFERENCE if credentials.oauth2_token else ())
            + (PASSWORD_PREFERENCE if credentials.password else ())
        )
        if tls or name not in CLEAR_TEXT_MECHANISMS
    ]
    if forced is not None:
        wanted = forced.upper()
        if wanted not in available:
            raise NoSuitableMechanism(f"{wanted} is not offered (offered: {shown})")
        if wanted in CLEAR_TEXT_MECHANISMS and not tls:
            raise NoSuitableMechanism(f"{wanted} would send the password in clear text")
        return create_mechanism(wanted, credentials)
    for name in allowed:
        if name in available:
            return create_mechanism(name, credentials)
    kinds = "a token" if credentials.oauth2_token else "a password"
    if credentials.oauth2_token and credentials.password:
        kinds = "a token or a password"
    raise NoSuitableMechanism(
        f"no offered mechanism can be used with {kinds} on this connection (offered: {shown})"
    )

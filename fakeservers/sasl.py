"""Server-side SASL (RFC 4422) for the fake servers: one exchange per AUTH command.

Each mechanism is a small generator: it receives the client's (already
base64-decoded) responses, yields :class:`Challenge` values to send back, and
returns :class:`Accepted` or :class:`Rejected`. :class:`ServerExchange` drives
it and turns malformed input into :class:`Rejected`, so a protocol layer only
ever sees one of the three :data:`SaslStep` outcomes and never an exception.

What the protocol layer does, not this module: base64 on the wire (and its
error for bad base64), the client's ``*`` cancel (RFC 4422 section 3.5), the
SASL-IR ``=`` empty initial response, and delivering ``Accepted.data`` (the
SCRAM server-final message) or ``Rejected.data`` (an XOAUTH2 / OAUTHBEARER
error JSON) as one more challenge, waiting for the client's (empty) answer
before the final OK/NO (RFC 4422 section 5, items 7 and 9 on additional data).

Deliberate simplifications, each harmless for a test server: SASLprep (RFC
4013) is not applied to SCRAM names and passwords (they are compared as
UTF-8); SCRAM channel binding (the ``-PLUS`` variants) is not offered; the
SCRAM salt is fresh per exchange because the store keeps plain passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import NamedTuple

from fakeservers.store import Account, MailStore, NoSuchAccount


class Challenge(NamedTuple):
    """A server challenge; the protocol layer base64-encodes it into a continuation."""

    data: bytes


class Accepted(NamedTuple):
    """Authentication succeeded for ``account``.

    ``data`` is additional data with success (the SCRAM server-final message),
    to be delivered as the protocol says, or None.
    """

    account: Account
    data: bytes | None


class Rejected(NamedTuple):
    """Authentication failed; ``reason`` is for logs and the protocol's error text.

    ``data``, if not None, is an error challenge the protocol layer sends
    first (Gmail-style XOAUTH2 JSON, RFC 7628 error JSON); it then waits for
    the client's response and fails.
    """

    reason: str
    data: bytes | None


SaslStep = Challenge | Accepted | Rejected

#: Every mechanism this module implements, in the order servers advertise them.
MECHANISMS: tuple[str, ...] = (
    "PLAIN",
    "LOGIN",
    "CRAM-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "XOAUTH2",
    "OAUTHBEARER",
)

#: PBKDF2 iteration count announced in SCRAM (RFC 5802 section 5.1 / RFC 7677 minimum).
SCRAM_ITERATIONS = 4096

#: Scope named in the OAuth2 error JSON (Google's value, as Gmail sends it).
XOAUTH2_SCOPE = "https://mail.google.com/"

_FAILED = "authentication failed"


class UnknownMechanism(ValueError):
    """The client asked for a mechanism this module does not implement."""


class _Malformed(ValueError):
    """The client's message does not follow the mechanism's syntax."""


Outcome = Accepted | Rejected
_Mechanism = Generator[Challenge, bytes, Outcome]


@dataclass(frozen=True)
class _Context:
    store: MailStore
    hostname: str


# -- shared helpers -------------------------------------------------------------


def decode_response(text: str | bytes) -> bytes | None:
    """A client's base64 response (RFC 4422 section 3, RFC 4648), or None if it is none.

    Strict: only the base64 alphabet with its padding. A character or octet
    outside ASCII is no base64 either (``b64decode`` of such a ``str`` raises
    a plain ValueError, not ``binascii.Error``), so every caller refuses it
    the same way, with its own protocol's reply.
    """
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not UTF-8") from None


def _find_by_token(store: MailStore, token: str) -> Account | None:
    """The account holding this bearer token (OAUTHBEARER without an authzid)."""
    for account in store.accounts():
        found = store.check_token(account.user, token)
        if found is not None:
            return found
    return None


def _oauth_error(status: str) -> bytes:
    """The error JSON sent before failing an OAuth2 exchange (RFC 7628 section 3.2.2)."""
    body = {"status": status, "schemes": "Bearer", "scope": XOAUTH2_SCOPE}
    return json.dumps(body, separators=(",", ":")).encode()


def _bearer_token(value: str) -> str:
    """The token of an ``auth`` value ``Bearer TOKEN`` (RFC 6750 section 2.1)."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _Malformed("auth value is not 'Bearer <token>'")
    return token


# -- PLAIN (RFC 4616) -----------------------------------------------------------


def _plain(context: _Context, initial: bytes | None) -> _Mechanism:
    # RFC 4616 section 2: the client sends first; without an initial response
    # the server sends an empty challenge.
    message = initial if initial is not None else (yield Challenge(b""))
    parts = message.split(b"\x00")
    if len(parts) != 3:
        raise _Malformed("PLAIN message is not authzid NUL authcid NUL passwd")
    authzid, authcid, password = (_utf8(part, "PLAIN field") for part in parts)
    if not authcid or not password:
        raise _Malformed("PLAIN authcid and passwd must not be empty")
    if authzid and authzid != authcid:
        return Rejected("authorization identity differs from authentication identity", None)
    account = context.store.check_password(authcid, password)
    return Accepted(account, None) if account else Rejected(_FAILED, None)


# -- LOGIN (draft-murchison-sasl-login-00) -----------------------------------------


def _login(context: _Context, initial: bytes | None) -> _Mechanism:
    # Section 2: an initial response, if any, is the user name.
    user = initial if initial is not None else (yield Challenge(b"Username:"))
    password = yield Challenge(b"Password:")
    account = context.store.check_password(
        _utf8(user, "LOGIN user name"), _utf8(password, "LOGIN password")
    )
    return Accepted(account, None) if account else Rejected(_FAILED, None)


# -- CRAM-MD5 (RFC 2195) --------------------------------------------------------


def _cram_md5(context: _Context, initial: bytes | None) -> _Mechanism:
    # RFC 2195 section 2: the server speaks first, so an initial response is a
    # protocol error (RFC 4422 section 3.3: server-first mechanisms take none).
    if initial:
        return Rejected("CRAM-MD5 does not take an initial response", None)
    challenge = f"<{secrets.randbelow(10**10)}.{time.time_ns()}@{context.hostname}>".encode()
    response = yield Challenge(challenge)
    user, space, digest = _utf8(response, "CRAM-MD5 response").rpartition(" ")
    if not space or not user or len(digest) != 32:
        raise _Malformed("CRAM-MD5 response is not 'user <32 hex digits>'")
    account = _account_or_none(context.store, user)
    if account is None:
        return Rejected(_FAILED, None)
    expected = hmac.new(account.password.encode(), challenge, hashlib.md5).hexdigest()
    if hmac.compare_digest(expected.encode(), digest.lower().encode()):
        return Accepted(account, None)
    return Rejected(_FAILED, None)


def _account_or_none(store: MailStore, user: str) -> Account | None:
    try:
        return store.account(user)
    except NoSuchAccount:
        return None


# -- SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677) -----------------------------


def _scram_attributes(message: str, what: str) -> list[tuple[str, str]]:
    """``a=value`` pairs in order (RFC 5802 section 7: attr-val *("," attr-val))."""
    pairs = []
    for item in message.split(","):
        if len(item) < 2 or item[1] != "=" or not item[0].isalpha():
            raise _Malformed(f"{what}: {item!r} is not attr=value")
        pairs.append((item[0], item[2:]))
    return pairs


def _saslname(value: str) -> str:
    """Decode ``=2C`` and ``=3D``; any other ``=`` is invalid (RFC 5802 section 5.1)."""
    if value.replace("=2C", "").replace("=3D", "").count("=") or not value:
        raise _Malformed("invalid saslname")
    return value.replace("=2C", ",").replace("=3D", "=")


def _scram_gs2(header_and_bare: str) -> tuple[str, str, str]:
    """Split client-first into (gs2 header, authzid, client-first-message-bare)."""
    flag, comma1, rest = header_and_bare.partition(",")
    authz, comma2, bare = rest.partition(",")
    if not comma1 or not comma2:
        raise _Malformed("SCRAM client-first message has no GS2 header")
    if flag.startswith("p="):
        raise _Malformed("channel binding (p=) is not supported: no -PLUS mechanism is offered")
    if flag not in ("n", "y"):
        raise _Malformed(f"GS2 channel-binding flag {flag!r} is not n, y or p=")
    # 'y' means the client supports channel binding but thinks the server does
    # not: true here (no -PLUS offered), so it is accepted (RFC 5802 section 6).
    if authz and not authz.startswith("a="):
        raise _Malformed("GS2 authzid must start with a=")
    return f"{flag},{authz},", _saslname(authz[2:]) if authz else "", bare


def _scram(context: _Context, initial: bytes | None, *, digest: str) -> _Mechanism:
    first = initial if initial is not None else (yield Challenge(b""))
    gs2_header, authzid, bare = _scram_gs2(_utf8(first, "SCRAM client-first"))
    attributes = _scram_attributes(bare, "client-first-message-bare")
    if attributes[0][0] == "m":
        raise _Malformed("SCRAM mandatory extension (m=) is not supported")
    if len(attributes) < 2 or attributes[0][0] != "n" or attributes[1][0] != "r":
        raise _Malformed("client-first-message-bare is not n=user,r=nonce")
    user, client_nonce = _saslname(attributes[0][1]), attributes[1][1]
    # RFC 5802 section 7: c-nonce is printable ASCII except ",".
    if not client_nonce or any(not 0x21 <= ord(char) <= 0x7E for char in client_nonce):
        raise _Malformed("client nonce is empty or not printable ASCII")
    # An unknown user still gets a server-first message, so that the exchange
    # does not reveal which users exist.
    account = _account_or_none(context.store, user)
    salt = os.urandom(16)
    nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
    server_first = f"r={nonce},s={base64.b64encode(salt).decode()},i={SCRAM_ITERATIONS}"
    final = _utf8((yield Challenge(server_first.encode())), "SCRAM client-final")
    without_proof, separator, proof_b64 = final.rpartition(",p=")
    if not separator:
        raise _Malformed("client-final message has no proof (p=)")
    final_attributes = dict(_scram_attributes(without_proof, "client-final-message"))
    if final_attributes.get("c") != base64.b64encode(gs2_header.encode()).decode():
        return Rejected("channel-binding data (c=) does not match the GS2 header", None)
    if final_attributes.get("r") != nonce:
        return Rejected("nonce (r=) does not match this exchange", None)
    if account is None or (authzid and authzid != user):
        return Rejected(_FAILED, None)
    auth_message = f"{bare},{server_first},{without_proof}".encode()
    return _scram_verify(account, proof_b64, salt, auth_message, digest=digest)


def _scram_verify(
    account: Account, proof_b64: str, salt: bytes, auth_message: bytes, *, digest: str
) -> Outcome:
    """Check ClientProof and build the server-final message (RFC 5802 section 3)."""
    salted = hashlib.pbkdf2_hmac(digest, account.password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", digest)
    stored_key = hashlib.new(digest, client_key).digest()
    signature = hmac.digest(stored_key, auth_message, digest)
    proof = decode_response(proof_b64)
    if proof is None:
        raise _Malformed("client proof is not base64")
    if len(proof) != len(signature):
        return Rejected(_FAILED, None)
    recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    if not hmac.compare_digest(hashlib.new(digest, recovered).digest(), stored_key):
        return Rejected(_FAILED, None)
    server_key = hmac.digest(salted, b"Server Key", digest)
    verifier = base64.b64encode(hmac.digest(server_key, auth_message, digest))
    return Accepted(account, b"v=" + verifier)


def _scram_sha1(context: _Context, initial: bytes | None) -> _Mechanism:
    return _scram(context, initial, digest="sha1")


def _scram_sha256(context: _Context, initial: bytes | None) -> _Mechanism:
    return _scram(context, initial, digest="sha256")


# -- XOAUTH2 (Google) and OAUTHBEARER (RFC 7628) --------------------------------------


def _kv_pairs(block: str, what: str) -> dict[str, str]:
    """``key=value`` items separated by ^A, the block ending in ^A^A."""
    if not block.endswith("\x01\x01"):
        raise _Malformed(f"{what} does not end with ^A^A")
    pairs: dict[str, str] = {}
    for item in block[:-2].split("\x01"):
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise _Malformed(f"{what}: {item!r} is not key=value")
        pairs[key] = value
    return pairs


def _xoauth2(context: _Context, initial: bytes | None) -> _Mechanism:
    # https://developers.google.com/gmail/imap/xoauth2-protocol
    message = initial if initial is not None else (yield Challenge(b""))
    pairs = _kv_pairs(_utf8(message, "XOAUTH2 message"), "XOAUTH2 message")
    if "user" not in pairs or "auth" not in pairs:
        raise _Malformed("XOAUTH2 message needs user= and auth=")
    account = context.store.check_token(pairs["user"], _bearer_token(pairs["auth"]))
    if account is None:
        return Rejected("invalid OAuth2 token", _oauth_error("400"))
    return Accepted(account, None)


def _oauthbearer(context: _Context, initial: bytes | None) -> _Mechanism:
    # RFC 7628 section 3.1: gs2-header kvsep *kvpair kvsep.
    message = _utf8(
        initial if initial is not None else (yield Challenge(b"")), "OAUTHBEARER message"
    )
    flag, comma1, rest = message.partition(",")
    authz, comma2, block = rest.partition(",")
    if not comma1 or not comma2 or flag not in ("n", "y"):
        raise _Malformed(
            "OAUTHBEARER message has no valid GS2 header (channel binding unsupported)"
        )
    if authz and not authz.startswith("a="):
        raise _Malformed("GS2 authzid must start with a=")
    if not block.startswith("\x01"):
        raise _Malformed("OAUTHBEARER GS2 header is not followed by ^A")
    pairs = _kv_pairs(block[1:], "OAUTHBEARER message")
    if "auth" not in pairs:
        raise _Malformed("OAUTHBEARER message needs auth=")
    token = _bearer_token(pairs["auth"])
    user = _saslname(authz[2:]) if authz else None
    store = context.store
    account = store.check_token(user, token) if user else _find_by_token(store, token)
    if account is None:
        return Rejected("invalid OAuth2 token", _oauth_error("invalid_token"))
    return Accepted(account, None)


_MECHANISM_TABLE: dict[str, Callable[[_Context, bytes | None], _Mechanism]] = {
    "PLAIN": _plain,
    "LOGIN": _login,
    "CRAM-MD5": _cram_md5,
    "SCRAM-SHA-1": _scram_sha1,
    "SCRAM-SHA-256": _scram_sha256,
    "XOAUTH2": _xoauth2,
    "OAUTHBEARER": _oauthbearer,
}


# -- the exchange -----------------------------------------------------------------


class ServerExchange:
    """One authentication exchange of one mechanism with one client."""

    def __init__(self, mechanism: str, context: _Context) -> None:
        self.mechanism = mechanism
        self._context = context
        self._running: _Mechanism | None = None
        self._outcome: Outcome | None = None

    @property
    def outcome(self) -> Outcome | None:
        """The final Accepted / Rejected once the exchange is over, else None."""
        return self._outcome

    def step(self, data: bytes | None) -> SaslStep:
        """Feed the client's next (decoded) response; returns what to do next.

        The first call gets the initial response, or None if the client sent
        none (an empty SASL-IR ``=`` is ``b""``). After the outcome, further
        calls keep returning a Rejected: an exchange is never reused.
        """
        if self._outcome is not None:
            return Rejected("the exchange is already over", None)
        try:
            if self._running is None:
                self._running = _MECHANISM_TABLE[self.mechanism](self._context, data)
                return next(self._running)
            return self._running.send(b"" if data is None else data)
        except StopIteration as stop:
            outcome: Outcome = stop.value
        except ValueError as error:  # _Malformed, UnicodeDecodeError, bad base64
            outcome = Rejected(f"malformed {self.mechanism} response: {error}", None)
        self._outcome = outcome
        return outcome


def start_exchange(mechanism: str, store: MailStore, *, hostname: str) -> ServerExchange:
    """Begin an exchange of ``mechanism`` (case-insensitive) against ``store``.

    ``hostname`` appears in the CRAM-MD5 challenge. Raises
    :class:`UnknownMechanism` for a name outside :data:`MECHANISMS`.
    """
    name = mechanism.upper()
    if name not in _MECHANISM_TABLE:
        raise UnknownMechanism(mechanism)
    return ServerExchange(name, _Context(store=store, hostname=hostname))

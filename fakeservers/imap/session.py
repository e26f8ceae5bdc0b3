"""What one IMAP session knows: its state, its user, its selected mailbox, its output.

The states are those of RFC 3501 section 3; the dispatch table says which
commands each state allows. Handlers return a :class:`Reply` (the tagged
response) and write untagged data through :meth:`Session.send`.
"""

from __future__ import annotations

import enum
import ssl
from dataclasses import dataclass

from fakeservers import sasl
from fakeservers.config import ServerConfig
from fakeservers.connection import Connection
from fakeservers.imap.enabled import Enabled
from fakeservers.imap.view import MailboxView
from fakeservers.store import MailStore


class State(enum.Enum):
    """RFC 3501 section 3."""

    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


@dataclass(frozen=True)
class Reply:
    """A tagged response: ``status [code] text`` (RFC 3501 section 7.1)."""

    status: str
    text: str
    code: str | None = None

    def render(self, tag: str) -> bytes:
        """The response line for ``tag``: one line of 7-bit text (RFC 3501 ``resp-text``)."""
        code = f"[{self.code}] " if self.code else ""
        line = f"{tag} {self.status} {code}{self.text}".replace("\r", " ").replace("\n", " ")
        return line.encode("ascii", "backslashreplace") + b"\r\n"


def ok(text: str, code: str | None = None) -> Reply:
    """A tagged OK."""
    return Reply("OK", text, code)


def no(text: str, code: str | None = None) -> Reply:
    """A tagged NO: the command was understood and failed."""
    return Reply("NO", text, code)


def bad(text: str, code: str | None = None) -> Reply:
    """A tagged BAD: the command was not acceptable (syntax, state)."""
    return Reply("BAD", text, code)


#: Extensions advertised in every state (each one implemented here).
EXTENSIONS = (
    "LITERAL+",  # RFC 7888
    "SASL-IR",  # RFC 4959
    "IDLE",  # RFC 2177
    "UIDPLUS",  # RFC 4315
    "UNSELECT",  # RFC 3691
    "NAMESPACE",  # RFC 2342
    "ID",  # RFC 2971
    "CHILDREN",  # RFC 3348
    "SPECIAL-USE",  # RFC 6154
    "MOVE",  # RFC 6851
    "ENABLE",  # RFC 5161
    "CONDSTORE",  # RFC 7162
    "QRESYNC",  # RFC 7162
    "ESEARCH",  # RFC 4731
    "SEARCHRES",  # RFC 5182
    "LIST-EXTENDED",  # RFC 5258
    "LIST-STATUS",  # RFC 5819
    "CREATE-SPECIAL-USE",  # RFC 6154
    "UTF8=ACCEPT",  # RFC 6855
    "BINARY",  # RFC 3516
    "COMPRESS=DEFLATE",  # RFC 4978
    "QUOTA",  # RFC 9208
    "QUOTA=RES-STORAGE",  # RFC 9208
    "QUOTA=RES-MESSAGE",  # RFC 9208
    "QUOTASET",  # RFC 9208
    "OBJECTID",  # RFC 8474
    "STATUS=SIZE",  # RFC 8438
    "APPENDLIMIT",  # RFC 7889: no global limit; STATUS and LIST give each mailbox's
    "IMAP4rev2",  # RFC 9051, selectable with ENABLE IMAP4rev2
)


class Session:
    """The mutable state of one connection (one instance per client)."""

    def __init__(
        self,
        connection: Connection,
        store: MailStore,
        config: ServerConfig,
        *,
        tls_context: ssl.SSLContext,
    ) -> None:
        self.connection = connection
        self.store = store
        self.config = config
        self.tls_context = tls_context
        self.state = State.NOT_AUTHENTICATED
        self.user: str | None = None
        self.view: MailboxView | None = None
        self.bad_in_a_row = 0
        #: Extensions the client enabled (ENABLE, RFC 5161; CONDSTORE implicitly, RFC 7162).
        self.enabled = Enabled()
        #: Whether COMPRESS=DEFLATE is active (RFC 4978: at most once per session).
        self.compressed = False

    def send(self, data: bytes) -> None:
        """Queue response octets for the client."""
        self.connection.write(data)

    def untagged(self, line: bytes) -> None:
        """``* line`` CRLF."""
        self.connection.write(b"* " + line + b"\r\n")

    def capabilities(self) -> list[str]:
        """What CAPABILITY says now (RFC 3501 sections 6.1.1, 6.2.1 and 6.2.3).

        A provider profile's declared lists replace the computed one; rules
        may then change either.
        """
        declared = self.config.profile.imap.capabilities
        if declared is not None:
            names = declared.current(
                tls=self.connection.is_tls,
                authenticated=self.state is not State.NOT_AUTHENTICATED,
                credentials=lambda name: name.upper().startswith("AUTH="),
                starttls_offer=("STARTTLS", "LOGINDISABLED"),
            )
            if self.connection.wire is not None:
                names = self.connection.wire.rules.capabilities(names)
            return names
        names = ["IMAP4rev1"]
        if self.state is State.NOT_AUTHENTICATED:
            if self.connection.is_tls:
                names += [f"AUTH={mechanism}" for mechanism in sasl.MECHANISMS]
            else:
                # Credentials never travel in clear text: STARTTLS first.
                names += ["STARTTLS", "LOGINDISABLED"]
        names += list(EXTENSIONS)
        if self.connection.wire is not None:
            names = self.connection.wire.rules.capabilities(names)
        return names

    @property
    def logged_in_user(self) -> str:
        """The authenticated user (the dispatch table guarantees there is one)."""
        if self.user is None:
            raise RuntimeError("no user is logged in")
        return self.user

    @property
    def selected(self) -> MailboxView:
        """The selected mailbox (the dispatch table guarantees there is one)."""
        if self.view is None:
            raise RuntimeError("no mailbox is selected")
        return self.view

    def deselect(self) -> None:
        """Back to the authenticated state (CLOSE, UNSELECT, a failed SELECT)."""
        self.view = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

"""Which handler serves each command, and in which states (RFC 3501 section 3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fakeservers.imap.commands import any_state, extensions, idle, login, mailboxes, messages
from fakeservers.imap.parser import Command
from fakeservers.imap.session import Reply, Session, State

Handler = Callable[[Session, Command], Awaitable[Reply | None]]

_ANY = frozenset(State) - {State.LOGOUT}
_UNAUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
_AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
_SELECTED = frozenset({State.SELECTED})

COMMANDS: dict[str, tuple[Handler, frozenset[State]]] = {
    "CAPABILITY": (any_state.capability, _ANY),
    "NOOP": (any_state.noop, _ANY),
    "LOGOUT": (any_state.logout, _ANY),
    "ID": (any_state.identify, _ANY),
    "NAMESPACE": (any_state.namespace, _AUTHENTICATED),
    "STARTTLS": (login.starttls, _UNAUTHENTICATED),
    "LOGIN": (login.login, _UNAUTHENTICATED),
    "AUTHENTICATE": (login.authenticate, _UNAUTHENTICATED),
    "SELECT": (mailboxes.select, _AUTHENTICATED),
    "EXAMINE": (mailboxes.select, _AUTHENTICATED),
    "CREATE": (mailboxes.create, _AUTHENTICATED),
    "DELETE": (mailboxes.delete, _AUTHENTICATED),
    "RENAME": (mailboxes.rename, _AUTHENTICATED),
    "SUBSCRIBE": (mailboxes.subscribe, _AUTHENTICATED),
    "UNSUBSCRIBE": (mailboxes.subscribe, _AUTHENTICATED),
    "LIST": (mailboxes.list_mailboxes, _AUTHENTICATED),
    "LSUB": (mailboxes.list_mailboxes, _AUTHENTICATED),
    "STATUS": (mailboxes.status, _AUTHENTICATED),
    "APPEND": (mailboxes.append, _AUTHENTICATED),
    "IDLE": (idle.idle, _AUTHENTICATED),
    "CHECK": (messages.check, _SELECTED),
    "CLOSE": (messages.close, _SELECTED),
    "UNSELECT": (messages.unselect, _SELECTED),
    "EXPUNGE": (messages.expunge, _SELECTED),
    "SEARCH": (messages.search, _SELECTED),
    "FETCH": (messages.fetch, _SELECTED),
    "STORE": (messages.store, _SELECTED),
    "COPY": (messages.copy, _SELECTED),
    "MOVE": (messages.copy, _SELECTED),  # RFC 6851
    "ENABLE": (extensions.enable, _AUTHENTICATED),  # RFC 5161 (checked: not when selected)
    "COMPRESS": (extensions.compress, _AUTHENTICATED),  # RFC 4978 section 3
    "GETQUOTA": (extensions.getquota, _AUTHENTICATED),  # RFC 9208
    "GETQUOTAROOT": (extensions.getquotaroot, _AUTHENTICATED),
    "SETQUOTA": (extensions.setquota, _AUTHENTICATED),
}

#: Commands during which EXPUNGE responses must wait (RFC 3501 section 7.4.1).
HOLDS_EXPUNGES = frozenset({"FETCH", "STORE", "SEARCH"})

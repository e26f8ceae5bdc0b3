"""The two kinds of protocol error of the sans-IO engines (as in h11).

:class:`LocalProtocolError`: the caller used the engine wrongly (a command in
the wrong state, a literal where none is allowed). :class:`RemoteProtocolError`:
the server sent something the engine cannot go on from (a line over the limit,
an unparseable response in strict mode). Peers' lesser deviations are not
errors but findings (:mod:`refclient.findings`).
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of the engines' errors."""


class LocalProtocolError(ProtocolError):
    """The local side misused the engine; a bug in the caller."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol so that the session cannot continue.

    ``line`` holds the offending bytes (bounded, for reports).
    """

    def __init__(self, message: str, *, line: bytes = b"", reference: str = "") -> None:
        super().__init__(message)
        self.line = line[:512]
        self.reference = reference

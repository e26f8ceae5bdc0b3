"""The reference client's sans-IO POP3 engine (RFC 1939, 2449, 5034)."""

from refclient.protocol.pop3.engine import NEED_DATA, Challenge, NeedData, POP3Engine, Status

__all__ = ["NEED_DATA", "Challenge", "NeedData", "POP3Engine", "Status"]

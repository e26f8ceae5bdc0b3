"""The fake POP3 server (RFC 1939, 2449, 2595, 5034) over the shared mail store."""

from fakeservers.pop3.server import start_pop3_server

__all__ = ["start_pop3_server"]

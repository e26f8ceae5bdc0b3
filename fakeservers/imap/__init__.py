"""The fake IMAP4rev1 server (RFC 3501) over the shared mail store."""

from fakeservers.imap.server import start_imap_server

__all__ = ["start_imap_server"]

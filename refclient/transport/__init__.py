"""The thin asyncio layer between sockets and the sans-IO engines."""

from refclient.transport.stream import Stream, TLSInfo

__all__ = ["Stream", "TLSInfo"]

"""Raw DEFLATE both ways on one connection (IMAP COMPRESS=DEFLATE, RFC 4978 section 4).

RFC 4978 section 4 asks for raw deflate (RFC 1951, no zlib header: ``wbits``
-15) with a sync flush after each burst of data, so the peer can decode
every command as soon as it arrives. Inflating is bounded: each call returns
at most ``chunk`` octets and keeps the rest of the input for the next call,
so a small hostile input cannot expand into unbounded memory at once.
"""

from __future__ import annotations

import zlib


class DeflateError(Exception):
    """The peer's compressed stream is corrupt."""


class Deflate:
    """One connection's compressor and decompressor."""

    def __init__(self, *, chunk: int = 1024 * 1024) -> None:
        self._compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        self._decompressor = zlib.decompressobj(-15)
        self._chunk = chunk
        self._tail = b""

    def compress(self, data: bytes) -> bytes:
        """``data`` deflated and sync-flushed (RFC 4978 section 4)."""
        return self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)

    @property
    def pending(self) -> bool:
        """Whether compressed input is left over from the last call."""
        return bool(self._tail)

    def decompress(self, data: bytes) -> bytes:
        """Inflate what was left over and ``data``: at most ``chunk`` octets per call."""
        try:
            plain = self._decompressor.decompress(self._tail + data, self._chunk)
        except zlib.error as exc:
            raise DeflateError(f"corrupt DEFLATE stream: {exc}") from exc
        self._tail = self._decompressor.unconsumed_tail
        if self._decompressor.eof:
            raise DeflateError("the DEFLATE stream ended, which RFC 4978 does not allow")
        return plain

"""The reference client's sans-IO SMTP submission engine (RFC 5321, 6409)."""

from refclient.protocol.smtp.data import stuff, unstuff
from refclient.protocol.smtp.engine import NEED_DATA, Answer, NeedData, SMTPEngine
from refclient.protocol.smtp.replies import Reply, ReplyReader, parse_ehlo

__all__ = [
    "NEED_DATA",
    "Answer",
    "NeedData",
    "Reply",
    "ReplyReader",
    "SMTPEngine",
    "parse_ehlo",
    "stuff",
    "unstuff",
]

"""The reference client's sans-IO SMTP submission engine (RFC 5321, 6409, 3030, 3461)."""

from refclient.protocol.smtp.data import stuff, unstuff
from refclient.protocol.smtp.engine import NEED_DATA, Answer, NeedData, SMTPEngine
from refclient.protocol.smtp.parameters import (
    DeliveryStatusRequest,
    body_type,
    encode_xtext,
    needs_binarymime,
)
from refclient.protocol.smtp.replies import Reply, ReplyReader, parse_ehlo

__all__ = [
    "NEED_DATA",
    "Answer",
    "DeliveryStatusRequest",
    "NeedData",
    "Reply",
    "ReplyReader",
    "SMTPEngine",
    "body_type",
    "encode_xtext",
    "needs_binarymime",
    "parse_ehlo",
    "stuff",
    "unstuff",
]

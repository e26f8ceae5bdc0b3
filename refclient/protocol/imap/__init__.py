"""The reference client's sans-IO IMAP4rev1 engine (RFC 3501)."""

from refclient.protocol.imap.commands import Atom, Literal, sequence_set
from refclient.protocol.imap.dates import format_internal_date, parse_internal_date
from refclient.protocol.imap.engine import NEED_DATA, IMAPEngine, State
from refclient.protocol.imap.parser import Continuation, ResponseCode, Tagged, Untagged, Value
from refclient.protocol.imap.structures import (
    Address,
    BodyStructure,
    Envelope,
    FetchData,
    merge_fetch,
    parse_bodystructure,
    parse_envelope,
    parse_fetch,
)

__all__ = [
    "NEED_DATA",
    "Address",
    "Atom",
    "BodyStructure",
    "Continuation",
    "Envelope",
    "FetchData",
    "IMAPEngine",
    "Literal",
    "ResponseCode",
    "State",
    "Tagged",
    "Untagged",
    "Value",
    "format_internal_date",
    "merge_fetch",
    "parse_bodystructure",
    "parse_envelope",
    "parse_fetch",
    "parse_internal_date",
    "sequence_set",
]

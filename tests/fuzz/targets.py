"""Fuzz targets shared by the coverage-guided fuzzer and the regression tests.

Each target takes arbitrary octets and feeds them to one parser the way a
hostile peer would; the only exceptions it may let out are the parser's
documented protocol errors, which the target swallows. Anything else escaping
is a bug: the fuzzer reports it, and the failing input becomes a regression
case in ``corpus/`` (checked by ``test_fuzz_corpus.py`` on every run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from fakeservers.imap.parser import ParseError, parse_command
from fakeservers.pop3.command import CommandError
from fakeservers.pop3.command import parse_command as parse_pop3_command
from refclient.protocol.errors import ProtocolError
from refclient.protocol.imap.engine import IMAPEngine, NeedData
from refclient.protocol.pop3 import NEED_DATA as POP3_NEED_DATA
from refclient.protocol.pop3 import POP3Engine
from refclient.protocol.smtp import NEED_DATA as SMTP_NEED_DATA
from refclient.protocol.smtp import SMTPEngine
from refclient.scenario.loader import ScenarioError, load_text


def _split(data: bytes) -> tuple[int, bytes]:
    """The first octet chooses the chunk size (1 to 256), so trickled input is fuzzed too."""
    return (data[0] + 1 if data else 1), data[1:]


def imap_responses(data: bytes) -> None:
    """The reference client's IMAP engine, after a greeting, fed in chunks."""
    chunk, rest = _split(data)
    engine = IMAPEngine(max_line=4096, max_literal=65536, max_nesting=50, max_untagged=1000)
    try:
        engine.receive_data(b"* OK ready\r\n")
        engine.next_event()
        engine.send("NOOP")
        for start in range(0, len(rest), chunk):
            engine.receive_data(rest[start : start + chunk])
            while not isinstance(engine.next_event(), NeedData):
                pass
        engine.receive_data(b"")
        while not isinstance(engine.next_event(), NeedData):
            pass
    except ProtocolError:
        pass


def smtp_replies(data: bytes) -> None:
    """The reference client's SMTP engine reading replies, fed in chunks."""
    chunk, rest = _split(data)
    engine = SMTPEngine(max_line=4096)
    try:
        engine.send("EHLO fuzz")
        for start in range(0, len(rest), chunk):
            engine.receive_data(rest[start : start + chunk])
            while engine.next_event() is not SMTP_NEED_DATA:
                pass
    except ProtocolError:
        pass


def pop3_replies(data: bytes) -> None:
    """The reference client's POP3 engine reading a multi-line reply, fed in chunks."""
    chunk, rest = _split(data)
    engine = POP3Engine()
    try:
        engine.send("RETR 1", multiline=True)
        for start in range(0, len(rest), chunk):
            engine.receive_data(rest[start : start + chunk])
            while engine.next_event() is not POP3_NEED_DATA:
                pass
    except ProtocolError:
        pass


def imap_commands(data: bytes) -> None:
    """The fake IMAP server's command parser."""
    with contextlib.suppress(ParseError):
        parse_command(data)


def pop3_commands(data: bytes) -> None:
    """The fake POP3 server's command parser."""
    with contextlib.suppress(CommandError):
        parse_pop3_command(data)


def scenario_files(data: bytes) -> None:
    """The scenario loader, on any text."""
    with contextlib.suppress(ScenarioError):
        load_text(data.decode("utf-8", "replace"), file="fuzz.yaml")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "imap-responses": imap_responses,
    "smtp-replies": smtp_replies,
    "pop3-replies": pop3_replies,
    "imap-commands": imap_commands,
    "pop3-commands": pop3_commands,
    "scenario-files": scenario_files,
}

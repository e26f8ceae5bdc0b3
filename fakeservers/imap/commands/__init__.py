"""IMAP command handlers, one module per group of related commands.

A handler takes the :class:`~fakeservers.imap.session.Session` and the parsed
:class:`~fakeservers.imap.parser.Command`, writes untagged data through the
session and returns the tagged :class:`~fakeservers.imap.session.Reply` (or
None when it has already answered, as STARTTLS must before the handshake).
"""

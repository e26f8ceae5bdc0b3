"""What a client has switched on in its session (ENABLE, RFC 5161, and implicit enabling).

One :class:`Enabled` belongs to each session and is shared with its selected
mailbox's view, because the updates the view owes the client change shape with
it: MODSEQ in unsolicited FETCH responses once CONDSTORE is on (RFC 7162
section 3.1), VANISHED instead of EXPUNGE once QRESYNC is on (section 3.2.10),
no RECENT and no ``\\Recent`` under IMAP4rev2 (RFC 9051 appendix E).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The capabilities ENABLE can switch on, with the ones each implies.
ENABLEABLE: dict[str, tuple[str, ...]] = {
    "CONDSTORE": ("CONDSTORE",),
    "QRESYNC": ("QRESYNC", "CONDSTORE"),  # RFC 7162 section 3.2.3
    "UTF8=ACCEPT": ("UTF8=ACCEPT",),
    "IMAP4REV2": ("IMAP4rev2",),
}


@dataclass
class Enabled:
    """The extensions a session has enabled."""

    condstore: bool = False
    qresync: bool = False
    utf8_accept: bool = False
    imap4rev2: bool = False

    def enable(self, name: str) -> str | None:
        """Switch on ``name`` (and what it implies).

        Returns its canonical name if it was not on before (the ENABLED response
        names only those, RFC 5161 section 3.1), else None; unknown names are None.
        """
        implied = ENABLEABLE.get(name.upper(), ())
        if not implied:
            return None
        canonical = implied[0]
        newly = not getattr(self, _ATTRIBUTES[canonical])
        for each in implied:
            setattr(self, _ATTRIBUTES[each], True)
        return canonical if newly else None

    @property
    def utf8_names(self) -> bool:
        """Whether mailbox names go out in UTF-8 (RFC 6855 section 3, RFC 9051 section 5.1)."""
        return self.utf8_accept or self.imap4rev2


_ATTRIBUTES = {
    "CONDSTORE": "condstore",
    "QRESYNC": "qresync",
    "UTF8=ACCEPT": "utf8_accept",
    "IMAP4rev2": "imap4rev2",
}

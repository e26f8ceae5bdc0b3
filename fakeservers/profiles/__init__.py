"""Provider profiles: what a fake server says and how it misbehaves, as one data file each.

A profile (``fakeservers/profiles/NAME.yaml``, documented in
``docs/profiles.md``) sets per protocol the greeting, the capabilities in each
state, the SASL mechanisms, the folders with their SPECIAL-USE attributes,
limits, and named quirks. Quirks are defined once, in ``quirks.yaml``, as
rules of :mod:`fakeservers.rules`; a profile lists the quirks its provider
shows, and a scenario or ``mailcompat serve --quirk`` can turn on more.

:mod:`.model` holds the types; :mod:`.catalogue` reads the bundled files and
builds a server configuration from a profile (imported on its own, because
the configuration module itself depends on the types).
"""

from fakeservers.profiles.model import (
    CapabilitySets,
    ImapProfile,
    Pop3Profile,
    Profile,
    Quirk,
    SmtpProfile,
)

__all__ = [
    "CapabilitySets",
    "ImapProfile",
    "Pop3Profile",
    "Profile",
    "Quirk",
    "SmtpProfile",
]

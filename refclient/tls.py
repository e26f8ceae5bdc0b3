"""The one place where the reference client builds SSL contexts.

Secure by default (DESIGN.md, RFC 8314, RFC 7817): certificates and host
names are verified against the system's trust store plus any ``--ca-file``;
host names match DNS-IDs only (never the subject common name) with a
wildcard allowed only as the whole left-most label; TLS 1.2 is the floor
(RFC 8996 retired 1.0 and 1.1). Turning verification off takes an explicit
option and is logged as a warning.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def client_context(
    *,
    ca_file: Path | None = None,
    verify: bool = True,
    alpn: Sequence[str] = (),
    minimum_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client context; ``verify=False`` is for labs only and warns.

    ``alpn`` lists the ALPN protocol ids to offer (RFC 7301; ``imap`` and
    ``pop3`` are registered, RFC 9051 / IANA); an empty list offers none.
    """
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = minimum_version
    # RFC 7817 section 3 / RFC 6125: match DNS-IDs only, never the CN.
    context.hostname_checks_common_name = False
    if ca_file is not None:
        context.load_verify_locations(cafile=str(ca_file))
    if alpn:
        context.set_alpn_protocols(list(alpn))
    if not verify:
        log.warning("TLS certificate verification is OFF (--insecure-skip-verify)")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

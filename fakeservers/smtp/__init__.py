"""The fake SMTP submission server (RFC 6409, 3207, 4954, 8314) on aiosmtpd."""

import logging

from fakeservers.smtp.server import start_smtp_server
from fakeservers.smtp.trace import strip_trace_headers

__all__ = ["start_smtp_server", "strip_trace_headers"]

# aiosmtpd logs every client's misstep ("unrecognised: ...") as a warning on its
# "mail.log" logger without a handler of its own, so Python's last-resort
# handler would print them on stderr of whatever program embeds the servers.
# An application that configures logging still sees them.
logging.getLogger("mail.log").addHandler(logging.NullHandler())

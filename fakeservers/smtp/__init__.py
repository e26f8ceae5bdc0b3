"""The fake SMTP submission server (RFC 6409, 3207, 4954, 8314) on aiosmtpd."""

from fakeservers.smtp.server import start_smtp_server
from fakeservers.smtp.trace import strip_trace_headers

__all__ = ["start_smtp_server", "strip_trace_headers"]

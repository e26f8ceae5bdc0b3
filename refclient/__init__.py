"""mailcompat's reference mail client: strict, secure IMAP4, POP3 and SMTP submission."""

__version__ = "0.1.0"

"""mailcompat's fake mail servers: one store, SMTP submission, POP3 and IMAP over TLS."""

"""pytest fixtures for the fake mail servers (registered as a ``pytest11`` entry point)."""

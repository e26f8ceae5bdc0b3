"""Session fixtures of the interop tests: a private Dovecot and Postfix, started once.

``interop_servers`` starts both servers the first time a test asks for them
and stops them when the session (or the xdist worker) ends. Where they are
not installed, or cannot run here, every test using the fixture is skipped
with the reason, unless ``MAILCOMPAT_INTEROP_REQUIRED=1`` (set by ``tox -e
interop``) turns the skip into a failure; where they are installed but fail
to start, the tests error out with the servers' log tail.

The servers' files live in :func:`~tests.interop.system.server_directory`,
not under pytest's ``tmp_path_factory`` (the reason is given there).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .environment import InteropServers, running_servers, server_pki
from .system import missing_requirement, server_directory

#: Set to 1 where the servers must be there (``tox -e interop``): a skip would hide a gap.
REQUIRED_VARIABLE = "MAILCOMPAT_INTEROP_REQUIRED"


@pytest.fixture(scope="session")
def interop_servers() -> Iterator[InteropServers]:
    """The running private Dovecot and Postfix (see ``environment.InteropServers``)."""
    reason = missing_requirement()
    if reason is not None:
        message = f"interop environment unavailable: {reason}"
        if os.environ.get(REQUIRED_VARIABLE) == "1":
            pytest.fail(message)
        pytest.skip(message)
    with server_directory() as root, running_servers(root, pki=server_pki()) as servers:
        yield servers

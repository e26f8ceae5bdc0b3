"""Judging mail clients from the server's side: the malicious-server cases and their verdicts.

:mod:`.journal` records what clients did; :mod:`.cases` defines each
malicious server (as fault rules and TLS variants) with the behaviour a
correct client shows and its source; :mod:`.verdict` turns a journal into
``safe``, ``vulnerable``, ``violation`` or ``inconclusive`` with evidence;
:mod:`.audit` runs an external client command against each case.
"""

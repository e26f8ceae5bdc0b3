"""``mailcompat profiles``: list, show, quirks; an unknown profile is a usage error."""

from __future__ import annotations

import pytest

from refclient.cli import main


def test_list_names_every_profile_with_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("default ")
    assert any(line.startswith("gmail ") and "X-GM-EXT-1" in line for line in lines)


def test_show_prints_capabilities_folders_quirks_and_gaps(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["profiles", "show", "gmail"]) == 0
    out = capsys.readouterr().out
    assert "greeting: Gimap ready for requests from {peer}" in out
    assert "after login:     IMAP4rev1 UNSELECT IDLE" in out
    assert "[Gmail]/Sent Mail  \\Sent" in out
    assert "highestmodseq-without-text:" in out
    assert "not implemented by the fake servers" in out and "XLIST" in out


def test_quirks_lists_every_quirk(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "quirks"]) == 0
    assert "basic-auth-disabled" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"), [(["show", "gmial"], "did you mean 'gmail'"), (["show"], "which profile")]
)
def test_mistakes_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", *args]) == 2
    assert message in capsys.readouterr().err

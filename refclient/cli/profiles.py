"""``mailcompat profiles``: the fake servers' provider profiles and quirks.

``mailcompat profiles`` lists the profiles with one line each;
``mailcompat profiles show NAME`` prints one in full (greetings, capabilities
by state, folders, limits, quirks, sources, and what it advertises that the
fake servers do not implement); ``mailcompat profiles quirks`` lists the
named quirks a profile, a scenario or ``serve --quirk`` can turn on.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from fakeservers.profiles import CapabilitySets, Profile
from fakeservers.profiles.catalogue import (
    ProfileError,
    load_profile,
    load_quirks,
    profile_names,
    unimplemented,
)

EXIT_OK, EXIT_USAGE = 0, 2


def register(subparsers: Any) -> None:
    """Add ``profiles`` to the command line."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "profiles",
        help="list the fake servers' provider profiles and quirks",
        description="List the provider profiles of the fake servers (mailcompat serve "
        "--profile, targets fake:PROFILE), show one, or list the named quirks.",
    )
    parser.add_argument("action", nargs="?", choices=("list", "show", "quirks"), default="list")
    parser.add_argument("name", nargs="?", help="the profile to show")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print what was asked; exit 2 for an unknown profile."""
    if args.action == "quirks":
        for quirk in load_quirks().values():
            print(f"{quirk.name:<28} {quirk.description}")
        return EXIT_OK
    if args.action == "list":
        for name in profile_names():
            print(f"{name:<16} {load_profile(name).description}")
        return EXIT_OK
    if not args.name:
        print("mailcompat profiles show: which profile? (mailcompat profiles)", file=sys.stderr)
        return EXIT_USAGE
    try:
        profile = load_profile(args.name)
    except ProfileError as error:
        print(f"mailcompat profiles: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(render(profile))
    return EXIT_OK


def render(profile: Profile) -> str:
    """A profile as text a person reads."""
    lines = [f"{profile.name}: {profile.description}"]
    for source in profile.sources:
        lines.append(f"  source: {source}")
    sides = (("imap", profile.imap), ("pop3", profile.pop3), ("smtp", profile.smtp))
    for protocol, side in sides:
        lines.append("")
        lines.append(f"{protocol.upper()}")
        lines.append(f"  greeting: {side.greeting or '(the server default)'}")
        lines += _capability_lines(side.capabilities)
    folders = profile.imap.folders
    if folders is not None:
        lines.append("")
        lines.append("folders:")
        lines += [f"  {name}{f'  {use}' if use else ''}" for name, use in folders]
    if profile.limits:
        lines.append("")
        lines.append("limits: " + ", ".join(f"{k}={v}" for k, v in profile.limits.items()))
    if profile.quirks:
        quirks = load_quirks()
        lines.append("")
        lines.append("quirks:")
        lines += [f"  {name}: {quirks[name].description}" for name in profile.quirks]
    missing = unimplemented(profile)
    if any(missing.values()):
        lines.append("")
        lines.append("advertised as the provider does, but not implemented by the fake servers:")
        lines += [f"  {p}: {' '.join(names)}" for p, names in missing.items() if names]
    return "\n".join(lines)


def _capability_lines(declared: CapabilitySets | None) -> list[str]:
    if declared is None:
        return ["  capabilities: (computed by the server from what it implements)"]
    lines = []
    if declared.starttls is not None:
        lines.append(f"  before STARTTLS: {' '.join(declared.starttls)}")
    lines.append(f"  before login:    {' '.join(declared.before_login)}")
    if declared.after_login:
        lines.append(f"  after login:     {' '.join(declared.after_login)}")
    return lines

"""Variables in scenarios: ``$name``, ``${account[0].address}``, ``$run_token``.

A string that is exactly one reference takes the referenced value as it is
(bytes stay bytes, lists stay lists); a reference inside a longer string is
replaced by its text. ``$$`` is a literal ``$``. Paths go into mappings with
``.key`` and into lists with ``[index]``; inside text, write ``${...}`` when
the reference is followed by a dot or a letter.

The built-in variables are ``run_token`` (unique per scenario run, so that
parallel runs never collide), ``account`` (the target's accounts: ``user``,
``address``), ``scenario`` (the id) and ``target`` (the target's name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

BUILTINS: tuple[str, ...] = ("run_token", "account", "scenario", "target")

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_PATH = rf"{_NAME}(?:\.{_NAME}|\[\d+\])*"
_REFERENCE = re.compile(rf"\$(?:\{{(?P<braced>[^}}]*)\}}|(?P<bare>{_PATH})|(?P<dollar>\$))")
_PATH_RE = re.compile(rf"^{_PATH}$")
_SEGMENT = re.compile(rf"\.?(?P<key>{_NAME})|\[(?P<index>\d+)\]")


class VariableError(Exception):
    """A reference is malformed, undefined, or leads nowhere."""


def parse_path(path: str) -> tuple[str, list[str | int]]:
    """``account[0].address`` -> ``("account", [0, "address"])``."""
    if not _PATH_RE.match(path):
        raise VariableError(f"malformed variable path {path!r}")
    segments: list[str | int] = []
    for match in _SEGMENT.finditer(path):
        key, index = match.group("key"), match.group("index")
        segments.append(int(index) if index is not None else key)
    root = segments.pop(0)
    assert isinstance(root, str)
    return root, segments


def references(text: str) -> Iterator[str]:
    """The paths referenced in ``text`` (raises on a malformed ``${...}``)."""
    for match in _REFERENCE.finditer(text):
        if match.group("dollar") is not None:
            continue
        path = match.group("braced") if match.group("braced") is not None else match["bare"]
        parse_path(path)
        yield path


def follow(value: Any, segments: list[str | int], *, path: str) -> Any:
    """Walk ``segments`` into ``value`` (mappings by key, sequences by index)."""
    for segment in segments:
        try:
            if isinstance(segment, int) or isinstance(value, Mapping):
                value = value[segment]
            else:
                raise KeyError(segment)
        except (KeyError, IndexError, TypeError):
            raise VariableError(f"{path}: no {segment!r} in {_describe(value)}") from None
    return value


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        keys = ", ".join(sorted(str(key) for key in value))
        return f"a mapping with keys [{keys}]"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """The value at ``path`` (``name.key[0]``)."""
    root, segments = parse_path(path)
    if root not in variables:
        raise VariableError(f"undefined variable ${root}")
    return follow(variables[root], segments, path=path)


def substitute(value: Any, variables: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced, recursively through lists and mappings."""
    if isinstance(value, str):
        return _substitute_text(value, variables)
    if isinstance(value, list):
        return [substitute(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, variables) for key, item in value.items()}
    return value


def _substitute_text(text: str, variables: Mapping[str, Any]) -> Any:
    whole = _REFERENCE.fullmatch(text)
    if whole is not None and whole.group("dollar") is None:
        return lookup(variables, whole.group("braced") or whole.group("bare"))

    def replace(match: re.Match[str]) -> str:
        if match.group("dollar") is not None:
            return "$"
        found = lookup(variables, match.group("braced") or match.group("bare"))
        if isinstance(found, bytes):
            return found.decode("utf-8", "surrogateescape")
        return str(found)

    return _REFERENCE.sub(replace, text)

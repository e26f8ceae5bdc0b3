"""Matchers of expectations: ``equals``, ``contains``, ``at_least``... on a step's result.

``expect: {tls.version: {at_least: TLSv1.2}, capabilities: {contains: IDLE}}``.
A plain value instead of a mapping means ``equals``. Each matcher returns None
when the value passes, else a sentence saying what was seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sized
from typing import Any

#: TLS protocol versions in order, as :meth:`ssl.SSLObject.version` names them.
TLS_VERSIONS: tuple[str, ...] = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _normalize(value: Any) -> Any:
    """Bytes compare with str as UTF-8; tuples compare as lists."""
    if isinstance(value, tuple):
        return [_normalize(item) for item in value]
    if isinstance(value, list):
        return [_normalize(item) for item in value]
    return value


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bytes) and isinstance(expected, str):
        expected = expected.encode("utf-8")
    elif isinstance(actual, str) and isinstance(expected, bytes):
        actual = actual.encode("utf-8")
    return bool(_normalize(actual) == _normalize(expected))


def _ordered(value: Any) -> Any:
    if isinstance(value, str) and value in TLS_VERSIONS:
        return TLS_VERSIONS.index(value)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + f"... ({len(text)} characters)"


def _contains(actual: Any, item: Any) -> bool:
    if isinstance(actual, bytes):
        needle = item.encode("utf-8") if isinstance(item, str) else item
        return isinstance(needle, bytes) and needle in actual
    if isinstance(actual, str):
        return isinstance(item, str) and item in actual
    if isinstance(actual, Mapping):
        return item in actual
    if isinstance(actual, list | tuple | set | frozenset):
        return any(_same(element, item) for element in actual)
    return False


def _equals(actual: Any, operand: Any) -> str | None:
    return None if _same(actual, operand) else f"is {_show(actual)}, expected {_show(operand)}"


def _not_equals(actual: Any, operand: Any) -> str | None:
    return None if not _same(actual, operand) else f"is {_show(actual)}, expected otherwise"


def _contains_all(actual: Any, operand: Any) -> str | None:
    wanted = operand if isinstance(operand, list) else [operand]
    missing = [item for item in wanted if not _contains(actual, item)]
    return f"{_show(actual)} lacks {_show(missing)}" if missing else None


def _contains_none(actual: Any, operand: Any) -> str | None:
    unwanted = operand if isinstance(operand, list) else [operand]
    present = [item for item in unwanted if _contains(actual, item)]
    return f"{_show(actual)} has {_show(present)}" if present else None


def _ends_with(actual: Any, operand: Any) -> str | None:
    """The message as sent, behind the trace fields a server prepends (RFC 5321 4.4)."""
    tail = operand.encode("utf-8") if isinstance(operand, str) else operand
    data = actual.encode("utf-8") if isinstance(actual, str) else actual
    if isinstance(data, bytes) and isinstance(tail, bytes) and data.endswith(tail):
        return None
    return f"{_show(actual)} does not end with {_show(operand)}"


def _matches(actual: Any, operand: Any) -> str | None:
    text = actual.decode("utf-8", "replace") if isinstance(actual, bytes) else str(actual)
    found = re.search(str(operand), text, re.MULTILINE)
    return None if found else f"{_show(actual)} does not match /{operand}/"


def _at_least(actual: Any, operand: Any) -> str | None:
    try:
        passed = _ordered(actual) >= _ordered(operand)
    except TypeError:
        return f"{_show(actual)} cannot be compared with {_show(operand)}"
    return None if passed else f"is {_show(actual)}, expected at least {_show(operand)}"


def _at_most(actual: Any, operand: Any) -> str | None:
    try:
        passed = _ordered(actual) <= _ordered(operand)
    except TypeError:
        return f"{_show(actual)} cannot be compared with {_show(operand)}"
    return None if passed else f"is {_show(actual)}, expected at most {_show(operand)}"


def _one_of(actual: Any, operand: Any) -> str | None:
    choices = operand if isinstance(operand, list) else [operand]
    passed = any(_same(actual, choice) for choice in choices)
    return None if passed else f"is {_show(actual)}, expected one of {_show(choices)}"


def _length(actual: Any, operand: Any) -> str | None:
    if not isinstance(actual, Sized):
        return f"{_show(actual)} has no length"
    return None if len(actual) == operand else f"has length {len(actual)}, expected {operand}"


def _empty(actual: Any, operand: Any) -> str | None:
    is_empty = (isinstance(actual, Sized) and len(actual) == 0) or actual is None
    if bool(operand) == is_empty:
        return None
    return f"is {_show(actual)}, expected {'empty' if operand else 'not empty'}"


MATCHERS: Mapping[str, Callable[[Any, Any], str | None]] = {
    "equals": _equals,
    "not_equals": _not_equals,
    "contains": _contains_all,
    "not_contains": _contains_none,
    "matches": _matches,
    "ends_with": _ends_with,
    "at_least": _at_least,
    "at_most": _at_most,
    "one_of": _one_of,
    "length": _length,
    "empty": _empty,
}

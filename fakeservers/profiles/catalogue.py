"""Reading profiles and quirks from their data files, and building a server config from them."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import yaml

from fakeservers import sasl
from fakeservers.config import Limits, ServerConfig
from fakeservers.imap.session import EXTENSIONS
from fakeservers.pop3.session import capabilities as pop3_capabilities
from fakeservers.profiles.model import (
    BEHAVIOURS,
    SETTINGS,
    CapabilitySets,
    ImapProfile,
    Pop3Profile,
    Profile,
    Quirk,
    SmtpProfile,
)
from fakeservers.rules import RuleBook, RuleError, RuleSet, rule_from_data
from fakeservers.rules.loading import unknown_key

DEFAULT_PROFILE = "default"

_PROFILE_KEYS = (
    "name",
    "description",
    "sources",
    "imap",
    "pop3",
    "smtp",
    "limits",
    "quirks",
    "rules",
)
_SIDE_KEYS = {
    "imap": ("greeting", "greeting_capabilities", "capabilities", "folders"),
    "pop3": ("greeting", "capabilities"),
    "smtp": ("greeting", "capabilities"),
}
_CAPABILITY_KEYS = ("starttls", "before_login", "after_login")


class ProfileError(ValueError):
    """A profile or quirk file is wrong, or a name is unknown; the message says which and where."""


def _data_file(name: str) -> Any:
    return resources.files("fakeservers.profiles").joinpath(name)


def profile_names() -> list[str]:
    """Every bundled profile, ``default`` first."""
    names = sorted(
        entry.name.removesuffix(".yaml")
        for entry in resources.files("fakeservers.profiles").iterdir()
        if entry.name.endswith(".yaml") and entry.name != "quirks.yaml"
    )
    return [DEFAULT_PROFILE] + [name for name in names if name != DEFAULT_PROFILE]


@functools.cache
def load_quirks() -> dict[str, Quirk]:
    """Every named quirk of ``quirks.yaml``."""
    document = _read("quirks.yaml")
    if not isinstance(document, Mapping):
        raise ProfileError("quirks.yaml: must map quirk names to {description, rules}")
    quirks = {}
    for name, body in document.items():
        where = f"quirks.yaml: quirk {name!r}"
        allowed = {"description", "source", "rules", "behaviours", "settings"}
        if not isinstance(body, Mapping) or not set(body) <= allowed:
            raise ProfileError(f"{where}: must be a mapping of {', '.join(sorted(allowed))}")
        behaviours = tuple(_strings(body.get("behaviours"), f"{where}: behaviours"))
        unknown = [name for name in behaviours if name not in BEHAVIOURS]
        if unknown:
            raise ProfileError(f"{where}: unknown behaviour(s) {unknown}")
        settings = _mapping(body.get("settings") or {}, f"{where}: settings", tuple(SETTINGS))
        for key, value in settings.items():
            if not isinstance(value, SETTINGS[key]) or isinstance(value, bool):
                raise ProfileError(f"{where}: settings.{key} must be {SETTINGS[key].__name__}")
        rules = body.get("rules") or []
        try:
            parsed = tuple(
                rule_from_data({"name": f"{name}/{i}", **rule}, i)
                for i, rule in enumerate(rules, 1)
            )
        except (RuleError, TypeError) as error:
            raise ProfileError(f"{where}: {error}") from None
        quirks[name] = Quirk(
            name=name,
            description=str(body.get("description", "")),
            source=str(body.get("source", "")),
            rules=parsed,
            behaviours=behaviours,
            settings=settings,
        )
    return quirks


@functools.cache
def load_profile(name: str) -> Profile:
    """The bundled profile ``name``; :class:`ProfileError` names the known ones if unknown."""
    known = profile_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ProfileError(f"unknown profile {name!r}{hint} (known: {', '.join(known)})")
    return profile_from_data(_read(f"{name}.yaml"), where=f"{name}.yaml")


def _read(filename: str) -> Any:
    try:
        return yaml.safe_load(_data_file(filename).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"{filename}: {error}") from None


def profile_from_data(data: Any, *, where: str) -> Profile:
    """A profile from its mapping; every mistake names ``where`` and the key."""
    body = _mapping(data, where, _PROFILE_KEYS)
    for required in ("name", "description"):
        if not isinstance(body.get(required), str):
            raise ProfileError(f"{where}: {required} must be a string")
    limits = body.get("limits") or {}
    limit_fields = {f.name for f in dataclasses.fields(Limits)}
    _mapping(limits, f"{where}: limits", tuple(limit_fields))
    quirks = tuple(_strings(body.get("quirks"), f"{where}: quirks"))
    unknown = [quirk for quirk in quirks if quirk not in load_quirks()]
    if unknown:
        raise ProfileError(f"{where}: unknown quirk(s) {unknown}; see quirks.yaml")
    try:
        rules = tuple(
            rule_from_data({"name": f"{body['name']}/{i}", **rule}, i)
            for i, rule in enumerate(body.get("rules") or [], 1)
        )
    except (RuleError, TypeError) as error:
        raise ProfileError(f"{where}: {error}") from None
    imap = _mapping(body.get("imap") or {}, f"{where}: imap", _SIDE_KEYS["imap"])
    pop3 = _mapping(body.get("pop3") or {}, f"{where}: pop3", _SIDE_KEYS["pop3"])
    smtp = _mapping(body.get("smtp") or {}, f"{where}: smtp", _SIDE_KEYS["smtp"])
    return Profile(
        name=body["name"],
        description=body["description"],
        sources=tuple(_strings(body.get("sources"), f"{where}: sources")),
        imap=ImapProfile(
            greeting=_text(imap, "greeting", where),
            greeting_capabilities=bool(imap.get("greeting_capabilities", True)),
            capabilities=_capabilities(imap.get("capabilities"), f"{where}: imap"),
            folders=_folders(imap.get("folders"), f"{where}: imap.folders"),
        ),
        pop3=Pop3Profile(
            greeting=_text(pop3, "greeting", where),
            capabilities=_capabilities(pop3.get("capabilities"), f"{where}: pop3"),
        ),
        smtp=SmtpProfile(
            greeting=_text(smtp, "greeting", where),
            capabilities=_capabilities(smtp.get("capabilities"), f"{where}: smtp"),
        ),
        limits=dict(limits),
        quirks=quirks,
        rules=rules,
    )


def _mapping(value: Any, where: str, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where}: must be a mapping")
    unknown = unknown_key(value, keys)
    if unknown is not None:
        raise ProfileError(f"{where}: {unknown}")
    return dict(value)


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ProfileError(f"{where}: must be a list of strings")
    return list(value)


def _text(side: Mapping[str, Any], key: str, where: str) -> str | None:
    value = side.get(key)
    if value is not None and not isinstance(value, str):
        raise ProfileError(f"{where}: {key} must be a string")
    return value


def _capabilities(value: Any, where: str) -> CapabilitySets | None:
    if value is None:
        return None
    body = _mapping(value, f"{where}.capabilities", _CAPABILITY_KEYS)
    starttls = body.get("starttls")
    return CapabilitySets(
        starttls=tuple(_strings(starttls, f"{where}.starttls")) if starttls is not None else None,
        before_login=tuple(_strings(body.get("before_login"), f"{where}.before_login")),
        after_login=tuple(_strings(body.get("after_login"), f"{where}.after_login")),
    )


def _folders(value: Any, where: str) -> tuple[tuple[str, str | None], ...] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ProfileError(f"{where}: must be a list of {{name, special_use}}")
    folders = []
    for item in value:
        entry = _mapping(item, where, ("name", "special_use"))
        name, use = entry.get("name"), entry.get("special_use")
        if not isinstance(name, str) or (use is not None and not isinstance(use, str)):
            raise ProfileError(f"{where}: name must be a string, special_use a string or null")
        folders.append((name, use))
    if not any(name.upper() == "INBOX" for name, _ in folders):
        folders.insert(0, ("INBOX", None))
    return tuple(folders)


def server_config(
    profile: str | Profile = DEFAULT_PROFILE,
    *,
    hostname: str = "localhost",
    limits: Mapping[str, Any] | None = None,
    quirks: Iterable[str] = (),
    rules: RuleSet | None = None,
) -> ServerConfig:
    """The config of a server set emulating ``profile``.

    Limits: the profile's, then ``limits``. Rules: those of the profile's
    quirks and of ``quirks``, the profile's own, then ``rules`` (whose seed
    the whole set takes).
    """
    chosen = load_profile(profile) if isinstance(profile, str) else profile
    known = load_quirks()
    wanted = list(dict.fromkeys([*chosen.quirks, *quirks]))
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise ProfileError(f"unknown quirk(s) {unknown} (known: {', '.join(sorted(known))})")
    collected = [rule for name in wanted for rule in known[name].rules]
    collected += chosen.rules
    extra = rules if rules is not None else RuleSet()
    try:
        ruleset = RuleSet([*collected, *extra.rules], seed=extra.seed, journal=extra.journal)
    except ValueError as error:
        raise ProfileError(str(error)) from None
    try:
        limit_values = Limits(**{**chosen.limits, **(limits or {})})
    except TypeError as error:
        raise ProfileError(f"limits: {error}") from None
    behaviours = frozenset(b for name in wanted for b in known[name].behaviours)
    settings = {key: value for name in wanted for key, value in known[name].settings.items()}
    return ServerConfig(
        hostname=hostname,
        profile=chosen,
        limits=limit_values,
        rules=RuleBook(ruleset),
        behaviours=behaviours,
        **settings,
    )


#: SMTP EHLO keywords the fake submission server implements (aiosmtpd's and the
#: handler's; tests compare this with a live EHLO of the default profile).
SMTP_KEYWORDS = frozenset(
    {"SIZE", "8BITMIME", "SMTPUTF8", "STARTTLS", "AUTH", "PIPELINING", "ENHANCEDSTATUSCODES"}
    # RFC 3030, RFC 3461, RFC 8689 (fakeservers.smtp.extensions, fakeservers.smtp.parameters)
    | {"CHUNKING", "BINARYMIME", "DSN", "REQUIRETLS"}
)


def implemented(protocol: str) -> frozenset[str]:
    """The capability keywords the fake ``protocol`` server implements (upper case)."""
    mechanisms = {f"AUTH={name}" for name in sasl.MECHANISMS}
    if protocol == "imap":
        # LITERAL- (RFC 7888 section 5): advertised without LITERAL+, the server refuses
        # non-synchronizing literals over 4096 octets (fakeservers.imap.framing).
        names = {"IMAP4REV1", "STARTTLS", "LOGINDISABLED", "X-GM-EXT-1", "LITERAL-", *mechanisms}
        return frozenset(name.upper() for name in (*names, *EXTENSIONS))
    if protocol == "pop3":
        listed = [*pop3_capabilities(secure=True, stls_offered=False), "STLS", "CAPA"]
        return frozenset(name.split(" ", 1)[0].upper() for name in listed) | mechanisms
    return SMTP_KEYWORDS | mechanisms


def unimplemented(profile: Profile) -> dict[str, list[str]]:
    """What ``profile`` advertises, as its provider does, that the fake servers do not do.

    A client that relies on such a capability gets BAD or an error from the
    fake server; ``mailcompat profiles show`` lists them so nobody is misled.
    """
    missing: dict[str, list[str]] = {}
    for protocol in ("imap", "pop3", "smtp"):
        declared = profile.capabilities(protocol)
        if declared is None:
            missing[protocol] = []
            continue
        known = implemented(protocol)
        names = [*(declared.starttls or ()), *declared.before_login, *declared.after_login]
        absent: list[str] = []
        for name in dict.fromkeys(names):
            keyword = name.split(" ", 1)[0].upper()
            if protocol == "imap" and "=" in keyword and not keyword.startswith("AUTH="):
                keyword = keyword if keyword in known else keyword.split("=", 1)[0]
            if keyword in {"SASL", "AUTH"} and " " in name:
                absent += [
                    f"{keyword} {m}" for m in name.split()[1:] if f"AUTH={m.upper()}" not in known
                ]
            elif keyword not in known:
                absent.append(name)
        missing[protocol] = list(dict.fromkeys(absent))
    return missing

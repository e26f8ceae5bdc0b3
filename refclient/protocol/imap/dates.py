"""INTERNALDATE values (RFC 3501 section 9, ``date-time``), independent of the locale.

``strftime("%b")`` and ``strptime`` follow the process locale, so a client
running under a German or Japanese locale would send month names the server
cannot read; the English month names are spelled out here instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBERS = {name.upper(): number for number, name in enumerate(MONTHS, 1)}
_DATE_TIME = re.compile(
    r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\s*"
)


def format_internal_date(moment: datetime) -> str:
    """``moment`` as ``date-time``, e.g. ``17-Jul-1996 02:44:25 -0700``; naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return (
        f"{moment.day:02d}-{MONTHS[moment.month - 1]}-{moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} {sign}{hours:02d}{rest:02d}"
    )


def parse_internal_date(text: str) -> datetime:
    """The moment a ``date-time`` names; ValueError when it is not one."""
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an IMAP date-time: {text!r}")
    day, month_name, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    month = _MONTH_NUMBERS.get(month_name.upper())
    if month is None:
        raise ValueError(f"unknown month {month_name!r}")
    offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
    zone = timezone(-offset if sign == "-" else offset)
    return datetime(int(year), month, int(day), int(hour), int(minute), int(second), tzinfo=zone)

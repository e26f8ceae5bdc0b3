"""IMAP dates: ``date-time`` for INTERNALDATE and APPEND, ``date`` for SEARCH.

Month names are fixed English abbreviations (RFC 3501 section 9), so this
module never uses ``strftime``/``strptime``, whose ``%b`` follows the locale.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {name.upper(): number for number, name in enumerate(MONTHS, start=1)}

# date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
_DATE_TIME = re.compile(
    rb"([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z"
)
# date-text = date-day "-" date-month "-" date-year
_DATE = re.compile(rb"(\d{1,2})-([A-Za-z]{3})-(\d{4})\Z")


class DateError(ValueError):
    """Not a valid IMAP date or date-time."""


def format_date_time(moment: datetime) -> bytes:
    """``"dd-Mon-yyyy hh:mm:ss +zzzz"`` with a space-padded day (``date-day-fixed``)."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    text = (
        f'"{moment.day:2d}-{MONTHS[moment.month - 1]}-{moment.year:04d} '
        f'{moment:%H:%M:%S} {sign}{minutes // 60:02d}{minutes % 60:02d}"'
    )
    return text.encode("ascii")


def parse_date_time(text: bytes) -> datetime:
    """The moment a ``date-time`` (without its quotes) names."""
    match = _DATE_TIME.match(text)
    if match is None:
        raise DateError(f"not an IMAP date-time: {text!r}")
    day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
    offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
    try:
        return datetime(
            int(year),
            _month(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=timezone(-offset if sign == b"-" else offset),
        )
    except ValueError as error:
        raise DateError(str(error)) from None


def parse_date(text: bytes) -> date:
    """The day a SEARCH ``date`` (without quotes) names."""
    match = _DATE.match(text)
    if match is None:
        raise DateError(f"not an IMAP date: {text!r}")
    day, month, year = match.groups()
    try:
        return date(int(year), _month(month), int(day))
    except ValueError as error:
        raise DateError(str(error)) from None


def _month(name: bytes) -> int:
    try:
        return _MONTH_NUMBER[name.decode("ascii").upper()]
    except KeyError:
        raise DateError(f"unknown month {name!r}") from None

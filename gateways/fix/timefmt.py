"""UTCTimestamp (``YYYYMMDD-HH:MM:SS[.sss]``) to and from epoch nanoseconds.

Every message carries SendingTime(52), so formatting and parsing it is on the hot
path; both cache the part that changes once a second (formatting) or once a day
(parsing) instead of going through ``datetime`` each time.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S
_EPOCH_ORDINAL = datetime(1970, 1, 1, tzinfo=UTC).toordinal()


class TimestampFormatter:
    """Formats epoch ns as a UTCTimestamp with milliseconds, caching the whole-second prefix.

    ``millis=False`` writes whole seconds: FIX.4.0 and 4.1 define no fraction.
    """

    __slots__ = ("_millis", "_prefix", "_second")

    def __init__(self, millis: bool = True) -> None:
        self._second = -1
        self._prefix = b""
        self._millis = millis

    def format(self, ns: int) -> bytes:
        second, rem = divmod(ns, _NS_PER_S)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        if not self._millis:
            return self._prefix
        return b"%b.%03d" % (self._prefix, rem // 1_000_000)


_FORMATTER = TimestampFormatter()


def format_utc(ns: int) -> bytes:
    return _FORMATTER.format(ns)


_day_cache: dict[bytes, int] = {}


def _day_ns(date: bytes) -> int:
    cached = _day_cache.get(date)
    if cached is None:
        if len(_day_cache) > 64:
            _day_cache.clear()
        d = datetime(int(date[0:4]), int(date[4:6]), int(date[6:8]), tzinfo=UTC)
        cached = (d.toordinal() - _EPOCH_ORDINAL) * _NS_PER_DAY
        _day_cache[date] = cached
    return cached


_second_cache: dict[bytes, int] = {}
_FRAC_SCALE: list[int] = [int(10 ** (9 - i)) for i in range(10)]


def parse_utc(value: bytes) -> int | None:
    """Epoch ns of a UTCTimestamp, or None when it is not one (the caller rejects).

    The whole-second prefix is cached: in a stream of messages it changes once a second.
    """
    base = _second_cache.get(value[:17])
    if base is None:
        base = _parse_second(value[:17])
        if base is None:
            return None
        if len(_second_cache) > 256:
            _second_cache.clear()
        _second_cache[value[:17]] = base
    n = len(value)
    if n == 17:
        return base
    frac = value[18:]
    if value[17:18] != b"." or not frac.isdigit() or len(frac) > 9:
        return None
    return base + int(frac) * _FRAC_SCALE[len(frac)]


def _parse_second(value: bytes) -> int | None:
    if len(value) != 17 or value[8:9] != b"-" or value[11:12] != b":" or value[14:15] != b":":
        return None
    date = value[0:8]
    hh, mm, ss = value[9:11], value[12:14], value[15:17]
    if not (date.isdigit() and hh.isdigit() and mm.isdigit() and ss.isdigit()):
        return None
    h, m, s = int(hh), int(mm), int(ss)
    if h > 23 or m > 59 or s > 60:
        return None
    try:
        day = _day_ns(date)
    except ValueError:
        return None
    return day + (h * 3600 + m * 60 + s) * _NS_PER_S

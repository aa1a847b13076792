"""Go's time.Time for templates, and Tyk's two time template functions.

Everything here reproduces Go's own algorithms (Time.String with its monotonic suffix; the
layouts in timelayout.py, Duration in duration.py) because the bytes end up in TimeStamps,
webhook bodies and the cooldown checksum (docs/protocol.md, docs/webhooks.md). The rest of
tykevents imports its time API from this module, Duration's included.
"""

from __future__ import annotations

import time as _time
from typing import Any

from tykevents.golang.duration import GoDuration, duration_string, parse_go_duration, time_quote
from tykevents.golang.timelayout import (
    LONG_DAYS,
    LONG_MONTHS,
    RFC3339,
    civil_to_days,
    days_to_civil,
    go_format,
    go_string_time_fields,
    rfc3339_fields,
)

__all__ = [
    "TYK_FUNCS",
    "GoDuration",
    "GoMonth",
    "GoTime",
    "GoWeekday",
    "as_rfc3339",
    "as_rfc3339_from_string",
    "duration_string",
    "go_time_string",
    "parse_go_duration",
    "parse_go_string_time",
    "parse_rfc3339nano",
]

_NS = 1_000_000_000
_UNIX_TO_ZERO = 62135596800  # seconds from 0001-01-01 (Go's zero Time) to 1970-01-01


class GoMonth(int):
    """time.Month: an int that prints as its English name."""

    _go_type = "time.Month"
    _go_methods = {"String": "go_string"}

    def go_string(self) -> str:
        if 1 <= self <= 12:
            return LONG_MONTHS[self - 1]
        return "%!Month(" + str(int(self)) + ")"


class GoWeekday(int):
    """time.Weekday: an int (Sunday = 0) that prints as its English name."""

    _go_type = "time.Weekday"
    _go_methods = {"String": "go_string"}

    def go_string(self) -> str:
        if 0 <= self <= 6:
            return LONG_DAYS[self]
        return "%!Weekday(" + str(int(self)) + ")"


# ---------------------------------------------------------------------------------------------
# Time


class GoTime:
    """time.Time: Unix seconds + nanoseconds + a zone (offset and abbreviation).

    `zone` is the abbreviation Format's "MST" prints ("" for an unnamed fixed zone, printed
    as -0700); `loc` names the Location for GoString ("UTC", "Local" or a zone name);
    `mono` is the monotonic reading in ns that String() appends as " m=+1.000000000".
    """

    __slots__ = ("sec", "nsec", "offset", "zone", "loc", "mono")
    _go_type = "time.Time"
    _go_methods = {
        "Format": "format",
        "String": "go_string",
        "Unix": "unix",
        "UnixNano": "unix_nano",
        "UnixMilli": "unix_milli",
        "UnixMicro": "unix_micro",
        "UTC": "utc",
        "Year": "year",
        "Month": "month",
        "Day": "day",
        "Hour": "hour",
        "Minute": "minute",
        "Second": "second",
        "Nanosecond": "nanosecond",
        "Weekday": "weekday",
        "YearDay": "year_day",
        "IsZero": "is_zero",
        "Add": "add",
        "Sub": "sub",
        "Before": "before",
        "After": "after",
        "Equal": "equal",
        "GoString": "go_syntax",
    }

    def __init__(
        self,
        sec: int,
        nsec: int = 0,
        offset: int = 0,
        zone: str = "UTC",
        loc: str | None = None,
        mono: int | None = None,
    ) -> None:
        extra, nsec = divmod(nsec, _NS)
        self.sec = sec + extra
        self.nsec = nsec
        self.offset = offset
        self.zone = zone
        self.loc = loc if loc is not None else ("UTC" if offset == 0 and zone == "UTC" else zone)
        self.mono = mono

    # constructors ---------------------------------------------------------------------------
    @classmethod
    def zero(cls) -> GoTime:
        return cls(-_UNIX_TO_ZERO)

    @classmethod
    def from_unix_nano(cls, ns: int, offset: int = 0, zone: str = "UTC") -> GoTime:
        sec, nsec = divmod(ns, _NS)
        return cls(sec, nsec, offset, zone)

    @classmethod
    def date(
        cls,
        year: int,
        month: int,
        day: int,
        hour: int = 0,
        minute: int = 0,
        sec: int = 0,
        nsec: int = 0,
        offset: int = 0,
        zone: str = "UTC",
    ) -> GoTime:
        """time.Date in a fixed zone (out-of-range fields normalise, as in Go)."""
        extra_y, m0 = divmod(month - 1, 12)
        days = civil_to_days(year + extra_y, m0 + 1, 1) + day - 1
        return cls(days * 86400 + hour * 3600 + minute * 60 + sec - offset, nsec, offset, zone)

    @classmethod
    def now(cls, local: bool = True, monotonic: bool = False) -> GoTime:
        """time.Now() in the process's zone (Go's Local); `monotonic` keeps the m=± reading."""
        ns = _time.time_ns()
        sec, nsec = divmod(ns, _NS)
        if local:
            lt = _time.localtime(sec)
            offset, zone = lt.tm_gmtoff or 0, lt.tm_zone or ""
        else:
            offset, zone = 0, "UTC"
        mono = _time.monotonic_ns() - _PROCESS_START_MONO if monotonic else None
        return cls(sec, nsec, offset, zone, loc="Local" if local else "UTC", mono=mono)

    # fields ---------------------------------------------------------------------------------
    def _civil(self) -> tuple[int, int, int, int, int, int, int]:
        days, secs = divmod(self.sec + self.offset, 86400)
        y, m, d = days_to_civil(days)
        wd = (days + 4) % 7  # 1970-01-01 was a Thursday
        return y, m, d, secs // 3600, secs // 60 % 60, secs % 60, wd

    def year(self) -> int:
        return self._civil()[0]

    def month(self) -> GoMonth:
        return GoMonth(self._civil()[1])

    def day(self) -> int:
        return self._civil()[2]

    def hour(self) -> int:
        return self._civil()[3]

    def minute(self) -> int:
        return self._civil()[4]

    def second(self) -> int:
        return self._civil()[5]

    def nanosecond(self) -> int:
        return self.nsec

    def weekday(self) -> GoWeekday:
        return GoWeekday(self._civil()[6])

    def year_day(self) -> int:
        y, m, d = self._civil()[:3]
        return civil_to_days(y, m, d) - civil_to_days(y, 1, 1) + 1

    def unix(self) -> int:
        return self.sec

    def unix_nano(self) -> int:
        # int64 arithmetic as in Go: out of range (before 1678 or after 2262) it wraps
        v = (self.sec * _NS + self.nsec) & ((1 << 64) - 1)
        return v - (1 << 64) if v >= 1 << 63 else v

    def unix_milli(self) -> int:
        return self.sec * 1000 + self.nsec // 1_000_000

    def unix_micro(self) -> int:
        return self.sec * 1_000_000 + self.nsec // 1000

    def is_zero(self) -> bool:
        return self.sec == -_UNIX_TO_ZERO and self.nsec == 0

    def utc(self) -> GoTime:
        return GoTime(self.sec, self.nsec, 0, "UTC")

    def add(self, d: int) -> GoTime:
        mono = None if self.mono is None else self.mono + int(d)
        return GoTime(self.sec, self.nsec + int(d), self.offset, self.zone, self.loc, mono)

    def sub(self, other: GoTime) -> GoDuration:
        if self.mono is not None and other.mono is not None:
            d = self.mono - other.mono
        else:
            d = self.unix_nano() - other.unix_nano()
        return GoDuration(max(-(1 << 63), min((1 << 63) - 1, d)))

    def before(self, other: GoTime) -> bool:
        return (self.sec, self.nsec) < (other.sec, other.nsec)

    def after(self, other: GoTime) -> bool:
        return (self.sec, self.nsec) > (other.sec, other.nsec)

    def equal(self, other: GoTime) -> bool:
        return (self.sec, self.nsec) == (other.sec, other.nsec)

    def __eq__(self, other: object) -> bool:  # Go's == on Time compares zone and reading too
        return (
            isinstance(other, GoTime)
            and self.sec == other.sec
            and self.nsec == other.nsec
            and self.offset == other.offset
            and self.zone == other.zone
        )

    def __hash__(self) -> int:
        return hash((self.sec, self.nsec, self.offset))

    def __repr__(self) -> str:
        return f"GoTime({self.go_string()!r})"

    # printing -------------------------------------------------------------------------------
    def format(self, layout: str) -> str:
        return go_format(self, layout)

    def go_string(self) -> str:
        """Time.String(): 2006-01-02 15:04:05.999999999 -0700 MST [m=±s.nnnnnnnnn]."""
        s = go_format(self, "2006-01-02 15:04:05.999999999 -0700 MST")
        if self.mono is not None:
            sign = "-" if self.mono < 0 else "+"
            whole, frac = divmod(abs(self.mono), _NS)
            s += " m=" + sign + str(whole) + "." + "%09d" % frac
        return s

    def go_syntax(self) -> str:
        """Time.GoString(): time.Date(2024, time.March, 6, 14, 7, 9, 0, time.UTC)."""
        y, m, d, hh, mm, ss, _ = self._civil()
        if self.loc == "UTC":
            loc = "time.UTC"
        elif self.loc == "Local":
            loc = "time.Local"
        else:
            loc = "time.Location(" + time_quote(self.loc) + ")"
        return f"time.Date({y}, time.{LONG_MONTHS[m - 1]}, {d}, {hh}, {mm}, {ss}, {self.nsec}, {loc})"


_PROCESS_START_MONO = _time.monotonic_ns()

# Go parameter types of the methods that take arguments, for the engine's call checks.
GoTime.format.go_params = ("string",)  # type: ignore[attr-defined]
GoTime.add.go_params = ("time.Duration",)  # type: ignore[attr-defined]
for _m in (GoTime.sub, GoTime.before, GoTime.after, GoTime.equal):
    _m.go_params = ("time.Time",)  # type: ignore[union-attr]


def parse_rfc3339nano(s: str) -> GoTime:
    """encoding/json's reading of a time.Time (see timelayout.rfc3339_fields)."""
    return GoTime.date(*rfc3339_fields(s))


def parse_go_string_time(s: str) -> GoTime:
    """time.Parse of Time.String's layout (see timelayout.go_string_time_fields)."""
    return GoTime.date(*go_string_time_fields(s))


def go_time_string(value: Any = None, *, monotonic_ns: int | None = None, local: bool = True) -> str:
    """Go's time.String() for a TimeStamp: GoTime, aware datetime, int Unix ns, or now.

    `monotonic_ns` appends the " m=+…" reading that the monitor's time.Now().String() has
    (docs/monitor.md, "The event")."""
    if value is None:
        t = GoTime.now(local=local)
    elif isinstance(value, GoTime):
        t = value
    elif isinstance(value, int):
        sec, nsec = divmod(value, _NS)
        if local:
            lt = _time.localtime(sec)
            t = GoTime(sec, nsec, lt.tm_gmtoff or 0, lt.tm_zone or "")
        else:
            t = GoTime(sec, nsec)
    else:  # an aware datetime
        off = value.utcoffset()
        if off is None:
            raise ValueError("go_time_string needs an aware datetime")
        offset = int(off.total_seconds())
        name = value.tzname() or ""
        if name.startswith("UTC") and name != "UTC":
            name = ""  # datetime.timezone(offset) calls itself "UTC+02:00": Go's FixedZone("")
        days = civil_to_days(value.year, value.month, value.day)
        sec = days * 86400 + value.hour * 3600 + value.minute * 60 + value.second - offset
        t = GoTime(sec, value.microsecond * 1000, offset, name)
    if monotonic_ns is not None:
        t = GoTime(t.sec, t.nsec, t.offset, t.zone, t.loc, monotonic_ns)
    return t.go_string()


# ---------------------------------------------------------------------------------------------
# Tyk's template functions (gateway/event_handler_webhooks.go; docs/webhooks.md, "Templates")


def as_rfc3339(t: GoTime) -> str:
    """t.Format(time.RFC3339): the fraction is dropped, the zone is the value's own."""
    if not isinstance(t, GoTime):
        raise TypeError("as_rfc3339: wrong type for value; expected time.Time")
    return go_format(t, RFC3339)


def as_rfc3339_from_string(s: str) -> str:
    """Parse Go's time.String() form and return RFC 3339; on any failure, s unchanged."""
    if not isinstance(s, str):
        raise TypeError("as_rfc3339_from_string: wrong type for value; expected string")
    try:
        return go_format(parse_go_string_time(s), RFC3339)
    except ValueError:
        return s


as_rfc3339.go_params = ("time.Time",)  # type: ignore[attr-defined]
as_rfc3339_from_string.go_params = ("string",)  # type: ignore[attr-defined]

TYK_FUNCS = {"as_rfc3339": as_rfc3339, "as_rfc3339_from_string": as_rfc3339_from_string}

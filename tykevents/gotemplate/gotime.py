"""Go's time.Time and time.Duration for templates, and Tyk's two time template functions.

Everything here reproduces Go's own algorithms (layout tokens, Duration.String, ParseDuration,
Time.String with its monotonic suffix) because the bytes end up in webhook bodies and in the
cooldown checksum (spec 1.1, 3.3, 3.5).
"""
from __future__ import annotations

import time as _time
from typing import Any

_NS = 1_000_000_000
_UNIX_TO_ZERO = 62135596800  # seconds from 0001-01-01 (Go's zero Time) to 1970-01-01

_LONG_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def _days_to_civil(z: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 -> (year, month, day), proleptic Gregorian, any year."""
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def _civil_to_days(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class GoMonth(int):
    """time.Month: an int that prints as its English name."""

    _go_type = "time.Month"
    _go_methods = {"String": "go_string"}

    def go_string(self) -> str:
        if 1 <= self <= 12:
            return _LONG_MONTHS[self - 1]
        return "%!Month(" + str(int(self)) + ")"


class GoWeekday(int):
    """time.Weekday: an int (Sunday = 0) that prints as its English name."""

    _go_type = "time.Weekday"
    _go_methods = {"String": "go_string"}

    def go_string(self) -> str:
        if 0 <= self <= 6:
            return _LONG_DAYS[self]
        return "%!Weekday(" + str(int(self)) + ")"


# ---------------------------------------------------------------------------------------------
# Duration


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    """Go's fmtFrac: the fraction of v/10**prec without trailing zeros (and no '.' if 0)."""
    digits = []
    printed = False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        v //= 10
    if printed:
        return "." + "".join(reversed(digits)), v
    return "", v


def duration_string(d: int) -> str:
    """time.Duration.String: 1h2m3.5s, 10s, 0s, 1.5µs, -2ms."""
    u = -d if d < 0 else d
    u &= (1 << 64) - 1  # -MinInt64 stays MinInt64 as uint64, as in Go
    if u < _NS:
        if u == 0:
            return "0s"
        if u < 1000:
            prec, unit = 0, "ns"
        elif u < 1_000_000:
            prec, unit = 3, "µs"
        else:
            prec, unit = 6, "ms"
        frac, u = _fmt_frac(u, prec)
        out = str(u) + frac + unit
    else:
        frac, u = _fmt_frac(u, 9)
        out = str(u % 60) + frac + "s"
        u //= 60
        if u > 0:
            out = str(u % 60) + "m" + out
            u //= 60
            if u > 0:
                out = str(u) + "h" + out
    return "-" + out if d < 0 else out


class GoDuration(int):
    """time.Duration: int nanoseconds (an int to templates: eq, lt, %d) printing as 1h2m3s."""

    _go_type = "time.Duration"
    _go_methods = {
        "String": "go_string", "Hours": "hours", "Minutes": "minutes", "Seconds": "seconds",
        "Milliseconds": "milliseconds", "Microseconds": "microseconds",
        "Nanoseconds": "nanoseconds", "Abs": "abs",
    }

    def go_string(self) -> str:
        return duration_string(int(self))

    def __repr__(self) -> str:
        return f"GoDuration({int(self)})"

    def hours(self) -> float:
        h, ns = _trunc_divmod(int(self), 3600 * _NS)
        return h + ns / 3.6e12

    def minutes(self) -> float:
        m, ns = _trunc_divmod(int(self), 60 * _NS)
        return m + ns / 6e10

    def seconds(self) -> float:
        s, ns = _trunc_divmod(int(self), _NS)
        return s + ns / 1e9

    def milliseconds(self) -> int:
        return _trunc_div(int(self), 1_000_000)

    def microseconds(self) -> int:
        return _trunc_div(int(self), 1000)

    def nanoseconds(self) -> int:
        return int(self)

    def abs(self) -> "GoDuration":
        return GoDuration(abs(int(self)) if self != -(1 << 63) else (1 << 63) - 1)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return -q if a < 0 else q


def _trunc_divmod(a: int, b: int) -> tuple[int, int]:
    q = _trunc_div(a, b)
    return q, a - q * b


_UNITS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 1_000_000, "s": _NS,
          "m": 60 * _NS, "h": 3600 * _NS}


def _time_quote(s: str) -> str:
    """time's own quote(): non-ASCII and control bytes as \\x escapes."""
    out = ['"']
    for ch in s:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend("\\x%02x" % b for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


def parse_go_duration(s: str) -> int:
    """time.ParseDuration: "300ms", "-1.5h", "2h45m" -> int nanoseconds; ValueError like Go's."""
    orig = s
    bad = ValueError("time: invalid duration " + _time_quote(orig))
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise bad
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise bad
        i = 0
        v = 0
        while i < len(s) and "0" <= s[i] <= "9":
            if v > (1 << 63) // 10:
                raise bad
            v = v * 10 + ord(s[i]) - 48
            if v > 1 << 63:
                raise bad
            i += 1
        pre = i > 0
        s = s[i:]
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and "0" <= s[i] <= "9":
                if not overflow:
                    if f > ((1 << 63) - 1) // 10:
                        overflow = True
                    else:
                        y = f * 10 + ord(s[i]) - 48
                        if y > 1 << 63:
                            overflow = True
                        else:
                            f, scale = y, scale * 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise bad
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise ValueError("time: missing unit in duration " + _time_quote(orig))
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError("time: unknown unit " + _time_quote(unit_name)
                             + " in duration " + _time_quote(orig))
        if v > (1 << 63) // unit:
            raise bad
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))  # float64 maths, as Go does
            if v > 1 << 63:
                raise bad
        total += v
        if total > 1 << 63:
            raise bad
    if neg:
        return -total
    if total > (1 << 63) - 1:
        raise bad
    return total


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
        "Format": "format", "String": "go_string", "Unix": "unix", "UnixNano": "unix_nano",
        "UnixMilli": "unix_milli", "UnixMicro": "unix_micro", "UTC": "utc", "Year": "year",
        "Month": "month", "Day": "day", "Hour": "hour", "Minute": "minute",
        "Second": "second", "Nanosecond": "nanosecond", "Weekday": "weekday",
        "YearDay": "year_day", "IsZero": "is_zero", "Add": "add", "Sub": "sub",
        "Before": "before", "After": "after", "Equal": "equal", "GoString": "go_syntax",
    }

    def __init__(self, sec: int, nsec: int = 0, offset: int = 0, zone: str = "UTC",
                 loc: str | None = None, mono: int | None = None) -> None:
        extra, nsec = divmod(nsec, _NS)
        self.sec = sec + extra
        self.nsec = nsec
        self.offset = offset
        self.zone = zone
        self.loc = loc if loc is not None else ("UTC" if offset == 0 and zone == "UTC" else zone)
        self.mono = mono

    # constructors ---------------------------------------------------------------------------
    @classmethod
    def zero(cls) -> "GoTime":
        return cls(-_UNIX_TO_ZERO)

    @classmethod
    def from_unix_nano(cls, ns: int, offset: int = 0, zone: str = "UTC") -> "GoTime":
        sec, nsec = divmod(ns, _NS)
        return cls(sec, nsec, offset, zone)

    @classmethod
    def date(cls, year: int, month: int, day: int, hour: int = 0, minute: int = 0,
             sec: int = 0, nsec: int = 0, offset: int = 0, zone: str = "UTC") -> "GoTime":
        """time.Date in a fixed zone (out-of-range fields normalise, as in Go)."""
        extra_y, m0 = divmod(month - 1, 12)
        days = _civil_to_days(year + extra_y, m0 + 1, 1) + day - 1
        return cls(days * 86400 + hour * 3600 + minute * 60 + sec - offset, nsec, offset, zone)

    @classmethod
    def now(cls, local: bool = True, monotonic: bool = False) -> "GoTime":
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
        y, m, d = _days_to_civil(days)
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
        return _civil_to_days(y, m, d) - _civil_to_days(y, 1, 1) + 1

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

    def utc(self) -> "GoTime":
        return GoTime(self.sec, self.nsec, 0, "UTC")

    def add(self, d: int) -> "GoTime":
        mono = None if self.mono is None else self.mono + int(d)
        return GoTime(self.sec, self.nsec + int(d), self.offset, self.zone, self.loc, mono)

    def sub(self, other: "GoTime") -> GoDuration:
        if self.mono is not None and other.mono is not None:
            d = self.mono - other.mono
        else:
            d = self.unix_nano() - other.unix_nano()
        return GoDuration(max(-(1 << 63), min((1 << 63) - 1, d)))

    def before(self, other: "GoTime") -> bool:
        return (self.sec, self.nsec) < (other.sec, other.nsec)

    def after(self, other: "GoTime") -> bool:
        return (self.sec, self.nsec) > (other.sec, other.nsec)

    def equal(self, other: "GoTime") -> bool:
        return (self.sec, self.nsec) == (other.sec, other.nsec)

    def __eq__(self, other: object) -> bool:  # Go's == on Time compares zone and reading too
        return (isinstance(other, GoTime) and self.sec == other.sec and self.nsec == other.nsec
                and self.offset == other.offset and self.zone == other.zone)

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
            loc = "time.Location(" + _time_quote(self.loc) + ")"
        return (f"time.Date({y}, time.{_LONG_MONTHS[m - 1]}, {d}, {hh}, {mm}, {ss}, "
                f"{self.nsec}, {loc})")


_PROCESS_START_MONO = _time.monotonic_ns()

# Go parameter types of the methods that take arguments, for the engine's call checks.
GoTime.format.go_params = ("string",)  # type: ignore[attr-defined]
GoTime.add.go_params = ("time.Duration",)  # type: ignore[attr-defined]
for _m in (GoTime.sub, GoTime.before, GoTime.after, GoTime.equal):
    _m.go_params = ("time.Time",)  # type: ignore[attr-defined]

# ---------------------------------------------------------------------------------------------
# Layouts (Go's nextStdChunk / appendFormat)

_STD0X = ("zmonth", "zday", "zhour12", "zminute", "zsecond", "year")
_TZ_CHUNKS = (("-070000", "num_s"), ("-07:00:00", "num_cs"), ("-0700", "num"),
              ("-07:00", "num_c"), ("-07", "num_short"))
_ISO_CHUNKS = (("Z070000", "iso_s"), ("Z07:00:00", "iso_cs"), ("Z0700", "iso"),
               ("Z07:00", "iso_c"), ("Z07", "iso_short"))


def _lower_start(s: str) -> bool:
    return bool(s) and "a" <= s[0] <= "z"


def next_std_chunk(layout: str) -> tuple[str, Any, str]:
    """Split a layout at its first token: (literal prefix, token, rest); token None at end.

    Fractional-second tokens are ("frac0"|"frac9", digits, separator)."""
    n = len(layout)
    for i, c in enumerate(layout):
        rest = layout[i:]
        if c == "J" and rest.startswith("Jan"):
            if rest.startswith("January"):
                return layout[:i], "long_month", layout[i + 7:]
            if not _lower_start(layout[i + 3:]):
                return layout[:i], "month", layout[i + 3:]
        elif c == "M":
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], "long_weekday", layout[i + 6:]
                if not _lower_start(layout[i + 3:]):
                    return layout[:i], "weekday", layout[i + 3:]
            if rest.startswith("MST"):
                return layout[:i], "tz", layout[i + 3:]
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                return layout[:i], _STD0X[ord(layout[i + 1]) - 49], layout[i + 2:]
            if rest.startswith("002"):
                return layout[:i], "zyday", layout[i + 3:]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], "hour", layout[i + 2:]
            return layout[:i], "num_month", layout[i + 1:]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], "long_year", layout[i + 4:]
            return layout[:i], "day", layout[i + 1:]
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    return layout[:i + 1], "long_year", layout[i + 5:]
                return layout[:i], "under_day", layout[i + 2:]
            if rest.startswith("__2"):
                return layout[:i], "under_yday", layout[i + 3:]
        elif c == "3":
            return layout[:i], "hour12", layout[i + 1:]
        elif c == "4":
            return layout[:i], "minute", layout[i + 1:]
        elif c == "5":
            return layout[:i], "second", layout[i + 1:]
        elif c == "P" and rest.startswith("PM"):
            return layout[:i], "PM", layout[i + 2:]
        elif c == "p" and rest.startswith("pm"):
            return layout[:i], "pm", layout[i + 2:]
        elif c == "-" or c == "Z":
            for text, code in (_TZ_CHUNKS if c == "-" else _ISO_CHUNKS):
                if rest.startswith(text):
                    return layout[:i], code, layout[i + len(text):]
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not (j < n and "0" <= layout[j] <= "9"):
                kind = "frac0" if ch == "0" else "frac9"
                return layout[:i], (kind, j - (i + 1), c), layout[j:]
    return layout, None, ""


def _pad(x: int, width: int) -> str:
    """Go's appendInt: zero-padded to width, sign first."""
    if x < 0:
        return "-" + str(-x).zfill(width)
    return str(x).zfill(width)


def _zone_text(offset: int, code: str) -> str:
    if offset == 0 and code.startswith("iso"):
        return "Z"
    zone = int(offset / 60)  # Go's division truncates toward zero
    sign = "-" if zone < 0 else "+"
    zone, absoff = abs(zone), abs(offset)
    out = sign + _pad(zone // 60, 2)
    if code in ("iso_c", "num_c", "iso_cs", "num_cs"):
        out += ":"
    if code not in ("num_short", "iso_short"):
        out += _pad(zone % 60, 2)
    if code in ("iso_s", "num_s", "iso_cs", "num_cs"):
        if code in ("iso_cs", "num_cs"):
            out += ":"
        out += _pad(absoff % 60, 2)
    return out


def _frac_text(nsec: int, kind: str, digits: int, sep: str) -> str:
    trim = kind == "frac9"
    if trim and (digits == 0 or nsec == 0):
        return ""
    s = "%09d" % nsec
    if digits < 9:
        s = s[:digits]
    if trim:
        s = s.rstrip("0")
        return sep + s if s else ""
    return sep + s


def go_format(t: GoTime, layout: str) -> str:
    """Time.Format(layout) with Go's reference-time tokens."""
    y, mo, d, hh, mi, ss, wd = t._civil()
    out = []
    while layout:
        prefix, std, layout = next_std_chunk(layout)
        out.append(prefix)
        if std is None:
            break
        if isinstance(std, tuple):
            out.append(_frac_text(t.nsec, *std))
        elif std == "year":
            out.append(_pad(abs(y) % 100, 2))
        elif std == "long_year":
            out.append(_pad(y, 4))
        elif std == "month":
            out.append(_LONG_MONTHS[mo - 1][:3])
        elif std == "long_month":
            out.append(_LONG_MONTHS[mo - 1])
        elif std == "num_month":
            out.append(str(mo))
        elif std == "zmonth":
            out.append(_pad(mo, 2))
        elif std == "weekday":
            out.append(_LONG_DAYS[wd][:3])
        elif std == "long_weekday":
            out.append(_LONG_DAYS[wd])
        elif std == "day":
            out.append(str(d))
        elif std == "under_day":
            out.append(("" if d >= 10 else " ") + str(d))
        elif std == "zday":
            out.append(_pad(d, 2))
        elif std in ("under_yday", "zyday"):
            yd = t.year_day()
            if std == "zyday":
                out.append(_pad(yd, 3))
            else:
                out.append(" " * (3 - len(str(yd))) + str(yd))
        elif std == "hour":
            out.append(_pad(hh, 2))
        elif std in ("hour12", "zhour12"):
            h12 = hh % 12 or 12
            out.append(str(h12) if std == "hour12" else _pad(h12, 2))
        elif std == "minute":
            out.append(str(mi))
        elif std == "zminute":
            out.append(_pad(mi, 2))
        elif std == "second":
            out.append(str(ss))
        elif std == "zsecond":
            out.append(_pad(ss, 2))
        elif std == "PM":
            out.append("PM" if hh >= 12 else "AM")
        elif std == "pm":
            out.append("pm" if hh >= 12 else "am")
        elif std == "tz":
            if t.zone:
                out.append(t.zone)
            else:
                zone = int(t.offset / 60)
                out.append(("-" if zone < 0 else "+") + _pad(abs(zone) // 60, 2)
                           + _pad(abs(zone) % 60, 2))
        else:
            out.append(_zone_text(t.offset, std))
    return "".join(out)


RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_rfc3339nano(s: str) -> GoTime:
    """What encoding/json does with a time.Time value (Go's strict RFC 3339 fast path).

    The local zone is taken as UTC: "+00:00" gives a UTC time, any other offset an unnamed
    fixed zone (printed "+0200 +0200"), as in a Go process running in UTC."""
    def num(part: str, lo: int, hi: int) -> int:
        if not part.isascii() or not part.isdigit():
            raise ValueError(f"parsing time {s!r}: bad number {part!r}")
        v = int(part)
        if not lo <= v <= hi:
            raise ValueError(f"parsing time {s!r}: {part!r} out of range")
        return v

    if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" \
            or s[16] != ":":
        raise ValueError(f"parsing time {s!r} as RFC 3339: bad layout")
    year = num(s[0:4], 0, 9999)
    month = num(s[5:7], 1, 12)
    day = num(s[8:10], 1, _days_in(month, year))
    hour, minute, sec = num(s[11:13], 0, 23), num(s[14:16], 0, 59), num(s[17:19], 0, 59)
    rest = s[19:]
    nsec = 0
    if len(rest) >= 2 and rest[0] == "." and "0" <= rest[1] <= "9":
        n = 2
        while n < len(rest) and "0" <= rest[n] <= "9":
            n += 1
        nsec = int((rest[1:n] + "00000000")[:9])
        rest = rest[n:]
    if rest == "Z":
        return GoTime.date(year, month, day, hour, minute, sec, nsec)
    if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
        raise ValueError(f"parsing time {s!r} as RFC 3339: bad zone {rest!r}")
    offset = (num(rest[1:3], 0, 23) * 60 + num(rest[4:6], 0, 59)) * 60
    if rest[0] == "-":
        offset = -offset
    return GoTime.date(year, month, day, hour, minute, sec, nsec, offset,
                       "UTC" if offset == 0 else "")


def _parse_tz_abbrev(v: str) -> int:
    """Go's parseTimeZone: length of a zone abbreviation at the start of v, 0 if none."""
    if len(v) < 3:
        return 0
    if v[:4] in ("ChST", "MeST"):
        return 4
    if v[:3] == "GMT":
        return 3 + _signed_offset_len(v[3:]) if len(v) > 3 else 3
    if v[0] in "+-":
        return _signed_offset_len(v)
    upper = 0
    while upper < 6 and upper < len(v) and "A" <= v[upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (v[3] == "T" or v[:4] == "WITA"):
        return 4
    if upper == 5 and v[4] == "T":
        return 5
    return 0


def _signed_offset_len(v: str) -> int:
    if not v or v[0] not in "+-":
        return 0
    i = 1
    while i < len(v) and "0" <= v[i] <= "9":
        i += 1
    if i == 1 or int(v[1:i]) > 23:
        return 0
    return i


def _getnum(v: str, fixed: bool) -> tuple[int, str]:
    if not v or not "0" <= v[0] <= "9":
        raise ValueError("bad number")
    if len(v) < 2 or not "0" <= v[1] <= "9":
        if fixed:
            raise ValueError("bad number")
        return int(v[0]), v[1:]
    return int(v[:2]), v[2:]


def _skip(value: str, prefix: str) -> str:
    """Go's skip(): match a layout literal; a space matches any run of spaces."""
    while prefix:
        if prefix[0] == " ":
            if value and value[0] != " ":
                raise ValueError("literal mismatch")
            prefix, value = prefix.lstrip(" "), value.lstrip(" ")
            continue
        if not value or value[0] != prefix[0]:
            raise ValueError("literal mismatch")
        prefix, value = prefix[1:], value[1:]
    return value


def parse_go_string_time(s: str) -> GoTime:
    """time.Parse("2006-01-02 15:04:05.999999 -0700 MST", s): Tyk's as_rfc3339_from_string.

    Only this layout is needed; it is parsed with Go's rules: any fraction length (or none),
    a space in the layout matches a run of spaces, the zone abbreviation must look like one,
    "UTC" overrides the numeric offset, and trailing text (e.g. " m=+0.1") is an error."""
    year_txt, v = s[:4], s[4:]
    if len(year_txt) < 4 or not year_txt.isascii() or not year_txt.isdigit():
        raise ValueError("bad year")
    year = int(year_txt)
    v = _skip(v, "-")
    month, v = _getnum(v, True)
    if not 1 <= month <= 12:
        raise ValueError("month out of range")
    v = _skip(v, "-")
    day, v = _getnum(v, True)
    v = _skip(v, " ")
    hour, v = _getnum(v, False)
    if hour >= 24:
        raise ValueError("hour out of range")
    v = _skip(v, ":")
    minute, v = _getnum(v, True)
    if minute >= 60:
        raise ValueError("minute out of range")
    v = _skip(v, ":")
    sec, v = _getnum(v, True)
    if sec >= 60:
        raise ValueError("second out of range")
    nsec = 0
    if len(v) >= 2 and v[0] in ".," and "0" <= v[1] <= "9":
        n = 1
        while n < len(v) and "0" <= v[n] <= "9":
            n += 1
        nsec = int((v[1:n] + "000000000")[:9])
        v = v[n:]
    v = _skip(v, " ")
    if len(v) < 5 or v[0] not in "+-":
        raise ValueError("bad zone offset")
    oh, _ = _getnum(v[1:3], True)
    om, _ = _getnum(v[3:5], True)
    if len(v[1:3]) != 2 or len(v[3:5]) != 2 or oh > 24 or om > 60:
        raise ValueError("bad zone offset")
    offset = (oh * 60 + om) * 60 * (-1 if v[0] == "-" else 1)
    v = _skip(v[5:], " ")
    utc = v[:3] == "UTC"
    if utc:
        zone_len = 3
    else:
        zone_len = _parse_tz_abbrev(v)
        if zone_len == 0:
            raise ValueError("bad zone name")
    zone, v = v[:zone_len], v[zone_len:]
    if v:
        raise ValueError("extra text: " + v)
    if day < 1 or day > _days_in(month, year):
        raise ValueError("day out of range")
    if utc:
        return GoTime.date(year, month, day, hour, minute, sec, nsec)
    return GoTime.date(year, month, day, hour, minute, sec, nsec, offset, zone)


def go_time_string(value: Any = None, *, monotonic_ns: int | None = None,
                   local: bool = True) -> str:
    """Go's time.String() for a TimeStamp: GoTime, aware datetime, int Unix ns, or now.

    `monotonic_ns` appends the " m=+…" reading that the monitor's time.Now().String() has
    (spec 1.1, 7.4)."""
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
        days = _civil_to_days(value.year, value.month, value.day)
        sec = days * 86400 + value.hour * 3600 + value.minute * 60 + value.second - offset
        t = GoTime(sec, value.microsecond * 1000, offset, name)
    if monotonic_ns is not None:
        t = GoTime(t.sec, t.nsec, t.offset, t.zone, t.loc, monotonic_ns)
    return t.go_string()


# ---------------------------------------------------------------------------------------------
# Tyk's template functions (gateway/event_handler_webhooks.go; spec 3.3)


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

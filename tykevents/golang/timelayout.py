"""Go's calendar arithmetic and time layouts: Time.Format's reference-time tokens and the
two parsers Tyk needs (RFC 3339, and Time.String's own form).

These work on plain fields so that time.py's GoTime can build on them without an import cycle:
`go_format` takes anything with GoTime's `_civil`, `year_day`, `nsec`, `offset` and `zone`,
and the parsers return the arguments of `GoTime.date`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tykevents.golang.time import GoTime

LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def days_to_civil(z: int) -> tuple[int, int, int]:
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


def civil_to_days(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def is_leap(y: int) -> bool:
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


# ---------------------------------------------------------------------------------------------
# Layouts (Go's nextStdChunk / appendFormat)

_STD0X = ("zmonth", "zday", "zhour12", "zminute", "zsecond", "year")
_TZ_CHUNKS = (
    ("-070000", "num_s"),
    ("-07:00:00", "num_cs"),
    ("-0700", "num"),
    ("-07:00", "num_c"),
    ("-07", "num_short"),
)
_ISO_CHUNKS = (
    ("Z070000", "iso_s"),
    ("Z07:00:00", "iso_cs"),
    ("Z0700", "iso"),
    ("Z07:00", "iso_c"),
    ("Z07", "iso_short"),
)


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
                return layout[:i], "long_month", layout[i + 7 :]
            if not _lower_start(layout[i + 3 :]):
                return layout[:i], "month", layout[i + 3 :]
        elif c == "M":
            if rest.startswith("Mon"):
                if rest.startswith("Monday"):
                    return layout[:i], "long_weekday", layout[i + 6 :]
                if not _lower_start(layout[i + 3 :]):
                    return layout[:i], "weekday", layout[i + 3 :]
            if rest.startswith("MST"):
                return layout[:i], "tz", layout[i + 3 :]
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                return layout[:i], _STD0X[ord(layout[i + 1]) - 49], layout[i + 2 :]
            if rest.startswith("002"):
                return layout[:i], "zyday", layout[i + 3 :]
        elif c == "1":
            if rest.startswith("15"):
                return layout[:i], "hour", layout[i + 2 :]
            return layout[:i], "num_month", layout[i + 1 :]
        elif c == "2":
            if rest.startswith("2006"):
                return layout[:i], "long_year", layout[i + 4 :]
            return layout[:i], "day", layout[i + 1 :]
        elif c == "_":
            if rest.startswith("_2"):
                if rest.startswith("_2006"):
                    return layout[: i + 1], "long_year", layout[i + 5 :]
                return layout[:i], "under_day", layout[i + 2 :]
            if rest.startswith("__2"):
                return layout[:i], "under_yday", layout[i + 3 :]
        elif c == "3":
            return layout[:i], "hour12", layout[i + 1 :]
        elif c == "4":
            return layout[:i], "minute", layout[i + 1 :]
        elif c == "5":
            return layout[:i], "second", layout[i + 1 :]
        elif c == "P" and rest.startswith("PM"):
            return layout[:i], "PM", layout[i + 2 :]
        elif c == "p" and rest.startswith("pm"):
            return layout[:i], "pm", layout[i + 2 :]
        elif c == "-" or c == "Z":
            for text, code in _TZ_CHUNKS if c == "-" else _ISO_CHUNKS:
                if rest.startswith(text):
                    return layout[:i], code, layout[i + len(text) :]
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
            out.append(LONG_MONTHS[mo - 1][:3])
        elif std == "long_month":
            out.append(LONG_MONTHS[mo - 1])
        elif std == "num_month":
            out.append(str(mo))
        elif std == "zmonth":
            out.append(_pad(mo, 2))
        elif std == "weekday":
            out.append(LONG_DAYS[wd][:3])
        elif std == "long_weekday":
            out.append(LONG_DAYS[wd])
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
                out.append(("-" if zone < 0 else "+") + _pad(abs(zone) // 60, 2) + _pad(abs(zone) % 60, 2))
        else:
            out.append(_zone_text(t.offset, std))
    return "".join(out)


RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"


# ---------------------------------------------------------------------------------------------
# Parsing


# GoTime.date's arguments: year, month, day, hour, minute, second, nsec, offset, zone.
TimeFields = tuple[int, int, int, int, int, int, int, int, str]


def rfc3339_fields(s: str) -> TimeFields:
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

    if len(s) < 19 or s[4] != "-" or s[7] != "-" or s[10] != "T" or s[13] != ":" or s[16] != ":":
        raise ValueError(f"parsing time {s!r} as RFC 3339: bad layout")
    year = num(s[0:4], 0, 9999)
    month = num(s[5:7], 1, 12)
    day = num(s[8:10], 1, days_in(month, year))
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
        return year, month, day, hour, minute, sec, nsec, 0, "UTC"
    if len(rest) != 6 or rest[0] not in "+-" or rest[3] != ":":
        raise ValueError(f"parsing time {s!r} as RFC 3339: bad zone {rest!r}")
    offset = (num(rest[1:3], 0, 23) * 60 + num(rest[4:6], 0, 59)) * 60
    if rest[0] == "-":
        offset = -offset
    return year, month, day, hour, minute, sec, nsec, offset, "UTC" if offset == 0 else ""


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


def go_string_time_fields(s: str) -> TimeFields:
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
    if day < 1 or day > days_in(month, year):
        raise ValueError("day out of range")
    if utc:
        return year, month, day, hour, minute, sec, nsec, 0, "UTC"
    return year, month, day, hour, minute, sec, nsec, offset, zone

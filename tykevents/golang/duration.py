"""Go's time.Duration: Duration.String (1h2m3.5s) and time.ParseDuration.

Both follow Go's algorithms digit for digit: String's output reaches webhook bodies (a
Duration printed by a template), ParseDuration reads the durations of API definitions.
"""

from __future__ import annotations

_NS = 1_000_000_000


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
        "String": "go_string",
        "Hours": "hours",
        "Minutes": "minutes",
        "Seconds": "seconds",
        "Milliseconds": "milliseconds",
        "Microseconds": "microseconds",
        "Nanoseconds": "nanoseconds",
        "Abs": "abs",
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

    def abs(self) -> GoDuration:
        return GoDuration(abs(int(self)) if self != -(1 << 63) else (1 << 63) - 1)


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // b
    return -q if a < 0 else q


def _trunc_divmod(a: int, b: int) -> tuple[int, int]:
    q = _trunc_div(a, b)
    return q, a - q * b


_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": _NS,
    "m": 60 * _NS,
    "h": 3600 * _NS,
}


def time_quote(s: str) -> str:
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
    bad = ValueError("time: invalid duration " + time_quote(orig))
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
            raise ValueError("time: missing unit in duration " + time_quote(orig))
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError(
                "time: unknown unit " + time_quote(unit_name) + " in duration " + time_quote(orig)
            )
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

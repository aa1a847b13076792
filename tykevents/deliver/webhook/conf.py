"""handler_meta -> WebHookConf, decoded as Tyk decodes it (spec 2.3).

Tyk's `Scan` marshals handler_meta (a Go map, so keys come out sorted by bytes) and
unmarshals the JSON into `apidef.WebHookHandlerConf`. encoding/json matches each key to a
field exactly or else case-insensitively (Unicode simple folding, as bytes.EqualFold), and a
later key overwrites an earlier one; because keys are sorted, the exact lower-case key
normally comes last and wins. Unknown keys are ignored, `null` leaves a field unchanged, and
a type mismatch fails the whole decode, so Tyk drops the handler.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tykevents.deliver.base import HandlerConfigError

_GO_TYPE = "WebHookHandlerConf"
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


@dataclass
class WebHookConf:
    disabled: bool = False
    id: str = ""
    name: str = ""
    method: str = ""
    target_path: str = ""
    template_path: str = ""
    header_map: dict[str, str] = field(default_factory=dict)
    event_timeout: int = 0  # seconds; Tyk: <= 0 means "no expiry", we: no cooldown


_FIELDS = {
    "disabled": bool,
    "id": str,
    "name": str,
    "method": str,
    "target_path": str,
    "template_path": str,
    "header_map": dict,
    "event_timeout": int,
}


def _fold(s: str) -> str:
    # Per character, so that the Kelvin sign and long s fold to k and s as in Go, while
    # characters whose upper case is longer (ß -> SS) stay themselves, as in simple folding.
    out = []
    for ch in s:
        f = ch.upper().lower()
        out.append(f if len(f) == 1 else ch.lower())
    return "".join(out)


_BY_FOLD = {_fold(name): name for name in _FIELDS}


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "array"
    return "object"


def _type_error(v: Any, fname: str, go_type: str, detail: str = "") -> HandlerConfigError:
    msg = f"json: cannot unmarshal {_kind(v)} into Go struct field {_GO_TYPE}.{fname} of type {go_type}"
    return HandlerConfigError(msg + detail)


def _go_int64(v: Any, fname: str) -> int:
    """A JSON number as Tyk re-marshals it (float64) and parses it back into an int64."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _type_error(v, fname, "int64")
    f = float(v)  # Tyk decoded the API definition into float64: precision beyond 2^53 is lost
    if f != f or f in (float("inf"), float("-inf")) or f != int(f) or abs(f) >= 1e21:
        # 10.5 re-marshals as "10.5", 1e21 as "1e+21": neither parses as an int64
        raise _type_error(v, fname, "int64")
    n = int(f)
    if not _INT64_MIN <= n <= _INT64_MAX:
        raise _type_error(v, fname, "int64")
    return n


def from_meta(meta: Any) -> WebHookConf:
    """Decode handler_meta (parsed JSON) into a WebHookConf; HandlerConfigError names the key."""
    conf = WebHookConf()
    if meta is None:
        return conf
    if not isinstance(meta, dict):
        raise HandlerConfigError(
            f"json: cannot unmarshal {_kind(meta)} into Go value of type apidef.{_GO_TYPE}"
        )
    error: HandlerConfigError | None = None
    for key in sorted(meta, key=lambda k: k.encode("utf-8", "surrogatepass")):
        fname = key if key in _FIELDS else _BY_FOLD.get(_fold(key))
        if fname is None:
            continue
        value = meta[key]
        if value is None:
            if fname == "header_map":
                conf.header_map = {}  # null sets a Go map to nil
            continue
        try:
            decoded = _decode_field(fname, key, value)
            if fname == "header_map":
                decoded = {**conf.header_map, **decoded}  # Go decodes into the existing map
            setattr(conf, fname, decoded)
        except HandlerConfigError as e:
            error = error or e  # Go keeps decoding and reports the first mismatch
    if error is not None:
        raise error
    return conf


def _decode_field(fname: str, key: str, value: Any) -> Any:
    typ = _FIELDS[fname]
    where = f" (handler_meta key {key!r})"
    if typ is bool:
        if not isinstance(value, bool):
            raise _type_error(value, fname, "bool", where)
        return value
    if typ is str:
        if not isinstance(value, str):
            raise _type_error(value, fname, "string", where)
        return value
    if typ is int:
        try:
            return _go_int64(value, fname)
        except HandlerConfigError as e:
            raise HandlerConfigError(f"{e}{where}") from None
    if not isinstance(value, dict):
        raise _type_error(value, fname, "map[string]string", where)
    headers: dict[str, str] = {}
    for hk, hv in value.items():
        if hv is None:
            headers[hk] = ""  # null decodes to the zero string
        elif isinstance(hv, str):
            headers[hk] = hv
        else:
            raise _type_error(hv, fname, "string", f" (header_map key {hk!r})")
    return headers

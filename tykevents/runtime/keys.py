"""Keys are secrets: this is the one place that decides how one may appear in a log line."""

from __future__ import annotations


def obfuscate_key(key: str, enable_key_logging: bool = False) -> str:
    """Tyk's obfuscateKey: the last four characters behind `****`, or `--` for short keys.

    With tyk.conf `enable_key_logging` the raw key is shown, as Tyk does.
    """
    if enable_key_logging:
        return key
    if len(key) > 4:
        return "****" + key[-4:]
    return "--"

"""Where an API's Python code is, found as Tyk finds it (docs/tyk-gateway.md, "Where the
Python files live").

The driver is the API's `custom_middleware.driver` (Tyk OAS: `middleware.global.pluginConfig.
driver`); the code is its bundle, `custom_middleware_bundle` (OAS: `pluginConfig.bundle.path`
when `enabled`). Tyk unpacks a bundle into `<middleware_path>/bundles/<md5 of its name>/` and
then takes its driver from the bundle's manifest.json; the module is `middleware.py`, or the
bundle's only file. tykevents reads that directory, or an unpacked copy named after the bundle
without its extension (Tyk's name for a bundle's own directory).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tykevents.golang.json import go_get


class PluginError(Exception):
    """The API's Python code cannot be found or read."""


@dataclass(frozen=True)
class PluginConfig:
    driver: str
    bundle: str  # "" without a bundle (or with a disabled one)


def _at(obj: Any, *path: str) -> Any:
    for name in path:
        obj = go_get(obj, name) if isinstance(obj, dict) else None
    return obj


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ""


def read_plugin_config(source: str) -> PluginConfig:
    """The driver and bundle of the API definition in `source` (its classic file when it has
    one: Tyk's file loader reads that). An unreadable file has neither."""
    try:
        doc = orjson.loads(Path(source).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return PluginConfig("", "")
    if not isinstance(doc, dict):
        return PluginConfig("", "")
    x = doc.get("x-tyk-api-gateway")
    if "openapi" in doc and isinstance(x, dict):
        pc = _at(x, "middleware", "global", "pluginConfig")
        bundle = _str(_at(pc, "bundle", "path")) if _at(pc, "bundle", "enabled") is True else ""
        return PluginConfig(_str(_at(pc, "driver")), bundle.strip())
    bundle = _str(go_get(doc, "custom_middleware_bundle"))
    if go_get(doc, "custom_middleware_bundle_disabled") is True:
        bundle = ""
    return PluginConfig(_str(_at(doc, "custom_middleware", "driver")), bundle.strip())


def _own_dir_name(bundle: str) -> str:
    """Tyk's bundleSubdirName: the name without its extension, path separators made safe."""
    base, _ = os.path.splitext(bundle)
    return base.replace("/", "__").replace("\\", "__")


@dataclass(frozen=True)
class Bundle:
    path: Path  # the unpacked bundle
    module: Path  # the file imported
    driver: str  # from its manifest.json, which replaces the API's custom_middleware in Tyk


def find_bundle(middleware_path: Path, bundle: str) -> Bundle:
    if "," in bundle:
        raise PluginError(f"custom_middleware_bundle {bundle!r}: several bundles are not supported")
    root = middleware_path / "bundles"
    tried = [root / hashlib.md5(bundle.encode()).hexdigest(), root / _own_dir_name(bundle)]
    for d in tried:
        if d.name not in ("", ".", "..") and (d / "manifest.json").is_file():
            return _read_bundle(d)
    raise PluginError(
        f"bundle {bundle!r} is not unpacked in {tried[0]} (where Tyk unpacks it) nor in {tried[1]}"
    )


def _read_bundle(d: Path) -> Bundle:
    try:
        manifest = orjson.loads((d / "manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as e:
        raise PluginError(f"{d / 'manifest.json'}: {e}") from None
    if not isinstance(manifest, dict):
        raise PluginError(f"{d / 'manifest.json'}: expected a JSON object")
    files = go_get(manifest, "file_list")
    name = "middleware.py"
    if isinstance(files, list) and len(files) == 1 and isinstance(files[0], str):
        name = files[0]  # Tyk's fallback for a one-file bundle
    module = d / name
    real = Path(os.path.realpath(module))
    if not real.is_relative_to(os.path.realpath(d)):
        raise PluginError(f"{d / 'manifest.json'}: {name!r} is outside the bundle")
    if not module.is_file():
        raise PluginError(f"{module}: no such file in the bundle")
    return Bundle(d, module, _str(_at(manifest, "custom_middleware", "driver")))

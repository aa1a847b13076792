"""Runs every vector Go's own engine produced (tools/gen_vectors.py) through ours:
output bytes, error class and error message must all be Go's."""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import pytest

from tykevents import gotemplate as G
from tykevents.golang.time import TYK_FUNCS

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "gotmpl"
# The groups tools/gen_vectors.py writes (other files there belong to the fmt tests).
GROUPS = ("syntax", "delims", "values", "control", "funcs", "html", "tyk", "shapes")
INT64 = (-(1 << 63), (1 << 63) - 1)


def load_vectors() -> list[dict[str, Any]]:
    out = []
    for group in GROUPS:
        with open(DATA / ("%s.jsonl" % group), encoding="utf-8") as fh:
            out.extend(json.loads(line) for line in fh if line.strip())
    return out


def go_numbers(v: Any, mode: str) -> Any:
    """JSON numbers as Go's decoder gives them: all float64, or ints where they fit."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        if mode == "float" or not INT64[0] <= v <= INT64[1]:
            return float(v)
        return v
    if isinstance(v, list):
        return [go_numbers(x, mode) for x in v]
    if isinstance(v, dict):
        return {k: go_numbers(x, mode) for k, x in v.items()}
    return v


def render(vec: dict[str, Any]) -> tuple[bytes, str | None, str | None]:
    """(output bytes, error class, "class: message") as the oracle reports them."""
    out = ""
    try:
        t = G.parse(
            vec["template"],
            name=vec.get("name", "tpl") or "tpl",
            engine=vec.get("engine", "text"),
            funcs={k: TYK_FUNCS[k] for k in vec.get("funcs", [])},
            delims=tuple(vec["delims"]) if vec.get("delims") else None,
            missingkey=vec.get("missingkey", "default"),
        )
        out = t.execute(
            go_numbers(vec.get("data"), vec.get("numbers", "float")), name=vec.get("exec_template")
        )
        cls = msg = None
    except G.TemplateError as e:
        out = getattr(e, "partial", "")
        cls, msg = e.kind, "%s: %s" % (e.kind, e)
    return out.encode("utf-8", "surrogateescape"), cls, msg


VECTORS = load_vectors()


def test_vector_files_cover_every_group() -> None:
    ids = {v["id"].rsplit("-", 1)[0] for v in VECTORS}
    assert ids == set(GROUPS)
    assert len(VECTORS) > 1000


@pytest.mark.parametrize("vec", VECTORS, ids=[v["id"] for v in VECTORS])
def test_vector(vec: dict[str, Any]) -> None:
    out, cls, msg = render(vec)
    want = base64.b64decode(vec["output_b64"]) if "output_b64" in vec else vec["output"].encode("utf-8")
    assert (cls, msg) == (vec["error_class"], vec["error"])
    assert out == want

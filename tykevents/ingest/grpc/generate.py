"""Regenerates the Python modules of coprocess.proto: `make proto` (needs the test extra).

protoc runs at the repository root, so that the modules import each other as
tykevents.ingest.grpc.*; grpcio-tools writes the .py modules, mypy-protobuf their .pyi stubs
(which mypy reads instead of the untyped modules). tests/e2e/test_grpc.py runs the same
command into a temporary directory and fails while the committed modules differ.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROTO = Path("tykevents/ingest/grpc/coprocess.proto")
GENERATED = ("coprocess_pb2.py", "coprocess_pb2.pyi", "coprocess_pb2_grpc.py", "coprocess_pb2_grpc.pyi")


def generate(out: Path = ROOT) -> list[Path]:
    """Write the generated modules under `out` (at their place in the tree); return them."""
    plugins = Path(sys.executable).parent  # mypy-protobuf's protoc plugins sit beside python
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I.",
            f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--mypy_out=quiet:{out}",
            f"--mypy_grpc_out=quiet,only_async:{out}",  # the server and its clients use grpc.aio
            str(PROTO),
        ],
        cwd=ROOT,
        check=True,
    )
    return [out / PROTO.parent / name for name in GENERATED]


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT))

"""Build the compiled hot path (tykevents/_fast/*_c.pyx).

The extensions are optional: without a C compiler the package still installs and the pure
twins (`*_py.py`) are used. Which twins run is decided at import, by
tykevents/_fast/__init__.py alone (TYKEVENTS_NO_EXTENSIONS), never here. Note that
cythonize() drops Extension(optional=True), so the flag is set again on the objects it
returns. The compiled twins include _fast/_slot_table.pxi: cythonize() rebuilds them when it
changes.
"""

import glob
import os

from setuptools import Extension, setup

ext_modules = []
try:
    from Cython.Build import cythonize
except ImportError:  # pragma: no cover - build-system requires Cython
    cythonize = None
if cythonize is not None:
    sources = sorted(glob.glob("tykevents/_fast/*_c.pyx"))
    exts = [
        Extension(
            "tykevents._fast." + os.path.basename(src)[:-4],
            [src],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    ext_modules = cythonize(
        exts,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
    for ext in ext_modules:
        ext.optional = True

setup(ext_modules=ext_modules)

"""Python event handlers: `cp_dynamic_handler` on an API whose driver is `python`.

Tyk's own Python event dispatch is a stub (docs/tyk-gateway.md); here the handler
runs the named `@Event` function of the API's Python bundle, written as Tyk's plugin authors
write it (docs/tyk-gateway.md, "Python event handlers"). Each handler runs in a process of its
own (worker.py), so a hung handler is killed at its time limit without touching anything else,
and each configuration generation imports the code afresh. `tyk/` is the `tyk` package those
files import; it is importable only inside that process.
"""

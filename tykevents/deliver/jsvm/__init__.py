"""JavaScript event handlers (`eh_dynamic_handler`) in QuickJS with Tyk's TykJS API.

runtime.py: the small pool of VMs of a configuration generation and its limits; engine.py:
one VM; vmthread.py: the thread that enters it; jobs.py: the pool's queue (fair between
APIs); interrupt.py: the time limit's clock and interrupt; errors.py: JS errors mapped to file
and line; logcap.py: the size cap on what JS writes; bootstrap.js: TykJS and the JS side of
the API; api.py / httpreq.py: the Python side of the API; handler.py: the Handler and its
builder; collisions.py: the static check for globals that two files define.
"""

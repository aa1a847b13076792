"""JavaScript event handlers (`eh_dynamic_handler`) in QuickJS with Tyk's TykJS API.

runtime.py: the VM per configuration generation and its limits; vmthread.py: the one thread
that enters it; interrupt.py: the time limit's clock and interrupt; errors.py: JS errors
mapped to file and line; bootstrap.js: TykJS and the JS side
of the API; api.py / httpreq.py: the Python side of the API; handler.py: the Handler and its
builder; collisions.py: the static check for globals that two files define.
"""

"""The `tyk` package Tyk's Python plugins import, for tykevents' handler processes.

Importable only inside a handler's process (tykevents/deliver/python/worker.py installs it);
modules here import each other relatively, so that they also load as part of tykevents.
"""

"""The fault suite: the real daemon (tests/support/daemon.py) driven through failures.

Every test here is bounded in count and time, uses loopback only, and stops what it starts.
The daemon fixtures (`run_daemon`, `receivers`, `redis_server`) come from tests/conftest.py.
"""

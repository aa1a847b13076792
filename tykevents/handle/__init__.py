"""Stage 4 decisions: pure functions over records and in-memory state, no I/O.

- monitor.py  quota record -> QuotaState -> the TriggerExceeded fire (if any)
"""

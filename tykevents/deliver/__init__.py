"""Stage 5: side effects. Each handler kind (log, webhook, js) lives in its own module."""

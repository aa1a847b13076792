"""Process plumbing: logging, metrics, systemd notification, rate-limited log lines."""

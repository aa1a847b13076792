"""tykevents: an event-handling daemon compatible with Tyk Gateway's event subsystem."""

__version__ = "0.1.0"

"""State backends: memory (this instance only) or the gateways' Redis (shared by instances)."""

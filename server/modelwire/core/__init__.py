"""Core: business logic. Never imports pygls or the front doors."""

"""directory area."""

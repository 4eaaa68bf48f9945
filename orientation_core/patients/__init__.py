"""patients area."""

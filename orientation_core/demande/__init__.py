"""demande area."""

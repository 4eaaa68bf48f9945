"""ins package."""

"""orientation_core package."""

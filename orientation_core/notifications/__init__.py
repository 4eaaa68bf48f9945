"""notifications area."""

"""persistence area."""

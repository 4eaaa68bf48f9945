"""dossier area."""

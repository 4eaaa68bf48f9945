"""JSON API under /api/v1 for the UI and the DPIs."""

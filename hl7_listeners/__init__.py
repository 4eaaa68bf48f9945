"""hl7_listeners package."""

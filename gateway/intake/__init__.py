"""The ingest pipeline: inbox row → mappings (HL7 v2 PAM FR) → canonical → registry use cases."""

from gateway.intake.pipeline import Pipeline, PipelinePolicy

__all__ = ["Pipeline", "PipelinePolicy"]

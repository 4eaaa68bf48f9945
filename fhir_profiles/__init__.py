"""fhir_profiles package."""

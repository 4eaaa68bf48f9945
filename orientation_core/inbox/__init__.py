"""The inbox: every inbound HL7 v2 / FHIR message, stored before it is acknowledged (plain Python, no I/O)."""

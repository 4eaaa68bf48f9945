"""Errors of the HL7 v2 mapping: a stable code, a French message, the HL7 location."""

from __future__ import annotations


class Hl7ParseError(ValueError):
    """The bytes are not an ER7 message we can read (no MSH, bad separators, undecodable charset)."""

    def __init__(self, code: str, message: str, location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location

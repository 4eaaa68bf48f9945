"""HL7 v2.5 IHE PAM France 2.11 → canonical. Pure: bytes or text in, ``Mapped`` out, no I/O.

    mapped = map_message(raw_bytes)
    mapped.canonical   # mappings.canonical.Canonical, with issues and provenance
    mapped.ok          # False when an error-severity issue makes the message unusable
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mappings.canonical import Canonical, Issue, Source
from mappings.hl7v2 import identity, movements
from mappings.hl7v2.er7 import Message, decode, parse
from mappings.hl7v2.errors import Hl7ParseError
from mappings.hl7v2.segments import SUPPORTED_EVENTS, read_msh
from mappings.hl7v2.validation import validate
from orientation_core.identite.cle import ins_key, ins_key_valid


@dataclass
class Mapped:
    canonical: Canonical
    message: Message | None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.canonical.issues if i.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def map_message(raw: bytes | str, *, received_at: dt.datetime | None = None,
                default_charset: str = "8859/1") -> Mapped:
    """Decode (MSH-18), tokenize, validate against PAM FR, then map with the family module of the event."""
    try:
        text = decode(raw, default_charset) if isinstance(raw, bytes) else raw
        msg = parse(text)
    except Hl7ParseError as exc:
        canonical = Canonical(source=Source.HL7V2, message_id="", received_at=received_at)
        canonical.issues.append(Issue(severity="error", code=exc.code, location=exc.location, message=exc.message))
        return Mapped(canonical, None)
    canonical = Canonical(source=Source.HL7V2, message_id=msg.control_id, received_at=received_at)
    read_msh(msg, canonical)
    canonical.issues.extend(validate(msg))
    if canonical.event in identity.EVENTS:
        identity.map_identity(msg, canonical)
    elif canonical.event in movements.EVENTS:
        movements.map_movement(msg, canonical)
    return Mapped(canonical, msg)


__all__ = ["SUPPORTED_EVENTS", "Hl7ParseError", "Mapped", "Message", "decode", "ins_key", "ins_key_valid",
           "map_message", "parse"]

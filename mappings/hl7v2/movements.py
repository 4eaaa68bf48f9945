"""Movement family (PAM FR "gestion des mouvements"): pre-admission, admission, outpatient/emergency, class
changes, transfers, discharge, leave and return, attending doctor change, their cancellations, and Z99
corrections. Every movement message carries the patient (PID), the stay (PV1) and the movement (ZBE)."""

from __future__ import annotations

from mappings.canonical import Canonical
from mappings.hl7v2.er7 import Message
from mappings.hl7v2.segments import (
    MOVEMENT_EVENTS,
    read_in1,
    read_nk1,
    read_pid,
    read_rol,
    read_stay,
    read_zfd,
)

EVENTS = MOVEMENT_EVENTS


def map_movement(msg: Message, canonical: Canonical) -> None:
    patient = read_pid(msg, canonical)
    canonical.patient = patient
    read_zfd(msg, patient, canonical)
    canonical.stay = read_stay(msg, canonical)
    read_rol(msg, canonical)
    read_nk1(msg, canonical)
    read_in1(msg, canonical)

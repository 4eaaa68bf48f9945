"""Identity family (PAM FR "identification patient"): A28 create, A31 update, A47 identifier change, A40 merge."""

from __future__ import annotations

from mappings.canonical import Canonical, IdentifierKind
from mappings.hl7v2.er7 import Message
from mappings.hl7v2.segments import issue, read_in1, read_mrg, read_nk1, read_pid, read_rol, read_stay, read_zfd

EVENTS = frozenset({"A28", "A31", "A47", "A40"})


def map_identity(msg: Message, canonical: Canonical) -> None:
    patient = read_pid(msg, canonical)
    canonical.patient = patient
    read_zfd(msg, patient, canonical)
    if canonical.event in ("A28", "A31"):
        read_rol(msg, canonical)
        read_nk1(msg, canonical)
        read_in1(msg, canonical)
        pv1 = msg.segment("PV1")
        if pv1 is not None and pv1.value(2) not in ("", "N"):  # PV1-2 N: no stay context (A28/A31)
            canonical.stay = read_stay(msg, canonical)
        return
    read_mrg(msg, canonical)
    if canonical.event == "A40" and not any(i.kind is IdentifierKind.IPP for i in canonical.prior_identifiers):
        issue(canonical, "mrg1.ipp_absent", "MRG-1", "A40 : l'IPP du patient absorbé (MRG-1 de type PI) est absent.",
              severity="error")
    if canonical.event == "A47" and patient is not None:
        for ident in patient.identifiers:
            if ident.deleted:
                issue(canonical, "ins.suppression", "PID-3", "A47 : suppression de l'INS demandée par l'émetteur.",
                      severity="info")

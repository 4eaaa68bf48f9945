"""PAM FR 2.11 structural checks, before any mapping: what makes a message unusable (errors) or doubtful
(warnings). Each issue carries its HL7 location and a French message for the operator."""

from __future__ import annotations

from mappings.canonical import Issue
from mappings.hl7v2.er7 import Message
from mappings.hl7v2.segments import IDENTITY_EVENTS, MOVEMENT_EVENTS, MOVEMENT_EVENTS_CANCEL, SUPPORTED_EVENTS

# Required segments per event (PAM FR 2.11 message structures, reduced to what the mapping needs).
REQUIRED: dict[str, tuple[str, ...]] = {
    "A28": ("EVN", "PID"),
    "A31": ("EVN", "PID"),
    "A47": ("EVN", "PID", "MRG"),
    "A40": ("EVN", "PID", "MRG"),
}
MOVEMENT_REQUIRED = ("EVN", "PID", "PV1", "ZBE")


def _error(code: str, location: str, message: str) -> Issue:
    return Issue(severity="error", code=code, location=location, message=message)


def validate(msg: Message) -> list[Issue]:
    issues: list[Issue] = []
    if not msg.control_id:
        issues.append(_error("msh10.absent", "MSH-10", "Identifiant du message (MSH-10) absent."))
    if msg.message_type and msg.message_type != "ADT":
        issues.append(_error("msh9.type", "MSH-9.1",
                             f"Type de message « {msg.message_type} » non pris en charge (ADT attendu)."))
    event = msg.event
    if not event:
        issues.append(_error("msh9.evenement_absent", "MSH-9.2", "Événement (MSH-9.2) absent."))
    elif event not in SUPPORTED_EVENTS:
        issues.append(_error("evenement.inconnu", "MSH-9.2",
                             f"Événement « {event} » non pris en charge par le profil PAM FR d'Aiguillage."))
    version = msg.version
    if not version.startswith("2.5"):
        issues.append(_error("msh12.version", "MSH-12",
                             f"Version HL7 « {version or 'absente'} » : PAM FR 2.11 exige 2.5."))
    elif msg.msh.value(12, 2) not in ("", "FRA"):
        issues.append(Issue(code="msh12.pays", location="MSH-12.2",
                            message=f"Code pays « {msg.msh.value(12, 2)} » inattendu (FRA attendu)."))
    if event in IDENTITY_EVENTS:
        required = REQUIRED[event]
    elif event in MOVEMENT_EVENTS:
        required = MOVEMENT_REQUIRED
    else:
        required = ("PID",) if event else ()
    for name in required:
        if not msg.has(name):
            issues.append(_error(f"{name.lower()}.absent", name, f"Segment {name} obligatoire pour {event} absent."))
    pid = msg.segment("PID")
    if pid is not None and not any(rep.component(5) == "PI" for rep in pid.field(3).reps):
        issues.append(_error("pid3.ipp_absent", "PID-3", "Aucun IPP (PID-3 de type PI) dans le message."))
    if event in MOVEMENT_EVENTS and msg.has("ZBE"):
        issues.extend(_check_zbe(msg, event))
    if event in ("A40", "A47") and msg.has("MRG"):
        mrg = msg.segment("MRG")
        if mrg is not None and not mrg.field(1).reps:
            issues.append(_error("mrg1.absent", "MRG-1", "Identifiant d'origine (MRG-1) absent."))
    return issues


def _check_zbe(msg: Message, event: str) -> list[Issue]:
    """ZBE-4 must agree with the event: INSERT for a movement, CANCEL for its cancellation, UPDATE (with the
    original trigger in ZBE-6) for Z99."""
    zbe = msg.segment("ZBE")
    assert zbe is not None
    issues: list[Issue] = []
    if not zbe.value(1):
        issues.append(_error("zbe1.absent", "ZBE-1", "Identifiant du mouvement (ZBE-1) absent."))
    action = zbe.value(4)
    expected = "UPDATE" if event == "Z99" else ("CANCEL" if event in MOVEMENT_EVENTS_CANCEL else "INSERT")
    if action not in ("INSERT", "UPDATE", "CANCEL"):
        issues.append(_error("zbe4.invalide", "ZBE-4",
                             f"Action du mouvement ZBE-4 « {action} » invalide (INSERT, UPDATE ou CANCEL)."))
    elif action != expected:
        issues.append(_error("zbe4.incoherent", "ZBE-4",
                             f"ZBE-4 vaut {action} alors que l'événement {event} attend {expected}."))
    if not zbe.value(2) and event != "Z99":
        issues.append(_error("zbe2.absent", "ZBE-2", "Date du mouvement (ZBE-2) absente."))
    original = zbe.value(6)
    if event == "Z99" and not original:
        issues.append(_error("zbe6.absent", "ZBE-6",
                             "Z99 : l'événement d'origine du mouvement corrigé (ZBE-6) est obligatoire."))
    elif event in MOVEMENT_EVENTS_CANCEL and original and original not in MOVEMENT_EVENTS_CANCEL[event]:
        issues.append(_error("zbe6.incoherent", "ZBE-6",
                             f"{event} ne peut pas annuler un mouvement {original}."))
    elif event == "Z99" and original and original not in MOVEMENT_EVENTS:
        issues.append(_error("zbe6.incoherent", "ZBE-6", f"Événement d'origine « {original} » inconnu."))
    return issues

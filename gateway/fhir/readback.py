"""Read-back: dossiers as ServiceRequest (``ServiceRequest/dossier-<id>``), demandes as Task
(``Task/demande-<id>``), for the user named by the demo header and filtered by his rights (prescripteur side:
the dossier; receiving side: the units he holds, sent demandes only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from gateway.fhir.indexing import Query
from gateway.fhir.outcome import FhirError
from mappings.canonical import IdentifierKind
from mappings.fhir import IPP_URN_PREFIX, demande_to_task, dossier_to_service_request, to_canonical
from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import Status
from orientation_core.dossier.model import Dossier
from orientation_core.dossier.service import scope_of
from orientation_core.errors import NotFound
from orientation_core.patients.model import Patient, TypeIdentifiantPatient
from orientation_core.people.policy import Action, DemandeRecueScope, Subject, allowed
from orientation_core.people.service import subject_for
from orientation_core.persistence.uow import SqlUnitOfWork

INS_TYPES_BY_OID = {
    "1.2.250.1.213.1.4.8": TypeIdentifiantPatient.INS_NIR,
    "1.2.250.1.213.1.4.9": TypeIdentifiantPatient.INS_NIA,
    "1.2.250.1.213.1.4.10": TypeIdentifiantPatient.INS_NIR_TEST,
    "1.2.250.1.213.1.4.11": TypeIdentifiantPatient.INS_NIR_DEMO,
}


def _number(resource_id: str, prefix: str) -> int | None:
    if not resource_id.startswith(prefix):
        return None
    tail = resource_id[len(prefix):]
    return int(tail) if tail.isdigit() and len(tail) < 10 else None


def _readable_dossier(subject: Subject, dossier: Dossier, now: dt.datetime) -> bool:
    return allowed(subject, Action.DOSSIER_LIRE, scope_of(dossier), now)


def _readable_demande(uow: SqlUnitOfWork, subject: Subject, demande: Demande, dossier: Dossier,
                      now: dt.datetime) -> bool:
    if _readable_dossier(subject, dossier, now):
        return True
    if demande.statut is Status.EN_REDACTION:
        return False
    unite = uow.directory.get_unite(demande.unite_id)
    return allowed(subject, Action.DEMANDE_RECUE_LIRE, DemandeRecueScope(demande.unite_id, unite.etablissement_id),
                   now)


def task(uow: SqlUnitOfWork, subject: Subject, demande: Demande, dossier: Dossier,
         patients: dict[int, Patient] | None = None) -> dict[str, Any]:
    unite = uow.directory.get_unite(demande.unite_id)
    etablissement = uow.directory.get_etablissement(unite.etablissement_id)
    patient = (patients or {}).get(dossier.patient_id) or uow.patients.get(dossier.patient_id)
    return demande_to_task(demande, dossier, unite, etablissement, patient,
                           uow.patients.identifiers(dossier.patient_id))


def read_task(uow: SqlUnitOfWork, user_id: int, resource_id: str, now: dt.datetime) -> dict[str, Any]:
    number = _number(resource_id, "demande-")
    missing = FhirError(404, f"Task/{resource_id} introuvable.", "not-found")
    if number is None:
        raise missing
    try:
        demande = uow.demandes.get(number)
        dossier = uow.dossiers.get(demande.dossier_id)
    except NotFound:
        raise missing from None
    subject = subject_for(uow, user_id)
    if not _readable_demande(uow, subject, demande, dossier, now):
        raise missing  # not 403: a client must not learn that a demande exists elsewhere
    return task(uow, subject, demande, dossier)


def read_dossier(uow: SqlUnitOfWork, user_id: int, resource_id: str, now: dt.datetime) -> dict[str, Any] | None:
    """ServiceRequest/dossier-<id>; None when the id is not a dossier's (then it is a posted ServiceRequest)."""
    number = _number(resource_id, "dossier-")
    if number is None:
        return None
    missing = FhirError(404, f"ServiceRequest/{resource_id} introuvable.", "not-found")
    try:
        dossier = uow.dossiers.get(number)
    except NotFound:
        raise missing from None
    if not _readable_dossier(subject_for(uow, user_id), dossier, now):
        raise missing
    return dossier_to_service_request(dossier, uow.patients.get(dossier.patient_id),
                                      uow.patients.identifiers(dossier.patient_id))


def registry_patients(uow: SqlUnitOfWork, system: str | None, value: str) -> list[Patient]:
    """Registry patients named by a FHIR identifier: an INS (by OID), our IPP system (``urn:aiguillage:ipp:
    <FINESS>``), or any identifier of a Patient posted here (its IPP then finds the registry entry)."""
    found: list[Patient] = []

    def add(patient: Patient | None) -> None:
        if patient is not None and all(p.id != patient.id for p in found):
            found.append(patient)

    oid = (system or "").removeprefix("urn:oid:")
    if oid in INS_TYPES_BY_OID:
        for autorite in ("", oid, f"urn:oid:{oid}"):
            add(uow.patients.by_identifier(INS_TYPES_BY_OID[oid], value, autorite))
    elif system and system.startswith(IPP_URN_PREFIX):
        add(uow.patients.by_identifier(TypeIdentifiantPatient.IPP, value, system.removeprefix(IPP_URN_PREFIX)))
    for resource_id in uow.fhir.ids_by_identifier("Patient", system, value):
        posted = uow.fhir.current("Patient", resource_id)
        canonical = to_canonical(posted) if posted else None
        if canonical is not None and canonical.patient is not None:
            for ident in canonical.patient.identifiers:
                if ident.kind is IdentifierKind.IPP:
                    add(uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ident.value, ident.assigner))
    return [p for p in found if p.merged_into_id is None]


def search_tasks(uow: SqlUnitOfWork, user_id: int, query: Query, now: dt.datetime
                 ) -> tuple[int, list[dict[str, Any]]]:
    """Tasks of the patients named by ``patient:identifier`` (or by ``_id``), filtered by ``_lastUpdated``."""
    # patient=Patient/<id>: a Patient posted here, known to the registry by its identifiers
    named_patient = False
    for name, _, reference in query.criteria:
        if name == "patient":
            named_patient = True
            posted = uow.fhir.current("Patient", reference.removeprefix("Patient/"))
            query.patient_identifiers.extend(
                (str(i.get("system")), str(i["value"])) for i in (posted or {}).get("identifier") or []
                if isinstance(i, dict) and i.get("system") and i.get("value"))
    if named_patient and not query.patient_identifiers and not query.ids and not query.identifiers:
        return 0, []  # a Patient unknown here: no Task, not an error
    if not query.patient_identifiers and not query.ids and not query.identifiers:
        raise FhirError(400, "Précisez le patient (patient:identifier=système|valeur), identifier ou _id : la "
                             "recherche de Task porte sur un patient.", "required", "patient:identifier")
    subject = subject_for(uow, user_id)
    demandes: dict[int, Demande] = {}
    dossiers: dict[int, Dossier] = {}
    patients: dict[int, Patient] = {}
    for system, value in query.patient_identifiers:
        for patient in registry_patients(uow, system, value):
            assert patient.id is not None
            patients[patient.id] = patient
            for dossier in uow.dossiers.for_patient(patient.id):
                assert dossier.id is not None
                dossiers[dossier.id] = dossier
                for demande in uow.demandes.for_dossier(dossier.id):
                    assert demande.id is not None
                    demandes[demande.id] = demande
    direct = [n for n in (_number(i, "demande-") for i in query.ids) if n is not None]
    direct += [int(v) for s, v in query.identifiers if s in (None, "urn:aiguillage:demande") and v.isdigit()]
    for number in direct:
        try:
            demande = uow.demandes.get(number)
        except NotFound:
            continue
        demandes[number] = demande
        if demande.dossier_id not in dossiers:
            dossiers[demande.dossier_id] = uow.dossiers.get(demande.dossier_id)
    rows = []
    for demande in demandes.values():
        dossier = dossiers[demande.dossier_id]
        if not _readable_demande(uow, subject, demande, dossier, now):
            continue
        updated = demande.updated_at or demande.created_at
        if updated is None or not all(_compare(updated, op, at) for op, at in query.last_updated):
            continue
        rows.append((updated, demande, dossier))
    rows.sort(key=lambda r: (r[0], r[1].id or 0), reverse=True)
    page = rows[query.offset: query.offset + query.count]
    return len(rows), [task(uow, subject, d, ds, patients) for _, d, ds in page]


def _compare(value: dt.datetime, op: str, at: dt.datetime) -> bool:
    return {"ge": value >= at, "gt": value > at, "le": value <= at, "lt": value < at}[op]

"""Canonical (mappings) → registry inputs (orientation_core): the only place the two vocabularies meet.

Trust is decided here, once: the INS reaches the registry only when PID-32 says VALI and its key computes;
otherwise the identity is at most "validée" and the message carries the mapping's warning.
"""

from __future__ import annotations

import functools
from typing import Any

from mappings.canonical import INS_KINDS, Address, Canonical, IdentifierKind, IdentityStatus, Source
from mappings.canonical import Patient as CanonicalPatient
from orientation_core.patients.model import Sexe, StatutIdentite, TypeIdentifiantPatient
from orientation_core.patients.registry import IdentifiantRef, IdentiteEntrante, MouvementEntrant, Traits

TRUSTED_STATUS_CODES = ("VALI", "QUAL")


def ins_trusted(patient: CanonicalPatient) -> bool:
    return patient.ins is not None and patient.ins_key_valid is True and (
        patient.identity_status_raw in TRUSTED_STATUS_CODES or patient.identity_status is IdentityStatus.QUALIFIEE)


def _home(addresses: list[Address]) -> Address | None:
    usable = [a for a in addresses if a.use != "birth" and (a.lines or a.ville or a.code_postal)]
    return next((a for a in usable if a.use == "home"), usable[0] if usable else None)


def ipp_of(canonical: Canonical) -> IdentifiantRef | None:
    patient = canonical.patient
    ident = patient.identifier(IdentifierKind.IPP) if patient is not None else None
    if ident is None:
        return None
    return IdentifiantRef(TypeIdentifiantPatient.IPP, ident.value, ident.assigner)


def prior_ipps(canonical: Canonical) -> list[IdentifiantRef]:
    return [IdentifiantRef(TypeIdentifiantPatient.IPP, i.value, i.assigner)
            for i in canonical.prior_identifiers if i.kind is IdentifierKind.IPP]


def identite(canonical: Canonical) -> IdentiteEntrante | None:
    patient, ipp = canonical.patient, ipp_of(canonical)
    if patient is None or ipp is None:
        return None
    trusted = ins_trusted(patient)
    statut = StatutIdentite(patient.identity_status.value)
    if statut is StatutIdentite.QUALIFIEE and not trusted:
        statut = StatutIdentite.VALIDEE  # traits validated by the sender, but no INS we can keep
    home = _home(patient.addresses)
    phone = next((t.value for t in patient.telecoms if t.system == "phone"), "")
    traits = Traits(
        nom_naissance=patient.nom_naissance or patient.nom_utilise, prenoms=list(patient.prenoms),
        date_naissance=patient.date_naissance, sexe=Sexe(patient.sexe.value), nom_utilise=patient.nom_utilise,
        prenom_utilise=patient.prenom_utilise, lieu_naissance_code=patient.lieu_naissance_code[:5], statut=statut,
        attributs=list(patient.identity_attributes), adresse=", ".join(home.lines) if home else "",
        code_postal=home.code_postal[:10] if home else "", ville=home.ville if home else "", telephone=phone[:30],
    )
    ins = patient.ins
    return IdentiteEntrante(
        ipp=ipp, traits=traits,
        ins=IdentifiantRef(TypeIdentifiantPatient(ins.kind.value), ins.value, ins.assigner)
        if trusted and ins is not None else None,
        ins_supprime=any(i.deleted for i in patient.identifiers if i.kind in INS_KINDS),
    )


def sejour(canonical: Canonical) -> MouvementEntrant | None:
    """A stay without a movement (FHIR Encounter): its state, for ``registry.upsert_sejour``."""
    stay = canonical.stay
    if canonical.source is not Source.FHIR or stay is None or stay.movement is not None or not stay.nda:
        return None  # HL7 v2 stays change through their movements (ZBE) only
    return MouvementEntrant(
        evenement=canonical.event, action="SNAPSHOT", identifiant="", finess=stay.etablissement_finess,
        nda=stay.nda, classe=stay.patient_class, code_uf=stay.uf, date_entree=stay.admit_at,
        date_sortie=stay.discharge_at, message_id=canonical.message_id,
    )


def mouvement(canonical: Canonical) -> MouvementEntrant | None:
    stay = canonical.stay
    if stay is None or stay.movement is None:
        return None
    mv = stay.movement
    return MouvementEntrant(
        evenement=canonical.event, action=mv.action.value, identifiant=mv.id, finess=stay.etablissement_finess,
        nda=stay.nda, debut=mv.start, evenement_origine=mv.original_trigger, classe=stay.patient_class,
        code_uf=mv.uf_medicale or stay.uf, code_uf_soins=mv.uf_soins, nature=mv.nature, date_entree=stay.admit_at,
        date_sortie=stay.discharge_at, message_id=canonical.message_id,
    )


@functools.lru_cache(maxsize=4096)  # a feed repeats the same few hundred paths: computed once each
def _rerooted(path: str) -> tuple[str, str] | None:
    """``_reroot`` and the context section the result belongs to."""
    rerooted = _reroot(path)
    return None if rerooted is None else (rerooted, rerooted.split(".")[0].split("[")[0])


def _reroot(path: str) -> str | None:
    """Canonical provenance path → DPI-context path (the context is flat: identite, addresses, sejour…)."""
    if path.startswith(("patient.addresses", "patient.telecoms")):
        return path.removeprefix("patient.")
    if path.startswith(("contacts", "coverages", "medecin_traitant", "clinical", "admission_request")):
        return path
    if path.startswith("patient."):  # identity extras are flat sections: each one kept until resent
        return path.removeprefix("patient.")
    if path.startswith("stay."):
        return "sejour." + path.removeprefix("stay.")
    return None


def context(canonical: Canonical) -> tuple[dict[str, Any], dict[str, str]]:
    """The sections this message carries (a section it does not carry keeps its previous value)."""
    data: dict[str, Any] = {}
    patient = canonical.patient
    if canonical.contacts:
        data["contacts"] = [c.model_dump(mode="json", exclude_defaults=True) for c in canonical.contacts]
    if canonical.coverages:
        data["coverages"] = [c.model_dump(mode="json", exclude_defaults=True) for c in canonical.coverages]
    if canonical.medecin_traitant is not None:
        data["medecin_traitant"] = canonical.medecin_traitant.model_dump(mode="json", exclude_defaults=True)
    if canonical.clinical is not None:
        data["clinical"] = canonical.clinical.model_dump(mode="json", exclude_defaults=True)
    if patient is not None:
        if patient.addresses:
            data["addresses"] = [a.model_dump(mode="json", exclude_defaults=True) for a in patient.addresses]
        if patient.telecoms:
            data["telecoms"] = [t.model_dump(mode="json", exclude_defaults=True) for t in patient.telecoms]
        extra = patient.model_dump(mode="json", exclude_defaults=True, include={
            "situation_familiale", "date_deces", "identity_source", "insi_query_date", "identity_document",
            "identity_status_raw", "identity_attributes"})
        nss = patient.identifier(IdentifierKind.NSS)
        if nss is not None:
            extra["nss"] = nss.value  # billing NIR: never the INS, kept for the administrative volet
        data.update(extra)
    if canonical.stay is not None:
        data["sejour"] = canonical.stay.model_dump(mode="json", exclude_defaults=True, exclude={"movement"})
    if canonical.admission_request is not None:  # what the DPI asks (FHIR ServiceRequest): module, orientation…
        data["admission_request"] = canonical.admission_request.model_dump(mode="json", exclude_defaults=True)
    provenance: dict[str, str] = {}
    for path, where in canonical.provenance.items():
        found = _rerooted(path)
        if found is not None and found[1] in data:
            provenance[found[0]] = where
    return data, provenance

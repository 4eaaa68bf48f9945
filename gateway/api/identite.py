"""Identity vigilance: "Récupérer l'INS", "Vérifier l'INS", validation by identity document, attributes, the
conflicts work list, the identity status and trace of a patient, duplicate candidates.

Only users flagged as INS-trained (``forme_ins``) act; the status is readable by whoever follows the patient.
The INS itself appears only when the identity is qualified.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.api import serializers as s
from gateway.api.deps import ContainerDep, UserId
from gateway.container import Container
from gateway.settings import Settings
from ins.client import InsiClient, InsiConfig, UnconfiguredInsi
from ins.soap import LpsContext
from orientation_core.identite import doublons
from orientation_core.identite import service as identite
from orientation_core.identite.model import Attribut, PieceIdentite
from orientation_core.ports import IdentityVerifier

router = APIRouter(prefix="/api/v1", tags=["identitovigilance (INS)"])


def insi_config(settings: Settings) -> InsiConfig:
    return InsiConfig(
        url=settings.insi_url,
        lps=LpsContext(idam=settings.insi_lps_idam, version=settings.insi_lps_version,
                       instance=settings.insi_lps_instance, nom=f"urn:lps:aiguillage:{settings.insi_lps_version}",
                       emetteur=settings.insi_emetteur),
        cert_path=settings.insi_cert_path, key_path=settings.insi_key_path, ca_path=settings.insi_ca_path,
        connect_timeout=settings.insi_connect_timeout, read_timeout=settings.insi_read_timeout,
        max_retries=settings.insi_max_retries,
    )


def verifier_for(container: Container) -> IdentityVerifier:
    """One INSi client per container (its connection pool and circuit breaker are shared by requests and tasks)."""
    found: IdentityVerifier | None = getattr(container, "_insi_verifier", None)
    if found is None:
        settings = container.settings
        found = InsiClient(insi_config(settings)) if settings.insi_url else UnconfiguredInsi()
        setattr(container, "_insi_verifier", found)  # noqa: B010 - the container has no slot for it
    return found


class ValidationIn(BaseModel):
    piece_identite: PieceIdentite


class AttributIn(BaseModel):
    actif: bool


class DecisionIn(BaseModel):
    appliquer: bool


def _issue(issue: identite.Issue) -> dict[str, Any]:
    return {"issue": issue.issue, "message": issue.message, "statut": issue.statut.value, "code_cr": issue.code_cr,
            "recherche_id": issue.recherche_id, "conflit_id": issue.conflit_id}


@router.get("/patients/{patient_id}/identite")
def lire(patient_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """Identity status (provisoire / récupérée / validée / qualifiée), attributes, validation, INSi look-ups,
    conflicts and trace. The INS only for a qualified identity."""
    with c.uow() as uow:
        return identite.lire_identite(uow, c.env, user_id, patient_id)


@router.post("/patients/{patient_id}/identite/recuperer-ins")
def recuperer_ins(patient_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """« Récupérer l'INS » (INS-trained users). INSi down: 200 with issue ``en_attente``, a retry is queued."""
    with c.uow() as uow:
        issue = identite.recuperer_ins(uow, c.env, user_id, patient_id, verifier_for(c))
    return _issue(issue)


@router.post("/patients/{patient_id}/identite/verifier-ins")
def verifier_ins(patient_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """« Vérifier l'INS »: replay the search; a mismatch downgrades the identity and removes the INS."""
    with c.uow() as uow:
        issue = identite.verifier_ins(uow, c.env, user_id, patient_id, verifier_for(c))
    return _issue(issue)


@router.post("/patients/{patient_id}/identite/validation")
def valider(patient_id: int, body: ValidationIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """Traits checked against a high-trust identity document (CN, PA, TS, LE, EC)."""
    with c.uow() as uow:
        issue = identite.valider_identite(uow, c.env, user_id, patient_id, body.piece_identite)
    return _issue(issue)


@router.put("/patients/{patient_id}/identite/attributs/{attribut}")
def attribut(patient_id: int, attribut: Attribut, body: AttributIn, c: ContainerDep,
             user_id: UserId) -> dict[str, Any]:
    """Set or clear homonyme, douteuse, fictive (douteuse / fictive force provisoire, not both)."""
    with c.uow() as uow:
        issue = identite.set_attribut(uow, c.env, user_id, patient_id, attribut, body.actif)
    return _issue(issue)


@router.get("/identite/conflits")
def conflits(c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    """The work list: INSi answers that would have changed a qualified INS, or given another patient's INS."""
    with c.uow() as uow:
        return [s.plain(x) for x in identite.conflits_ouverts(uow, c.env, user_id)]


@router.post("/identite/conflits/{conflit_id}")
def resoudre(conflit_id: int, body: DecisionIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        issue = identite.resoudre_conflit(uow, c.env, user_id, conflit_id, body.appliquer)
    return _issue(issue)


@router.get("/patients/{patient_id}/doublons")
def candidats_doublons(patient_id: int, c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    """Possible duplicates of this patient: same INS first, then tolerant traits matching, with a score."""
    with c.uow() as uow:
        identite.lire_identite(uow, c.env, user_id, patient_id)  # the same right as reading the identity
        patient = uow.patients.get(patient_id)
        others = uow.identite.candidats_doublons(patient)
        ins_of = uow.identite.ins_connus([patient_id] + [o.id for o in others if o.id is not None])
        by_id = {o.id: o for o in others}
        found = doublons.candidats(patient, others, ins_of)
        return [{"patient_id": cand.patient_id, "score": cand.score, "raisons": list(cand.raisons),
                 "nom_affiche": by_id[cand.patient_id].nom_affiche,
                 "date_naissance": by_id[cand.patient_id].date_naissance,
                 "statut_identite": by_id[cand.patient_id].statut_identite.value} for cand in found]

"""Patients, dossiers, demandes, dashboards, history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from gateway import prefill
from gateway.api import serializers as s
from gateway.api.deps import ContainerDep, UserId
from orientation_core.demande import service as demandes
from orientation_core.demande.workflow import Status
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import Section
from orientation_core.dossier.volets import Module
from orientation_core.errors import Forbidden
from orientation_core.patients import service as patients
from orientation_core.patients.model import Patient, Sexe, TypeIdentifiantPatient
from orientation_core.people.policy import Action, allowed, may_register_patient
from orientation_core.people.service import subject_for

router = APIRouter(prefix="/api/v1", tags=["dossiers et demandes"])


class IdentifiantIn(BaseModel):
    type: TypeIdentifiantPatient
    valeur: str
    autorite: str = ""


class PatientIn(BaseModel):
    nom_naissance: str
    prenoms: list[str] = Field(min_length=1)
    date_naissance: dt.date
    sexe: Sexe
    nom_utilise: str = ""
    prenom_utilise: str = ""
    lieu_naissance_code: str = ""
    adresse: str = ""
    code_postal: str = ""
    ville: str = ""
    telephone: str = ""
    identifiants: list[IdentifiantIn] = []


class DossierIn(BaseModel):
    module: Module
    patient_id: int
    unite_id: int | None = None
    owner_user_id: int | None = None
    anticipee: bool = False
    sejour_id: int | None = None


class TexteIn(BaseModel):
    texte: str = Field(max_length=10_000)


class MotifIn(BaseModel):
    motif: str


class PieceJointeIn(BaseModel):
    nom: str
    type_mime: str
    taille: int
    categorie: str = ""


class TransfertIn(BaseModel):
    unite_id: int


class RetourDomicileIn(BaseModel):
    date: dt.date | None


class SelectionIn(BaseModel):
    unite_ids: list[int] = Field(min_length=1)
    envoyer: bool = False


class AnswerIn(BaseModel):
    motif: str = ""
    question: str = ""
    reponse: str = ""
    date_debut: dt.date | None = None
    date_fin: dt.date | None = None
    date_admission: dt.date | None = None


@router.post("/patients", status_code=201)
def register_patient(body: PatientIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """Registry entry for a patient (the DPI feeds arrive through HL7 and FHIR in later issues)."""
    with c.uow() as uow:
        if not may_register_patient(subject_for(uow, user_id)):
            raise Forbidden("Seuls les prescripteurs enregistrent un patient.", details={"action": "patient.creer"})
        data = body.model_dump(exclude={"identifiants"})
        created = patients.register(uow, c.env, Patient(**data),
                                    [(i.type, i.valeur, i.autorite) for i in body.identifiants])
        return s.patient(created)


@router.get("/patients/{patient_id}")
def get_patient(patient_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        subject = subject_for(uow, user_id)
        readable = [d for d in uow.dossiers.for_patient(patient_id)
                    if allowed(subject, Action.DOSSIER_LIRE, dossiers.scope_of(d), c.env.clock.now())]
        if not readable and not subject.administrateur:
            raise Forbidden("Vous ne suivez aucun dossier de ce patient.")
        return s.patient(uow.patients.get(patient_id)) | {
            "dossiers": [{"id": d.id, "numero": d.numero, "module": d.module.value, "etat": d.etat.value}
                         for d in readable]}


@router.post("/dossiers", status_code=201)
def create_dossier(body: DossierIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        created = dossiers.creer(uow, c.env, user_id, body.module, body.patient_id, unite_id=body.unite_id,
                                 owner_user_id=body.owner_user_id, anticipee=body.anticipee,
                                 sejour_id=body.sejour_id)
        prefill.prefill_dossier(uow, c.env, created.id or 0, user_id=user_id)  # from the patient's DPI context
        return s.dossier(created, [])


@router.get("/dossiers/{dossier_id}")
def get_dossier(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        return s.dossier(dossier, uow.demandes.for_dossier(dossier_id)) | {
            "pieces_jointes": [s.piece_jointe(p) for p in uow.dossiers.pieces_jointes(dossier_id)],
            "patient": s.patient_header(uow.patients.get(dossier.patient_id))}


@router.patch("/dossiers/{dossier_id}/volets/{volet}")
def update_volet(dossier_id: int, volet: str, body: dict[str, Any], c: ContainerDep, user_id: UserId
                 ) -> dict[str, Any]:
    with c.uow() as uow:
        dossier = dossiers.modifier_volet(uow, c.env, user_id, dossier_id, volet, body)
        return s.dossier(dossier, uow.demandes.for_dossier(dossier_id))


@router.put("/dossiers/{dossier_id}/bloc-note")
def bloc_note(dossier_id: int, body: TexteIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.dossier(dossiers.modifier_bloc_note(uow, c.env, user_id, dossier_id, body.texte))


@router.post("/dossiers/{dossier_id}/pieces-jointes", status_code=201)
def add_piece_jointe(dossier_id: int, body: PieceJointeIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.piece_jointe(dossiers.ajouter_piece_jointe(uow, c.env, user_id, dossier_id, body.nom,
                                                            body.type_mime, body.taille, body.categorie))


@router.post("/dossiers/{dossier_id}/dossier-grand-age", status_code=201)
def link_grand_age(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        linked = dossiers.creer_grand_age_lie(uow, c.env, user_id, dossier_id)
        prefill.prefill_dossier(uow, c.env, linked.id or 0, user_id=user_id)  # the Grand Âge volets from the DPI
        return s.dossier(linked, [])


@router.post("/dossiers/{dossier_id}/transfert")
def transfer(dossier_id: int, body: TransfertIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.dossier(dossiers.transferer(uow, c.env, user_id, dossier_id, body.unite_id))


@router.put("/dossiers/{dossier_id}/retour-domicile")
def home_first(dossier_id: int, body: RetourDomicileIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.dossier(dossiers.retour_domicile(uow, c.env, user_id, dossier_id, body.date))


@router.post("/dossiers/{dossier_id}/annulation")
def cancel_dossier(dossier_id: int, body: MotifIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        dossier = dossiers.annuler_dossier(uow, c.env, user_id, dossier_id, body.motif)
        return s.dossier(dossier, uow.demandes.for_dossier(dossier_id))


@router.post("/dossiers/{dossier_id}/reactivation")
def reactivate_dossier(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        dossier = dossiers.reactiver_dossier(uow, c.env, user_id, dossier_id)
        return s.dossier(dossier, uow.demandes.for_dossier(dossier_id))


@router.delete("/dossiers/{dossier_id}/relance-auto")
def withdraw_relance(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.dossier(dossiers.annuler_relance_auto(uow, c.env, user_id, dossier_id))


@router.get("/dossiers/{dossier_id}/historique")
def dossier_history(dossier_id: int, c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    with c.uow() as uow:
        return [s.history(e) for e in dossiers.historique(uow, c.env, user_id, dossier_id)]


@router.post("/dossiers/{dossier_id}/demandes", status_code=201)
def select_units(dossier_id: int, body: SelectionIn, c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    with c.uow() as uow:
        return [s.demande(d) for d in demandes.selectionner(uow, c.env, user_id, dossier_id, body.unite_ids,
                                                            envoyer=body.envoyer)]


@router.get("/demandes/{demande_id}")
def get_demande(demande_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """The prescripteur side sees the whole dossier; a receiving unit sees it without the bloc-note, and
    without the médical volets unless it holds a medical habilitation (each such opening is traced)."""
    with c.uow() as uow:
        demande = uow.demandes.get(demande_id)
        dossier = uow.dossiers.get(demande.dossier_id)
        subject = subject_for(uow, user_id)
        if allowed(subject, Action.DOSSIER_LIRE, dossiers.scope_of(dossier), c.env.clock.now()):
            return s.demande(demande) | {"dossier": s.dossier(dossier, uow.demandes.for_dossier(dossier.id or 0))}
        demande, dossier, medical = demandes.consulter_recue(uow, c.env, user_id, demande_id)
        return s.demande(demande) | {"dossier": s.dossier(dossier, [demande], prescripteur_view=False,
                                                          volet_medical=medical)}


@router.post("/demandes/{demande_id}/{action}")
def act(demande_id: int, action: str, body: AnswerIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """One workflow action: envoyer, renvoyer, reactiver, repondre_precision, confirmer, annuler,
    relancer_receveur (prescripteur); demander_precision, accorder, accepter, refuser, finaliser_admission,
    relancer_prescripteur (receveur)."""
    with c.uow() as uow:
        demande = demandes.agir(uow, c.env, user_id, demande_id, action, demandes.Answer(**body.model_dump()))
        return s.demande(demande)


@router.get("/tableau-de-bord/prescripteur")
def prescripteur_dashboard(c: ContainerDep, user_id: UserId, section: Section = Section.EN_COURS,
                           statut: list[Status] = Query(default=[]), recherche: str = "",
                           unite_id: int | None = None, module: Module | None = None,
                           page: int = Query(default=1, ge=1), page_size: int = Query(default=50, ge=1, le=200),
                           ) -> dict[str, Any]:
    with c.uow() as uow:
        result = dossiers.dashboard(uow, c.env, user_id, section=section, statuts=frozenset(statut),
                                    recherche=recherche, unite_id=unite_id, module=module, page=page,
                                    page_size=page_size)
        return s.page(result, [s.dossier_row(r) for r in result.items])


@router.get("/tableau-de-bord/receveur")
def receveur_dashboard(c: ContainerDep, user_id: UserId, unite_id: int | None = None,
                       statut: list[Status] = Query(default=[]), recherche: str = "",
                       page: int = Query(default=1, ge=1), page_size: int = Query(default=50, ge=1, le=200),
                       ) -> dict[str, Any]:
    with c.uow() as uow:
        result = demandes.receveur_dashboard(uow, c.env, user_id, unite_id=unite_id, statuts=frozenset(statut),
                                             recherche=recherche, page=page, page_size=page_size)
        return s.page(result, [s.demande_row(r) for r in result.items])

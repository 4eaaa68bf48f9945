"""Médecin libéral space: dossiers naming him médecin traitant awaiting his acceptance, accept or "pas mon
patient" (declined ones listed apart), search across his dossiers by name or dossier number, counters per module."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from gateway.api.deps import ContainerDep, UserId
from orientation_core.people import liberal
from orientation_core.people.liberal import DossierLiberal, Reponse

router = APIRouter(prefix="/api/v1/liberal", tags=["médecin libéral"])


def row(d: DossierLiberal) -> dict[str, Any]:
    return {"dossier_id": d.dossier_id, "numero": d.numero, "module": d.module.value, "patient": d.patient,
            "etat": d.etat, "created_at": d.created_at, "reponse": d.reponse.value,
            "reponse_libelle": liberal.REPONSE_LABELS[d.reponse]}


@router.get("")
def space(c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        found = liberal.espace(uow, user_id)
    return {"en_attente": [row(d) for d in found.en_attente], "refuses": [row(d) for d in found.refuses],
            "compteurs": found.compteurs}


@router.get("/recherche")
def search(c: ContainerDep, user_id: UserId, q: str) -> list[dict[str, Any]]:
    """By patient name (prefix, accents and case ignored) or dossier number, across all his dossiers."""
    with c.uow() as uow:
        return [row(d) for d in liberal.rechercher(uow, user_id, q)]


@router.post("/dossiers/{dossier_id}/acceptation")
def accept(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        dossier = liberal.repondre(uow, c.env, user_id, dossier_id, Reponse.ACCEPTEE)
        return {"dossier_id": dossier.id, "reponse": Reponse.ACCEPTEE.value}


@router.post("/dossiers/{dossier_id}/refus")
def decline(dossier_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """"Pas mon patient": the dossier leaves his list and goes to the refused ones."""
    with c.uow() as uow:
        dossier = liberal.repondre(uow, c.env, user_id, dossier_id, Reponse.REFUSEE)
        return {"dossier_id": dossier.id, "reponse": Reponse.REFUSEE.value}

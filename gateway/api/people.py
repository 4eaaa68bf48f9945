"""Directory, accounts, habilitations, délégations, "Mes référents", notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from gateway.api import serializers as s
from gateway.api.deps import ContainerDep, UserId
from orientation_core.directory import service as directory
from orientation_core.directory.model import Etablissement, Secteur, TypeUnite, Unite
from orientation_core.dossier.volets import Module
from orientation_core.errors import NotFound
from orientation_core.people import accounts
from orientation_core.people import service as people
from orientation_core.people.model import Role, TypeDelegation, User
from orientation_core.people.policy import Action

router = APIRouter(prefix="/api/v1", tags=["annuaire et comptes"])


class EtablissementIn(BaseModel):
    finess: str = Field(examples=["750712184"])
    nom: str
    secteur: Secteur
    adresse: str = ""
    code_postal: str | None = None
    ville: str = ""
    telephone: str = ""


class UniteIn(BaseModel):
    code_uf: str
    nom: str
    type: TypeUnite
    mention: str | None = None
    capacite: int | None = None
    pathologies: list[str] = []
    besoins_acceptes: list[str] = []
    equipements: list[str] = []
    code_postal: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    ror_id: str | None = None


class UserIn(BaseModel):
    nom: str
    prenom: str
    email: str
    identifiant_national: str | None = None
    identifiant_local: str | None = None
    profession: str = ""
    specialite: str = ""
    telephone: str = ""
    forme_ins: bool = False
    etablissement_id: int | None = None


class HabilitationIn(BaseModel):
    user_id: int
    role: Role
    etablissement_id: int
    unite_id: int | None = None


class DelegationIn(BaseModel):
    delegataire_id: int
    type: TypeDelegation
    debut: dt.datetime
    fin: dt.datetime
    droits: list[Action] = []


class DelegationPatch(BaseModel):
    fin: dt.datetime | None = None
    droits: list[Action] | None = None


@router.get("/moi")
def moi(c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        user = uow.users.get(user_id)
        habilitations = uow.users.habilitations(user_id)
        etab_ids = sorted({h.etablissement_id for h in habilitations})
        return s.user(user) | {
            "habilitations": [s.habilitation(h) for h in habilitations],
            "delegations_recues": [s.delegation(d) for d in uow.users.delegations_received(user_id)],
            "delegations_donnees": [s.delegation(d) for d in uow.users.delegations_given(user_id)],
            "referents": {  # "Mes référents": name and e-mail, per établissement
                str(e): [{"nom": r.nom_complet, "email": r.email} for r in uow.users.referents(e)] for e in etab_ids
            },
        }


@router.get("/etablissements")
def list_etablissements(c: ContainerDep, _: UserId) -> list[dict[str, Any]]:
    with c.uow() as uow:
        return [s.etablissement(e) for e in uow.directory.list_etablissements()]


@router.post("/etablissements", status_code=201)
def create_etablissement(body: EtablissementIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        created = directory.create_etablissement(uow, c.env, user_id, Etablissement(**body.model_dump()))
        return s.etablissement(created)


@router.post("/etablissements/{etablissement_id}/unites", status_code=201)
def create_unite(etablissement_id: int, body: UniteIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        created = directory.create_unite(uow, c.env, user_id,
                                         Unite(etablissement_id=etablissement_id, **body.model_dump()))
        return s.unite(created)


@router.get("/unites")
def search_unites(c: ContainerDep, _: UserId, module: Module,
                  type: list[TypeUnite] = Query(default=[]),
                  besoin: list[str] = Query(default=[]), latitude: float | None = None,
                  longitude: float | None = None, rayon_km: float | None = None,
                  mention: str | None = None) -> list[dict[str, Any]]:
    """Receiving units for a module, ranked, each with the reasons of its rank."""
    with c.uow() as uow:
        found = directory.suggest_unites(uow, module, types=type, besoins=besoin, latitude=latitude,
                                         longitude=longitude, rayon_km=rayon_km, mention=mention)
        return [s.unite(x.unite) | {"etablissement": x.etablissement.nom, "finess": x.etablissement.finess,
                                    "distance_km": x.distance_km, "raisons": x.raisons} for x in found]


@router.post("/utilisateurs", status_code=201)
def create_user(body: UserIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        data = body.model_dump(exclude={"etablissement_id"})
        created = people.create_user(uow, c.env, user_id, User(**data), body.etablissement_id)
        return s.user(created)


@router.post("/habilitations", status_code=201)
def grant(body: HabilitationIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.habilitation(people.grant(uow, c.env, user_id, body.user_id, body.role, body.etablissement_id,
                                           body.unite_id))


@router.delete("/habilitations/{habilitation_id}", status_code=204)
def revoke(habilitation_id: int, c: ContainerDep, user_id: UserId) -> None:
    with c.uow() as uow:
        people.revoke(uow, c.env, user_id, habilitation_id)


@router.post("/delegations", status_code=201)
def delegate(body: DelegationIn, request: Request, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """Older route: the same use case as /api/v1/compte/delegations/… (history written, assistant invited)."""
    from gateway.ui.account import invitation_link

    with c.uow() as uow:
        return s.delegation(accounts.delegate(uow, c.env, user_id, body.delegataire_id, body.type, body.debut,
                                              body.fin, body.droits,
                                              lien=lambda token: invitation_link(request, token)))


@router.post("/delegations/{delegation_id}/acceptation")
def accept_delegation(delegation_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.accept_delegation(uow, c.env, user_id, delegation_id))


@router.patch("/delegations/{delegation_id}")
def update_delegation(delegation_id: int, body: DelegationPatch, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        # through accounts: the change goes into the délégation's history, whichever route made it
        return s.delegation(accounts.update_delegation(uow, c.env, user_id, delegation_id, fin=body.fin,
                                                       droits=body.droits))


@router.delete("/delegations/{delegation_id}")
def revoke_delegation(delegation_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.revoke_delegation(uow, c.env, user_id, delegation_id))


@router.get("/notifications")
def notifications(c: ContainerDep, user_id: UserId, non_lues: bool = False) -> list[dict[str, Any]]:
    with c.uow() as uow:
        return [s.notification(n) for n in uow.notifications.for_user(user_id, unread_only=non_lues)]


@router.post("/notifications/{notification_id}/lecture")
def mark_read(notification_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        notification = uow.notifications.get(notification_id)
        if notification.user_id != user_id:
            raise NotFound("Notification introuvable.")
        notification.lu_at = notification.lu_at or c.env.clock.now()
        return s.notification(notification)

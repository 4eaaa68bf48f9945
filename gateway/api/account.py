"""Mon compte (personal data, history, habilitations, e-mail alerts), délégations with their history and the
assistant's invitation, the directory of confrères, référents' account management (accounts of their
établissement, unlock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.api import serializers as s
from gateway.api.deps import ContainerDep, UserId
from gateway.auth.otp import HASHER
from orientation_core.errors import Forbidden, NotFound
from orientation_core.people import accounts
from orientation_core.people.accounts import EvenementCompte
from orientation_core.people.policy import Action, EtablissementScope, require
from orientation_core.people.service import subject_for

router = APIRouter(prefix="/api/v1", tags=["mon compte et délégations"])


class CompteChanges(BaseModel):
    email: str | None = None
    telephone: str | None = None
    code_postal: str | None = None
    ville: str | None = None
    alertes_email: bool | None = None


class MotDePasseIn(BaseModel):
    actuel: str
    nouveau: str


class AssistantIn(BaseModel):
    identifiant_national: str = Field(examples=["810100000099"])
    nom: str
    prenom: str
    email: str
    debut: dt.datetime
    fin: dt.datetime
    droits: list[Action]


class ConfrereIn(BaseModel):
    delegataire_id: int
    debut: dt.datetime
    fin: dt.datetime


class DelegationPatch(BaseModel):
    fin: dt.datetime | None = None
    droits: list[Action] | None = None


def event(e: EvenementCompte) -> dict[str, Any]:
    return {"at": e.at, "action": e.action, "par": e.actor_user_id, "avant": e.avant, "apres": e.apres}


def _compte(c: ContainerDep, user_id: int) -> dict[str, Any]:
    with c.uow() as uow:
        user = uow.users.get(user_id)
        compte = uow.accounts.get(user_id)
        return s.user(user) | {
            "identifiant": user.login,  # the username: fixed
            "habilitations": [s.habilitation(h) for h in uow.users.habilitations(user_id)],
            "charte_acceptee": bool(compte and compte.charte_acceptee),
            "derniere_connexion": compte.derniere_connexion_at if compte else None,
            "connexion_par_mot_de_passe": bool(compte and compte.password_hash),
        }


@router.get("/compte")
def my_account(c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    return _compte(c, user_id)


@router.patch("/compte")
def update_my_account(body: CompteChanges, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        accounts.update_profile(uow, c.env, user_id, body.model_dump(exclude_none=True))
    return _compte(c, user_id)


@router.get("/compte/historique")
def my_history(c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    with c.uow() as uow:
        return [event(e) for e in accounts.history(uow, user_id)]


@router.post("/compte/mot-de-passe", status_code=204)
def change_password(body: MotDePasseIn, c: ContainerDep, user_id: UserId) -> None:
    with c.uow() as uow:
        accounts.change_password(uow, c.env, HASHER, user_id, body.actuel, body.nouveau)


# --- délégations ------------------------------------------------------------------------------------------------------


@router.get("/compte/delegations")
def my_delegations(c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    now = c.env.clock.now()
    with c.uow() as uow:
        history = [event(e) for e in accounts.history(uow, user_id) if e.action.startswith("delegation.")]
        return {
            "donnees": [s.delegation(d) | {"active": d.active_at(now)} for d in uow.users.delegations_given(user_id)],
            "recues": [s.delegation(d) | {"active": d.active_at(now)}
                       for d in uow.users.delegations_received(user_id)],
            "historique": history,
        }


@router.post("/compte/delegations/assistant", status_code=201)
def invite_assistant(body: AssistantIn, request: Request, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    from gateway.ui.account import invitation_link

    with c.uow() as uow:
        delegation, _token = accounts.invite_assistant(
            uow, c.env, user_id, identifiant_national=body.identifiant_national, nom=body.nom, prenom=body.prenom,
            email=body.email, debut=body.debut, fin=body.fin, droits=body.droits,
            lien=lambda token: invitation_link(request, token))
        return s.delegation(delegation)


@router.post("/compte/delegations/confrere", status_code=201)
def delegate_confrere(body: ConfrereIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.delegate_confrere(uow, c.env, user_id, body.delegataire_id, body.debut,
                                                       body.fin))


@router.patch("/compte/delegations/{delegation_id}")
def update_delegation(delegation_id: int, body: DelegationPatch, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.update_delegation(uow, c.env, user_id, delegation_id, fin=body.fin,
                                                       droits=body.droits))


@router.delete("/compte/delegations/{delegation_id}")
def revoke_delegation(delegation_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.revoke_delegation(uow, c.env, user_id, delegation_id))


@router.post("/compte/invitations/{token}/acceptation")
def accept_invitation(token: str, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        return s.delegation(accounts.accept_invitation(uow, c.env, user_id, token))


@router.get("/annuaire/medecins")
def search_confreres(c: ContainerDep, user_id: UserId, nom: str, code_postal: str = "") -> list[dict[str, Any]]:
    """The directory of users: doctors by name prefix and optional postcode (délégation to a confrère)."""
    with c.uow() as uow:
        return [{"id": u.id, "nom": u.nom, "prenom": u.prenom, "specialite": u.specialite,
                 "code_postal": u.code_postal, "ville": u.ville}
                for u in accounts.search_confreres(uow, nom, code_postal) if u.id != user_id]


# --- référents --------------------------------------------------------------------------------------------------------


@router.get("/etablissements/{etablissement_id}/comptes")
def accounts_of_etablissement(etablissement_id: int, c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    """A référent's view of his établissement: its users, their habilitations there, whether they are locked."""
    now = c.env.clock.now()
    with c.uow() as uow:
        require(subject_for(uow, user_id), Action.COMPTE_GERER, EtablissementScope(etablissement_id), now)
        out = []
        for user in uow.users.list_users(etablissement_id):
            assert user.id is not None
            compte = uow.accounts.get(user.id)
            out.append(s.user(user) | {
                "habilitations": [s.habilitation(h) for h in uow.users.habilitations(user.id)
                                  if h.etablissement_id == etablissement_id],
                "verrouille": bool(compte and compte.verrouille(now)),
            })
        return out


class ActivationIn(BaseModel):
    actif: bool


@router.put("/utilisateurs/{target_id}/activation")
def set_active(target_id: int, body: ActivationIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    """A référent deactivates or reactivates an account of his établissement (never his own)."""
    with c.uow() as uow:
        return s.user(accounts.set_active(uow, c.env, user_id, target_id, body.actif))


@router.post("/utilisateurs/{target_id}/deverrouillage")
def unlock(target_id: int, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        compte = accounts.unlock(uow, c.env, user_id, target_id)
        return {"user_id": compte.user_id, "verrouille": False}


@router.get("/utilisateurs/{target_id}/historique")
def user_history(target_id: int, c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    """History of an account: the user himself, or a référent of one of his établissements."""
    with c.uow() as uow:
        if target_id != user_id:
            try:
                accounts.require_account_manager(uow, c.env, user_id, target_id)
            except Forbidden as exc:
                raise NotFound("Utilisateur introuvable.") from exc
        return [event(e) for e in accounts.history(uow, target_id)]

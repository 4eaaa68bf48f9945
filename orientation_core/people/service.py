"""Use cases on people: accounts, habilitations (by référents), délégations (by médecins libéraux)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from orientation_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orientation_core.people.model import Delegation, Habilitation, Role, TypeDelegation, User
from orientation_core.people.policy import (
    ASSISTANT_DELEGABLE,
    Action,
    EtablissementScope,
    Subject,
    require,
)
from orientation_core.ports import Env, UnitOfWork


def subject_for(uow: UnitOfWork, user_id: int) -> Subject:
    user = uow.users.get(user_id)
    if not user.actif:
        raise Forbidden("Ce compte est désactivé.", code="compte.desactive")
    return Subject(
        user_id=user_id,
        est_medecin=user.est_medecin,
        administrateur=user.administrateur,
        habilitations=tuple(uow.users.habilitations(user_id)),
        delegations=tuple(uow.users.delegations_received(user_id)),
    )


def create_user(uow: UnitOfWork, env: Env, actor_id: int | None, user: User,
                etablissement_id: int | None = None) -> User:
    """A référent (or an administrator, or the first sign-in of a card holder: actor None) creates an account."""
    if actor_id is not None:
        subject = subject_for(uow, actor_id)
        if etablissement_id is None:
            if not subject.administrateur:
                raise Forbidden("Seul un administrateur crée un compte hors établissement.")
        else:
            require(subject, Action.COMPTE_GERER, EtablissementScope(etablissement_id), env.clock.now())
    if uow.users.by_login(user.login) is not None:
        raise Conflict(f"Un compte existe déjà pour l'identifiant {user.login}.", code="compte.existe")
    user.created_at = env.clock.now()
    uow.users.add(user)
    uow.flush()
    return user


def grant(uow: UnitOfWork, env: Env, actor_id: int, user_id: int, role: Role, etablissement_id: int,
          unite_id: int | None = None) -> Habilitation:
    """A référent grants a habilitation in his établissement; nobody grants himself rights."""
    subject = subject_for(uow, actor_id)
    require(subject, Action.HABILITATION_GERER, EtablissementScope(etablissement_id), env.clock.now())
    if actor_id == user_id:
        raise Forbidden("Un référent ne peut pas s'attribuer de droits lui-même.", code="referent.auto_habilitation")
    uow.users.get(user_id)
    if unite_id is not None and uow.directory.get_unite(unite_id).etablissement_id != etablissement_id:
        raise ValidationFailed("Cette unité n'appartient pas à l'établissement.", code="habilitation.unite")
    if any(h.role is role and h.etablissement_id == etablissement_id and h.unite_id == unite_id
           for h in uow.users.habilitations(user_id)):
        raise Conflict("Cette habilitation existe déjà.", code="habilitation.existe")
    habilitation = Habilitation(user_id=user_id, role=role, etablissement_id=etablissement_id, unite_id=unite_id,
                                granted_by_id=actor_id, granted_at=env.clock.now())
    uow.users.add_habilitation(habilitation)
    uow.flush()
    return habilitation


def revoke(uow: UnitOfWork, env: Env, actor_id: int, habilitation_id: int) -> None:
    habilitation = uow.users.get_habilitation(habilitation_id)
    subject = subject_for(uow, actor_id)
    require(subject, Action.HABILITATION_GERER, EtablissementScope(habilitation.etablissement_id), env.clock.now())
    if habilitation.user_id == actor_id:
        raise Forbidden("Un référent ne modifie pas ses propres droits.", code="referent.auto_habilitation")
    uow.users.remove_habilitation(habilitation)


def delegate(uow: UnitOfWork, env: Env, delegant_id: int, delegataire_id: int, type_: TypeDelegation,
             debut: dt.datetime, fin: dt.datetime, droits: Sequence[Action] = ()) -> Delegation:
    """A médecin libéral delegates to an assistant (chosen rights, pending his acceptance) or a confrère."""
    delegant = uow.users.get(delegant_id)
    delegataire = uow.users.get(delegataire_id)
    if not delegant.est_medecin:
        raise Forbidden("Seul un médecin délègue ses dossiers.", code="delegation.delegant")
    if type_ is TypeDelegation.CONFRERE and not delegataire.est_medecin:
        raise ValidationFailed("Un confrère délégataire doit être médecin.", code="delegation.confrere")
    if type_ is TypeDelegation.ASSISTANT:
        if not delegataire.identifiant_national:
            raise ValidationFailed("L'assistant doit détenir une carte CPx.", code="delegation.cpx")
        extra = set(droits) - ASSISTANT_DELEGABLE
        if extra:
            raise ValidationFailed("Ces droits ne se délèguent pas à un assistant : "
                                   + ", ".join(sorted(a.value for a in extra)), code="delegation.droits")
        if not droits:
            raise ValidationFailed("Choisissez au moins un droit à déléguer.", code="delegation.droits")
    now = env.clock.now()
    delegation = Delegation(
        delegant_id=delegant_id, delegataire_id=delegataire_id, type=type_, debut=debut, fin=fin,
        droits=sorted(a.value for a in droits),
        accepted_at=now if type_ is TypeDelegation.CONFRERE else None,
        created_at=now,
    )
    uow.users.add_delegation(delegation)
    uow.flush()
    return delegation


def accept_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int) -> Delegation:
    delegation = uow.users.get_delegation(delegation_id)
    if delegation.delegataire_id != user_id:
        raise NotFound("Délégation introuvable.")
    if delegation.revoked_at is not None:
        raise Conflict("Cette délégation a été révoquée.", code="delegation.revoquee")
    delegation.accepted_at = delegation.accepted_at or env.clock.now()
    return delegation


def update_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int, *,
                      fin: dt.datetime | None = None, droits: Sequence[Action] | None = None) -> Delegation:
    delegation = uow.users.get_delegation(delegation_id)
    if delegation.delegant_id != user_id:
        raise NotFound("Délégation introuvable.")
    if fin is not None:
        if fin <= delegation.debut:
            raise ValidationFailed("La fin de la délégation doit suivre son début.", code="delegation.periode")
        delegation.fin = fin
    if droits is not None and delegation.type is TypeDelegation.ASSISTANT:
        if set(droits) - ASSISTANT_DELEGABLE or not droits:
            raise ValidationFailed("Droits de délégation invalides.", code="delegation.droits")
        delegation.droits = sorted(a.value for a in droits)
    return delegation


def revoke_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int) -> Delegation:
    delegation = uow.users.get_delegation(delegation_id)
    if delegation.delegant_id != user_id:
        raise NotFound("Délégation introuvable.")
    delegation.revoked_at = delegation.revoked_at or env.clock.now()
    return delegation

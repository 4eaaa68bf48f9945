"""Rights: the one place that answers "may this user do this action on this thing now?" (DOMAIN.md §6).

Pure functions over a ``Subject`` (the user with his habilitations and the délégations he received) and a
scope (a dossier, a received demande, an établissement). Every use case calls ``require``; the matrix test
walks role × action × own/other unit × délégation active/expired.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from orientation_core.errors import Forbidden
from orientation_core.people.model import Delegation, Habilitation, Role, TypeDelegation


class Action(StrEnum):
    # prescripteur side, scope: a dossier
    DOSSIER_LIRE = "dossier.lire"
    DOSSIER_CREER = "dossier.creer"
    DOSSIER_MODIFIER = "dossier.modifier"
    VOLET_MEDICAL_MODIFIER = "volet_medical.modifier"
    DEMANDE_ENVOYER = "demande.envoyer"
    DEMANDE_CONFIRMER = "demande.confirmer"
    DEMANDE_ANNULER = "demande.annuler"
    DEMANDE_RELANCER = "demande.relancer"
    # receveur side, scope: a demande received by a unit
    DEMANDE_RECUE_LIRE = "demande_recue.lire"
    DEMANDE_REPONDRE = "demande_recue.repondre"
    ADMISSION_FINALISER = "admission.finaliser"
    RECEVEUR_RELANCER = "demande_recue.relancer"
    VOLET_MEDICAL_RECU_LIRE = "volet_medical_recu.lire"
    # référent, scope: an établissement
    HABILITATION_GERER = "habilitation.gerer"
    UNITE_GERER = "unite.gerer"
    COMPTE_GERER = "compte.gerer"
    # platform administrator
    ETABLISSEMENT_CREER = "etablissement.creer"


ACTION_LABELS: dict[Action, str] = {
    Action.DOSSIER_LIRE: "consulter le dossier",
    Action.DOSSIER_CREER: "créer un dossier",
    Action.DOSSIER_MODIFIER: "modifier le dossier",
    Action.VOLET_MEDICAL_MODIFIER: "remplir les volets orientation et médical",
    Action.DEMANDE_ENVOYER: "envoyer des demandes",
    Action.DEMANDE_CONFIRMER: "confirmer une proposition",
    Action.DEMANDE_ANNULER: "annuler une demande",
    Action.DEMANDE_RELANCER: "relancer un receveur",
    Action.DEMANDE_RECUE_LIRE: "consulter une demande reçue",
    Action.DEMANDE_REPONDRE: "répondre à une demande",
    Action.ADMISSION_FINALISER: "finaliser une admission",
    Action.RECEVEUR_RELANCER: "relancer le prescripteur",
    Action.VOLET_MEDICAL_RECU_LIRE: "lire le volet médical",
    Action.HABILITATION_GERER: "gérer les habilitations",
    Action.UNITE_GERER: "gérer les unités",
    Action.COMPTE_GERER: "gérer les comptes",
    Action.ETABLISSEMENT_CREER: "créer un établissement",
}

PRESCRIPTEUR_ACTIONS: frozenset[Action] = frozenset(
    {
        Action.DOSSIER_LIRE, Action.DOSSIER_CREER, Action.DOSSIER_MODIFIER, Action.DEMANDE_ENVOYER,
        Action.DEMANDE_CONFIRMER, Action.DEMANDE_ANNULER, Action.DEMANDE_RELANCER,
    }
)
RECEVEUR_ACTIONS: frozenset[Action] = frozenset(
    {Action.DEMANDE_RECUE_LIRE, Action.DEMANDE_REPONDRE, Action.ADMISSION_FINALISER, Action.RECEVEUR_RELANCER}
)
REFERENT_ACTIONS: frozenset[Action] = frozenset({Action.HABILITATION_GERER, Action.UNITE_GERER, Action.COMPTE_GERER})

ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.PRESCRIPTEUR: PRESCRIPTEUR_ACTIONS,
    Role.PRESCRIPTEUR_MEDICAL: PRESCRIPTEUR_ACTIONS | {Action.VOLET_MEDICAL_MODIFIER},
    Role.RECEVEUR: RECEVEUR_ACTIONS,
    Role.RECEVEUR_MEDICAL: RECEVEUR_ACTIONS | {Action.VOLET_MEDICAL_RECU_LIRE},
    Role.MEDECIN_COORDONNATEUR: frozenset(
        {Action.DEMANDE_RECUE_LIRE, Action.DEMANDE_REPONDRE, Action.VOLET_MEDICAL_RECU_LIRE}
    ),
    Role.REFERENT: REFERENT_ACTIONS,
}

DOSSIER_ACTIONS = PRESCRIPTEUR_ACTIONS | {Action.VOLET_MEDICAL_MODIFIER}
DEMANDE_RECUE_ACTIONS = RECEVEUR_ACTIONS | {Action.VOLET_MEDICAL_RECU_LIRE}
# What a délégation to an assistant may carry: never the medical volets.
ASSISTANT_DELEGABLE: frozenset[Action] = PRESCRIPTEUR_ACTIONS


@dataclass(frozen=True)
class DossierScope:
    etablissement_id: int | None
    unite_id: int | None
    owner_user_id: int | None = None  # médecin libéral who owns the dossier (no requesting unit)


@dataclass(frozen=True)
class DemandeRecueScope:
    unite_id: int  # the receiving unit
    etablissement_id: int


@dataclass(frozen=True)
class EtablissementScope:
    etablissement_id: int


Scope = DossierScope | DemandeRecueScope | EtablissementScope


@dataclass(frozen=True)
class Subject:
    user_id: int
    est_medecin: bool = False
    administrateur: bool = False
    habilitations: tuple[Habilitation, ...] = ()
    delegations: tuple[Delegation, ...] = field(default=())  # received by this user

    def unites(self, *roles: Role) -> set[int]:
        return {h.unite_id for h in self.habilitations if h.unite_id is not None and (not roles or h.role in roles)}

    def roles_on_unit(self, unite_id: int) -> set[Role]:
        return {h.role for h in self.habilitations if h.unite_id == unite_id}

    def delegants(self, now: dt.datetime) -> set[int]:
        return {d.delegant_id for d in self.delegations if d.active_at(now)}


def owner_actions(est_medecin: bool) -> frozenset[Action]:
    """What a médecin libéral may do on his own dossiers."""
    return DOSSIER_ACTIONS if est_medecin else PRESCRIPTEUR_ACTIONS


def delegated_actions(delegation: Delegation, delegant_est_medecin: bool) -> frozenset[Action]:
    if delegation.type is TypeDelegation.CONFRERE:
        return owner_actions(delegant_est_medecin)
    return frozenset(Action(a) for a in delegation.droits) & ASSISTANT_DELEGABLE


def _granted_on_unit(subject: Subject, action: Action, unite_id: int | None) -> bool:
    if unite_id is None:
        return False
    return any(h.unite_id == unite_id and action in ROLE_ACTIONS[h.role] for h in subject.habilitations)


def allowed(subject: Subject, action: Action, scope: Scope, now: dt.datetime) -> bool:
    if isinstance(scope, EtablissementScope):
        if action is Action.ETABLISSEMENT_CREER:
            return subject.administrateur
        if action not in REFERENT_ACTIONS:
            return False
        return subject.administrateur or any(
            h.role is Role.REFERENT and h.etablissement_id == scope.etablissement_id for h in subject.habilitations
        )
    if isinstance(scope, DemandeRecueScope):
        return action in DEMANDE_RECUE_ACTIONS and _granted_on_unit(subject, action, scope.unite_id)
    # DossierScope
    if action not in DOSSIER_ACTIONS:
        return False
    if _granted_on_unit(subject, action, scope.unite_id):
        return True
    if scope.owner_user_id is None:
        return False
    if scope.owner_user_id == subject.user_id:
        return action in owner_actions(subject.est_medecin)
    return any(
        d.delegant_id == scope.owner_user_id
        and d.active_at(now)
        # the delegant's medical right follows the delegation only for a confrère, himself a doctor
        and action in delegated_actions(d, delegant_est_medecin=subject.est_medecin)
        for d in subject.delegations
    )


def may_register_patient(subject: Subject) -> bool:
    """Patients are registered by whoever may create their dossier: a prescripteur of some unit, a doctor
    (médecin libéral), an administrator. The DPI feeds register them as the system, without a user."""
    return subject.administrateur or subject.est_medecin or any(
        Action.DOSSIER_CREER in ROLE_ACTIONS[h.role] for h in subject.habilitations)


def may_manage_identity(subject: Subject, forme_ins: bool) -> bool:
    """Identity vigilance ("Récupérer l'INS", "Vérifier l'INS", validation by identity document, attributes,
    the conflicts work list): only accounts flagged as INS-trained (``forme_ins``, DOMAIN.md §3) among those who
    register patients. Kept apart from ``Action``: it depends on the account flag, not on a habilitation."""
    return forme_ins and may_register_patient(subject)


def may_supervise_inbox(subject: Subject) -> bool:
    """The inbound-message console (search, raw messages, replay, dead letters): platform administrators only.
    Raw HL7 carries identities of every patient of every établissement, so no unit-level right opens it."""
    return subject.administrateur


def may_manage_dpi_clients(subject: Subject) -> bool:
    """Registering a DPI client (its keys, the établissements it speaks for, whether its users are signed in
    directly) hands out sign-in power over those établissements: platform administrators only."""
    return subject.administrateur


def require(subject: Subject, action: Action, scope: Scope, now: dt.datetime) -> None:
    if not allowed(subject, action, scope, now):
        raise Forbidden(
            f"Vous n'avez pas le droit de {ACTION_LABELS[action]} ici.",
            details={"action": action.value},
        )

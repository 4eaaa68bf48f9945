"""Rights matrix (DOMAIN.md §6), pure: role × action × own / other unit, médecin libéral, délégations.

The expected tables below are written from the domain reference, not copied from ``people/policy.py``: a change
of rights must change this file on purpose.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from orientation_core.errors import Forbidden
from orientation_core.people.model import Delegation, Habilitation, Role, TypeDelegation
from orientation_core.people.policy import (
    Action,
    DemandeRecueScope,
    DossierScope,
    EtablissementScope,
    Scope,
    Subject,
    allowed,
    may_register_patient,
    require,
)

A = Action
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

E1, U1, U1B = 1, 11, 12  # the user's établissement, his unit, another unit of the same établissement
E2, U2 = 2, 21  # another établissement and one of its units
ME = 100

# --- what each kind of action applies to ----------------------------------------------------------------------------
DOSSIER = "dossier"
RECUE = "demande_recue"
ETAB = "etablissement"
KIND: dict[Action, str] = {
    A.DOSSIER_LIRE: DOSSIER, A.DOSSIER_CREER: DOSSIER, A.DOSSIER_MODIFIER: DOSSIER,
    A.VOLET_MEDICAL_MODIFIER: DOSSIER, A.DEMANDE_ENVOYER: DOSSIER, A.DEMANDE_CONFIRMER: DOSSIER,
    A.DEMANDE_ANNULER: DOSSIER, A.DEMANDE_RELANCER: DOSSIER,
    A.DEMANDE_RECUE_LIRE: RECUE, A.DEMANDE_REPONDRE: RECUE, A.ADMISSION_FINALISER: RECUE,
    A.RECEVEUR_RELANCER: RECUE, A.VOLET_MEDICAL_RECU_LIRE: RECUE,
    A.HABILITATION_GERER: ETAB, A.UNITE_GERER: ETAB, A.COMPTE_GERER: ETAB, A.ETABLISSEMENT_CREER: ETAB,
}
DOSSIER_ACTIONS = [a for a in Action if KIND[a] == DOSSIER]

# --- the expected rights of each role on its own unit (or établissement, for the référent) --------------------------
_PRESCRIPTEUR = {A.DOSSIER_LIRE, A.DOSSIER_CREER, A.DOSSIER_MODIFIER, A.DEMANDE_ENVOYER, A.DEMANDE_CONFIRMER,
                 A.DEMANDE_ANNULER, A.DEMANDE_RELANCER}
_RECEVEUR = {A.DEMANDE_RECUE_LIRE, A.DEMANDE_REPONDRE, A.ADMISSION_FINALISER, A.RECEVEUR_RELANCER}
EXPECTED_ROLE_RIGHTS: dict[Role, set[Action]] = {
    Role.PRESCRIPTEUR: _PRESCRIPTEUR,
    Role.PRESCRIPTEUR_MEDICAL: _PRESCRIPTEUR | {A.VOLET_MEDICAL_MODIFIER},
    Role.RECEVEUR: _RECEVEUR,
    Role.RECEVEUR_MEDICAL: _RECEVEUR | {A.VOLET_MEDICAL_RECU_LIRE},
    # The receiving établissement's doctor reads the médical volet and gives the medical answer; finalising the
    # admission and relancing the prescripteur stay with the admission staff (receveur). DOMAIN.md §5/§6 only say
    # he reads the médical volet: the narrower set is the product's choice, kept explicit here.
    Role.MEDECIN_COORDONNATEUR: {A.DEMANDE_RECUE_LIRE, A.DEMANDE_REPONDRE, A.VOLET_MEDICAL_RECU_LIRE},
    Role.REFERENT: {A.HABILITATION_GERER, A.UNITE_GERER, A.COMPTE_GERER},
}
MEDICAL_ROLES = {Role.PRESCRIPTEUR_MEDICAL, Role.RECEVEUR_MEDICAL, Role.MEDECIN_COORDONNATEUR}


def subject_with(role: Role) -> Subject:
    unite = None if role is Role.REFERENT else U1
    return Subject(user_id=ME, est_medecin=role in MEDICAL_ROLES,
                   habilitations=(Habilitation(user_id=ME, role=role, etablissement_id=E1, unite_id=unite, id=1),))


def scope(kind: str, place: str) -> Scope:
    unite, etab = {"own": (U1, E1), "other_unit": (U1B, E1), "other_etab": (U2, E2)}[place]
    if kind == DOSSIER:
        return DossierScope(etab, unite)
    if kind == RECUE:
        return DemandeRecueScope(unite, etab)
    return EtablissementScope(etab)


def _role_cases() -> list[Any]:
    cases = []
    for role in Role:
        for action in Action:
            for kind in (DOSSIER, RECUE, ETAB):
                places = ["own", "other_unit", "other_etab"] if kind == KIND[action] else ["own"]
                for place in places:
                    if kind == ETAB and place == "other_unit":
                        continue  # an établissement has no "other unit"
                    expected = kind == KIND[action] and place == "own" and action in EXPECTED_ROLE_RIGHTS[role]
                    cases.append(pytest.param(role, action, kind, place, expected,
                                              id=f"{role.value}-{action.value}-{kind}-{place}"))
    return cases


@pytest.mark.parametrize(("role", "action", "kind", "place", "expected"), _role_cases())
def test_role_matrix(role: Role, action: Action, kind: str, place: str, expected: bool) -> None:
    subject = subject_with(role)
    assert allowed(subject, action, scope(kind, place), NOW) is expected
    if not expected:
        with pytest.raises(Forbidden) as raised:
            require(subject, action, scope(kind, place), NOW)
        assert raised.value.details == {"action": action.value}


def test_rights_add_up_over_several_habilitations() -> None:
    """A user may hold several roles in several units: each unit gives its own rights, nothing leaks."""
    subject = Subject(user_id=ME, est_medecin=True, habilitations=(
        Habilitation(user_id=ME, role=Role.PRESCRIPTEUR, etablissement_id=E1, unite_id=U1, id=1),
        Habilitation(user_id=ME, role=Role.RECEVEUR_MEDICAL, etablissement_id=E2, unite_id=U2, id=2),
    ))
    assert allowed(subject, A.DOSSIER_MODIFIER, DossierScope(E1, U1), NOW)
    assert not allowed(subject, A.VOLET_MEDICAL_MODIFIER, DossierScope(E1, U1), NOW)
    assert allowed(subject, A.VOLET_MEDICAL_RECU_LIRE, DemandeRecueScope(U2, E2), NOW)
    assert not allowed(subject, A.DOSSIER_LIRE, DossierScope(E2, U2), NOW)
    assert not allowed(subject, A.DEMANDE_RECUE_LIRE, DemandeRecueScope(U1, E1), NOW)


# --- platform administrator ------------------------------------------------------------------------------------------

ADMIN = Subject(user_id=1, administrateur=True)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
@pytest.mark.parametrize("etab", [E1, E2])
def test_administrator_manages_every_etablissement_and_reads_no_dossier(action: Action, etab: int) -> None:
    expected = KIND[action] == ETAB
    assert allowed(ADMIN, action, EtablissementScope(etab), NOW) is expected
    assert not allowed(ADMIN, action, DossierScope(etab, U1), NOW)
    assert not allowed(ADMIN, action, DemandeRecueScope(U1, etab), NOW)


def test_only_the_administrator_creates_an_etablissement() -> None:
    assert not allowed(subject_with(Role.REFERENT), A.ETABLISSEMENT_CREER, EtablissementScope(E1), NOW)
    assert allowed(ADMIN, A.ETABLISSEMENT_CREER, EtablissementScope(0), NOW)


# ====================================================================================================================
# Médecin libéral: his own dossiers (no requesting unit)
# ====================================================================================================================

LIB, OTHER_LIB = 50, 51
OWN_DOSSIER = DossierScope(None, None, owner_user_id=LIB)


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_medecin_liberal_owns_his_dossiers(action: Action) -> None:
    me = Subject(user_id=LIB, est_medecin=True)
    assert allowed(me, action, OWN_DOSSIER, NOW) is (KIND[action] == DOSSIER)
    assert not allowed(me, action, DossierScope(None, None, owner_user_id=OTHER_LIB), NOW)
    assert not allowed(me, action, DossierScope(E1, U1), NOW)


def test_non_medical_owner_never_writes_the_medical_volets() -> None:
    me = Subject(user_id=LIB, est_medecin=False)
    assert allowed(me, A.DOSSIER_MODIFIER, OWN_DOSSIER, NOW)
    assert not allowed(me, A.VOLET_MEDICAL_MODIFIER, OWN_DOSSIER, NOW)


def test_unit_prescripteur_has_no_right_on_a_liberal_dossier() -> None:
    assert not allowed(subject_with(Role.PRESCRIPTEUR_MEDICAL), A.DOSSIER_LIRE, OWN_DOSSIER, NOW)


# ====================================================================================================================
# Délégations (confrère, assistant)
# ====================================================================================================================

CONFRERE, ASSISTANT = 60, 70
DEBUT, FIN = NOW, NOW + dt.timedelta(days=30)
ASSISTANT_RIGHTS = {A.DOSSIER_LIRE, A.DOSSIER_MODIFIER, A.DEMANDE_ENVOYER}
STATES = ["active", "active_at_debut", "expired_at_fin", "expired_after", "not_started", "revoked", "not_accepted"]


def delegation_subject(type_: TypeDelegation, state: str) -> tuple[Subject, dt.datetime]:
    """The delegataire with one délégation from LIB in the given state, and the instant to check at."""
    droits = [a.value for a in ASSISTANT_RIGHTS]
    if type_ is TypeDelegation.ASSISTANT:
        droits.append(A.VOLET_MEDICAL_MODIFIER.value)  # even if it got in, it must never be honoured
    delegataire = CONFRERE if type_ is TypeDelegation.CONFRERE else ASSISTANT
    delegation = Delegation(
        delegant_id=LIB, delegataire_id=delegataire, type=type_, debut=DEBUT, fin=FIN, droits=droits,
        accepted_at=None if state == "not_accepted" else DEBUT - dt.timedelta(hours=1),
        revoked_at=DEBUT + dt.timedelta(days=1) if state == "revoked" else None, id=1,
    )
    at = {
        "active": NOW + dt.timedelta(days=2),
        "active_at_debut": DEBUT,
        "expired_at_fin": FIN,
        "expired_after": FIN + dt.timedelta(days=1),
        "not_started": DEBUT - dt.timedelta(minutes=1),
        "revoked": NOW + dt.timedelta(days=2),
        "not_accepted": NOW + dt.timedelta(days=2),
    }[state]
    subject = Subject(user_id=delegataire, est_medecin=type_ is TypeDelegation.CONFRERE, delegations=(delegation,))
    return subject, at


def _delegation_cases() -> list[Any]:
    cases = []
    for type_ in TypeDelegation:
        rights = set(DOSSIER_ACTIONS) if type_ is TypeDelegation.CONFRERE else ASSISTANT_RIGHTS
        for state in STATES:
            for action in DOSSIER_ACTIONS:
                expected = state.startswith("active") and action in rights
                cases.append(pytest.param(type_, state, action, expected, id=f"{type_.value}-{state}-{action.value}"))
    return cases


@pytest.mark.parametrize(("type_", "state", "action", "expected"), _delegation_cases())
def test_delegation_matrix(type_: TypeDelegation, state: str, action: Action, expected: bool) -> None:
    subject, at = delegation_subject(type_, state)
    assert allowed(subject, action, OWN_DOSSIER, at) is expected


@pytest.mark.parametrize("type_", list(TypeDelegation), ids=lambda t: t.value)
def test_delegation_covers_only_the_delegants_dossiers(type_: TypeDelegation) -> None:
    subject, at = delegation_subject(type_, "active")
    for action in DOSSIER_ACTIONS:
        assert not allowed(subject, action, DossierScope(None, None, owner_user_id=OTHER_LIB), at)
        assert not allowed(subject, action, DossierScope(E1, U1), at)
    for action in Action:
        if KIND[action] == RECUE:
            assert not allowed(subject, action, DemandeRecueScope(U1, E1), at)


@pytest.mark.parametrize("state", STATES)
def test_delegants_listed_only_while_active(state: str) -> None:
    subject, at = delegation_subject(TypeDelegation.CONFRERE, state)
    assert subject.delegants(at) == ({LIB} if state.startswith("active") else set())


# --- who may register a patient in the registry ---------------------------------------------------------------------
@pytest.mark.parametrize(("role", "expected"), [
    (Role.PRESCRIPTEUR, True), (Role.PRESCRIPTEUR_MEDICAL, True), (Role.RECEVEUR, False),
    (Role.REFERENT, False),
])
def test_patient_registration_follows_dossier_creation(role: Role, expected: bool) -> None:
    subject = Subject(user_id=ME, habilitations=(
        Habilitation(user_id=ME, role=role, etablissement_id=E1, unite_id=None if role is Role.REFERENT else U1,
                     id=1),))
    assert may_register_patient(subject) is expected


def test_doctors_and_administrators_register_patients_without_a_unit() -> None:
    assert may_register_patient(Subject(user_id=ME, est_medecin=True))  # médecin libéral
    assert may_register_patient(Subject(user_id=ME, administrateur=True))
    assert not may_register_patient(Subject(user_id=ME))

"""The demande workflow without a database: the transition table (DOMAIN.md §4) and the guards of ``Demande.apply``."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from orientation_core.demande.model import Demande
from orientation_core.demande.workflow import (
    ACTIONS,
    TRANSITIONS,
    Actor,
    Status,
    allowed_actions,
    transition_for,
)
from orientation_core.errors import TransitionNotAllowed, ValidationFailed
from orientation_core.timers import TimerPolicy

S = Status
P, R, SYS = Actor.PRESCRIPTEUR, Actor.RECEVEUR, Actor.SYSTEM
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
D = dt.date(2026, 1, 20)

# Written from DOMAIN.md §4 (and the seed documents), independently of workflow.py: action → (actor, sources).
# Receivers may answer (and change their answer) until the prescripteur confirms; the prescripteur may re-send
# anything live but not confirmed after an orientation change; only an acceptée (a proposed date) is confirmed.
_ANSWERABLE = {S.EN_ATTENTE, S.DEMANDE_PRECISION, S.ACCORD_DE_PRINCIPE, S.ACCEPTEE, S.REFUSEE}
_CANCELLABLE = {S.EN_REDACTION, S.EN_ATTENTE, S.DEMANDE_PRECISION, S.ACCORD_DE_PRINCIPE, S.ACCEPTEE, S.REFUSEE,
                S.CONFIRMEE}
EXPECTED: dict[str, tuple[Actor, set[Status], Status | None]] = {
    "envoyer": (P, {S.EN_REDACTION}, S.EN_ATTENTE),
    "renvoyer": (P, {S.EN_ATTENTE, S.DEMANDE_PRECISION, S.ACCORD_DE_PRINCIPE, S.ACCEPTEE, S.REFUSEE}, S.EN_ATTENTE),
    "demander_precision": (R, _ANSWERABLE, S.DEMANDE_PRECISION),
    "repondre_precision": (P, {S.DEMANDE_PRECISION}, S.EN_ATTENTE),
    "accorder": (R, _ANSWERABLE, S.ACCORD_DE_PRINCIPE),
    "accepter": (R, _ANSWERABLE, S.ACCEPTEE),
    "refuser": (R, _ANSWERABLE, S.REFUSEE),
    "confirmer": (P, {S.ACCEPTEE}, S.CONFIRMEE),
    "finaliser_admission": (R, {S.CONFIRMEE}, S.ADMISSION_FINALISEE),
    "annuler": (P, _CANCELLABLE, S.ANNULEE),
    "annuler_systeme": (SYS, _CANCELLABLE, S.ANNULEE),
    "reactiver": (P, {S.ANNULEE}, S.EN_ATTENTE),
    "archiver": (SYS, {S.ANNULEE, S.REFUSEE}, S.ARCHIVEE),
    "relancer_receveur": (P, {S.ACCORD_DE_PRINCIPE}, None),
    "relancer_prescripteur": (R, {S.ACCEPTEE}, None),
}


def test_the_table_lists_exactly_the_expected_actions() -> None:
    assert set(EXPECTED) == ACTIONS
    assert len(TRANSITIONS) == len(ACTIONS), "one row per action"


@pytest.mark.parametrize(
    ("action", "status", "actor"),
    list(itertools.product(sorted(EXPECTED), list(Status), list(Actor))),
    ids=lambda v: str(v),
)
def test_transition_for_every_status_action_actor(action: str, status: Status, actor: Actor) -> None:
    expected_actor, sources, target = EXPECTED[action]
    if actor is expected_actor and status in sources:
        transition = transition_for(action, status, actor)
        assert (transition.action, transition.actor, transition.target) == (action, actor, target)
        assert status in transition.source
        assert action in allowed_actions(status, actor)
    else:
        with pytest.raises(TransitionNotAllowed) as raised:
            transition_for(action, status, actor)
        assert raised.value.code == "demande.transition_interdite"
        assert action not in allowed_actions(status, actor)


def test_archived_is_terminal_for_everyone() -> None:
    for actor in Actor:
        assert allowed_actions(Status.ARCHIVEE, actor) == []


def test_unknown_action_is_refused_with_its_own_code() -> None:
    with pytest.raises(TransitionNotAllowed) as raised:
        transition_for("teleporter", Status.EN_ATTENTE, Actor.PRESCRIPTEUR)
    assert raised.value.code == "demande.action_inconnue"


# ====================================================================================================================
# Demande.apply guards
# ====================================================================================================================


def demande(statut: Status = Status.EN_ATTENTE, at: dt.datetime = T0) -> Demande:
    return Demande(dossier_id=1, unite_id=1, statut=statut, statut_at=at, envoyee_at=at, id=1)


def status(d: Demande) -> Status:
    """Read through a call: the status changes under mypy's feet (``apply`` mutates the demande)."""
    return d.statut


def test_send_moves_a_draft_to_awaiting_answer_and_records_the_time() -> None:
    d = demande(Status.EN_REDACTION)
    change = d.apply("envoyer", actor=P, at=T0)
    assert d.statut is Status.EN_ATTENTE and d.envoyee_at == T0 and d.statut_at == T0
    assert change.before["statut"] == "en_cours_de_redaction" and change.after["statut"] == "en_attente_de_reponse"


def test_accord_de_principe_requires_a_start_date() -> None:
    d = demande()
    with pytest.raises(ValidationFailed) as raised:
        d.apply("accorder", actor=R, at=T0)
    assert raised.value.code == "demande.accord_sans_date"
    assert d.statut is Status.EN_ATTENTE, "a refused action leaves the demande as it was"


def test_accord_de_principe_refuses_an_end_before_the_start() -> None:
    d = demande()
    with pytest.raises(ValidationFailed) as raised:
        d.apply("accorder", actor=R, at=T0, date_debut=D, date_fin=D - dt.timedelta(days=1))
    assert raised.value.code == "demande.fourchette"
    assert d.statut is Status.EN_ATTENTE


@pytest.mark.parametrize("fin", [None, D, D + dt.timedelta(days=7)], ids=["approximative", "same-day", "range"])
def test_accord_de_principe_with_an_approximate_date_or_a_range(fin: dt.date | None) -> None:
    d = demande()
    change = d.apply("accorder", actor=R, at=T0, date_debut=D, date_fin=fin)
    assert d.statut is Status.ACCORD_DE_PRINCIPE
    assert (d.date_debut, d.date_fin) == (D, fin)
    assert change.after["date_debut"] == D.isoformat()


def test_acceptance_requires_a_proposed_date() -> None:
    d = demande()
    with pytest.raises(ValidationFailed) as raised:
        d.apply("accepter", actor=R, at=T0)
    assert raised.value.code == "demande.acceptation_sans_date"
    d.apply("accepter", actor=R, at=T0, date_admission=D)
    assert d.statut is Status.ACCEPTEE and d.date_admission == D


@pytest.mark.parametrize(("action", "actor"), [("refuser", R), ("annuler", P)])
@pytest.mark.parametrize("motif", ["", "   "], ids=["empty", "blank"])
def test_refusal_and_cancellation_require_a_motive(action: str, actor: Actor, motif: str) -> None:
    d = demande()
    with pytest.raises(ValidationFailed) as raised:
        d.apply(action, actor=actor, at=T0, motif=motif)
    assert raised.value.code == "demande.motif_obligatoire"
    assert d.statut is Status.EN_ATTENTE


def test_refusal_keeps_its_motive() -> None:
    d = demande()
    d.apply("refuser", actor=R, at=T0, motif="  Plateau technique inadapté ")
    assert d.statut is Status.REFUSEE and d.motif == "Plateau technique inadapté"


def test_cancellation_records_when_it_happened() -> None:
    d = demande()
    d.apply("annuler", actor=P, at=T0, motif="Patient décédé")
    assert d.statut is Status.ANNULEE and d.annulee_at == T0 and d.motif == "Patient décédé"


def test_precision_requires_a_question_and_the_answer_sends_it_back() -> None:
    d = demande()
    with pytest.raises(ValidationFailed) as raised:
        d.apply("demander_precision", actor=R, at=T0, question=" ")
    assert raised.value.code == "demande.question_obligatoire"
    d.apply("demander_precision", actor=R, at=T0, question="Le patient est-il porteur d'une BMR ?")
    assert status(d) is Status.DEMANDE_PRECISION and d.question == "Le patient est-il porteur d'une BMR ?"
    with pytest.raises(ValidationFailed) as raised:
        d.apply("repondre_precision", actor=P, at=T0, reponse="")
    assert raised.value.code == "demande.reponse_obligatoire"
    d.apply("repondre_precision", actor=P, at=T0, reponse="Non")
    assert d.statut is Status.EN_ATTENTE and d.reponse_precision == "Non"


# --- relances (72 h) ------------------------------------------------------------------------------------------------


def _accord(at: dt.datetime = T0) -> Demande:
    d = demande()
    d.apply("accorder", actor=R, at=at, date_debut=D)
    return d


def _acceptee(at: dt.datetime = T0) -> Demande:
    d = demande()
    d.apply("accepter", actor=R, at=at, date_admission=D)
    return d


@pytest.mark.parametrize(("make", "action", "actor"), [(_accord, "relancer_receveur", P),
                                                     (_acceptee, "relancer_prescripteur", R)],
                         ids=["prescripteur-relance-receveur", "receveur-relance-prescripteur"])
def test_manual_relance_only_after_72_hours_and_once_per_72_hours(
    make: Callable[[dt.datetime], Demande], action: str, actor: Actor
) -> None:
    d = make(T0)
    policy = TimerPolicy()
    at_71h = T0 + dt.timedelta(hours=71)
    assert not d.relance_possible(actor, at_71h, policy)
    with pytest.raises(ValidationFailed) as raised:
        d.apply(action, actor=actor, at=at_71h, timers=policy)
    assert raised.value.code == "demande.relance_trop_tot"

    at_72h = T0 + dt.timedelta(hours=72)
    assert d.relance_possible(actor, at_72h, policy)
    before = d.statut
    d.apply(action, actor=actor, at=at_72h, timers=policy)
    assert d.statut is before, "a relance does not change the status"
    relance_at = d.relance_receveur_at if action == "relancer_receveur" else d.relance_prescripteur_at
    assert relance_at == at_72h

    # a second relance needs another 72 h, counted from the first one
    with pytest.raises(ValidationFailed):
        d.apply(action, actor=actor, at=at_72h + dt.timedelta(hours=71, minutes=59), timers=policy)
    d.apply(action, actor=actor, at=at_72h + dt.timedelta(hours=72), timers=policy)


def test_relance_delay_is_configuration() -> None:
    d = _accord()
    policy = TimerPolicy(relance_manuelle=dt.timedelta(hours=24))
    assert d.relance_possible(P, T0 + dt.timedelta(hours=24), policy)
    assert not d.relance_possible(P, T0 + dt.timedelta(hours=24), TimerPolicy())


def test_a_new_answer_restarts_the_relance_clock() -> None:
    d = _accord()
    d.apply("accorder", actor=R, at=T0 + dt.timedelta(hours=70), date_debut=D + dt.timedelta(days=3))
    assert not d.relance_possible(P, T0 + dt.timedelta(hours=100), TimerPolicy())
    assert d.relance_possible(P, T0 + dt.timedelta(hours=142), TimerPolicy())


def test_relance_of_the_wrong_side_or_status_is_refused() -> None:
    d = _accord()
    late = T0 + dt.timedelta(days=10)
    assert not d.relance_possible(R, late, TimerPolicy()), "receveur relances only a proposed date (acceptée)"
    with pytest.raises(TransitionNotAllowed):
        d.apply("relancer_prescripteur", actor=R, at=late)
    waiting = demande()
    assert not waiting.relance_possible(P, late, TimerPolicy())


# --- reactivation ----------------------------------------------------------------------------------------------------


def test_reactivation_before_15_days_sends_it_again() -> None:
    d = demande()
    d.apply("annuler", actor=P, at=T0, motif="Erreur d'unité")
    at = T0 + dt.timedelta(days=14, hours=23, minutes=59)
    d.apply("reactiver", actor=P, at=at)
    assert d.statut is Status.EN_ATTENTE
    assert d.envoyee_at == at and d.annulee_at is None and d.motif == ""


@pytest.mark.parametrize("delay", [dt.timedelta(days=15), dt.timedelta(days=40)], ids=["15d", "40d"])
def test_reactivation_refused_from_15_days(delay: dt.timedelta) -> None:
    d = demande()
    d.apply("annuler", actor=P, at=T0, motif="Erreur d'unité")
    with pytest.raises(ValidationFailed) as raised:
        d.apply("reactiver", actor=P, at=T0 + delay)
    assert raised.value.code == "demande.reactivation_expiree"
    assert d.statut is Status.ANNULEE


# --- receivers change their answer until confirmation ---------------------------------------------------------------


def test_receiver_changes_his_answer_until_confirmation() -> None:
    d = demande()
    d.apply("accepter", actor=R, at=T0, date_admission=D)
    d.apply("refuser", actor=R, at=T0 + dt.timedelta(hours=1), motif="Plus de lit")
    assert status(d) is Status.REFUSEE
    d.apply("accorder", actor=R, at=T0 + dt.timedelta(hours=2), date_debut=D, date_fin=D + dt.timedelta(days=5))
    assert status(d) is Status.ACCORD_DE_PRINCIPE
    assert d.motif == "", "the refusal motive does not survive a new favourable answer"
    d.apply("accepter", actor=R, at=T0 + dt.timedelta(hours=3), date_admission=D)
    d.apply("confirmer", actor=P, at=T0 + dt.timedelta(hours=4))
    assert d.statut is Status.CONFIRMEE
    answers: list[tuple[str, dict[str, Any]]] = [("refuser", {"motif": "Plus de lit"}), ("accorder", {"date_debut": D}),
                                                 ("accepter", {"date_admission": D})]
    for action, kw in answers:
        with pytest.raises(TransitionNotAllowed):
            d.apply(action, actor=R, at=T0 + dt.timedelta(hours=5), **kw)
    assert d.statut is Status.CONFIRMEE


def test_only_an_acceptance_can_be_confirmed() -> None:
    d = _accord()
    with pytest.raises(TransitionNotAllowed):
        d.apply("confirmer", actor=P, at=T0)
    assert d.statut is Status.ACCORD_DE_PRINCIPE


def test_receiver_cannot_act_as_prescripteur_nor_the_reverse() -> None:
    d = _acceptee()
    with pytest.raises(TransitionNotAllowed):
        d.apply("confirmer", actor=R, at=T0)
    with pytest.raises(TransitionNotAllowed):
        d.apply("refuser", actor=P, at=T0, motif="x")
    assert d.statut is Status.ACCEPTEE

"""Timers (DOMAIN.md §4): the pure predicates, calendar months, and the periodic sweep on a real store."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from orientation_core.clock import FrozenClock, add_months
from orientation_core.demande.workflow import Motif, Status
from orientation_core.dossier import service as dossier_service
from orientation_core.dossier.model import EtatDossier, Section
from orientation_core.errors import Conflict, ValidationFailed
from orientation_core.notifications import service as notification_service
from orientation_core.sweep import SweepReport, sweep
from orientation_core.timers import TimerPolicy

if TYPE_CHECKING:
    from tests.orientation_core.conftest import World

UTC = dt.UTC
T = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
D = dt.date(2026, 1, 20)


# ====================================================================================================================
# Pure: TimerPolicy and add_months
# ====================================================================================================================


def test_default_delays_are_those_of_the_documents() -> None:
    policy = TimerPolicy()
    assert policy.relance_manuelle == dt.timedelta(hours=72)
    assert policy.relance_auto_mois == 2
    assert policy.annulation_auto == dt.timedelta(days=30)
    assert policy.archivage == dt.timedelta(days=15)


@pytest.mark.parametrize(("elapsed", "due"), [
    (dt.timedelta(hours=71, minutes=59, seconds=59), False),
    (dt.timedelta(hours=72), True),
    (dt.timedelta(days=10), True),
])
def test_relance_manuelle_due(elapsed: dt.timedelta, due: bool) -> None:
    assert TimerPolicy().relance_manuelle_due(T, T + elapsed) is due


@pytest.mark.parametrize(("last", "now", "due"), [
    (T, dt.datetime(2026, 3, 5, 8, 59, tzinfo=UTC), False),
    (T, dt.datetime(2026, 3, 5, 9, 0, tzinfo=UTC), True),
    # calendar months, not 60 days: 31 Dec + 2 months = 28 Feb (2026 is not a leap year)
    (dt.datetime(2025, 12, 31, 10, 0, tzinfo=UTC), dt.datetime(2026, 2, 28, 9, 59, tzinfo=UTC), False),
    (dt.datetime(2025, 12, 31, 10, 0, tzinfo=UTC), dt.datetime(2026, 2, 28, 10, 0, tzinfo=UTC), True),
])
def test_relance_auto_due(last: dt.datetime, now: dt.datetime, due: bool) -> None:
    assert TimerPolicy().relance_auto_due(last, now) is due


@pytest.mark.parametrize(("elapsed", "due"), [(dt.timedelta(days=30) - dt.timedelta(seconds=1), False),
                                              (dt.timedelta(days=30), True)])
def test_annulation_auto_due(elapsed: dt.timedelta, due: bool) -> None:
    assert TimerPolicy().annulation_auto_due(T, T + elapsed) is due


@pytest.mark.parametrize(("elapsed", "due"), [(dt.timedelta(days=14, hours=23), False), (dt.timedelta(days=15), True)])
def test_archivage_due_and_reactivation_window(elapsed: dt.timedelta, due: bool) -> None:
    policy = TimerPolicy()
    assert policy.archivage_due(T, T + elapsed) is due
    assert policy.reactivable_until(T) == T + dt.timedelta(days=15)


def test_delays_are_configuration() -> None:
    policy = TimerPolicy(relance_auto_mois=1, annulation_auto=dt.timedelta(days=7), archivage=dt.timedelta(days=2))
    assert policy.relance_auto_due(T, dt.datetime(2026, 2, 5, 9, 0, tzinfo=UTC))
    assert policy.annulation_auto_due(T, T + dt.timedelta(days=7))
    assert policy.archivage_due(T, T + dt.timedelta(days=2))


@pytest.mark.parametrize(("at", "months", "expected"), [
    (dt.datetime(2026, 1, 15, 9, 30, tzinfo=UTC), 2, dt.datetime(2026, 3, 15, 9, 30, tzinfo=UTC)),
    (dt.datetime(2026, 1, 31, 9, 0, tzinfo=UTC), 1, dt.datetime(2026, 2, 28, 9, 0, tzinfo=UTC)),
    (dt.datetime(2024, 1, 31, 9, 0, tzinfo=UTC), 1, dt.datetime(2024, 2, 29, 9, 0, tzinfo=UTC)),  # leap year
    (dt.datetime(2025, 12, 31, 23, 59, tzinfo=UTC), 2, dt.datetime(2026, 2, 28, 23, 59, tzinfo=UTC)),
    (dt.datetime(2027, 12, 31, 8, 0, tzinfo=UTC), 2, dt.datetime(2028, 2, 29, 8, 0, tzinfo=UTC)),
    (dt.datetime(2099, 12, 30, 8, 0, tzinfo=UTC), 2, dt.datetime(2100, 2, 28, 8, 0, tzinfo=UTC)),  # 2100: not leap
    (dt.datetime(1999, 12, 30, 8, 0, tzinfo=UTC), 2, dt.datetime(2000, 2, 29, 8, 0, tzinfo=UTC)),  # 2000: leap
    (dt.datetime(2026, 3, 31, 8, 0, tzinfo=UTC), 1, dt.datetime(2026, 4, 30, 8, 0, tzinfo=UTC)),
    (dt.datetime(2026, 8, 31, 8, 0, tzinfo=UTC), 2, dt.datetime(2026, 10, 31, 8, 0, tzinfo=UTC)),
    (dt.datetime(2026, 11, 15, 8, 0, tzinfo=UTC), 2, dt.datetime(2027, 1, 15, 8, 0, tzinfo=UTC)),  # year change
    (dt.datetime(2026, 5, 10, 8, 0, tzinfo=UTC), 12, dt.datetime(2027, 5, 10, 8, 0, tzinfo=UTC)),
    (dt.datetime(2026, 5, 10, 8, 0, tzinfo=UTC), 0, dt.datetime(2026, 5, 10, 8, 0, tzinfo=UTC)),
    (dt.datetime(2026, 3, 31, 8, 0, tzinfo=UTC), -1, dt.datetime(2026, 2, 28, 8, 0, tzinfo=UTC)),
    (dt.datetime(2026, 1, 15, 8, 0, tzinfo=UTC), -2, dt.datetime(2025, 11, 15, 8, 0, tzinfo=UTC)),
    (dt.datetime(2024, 4, 30, 8, 0, tzinfo=UTC), -2, dt.datetime(2024, 2, 29, 8, 0, tzinfo=UTC)),
])
def test_add_months_clamps_to_the_end_of_the_month(at: dt.datetime, months: int, expected: dt.datetime) -> None:
    result = add_months(at, months)
    assert result == expected
    assert result.tzinfo is not None


def test_frozen_clock_only_moves_when_told() -> None:
    clock = FrozenClock(T)
    assert clock.now() == clock.now() == T
    assert clock.advance(hours=72) == T + dt.timedelta(hours=72)
    with pytest.raises(ValueError):
        FrozenClock(dt.datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the point
    with pytest.raises(ValueError):
        clock.set(dt.datetime(2026, 1, 1))  # noqa: DTZ001


# ====================================================================================================================
# The sweep on a real store
# ====================================================================================================================


def run_sweep(world: World) -> SweepReport:
    with world.uow() as uow:
        return sweep(uow, world.env)


def history_actions(world: World, dossier_id: int) -> list[str]:
    with world.uow() as uow:
        return [e.action for e in uow.history.for_dossier(dossier_id)]


def sent_with_proposition(world: World) -> tuple[int, int, int]:
    """A dossier sent to both SMR units at the clock's time; SMR 1 gives an accord de principe, SMR 2 is silent."""
    dossier_id = world.dossier()
    d1, d2 = world.send(dossier_id, world.smr1, world.smr2)
    world.act(world.receveur, d1, "accorder", date_debut=D, date_fin=D + dt.timedelta(days=7))
    return dossier_id, d1, d2


def test_sweep_on_an_empty_store_does_nothing(world: World) -> None:
    assert run_sweep(world).total == 0


def test_automatic_relance_exactly_two_months_after_the_last_action(world: World) -> None:
    dossier_id, _, _ = sent_with_proposition(world)
    last_action = world.clock.now()
    world.clock.set(add_months(last_action, 2) - dt.timedelta(minutes=1))
    assert run_sweep(world).relances_auto == 0
    assert world.get_dossier(dossier_id).relance_auto_at is None

    world.clock.set(add_months(last_action, 2))
    report = run_sweep(world)
    assert report.relances_auto == 1 and report.total == 1
    dossier = world.get_dossier(dossier_id)
    assert dossier.relance_auto_at == world.clock.now()
    assert history_actions(world, dossier_id)[-1] == "relance_auto"
    with world.uow() as uow:
        row = dossier_service.dashboard(uow, world.env, world.presc).items[0]
    assert row.dossier_id == dossier_id and row.relance_auto, "the dashboard shows the pending relance"
    with world.uow() as uow:
        notification_service.dispatch(uow, world.env)
    with world.uow() as uow:
        assert next(n.titre for n in uow.notifications.for_user(world.presc)) == "Relance automatique"


def test_automatic_relance_follows_the_policy_at_month_end(world: World) -> None:
    world.clock.set(dt.datetime(2025, 12, 31, 10, 0, tzinfo=UTC))
    dossier_id, _, _ = sent_with_proposition(world)
    last_action = world.clock.now()
    world.clock.set(dt.datetime(2026, 2, 28, 10, 0, tzinfo=UTC))
    assert world.env.timers.relance_auto_due(last_action, world.clock.now())
    assert run_sweep(world).relances_auto == 1
    assert world.get_dossier(dossier_id).relance_auto_at is not None


@pytest.mark.parametrize("answer", ["none", "refused"])
def test_no_automatic_relance_without_an_unconfirmed_proposition(world: World, answer: str) -> None:
    dossier_id = world.dossier()
    d1, _ = world.send(dossier_id, world.smr1, world.smr2)
    if answer == "refused":
        world.act(world.receveur, d1, "refuser", motif="Pas de place")
    world.clock.advance(days=200)
    assert run_sweep(world).total == 0
    assert world.get_dossier(dossier_id).relance_auto_at is None


def test_an_acceptance_is_an_unconfirmed_proposition_too(world: World) -> None:
    dossier_id = world.dossier()
    (d1,) = world.send(dossier_id, world.smr1)
    world.act(world.receveur, d1, "accepter", date_admission=D)
    world.clock.set(add_months(world.clock.now(), 2))
    assert run_sweep(world).relances_auto == 1


def test_a_confirmed_dossier_is_not_relanced(world: World) -> None:
    dossier_id = world.dossier()
    (d1,) = world.send(dossier_id, world.smr1)
    world.act(world.receveur, d1, "accepter", date_admission=D)
    world.act(world.presc_med, d1, "confirmer")
    world.clock.advance(days=200)
    assert run_sweep(world).total == 0


def test_any_later_action_postpones_the_relance(world: World) -> None:
    _, d1, _ = sent_with_proposition(world)
    world.clock.advance(days=40)
    world.act(world.receveur, d1, "accorder", date_debut=D + dt.timedelta(days=50))  # the receiver moves his dates
    moved = world.clock.now()
    world.clock.set(add_months(moved, 2) - dt.timedelta(minutes=1))
    assert run_sweep(world).relances_auto == 0
    world.clock.set(add_months(moved, 2))
    assert run_sweep(world).relances_auto == 1


@pytest.mark.parametrize("how", ["bloc_note", "annuler_relance_auto"])
def test_the_prescripteur_acting_clears_the_relance(world: World, how: str) -> None:
    dossier_id, _, _ = sent_with_proposition(world)
    world.clock.set(add_months(world.clock.now(), 2))
    assert run_sweep(world).relances_auto == 1
    world.clock.advance(days=10)
    with world.uow() as uow:
        if how == "bloc_note":
            dossier_service.modifier_bloc_note(uow, world.env, world.presc, dossier_id, "Famille recontactée")
        else:
            dossier_service.annuler_relance_auto(uow, world.env, world.presc, dossier_id)
    acted = world.clock.now()
    assert world.get_dossier(dossier_id).relance_auto_at is None

    world.clock.advance(days=20)  # 30 days after the relance: nothing is cancelled
    assert run_sweep(world).total == 0
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE
    # the two-month delay restarts from the prescripteur's action
    world.clock.set(add_months(acted, 2) - dt.timedelta(minutes=1))
    assert run_sweep(world).relances_auto == 0
    world.clock.set(add_months(acted, 2))
    assert run_sweep(world).relances_auto == 1


def test_withdrawing_a_relance_that_does_not_exist_is_refused(world: World) -> None:
    dossier_id, _, _ = sent_with_proposition(world)
    with pytest.raises(Conflict) as raised, world.uow() as uow:
        dossier_service.annuler_relance_auto(uow, world.env, world.presc, dossier_id)
    assert raised.value.code == "dossier.pas_de_relance"


def auto_cancelled(world: World) -> tuple[int, int, int, dt.datetime]:
    """Relance after two months, then 30 days of silence: the sweep cancels. Returns ids and the instant."""
    dossier_id, d1, d2 = sent_with_proposition(world)
    world.clock.set(add_months(world.clock.now(), 2))
    assert run_sweep(world).relances_auto == 1
    relance_at = world.clock.now()
    world.clock.set(relance_at + dt.timedelta(days=30) - dt.timedelta(minutes=1))
    assert run_sweep(world).total == 0
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE
    world.clock.set(relance_at + dt.timedelta(days=30))
    report = run_sweep(world)
    assert report.dossiers_annules == 1
    return dossier_id, d1, d2, world.clock.now()


def test_thirty_days_after_the_relance_everything_live_is_cancelled(world: World) -> None:
    dossier_id, d1, d2, cancelled_at = auto_cancelled(world)
    dossier = world.get_dossier(dossier_id)
    assert dossier.etat is EtatDossier.ANNULE
    assert dossier.annule_at == cancelled_at
    assert dossier.motif_annulation == Motif.ANNULATION_AUTOMATIQUE.value == "Annulation automatique"
    for demande_id in (d1, d2):
        demande = world.get_demande(demande_id)
        assert demande.statut is Status.ANNULEE
        assert demande.motif == "Annulation automatique"
        assert demande.annulee_at == cancelled_at
    actions = history_actions(world, dossier_id)
    assert actions.count("demande.annuler_systeme") == 2
    assert actions[-1] == "dossier.annulation_automatique"
    with world.uow() as uow:
        rows = dossier_service.dashboard(uow, world.env, world.presc, section=Section.ANNULEES).items
    assert [r.dossier_id for r in rows] == [dossier_id]


def test_a_refused_demande_is_not_touched_by_the_automatic_cancellation(world: World) -> None:
    _, d1, d2 = sent_with_proposition(world)
    world.act(world.receveur, d2, "refuser", motif="Pas de place")
    world.clock.set(add_months(world.clock.now(), 2))
    run_sweep(world)
    world.clock.advance(days=30)
    assert run_sweep(world).dossiers_annules == 1
    assert world.get_demande(d1).statut is Status.ANNULEE
    refused = world.get_demande(d2)
    assert refused.statut is Status.REFUSEE and refused.motif == "Pas de place"
    # archived with its dossier: nothing of an archived dossier stays open
    world.clock.advance(days=15)
    assert run_sweep(world).dossiers_archives == 1
    assert world.get_demande(d2).statut is Status.ARCHIVEE


def test_cancelled_dossier_is_reactivable_until_archived_at_15_days(world: World) -> None:
    dossier_id, d1, _, cancelled_at = auto_cancelled(world)
    world.clock.set(cancelled_at + dt.timedelta(days=14, hours=23))
    assert run_sweep(world).total == 0
    assert world.get_dossier(dossier_id).etat is EtatDossier.ANNULE
    with world.uow() as uow:
        dossier_service.reactiver_dossier(uow, world.env, world.presc, dossier_id)
    dossier = world.get_dossier(dossier_id)
    assert dossier.etat is EtatDossier.ENVOYE and dossier.annule_at is None and dossier.motif_annulation == ""
    # the prescripteur sends the cancelled demande again while it is still reactivable
    demande = world.act(world.presc, d1, "reactiver")
    assert demande.statut is Status.EN_ATTENTE
    world.clock.set(cancelled_at + dt.timedelta(days=60))
    run_sweep(world)
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE, "a reactivated dossier is not archived"
    assert world.get_demande(d1).statut is Status.EN_ATTENTE


def test_cancelled_dossier_and_its_demandes_are_archived_after_15_days(world: World) -> None:
    dossier_id, d1, d2, cancelled_at = auto_cancelled(world)
    world.clock.set(cancelled_at + dt.timedelta(days=15))
    # too late to reactivate, even before the sweep has run
    with pytest.raises(Conflict) as raised, world.uow() as uow:
        dossier_service.reactiver_dossier(uow, world.env, world.presc, dossier_id)
    assert raised.value.code == "dossier.reactivation_expiree"

    report = run_sweep(world)
    assert report.dossiers_archives == 1 and report.demandes_archivees == 2
    assert world.get_dossier(dossier_id).etat is EtatDossier.ARCHIVE
    assert {world.get_demande(d).statut for d in (d1, d2)} == {Status.ARCHIVEE}
    with pytest.raises(Conflict) as raised, world.uow() as uow:
        dossier_service.reactiver_dossier(uow, world.env, world.presc, dossier_id)
    assert raised.value.code == "dossier.etat"
    with world.uow() as uow:
        rows = dossier_service.dashboard(uow, world.env, world.presc, section=Section.ARCHIVEES).items
        assert [r.dossier_id for r in rows] == [dossier_id]
        assert dossier_service.dashboard(uow, world.env, world.presc, section=Section.ANNULEES).items == []


# --- the receiving unit's relance ------------------------------------------------------------------------------------


def relanced_by_receveur(world: World) -> tuple[int, int, int, dt.datetime]:
    dossier_id = world.dossier()
    d1, d2 = world.send(dossier_id, world.smr1, world.smr2)
    world.act(world.receveur, d1, "accepter", date_admission=D)
    world.clock.advance(hours=72)
    world.act(world.receveur, d1, "relancer_prescripteur")
    return dossier_id, d1, d2, world.clock.now()


def test_receveur_relance_without_answer_cancels_then_archives_that_demande(world: World) -> None:
    dossier_id, d1, d2, relance_at = relanced_by_receveur(world)
    assert world.get_demande(d1).relance_prescripteur_at == relance_at
    world.clock.set(relance_at + dt.timedelta(days=30) - dt.timedelta(minutes=1))
    assert run_sweep(world).total == 0
    world.clock.set(relance_at + dt.timedelta(days=30))
    report = run_sweep(world)
    assert report.demandes_annulees == 1 and report.total == 1
    demande = world.get_demande(d1)
    assert demande.statut is Status.ANNULEE and demande.motif == "Annulation automatique"
    assert world.get_demande(d2).statut is Status.EN_ATTENTE, "only the relanced demande is cancelled"
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE, "the dossier stays open"
    assert history_actions(world, dossier_id)[-1] == "demande.annulation_automatique"

    cancelled_at = world.clock.now()
    world.clock.set(cancelled_at + dt.timedelta(days=14, hours=23))
    assert run_sweep(world).total == 0
    world.clock.set(cancelled_at + dt.timedelta(days=15))
    assert run_sweep(world).demandes_archivees == 1
    assert world.get_demande(d1).statut is Status.ARCHIVEE
    assert world.get_demande(d2).statut is Status.EN_ATTENTE


def test_demande_cancelled_after_a_receveur_relance_can_be_reactivated_before_archival(world: World) -> None:
    _, d1, _, relance_at = relanced_by_receveur(world)
    world.clock.set(relance_at + dt.timedelta(days=30))
    run_sweep(world)
    world.clock.advance(days=14)
    assert world.act(world.presc, d1, "reactiver").statut is Status.EN_ATTENTE
    world.clock.advance(days=30)
    run_sweep(world)
    assert world.get_demande(d1).statut is Status.EN_ATTENTE


def test_reactivating_a_demande_is_refused_after_15_days(world: World) -> None:
    _, d1, _, relance_at = relanced_by_receveur(world)
    world.clock.set(relance_at + dt.timedelta(days=30))
    run_sweep(world)
    world.clock.advance(days=15)
    with pytest.raises(ValidationFailed) as raised:
        world.act(world.presc, d1, "reactiver")
    assert raised.value.code == "demande.reactivation_expiree"


def test_a_prescripteur_action_after_the_receveur_relance_prevents_the_cancellation(world: World) -> None:
    dossier_id, d1, _, relance_at = relanced_by_receveur(world)
    world.clock.advance(days=5)
    with world.uow() as uow:
        dossier_service.modifier_bloc_note(uow, world.env, world.presc, dossier_id, "Date à voir avec la famille")
    world.clock.set(relance_at + dt.timedelta(days=45))
    assert run_sweep(world).demandes_annulees == 0
    assert world.get_demande(d1).statut is Status.ACCEPTEE


def test_a_prescripteur_action_before_the_receveur_relance_does_not_count(world: World) -> None:
    dossier_id = world.dossier()
    (d1,) = world.send(dossier_id, world.smr1)
    world.act(world.receveur, d1, "accepter", date_admission=D)
    world.clock.advance(hours=71)
    with world.uow() as uow:
        dossier_service.modifier_bloc_note(uow, world.env, world.presc, dossier_id, "Vu")
    world.clock.advance(hours=1)
    world.act(world.receveur, d1, "relancer_prescripteur")
    world.clock.advance(days=30)
    assert run_sweep(world).demandes_annulees == 1


# --- idempotence ------------------------------------------------------------------------------------------------------


def _history_size(world: World, dossier_id: int) -> int:
    return len(history_actions(world, dossier_id))


def test_sweep_twice_at_the_same_instant_changes_nothing_the_second_time(world: World) -> None:
    dossier_id, d1, d2 = sent_with_proposition(world)
    relanced = relanced_by_receveur(world)
    steps = [
        add_months(world.clock.now(), 2),  # automatic relance of the first dossier
        add_months(world.clock.now(), 2) + dt.timedelta(days=30),  # its cancellation (and the other demande's)
        add_months(world.clock.now(), 2) + dt.timedelta(days=45),  # archival
    ]
    totals = []
    for at in steps:
        world.clock.set(at)
        first = run_sweep(world)
        totals.append(first.total)
        sizes = (_history_size(world, dossier_id), _history_size(world, relanced[0]))
        with world.uow() as uow:
            outbox = len(uow.outbox.pending(1000))
        second = run_sweep(world)
        assert second == SweepReport(), f"second sweep at {at} did {second}"
        assert second.total == 0
        assert (_history_size(world, dossier_id), _history_size(world, relanced[0])) == sizes
        with world.uow() as uow:
            assert len(uow.outbox.pending(1000)) == outbox, "no notification twice"
    assert all(totals), f"each step did something the first time: {totals}"
    assert world.get_dossier(dossier_id).etat is EtatDossier.ARCHIVE
    assert {world.get_demande(d).statut for d in (d1, d2)} == {Status.ARCHIVEE}

"""Use cases on a real store (SQLite and PostgreSQL, migrated by Alembic): what prescripteurs, receveurs and
référents see and may do (DOMAIN.md §3, §4, §6)."""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING

import pytest

from orientation_core.demande import service as demande_service
from orientation_core.demande.workflow import Status
from orientation_core.dossier import service as dossier_service
from orientation_core.dossier.model import MAX_ATTACHMENT_BYTES, EtatDossier, Section
from orientation_core.dossier.volets import Completion, Module
from orientation_core.errors import Conflict, Forbidden, NotFound, TransitionNotAllowed, ValidationFailed
from orientation_core.notifications import service as notification_service
from orientation_core.patients import service as patient_service
from orientation_core.patients.model import Sexe
from orientation_core.people import service as people_service
from orientation_core.people.model import Role, TypeDelegation, User
from orientation_core.people.policy import Action
from orientation_core.sweep import sweep

if TYPE_CHECKING:
    from tests.orientation_core.conftest import World

UTC = dt.UTC
D = dt.date(2026, 1, 20)
IDENTITY = ("nom_naissance", "prenoms", "date_naissance", "sexe", "nom_utilise")


def section_ids(world: World, user: int, section: Section, **kw: object) -> list[int]:
    with world.uow() as uow:
        page = dossier_service.dashboard(uow, world.env, user, section=section, **kw)  # type: ignore[arg-type]
        return [r.dossier_id for r in page.items]


def history(world: World, dossier_id: int, user: int | None = None) -> list[tuple[str, str, int | None]]:
    with world.uow() as uow:
        events = dossier_service.historique(uow, world.env, user or world.presc_med, dossier_id)
        return [(e.action, e.actor_kind, e.actor_user_id) for e in events]


def statuses(world: World, dossier_id: int) -> dict[int, Status]:
    return {unite: d.statut for unite, d in world.demandes(dossier_id).items()}


# ====================================================================================================================
# The full story
# ====================================================================================================================


def test_full_story_from_creation_to_admission(world: World) -> None:
    patient = world.patient()
    with world.uow() as uow:
        created = dossier_service.creer(uow, world.env, world.presc_med, Module.SANITAIRE, patient, unite_id=world.mco)
        dossier_id, numero = created.id, created.numero
    assert dossier_id is not None and re.fullmatch(r"S\d{8}", numero)

    dossier = world.get_dossier(dossier_id)
    assert dossier.etat is EtatDossier.BROUILLON
    assert dossier.volets["administratif_social"]["nom_naissance"] == "Lefèvre", "identity prefilled from the registry"
    states = {s.name: s.completion for s in dossier.volet_states()}
    assert states["administratif_social"] is Completion.EN_COURS and states["medical"] is Completion.VIDE

    volets = world.complete_volets()
    pieces = volets.pop("pieces_jointes")
    world.fill(dossier_id, volets)
    states = {s.name: s.completion for s in world.get_dossier(dossier_id).volet_states()}
    assert states == {"orientation": Completion.COMPLET, "medical": Completion.COMPLET,
                      "soins_projet": Completion.COMPLET, "administratif_social": Completion.COMPLET,
                      "pieces_jointes": Completion.VIDE}

    with pytest.raises(ValidationFailed) as raised:
        world.send(dossier_id, world.smr1, world.smr2, world.had)
    assert raised.value.code == "dossier.incomplet"
    assert raised.value.details == {"volets": ["Pièces jointes"]}
    assert world.demandes(dossier_id) == {}, "a refused send leaves nothing behind"

    world.fill(dossier_id, {"pieces_jointes": pieces})
    assert world.get_dossier(dossier_id).complet
    d1, d2, d3 = world.send(dossier_id, world.smr1, world.smr2, world.had)
    assert statuses(world, dossier_id) == {world.smr1: Status.EN_ATTENTE, world.smr2: Status.EN_ATTENTE,
                                           world.had: Status.EN_ATTENTE}
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE

    world.act(world.receveur, d2, "refuser", motif="Pas de lit disponible")
    world.act(world.receveur, d1, "accorder", date_debut=D, date_fin=D + dt.timedelta(days=5))
    world.act(world.receveur, d1, "accepter", date_admission=D + dt.timedelta(days=2))
    world.act(world.presc_med, d1, "confirmer")

    demandes = world.demandes(dossier_id)
    assert demandes[world.smr1].statut is Status.CONFIRMEE
    assert demandes[world.smr1].date_admission == D + dt.timedelta(days=2)
    assert (demandes[world.smr2].statut, demandes[world.smr2].motif) == (Status.REFUSEE, "Pas de lit disponible")
    assert (demandes[world.had].statut, demandes[world.had].motif) == (Status.ANNULEE,
                                                                       "Confirmée dans une autre structure")
    assert d3 == demandes[world.had].id

    world.act(world.receveur, d1, "finaliser_admission")
    assert world.get_demande(d1).statut is Status.ADMISSION_FINALISEE
    assert world.get_dossier(dossier_id).etat is EtatDossier.ADMIS
    assert section_ids(world, world.presc, Section.PATIENTS_SORTIS) == [dossier_id]
    assert section_ids(world, world.presc, Section.EN_COURS) == []


def test_anticipated_demande_is_sent_incomplete_and_rejoins_the_ordinary_dossiers_once_complete(world: World) -> None:
    dossier_id = world.dossier(complete=False, anticipee=True)
    (demande_id,) = world.send(dossier_id, world.smr1)
    assert world.get_demande(demande_id).statut is Status.EN_ATTENTE
    assert section_ids(world, world.presc, Section.ANTICIPEES) == [dossier_id]
    assert section_ids(world, world.presc, Section.EN_COURS) == []

    world.fill(dossier_id, world.complete_volets())
    dossier = world.get_dossier(dossier_id)
    assert dossier.complet and not dossier.anticipee
    assert section_ids(world, world.presc, Section.EN_COURS) == [dossier_id]
    assert section_ids(world, world.presc, Section.ANTICIPEES) == []


def test_sanitaire_dossier_goes_only_to_sanitaire_receiving_units(world: World) -> None:
    dossier_id = world.dossier()
    for unite in (world.ehpad, world.mco2):
        with pytest.raises(ValidationFailed) as raised:
            world.send(dossier_id, unite)
        assert raised.value.code == "demande.unite_incompatible"
    world.send(dossier_id, world.smr1)
    with pytest.raises(Conflict) as conflict:
        world.send(dossier_id, world.smr1)
    assert conflict.value.code == "demande.existe"


def test_plain_prescripteur_cannot_write_the_medical_volets(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    for volet in ("orientation", "medical"):
        with pytest.raises(Forbidden):
            world.fill(dossier_id, {volet: world.complete_volets()[volet]}, user=world.presc)
    world.fill(dossier_id, {"soins_projet": world.complete_volets()["soins_projet"]}, user=world.presc)
    assert world.get_dossier(dossier_id).volets["soins_projet"]["projet"] == "Retour à domicile après rééducation"


def test_users_cannot_run_system_actions(world: World) -> None:
    dossier_id = world.dossier()
    (demande_id,) = world.send(dossier_id, world.smr1)
    world.act(world.presc, demande_id, "annuler", motif="Erreur")
    with pytest.raises(Forbidden) as raised:
        world.act(world.presc, demande_id, "archiver")
    assert raised.value.code == "demande.action_systeme"
    assert world.get_demande(demande_id).statut is Status.ANNULEE


# ====================================================================================================================
# Orientation change, refusal, cancellation
# ====================================================================================================================


def test_orientation_change_flags_sent_demandes_and_resending_clears_the_flag(world: World) -> None:
    dossier_id = world.dossier()
    d1, d2 = world.send(dossier_id, world.smr1, world.smr2)
    world.act(world.receveur, d1, "accorder", date_debut=D)

    world.fill(dossier_id, {"orientation": {"objectif_prise_en_charge": "Réentraînement à l'effort"}})
    assert not any(d.a_renvoyer for d in world.demandes(dossier_id).values()), "only the orientation type counts"

    world.fill(dossier_id, {"orientation": {"type_orientation": "had"}})
    assert world.get_dossier(dossier_id).type_orientation == "had"
    assert {d.id: d.a_renvoyer for d in world.demandes(dossier_id).values()} == {d1: True, d2: True}
    with world.uow() as uow:
        event = uow.history.for_dossier(dossier_id)[-1]
    assert event.action == "orientation.modifiee"
    assert event.apres == {"demandes_a_renvoyer": [d1, d2], "type_orientation": "had"}
    assert statuses(world, dossier_id)[world.smr1] is Status.ACCORD_DE_PRINCIPE, "nothing is re-sent by itself"

    resent = world.act(world.presc_med, d1, "renvoyer")
    assert resent.statut is Status.EN_ATTENTE and not resent.a_renvoyer
    assert world.get_demande(d2).a_renvoyer, "each demande is re-sent by hand"


def test_a_confirmed_demande_is_not_flagged_by_an_orientation_change(world: World) -> None:
    dossier_id = world.dossier()
    (d1,) = world.send(dossier_id, world.smr1)
    world.act(world.receveur, d1, "accepter", date_admission=D)
    world.act(world.presc_med, d1, "confirmer")
    world.fill(dossier_id, {"orientation": {"type_orientation": "had"}})
    assert not world.get_demande(d1).a_renvoyer
    assert "orientation.modifiee" not in [a for a, _, _ in history(world, dossier_id)]


def test_a_refusal_does_not_touch_the_other_demandes(world: World) -> None:
    dossier_id = world.dossier()
    d1, d2 = world.send(dossier_id, world.smr1, world.smr2)
    before = world.get_demande(d2)
    world.clock.advance(hours=5)
    world.act(world.receveur, d1, "refuser", motif="Pas de plateau technique")
    after = world.get_demande(d2)
    assert after.statut is Status.EN_ATTENTE
    assert (after.version, after.updated_at, after.statut_at) == (before.version, before.updated_at, before.statut_at)
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE


def test_cancelling_one_demande_keeps_the_others(world: World) -> None:
    dossier_id = world.dossier()
    d1, d2 = world.send(dossier_id, world.smr1, world.smr2)
    with pytest.raises(ValidationFailed) as raised:
        world.act(world.presc, d1, "annuler", motif=" ")
    assert raised.value.code == "demande.motif_obligatoire"
    with pytest.raises(Forbidden):
        world.act(world.receveur, d1, "annuler", motif="Je ne veux plus")
    world.act(world.presc, d1, "annuler", motif="Famille préfère une autre unité")
    demande = world.get_demande(d1)
    assert (demande.statut, demande.motif) == (Status.ANNULEE, "Famille préfère une autre unité")
    assert world.get_demande(d2).statut is Status.EN_ATTENTE
    assert world.get_dossier(dossier_id).etat is EtatDossier.ENVOYE


def test_cancelling_the_dossier_cancels_every_live_demande(world: World) -> None:
    dossier_id = world.dossier()
    d1, d2, d3 = world.send(dossier_id, world.smr1, world.smr2, world.had)
    world.act(world.receveur, d1, "accorder", date_debut=D)
    world.act(world.receveur, d2, "refuser", motif="Pas de place")
    with pytest.raises(ValidationFailed) as raised, world.uow() as uow:
        dossier_service.annuler_dossier(uow, world.env, world.presc, dossier_id, "")
    assert raised.value.code == "dossier.motif_obligatoire"
    with world.uow() as uow:
        dossier_service.annuler_dossier(uow, world.env, world.presc, dossier_id, " Patient décédé ")

    dossier = world.get_dossier(dossier_id)
    assert (dossier.etat, dossier.motif_annulation) == (EtatDossier.ANNULE, "Patient décédé")
    demandes = world.demandes(dossier_id)
    assert [(demandes[u].statut, demandes[u].motif) for u in (world.smr1, world.smr2, world.had)] == [
        (Status.ANNULEE, "Dossier annulé"), (Status.REFUSEE, "Pas de place"), (Status.ANNULEE, "Dossier annulé")]
    assert section_ids(world, world.presc, Section.ANNULEES) == [dossier_id]
    with pytest.raises(Conflict) as conflict:
        world.fill(dossier_id, {"soins_projet": {"projet": "Autre"}})
    assert conflict.value.code == "dossier.annule"
    with pytest.raises(TransitionNotAllowed):  # the receiver cannot answer any more either
        world.act(world.receveur, d1, "accepter", date_admission=D)
    assert d3 == demandes[world.had].id


def test_reactivating_a_cancelled_draft_does_not_send_an_incomplete_dossier(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    with world.uow() as uow:
        (draft,) = demande_service.selectionner(uow, world.env, world.presc_med, dossier_id, [world.smr1])
        draft_id = draft.id
    assert draft_id is not None
    world.act(world.presc_med, draft_id, "annuler", motif="Mauvaise unité")
    with pytest.raises(ValidationFailed) as raised:
        world.act(world.presc_med, draft_id, "reactiver")
    assert raised.value.code == "dossier.incomplet"
    assert world.get_demande(draft_id).statut is Status.ANNULEE


# ====================================================================================================================
# People and rights
# ====================================================================================================================


def test_referent_cannot_grant_himself(world: World) -> None:
    with pytest.raises(Forbidden) as raised, world.uow() as uow:
        people_service.grant(uow, world.env, world.referent, world.referent, Role.PRESCRIPTEUR, world.etab_req,
                             world.mco)
    assert raised.value.code == "referent.auto_habilitation"
    with world.uow() as uow:
        assert [h.role for h in uow.users.habilitations(world.referent)] == [Role.REFERENT]


def test_referent_manages_only_his_etablissement(world: World) -> None:
    with pytest.raises(Forbidden) as raised, world.uow() as uow:
        people_service.grant(uow, world.env, world.referent, world.presc, Role.RECEVEUR, world.etab_rec, world.smr1)
    assert raised.value.code == "droits.refuse"
    with pytest.raises(ValidationFailed) as invalid, world.uow() as uow:  # a foreign unit under his établissement
        people_service.grant(uow, world.env, world.referent, world.presc, Role.RECEVEUR, world.etab_req, world.smr1)
    assert invalid.value.code == "habilitation.unite"
    with pytest.raises(Forbidden), world.uow() as uow:
        people_service.create_user(uow, world.env, world.referent, User(
            nom="Blanc", prenom="Zoé", email="zoe.blanc@exemple.fr", identifiant_local="zblanc"), world.etab_rec)
    with pytest.raises(Forbidden), world.uow() as uow:
        people_service.grant(uow, world.env, world.presc, world.presc, Role.PRESCRIPTEUR_MEDICAL, world.etab_req,
                             world.mco)


def test_referent_creates_an_account_grants_and_revokes_in_his_etablissement(world: World) -> None:
    dossier_id = world.dossier()
    with world.uow() as uow:
        user = people_service.create_user(uow, world.env, world.referent, User(
            nom="Blanc", prenom="Zoé", email="zoe.blanc@exemple.fr", identifiant_local="zblanc"), world.etab_req)
        new_id = user.id
    assert new_id is not None
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, new_id, dossier_id)
    with world.uow() as uow:
        habilitation = people_service.grant(uow, world.env, world.referent, new_id, Role.PRESCRIPTEUR,
                                            world.etab_req, world.mco)
        habilitation_id = habilitation.id
    assert habilitation_id is not None
    with world.uow() as uow:
        dossier, _ = dossier_service.load(uow, world.env, new_id, dossier_id)
        assert dossier.id == dossier_id
        assert [u.id for u in uow.users.referents(world.etab_req)] == [world.referent], "Mes référents"
    with pytest.raises(Conflict), world.uow() as uow:
        people_service.grant(uow, world.env, world.referent, new_id, Role.PRESCRIPTEUR, world.etab_req, world.mco)
    with world.uow() as uow:
        people_service.revoke(uow, world.env, world.referent, habilitation_id)
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, new_id, dossier_id)


def test_receveur_cannot_read_a_draft_nor_another_units_demande(world: World) -> None:
    dossier_id = world.dossier()
    with world.uow() as uow:
        (draft,) = demande_service.selectionner(uow, world.env, world.presc_med, dossier_id, [world.smr1])
        draft_id = draft.id
    assert draft_id is not None
    with pytest.raises(NotFound), world.uow() as uow:
        demande_service.consulter_recue(uow, world.env, world.receveur, draft_id)

    other_dossier = world.dossier()
    smr2_id, had_id = world.send(other_dossier, world.smr2, world.had)
    with pytest.raises(Forbidden), world.uow() as uow:
        demande_service.consulter_recue(uow, world.env, world.receveur, had_id)
    with pytest.raises(Forbidden), world.uow() as uow:
        demande_service.consulter_recue(uow, world.env, world.receveur_med, smr2_id)
    with pytest.raises(Forbidden):
        world.act(world.receveur, had_id, "refuser", motif="Pas chez nous")
    with world.uow() as uow:
        demande, dossier, _ = demande_service.consulter_recue(uow, world.env, world.receveur, smr2_id)
        assert (demande.id, dossier.id) == (smr2_id, other_dossier)
    # the receiving side never reads the dossier as a prescripteur does
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.receveur, other_dossier)


def test_medical_volet_reading_is_traced_and_reserved(world: World) -> None:
    dossier_id = world.dossier()
    (demande_id,) = world.send(dossier_id, world.smr1)
    world.clock.advance(hours=2)
    with world.uow() as uow:
        _, _, medical = demande_service.consulter_recue(uow, world.env, world.receveur, demande_id)
    assert medical is False
    assert ("volet_medical.consulter", "receveur", world.receveur) not in history(world, dossier_id)

    with world.uow() as uow:
        _, _, medical = demande_service.consulter_recue(uow, world.env, world.receveur_med, demande_id)
    assert medical is True
    with world.uow() as uow:
        traced = [e for e in uow.history.for_dossier(dossier_id) if e.action == "volet_medical.consulter"]
    assert len(traced) == 1
    assert (traced[0].actor_user_id, traced[0].demande_id, traced[0].at) == (world.receveur_med, demande_id,
                                                                            world.clock.now())


def test_history_records_who_when_what_before_and_after(world: World) -> None:
    t0 = world.clock.now()
    dossier_id = world.dossier(complete=False)
    world.clock.advance(minutes=10)
    world.fill(dossier_id, {"soins_projet": {"projet": "Retour à domicile"}}, user=world.presc)
    world.clock.advance(minutes=10)
    world.fill(dossier_id, {"soins_projet": {"projet": "EHPAD"}}, user=world.presc)
    world.fill(dossier_id, world.complete_volets())
    world.clock.advance(minutes=10)
    t_send = world.clock.now()
    (demande_id,) = world.send(dossier_id, world.smr1)
    world.clock.advance(minutes=10)
    t_answer = world.clock.now()
    world.act(world.receveur, demande_id, "accorder", date_debut=D)

    with world.uow() as uow:
        events = dossier_service.historique(uow, world.env, world.presc, dossier_id)
    assert events[0].action == "dossier.creer" and events[0].at == t0
    assert (events[0].actor_kind, events[0].actor_user_id) == ("prescripteur", world.presc_med)

    projet = [e for e in events if e.action == "volet.soins_projet.modifier"]
    assert [(e.actor_user_id, e.avant, e.apres) for e in projet[:2]] == [
        (world.presc, {"projet": None}, {"projet": "Retour à domicile"}),
        (world.presc, {"projet": "Retour à domicile"}, {"projet": "EHPAD"}),
    ]
    assert projet[1].at == t0 + dt.timedelta(minutes=20)

    envoi = next(e for e in events if e.action == "demande.envoyer")
    assert (envoi.at, envoi.demande_id, envoi.actor_user_id) == (t_send, demande_id, world.presc_med)
    assert (envoi.avant["statut"], envoi.apres["statut"]) == ("en_cours_de_redaction", "en_attente_de_reponse")

    accord = events[-1]
    assert (accord.action, accord.actor_kind, accord.actor_user_id, accord.at) == (
        "demande.accorder", "receveur", world.receveur, t_answer)
    assert accord.avant["statut"] == "en_attente_de_reponse" and accord.avant["date_debut"] is None
    assert accord.apres["statut"] == "accord_de_principe" and accord.apres["date_debut"] == D.isoformat()
    assert all(e.at.tzinfo is not None for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


# ====================================================================================================================
# Dashboards
# ====================================================================================================================


def test_prescripteur_dashboard_has_six_sections(world: World) -> None:
    archived = world.dossier()
    world.send(archived, world.smr1)
    with world.uow() as uow:
        dossier_service.annuler_dossier(uow, world.env, world.presc, archived, "Doublon")
    world.clock.advance(days=15)
    with world.uow() as uow:
        assert sweep(uow, world.env).dossiers_archives == 1

    en_cours = world.dossier()
    world.send(en_cours, world.smr1)
    anticipee = world.dossier(complete=False, anticipee=True)
    # 23:30 UTC is already tomorrow in Paris: the "retour à domicile" date is a French calendar date
    world.clock.set(dt.datetime(2026, 1, 20, 23, 30, tzinfo=UTC))
    paris_today = dt.date(2026, 1, 21)
    retour = world.dossier()
    world.send(retour, world.smr2)
    retour_demain = world.dossier()
    with world.uow() as uow:
        dossier_service.retour_domicile(uow, world.env, world.presc, retour, paris_today)
        dossier_service.retour_domicile(uow, world.env, world.presc, retour_demain,
                                        paris_today + dt.timedelta(days=1))
    sorti = world.dossier()
    (d,) = world.send(sorti, world.smr1)
    world.act(world.receveur, d, "accepter", date_admission=D)
    world.act(world.presc, d, "confirmer")
    world.act(world.receveur, d, "finaliser_admission")
    annule = world.dossier()
    with world.uow() as uow:
        dossier_service.annuler_dossier(uow, world.env, world.presc, annule, "Patient sorti contre avis médical")

    expected = {
        Section.EN_COURS: {en_cours, retour_demain},
        Section.ANTICIPEES: {anticipee},
        Section.RETOUR_DOMICILE: {retour},
        Section.PATIENTS_SORTIS: {sorti},
        Section.ARCHIVEES: {archived},
        Section.ANNULEES: {annule},
    }
    for section, ids in expected.items():
        assert set(section_ids(world, world.presc, section)) == ids, section
    with world.uow() as uow:
        for section, ids in expected.items():
            for dossier_id in ids:
                assert uow.dossiers.get(dossier_id).section(paris_today) is section, "model and SQL agree"
    # the receiving side has no prescripteur dashboard
    for section in Section:
        assert section_ids(world, world.receveur, section) == []


def test_dashboard_status_filter(world: World) -> None:
    refused = world.dossier()
    r1, _ = world.send(refused, world.smr1, world.smr2)
    world.act(world.receveur, r1, "refuser", motif="Pas de place")
    accorded = world.dossier()
    (a1,) = world.send(accorded, world.smr1)
    world.act(world.receveur, a1, "accorder", date_debut=D)
    waiting = world.dossier()
    world.send(waiting, world.smr2)

    def by_status(*wanted: Status) -> set[int]:
        return set(section_ids(world, world.presc, Section.EN_COURS, statuts=frozenset(wanted)))

    assert by_status(Status.REFUSEE) == {refused}
    assert by_status(Status.REFUSEE, Status.ACCORD_DE_PRINCIPE) == {refused, accorded}
    assert by_status(Status.EN_ATTENTE) == {refused, waiting}
    assert by_status(Status.CONFIRMEE) == set()
    assert by_status() == {refused, accorded, waiting}
    with world.uow() as uow:
        row = next(r for r in dossier_service.dashboard(uow, world.env, world.presc).items if r.dossier_id == refused)
    assert [(s.unite_id, s.statut) for s in row.demandes] == [(world.smr1, Status.REFUSEE),
                                                              (world.smr2, Status.EN_ATTENTE)]


def test_dashboard_search_by_name_birth_name_and_number(world: World) -> None:
    lefevre = world.dossier(world.patient("Lefèvre", ("Marie",)))
    lefebvre = world.dossier(world.patient("Lefebvre", ("Paul",), sexe=Sexe.M))
    married = world.dossier(world.patient("Martin", ("Sophie",), nom_utilise="Durand"))
    numero = world.get_dossier(married).numero

    def search(text: str) -> set[int]:
        return set(section_ids(world, world.presc, Section.EN_COURS, recherche=text))

    assert search("lefev") == {lefevre}, "accent-insensitive prefix"
    assert search("LEFÈVRE") == {lefevre}
    assert search("lefèvre marie") == {lefevre}
    assert search("lefèvre paul") == set()
    assert search("lefe") == {lefevre, lefebvre}
    assert search("durand") == {married}, "used name"
    assert search("martin") == {married}, "birth name"
    assert search("sophie") == set(), "a prefix of the name, not of the first name"
    assert search(numero) == {married}
    assert search(numero.lower()) == {married}
    assert search(str(married)) == {married}, "the number without its prefix and zeros"
    assert search("S99999999") == set()
    assert search("") == {lefevre, lefebvre, married}
    with world.uow() as uow:
        row = dossier_service.dashboard(uow, world.env, world.presc, recherche="martin").items[0]
    assert row.patient_nom == "DURAND Sophie (né·e Martin)"

    # a new used name (marriage) reaches the dashboards of existing dossiers
    with world.uow() as uow:
        patient_id = uow.dossiers.get(lefebvre).patient_id
        patient_service.update_traits(uow, world.env, patient_id, nom_utilise="Roussel")
    assert search("roussel") == {lefebvre}
    assert search("lefebvre") == {lefebvre}


def test_dashboard_pagination(world: World) -> None:
    created = []
    for _ in range(5):
        created.append(world.dossier())
        world.clock.advance(minutes=1)
    newest_first = list(reversed(created))

    def page(n: int, size: int = 2) -> tuple[list[int], bool]:
        with world.uow() as uow:
            p = dossier_service.dashboard(uow, world.env, world.presc, page=n, page_size=size)
            return [r.dossier_id for r in p.items], p.has_next

    assert page(1) == (newest_first[:2], True)
    assert page(2) == (newest_first[2:4], True)
    assert page(3) == (newest_first[4:], False)
    assert page(4) == ([], False)
    assert page(1, size=5) == (newest_first, False), "a full last page has no next page"
    assert page(1, size=4) == (newest_first[:4], True)


def test_receveur_list_shows_only_his_units_and_never_drafts(world: World) -> None:
    a = world.dossier(world.patient("Arnaud", ("Jean",), sexe=Sexe.M))
    a_smr1, _a_had = world.send(a, world.smr1, world.had)
    b = world.dossier(world.patient("Bonnet", ("Anne",)))
    with world.uow() as uow:
        demande_service.selectionner(uow, world.env, world.presc_med, b, [world.smr2])  # a draft
    c = world.dossier(world.patient("Chevalier", ("Luc",), sexe=Sexe.M))
    world.clock.advance(minutes=5)
    (c_smr2,) = world.send(c, world.smr2)

    def listed(user: int, **kw: object) -> list[int]:
        with world.uow() as uow:
            return [r.demande_id for r in demande_service.receveur_dashboard(uow, world.env, user, **kw).items]  # type: ignore[arg-type]

    assert listed(world.receveur) == [c_smr2, a_smr1], "own units only, newest first, no draft"
    assert listed(world.receveur_med) == [a_smr1]
    assert listed(world.receveur, unite_id=world.smr2) == [c_smr2]
    assert listed(world.receveur, recherche="arn") == [a_smr1]
    assert listed(world.receveur, statuts=frozenset({Status.EN_ATTENTE})) == [c_smr2, a_smr1]
    assert listed(world.receveur, statuts=frozenset({Status.REFUSEE})) == []
    assert listed(world.presc) == [], "a prescripteur receives nothing"
    with pytest.raises(Forbidden), world.uow() as uow:
        demande_service.receveur_dashboard(uow, world.env, world.receveur, unite_id=world.had)
    with world.uow() as uow:
        row = demande_service.receveur_dashboard(uow, world.env, world.receveur, unite_id=world.smr1).items[0]
    assert (row.numero, row.etablissement_demandeur, row.patient_nom) == (
        world.get_dossier(a).numero, "Hôpital Édouard-Herriot", "ARNAUD Jean")


def test_receveur_status_filter_never_reveals_drafts(world: World) -> None:
    dossier_id = world.dossier()
    with world.uow() as uow:
        demande_service.selectionner(uow, world.env, world.presc_med, dossier_id, [world.smr1])
    with world.uow() as uow:
        page = demande_service.receveur_dashboard(uow, world.env, world.receveur,
                                                  statuts=frozenset({Status.EN_REDACTION}))
    assert page.items == []


# ====================================================================================================================
# Linked Grand Âge dossier, transfer, attachments
# ====================================================================================================================


def test_linked_grand_age_dossier_copies_identity_and_links_both_ways(world: World) -> None:
    source_id = world.dossier(world.patient("Martin", ("Sophie",), nom_utilise="Durand"))
    world.fill(source_id, {"administratif_social": {"prenoms": "Sophie Louise"}})  # corrected in the dossier
    with world.uow() as uow:
        linked = dossier_service.creer_grand_age_lie(uow, world.env, world.presc_med, source_id)
        linked_id, linked_numero = linked.id, linked.numero
    assert linked_id is not None and re.fullmatch(r"G\d{8}", linked_numero)

    source, copy = world.get_dossier(source_id), world.get_dossier(linked_id)
    assert copy.module is Module.GRAND_AGE and copy.unite_id == world.mco
    assert (source.dossier_lie_id, copy.dossier_lie_id) == (linked_id, source_id)
    shared = {k: source.volets["administratif_social"][k] for k in IDENTITY}
    assert {k: copy.volets["administratif"].get(k) for k in IDENTITY} == shared
    assert copy.volets["administratif"]["prenoms"] == "Sophie Louise"
    assert ("dossier.lier", "prescripteur", world.presc_med) in history(world, source_id)
    assert ("dossier.lier", "prescripteur", world.presc_med) in history(world, linked_id)

    with world.uow() as uow:
        rows = {r.dossier_id: r for r in dossier_service.dashboard(uow, world.env, world.presc).items}
        ga_only = dossier_service.dashboard(uow, world.env, world.presc, module=Module.GRAND_AGE).items
    assert rows[source_id].dossier_lie_id == linked_id and rows[linked_id].dossier_lie_id == source_id
    assert [r.dossier_id for r in ga_only] == [linked_id]

    with pytest.raises(Conflict) as raised, world.uow() as uow:
        dossier_service.creer_grand_age_lie(uow, world.env, world.presc_med, source_id)
    assert raised.value.code == "dossier.deja_lie"
    with pytest.raises(ValidationFailed), world.uow() as uow:
        dossier_service.creer_grand_age_lie(uow, world.env, world.presc_med, linked_id)
    with pytest.raises(ValidationFailed) as incompatible:  # a Grand Âge dossier goes to Grand Âge units only
        world.send(linked_id, world.smr1)
    assert incompatible.value.code == "demande.unite_incompatible"


def test_transfer_only_within_the_etablissement(world: World) -> None:
    dossier_id = world.dossier()
    with pytest.raises(ValidationFailed) as raised, world.uow() as uow:
        dossier_service.transferer(uow, world.env, world.presc, dossier_id, world.smr1)
    assert raised.value.code == "dossier.transfert_etablissement"
    with pytest.raises(ValidationFailed) as same, world.uow() as uow:
        dossier_service.transferer(uow, world.env, world.presc, dossier_id, world.mco)
    assert same.value.code == "dossier.transfert_meme_unite"
    assert world.get_dossier(dossier_id).unite_id == world.mco

    with world.uow() as uow:
        dossier_service.transferer(uow, world.env, world.presc, dossier_id, world.mco2)
    assert world.get_dossier(dossier_id).unite_id == world.mco2
    with world.uow() as uow:
        event = uow.history.for_dossier(dossier_id)[-1]
    assert (event.action, event.avant, event.apres) == ("dossier.transferer", {"unite_id": world.mco},
                                                        {"unite_id": world.mco2})
    # the dossier now belongs to the other unit: the MCO team no longer sees it
    assert section_ids(world, world.presc, Section.EN_COURS) == []
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.presc, dossier_id)


@pytest.mark.parametrize(("type_mime", "taille", "error"), [
    ("application/pdf", 1, None),
    ("image/jpeg", MAX_ATTACHMENT_BYTES, None),
    ("image/png", 250_000, None),
    ("text/plain", 12, None),
    ("application/pdf", MAX_ATTACHMENT_BYTES + 1, "piece_jointe.taille"),
    ("application/pdf", 0, "piece_jointe.taille"),
    ("application/x-msdownload", 1000, "piece_jointe.type"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", 1000, "piece_jointe.type"),
])
def test_attachment_type_and_size_limits(world: World, type_mime: str, taille: int, error: str | None) -> None:
    dossier_id = world.dossier()

    def add() -> None:
        with world.uow() as uow:
            dossier_service.ajouter_piece_jointe(uow, world.env, world.presc, dossier_id, "compte-rendu", type_mime,
                                                 taille, categorie="CRO")

    if error is None:
        add()
    else:
        with pytest.raises(ValidationFailed) as raised:
            add()
        assert raised.value.code == error
    stored = 0 if error else 1
    with world.uow() as uow:
        pieces = uow.dossiers.pieces_jointes(dossier_id)
        assert [(p.type_mime, p.taille, p.added_by_id) for p in pieces] == [(type_mime, taille, world.presc)] * stored
        assert uow.dossiers.get(dossier_id).nb_pieces_jointes == stored
        row = dossier_service.dashboard(uow, world.env, world.presc).items[0]
        assert row.pieces_jointes is bool(stored)


# ====================================================================================================================
# Notifications
# ====================================================================================================================


def test_notifications_reach_the_right_side_once(world: World) -> None:
    dossier_id = world.dossier()
    (demande_id,) = world.send(dossier_id, world.smr1)

    def dispatch() -> int:
        with world.uow() as uow:
            return notification_service.dispatch(uow, world.env)

    def inbox(user: int) -> list[tuple[str, int | None]]:
        with world.uow() as uow:
            return [(n.titre, n.demande_id) for n in uow.notifications.for_user(user)]

    assert dispatch() >= 1
    sent = ("Demande : En attente de réponse", demande_id)
    assert inbox(world.receveur) == [sent] and inbox(world.receveur_med) == [sent]
    assert inbox(world.presc) == [] and inbox(world.presc_med) == []
    assert inbox(world.referent) == []

    world.clock.advance(hours=1)
    world.act(world.receveur, demande_id, "accorder", date_debut=D)
    assert dispatch() == 1
    answered = ("Demande : Accord de principe", demande_id)
    assert inbox(world.presc) == [answered] and inbox(world.presc_med) == [answered]
    assert inbox(world.receveur) == [sent], "the receiver is not told about his own answer"

    assert dispatch() == 0
    assert inbox(world.presc) == [answered] and inbox(world.receveur) == [sent]


def test_status_changes_are_emailed_to_users_with_alerts_on_without_patient_data(world: World) -> None:
    with world.uow() as uow:
        uow.users.get(world.receveur_med).alertes_email = False  # opted out in "Mon compte"
    dossier_id = world.dossier()
    world.send(dossier_id, world.smr1)
    with world.uow() as uow:
        notification_service.dispatch(uow, world.env)
    with world.uow() as uow:
        mails = [m.payload for m in uow.outbox.pending(100, mail=True)]
        receveur = uow.users.get(world.receveur)
        receveur_med = uow.users.get(world.receveur_med)
        dossier = uow.dossiers.get(dossier_id)
        patient = uow.patients.get(dossier.patient_id)
    assert [m["to"] for m in mails] == [receveur.email], "alerts on by default; the opted-out doctor gets none"
    assert receveur_med.email not in {m["to"] for m in mails}
    (mail,) = mails
    assert dossier.numero in mail["subject"] and "En attente de réponse" in mail["subject"]
    for trait in (patient.nom_naissance, patient.premier_prenom, patient.date_naissance.isoformat()):
        assert trait.lower() not in (mail["subject"] + mail["body"]).lower(), "no patient data in an e-mail"


def test_relance_of_the_receiving_unit_shows_on_the_dashboard_and_notifies_it(world: World) -> None:
    dossier_id = world.dossier()
    (demande_id,) = world.send(dossier_id, world.smr1)
    world.act(world.receveur, demande_id, "accorder", date_debut=D)

    def relance_icon() -> bool:
        with world.uow() as uow:
            (row,) = dossier_service.dashboard(uow, world.env, world.presc).items
            return row.demandes[0].relance_possible

    world.clock.advance(hours=71)
    assert not relance_icon()
    with pytest.raises(ValidationFailed):
        world.act(world.presc, demande_id, "relancer_receveur")
    world.clock.advance(hours=1)
    assert relance_icon()
    world.act(world.presc, demande_id, "relancer_receveur")
    assert not relance_icon(), "one relance per 72 h"
    with world.uow() as uow:
        notification_service.dispatch(uow, world.env)
    with world.uow() as uow:
        titles = [n.titre for n in uow.notifications.for_user(world.receveur)]
    assert titles[0] == "Relance du prescripteur"


# ====================================================================================================================
# Médecin libéral and délégations, end to end
# ====================================================================================================================


def test_liberal_dossier_and_delegations(world: World) -> None:
    with world.uow() as uow:
        own = dossier_service.creer(uow, world.env, world.liberal, Module.SANITAIRE, world.patient())
        dossier_id = own.id
        assert (own.owner_user_id, own.unite_id, own.etablissement_id) == (world.liberal, None, None)
    assert dossier_id is not None
    world.fill(dossier_id, {"medical": world.complete_volets()["medical"]}, user=world.liberal)
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.presc_med, dossier_id)

    now = world.clock.now()
    with world.uow() as uow:  # a confrère replaces him for a month
        confrere = people_service.delegate(uow, world.env, world.liberal, world.presc_med, TypeDelegation.CONFRERE,
                                           now, now + dt.timedelta(days=30))
        confrere_id = confrere.id
    world.fill(dossier_id, {"orientation": world.complete_volets()["orientation"]}, user=world.presc_med)
    assert dossier_id in section_ids(world, world.presc_med, Section.EN_COURS)

    with world.uow() as uow:  # an assistant, who must accept, may only read
        with pytest.raises(ValidationFailed) as raised:
            people_service.delegate(uow, world.env, world.liberal, world.receveur, TypeDelegation.ASSISTANT, now,
                                    now + dt.timedelta(days=30), droits=[Action.VOLET_MEDICAL_MODIFIER])
        assert raised.value.code == "delegation.droits"
        assistant = people_service.delegate(uow, world.env, world.liberal, world.receveur, TypeDelegation.ASSISTANT,
                                            now, now + dt.timedelta(days=30), droits=[Action.DOSSIER_LIRE])
        assistant_id = assistant.id
    assert confrere_id is not None and assistant_id is not None
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.receveur, dossier_id)
    with world.uow() as uow:
        people_service.accept_delegation(uow, world.env, world.receveur, assistant_id)
    with world.uow() as uow:
        dossier_service.load(uow, world.env, world.receveur, dossier_id)
    with pytest.raises(Forbidden):
        world.fill(dossier_id, {"soins_projet": {"projet": "x"}}, user=world.receveur)

    world.clock.advance(days=1)
    with world.uow() as uow:
        people_service.revoke_delegation(uow, world.env, world.liberal, confrere_id)
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.presc_med, dossier_id)
    assert dossier_id not in section_ids(world, world.presc_med, Section.EN_COURS)
    world.clock.advance(days=30)  # the assistant's window is over
    with pytest.raises(Forbidden), world.uow() as uow:
        dossier_service.load(uow, world.env, world.receveur, dossier_id)


# ====================================================================================================================
# Optimistic concurrency
# ====================================================================================================================


def test_two_sessions_modifying_the_same_dossier_the_second_commit_conflicts(world: World) -> None:
    dossier_id = world.dossier()
    with pytest.raises(Conflict) as raised, world.uow() as first:
        # the first user's request has read the dossier (the session keeps it) ...
        seen, _ = dossier_service.load(first, world.env, world.presc, dossier_id)
        # ... when a colleague saves a change
        with world.uow() as second:
            dossier_service.modifier_bloc_note(second, world.env, world.presc_med, dossier_id, "Vu par le Dr Bernard")
        dossier_service.modifier_bloc_note(first, world.env, world.presc, dossier_id, "Appeler la fille")
        assert seen.bloc_note == "Appeler la fille"
    assert raised.value.code == "concurrence"
    dossier = world.get_dossier(dossier_id)
    assert dossier.bloc_note == "Vu par le Dr Bernard", "the first writer wins, the second is told to reload"
    assert [a for a, _, _ in history(world, dossier_id)].count("bloc_note.modifier") == 1


def test_two_receivers_answering_the_same_demande_at_once(world: World) -> None:
    dossier_id = world.dossier()
    (demande_id,) = world.send(dossier_id, world.smr1)
    with pytest.raises(Conflict) as raised, world.uow() as first:
        seen = first.demandes.get(demande_id)
        assert seen.statut is Status.EN_ATTENTE
        with world.uow() as second:
            demande_service.agir(second, world.env, world.receveur_med, demande_id, "accorder",
                                 demande_service.Answer(date_debut=D))
        demande_service.agir(first, world.env, world.receveur, demande_id, "refuser",
                             demande_service.Answer(motif="Pas de place"))
    assert raised.value.code == "concurrence"
    assert world.get_demande(demande_id).statut is Status.ACCORD_DE_PRINCIPE

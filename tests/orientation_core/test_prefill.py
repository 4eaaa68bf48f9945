"""Prefill and refresh of dossiers from DPI values (issue 6), on the real stores: the refresh rule (unedited
fields follow the DPI, edited fields are kept and flagged), history, the GIR of the Grand Âge grid, linked dossiers.
"""

from __future__ import annotations

from typing import Any

import pytest

from orientation_core.dossier import prefill, service
from orientation_core.dossier.provenance import Change, Outcome, differences
from orientation_core.dossier.volets import Module
from orientation_core.errors import ValidationFailed
from tests.orientation_core.conftest import World

RECU = "2026-01-05T08:00:00+00:00"


def dpi(value: Any, where: str = "PID-5[1].1", message_id: str = "MSG-1", path: str = "patient.nom_naissance"
        ) -> dict[str, Any]:
    return {"valeur": value, "source": "hl7v2", "message_id": message_id, "emplacement": where, "chemin": path,
            "recu_le": RECU}


def apply(world: World, dossier_id: int, values: dict[str, dict[str, dict[str, Any]]]) -> list[Change]:
    with world.uow() as uow:
        return prefill.appliquer(uow, world.env, dossier_id, values)


def admin(world: World, dossier_id: int) -> dict[str, Any]:
    return world.get_dossier(dossier_id).volets["administratif_social"]


def test_prefill_fills_fields_with_their_provenance(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    changes = apply(world, dossier_id, {"administratif_social": {
        "telephone": dpi("0478000000", "PID-13[1]", path="patient.telecoms[0]"),
        "service_demandeur": dpi("1101", "PV1-3.1", path="stay.uf"),
    }, "medical": {"poids_kg": dpi(61.5, "OBX[1]-5", path="clinical.poids_kg")}})
    assert {c.field: c.outcome for c in changes} == {"telephone": Outcome.REMPLI, "service_demandeur": Outcome.REMPLI,
                                                     "poids_kg": Outcome.REMPLI}
    dossier = world.get_dossier(dossier_id)
    assert dossier.volets["administratif_social"]["telephone"] == "0478000000"
    assert dossier.volets["medical"]["poids_kg"] == 61.5
    entry = dossier.provenance["administratif_social"]["telephone"]
    assert entry == {"source": "hl7v2", "message_id": "MSG-1", "emplacement": "PID-13[1]",
                     "chemin": "patient.telecoms[0]", "recu_le": RECU, "valeur_dpi": "0478000000",
                     "modifie": False, "differe": False}
    # completeness is recomputed: the médical volet now has a value, the missing ones are listed by field
    medical = next(s for s in dossier.volet_states() if s.name == "medical")
    assert medical.completion.value == "en_cours" and "poids_kg" not in medical.missing
    with world.uow() as uow:
        (event,) = [e for e in uow.history.for_dossier(dossier_id) if e.action == "prefill.appliquer"]
    assert event.actor_kind == "system"
    assert event.apres["remplis"] == ["administratif_social.service_demandeur", "administratif_social.telephone",
                                      "medical.poids_kg"]


def test_refresh_updates_unedited_fields_and_keeps_edited_ones_flagged(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    apply(world, dossier_id, {"administratif_social": {
        "telephone": dpi("0478000000", "PID-13[1]"), "adresse": dpi("12 rue des Lilas, 69003, Lyon", "PID-11[1]")}})
    # the user corrects the phone number; the address stays as the DPI sent it
    world.fill(dossier_id, {"administratif_social": {"telephone": "0600000000"}})
    assert world.get_dossier(dossier_id).provenance["administratif_social"]["telephone"]["modifie"] is True

    changes = apply(world, dossier_id, {"administratif_social": {
        "telephone": dpi("0478999999", "PID-13[1]", message_id="MSG-2"),
        "adresse": dpi("3 place Bellecour, 69002, Lyon", "PID-11[1]", message_id="MSG-2")}})

    assert {c.field: c.outcome for c in changes} == {"telephone": Outcome.DIFFERE, "adresse": Outcome.MIS_A_JOUR}
    dossier = world.get_dossier(dossier_id)
    assert dossier.volets["administratif_social"]["telephone"] == "0600000000"  # the user's value is kept
    assert dossier.volets["administratif_social"]["adresse"] == "3 place Bellecour, 69002, Lyon"
    phone = dossier.provenance["administratif_social"]["telephone"]
    assert (phone["differe"], phone["valeur_dpi"], phone["message_id"]) == (True, "0478999999", "MSG-2")
    assert differences(dossier.provenance) == [{"volet": "administratif_social", "champ": "telephone",
                                                "valeur_dpi": "0478999999", "source": "hl7v2", "recu_le": RECU}]
    # nothing silently lost: the replaced address and the DPI's contradicting phone are in the history
    with world.uow() as uow:
        event = [e for e in uow.history.for_dossier(dossier_id) if e.action == "prefill.appliquer"][-1]
    assert event.avant == {"administratif_social.adresse": "12 rue des Lilas, 69003, Lyon"}
    assert event.apres["valeur_dpi_differente"] == {"administratif_social.telephone": "0478999999"}

    # the next message repeats the same phone: still flagged, but nothing new for the history
    (repeat, _) = apply(world, dossier_id, {"administratif_social": {
        "telephone": dpi("0478999999", "PID-13[1]", message_id="MSG-3"),
        "adresse": dpi("3 place Bellecour, 69002, Lyon", "PID-11[1]", message_id="MSG-3")}})
    assert repeat.outcome is Outcome.CONSERVE
    assert world.get_dossier(dossier_id).provenance["administratif_social"]["telephone"]["differe"] is True
    with world.uow() as uow:
        assert len([e for e in uow.history.for_dossier(dossier_id) if e.action == "prefill.appliquer"]) == 2

    # the user takes the DPI's value: the flag goes, the field stays the user's
    world.fill(dossier_id, {"administratif_social": {"telephone": "0478999999"}})
    phone = world.get_dossier(dossier_id).provenance["administratif_social"]["telephone"]
    assert (phone["modifie"], phone["differe"]) == (True, False)


def test_a_field_typed_before_any_dpi_data_is_not_overwritten(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    world.fill(dossier_id, {"administratif_social": {"service_demandeur": "Chirurgie orthopédique"}})
    (change,) = apply(world, dossier_id, {"administratif_social": {"service_demandeur": dpi("1101", "PV1-3.1")}})
    assert change.outcome is Outcome.DIFFERE
    assert admin(world, dossier_id)["service_demandeur"] == "Chirurgie orthopédique"


def test_same_value_again_changes_nothing_and_records_nothing(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    values = {"administratif_social": {"telephone": dpi("0478000000", "PID-13[1]")}}
    apply(world, dossier_id, values)
    (change,) = apply(world, dossier_id, values)
    assert change.outcome is Outcome.INCHANGE
    with world.uow() as uow:
        assert len([e for e in uow.history.for_dossier(dossier_id) if e.action == "prefill.appliquer"]) == 1


def test_identity_from_the_registry_is_replaced_by_the_dpi(world: World) -> None:
    """``creer`` copies the registry's identity without provenance: a DPI value takes its place."""
    dossier_id = world.dossier(complete=False)
    assert admin(world, dossier_id)["nom_naissance"] == "Lefèvre"
    (change,) = apply(world, dossier_id, {"administratif_social": {"nom_naissance": dpi("LEFEVRE")}})
    assert change.outcome is Outcome.MIS_A_JOUR
    assert admin(world, dossier_id)["nom_naissance"] == "LEFEVRE"


def test_closed_dossier_is_not_refreshed(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    with world.uow() as uow:
        service.annuler_dossier(uow, world.env, world.presc_med, dossier_id, "Patient décédé")
    assert apply(world, dossier_id, {"administratif_social": {"telephone": dpi("0478000000")}}) == []
    assert "telephone" not in admin(world, dossier_id)


def test_dpi_orientation_change_flags_sent_demandes(world: World) -> None:
    """An orientation type the DPI prefilled and the user left alone follows the DPI; sent demandes must then be
    re-sent by hand, as when a user changes it."""
    dossier_id = world.dossier(complete=False)
    apply(world, dossier_id, {"orientation": {"type_orientation": dpi("smr", "ServiceRequest.code")}})
    volets = world.complete_volets()
    del volets["orientation"]["type_orientation"]
    world.fill(dossier_id, volets)
    (demande_id,) = world.send(dossier_id, world.smr1)
    apply(world, dossier_id, {"orientation": {"type_orientation": dpi("had", "ServiceRequest.code")}})
    assert world.get_dossier(dossier_id).type_orientation == "had"
    assert world.get_demande(demande_id).a_renvoyer is True


def test_dpi_orientation_change_on_a_typed_orientation_is_only_flagged(world: World) -> None:
    dossier_id = world.dossier()  # the user typed every volet, orientation "smr" included
    (demande_id,) = world.send(dossier_id, world.smr1)
    apply(world, dossier_id, {"orientation": {"type_orientation": dpi("had", "ServiceRequest.code")}})
    assert world.get_dossier(dossier_id).type_orientation == "smr"
    assert world.get_demande(demande_id).a_renvoyer is False
    assert world.get_dossier(dossier_id).provenance["orientation"]["type_orientation"]["differe"] is True


def test_merged_patient_context_refreshes_only_what_the_user_did_not_edit(world: World) -> None:
    """A40: the survivor's context absorbs the merged-away patient's (the registry moves its dossiers to the
    survivor); refreshing the survivor's dossiers with the merged context keeps every edited value."""
    survivor, gone = world.patient("ADRUN", ("ZOE",)), world.patient("ADRUN", ("ZOÉ",))
    kept_id, moved_id = world.dossier(survivor, complete=False), world.dossier(gone, complete=False)
    before = {"telephone": dpi("0478000000", "PID-13[1]", message_id="A01-1"),
              "adresse": dpi("12 rue des Lilas, 69003, Lyon", "PID-11[1]", message_id="A01-1")}
    apply(world, kept_id, {"administratif_social": before})
    apply(world, moved_id, {"administratif_social": before})
    world.fill(kept_id, {"administratif_social": {"telephone": "0600000000"}})
    merged = {"telephone": dpi("0478111111", "PID-13[1]", message_id="A40-1"),
              "adresse": dpi("12 rue des Lilas, 69003, Lyon", "PID-11[1]", message_id="A40-1")}
    for dossier_id in (kept_id, moved_id):
        apply(world, dossier_id, {"administratif_social": merged})
    assert admin(world, kept_id)["telephone"] == "0600000000"  # edited: kept, flagged
    assert world.get_dossier(kept_id).provenance["administratif_social"]["telephone"]["differe"] is True
    assert admin(world, moved_id)["telephone"] == "0478111111"  # unedited: follows the survivor's context
    assert admin(world, kept_id)["adresse"] == admin(world, moved_id)["adresse"]


# ---- the GIR of the Grand Âge médical volet -------------------------------------------------------------------------

def grand_age(world: World) -> int:
    with world.uow() as uow:
        dossier = service.creer(uow, world.env, world.presc_med, Module.GRAND_AGE, world.patient(),
                                unite_id=world.mco)
        assert dossier.id is not None
        return dossier.id


def test_gir_follows_the_aggir_grid(world: World) -> None:
    dossier_id = grand_age(world)
    grid = dict.fromkeys(("coherence", "orientation", "toilette", "habillage", "alimentation", "elimination",
                          "deplacement_interieur", "deplacement_exterieur", "communication_a_distance"), "A")
    world.fill(dossier_id, {"medical": {"grille_aggir": grid | {"transferts": "B"}}})
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] == 5
    world.fill(dossier_id, {"medical": {"grille_aggir": grid | {"transferts": "C"}}})
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] == 6  # the official, non-monotonic table
    world.fill(dossier_id, {"medical": {"grille_aggir": dict.fromkeys(grid, "C") | {"transferts": "C"}}})
    medical = world.get_dossier(dossier_id).volets["medical"]
    assert medical["gir"] == 1
    with world.uow() as uow:
        last = [e for e in uow.history.for_dossier(dossier_id) if e.action == "volet.medical.modifier"][-1]
    assert (last.avant["gir"], last.apres["gir"]) == (6, 1)


def test_partial_grid_has_no_gir_and_bad_grid_is_refused(world: World) -> None:
    dossier_id = grand_age(world)
    world.fill(dossier_id, {"medical": {"gir": 3}})  # a GIR typed from a paper grid, without the grid
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] == 3
    world.fill(dossier_id, {"medical": {"grille_aggir": {"coherence": "A"}}})
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] is None
    with pytest.raises(ValidationFailed, match="n'est pas une cotation AGGIR"):
        world.fill(dossier_id, {"medical": {"grille_aggir": {"coherence": "Z"}}})
    world.fill(dossier_id, {"medical": {"gir": 4}})  # still partial: a typed GIR stands
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] == 4
    world.fill(dossier_id, {"medical": {"grille_aggir": dict.fromkeys(
        ("coherence", "orientation", "toilette", "habillage", "alimentation", "elimination", "transferts",
         "deplacement_interieur"), "A")}})
    assert world.get_dossier(dossier_id).volets["medical"]["gir"] == 6
    with pytest.raises(ValidationFailed, match="Le GIR découle de la grille AGGIR du dossier \\(GIR 6\\)"):
        world.fill(dossier_id, {"medical": {"gir": 2}})


# ---- linked Grand Âge dossier ----------------------------------------------------------------------------------------

def test_linked_grand_age_copies_shared_administrative_data_with_provenance(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    apply(world, dossier_id, {"administratif_social": {
        "telephone": dpi("0478000000", "PID-13[1]"),
        "personne_confiance": dpi({"nom": "ADRUN", "prenom": "PAUL"}, "NK1[1]", path="contacts[0]"),
        "service_demandeur": dpi("1101", "PV1-3.1"),  # not a field of the Grand Âge volet administratif
    }})
    world.fill(dossier_id, {"administratif_social": {"adresse": "3 place Bellecour, 69002 Lyon"}})
    with world.uow() as uow:
        linked = service.creer_grand_age_lie(uow, world.env, world.presc_med, dossier_id)
        assert linked.id is not None
        linked_id = linked.id
    source, copy = world.get_dossier(dossier_id), world.get_dossier(linked_id)
    assert (source.dossier_lie_id, copy.dossier_lie_id) == (linked_id, dossier_id)
    administratif = copy.volets["administratif"]
    assert administratif["telephone"] == "0478000000"
    assert administratif["personne_confiance"] == {"nom": "ADRUN", "prenom": "PAUL"}
    assert administratif["adresse"] == "3 place Bellecour, 69002 Lyon"
    assert administratif["nom_naissance"] == "Lefèvre"
    assert "service_demandeur" not in administratif
    assert copy.provenance["administratif"]["telephone"]["emplacement"] == "PID-13[1]"
    assert copy.provenance["administratif"]["adresse"]["modifie"] is True  # the user's edit stays an edit
    # the linked dossier is refreshed on its own: the DPI changes the phone, both follow
    for target, volet in ((dossier_id, "administratif_social"), (linked_id, "administratif")):
        apply(world, target, {volet: {"telephone": dpi("0478999999", "PID-13[1]")}})
    assert world.get_dossier(linked_id).volets["administratif"]["telephone"] == "0478999999"


def test_created_at_is_untouched_and_timers_do_not_restart(world: World) -> None:
    dossier_id = world.dossier(complete=False)
    before = world.get_dossier(dossier_id)
    world.clock.advance(days=3)
    apply(world, dossier_id, {"administratif_social": {"telephone": dpi("0478000000")}})
    after = world.get_dossier(dossier_id)
    assert after.derniere_action_prescripteur_at == before.derniere_action_prescripteur_at
    assert after.updated_at is not None and before.updated_at is not None and after.updated_at > before.updated_at

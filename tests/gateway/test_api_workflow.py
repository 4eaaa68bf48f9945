"""The whole orientation story through the HTTP API only, on a fresh dossier over the demo data (DOMAIN.md §3–§4):
patient, dossier, volets and rights on them, sending, answers and their guards, confirmation (which cancels the
other live demandes), admission, dashboards, history, notifications, and what a receiving unit may read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from orientation_core.patients.model import StatutIdentite

BLOC_NOTE = "Note interne : la fille souhaite être appelée avant toute décision."

ORIENTATION = {"objectif_prise_en_charge": "Rééducation à la marche après PTH", "type_orientation": "smr",
               "accord_patient": True, "criteres": ["reeducation"]}
MEDICAL = {"pathologie_actuelle": "Prothèse totale de hanche droite", "antecedents": "HTA",
           "poids_kg": 63, "taille_cm": 161, "traitements": "Amlodipine 5 mg", "allergies": "Aucune connue"}
SOINS = {"soins_infirmiers": "Pansement tous les deux jours", "dependance": "Aide à la toilette",
         "projet": "Retour à domicile avec kinésithérapie"}
ADMIN_SOCIAL = {"service_demandeur": "Médecine interne", "date_hospitalisation": "2026-02-26",
                "type_logement": "Maison de plain-pied"}


@dataclass
class Story:
    """Ids of what the story created, and the API it runs on."""

    api: Any
    gw: dict[str, Any]
    patient_id: int
    dossier_id: int
    numero: str
    smr: dict[str, int]  # code UF → id

    def dossier(self, login: str | None = None) -> dict[str, Any]:
        return self.api.ok(self.api.get(login or self.gw["MARTIN"], f"/api/v1/dossiers/{self.dossier_id}"))

    def history(self) -> list[dict[str, Any]]:
        return self.api.ok(self.api.get(self.gw["MARTIN"], f"/api/v1/dossiers/{self.dossier_id}/historique"))

    def act(self, login: str, demande_id: int, action: str, **body: Any) -> Any:
        return self.api.post(login, f"/api/v1/demandes/{demande_id}/{action}", json=body)


def _smr_units(api: Any, gw: dict[str, Any]) -> dict[str, int]:
    """Receiving units as a prescripteur finds them: the directory search of the API."""
    found = api.ok(api.get(gw["MARTIN"], "/api/v1/unites", params={"module": "sanitaire", "type": "smr"}))
    units = {u["code_uf"]: u["id"] for u in found}
    assert {"2101", "2102", "2103"} <= set(units), units
    assert all(u["type"] == "smr" for u in found)
    return units


@pytest.fixture
def story(api: Any, gw: dict[str, Any]) -> Story:
    """A new patient and a new Sanitaire dossier by Dr Martin in UF 1101, identity prefilled, nothing else."""
    patient = api.ok(api.post(gw["MARTIN"], "/api/v1/patients", json={
        "nom_naissance": "Testard", "prenoms": ["Hélène", "Marie"], "date_naissance": "1944-05-17", "sexe": "F",
        "adresse": "3 rue Garibaldi", "code_postal": "69003", "ville": "Lyon",
        "identifiants": [{"type": "ipp", "valeur": "GW-0001", "autorite": "690001011"}],
    }), 201)
    assert patient["nom_affiche"].startswith("TESTARD")
    # the requesting unit has no lookup by code in the API: read its id from the demo directory
    dossier = api.ok(api.post(gw["MARTIN"], "/api/v1/dossiers", json={
        "module": "sanitaire", "patient_id": patient["id"], "unite_id": api.unite_id("1101")}), 201)
    return Story(api, gw, patient["id"], dossier["id"], dossier["numero"], _smr_units(api, gw))


def _volet_state(dossier: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in dossier["etat_volets"] if s["name"] == name)


def _fill_completely(story: Story) -> None:
    api, gw, base = story.api, story.gw, f"/api/v1/dossiers/{story.dossier_id}/volets"
    api.ok(api.patch(gw["MARTIN"], f"{base}/orientation", json=ORIENTATION))
    api.ok(api.patch(gw["MARTIN"], f"{base}/medical", json=MEDICAL))
    api.ok(api.patch(gw["BERNARD"], f"{base}/soins_projet", json=SOINS))
    api.ok(api.patch(gw["BERNARD"], f"{base}/administratif_social", json=ADMIN_SOCIAL))
    final = api.ok(api.patch(gw["MARTIN"], f"{base}/pieces_jointes", json={"verifiees": True}))
    assert final["complet"] is True
    assert {s["completion"] for s in final["etat_volets"]} == {"complet"}


def _send(story: Story, codes: list[str]) -> dict[str, int]:
    sent = story.api.ok(story.api.post(story.gw["MARTIN"], f"/api/v1/dossiers/{story.dossier_id}/demandes",
                                       json={"unite_ids": [story.smr[c] for c in codes], "envoyer": True}), 201)
    assert [d["statut"] for d in sent] == ["en_attente_de_reponse"] * len(codes)
    by_unit = {d["unite_id"]: d["id"] for d in sent}
    assert set(by_unit) == {story.smr[c] for c in codes}
    return {c: by_unit[story.smr[c]] for c in codes}


# ====================================================================================================================
# Dossier: creation, volets, rights, completeness
# ====================================================================================================================


def test_new_dossier_is_prefilled_from_the_patient_and_incomplete(story: Story) -> None:
    dossier = story.dossier()
    assert dossier["numero"] == f"S{story.dossier_id:08d}"
    assert dossier["etat"] == "brouillon" and dossier["complet"] is False
    admin = dossier["volets"]["administratif_social"]
    assert admin["nom_naissance"] == "Testard" and admin["prenoms"] == "Hélène Marie"
    assert admin["date_naissance"] == "1944-05-17" and admin["sexe"] == "F"
    state = _volet_state(dossier, "administratif_social")
    assert state["completion"] == "en_cours"
    assert set(state["missing"]) == {"service_demandeur", "date_hospitalisation", "type_logement"}
    assert _volet_state(dossier, "medical")["completion"] == "vide"
    # the new dossier is on its author's dashboard, in "Demandes en cours"
    board = story.api.ok(story.api.get(story.gw["MARTIN"], "/api/v1/tableau-de-bord/prescripteur",
                                       params={"recherche": story.numero}))
    assert [row["dossier_id"] for row in board["items"]] == [story.dossier_id]


def test_sending_an_incomplete_dossier_is_refused_and_creates_no_demande(story: Story) -> None:
    api, gw = story.api, story.gw
    api.ok(api.patch(gw["MARTIN"], f"/api/v1/dossiers/{story.dossier_id}/volets/orientation", json=ORIENTATION))
    refused = api.post(gw["MARTIN"], f"/api/v1/dossiers/{story.dossier_id}/demandes",
                       json={"unite_ids": [story.smr["2101"], story.smr["2102"]], "envoyer": True})
    problem = api.problem(refused, 422, "dossier.incomplet")
    assert set(problem["details"]["volets"]) == {"Médical", "Soins et projet", "Administratif et social",
                                                 "Pièces jointes"}
    # the whole call rolled back: no demande was left "en cours de rédaction" behind
    assert story.dossier()["demandes"] == []
    assert not [e for e in story.history() if e["action"].startswith("demande.")]


def test_only_a_medical_prescripteur_writes_the_medical_volets(story: Story) -> None:
    api, gw, base = story.api, story.gw, f"/api/v1/dossiers/{story.dossier_id}/volets"
    for volet, values in (("medical", MEDICAL), ("orientation", ORIENTATION)):
        refused = api.patch(gw["BERNARD"], f"{base}/{volet}", json=values)
        body = api.problem(refused, 403, "droits.refuse")
        assert body["details"] == {"action": "volet_medical.modifier"}
    dossier = story.dossier()
    assert "medical" not in dossier["volets"] and "orientation" not in dossier["volets"]
    # the same non-medical prescripteur writes the other volets of a dossier of his unit
    updated = api.ok(api.patch(gw["BERNARD"], f"{base}/soins_projet", json=SOINS))
    assert _volet_state(updated, "soins_projet")["completion"] == "complet"
    # a receveur writes nothing in a prescripteur's dossier
    api.problem(api.patch(gw["PETIT"], f"{base}/soins_projet", json={"projet": "x"}), 403, "droits.refuse")


def test_unknown_volet_or_field_is_a_validation_problem(story: Story) -> None:
    api, gw, base = story.api, story.gw, f"/api/v1/dossiers/{story.dossier_id}/volets"
    api.problem(api.patch(gw["MARTIN"], f"{base}/grille_aggir", json={"x": 1}), 422, "dossier.volet_inconnu")
    body = api.problem(api.patch(gw["MARTIN"], f"{base}/medical", json={"poids": 60}), 422, "dossier.champ_inconnu")
    assert body["details"] == {"champs": ["poids"]}


# ====================================================================================================================
# Demandes: the full story
# ====================================================================================================================


def test_full_story_from_sending_to_admission(story: Story) -> None:
    api, gw = story.api, story.gw
    martin, petit = gw["MARTIN"], gw["PETIT"]
    _fill_completely(story)
    api.ok(api.put(martin, f"/api/v1/dossiers/{story.dossier_id}/bloc-note", json={"texte": BLOC_NOTE}))

    # two SMR units at once, a third one later
    demandes = _send(story, ["2101", "2102"]) | _send(story, ["2103"])
    a, b, c = demandes["2101"], demandes["2102"], demandes["2103"]
    assert story.dossier()["etat"] == "envoye"

    # the receiving unit's dashboard shows the three demandes, and only demandes of its units
    board = api.ok(api.get(petit, "/api/v1/tableau-de-bord/receveur"))
    assert {row["unite_id"] for row in board["items"]} <= set(story.smr.values())
    mine = {row["demande_id"]: row for row in board["items"] if row["dossier_id"] == story.dossier_id}
    assert set(mine) == {a, b, c}
    assert {row["statut"] for row in mine.values()} == {"en_attente_de_reponse"}
    assert all(row["etablissement_demandeur"].startswith("Hôpital Saint-Exupéry") for row in mine.values())
    other = api.ok(api.get(gw["HAD_RECEVEUR"], "/api/v1/tableau-de-bord/receveur"))
    assert all(row["dossier_id"] != story.dossier_id for row in other["items"])
    api.problem(api.get(petit, "/api/v1/tableau-de-bord/receveur", params={"unite_id": api.unite_id("3101")}),
                403, "droits.refuse")

    # refusal: the motive is mandatory
    api.problem(story.act(petit, b, "refuser", motif=""), 422, "demande.motif_obligatoire")
    api.problem(story.act(petit, b, "refuser", motif="   "), 422, "demande.motif_obligatoire")
    refused = api.ok(story.act(petit, b, "refuser", motif="Pas de lit avant trois semaines"))
    assert refused["statut"] == "refusee" and refused["motif"] == "Pas de lit avant trois semaines"

    # accord de principe: dates are mandatory
    api.problem(story.act(petit, a, "accorder"), 422, "demande.accord_sans_date")
    api.problem(story.act(petit, a, "accorder", date_debut="2026-03-20", date_fin="2026-03-10"), 422,
                "demande.fourchette")
    accord = api.ok(story.act(petit, a, "accorder", date_debut="2026-03-09", date_fin="2026-03-13"))
    assert accord["statut"] == "accord_de_principe"
    assert (accord["date_debut"], accord["date_fin"]) == ("2026-03-09", "2026-03-13")

    # actions out of their place in the workflow
    api.problem(story.act(petit, a, "finaliser_admission"), 409, "demande.transition_interdite")
    api.problem(story.act(martin, a, "confirmer"), 409, "demande.transition_interdite")
    api.problem(story.act(petit, a, "accepter"), 422, "demande.acceptation_sans_date")

    accepted = api.ok(story.act(petit, a, "accepter", date_admission="2026-03-11"))
    assert accepted["statut"] == "acceptee" and accepted["date_admission"] == "2026-03-11"

    # confirming is the prescripteur's, not the receiving unit's
    body = api.problem(story.act(petit, a, "confirmer"), 403, "droits.refuse")
    assert body["details"] == {"action": "demande.confirmer"}
    confirmed = api.ok(story.act(martin, a, "confirmer"))
    assert confirmed["statut"] == "confirmee"

    # confirmation cancels every other live demande; the refusal is left as it was
    after = {d["id"]: d for d in story.dossier()["demandes"]}
    assert after[c]["statut"] == "annulee" and after[c]["motif"] == "Confirmée dans une autre structure"
    assert after[b]["statut"] == "refusee" and after[b]["motif"] == "Pas de lit avant trois semaines"
    assert after[a]["actions_possibles"] == ["annuler"]  # a confirmed admission can still be called off
    api.problem(story.act(petit, c, "accepter", date_admission="2026-03-12"), 409, "demande.transition_interdite")

    finalised = api.ok(story.act(petit, a, "finaliser_admission"))
    assert finalised["statut"] == "admission_finalisee"
    assert story.dossier()["etat"] == "admis"

    # dashboards: the dossier moved to "Patients sortis"
    def section(name: str) -> list[int]:
        page = api.ok(api.get(martin, "/api/v1/tableau-de-bord/prescripteur", params={"section": name}))
        return [row["dossier_id"] for row in page["items"]]

    assert story.dossier_id in section("patients_sortis")
    assert story.dossier_id not in section("en_cours")
    row = next(r for r in api.ok(api.get(martin, "/api/v1/tableau-de-bord/prescripteur",
                                         params={"section": "patients_sortis"}))["items"]
               if r["dossier_id"] == story.dossier_id)
    assert {(d["unite_id"], d["statut"]) for d in row["demandes"]} == {
        (story.smr["2101"], "admission_finalisee"), (story.smr["2102"], "refusee"),
        (story.smr["2103"], "annulee")}
    assert row["bloc_note"] == BLOC_NOTE  # the prescripteur's own dashboard shows his note

    _check_history(story, a, b, c)
    _check_notifications(story, a, b, c)


def _check_history(story: Story, a: int, b: int, c: int) -> None:
    ids = {login: story.api.user_id(story.gw[login]) for login in ("MARTIN", "BERNARD", "PETIT")}
    events = story.history()
    actions = [e["action"] for e in events]
    assert actions[0] == "dossier.creer" and events[0]["actor_user_id"] == ids["MARTIN"]
    at = [e["at"] for e in events]
    assert at == sorted(at)

    def only(action: str, demande_id: int | None = None) -> dict[str, Any]:
        found = [e for e in events if e["action"] == action and (demande_id is None or e["demande_id"] == demande_id)]
        assert len(found) == 1, (action, demande_id, found)  # refused attempts left no trace
        return found[0]

    medical = only("volet.medical.modifier")
    assert medical["actor_kind"] == "prescripteur" and medical["actor_user_id"] == ids["MARTIN"]
    assert medical["avant"] == dict.fromkeys(MEDICAL) and medical["apres"] == MEDICAL
    soins = only("volet.soins_projet.modifier")
    assert soins["actor_user_id"] == ids["BERNARD"] and soins["apres"] == SOINS
    assert only("bloc_note.modifier")["apres"] == {"bloc_note": BLOC_NOTE}
    for demande_id in (a, b, c):
        sent = only("demande.envoyer", demande_id)
        assert sent["avant"]["statut"] == "en_cours_de_redaction"
        assert sent["apres"]["statut"] == "en_attente_de_reponse"
    refus = only("demande.refuser", b)
    assert (refus["actor_kind"], refus["actor_user_id"]) == ("receveur", ids["PETIT"])
    assert refus["avant"]["statut"] == "en_attente_de_reponse"
    assert refus["apres"] == refus["apres"] | {"statut": "refusee", "motif": "Pas de lit avant trois semaines"}
    accord = only("demande.accorder", a)
    assert accord["apres"]["date_debut"] == "2026-03-09" and accord["apres"]["date_fin"] == "2026-03-13"
    accept = only("demande.accepter", a)
    assert (accept["avant"]["statut"], accept["apres"]["statut"]) == ("accord_de_principe", "acceptee")
    assert accept["apres"]["date_admission"] == "2026-03-11"
    confirm = only("demande.confirmer", a)
    assert (confirm["actor_kind"], confirm["actor_user_id"]) == ("prescripteur", ids["MARTIN"])
    cancel = only("demande.annuler_systeme", c)
    assert cancel["actor_kind"] == "system"
    assert (cancel["avant"]["statut"], cancel["apres"]["statut"]) == ("en_attente_de_reponse", "annulee")
    assert cancel["apres"]["motif"] == "Confirmée dans une autre structure"
    admission = only("demande.finaliser_admission", a)
    assert (admission["actor_kind"], admission["actor_user_id"]) == ("receveur", ids["PETIT"])
    assert (admission["avant"]["statut"], admission["apres"]["statut"]) == ("confirmee", "admission_finalisee")
    assert not [e for e in events if e["action"] == "demande.annuler_systeme" and e["demande_id"] == b]


def _check_notifications(story: Story, a: int, b: int, c: int) -> None:
    api, gw = story.api, story.gw

    def titles(login: str) -> set[tuple[int, str]]:
        notes = api.ok(api.get(gw[login], "/api/v1/notifications"))
        assert all(n["user_id"] == api.user_id(gw[login]) for n in notes)
        return {(n["demande_id"], n["titre"]) for n in notes if n["dossier_id"] == story.dossier_id}

    for receveur in ("PETIT", "DURAND"):  # every receveur of the units
        got = titles(receveur)
        assert {(a, "Demande : En attente de réponse"), (b, "Demande : En attente de réponse"),
                (c, "Demande : En attente de réponse"), (c, "Demande : Annulée")} <= got, got
        assert (a, "Demande : Confirmée") in got
    for prescripteur in ("MARTIN", "BERNARD"):  # every prescripteur of the requesting unit
        got = titles(prescripteur)
        assert {(b, "Demande : Refusée"), (a, "Demande : Accord de principe"), (a, "Demande : Acceptée"),
                (a, "Demande : Admission finalisée")} <= got, got
        assert not {t for t in got if t[1] == "Demande : En attente de réponse"}  # his own sending
    assert titles("HAD_RECEVEUR") == set()
    refusal = next(n for n in api.ok(api.get(gw["MARTIN"], "/api/v1/notifications"))
                   if n["demande_id"] == b and n["titre"] == "Demande : Refusée")
    cancelled = next(n for n in api.ok(api.get(gw["PETIT"], "/api/v1/notifications"))
                     if n["demande_id"] == c and n["titre"] == "Demande : Annulée")
    assert "Confirmée dans une autre structure" in cancelled["message"]
    # unread filter and marking as read
    unread = api.ok(api.get(gw["MARTIN"], "/api/v1/notifications", params={"non_lues": True}))
    assert refusal["id"] in {n["id"] for n in unread}
    read = api.ok(api.post(gw["MARTIN"], f"/api/v1/notifications/{refusal['id']}/lecture"))
    assert read["lu_at"] is not None
    unread = api.ok(api.get(gw["MARTIN"], "/api/v1/notifications", params={"non_lues": True}))
    assert refusal["id"] not in {n["id"] for n in unread}
    # somebody else's notification does not exist for you
    api.problem(api.post(gw["PETIT"], f"/api/v1/notifications/{refusal['id']}/lecture"), 404, "introuvable")


# ====================================================================================================================
# What a receiving unit may read
# ====================================================================================================================


@pytest.fixture
def sent(story: Story) -> tuple[Story, int]:
    _fill_completely(story)
    story.api.ok(story.api.put(story.gw["MARTIN"], f"/api/v1/dossiers/{story.dossier_id}/bloc-note",
                               json={"texte": BLOC_NOTE}))
    demandes = _send(story, ["2101", "2102"])
    return story, demandes["2101"]


def test_receveur_view_hides_the_bloc_note_and_the_medical_volets(sent: tuple[Story, int]) -> None:
    story, demande_id = sent
    api, gw = story.api, story.gw
    before = len(story.history())
    response = api.get(gw["PETIT"], f"/api/v1/demandes/{demande_id}")
    view = api.ok(response)
    assert BLOC_NOTE not in response.text and "bloc_note" not in view["dossier"]
    assert set(view["dossier"]["volets"]) == {"soins_projet", "administratif_social", "pieces_jointes"}
    assert view["dossier"]["volets_masques"] == ["medical", "orientation"]
    assert MEDICAL["pathologie_actuelle"] not in response.text
    # the receiving unit sees its own demande only, with its own possible actions
    assert [d["id"] for d in view["dossier"]["demandes"]] == [demande_id]
    assert set(view["dossier"]["demandes"][0]["actions_possibles"]) >= {"accorder", "accepter", "refuser"}
    assert "confirmer" not in view["dossier"]["demandes"][0]["actions_possibles"]
    # nothing médical was opened: nothing traced
    assert len(story.history()) == before


def test_receveur_medical_reads_the_medical_volet_and_the_opening_is_traced(sent: tuple[Story, int]) -> None:
    story, demande_id = sent
    api, gw = story.api, story.gw
    response = api.get(gw["DURAND"], f"/api/v1/demandes/{demande_id}")
    view = api.ok(response)
    assert view["dossier"]["volets"]["medical"] == MEDICAL
    assert view["dossier"]["volets"]["orientation"]["type_orientation"] == "smr"
    assert view["dossier"]["volets_masques"] == []
    assert BLOC_NOTE not in response.text  # the bloc-note stays inside the requesting établissement
    openings = [e for e in story.history() if e["action"] == "volet_medical.consulter"]
    assert len(openings) == 1
    assert openings[0]["actor_user_id"] == api.user_id(gw["DURAND"])
    assert openings[0]["actor_kind"] == "receveur" and openings[0]["demande_id"] == demande_id
    api.ok(api.get(gw["DURAND"], f"/api/v1/demandes/{demande_id}"))
    assert len([e for e in story.history() if e["action"] == "volet_medical.consulter"]) == 2  # each opening


def test_prescripteur_reads_the_whole_demande_and_other_units_read_nothing(sent: tuple[Story, int]) -> None:
    story, demande_id = sent
    api, gw = story.api, story.gw
    view = api.ok(api.get(gw["MARTIN"], f"/api/v1/demandes/{demande_id}"))
    assert view["dossier"]["bloc_note"] == BLOC_NOTE
    assert view["dossier"]["volets"]["medical"] == MEDICAL
    assert len(view["dossier"]["demandes"]) == 2
    assert not [e for e in story.history() if e["action"] == "volet_medical.consulter"]
    api.problem(api.get(gw["HAD_RECEVEUR"], f"/api/v1/demandes/{demande_id}"), 403, "droits.refuse")
    api.problem(api.get(gw["PETIT"], f"/api/v1/dossiers/{story.dossier_id}"), 403, "droits.refuse")
    api.problem(api.get(gw["PETIT"], f"/api/v1/dossiers/{story.dossier_id}/historique"), 403, "droits.refuse")


def test_a_demande_not_sent_yet_does_not_exist_for_the_receiving_unit(story: Story) -> None:
    api, gw = story.api, story.gw
    _fill_completely(story)
    drafts = api.ok(api.post(gw["MARTIN"], f"/api/v1/dossiers/{story.dossier_id}/demandes",
                             json={"unite_ids": [story.smr["2101"]], "envoyer": False}), 201)
    assert drafts[0]["statut"] == "en_cours_de_redaction"
    api.problem(api.get(gw["PETIT"], f"/api/v1/demandes/{drafts[0]['id']}"), 404, "introuvable")
    board = api.ok(api.get(gw["PETIT"], "/api/v1/tableau-de-bord/receveur"))
    assert drafts[0]["id"] not in {row["demande_id"] for row in board["items"]}
    assert api.ok(api.get(gw["PETIT"], "/api/v1/notifications")) == [
        n for n in api.ok(api.get(gw["PETIT"], "/api/v1/notifications")) if n["dossier_id"] != story.dossier_id]
    api.ok(story.act(gw["MARTIN"], drafts[0]["id"], "envoyer"))
    assert api.ok(api.get(gw["PETIT"], f"/api/v1/demandes/{drafts[0]['id']}"))["statut"] == "en_attente_de_reponse"



def test_refusal_and_cancellation_notifications_carry_the_motive(story: Story) -> None:
    api, gw = story.api, story.gw
    _fill_completely(story)
    demandes = _send(story, ["2101", "2102"])
    api.ok(story.act(gw["PETIT"], demandes["2101"], "refuser", motif="Pas de lit avant trois semaines"))
    api.ok(story.act(gw["MARTIN"], demandes["2102"], "annuler", motif="Patient transféré en cardiologie"))
    refusal = next(n for n in api.ok(api.get(gw["MARTIN"], "/api/v1/notifications"))
                   if n["demande_id"] == demandes["2101"] and n["titre"] == "Demande : Refusée")
    cancelled = next(n for n in api.ok(api.get(gw["PETIT"], "/api/v1/notifications"))
                     if n["demande_id"] == demandes["2102"] and n["titre"] == "Demande : Annulée")
    assert "Pas de lit avant trois semaines" in refusal["message"]
    assert "Patient transféré en cardiologie" in cancelled["message"]


def test_identity_status_is_shown_wherever_the_patient_is_named(story: Story) -> None:
    """RNIV: the dossier, the prescripteur dashboard and the receveur list all carry the identity status, and
    follow it when it changes (here: the identity is qualified)."""
    api, gw = story.api, story.gw

    def seen() -> tuple[str, str, str]:
        dossier = story.dossier()
        presc = api.ok(api.get(gw["MARTIN"], "/api/v1/tableau-de-bord/prescripteur",
                               params={"recherche": story.numero}))
        recev = api.ok(api.get(gw["PETIT"], "/api/v1/tableau-de-bord/receveur", params={"recherche": story.numero}))
        (row,) = presc["items"]
        (demande_row,) = recev["items"]
        return (dossier["patient"]["statut_identite"], row["patient_statut_identite"],
                demande_row["patient_statut_identite"])

    _fill_completely(story)
    _send(story, ["2101"])
    dossier = story.dossier()
    assert dossier["patient"]["nom_affiche"].startswith("TESTARD") and "ins" not in dossier["patient"]
    assert seen() == ("provisoire",) * 3
    with api.container.uow() as uow:
        uow.patients.get(story.patient_id).statut_identite = StatutIdentite.QUALIFIEE
    assert seen() == ("qualifiee",) * 3

"""The sending page (gateway/ui/envoi.py) through HTTP, on both stores: the demandes with the receivers' answers,
the unit search with reasons, sending (and the refusal of an incomplete dossier, selection kept), each
prescripteur action on a demande and on the dossier, and the refusals re-rendered next to their form."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import httpx

from orientation_core.patients.model import TypeIdentifiantPatient

HTML = {"Accept": "text/html"}
CHU = "690001011"


def dossier_of(api: Any, ipp: str, module: str = "sanitaire") -> int:
    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, CHU)
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == module)
        assert dossier.id is not None
        return int(dossier.id)


def demande_to(api: Any, dossier_id: int, code_uf: str) -> int:
    unite_id = api.unite_id(code_uf)
    with api.container.uow() as uow:
        found = [d for d in uow.demandes.for_dossier(dossier_id) if d.unite_id == unite_id]
        assert found and found[-1].id is not None
        return int(found[-1].id)


def statut(api: Any, demande_id: int) -> str:
    with api.container.uow() as uow:
        return str(uow.demandes.get(demande_id).statut.value)


def get(api: Any, login: str, path: str) -> httpx.Response:
    response: httpx.Response = api.client.get(path, headers=HTML | api.as_(login))
    return response


def post(api: Any, login: str, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
    response: httpx.Response = api.client.post(path, headers=HTML | api.as_(login), data=data or {},
                                               follow_redirects=False)
    return response


def follow(api: Any, login: str, response: httpx.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text[:2000])
    page = get(api, login, response.headers["location"])
    assert page.status_code == 200
    return text(page)


def text(response: httpx.Response) -> str:
    return unescape(re.sub(r"\s+", " ", response.text))


def row(page: str, demande_id: int) -> str:
    found = re.search(rf'<tr id="demande-{demande_id}".*?</tr>', page)
    assert found, f"no row for demande {demande_id}"
    return found.group(0)


def complete(api: Any, dossier_id: int, login: str) -> None:
    """Fill every volet of a draft Sanitaire dossier, as the demo does for its complete dossiers."""
    from gateway.demo import DEFAULTS
    from orientation_core.dossier import service as dossiers
    from orientation_core.dossier.volets import VOLETS, Module

    values = dict(DEFAULTS[Module.SANITAIRE]) | {
        "adresse": "3 rue Pasteur, 69007 Lyon", "service_demandeur": "Médecine interne",
        "date_hospitalisation": "2026-02-27", "type_orientation": "smr",
        "objectif_prise_en_charge": "Rééducation", "pathologie_actuelle": "Chute, fracture du poignet",
        "antecedents": "Aucun", "poids_kg": 70, "taille_cm": 170, "traitements": "Aucun", "allergies": "Aucune"}
    user_id = api.user_id(login)
    with api.container.uow() as uow:
        for volet in VOLETS[Module.SANITAIRE]:
            part = {k: v for k, v in values.items() if k in volet.fields}
            dossiers.modifier_volet(uow, api.container.env, user_id, dossier_id, volet.name, part)


# --- the page --------------------------------------------------------------------------------------------------------


def test_page_shows_each_demande_with_the_answer_and_the_actions_allowed_now(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100001")  # accord de principe 5 days ago (2101), a refusal (2102)
    r = get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")
    assert r.status_code == 200, r.text[:2000]
    page = text(r)
    accord = row(page, demande_to(api, dossier_id, "2101"))
    assert "SMR polyvalent" in accord and "Centre SMR Les Tilleuls" in accord and "Accord de principe" in accord
    assert re.search(r"admission entre le \d\d/\d\d/2026 et le \d\d/\d\d/2026", accord)
    assert "Relancer l'unité" in accord and "Annuler cette demande" in accord
    assert "Confirmer cette unité" not in accord  # only an acceptance is confirmed
    refus = row(page, demande_to(api, dossier_id, "2102"))
    assert "Refusée" in refus and "Motif du refus : Pas de place avant six semaines" in refus
    # the search: SMR by default (the dossier's orientation), the patient's postcode, units already asked marked
    assert re.search(r'<option value="smr" selected>', page)
    assert 'value="69002"' in page
    assert "Déjà sollicitée" in page
    assert "SMR gériatrique" in page and "correspond à l'orientation du dossier" in page
    assert "Annuler le dossier" in page and "Retour à domicile avant SSR" in page


def test_search_by_type_postcode_radius_needs_and_mention_gives_reasons(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100004")  # benali: draft, patient at 69007
    base = f"/dossiers/{dossier_id}/envoi?recherche=1"
    page = text(get(api, gw["BERNARD"], f"{base}&type=had&code_postal=69003&rayon=10"))
    assert "Hospitalisation à domicile Lyon Centre" in page and "SMR polyvalent" not in page
    assert re.search(r"à \d+ km", page)
    assert "placé à la position des structures de l'annuaire qui le portent" in page
    # needs: units taking both needs first, the reason says how many
    page = text(get(api, gw["BERNARD"], f"{base}&type=smr&besoins=pansements&besoins=troubles_cognitifs"
                                        "&mention=geriatrie"))
    first = re.search(r'<table aria-labelledby="titre-suggestions".*?<tbody>(.*?)</tr>', page)
    assert first and "SMR gériatrique" in first.group(1)
    assert "2/2 besoin(s) pris en charge" in first.group(1) and "mention SMR demandée (Gériatrie)" in first.group(1)
    assert "ne prend pas en charge : Troubles cognitifs" in page  # SMR polyvalent: pansements only
    # a postcode no unit carries: the département's units, said to be an approximation
    page = text(get(api, gw["BERNARD"], f"{base}&type=smr&code_postal=69007&rayon=50"))
    assert "département 69 (approximation)" in page and "SMR locomoteur" in page
    # a 1 km radius from the patient's home leaves no SMR
    page = text(get(api, gw["BERNARD"], f"{base}&type=smr&code_postal=69007&rayon=1"))
    assert "Aucune unité ne correspond à cette recherche" in page
    # errors next to their field, typed value kept
    page = text(get(api, gw["BERNARD"], f"{base}&code_postal=6900A&rayon=20"))
    assert 'id="err-cp"' in page and "Code postal invalide" in page and 'value="6900A"' in page
    page = text(get(api, gw["BERNARD"], f"{base}&code_postal=20000"))
    assert "la distance n'est pas prise en compte" in page


def test_incomplete_dossier_is_not_sent_and_the_selection_is_kept(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100004")
    a, b = api.unite_id("2101"), api.unite_id("2103")
    page = text(get(api, gw["BERNARD"], f"/dossiers/{dossier_id}/envoi"))
    assert 'id="dossier-incomplet"' in page and f'/dossiers/{dossier_id}/volets/orientation' in page
    r = post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/envoi",
             {"unite_ids": [str(a), str(b)], "type": "smr", "code_postal": "69007", "rayon": "50"})
    assert r.status_code == 422
    page = text(r)
    assert "Le dossier n'est pas complet" in page and "Compléter le volet Orientation" in page
    assert re.search(rf'id="sel-{a}" name="unite_ids" value="{a}" checked', page)
    assert re.search(rf'id="sel-{b}" name="unite_ids" value="{b}" checked', page)
    assert 'value="69007"' in page and '<option value="50" selected>' in page
    with api.container.uow() as uow:
        assert uow.demandes.for_dossier(dossier_id) == []  # nothing half-sent
    r = post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/envoi", {})
    assert r.status_code == 422 and "Choisissez au moins une unité." in text(r)


def test_send_to_two_units_then_cancel_one_with_a_motive(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100004")
    complete(api, dossier_id, gw["MARTIN"])
    a, b = api.unite_id("2101"), api.unite_id("2103")
    r = post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/envoi", {"unite_ids": [str(a), str(b)]})
    page = follow(api, gw["BERNARD"], r)
    assert "Dossier envoyé à 2 unités." in page
    first, second = demande_to(api, dossier_id, "2101"), demande_to(api, dossier_id, "2103")
    assert "En attente de réponse" in row(page, first) and "En attente de réponse" in row(page, second)
    # without a motive: refused next to the form, nothing changed
    r = post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/demandes/{first}/annuler", {"motif": "  "})
    assert r.status_code == 422
    assert f'id="err-demande-{first}"' in row(text(r), first)
    assert "Le motif est obligatoire." in row(text(r), first)
    assert statut(api, first) == "en_attente_de_reponse"
    r = post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/demandes/{first}/annuler",
             {"motif": "La famille préfère un SMR gériatrique"})
    page = follow(api, gw["BERNARD"], r)
    assert "Demande auprès de « SMR polyvalent » annulée." in page
    assert "Annulée" in row(page, first) and "La famille préfère un SMR gériatrique" in row(page, first)
    assert "Réactiver" in row(page, first)
    assert statut(api, second) == "en_attente_de_reponse"
    # re-activated: waiting again
    page = follow(api, gw["BERNARD"], post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/demandes/{first}/reactiver"))
    assert "réactivée" in page and statut(api, first) == "en_attente_de_reponse"


def test_confirming_one_cancels_the_others_and_says_so(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100004")
    complete(api, dossier_id, gw["MARTIN"])
    units = [api.unite_id(c) for c in ("2101", "2102", "2103")]
    post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi", {"unite_ids": [str(u) for u in units]})
    d1, d2, d3 = (demande_to(api, dossier_id, c) for c in ("2101", "2102", "2103"))
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{d1}/refuser", {"motif": "Complet"}))
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{d2}/accorder", {"date_debut": "2026-03-10"}))
    api.ok(api.post(gw["DURAND"], f"/api/v1/demandes/{d3}/accepter", {"date_admission": "2026-03-06"}))
    page = text(get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi"))
    assert "Motif du refus : Complet" in row(page, d1)
    assert "admission vers le 10/03/2026" in row(page, d2)
    assert "Date d'admission proposée : 06/03/2026" in row(page, d3) and "Confirmer cette unité" in row(page, d3)
    # confirming the accord de principe is refused, re-rendered next to it
    r = post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{d2}/confirmer")
    assert r.status_code == 409 and "impossible : la demande est « Accord de principe »" in row(text(r), d2)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{d3}/confirmer"))
    assert "Demande confirmée auprès de « SMR gériatrique ». 1 autre demande annulée." in page
    assert "Confirmée" in row(page, d3)
    assert "Annulée" in row(page, d2) and "Confirmée dans une autre structure" in row(page, d2)
    assert "Refusée" in row(page, d1)  # a refusal is not an active demande


def test_relance_allowed_after_72_hours_only(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100001")
    accord = demande_to(api, dossier_id, "2101")
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"],
                                          f"/dossiers/{dossier_id}/demandes/{accord}/relancer_receveur"))
    assert "Relance envoyée à « SMR polyvalent »." in page
    line = row(page, accord)
    assert "Relancer l'unité" not in line
    expected = (api.clock.now() + dt.timedelta(hours=72)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert f"Relance de l'unité possible à partir du {expected:%d/%m/%Y %H:%M}" in line
    r = post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{accord}/relancer_receveur")
    assert r.status_code == 422 and "La relance n'est possible que 72 h" in row(text(r), accord)
    api.clock.advance(hours=73)
    assert "Relancer l'unité" in row(text(get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi")), accord)


def test_answer_to_a_question_and_cancel_all(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100005")  # anticipée, sent to HAD, which asked a question
    had = demande_to(api, dossier_id, "3101")
    page = text(get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi"))
    assert "Question de l'unité : « Le patient a-t-il une voie veineuse centrale ? »" in row(page, had)
    r = post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{had}/repondre_precision", {"reponse": ""})
    assert r.status_code == 422 and "La réponse est obligatoire." in row(text(r), had)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{had}/repondre_precision",
                                          {"reponse": "Oui, une PICC line posée le 27/02."}))
    assert "Réponse envoyée" in page and "Votre réponse : « Oui, une PICC line posée le 27/02. »" in row(page, had)
    assert statut(api, had) == "en_attente_de_reponse"
    # an anticipée dossier is sent although incomplete
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi",
                                          {"unite_ids": [str(api.unite_id("2101"))]}))
    assert "Dossier envoyé à 1 unité." in page
    r = post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/annulation", {"motif": ""})
    assert r.status_code == 422 and 'id="err-toutes"' in text(r)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/annulation",
                                          {"motif": "Patient transféré en réanimation"}))
    assert "2 demandes annulées." in page
    assert statut(api, had) == "annulee" and statut(api, demande_to(api, dossier_id, "2101")) == "annulee"


def test_refusals_for_another_dossier_unknown_action_and_other_etablissement(api: Any, gw: dict[str, Any]) -> None:
    lefevre, nguyen = dossier_of(api, "100001"), dossier_of(api, "100002")
    other = demande_to(api, nguyen, "2102")
    r = post(api, gw["MARTIN"], f"/dossiers/{lefevre}/demandes/{other}/annuler", {"motif": "x"})
    assert r.status_code == 404 and statut(api, other) == "acceptee"
    r = post(api, gw["MARTIN"], f"/dossiers/{lefevre}/demandes/{demande_to(api, lefevre, '2101')}/accorder")
    assert r.status_code == 404
    assert get(api, gw["HAD_RECEVEUR"], f"/dossiers/{lefevre}/envoi").status_code == 403
    r = post(api, gw["DURAND"], f"/dossiers/{lefevre}/annulation", {"motif": "intrusion"})
    assert r.status_code == 403


def test_dossier_actions_retour_domicile_transfer_cancel_reactivate(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100001")
    base = f"/dossiers/{dossier_id}"
    r = post(api, gw["MARTIN"], f"{base}/retour-domicile", {"date": "pas une date"})
    assert r.status_code == 422 and 'id="err-retour"' in text(r) and 'value="pas une date"' in text(r)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"{base}/retour-domicile", {"date": "2026-03-05"}))
    assert "Date de retour à domicile avant SSR enregistrée." in page and "le 05/03/2026" in page
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"{base}/retour-domicile", {"retirer": "1"}))
    assert "retirée" in page
    r = post(api, gw["MARTIN"], f"{base}/transfert", {"unite_id": ""})
    assert r.status_code == 422 and "Choisissez l'unité" in text(r)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"{base}/transfert",
                                          {"unite_id": str(api.unite_id("1103"))}))
    assert "Dossier transféré vers l'unité « Gériatrie aiguë »." in page
    r = post(api, gw["MARTIN"], f"{base}/annulation", {"motif": ""})
    assert r.status_code == 422 and "Le motif d'annulation est obligatoire." in text(r)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"{base}/annulation", {"motif": "Décès"}))
    assert "Dossier annulé" in page and "Réactiver le dossier" in page
    assert statut(api, demande_to(api, dossier_id, "2101")) == "annulee"
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"{base}/reactivation"))
    assert "Dossier réactivé." in page
    r = post(api, gw["MARTIN"], f"{base}/relance-auto")
    assert r.status_code == 409 and "Ce dossier n'a pas de relance en cours." in text(r)


def test_transfer_out_of_the_users_units_goes_to_the_dashboard(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100001")  # UF 1101; Dr Martin does not work in 1102
    r = post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/transfert", {"unite_id": str(api.unite_id("1102"))})
    assert r.status_code == 303 and r.headers["location"] == "/tableau-de-bord"


def test_expired_reactivation_and_automatic_relance(api: Any, gw: dict[str, Any]) -> None:
    perrin = dossier_of(api, "100007")  # cancelled 5 days ago
    page = text(get(api, gw["MARTIN"], f"/dossiers/{perrin}/envoi"))
    assert "il peut être réactivé jusqu'au" in page
    api.clock.advance(days=11)
    page = text(get(api, gw["MARTIN"], f"/dossiers/{perrin}/envoi"))
    assert "Le délai de réactivation de ce dossier annulé est dépassé." in page
    r = post(api, gw["MARTIN"], f"/dossiers/{perrin}/reactivation")
    assert r.status_code == 409 and "Le délai de réactivation est dépassé." in text(r)
    # automatic relance: raised by the sweep, withdrawn from the page
    faure = dossier_of(api, "100009")
    from orientation_core.sweep import sweep

    with api.container.uow() as uow:
        sweep(uow, api.container.env)
    page = text(get(api, gw["MARTIN"], f"/dossiers/{faure}/envoi"))
    assert "a été relancé automatiquement" in page
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{faure}/relance-auto"))
    assert "Relance automatique retirée" in page and "a été relancé automatiquement" not in page


def test_grand_age_dossier_of_a_medecin_liberal(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = dossier_of(api, "100011", "grand_age")  # Dr Moreau's patient, accepted for a temporary stay
    page = text(get(api, gw["MOREAU"], f"/dossiers/{dossier_id}/envoi"))
    temporaire = row(page, demande_to(api, dossier_id, "5102"))
    assert "Hébergement temporaire" in temporaire and "Acceptée" in temporaire
    assert "Confirmer cette unité" in temporaire
    assert '<option value="ehpad"' in page and '<option value="smr"' not in page
    assert 'id="mention"' not in page and "Retour à domicile avant SSR" not in page
    assert "Transférer vers une autre unité" not in page  # no établissement to transfer within
    # his assistant, delegated "demande.envoyer", sends to the USLD
    r = post(api, gw["GARNIER"], f"/dossiers/{dossier_id}/envoi", {"unite_ids": [str(api.unite_id("6101"))]})
    assert "Dossier envoyé à 1 unité." in follow(api, gw["GARNIER"], r)


def test_orientation_change_asks_to_resend_by_hand(api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.dossier import service as dossiers

    dossier_id = dossier_of(api, "100001")
    accord = demande_to(api, dossier_id, "2101")
    with api.container.uow() as uow:
        dossiers.modifier_volet(uow, api.container.env, api.user_id(gw["MARTIN"]), dossier_id, "orientation",
                                {"type_orientation": "usp"})
    page = text(get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/envoi"))
    assert "L'orientation du dossier a changé : renvoyez le dossier à cette unité." in row(page, accord)
    assert "Renvoyer le dossier" in row(page, accord)
    page = follow(api, gw["MARTIN"], post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/demandes/{accord}/renvoyer"))
    assert "Dossier renvoyé à « SMR polyvalent »." in page
    assert "L'orientation du dossier a changé" not in row(page, accord)
    assert statut(api, accord) == "en_attente_de_reponse"

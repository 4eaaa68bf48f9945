"""Receveur pages over the TestClient (both stores): the incoming demandes per unit, the received dossier with its
traced médical opening, and each answer — done (post/redirect/get with a French confirmation), or refused with
the French message next to its field and what was typed kept."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

HTML = {"Accept": "text/html"}


def _demande(api: Any, ipp: str, code_uf: str) -> int:
    """The demande of demo patient ``ipp``'s dossier sent to unit ``code_uf``."""
    from orientation_core.patients.model import TypeIdentifiantPatient

    unite_id = api.unite_id(code_uf)
    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        for dossier in uow.dossiers.for_patient(patient.id):
            for demande in uow.demandes.for_dossier(dossier.id or 0):
                if demande.unite_id == unite_id and demande.id is not None:
                    return demande.id
    raise AssertionError((ipp, code_uf))


def _statut(api: Any, demande_id: int) -> tuple[str, str]:
    with api.container.uow() as uow:
        demande = uow.demandes.get(demande_id)
        return demande.statut.value, demande.motif


def _openings(api: Any, demande_id: int) -> int:
    with api.container.uow() as uow:
        demande = uow.demandes.get(demande_id)
        return sum(1 for e in uow.history.for_dossier(demande.dossier_id)
                   if e.action == "volet_medical.consulter" and e.demande_id == demande_id)


def _get(api: Any, login: str, path: str) -> httpx.Response:
    response: httpx.Response = api.client.get(path, headers=api.as_(login) | HTML, follow_redirects=False)
    return response


def _post(api: Any, login: str, path: str, data: dict[str, str] | None = None) -> httpx.Response:
    response: httpx.Response = api.client.post(path, headers=api.as_(login) | HTML, data=data or {},
                                               follow_redirects=False)
    return response


def _text(response: httpx.Response) -> str:
    """The page as a user reads it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def _rows(response: httpx.Response) -> list[str]:
    body = re.split(r"<tbody[^>]*>", response.text, maxsplit=1)[1].split("</tbody>", 1)[0]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split()) for row in body.split("<tr>")[1:]]


def _done(response: httpx.Response, demande_id: int, action: str) -> None:
    assert response.status_code == 303, (response.status_code, _text(response)[:600])
    assert response.headers["location"] == f"/receveur/demandes/{demande_id}?fait={action}#reponse"


# --- dashboard -------------------------------------------------------------------------------------------------------


def test_dashboard_lists_the_units_demandes_by_status_search_and_unit(api: Any, gw: dict[str, Any]) -> None:
    page = _get(api, gw["DURAND"], "/receveur")
    assert page.status_code == 200, page.text
    rows = _rows(page)
    assert any("NGUYEN" in r and "Acceptée" in r and "Relance possible" in r for r in rows), rows
    assert any("LEFÈVRE" in r and "Accord de principe" in r and "SMR polyvalent" in r for r in rows), rows
    assert any("LEFÈVRE" in r and "Refusée" in r for r in rows), rows
    assert all("Identité provisoire" in r for r in rows)
    assert not any("ROUSSEAU" in r for r in rows)  # sent to the HAD, not to these SMR units

    a_traiter = _rows(_get(api, gw["DURAND"], "/receveur?statut=a_traiter"))
    assert len(a_traiter) == 1 and "DA SILVA" in a_traiter[0] and "En attente de réponse" in a_traiter[0]
    one_status = _get(api, gw["DURAND"], "/receveur?statut=en_attente")  # one status, by name or value
    assert [r for r in _rows(one_status) if "DA SILVA" in r] == _rows(one_status)
    assert "<caption>En attente de réponse" in one_status.text
    refusees = _rows(_get(api, gw["DURAND"], "/receveur?statut=refusees"))
    assert all("Refusée" in r or "Annulée" in r for r in refusees) and refusees
    finalisees = _rows(_get(api, gw["DURAND"], "/receveur?statut=finalisees"))
    assert len(finalisees) == 1 and "DUBOIS" in finalisees[0]

    # the live refresh: the page names its rows' URL, which sends the same rows alone
    assert 'data-refresh="/receveur/lignes?statut=a_traiter"' in _get(api, gw["DURAND"], "/receveur?statut=a_traiter").text
    fragment = _get(api, gw["DURAND"], "/receveur/lignes?statut=a_traiter")
    assert fragment.status_code == 200 and "<html" not in fragment.text and "DA SILVA" in fragment.text
    assert "NGUYEN" not in fragment.text

    found = _rows(_get(api, gw["DURAND"], "/receveur?recherche=nguy"))
    assert len(found) == 1 and "NGUYEN" in found[0]
    unit = api.unite_id("2103")
    geriatrie = _get(api, gw["DURAND"], f"/receveur?unite_id={unit}")
    assert f'<option value="{unit}" selected>' in geriatrie.text
    assert all("SMR gériatrique" in r for r in _rows(geriatrie))

    assert "Aucune demande ne correspond à « zzz »" in _text(_get(api, gw["DURAND"], "/receveur?recherche=zzz"))
    # a unit he does not receive for: refused, in French
    other = _get(api, gw["DURAND"], f"/receveur?unite_id={api.unite_id('3101')}")
    assert other.status_code == 403 and "Vous ne recevez pas les demandes de cette unité" in _text(other)
    # a prescripteur without receiving habilitation is told why the list is empty
    assert "aucune unité" in _text(_get(api, gw["MARTIN"], "/receveur"))


def test_dashboard_pages_and_shows_a_relance_received(api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.demande import service as demandes

    lefevre = _demande(api, "100001", "2101")
    with api.container.uow() as uow:  # the prescripteur relances the accord de principe (5 days old)
        demandes.agir(uow, api.container.env, api.user_id(gw["MARTIN"]), lefevre, "relancer_receveur")
    rows = _rows(_get(api, gw["DURAND"], "/receveur"))
    assert any("LEFÈVRE" in r and "Accord de principe" in r and "Relance reçue" in r for r in rows), rows
    detail = _text(_get(api, gw["DURAND"], f"/receveur/demandes/{lefevre}"))
    assert "Relance du prescripteur reçue le" in detail and "Relance reçue du prescripteur" in detail

    from gateway.ui import receveur

    original = receveur.PAGE_SIZE
    receveur.PAGE_SIZE = 2
    try:
        first = _get(api, gw["DURAND"], "/receveur")
        assert len(_rows(first)) == 2 and "Page suivante" in first.text
        second = _get(api, gw["DURAND"], "/receveur?page=2")
        assert "Page précédente" in second.text and len(_rows(second)) == 2
        assert set(_rows(first)).isdisjoint(_rows(second))
    finally:
        receveur.PAGE_SIZE = original


# --- the received dossier --------------------------------------------------------------------------------------------


def test_medical_receveur_sees_the_medical_volets_and_each_opening_is_traced(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100001", "2101")
    before = _openings(api, demande)
    page = _get(api, gw["DURAND"], f"/receveur/demandes/{demande}")
    assert page.status_code == 200
    text = _text(page)
    assert "LEFÈVRE Jeanne" in text and "Identité provisoire" in text
    assert "Fracture du col du fémur droit" in text and "Apixaban" in text  # médical volet
    assert "Rééducation à la marche" in text  # orientation volet (medical too)
    assert "Appartement, ascenseur" in text  # administratif
    assert "bloc" not in text.lower()  # the internal note stays inside the requesting établissement
    assert _openings(api, demande) == before + 1
    with api.container.uow() as uow:  # the forms start from the current answer: changing it is an edit
        current = uow.demandes.get(demande)
        assert current.date_debut is not None and current.date_fin is not None
    assert re.search(rf'id="accorder-date_debut"[^>]*value="{current.date_debut.isoformat()}"', page.text)
    assert re.search(rf'id="accorder-date_fin"[^>]*value="{current.date_fin.isoformat()}"', page.text)
    assert re.search(rf'id="accepter-date_admission"[^>]*value="{current.date_debut.isoformat()}"', page.text)
    assert "Consultation du volet médical Paul Durand" in text  # the opening is in the demande's history
    _get(api, gw["DURAND"], f"/receveur/demandes/{demande}")
    assert _openings(api, demande) == before + 2


def test_plain_receveur_does_not_see_the_medical_volets_and_is_told_why(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100001", "2101")
    before = _openings(api, demande)
    page = _get(api, gw["PETIT"], f"/receveur/demandes/{demande}")
    assert page.status_code == 200
    text = _text(page)
    assert "Fracture du col" not in text and "Apixaban" not in text and "Rééducation à la marche" not in text
    assert "Les volets médicaux de ce dossier sont confidentiels" in text
    assert "Votre habilitation sur l'unité « SMR polyvalent » ne le permet pas" in text
    assert "Appartement, ascenseur" in text  # the other volets are shown
    assert _openings(api, demande) == before


def test_other_etablissement_and_unknown_action_are_refused(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100001", "2101")
    assert _get(api, gw["HAD_RECEVEUR"], f"/receveur/demandes/{demande}").status_code == 403
    assert _post(api, gw["HAD_RECEVEUR"], f"/receveur/demandes/{demande}/refuser",
                 {"motif_choix": "Autre motif", "motif_precision": "x"}).status_code == 403
    assert _post(api, gw["DURAND"], f"/receveur/demandes/{demande}/confirmer").status_code == 404
    assert _statut(api, demande) == ("accord_de_principe", "")


# --- answers ---------------------------------------------------------------------------------------------------------


def test_question_then_accord_with_a_checked_range_then_acceptance(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100006", "2102")  # DA SILVA, en attente de réponse
    url = f"/receveur/demandes/{demande}"
    empty = _post(api, gw["PETIT"], f"{url}/demander_precision", {"question": "  "})
    assert empty.status_code == 422
    assert 'id="demander_precision-question-erreur" class="erreur">La question est obligatoire.' in empty.text

    _done(_post(api, gw["PETIT"], f"{url}/demander_precision",
                {"question": "La patiente peut-elle se lever seule ?"}), demande, "demander_precision")
    shown = _text(_get(api, gw["PETIT"], f"{url}?fait=demander_precision"))
    assert "Votre question a été envoyée au prescripteur." in shown
    assert "Votre question La patiente peut-elle se lever seule ?" in shown
    assert "Question posée au prescripteur" in shown
    assert _statut(api, demande)[0] == "demande_de_precision"

    reversed_range = _post(api, gw["PETIT"], f"{url}/accorder", {"date_debut": "2026-03-20", "date_fin": "2026-03-10"})
    assert reversed_range.status_code == 422
    assert 'id="accorder-date_fin-erreur" class="erreur">La fin de la fourchette précède son début.' in \
        reversed_range.text
    assert 'value="2026-03-20"' in reversed_range.text and 'value="2026-03-10"' in reversed_range.text
    assert re.search(r'id="accorder-date_fin"[^>]*aria-describedby="accorder-date_fin-aide accorder-date_fin-erreur"'
                     r'[^>]*aria-invalid="true"', reversed_range.text, re.S)
    no_start = _post(api, gw["PETIT"], f"{url}/accorder", {"date_fin": "2026-03-10"})
    assert no_start.status_code == 422 and "doit porter une fourchette de dates" in no_start.text
    garbage = _post(api, gw["PETIT"], f"{url}/accorder", {"date_debut": "32/13/2026"})
    assert garbage.status_code == 422 and "Date invalide" in garbage.text and 'value="32/13/2026"' in garbage.text
    assert _statut(api, demande)[0] == "demande_de_precision"

    _done(_post(api, gw["PETIT"], f"{url}/accorder", {"date_debut": "2026-03-10", "date_fin": "2026-03-20"}),
          demande, "accorder")
    shown = _text(_get(api, gw["PETIT"], f"{url}?fait=accorder"))
    assert "Votre accord de principe a été enregistré" in shown
    assert "admission envisagée du 10/03/2026 au 20/03/2026" in shown
    assert _statut(api, demande)[0] == "accord_de_principe"

    no_date = _post(api, gw["PETIT"], f"{url}/accepter", {"date_admission": ""})
    assert no_date.status_code == 422
    assert 'id="accepter-date_admission-erreur" class="erreur">Une acceptation doit proposer une date' in no_date.text
    _done(_post(api, gw["PETIT"], f"{url}/accepter", {"date_admission": "12/03/2026"}), demande, "accepter")
    shown = _text(_get(api, gw["PETIT"], url))
    assert "Date d'admission proposée 12/03/2026" in shown and "Acceptée" in shown
    # not 72 h yet: the relance is announced, not offered, and refused if forced
    assert "La relance du prescripteur sera possible à partir du 05/03/2026 10:00" in shown
    early = _post(api, gw["PETIT"], f"{url}/relancer_prescripteur")
    assert early.status_code == 422 and "La relance n'est possible que 72 h après" in _text(early)


def test_refusal_needs_a_motive_from_the_list_or_a_precision(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100006", "2102")
    url = f"/receveur/demandes/{demande}/refuser"
    none = _post(api, gw["DURAND"], url, {"motif_precision": "gardé"})
    assert none.status_code == 422
    assert 'id="refuser-motif_choix-erreur" class="erreur">Le motif du refus est obligatoire.' in none.text
    assert ">gardé</textarea>" in none.text
    other = _post(api, gw["DURAND"], url, {"motif_choix": "Autre motif"})
    assert other.status_code == 422 and "Précisez le motif du refus." in other.text
    assert '<option value="Autre motif" selected>' in other.text
    _done(_post(api, gw["DURAND"], url, {"motif_choix": "Pas de place disponible dans le délai demandé",
                                         "motif_precision": "Réessayer dans un mois"}), demande, "refuser")
    assert _statut(api, demande) == ("refusee", "Pas de place disponible dans le délai demandé — Réessayer dans un mois")
    shown = _text(_get(api, gw["DURAND"], f"/receveur/demandes/{demande}?fait=refuser"))
    assert "Votre refus a été enregistré" in shown
    assert "Motif : Pas de place disponible dans le délai demandé — Réessayer dans un mois" in shown


def test_relance_after_72_hours_then_finalisation_after_confirmation(api: Any, gw: dict[str, Any]) -> None:
    demande = _demande(api, "100002", "2102")  # NGUYEN: accepted 4 days ago, not confirmed
    url = f"/receveur/demandes/{demande}"
    page = _get(api, gw["PETIT"], url)
    assert "Relancer le prescripteur" in page.text and "Finaliser l'admission" not in _text(page)
    too_soon = _post(api, gw["PETIT"], f"{url}/finaliser_admission")
    assert too_soon.status_code == 409 and "impossible : la demande est « Acceptée »" in _text(too_soon)

    _done(_post(api, gw["PETIT"], f"{url}/relancer_prescripteur"), demande, "relancer_prescripteur")
    shown = _text(_get(api, gw["PETIT"], f"{url}?fait=relancer_prescripteur"))
    assert "Le prescripteur a été relancé." in shown and "Relance envoyée au prescripteur" in shown
    assert "La relance du prescripteur sera possible à partir du" in shown  # one relance per 72 h

    api.ok(api.post(gw["BERNARD"], f"/api/v1/demandes/{demande}/confirmer", json={}))
    page = _get(api, gw["PETIT"], url)
    text = _text(page)
    assert "Confirmée" in text and "Finaliser l'admission" in text and "Refuser la demande" not in text
    _done(_post(api, gw["PETIT"], f"{url}/finaliser_admission"), demande, "finaliser_admission")
    assert _statut(api, demande)[0] == "admission_finalisee"
    shown = _text(_get(api, gw["PETIT"], f"{url}?fait=finaliser_admission"))
    assert "L'admission du patient est finalisée." in shown
    assert "Aucune réponse n'est attendue de votre unité" in shown


def test_received_dossier_lists_its_attachments_with_a_preview(api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.dossier import service as dossiers

    demande = _demande(api, "100001", "2101")
    with api.container.uow() as uow:
        dossier_id = uow.demandes.get(demande).dossier_id
        piece = dossiers.ajouter_piece_jointe(uow, api.container.env, api.user_id(gw["MARTIN"]), dossier_id,
                                              "compte-rendu.txt", "text/plain", 0, "Compte rendu",
                                              contenu=b"Compte rendu operatoire")
        uow.flush()
        piece_id = piece.id
    page = _get(api, gw["PETIT"], f"/receveur/demandes/{demande}")
    assert "compte-rendu.txt" in _text(page) and "Compte rendu" in _text(page)
    link = f"/dossiers/{dossier_id}/pieces-jointes/{piece_id}"
    assert f'href="{link}"' in page.text
    opened = _get(api, gw["PETIT"], link)
    assert opened.status_code == 200 and opened.content == b"Compte rendu operatoire"


def test_ehpad_medecin_coordonnateur_reads_the_grand_age_medical_volet_the_receveur_does_not(
        api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.dossier.volets import Module
    from orientation_core.patients.model import TypeIdentifiantPatient

    ehpad = api.unite_id("5101")
    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100010", "690001011")
        assert patient is not None and patient.id is not None
        grand_age = next(d for d in uow.dossiers.for_patient(patient.id) if d.module is Module.GRAND_AGE)
        demande = next(d.id for d in uow.demandes.for_dossier(grand_age.id or 0) if d.unite_id == ehpad)
    coordonnateur = _text(_get(api, "810100000041", f"/receveur/demandes/{demande}"))
    assert "Volet médical" in coordonnateur and "Désorientation, chutes" in coordonnateur
    assert "Votre question Le patient déambule-t-il la nuit ?" in coordonnateur
    receveur = _get(api, "ehpad.receveur", f"/receveur/demandes/{demande}")
    assert receveur.status_code == 200
    assert "Désorientation, chutes" not in _text(receveur) and "sont confidentiels" in _text(receveur)
    assert "Maintien à domicile impossible" in _text(receveur)  # the volet administratif

"""The dossier page through the HTTP client (both stores): patient header and identity status, INS actions for
trained users only, volets with completion and missing fields, DPI provenance badges, the volet form (errors next to
the field, typed values kept, medical volets refused to non-medical users, orientation change flagged), attachments
(type and size limits, preview, rights), internal note, print view and history."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import pytest

HTML = {"Accept": "text/html"}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _dossier(api: Any, ipp: str = "100001", module: str = "sanitaire") -> int:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == module)
        found: int | None = dossier.id
        assert found is not None
        return found


def _volet(api: Any, dossier_id: int, name: str) -> dict[str, Any]:
    with api.container.uow() as uow:
        return dict(uow.dossiers.get(dossier_id).volets.get(name, {}))


def _get(api: Any, login: str, path: str, **kw: Any) -> Any:
    return api.client.get(path, headers=api.as_(login) | HTML, follow_redirects=False, **kw)


def _post(api: Any, login: str, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return api.client.post(path, data=data or {}, headers=api.as_(login) | HTML, follow_redirects=False, **kw)


def _text(html: str) -> str:
    """The page's visible words (tags dropped, spaces collapsed) for plain assertions."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _section(html: str, volet: str) -> str:
    start = html.index(f'id="section-{volet}"')
    end = html.find("</section>", start)
    return _text(html[start:end])


# --- the page ------------------------------------------------------------------------------------------------------


def test_page_shows_patient_identity_status_volets_and_links(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}")
    assert r.status_code == 200, r.text
    text = _text(r.text)
    assert "Nom de naissance Lefèvre" in text and "Date de naissance 02/03/1938" in text and "Sexe Féminin" in text
    assert "Statut de l'identité Identité provisoire" in text
    assert "Orientation ✓ Volet complet" in text and "Accord du patient Oui" in text
    assert f'href="/dossiers/{dossier_id}/envoi"' in r.text and "Envoyer / suivre les demandes" in text
    assert "Créer le dossier Grand Âge lié" in text
    assert "Refusée" in text and "Accord de principe" in text  # the demandes summary
    # Dr Martin is INS-trained: the three INS actions
    assert "Récupérer l'INS" in text and "Valider l'identité" in text
    # M. Bernard is not: no INS button, and no "Modifier" on the medical volets
    r = _get(api, gw["BERNARD"], f"/dossiers/{dossier_id}")
    assert r.status_code == 200
    assert "Récupérer l'INS" not in r.text and "Valider l'identité" not in r.text
    assert f'href="/dossiers/{dossier_id}/volets/medical"' not in r.text
    assert f'href="/dossiers/{dossier_id}/volets/soins_projet"' in r.text


def test_dpi_values_carry_a_badge_with_their_source_and_a_differing_value_shows_the_dpi_one(
        api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    source = {"source": "hl7v2", "message_id": "MSG0001", "emplacement": "PID-5[1].1", "chemin": "patient.nom",
              "recu_le": "2026-03-01T09:00:00+00:00"}
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(dossier_id)
        dossier.provenance = {"administratif_social": {
            "nom_naissance": {**source, "valeur_dpi": "Lefèvre", "modifie": False, "differe": False},
            "telephone": {**source, "emplacement": "PID-13", "valeur_dpi": "0478999999", "modifie": True,
                          "differe": True}}}
    r = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}")
    admin = _section(r.text, "administratif_social")
    assert "Lefèvre DPI — source : DPI (HL7 v2), message MSG0001, PID-5[1].1, reçu le 01/03/2026 10:00" in admin
    assert ("0478000001 Diffère du DPI — valeur du DPI : 0478999999 (DPI (HL7 v2), message MSG0001, PID-13"
            in admin)
    assert "La valeur saisie est conservée" in admin
    form = _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/administratif_social").text)
    assert "Le DPI indique : 0478999999" in form and "Valeur reçue du DPI (HL7 v2)" in form


# --- the volet form ------------------------------------------------------------------------------------------------


def test_volet_form_has_a_widget_per_field(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    html = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/orientation").text
    assert '<select id="type_orientation" name="type_orientation"' in html
    assert '<option value="smr" selected>Soins médicaux et de réadaptation</option>' in html
    assert 'type="radio" name="accord_patient" id="accord_patient" value="oui" checked' in html
    assert '<label for="objectif_prise_en_charge">' in html
    html = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/administratif_social").text
    assert '<input type="date" id="date_naissance" name="date_naissance" value="1938-03-02"' in html
    assert '<select id="sexe" name="sexe"' in html
    assert _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/inconnu").status_code == 404


def test_refused_fields_are_shown_next_to_the_field_and_every_typed_value_is_kept(
        api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    before = _volet(api, dossier_id, "medical")
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/medical", {
        "pathologie_actuelle": "Fracture du col, reprise chirurgicale", "poids_kg": "cinquante",
        "taille_cm": "158", "date_intervention": "31/02/2026", "allergies": "Iode"})
    assert r.status_code == 422
    html = r.text
    assert 'id="erreur-poids_kg">Saisissez un nombre (par exemple 72 ou 72,5).' in html
    assert 'aria-describedby="erreur-poids_kg"' in html and 'aria-invalid="true"' in html
    assert 'id="erreur-date_intervention">Date invalide : saisissez-la au format jj/mm/aaaa.' in html
    assert "corrigez les 2 champs signalés" in html
    assert 'value="cinquante"' in html and "Fracture du col, reprise chirurgicale</textarea>" in html
    assert "Iode</textarea>" in html
    assert _volet(api, dossier_id, "medical") == before  # nothing saved


def test_completing_a_volet_turns_it_complete_and_is_in_the_history(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/volets/soins_projet", {"projet": ""})
    assert r.status_code == 303
    page = _get(api, gw["BERNARD"], f"/dossiers/{dossier_id}?fait=volet").text
    soins = _section(page, "soins_projet")
    assert "Volet en cours" in soins and "Champs requis à compléter : Projet" in soins
    assert f'href="/dossiers/{dossier_id}/volets/soins_projet#champ-projet"' in page
    assert "Volet enregistré." in page
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/volets/soins_projet",
              {"projet": "Retour à domicile avec SSIAD", "reeducation": "Kinésithérapie\nErgothérapie"})
    assert r.status_code == 303 and r.headers["location"] == f"/dossiers/{dossier_id}?fait=volet#section-soins_projet"
    soins = _section(_get(api, gw["BERNARD"], f"/dossiers/{dossier_id}").text, "soins_projet")
    assert "✓ Volet complet" in soins and "Projet Retour à domicile avec SSIAD" in soins
    assert _volet(api, dossier_id, "soins_projet")["projet"] == "Retour à domicile avec SSIAD"
    history = _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/historique").text)
    assert "Volet Soins et projet modifié" in history and "Sophie Bernard (prescripteur)" in history
    assert "Projet : Retour à domicile avec SSIAD" in history and "Projet : (vide)" in history


def test_a_field_left_as_shown_is_not_rewritten(api: Any, gw: dict[str, Any]) -> None:
    """Posting the form back unchanged changes nothing (no history event, no provenance marked edited)."""
    dossier_id = _dossier(api)
    html = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/medical").text
    shown = dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))
    shown |= dict(re.findall(r'name="(\w+)" rows="\d+"[^>]*>([^<]*)</textarea>', html))
    shown = {k: unescape(v) for k, v in shown.items()}
    shown.pop("csrf_token", None)
    with api.container.uow() as uow:
        count = len(uow.history.for_dossier(dossier_id))
    assert _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/medical", shown).status_code == 303
    with api.container.uow() as uow:
        assert len(uow.history.for_dossier(dossier_id)) == count


def test_medical_volet_is_refused_to_a_non_medical_prescripteur_with_the_text_kept(
        api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    form = _text(_get(api, gw["BERNARD"], f"/dossiers/{dossier_id}/volets/medical").text)
    assert "ne peut être modifié que par un professionnel ayant une habilitation médicale" in form
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/volets/medical", {"allergies": "Pénicilline"})
    assert r.status_code == 403
    assert 'role="alert"' in r.text and "Pénicilline</textarea>" in r.text
    assert _volet(api, dossier_id, "medical")["allergies"] == "Aucune connue"


def test_changing_the_orientation_flags_the_sent_demandes_to_resend(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/volets/orientation", {"type_orientation": "had"})
    assert r.status_code == 303
    text = _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}").text)
    assert "Le type d'orientation a changé : les demandes déjà envoyées doivent être renvoyées" in text
    assert "à renvoyer" in text


# --- internal note -------------------------------------------------------------------------------------------------


def test_internal_note_is_saved_and_a_too_long_one_is_kept_with_the_message(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/bloc-note", {"bloc_note": "Famille à rappeler lundi"})
    assert r.status_code == 303
    page = _get(api, gw["BERNARD"], r.headers["location"].split("#")[0]).text
    assert "Note interne enregistrée." in page and ">Famille à rappeler lundi</textarea>" in page
    long = "x" * 4001
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/bloc-note", {"bloc_note": long})
    assert r.status_code == 422
    assert "Note trop longue : 4001 caractères (4000 au plus)." in r.text and f">{long}</textarea>" in r.text
    with api.container.uow() as uow:
        assert uow.dossiers.get(dossier_id).bloc_note == "Famille à rappeler lundi"


# --- attachments ---------------------------------------------------------------------------------------------------


def test_pdf_upload_is_listed_and_previewed_inline(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/pieces-jointes", {"categorie": "compte_rendu"},
              files={"fichier": ("compte rendu opératoire.pdf", PDF, "application/pdf")})
    assert r.status_code == 303, r.text
    page = _get(api, gw["BERNARD"], f"/dossiers/{dossier_id}").text
    text = _text(page)
    assert "compte rendu opératoire.pdf Compte rendu PDF" in text and f"{len(PDF)} o" in text
    href = re.search(rf'href="(/dossiers/{dossier_id}/pieces-jointes/\d+)"', page)
    assert href is not None
    preview = _get(api, gw["MARTIN"], href[1])
    assert preview.status_code == 200 and preview.content == PDF
    assert preview.headers["content-type"] == "application/pdf"
    assert preview.headers["content-disposition"].startswith('inline; filename="compte rendu op_ratoire.pdf"')
    assert "filename*=UTF-8''compte%20rendu%20op%C3%A9ratoire.pdf" in preview.headers["content-disposition"]
    assert preview.headers["x-content-type-options"] == "nosniff"
    download = _get(api, gw["MARTIN"], href[1] + "?telechargement=true")
    assert download.headers["content-disposition"].startswith("attachment;")
    # rights: like the dossier (another établissement's user is refused, a receveur of one of its demandes reads
    # it); a piece of another dossier is not found
    assert _get(api, gw["HAD_RECEVEUR"], href[1]).status_code == 403
    assert _get(api, gw["DURAND"], href[1]).content == PDF
    other = _dossier(api, "100002")
    piece_id = href[1].rsplit("/", 1)[1]
    assert _get(api, gw["BERNARD"], f"/dossiers/{other}/pieces-jointes/{piece_id}").status_code == 404


@pytest.mark.parametrize(("name", "content", "mime", "status", "message"), [
    ("archive.zip", b"PK\x03\x04", "application/zip",
     422, "Type de fichier non accepté : application/zip (PDF, JPEG, PNG ou texte)."),
    ("faux.pdf", b"MZ\x90\x00", "application/pdf", 422, "Le contenu du fichier ne correspond pas à son type."),
    ("vide.txt", b"", "text/plain", 422, "Le fichier est vide."),
    ("gros.txt", b"a" * (10 * 1024 * 1024 + 1), "text/plain", 413, "Fichier trop volumineux : 10 Mo au plus."),
])
def test_upload_limits_give_a_french_message_next_to_the_file_input(
        api: Any, gw: dict[str, Any], name: str, content: bytes, mime: str, status: int, message: str) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/pieces-jointes", {"categorie": "imagerie"},
              files={"fichier": (name, content, mime)})
    assert r.status_code == status
    assert f'id="fichier-erreur">{message} Choisissez à nouveau le fichier.' in r.text
    assert '<option value="imagerie" selected>' in r.text  # the category typed is kept
    with api.container.uow() as uow:
        assert uow.dossiers.pieces_jointes(dossier_id) == []


def test_upload_without_a_file_is_refused(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/pieces-jointes", {"categorie": ""})
    assert r.status_code == 422 and "Choisissez un fichier à joindre." in r.text


# --- identity ------------------------------------------------------------------------------------------------------


def test_ins_actions_for_a_trained_user(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/identite/validation", {"piece_identite": ""})
    assert r.status_code == 422 and "Choisissez le type de pièce d'identité présentée." in _text(r.text)
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/identite/validation", {"piece_identite": "CN"})
    assert r.status_code == 303
    text = _text(_get(api, gw["MARTIN"], r.headers["location"].split("#")[0]).text)
    assert "Identité validée sur pièce d'identité." in text and "Statut de l'identité Identité validée" in text
    history = _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/historique").text)
    assert "Claire Martin (prescripteur) Identité validée sur pièce d'identité" in history
    # no INSi configured here: the look-up is queued and the user is told so
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/identite/recuperer-ins")
    assert r.status_code == 303
    text = _text(_get(api, gw["MARTIN"], r.headers["location"].split("#")[0]).text)
    assert "Le service INSi ne répond pas" in text
    # no INS retrieved: "Vérifier l'INS" is not offered, and a forced call gets the refusal in French on the page
    assert "Vérifier l'INS" not in _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}").text)
    r = _post(api, gw["MARTIN"], f"/dossiers/{dossier_id}/identite/verifier-ins")
    assert r.status_code == 409 and "Action impossible sur une identité validée" in _text(r.text)


def test_ins_actions_are_refused_to_an_untrained_user(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _post(api, gw["BERNARD"], f"/dossiers/{dossier_id}/identite/validation", {"piece_identite": "PA"})
    assert r.status_code == 403 and 'role="alert"' in r.text
    with api.container.uow() as uow:
        assert uow.patients.get(uow.dossiers.get(dossier_id).patient_id).statut_identite.value == "provisoire"


# --- print view, history, rights -----------------------------------------------------------------------------------


def test_print_view_has_every_volet_and_no_navigation(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    r = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/impression")
    assert r.status_code == 200
    assert "Navigation principale" not in r.text and "Modifier" not in r.text
    text = _text(r.text)
    for label in ("Orientation", "Médical", "Soins et projet", "Administratif et social", "Pièces jointes"):
        assert f"{label} ✓ Volet complet" in text
    assert "Pathologie actuelle Fracture du col du fémur droit" in text


def test_other_etablissement_users_are_refused_every_dossier_page(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    for path in ("", "/volets/medical", "/impression", "/historique"):
        assert _get(api, gw["HAD_RECEVEUR"], f"/dossiers/{dossier_id}{path}").status_code == 403, path
    r = _post(api, gw["HAD_RECEVEUR"], f"/dossiers/{dossier_id}/bloc-note", {"bloc_note": "intrus"})
    assert r.status_code == 403


def test_history_names_the_unit_of_each_demande_event_and_its_status_in_french(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier(api)
    text = _text(_get(api, gw["MARTIN"], f"/dossiers/{dossier_id}/historique").text)
    assert "Demande refusée — SMR locomoteur" in text and "Statut : Refusée" in text
    assert "Motif : Pas de place avant six semaines" in text
    assert "Question : (vide)" not in text  # a demande event lists only what changed
    assert "Accord de principe — SMR polyvalent" in text
    assert "Unité sélectionnée" in text and "Unité : SMR polyvalent" in text
    assert "Création du dossier" in text and "Unité : Médecine" in text


def test_linked_grand_age_dossier_is_shown_both_ways_with_the_aggir_link(api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.dossier import service as dossiers

    dossier_id = _dossier(api)
    with api.container.uow() as uow:
        linked = dossiers.creer_grand_age_lie(uow, api.container.env, api.user_id(gw["MARTIN"]), dossier_id)
        linked_id, numero = linked.id, linked.numero
    assert linked_id is not None
    page = _get(api, gw["MARTIN"], f"/dossiers/{dossier_id}").text
    assert f'href="/dossiers/{linked_id}">Dossier Grand Âge lié ({numero})' in page
    assert "Créer le dossier Grand Âge lié" not in page
    page = _get(api, gw["MARTIN"], f"/dossiers/{linked_id}").text
    assert f'href="/dossiers/{dossier_id}">Dossier Sanitaire lié' in page
    assert f'<a href="/dossiers/{linked_id}/aggir">Grille AGGIR</a>' in page
    assert "Volet administratif" in page and "Volet médical" in page
    form = _get(api, gw["MARTIN"], f"/dossiers/{linked_id}/volets/administratif").text
    assert '<select id="type_accueil" name="type_accueil"' in form
    assert 'type="radio" name="signature" id="signature" value="oui"' in form
    form = _get(api, gw["MARTIN"], f"/dossiers/{linked_id}/volets/medical").text
    assert f'<a href="/dossiers/{linked_id}/aggir">Grille AGGIR</a>' in form
    r = _post(api, gw["MARTIN"], f"/dossiers/{linked_id}/volets/medical", {"gir": "7"})
    assert r.status_code == 422 and 'id="erreur-gir">Saisissez une valeur entre 1 et 6.' in r.text
    r = _post(api, gw["MARTIN"], f"/dossiers/{linked_id}/volets/medical",
              {"gir": "3", "contexte": "Chutes à répétition"})
    assert r.status_code == 303
    assert _volet(api, linked_id, "medical") == {"gir": 3, "contexte": "Chutes à répétition"}


def test_grand_age_dossier_of_a_liberal_doctor_renders(api: Any, gw: dict[str, Any]) -> None:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, "100011", "690001011")
        assert patient is not None and patient.id is not None
        dossier_id = uow.dossiers.for_patient(patient.id)[0].id
    r = _get(api, gw["MOREAU"], f"/dossiers/{dossier_id}")
    assert r.status_code == 200 and "Grand Âge" in r.text and "Créer le dossier Grand Âge lié" not in r.text

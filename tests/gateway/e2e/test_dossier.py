"""The dossier page in Chromium: land on the dossier, see a volet go from "en cours" to "complet" by editing it
(with a refused value shown next to its field and the typed text kept), upload a PDF and preview it, write the
internal note, validate the identity as an INS-trained user, read the DPI badge's source on focus, open the print
view and the history. Every page is screenshotted and checked by axe-core."""

from __future__ import annotations

import re
from typing import Any

PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")


def _dossier_id(live: Any, ipp: str = "100001") -> int:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with live.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == "sanitaire")
        found: int | None = dossier.id
        assert found is not None
        return found


def _volet_section(page: Any, label: str) -> Any:
    return page.locator("section.volet").filter(has=page.get_by_role("heading", name=label, exact=True))


def test_dossier_page_edit_upload_note_identity_print_history(page: Any, live: Any, gw: dict[str, Any],
                                                              ui: dict[str, Any]) -> None:
    dossier_id = _dossier_id(live)
    with live.container.uow() as uow:  # the birth name came from the DPI; the phone number was edited since
        dossier = uow.dossiers.get(dossier_id)
        source = {"source": "hl7v2", "message_id": "MSG0042", "emplacement": "PID-5[1].1",
                  "chemin": "patient.nom_naissance", "recu_le": "2026-03-01T08:00:00+00:00"}
        dossier.provenance = {"administratif_social": {
            "nom_naissance": {**source, "valeur_dpi": "Lefèvre", "modifie": False, "differe": False},
            "telephone": {**source, "emplacement": "PID-13", "valeur_dpi": "0478999999", "modifie": True,
                          "differe": True}}}

    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{dossier_id}")
    assert page.url.endswith(f"/dossiers/{dossier_id}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("LEFÈVRE Jeanne")
    assert page.locator("#statut-identite").inner_text() == "Identité provisoire"
    soins = _volet_section(page, "Soins et projet")
    assert "Volet complet" in soins.locator(".badge").first.inner_text()

    # the DPI badge tells its source on focus; the differing value shows the DPI's
    badge = _volet_section(page, "Administratif et social").locator(".provenance", has_text="DPI").first
    badge.focus()
    bulle = badge.locator(".bulle")
    assert bulle.is_visible() and "message MSG0042" in bulle.inner_text()
    assert "valeur du DPI : 0478999999" in page.locator(".provenance.differe").inner_text()
    ui["shoot"](page, "dossier-page")
    ui["assert_accessible"](page, "dossier page")

    # empty the projet: the volet is "en cours" and the missing field is listed with a link to it
    soins.get_by_role("link", name="Modifier le volet Soins et projet").click()
    page.get_by_label("Projet", exact=False).first.fill("")
    page.get_by_role("button", name="Enregistrer le volet").click()
    assert page.get_by_role("status").inner_text() == "Volet enregistré."
    soins = _volet_section(page, "Soins et projet")
    assert "Volet en cours" in soins.locator(".badge").first.inner_text()
    soins.locator(".manquants").get_by_role("link", name="Projet").click()
    assert page.url.endswith("/volets/soins_projet#champ-projet")
    ui["shoot"](page, "dossier-volet-formulaire")
    ui["assert_accessible"](page, "volet form")
    page.locator("#projet").fill("Retour à domicile avec SSIAD")
    page.get_by_role("button", name="Enregistrer le volet").click()
    soins = _volet_section(page, "Soins et projet")
    assert "Volet complet" in soins.locator(".badge").first.inner_text()
    assert "Retour à domicile avec SSIAD" in soins.inner_text()

    # a refused value: the message next to the field, the typed text kept, nothing saved
    page.goto(f"/dossiers/{dossier_id}/volets/medical")
    page.locator("#poids_kg").fill("cinquante-huit")
    page.locator("#allergies").fill("Iode")
    page.get_by_role("button", name="Enregistrer le volet").click()
    assert page.locator("#erreur-poids_kg").inner_text() == "Saisissez un nombre (par exemple 72 ou 72,5)."
    assert page.locator("#poids_kg").input_value() == "cinquante-huit"
    assert page.locator("#allergies").input_value() == "Iode"
    assert page.locator("#poids_kg").get_attribute("aria-describedby") == "erreur-poids_kg"
    ui["shoot"](page, "dossier-volet-erreur")
    ui["assert_accessible"](page, "volet form with an error")
    page.locator("#poids_kg").fill("58,5")
    page.get_by_role("button", name="Enregistrer le volet").click()
    assert "Poids (kg) 58,5" in " ".join(_volet_section(page, "Médical").inner_text().split())

    # upload a PDF; it is listed with its type and size, and previews inline
    page.locator("#fichier").set_input_files(files=[{"name": "compte-rendu.pdf", "mimeType": "application/pdf",
                                                      "buffer": PDF}])
    page.get_by_label("Catégorie").select_option("compte_rendu")
    page.get_by_role("button", name="Joindre le fichier").click()
    assert page.get_by_role("status").inner_text() == "Pièce jointe ajoutée."
    row = page.locator("#pieces-jointes tbody tr", has_text="compte-rendu.pdf")
    assert "PDF" in row.inner_text() and f"{len(PDF)} o" in row.inner_text()
    href = row.get_by_role("link", name="Aperçu de compte-rendu.pdf").get_attribute("href")
    assert href is not None and re.fullmatch(rf"/dossiers/{dossier_id}/pieces-jointes/\d+", href)
    preview = page.request.get(href)
    assert preview.ok and preview.headers["content-type"] == "application/pdf"
    assert preview.headers["content-disposition"].startswith("inline;") and preview.body() == PDF
    # a refused type: French message next to the input
    page.locator("#fichier").set_input_files(files=[{"name": "archive.zip", "mimeType": "application/zip",
                                                      "buffer": b"PK\x03\x04"}])
    page.get_by_role("button", name="Joindre le fichier").click()
    assert "Type de fichier non accepté" in page.locator("#fichier-erreur").inner_text()
    ui["shoot"](page, "dossier-piece-jointe-refusee")
    ui["assert_accessible"](page, "attachment refused")

    # internal note
    page.goto(f"/dossiers/{dossier_id}")
    page.get_by_role("textbox", name="Note interne").fill("Fille à rappeler avant la sortie")
    page.get_by_role("button", name="Enregistrer la note").click()
    assert page.get_by_role("status").inner_text() == "Note interne enregistrée."
    assert page.get_by_role("textbox", name="Note interne").input_value() == "Fille à rappeler avant la sortie"

    # identity validated on an identity document by the INS-trained doctor
    page.get_by_label("Pièce d'identité présentée").select_option("CN")
    page.get_by_role("button", name="Valider l'identité").click()
    assert page.get_by_role("status").inner_text() == "Identité validée sur pièce d'identité."
    assert page.locator("#statut-identite").inner_text() == "Identité validée"

    # print view: every volet, no navigation
    page.get_by_role("link", name="Version imprimable").click()
    assert page.url.endswith(f"/dossiers/{dossier_id}/impression")
    assert page.get_by_role("navigation", name="Navigation principale").count() == 0
    assert page.locator("section.volet").count() == 5
    page.emulate_media(media="print")
    assert not page.get_by_role("button", name="Imprimer").is_visible()
    page.emulate_media(media="screen")
    ui["shoot"](page, "dossier-impression")
    ui["assert_accessible"](page, "print view")

    # history: who, when, what, before/after
    page.goto(f"/dossiers/{dossier_id}/historique")
    table = page.locator("table.historique")
    assert "Volet Soins et projet modifié" in table.inner_text()
    first = table.locator("tbody tr").filter(has_text="Pièce jointe ajoutée").first
    assert "Claire Martin (prescripteur)" in first.inner_text() and "compte-rendu.pdf" in first.inner_text()
    ui["shoot"](page, "dossier-historique")
    ui["assert_accessible"](page, "history")


def test_non_trained_prescripteur_sees_no_ins_action_and_medical_volet_refusal(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    dossier_id = _dossier_id(live)
    ui["sign_in"](page, gw["BERNARD"], f"/dossiers/{dossier_id}")
    assert page.get_by_role("button", name="Valider l'identité").count() == 0
    assert page.get_by_role("button", name="Récupérer l'INS").count() == 0
    assert _volet_section(page, "Médical").get_by_role("link", name=re.compile("Modifier")).count() == 0
    page.goto(f"/dossiers/{dossier_id}/volets/medical")
    assert "habilitation médicale" in page.locator(".info").inner_text()
    assert page.get_by_role("button", name="Enregistrer le volet").count() == 0
    ui["shoot"](page, "dossier-volet-medical-non-habilite")
    ui["assert_accessible"](page, "medical volet, non-medical user")

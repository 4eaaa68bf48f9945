"""The receiving unit in the browser: Dr Durand (receveur médical, SMR 2101–2103) finds a demande in his list,
asks a question, gives an accord de principe (a reversed range first: the French error shows next to the field
and the dates stay typed), accepts with a date, relances the prescripteur once 72 h have passed, finalises a confirmed admission and refuses another demande with a
motive; Julie Petit (plain receveur) reads a dossier without its médical volets. Every page: screenshot and
axe-core."""

from __future__ import annotations

from typing import Any


def _demande(live: Any, ipp: str, code_uf: str) -> int:
    import sqlalchemy as sa

    from orientation_core.directory.model import Unite
    from orientation_core.patients.model import TypeIdentifiantPatient
    from orientation_core.persistence import tables

    with live.container.uow() as uow:
        unite = uow.session.scalars(sa.select(Unite).where(tables.unite.c.code_uf == code_uf)).one()
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        for dossier in uow.dossiers.for_patient(patient.id):
            for demande in uow.demandes.for_dossier(dossier.id or 0):
                if demande.unite_id == unite.id and demande.id is not None:
                    return demande.id
    raise AssertionError((ipp, code_uf))


def _row(page: Any, text: str, statut: str) -> Any:
    return page.locator("tbody tr").filter(has_text=text).filter(has_text=statut)


def test_receveur_answers_a_demande_then_finalises_and_refuses(page: Any, live: Any, gw: dict[str, Any],
                                                              ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["DURAND"], "/receveur")
    assert page.get_by_role("heading", name="Demandes reçues").is_visible()
    assert _row(page, "NGUYEN", "Acceptée").get_by_text("Relance possible").is_visible()
    ui["shoot"](page, "receveur-tableau")
    ui["assert_accessible"](page, "receveur: tableau")

    # the "à traiter" tab and the search find Maria Da Silva's demande
    page.get_by_role("link", name="À traiter").click()
    assert page.locator("tbody tr").count() == 1
    page.get_by_label("Nom du patient ou numéro de dossier").fill("da sil")
    page.get_by_role("button", name="Afficher").click()
    row = _row(page, "DA SILVA", "En attente de réponse")
    assert row.count() == 1
    row.get_by_role("link").click()
    assert page.get_by_role("heading", name="Patient : DA SILVA Maria").is_visible()
    assert page.get_by_role("heading", name="Médical", exact=True).is_visible()  # médical habilitation

    # a question
    page.get_by_label("Votre question au prescripteur").fill("La patiente peut-elle se lever seule ?")
    page.get_by_role("button", name="Envoyer la question").click()
    assert page.get_by_text("Votre question a été envoyée au prescripteur.").is_visible()
    assert page.locator(".badge", has_text="Demande de précision").first.is_visible()
    ui["shoot"](page, "receveur-demande")
    ui["assert_accessible"](page, "receveur: demande")

    # an accord de principe: a reversed range is refused next to its field, the dates stay typed
    page.get_by_label("À partir du").fill("2026-03-20")
    page.get_by_label("Jusqu'au").fill("2026-03-10")
    page.get_by_role("button", name="Donner l'accord de principe").click()
    error = page.locator("#accorder-date_fin-erreur")
    assert error.inner_text() == "La fin de la fourchette précède son début."
    assert page.get_by_label("Jusqu'au").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("À partir du").input_value() == "2026-03-20"
    assert page.get_by_label("Jusqu'au").input_value() == "2026-03-10"
    ui["shoot"](page, "receveur-demande-erreur")
    ui["assert_accessible"](page, "receveur: demande (erreur)")
    page.get_by_label("Jusqu'au").fill("2026-03-27")
    page.get_by_role("button", name="Donner l'accord de principe").click()
    assert page.get_by_text("Votre accord de principe a été enregistré").is_visible()
    assert page.get_by_text("admission envisagée du 20/03/2026 au 27/03/2026", exact=True).is_visible()

    # acceptance with a date
    page.get_by_label("Date d'admission proposée").fill("2026-03-23")
    page.get_by_role("button", name="Accepter avec cette date").click()
    assert page.get_by_text("Votre acceptation a été enregistrée").is_visible()
    assert page.locator(".badge", has_text="Acceptée").first.is_visible()
    assert page.get_by_text("La relance du prescripteur sera possible à partir du 05/03/2026").is_visible()
    assert page.get_by_role("button", name="Relancer le prescripteur").count() == 0
    # 72 h later without confirmation the relance is offered
    da_silva = page.url.split("?")[0].removeprefix(live.url)
    live.clock.advance(hours=73)
    ui["sign_in"](page, gw["DURAND"], da_silva)  # the session did not outlive three idle days
    page.get_by_role("button", name="Relancer le prescripteur").click()
    assert page.get_by_text("Le prescripteur a été relancé.").is_visible()
    assert page.get_by_role("rowheader", name="Relance envoyée au prescripteur").is_visible()
    ui["shoot"](page, "receveur-relance")

    # the prescripteur confirms Bao Nguyen's acceptance: the receveur finalises the admission
    from orientation_core.demande import service as demandes

    nguyen = _demande(live, "100002", "2102")
    with live.container.uow() as uow:
        demandes.agir(uow, live.container.env, live.user_id(gw["BERNARD"]), nguyen, "confirmer")
    page.goto("/receveur?statut=confirmees")
    _row(page, "NGUYEN", "Confirmée").get_by_role("link").click()
    page.get_by_role("button", name="Finaliser l'admission").click()  # the confirm dialog is accepted
    assert page.get_by_text("L'admission du patient est finalisée.").is_visible()
    assert page.locator(".badge", has_text="Admission finalisée").first.is_visible()
    ui["shoot"](page, "receveur-admission-finalisee")

    # Jeanne Lefèvre's accord de principe turns into a refusal with a motive
    page.goto("/receveur?statut=accords")
    _row(page, "LEFÈVRE", "Accord de principe").get_by_role("link").click()
    page.get_by_role("button", name="Refuser la demande").click()  # no motive: refused in French
    assert page.locator("#refuser-motif_choix-erreur").inner_text() == "Le motif du refus est obligatoire."
    page.get_by_label("Motif du refus").select_option("Pas de place disponible dans le délai demandé")
    page.get_by_label("Précision sur le motif").fill("Reprise possible en avril")
    page.get_by_role("button", name="Refuser la demande").click()
    assert page.get_by_text("Votre refus a été enregistré").is_visible()
    assert page.get_by_text("Pas de place disponible dans le délai demandé — Reprise possible en avril").first \
        .is_visible()
    page.goto("/receveur?statut=refusees")
    assert _row(page, "LEFÈVRE", "Refusée").count() == 2  # 2101 now, 2102 before
    ui["shoot"](page, "receveur-tableau-refusees")
    ui["assert_accessible"](page, "receveur: refusées")


def test_plain_receveur_reads_a_dossier_without_its_medical_volets(page: Any, live: Any, gw: dict[str, Any],
                                                                  ui: dict[str, Any]) -> None:
    lefevre = _demande(live, "100001", "2101")
    ui["sign_in"](page, gw["PETIT"], f"/receveur/demandes/{lefevre}")
    assert page.get_by_text("Les volets médicaux de ce dossier sont confidentiels").is_visible()
    assert page.get_by_text("Fracture du col").count() == 0
    assert page.get_by_text("Appartement, ascenseur").is_visible()
    ui["shoot"](page, "receveur-demande-sans-medical")
    ui["assert_accessible"](page, "receveur: demande sans volet médical")

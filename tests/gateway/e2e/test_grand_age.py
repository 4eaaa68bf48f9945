"""Grand Âge path in the browser: from a Sanitaire demo dossier, create the linked Grand Âge dossier, open its AGGIR
grid from the médical volet, leave a variable out (French message, nothing lost), fill it (one variable through
its sub-variables' adverbs, live preview), save: the GIR is shown in words and lands in the médical volet."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect


def _sanitaire(live: Any, ipp: str = "100001") -> int:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with live.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == "sanitaire")
        found: int | None = dossier.id
        assert found is not None
        return found


def _choose(page: Any, variable: str, option: str) -> None:
    page.get_by_role("group", name=re.compile(f"^{variable} ")).get_by_role(
        "radio", name=re.compile(f"^{re.escape(option)}( —|$)")).check()


def test_grand_age_dossier_with_its_aggir_grid_and_gir(page: Any, live: Any, gw: dict[str, Any],
                                                       ui: dict[str, Any]) -> None:
    source = _sanitaire(live)
    ui["sign_in"](page, gw["MARTIN"], f"/dossiers/{source}")
    page.get_by_role("button", name="Créer le dossier Grand Âge lié").click()
    page.wait_for_url(re.compile(r"/dossiers/\d+$"))
    linked = int(page.url.rsplit("/", 1)[1])
    assert linked != source
    with live.container.uow() as uow:
        assert uow.dossiers.get(linked).module.value == "grand_age"

    # the grid is reached from the médical volet
    page.locator("#section-medical").get_by_role("link", name="Grille AGGIR").click()
    page.wait_for_url(f"**/dossiers/{linked}/aggir")
    expect(page.get_by_role("heading", level=1, name="Grille AGGIR")).to_be_visible()
    expect(page.get_by_text("Aucune grille enregistrée")).to_be_visible()
    ui["shoot"](page, "grand-age-aggir-vide")
    ui["assert_accessible"](page, "grille AGGIR vide")

    # cohérence through its sub-variables: communication done fully (A), comportement not at all (C) → B
    _choose(page, "Cohérence", "Coter par les sous-variables")
    communication = page.get_by_role("group", name=re.compile("^Communication —"))
    expect(communication).to_be_visible()
    for adverbe in ("spontanément", "totalement", "correctement", "habituellement"):
        communication.get_by_role("checkbox", name=adverbe).check()
    for variable, option in (("Orientation", "A"), ("Toilette", "B"), ("Habillage", "B"), ("Alimentation", "A"),
                             ("Élimination", "C"), ("Transferts", "B")):
        _choose(page, variable, option)
    # déplacement intérieur and the two illustrative variables left out: the preview says what is missing
    expect(page.locator("#apercu")).to_contain_text("1 variable(s) discriminante(s) encore à coter")
    page.get_by_role("button", name="Enregistrer la grille et calculer le GIR").click()

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("La grille est incomplète : Déplacement intérieur, Déplacement extérieur, "
                                  "Communication à distance")
    expect(page.locator("#erreur-deplacement_interieur")).to_have_text(
        "Cotez la variable « Déplacement intérieur » : A, B ou C.")
    expect(page.locator("#v-transferts-B")).to_be_checked()  # nothing typed is lost
    expect(page.locator("#v-coherence-S")).to_be_checked()
    expect(page.locator("#sv-coherence-communication-habituellement")).to_be_checked()
    ui["shoot"](page, "grand-age-aggir-erreur")
    ui["assert_accessible"](page, "grille AGGIR incomplète")

    _choose(page, "Déplacement intérieur", "A")
    _choose(page, "Déplacement extérieur", "B")
    _choose(page, "Communication à distance", "A")
    expect(page.locator("#apercu")).to_contain_text("Aperçu (non enregistré) : GIR 3, rang 9")
    page.get_by_role("button", name="Enregistrer la grille et calculer le GIR").click()

    page.wait_for_url(re.compile(r"/aggir\?enregistre=1"))
    expect(page.get_by_role("status").filter(has_text="grille AGGIR est enregistrée")).to_be_visible()
    resultat = page.locator("#resultat")
    expect(resultat).to_contain_text("GIR 3")
    expect(resultat).to_contain_text("rang 9 (groupe F, total 900)")
    expect(resultat).to_contain_text("besoin quotidiennement et plusieurs fois par jour d'une aide")
    expect(page.get_by_text("Cohérence : cotation retenue B")).to_be_visible()
    ui["shoot"](page, "grand-age-aggir-gir")
    ui["assert_accessible"](page, "grille AGGIR enregistrée")

    # back on the dossier: the médical volet holds the computed GIR
    page.get_by_role("link", name=f"Retour au dossier {_numero(live, linked)}").click()
    page.wait_for_url(f"**/dossiers/{linked}")
    expect(page.locator("#section-medical dt:text-is('GIR') + dd")).to_contain_text("3")
    ui["shoot"](page, "grand-age-dossier-gir")
    with live.container.uow() as uow:
        assert uow.dossiers.get(linked).volets["medical"]["gir"] == 3


def test_non_medical_prescripteur_sees_the_refusal(page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]
                                                   ) -> None:
    # Sylvie Bernard (prescripteur, not medical) may create the linked dossier, not fill its médical volet
    ui["sign_in"](page, gw["BERNARD"], f"/dossiers/{_sanitaire(live)}")
    page.get_by_role("button", name="Créer le dossier Grand Âge lié").click()
    page.wait_for_url(re.compile(r"/dossiers/\d+$"))
    linked = int(page.url.rsplit("/", 1)[1])
    response = page.goto(f"/dossiers/{linked}/aggir")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("il faut une habilitation médicale")
    expect(page.get_by_role("radio")).to_have_count(0)
    ui["shoot"](page, "grand-age-aggir-refus")
    ui["assert_accessible"](page, "grille AGGIR refusée")


def _numero(live: Any, dossier_id: int) -> str:
    with live.container.uow() as uow:
        return str(uow.dossiers.get(dossier_id).numero)

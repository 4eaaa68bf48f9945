"""Browser: the médecin libéral home (seed 000): one block per module with its counter, "Accéder à mes
dossiers", search by dossier number and by patient name; "Créer un dossier" (the patient's identity, every
error next to its field and nothing typed lost) opens the new dossier."""

from __future__ import annotations

from typing import Any


def test_search_a_patient_by_name_and_open_my_dossiers_of_one_module(page: Any, live: Any, gw: dict[str, Any],
                                                                     ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MOREAU"], "/liberal")
    block = page.locator("section.module", has=page.get_by_role("heading", name="Hébergement pour Personnes Âgées"))
    block.get_by_label("Nom", exact=True).fill("vid")
    block.get_by_label("Prénom").fill("yv")
    block.get_by_role("search", name="Rechercher un patient Hébergement pour Personnes Âgées").get_by_role(
        "button", name="Rechercher").click()
    results = page.locator("section[aria-labelledby='titre-resultats']")
    assert results.get_by_role("heading", name="Résultats pour « vid yv » — Hébergement pour Personnes Âgées")\
        .is_visible()
    assert results.get_by_role("cell", name="VIDAL Yvonne").is_visible()
    assert results.get_by_text("Auteur du dossier").is_visible()
    assert page.locator("section.module", has=page.get_by_role("heading", name="Hébergement pour Personnes Âgées"))\
        .get_by_label("Nom", exact=True).input_value() == "vid"  # the search typed stays in its field
    ui["shoot"](page, "liberal-recherche-patient")
    ui["assert_accessible"](page, "recherche d'un patient")

    page.get_by_role("link", name="Accéder à mes dossiers").nth(1).click()  # SSR, HAD, Soins palliatifs
    mine = page.locator("section[aria-labelledby='mes-dossiers']")
    assert mine.get_by_role("heading", name="Mes dossiers — SSR, HAD, Soins palliatifs").is_visible()
    assert mine.get_by_text("VIDAL Yvonne").count() == 0  # his Grand Âge dossier is not in this module's list
    mine.get_by_role("link", name="Voir tous mes dossiers").click()
    assert page.locator("section[aria-labelledby='mes-dossiers']").get_by_text("VIDAL Yvonne").is_visible()


def test_medecin_liberal_creates_a_dossier_nothing_typed_is_lost(page: Any, live: Any, gw: dict[str, Any],
                                                                   ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MOREAU"], "/liberal")
    page.get_by_role("link", name="Créer un dossier").first.click()
    page.wait_for_url("**/liberal/nouveau?module=grand_age")
    page.get_by_label("Hébergement pour Personnes Âgées").check()
    page.get_by_label("Nom de naissance").fill("Girard")
    page.get_by_label("Prénom(s) de naissance").fill("Jeanne Marie")
    page.get_by_label("Date de naissance").fill("2090-01-01")
    page.get_by_role("button", name="Créer le dossier").click()
    assert page.get_by_text("La date de naissance ne peut pas être dans le futur.").is_visible()
    assert page.get_by_text("Choisissez le sexe.").is_visible()
    assert page.get_by_label("Nom de naissance").input_value() == "Girard"
    assert page.get_by_label("Prénom(s) de naissance").input_value() == "Jeanne Marie"
    ui["shoot"](page, "liberal-nouveau-erreurs")
    ui["assert_accessible"](page, "créer un dossier (erreurs)")
    page.get_by_label("Date de naissance").fill("1931-05-04")
    page.get_by_label("Féminin").check()
    page.get_by_role("button", name="Créer le dossier").click()
    page.wait_for_url("**/dossiers/*")
    assert page.get_by_text("GIRARD").first.is_visible()

"""Administration in the browser: a référent creates a unit and an account and gives a habilitation (errors shown
next to their field, what was typed kept); an administrator registers a DPI client. Screenshots and axe-core on
every page."""

from __future__ import annotations

import re
from typing import Any


def test_referent_creates_a_unit_then_a_user_and_gives_a_habilitation(page: Any, live: Any, gw: dict[str, Any],
                                                                      ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["REFERENT_CHU"], "/admin")
    assert page.get_by_role("heading", name="Administration", level=1).is_visible()
    assert page.get_by_role("row", name="Hôpital Saint-Exupéry (démo)").is_visible()
    ui["shoot"](page, "admin-accueil")
    ui["assert_accessible"](page, "admin")

    # a unit: first with a UF code already used, then corrected
    page.get_by_role("link", name="Unités", exact=True).click()
    assert page.get_by_role("heading", name="Unités — Hôpital Saint-Exupéry (démo)").is_visible()
    page.get_by_label("Code UF").fill("1101")
    page.get_by_label("Nom de l'unité").fill("Pneumologie")
    page.get_by_label("Type").select_option("mco")
    page.get_by_label("Besoins acceptés").fill("oxygene, ventilation")
    page.get_by_label("Code postal").fill("69003")
    page.get_by_label("Latitude").fill("45,7606")
    page.get_by_label("Longitude").fill("4,8583")
    page.get_by_role("button", name="Créer l'unité").click()
    code = page.get_by_label("Code UF")
    assert code.get_attribute("aria-invalid") == "true"
    assert page.locator("#code_uf-erreur").inner_text() == "L'UF 1101 existe déjà dans cet établissement."
    assert page.get_by_label("Nom de l'unité").input_value() == "Pneumologie"  # nothing typed is lost
    assert page.get_by_label("Latitude").input_value() == "45,7606"
    ui["shoot"](page, "admin-unites-erreur")
    ui["assert_accessible"](page, "unités (erreur)")
    code.fill("1104")
    page.get_by_role("button", name="Créer l'unité").click()
    assert page.get_by_role("status").inner_text() == "Unité créée."
    assert page.get_by_role("row", name="1104 Pneumologie").is_visible()
    ui["shoot"](page, "admin-unites")
    ui["assert_accessible"](page, "unités")

    # an account with its first habilitation on the new unit
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Utilisateurs").click()
    page.get_by_label(re.compile(r"^Nom\b")).fill("Garcia")
    page.get_by_label("Prénom").fill("Inès")
    page.get_by_label("Adresse e-mail").fill("ines.garcia")  # invalid
    page.get_by_label("Identifiant local").fill("igarcia")
    page.get_by_label("Profession").select_option("infirmier")
    page.get_by_label("Rôle").select_option("prescripteur")
    page.get_by_label("Unité").select_option(label="1104 — Pneumologie")
    page.get_by_role("button", name="Créer le compte").click()
    assert page.locator("#email-erreur").inner_text() == "Adresse e-mail invalide : « ines.garcia »."
    assert page.get_by_label("Identifiant local").input_value() == "igarcia"
    assert page.get_by_label("Unité").input_value().startswith("u")
    ui["shoot"](page, "admin-utilisateurs-erreur")
    ui["assert_accessible"](page, "utilisateurs (erreur)")
    page.get_by_label("Adresse e-mail").fill("ines.garcia@saint-exupery.invalid")
    page.get_by_role("button", name="Créer le compte").click()
    assert page.get_by_role("heading", name="Inès Garcia", level=1).is_visible()
    assert page.get_by_role("status").inner_text() == "Compte créé avec sa première habilitation."
    assert page.get_by_role("row", name="Prescripteur Hôpital Saint-Exupéry (démo) 1104 — Pneumologie").is_visible()

    # a second habilitation, receveur on the same unit; then the account's history shows it
    page.get_by_label("Rôle").select_option("prescripteur")
    page.get_by_label("Unité").select_option(label="1104 — Pneumologie")
    page.get_by_role("button", name="Ajouter l'habilitation").click()
    assert page.locator("#portee-erreur").inner_text() == "Cette habilitation existe déjà."
    page.get_by_label("Rôle").select_option("receveur")
    page.get_by_role("button", name="Ajouter l'habilitation").click()
    assert page.get_by_role("status").inner_text() == "Habilitation ajoutée."
    assert page.get_by_role("row", name="Receveur Hôpital Saint-Exupéry (démo) 1104 — Pneumologie").is_visible()
    assert page.get_by_role("row", name="Habilitation ajoutée").is_visible()  # the account's history
    assert page.get_by_role("row", name="Création du compte").is_visible()
    ui["shoot"](page, "admin-utilisateur")
    ui["assert_accessible"](page, "utilisateur")

    # the list shows the new account; the new user sees the unit in his dashboard navigation
    page.get_by_role("link", name="← Retour à la liste des comptes").click()
    assert page.get_by_role("link", name="Inès Garcia").is_visible()
    ui["shoot"](page, "admin-utilisateurs")
    ui["assert_accessible"](page, "utilisateurs")
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Habilitations").click()
    assert page.get_by_role("row", name="1104 — Pneumologie Inès Garcia Receveur").is_visible()
    ui["shoot"](page, "admin-habilitations")
    ui["assert_accessible"](page, "habilitations")
    with live.container.uow() as uow:
        user = uow.users.by_login("igarcia")
        assert user is not None and user.id is not None
        roles = sorted(h.role.value for h in uow.users.habilitations(user.id))
    assert roles == ["prescripteur", "receveur"]


def test_referent_unlocks_and_deactivates_an_account(page: Any, live: Any, gw: dict[str, Any],
                                                     ui: dict[str, Any]) -> None:
    import datetime as dt

    bernard = live.user_id(gw["BERNARD"])
    with live.container.uow() as uow:
        compte = uow.accounts.get(bernard)
        assert compte is not None
        compte.verrouille_jusqu_a, compte.echecs = live.clock.now() + dt.timedelta(minutes=30), 5
    ui["sign_in"](page, gw["REFERENT_CHU"], f"/admin/utilisateurs/{bernard}")
    assert page.get_by_text("Verrouillé", exact=True).is_visible()
    page.get_by_role("button", name="Déverrouiller le compte").click()
    assert page.get_by_role("status").inner_text() == "Compte déverrouillé."
    page.get_by_role("button", name="Désactiver le compte").click()  # confirmed (dialogs accepted)
    assert page.get_by_role("status").inner_text() == "Compte désactivé : ses sessions prennent fin."
    assert page.get_by_role("button", name="Réactiver le compte").is_visible()
    assert page.get_by_role("row", name="Déverrouillage").is_visible()


def test_administrator_registers_a_dpi_client(page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["ADMIN"], "/admin/clients-dpi")
    assert page.get_by_role("row", name="dpi-demo-saint-exupery").is_visible()
    page.get_by_label("Identifiant du client (client_id)").fill("dpi-clinique")
    page.get_by_label(re.compile(r"^Nom\b")).fill("DPI de la clinique")
    page.get_by_label("Hôpital Saint-Exupéry (démo) (690001011)").check()
    page.get_by_label("Sanitaire").check()
    page.get_by_label("Adresse JWKS").fill("http://dpi.example/jwks")
    page.get_by_role("button", name="Enregistrer le client").click()
    assert page.locator("#jwks_url-erreur").inner_text() == "L'adresse JWKS doit être en https."
    assert page.get_by_label(re.compile(r"^Nom\b")).input_value() == "DPI de la clinique"
    assert page.get_by_label("Sanitaire").is_checked()
    ui["shoot"](page, "admin-clients-dpi-erreur")
    ui["assert_accessible"](page, "clients DPI (erreur)")
    page.get_by_label("Adresse JWKS").fill("https://dpi.example/jwks")
    page.get_by_role("button", name="Enregistrer le client").click()
    assert page.get_by_role("status").inner_text() == "Client DPI enregistré."
    assert page.get_by_role("row", name="dpi-clinique").is_visible()
    ui["shoot"](page, "admin-clients-dpi")
    ui["assert_accessible"](page, "clients DPI")
    page.get_by_role("link", name="Modifier dpi-clinique").click()
    assert page.get_by_role("heading", name="Client DPI dpi-clinique").is_visible()
    ui["shoot"](page, "admin-client-dpi")
    ui["assert_accessible"](page, "client DPI")
    page.get_by_label("Actif (ses lancements sont acceptés)").uncheck()
    page.get_by_role("button", name="Enregistrer les modifications").click()
    assert page.get_by_role("status").inner_text() == "Client DPI modifié."
    assert page.get_by_role("row", name="dpi-clinique").get_by_text("Inactif").is_visible()


def test_a_prescripteur_gets_the_french_403_page(page: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MARTIN"], "/tableau-de-bord")
    response = page.goto("/admin")
    assert response is not None and response.status == 403
    assert page.get_by_text("L'administration est réservée aux référents").is_visible()
    ui["shoot"](page, "admin-refus")
    ui["assert_accessible"](page, "admin (refus)")

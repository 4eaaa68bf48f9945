"""Browser: a médecin libéral signs in with his identifier, his password and the 6-digit code e-mailed to him
(the real SMTP server on loopback), lands on his space, accepts the dossier that names him médecin traitant and
opens it. Every page of the way is shot and checked by axe-core; a wrong password and a wrong code get a French
message next to the field, the identifier typed kept."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from gateway.settings import PROJECT_ROOT

HL7 = PROJECT_ROOT / "samples" / "hl7v2"


def dossier_naming_moreau(live: Any, gw: dict[str, Any]) -> tuple[int, str]:
    """The ADT A01 golden sample (médecin traitant RPPS 10100000058 = Dr Moreau) through the registry and the
    prefill, then a Sanitaire dossier created by Dr Martin in UF 1101: it awaits Dr Moreau's acceptance."""
    from gateway import prefill
    from gateway.intake.pipeline import apply_canonical
    from mappings.canonical import Canonical
    from orientation_core.directory.model import Unite
    from orientation_core.dossier import service as dossiers
    from orientation_core.dossier.volets import Module
    from orientation_core.persistence import tables

    data = json.loads((HL7 / "adt_a01__nominal.expected.json").read_text(encoding="utf-8"))["canonical"]
    c = live.container
    with c.uow() as uow:
        patient_id = apply_canonical(uow, c.env, Canonical.model_validate(data)).patient_id
        assert patient_id is not None
        prefill.refresh_patient(uow, c.env, patient_id)
        unite = uow.session.scalars(sa.select(Unite).where(tables.unite.c.code_uf == "1101")).one()
        dossier = dossiers.creer(uow, c.env, live.user_id(gw["MARTIN"]), Module.SANITAIRE, patient_id,
                                 unite_id=unite.id)
        assert dossier.id is not None
        prefill.prefill_dossier(uow, c.env, dossier.id, user_id=live.user_id(gw["MARTIN"]))
        return dossier.id, dossier.numero


def test_medecin_liberal_signs_in_with_password_and_emailed_code_then_accepts_and_opens_a_dossier(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    dossier_id, numero = dossier_naming_moreau(live, gw)
    email = "l.moreau@cabinet.invalid"

    page.goto("/liberal")  # anonymous: sent to the sign-in page, the wanted page kept for afterwards
    assert "/connexion" in page.url
    assert page.get_by_role("heading", name="Connexion à Aiguillage").is_visible()
    ui["shoot"](page, "connexion")
    ui["assert_accessible"](page, "connexion")

    page.get_by_role("link", name="Se connecter par mot de passe").click()
    page.get_by_label("Identifiant").fill(gw["MOREAU"])
    page.get_by_label("Mot de passe").fill("PasLeBon2026")
    page.get_by_role("button", name="Recevoir mon code par e-mail").click()
    assert page.get_by_label("Identifiant").input_value() == gw["MOREAU"]  # the identifier typed is kept
    assert page.locator("#mot_de_passe").get_attribute("aria-invalid") == "true"
    ui["shoot"](page, "connexion-mot-de-passe-erreur")
    ui["assert_accessible"](page, "connexion par mot de passe (erreur)")

    page.get_by_label("Mot de passe").fill("Aiguillage2026")
    page.get_by_role("button", name="Recevoir mon code par e-mail").click()
    page.wait_for_url("**/connexion/code")
    assert page.get_by_role("heading", name="Code reçu par e-mail").is_visible()
    ui["shoot"](page, "connexion-code")
    ui["assert_accessible"](page, "code de connexion")

    page.get_by_label("Code à 6 chiffres").fill("000000" if live.smtp.last_code(email) != "000000" else "111111")
    page.get_by_role("button", name="Se connecter").click()
    assert page.locator("#code-aide").is_visible()  # the French refusal next to the field
    assert "essai" in page.locator("#code-aide").inner_text()

    page.get_by_label("Code à 6 chiffres").fill(live.smtp.last_code(email))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/liberal")
    assert page.get_by_role("heading", name="Espace médecin libéral", level=1).is_visible()
    assert page.get_by_role("navigation", name="Navigation principale").is_visible()
    waiting = page.locator("section[aria-labelledby='a-accepter']")
    assert waiting.get_by_role("cell", name=numero, exact=True).is_visible()
    assert page.get_by_role("link", name="1 dossier à accepter").is_visible()
    ui["shoot"](page, "liberal-accueil")
    ui["assert_accessible"](page, "espace médecin libéral")

    waiting.get_by_role("button", name=f"Accepter le dossier {numero}").click()
    assert page.get_by_role("status").filter(has_text="Dossier accepté").is_visible()
    assert waiting.get_by_text("Aucun dossier en attente de votre acceptation.").is_visible()
    mine = page.locator("section[aria-labelledby='mes-dossiers']")
    mine.get_by_role("link", name=numero).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}")
    assert page.get_by_text(numero).first.is_visible()
    ui["shoot"](page, "liberal-dossier-accepte")

    # his search by dossier number finds it, and says he accepted it
    page.goto("/liberal")
    page.get_by_label("Rechercher un dossier (n° de dossier)").nth(1).fill(numero)
    page.get_by_role("search", name="Rechercher un dossier SSR, HAD, Soins palliatifs par numéro").get_by_role(
        "button", name="Rechercher").click()
    results = page.locator("section[aria-labelledby='titre-resultats']")
    assert results.get_by_role("link", name=numero).is_visible()
    assert results.get_by_text("Médecin traitant : acceptée").is_visible()
    ui["shoot"](page, "liberal-recherche")
    ui["assert_accessible"](page, "recherche médecin libéral")


def test_first_sign_in_after_pro_sante_connect_creates_the_account(page: Any, live: Any,
                                                                  ui: dict[str, Any]) -> None:
    """The card data as the Pro Santé Connect return leaves them (sealed cookie): the account form shows them
    read-only; a weak password and a wrong postcode are refused next to their fields, the rest kept; then the
    charter, then the médecin libéral space."""
    from gateway.auth.otp import seal
    from gateway.ui.account import CARD_COOKIE

    card = {"identifiant_national": "810100000107", "nom": "FAURE", "prenom": "Sophie", "profession": "medecin",
            "specialite": "Médecine générale", "suite": "/liberal"}
    page.context.add_cookies([{"name": CARD_COOKIE, "value": seal(live.container, "carte", card, 1800),
                               "url": f"{live.url}/connexion"}])
    page.goto("/connexion/premiere")
    assert page.get_by_role("heading", name="Première connexion : créez votre compte").is_visible()
    assert page.get_by_text("810100000107").is_visible()
    page.get_by_label("Adresse e-mail").fill("s.faure@cabinet.invalid")
    page.get_by_label("Mot de passe").fill("faible")
    page.get_by_label("Code postal").fill("6900")
    page.get_by_label("Ville").fill("Lyon")
    page.get_by_role("button", name="Créer mon compte").click()
    assert page.get_by_label("Mot de passe").get_attribute("aria-invalid") == "true"
    assert page.locator("#code_postal-aide").inner_text() == "Le code postal comporte 5 chiffres."
    assert page.get_by_label("Adresse e-mail").input_value() == "s.faure@cabinet.invalid"
    assert page.get_by_label("Ville").input_value() == "Lyon"
    ui["shoot"](page, "premiere-connexion-erreurs")
    ui["assert_accessible"](page, "première connexion")

    page.get_by_label("Mot de passe").fill("Aiguillage2026")
    page.get_by_label("Code postal").fill("69004")
    page.get_by_role("button", name="Créer mon compte").click()
    page.wait_for_url("**/charte**")
    page.get_by_label("J'ai lu la charte d'utilisation et je l'accepte.").check()
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/liberal")
    assert page.get_by_role("heading", name="Espace médecin libéral", level=1).is_visible()
    assert page.get_by_text("Sophie Faure").is_visible()

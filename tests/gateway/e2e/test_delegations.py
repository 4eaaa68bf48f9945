"""Browser: délégations of a médecin libéral.

* Dr Moreau finds a confrère in the directory and delegates to him for a window (a wrong window is refused in
  French next to the field, the values typed kept); the confrère signs in and sees Dr Moreau's dossiers, opens
  one; once the clock passes the window's last day he no longer sees them and the dossier is refused to him.
* Dr Moreau invites an assistant (CPx card) with chosen rights; the invitation e-mailed through the real SMTP
  server is accepted by the assistant signed in as himself; Dr Moreau changes then revokes the délégation.
"""

from __future__ import annotations

import re
from typing import Any


def _vidal(live: Any) -> tuple[int, str]:
    """Dr Moreau's own Grand Âge dossier of the demo."""
    from orientation_core.people import liberal

    with live.container.uow() as uow:
        found = liberal.rechercher(uow, live.user_id("810100000058"), "vidal")
        return found[0].dossier_id, found[0].numero


def test_confrere_sees_the_delegants_dossiers_during_the_window_only(page: Any, live: Any, gw: dict[str, Any],
                                                                     ui: dict[str, Any]) -> None:
    dossier_id, numero = _vidal(live)
    ui["sign_in"](page, gw["MOREAU"], "/compte/delegations")
    assert page.get_by_role("heading", name="Mes délégations", level=1).is_visible()
    ui["shoot"](page, "delegations")
    ui["assert_accessible"](page, "mes délégations")

    page.get_by_label("Nom du confrère").fill("lam")
    page.get_by_role("button", name="Rechercher dans l'annuaire").click()
    confrere = page.get_by_label(re.compile("Dr Hugo Lambert"))
    assert confrere.is_checked()  # the only doctor found is chosen
    form = page.locator("form", has=page.get_by_role("button", name="Déléguer à ce confrère"))
    form.get_by_label("Premier jour").fill("2026-03-03")
    form.get_by_label("Dernier jour").fill("2026-03-02")  # before the first day
    form.get_by_role("button", name="Déléguer à ce confrère").click()
    form = page.locator("form", has=page.get_by_role("button", name="Déléguer à ce confrère"))
    assert form.get_by_text("La date de fin doit être le jour du début ou après.").is_visible()
    assert form.get_by_label("Dernier jour").get_attribute("aria-invalid") == "true"
    assert form.get_by_label("Premier jour").input_value() == "2026-03-03"  # nothing typed is lost
    assert page.get_by_label(re.compile("Dr Hugo Lambert")).is_checked()
    ui["shoot"](page, "delegations-erreur")
    ui["assert_accessible"](page, "délégation refusée")

    form.get_by_label("Premier jour").fill("2026-03-02")
    form.get_by_label("Dernier jour").fill("2026-03-03")
    form.get_by_role("button", name="Déléguer à ce confrère").click()
    assert page.get_by_role("status").filter(has_text="La délégation est enregistrée.").is_visible()
    row = page.locator("tr", has_text="Hugo Lambert")
    assert row.get_by_text("du 02/03/2026 au 03/03/2026").is_visible() and row.get_by_text("Active").is_visible()
    history = page.locator("section[aria-labelledby='titre-hist']")
    assert history.get_by_text("(confrère), du 02/03/2026 au 03/03/2026").first.is_visible()

    # the confrère signs in: Dr Moreau's dossiers are in his space, and open
    ui["sign_in"](page, gw["LAMBERT"], "/liberal")
    delegated = page.locator("section[aria-labelledby='delegations']")
    assert delegated.get_by_role("heading", name="Dossiers de Luc Moreau").is_visible()
    ui["shoot"](page, "liberal-delegations-recues")
    ui["assert_accessible"](page, "espace libéral du confrère")
    delegated.get_by_role("link", name=numero).click()
    page.wait_for_url(f"**/dossiers/{dossier_id}")
    assert page.get_by_text("VIDAL").first.is_visible()

    # past the last day of the window he no longer sees them (his session idled out too: he signs in again)
    live.clock.advance(days=3)
    ui["sign_in"](page, gw["LAMBERT"], "/liberal")
    delegated = page.locator("section[aria-labelledby='delegations']")
    assert delegated.get_by_text("Aucune délégation active.").is_visible()
    assert page.get_by_role("link", name=numero).count() == 0
    response = page.goto(f"/dossiers/{dossier_id}")
    assert response is not None and response.status == 403
    ui["shoot"](page, "liberal-delegation-terminee")


def test_assistant_invited_by_email_accepts_then_the_delegation_is_changed_and_revoked(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MOREAU"], "/compte/delegations")
    form = page.locator("form", has=page.get_by_role("button", name="Envoyer l'invitation"))
    form.get_by_label("Identifiant national de sa carte CPx").fill("810100000099")
    form.get_by_label("Nom", exact=False).first.fill("Roche")
    form.get_by_label("Prénom").fill("Léa")
    form.get_by_label("Adresse e-mail").fill("lea.roche@cabinet")  # not an address
    form.get_by_label("consulter le dossier").check()
    form.get_by_label("Premier jour").fill("2026-03-02")
    form.get_by_label("Dernier jour").fill("2026-06-30")
    form.get_by_role("button", name="Envoyer l'invitation").click()
    form = page.locator("form", has=page.get_by_role("button", name="Envoyer l'invitation"))
    assert form.get_by_text("Saisissez une adresse e-mail valide").is_visible()
    assert form.get_by_label("Prénom").input_value() == "Léa"
    assert form.get_by_label("consulter le dossier").is_checked()
    form.get_by_label("Adresse e-mail").fill("lea.roche@cabinet.invalid")
    form.get_by_role("button", name="Envoyer l'invitation").click()
    assert page.get_by_role("status").filter(has_text="L'invitation est envoyée").is_visible()
    assert page.locator("tr", has_text="Léa Roche").get_by_text("Invitation envoyée").is_visible()

    mail = live.smtp.wait_for(lambda m: "lea.roche@cabinet.invalid" in str(m["To"]))
    body = mail.get_body(("plain",))
    assert body is not None
    link = re.search(r"(/compte/invitations/\S+)", body.get_content())
    assert link is not None
    ui["sign_in"](page, "810100000099", link.group(1))
    assert page.get_by_role("heading", name="Invitation à une délégation").is_visible()
    ui["shoot"](page, "invitation")
    ui["assert_accessible"](page, "invitation")
    page.get_by_role("button", name="Accepter la délégation").click()
    assert page.get_by_role("status").filter(has_text="Vous avez accepté la délégation.").is_visible()
    assert page.locator("tr", has_text="Luc Moreau").get_by_text("Active").is_visible()

    ui["sign_in"](page, gw["MOREAU"], "/compte/delegations")
    row = page.locator("tr", has_text="Léa Roche")
    assert row.get_by_text("Active").is_visible()
    row.get_by_text("Modifier la période ou les droits").click()
    row.get_by_label("Nouveau dernier jour").fill("2026-04-30")
    row.get_by_role("button", name="Enregistrer la modification").click()
    assert page.get_by_role("status").filter(has_text="La délégation est modifiée.").is_visible()
    row = page.locator("tr", has_text="Léa Roche")
    assert row.get_by_text("au 30/04/2026").is_visible()
    row.get_by_role("button", name="Révoquer").click()  # data-confirm: the dialog is accepted
    assert page.get_by_role("status").filter(has_text="La délégation est révoquée.").is_visible()
    assert page.locator("tr", has_text="Léa Roche").get_by_text("Révoquée").is_visible()
    ui["shoot"](page, "delegations-historique")
    ui["assert_accessible"](page, "délégations après révocation")


def test_mon_compte_refuses_an_invalid_email_in_french_and_keeps_what_was_typed(
        page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    ui["sign_in"](page, gw["MOREAU"], "/compte")
    assert page.get_by_role("heading", name="Mon compte", level=1).is_visible()
    ui["shoot"](page, "compte")
    ui["assert_accessible"](page, "mon compte")

    page.get_by_label("Adresse e-mail").fill("luc.moreau@")
    page.get_by_label("Téléphone").fill("04 78 00 00 00")
    page.get_by_label("Ville").fill("Lyon 4e")
    page.get_by_label("Recevoir les alertes par e-mail").uncheck()
    page.get_by_role("button", name="Enregistrer mes données").click()
    email = page.get_by_label("Adresse e-mail")
    assert page.locator("#email-aide").inner_text().startswith("Saisissez une adresse e-mail valide")
    assert email.get_attribute("aria-invalid") == "true"
    assert "email-aide" in (email.get_attribute("aria-describedby") or "")
    assert page.get_by_role("alert").filter(has_text="Le formulaire n'est pas enregistré").is_visible()
    # nothing typed is lost
    assert email.input_value() == "luc.moreau@"
    assert page.get_by_label("Téléphone").input_value() == "04 78 00 00 00"
    assert page.get_by_label("Ville").input_value() == "Lyon 4e"
    assert not page.get_by_label("Recevoir les alertes par e-mail").is_checked()
    ui["shoot"](page, "compte-erreur")
    ui["assert_accessible"](page, "mon compte (erreur)")

    email.fill("luc.moreau@cabinet.invalid")
    page.get_by_role("button", name="Enregistrer mes données").click()
    assert page.get_by_role("status").filter(has_text="Vos données sont enregistrées.").is_visible()
    history = page.locator("section[aria-labelledby='titre-historique']")
    assert history.get_by_text("E-mail : l.moreau@cabinet.invalid → luc.moreau@cabinet.invalid").is_visible()
    assert history.get_by_text("Alertes par e-mail : oui → non").is_visible()

    # the password change: a wrong current password is refused next to its field
    page.get_by_label("Mot de passe actuel").fill("PasLeBon2026")
    page.locator("#nouveau").fill("Nouveau2026x")
    page.get_by_label("Nouveau mot de passe, à nouveau").fill("Nouveau2026x")
    page.get_by_role("button", name="Changer mon mot de passe").click()
    assert page.locator("#actuel-aide").inner_text() == "Le mot de passe actuel est incorrect."


def test_charter_page_before_anything_else(page: Any, live: Any, gw: dict[str, Any], ui: dict[str, Any]) -> None:
    """A user who has not accepted the current charter signs in (password + e-mailed code) and is sent to it
    first; unticked, it is refused in French next to the box; accepted, he goes where he wanted."""
    with live.container.uow() as uow:
        compte = uow.accounts.get(live.user_id(gw["LEROY"]))
        assert compte is not None
        compte.charte_acceptee_at = None
    page.goto("/liberal")
    page.get_by_role("link", name="Se connecter par mot de passe").click()
    page.get_by_label("Identifiant").fill(gw["LEROY"])
    page.get_by_label("Mot de passe").fill("Aiguillage2026")
    page.get_by_role("button", name="Recevoir mon code par e-mail").click()
    page.get_by_label("Code à 6 chiffres").fill(live.smtp.last_code("a.leroy@cabinet.invalid"))
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/charte**")
    assert page.get_by_role("heading", name="Charte d'utilisation").is_visible()
    page.get_by_role("button", name="Valider").click()
    box = page.get_by_label("J'ai lu la charte d'utilisation et je l'accepte.")
    assert page.locator("#accepte-erreur").inner_text() == "Cochez la case pour accepter la charte d'utilisation."
    assert box.get_attribute("aria-describedby") == "accepte-erreur"
    ui["shoot"](page, "charte")
    ui["assert_accessible"](page, "charte")
    box.check()
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/liberal")
    assert page.get_by_role("heading", name="Espace médecin libéral", level=1).is_visible()

"""Mon compte, référents and délégations through the API and the pages (demo database).

* Mon compte: personal data editable except the username, history of changes, habilitations, e-mail alerts on.
* Référents: manage accounts and habilitations of their établissement only; nobody grants himself rights.
* Délégations: a confrère found by name and postcode gets the delegant's rights for the window and loses them the
  instant it ends; an assistant (CPx) is invited by e-mail and the délégation works only once he accepted it,
  signed in as himself; edit, revoke, history.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

from fastapi import Request, Response

from gateway.auth import sessions

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in_route(api: Any) -> Any:
    """``POST /test/connexion/{login}``: what a sign-in does once credentials are checked (open_session)."""
    c = api.container

    def sign_in(login: str, request: Request, response: Response) -> dict[str, str]:
        with c.uow() as uow:
            user = uow.users.by_login(login)
        assert user is not None and user.id is not None
        return {"csrf": sessions.open_session(c, response, user.id, method="test", request=request).csrf_token}

    api.client.app.add_api_route("/test/connexion/{login}", sign_in, methods=["POST"])
    return api


def browser_as(api: Any, login: str) -> str:
    r = api.client.post(f"/test/connexion/{login}")
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf"]
    return token


# --- Mon compte -------------------------------------------------------------------------------------------------------


def test_mon_compte_data_history_habilitations_and_alerts(api: Any, gw: dict[str, Any]) -> None:
    me = api.ok(api.get(gw["MARTIN"], "/api/v1/compte"))
    assert me["identifiant"] == gw["MARTIN"] and me["alertes_email"] is True
    assert {h["role"] for h in me["habilitations"]} == {"prescripteur_medical"}
    api.problem(api.patch(gw["MARTIN"], "/api/v1/compte", json={"code_postal": "6900"}), 422,
                "compte.donnees")
    changed = api.ok(api.patch(gw["MARTIN"], "/api/v1/compte", json={"ville": "Bron", "code_postal": "69500",
                                                                      "alertes_email": False}))
    assert (changed["ville"], changed["code_postal"], changed["alertes_email"]) == ("Bron", "69500", False)
    history = api.ok(api.get(gw["MARTIN"], "/api/v1/compte/historique"))
    assert history[0]["action"] == "compte.modification"
    assert history[0]["apres"] == {"ville": "Bron", "code_postal": "69500", "alertes_email": False}
    # the username is not a field of Mon compte: sent anyway, it is ignored and the login stays
    api.ok(api.patch(gw["MARTIN"], "/api/v1/compte", json={"identifiant_national": "810199999999"}))
    assert api.ok(api.get(gw["MARTIN"], "/api/v1/compte"))["identifiant"] == gw["MARTIN"]


def test_mon_compte_page_keeps_typed_values_and_shows_errors_by_the_field(make_api: Any,
                                                                         gw: dict[str, Any]) -> None:
    api = sign_in_route(make_api())
    csrf = browser_as(api, gw["MARTIN"])
    page = api.client.get("/compte")
    assert page.status_code == 200 and gw["MARTIN"] in page.text and "Prescripteur médical" in page.text
    assert 'id="alertes_email" name="alertes_email" value="oui"\n           checked' in page.text
    bad = api.client.post("/compte", data={"csrf_token": csrf, "email": "pas-une-adresse", "telephone": "",
                                           "code_postal": "69003", "ville": "Lyon", "alertes_email": "oui"})
    assert bad.status_code == 422
    assert 'value="pas-une-adresse"' in bad.text
    assert re.search(r'id="email-aide" class="erreur">Saisissez une adresse e-mail valide',
                     html.unescape(bad.text))
    without_csrf = api.client.post("/compte", data={"email": "x@y.fr", "code_postal": "69003", "ville": "Lyon"})
    assert without_csrf.status_code == 403


def test_password_change_checks_the_current_one_and_the_rule(api: Any, gw: dict[str, Any]) -> None:
    api.problem(api.post(gw["MARTIN"], "/api/v1/compte/mot-de-passe",
                         json={"actuel": "Faux2026x", "nouveau": "Nouveau2026"}), 422, "compte.mot_de_passe_actuel")
    api.problem(api.post(gw["MARTIN"], "/api/v1/compte/mot-de-passe",
                         json={"actuel": "Aiguillage2026", "nouveau": "court"}), 422, "compte.mot_de_passe")
    api.ok(api.post(gw["MARTIN"], "/api/v1/compte/mot-de-passe",
                    json={"actuel": "Aiguillage2026", "nouveau": "Nouveau2026"}), 204)


# --- référents --------------------------------------------------------------------------------------------------------


def test_referent_manages_his_etablissement_and_never_grants_himself(api: Any, gw: dict[str, Any]) -> None:
    chu = api.ok(api.get(gw["MARTIN"], "/api/v1/compte"))["habilitations"][0]["etablissement_id"]
    comptes = api.ok(api.get(gw["REFERENT_CHU"], f"/api/v1/etablissements/{chu}/comptes"))
    assert gw["MARTIN"] in {u["identifiant_national"] for u in comptes}
    # another établissement's référent, and a plain user, see nothing of it
    api.problem(api.get("referent.smr", f"/api/v1/etablissements/{chu}/comptes"), 403, "droits.refuse")
    api.problem(api.get(gw["MARTIN"], f"/api/v1/etablissements/{chu}/comptes"), 403, "droits.refuse")
    referent = api.user_id(gw["REFERENT_CHU"])
    unite = api.unite_id("1101")
    api.problem(api.post(gw["REFERENT_CHU"], "/api/v1/habilitations", json={
        "user_id": referent, "role": "prescripteur_medical", "etablissement_id": chu, "unite_id": unite}),
        403, "referent.auto_habilitation")
    lambert = api.user_id(gw["LAMBERT"])
    granted = api.ok(api.post(gw["REFERENT_CHU"], "/api/v1/habilitations", json={
        "user_id": lambert, "role": "prescripteur_medical", "etablissement_id": chu, "unite_id": unite}), 201)
    api.problem(api.post("referent.smr", "/api/v1/habilitations", json={
        "user_id": lambert, "role": "prescripteur", "etablissement_id": chu, "unite_id": unite}), 403,
        "droits.refuse")
    api.ok(api.delete(gw["REFERENT_CHU"], f"/api/v1/habilitations/{granted['id']}"), 204)
    # history of an account: himself or his référent, nobody else
    api.ok(api.get(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{lambert}/historique"))
    api.problem(api.get("referent.smr", f"/api/v1/utilisateurs/{lambert}/historique"), 404, "introuvable")
    # deactivation: his référent only, never his own account; a deactivated account is refused at once
    api.problem(api.put("referent.smr", f"/api/v1/utilisateurs/{lambert}/activation", json={"actif": False}), 403,
                "compte.referent")
    api.problem(api.put(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{referent}/activation", json={"actif": False}),
                403, "referent.auto_habilitation")
    api.ok(api.put(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{lambert}/activation", json={"actif": False}))
    api.problem(api.get(gw["LAMBERT"], "/api/v1/compte"), 401, "authentification.requise")
    history = api.ok(api.get(gw["REFERENT_CHU"], f"/api/v1/utilisateurs/{lambert}/historique"))
    assert history[0]["action"] == "compte.activation" and history[0]["apres"] == {"actif": False}


# --- délégations ------------------------------------------------------------------------------------------------------


def _vidal(api: Any, gw: dict[str, Any]) -> int:
    """Dr Moreau's own Grand Âge dossier of the demo (no requesting unit: his délégations open it)."""
    found = api.ok(api.get(gw["MOREAU"], "/api/v1/liberal/recherche", params={"q": "vidal"}))
    dossier_id: int = found[0]["dossier_id"]
    return dossier_id


def test_confrere_delegation_works_in_its_window_and_stops_at_once(api: Any, gw: dict[str, Any]) -> None:
    dossier = _vidal(api, gw)
    # the demo's délégation to Dr Leroy runs from day -10 to day +20
    api.ok(api.get(gw["LEROY"], f"/api/v1/dossiers/{dossier}"))
    api.clock.advance(days=20)
    api.problem(api.get(gw["LEROY"], f"/api/v1/dossiers/{dossier}"), 403, "droits.refuse")


def test_confrere_search_delegate_edit_revoke_and_history(api: Any, gw: dict[str, Any]) -> None:
    found = api.ok(api.get(gw["MOREAU"], "/api/v1/annuaire/medecins", params={"nom": "ler", "code_postal": "69004"}))
    assert [(d["nom"], d["code_postal"]) for d in found] == [("Leroy", "69004")]
    assert api.ok(api.get(gw["MOREAU"], "/api/v1/annuaire/medecins", params={"nom": "ler",
                                                                              "code_postal": "75001"})) == []
    api.problem(api.get(gw["MOREAU"], "/api/v1/annuaire/medecins", params={"nom": "l"}), 422, "annuaire.nom")
    lambert = api.user_id(gw["LAMBERT"])
    now = api.clock.now()
    created = api.ok(api.post(gw["MOREAU"], "/api/v1/compte/delegations/confrere", json={
        "delegataire_id": lambert, "debut": now.isoformat(), "fin": (now + dt.timedelta(days=7)).isoformat()}), 201)
    dossier = _vidal(api, gw)
    api.ok(api.get(gw["LAMBERT"], f"/api/v1/dossiers/{dossier}"))
    shorter = (now + dt.timedelta(days=1)).isoformat()
    api.ok(api.patch(gw["MOREAU"], f"/api/v1/compte/delegations/{created['id']}", json={"fin": shorter}))
    api.clock.advance(days=1)
    api.problem(api.get(gw["LAMBERT"], f"/api/v1/dossiers/{dossier}"), 403, "droits.refuse")
    api.ok(api.delete(gw["MOREAU"], f"/api/v1/compte/delegations/{created['id']}"))
    mine = api.ok(api.get(gw["MOREAU"], "/api/v1/compte/delegations"))
    actions = [e["action"] for e in mine["historique"] if e["apres"]["delegation"] == created["id"]]
    assert actions == ["delegation.revocation", "delegation.modification", "delegation.creation"]
    # the delegate sees it in his own history too; nobody else edits it
    assert any(e["action"] == "delegation.creation"
               for e in api.ok(api.get(gw["LAMBERT"], "/api/v1/compte/delegations"))["historique"])
    api.problem(api.delete(gw["LEROY"], f"/api/v1/compte/delegations/{created['id']}"), 404, "introuvable")


def test_assistant_invitation_is_emailed_and_completed_by_signing_in(make_api: Any, gw: dict[str, Any]) -> None:
    api = sign_in_route(make_api())
    now = api.clock.now()
    created = api.ok(api.post(gw["MOREAU"], "/api/v1/compte/delegations/assistant", json={
        "identifiant_national": "810100000990", "nom": "Perrin", "prenom": "Lina",
        "email": "l.perrin@cabinet.invalid", "debut": now.isoformat(),
        "fin": (now + dt.timedelta(days=30)).isoformat(), "droits": ["dossier.lire"]}), 201)
    assert created["accepted_at"] is None
    with api.container.uow() as uow:
        mails = uow.outbox.pending(mail=True)  # no SMTP host in this test: the e-mail waits in the outbox
    assert [m.payload["to"] for m in mails] == ["l.perrin@cabinet.invalid"]
    link = re.search(r"http://testserver(/compte/invitations/\S+)", mails[0].payload["body"])
    assert link and "carte CPx ou e-CPS" in mails[0].payload["body"]
    dossier = _vidal(api, gw)
    # not accepted yet: the délégation gives nothing
    api.problem(api.get("810100000990", f"/api/v1/dossiers/{dossier}"), 403, "droits.refuse")
    # another signed-in person cannot take it
    csrf = browser_as(api, gw["LEROY"])
    other = api.client.post(link.group(1), data={"csrf_token": csrf})
    assert other.status_code == 404 and "adressée à une autre personne" in html.unescape(other.text)
    # the assistant signs in (his account was prepared; the charter is handled by his sign-in) and accepts
    api.client.cookies.clear()
    csrf = browser_as(api, "810100000990")
    page = api.client.get(link.group(1))
    assert page.status_code == 200 and "Accepter la délégation" in html.unescape(page.text)
    accepted = api.client.post(link.group(1), data={"csrf_token": csrf}, follow_redirects=False)
    assert accepted.status_code == 303
    api.ok(api.get("810100000990", f"/api/v1/dossiers/{dossier}"))
    # an assistant is never given the medical volets, and the invitation works once
    api.problem(api.post(gw["MOREAU"], "/api/v1/compte/delegations/assistant", json={
        "identifiant_national": "810100000990", "nom": "Perrin", "prenom": "Lina", "email": "l@x.invalid",
        "debut": now.isoformat(), "fin": (now + dt.timedelta(days=3)).isoformat(),
        "droits": ["volet_medical.modifier"]}), 422, "delegation.droits")
    again = api.client.post(link.group(1), data={"csrf_token": csrf})
    assert again.status_code == 404


def test_delegations_page_edits_and_revokes(make_api: Any, gw: dict[str, Any]) -> None:
    api = sign_in_route(make_api())
    csrf = browser_as(api, gw["MOREAU"])
    page = api.client.get("/compte/delegations")
    assert page.status_code == 200 and "Anne Leroy" in page.text and "Marc Garnier" in page.text
    found = api.client.get("/compte/delegations", params={"nom": "ler", "code_postal": "69004"})
    assert 'name="delegataire_id"' in found.text and "Dr Anne Leroy" in found.text
    given = api.ok(api.get(gw["MOREAU"], "/api/v1/compte/delegations"))["donnees"]
    leroy = next(d for d in given if d["type"] == "confrere")
    edited = api.client.post(f"/compte/delegations/{leroy['id']}/modification",
                             data={"csrf_token": csrf, "fin": "2026-03-05"}, follow_redirects=False)
    assert edited.status_code == 303
    after = next(d for d in api.ok(api.get(gw["MOREAU"], "/api/v1/compte/delegations"))["donnees"]
                 if d["id"] == leroy["id"])
    assert after["fin"].startswith("2026-03-05T23:00:00")  # end of 5 March, Paris time
    bad = api.client.post(f"/compte/delegations/{leroy['id']}/modification",
                          data={"csrf_token": csrf, "fin": "demain"})
    assert bad.status_code == 422 and "Date de fin invalide" in html.unescape(bad.text)
    assert 'value="demain"' in bad.text  # the typed value is kept
    revoked = api.client.post(f"/compte/delegations/{leroy['id']}/revocation", data={"csrf_token": csrf},
                              follow_redirects=False)
    assert revoked.status_code == 303 and "Révoquée" in html.unescape(api.client.get("/compte/delegations").text)
    assert api.client.post(f"/compte/delegations/{leroy['id']}/revocation").status_code == 403  # no CSRF token


def test_a_delegation_changed_through_the_older_routes_is_in_its_history_too(api: Any, gw: dict[str, Any]) -> None:
    """/api/v1/delegations/{id} (PATCH, DELETE) and /api/v1/compte/delegations/{id} make the same change and leave
    the same trace: no route edits or revokes a délégation without it showing in the history."""
    lambert = api.user_id(gw["LAMBERT"])
    now = api.clock.now()
    created = api.ok(api.post(gw["MOREAU"], "/api/v1/compte/delegations/confrere", json={
        "delegataire_id": lambert, "debut": now.isoformat(), "fin": (now + dt.timedelta(days=7)).isoformat()}), 201)
    api.ok(api.patch(gw["MOREAU"], f"/api/v1/delegations/{created['id']}",
                     json={"fin": (now + dt.timedelta(days=2)).isoformat()}))
    api.ok(api.delete(gw["MOREAU"], f"/api/v1/delegations/{created['id']}"))
    mine = api.ok(api.get(gw["MOREAU"], "/api/v1/compte/delegations"))
    actions = [e["action"] for e in mine["historique"] if e["apres"]["delegation"] == created["id"]]
    assert actions == ["delegation.revocation", "delegation.modification", "delegation.creation"]


def test_a_delegation_created_through_the_older_route_is_in_its_history(api: Any, gw: dict[str, Any]) -> None:
    """POST /api/v1/delegations goes through the same use case as /api/v1/compte/delegations/…: the creation is in
    both histories, and an assistant gets the e-mailed invitation (the délégation waits for his acceptance)."""
    lambert = api.user_id(gw["LAMBERT"])
    now = api.clock.now()
    created = api.ok(api.post(gw["MOREAU"], "/api/v1/delegations", json={
        "delegataire_id": lambert, "type": "confrere", "debut": now.isoformat(),
        "fin": (now + dt.timedelta(days=7)).isoformat()}), 201)
    for login in (gw["MOREAU"], gw["LAMBERT"]):
        history = api.ok(api.get(login, "/api/v1/compte/delegations"))["historique"]
        assert [e["action"] for e in history if e["apres"]["delegation"] == created["id"]] == ["delegation.creation"]
    garnier = api.user_id(gw["GARNIER"])
    assistant = api.ok(api.post(gw["MOREAU"], "/api/v1/delegations", json={
        "delegataire_id": garnier, "type": "assistant", "debut": now.isoformat(),
        "fin": (now + dt.timedelta(days=7)).isoformat(), "droits": ["dossier.lire"]}), 201)
    assert assistant["accepted_at"] is None
    api.ok(api.post(gw["GARNIER"], f"/api/v1/delegations/{assistant['id']}/acceptation"))
    history = api.ok(api.get(gw["MOREAU"], "/api/v1/compte/delegations"))["historique"]
    assert [e["action"] for e in history if e["apres"]["delegation"] == assistant["id"]] == [
        "delegation.acceptation", "delegation.creation"]

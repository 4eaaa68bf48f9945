"""Sessions: cookie attributes, any profile, idle and absolute timeouts on a frozen clock, CSRF on cookie calls and
forms, sign-out, incomplete accounts. A test-only route opens the session the way a sign-in does
(``open_session``)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import Request, Response

from gateway.auth import sessions
from orientation_core.persistence import tables

PROD = {"profile": "production", "secret_key": "a-real-secret-for-the-tests-0123456789"}


def _with_sign_in(api: Any) -> Any:
    """Mount ``POST /test/connexion/{login}``: what the sign-in pages do after checking credentials."""
    c = api.container

    def sign_in(login: str, request: Request, response: Response, complete: bool = True) -> dict[str, Any]:
        with c.uow() as uow:
            user = uow.users.by_login(login)
        assert user is not None and user.id is not None
        record = sessions.open_session(c, response, user.id, method="test", request=request,
                                       account_complete=complete)
        return {"csrf": record.csrf_token}

    api.client.app.add_api_route("/test/connexion/{login}", sign_in, methods=["POST"])
    return api


def _sign_in(api: Any, login: str, complete: bool = True) -> str:
    r = api.client.post(f"/test/connexion/{login}", params={"complete": complete})
    assert r.status_code == 200, r.text
    token: str = r.json()["csrf"]
    return token


def test_cookie_is_httponly_lax_on_path_root_and_secure_when_configured(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD, session_cookie_secure=True))
    r = api.client.post(f"/test/connexion/{gw['MARTIN']}")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("aiguillage_session=")
    attributes = {a.strip().lower() for a in cookie.split(";")}
    assert {"httponly", "samesite=lax", "path=/", "secure"} <= attributes
    plain = _with_sign_in(make_api(**PROD))  # default: Secure follows the scheme (http here)
    r = plain.client.post(f"/test/connexion/{gw['MARTIN']}")
    assert "secure" not in {a.strip().lower() for a in r.headers["set-cookie"].split(";")}


def test_store_keeps_a_hash_never_the_cookie_token(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    _sign_in(api, gw["MARTIN"])
    token = api.client.cookies["aiguillage_session"]
    with api.container.engine.connect() as conn:
        stored = conn.execute(sa.select(tables.session.c.token_hash)).scalars().all()
    assert len(stored) == 1 and stored[0] != token and token not in stored[0]


def test_cookie_authenticates_outside_the_demo_profile_where_the_dev_header_does_not(
        make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    assert api.get(gw["MARTIN"], "/api/v1/moi").status_code == 401  # dev header ignored in production
    _sign_in(api, gw["MARTIN"])
    me = api.ok(api.client.get("/api/v1/moi"))
    assert me["id"] == api.user_id(gw["MARTIN"])


def test_idle_timeout_ends_the_session_but_activity_keeps_it(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD, session_idle_minutes=30))
    _sign_in(api, gw["MARTIN"])
    for _ in range(3):  # 3 × 25 min of activity: longer than the idle timeout, never idle that long
        api.clock.advance(minutes=25)
        assert api.client.get("/api/v1/moi").status_code == 200
    api.clock.advance(minutes=30)
    api.problem(api.client.get("/api/v1/moi"), 401, "authentification.requise")
    api.clock.advance(minutes=-29)  # the closed session stays closed even if time went back
    assert api.client.get("/api/v1/moi").status_code == 401


def test_absolute_timeout_ends_an_active_session(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD, session_absolute_hours=2))
    _sign_in(api, gw["MARTIN"])
    for _ in range(7):  # active every 17 min up to 1 h 59
        api.clock.advance(minutes=17)
        assert api.client.get("/api/v1/moi").status_code == 200
    api.clock.advance(minutes=2)
    assert api.client.get("/api/v1/moi").status_code == 401


@pytest.mark.parametrize("header", [None, "", "forged-token"])
def test_cookie_call_that_changes_state_needs_the_csrf_header(make_api: Any, gw: dict[str, Any],
                                                              header: str | None) -> None:
    api = _with_sign_in(make_api(**PROD))
    _sign_in(api, gw["MARTIN"])
    before = api.count_rows()["patient"]
    body = {"nom_naissance": "CSRF", "prenoms": ["Paul"], "date_naissance": "1950-01-01", "sexe": "M"}
    headers = {} if header is None else {"X-CSRF-Token": header}
    api.problem(api.client.post("/api/v1/patients", json=body, headers=headers), 403, "csrf.refuse")
    assert api.count_rows()["patient"] == before  # nothing written


def test_cookie_call_with_the_csrf_header_goes_through(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    csrf = _sign_in(api, gw["MARTIN"])
    body = {"nom_naissance": "CSRF", "prenoms": ["Paul"], "date_naissance": "1950-01-01", "sexe": "M"}
    api.ok(api.client.post("/api/v1/patients", json=body, headers={"X-CSRF-Token": csrf}), 201)


def test_csrf_token_of_another_session_is_refused(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    other = _sign_in(api, gw["LAMBERT"])
    _sign_in(api, gw["MARTIN"])  # a new sign-in: a new session, a new token
    body = {"nom_naissance": "CSRF", "prenoms": ["Paul"], "date_naissance": "1950-01-01", "sexe": "M"}
    api.problem(api.client.post("/api/v1/patients", json=body, headers={"X-CSRF-Token": other}), 403, "csrf.refuse")


def test_sign_out_form_needs_the_token_then_kills_the_session(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    csrf = _sign_in(api, gw["MARTIN"])
    old_cookie = api.client.cookies["aiguillage_session"]
    refused = api.client.post("/deconnexion", data={}, headers={"Accept": "text/html"})
    assert refused.status_code == 403 and "<html lang=\"fr\"" in refused.text and "CSRF" in refused.text
    assert api.client.get("/api/v1/moi").status_code == 200  # still signed in
    r = api.client.post("/deconnexion", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/connexion"
    assert api.client.get("/api/v1/moi").status_code == 401
    api.client.cookies.set("aiguillage_session", old_cookie)  # a copied cookie is dead too
    assert api.client.get("/api/v1/moi").status_code == 401


def test_browser_without_session_is_sent_to_sign_in(make_api: Any) -> None:
    api = make_api(**PROD)
    r = api.client.get("/api/v1/moi", headers={"Accept": "application/json"})
    assert r.status_code == 401
    r = api.client.post("/deconnexion", follow_redirects=False)  # no session: nothing to protect
    assert r.status_code == 303


def test_incomplete_account_is_refused_until_marked_complete(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    c = api.container

    def complete(request: Request, record: sessions.CurrentSession) -> dict[str, bool]:
        sessions.mark_account_complete(c, request)
        return {"ok": record.user_id > 0}

    api.client.app.add_api_route("/test/charte", complete, methods=["POST"])
    csrf = _sign_in(api, gw["MARTIN"], complete=False)
    api.problem(api.client.get("/api/v1/moi"), 403, "compte.incomplet")
    api.problem(api.client.post("/test/charte"), 403, "csrf.refuse")
    api.ok(api.client.post("/test/charte", headers={"X-CSRF-Token": csrf}))
    assert api.client.get("/api/v1/moi").status_code == 200


def test_deactivated_user_loses_his_session(make_api: Any, gw: dict[str, Any]) -> None:
    api = _with_sign_in(make_api(**PROD))
    _sign_in(api, gw["MARTIN"])
    with api.container.engine.begin() as conn:
        conn.execute(sa.update(tables.utilisateur).where(tables.utilisateur.c.identifiant_national == gw["MARTIN"])
                     .values(actif=False))
    assert api.client.get("/api/v1/moi").status_code == 401

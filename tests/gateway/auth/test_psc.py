"""Pro Santé Connect end to end against real OpenID providers on loopback.

* ``oidc-provider-mock`` (a real Flask/authlib provider, started as a process): the whole first sign-in — the
  authorization request (PKCE S256, ``acr_values=eidas1``, ``openid scope_all``), the provider's consent form, the
  code exchange, the ID token verified against the JWKS, the JSON userinfo with ``SubjectNameID`` and
  ``SubjectRefPro``; then the first-sign-in form (French errors next to their field, typed values kept), the
  charter gate, and the next sign-in straight in. The mock answers userinfo as JSON only and does not check PKCE.
* ``JwtProvider`` (written here, ``http.server`` on loopback): userinfo as a signed JWT (``application/jwt``),
  PKCE checked at the token endpoint, and the refusals: a userinfo signed by another key, a wrong state.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "aiguillage-recette"
CLIENT_SECRET = "secret-de-recette-0123456789"
NATIONAL_ID = "810001234567"
CLAIMS = {
    "sub": "psc-durand", "SubjectNameID": NATIONAL_ID, "family_name": "DURAND", "given_name": "Sophie",
    "SubjectRefPro": {"codeCivilite": "MME", "exercices": [
        {"codeProfession": "10", "codeCategorieProfessionnelle": "C", "codeSavoirFaire": "SM54",
         "nomDExercice": "DURAND", "prenomDExercice": "Sophie", "activities": []}]},
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def mock_provider() -> Iterator[str]:
    port = _free_port()
    exe = Path(sys.executable).parent / "oidc-provider-mock"
    process = subprocess.Popen([str(exe), "--host", "127.0.0.1", "--port", str(port),
                                "--user-claims", json.dumps(CLAIMS)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/.well-known/openid-configuration", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("oidc-provider-mock did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def _psc(make_api: Any, base: str) -> Any:
    return make_api(psc_discovery_url=f"{base}/.well-known/openid-configuration", psc_client_id=CLIENT_ID,
                    psc_client_secret=CLIENT_SECRET)


def _to_provider(api: Any, suite: str = "/") -> str:
    r = api.client.get("/connexion/psc", params={"suite": suite}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def _back_from_mock(api: Any, authorize_url: str) -> httpx.Response:
    """The card holder picks his identity on the mock's form; the provider redirects back to us."""
    answer = httpx.post(authorize_url, data={"sub": CLAIMS["sub"], "action": "authorize"}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    back = urlsplit(answer.headers["location"])
    assert back.path == "/connexion/psc/retour"
    return api.client.get(f"{back.path}?{back.query}", follow_redirects=False)  # type: ignore[no-any-return]


def _form_token(api: Any, path: str) -> tuple[httpx.Response, str]:
    page = api.client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF.search(page.text)
    assert found, page.text
    return page, found.group(1)


def test_authorization_request_carries_pkce_eidas1_and_psc_scopes(make_api: Any, mock_provider: str) -> None:
    api = _psc(make_api, mock_provider)
    location = _to_provider(api)
    url = urlsplit(location)
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert location.startswith(f"{mock_provider}/oauth2/authorize?")
    assert params["acr_values"] == "eidas1"
    assert params["scope"] == "openid scope_all"
    assert params["response_type"] == "code" and params["client_id"] == CLIENT_ID
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]
    assert params["redirect_uri"] == "http://testserver/connexion/psc/retour"
    flow_cookie = api.client.cookies.get("aiguillage_psc")
    assert flow_cookie and params["state"] not in flow_cookie  # sealed, not readable as is


def test_first_sign_in_then_charter_then_straight_in(make_api: Any, mock_provider: str) -> None:
    api = _psc(make_api, mock_provider)
    back = _back_from_mock(api, _to_provider(api, suite="/liberal"))
    assert back.status_code == 303 and back.headers["location"] == "/connexion/premiere"
    assert "aiguillage_session" not in api.client.cookies  # no account yet: no session

    page, token = _form_token(api, "/connexion/premiere")
    for shown in (NATIONAL_ID, "DURAND", "Sophie", "medecin", "Médecine générale"):  # card data, read-only
        assert shown in page.text
    assert 'name="nom"' not in page.text and 'name="identifiant_national"' not in page.text

    bad = api.client.post("/connexion/premiere", data={
        "csrf_token": token, "email": "sophie.durand@exemple.fr", "mot_de_passe": "orientation",
        "code_postal": "690", "ville": "Lyon"})
    assert bad.status_code == 422
    assert "Le mot de passe doit contenir une majuscule, un chiffre." in bad.text
    assert "Le code postal comporte 5 chiffres." in bad.text
    assert 'value="sophie.durand@exemple.fr"' in bad.text and 'value="Lyon"' in bad.text  # nothing typed lost
    assert 'aria-invalid="true"' in bad.text

    done = api.client.post("/connexion/premiere", data={
        "csrf_token": token, "email": "sophie.durand@exemple.fr", "mot_de_passe": "Orientation7",
        "code_postal": "69003", "ville": "Lyon"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/charte?suite=%2Fliberal"
    # signed in, but the charter comes before any other page or call
    gated = api.client.get("/api/v1/compte")
    assert gated.status_code == 403 and gated.json()["code"] == "compte.incomplet"
    assert api.client.get("/compte", headers={"accept": "text/html"}).status_code == 403

    charter_page, session_token = _form_token(api, "/charte?suite=%2Fliberal")
    assert 'name="suite" value="/liberal"' in charter_page.text
    refused = api.client.post("/charte", data={"csrf_token": session_token})
    assert refused.status_code == 422 and "Cochez la case" in refused.text
    accepted = api.client.post("/charte", data={"csrf_token": session_token, "accepte": "oui",
                                                "suite": "/liberal"}, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/liberal"  # where he was going
    me = api.client.get("/api/v1/compte").json()
    assert me["identifiant"] == NATIONAL_ID and me["profession"] == "medecin" and me["charte_acceptee"]
    assert me["alertes_email"] is True and me["connexion_par_mot_de_passe"] is True

    # next time: the card signs him in directly, to where he was going
    api.client.post("/deconnexion", data={"csrf_token": session_token})
    assert api.client.get("/api/v1/compte").status_code == 401
    again = _back_from_mock(api, _to_provider(api, suite="/compte"))
    assert again.status_code == 303 and again.headers["location"] == "/compte"
    assert api.client.get("/api/v1/compte").json()["identifiant"] == NATIONAL_ID


def test_return_without_a_flow_under_way_is_refused_in_french(make_api: Any, mock_provider: str) -> None:
    api = _psc(make_api, mock_provider)
    r = api.client.get("/connexion/psc/retour?code=abc&state=def")
    assert r.status_code == 400 and "Recommencez" in r.text
    assert "aiguillage_session" not in api.client.cookies


# --- a provider of our own: userinfo as a signed JWT, PKCE checked ----------------------------------------------------


class JwtProvider:
    """Discovery, JWKS, authorize (auto-approves), token (checks the PKCE verifier), userinfo as a signed JWT."""

    def __init__(self, claims: dict[str, Any]) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "psc-1"}, private=True)
        self.userinfo_key = self.key
        self.claims = claims
        self.codes: dict[str, dict[str, str]] = {}
        self.verifier_checked = False
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        signer = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signer.kid}, claims, signer)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json",
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    b = provider.base
                    self._send(200, json.dumps({
                        "issuer": b, "authorization_endpoint": f"{b}/authorize", "token_endpoint": f"{b}/token",
                        "userinfo_endpoint": f"{b}/userinfo", "jwks_uri": f"{b}/jwks"}).encode())
                elif url.path == "/jwks":
                    self._send(200, json.dumps(KeySet([provider.key]).as_dict(private=False)).encode())
                elif url.path == "/authorize":
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    code = f"code-{len(provider.codes)}"
                    provider.codes[code] = q
                    target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
                    self._send(302, b"", headers={"Location": target})
                elif url.path == "/userinfo":
                    if self.headers.get("Authorization") != "Bearer at-1":
                        self._send(401, b"{}")
                        return
                    body = provider.sign({**provider.claims, "iss": provider.base, "aud": CLIENT_ID},
                                         provider.userinfo_key)
                    self._send(200, body.encode(), "application/jwt")
                else:
                    self._send(404, b"{}")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1]).decode()
                request = provider.codes.pop(form.get("code", ""), None)
                if request is None or auth != f"{CLIENT_ID}:{CLIENT_SECRET}":
                    self._send(400, b'{"error": "invalid_grant"}')
                    return
                digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
                if challenge != request.get("code_challenge") or request.get("acr_values") != "eidas1":
                    self._send(400, b'{"error": "invalid_grant", "error_description": "PKCE"}')
                    return
                provider.verifier_checked = True
                now = int(time.time())
                id_token = provider.sign({"iss": provider.base, "aud": CLIENT_ID, "sub": provider.claims["sub"],
                                          "iat": now, "exp": now + 300, "nonce": request["nonce"],
                                          "acr": "eidas1"})
                self._send(200, json.dumps({"access_token": "at-1", "token_type": "Bearer", "expires_in": 300,
                                            "id_token": id_token}).encode())

        return Handler

    def __enter__(self) -> JwtProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _through(api: Any, provider: JwtProvider) -> httpx.Response:
    location = _to_provider(api)
    answer = httpx.get(location, follow_redirects=False)
    back = urlsplit(answer.headers["location"])
    return api.client.get(f"{back.path}?{back.query}", follow_redirects=False)  # type: ignore[no-any-return]


def test_userinfo_as_a_signed_jwt_is_verified_and_read(make_api: Any, gw: dict[str, Any]) -> None:
    # Dr Moreau (demo) already has his account: the signed userinfo names him, he is signed in at once
    claims = {**CLAIMS, "sub": "psc-moreau", "SubjectNameID": gw["MOREAU"], "family_name": "MOREAU",
              "given_name": "Luc"}
    with JwtProvider(claims) as provider:
        api = _psc(make_api, provider.base)
        back = _through(api, provider)
        assert provider.verifier_checked  # the token endpoint saw the PKCE verifier matching the challenge
        assert back.status_code == 303 and back.headers["location"] == "/", back.text
        assert api.client.get("/api/v1/compte").json()["identifiant"] == gw["MOREAU"]


def test_userinfo_signed_by_another_key_signs_nobody_in(make_api: Any, gw: dict[str, Any]) -> None:
    claims = {**CLAIMS, "SubjectNameID": gw["MOREAU"]}
    with JwtProvider(claims) as provider:
        provider.userinfo_key = RSAKey.generate_key(2048, parameters={"kid": "intrus"}, private=True)
        api = _psc(make_api, provider.base)
        back = _through(api, provider)
        assert back.status_code == 400 and "n'a pas pu être vérifiée" in html.unescape(back.text)
        assert "aiguillage_session" not in api.client.cookies
        assert gw["MOREAU"] not in back.text


def test_a_wrong_state_is_refused(make_api: Any) -> None:
    with JwtProvider(CLAIMS) as provider:
        api = _psc(make_api, provider.base)
        _to_provider(api)
        r = api.client.get("/connexion/psc/retour?code=code-0&state=forged", follow_redirects=False)
        assert r.status_code == 400 and "ne correspond à aucune connexion en cours" in html.unescape(r.text)
        assert "aiguillage_session" not in api.client.cookies

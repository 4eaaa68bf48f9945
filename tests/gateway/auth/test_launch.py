"""DPI launch: ``GET /demande-admission?launch=<JWT>`` against the demo DPI client (its TEST-ONLY key in
samples/demo), every refusal case, ``jti`` single use under concurrency, untrusted clients, the DPI clients admin
API, and the server-to-server launch (private_key_jwt → access token → one-time URL)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import structlog
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from gateway.settings import PROJECT_ROOT
from orientation_core.persistence import tables

CLIENT = "dpi-demo-saint-exupery"
KID = "demo-dpi-2026"
_key_doc = json.loads((PROJECT_ROOT / "samples/demo/dpi_demo_cle_privee_TEST_UNIQUEMENT.jwk.json").read_text())
DEMO_KEY = ECKey.import_key({k: v for k, v in _key_doc.items() if not k.startswith("_")})
OTHER_KEY = ECKey.generate_key("P-256", parameters={"kid": KID})
FINESS = "690001011"  # Hôpital Saint-Exupéry (démo): the client's établissement
OTHER_FINESS = "690002027"  # an établissement the client may not act for
SANTE_BUNDLE = PROJECT_ROOT / "samples/fhir/bundle-transaction-sanitaire.json"


def claims(api: Any, gw: dict[str, Any], **over: Any) -> dict[str, Any]:
    now = int(api.clock.now().timestamp())
    base: dict[str, Any] = {
        "iss": CLIENT, "aud": "http://testserver", "iat": now, "exp": now + 240, "jti": uuid.uuid4().hex,
        "sub": gw["MARTIN"], "module": "sanitaire", "patient": {"ipp": "100001", "finess": FINESS},
        "orientation": "SMR",
    }
    base.update(over)
    return base


def sign(payload: dict[str, Any], key: Any = DEMO_KEY, *, kid: str | None = KID, alg: str = "ES256") -> str:
    header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    return jwt.encode(header, payload, key)


def launch(api: Any, token: str | None) -> httpx.Response:
    params = {"launch": token} if token is not None else {}
    response: httpx.Response = api.client.get("/demande-admission", params=params,
                                              headers={"Accept": "text/html"}, follow_redirects=False)
    return response


@contextlib.contextmanager
def serving(api: Any) -> Iterator[str]:
    """The app under a real uvicorn on a loopback port (``aud`` = its address)."""
    app = api.client.app
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    previous = api.container.settings.public_base_url
    api.container.settings.public_base_url = "http://testserver"  # the token's aud, whatever port serves it
    try:
        yield base
    finally:
        api.container.settings.public_base_url = previous
        server.should_exit = True
        thread.join(timeout=10)


def dossier_id(response: httpx.Response) -> int:
    assert response.status_code == 303, (response.status_code, response.text[:500])
    location = response.headers["location"]
    assert location.startswith("/dossiers/")
    return int(location.rsplit("/", 1)[1])


# ====================================================================================================================
# The happy path
# ====================================================================================================================


def test_launch_signs_in_and_lands_on_a_prefilled_draft_then_reuses_it(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    r = launch(api, sign(claims(api, gw)))
    first = dossier_id(r)
    assert "aiguillage_session=" in r.headers["set-cookie"]
    page = api.client.get(f"/dossiers/{first}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and '<html lang="fr">' in page.text
    assert "Lefèvre" in page.text.replace("&#39;", "'") or "LEFÈVRE" in page.text
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(first)
        assert dossier.etat.value == "brouillon" and dossier.module.value == "sanitaire"
        assert dossier.created_by_id == api.user_id(gw["MARTIN"]) and dossier.type_orientation == "SMR"
        assert dossier.numero in page.text
    api.client.cookies.clear()
    count = api.count_rows()["dossier"]
    again = launch(api, sign(claims(api, gw)))  # a new token, same patient + module: the same open draft
    assert dossier_id(again) == first
    assert api.count_rows()["dossier"] == count  # no duplicate
    other_module = launch(api, sign(claims(api, gw, module="grand_age")))  # another module: its own dossier
    assert dossier_id(other_module) != first


def test_cookie_from_the_launch_authenticates_the_api(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api(profile="production", secret_key="a-real-secret-for-the-tests-0123456789")
    first = dossier_id(launch(api, sign(claims(api, gw))))
    body = api.ok(api.client.get(f"/api/v1/dossiers/{first}"))
    assert body["id"] == first


def test_unknown_patient_is_created_from_the_token(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    patient = {"ipp": "999001", "finess": FINESS, "nom_naissance": "Nouveau", "prenoms": ["Jean", "Paul"],
               "date_naissance": "1941-07-14", "sexe": "M"}
    before = api.count_rows()["patient"]
    found = dossier_id(launch(api, sign(claims(api, gw, patient=patient))))
    assert api.count_rows()["patient"] == before + 1
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(found)
        created = uow.patients.get(dossier.patient_id)
        assert created.nom_naissance.upper() == "NOUVEAU" and created.date_naissance == dt.date(1941, 7, 14)
        assert dossier.unite_id == api.unite_id("1101")  # Dr Martin's first prescribing unit


def test_context_pushed_over_fhir_prefills_the_dossier_and_the_stay_is_linked(make_api: Any,
                                                                              gw: dict[str, Any]) -> None:
    api = make_api()
    bundle = SANTE_BUNDLE.read_bytes()
    pushed = api.client.post("/fhir/r4", content=bundle, headers={"Content-Type": "application/fhir+json",
                                                                  "X-Aiguillage-Client-FHIR": CLIENT})
    assert pushed.status_code == 200, pushed.text
    api.container.tasks.stop()
    from gateway.intake.pipeline import Pipeline

    Pipeline(api.container.uow, api.container.env).drain()
    found = dossier_id(launch(api, sign(claims(api, gw, patient={"ipp": "200451", "finess": FINESS},
                                               sejour={"nda": "26000123"}))))
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(found)
        assert dossier.provenance, "prefilled values carry their DPI provenance"
        assert dossier.sejour_id is not None
    page = api.client.get(f"/dossiers/{found}", headers={"Accept": "text/html"})
    assert 'class="badge bleu provenance"' in page.text and "— source :" in page.text  # the "DPI" badge


def test_patient_known_only_by_a_pushed_fhir_patient_is_read_through_the_intake_mapping(make_api: Any,
                                                                                          gw: dict[str, Any]) -> None:
    """The DPI pushed the Patient to /fhir/r4 a moment ago and the pipeline has not run yet: the launch's
    ``contexte`` reference lets it take the patient from the stored resource (FHIR mapping → registry)."""
    api = make_api(queue="inprocess")
    api.container.tasks.stop()  # the pipeline does not run: only the launch can read the resource
    r = api.client.post("/fhir/r4/Patient", content=(PROJECT_ROOT / "samples/fhir/patient-provisoire.json")
                        .read_bytes(), headers={"Content-Type": "application/fhir+json",
                                                "X-Aiguillage-Client-FHIR": CLIENT})
    assert r.status_code == 201, r.text
    resource_id = r.headers["location"].split("/Patient/")[1].split("/")[0]
    without = launch(api, sign(claims(api, gw, patient={"ipp": "200452", "finess": FINESS})))
    assert without.status_code == 404  # not in the registry yet
    token = sign(claims(api, gw, patient={"ipp": "200452", "finess": FINESS}, contexte=f"Patient/{resource_id}"))
    found = dossier_id(launch(api, token))
    with api.container.uow() as uow:
        patient = uow.patients.get(uow.dossiers.get(found).patient_id)
        assert patient.nom_naissance.upper() == "HOUILLES"


# ====================================================================================================================
# Refusals: a French page that says what to do, a security event, no patient data, no session
# ====================================================================================================================


def _register_client(api: Any, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"client_id": "dpi-autre", "nom": "Autre DPI", "etablissements": [FINESS],
                            "modules": ["grand_age"], "confiance": "trusted",
                            "jwks": {"keys": [OTHER_KEY.as_dict(private=False) | {"kid": "autre-1"}]}}
    body.update(over)
    return dict(api.ok(api.post(gw_admin(), "/api/v1/clients-dpi", json=body), 201))


def gw_admin() -> str:
    return "admin"


def _refusal_cases(api: Any, gw: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    now = int(api.clock.now().timestamp())
    rsa = RSAKey.generate_key(2048, parameters={"kid": KID})
    return {
        "absent": (None, "jeton_absent"),
        "garbage": ("not-a-jwt", "jeton_illisible"),
        "bad signature": (sign(claims(api, gw), OTHER_KEY), "signature_invalide"),
        "unknown kid": (sign(claims(api, gw), kid="rotated-away"), "kid_inconnu"),
        "no kid": (sign(claims(api, gw), kid=None), "kid_inconnu"),
        "RS256 key on an EC kid": (sign(claims(api, gw), rsa, alg="RS256"), "signature_invalide"),
        "HS256": (sign(claims(api, gw), OctKey.import_key(b"x" * 32), alg="HS256"), "algorithme_refuse"),
        "expired": (sign(claims(api, gw, iat=now - 400, exp=now - 100)), "expire"),
        "lifetime over 5 min": (sign(claims(api, gw, exp=now + 600)), "duree_excessive"),
        "issued in the future": (sign(claims(api, gw, iat=now + 120, exp=now + 300)), "iat_futur"),
        "wrong aud": (sign(claims(api, gw, aud="https://ailleurs.example")), "aud_invalide"),
        "no jti": (sign({k: v for k, v in claims(api, gw).items() if k != "jti"}), "jti_absent"),
        "unknown client": (sign(claims(api, gw, iss="dpi-inconnu")), "client_inconnu"),
        "établissement not allowed": (sign(claims(api, gw, patient={"ipp": "100001", "finess": OTHER_FINESS})),
                                      "etablissement_non_autorise"),
        "unknown user": (sign(claims(api, gw, sub="899999999999")), "utilisateur_inconnu"),
        "local login as sub": (sign(claims(api, gw, sub=gw["BERNARD"])), "utilisateur_inconnu"),
        "user without prescribing rights": (sign(claims(api, gw, sub=gw["DURAND"])), "droits_insuffisants"),
        "unknown module": (sign(claims(api, gw, module="psy")), "module_invalide"),
        "no patient": (sign(claims(api, gw, patient={"finess": FINESS})), "patient_absent"),
        "unknown patient without identity": (sign(claims(api, gw, patient={"ipp": "404404", "finess": FINESS})),
                                             "patient_introuvable"),
    }


CASES = ["absent", "garbage", "bad signature", "unknown kid", "no kid", "RS256 key on an EC kid", "HS256",
         "expired", "lifetime over 5 min", "issued in the future", "wrong aud", "no jti", "unknown client",
         "établissement not allowed", "unknown user", "local login as sub", "user without prescribing rights",
         "unknown module", "no patient", "unknown patient without identity"]


@pytest.mark.parametrize("case", CASES)
def test_every_refusal_is_a_french_page_a_security_event_and_no_session(make_api: Any, gw: dict[str, Any],
                                                                         case: str) -> None:
    api = make_api()
    token, reason = _refusal_cases(api, gw)[case]
    dossiers_before = api.count_rows()["dossier"]
    with structlog.testing.capture_logs() as events:
        r = launch(api, token)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in r.text and "Que faire" in r.text and "Référence" in r.text
    for patient_data in ("Lefèvre", "LEFEVRE", "Jeanne", "100001", "1938"):
        assert patient_data not in r.text
    assert "set-cookie" not in r.headers or "aiguillage_session" not in r.headers["set-cookie"]
    refused = [e for e in events if e.get("event") == "securite.lancement_refuse"]
    assert [e["raison"] for e in refused] == [reason]
    assert not any("patient" in key for key in refused[0])  # ids only
    assert api.count_rows()["dossier"] == dossiers_before
    assert api.client.get("/api/v1/moi").status_code == 401  # and nobody is signed in


def test_module_not_allowed_for_the_client(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    _register_client(api)  # allowed: grand_age only
    token = jwt.encode({"alg": "ES256", "kid": "autre-1"}, claims(api, gw, iss="dpi-autre"), OTHER_KEY)
    r = launch(api, token)
    assert r.status_code == 403 and "Module non autorisé" in r.text


def test_inactive_client_is_refused(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"actif": False}))
    r = launch(api, sign(claims(api, gw)))
    assert r.status_code == 403 and "DPI désactivé" in r.text


def test_replayed_jti_is_refused(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    token = sign(claims(api, gw))
    dossier_id(launch(api, token))
    api.client.cookies.clear()
    r = launch(api, token)
    assert r.status_code == 401 and "Lien déjà utilisé" in r.text


def test_jti_is_single_use_under_concurrent_requests(make_api: Any, gw: dict[str, Any]) -> None:
    """Eight browsers open the same token at once over real HTTP threads: exactly one lands on the dossier."""
    api = make_api()
    token = sign(claims(api, gw))

    with serving(api) as base:
        def one(_: int) -> int:
            return httpx.get(f"{base}/demande-admission", params={"launch": token},
                             headers={"Accept": "text/html"}, follow_redirects=False).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(one, range(8)))
    assert sorted(statuses) == [303] + [401] * 7, statuses
    with api.container.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.launch_jti)).scalar_one() == 1


def test_concurrent_launches_of_one_patient_open_one_draft(make_api: Any, gw: dict[str, Any]) -> None:
    """A double click (here six at once, each with its own token) on the DPI button: one dossier, six landings."""
    api = make_api()
    tokens = [sign(claims(api, gw, patient={"ipp": "100002", "finess": FINESS}, sub=gw["LAMBERT"]))
              for _ in range(6)]
    before = api.count_rows()["dossier"]
    with serving(api) as base:
        def one(token: str) -> str:
            r = httpx.get(f"{base}/demande-admission", params={"launch": token}, headers={"Accept": "text/html"},
                          follow_redirects=False)
            assert r.status_code == 303, r.text[:300]
            return r.headers["location"]

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            locations = set(pool.map(one, tokens))
    assert len(locations) == 1 and api.count_rows()["dossier"] == before + 1


# ====================================================================================================================
# Untrusted client: the user must already be signed in as himself
# ====================================================================================================================


def test_untrusted_client_needs_an_existing_session_of_the_same_user(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"confiance": "session_required"}))
    token = sign(claims(api, gw))
    r = launch(api, token)
    assert r.status_code == 401 and "Connexion requise" in r.text and "/connexion?suite=" in r.text
    # signed in as someone else: still refused
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"confiance": "trusted"}))
    dossier_id(launch(api, sign(claims(api, gw, sub=gw["LAMBERT"], patient={"ipp": "100002", "finess": FINESS}))))
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"confiance": "session_required"}))
    assert launch(api, token).status_code == 401
    # signed in as Dr Martin (here through a trusted launch): the untrusted token, never consumed, now opens
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"confiance": "trusted"}))
    dossier_id(launch(api, sign(claims(api, gw))))
    api.ok(api.patch("admin", f"/api/v1/clients-dpi/{CLIENT}", json={"confiance": "session_required"}))
    r = launch(api, token)
    assert r.status_code == 303 and "set-cookie" not in r.headers  # his own session, no new one


# ====================================================================================================================
# DPI clients admin API
# ====================================================================================================================


def test_only_administrators_manage_dpi_clients(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    assert api.get(gw["REFERENT_CHU"], "/api/v1/clients-dpi").status_code == 403
    assert api.post(gw["MARTIN"], "/api/v1/clients-dpi", json={}).status_code in (403, 422)
    listed = api.ok(api.get("admin", "/api/v1/clients-dpi"))
    assert [c["client_id"] for c in listed] == [CLIENT]
    created = _register_client(api)
    assert created["etablissements"] == [FINESS] and created["modules"] == ["grand_age"]


@pytest.mark.parametrize(("jwks", "code"), [
    ({"keys": []}, "client_dpi.jwks"),
    ({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}, "client_dpi.jwks"),  # no kid
    ({"keys": [DEMO_KEY.as_dict(private=True)]}, "client_dpi.jwks_prive"),
    ({"keys": [RSAKey.generate_key(1024, parameters={"kid": "court"}, private=False, auto_kid=False)
               .as_dict(private=False)]}, "client_dpi.jwks"),
])
def test_bad_keys_are_refused_at_registration(make_api: Any, jwks: dict[str, Any], code: str) -> None:
    api = make_api()
    r = api.post("admin", "/api/v1/clients-dpi", json={
        "client_id": "dpi-x", "nom": "X", "etablissements": [FINESS], "modules": ["sanitaire"], "jwks": jwks})
    api.problem(r, 422, code)


def test_keys_from_a_jwks_url_with_rotation(make_api: Any, gw: dict[str, Any]) -> None:
    """A client registered with a JWKS URL (a real HTTP server on loopback); a new kid refetches the URL."""
    import http.server
    import threading

    served = {"keys": [OTHER_KEY.as_dict(private=False) | {"kid": "url-1"}]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = make_api()
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        _register_client(api, client_id="dpi-url", jwks=None, jwks_url=url, modules=["sanitaire"])
        token = jwt.encode({"alg": "ES256", "kid": "url-1"}, claims(api, gw, iss="dpi-url"), OTHER_KEY)
        dossier_id(launch(api, token))
        new_key = ECKey.generate_key("P-256", parameters={"kid": "url-2"})
        served["keys"].append(new_key.as_dict(private=False))
        api.client.cookies.clear()
        from gateway.auth import clients

        clients.resolver(api.container)._cache["dpi-url"].at -= 60  # past the refetch floor
        token = jwt.encode({"alg": "ES256", "kid": "url-2"}, claims(api, gw, iss="dpi-url"), new_key)
        dossier_id(launch(api, token))
    finally:
        server.shutdown()


# ====================================================================================================================
# Server-to-server: private_key_jwt → access token → POST /api/v1/launches → one-time URL
# ====================================================================================================================


def _assertion(api: Any, **over: Any) -> str:
    now = int(api.clock.now().timestamp())
    payload = {"iss": CLIENT, "sub": CLIENT, "aud": "http://testserver/oauth/token", "iat": now, "exp": now + 60,
               "jti": uuid.uuid4().hex} | over
    return sign(payload)


def _token(api: Any, assertion: str) -> httpx.Response:
    response: httpx.Response = api.client.post("/oauth/token", data={
        "grant_type": "client_credentials", "client_assertion": assertion,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    return response


def test_server_to_server_launch_answers_a_one_time_url(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    access = api.ok(_token(api, _assertion(api)))
    assert access["token_type"] == "Bearer" and access["expires_in"] == 300
    r = api.client.post("/api/v1/launches", content=SANTE_BUNDLE.read_bytes(),
                        headers={"Authorization": f"Bearer {access['access_token']}",
                                 "Content-Type": "application/fhir+json"})
    body = api.ok(r, 201)
    assert body["expires_in"] == 120 and body["url"].startswith("http://testserver/demande-admission/ticket/")
    path = body["url"].removeprefix("http://testserver")
    opened = api.client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    found = dossier_id(opened)
    assert "aiguillage_session=" in opened.headers["set-cookie"]
    with api.container.uow() as uow:
        dossier = uow.dossiers.get(found)
        patient = uow.patients.get(dossier.patient_id)
        assert patient.nom_naissance.upper() == "ADRUN" and dossier.provenance  # registry + prefill from the Bundle
    api.client.cookies.clear()
    again = api.client.get(path, headers={"Accept": "text/html"}, follow_redirects=False)
    assert again.status_code == 401 and "déjà servi" in again.text


def test_one_time_url_expires_after_two_minutes(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    access = api.ok(_token(api, _assertion(api)))["access_token"]
    body = api.ok(api.client.post("/api/v1/launches", content=SANTE_BUNDLE.read_bytes(),
                                  headers={"Authorization": f"Bearer {access}"}), 201)
    api.clock.advance(seconds=121)
    r = api.client.get(body["url"].removeprefix("http://testserver"), headers={"Accept": "text/html"},
                       follow_redirects=False)
    assert r.status_code == 401


@pytest.mark.parametrize("case", ["replayed assertion", "wrong aud", "signed by another key", "sub differs",
                                  "wrong grant"])
def test_token_endpoint_refusals(make_api: Any, case: str) -> None:
    api = make_api()
    assertion = _assertion(api)
    if case == "replayed assertion":
        api.ok(_token(api, assertion))
    elif case == "wrong aud":
        assertion = _assertion(api, aud="https://ailleurs.example/token")
    elif case == "signed by another key":
        now = int(api.clock.now().timestamp())
        assertion = sign({"iss": CLIENT, "sub": CLIENT, "aud": "http://testserver/oauth/token", "iat": now,
                          "exp": now + 60, "jti": "x1"}, OTHER_KEY)
    elif case == "sub differs":
        assertion = _assertion(api, sub="quelqu-un")
    if case == "wrong grant":
        r = api.client.post("/oauth/token", data={"grant_type": "password", "client_assertion": assertion})
        assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
        return
    r = _token(api, assertion)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_launches_need_a_valid_unexpired_bearer(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    bundle = SANTE_BUNDLE.read_bytes()
    api.problem(api.client.post("/api/v1/launches", content=bundle), 401, "oauth.jeton_invalide")
    api.problem(api.client.post("/api/v1/launches", content=bundle, headers={"Authorization": "Bearer abc"}),
                401, "oauth.jeton_invalide")
    access = api.ok(_token(api, _assertion(api)))["access_token"]
    api.clock.advance(seconds=301)
    api.problem(api.client.post("/api/v1/launches", content=bundle, headers={"Authorization": f"Bearer {access}"}),
                401, "oauth.jeton_invalide")


def test_server_to_server_launch_for_an_etablissement_not_allowed_writes_nothing(make_api: Any) -> None:
    api = make_api()
    bundle = json.loads(SANTE_BUNDLE.read_text().replace(FINESS, OTHER_FINESS))  # the stay and the IPP elsewhere
    before = api.count_rows()
    access = api.ok(_token(api, _assertion(api)))["access_token"]
    r = api.client.post("/api/v1/launches", json=bundle, headers={"Authorization": f"Bearer {access}"})
    api.problem(r, 403, "lancement.etablissement_non_autorise")
    after = api.count_rows()
    assert after["patient"] == before["patient"] and after["launch_ticket"] == 0


# ====================================================================================================================
# The demo DPI: samples/dpi_simulator.py against a real server, the demo button, make run's link
# ====================================================================================================================


def test_simulator_launch_and_server_to_server_against_a_real_server(make_api: Any) -> None:
    import subprocess
    import sys

    from orientation_core.clock import FrozenClock

    api = make_api(clock=FrozenClock(dt.datetime.now(dt.UTC)))  # the simulator signs with the real time
    with serving(api) as base:
        api.container.settings.public_base_url = base
        script = [sys.executable, str(PROJECT_ROOT / "samples/dpi_simulator.py"), "--url", base]
        out = subprocess.run(script, capture_output=True, text=True, timeout=60, check=True).stdout
        url = out.strip().splitlines()[-1]
        assert url.startswith(f"{base}/demande-admission?launch=")
        r = httpx.get(url, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/dossiers/")
        page = httpx.get(base + r.headers["location"], cookies=r.cookies, headers={"Accept": "text/html"})
        assert page.status_code == 200 and "Dubois" in page.text
        out = subprocess.run([*script, "--serveur-a-serveur"], capture_output=True, text=True, timeout=60,
                             check=True).stdout
        ticket = out.strip().splitlines()[-1]
        assert ticket.startswith(f"{base}/demande-admission/ticket/")
        r = httpx.get(ticket, headers={"Accept": "text/html"}, follow_redirects=False)
        assert r.status_code == 303 and "aiguillage_session=" in r.headers["set-cookie"]


def test_demo_button_signs_a_fresh_launch_and_lands_on_the_dossier(make_api: Any) -> None:
    api = make_api()
    r = api.client.get("/demo/bouton-dpi", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("http://testserver/demande-admission?launch=")
    landed = api.client.get(r.headers["location"], headers={"Accept": "text/html"})
    assert landed.status_code == 200 and "Dossier" in landed.text and "Dubois" in landed.text
    prod = make_api(profile="production", secret_key="a-real-secret-for-the-tests-0123456789")
    assert prod.client.get("/demo/bouton-dpi", follow_redirects=False).status_code == 404


def test_serve_prints_a_signed_launch_link_that_opens(make_api: Any, tmp_path: Any) -> None:
    """What ``make run`` shows a newcomer: `aiguillage serve` prints the DPI button and a signed link; both open."""
    import os
    import re
    import socket
    import subprocess
    import sys

    api = make_api()
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    env = os.environ | {"AIGUILLAGE_DATABASE_URL": api.url, "AIGUILLAGE_LOG_JSON": "false"}
    cli = [sys.executable, "-c", "from gateway.cli import main; main()"]
    proc = subprocess.Popen([*cli, "serve", "--http-port", str(ports[0]), "--mllp-port", str(ports[1])],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not any("/demande-admission?launch=" in line for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        text = "".join(lines)
        base = f"http://127.0.0.1:{ports[0]}"
        assert f"{base}/demo/bouton-dpi" in text
        signed = re.search(r"(http://\S+/demande-admission\?launch=\S+)", text)
        assert signed is not None
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(signed.group(1), headers={"Accept": "text/html"}, follow_redirects=False)
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        # the server's clock is the real one; the demo database was loaded at T0, which the link does not need
        assert r.status_code == 303 and r.headers["location"].startswith("/dossiers/"), r.text[:300]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""What an integrator sees when a call goes wrong: problem JSON (RFC 9457) with a stable code for every refusal,
the development header only in the demo profile, settings that refuse placeholder secrets, health and metrics."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from gateway.app import create_app
from gateway.container import build_container
from gateway.settings import PLACEHOLDER_SECRETS, Settings

REAL_SECRET = "k9V2-pQx7-Lm4Z-tR8w-unit-test-only"


def _dossier_id(api: Any, login: str, numero: str, section: str = "en_cours") -> int:
    page = api.ok(api.get(login, "/api/v1/tableau-de-bord/prescripteur",
                          params={"section": section, "recherche": numero}))
    assert len(page["items"]) == 1, page
    return int(page["items"][0]["dossier_id"])


def _demande(api: Any, gw: dict[str, Any], numero: str, statut: str) -> int:
    board = api.ok(api.get(gw["PETIT"], "/api/v1/tableau-de-bord/receveur", params={"recherche": numero}))
    return next(int(r["demande_id"]) for r in board["items"] if r["statut"] == statut)


# ====================================================================================================================
# Problem JSON, one per status
# ====================================================================================================================


def test_401_without_the_user_header(api: Any) -> None:
    body = api.problem(api.get(None, "/api/v1/moi"), 401, "authentification.requise")
    assert "X-Aiguillage-Utilisateur" in body["detail"]
    assert body["title"] == "authentification.requise"
    api.problem(api.get(None, "/api/v1/tableau-de-bord/prescripteur"), 401, "authentification.requise")


@pytest.mark.parametrize("login", ["inconnu", "810199999999", "  "])
def test_401_for_an_unknown_login(api: Any, login: str) -> None:
    api.problem(api.get(login, "/api/v1/moi"), 401, "authentification.requise")


def test_the_header_names_the_acting_user(api: Any, gw: dict[str, Any]) -> None:
    me = api.ok(api.get(f"  {gw['MARTIN']} ", "/api/v1/moi"))  # surrounding blanks are ignored
    assert (me["nom"], me["prenom"]) == ("Martin", "Claire")
    assert {h["role"] for h in me["habilitations"]} == {"prescripteur_medical"}
    assert {h["unite_id"] for h in me["habilitations"]} == {api.unite_id("1101"), api.unite_id("1103")}
    referents = [r for group in me["referents"].values() for r in group]
    assert referents and all(r["email"] for r in referents)  # "Mes référents"


def test_403_outside_ones_rights(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier_id(api, gw["MARTIN"], "S00000001")
    body = api.problem(api.get(gw["PETIT"], f"/api/v1/dossiers/{dossier_id}"), 403, "droits.refuse")
    assert body["details"] == {"action": "dossier.lire"}
    # a prescripteur of another unit of the same hospital (Lambert: UF 1102; S00000001 is in UF 1101)
    api.problem(api.get(gw["LAMBERT"], f"/api/v1/dossiers/{dossier_id}"), 403, "droits.refuse")
    api.problem(api.post(gw["PETIT"], "/api/v1/patients", json={
        "nom_naissance": "X", "prenoms": ["Y"], "date_naissance": "1950-01-01", "sexe": "F"}), 403, "droits.refuse")


def test_404_for_unknown_ids_and_routes(api: Any, gw: dict[str, Any]) -> None:
    body = api.problem(api.get(gw["MARTIN"], "/api/v1/dossiers/999999"), 404, "introuvable")
    assert "999999" in body["detail"]
    api.problem(api.get(gw["MARTIN"], "/api/v1/demandes/999999"), 404, "introuvable")
    api.problem(api.post(gw["PETIT"], "/api/v1/demandes/999999/accepter", json={}), 404, "introuvable")
    api.problem(api.get(gw["MARTIN"], "/api/v1/nulle-part"), 404, "introuvable")
    api.problem(api.delete(gw["MARTIN"], "/api/v1/moi"), 405, "methode.interdite")


def test_409_for_an_action_the_status_does_not_allow(api: Any, gw: dict[str, Any]) -> None:
    # NGUYEN (S00000002): accepted, not confirmed yet: no admission to finalise
    demande_id = _demande(api, gw, "S00000002", "acceptee")
    body = api.problem(api.post(gw["PETIT"], f"/api/v1/demandes/{demande_id}/finaliser_admission", json={}), 409,
                       "demande.transition_interdite")
    assert body["details"] == {"action": "finaliser_admission", "statut": "acceptee"}
    assert "Acceptée" in body["detail"]


def test_409_when_the_unit_already_has_a_demande(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier_id(api, gw["MARTIN"], "S00000001")  # already sent to SMR 2101 and 2102
    api.problem(api.post(gw["MARTIN"], f"/api/v1/dossiers/{dossier_id}/demandes",
                         json={"unite_ids": [api.unite_id("2101")]}), 409, "demande.existe")


def test_409_when_the_dossier_is_archived(api: Any, gw: dict[str, Any]) -> None:
    dossier_id = _dossier_id(api, gw["MARTIN"], "S00000008", section="archivees")
    api.problem(api.put(gw["MARTIN"], f"/api/v1/dossiers/{dossier_id}/bloc-note", json={"texte": "x"}), 409,
                "dossier.archive")


def test_422_for_a_malformed_request_lists_the_fields(api: Any, gw: dict[str, Any]) -> None:
    response = api.post(gw["MARTIN"], "/api/v1/patients", json={
        "nom_naissance": "Durand", "prenoms": [], "date_naissance": "1950-02-31", "sexe": "X"})
    body = api.problem(response, 422, "requete.invalide")
    fields = {e["champ"] for e in body["erreurs"]}
    assert fields == {"prenoms", "date_naissance", "sexe"}
    assert all(e["message"] for e in body["erreurs"])
    # the same for a bad date in an action, and for the query string
    demande_id = _demande(api, gw, "S00000001", "accord_de_principe")
    body = api.problem(api.post(gw["PETIT"], f"/api/v1/demandes/{demande_id}/accepter",
                                json={"date_admission": "11/03/2026"}), 422, "requete.invalide")
    assert [e["champ"] for e in body["erreurs"]] == ["date_admission"]
    body = api.problem(api.get(gw["MARTIN"], "/api/v1/tableau-de-bord/prescripteur",
                               params={"section": "toutes", "page": 0}), 422, "requete.invalide")
    assert {e["champ"] for e in body["erreurs"]} == {"query.section", "query.page"}
    # nothing happened to the demande
    assert api.ok(api.get(gw["PETIT"], f"/api/v1/demandes/{demande_id}"))["statut"] == "accord_de_principe"


def test_422_for_a_domain_rule(api: Any, gw: dict[str, Any]) -> None:
    demande_id = _demande(api, gw, "S00000001", "accord_de_principe")
    body = api.problem(api.post(gw["PETIT"], f"/api/v1/demandes/{demande_id}/accepter", json={}), 422,
                       "demande.acceptation_sans_date")
    assert "date" in body["detail"]


# ====================================================================================================================
# Profiles and secrets
# ====================================================================================================================


def test_production_profile_refuses_the_development_header(make_api: Any, gw: dict[str, Any]) -> None:
    demo = make_api()
    assert demo.get(gw["MARTIN"], "/api/v1/moi").status_code == 200
    production = make_api(profile="production", secret_key=REAL_SECRET)
    for login in (gw["MARTIN"], gw["ADMIN"], None):
        production.problem(production.get(login, "/api/v1/moi"), 401, "authentification.requise")
    body = production.problem(production.get(gw["MARTIN"], "/api/v1/tableau-de-bord/prescripteur"), 401,
                              "authentification.requise")
    assert "X-Aiguillage-Utilisateur" not in body["detail"]  # production does not advertise the dev header
    health = production.ok(production.client.get("/healthz"))
    assert health["profil"] == "production"


@pytest.mark.parametrize("secret", sorted(PLACEHOLDER_SECRETS))
def test_settings_refuse_a_placeholder_secret_outside_demo(secret: str) -> None:
    with pytest.raises(ValidationError, match="AIGUILLAGE_SECRET_KEY"):
        Settings(profile="production", secret_key=SecretStr(secret))
    assert Settings(profile="demo", secret_key=SecretStr(secret)).demo
    assert not Settings(profile="production", secret_key=SecretStr(REAL_SECRET)).demo


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIGUILLAGE_SECRET_KEY", "AIGUILLAGE_DATABASE_URL", "AIGUILLAGE_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIGUILLAGE_PROFILE", "production")
    with pytest.raises(ValidationError, match="AIGUILLAGE_SECRET_KEY"):
        Settings()  # production with the default (placeholder) secret
    monkeypatch.setenv("AIGUILLAGE_SECRET_KEY", REAL_SECRET)
    monkeypatch.setenv("AIGUILLAGE_ARCHIVAGE_JOURS", "7")
    settings = Settings()
    assert settings.profile == "production" and not settings.demo
    assert settings.timers.archivage.days == 7
    assert REAL_SECRET not in repr(settings) and REAL_SECRET not in str(settings.model_dump())
    monkeypatch.setenv("AIGUILLAGE_PROFILE", "staging")
    with pytest.raises(ValidationError):
        Settings()  # an unknown profile is refused, not taken for production or demo


# ====================================================================================================================
# Health and metrics
# ====================================================================================================================


def test_healthz_ok(api: Any) -> None:
    response = api.client.get("/healthz")  # no user header needed
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "profil": "demo", "taches": "en-processus"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_store_down(client: TestClient, login: str) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "indisponible"
    # API calls answer 503 problem JSON, retryable, rather than a bare 500
    response = client.get("/api/v1/moi", headers={"X-Aiguillage-Utilisateur": login})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "stockage.indisponible"
    assert response.headers["retry-after"] == "5"


def test_healthz_503_when_the_sqlite_file_is_unreachable(tmp_path: Path, gw: dict[str, Any]) -> None:
    folder = tmp_path / "gone"
    container = build_container(Settings(database_url=f"sqlite:///{folder}/aiguillage.db"), queue="sync")
    assert folder.is_dir()  # the container creates the folder of a SQLite file…
    shutil.rmtree(folder)  # …which then disappears (unmounted volume)
    try:
        with TestClient(create_app(container=container)) as client:
            _assert_store_down(client, gw["MARTIN"])
    finally:
        container.engine.dispose()


def test_healthz_503_when_postgresql_is_unreachable(gw: dict[str, Any]) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/aiguillage"
    container = build_container(Settings(database_url=url), queue="sync")
    try:
        with TestClient(create_app(container=container)) as client:
            _assert_store_down(client, gw["MARTIN"])
    finally:
        container.engine.dispose()


def test_an_action_committed_while_the_broker_is_down_still_succeeds(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api(queue="celery", broker_url=f"redis://127.0.0.1:{_closed_port()}/0")
    client = TestClient(api.client.app, raise_server_exceptions=False)
    demande_id = _demande(api, gw, "S00000002", "acceptee")
    response = client.post(f"/api/v1/demandes/{demande_id}/demander_precision",
                           headers={"X-Aiguillage-Utilisateur": gw["PETIT"]}, json={"question": "BMR ?"})
    # the change is committed whatever the answer says…
    assert api.ok(api.get(gw["PETIT"], f"/api/v1/demandes/{demande_id}"))["statut"] == "demande_de_precision"
    # …so the answer must say so; the outbox keeps the notification for the safety net
    assert response.status_code == 200, response.text
    api.container.run_task("notifications.dispatch")  # what beat's safety net does once the broker is back
    notes = api.ok(api.get(gw["LAMBERT"], "/api/v1/notifications"))
    assert any(n["demande_id"] == demande_id and n["titre"] == "Demande : Demande de précision" for n in notes)


def _requests_total(client: TestClient, route: str, status: str) -> float:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        if family.name == "aiguillage_http_requests":  # the parser drops the counter's _total suffix
            for sample in family.samples:
                if (sample.name == "aiguillage_http_requests_total" and sample.labels.get("route") == route
                        and sample.labels.get("status") == status and sample.labels.get("method") == "GET"):
                    return float(sample.value)
    return 0.0


def test_metrics_count_requests_per_route_template(api: Any, gw: dict[str, Any]) -> None:
    route = "/api/v1/dossiers/{dossier_id}"
    before = _requests_total(api.client, route, "404")
    api.get(gw["MARTIN"], "/api/v1/dossiers/987654")
    api.get(gw["MARTIN"], "/api/v1/dossiers/987655")
    assert _requests_total(api.client, route, "404") == before + 2
    text = api.client.get("/metrics").text
    assert "aiguillage_http_requests_total{" in text
    assert "987654" not in text  # ids never become label values
    latency = {s.labels.get("route") for f in text_string_to_metric_families(text)
               if f.name == "aiguillage_http_request_seconds" for s in f.samples if s.name.endswith("_count")}
    assert route in latency
    unmatched = _requests_total(api.client, "unmatched", "404")
    api.get(gw["MARTIN"], "/api/v1/nulle-part/123")
    assert _requests_total(api.client, "unmatched", "404") == unmatched + 1

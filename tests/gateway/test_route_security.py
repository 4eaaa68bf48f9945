"""Route security suite: every route of the app is classified, and the classification is proved.

* Every route (``app.routes``: /api/v1/**, /fhir/r4/**, the pages) has a rule in ``RULES``; a new route without
  a rule fails ``test_every_route_is_classified``.
* ``public`` routes (health, metrics, FHIR metadata, API docs, the launch and sign-in entries) answer anonymous
  callers, but never with patient data.
* Every other route refuses an anonymous caller (401/403, or for a page a redirect to sign-in; the FHIR catch-all
  of unsupported interactions a 404), in the demo profile without the development header and in the production
  profile even with it.
* Every route taking a dossier, patient, demande, unit or établissement id refuses a signed-in user of another
  établissement (HAD receveur on a hospital dossier) and an expired delegate (Dr Leroy, confrère of Dr Moreau,
  after his délégation's window): 403 or 404, never 2xx, with a valid body so the refusal is the rights check and
  not validation. Positive controls prove the same URLs answer their rightful users.

Signed-in users here hold real server-side sessions (a session row and its cookie, as ``open_session`` makes),
and send the session's CSRF token: the refusals are not CSRF refusals.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import routing

from gateway.auth import sessions

PUBLIC, USER, BEARER, CATCH_ALL = "public", "user", "bearer", "catch-all"
LOGIN_PATH = "/connexion"
PATIENT_WORDS = ("Lefèvre", "LEFEVRE", "LEFÈVRE", "Vidal", "VIDAL", "Nguyen", "NGUYEN")  # demo patients

# (method, path template) → rule. HEAD follows GET.
RULES: dict[tuple[str, str], str] = {
    # API docs and exploitation
    ("GET", "/openapi.json"): PUBLIC, ("GET", "/docs"): PUBLIC, ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC, ("GET", "/healthz"): PUBLIC, ("GET", "/metrics"): PUBLIC,
    # directory, accounts (gateway/api/people.py)
    ("GET", "/api/v1/moi"): USER, ("GET", "/api/v1/etablissements"): USER,
    ("POST", "/api/v1/etablissements"): USER, ("POST", "/api/v1/etablissements/{etablissement_id}/unites"): USER,
    ("GET", "/api/v1/unites"): USER, ("POST", "/api/v1/utilisateurs"): USER, ("POST", "/api/v1/habilitations"): USER,
    ("DELETE", "/api/v1/habilitations/{habilitation_id}"): USER, ("POST", "/api/v1/delegations"): USER,
    ("POST", "/api/v1/delegations/{delegation_id}/acceptation"): USER,
    ("PATCH", "/api/v1/delegations/{delegation_id}"): USER, ("DELETE", "/api/v1/delegations/{delegation_id}"): USER,
    ("GET", "/api/v1/notifications"): USER, ("POST", "/api/v1/notifications/{notification_id}/lecture"): USER,
    # patients, dossiers, demandes (gateway/api/dossiers.py)
    ("POST", "/api/v1/patients"): USER, ("GET", "/api/v1/patients/{patient_id}"): USER,
    ("POST", "/api/v1/dossiers"): USER, ("GET", "/api/v1/dossiers/{dossier_id}"): USER,
    ("PATCH", "/api/v1/dossiers/{dossier_id}/volets/{volet}"): USER,
    ("PUT", "/api/v1/dossiers/{dossier_id}/bloc-note"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/pieces-jointes"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/dossier-grand-age"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/transfert"): USER,
    ("PUT", "/api/v1/dossiers/{dossier_id}/retour-domicile"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/annulation"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/reactivation"): USER,
    ("DELETE", "/api/v1/dossiers/{dossier_id}/relance-auto"): USER,
    ("GET", "/api/v1/dossiers/{dossier_id}/historique"): USER,
    ("POST", "/api/v1/dossiers/{dossier_id}/demandes"): USER, ("GET", "/api/v1/demandes/{demande_id}"): USER,
    ("POST", "/api/v1/demandes/{demande_id}/{action}"): USER,
    ("GET", "/api/v1/tableau-de-bord/prescripteur"): USER, ("GET", "/api/v1/tableau-de-bord/receveur"): USER,
    # identity vigilance (gateway/api/identite.py)
    ("GET", "/api/v1/patients/{patient_id}/identite"): USER,
    ("POST", "/api/v1/patients/{patient_id}/identite/recuperer-ins"): USER,
    ("POST", "/api/v1/patients/{patient_id}/identite/verifier-ins"): USER,
    ("POST", "/api/v1/patients/{patient_id}/identite/validation"): USER,
    ("PUT", "/api/v1/patients/{patient_id}/identite/attributs/{attribut}"): USER,
    ("GET", "/api/v1/identite/conflits"): USER, ("POST", "/api/v1/identite/conflits/{conflit_id}"): USER,
    ("GET", "/api/v1/patients/{patient_id}/doublons"): USER,
    # inbound-message console (gateway/api/inbox.py)
    ("GET", "/api/v1/messages"): USER, ("GET", "/api/v1/messages/lettres-mortes"): USER,
    ("GET", "/api/v1/messages/{inbox_id}"): USER, ("POST", "/api/v1/messages/{inbox_id}/rejouer"): USER,
    ("POST", "/api/v1/messages/rejouer"): USER,
    # FHIR R4: metadata and profiles are public; intake and read-back need a client or a user
    ("GET", "/fhir/r4/metadata"): PUBLIC, ("GET", "/fhir/r4/StructureDefinition/{resource_id}"): PUBLIC,
    ("POST", "/fhir/r4"): USER, ("POST", "/fhir/r4/{resource_type}/$validate"): USER,
    ("POST", "/fhir/r4/{resource_type}/{resource_id}/$validate"): USER, ("POST", "/fhir/r4/{resource_type}"): USER,
    ("PUT", "/fhir/r4/{resource_type}/{resource_id}"): USER, ("PUT", "/fhir/r4/{resource_type}"): USER,
    ("GET", "/fhir/r4/{resource_type}/{resource_id}"): USER,
    ("GET", "/fhir/r4/{resource_type}/{resource_id}/_history"): USER,
    ("GET", "/fhir/r4/{resource_type}/{resource_id}/_history/{version_id}"): USER,
    ("GET", "/fhir/r4/{resource_type}"): USER,
    # the FHIR catch-all answers every unsupported interaction with a 404 OperationOutcome (no data)
    ("GET", "/fhir/r4/{path:path}"): CATCH_ALL, ("POST", "/fhir/r4/{path:path}"): CATCH_ALL,
    ("PUT", "/fhir/r4/{path:path}"): CATCH_ALL, ("PATCH", "/fhir/r4/{path:path}"): CATCH_ALL,
    ("DELETE", "/fhir/r4/{path:path}"): CATCH_ALL,
    # sessions, DPI launch, OAuth (gateway/auth, gateway/ui/launch.py)
    ("POST", "/deconnexion"): PUBLIC,  # without a session there is nothing to close
    ("GET", "/demande-admission"): PUBLIC, ("GET", "/demande-admission/ticket/{ticket}"): PUBLIC,
    ("GET", "/dossiers/{dossier_id}"): USER,
    ("GET", "/demo/bouton-dpi"): PUBLIC,  # demo profile only (404 otherwise): the demo DPI button
    ("GET", "/api/v1/clients-dpi"): USER, ("POST", "/api/v1/clients-dpi"): USER,
    ("GET", "/api/v1/clients-dpi/{client_id}"): USER, ("PATCH", "/api/v1/clients-dpi/{client_id}"): USER,
    ("POST", "/oauth/token"): PUBLIC, ("POST", "/api/v1/launches"): BEARER,
    # Mon compte, délégations, référents, médecin libéral (gateway/api/account.py, liberal.py)
    ("GET", "/api/v1/compte"): USER, ("PATCH", "/api/v1/compte"): USER, ("GET", "/api/v1/compte/historique"): USER,
    ("POST", "/api/v1/compte/mot-de-passe"): USER, ("GET", "/api/v1/compte/delegations"): USER,
    ("POST", "/api/v1/compte/delegations/assistant"): USER, ("POST", "/api/v1/compte/delegations/confrere"): USER,
    ("PATCH", "/api/v1/compte/delegations/{delegation_id}"): USER,
    ("DELETE", "/api/v1/compte/delegations/{delegation_id}"): USER,
    ("POST", "/api/v1/compte/invitations/{token}/acceptation"): USER,
    ("GET", "/api/v1/annuaire/medecins"): USER, ("GET", "/api/v1/etablissements/{etablissement_id}/comptes"): USER,
    ("POST", "/api/v1/utilisateurs/{target_id}/deverrouillage"): USER,
    ("PUT", "/api/v1/utilisateurs/{target_id}/activation"): USER,
    ("GET", "/api/v1/utilisateurs/{target_id}/historique"): USER,
    ("GET", "/api/v1/liberal"): USER, ("GET", "/api/v1/liberal/recherche"): USER,
    ("POST", "/api/v1/liberal/dossiers/{dossier_id}/acceptation"): USER,
    ("POST", "/api/v1/liberal/dossiers/{dossier_id}/refus"): USER,
    # sign-in pages (public entries) and account pages (gateway/auth/password.py, otp.py, gateway/ui/account.py)
    ("GET", "/connexion"): PUBLIC, ("GET", "/connexion/mot-de-passe"): PUBLIC,
    ("POST", "/connexion/mot-de-passe"): PUBLIC, ("GET", "/connexion/code"): PUBLIC,
    ("POST", "/connexion/code"): PUBLIC, ("POST", "/connexion/code/nouveau"): PUBLIC,
    ("GET", "/connexion/psc"): PUBLIC, ("GET", "/connexion/psc/retour"): PUBLIC,
    ("GET", "/connexion/premiere"): PUBLIC, ("POST", "/connexion/premiere"): PUBLIC,
    ("GET", "/compte/invitations/{token}"): USER,  # the e-mailed link signs the assistant in first
    ("GET", "/charte"): USER, ("POST", "/charte"): USER, ("GET", "/compte"): USER, ("POST", "/compte"): USER,
    ("GET", "/compte/delegations"): USER, ("POST", "/compte/delegations"): USER,
    ("POST", "/compte/delegations/{delegation_id}/revocation"): USER, ("POST", "/compte/invitations/{token}"): USER,
    ("POST", "/compte/delegations/{delegation_id}/modification"): USER,
    ("GET", "/liberal"): USER, ("POST", "/liberal/dossiers/{dossier_id}/{reponse}"): USER,
    # embedded UI (gateway/ui): one block per area; each helper adds its routes under its own marker line
    ("GET", "/"): USER,
    # -- ui: dossier (gateway/ui/dossier.py)
    ("GET", "/dossiers/{dossier_id}/volets/{volet}"): USER, ("POST", "/dossiers/{dossier_id}/volets/{volet}"): USER,
    ("POST", "/dossiers/{dossier_id}/bloc-note"): USER, ("POST", "/dossiers/{dossier_id}/pieces-jointes"): USER,
    ("GET", "/dossiers/{dossier_id}/pieces-jointes/{piece_id}"): USER,
    ("POST", "/dossiers/{dossier_id}/identite/{action}"): USER, ("GET", "/dossiers/{dossier_id}/impression"): USER,
    ("GET", "/dossiers/{dossier_id}/historique"): USER,
    # -- ui: dashboard (gateway/ui/dashboard.py)
    ("GET", "/tableau-de-bord"): USER, ("GET", "/tableau-de-bord/lignes"): USER,
    ("GET", "/tableau-de-bord/export.xlsx"): USER,
    # -- ui: envoi (gateway/ui/envoi.py)
    ("GET", "/dossiers/{dossier_id}/envoi"): USER, ("POST", "/dossiers/{dossier_id}/envoi"): USER,
    ("POST", "/dossiers/{dossier_id}/demandes/annulation"): USER,
    ("POST", "/dossiers/{dossier_id}/demandes/{demande_id}/{action}"): USER,
    ("POST", "/dossiers/{dossier_id}/transfert"): USER, ("POST", "/dossiers/{dossier_id}/retour-domicile"): USER,
    ("POST", "/dossiers/{dossier_id}/annulation"): USER, ("POST", "/dossiers/{dossier_id}/reactivation"): USER,
    ("POST", "/dossiers/{dossier_id}/relance-auto"): USER,
    # -- ui: receveur (gateway/ui/receveur.py)
    ("GET", "/receveur"): USER, ("GET", "/receveur/lignes"): USER, ("GET", "/receveur/demandes/{demande_id}"): USER,
    ("POST", "/receveur/demandes/{demande_id}/{action}"): USER,
    # -- ui: grand_age (gateway/ui/grand_age.py)
    ("GET", "/dossiers/{dossier_id}/aggir"): USER, ("POST", "/dossiers/{dossier_id}/aggir"): USER,
    ("POST", "/dossiers/{dossier_id}/dossier-grand-age"): USER,
    # -- ui: admin (gateway/ui/admin.py)
    ("GET", "/admin/habilitations"): USER, ("POST", "/admin/habilitations"): USER,
    ("GET", "/admin"): USER, ("POST", "/admin/etablissements"): USER, ("GET", "/admin/unites"): USER,
    ("POST", "/admin/unites"): USER, ("GET", "/admin/utilisateurs"): USER, ("POST", "/admin/utilisateurs"): USER,
    ("GET", "/admin/utilisateurs/{target_id}"): USER,
    ("POST", "/admin/utilisateurs/{target_id}/habilitations"): USER,
    ("POST", "/admin/utilisateurs/{target_id}/habilitations/{habilitation_id}/retrait"): USER,
    ("POST", "/admin/utilisateurs/{target_id}/deverrouillage"): USER,
    ("POST", "/admin/utilisateurs/{target_id}/activation"): USER,
    ("GET", "/admin/clients-dpi"): USER, ("POST", "/admin/clients-dpi"): USER,
    ("GET", "/admin/clients-dpi/{client_id}"): USER, ("POST", "/admin/clients-dpi/{client_id}"): USER,
    # -- ui: exploitation (gateway/ui/exploitation.py)
    ("GET", "/exploitation/messages"): USER, ("GET", "/exploitation/messages/{inbox_id}"): USER,
    ("POST", "/exploitation/messages/{inbox_id}/rejouer"): USER, ("GET", "/exploitation/lettres-mortes"): USER,
    ("POST", "/exploitation/lettres-mortes"): USER,
    # -- ui: account (gateway/ui/account.py)
    ("POST", "/compte/mot-de-passe"): USER, ("GET", "/liberal/nouveau"): USER, ("POST", "/liberal/nouveau"): USER,
}

# Routes naming a dossier, patient, demande, unit or établissement: the body an intruder sends (valid, so the
# answer is the rights check) and which subject's ids they take ("A": a hospital dossier; "M": Dr Moreau's
# dossier, for the expired delegate). FHIR resource ids are covered by the read-back tests (rights filter Tasks).
ID_PARAMS = re.compile(r"\{(dossier_id|patient_id|demande_id|unite_id|etablissement_id)\}")
INTRUDER_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/etablissements/{etablissement_id}/unites"): {"code_uf": "9999", "nom": "Intrus",
                                                                   "type": "mco"},
    ("GET", "/api/v1/patients/{patient_id}"): None,
    ("GET", "/api/v1/dossiers/{dossier_id}"): None,
    ("PATCH", "/api/v1/dossiers/{dossier_id}/volets/{volet}"): {"telephone": "0600000000"},
    ("PUT", "/api/v1/dossiers/{dossier_id}/bloc-note"): {"texte": "intrusion"},
    ("POST", "/api/v1/dossiers/{dossier_id}/pieces-jointes"): {"nom": "x.pdf", "type_mime": "application/pdf",
                                                               "taille": 10},
    ("POST", "/api/v1/dossiers/{dossier_id}/dossier-grand-age"): None,
    ("POST", "/api/v1/dossiers/{dossier_id}/transfert"): "UNITE",
    ("PUT", "/api/v1/dossiers/{dossier_id}/retour-domicile"): {"date": None},
    ("POST", "/api/v1/dossiers/{dossier_id}/annulation"): {"motif": "intrusion"},
    ("POST", "/api/v1/dossiers/{dossier_id}/reactivation"): None,
    ("DELETE", "/api/v1/dossiers/{dossier_id}/relance-auto"): None,
    ("GET", "/api/v1/dossiers/{dossier_id}/historique"): None,
    ("POST", "/api/v1/dossiers/{dossier_id}/demandes"): "SELECTION",
    ("GET", "/api/v1/demandes/{demande_id}"): None,
    ("POST", "/api/v1/demandes/{demande_id}/{action}"): {},
    ("GET", "/api/v1/patients/{patient_id}/identite"): None,
    ("POST", "/api/v1/patients/{patient_id}/identite/recuperer-ins"): None,
    ("POST", "/api/v1/patients/{patient_id}/identite/verifier-ins"): None,
    ("POST", "/api/v1/patients/{patient_id}/identite/validation"): {"piece_identite": "PA"},
    ("PUT", "/api/v1/patients/{patient_id}/identite/attributs/{attribut}"): {"actif": True},
    ("GET", "/api/v1/patients/{patient_id}/doublons"): None,
    ("GET", "/dossiers/{dossier_id}"): None,
    ("GET", "/api/v1/etablissements/{etablissement_id}/comptes"): None,
    ("POST", "/api/v1/liberal/dossiers/{dossier_id}/acceptation"): None,
    ("POST", "/api/v1/liberal/dossiers/{dossier_id}/refus"): None,
    ("POST", "/liberal/dossiers/{dossier_id}/{reponse}"): "FORM",
    # -- ui intruders: dossier
    ("GET", "/dossiers/{dossier_id}/volets/{volet}"): None, ("POST", "/dossiers/{dossier_id}/volets/{volet}"): "FORM",
    ("POST", "/dossiers/{dossier_id}/bloc-note"): "FORM", ("POST", "/dossiers/{dossier_id}/pieces-jointes"): "FORM",
    ("GET", "/dossiers/{dossier_id}/pieces-jointes/{piece_id}"): None,
    ("POST", "/dossiers/{dossier_id}/identite/{action}"): "FORM", ("GET", "/dossiers/{dossier_id}/impression"): None,
    ("GET", "/dossiers/{dossier_id}/historique"): None,
    # -- ui intruders: dashboard
    # -- ui intruders: envoi
    ("GET", "/dossiers/{dossier_id}/envoi"): None, ("POST", "/dossiers/{dossier_id}/envoi"): "FORM",
    ("POST", "/dossiers/{dossier_id}/demandes/annulation"): "FORM",
    ("POST", "/dossiers/{dossier_id}/demandes/{demande_id}/{action}"): "FORM",
    ("POST", "/dossiers/{dossier_id}/transfert"): "FORM", ("POST", "/dossiers/{dossier_id}/retour-domicile"): "FORM",
    ("POST", "/dossiers/{dossier_id}/annulation"): "FORM", ("POST", "/dossiers/{dossier_id}/reactivation"): "FORM",
    ("POST", "/dossiers/{dossier_id}/relance-auto"): "FORM",
    # -- ui intruders: receveur
    ("GET", "/receveur/demandes/{demande_id}"): None, ("POST", "/receveur/demandes/{demande_id}/{action}"): "FORM",
    # -- ui intruders: grand_age
    ("GET", "/dossiers/{dossier_id}/aggir"): None, ("POST", "/dossiers/{dossier_id}/aggir"): "FORM",
    ("POST", "/dossiers/{dossier_id}/dossier-grand-age"): "FORM",
    # -- ui intruders: admin
    # -- ui intruders: exploitation
    # -- ui intruders: account
}


def route_table(app: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for context in routing.iter_route_contexts(app.routes):
        for method in sorted(getattr(context, "methods", None) or ()):
            if method != "HEAD":
                out.append((method, str(context.path)))
    return out


@dataclass
class Ids:
    dossier: int
    patient: int
    demande: int
    unite: int  # a unit of the dossier's établissement (A) / of the receiving établissement (M)
    etablissement: int
    volet: str  # the dossier's administrative volet (its name depends on the module)


def _ids(api: Any, ipp: str, module: str, finess: str, code_uf: str) -> Ids:
    from orientation_core.patients.model import TypeIdentifiantPatient

    with api.container.uow() as uow:
        patient = uow.patients.by_identifier(TypeIdentifiantPatient.IPP, ipp, "690001011")
        assert patient is not None and patient.id is not None
        dossier = next(d for d in uow.dossiers.for_patient(patient.id) if d.module.value == module)
        demande = uow.demandes.for_dossier(dossier.id)[0]
        etab = uow.directory.etablissement_by_finess(finess)
        assert dossier.id is not None and demande.id is not None and etab is not None and etab.id is not None
        volet = "administratif_social" if module == "sanitaire" else "administratif"
        return Ids(dossier.id, patient.id, demande.id, api.unite_id(code_uf), etab.id, volet)


def fill(path: str, ids: Ids, api: Any) -> str:
    values = {"dossier_id": ids.dossier, "patient_id": ids.patient, "demande_id": ids.demande,
              "unite_id": ids.unite, "etablissement_id": ids.etablissement, "volet": ids.volet,
              "action": "relancer_receveur", "attribut": "homonyme", "habilitation_id": 1, "delegation_id": 1,
              "notification_id": 1, "inbox_id": 1, "piece_id": 1, "conflit_id": 1, "resource_type": "Patient",
              "resource_id": "inconnu", "version_id": 1, "path": "Inconnu/1", "token": "jeton-inconnu",
              "ticket": "ticket-inconnu", "client_id": "dpi-demo-saint-exupery", "target_id": 1,
              "reponse": "acceptation"}
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: str(values[m.group(1)]), path)


def session_for(api: Any, login: str) -> dict[str, str]:
    """A real server-side session for ``login`` (the row ``open_session`` writes), as request headers."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with api.container.uow() as uow:
        user = uow.users.by_login(login)
        assert user is not None and user.id is not None
        uow.auth.add_session(token_hash=sessions._hash(token), user_id=user.id, method="test", csrf_token=csrf,
                             account_complete=True, at=api.clock.now(), ip="127.0.0.1", user_agent="test")
    return {"Cookie": f"aiguillage_session={token}", sessions.CSRF_HEADER: csrf, "Accept": "application/json"}


def call(api: Any, method: str, url: str, headers: dict[str, str], body: Any = None,
         form: dict[str, str] | None = None) -> httpx.Response:
    api.client.cookies.clear()
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if form is not None:
        kwargs["data"] = form
    elif body is not None:
        kwargs["json"] = body
    response: httpx.Response = api.client.request(method, url, **kwargs)
    return response


def _no_patient_data(response: httpx.Response) -> None:
    for word in PATIENT_WORDS:
        assert word not in response.text, (response.request.method, str(response.request.url), word)


# ====================================================================================================================


def test_every_route_is_classified(make_api: Any) -> None:
    api = make_api()
    routes = route_table(api.client.app)
    missing = [r for r in routes if r not in RULES]
    assert not missing, f"routes without a security rule (add them to RULES): {missing}"
    stale = [r for r in RULES if r not in routes]
    assert not stale, f"rules for routes that no longer exist: {stale}"
    id_routes = [r for r in routes if ID_PARAMS.search(r[1]) and not r[1].startswith("/fhir/")]
    unchecked = [r for r in id_routes if r not in INTRUDER_BODIES]
    assert not unchecked, f"routes taking a dossier/patient/demande/unit id without an intruder check: {unchecked}"


@pytest.mark.parametrize("profile", ["demo", "production"])
def test_anonymous_callers_are_refused_everywhere_but_public_routes(make_api: Any, gw: dict[str, Any],
                                                                   profile: str) -> None:
    settings: dict[str, Any] = {"profile": profile}
    if profile == "production":
        settings["secret_key"] = "a-real-secret-for-the-tests-0123456789"
    api = make_api(**settings)
    a = _ids(api, "100001", "sanitaire", "690001011", "1101")
    # production: the development header names a real administrator, and must be ignored
    headers = {"Accept": "text/html"} if profile == "demo" else {"Accept": "text/html", "X-Aiguillage-Utilisateur":
                                                                 gw["ADMIN"]}
    failures: list[str] = []
    for method, path in route_table(api.client.app):
        rule = RULES.get((method, path), USER)  # unclassified: fails the classification test, checked as USER
        for accept in ("text/html", "application/json"):
            response = call(api, method, fill(path, a, api), headers | {"Accept": accept}, body={})
            _no_patient_data(response)
            if rule == PUBLIC:
                continue
            status = response.status_code
            refused = status in (401, 403) or (
                status in (302, 303, 307) and response.headers.get("location", "").startswith(LOGIN_PATH))
            if rule == BEARER:
                refused = status == 401
            elif rule == CATCH_ALL:
                refused = status in (401, 404)
            if not refused:
                failures.append(f"{method} {path} [{accept}] → {status}")
    assert not failures, "anonymous calls not refused:\n" + "\n".join(failures)


def _intruder_request(api: Any, method: str, path: str, ids: Ids, other_unit: int) -> tuple[str, Any, Any]:
    body = INTRUDER_BODIES[(method, path)]
    form: dict[str, str] | None = None
    if body == "UNITE":
        body = {"unite_id": other_unit}
    elif body == "SELECTION":
        body = {"unite_ids": [other_unit], "envoyer": False}
    elif body == "FORM":
        body, form = None, {}
    return fill(path, ids, api), body, form


def _refused_everywhere(api: Any, headers: dict[str, str], ids: Ids, other_unit: int,
                        skip: set[str] | None = None) -> list[str]:
    failures: list[str] = []
    for (method, path) in INTRUDER_BODIES:
        if skip and any(s in path for s in skip):
            continue
        url, body, form = _intruder_request(api, method, path, ids, other_unit)
        if form is not None:
            form = {sessions.CSRF_FIELD: headers[sessions.CSRF_HEADER]}
        response = call(api, method, url, headers, body=body, form=form)
        _no_patient_data(response)
        if response.status_code not in (403, 404):
            failures.append(f"{method} {path} → {response.status_code} {response.text[:160]}")
        elif response.headers.get("content-type", "").startswith("application/problem+json"):
            code = response.json().get("code")
            if code in ("csrf.refuse", "authentification.requise", "compte.incomplet"):  # not the rights check
                failures.append(f"{method} {path} → refused before the rights check ({code})")
    return failures


def test_user_of_another_etablissement_is_refused_on_every_id_route(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    a = _ids(api, "100001", "sanitaire", "690001011", "1101")
    # positive controls: the same URLs answer the dossier's prescripteur
    martin = session_for(api, gw["MARTIN"])
    for url in (f"/api/v1/dossiers/{a.dossier}", f"/api/v1/patients/{a.patient}", f"/api/v1/demandes/{a.demande}",
                f"/api/v1/dossiers/{a.dossier}/historique", f"/dossiers/{a.dossier}"):
        assert call(api, "GET", url, martin).status_code == 200, url
    intruder = session_for(api, gw["HAD_RECEVEUR"])  # HAD Rhône Santé: no demande of this dossier reached it
    before = api.count_rows()
    failures = _refused_everywhere(api, intruder, a, api.unite_id("3101"))
    assert not failures, "another établissement's user was not refused:\n" + "\n".join(failures)
    after = api.count_rows()
    assert {k: v for k, v in after.items() if k not in ("session", "history_event")} == \
           {k: v for k, v in before.items() if k not in ("session", "history_event")}


def test_expired_delegate_is_refused_on_every_id_route(make_api: Any, gw: dict[str, Any]) -> None:
    api = make_api()
    m = _ids(api, "100011", "grand_age", "690005053", "5102")
    leroy = session_for(api, gw["LEROY"])  # confrère of Dr Moreau: délégation from day -10 to day +20
    assert call(api, "GET", f"/api/v1/dossiers/{m.dossier}", leroy).status_code == 200  # active: he may read
    api.clock.advance(days=21)  # the délégation has expired
    assert call(api, "GET", f"/api/v1/dossiers/{m.dossier}", session_for(api, gw["MOREAU"])).status_code == 200
    leroy = session_for(api, gw["LEROY"])
    failures = _refused_everywhere(api, leroy, m, api.unite_id("5101"),
                                   skip={"{etablissement_id}"})  # Dr Leroy is in no établissement: not his scope
    assert not failures, "an expired delegate was not refused:\n" + "\n".join(failures)


def test_expired_delegate_without_session_either(make_api: Any, gw: dict[str, Any]) -> None:
    """The dev header path (demo profile) applies the same rights: an expired délégation opens nothing."""
    api = make_api()
    m = _ids(api, "100011", "grand_age", "690005053", "5102")
    api.clock.advance(days=21)
    r = api.get(gw["LEROY"], f"/api/v1/dossiers/{m.dossier}")
    assert r.status_code == 403

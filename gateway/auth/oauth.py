"""Server-to-server launch: OAuth2 client credentials with ``private_key_jwt`` client authentication (RFC 7523),
then ``POST /api/v1/launches`` with a FHIR Bundle, answered with a one-time URL valid 2 minutes.

``POST /oauth/token`` (form): ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``, ``client_assertion`` = a JWT
signed by one of the client's registered keys with ``iss`` = ``sub`` = client id, ``aud`` = this token endpoint's
URL (or the server's public address), ``exp`` ≤ 5 minutes after ``iat``, ``jti`` single use. The answer is a Bearer
access token (an HS256 JWT signed with a key derived from ``AIGUILLAGE_SECRET_KEY``), valid
``oauth_token_seconds``.

``POST /api/v1/launches`` (Bearer): the body is a FHIR Bundle (Patient with its IPP, Encounter with the NDA and
the établissement, ServiceRequest with the module category, the orientation code and the requester Practitioner
whose IDNPS is the user). It goes through the FHIR intake mapping (mappings.fhir.to_canonical) and the registry
(pipeline.apply_canonical: identity, stay, DPI context), then the launch is checked like a browser launch (user,
établissement, module allowed for the client) and kept as a one-time ticket.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from starlette.concurrency import run_in_threadpool

from gateway import errors
from gateway.auth import launch
from gateway.container import Container
from gateway.intake import pipeline, translate
from mappings.fhir.intake import to_canonical
from orientation_core.auth.model import LaunchTicket
from orientation_core.errors import AiguillageError

log = structlog.get_logger("aiguillage.securite")

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_PATH = "/oauth/token"
ACCESS_AUDIENCE = "aiguillage-api"
ACCESS_ISSUER = "aiguillage"
PURPOSE_ASSERTION = "assertion"

router = APIRouter(tags=["lancement DPI"])


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _signing_key(c: Container) -> OctKey:
    secret = c.settings.secret_key.get_secret_value().encode()
    return OctKey.import_key(hashlib.sha256(b"aiguillage/oauth-access-token/" + secret).digest())


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return JSONResponse({"error": error, "error_description": description}, status_code=status, headers=headers)


def issue_token(c: Container, form: dict[str, str], base_url: str) -> dict[str, Any]:
    """Verify the client assertion; the access token. Raises ``launch.LaunchRefused`` or ``ValueError``."""
    if form.get("grant_type") != "client_credentials":
        raise ValueError("unsupported_grant_type")
    if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
        raise ValueError("invalid_request")
    base = launch.audience(c, base_url)
    client, claims = launch.verify_signed(c, form["client_assertion"], expected_aud=(base + TOKEN_PATH, base),
                                          purpose=PURPOSE_ASSERTION)
    if claims.get("sub") != client.client_id or (form.get("client_id") not in (None, "", client.client_id)):
        raise launch.LaunchRefused("jeton_illisible", client_id=client.client_id)
    now = int(c.env.clock.now().timestamp())
    lifetime = c.settings.oauth_token_seconds
    access = jwt.encode({"alg": "HS256"}, {"iss": ACCESS_ISSUER, "aud": ACCESS_AUDIENCE, "sub": client.client_id,
                                           "scope": "launch", "iat": now, "exp": now + lifetime,
                                           "jti": secrets.token_hex(12)}, _signing_key(c))
    log.info("oauth.jeton_emis", client_id=client.client_id)
    return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime, "scope": "launch"}


@router.post(TOKEN_PATH, summary="Jeton d'accès (client credentials, private_key_jwt)")
async def token(request: Request) -> JSONResponse:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    c = _container(request)
    try:
        body = await run_in_threadpool(issue_token, c, form, str(request.base_url))
    except ValueError as exc:
        return _oauth_error(400, str(exc), "Requête de jeton invalide (client_credentials + private_key_jwt).")
    except launch.LaunchRefused as exc:
        exc.log(request.url.path)
        return _oauth_error(401, "invalid_client", f"Authentification du client refusée : {exc.titre}.")
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


class BearerRefused(AiguillageError):
    code = "oauth.jeton_invalide"


def bearer_client(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
    """The DPI client an access token of /oauth/token names (still registered and active)."""
    c = _container(request)
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise BearerRefused("Jeton d'accès (Bearer) requis : obtenez-le sur /oauth/token.")
    try:
        claims = jwt.decode(value.strip(), _signing_key(c), algorithms=["HS256"]).claims
    except (JoseError, ValueError):
        raise BearerRefused("Jeton d'accès invalide.") from None
    now = c.env.clock.now().timestamp()
    if claims.get("aud") != ACCESS_AUDIENCE or claims.get("iss") != ACCESS_ISSUER \
            or not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        raise BearerRefused("Jeton d'accès expiré ou invalide : demandez-en un nouveau.")
    client_id = str(claims.get("sub"))
    with c.uow() as uow:
        client = uow.auth.client(client_id)
    if client is None or not client.actif:
        raise BearerRefused("Client DPI inconnu ou désactivé.")
    return client_id


BearerClient = Annotated[str, Depends(bearer_client)]


def _ticket_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_launch(c: Container, client_id: str, bundle: Any, base_url: str) -> dict[str, Any]:
    """FHIR Bundle → registry (identity, stay, DPI context) → checked launch claims → one-time URL."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise launch.LaunchRefused("patient_absent", client_id=client_id, detail="bundle")
    now = c.env.clock.now()
    canonical = to_canonical(bundle, received_at=now, sender=client_id)
    ipp = translate.ipp_of(canonical)
    request_ = canonical.admission_request
    if ipp is None or canonical.patient is None:
        raise launch.LaunchRefused("patient_absent", client_id=client_id)
    if request_ is None:
        raise launch.LaunchRefused("module_invalide", client_id=client_id)
    finess = (canonical.stay.etablissement_finess if canonical.stay else "") or ipp.autorite
    claims: dict[str, Any] = {
        "iss": client_id, "sub": request_.requester.idnps if request_.requester else "",
        "module": request_.module.value, "patient": {"ipp": ipp.valeur, "finess": finess},
        "sejour": {"nda": canonical.stay.nda if canonical.stay else ""},
        "orientation": request_.type_orientation, "jti": secrets.token_hex(12),
    }
    with c.uow() as uow:
        client = uow.auth.client(client_id)
    assert client is not None
    launch.check_claims(c, client, claims)  # before writing anything: user, établissement, module allowed
    token_ = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(seconds=c.settings.launch_ticket_seconds)
    with c.uow() as uow:
        pipeline.apply_canonical(uow, c.env, canonical)  # identity, stay, DPI context, as the FHIR intake does
        uow.auth.add_ticket(_ticket_hash(token_), client_id, claims, now, expires_at)
    url = f"{launch.audience(c, base_url)}/demande-admission/ticket/{token_}"
    log.info("lancement.ticket_emis", client_id=client_id)
    return {"url": url, "expires_in": c.settings.launch_ticket_seconds,
            "expires_at": expires_at.isoformat().replace("+00:00", "Z")}


def consume_ticket(c: Container, token_: str) -> LaunchTicket:
    with c.uow() as uow:
        found = uow.auth.consume_ticket(_ticket_hash(token_), c.env.clock.now())
    if found is None:
        raise launch.LaunchRefused("ticket_invalide")
    return found


@router.post("/api/v1/launches", status_code=201, summary="Lancement serveur à serveur : lien à usage unique")
async def post_launch(request: Request, client_id: BearerClient) -> JSONResponse:
    c = _container(request)
    try:
        bundle = json.loads(await request.body())
    except ValueError:
        return errors.problem(400, "requete.invalide", "Le corps doit être un Bundle FHIR en JSON.")
    try:
        body = await run_in_threadpool(create_launch, c, client_id, bundle, str(request.base_url))
    except launch.LaunchRefused as exc:
        exc.log(request.url.path)
        return errors.problem(exc.status, f"lancement.{exc.reason}", f"{exc.titre}. {exc.que_faire}")
    return JSONResponse(body, status_code=201, headers={"Cache-Control": "no-store"})

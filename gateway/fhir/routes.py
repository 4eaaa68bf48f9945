"""The FHIR R4 routes, base ``/fhir/r4``. Every answer is FHIR JSON; every error an OperationOutcome.

Identity (demo profile, until the authentication issue): ``X-Aiguillage-Client-FHIR: <client>`` names a DPI
client for intake; ``X-Aiguillage-Utilisateur: <login>`` names a user, required to read dossiers and demandes
back (his rights filter them) and accepted for intake too. Outside the demo profile every call is refused (401).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from fhir_profiles import known_profiles, structure_definition
from gateway.api.deps import DEV_USER_HEADER
from gateway.container import Container
from gateway.errors import Unauthenticated
from gateway.fhir import capability, intake, readback, subscriptions
from gateway.fhir.indexing import SEARCH_PARAMS, parse_query
from gateway.fhir.outcome import FHIR_JSON, FhirError, error_response, fhir_response, media_type, outcome
from orientation_core.errors import AiguillageError, Forbidden, NotFound, StoreUnavailable, ValidationFailed

BASE = "/fhir/r4"
CLIENT_HEADER = "X-Aiguillage-Client-FHIR"
READ_TYPES = (*intake.INTAKE_TYPES, "Task", "StructureDefinition", "Subscription")
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
FHIR_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/fhir+json": {"schema": {"type": "object", "additionalProperties": True,
                                         "properties": {"resourceType": {"type": "string"}}}}}}}
ANSWERS: dict[int | str, dict[str, Any]] = {
    s: {"description": d, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    for s, d in ((400, "Requête invalide (OperationOutcome)"), (401, "Non authentifié"), (404, "Introuvable"),
                 (406, "Format non pris en charge"), (409, "Conflit"), (412, "Précondition non remplie"),
                 (415, "Type de contenu non pris en charge"), (422, "Profil non respecté"))}


def _status_for(exc: AiguillageError) -> tuple[int, str]:
    if isinstance(exc, Unauthenticated):
        return 401, "login"
    if isinstance(exc, Forbidden):
        return 403, "forbidden"
    if isinstance(exc, NotFound):
        return 404, "not-found"
    if isinstance(exc, ValidationFailed):
        return 422, "business-rule"
    if isinstance(exc, StoreUnavailable):
        return 503, "transient"
    return 409, "conflict"


class FhirRoute(APIRoute):
    """Errors of any layer become OperationOutcomes; request bodies must be FHIR JSON (else 415)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                media = media_type(request)
            except FhirError as exc:
                return error_response(exc)
            try:
                if request.method in ("POST", "PUT"):
                    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
                    if content_type and content_type not in JSON_TYPES:
                        raise FhirError(415, f"Type de contenu non pris en charge : « {content_type} » "
                                             "(application/fhir+json attendu).", "not-supported")
                response = await handler(request)
            except FhirError as exc:
                return error_response(exc, media)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "header", "path"))
                return error_response(FhirError(400, f"Paramètre invalide : {where} ({first.get('msg', '')}).",
                                                "invalid", where), media)
            except AiguillageError as exc:
                status, code = _status_for(exc)
                headers = {"Retry-After": "5"} if status == 503 else None
                response = error_response(FhirError(status, exc.message, code), media)
                if headers:
                    response.headers.update(headers)
                return response
            if media != FHIR_JSON and response.media_type and response.media_type.startswith(FHIR_JSON):
                response.headers["content-type"] = f"{media}; charset=utf-8"
            return response

        return route


router = APIRouter(prefix=BASE, tags=["FHIR R4"], route_class=FhirRoute)


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _client(request: Request) -> str:
    """The caller of an intake interaction (demo profile): a DPI client id or a user login."""
    c = _container(request)
    if not c.settings.demo:
        raise Unauthenticated("Authentification requise.")
    client = (request.headers.get(CLIENT_HEADER) or request.headers.get(DEV_USER_HEADER) or "").strip()
    if not client:
        raise Unauthenticated(f"En-tête {CLIENT_HEADER} ou {DEV_USER_HEADER} manquant (profil de démonstration).")
    return client[:255]


def _user(request: Request) -> int:
    """The user reading dossiers and demandes back: his rights filter what he sees."""
    c = _container(request)
    if not c.settings.demo:
        raise Unauthenticated("Authentification requise.")
    login = (request.headers.get(DEV_USER_HEADER) or "").strip()
    if not login:
        if request.headers.get(CLIENT_HEADER):
            raise Forbidden(f"La relecture des dossiers et demandes demande un utilisateur ({DEV_USER_HEADER}).")
        raise Unauthenticated(f"En-tête {DEV_USER_HEADER} manquant (profil de démonstration).")
    with c.uow() as uow:
        user = uow.users.by_login(login)
    if user is None or user.id is None or not user.actif:
        raise Unauthenticated("Utilisateur inconnu ou désactivé.")
    return user.id


def _check_type(resource_type: str, allowed: tuple[str, ...] = READ_TYPES) -> None:
    if resource_type not in allowed:
        raise FhirError(404, f"Type de ressource non pris en charge : « {resource_type} ».", "not-supported")


def _written(result: intake.Outcome, request: Request, media: str) -> Response:
    headers = {"ETag": result.etag, "Location": f"{BASE}/{result.location}",
               "Last-Modified": str((result.resource.get("meta") or {}).get("lastUpdated", ""))}
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return Response(status_code=result.status, headers=headers)
    if "return=OperationOutcome" in prefer:
        return fhir_response(outcome(result.warnings), result.status, media=media, headers=headers)
    return fhir_response(result.resource, result.status, media=media, headers=headers)


def _searchset(request: Request, total: int, resources: list[dict[str, Any]], offset: int, count: int
               ) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    self_url = str(request.url)
    links = [{"relation": "self", "url": self_url}]
    if offset + count < total:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("_offset", "_count")]
        params += [("_count", str(count)), ("_offset", str(offset + count))]
        query = "&".join(f"{k}={v}" for k, v in params)
        links.append({"relation": "next", "url": f"{request.url.path}?{query}"})
    return {"resourceType": "Bundle", "type": "searchset", "total": total, "link": links,
            "entry": [{"fullUrl": f"{base}{BASE}/{r['resourceType']}/{r['id']}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


# ====================================================================================================================
# Routes
# ====================================================================================================================


@router.get("/metadata", responses=ANSWERS)
def metadata(request: Request) -> Response:
    """CapabilityStatement (FR Core version, profiles, interactions, search parameters)."""
    base = str(request.base_url).rstrip("/") + BASE
    return fhir_response(capability.capability_statement(base, request.app.version), media=media_type(request))


@router.post("", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def post_bundle(request: Request) -> Response:
    """Transaction or batch Bundle (POST, PUT, conditional create and update; urn:uuid: references resolved)."""
    client = _client(request)
    body = await request.body()
    c = _container(request)
    response = await run_in_threadpool(intake.bundle, c, client, body)
    return fhir_response(response, media=media_type(request))


@router.get("/StructureDefinition/{resource_id}", responses=ANSWERS)
def read_structure_definition(resource_id: str, request: Request) -> Response:
    for url in known_profiles():
        if url.rsplit("/", 1)[-1] == resource_id:
            found = structure_definition(url)
            if found is not None:
                return fhir_response(found, media=media_type(request))
    raise FhirError(404, f"StructureDefinition/{resource_id} introuvable.", "not-found")


@router.post("/{resource_type}/$validate", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def validate_type(resource_type: str, request: Request) -> Response:
    """$validate: both validation tiers, nothing stored; always 200 with the OperationOutcome unless the request
    itself is unreadable."""
    _client(request)
    _check_type(resource_type, intake.INTAKE_TYPES)
    body = await request.body()
    issues = await run_in_threadpool(intake.validate_only, resource_type, body, _container(request))
    return fhir_response(outcome(issues), media=media_type(request))


@router.post("/{resource_type}/{resource_id}/$validate", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def validate_instance(resource_type: str, resource_id: str, request: Request) -> Response:
    return await validate_type(resource_type, request)


@router.post("/{resource_type}", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def create(resource_type: str, request: Request,
                 if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None) -> Response:
    """Create (Patient, ServiceRequest); If-None-Exist: ``identifier=system|value`` makes it conditional."""
    _check_type(resource_type)
    if resource_type == "Subscription":  # REST-hook on Task changes: a user's, his rights filter the Tasks
        user_id = await run_in_threadpool(_user, request)  # a database read: off the event loop
        body = await request.body()
        stored = await run_in_threadpool(subscriptions.create, _container(request), user_id, body)
        return _written(intake.Outcome(stored, 201), request, media_type(request))
    client = _client(request)
    if resource_type not in intake.STANDALONE_CREATE:
        raise FhirError(405 if resource_type in READ_TYPES else 404,
                        f"{resource_type} se crée dans un Bundle transaction ou batch.", "not-supported")
    body = await request.body()
    result = await run_in_threadpool(intake.create, _container(request), client, resource_type, body, if_none_exist)
    return _written(result, request, media_type(request))


@router.put("/{resource_type}/{resource_id}", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def update(resource_type: str, resource_id: str, request: Request,
                 if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> Response:
    """Update (Patient): a new version; update-as-create with the client's id; If-Match for optimistic locking."""
    client = _client(request)
    _check_type(resource_type)
    if resource_type not in intake.STANDALONE_UPDATE:
        raise FhirError(405, f"{resource_type} ne se met pas à jour hors d'un Bundle.", "not-supported")
    body = await request.body()
    result = await run_in_threadpool(intake.update, _container(request), client, resource_type, resource_id, body,
                                     if_match, None)
    return _written(result, request, media_type(request))


@router.put("/{resource_type}", responses=ANSWERS, openapi_extra=FHIR_BODY)
async def conditional_update(resource_type: str, request: Request, identifier: str | None = None,
                             if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> Response:
    """Conditional update: ``PUT /Patient?identifier=system|value``."""
    client = _client(request)
    _check_type(resource_type)
    if resource_type not in intake.STANDALONE_UPDATE:
        raise FhirError(405, f"{resource_type} ne se met pas à jour hors d'un Bundle.", "not-supported")
    if identifier is None:
        raise FhirError(400, "Mise à jour conditionnelle sans critère : ?identifier=système|valeur.", "required",
                        "identifier")
    body = await request.body()
    result = await run_in_threadpool(intake.update, _container(request), client, resource_type, None, body,
                                     if_match, f"identifier={identifier}")
    return _written(result, request, media_type(request))


def _read(request: Request, resource_type: str, resource_id: str) -> dict[str, Any]:
    c = _container(request)
    if resource_type == "Task":
        user_id = _user(request)
        with c.uow() as uow:
            return readback.read_task(uow, user_id, resource_id, c.env.clock.now())
    if resource_type == "ServiceRequest" and resource_id.startswith("dossier-"):
        user_id = _user(request)
        with c.uow() as uow:
            found = readback.read_dossier(uow, user_id, resource_id, c.env.clock.now())
        if found is not None:
            return found
    _client(request)
    with c.uow() as uow:
        stored = uow.fhir.current(resource_type, resource_id)
        if stored is not None and resource_type == "Subscription":
            stored = subscriptions.current_state(uow, stored)
    if stored is None:
        raise FhirError(404, f"{resource_type}/{resource_id} introuvable.", "not-found")
    return stored


@router.get("/{resource_type}/{resource_id}", responses=ANSWERS)
def read(resource_type: str, resource_id: str, request: Request) -> Response:
    _check_type(resource_type)
    resource = _read(request, resource_type, resource_id)
    meta = resource.get("meta") or {}
    return fhir_response(resource, media=media_type(request),
                         headers={"ETag": f'W/"{meta.get("versionId", "1")}"',
                                  "Last-Modified": str(meta.get("lastUpdated", ""))})


@router.get("/{resource_type}/{resource_id}/_history", responses=ANSWERS)
def history(resource_type: str, resource_id: str, request: Request) -> Response:
    _check_type(resource_type, intake.INTAKE_TYPES)
    _client(request)
    c = _container(request)
    with c.uow() as uow:
        versions = uow.fhir.history(resource_type, resource_id)
    if not versions:
        raise FhirError(404, f"{resource_type}/{resource_id} introuvable.", "not-found")
    base = str(request.base_url).rstrip("/") + BASE
    body = {"resourceType": "Bundle", "type": "history", "total": len(versions),
            "entry": [{"fullUrl": f"{base}/{resource_type}/{resource_id}", "resource": v,
                       "request": {"method": "PUT" if v["meta"]["versionId"] != "1" else "POST",
                                   "url": f"{resource_type}/{resource_id}" if v["meta"]["versionId"] != "1"
                                   else resource_type},
                       "response": {"status": "200 OK" if v["meta"]["versionId"] != "1" else "201 Created",
                                    "etag": f'W/"{v["meta"]["versionId"]}"'}} for v in versions]}
    return fhir_response(body, media=media_type(request))


@router.get("/{resource_type}/{resource_id}/_history/{version_id}", responses=ANSWERS)
def vread(resource_type: str, resource_id: str, version_id: str, request: Request) -> Response:
    _check_type(resource_type, intake.INTAKE_TYPES)
    _client(request)
    if not version_id.isdigit() or len(version_id) > 9:
        raise FhirError(404, f"Version {version_id} introuvable.", "not-found")
    c = _container(request)
    with c.uow() as uow:
        found = uow.fhir.version(resource_type, resource_id, int(version_id))
    if found is None:
        raise FhirError(404, f"{resource_type}/{resource_id}/_history/{version_id} introuvable.", "not-found")
    return fhir_response(found, media=media_type(request), headers={"ETag": f'W/"{version_id}"'})


@router.get("/{resource_type}", responses=ANSWERS)
def search(resource_type: str, request: Request) -> Response:
    """Search: Patient (identifier, family, given, birthdate, gender), ServiceRequest (identifier, patient,
    status), Task (patient:identifier, identifier); _lastUpdated, _id, _count, _offset everywhere."""
    _check_type(resource_type)
    if resource_type not in SEARCH_PARAMS:
        raise FhirError(405, f"La recherche n'est pas proposée pour {resource_type}.", "not-supported")
    query = parse_query(resource_type, list(request.query_params.multi_items()))
    c = _container(request)
    if resource_type == "Task":
        user_id = _user(request)
        with c.uow() as uow:
            total, found = readback.search_tasks(uow, user_id, query, c.env.clock.now())
    else:
        _client(request)
        with c.uow() as uow:
            if query.ids:
                hits = [r for r in (uow.fhir.current(resource_type, i) for i in query.ids) if r is not None]
                total, found = len(hits), hits[query.offset: query.offset + query.count]
            else:
                total, found = uow.fhir.search(resource_type, identifiers=query.identifiers,
                                               criteria=query.criteria, last_updated=query.last_updated,
                                               count=query.count, offset=query.offset)
    return fhir_response(_searchset(request, total, found, query.offset, query.count), media=media_type(request))


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False)
def unknown(path: str) -> Response:
    raise FhirError(404, f"Aucune interaction FHIR à l'adresse « {path} ».", "not-supported")

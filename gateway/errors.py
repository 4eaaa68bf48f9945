"""Domain errors → HTTP problem JSON (RFC 9457) carrying the stable domain ``code``. One table."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from orientation_core.errors import (
    AiguillageError,
    Conflict,
    Forbidden,
    NotFound,
    StoreUnavailable,
    TransitionNotAllowed,
    ValidationFailed,
)

PROBLEM = "application/problem+json"


class Unauthenticated(AiguillageError):
    code = "authentification.requise"


HTTP_STATUS: dict[type[AiguillageError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    TransitionNotAllowed: 409,
    Conflict: 409,
    ValidationFailed: 422,
    StoreUnavailable: 503,
}


def status_for(exc: AiguillageError) -> int:
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 400


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"urn:aiguillage:probleme:{code}", "title": code, "status": status,
                            "code": code, "detail": detail}
    body.update({k: v for k, v in extra.items() if v})
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = [
        {"champ": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    return problem(422, "requete.invalide", "La requête contient des champs invalides.", erreurs=errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(AiguillageError)
    async def _domain(_: Request, exc: AiguillageError) -> JSONResponse:
        return problem(status_for(exc), exc.code, exc.message, details=exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "conflit.integrite", "Cette donnée existe déjà ou référence une donnée absente.")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "introuvable", 405: "methode.interdite"}.get(exc.status_code, "http")
        detail = "Ressource introuvable." if exc.status_code == 404 else str(exc.detail)
        return problem(exc.status_code, code, detail)

"""Pages of the DPI launch: refusal pages, the landing page on the dossier; HTML answers for refusals of browser
navigations (sign-in redirect, CSRF, incomplete account)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from gateway import errors
from gateway.auth import sessions
from gateway.container import Container
from gateway.errors import Unauthenticated
from gateway.ui import render, wants_html
from orientation_core.errors import AiguillageError


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def error_page(request: Request, status: int, titre: str, message: str, que_faire: str = "", *,
               lien: str = "", lien_texte: str = "", reference: str = "") -> Response:
    return render(request, "erreur.html", {"titre": titre, "message": message, "que_faire": que_faire,
                                           "lien": lien, "lien_texte": lien_texte, "reference": reference},
                  status_code=status)


def install(app: FastAPI) -> None:
    """HTML answers for browser navigations; API callers keep the problem JSON of gateway/errors.py."""

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        if wants_html(request):
            c = _container(request)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{c.settings.login_path}?suite={quote(target, safe='')}", status_code=303)
        return errors.problem(401, exc.code, exc.message)

    @app.exception_handler(sessions.CsrfRefused)
    async def _csrf(request: Request, exc: sessions.CsrfRefused) -> Response:
        if wants_html(request):
            return error_page(request, 403, "Action refusée", exc.message,
                              "Rechargez la page d'où vient le formulaire, puis recommencez.")
        return errors.problem(403, exc.code, exc.message)

    @app.exception_handler(sessions.AccountIncomplete)
    async def _incomplete(request: Request, exc: AiguillageError) -> Response:
        if wants_html(request):
            return error_page(request, 403, "Compte à compléter", exc.message,
                              "Complétez votre compte et acceptez la charte d'utilisation.")
        return errors.problem(403, exc.code, exc.message)

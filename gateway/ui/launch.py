"""Pages of the DPI launch: refusal pages, the landing page on the dossier; HTML answers for refusals of browser
navigations (sign-in redirect, CSRF, incomplete account)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from gateway import errors
from gateway.auth import clients, launch, launch_demo, oauth, sessions
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
    """Routes of the launch (browser, one-time URL, landing page), the DPI clients admin API, the OAuth token
    endpoint and server-to-server launches; HTML answers for browser navigations (API callers keep the problem
    JSON of gateway/errors.py)."""
    app.include_router(router)
    app.include_router(clients.router)
    app.include_router(oauth.router)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        if wants_html(request):
            c = _container(request)
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{c.settings.login_path}?suite={quote(target, safe='')}", status_code=303)
        return errors.problem(401, exc.code, exc.message)

    @app.exception_handler(oauth.BearerRefused)
    async def _bearer(request: Request, exc: oauth.BearerRefused) -> Response:
        response = errors.problem(401, exc.code, exc.message)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response

    @app.exception_handler(sessions.CsrfRefused)
    async def _csrf(request: Request, exc: sessions.CsrfRefused) -> Response:
        if wants_html(request):
            return error_page(request, 403, "Action refusée", exc.message,
                              "Rechargez la page d'où vient le formulaire, puis recommencez.")
        return errors.problem(403, exc.code, exc.message)

    @app.exception_handler(AiguillageError)
    async def _domain(request: Request, exc: AiguillageError) -> Response:
        """A page refused by the domain (rights, unknown id, transition): the French error page, not JSON."""
        status = errors.status_for(exc)
        if wants_html(request):
            titre = PAGE_TITLES.get(status, "Action impossible")
            return error_page(request, status, titre, exc.message, PAGE_ADVICE.get(status, ""),
                              lien="/", lien_texte="Retour à l'accueil")
        return errors.problem(status, exc.code, exc.message, details=exc.details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if wants_html(request) and exc.status_code in (404, 405):
            return error_page(request, exc.status_code, "Page introuvable",
                              "Cette adresse ne correspond à aucune page d'Aiguillage.", lien="/",
                              lien_texte="Retour à l'accueil")
        code = {404: "introuvable", 405: "methode.interdite"}.get(exc.status_code, "http")
        detail = "Ressource introuvable." if exc.status_code == 404 else str(exc.detail)
        return errors.problem(exc.status_code, code, detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if wants_html(request):
            return error_page(request, 422, "Formulaire incomplet",
                              "Un champ attendu manque ou n'a pas le bon format.",
                              "Revenez à la page précédente, vérifiez le formulaire puis recommencez.")
        return errors.validation_problem(exc)

    @app.exception_handler(sessions.AccountIncomplete)
    async def _incomplete(request: Request, exc: AiguillageError) -> Response:
        if wants_html(request):
            return error_page(request, 403, "Compte à compléter", exc.message,
                              "Complétez votre compte et acceptez la charte d'utilisation.")
        return errors.problem(403, exc.code, exc.message)


PAGE_TITLES = {403: "Accès refusé", 404: "Introuvable", 409: "Action impossible", 422: "Saisie à corriger"}
PAGE_ADVICE = {403: "Si vous pensez devoir y accéder, demandez l'habilitation au référent de votre établissement.",
               404: "Vérifiez le lien ou repartez de votre tableau de bord."}


# --- DPI launch ----------------------------------------------------------------------------------------------------

router = APIRouter(tags=["lancement DPI"])


def refusal_page(request: Request, exc: launch.LaunchRefused) -> Response:
    reference = exc.log(request.url.path)
    lien = lien_texte = ""
    if exc.reason == "session_requise":
        c = _container(request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        lien, lien_texte = f"{c.settings.login_path}?suite={quote(target, safe='')}", "Se connecter"
    return error_page(request, exc.status, exc.titre, f"La demande d'admission n'a pas pu s'ouvrir : "
                      f"{exc.titre.lower()}.", exc.que_faire, lien=lien, lien_texte=lien_texte,
                      reference=reference)


def _land(request: Request, info: launch.Launch, method: str) -> Response:
    """Opens the dossier; a trusted client's user is signed in directly, an untrusted client's user must already
    be signed in here as that user (checked before the token is consumed, so he can sign in and come back)."""
    c = _container(request)
    dossier_id = launch.open_launch(c, info)
    response = RedirectResponse(f"/dossiers/{dossier_id}", status_code=303)
    if info.trusted:
        sessions.open_session(c, response, info.user_id, method=method, request=request)
    return response


def _require_session_if_untrusted(request: Request, info: launch.Launch) -> None:
    if info.trusted:
        return
    record = sessions.session_from_request(_container(request), request)
    if record is None or record.user_id != info.user_id or not record.account_complete:
        raise launch.LaunchRefused("session_requise", client_id=info.client_id, user_id=info.user_id)


@router.get("/demande-admission", summary="Lancement depuis le DPI (bouton « Demande d'admission »)",
            response_class=HTMLResponse)
def demande_admission(request: Request, launch_token: Annotated[str | None, Query(alias="launch")] = None
                      ) -> Response:
    c = _container(request)
    try:
        if not launch_token:
            raise launch.LaunchRefused("jeton_absent")
        client, claims = launch.verify_signed(c, launch_token, expected_aud=launch.audience(c, str(request.base_url)),
                                              consume=False)
        info = launch.check_claims(c, client, claims)
        _require_session_if_untrusted(request, info)
        launch.consume_jti(c, client.client_id, claims["jti"], claims["exp"])
        return _land(request, info, "dpi_launch")
    except launch.LaunchRefused as exc:
        return refusal_page(request, exc)


@router.get("/demande-admission/ticket/{ticket}", summary="Ouverture d'un lien de lancement à usage unique",
            response_class=HTMLResponse)
def open_ticket(ticket: str, request: Request) -> Response:
    c = _container(request)
    try:
        found = oauth.consume_ticket(c, ticket)
        with c.uow() as uow:
            client = uow.auth.client(found.client_id)
        if client is None or not client.actif:
            raise launch.LaunchRefused("client_inactif", client_id=found.client_id)
        info = launch.check_claims(c, client, found.claims)
        _require_session_if_untrusted(request, info)
        return _land(request, info, "dpi_ticket")
    except launch.LaunchRefused as exc:
        return refusal_page(request, exc)


@router.get("/demo/bouton-dpi", summary="Démo : le bouton « Demande d'admission » d'un DPI",
            response_class=HTMLResponse, include_in_schema=False)
def demo_dpi_button(request: Request) -> Response:
    """Demo profile only (404 otherwise): signs a fresh launch with the demo DPI client's TEST-ONLY key
    and follows it, as the DPI button would. The link ``make run`` prints never expires this way."""
    c = _container(request)
    if not c.settings.demo:
        raise HTTPException(status_code=404)
    base = launch.audience(c, str(request.base_url))
    url = launch_demo.launch_url(base, c.settings.samples_dir, now=c.env.clock.now().timestamp())
    return RedirectResponse(url, status_code=303)

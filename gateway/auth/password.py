"""First step of the password sign-in: identifier (national id printed on the card, or local id) + password.

Allowed only once the account exists (created by a first sign-in with the card, ``gateway/auth/psc.py``). A right
password e-mails a one-time code (outbox, same transaction) and sends the browser to ``/connexion/code``
(``gateway/auth/otp.py``) with a sealed cookie naming the user; nothing else is revealed about the account.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.auth import sessions
from gateway.auth.otp import HASHER, PENDING_COOKIE, PENDING_SECONDS, CodeHasher, client_ip, policy, seal, set_sealed
from gateway.container import Container
from orientation_core.people import accounts
from orientation_core.people.accounts import SignInRefused

log = structlog.get_logger("aiguillage.securite")
router = APIRouter(tags=["authentification"])


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def password_page(request: Request, *, identifiant: str = "", erreur: str = "", suite: str = "/",
                  status: int = 200) -> Response:
    from gateway.ui.account import page

    return page(request, "auth/mot_de_passe.html", {"identifiant": identifiant, "erreur": erreur, "suite": suite},
                status=status)


@router.get("/connexion/mot-de-passe", summary="Connexion par identifiant et mot de passe", include_in_schema=False)
def password_form(request: Request, suite: str = "/") -> Response:
    return password_page(request, suite=safe_next(suite))


@router.post("/connexion/mot-de-passe", summary="Vérifier l'identifiant et le mot de passe", include_in_schema=False)
def password_submit(request: Request, identifiant: Annotated[str, Form()] = "",
                    mot_de_passe: Annotated[str, Form()] = "", suite: Annotated[str, Form()] = "/",
                    _: None = sessions.CsrfChecked) -> Response:
    c = _container(request)
    suite = safe_next(suite)
    refused: SignInRefused | None = None
    user_id: int | None = None
    with c.uow() as uow:  # a refusal still commits: failure counters and attempts are the rule
        try:
            user, _code = accounts.check_password_step(uow, c.env, HASHER, identifiant, mot_de_passe,
                                                       client_ip(request), policy(c.settings),
                                                       code_hasher=CodeHasher(c.settings))
            user_id = user.id
        except SignInRefused as exc:
            refused = exc
    if refused is not None or user_id is None:
        assert refused is not None
        log.warning("securite.mot_de_passe_refuse", raison=refused.code, ip=client_ip(request))
        status = 429 if refused.code in ("connexion.trop_de_tentatives", "connexion.trop_de_codes") else 401
        return password_page(request, identifiant=identifiant, erreur=refused.message, suite=suite, status=status)
    response = RedirectResponse("/connexion/code", status_code=303)
    set_sealed(c, request, response, PENDING_COOKIE,
               seal(c, "code", {"user_id": user_id, "suite": suite}, PENDING_SECONDS), PENDING_SECONDS)
    return response

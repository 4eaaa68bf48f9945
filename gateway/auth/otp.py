"""Second step of the password sign-in: the one-time code received by e-mail (rules in
``orientation_core.people.accounts``: 6 digits, 10 minutes, single use, 5 tries, lockout, rate limits).

Also the small pieces the sign-in flows share: argon2 hashing (``Argon2Hasher``), the rule numbers from settings
(``policy``), and sealed short-lived cookies (``seal`` / ``unseal``: HMAC-SHA256 with the server secret) that carry
a flow's state between two requests (PSC state and nonce, the user waiting for his code, the card data of a first
sign-in) without a session.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Annotated, Any

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.auth import sessions
from gateway.container import Container
from gateway.settings import Settings
from orientation_core.people import accounts
from orientation_core.people.accounts import SignInPolicy, SignInRefused

log = structlog.get_logger("aiguillage.securite")

PENDING_COOKIE = "aiguillage_code"  # the user who passed the password step and waits for his code
PENDING_SECONDS = 15 * 60


class Argon2Hasher:
    """argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile)."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, hashed: str, secret: str) -> bool:
        try:
            return self._hasher.verify(hashed, secret)
        except (VerificationError, InvalidHashError):
            return False


HASHER = Argon2Hasher()


class CodeHasher:
    """One-time codes: HMAC-SHA256 keyed with the server secret, random salt per code. A read of the table alone
    does not let anyone test the 10⁶ codes; argon2 would add half a second per step for no gain here."""

    def __init__(self, settings: Settings) -> None:
        self._key = _key(settings, "code-hash")

    def hash(self, secret: str) -> str:
        salt = secrets.token_hex(8)
        return f"hmac-sha256${salt}${hmac.new(self._key, f'{salt}:{secret}'.encode(), hashlib.sha256).hexdigest()}"

    def verify(self, hashed: str, secret: str) -> bool:
        parts = hashed.split("$")
        if len(parts) != 3 or parts[0] != "hmac-sha256":
            return False
        expected = hmac.new(self._key, f"{parts[1]}:{secret}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts[2])


def policy(settings: Settings) -> SignInPolicy:
    return SignInPolicy(
        code_validite=dt.timedelta(minutes=settings.auth_code_minutes), code_essais=settings.auth_code_tries,
        echecs_avant_verrouillage=settings.auth_lockout_failures,
        verrouillage=dt.timedelta(minutes=settings.auth_lockout_minutes),
        fenetre_ip=dt.timedelta(minutes=settings.auth_ip_window_minutes), echecs_par_ip=settings.auth_ip_failures,
        codes_par_heure=settings.auth_codes_per_hour)


# --- sealed cookies ---------------------------------------------------------------------------------------------------


def _key(settings: Settings, purpose: str) -> bytes:
    return hashlib.sha256(f"{purpose}:{settings.secret_key.get_secret_value()}".encode()).digest()


def seal(c: Container, purpose: str, data: dict[str, Any], max_age_seconds: int) -> str:
    expires = int(c.env.clock.now().timestamp()) + max_age_seconds
    payload = base64.urlsafe_b64encode(json.dumps({"e": expires, "d": data}).encode()).decode().rstrip("=")
    signature = hmac.new(_key(c.settings, purpose), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def unseal(c: Container, purpose: str, value: str | None) -> dict[str, Any] | None:
    """The data, or None when absent, tampered with, sealed for another purpose, or expired."""
    if not value or "." not in value:
        return None
    payload, signature = value.rsplit(".", 1)
    expected = hmac.new(_key(c.settings, purpose), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    if int(body.get("e", 0)) < c.env.clock.now().timestamp():
        return None
    data: dict[str, Any] = body.get("d") or {}
    return data


def set_sealed(c: Container, request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/connexion", httponly=True, samesite="lax",
                        secure=sessions._secure(c, request))


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


# --- routes -----------------------------------------------------------------------------------------------------------

router = APIRouter(tags=["authentification"])


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _pending_user(c: Container, request: Request) -> tuple[int, str] | None:
    data = unseal(c, "code", request.cookies.get(PENDING_COOKIE))
    if data is None:
        return None
    return int(data["user_id"]), str(data.get("suite") or "/")


def code_page(request: Request, *, erreur: str = "", info: str = "", status: int = 200) -> Response:
    from gateway.ui.account import page

    return page(request, "auth/code.html", {"erreur": erreur, "info": info}, status=status)


@router.get("/connexion/code", summary="Saisir le code reçu par e-mail", include_in_schema=False)
def code_form(request: Request) -> Response:
    if _pending_user(_container(request), request) is None:
        return RedirectResponse("/connexion/mot-de-passe", status_code=303)
    return code_page(request, info="Un code à 6 chiffres vient de vous être envoyé par e-mail.")


@router.post("/connexion/code", summary="Vérifier le code reçu par e-mail", include_in_schema=False)
def code_submit(request: Request, code: Annotated[str, Form()] = "", _: None = sessions.CsrfChecked) -> Response:
    c = _container(request)
    pending = _pending_user(c, request)
    if pending is None:
        return RedirectResponse("/connexion/mot-de-passe", status_code=303)
    user_id, suite = pending
    refused: SignInRefused | None = None
    complete = False
    with c.uow() as uow:  # a refusal still commits: the try counter and the attempt are the rule
        try:
            accounts.check_code_step(uow, c.env, CodeHasher(c.settings), user_id, code, client_ip(request),
                                     policy(c.settings))
            compte = uow.accounts.get(user_id)
            complete = compte is not None and compte.charte_acceptee
        except SignInRefused as exc:
            refused = exc
    if refused is not None:
        log.warning("securite.code_refuse", user_id=user_id, raison=refused.code)
        status = 429 if refused.code in ("connexion.trop_de_tentatives", "connexion.trop_de_codes") else 401
        return code_page(request, erreur=refused.message, status=status)
    from gateway.ui.account import charter_url

    response = RedirectResponse(suite if complete else charter_url(suite), status_code=303)
    sessions.open_session(c, response, user_id, method="password_otp", request=request, account_complete=complete)
    response.delete_cookie(PENDING_COOKIE, path="/connexion")
    return response


@router.post("/connexion/code/nouveau", summary="Recevoir un nouveau code", include_in_schema=False)
def code_resend(request: Request, _: None = sessions.CsrfChecked) -> Response:
    c = _container(request)
    pending = _pending_user(c, request)
    if pending is None:
        return RedirectResponse("/connexion/mot-de-passe", status_code=303)
    refused: SignInRefused | None = None
    with c.uow() as uow:
        try:
            accounts.resend_code(uow, c.env, CodeHasher(c.settings), pending[0], client_ip(request),
                                 policy(c.settings))
        except SignInRefused as exc:
            refused = exc
    if refused is not None:
        return code_page(request, erreur=refused.message, status=429)
    return code_page(request, info="Un nouveau code vient de vous être envoyé par e-mail. L'ancien ne sert plus.")

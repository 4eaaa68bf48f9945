"""Server-side sessions and CSRF protection.

The cookie carries a random token (``secrets.token_urlsafe(32)``); the ``session`` table keeps its SHA-256, the
user, how he signed in, a CSRF token and the ``account_complete`` flag (charter accepted, mandatory account data
filled). A session ends at sign-out, after ``session_idle_minutes`` without a request, or
``session_absolute_hours`` after it opened, whichever comes first. Every sign-in opens a new session (a new token:
no session fixation).

CSRF: every state-changing request authenticated by the cookie carries the session's CSRF token, in the header
``X-CSRF-Token`` (API calls, htmx) or the form field ``csrf_token`` (HTML forms). Forms shown before any session
(sign-in) use a double-submit cookie instead (``ensure_form_token`` / ``require_csrf``).

The functions other modules call: ``open_session`` (after any successful sign-in), ``close_session``,
``session_from_request``, ``mark_account_complete``; dependencies ``CurrentSession`` (any open session, complete or
not: the account-completion and charter pages) and ``require_complete_account``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import RedirectResponse

from gateway.container import Container
from gateway.errors import Unauthenticated
from orientation_core.auth.model import SessionRecord
from orientation_core.errors import Forbidden

log = structlog.get_logger("aiguillage.securite")

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
CSRF_COOKIE = "aiguillage_csrf"  # double-submit token of forms shown before a session exists
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOUCH_EVERY = dt.timedelta(seconds=60)  # last_seen_at is written at most once a minute per session
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class CsrfRefused(Forbidden):
    code = "csrf.refuse"


class AccountIncomplete(Forbidden):
    """Signed in, but the charter is not accepted or mandatory account data is missing."""

    code = "compte.incomplet"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def _secure(c: Container, request: Request) -> bool:
    if c.settings.session_cookie_secure is not None:
        return c.settings.session_cookie_secure
    return request.url.scheme == "https"


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def open_session(c: Container, response: Response, user_id: int, *, method: str, request: Request,
                 account_complete: bool = True) -> SessionRecord:
    """Sign ``user_id`` in: a new session row and its cookie on ``response``. A session this browser already had
    is closed first (new token at every sign-in). ``account_complete=False`` for a first sign-in whose account
    still needs its data and the charter: only the pages guarded by ``CurrentSession`` answer it."""
    close_session(c, request, None)
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = c.env.clock.now()
    with c.uow() as uow:
        session_id = uow.auth.add_session(
            token_hash=_hash(token), user_id=user_id, method=method, csrf_token=csrf,
            account_complete=account_complete, at=now, ip=_client_ip(request),
            user_agent=request.headers.get("user-agent", ""))
    record = SessionRecord(id=session_id, user_id=user_id, method=method, csrf_token=csrf,
                           account_complete=account_complete, created_at=now, last_seen_at=now,
                           ip=_client_ip(request))
    response.set_cookie(
        c.settings.session_cookie_name, token, max_age=int(c.settings.session_absolute_hours * 3600),
        path="/", secure=_secure(c, request), httponly=True, samesite="lax")
    request.state.auth_session = record
    log.info("session.ouverte", user_id=user_id, session_id=session_id, methode=method)
    return record


def close_session(c: Container, request: Request, response: Response | None) -> None:
    """Sign out: the session row is closed (the token is dead even if the cookie survives) and the cookie
    cleared on ``response``."""
    token = request.cookies.get(c.settings.session_cookie_name)
    if token:
        now = c.env.clock.now()
        with c.uow() as uow:
            found = uow.auth.session_by_token_hash(_hash(token))
            if found is not None and found.closed_at is None:
                uow.auth.close_session(found.id, now)
                log.info("session.fermee", user_id=found.user_id, session_id=found.id)
    request.state.auth_session = None
    if response is not None:
        response.delete_cookie(c.settings.session_cookie_name, path="/", secure=_secure(c, request),
                               httponly=True, samesite="lax")


def _expired(c: Container, record: SessionRecord, now: dt.datetime) -> str | None:
    if record.closed_at is not None:
        return "fermee"
    if now - record.created_at >= dt.timedelta(hours=c.settings.session_absolute_hours):
        return "duree_maximale"
    if now - record.last_seen_at >= dt.timedelta(minutes=c.settings.session_idle_minutes):
        return "inactivite"
    return None


def session_from_request(c: Container, request: Request) -> SessionRecord | None:
    """The open session named by the cookie, or None (no cookie, unknown, closed, timed out, user deactivated).
    A timed-out session is closed in the store. Cached on the request."""
    if hasattr(request.state, "auth_session"):
        cached: SessionRecord | None = request.state.auth_session
        return cached
    token = request.cookies.get(c.settings.session_cookie_name)
    record: SessionRecord | None = None
    if token:
        now = c.env.clock.now()
        with c.uow() as uow:
            found = uow.auth.session_by_token_hash(_hash(token))
            if found is not None:
                reason = _expired(c, found, now)
                user = uow.users.get(found.user_id)
                if reason is None and not user.actif:
                    reason = "compte_desactive"
                if reason is not None:
                    if found.closed_at is None:
                        uow.auth.close_session(found.id, now)
                        log.info("session.expiree", user_id=found.user_id, session_id=found.id, raison=reason)
                else:
                    if now - found.last_seen_at >= TOUCH_EVERY:
                        uow.auth.touch_session(found.id, now)
                    record = found
    request.state.auth_session = record
    return record


def mark_account_complete(c: Container, request: Request) -> None:
    """The charter is accepted and the account complete: the session now opens every page."""
    record = session_from_request(c, request)
    if record is None:
        raise Unauthenticated("Session expirée : reconnectez-vous.")
    with c.uow() as uow:
        uow.auth.set_account_complete(record.id, True)
    request.state.auth_session = SessionRecord(**{**record.__dict__, "account_complete": True})


# --- CSRF -------------------------------------------------------------------------------------------------------------


async def submitted_csrf(request: Request) -> str | None:
    """The CSRF token a state-changing request carries: the header, or the form field of an HTML form."""
    if request.method in SAFE_METHODS:
        return None
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(FORM_TYPES):
        form = await request.form()  # cached by Starlette: the route's Form parameters read the same form
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


SubmittedCsrf = Annotated[str | None, Depends(submitted_csrf)]


def check_csrf(request: Request, record: SessionRecord | None, submitted: str | None) -> None:
    """A state-changing request must carry the session's CSRF token (or, without a session, the double-submit
    cookie's). Refused with ``CsrfRefused`` (403) and a security event."""
    if request.method in SAFE_METHODS:
        return
    expected = record.csrf_token if record is not None else request.cookies.get(CSRF_COOKIE, "")
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        log.warning("securite.csrf_refuse", user_id=record.user_id if record else None,
                    chemin=request.url.path, methode=request.method)
        raise CsrfRefused("Jeton anti-falsification (CSRF) absent ou invalide : rechargez la page puis "
                          "recommencez.")


def ensure_form_token(request: Request, response: Response) -> str:
    """The CSRF token to put in a form's hidden field ``csrf_token``: the session's, or before any session a
    double-submit cookie set on ``response``."""
    c = _container(request)
    record = session_from_request(c, request)
    if record is not None:
        return record.csrf_token
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
    response.set_cookie(CSRF_COOKIE, token, path="/", secure=_secure(c, request), httponly=True, samesite="lax")
    return token


def require_csrf(request: Request, submitted: SubmittedCsrf) -> None:
    """Dependency for a form route that does not go through ``current_user`` (sign-in, sign-out)."""
    check_csrf(request, session_from_request(_container(request), request), submitted)


CsrfChecked = Depends(require_csrf)


# --- dependencies ----------------------------------------------------------------------------------------------------


def current_session(request: Request, submitted: SubmittedCsrf) -> SessionRecord:
    """Any open session, complete or not, CSRF-checked on state-changing requests: for the account-completion
    and charter pages."""
    record = session_from_request(_container(request), request)
    if record is None:
        raise Unauthenticated("Connectez-vous pour continuer.")
    check_csrf(request, record, submitted)
    return record


CurrentSession = Annotated[SessionRecord, Depends(current_session)]


def require_complete_account(record: CurrentSession) -> SessionRecord:
    """An open session whose account is complete (charter accepted). ``current_user`` applies the same rule to
    every cookie-authenticated call."""
    if not record.account_complete:
        raise AccountIncomplete("Acceptez la charte d'utilisation et complétez votre compte avant de continuer.")
    return record


CompleteSession = Annotated[SessionRecord, Depends(require_complete_account)]


# --- routes ----------------------------------------------------------------------------------------------------------

router = APIRouter(tags=["authentification"])


@router.post("/deconnexion", summary="Se déconnecter")
def sign_out(request: Request, submitted: SubmittedCsrf) -> Response:
    """Closes the session (CSRF-checked: a third-party page cannot sign the user out) and clears the cookie;
    without an open session there is nothing to protect and the browser just goes to the sign-in page."""
    c = _container(request)
    record = session_from_request(c, request)
    if record is not None:
        check_csrf(request, record, submitted)
    response = RedirectResponse(c.settings.login_path, status_code=303)
    close_session(c, request, response)
    return response

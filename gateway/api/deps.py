"""Request dependencies: the container, and the acting user.

The acting user comes from a valid session cookie (gateway/auth/sessions.py, any profile: opened by a sign-in or
a DPI launch) or, in the demo profile only, from the development header naming him by his login (national id or
local id). A cookie-authenticated call that changes state must carry the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf_token``), and a session whose account is not complete (charter) is refused.
Outside the demo profile the header is ignored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.auth import sessions
from gateway.container import Container
from gateway.errors import Unauthenticated

DEV_USER_HEADER = "X-Aiguillage-Utilisateur"


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]


def current_user(
    request: Request,
    c: ContainerDep,
    csrf: sessions.SubmittedCsrf,
    x_aiguillage_utilisateur: Annotated[str | None, Header(alias=DEV_USER_HEADER)] = None,
) -> int:
    # in the demo profile an explicit development header names the acting user and wins over a cookie (a
    # cross-site page cannot set a custom header, so it carries no CSRF risk)
    record = None if c.settings.demo and x_aiguillage_utilisateur else sessions.session_from_request(c, request)
    if record is not None:
        sessions.check_csrf(request, record, csrf)
        if not record.account_complete:
            raise sessions.AccountIncomplete(
                "Acceptez la charte d'utilisation et complétez votre compte avant de continuer.")
        return record.user_id
    if not c.settings.demo:
        raise Unauthenticated("Authentification requise.")
    if not x_aiguillage_utilisateur:
        raise Unauthenticated(f"En-tête {DEV_USER_HEADER} manquant (profil de démonstration).")
    with c.uow() as uow:
        user = uow.users.by_login(x_aiguillage_utilisateur.strip())
    if user is None or user.id is None or not user.actif:
        raise Unauthenticated("Utilisateur inconnu ou désactivé.")
    return user.id


UserId = Annotated[int, Depends(current_user)]

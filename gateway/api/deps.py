"""Request dependencies: the container, and the acting user.

Authentication proper (Pro Santé Connect, DPI launch, password + code) is a later issue. Until then, in the
demo profile only, the development header names the acting user by his login (national id or local id).
Outside the demo profile the header is ignored and every call is refused with 401.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from gateway.container import Container
from gateway.errors import Unauthenticated

DEV_USER_HEADER = "X-Aiguillage-Utilisateur"


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


ContainerDep = Annotated[Container, Depends(container)]


def current_user(
    c: ContainerDep,
    x_aiguillage_utilisateur: Annotated[str | None, Header(alias=DEV_USER_HEADER)] = None,
) -> int:
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

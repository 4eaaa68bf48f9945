"""What every signed-in page shares: who is looking (name, navigation, rights flags), the renderer that puts the
CSRF token in forms, French date and size filters, and a domain error turned into a message next to its field.

Page routes take ``UserId`` (gateway/api/deps.py: a session cookie, CSRF-checked on POST; the demo header in the
demo profile) and call ``show``. An anonymous browser is redirected to sign in by the handler in
gateway/ui/launch.py; a refused right becomes the French error page (gateway/errors.py renders HTML for pages).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.deps import UserId
from gateway.auth import sessions
from gateway.container import Container
from gateway.ui import render, templates
from orientation_core.errors import AiguillageError
from orientation_core.people.model import Role
from orientation_core.people.service import subject_for
from orientation_core.ports import UnitOfWork

PARIS = ZoneInfo("Europe/Paris")

PRESCRIPTEUR_ROLES = (Role.PRESCRIPTEUR, Role.PRESCRIPTEUR_MEDICAL)
RECEVEUR_ROLES = (Role.RECEVEUR, Role.RECEVEUR_MEDICAL, Role.MEDECIN_COORDONNATEUR)


@dataclass(frozen=True)
class Lien:
    libelle: str
    href: str


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as the pages need him: for the header, the navigation and what to offer."""

    user_id: int
    nom: str
    csrf_token: str
    prescripteur: bool = False
    prescripteur_medical: bool = False
    receveur: bool = False
    receveur_medical: bool = False
    referent: bool = False
    administrateur: bool = False
    medecin_liberal: bool = False  # a doctor with no hospital habilitation, or with délégations received
    forme_ins: bool = False
    nav: tuple[Lien, ...] = field(default=())

    @property
    def accueil(self) -> str:
        return self.nav[0].href if self.nav else "/compte"


def container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def viewer_for(uow: UnitOfWork, user_id: int, csrf_token: str) -> Viewer:
    user = uow.users.get(user_id)
    subject = subject_for(uow, user_id)
    roles = {h.role for h in subject.habilitations}
    prescripteur = bool(roles & set(PRESCRIPTEUR_ROLES))
    receveur = bool(roles & set(RECEVEUR_ROLES))
    liberal = subject.est_medecin and not prescripteur and not receveur
    nav: list[Lien] = []
    if prescripteur:
        nav.append(Lien("Mes dossiers", "/tableau-de-bord"))
    if receveur:
        nav.append(Lien("Demandes reçues", "/receveur"))
    if liberal or subject.delegations:
        nav.append(Lien("Espace médecin libéral", "/liberal"))
    if Role.REFERENT in roles or subject.administrateur:
        nav.append(Lien("Administration", "/admin"))
    if subject.administrateur:
        nav.append(Lien("Messages reçus", "/exploitation/messages"))
    nav.append(Lien("Mon compte", "/compte"))
    return Viewer(
        user_id=user_id, nom=f"{user.prenom} {user.nom}", csrf_token=csrf_token, prescripteur=prescripteur,
        prescripteur_medical=Role.PRESCRIPTEUR_MEDICAL in roles, receveur=receveur,
        receveur_medical=bool(roles & {Role.RECEVEUR_MEDICAL, Role.MEDECIN_COORDONNATEUR}),
        referent=Role.REFERENT in roles, administrateur=subject.administrateur, medecin_liberal=liberal,
        forme_ins=user.forme_ins, nav=tuple(nav))


def csrf_token_for(request: Request) -> str:
    record = sessions.session_from_request(container(request), request)
    return record.csrf_token if record is not None else ""


def show(request: Request, user_id: int, name: str, context: dict[str, Any] | None = None, *,
         status: int = 200, uow: UnitOfWork | None = None) -> Response:
    """Render ``name`` for a signed-in user: ``viewer`` (nav, flags), ``csrf_token`` for forms, ``signed_in``.
    Pass the request's open ``uow`` to avoid a second unit of work."""
    token = csrf_token_for(request)
    if uow is not None:
        viewer = viewer_for(uow, user_id, token)
    else:
        with container(request).uow() as own:
            viewer = viewer_for(own, user_id, token)
    return render(request, name, {"viewer": viewer, "csrf_token": token, "signed_in": True,
                                  "chemin": request.url.path, **(context or {})}, status_code=status)


def field_errors(exc: AiguillageError, default_field: str = "_") -> dict[str, str]:
    """The message of a refused action keyed by the field it concerns (``details["champ"]`` when the domain says
    which), else under ``default_field`` (shown at the top of the form)."""
    champ = str(exc.details.get("champ") or exc.details.get("field") or default_field)
    return {champ: exc.message}


def see_other(url: str) -> Response:
    """Post/redirect/get: after a successful form, the browser reloads a page, not the POST."""
    return RedirectResponse(url, status_code=303)


# --- Jinja filters: French display, Paris local time (storage is UTC) -----------------------------------------------


def _local(value: dt.datetime) -> dt.datetime:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(PARIS)


def date_fr(value: dt.date | dt.datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return str(value)
    if isinstance(value, dt.datetime):
        value = _local(value)
    return value.strftime("%d/%m/%Y")


def datetime_fr(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return _local(value).strftime("%d/%m/%Y %H:%M")


def taille(octets: int | None) -> str:
    if octets is None:
        return "—"
    if octets < 1024:
        return f"{octets} o"
    if octets < 1024 * 1024:
        return f"{octets / 1024:.0f} Ko".replace(".", ",")
    return f"{octets / (1024 * 1024):.1f} Mo".replace(".", ",")


def libelle(value: Any) -> str:
    """A field or enum name as words: ``date_hospitalisation`` → ``Date hospitalisation``."""
    text = str(getattr(value, "value", value)).replace("_", " ")
    return text[:1].upper() + text[1:]


templates.env.filters.update({"date_fr": date_fr, "datetime_fr": datetime_fr, "taille": taille, "libelle": libelle})


# --- home ------------------------------------------------------------------------------------------------------------

router = APIRouter(include_in_schema=False)


@router.get("/", summary="Accueil : la première page de l'utilisateur connecté")
def home(request: Request, user_id: UserId) -> Response:
    with container(request).uow() as uow:
        viewer = viewer_for(uow, user_id, "")
    return see_other(viewer.accueil)

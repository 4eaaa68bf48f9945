"""Administrators' pages of the DPI clients: the hospital record systems allowed to launch Aiguillage (list, register,
edit: établissements, modules, trust level, JWKS by address or inline, active)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from gateway.api.deps import UserId
from gateway.auth import clients as dpi
from gateway.ui.admin import MODULE_LABELS, TRUST_LABELS, FormError, erreurs_de, statut_de
from gateway.ui.pages import container, see_other, show
from orientation_core.auth.model import DpiClient, TrustLevel
from orientation_core.dossier.volets import Module
from orientation_core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from orientation_core.people import service as people
from orientation_core.people.policy import may_manage_dpi_clients
from orientation_core.ports import UnitOfWork

router = APIRouter(include_in_schema=False)


# --- DPI clients (administrators) ----------------------------------------------------------------------------------


def _require_admin(uow: UnitOfWork, user_id: int) -> None:
    if not may_manage_dpi_clients(people.subject_for(uow, user_id)):
        raise Forbidden("Seul un administrateur de la plateforme gère les clients DPI.", code="droits.refuse")


def _client_valeurs(uow: UnitOfWork, client: DpiClient) -> dict[str, Any]:
    return {"client_id": client.client_id, "nom": client.nom,
            "etablissements": [uow.directory.get_etablissement(e).finess for e in client.etablissement_ids],
            "modules": [m.value for m in client.modules], "confiance": client.trust.value,
            "jwks": json.dumps(client.jwks, indent=2, ensure_ascii=False) if client.jwks else "",
            "jwks_url": client.jwks_url, "actif": client.actif}


def _clients_page(request: Request, user_id: int, uow: UnitOfWork, *, template: str = "admin/clients_dpi.html",
                  valeurs: dict[str, Any], erreurs: dict[str, str], info: str = "", status: int = 200,
                  client_id: str = "") -> Response:
    clients = [_client_valeurs(uow, cl) | {"cles": "JWKS en ligne" if cl.jwks else cl.jwks_url,
                                           "confiance_libelle": "de confiance" if cl.trust is TrustLevel.TRUSTED
                                           else "session requise"}
               for cl in uow.auth.clients()]
    return show(request, user_id, template, {
        "clients": clients, "valeurs": valeurs, "erreurs": erreurs, "info": info, "client_id": client_id,
        "etablissements": sorted(uow.directory.list_etablissements(), key=lambda e: e.nom),
        "modules": MODULE_LABELS, "confiances": TRUST_LABELS}, status=status, uow=uow)


@router.get("/admin/clients-dpi", summary="Clients DPI : liste et enregistrement")
def clients_dpi(request: Request, user_id: UserId, info: str = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        _require_admin(uow, user_id)
        message = {"cree": "Client DPI enregistré.", "modifie": "Client DPI modifié."}.get(info, "")
        return _clients_page(request, user_id, uow, info=message,
                             valeurs={"confiance": TrustLevel.SESSION_REQUIRED.value, "actif": True,
                                      "modules": [], "etablissements": []}, erreurs={})


def _client_form(etablissements: list[str], modules: list[str], confiance: str, jwks: str, jwks_url: str
                 ) -> tuple[list[Module], TrustLevel, dict[str, Any] | None, str]:
    if not etablissements:
        raise FormError("etablissements", "Cochez au moins un établissement.")
    try:
        modules_ = [Module(m) for m in modules]
    except ValueError:
        raise FormError("modules", "Module inconnu.") from None
    if not modules_:
        raise FormError("modules", "Cochez au moins un module.")
    try:
        trust = TrustLevel(confiance)
    except ValueError:
        raise FormError("confiance", "Choisissez le niveau de confiance.") from None
    keys: dict[str, Any] | None = None
    if jwks.strip():
        try:
            parsed = json.loads(jwks)
        except ValueError as exc:
            raise FormError("jwks", f"JWKS illisible : ce n'est pas du JSON ({exc.args[0]}).") from None
        if not isinstance(parsed, dict):
            raise FormError("jwks", "JWKS invalide : un objet {\"keys\": [...]} non vide est attendu.")
        keys = parsed
    if keys is None and not jwks_url.strip():
        raise FormError("jwks", "Donnez soit une adresse JWKS, soit un JWKS en ligne.")
    return modules_, trust, keys, jwks_url.strip()


@router.post("/admin/clients-dpi", summary="Enregistrer un client DPI")
def create_client(request: Request, user_id: UserId, client_id: Annotated[str, Form()] = "",
                  nom: Annotated[str, Form()] = "", etablissements: Annotated[list[str] | None, Form()] = None,
                  modules: Annotated[list[str] | None, Form()] = None, confiance: Annotated[str, Form()] = "",
                  jwks: Annotated[str, Form()] = "", jwks_url: Annotated[str, Form()] = "",
                  actif: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    etabs, mods = etablissements or [], modules or []
    valeurs = {"client_id": client_id, "nom": nom, "etablissements": etabs, "modules": mods, "confiance": confiance,
               "jwks": jwks, "jwks_url": jwks_url, "actif": bool(actif)}
    try:
        with c.uow() as uow:
            _require_admin(uow, user_id)
            if not client_id.strip():
                raise FormError("client_id", "L'identifiant du client est obligatoire.")
            if not nom.strip():
                raise FormError("nom", "Le nom du client DPI est obligatoire.")
            modules_, trust, keys, url = _client_form(etabs, mods, confiance, jwks, jwks_url)
            dpi.register(uow, c, dpi.ClientIn(client_id=client_id.strip(), nom=nom.strip(), etablissements=etabs,
                                              modules=modules_, confiance=trust, jwks=keys, jwks_url=url,
                                              actif=bool(actif)))
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            return _clients_page(request, user_id, uow, valeurs=valeurs, erreurs=erreurs_de(exc),
                                 status=statut_de(exc))
    return see_other("/admin/clients-dpi?info=cree")


@router.get("/admin/clients-dpi/{client_id}", summary="Modifier un client DPI")
def client_dpi(request: Request, user_id: UserId, client_id: str) -> Response:
    c = container(request)
    with c.uow() as uow:
        _require_admin(uow, user_id)
        client = uow.auth.client(client_id)
        if client is None:
            raise NotFound(f"Client DPI inconnu : {client_id}.")
        return _clients_page(request, user_id, uow, template="admin/client_dpi.html",
                             valeurs=_client_valeurs(uow, client), erreurs={}, client_id=client_id)


@router.post("/admin/clients-dpi/{client_id}", summary="Enregistrer les modifications d'un client DPI")
def update_client(request: Request, user_id: UserId, client_id: str, nom: Annotated[str, Form()] = "",
                  etablissements: Annotated[list[str] | None, Form()] = None,
                  modules: Annotated[list[str] | None, Form()] = None, confiance: Annotated[str, Form()] = "",
                  jwks: Annotated[str, Form()] = "", jwks_url: Annotated[str, Form()] = "",
                  actif: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    etabs, mods = etablissements or [], modules or []
    valeurs = {"client_id": client_id, "nom": nom, "etablissements": etabs, "modules": mods, "confiance": confiance,
               "jwks": jwks, "jwks_url": jwks_url, "actif": bool(actif)}
    try:
        with c.uow() as uow:
            _require_admin(uow, user_id)
            client = uow.auth.client(client_id)
            if client is None:
                raise NotFound(f"Client DPI inconnu : {client_id}.")
            if not nom.strip():
                raise FormError("nom", "Le nom du client DPI est obligatoire.")
            modules_, trust, keys, url = _client_form(etabs, mods, confiance, jwks, jwks_url)
            if keys is not None and url:
                raise FormError("jwks", "Donnez soit une adresse JWKS, soit un JWKS en ligne (pas les deux).")
            client.nom, client.modules, client.trust = nom.strip(), modules_, trust
            client.etablissement_ids = dpi._etablissement_ids(uow, etabs)
            client.jwks, client.jwks_url, client.actif = keys, url, bool(actif)
            client.__post_init__()  # the same rules as at registration
            dpi._check_keys(client)
            uow.auth.save_client(client)
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            return _clients_page(request, user_id, uow, template="admin/client_dpi.html", valeurs=valeurs,
                                 erreurs=erreurs_de(exc), status=statut_de(exc), client_id=client_id)
    return see_other("/admin/clients-dpi?info=modifie")

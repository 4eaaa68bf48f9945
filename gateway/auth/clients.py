"""DPI clients registered by an administrator, their public keys, and the admin API ``/api/v1/clients-dpi``.

A client's keys are an inline JWKS or a JWKS URL (fetched over HTTPS by httpx, cached, fetched again when a token
names an unknown ``kid``: key rotation). Only public RSA (≥ 2048 bits, RS256) and EC P-256 (ES256) keys with a
``kid`` are accepted.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx
import structlog
from fastapi import APIRouter
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from pydantic import BaseModel, Field

from gateway.api.deps import ContainerDep, UserId
from gateway.container import Container
from orientation_core.auth.model import DpiClient, TrustLevel
from orientation_core.dossier.volets import Module
from orientation_core.errors import Forbidden, NotFound, ValidationFailed
from orientation_core.people.policy import may_manage_dpi_clients
from orientation_core.people.service import subject_for
from orientation_core.ports import UnitOfWork

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

log = structlog.get_logger("aiguillage.securite")

ALGORITHMS = ("RS256", "ES256")
JWKS_CACHE_SECONDS = 300.0
JWKS_REFETCH_MIN_SECONDS = 30.0  # an unknown kid refetches the URL at most this often (no fetch amplification)


class UnknownKey(Exception):
    """No key of the client carries the token's ``kid``."""


def validate_jwks(jwks: Any) -> KeySet:
    """The client's public keys, or ValidationFailed saying what is wrong (French, for the administrator)."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValidationFailed("JWKS invalide : un objet {\"keys\": [...]} non vide est attendu.",
                               code="client_dpi.jwks")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or not key.get("kid"):
            raise ValidationFailed("Chaque clé du JWKS doit avoir un identifiant « kid ».", code="client_dpi.jwks")
        if "d" in key or "p" in key:
            raise ValidationFailed(f"La clé « {key['kid']} » contient une partie privée : ne publiez que la clé "
                                   "publique.", code="client_dpi.jwks_prive")
        if key.get("kty") == "EC" and key.get("crv") != "P-256":
            raise ValidationFailed(f"Clé « {key['kid']} » : seule la courbe P-256 (ES256) est acceptée.",
                                   code="client_dpi.jwks")
        if key.get("kty") not in ("RSA", "EC"):
            raise ValidationFailed(f"Clé « {key['kid']} » : RSA (RS256) ou EC P-256 (ES256) attendue.",
                                   code="client_dpi.jwks")
    try:
        keyset = KeySet.import_key_set(cast("KeySetSerialization", jwks))
    except (JoseError, ValueError, TypeError) as exc:
        raise ValidationFailed(f"JWKS illisible : {exc}", code="client_dpi.jwks") from exc
    for k in keyset.keys:
        if isinstance(k, RSAKey) and k.raw_value.key_size < 2048:
            raise ValidationFailed("Clé RSA trop courte (2048 bits au moins).", code="client_dpi.jwks")
        if not isinstance(k, RSAKey | ECKey):
            raise ValidationFailed("Type de clé non accepté.", code="client_dpi.jwks")
    return keyset


@dataclass
class _Fetched:
    keyset: KeySet
    at: float


class KeyResolver:
    """Keys of a client by ``kid``: inline JWKS, or the client's JWKS URL with a cache."""

    def __init__(self, *, timeout: float = 3.0, verify: bool | str = True) -> None:
        self._cache: dict[str, _Fetched] = {}
        self._lock = threading.Lock()
        self._timeout = timeout
        self._verify = verify

    def _fetch(self, client: DpiClient) -> KeySet:
        response = httpx.get(client.jwks_url, timeout=self._timeout, verify=self._verify, follow_redirects=False)
        response.raise_for_status()
        return validate_jwks(response.json())

    def key(self, client: DpiClient, kid: str) -> RSAKey | ECKey:
        if client.jwks:
            return self._find(validate_jwks(client.jwks), kid)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(client.client_id)
        fresh = cached is not None and now - cached.at < JWKS_CACHE_SECONDS
        if cached is not None and fresh:
            try:
                return self._find(cached.keyset, kid)
            except UnknownKey:
                if now - cached.at < JWKS_REFETCH_MIN_SECONDS:
                    raise
        try:
            keyset = self._fetch(client)
        except (httpx.HTTPError, ValidationFailed, ValueError) as exc:
            log.warning("securite.jwks_injoignable", client_id=client.client_id, erreur=type(exc).__name__)
            if cached is None:
                raise UnknownKey(kid) from exc
            keyset = cached.keyset
        with self._lock:
            self._cache[client.client_id] = _Fetched(keyset, now)
        return self._find(keyset, kid)

    @staticmethod
    def _find(keyset: KeySet, kid: str) -> RSAKey | ECKey:
        for k in keyset.keys:
            if k.kid == kid and isinstance(k, RSAKey | ECKey):
                return k
        raise UnknownKey(kid)


def resolver(c: Container) -> KeyResolver:
    """One resolver (and JWKS cache) per container."""
    found = getattr(c, "_dpi_key_resolver", None)
    if found is None:
        found = KeyResolver()
        c._dpi_key_resolver = found  # type: ignore[attr-defined]
    assert isinstance(found, KeyResolver)
    return found


# --- admin API -----------------------------------------------------------------------------------------------------

router = APIRouter(prefix="/api/v1/clients-dpi", tags=["clients DPI"])


class ClientIn(BaseModel):
    client_id: str = Field(min_length=1, max_length=64, examples=["dpi-saint-exupery"])
    nom: str = Field(min_length=1, max_length=255)
    etablissements: list[str] = Field(min_length=1, description="FINESS des établissements pour lesquels il agit")
    modules: list[Module] = Field(min_length=1)
    confiance: TrustLevel = TrustLevel.SESSION_REQUIRED
    jwks: dict[str, Any] | None = None
    jwks_url: str = ""
    actif: bool = True


class ClientPatch(BaseModel):
    nom: str | None = None
    etablissements: list[str] | None = None
    modules: list[Module] | None = None
    confiance: TrustLevel | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    actif: bool | None = None


def _require_admin(uow: UnitOfWork, user_id: int) -> None:
    if not may_manage_dpi_clients(subject_for(uow, user_id)):
        raise Forbidden("Seul un administrateur de la plateforme gère les clients DPI.",
                        details={"action": "client_dpi.gerer"})


def _etablissement_ids(uow: UnitOfWork, finess_list: list[str]) -> list[int]:
    ids: list[int] = []
    for finess in finess_list:
        etab = uow.directory.etablissement_by_finess(finess.strip())
        if etab is None or etab.id is None:
            raise ValidationFailed(f"Établissement inconnu : FINESS {finess}.", code="client_dpi.etablissement")
        ids.append(etab.id)
    return ids


def _check_keys(client: DpiClient) -> None:
    if client.jwks:
        validate_jwks(client.jwks)
    elif not client.jwks_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise ValidationFailed("L'adresse JWKS doit être en https.", code="client_dpi.jwks_url")


def serialize(uow: UnitOfWork, client: DpiClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id, "nom": client.nom,
        "etablissements": [uow.directory.get_etablissement(e).finess for e in client.etablissement_ids],
        "modules": [m.value for m in client.modules], "confiance": client.trust.value,
        "jwks": client.jwks, "jwks_url": client.jwks_url or None, "actif": client.actif,
        "created_at": client.created_at.isoformat() if client.created_at else None,
    }


def register(uow: UnitOfWork, c: Container, body: ClientIn) -> DpiClient:
    if uow.auth.client(body.client_id) is not None:
        raise ValidationFailed(f"Le client DPI « {body.client_id} » existe déjà.", code="client_dpi.existe")
    client = DpiClient(client_id=body.client_id, nom=body.nom,
                       etablissement_ids=_etablissement_ids(uow, body.etablissements), modules=list(body.modules),
                       trust=body.confiance, jwks=body.jwks, jwks_url=body.jwks_url, actif=body.actif,
                       created_at=c.env.clock.now())
    _check_keys(client)
    return uow.auth.add_client(client)


@router.get("", summary="Clients DPI enregistrés")
def list_clients(c: ContainerDep, user_id: UserId) -> list[dict[str, Any]]:
    with c.uow() as uow:
        _require_admin(uow, user_id)
        return [serialize(uow, client) for client in uow.auth.clients()]


@router.post("", status_code=201, summary="Enregistrer un client DPI")
def create_client(body: ClientIn, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        _require_admin(uow, user_id)
        client = register(uow, c, body)
        log.info("client_dpi.enregistre", client_id=client.client_id, par=user_id, confiance=client.trust.value)
        return serialize(uow, client)


@router.get("/{client_id}", summary="Un client DPI")
def get_client(client_id: str, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        _require_admin(uow, user_id)
        client = uow.auth.client(client_id)
        if client is None:
            raise NotFound(f"Client DPI inconnu : {client_id}.")
        return serialize(uow, client)


@router.patch("/{client_id}", summary="Modifier un client DPI (clés, établissements, modules, confiance)")
def update_client(client_id: str, body: ClientPatch, c: ContainerDep, user_id: UserId) -> dict[str, Any]:
    with c.uow() as uow:
        _require_admin(uow, user_id)
        client = uow.auth.client(client_id)
        if client is None:
            raise NotFound(f"Client DPI inconnu : {client_id}.")
        changes = body.model_dump(exclude_unset=True)
        if "etablissements" in changes and body.etablissements is not None:
            client.etablissement_ids = _etablissement_ids(uow, body.etablissements)
        if body.nom is not None:
            client.nom = body.nom
        if body.modules is not None:
            client.modules = list(body.modules)
        if body.confiance is not None:
            client.trust = body.confiance
        if "jwks" in changes or "jwks_url" in changes:
            client.jwks = body.jwks
            client.jwks_url = body.jwks_url or ""
        if body.actif is not None:
            client.actif = body.actif
        client.__post_init__()  # the same rules as at registration
        _check_keys(client)
        uow.auth.save_client(client)
        log.info("client_dpi.modifie", client_id=client_id, par=user_id, champs=sorted(changes))
        return serialize(uow, client)

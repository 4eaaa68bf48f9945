"""Pro Santé Connect (OpenID Connect, DOMAIN.md §6): authorization code + PKCE (S256), ``acr_values=eidas1``,
scopes ``openid scope_all``, issuer from a discovery document (sandbox or production by configuration).

authlib builds the authorization request (``prepare_grant_uri``, PKCE challenge, random state and nonce); joserfc
verifies the ID token and a userinfo answered as a signed JWT (``application/jwt``) against the provider's JWKS
(fetched again once when a ``kid`` is unknown: key rotation). The card holder's national id is the userinfo claim
``SubjectNameID`` (8 + RPPS / 0 + ADELI), his exercices are ``SubjectRefPro.exercices``.

HTTP (discovery, JWKS, token, userinfo) goes through httpx with short timeouts; the flow state (state, nonce, code
verifier) rides in a signed, short-lived, HttpOnly cookie (``gateway.auth.otp.seal``).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.settings import Settings
from orientation_core.people.accounts import CarteCps

log = structlog.get_logger("aiguillage.securite")

ALGORITHMS = ("RS256", "ES256", "PS256")
CACHE_SECONDS = 3600

# SubjectRefPro exercices[].codeProfession (TRE_G15 "Profession") → our profession word; others kept as the code
PROFESSIONS = {"10": "medecin", "21": "pharmacien", "40": "chirurgien_dentiste", "50": "sage_femme",
               "60": "infirmier", "70": "masseur_kinesitherapeute"}
# codeSavoirFaire (TRE_R38 "Spécialité ordinale") → label, for the read-only card data of the first sign-in
SPECIALITES = {"SM54": "Médecine générale", "SM26": "Gériatrie", "SM53": "Médecine interne",
               "SM38": "Médecine physique et de réadaptation", "SM02": "Anesthésie-réanimation"}


class PscError(Exception):
    """The provider's answer could not be trusted or used. ``message`` is French, for the page."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class FlowState:
    state: str
    nonce: str
    code_verifier: str

    def as_dict(self) -> dict[str, str]:
        return {"state": self.state, "nonce": self.nonce, "code_verifier": self.code_verifier}


@dataclass(frozen=True)
class PscIdentity:
    carte: CarteCps
    claims: dict[str, Any]  # the userinfo, as verified


class PscClient:
    def __init__(self, settings: Settings, http: httpx.Client | None = None) -> None:
        if not settings.psc_discovery_url or not settings.psc_client_id:
            raise PscError("La connexion par Pro Santé Connect n'est pas configurée sur ce serveur.",
                           code="psc.non_configure")
        self.settings = settings
        self._http = http  # injected (tests) or one short-lived client per call: no socket outlives a request
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    # --- provider documents ---------------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None or time.monotonic() - self._metadata_at > CACHE_SECONDS:
                self._metadata = self._get_json(self.settings.psc_discovery_url)
                self._metadata_at = time.monotonic()
                self._keys = None
            return self._metadata

    def keys(self, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            self._keys = KeySet.import_key_set(self._get_json(str(self.metadata()["jwks_uri"])))  # type: ignore[arg-type]
        return self._keys

    def _request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        if self._http is not None:
            return self._http.request(method, url, **kw)
        with httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0)) as client:
            return client.request(method, url, **kw)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._request("GET", url)
            response.raise_for_status()
            found: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("psc.fournisseur_injoignable", url=url, erreur=type(exc).__name__)
            raise PscError("Pro Santé Connect ne répond pas pour le moment. Réessayez dans quelques minutes.",
                           code="psc.injoignable") from exc
        return found

    # --- the flow -------------------------------------------------------------------------------------------
    def start(self, redirect_uri: str) -> tuple[str, FlowState]:
        """The authorization URL to send the browser to, and the state to keep until it comes back."""
        flow = FlowState(state=generate_token(32), nonce=generate_token(32), code_verifier=generate_token(64))
        url = prepare_grant_uri(
            str(self.metadata()["authorization_endpoint"]), self.settings.psc_client_id, "code",
            redirect_uri=redirect_uri, scope=self.settings.psc_scopes, state=flow.state, nonce=flow.nonce,
            acr_values=self.settings.psc_acr_values,
            code_challenge=create_s256_code_challenge(flow.code_verifier), code_challenge_method="S256")
        return url, flow

    def finish(self, redirect_uri: str, flow: FlowState, params: dict[str, str]) -> PscIdentity:
        """The browser came back: check state, exchange the code (with the PKCE verifier), verify the ID token,
        read the userinfo (JSON, or a JWT verified against the JWKS)."""
        if params.get("error"):
            raise PscError("La connexion Pro Santé Connect a été annulée ou refusée. Recommencez.",
                           code="psc.refus")
        if not params.get("state") or params.get("state") != flow.state:
            log.warning("securite.psc_state_invalide")
            raise PscError("Cette réponse de Pro Santé Connect ne correspond à aucune connexion en cours. "
                           "Recommencez depuis la page de connexion.", code="psc.state")
        code = params.get("code")
        if not code:
            raise PscError("Réponse de Pro Santé Connect incomplète. Recommencez.", code="psc.code")
        tokens = self._token(redirect_uri, code, flow)
        id_claims = self._verify_jwt(str(tokens.get("id_token", "")), nonce=flow.nonce)
        userinfo = self._userinfo(str(tokens["access_token"]))
        if userinfo.get("sub") and userinfo["sub"] != id_claims.get("sub"):
            raise PscError("Réponse de Pro Santé Connect incohérente. Recommencez.", code="psc.sub")
        return PscIdentity(carte=card_from_userinfo(userinfo), claims=userinfo)

    def _token(self, redirect_uri: str, code: str, flow: FlowState) -> dict[str, Any]:
        try:
            response = self._request(
                "POST", str(self.metadata()["token_endpoint"]),
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                      "code_verifier": flow.code_verifier},
                auth=(self.settings.psc_client_id, self.settings.psc_client_secret.get_secret_value()),
                headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise PscError("Pro Santé Connect ne répond pas pour le moment. Réessayez dans quelques minutes.",
                           code="psc.injoignable") from exc
        if response.status_code != 200:
            log.warning("psc.jeton_refuse", statut=response.status_code)
            raise PscError("Pro Santé Connect a refusé la connexion. Recommencez.", code="psc.jeton")
        body: dict[str, Any] = response.json()
        if not body.get("access_token") or not body.get("id_token"):
            raise PscError("Réponse de Pro Santé Connect incomplète. Recommencez.", code="psc.jeton")
        return body

    def _decode(self, value: str) -> jwt.Token:
        try:
            return jwt.decode(value, self.keys(), algorithms=list(ALGORITHMS))
        except JoseError:
            # an unknown kid: the provider may have rotated its keys; fetch them once more
            return jwt.decode(value, self.keys(refresh=True), algorithms=list(ALGORITHMS))

    def _verify_jwt(self, value: str, *, nonce: str | None = None) -> dict[str, Any]:
        issuer = str(self.metadata()["issuer"])
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": self.settings.psc_client_id},
        }
        if nonce is not None:
            options["nonce"] = {"essential": True, "value": nonce}
            options["exp"] = {"essential": True}
        try:
            token = self._decode(value)
            jwt.JWTClaimsRegistry(leeway=30, **options).validate(token.claims)
        except (JoseError, ValueError) as exc:
            log.warning("securite.psc_jeton_invalide", erreur=type(exc).__name__, detail=str(exc)[:200])
            raise PscError("La réponse de Pro Santé Connect n'a pas pu être vérifiée. Recommencez.",
                           code="psc.signature") from exc
        return dict(token.claims)

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            response = self._request("GET", str(self.metadata()["userinfo_endpoint"]),
                                     headers={"Authorization": f"Bearer {access_token}"})
        except httpx.HTTPError as exc:
            raise PscError("Pro Santé Connect ne répond pas pour le moment. Réessayez dans quelques minutes.",
                           code="psc.injoignable") from exc
        if response.status_code != 200:
            raise PscError("Pro Santé Connect n'a pas transmis votre identité. Recommencez.", code="psc.userinfo")
        if response.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
            return self._verify_jwt(response.text.strip())  # signed userinfo (OIDC Core §5.3.2)
        body: dict[str, Any] = response.json()
        return body


def card_from_userinfo(claims: dict[str, Any]) -> CarteCps:
    """SubjectNameID = national id; SubjectRefPro.exercices[0] = profession, name of exercise, speciality."""
    national = str(claims.get("SubjectNameID") or "").strip()
    if not national:
        raise PscError("Pro Santé Connect n'a pas transmis votre identifiant national (SubjectNameID).",
                       code="psc.subjectnameid")
    ref = claims.get("SubjectRefPro") or {}
    if isinstance(ref, str):  # some providers send the structure as a JSON string
        try:
            ref = json.loads(ref)
        except ValueError:
            ref = {}
    exercices = [e for e in (ref.get("exercices") or []) if isinstance(e, dict)] if isinstance(ref, dict) else []
    first = exercices[0] if exercices else {}
    nom = str(claims.get("family_name") or first.get("nomDExercice") or "").strip()
    prenom = str(claims.get("given_name") or first.get("prenomDExercice") or "").strip()
    if not nom or not prenom:
        raise PscError("Pro Santé Connect n'a pas transmis votre nom et votre prénom.", code="psc.nom")
    code_profession = str(first.get("codeProfession") or "")
    savoir_faire = str(first.get("codeSavoirFaire") or "")
    return CarteCps(identifiant_national=national, nom=nom.upper(), prenom=prenom.title(),
                    profession=PROFESSIONS.get(code_profession, code_profession),
                    specialite=SPECIALITES.get(savoir_faire, savoir_faire),
                    exercices=tuple(exercices))

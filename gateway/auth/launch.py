"""The DPI launch: the "Demande d'admission ViaTrajectoire" button lands the prescriber, signed in, on the
prefilled dossier of the patient in front of him.

Browser launch: ``GET /demande-admission?launch=<JWT>``, a JWT signed by the DPI client (RS256 or ES256, header
``kid`` naming one of the client's registered keys) with these claims::

    iss      the DPI client id (registered by an administrator)
    aud      this server's public address (settings.public_base_url, else the address the request came to)
    iat, exp issued-at and expiry (NumericDate); exp - iat <= 5 minutes
    jti      unique token id: each token opens once (table launch_jti, unique constraint)
    sub      the user's national id printed on his card: "8" + RPPS or "0" + ADELI
    module   "sanitaire" | "grand_age"
    patient  {"ipp", "finess", "ins": {"valeur", "oid"} (only when the identity is qualified),
              "nom_naissance", "prenoms", "date_naissance", "sexe" (used only to create an unknown patient)}
    sejour   {"nda"} (optional)
    orientation  optional hint: SMR, HAD, USP, EHPAD, USLD…
    contexte     optional reference to context already pushed to /fhir/r4, "Patient/<id>"

Server-to-server launch (gateway/auth/oauth.py): the same claims are kept in a one-time ticket; opening its URL
runs ``open_launch`` like the browser launch.

Every refusal is a ``LaunchRefused`` carrying a stable reason, an HTTP status and a French page saying what to do;
it is logged as a security event with ids only (client, kid, jti, user id), never patient data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import structlog
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from gateway import prefill
from gateway.auth.clients import ALGORITHMS, UnknownKey, resolver
from gateway.container import Container
from gateway.intake import pipeline
from mappings.fhir.intake import to_canonical
from orientation_core.auth.model import DpiClient
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import Dossier, EtatDossier
from orientation_core.dossier.volets import Module
from orientation_core.errors import AiguillageError
from orientation_core.patients import registry
from orientation_core.patients.model import Patient, Sexe, StatutIdentite, TypeIdentifiantPatient
from orientation_core.people.model import Role
from orientation_core.people.policy import ROLE_ACTIONS, Action, allowed
from orientation_core.people.service import subject_for
from orientation_core.ports import UnitOfWork

log = structlog.get_logger("aiguillage.securite")

NATIONAL_ID = re.compile(r"^(8\d{11}|0\d{9})$")
INS_OIDS = {
    "1.2.250.1.213.1.4.8": TypeIdentifiantPatient.INS_NIR,
    "1.2.250.1.213.1.4.9": TypeIdentifiantPatient.INS_NIA,
    "1.2.250.1.213.1.4.10": TypeIdentifiantPatient.INS_NIR_TEST,
    "1.2.250.1.213.1.4.11": TypeIdentifiantPatient.INS_NIR_DEMO,
}
PURPOSE_LAUNCH = "launch"

_DPI = "Relancez la demande depuis le bouton « Demande d'admission » de votre DPI."
_SUPPORT = "Si le problème persiste, contactez le support de votre DPI en donnant la référence ci-dessous."
# reason → (HTTP status, title, what to do). The message names the cause without any patient data.
REASONS: dict[str, tuple[int, str, str]] = {
    "jeton_absent": (400, "Lien de lancement incomplet", _DPI),
    "jeton_illisible": (400, "Lien de lancement illisible", f"{_DPI} {_SUPPORT}"),
    "client_inconnu": (401, "DPI non reconnu", "Votre DPI n'est pas enregistré auprès d'Aiguillage : "
                                               "demandez à votre administrateur de l'enregistrer."),
    "client_inactif": (403, "DPI désactivé", "Ce DPI a été désactivé : contactez l'administrateur d'Aiguillage."),
    "algorithme_refuse": (401, "Signature non acceptée", f"{_SUPPORT}"),
    "kid_inconnu": (401, "Clé de signature inconnue",
                    f"La clé qui a signé ce lien n'est pas enregistrée : l'administrateur doit mettre à jour les "
                    f"clés du DPI. {_SUPPORT}"),
    "signature_invalide": (401, "Signature invalide", f"{_DPI} {_SUPPORT}"),
    "aud_invalide": (401, "Lien destiné à un autre serveur", f"{_SUPPORT}"),
    "expire": (401, "Lien expiré", f"Ce lien n'est valable que quelques minutes. {_DPI}"),
    "iat_futur": (401, "Lien daté dans le futur", f"L'horloge du DPI semble décalée. {_SUPPORT}"),
    "duree_excessive": (401, "Durée de validité refusée", f"Un lien vaut 5 minutes au plus. {_SUPPORT}"),
    "jti_absent": (400, "Lien sans identifiant unique", _SUPPORT),
    "jti_rejoue": (401, "Lien déjà utilisé", f"Chaque lien ne s'ouvre qu'une fois. {_DPI}"),
    "utilisateur_inconnu": (403, "Utilisateur inconnu", "Votre identifiant national n'a pas de compte Aiguillage "
                                                        "actif : connectez-vous une première fois avec votre carte "
                                                        "CPS ou e-CPS, ou contactez votre référent."),
    "etablissement_non_autorise": (403, "Établissement non autorisé", "Ce DPI n'est pas autorisé à agir pour cet "
                                                                     "établissement : contactez l'administrateur "
                                                                     "d'Aiguillage."),
    "module_non_autorise": (403, "Module non autorisé", "Ce DPI n'est pas autorisé à ouvrir ce module : "
                                                        "contactez l'administrateur d'Aiguillage."),
    "module_invalide": (400, "Module inconnu", _SUPPORT),
    "patient_absent": (400, "Patient non désigné", f"Le lien ne désigne pas de patient. {_SUPPORT}"),
    "patient_introuvable": (404, "Patient inconnu", "Ce patient n'est pas encore connu d'Aiguillage et le lien ne "
                                                    "porte pas son identité : réessayez dans une minute, le temps "
                                                    "que le DPI transmette son dossier, ou contactez le support."),
    "droits_insuffisants": (403, "Droits insuffisants", "Vous n'avez pas d'habilitation de prescripteur dans cet "
                                                        "établissement : demandez-la à votre référent."),
    "session_requise": (401, "Connexion requise", "Connectez-vous d'abord à Aiguillage (carte CPS, e-CPS ou "
                                                  "identifiant + code), puis cliquez à nouveau sur le bouton "
                                                  "« Demande d'admission » de votre DPI."),
    "ticket_invalide": (401, "Lien de lancement invalide", f"Ce lien a déjà servi ou a expiré. {_DPI}"),
}


class LaunchRefused(Exception):
    def __init__(self, reason: str, *, client_id: str | None = None, kid: str | None = None,
                 jti: str | None = None, user_id: int | None = None, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status, self.titre, self.que_faire = REASONS[reason]
        self.client_id, self.kid, self.jti, self.user_id, self.detail = client_id, kid, jti, user_id, detail

    def log(self, path: str) -> str:
        """Log the security event (ids only: never the patient, never the token); returns the reference shown
        on the page, which support finds in the logs."""
        reference = secrets.token_hex(6)
        log.warning("securite.lancement_refuse", raison=self.reason, client_id=self.client_id, kid=self.kid,
                    jti=self.jti, user_id=self.user_id, chemin=path, reference=reference)
        return reference


@dataclass(frozen=True)
class Launch:
    """A verified launch, ready to open."""

    client_id: str
    trusted: bool
    user_id: int
    etablissement_id: int
    finess: str
    module: Module
    ipp: str
    nda: str = ""
    orientation: str = ""
    ins: tuple[TypeIdentifiantPatient, str, str] | None = None
    identite: dict[str, Any] = field(default_factory=dict)
    contexte: str = ""


def _b64json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def audience(c: Container, base_url: str) -> str:
    return (c.settings.public_base_url or base_url).rstrip("/")


def verify_signed(c: Container, token: str, *, expected_aud: str | tuple[str, ...], purpose: str = PURPOSE_LAUNCH,
                  consume: bool = True) -> tuple[DpiClient, dict[str, Any]]:
    """Signature (the client's key named by ``kid``), ``aud``, ``iat``/``exp`` (≤ 5 min), ``jti`` present.
    The ``jti`` is consumed only when ``consume`` (see ``consume_jti``)."""
    try:
        header = extract_compact(token.encode()).headers()
        unverified = _b64json(token.split(".")[1])
    except (JoseError, ValueError, IndexError, UnicodeError):
        raise LaunchRefused("jeton_illisible") from None
    if not isinstance(unverified, dict) or not isinstance(unverified.get("iss"), str):
        raise LaunchRefused("jeton_illisible")
    client_id = unverified["iss"][:64]
    kid = str(header.get("kid") or "")[:128] or None
    with c.uow() as uow:
        client = uow.auth.client(client_id)
    if client is None:
        raise LaunchRefused("client_inconnu", client_id=client_id, kid=kid)
    if not client.actif:
        raise LaunchRefused("client_inactif", client_id=client_id, kid=kid)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise LaunchRefused("algorithme_refuse", client_id=client_id, kid=kid, detail=str(alg)[:16])
    if kid is None:
        raise LaunchRefused("kid_inconnu", client_id=client_id)
    try:
        key = resolver(c).key(client, kid)
    except UnknownKey:
        raise LaunchRefused("kid_inconnu", client_id=client_id, kid=kid) from None
    try:
        claims = jwt.decode(token, key, algorithms=[str(alg)]).claims
    except JoseError:
        raise LaunchRefused("signature_invalide", client_id=client_id, kid=kid) from None
    jti = claims.get("jti")
    ids = {"client_id": client_id, "kid": kid, "jti": str(jti)[:255] if jti else None}
    aud = claims.get("aud")
    accepted = (expected_aud,) if isinstance(expected_aud, str) else expected_aud
    if not (aud in accepted or (isinstance(aud, list) and any(a in accepted for a in aud))):
        raise LaunchRefused("aud_invalide", **ids)
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int | float) or not isinstance(exp, int | float):
        raise LaunchRefused("jeton_illisible", **ids)
    now = c.env.clock.now().timestamp()
    skew = c.settings.launch_clock_skew_seconds
    if exp <= now - skew:
        raise LaunchRefused("expire", **ids)
    if iat > now + skew:
        raise LaunchRefused("iat_futur", **ids)
    if exp - iat > c.settings.launch_max_lifetime_seconds:
        raise LaunchRefused("duree_excessive", **ids)
    if not isinstance(jti, str) or not jti.strip() or len(jti) > 255:
        raise LaunchRefused("jti_absent", **ids)
    if consume:
        consume_jti(c, client_id, jti, exp, purpose=purpose)
    return client, claims


def consume_jti(c: Container, client_id: str, jti: str, exp: float, *, purpose: str = PURPOSE_LAUNCH) -> None:
    """Single use, even under concurrent requests: its own committed transaction, the unique constraint decides."""
    expires_at = dt.datetime.fromtimestamp(exp, dt.UTC)
    with c.uow() as uow:
        first = uow.auth.consume_jti(client_id, purpose, jti, expires_at, c.env.clock.now())
    if not first:
        raise LaunchRefused("jti_rejoue", client_id=client_id, jti=jti)


def _etablissement_for(uow: UnitOfWork, client: DpiClient, finess: str) -> int | None:
    etab = uow.directory.etablissement_by_finess(finess)
    if etab is None or etab.id is None or etab.id not in client.etablissement_ids:
        return None
    return etab.id


def check_claims(c: Container, client: DpiClient, claims: dict[str, Any]) -> Launch:
    """The launch's user, établissement, module and patient designation, against the client's registration."""
    ids: dict[str, Any] = {"client_id": client.client_id, "jti": str(claims.get("jti"))[:255]}
    try:
        module = Module(str(claims.get("module", "")))
    except ValueError:
        raise LaunchRefused("module_invalide", **ids) from None
    if module not in client.modules:
        raise LaunchRefused("module_non_autorise", **ids)
    patient = claims.get("patient")
    if not isinstance(patient, dict) or not str(patient.get("ipp") or "").strip() \
            or not str(patient.get("finess") or "").strip():
        raise LaunchRefused("patient_absent", **ids)
    finess = str(patient["finess"]).strip()
    sub = str(claims.get("sub") or "")
    with c.uow() as uow:
        etablissement_id = _etablissement_for(uow, client, finess)
        if etablissement_id is None:
            raise LaunchRefused("etablissement_non_autorise", **ids)
        user = uow.users.by_login(sub) if NATIONAL_ID.match(sub) else None
        if user is None or user.id is None or not user.actif or user.identifiant_national != sub:
            raise LaunchRefused("utilisateur_inconnu", **ids)
    ins = None
    ins_claim = patient.get("ins")
    if isinstance(ins_claim, dict) and ins_claim.get("oid") in INS_OIDS and ins_claim.get("valeur"):
        ins = (INS_OIDS[ins_claim["oid"]], str(ins_claim["valeur"]), str(ins_claim["oid"]))
    sejour = claims.get("sejour") if isinstance(claims.get("sejour"), dict) else {}
    identite = {k: patient[k] for k in ("nom_naissance", "prenoms", "date_naissance", "sexe", "nom_utilise")
                if k in patient}
    return Launch(client_id=client.client_id, trusted=client.trusted, user_id=user.id,
                  etablissement_id=etablissement_id, finess=finess, module=module, ipp=str(patient["ipp"]).strip(),
                  nda=str((sejour or {}).get("nda") or "").strip(), orientation=str(claims.get("orientation") or ""),
                  ins=ins, identite=identite, contexte=str(claims.get("contexte") or ""))


# --- opening: patient, dossier ------------------------------------------------------------------------------------


def _from_pushed_context(uow: UnitOfWork, c: Container, launch: Launch) -> Patient | None:
    """Context already pushed to /fhir/r4 (``contexte`` = "Patient/<id>"): through the FHIR intake mapping and the
    registry, as the pipeline would."""
    kind, _, resource_id = launch.contexte.partition("/")
    if kind != "Patient" or not resource_id:
        return None
    resource = uow.fhir.current("Patient", resource_id)
    if resource is None:
        return None
    canonical = to_canonical(resource, received_at=c.env.clock.now(), sender=launch.client_id)
    try:
        rapport = pipeline.apply_canonical(uow, c.env, canonical)
    except AiguillageError:
        return None
    return uow.patients.get(rapport.patient_id) if rapport.patient_id else None


def _from_token(uow: UnitOfWork, c: Container, launch: Launch) -> Patient | None:
    ident = launch.identite
    prenoms = ident.get("prenoms")
    if isinstance(prenoms, str):
        prenoms = prenoms.split()
    try:
        traits = registry.Traits(
            nom_naissance=str(ident["nom_naissance"]), prenoms=[str(p) for p in prenoms or []],
            date_naissance=dt.date.fromisoformat(str(ident["date_naissance"])),
            sexe=Sexe(str(ident.get("sexe", "U"))), nom_utilise=str(ident.get("nom_utilise", "")),
            statut=StatutIdentite.QUALIFIEE if launch.ins else StatutIdentite.PROVISOIRE)
    except (KeyError, ValueError, TypeError):
        return None
    if not traits.nom_naissance.strip() or not traits.prenoms:
        return None
    entree = registry.IdentiteEntrante(
        ipp=registry.IdentifiantRef(TypeIdentifiantPatient.IPP, launch.ipp, launch.finess), traits=traits,
        ins=registry.IdentifiantRef(*launch.ins) if launch.ins else None)
    return registry.upsert_identity(uow, c.env, entree, registry.Rapport())


def resolve_patient(uow: UnitOfWork, c: Container, launch: Launch) -> Patient | None:
    """IPP + FINESS (the IPP's authority is the établissement), else the qualified INS, else the pushed context,
    else the identity the token carries."""
    found = registry.resolve(uow, registry.IdentifiantRef(TypeIdentifiantPatient.IPP, launch.ipp, launch.finess))
    if found is None and launch.ins is not None:
        found = registry.resolve(uow, registry.IdentifiantRef(*launch.ins))
    if found is None and launch.contexte:
        found = _from_pushed_context(uow, c, launch)
    if found is None and launch.identite:
        found = _from_token(uow, c, launch)
    return found


def _prescriber_units(uow: UnitOfWork, user_id: int, etablissement_id: int) -> list[int]:
    return [h.unite_id for h in uow.users.habilitations(user_id)
            if h.unite_id is not None and h.etablissement_id == etablissement_id
            and Action.DOSSIER_CREER in ROLE_ACTIONS[h.role] and h.role is not Role.REFERENT]


def open_launch(c: Container, launch: Launch) -> int:
    """The dossier the launch lands on: the open draft of this patient and module the user may read (no
    duplicate), else a new one in the user's unit (the stay's unit when he holds it), prefilled. Returns its id."""
    with c.uow() as uow:
        uow.auth.serialize_user(launch.user_id)  # concurrent launches of one user: one draft, not two
        units = _prescriber_units(uow, launch.user_id, launch.etablissement_id)
        if not units:
            raise LaunchRefused("droits_insuffisants", client_id=launch.client_id, user_id=launch.user_id)
        patient = resolve_patient(uow, c, launch)
        if patient is None or patient.id is None:
            raise LaunchRefused("patient_introuvable", client_id=launch.client_id, user_id=launch.user_id)
        sejour = uow.patients.sejour_by_nda(launch.etablissement_id, launch.nda) if launch.nda else None
        if sejour is not None and sejour.patient_id != patient.id:
            sejour = None
        subject = subject_for(uow, launch.user_id)
        now = c.env.clock.now()
        drafts = [d for d in uow.dossiers.for_patient(patient.id)
                  if d.module is launch.module and d.etat is EtatDossier.BROUILLON
                  and d.etablissement_id == launch.etablissement_id
                  and allowed(subject, Action.DOSSIER_MODIFIER, dossiers.scope_of(d), now)]
        if drafts:
            dossier: Dossier = max(drafts, key=lambda d: d.id or 0)
        else:
            unite_id = sejour.unite_id if sejour is not None and sejour.unite_id in units else units[0]
            dossier = dossiers.creer(uow, c.env, launch.user_id, launch.module, patient.id, unite_id=unite_id,
                                     sejour_id=sejour.id if sejour is not None else None)
            assert dossier.id is not None
            prefill.prefill_dossier(uow, c.env, dossier.id, user_id=launch.user_id)
        if launch.orientation and not dossier.type_orientation:
            dossier.type_orientation = launch.orientation[:32]
        assert dossier.id is not None
        log.info("lancement.ouvert", client_id=launch.client_id, user_id=launch.user_id, dossier_id=dossier.id,
                 nouveau=not drafts)
        return dossier.id

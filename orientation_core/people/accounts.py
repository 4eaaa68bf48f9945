"""Accounts and sign-in rules (DOMAIN.md §6): password policy, one-time codes by e-mail, lockout, rate limits,
first sign-in by card, the usage charter, Mon compte and its history.

Plain Python: the secret hashing is a port (``Hasher``: argon2 in the gateway), time comes from ``env.clock``.
The gateway owns the transport (cookies, forms, SMTP); these functions decide and record.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from orientation_core.errors import AiguillageError, Forbidden, NotFound, ValidationFailed
from orientation_core.history import OutboxMessage
from orientation_core.people.model import Delegation, TypeDelegation, User, identifiant_type
from orientation_core.people.policy import Action
from orientation_core.ports import Env, UnitOfWork

CHARTE_VERSION = "2026-1"
MAIL_KIND = "mail"  # outbox kind delivered by gateway/mail.py over SMTP, never by notifications.dispatch


class Hasher(Protocol):
    def hash(self, secret: str) -> str: ...
    def verify(self, hashed: str, secret: str) -> bool: ...


class MethodeConnexion(StrEnum):
    PSC = "psc"  # Pro Santé Connect (CPS card or e-CPS)
    MOT_DE_PASSE = "mot_de_passe"  # identifier + password + one-time code by e-mail
    DPI = "dpi"  # trusted launch from the DPI (gateway/auth/launch)


@dataclass(frozen=True)
class SignInPolicy:
    """Every number is configuration (settings ``auth_*``); defaults are the documented ones (DOMAIN.md §6)."""

    code_validite: dt.timedelta = dt.timedelta(minutes=10)
    code_essais: int = 5  # wrong codes before the code is dead and a new one is needed
    echecs_avant_verrouillage: int = 5  # consecutive wrong passwords (or dead codes) per account
    verrouillage: dt.timedelta = dt.timedelta(minutes=15)
    fenetre_ip: dt.timedelta = dt.timedelta(minutes=15)
    echecs_par_ip: int = 20  # failed attempts from one address within ``fenetre_ip``
    codes_par_heure: int = 5  # codes sent to one account per hour (mail bombing)


# --- entities -------------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Compte:
    """Sign-in state of a user. Exists once the card holder completed his first sign-in (or an account created by
    a référent set its password). Password sign-in is allowed only when ``password_hash`` is set."""

    user_id: int
    password_hash: str | None = None
    charte_acceptee_at: dt.datetime | None = None
    charte_version: str = ""
    echecs: int = 0  # consecutive failures (password or dead code)
    verrouille_jusqu_a: dt.datetime | None = None
    derniere_connexion_at: dt.datetime | None = None
    derniere_methode: str = ""
    created_at: dt.datetime | None = None

    @property
    def charte_acceptee(self) -> bool:
        return self.charte_acceptee_at is not None and self.charte_version == CHARTE_VERSION

    def verrouille(self, now: dt.datetime) -> bool:
        return self.verrouille_jusqu_a is not None and now < self.verrouille_jusqu_a


@dataclass(eq=False)
class CodeConnexion:
    """A one-time code sent by e-mail after a correct password: 6 digits, valid 10 minutes, single use, 5 tries."""

    user_id: int
    code_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    essais: int = 0
    used_at: dt.datetime | None = None
    invalidated_at: dt.datetime | None = None  # a newer code was sent, or tries are exhausted
    id: int | None = None

    def vivant(self, now: dt.datetime, policy: SignInPolicy) -> bool:
        return (self.used_at is None and self.invalidated_at is None and now < self.expires_at
                and self.essais < policy.code_essais)


@dataclass(eq=False)
class TentativeConnexion:
    """One sign-in attempt, kept for the rate limits per account and per address."""

    at: dt.datetime
    ip: str
    etape: str  # "mot_de_passe" | "code" | "envoi_code"
    succes: bool
    user_id: int | None = None
    id: int | None = None


@dataclass(eq=False)
class EvenementCompte:
    """History of an account: personal data changes, habilitations, délégations, sign-ins, locks."""

    user_id: int
    at: dt.datetime
    action: str
    actor_user_id: int | None = None
    avant: dict[str, Any] = field(default_factory=dict)
    apres: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


class SignInRefused(AiguillageError):
    """A refused sign-in step. ``retry_after`` is set when waiting helps (lockout, rate limit)."""

    def __init__(self, message: str, *, code: str, retry_after: dt.timedelta | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


# --- pure rules -----------------------------------------------------------------------------------------------------

_LOWER = re.compile(r"[a-zà-ÿ]")
_UPPER = re.compile(r"[A-ZÀ-Þ]")
_DIGIT = re.compile(r"\d")
_CODE_POSTAL = re.compile(r"^\d{5}$")
_CODE = re.compile(r"^\d{6}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def password_problems(password: str) -> list[str]:
    """Password rule (DOMAIN.md §6): at least 8 characters with one lowercase, one uppercase, one digit."""
    problems = []
    if len(password) < 8:
        problems.append("au moins 8 caractères")
    if not _LOWER.search(password):
        problems.append("une minuscule")
    if not _UPPER.search(password):
        problems.append("une majuscule")
    if not _DIGIT.search(password):
        problems.append("un chiffre")
    return problems


def check_password(password: str) -> None:
    problems = password_problems(password)
    if problems:
        raise ValidationFailed("Le mot de passe doit contenir " + ", ".join(problems) + ".",
                               code="compte.mot_de_passe", details={"champ": "mot_de_passe"})


def new_code() -> str:
    """Six digits from the OS generator (never ``random``)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def lockout_after_failure(compte: Compte, now: dt.datetime, policy: SignInPolicy) -> None:
    compte.echecs += 1
    if compte.echecs >= policy.echecs_avant_verrouillage:
        compte.verrouille_jusqu_a = now + policy.verrouillage
        compte.echecs = 0


def _format_heure(at: dt.datetime) -> str:
    from zoneinfo import ZoneInfo

    return at.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")


# --- first sign-in, charter, Mon compte -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CarteCps:
    """What Pro Santé Connect says of the card holder: read-only on the first sign-in form."""

    identifiant_national: str  # SubjectNameID: 8 + RPPS or 0 + ADELI
    nom: str
    prenom: str
    profession: str = ""  # our word ("medecin", "infirmier"…), from SubjectRefPro exercices[].codeProfession
    specialite: str = ""
    exercices: tuple[dict[str, Any], ...] = ()


@dataclass
class PremiereConnexion:
    email: str
    mot_de_passe: str
    code_postal: str
    ville: str
    telephone: str = ""


def first_sign_in_problems(form: PremiereConnexion) -> dict[str, str]:
    """Field → French message, shown next to the field."""
    errors: dict[str, str] = {}
    if not _EMAIL.match(form.email.strip()):
        errors["email"] = "Saisissez une adresse e-mail valide (exemple : nom@domaine.fr)."
    problems = password_problems(form.mot_de_passe)
    if problems:
        errors["mot_de_passe"] = "Le mot de passe doit contenir " + ", ".join(problems) + "."
    if not _CODE_POSTAL.match(form.code_postal.strip()):
        errors["code_postal"] = "Le code postal comporte 5 chiffres."
    if not form.ville.strip():
        errors["ville"] = "La ville est obligatoire."
    return errors


def account_of(uow: UnitOfWork, user_id: int) -> Compte | None:
    return uow.accounts.get(user_id)


def find_card_account(uow: UnitOfWork, carte: CarteCps) -> User | None:
    """The user a card sign-in belongs to, once his account is complete (a ``Compte`` row exists)."""
    user = uow.users.by_login(carte.identifiant_national)
    if user is None or user.id is None or uow.accounts.get(user.id) is None:
        return None
    if not user.actif:
        raise Forbidden("Ce compte est désactivé : contactez un référent de votre établissement.",
                        code="compte.desactive")
    return user


def complete_first_sign_in(uow: UnitOfWork, env: Env, hasher: Hasher, carte: CarteCps,
                           form: PremiereConnexion) -> User:
    """Creates the account (or completes one a référent or a délégation invitation prepared with the same national
    id): card data as the card says, e-mail, password, postcode/city as typed. The charter comes next."""
    identifiant_type(carte.identifiant_national)
    errors = first_sign_in_problems(form)
    if errors:
        raise ValidationFailed("Le formulaire comporte des erreurs.", code="compte.premiere_connexion",
                               details={"champs": errors})
    now = env.clock.now()
    user = uow.users.by_login(carte.identifiant_national)
    if user is not None and user.id is not None and uow.accounts.get(user.id) is not None:
        raise ValidationFailed("Ce compte existe déjà : connectez-vous.", code="compte.existe")
    if user is None:
        user = User(nom=carte.nom, prenom=carte.prenom, email=form.email.strip(),
                    identifiant_national=carte.identifiant_national, profession=carte.profession,
                    specialite=carte.specialite, telephone=form.telephone.strip(),
                    code_postal=form.code_postal.strip(), ville=form.ville.strip(), created_at=now)
        uow.users.add(user)
    else:
        user.nom, user.prenom = carte.nom, carte.prenom
        user.profession = carte.profession or user.profession
        user.specialite = carte.specialite or user.specialite
        user.email, user.code_postal, user.ville = form.email.strip(), form.code_postal.strip(), form.ville.strip()
        user.telephone = form.telephone.strip() or user.telephone
    uow.flush()
    assert user.id is not None
    uow.accounts.add(Compte(user_id=user.id, password_hash=hasher.hash(form.mot_de_passe), created_at=now))
    record(uow, user.id, now, "compte.creation", user.id, apres={"email": user.email, "code_postal": user.code_postal,
                                                                 "ville": user.ville})
    return user


def accept_charter(uow: UnitOfWork, env: Env, user_id: int) -> Compte:
    compte = _compte(uow, user_id)
    now = env.clock.now()
    compte.charte_acceptee_at, compte.charte_version = now, CHARTE_VERSION
    record(uow, user_id, now, "charte.acceptation", user_id, apres={"version": CHARTE_VERSION})
    return compte


EDITABLE = ("email", "telephone", "code_postal", "ville", "alertes_email")


def update_profile(uow: UnitOfWork, env: Env, user_id: int, changes: dict[str, Any]) -> User:
    """Mon compte: personal data. The username (national or local id) and the card data never change here."""
    fixed = set(changes) - set(EDITABLE)
    if fixed:
        raise ValidationFailed("Ces données ne se modifient pas : " + ", ".join(sorted(fixed)) + ".",
                               code="compte.champ_fixe")
    user = uow.users.get(user_id)
    errors: dict[str, str] = {}
    if "email" in changes and not _EMAIL.match(str(changes["email"]).strip()):
        errors["email"] = "Saisissez une adresse e-mail valide (exemple : nom@domaine.fr)."
    if "code_postal" in changes and not _CODE_POSTAL.match(str(changes["code_postal"]).strip()):
        errors["code_postal"] = "Le code postal comporte 5 chiffres."
    if "ville" in changes and not str(changes["ville"]).strip():
        errors["ville"] = "La ville est obligatoire."
    if errors:
        raise ValidationFailed("Le formulaire comporte des erreurs.", code="compte.donnees",
                               details={"champs": errors})
    avant: dict[str, Any] = {}
    apres: dict[str, Any] = {}
    for name, value in changes.items():
        value = bool(value) if name == "alertes_email" else str(value).strip()
        if getattr(user, name) != value:
            avant[name], apres[name] = getattr(user, name), value
            setattr(user, name, value)
    if apres:
        record(uow, user_id, env.clock.now(), "compte.modification", user_id, avant=avant, apres=apres)
    return user


def change_password(uow: UnitOfWork, env: Env, hasher: Hasher, user_id: int, actuel: str, nouveau: str) -> None:
    compte = _compte(uow, user_id)
    if compte.password_hash is None or not hasher.verify(compte.password_hash, actuel):
        raise ValidationFailed("Le mot de passe actuel est incorrect.", code="compte.mot_de_passe_actuel",
                               details={"champs": {"actuel": "Le mot de passe actuel est incorrect."}})
    check_password(nouveau)
    compte.password_hash = hasher.hash(nouveau)
    record(uow, user_id, env.clock.now(), "compte.mot_de_passe", user_id)


def record(uow: UnitOfWork, user_id: int, at: dt.datetime, action: str, actor_user_id: int | None, *,
           avant: dict[str, Any] | None = None, apres: dict[str, Any] | None = None) -> None:
    uow.accounts.add_event(EvenementCompte(user_id=user_id, at=at, action=action, actor_user_id=actor_user_id,
                                           avant=avant or {}, apres=apres or {}))


def mail(uow: UnitOfWork, env: Env, to: str, subject: str, body: str) -> None:
    """Queue an e-mail in the outbox, in the caller's transaction: sent after commit, dropped on rollback."""
    uow.outbox.add(OutboxMessage(kind=MAIL_KIND, payload={"to": to, "subject": subject, "body": body},
                                 created_at=env.clock.now()))


def _compte(uow: UnitOfWork, user_id: int) -> Compte:
    compte = uow.accounts.get(user_id)
    if compte is None:
        raise NotFound("Compte introuvable : faites d'abord une première connexion par carte CPS ou e-CPS.",
                       code="compte.inexistant")
    return compte


# --- identifier + password + one-time code --------------------------------------------------------------------------

BAD_CREDENTIALS = ("Identifiant ou mot de passe incorrect. La connexion par mot de passe n'est possible qu'après "
                   "une première connexion par carte CPS ou e-CPS.")


def _ip_limit(uow: UnitOfWork, ip: str, now: dt.datetime, policy: SignInPolicy) -> None:
    if uow.accounts.failures_from_ip(ip, now - policy.fenetre_ip) >= policy.echecs_par_ip:
        raise SignInRefused("Trop de tentatives depuis cette adresse. Réessayez dans quelques minutes.",
                            code="connexion.trop_de_tentatives", retry_after=policy.fenetre_ip)


def check_password_step(uow: UnitOfWork, env: Env, hasher: Hasher, identifiant: str, password: str, ip: str,
                        policy: SignInPolicy, *, code_hasher: Hasher | None = None) -> tuple[User, str]:
    """Step 1: identifier + password. On success a new code is e-mailed (previous ones die); the user and the
    clear code are returned (the code only for the e-mail body, never shown). Raises ``SignInRefused``.

    ``hasher`` is the password hasher (argon2); ``code_hasher`` stores the code (the gateway uses a keyed HMAC: a
    6-digit code living 10 minutes behind 5 tries needs no memory-hard hash), ``hasher`` when not given."""
    now = env.clock.now()
    _ip_limit(uow, ip, now, policy)
    user = uow.users.by_login(identifiant.strip())
    compte = uow.accounts.get(user.id) if user is not None and user.id is not None else None
    if user is None or compte is None or compte.password_hash is None or not user.actif:
        hasher.hash(password)  # the same work as a verification: the answer time does not tell accounts apart
        uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="mot_de_passe", succes=False,
                                                    user_id=user.id if user else None))
        raise SignInRefused(BAD_CREDENTIALS, code="connexion.identifiants")
    assert user.id is not None
    if compte.verrouille(now):
        assert compte.verrouille_jusqu_a is not None
        uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="mot_de_passe", succes=False,
                                                    user_id=user.id))
        raise SignInRefused(
            f"Compte verrouillé après plusieurs échecs, jusqu'à {_format_heure(compte.verrouille_jusqu_a)}. "
            "Réessayez plus tard ou demandez à un référent de votre établissement de le débloquer.",
            code="connexion.verrouille", retry_after=compte.verrouille_jusqu_a - now)
    if not hasher.verify(compte.password_hash, password):
        lockout_after_failure(compte, now, policy)
        uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="mot_de_passe", succes=False,
                                                    user_id=user.id))
        if compte.verrouille_jusqu_a is not None and compte.verrouille(now):
            record(uow, user.id, now, "compte.verrouillage", None,
                   apres={"jusqu_a": compte.verrouille_jusqu_a.isoformat()})
        raise SignInRefused(BAD_CREDENTIALS, code="connexion.identifiants")
    if uow.accounts.codes_sent_since(user.id, now - dt.timedelta(hours=1)) >= policy.codes_par_heure:
        raise SignInRefused("Trop de codes envoyés pour ce compte en une heure. Réessayez plus tard.",
                            code="connexion.trop_de_codes", retry_after=dt.timedelta(hours=1))
    compte.echecs = 0
    uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="mot_de_passe", succes=True, user_id=user.id))
    return user, _send_code(uow, env, code_hasher or hasher, user, now, policy)


def _send_code(uow: UnitOfWork, env: Env, hasher: Hasher, user: User, now: dt.datetime,
               policy: SignInPolicy) -> str:
    assert user.id is not None
    for old in uow.accounts.live_codes(user.id):
        old.invalidated_at = now
    code = new_code()
    uow.accounts.add_code(CodeConnexion(user_id=user.id, code_hash=hasher.hash(code), created_at=now,
                                        expires_at=now + policy.code_validite))
    minutes = int(policy.code_validite.total_seconds() // 60)
    mail(uow, env, user.email, "Aiguillage : votre code de connexion",
         f"Bonjour {user.nom_complet},\n\nVotre code de connexion à Aiguillage : {code}\n\n"
         f"Il est valable {minutes} minutes et ne sert qu'une fois. Si vous n'avez pas demandé à vous connecter, "
         "changez votre mot de passe et prévenez un référent de votre établissement.\n")
    uow.flush()
    return code


def check_code_step(uow: UnitOfWork, env: Env, hasher: Hasher, user_id: int, code: str, ip: str,
                    policy: SignInPolicy) -> User:
    """Step 2: the code received by e-mail (``hasher``: the code hasher). The latest live code of the user is the
    only one accepted."""
    now = env.clock.now()
    _ip_limit(uow, ip, now, policy)
    user = uow.users.get(user_id)
    compte = _compte(uow, user_id)
    if compte.verrouille(now):
        raise SignInRefused("Compte verrouillé après plusieurs échecs. Réessayez plus tard.",
                            code="connexion.verrouille",
                            retry_after=(compte.verrouille_jusqu_a or now) - now)
    latest = uow.accounts.latest_code(user_id)
    if latest is None or not latest.vivant(now, policy):
        uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="code", succes=False, user_id=user_id))
        if latest is not None and latest.used_at is None and now >= latest.expires_at:
            raise SignInRefused("Ce code a expiré (validité 10 minutes). Demandez un nouveau code.",
                                code="connexion.code_expire")
        raise SignInRefused("Ce code n'est plus valable. Demandez un nouveau code.", code="connexion.code_mort")
    if not _CODE.match(code.strip()) or not hasher.verify(latest.code_hash, code.strip()):
        latest.essais += 1
        uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="code", succes=False, user_id=user_id))
        restants = policy.code_essais - latest.essais
        if restants <= 0:
            latest.invalidated_at = now
            lockout_after_failure(compte, now, policy)
            raise SignInRefused("Code incorrect. Nombre d'essais atteint : demandez un nouveau code.",
                                code="connexion.code_mort")
        raise SignInRefused(f"Code incorrect. Il vous reste {restants} essai{'s' if restants > 1 else ''}.",
                            code="connexion.code_incorrect")
    latest.used_at = now
    compte.echecs = 0
    compte.derniere_connexion_at, compte.derniere_methode = now, MethodeConnexion.MOT_DE_PASSE.value
    uow.accounts.add_attempt(TentativeConnexion(at=now, ip=ip, etape="code", succes=True, user_id=user_id))
    return user


def resend_code(uow: UnitOfWork, env: Env, hasher: Hasher, user_id: int, ip: str, policy: SignInPolicy) -> str:
    now = env.clock.now()
    _ip_limit(uow, ip, now, policy)
    user = uow.users.get(user_id)
    compte = _compte(uow, user_id)
    if compte.verrouille(now):
        raise SignInRefused("Compte verrouillé après plusieurs échecs. Réessayez plus tard.",
                            code="connexion.verrouille")
    if uow.accounts.codes_sent_since(user_id, now - dt.timedelta(hours=1)) >= policy.codes_par_heure:
        raise SignInRefused("Trop de codes envoyés pour ce compte en une heure. Réessayez plus tard.",
                            code="connexion.trop_de_codes", retry_after=dt.timedelta(hours=1))
    return _send_code(uow, env, hasher, user, now, policy)


def card_signed_in(uow: UnitOfWork, env: Env, user_id: int, methode: MethodeConnexion) -> Compte:
    compte = _compte(uow, user_id)
    compte.derniere_connexion_at, compte.derniere_methode = env.clock.now(), methode.value
    compte.echecs = 0
    return compte


def require_account_manager(uow: UnitOfWork, env: Env, actor_id: int, user_id: int) -> None:
    """A référent of one of the user's établissements, or an administrator; never on his own account."""
    from orientation_core.people.policy import EtablissementScope, allowed
    from orientation_core.people.service import subject_for

    subject = subject_for(uow, actor_id)
    now = env.clock.now()
    if actor_id == user_id:
        raise Forbidden("Un référent ne gère pas son propre compte.", code="referent.auto_habilitation")
    etablissements = {h.etablissement_id for h in uow.users.habilitations(user_id)}
    if not subject.administrateur and not any(
            allowed(subject, Action.COMPTE_GERER, EtablissementScope(e), now) for e in etablissements):
        raise Forbidden("Vous n'avez pas le droit de gérer ce compte.", code="compte.referent")


def set_active(uow: UnitOfWork, env: Env, actor_id: int, user_id: int, actif: bool) -> User:
    """A référent deactivates (or reactivates) an account of his établissement: its sessions end at their next
    request (gateway/auth/sessions.py checks ``actif``)."""
    require_account_manager(uow, env, actor_id, user_id)
    user = uow.users.get(user_id)
    if user.actif != actif:
        record(uow, user_id, env.clock.now(), "compte.activation", actor_id, avant={"actif": user.actif},
               apres={"actif": actif})
        user.actif = actif
    return user


def unlock(uow: UnitOfWork, env: Env, actor_id: int, user_id: int) -> Compte:
    """A référent of one of the user's établissements (or an administrator) unblocks a locked account."""
    require_account_manager(uow, env, actor_id, user_id)
    now = env.clock.now()
    compte = _compte(uow, user_id)
    compte.verrouille_jusqu_a, compte.echecs = None, 0
    record(uow, user_id, now, "compte.deverrouillage", actor_id)
    return compte


def history(uow: UnitOfWork, user_id: int) -> Sequence[EvenementCompte]:
    return uow.accounts.events(user_id)


# --- délégations with their history and the assistant's e-mailed invitation -----------------------------------------


def _token_hash(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def _delegation_record(uow: UnitOfWork, at: dt.datetime, action: str, actor_id: int, delegation: Delegation) -> None:
    apres = {"delegation": delegation.id, "type": delegation.type.value, "delegant": delegation.delegant_id,
             "delegataire": delegation.delegataire_id, "debut": delegation.debut.isoformat(),
             "fin": delegation.fin.isoformat(), "droits": list(delegation.droits)}
    for user_id in {delegation.delegant_id, delegation.delegataire_id}:
        record(uow, user_id, at, action, actor_id, apres=apres)


def invite_assistant(uow: UnitOfWork, env: Env, delegant_id: int, *, identifiant_national: str, nom: str,
                     prenom: str, email: str, debut: dt.datetime, fin: dt.datetime, droits: Sequence[Action],
                     lien: Callable[[str], str]) -> tuple[Delegation, str]:
    """A médecin libéral delegates to an assistant who holds a CPx card (national id on the card). The assistant's
    account is prepared if he has none (completed at his first card sign-in); the invitation is e-mailed (outbox,
    this transaction) and the délégation works only once he accepted it, signed in as himself."""
    from orientation_core.people import service as people

    identifiant_type(identifiant_national.strip())
    if not _EMAIL.match(email.strip()):
        raise ValidationFailed("Saisissez une adresse e-mail valide (exemple : nom@domaine.fr).",
                               code="delegation.email", details={"champs": {"email": "Adresse e-mail invalide."}})
    assistant = uow.users.by_login(identifiant_national.strip())
    if assistant is None:
        assistant = User(nom=nom.strip().upper(), prenom=prenom.strip(), email=email.strip(),
                         identifiant_national=identifiant_national.strip(), created_at=env.clock.now())
        uow.users.add(assistant)
        uow.flush()
    assert assistant.id is not None
    delegation = people.delegate(uow, env, delegant_id, assistant.id, TypeDelegation.ASSISTANT, debut, fin, droits)
    assert delegation.id is not None
    token = secrets.token_urlsafe(32)
    now = env.clock.now()
    uow.accounts.add_invitation(delegation.id, _token_hash(token), now)
    delegant = uow.users.get(delegant_id)
    mail(uow, env, email.strip() or assistant.email, "Aiguillage : invitation à une délégation",
         f"Bonjour {assistant.nom_complet},\n\n{delegant.nom_complet} vous délègue des droits sur ses dossiers "
         f"Aiguillage du {debut:%d/%m/%Y} au {fin:%d/%m/%Y}.\n\nPour l'accepter, connectez-vous avec votre carte "
         f"CPx ou e-CPS puis ouvrez ce lien :\n{lien(token)}\n")
    _delegation_record(uow, now, "delegation.creation", delegant_id, delegation)
    return delegation, token


def accept_invitation(uow: UnitOfWork, env: Env, user_id: int, token: str) -> Delegation:
    from orientation_core.people import service as people

    found = uow.accounts.invitation(_token_hash(token))
    if found is None:
        raise NotFound("Invitation introuvable ou déjà utilisée.", code="delegation.invitation")
    delegation_id, used_at = found
    delegation = uow.users.get_delegation(delegation_id)
    if delegation.delegataire_id != user_id:
        raise NotFound("Cette invitation est adressée à une autre personne : connectez-vous avec votre carte.",
                       code="delegation.invitation")
    if used_at is not None:
        raise NotFound("Invitation introuvable ou déjà utilisée.", code="delegation.invitation")
    people.accept_delegation(uow, env, user_id, delegation_id)
    now = env.clock.now()
    uow.accounts.use_invitation(_token_hash(token), now)
    _delegation_record(uow, now, "delegation.acceptation", user_id, delegation)
    return delegation


def delegate_confrere(uow: UnitOfWork, env: Env, delegant_id: int, delegataire_id: int, debut: dt.datetime,
                      fin: dt.datetime) -> Delegation:
    """To a confrère found in the directory: the delegant's own rights on his dossiers, for the window."""
    from orientation_core.people import service as people

    delegation = people.delegate(uow, env, delegant_id, delegataire_id, TypeDelegation.CONFRERE, debut, fin)
    _delegation_record(uow, env.clock.now(), "delegation.creation", delegant_id, delegation)
    return delegation


def delegate(uow: UnitOfWork, env: Env, delegant_id: int, delegataire_id: int, type_: TypeDelegation,
             debut: dt.datetime, fin: dt.datetime, droits: Sequence[Action], *,
             lien: Callable[[str], str]) -> Delegation:
    """A délégation to a known user (by id): a confrère as ``delegate_confrere``, an assistant as
    ``invite_assistant`` (his card id, name and e-mail from his account; the invitation is e-mailed). One use case
    whichever route calls it, so every délégation is in the history."""
    if type_ is TypeDelegation.CONFRERE:
        return delegate_confrere(uow, env, delegant_id, delegataire_id, debut, fin)
    assistant = uow.users.get(delegataire_id)
    if not assistant.identifiant_national:
        raise ValidationFailed("L'assistant doit détenir une carte CPx.", code="delegation.cpx")
    delegation, _token = invite_assistant(
        uow, env, delegant_id, identifiant_national=assistant.identifiant_national, nom=assistant.nom,
        prenom=assistant.prenom, email=assistant.email, debut=debut, fin=fin, droits=droits, lien=lien)
    return delegation


def accept_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int) -> Delegation:
    """The delegate accepts a délégation by its id (older API): recorded in both histories."""
    from orientation_core.people import service as people

    delegation = people.accept_delegation(uow, env, user_id, delegation_id)
    _delegation_record(uow, env.clock.now(), "delegation.acceptation", user_id, delegation)
    return delegation


def update_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int, *,
                      fin: dt.datetime | None = None, droits: Sequence[Action] | None = None) -> Delegation:
    from orientation_core.people import service as people

    delegation = people.update_delegation(uow, env, user_id, delegation_id, fin=fin, droits=droits)
    _delegation_record(uow, env.clock.now(), "delegation.modification", user_id, delegation)
    return delegation


def revoke_delegation(uow: UnitOfWork, env: Env, user_id: int, delegation_id: int) -> Delegation:
    from orientation_core.people import service as people

    delegation = people.revoke_delegation(uow, env, user_id, delegation_id)
    _delegation_record(uow, env.clock.now(), "delegation.revocation", user_id, delegation)
    return delegation


def search_confreres(uow: UnitOfWork, nom: str, code_postal: str = "") -> list[User]:
    """The directory of users: doctors by name prefix (at least 2 letters), optionally in one postcode."""
    if len(nom.strip()) < 2:
        raise ValidationFailed("Saisissez au moins deux lettres du nom.", code="annuaire.nom",
                               details={"champs": {"nom": "Saisissez au moins deux lettres du nom."}})
    return uow.accounts.search_users(nom, code_postal, medecins=True)

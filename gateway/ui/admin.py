"""Référent administration: units, user accounts, habilitations, DPI clients.

A référent manages the établissement(s) where he holds the référent habilitation; a platform administrator every
établissement, and alone the DPI clients. Anybody else gets the French 403 page. Every form keeps what was typed
and shows the domain's refusal next to the field it concerns (the error codes are mapped to fields below).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from gateway.api.deps import UserId
from gateway.container import Container
from gateway.ui.pages import container, see_other, show
from orientation_core.auth.model import TrustLevel
from orientation_core.directory import service as directory
from orientation_core.directory.model import (
    MENTIONS_SMR,
    TYPE_UNITE_LABELS,
    Etablissement,
    Secteur,
    TypeUnite,
    Unite,
)
from orientation_core.dossier.volets import Module
from orientation_core.errors import AiguillageError, Conflict, Forbidden, NotFound, ValidationFailed
from orientation_core.people import accounts
from orientation_core.people import service as people
from orientation_core.people.model import ROLE_LABELS, Habilitation, Role, User
from orientation_core.people.policy import Action, EtablissementScope, allowed
from orientation_core.ports import UnitOfWork

router = APIRouter(include_in_schema=False)

REFUS = ("L'administration est réservée aux référents d'un établissement et aux administrateurs de la "
         "plateforme.")

# Domain error code → the form field it concerns (the message is shown next to that field).
CHAMP_DE_CODE: dict[str, str] = {
    "finess.invalide": "finess", "finess.cle": "finess", "etablissement.existe": "finess",
    "etablissement.nom": "nom", "code_postal.invalide": "code_postal",
    "unite.code_uf": "code_uf", "unite.existe": "code_uf", "unite.mention": "mention", "unite.capacite": "capacite",
    "utilisateur.email": "email", "utilisateur.identifiant_national": "identifiant_national",
    "utilisateur.identifiant": "identifiant_local", "utilisateur.nom": "nom",
    "habilitation.unite": "portee", "habilitation.existe": "portee", "referent.auto_habilitation": "portee",
    "client_dpi.id": "client_id", "client_dpi.existe": "client_id", "client_dpi.nom": "nom",
    "client_dpi.cles": "jwks", "client_dpi.jwks": "jwks", "client_dpi.jwks_prive": "jwks",
    "client_dpi.jwks_url": "jwks_url", "client_dpi.etablissement": "etablissements",
    "client_dpi.etablissements": "etablissements", "client_dpi.modules": "modules",
}

PROFESSIONS = (("", "—"), ("medecin", "Médecin"), ("infirmier", "Infirmier(ère)"), ("cadre", "Cadre de santé"),
               ("assistant_social", "Assistant(e) social(e)"), ("secretaire", "Secrétaire médicale"),
               ("autre", "Autre"))
MODULE_LABELS = {Module.SANITAIRE: "Sanitaire", Module.GRAND_AGE: "Grand Âge"}
TRUST_LABELS = {TrustLevel.TRUSTED: "De confiance : l'utilisateur désigné par le DPI est connecté directement",
                TrustLevel.SESSION_REQUIRED: "Session requise : l'utilisateur doit déjà être connecté ici"}
EVENEMENTS = {
    "compte.activation": "Activation / désactivation", "compte.deverrouillage": "Déverrouillage",
    "compte.verrouillage": "Verrouillage", "compte.modification": "Modification des données",
    "connexion": "Connexion", "habilitation.ajout": "Habilitation ajoutée",
    "habilitation.retrait": "Habilitation retirée", "compte.creation": "Création du compte",
    "compte.mot_de_passe": "Mot de passe changé", "charte.acceptation": "Charte acceptée",
    "delegation.creation": "Délégation créée", "delegation.acceptation": "Délégation acceptée",
    "delegation.modification": "Délégation modifiée", "delegation.revocation": "Délégation révoquée",
}

CLES_HISTORIQUE = {"role": "Rôle", "etablissement": "Établissement", "unite": "Unité", "actif": "Actif",
                   "identifiant": "Identifiant", "email": "E-mail", "telephone": "Téléphone"}


class FormError(Exception):
    """A value the page itself refuses before calling the domain (a number that is not one, a missing field)."""

    def __init__(self, champ: str, message: str) -> None:
        super().__init__(message)
        self.champ, self.message = champ, message


def erreurs_de(exc: AiguillageError | FormError) -> dict[str, str]:
    if isinstance(exc, FormError):
        return {exc.champ: exc.message}
    return {CHAMP_DE_CODE.get(exc.code, "_"): exc.message}


def statut_de(exc: AiguillageError | FormError) -> int:
    return 409 if isinstance(exc, Conflict) else 422


# --- who manages what -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Perimetre:
    """The établissements the signed-in user administers."""

    administrateur: bool
    etablissements: tuple[Etablissement, ...]

    def choisi(self, etablissement_id: int | None) -> Etablissement:
        """The établissement asked for (it must be one of his), else the first."""
        for etab in self.etablissements:
            if etablissement_id is None or etab.id == etablissement_id:
                return etab
        raise Forbidden("Vous n'administrez pas cet établissement.", code="compte.referent")

    @property
    def ids(self) -> set[int]:
        return {e.id for e in self.etablissements if e.id is not None}


def perimetre(uow: UnitOfWork, c: Container, user_id: int) -> Perimetre:
    subject = people.subject_for(uow, user_id)
    now = c.env.clock.now()
    etabs = sorted(uow.directory.list_etablissements(), key=lambda e: e.nom)
    if not subject.administrateur:
        etabs = [e for e in etabs if e.id is not None
                 and allowed(subject, Action.COMPTE_GERER, EtablissementScope(e.id), now)]
        if not etabs:
            raise Forbidden(REFUS, code="droits.refuse")
    return Perimetre(subject.administrateur, tuple(etabs))


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _portee(uow: UnitOfWork, p: Perimetre, portee: str, role: str) -> tuple[Role, int, int | None]:
    """``role`` and ``portee`` of a habilitation form: ``u<unit id>`` or ``e<établissement id>`` (référent)."""
    try:
        role_ = Role(role)
    except ValueError:
        raise FormError("role", "Choisissez un rôle.") from None
    ident = _int(portee[1:]) if portee[:1] in ("u", "e") else None
    if ident is None:
        raise FormError("portee", "Choisissez une unité (ou l'établissement entier pour un référent).")
    if portee[0] == "e":
        if role_ is not Role.REFERENT:
            raise FormError("portee", "Ce rôle se donne pour une unité : choisissez une unité.")
        etab_id, unite_id = ident, None
    else:
        etab_id, unite_id = uow.directory.get_unite(ident).etablissement_id, ident
        if role_ is Role.REFERENT:
            raise FormError("portee", "Le rôle de référent se donne pour l'établissement entier.")
    if etab_id not in p.ids:
        raise Forbidden("Vous n'administrez pas cet établissement.", code="compte.referent")
    return role_, etab_id, unite_id


def _portees(uow: UnitOfWork, p: Perimetre) -> list[tuple[Etablissement, list[Unite]]]:
    return [(e, uow.directory.search_unites(etablissement_id=e.id)) for e in p.etablissements]


# --- overview --------------------------------------------------------------------------------------------------------


@router.get("/admin", summary="Administration : vue d'ensemble des établissements gérés")
def overview(request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        p = perimetre(uow, c, user_id)
        lignes = [{"etab": e, "unites": len(uow.directory.search_unites(etablissement_id=e.id)),
                   "comptes": len(uow.users.list_users(e.id)),
                   "referents": [u.nom_complet for u in uow.users.referents(e.id or 0)]}
                  for e in p.etablissements]
        nb_clients = len(uow.auth.clients()) if p.administrateur else 0
        return show(request, user_id, "admin/index.html", {
            "lignes": lignes, "administrateur": p.administrateur, "nb_clients": nb_clients,
            "valeurs": {}, "erreurs": {}, "secteurs": list(Secteur)}, uow=uow)


@router.post("/admin/etablissements", summary="Enregistrer un établissement (administrateur)")
def create_etablissement(request: Request, user_id: UserId, finess: Annotated[str, Form()] = "",
                         nom: Annotated[str, Form()] = "", secteur: Annotated[str, Form()] = "",
                         adresse: Annotated[str, Form()] = "", code_postal: Annotated[str, Form()] = "",
                         ville: Annotated[str, Form()] = "", telephone: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    valeurs = {"finess": finess, "nom": nom, "secteur": secteur, "adresse": adresse, "code_postal": code_postal,
               "ville": ville, "telephone": telephone}
    try:
        with c.uow() as uow:
            if not people.subject_for(uow, user_id).administrateur:
                raise Forbidden("Seul un administrateur de la plateforme enregistre un établissement.")
            try:
                secteur_ = Secteur(secteur)
            except ValueError:
                raise FormError("secteur", "Choisissez le secteur.") from None
            etab = Etablissement(finess=finess, nom=nom, secteur=secteur_, adresse=adresse.strip(),
                                 code_postal=code_postal.strip() or None, ville=ville.strip(),
                                 telephone=telephone.strip())
            directory.create_etablissement(uow, c.env, user_id, etab)
            created = etab.id
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            lignes = [{"etab": e, "unites": len(uow.directory.search_unites(etablissement_id=e.id)),
                       "comptes": len(uow.users.list_users(e.id)),
                       "referents": [u.nom_complet for u in uow.users.referents(e.id or 0)]}
                      for e in p.etablissements]
            return show(request, user_id, "admin/index.html", {
                "lignes": lignes, "administrateur": p.administrateur, "nb_clients": len(uow.auth.clients()),
                "valeurs": valeurs, "erreurs": erreurs_de(exc), "secteurs": list(Secteur)},
                status=statut_de(exc), uow=uow)
    return see_other(f"/admin/unites?etablissement_id={created}&cree=etablissement")


# --- units -----------------------------------------------------------------------------------------------------------


def _unites_page(request: Request, user_id: int, uow: UnitOfWork, p: Perimetre, etab: Etablissement, *,
                 valeurs: dict[str, Any], erreurs: dict[str, str], info: str = "", status: int = 200) -> Response:
    unites = uow.directory.search_unites(etablissement_id=etab.id)
    besoins = sorted({b for e in p.etablissements for u in uow.directory.search_unites(etablissement_id=e.id)
                      for b in u.besoins_acceptes})
    return show(request, user_id, "admin/unites.html", {
        "etab": etab, "etablissements": p.etablissements, "unites": unites, "valeurs": valeurs,
        "erreurs": erreurs, "info": info, "types": TYPE_UNITE_LABELS, "mentions": sorted(MENTIONS_SMR),
        "besoins_connus": besoins}, status=status, uow=uow)


@router.get("/admin/unites", summary="Unités d'un établissement et création d'une unité")
def unites(request: Request, user_id: UserId, etablissement_id: str = "", cree: str = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        p = perimetre(uow, c, user_id)
        etab = p.choisi(_int(etablissement_id))
        info = {"unite": "Unité créée.", "etablissement": "Établissement enregistré."}.get(cree, "")
        return _unites_page(request, user_id, uow, p, etab, valeurs={}, erreurs={}, info=info)


def _float(champ: str, libelle: str, value: str, low: float, high: float) -> float | None:
    text = value.strip().replace(",", ".")
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        raise FormError(champ, f"{libelle} : un nombre est attendu (ex. 45,76).") from None
    if not low <= number <= high:
        raise FormError(champ, f"{libelle} : entre {low:g} et {high:g}.")
    return number


@router.post("/admin/unites", summary="Créer une unité")
def create_unite(request: Request, user_id: UserId, etablissement_id: Annotated[str, Form()] = "",
                 code_uf: Annotated[str, Form()] = "", nom: Annotated[str, Form()] = "",
                 type: Annotated[str, Form()] = "", mention: Annotated[str, Form()] = "",
                 capacite: Annotated[str, Form()] = "", besoins_acceptes: Annotated[str, Form()] = "",
                 code_postal: Annotated[str, Form()] = "", latitude: Annotated[str, Form()] = "",
                 longitude: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    valeurs = {"code_uf": code_uf, "nom": nom, "type": type, "mention": mention, "capacite": capacite,
               "besoins_acceptes": besoins_acceptes, "code_postal": code_postal, "latitude": latitude,
               "longitude": longitude}
    try:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            if not nom.strip():
                raise FormError("nom", "Le nom de l'unité est obligatoire.")
            try:
                type_ = TypeUnite(type)
            except ValueError:
                raise FormError("type", "Choisissez le type de l'unité.") from None
            places = None
            if capacite.strip():
                if not capacite.strip().isdigit():
                    raise FormError("capacite", "La capacité est un nombre de places (entier positif).")
                places = int(capacite)
            lat = _float("latitude", "Latitude", latitude, -90, 90)
            lon = _float("longitude", "Longitude", longitude, -180, 180)
            if (lat is None) != (lon is None):
                raise FormError("latitude" if lat is None else "longitude",
                                "Donnez la latitude et la longitude ensemble (ou aucune des deux).")
            besoins = [b.strip().lower().replace(" ", "_") for b in besoins_acceptes.split(",") if b.strip()]
            assert etab.id is not None
            directory.create_unite(uow, c.env, user_id, Unite(
                etablissement_id=etab.id, code_uf=code_uf.strip(), nom=nom.strip(), type=type_,
                mention=(mention or None) if type_ is TypeUnite.SMR else None, capacite=places,
                besoins_acceptes=besoins,
                code_postal=code_postal.strip() or None, latitude=lat, longitude=lon))
            etab_id = etab.id
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            return _unites_page(request, user_id, uow, p, etab, valeurs=valeurs, erreurs=erreurs_de(exc),
                                status=statut_de(exc))
    return see_other(f"/admin/unites?etablissement_id={etab_id}&cree=unite")


# --- accounts --------------------------------------------------------------------------------------------------------


def _utilisateurs_page(request: Request, user_id: int, uow: UnitOfWork, c: Container, p: Perimetre,
                       etab: Etablissement, *, valeurs: dict[str, Any], erreurs: dict[str, str],
                       status: int = 200) -> Response:
    now = c.env.clock.now()
    unites_ = {u.id: u for u in uow.directory.search_unites(etablissement_id=etab.id)}
    users = uow.users.list_users(etab.id)
    ids = [u.id for u in users if u.id is not None]
    all_habs, all_comptes = uow.users.habilitations_of(ids), uow.accounts.get_many(ids)
    comptes = []
    for user in users:
        assert user.id is not None
        compte = all_comptes.get(user.id)
        habs = [h for h in all_habs.get(user.id, []) if h.etablissement_id == etab.id]
        comptes.append({"user": user, "verrouille": bool(compte and compte.verrouille(now)),
                        "habilitations": [_hab_libelle(h, unites_.get(h.unite_id)) for h in habs]})
    return show(request, user_id, "admin/utilisateurs.html", {
        "etab": etab, "etablissements": p.etablissements, "comptes": comptes, "valeurs": valeurs,
        "erreurs": erreurs, "roles": ROLE_LABELS, "professions": PROFESSIONS, "portees": _portees(uow, p),
        "moi": user_id}, status=status, uow=uow)


def _hab_trace(uow: UnitOfWork, role: Role, etablissement_id: int, unite_id: int | None) -> dict[str, Any]:
    """A habilitation as the account's history shows it (names, not ids: the history outlives renumbering)."""
    unite = uow.directory.get_unite(unite_id) if unite_id is not None else None
    return {"role": ROLE_LABELS.get(role, str(role)), "etablissement": uow.directory.get_etablissement(
        etablissement_id).nom, "unite": f"{unite.code_uf} {unite.nom}" if unite is not None else "établissement entier"}


def _hab_libelle(h: Habilitation, unite: Unite | None) -> str:
    role = ROLE_LABELS.get(h.role, str(h.role))
    return f"{role} — {unite.code_uf} {unite.nom}" if unite is not None else f"{role} — établissement entier"


@router.get("/admin/utilisateurs", summary="Comptes d'un établissement et création d'un compte")
def utilisateurs(request: Request, user_id: UserId, etablissement_id: str = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        p = perimetre(uow, c, user_id)
        etab = p.choisi(_int(etablissement_id))
        return _utilisateurs_page(request, user_id, uow, c, p, etab, valeurs={}, erreurs={})


@router.post("/admin/utilisateurs", summary="Créer un compte avec sa première habilitation")
def create_utilisateur(request: Request, user_id: UserId, etablissement_id: Annotated[str, Form()] = "",
                       nom: Annotated[str, Form()] = "", prenom: Annotated[str, Form()] = "",
                       email: Annotated[str, Form()] = "", identifiant_national: Annotated[str, Form()] = "",
                       identifiant_local: Annotated[str, Form()] = "", profession: Annotated[str, Form()] = "",
                       specialite: Annotated[str, Form()] = "", telephone: Annotated[str, Form()] = "",
                       forme_ins: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
                       portee: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    valeurs = {"nom": nom, "prenom": prenom, "email": email, "identifiant_national": identifiant_national,
               "identifiant_local": identifiant_local, "profession": profession, "specialite": specialite,
               "telephone": telephone, "forme_ins": bool(forme_ins), "role": role, "portee": portee}
    try:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            if not email.strip():
                raise FormError("email", "L'adresse e-mail est obligatoire.")
            role_, hab_etab, unite_id = _portee(uow, p, portee, role)
            user = User(nom=nom.strip(), prenom=prenom.strip(), email=email.strip(),
                        identifiant_national=identifiant_national.strip() or None,
                        identifiant_local=identifiant_local.strip() or None, profession=profession,
                        specialite=specialite.strip(), telephone=telephone.strip(), forme_ins=bool(forme_ins))
            try:
                people.create_user(uow, c.env, user_id, user, hab_etab)
            except Conflict as exc:  # the login already used: next to the identifier that was typed
                raise FormError("identifiant_national" if user.identifiant_national else "identifiant_local",
                                exc.message) from exc
            assert user.id is not None
            people.grant(uow, c.env, user_id, user.id, role_, hab_etab, unite_id)
            accounts.record(uow, user.id, c.env.clock.now(), "compte.creation", user_id,
                            apres={"identifiant": user.login} | _hab_trace(uow, role_, hab_etab, unite_id))
            created = user.id
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            return _utilisateurs_page(request, user_id, uow, c, p, etab, valeurs=valeurs, erreurs=erreurs_de(exc),
                                      status=statut_de(exc))
    return see_other(f"/admin/utilisateurs/{created}?info=cree")


INFOS = {"cree": "Compte créé avec sa première habilitation.", "habilitation": "Habilitation ajoutée.",
         "retrait": "Habilitation retirée.", "deverrouille": "Compte déverrouillé.",
         "active": "Compte réactivé.", "desactive": "Compte désactivé : ses sessions prennent fin."}


def _utilisateur_page(request: Request, user_id: int, uow: UnitOfWork, c: Container, target_id: int, *,
                      valeurs: dict[str, Any] | None = None, erreurs: dict[str, str] | None = None,
                      info: str = "", status: int = 200) -> Response:
    p = perimetre(uow, c, user_id)
    try:
        accounts.require_account_manager(uow, c.env, user_id, target_id)
    except Forbidden as exc:
        if target_id == user_id:
            raise
        raise NotFound("Utilisateur introuvable.") from exc
    now = c.env.clock.now()
    user = uow.users.get(target_id)
    compte = uow.accounts.get(target_id)
    habs = [h for h in uow.users.habilitations(target_id) if h.etablissement_id in p.ids]
    unites_ = uow.directory.unites([h.unite_id for h in habs if h.unite_id is not None])
    etabs = {e.id: e for e in p.etablissements}
    habilitations: list[dict[str, Any]] = [
        {"id": h.id, "libelle": ROLE_LABELS.get(h.role, str(h.role)), "etab": etabs[h.etablissement_id],
                      "unite": unites_.get(h.unite_id) if h.unite_id is not None else None,
                      "le": h.granted_at} for h in habs]
    noms: dict[int, str] = {}

    def nom(ident: int | None) -> str:
        if ident is None:
            return "—"
        if ident not in noms:
            try:
                noms[ident] = uow.users.get(ident).nom_complet
            except NotFound:
                noms[ident] = f"utilisateur {ident}"
        return noms[ident]

    def lisible(values: dict[str, Any]) -> dict[str, Any]:
        return {k: ("oui" if v else "non") if isinstance(v, bool) else v for k, v in values.items()}

    historique = [{"at": e.at, "action": EVENEMENTS.get(e.action, e.action), "par": nom(e.actor_user_id),
                   "avant": lisible(e.avant), "apres": lisible(e.apres)} for e in accounts.history(uow, target_id)]
    return show(request, user_id, "admin/utilisateur.html", {
        "cible": user, "compte": compte, "verrouille": bool(compte and compte.verrouille(now)),
        "habilitations": habilitations, "portees": _portees(uow, p), "roles": ROLE_LABELS,
        "historique": historique, "cles": CLES_HISTORIQUE, "valeurs": valeurs or {}, "erreurs": erreurs or {},
        "info": info,
        "etab_retour": habilitations[0]["etab"].id if habilitations else None}, status=status, uow=uow)


@router.get("/admin/utilisateurs/{target_id}", summary="Un compte : habilitations, état, historique")
def utilisateur(request: Request, user_id: UserId, target_id: int, info: str = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        return _utilisateur_page(request, user_id, uow, c, target_id, info=INFOS.get(info, ""))


@router.post("/admin/utilisateurs/{target_id}/habilitations", summary="Ajouter une habilitation")
def add_habilitation(request: Request, user_id: UserId, target_id: int, role: Annotated[str, Form()] = "",
                     portee: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    try:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            accounts.require_account_manager(uow, c.env, user_id, target_id)
            role_, etab_id, unite_id = _portee(uow, p, portee, role)
            people.grant(uow, c.env, user_id, target_id, role_, etab_id, unite_id)
            accounts.record(uow, target_id, c.env.clock.now(), "habilitation.ajout", user_id,
                            apres=_hab_trace(uow, role_, etab_id, unite_id))
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            return _utilisateur_page(request, user_id, uow, c, target_id, valeurs={"role": role, "portee": portee},
                                     erreurs=erreurs_de(exc), status=statut_de(exc))
    return see_other(f"/admin/utilisateurs/{target_id}?info=habilitation")


@router.post("/admin/utilisateurs/{target_id}/habilitations/{habilitation_id}/retrait",
             summary="Retirer une habilitation")
def remove_habilitation(request: Request, user_id: UserId, target_id: int, habilitation_id: int) -> Response:
    c = container(request)
    with c.uow() as uow:
        perimetre(uow, c, user_id)
        accounts.require_account_manager(uow, c.env, user_id, target_id)
        habilitation = uow.users.get_habilitation(habilitation_id)
        if habilitation.user_id != target_id:
            raise NotFound("Habilitation introuvable.")
        people.revoke(uow, c.env, user_id, habilitation_id)
        accounts.record(uow, target_id, c.env.clock.now(), "habilitation.retrait", user_id,
                        avant=_hab_trace(uow, habilitation.role, habilitation.etablissement_id,
                                         habilitation.unite_id))
    return see_other(f"/admin/utilisateurs/{target_id}?info=retrait")


@router.post("/admin/utilisateurs/{target_id}/deverrouillage", summary="Déverrouiller un compte")
def unlock(request: Request, user_id: UserId, target_id: int) -> Response:
    c = container(request)
    with c.uow() as uow:
        perimetre(uow, c, user_id)
        accounts.unlock(uow, c.env, user_id, target_id)
    return see_other(f"/admin/utilisateurs/{target_id}?info=deverrouille")


@router.post("/admin/utilisateurs/{target_id}/activation", summary="Activer ou désactiver un compte")
def activation(request: Request, user_id: UserId, target_id: int, actif: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        perimetre(uow, c, user_id)
        accounts.set_active(uow, c.env, user_id, target_id, actif == "oui")
    return see_other(f"/admin/utilisateurs/{target_id}?info={'active' if actif == 'oui' else 'desactive'}")


# --- habilitations of an établissement -------------------------------------------------------------------------------


def _habilitations_page(request: Request, user_id: int, uow: UnitOfWork, p: Perimetre, etab: Etablissement, *,
                        valeurs: dict[str, Any], erreurs: dict[str, str], info: str = "",
                        status: int = 200) -> Response:
    users = uow.users.list_users(etab.id)
    by_id = {u.id: u for u in users if u.id is not None}
    habs = [h for hs in uow.users.habilitations_of(list(by_id)).values() for h in hs if h.etablissement_id == etab.id]
    unites_ = {u.id: u for u in uow.directory.search_unites(etablissement_id=etab.id)}
    def cle(h: Habilitation) -> tuple[str, str, str]:
        unite, user = unites_.get(h.unite_id) if h.unite_id is not None else None, by_id[h.user_id]
        return (unite.code_uf if unite else "", user.nom, user.prenom)

    lignes = [{"user": by_id[h.user_id], "role": ROLE_LABELS.get(h.role, str(h.role)),
               "unite": unites_.get(h.unite_id) if h.unite_id is not None else None, "le": h.granted_at}
              for h in sorted(habs, key=cle)]
    return show(request, user_id, "admin/habilitations.html", {
        "etab": etab, "etablissements": p.etablissements, "lignes": lignes, "valeurs": valeurs, "erreurs": erreurs,
        "info": info, "roles": ROLE_LABELS, "portees": _portees(uow, p), "moi": user_id,
        "comptes": [(str(u.id), f"{u.nom} {u.prenom} ({u.login})") for u in users if u.id != user_id]},
        status=status, uow=uow)


@router.get("/admin/habilitations", summary="Habilitations d'un établissement, par unité")
def habilitations(request: Request, user_id: UserId, etablissement_id: str = "", info: str = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        p = perimetre(uow, c, user_id)
        etab = p.choisi(_int(etablissement_id))
        return _habilitations_page(request, user_id, uow, p, etab, valeurs={}, erreurs={},
                                   info=INFOS.get(info, ""))


@router.post("/admin/habilitations", summary="Attribuer une habilitation à un compte de l'établissement")
def grant_habilitation(request: Request, user_id: UserId, etablissement_id: Annotated[str, Form()] = "",
                       compte: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "",
                       portee: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    valeurs = {"compte": compte, "role": role, "portee": portee}
    try:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            target = _int(compte)
            if target is None:
                raise FormError("compte", "Choisissez le compte.")
            accounts.require_account_manager(uow, c.env, user_id, target)
            role_, etab_id, unite_id = _portee(uow, p, portee, role)
            people.grant(uow, c.env, user_id, target, role_, etab_id, unite_id)
            accounts.record(uow, target, c.env.clock.now(), "habilitation.ajout", user_id,
                            apres=_hab_trace(uow, role_, etab_id, unite_id))
            etab_id_ = etab.id
    except (ValidationFailed, Conflict, FormError) as exc:
        with c.uow() as uow:
            p = perimetre(uow, c, user_id)
            etab = p.choisi(_int(etablissement_id))
            return _habilitations_page(request, user_id, uow, p, etab, valeurs=valeurs, erreurs=erreurs_de(exc),
                                       status=statut_de(exc))
    return see_other(f"/admin/habilitations?etablissement_id={etab_id_}&info=habilitation")

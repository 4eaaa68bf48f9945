"""Pages of the accounts: sign-in choice, Pro Santé Connect (start and return), first sign-in, usage charter, Mon
compte, délégations (with the assistant's invitation), médecin libéral space.

Pages shown before a session exists (sign-in, first sign-in, charter) go through ``page``: their forms carry the
double-submit CSRF token. Signed-in pages take ``UserId`` and render through ``gateway.ui.pages.show`` (shared
header and navigation). French text, labels bound to inputs, each error next to its field (``aria-describedby``),
every typed value kept when a form is refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.api.deps import UserId
from gateway.auth import sessions
from gateway.auth.otp import HASHER, seal, set_sealed, unseal
from gateway.auth.password import safe_next
from gateway.auth.psc import FlowState, PscClient, PscError
from gateway.container import Container
from gateway.ui import render
from gateway.ui.pages import PARIS, see_other, show
from orientation_core.dossier.volets import Module
from orientation_core.errors import AiguillageError, ValidationFailed
from orientation_core.people import accounts, liberal
from orientation_core.people.accounts import CarteCps, MethodeConnexion, PremiereConnexion
from orientation_core.people.liberal import NouveauPatient, Reponse
from orientation_core.people.model import ROLE_LABELS, Delegation, TypeDelegation
from orientation_core.people.policy import ACTION_LABELS, ASSISTANT_DELEGABLE, Action
from orientation_core.ports import UnitOfWork

log = structlog.get_logger("aiguillage.securite")
router = APIRouter(tags=["comptes (pages)"], include_in_schema=False)

PSC_COOKIE = "aiguillage_psc"  # state, nonce, PKCE verifier of the flow under way
CARD_COOKIE = "aiguillage_carte"  # card data between the PSC return and the first sign-in form
FLOW_SECONDS = 10 * 60
CARD_SECONDS = 30 * 60


def _container(request: Request) -> Container:
    found: Container = request.app.state.container
    return found


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status: int = 200) -> Response:
    """Render a page whose forms carry the CSRF token (the session's, or the double-submit cookie's)."""
    holder = Response()
    token = sessions.ensure_form_token(request, holder)
    record = sessions.session_from_request(_container(request), request)
    response = render(request, name, {"csrf_token": token, "signed_in": record is not None, **(context or {})},
                      status_code=status)
    for value in holder.headers.getlist("set-cookie"):
        response.headers.append("set-cookie", value)
    return response


def psc_client(request: Request) -> PscClient:
    """One client per application (discovery and JWKS cached), built at first use."""
    client: PscClient | None = getattr(request.app.state, "psc_client", None)
    if client is None:
        client = PscClient(_container(request).settings)
        request.app.state.psc_client = client
    return client


def _redirect_uri(request: Request) -> str:
    base = _container(request).settings.public_base_url.rstrip("/")
    return f"{base}/connexion/psc/retour" if base else str(request.url_for("psc_return"))


# --- sign-in ----------------------------------------------------------------------------------------------------------


@router.get("/connexion", name="sign_in_choice")
def sign_in_choice(request: Request, suite: str = "/") -> Response:
    c = _container(request)
    return page(request, "auth/connexion.html", {"suite": safe_next(suite),
                                                 "psc_actif": bool(c.settings.psc_discovery_url)})


@router.get("/connexion/psc")
def psc_start(request: Request, suite: str = "/") -> Response:
    c = _container(request)
    try:
        url, flow = psc_client(request).start(_redirect_uri(request))
    except PscError as exc:
        return page(request, "auth/connexion.html", {"erreur": exc.message, "suite": safe_next(suite),
                                                     "psc_actif": False}, status=503)
    response = RedirectResponse(url, status_code=303)
    set_sealed(c, request, response, PSC_COOKIE,
               seal(c, "psc", {**flow.as_dict(), "suite": safe_next(suite)}, FLOW_SECONDS), FLOW_SECONDS)
    return response


@router.get("/connexion/psc/retour", name="psc_return")
def psc_return(request: Request) -> Response:
    c = _container(request)
    data = unseal(c, "psc", request.cookies.get(PSC_COOKIE))
    if data is None:
        log.warning("securite.psc_sans_flux")
        return page(request, "auth/connexion.html", {
            "erreur": "Votre connexion Pro Santé Connect a expiré ou n'a pas été commencée ici. Recommencez.",
            "suite": "/", "psc_actif": True}, status=400)
    suite = safe_next(str(data.get("suite") or "/"))
    flow = FlowState(state=str(data["state"]), nonce=str(data["nonce"]), code_verifier=str(data["code_verifier"]))
    try:
        identity = psc_client(request).finish(_redirect_uri(request), flow, dict(request.query_params))
    except PscError as exc:
        response = page(request, "auth/connexion.html", {"erreur": exc.message, "suite": suite, "psc_actif": True},
                        status=400)
        response.delete_cookie(PSC_COOKIE, path="/connexion")
        return response
    carte = identity.carte
    try:
        with c.uow() as uow:
            user = accounts.find_card_account(uow, carte)
            complete = False
            if user is not None and user.id is not None:
                compte = accounts.card_signed_in(uow, c.env, user.id, MethodeConnexion.PSC)
                complete = compte.charte_acceptee
    except AiguillageError as exc:
        return page(request, "auth/connexion.html", {"erreur": exc.message, "suite": suite, "psc_actif": True},
                    status=403)
    if user is None or user.id is None:  # first sign-in: the account form, card data read-only
        response = RedirectResponse("/connexion/premiere", status_code=303)
        card = {"identifiant_national": carte.identifiant_national, "nom": carte.nom, "prenom": carte.prenom,
                "profession": carte.profession, "specialite": carte.specialite, "suite": suite}
        set_sealed(c, request, response, CARD_COOKIE, seal(c, "carte", card, CARD_SECONDS), CARD_SECONDS)
    else:
        response = RedirectResponse(suite if complete else charter_url(suite), status_code=303)
        sessions.open_session(c, response, user.id, method="psc", request=request, account_complete=complete)
    response.delete_cookie(PSC_COOKIE, path="/connexion")
    return response


def _card(request: Request) -> tuple[CarteCps, str] | None:
    data = unseal(_container(request), "carte", request.cookies.get(CARD_COOKIE))
    if data is None:
        return None
    return (CarteCps(identifiant_national=data["identifiant_national"], nom=data["nom"], prenom=data["prenom"],
                     profession=data.get("profession", ""), specialite=data.get("specialite", "")),
            safe_next(data.get("suite")))


@router.get("/connexion/premiere")
def first_sign_in_form(request: Request) -> Response:
    found = _card(request)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    return page(request, "auth/premiere_connexion.html", {"carte": found[0], "valeurs": {}, "erreurs": {}})


@router.post("/connexion/premiere")
def first_sign_in_submit(request: Request, email: Annotated[str, Form()] = "",
                         mot_de_passe: Annotated[str, Form()] = "", code_postal: Annotated[str, Form()] = "",
                         ville: Annotated[str, Form()] = "", telephone: Annotated[str, Form()] = "",
                         _: None = sessions.CsrfChecked) -> Response:
    c = _container(request)
    found = _card(request)
    if found is None:
        return RedirectResponse("/connexion", status_code=303)
    carte, suite = found
    form = PremiereConnexion(email=email, mot_de_passe=mot_de_passe, code_postal=code_postal, ville=ville,
                             telephone=telephone)
    valeurs = {"email": email, "code_postal": code_postal, "ville": ville, "telephone": telephone}
    try:
        with c.uow() as uow:
            user = accounts.complete_first_sign_in(uow, c.env, HASHER, carte, form)
            accounts.card_signed_in(uow, c.env, user.id or 0, MethodeConnexion.PSC)
            user_id = user.id
    except ValidationFailed as exc:
        return page(request, "auth/premiere_connexion.html", {
            "carte": carte, "valeurs": valeurs, "erreurs": exc.details.get("champs", {}),
            "erreur": exc.message}, status=422)
    assert user_id is not None
    response = RedirectResponse(charter_url(suite), status_code=303)
    sessions.open_session(c, response, user_id, method="psc", request=request, account_complete=False)
    response.delete_cookie(CARD_COOKIE, path="/connexion")
    return response


def charter_url(suite: str) -> str:
    from urllib.parse import quote

    return "/charte" if suite == "/" else f"/charte?suite={quote(suite, safe='')}"


@router.get("/charte")
def charter(request: Request, record: sessions.CurrentSession, suite: str = "/") -> Response:
    return page(request, "auth/charte.html", {"deja": record.account_complete, "suite": safe_next(suite)})


@router.post("/charte")
def charter_accept(request: Request, record: sessions.CurrentSession, accepte: Annotated[str, Form()] = "",
                   suite: Annotated[str, Form()] = "/") -> Response:
    c = _container(request)
    if accepte != "oui":
        return page(request, "auth/charte.html", {"erreur": "Cochez la case pour accepter la charte d'utilisation.",
                                                  "suite": safe_next(suite)}, status=422)
    with c.uow() as uow:
        accounts.accept_charter(uow, c.env, record.user_id)
    sessions.mark_account_complete(c, request)
    return RedirectResponse(safe_next(suite) if safe_next(suite) != "/" else "/compte", status_code=303)


# --- Mon compte -------------------------------------------------------------------------------------------------------

ACTIONS_COMPTE = {
    "compte.modification": "Modification de vos données", "compte.mot_de_passe": "Changement de mot de passe",
    "compte.charte": "Acceptation de la charte", "compte.creation": "Création du compte",
    "compte.activation": "Activation ou désactivation du compte", "compte.deverrouillage": "Déverrouillage",
    "delegation.creation": "Délégation créée", "delegation.modification": "Délégation modifiée",
    "delegation.revocation": "Délégation révoquée", "delegation.acceptation": "Délégation acceptée",
    "medecin_traitant.acceptee": "Dossier accepté (médecin traitant)",
    "medecin_traitant.refusee": "Dossier refusé : pas mon patient",
}
PROFESSIONS = {"medecin": "Médecin", "infirmier": "Infirmier ou infirmière", "cadre": "Cadre de santé",
               "secretaire": "Secrétaire", "secretaire_medical": "Secrétaire médical(e)",
               "assistante_sociale": "Assistant(e) de service social"}
CHAMPS_COMPTE = {"email": "E-mail", "telephone": "Téléphone", "code_postal": "Code postal", "ville": "Ville",
                 "alertes_email": "Alertes par e-mail", "dossier": "Dossier"}


def _jour(iso: Any, fin: bool = False) -> str:
    """A délégation bound kept in the history (ISO instant, UTC) as the French day it means: the end bound is the
    start of the day after the last one."""
    from gateway.ui.pages import date_fr

    try:
        at = dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    return date_fr(at - dt.timedelta(seconds=1) if fin else at)


def detail_evenement(action: str, avant: dict[str, Any], apres: dict[str, Any]) -> str:
    """One line of an account's history, in French."""
    if action.startswith("delegation.") and "delegation" in apres:
        genre = "assistant" if apres.get("type") == "assistant" else "confrère"
        return (f"Délégation n° {apres['delegation']} ({genre}), du {_jour(apres.get('debut'))} "
                f"au {_jour(apres.get('fin'), fin=True)}")
    if "dossier" in apres and len(apres) == 1:
        return f"Dossier {apres['dossier']}"

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return "oui" if value else "non"
        return str(value) if value not in (None, "") else "—"

    return " ; ".join(f"{CHAMPS_COMPTE.get(k, k)} : {shown(avant.get(k))} → {shown(v)}" for k, v in apres.items())


def _account_context(uow: UnitOfWork, user_id: int) -> dict[str, Any]:
    user = uow.users.get(user_id)
    habilitations = uow.users.habilitations(user_id)
    unites = uow.directory.unites([h.unite_id for h in habilitations if h.unite_id is not None])
    etablissements = {e.id: e.nom for e in uow.directory.list_etablissements()}
    referents = {etablissements.get(e, str(e)): [(r.nom_complet, r.email) for r in uow.users.referents(e)]
                 for e in sorted({h.etablissement_id for h in habilitations})}
    compte = uow.accounts.get(user_id)
    return {
        "user": user, "historique": uow.accounts.events(user_id, limit=50),
        "habilitations": [(ROLE_LABELS[h.role], etablissements.get(h.etablissement_id, ""),
                           unites[h.unite_id].nom if h.unite_id in unites else "") for h in habilitations],
        "referents": referents, "actions_compte": ACTIONS_COMPTE, "detail": detail_evenement,
        "mot_de_passe": bool(compte and compte.password_hash), "professions": PROFESSIONS,
        "derniere_connexion": compte.derniere_connexion_at if compte else None,
    }


def _account_page(request: Request, user_id: int, *, valeurs: dict[str, Any] | None = None,
                  erreurs: dict[str, str] | None = None, info: str = "", status: int = 200,
                  mdp_erreurs: dict[str, str] | None = None) -> Response:
    with _container(request).uow() as uow:
        context = _account_context(uow, user_id)
        return show(request, user_id, "account/compte.html", {
            **context, "valeurs": valeurs or {}, "erreurs": erreurs or {}, "info": info,
            "mdp_erreurs": mdp_erreurs or {}}, status=status, uow=uow)


@router.get("/compte")
def my_account(request: Request, user_id: UserId, fait: str = "") -> Response:
    info = {"donnees": "Vos données sont enregistrées.",
            "mot_de_passe": "Votre mot de passe est changé."}.get(fait, "")
    return _account_page(request, user_id, info=info)


@router.post("/compte")
def my_account_update(request: Request, user_id: UserId, email: Annotated[str, Form()] = "",
                      telephone: Annotated[str, Form()] = "", code_postal: Annotated[str, Form()] = "",
                      ville: Annotated[str, Form()] = "", alertes_email: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    changes = {"email": email, "telephone": telephone, "code_postal": code_postal, "ville": ville,
               "alertes_email": alertes_email == "oui"}
    try:
        with c.uow() as uow:
            accounts.update_profile(uow, c.env, user_id, changes)
    except ValidationFailed as exc:
        return _account_page(request, user_id, valeurs=changes, erreurs=exc.details.get("champs", {}), status=422)
    return see_other("/compte?fait=donnees")


@router.post("/compte/mot-de-passe")
def my_password_change(request: Request, user_id: UserId, actuel: Annotated[str, Form()] = "",
                       nouveau: Annotated[str, Form()] = "", confirmation: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    if nouveau != confirmation:
        return _account_page(request, user_id, status=422, mdp_erreurs={
            "confirmation": "La confirmation ne correspond pas au nouveau mot de passe."})
    try:
        with c.uow() as uow:
            accounts.change_password(uow, c.env, HASHER, user_id, actuel, nouveau)
    except AiguillageError as exc:
        champs = exc.details.get("champs") or {"nouveau": exc.message}
        return _account_page(request, user_id, status=422, mdp_erreurs=dict(champs))
    return see_other("/compte?fait=mot_de_passe")


# --- délégations ------------------------------------------------------------------------------------------------------

# the field of the délégation forms a refusal of the domain concerns
DELEGATION_FIELDS = {
    "delegation.droits": "droits", "delegation.email": "email", "delegation.cpx": "identifiant_national",
    "utilisateur.identifiant_national": "identifiant_national", "delegation.periode": "fin",
    "delegation.confrere": "delegataire_id",
}


def _etat(d: Delegation, now: dt.datetime) -> tuple[str, str]:
    """The state of a délégation in words, and its badge colour (the words carry the meaning, not the colour)."""
    if d.revoked_at is not None:
        return "Révoquée", "gris"
    if d.accepted_at is None:
        return "Invitation envoyée, pas encore acceptée", "orange"
    if d.active_at(now):
        return "Active", "vert"
    return ("À venir", "bleu") if now < d.debut else ("Terminée", "gris")


def _last_day(fin: dt.datetime) -> dt.date:
    """The last day (Paris) of a window ending at ``fin`` (exclusive)."""
    at = fin if fin.tzinfo else fin.replace(tzinfo=dt.UTC)
    return (at - dt.timedelta(seconds=1)).astimezone(PARIS).date()


def _delegations_context(uow: UnitOfWork, now: dt.datetime, user_id: int) -> dict[str, Any]:
    given = uow.users.delegations_given(user_id)
    received = uow.users.delegations_received(user_id)
    names = {d.delegataire_id: uow.users.get(d.delegataire_id).nom_complet for d in given}
    names |= {d.delegant_id: uow.users.get(d.delegant_id).nom_complet for d in received}
    history = [e for e in uow.accounts.events(user_id, limit=50) if e.action.startswith("delegation.")]
    return {"donnees": given, "recues": received, "noms": names, "now": now,
            "etats": {d.id: _etat(d, now) for d in [*given, *received]},
            # the last day of the window as typed (the window ends at the start of the next day)
            "derniers_jours": {d.id: d.fin - dt.timedelta(seconds=1) for d in [*given, *received]},
            "jours_iso": {d.id: _last_day(d.fin).isoformat() for d in [*given, *received]},
            "droits_assistant": sorted((a.value, ACTION_LABELS[a]) for a in ASSISTANT_DELEGABLE),
            "libelles_droits": {a.value: ACTION_LABELS[a] for a in Action},
            "historique": history, "actions_compte": ACTIONS_COMPTE, "detail": detail_evenement,
            "est_medecin": uow.users.get(user_id).est_medecin}


def _delegations_page(request: Request, user_id: int, *, nom: str = "", code_postal: str = "",
                      formulaire: str = "", valeurs: dict[str, Any] | None = None,
                      erreurs: dict[str, str] | None = None, info: str = "", status: int = 200) -> Response:
    """The délégations page; ``formulaire`` names the form ``erreurs`` and ``valeurs`` belong to (assistant,
    confrere, or fin-<id> for the change of one délégation's end)."""
    c = _container(request)
    erreurs = dict(erreurs or {})
    confreres: list[Any] = []
    with c.uow() as uow:
        context = _delegations_context(uow, c.env.clock.now(), user_id)
        if nom:
            try:
                confreres = [u for u in accounts.search_confreres(uow, nom, code_postal) if u.id != user_id]
            except ValidationFailed as exc:
                erreurs.setdefault("recherche_nom", exc.message)
                status = 422 if status == 200 else status
        return show(request, user_id, "account/delegations.html", {
            **context, "confreres": confreres, "recherche": nom, "code_postal": code_postal,
            "formulaire": formulaire, "valeurs": valeurs or {}, "erreurs": erreurs, "info": info},
            status=status, uow=uow)


INFOS_DELEGATION = {"creee": "La délégation est enregistrée.",
                    "invitee": "L'invitation est envoyée par e-mail : la délégation fonctionnera quand l'assistant "
                               "l'aura acceptée.",
                    "modifiee": "La délégation est modifiée.", "revoquee": "La délégation est révoquée.",
                    "acceptee": "Vous avez accepté la délégation."}


@router.get("/compte/delegations")
def delegations(request: Request, user_id: UserId, nom: str = "", code_postal: str = "",
                fait: str = "") -> Response:
    return _delegations_page(request, user_id, nom=nom.strip(), code_postal=code_postal.strip(),
                             formulaire="confrere" if nom else "", info=INFOS_DELEGATION.get(fait, ""))


def _day(value: str, champ: str, erreurs: dict[str, str], libelle: str) -> dt.date | None:
    if not value.strip():
        erreurs[champ] = f"Saisissez la date de {libelle}."
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        erreurs[champ] = f"Date de {libelle} invalide : saisissez jour, mois et année (JJ/MM/AAAA)."
        return None


def _start_of(day: dt.date) -> dt.datetime:
    """A day typed in the form (Paris) → the instant it starts."""
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo("Europe/Paris")).astimezone(dt.UTC)


def _window(debut: str, fin: str, erreurs: dict[str, str]) -> tuple[dt.datetime, dt.datetime] | None:
    """The délégation window from two typed days: from the start of the first to the end of the last (Paris)."""
    first = _day(debut, "debut", erreurs, "début")
    last = _day(fin, "fin", erreurs, "fin")
    if first is not None and last is not None and last < first:
        erreurs["fin"] = "La date de fin doit être le jour du début ou après."
    if first is None or last is None or erreurs:
        return None
    return _start_of(first), _start_of(last + dt.timedelta(days=1))


def _refusal_fields(exc: AiguillageError) -> dict[str, str]:
    champs = exc.details.get("champs")
    if isinstance(champs, dict) and champs:
        return {str(k): exc.message if k == "email" and "valide" in exc.message else str(v)
                for k, v in champs.items()}
    return {DELEGATION_FIELDS.get(exc.code, "_"): exc.message}


@router.post("/compte/delegations")
def delegation_create(request: Request, user_id: UserId, type: Annotated[str, Form()] = "",
                      debut: Annotated[str, Form()] = "", fin: Annotated[str, Form()] = "",
                      delegataire_id: Annotated[str, Form()] = "",
                      identifiant_national: Annotated[str, Form()] = "", nom: Annotated[str, Form()] = "",
                      prenom: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                      droits: Annotated[list[str] | None, Form()] = None,
                      recherche: Annotated[str, Form()] = "", code_postal: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    confrere = type == TypeDelegation.CONFRERE.value
    formulaire = "confrere" if confrere else "assistant"
    valeurs: dict[str, Any] = {"debut": debut, "fin": fin, "delegataire_id": delegataire_id,
                               "identifiant_national": identifiant_national, "nom": nom, "prenom": prenom,
                               "email": email, "droits": droits or []}
    erreurs: dict[str, str] = {}
    window = _window(debut, fin, erreurs)
    if confrere and not delegataire_id.isdigit():
        erreurs["delegataire_id"] = "Choisissez le confrère à qui déléguer."
    if not confrere:
        for champ, libelle in (("identifiant_national", "l'identifiant national"), ("nom", "le nom"),
                               ("prenom", "le prénom"), ("email", "l'adresse e-mail")):
            if not valeurs[champ].strip():
                erreurs[champ] = f"Saisissez {libelle} de l'assistant."
        if not droits:
            erreurs["droits"] = "Choisissez au moins un droit à déléguer."
    if not erreurs and window is not None:
        try:
            with c.uow() as uow:
                if confrere:
                    accounts.delegate_confrere(uow, c.env, user_id, int(delegataire_id), *window)
                else:
                    accounts.invite_assistant(
                        uow, c.env, user_id, identifiant_national=identifiant_national, nom=nom, prenom=prenom,
                        email=email, debut=window[0], fin=window[1],
                        droits=[Action(d) for d in droits or [] if d in {a.value for a in Action}],
                        lien=lambda token: invitation_link(request, token))
            return see_other("/compte/delegations?fait=" + ("creee" if confrere else "invitee"))
        except AiguillageError as exc:
            erreurs = _refusal_fields(exc)
    return _delegations_page(request, user_id, nom=recherche if confrere else "", code_postal=code_postal,
                             formulaire=formulaire, valeurs=valeurs, erreurs=erreurs, status=422)


@router.post("/compte/delegations/{delegation_id}/modification")
def delegation_update(delegation_id: int, request: Request, user_id: UserId,
                      fin: Annotated[str, Form()] = "", droits: Annotated[list[str] | None, Form()] = None,
                      droits_presents: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    erreurs: dict[str, str] = {}
    last = _day(fin, "fin", erreurs, "fin")
    if droits_presents and not droits:
        erreurs["droits"] = "Gardez au moins un droit, ou révoquez la délégation."
    if last is not None and not erreurs:
        try:
            with c.uow() as uow:
                accounts.update_delegation(
                    uow, c.env, user_id, delegation_id, fin=_start_of(last + dt.timedelta(days=1)),
                    droits=[Action(d) for d in droits if d in {a.value for a in Action}] if droits_presents and droits
                    else None)
            return see_other("/compte/delegations?fait=modifiee")
        except ValidationFailed as exc:
            erreurs = _refusal_fields(exc)
    return _delegations_page(request, user_id, formulaire=f"modification-{delegation_id}",
                             valeurs={"fin": fin, "droits": droits or []}, erreurs=erreurs, status=422)


@router.post("/compte/delegations/{delegation_id}/revocation")
def delegation_revoke(delegation_id: int, request: Request, user_id: UserId) -> Response:
    c = _container(request)
    with c.uow() as uow:
        accounts.revoke_delegation(uow, c.env, user_id, delegation_id)
    return see_other("/compte/delegations?fait=revoquee")


def invitation_link(request: Request, token: str) -> str:
    base = _container(request).settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/compte/invitations/{token}"


@router.get("/compte/invitations/{token}")
def invitation(token: str, request: Request, user_id: UserId) -> Response:
    return show(request, user_id, "account/invitation.html", {"token": token})


@router.post("/compte/invitations/{token}")
def invitation_accept(token: str, request: Request, user_id: UserId) -> Response:
    c = _container(request)
    try:
        with c.uow() as uow:
            accounts.accept_invitation(uow, c.env, user_id, token)
    except AiguillageError as exc:
        return show(request, user_id, "account/invitation.html", {"token": token, "erreur": exc.message},
                    status=404)
    return see_other("/compte/delegations?fait=acceptee")


# --- médecin libéral --------------------------------------------------------------------------------------------------

# the two spaces of the seed's home page (seed 000): Hébergement pour Personnes Âgées, and SSR/HAD/Soins palliatifs
MODULES_LIBERAL = (
    (Module.GRAND_AGE.value, "Hébergement pour Personnes Âgées",
     "Orientation en EHPAD, unité de soins de longue durée, résidence autonomie."),
    (Module.SANITAIRE.value, "SSR, HAD, Soins palliatifs",
     "Orientation en soins médicaux et de réadaptation, hospitalisation à domicile, unité de soins palliatifs."),
)
ETATS_DOSSIER = {"brouillon": "Brouillon", "envoye": "Demandes envoyées", "admis": "Patient admis",
                 "annule": "Annulé", "archive": "Archivé"}
INFOS_LIBERAL = {"acceptation": "Dossier accepté : il est dans vos dossiers, vous pouvez l'ouvrir.",
                 "refus": "Dossier refusé : il est dans la liste « Pas mon patient »."}


def _plain(text: str) -> str:
    """Upper case without accents, for comparing a typed name with a displayed one."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.strip().upper())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@router.get("/liberal")
def liberal_space(request: Request, user_id: UserId, module: str = "", numero: str = "", nom: str = "",
                  prenom: str = "", recherche: str = "", fait: str = "") -> Response:
    c = _container(request)
    first_name = "" if numero.strip() else _plain(prenom)
    query = numero.strip() or nom.strip() or recherche.strip()
    shown_query = numero.strip() or " ".join(p for p in (nom.strip(), prenom.strip()) if p) or recherche.strip()
    chosen = module if module in {m for m, _, _ in MODULES_LIBERAL} else ""
    with c.uow() as uow:
        space = liberal.espace(uow, user_id)
        mine = liberal.mes_dossiers(uow, user_id)
        found = liberal.rechercher(uow, user_id, query) if query or first_name else []
        if first_name:  # the name searched as a prefix, the first name as the prefix of one of the first names
            found = [d for d in found if any(w.startswith(first_name) for w in _plain(d.patient).split()[1:])]
        if chosen:
            found = [d for d in found if d.module.value == chosen]
        delegated = liberal.delegations_recues(uow, c.env, user_id)
        return show(request, user_id, "liberal/espace.html", {
            "espace": space, "mes_dossiers": [d for d in mine if not chosen or d.module.value == chosen],
            "module_choisi": chosen, "resultats": found, "recherche": shown_query, "numero": numero, "nom": nom,
            "prenom": prenom, "labels": liberal.REPONSE_LABELS, "modules": MODULES_LIBERAL,
            "libelles_modules": {m: titre for m, titre, _ in MODULES_LIBERAL}, "delegations": delegated,
            "info": INFOS_LIBERAL.get(fait, ""), "user_id": user_id,
            "etats": ETATS_DOSSIER}, uow=uow)


@router.post("/liberal/dossiers/{dossier_id}/{reponse}")
def liberal_answer(dossier_id: int, reponse: str, request: Request, user_id: UserId) -> Response:
    c = _container(request)
    answer = {"acceptation": Reponse.ACCEPTEE, "refus": Reponse.REFUSEE}.get(reponse)
    if answer is None:
        return see_other("/liberal")
    with c.uow() as uow:
        liberal.repondre(uow, c.env, user_id, dossier_id, answer)
    return see_other(f"/liberal?fait={reponse}")


def _new_dossier_page(request: Request, user_id: int, valeurs: dict[str, str], erreurs: dict[str, str], *,
                      status: int = 200) -> Response:
    return show(request, user_id, "liberal/nouveau.html", {
        "valeurs": valeurs, "erreurs": erreurs, "modules": MODULES_LIBERAL}, status=status)


@router.get("/liberal/nouveau")
def liberal_new_dossier(request: Request, user_id: UserId, module: str = "") -> Response:
    with _container(request).uow() as uow:
        liberal.espace(uow, user_id)  # doctors identified by their card only (French refusal otherwise)
    return _new_dossier_page(request, user_id, {"module": module}, {})


@router.post("/liberal/nouveau")
def liberal_create_dossier(request: Request, user_id: UserId, module: Annotated[str, Form()] = "",
                           nom_naissance: Annotated[str, Form()] = "", prenoms: Annotated[str, Form()] = "",
                           date_naissance: Annotated[str, Form()] = "", sexe: Annotated[str, Form()] = ""
                           ) -> Response:
    c = _container(request)
    form = NouveauPatient(module=module, nom_naissance=nom_naissance, prenoms=prenoms,
                          date_naissance=date_naissance, sexe=sexe)
    try:
        with c.uow() as uow:
            dossier = liberal.creer_dossier(uow, c.env, user_id, form)
            dossier_id = dossier.id
    except ValidationFailed as exc:
        champs = exc.details.get("champs") or {"_": exc.message}
        return _new_dossier_page(request, user_id, dict(form.__dict__), dict(champs), status=422)
    return see_other(f"/dossiers/{dossier_id}")

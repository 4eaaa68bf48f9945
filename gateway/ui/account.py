"""Pages of the accounts: sign-in choice, Pro Santé Connect (start and return), first sign-in, usage charter, Mon
compte, délégations (with the assistant's invitation), médecin libéral space. Minimal server-rendered Jinja2
(French, labels bound to inputs, errors next to their field, typed values kept on error); the UI issue restyles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.auth import sessions
from gateway.auth.otp import HASHER, seal, set_sealed, unseal
from gateway.auth.password import safe_next
from gateway.auth.psc import FlowState, PscClient, PscError
from gateway.container import Container
from gateway.ui import render
from orientation_core.errors import AiguillageError, ValidationFailed
from orientation_core.people import accounts, liberal
from orientation_core.people.accounts import CarteCps, MethodeConnexion, PremiereConnexion
from orientation_core.people.model import ROLE_LABELS, TypeDelegation
from orientation_core.people.policy import ACTION_LABELS, ASSISTANT_DELEGABLE, Action

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


def _account_context(c: Container, user_id: int) -> dict[str, Any]:
    with c.uow() as uow:
        user = uow.users.get(user_id)
        habilitations = uow.users.habilitations(user_id)
        unites = uow.directory.unites([h.unite_id for h in habilitations if h.unite_id is not None])
        etablissements = {e.id: e.nom for e in uow.directory.list_etablissements()}
        referents = {etablissements.get(e, str(e)): [(r.nom_complet, r.email) for r in uow.users.referents(e)]
                     for e in sorted({h.etablissement_id for h in habilitations})}
        return {
            "user": user, "historique": uow.accounts.events(user_id, limit=50),
            "habilitations": [(ROLE_LABELS[h.role], etablissements.get(h.etablissement_id, ""),
                               unites[h.unite_id].nom if h.unite_id in unites else "") for h in habilitations],
            "referents": referents,
        }


@router.get("/compte")
def my_account(request: Request, record: sessions.CompleteSession) -> Response:
    c = _container(request)
    return page(request, "account/compte.html", {**_account_context(c, record.user_id), "valeurs": {},
                                                 "erreurs": {}})


@router.post("/compte")
def my_account_update(request: Request, record: sessions.CompleteSession, email: Annotated[str, Form()] = "",
                      telephone: Annotated[str, Form()] = "", code_postal: Annotated[str, Form()] = "",
                      ville: Annotated[str, Form()] = "", alertes_email: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    changes = {"email": email, "telephone": telephone, "code_postal": code_postal, "ville": ville,
               "alertes_email": alertes_email == "oui"}
    try:
        with c.uow() as uow:
            accounts.update_profile(uow, c.env, record.user_id, changes)
    except ValidationFailed as exc:
        return page(request, "account/compte.html", {**_account_context(c, record.user_id), "valeurs": changes,
                                                     "erreurs": exc.details.get("champs", {})}, status=422)
    return page(request, "account/compte.html", {**_account_context(c, record.user_id), "valeurs": {},
                                                 "erreurs": {}, "info": "Vos données sont enregistrées."})


# --- délégations ------------------------------------------------------------------------------------------------------


def _delegations_context(c: Container, user_id: int) -> dict[str, Any]:
    with c.uow() as uow:
        given = uow.users.delegations_given(user_id)
        received = uow.users.delegations_received(user_id)
        names = {d.delegataire_id: uow.users.get(d.delegataire_id).nom_complet for d in given}
        names |= {d.delegant_id: uow.users.get(d.delegant_id).nom_complet for d in received}
        return {"donnees": given, "recues": received, "noms": names, "now": c.env.clock.now(),
                "droits_assistant": sorted((a.value, ACTION_LABELS[a]) for a in ASSISTANT_DELEGABLE)}


@router.get("/compte/delegations")
def delegations(request: Request, record: sessions.CompleteSession, nom: str = "",
                code_postal: str = "") -> Response:
    c = _container(request)
    context = _delegations_context(c, record.user_id)
    confreres: list[Any] = []
    erreur = ""
    if nom:
        try:
            with c.uow() as uow:
                confreres = [u for u in accounts.search_confreres(uow, nom, code_postal) if u.id != record.user_id]
        except ValidationFailed as exc:
            erreur = exc.message
    return page(request, "account/delegations.html", {**context, "confreres": confreres, "recherche": nom,
                                                      "code_postal": code_postal, "erreur": erreur})


def _date(value: str, end: bool = False) -> dt.datetime:
    """A day typed in the form (Paris) → the instant it starts, or the next day's start for an end date."""
    from zoneinfo import ZoneInfo

    day = dt.date.fromisoformat(value)
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=ZoneInfo("Europe/Paris")).astimezone(dt.UTC)


@router.post("/compte/delegations")
def delegation_create(request: Request, record: sessions.CompleteSession, type: Annotated[str, Form()] = "",
                      debut: Annotated[str, Form()] = "", fin: Annotated[str, Form()] = "",
                      delegataire_id: Annotated[int | None, Form()] = None,
                      identifiant_national: Annotated[str, Form()] = "", nom: Annotated[str, Form()] = "",
                      prenom: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
                      droits: Annotated[list[str] | None, Form()] = None) -> Response:
    c = _container(request)
    try:
        start, end = _date(debut), _date(fin, end=True)
        with c.uow() as uow:
            if type == TypeDelegation.CONFRERE.value and delegataire_id is not None:
                accounts.delegate_confrere(uow, c.env, record.user_id, delegataire_id, start, end)
            else:
                accounts.invite_assistant(
                    uow, c.env, record.user_id, identifiant_national=identifiant_national, nom=nom, prenom=prenom,
                    email=email, debut=start, fin=end, droits=[Action(d) for d in droits or []],
                    lien=lambda token: invitation_link(request, token))
    except (AiguillageError, ValueError) as exc:
        message = exc.message if isinstance(exc, AiguillageError) else "Dates invalides (format AAAA-MM-JJ)."
        return page(request, "account/delegations.html", {**_delegations_context(c, record.user_id),
                                                          "confreres": [], "recherche": "", "code_postal": "",
                                                          "erreur": message}, status=422)
    return RedirectResponse("/compte/delegations", status_code=303)


@router.post("/compte/delegations/{delegation_id}/modification")
def delegation_update(delegation_id: int, request: Request, record: sessions.CompleteSession,
                      fin: Annotated[str, Form()] = "") -> Response:
    c = _container(request)
    try:
        with c.uow() as uow:
            accounts.update_delegation(uow, c.env, record.user_id, delegation_id, fin=_date(fin, end=True))
    except (AiguillageError, ValueError) as exc:
        message = exc.message if isinstance(exc, AiguillageError) else "Date invalide (format AAAA-MM-JJ)."
        return page(request, "account/delegations.html", {**_delegations_context(c, record.user_id),
                                                          "confreres": [], "recherche": "", "code_postal": "",
                                                          "erreur": message}, status=422)
    return RedirectResponse("/compte/delegations", status_code=303)


@router.post("/compte/delegations/{delegation_id}/revocation")
def delegation_revoke(delegation_id: int, request: Request, record: sessions.CompleteSession) -> Response:
    c = _container(request)
    with c.uow() as uow:
        accounts.revoke_delegation(uow, c.env, record.user_id, delegation_id)
    return RedirectResponse("/compte/delegations", status_code=303)


def invitation_link(request: Request, token: str) -> str:
    base = _container(request).settings.public_base_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}/compte/invitations/{token}"


@router.get("/compte/invitations/{token}")
def invitation(token: str, request: Request, record: sessions.CompleteSession) -> Response:
    return page(request, "account/invitation.html", {"token": token})


@router.post("/compte/invitations/{token}")
def invitation_accept(token: str, request: Request, record: sessions.CompleteSession) -> Response:
    c = _container(request)
    try:
        with c.uow() as uow:
            accounts.accept_invitation(uow, c.env, record.user_id, token)
    except AiguillageError as exc:
        return page(request, "account/invitation.html", {"token": token, "erreur": exc.message}, status=404)
    return RedirectResponse("/compte/delegations", status_code=303)


# --- médecin libéral --------------------------------------------------------------------------------------------------


@router.get("/liberal")
def liberal_space(request: Request, record: sessions.CompleteSession, recherche: str = "") -> Response:
    c = _container(request)
    with c.uow() as uow:
        space = liberal.espace(uow, record.user_id)
        found = liberal.rechercher(uow, record.user_id, recherche) if recherche.strip() else []
    return page(request, "liberal/espace.html", {"espace": space, "resultats": found, "recherche": recherche,
                                                 "labels": liberal.REPONSE_LABELS})


@router.post("/liberal/dossiers/{dossier_id}/{reponse}")
def liberal_answer(dossier_id: int, reponse: str, request: Request, record: sessions.CompleteSession) -> Response:
    c = _container(request)
    answer = {"acceptation": liberal.Reponse.ACCEPTEE, "refus": liberal.Reponse.REFUSEE}.get(reponse)
    if answer is None:
        return RedirectResponse("/liberal", status_code=303)
    with c.uow() as uow:
        liberal.repondre(uow, c.env, record.user_id, dossier_id, answer)
    return RedirectResponse("/liberal", status_code=303)

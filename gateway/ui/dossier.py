"""The dossier page (where the DPI launch lands): patient header with the identity status and the INS actions,
the volets with their completion and missing fields, provenance badges, attachments, internal note, print view,
history. The volet edit form keeps every typed value when a field is refused, with the message next to it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import UserId
from gateway.api.identite import verifier_for
from gateway.ui.dossier_view import form_inputs, history_rows, parse_field, volets_view
from gateway.ui.pages import container, field_errors, see_other, show
from orientation_core.demande.workflow import STATUS_LABELS, Status
from orientation_core.dossier import service as dossiers
from orientation_core.dossier.model import ALLOWED_MIME, MAX_ATTACHMENT_BYTES, Dossier, EtatDossier
from orientation_core.dossier.volets import Module
from orientation_core.dossier.volets import spec as spec_of
from orientation_core.errors import AiguillageError, Forbidden, NotFound, ValidationFailed
from orientation_core.identite import rniv
from orientation_core.identite import service as identite
from orientation_core.identite.model import PIECE_LABELS, PieceIdentite
from orientation_core.patients.model import Sexe, StatutIdentite
from orientation_core.people.policy import Action, allowed
from orientation_core.people.service import subject_for
from orientation_core.ports import UnitOfWork

router = APIRouter(include_in_schema=False)

CSS = "/static/dossier.css"
ETAT_LABELS = {EtatDossier.BROUILLON: "brouillon (rien d'envoyé)", EtatDossier.ENVOYE: "demandes envoyées",
               EtatDossier.ADMIS: "patient admis", EtatDossier.ANNULE: "annulé", EtatDossier.ARCHIVE: "archivé"}
STATUT_COLOURS = {StatutIdentite.PROVISOIRE: "orange", StatutIdentite.RECUPEREE: "bleu",
                  StatutIdentite.VALIDEE: "bleu", StatutIdentite.QUALIFIEE: "vert"}
SEXE_LABELS = {Sexe.F: "Féminin", Sexe.M: "Masculin", Sexe.INCONNU: "Inconnu"}
DEMANDE_COLOURS = {Status.ACCEPTEE: "vert", Status.CONFIRMEE: "vert", Status.ADMISSION_FINALISEE: "vert",
                   Status.ACCORD_DE_PRINCIPE: "bleu", Status.REFUSEE: "rouge", Status.ANNULEE: "gris",
                   Status.ARCHIVEE: "gris", Status.DEMANDE_PRECISION: "orange"}
CATEGORIES = (("compte_rendu", "Compte rendu"), ("ordonnance", "Ordonnance"), ("imagerie", "Imagerie"),
              ("biologie", "Biologie"), ("courrier", "Courrier"), ("autre", "Autre"))
INS_ACTIONS = ("recuperer-ins", "verifier-ins", "validation")
MAGIC = {"application/pdf": (b"%PDF-",), "image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",)}
DONE = {  # ?fait=… after a successful form (post/redirect/get): the message shown once
    "volet": "Volet enregistré.", "bloc_note": "Note interne enregistrée.", "piece_jointe": "Pièce jointe ajoutée.",
    "ins_trouvee": "INS récupéré auprès du téléservice INSi.",
    "ins_en_attente": "Le service INSi ne répond pas : l'identité reste inchangée et la recherche sera relancée "
                      "automatiquement.",
    "ins_aucune": "Le téléservice INSi n'a trouvé aucune identité correspondant à ces traits.",
    "ins_plusieurs": "Le téléservice INSi a trouvé plusieurs identités : l'INS n'a pas été récupéré.",
    "ins_conflit": "La réponse de l'INSi contredit l'identité connue : un conflit est ouvert pour la cellule "
                   "d'identitovigilance.",
    "ins_conforme": "INS vérifié : il correspond à l'identité.",
    "ins_non_conforme": "INS non conforme : l'identité a été déclassée et l'INS retiré.",
    "ins_validee": "Identité validée sur pièce d'identité.",
}


# --- the page ----------------------------------------------------------------------------------------------------


def _rights(uow: UnitOfWork, user_id: int, dossier: Dossier, now: dt.datetime) -> dict[str, bool]:
    subject = subject_for(uow, user_id)
    scope = dossiers.scope_of(dossier)
    ecrit = dossier.etat not in (EtatDossier.ANNULE, EtatDossier.ARCHIVE)
    return {"modifier": ecrit and allowed(subject, Action.DOSSIER_MODIFIER, scope, now),
            "modifier_medical": ecrit and allowed(subject, Action.VOLET_MEDICAL_MODIFIER, scope, now),
            "creer": ecrit and allowed(subject, Action.DOSSIER_CREER, scope, now),
            "envoyer": allowed(subject, Action.DEMANDE_ENVOYER, scope, now)}


def _page_context(uow: UnitOfWork, request: Request, user_id: int, dossier: Dossier) -> dict[str, Any]:
    c = container(request)
    assert dossier.id is not None
    patient = uow.patients.get(dossier.patient_id)
    droits = _rights(uow, user_id, dossier, c.env.clock.now())
    demandes = []
    for d in uow.demandes.for_dossier(dossier.id):
        unite = uow.directory.get_unite(d.unite_id)
        demandes.append({"unite": unite.nom, "code_uf": unite.code_uf, "statut": STATUS_LABELS[d.statut],
                         "couleur": DEMANDE_COLOURS.get(d.statut, "orange"), "a_renvoyer": d.a_renvoyer,
                         "statut_at": d.statut_at})
    lie = uow.dossiers.get(dossier.dossier_lie_id) if dossier.dossier_lie_id else None
    return {
        "dossier": dossier, "patient": patient, "droits": droits,
        "etat_libelle": ETAT_LABELS[dossier.etat],
        "module_libelle": "Sanitaire" if dossier.module is Module.SANITAIRE else "Grand Âge",
        "statut_identite": rniv.STATUT_LABELS[patient.statut_identite],
        "statut_couleur": STATUT_COLOURS[patient.statut_identite],
        "sexe": SEXE_LABELS.get(patient.sexe, patient.sexe.value),
        "pieces_identite": [(p.value, PIECE_LABELS[p].capitalize()) for p in PieceIdentite],
        "volets": volets_view(dossier, modifiable=droits["modifier"], medical_modifiable=droits["modifier_medical"]),
        "aggir_url": f"/dossiers/{dossier.id}/aggir" if dossier.module is Module.GRAND_AGE else "",
        "pieces": uow.dossiers.pieces_jointes(dossier.id), "categories": dict(CATEGORIES),
        "categories_choix": CATEGORIES, "demandes": demandes,
        "a_renvoyer": [d for d in demandes if d["a_renvoyer"]], "lie": lie,
        "accept": ",".join(sorted(ALLOWED_MIME)), "taille_max": MAX_ATTACHMENT_BYTES,
    }


def _show_page(request: Request, user_id: int, uow: UnitOfWork, dossier: Dossier, *, status: int = 200,
               **extra: Any) -> Response:
    ctx = _page_context(uow, request, user_id, dossier)
    fait = request.query_params.get("fait", "")
    ctx |= {"message": DONE.get(fait, ""), "errors": {}, "typed": {}} | extra
    return show(request, user_id, "dossier/page.html", ctx, status=status, uow=uow)


@router.get("/dossiers/{dossier_id}", summary="Page du dossier (atterrissage du lancement DPI)",
            response_class=HTMLResponse)
def dossier_page(dossier_id: int, request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        return _show_page(request, user_id, uow, dossier)


# --- volets ------------------------------------------------------------------------------------------------------

ERROR_FIELDS = {"aggir.gir_calcule": "gir"}


def _volet_form(request: Request, user_id: int, uow: UnitOfWork, dossier: Dossier, volet: str, *,
                typed: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                status: int = 200) -> Response:
    c = container(request)
    spec = dossier.volet_spec(volet)
    droits = _rights(uow, user_id, dossier, c.env.clock.now())
    modifiable = droits["modifier_medical"] if spec.medical else droits["modifier"]
    inputs = form_inputs(dossier, spec, typed, errors)
    return show(request, user_id, "dossier/volet_form.html", {
        "dossier": dossier, "spec": spec, "saisies": inputs, "errors": errors or {}, "modifiable": modifiable,
        "patient": uow.patients.get(dossier.patient_id),
        "aggir_url": f"/dossiers/{dossier.id}/aggir" if dossier.module is Module.GRAND_AGE and volet == "medical"
        else ""}, status=status, uow=uow)


@router.get("/dossiers/{dossier_id}/volets/{volet}", summary="Formulaire d'un volet", response_class=HTMLResponse)
def volet_form(dossier_id: int, volet: str, request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        if spec_of(dossier.module, volet) is None:
            raise NotFound(f"Volet inconnu pour ce dossier : « {volet} ».", code="dossier.volet_inconnu")
        return _volet_form(request, user_id, uow, dossier, volet)


@router.post("/dossiers/{dossier_id}/volets/{volet}", summary="Enregistrer un volet")
async def volet_save(dossier_id: int, volet: str, request: Request, user_id: UserId) -> Response:
    form = await request.form()
    posted = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    return await run_in_threadpool(_volet_save, dossier_id, volet, request, user_id, posted)


def _volet_save(dossier_id: int, volet: str, request: Request, user_id: int, posted: dict[str, str]) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        spec = spec_of(dossier.module, volet)
        if spec is None:
            raise NotFound(f"Volet inconnu pour ce dossier : « {volet} ».", code="dossier.volet_inconnu")
        current = dossier.volets.get(volet, {})
        today = dossiers.paris_today(c.env.clock.now())
        typed = {f: posted[f] for f in spec.fields if f in posted}
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, raw in typed.items():
            try:
                values[name] = parse_field(name, raw, current.get(name), today)
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            return _volet_form(request, user_id, uow, dossier, volet, typed=typed, errors=errors, status=422)
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        try:
            if changed:
                dossiers.modifier_volet(uow, c.env, user_id, dossier_id, volet, changed)
        except AiguillageError as exc:
            uow.rollback()
            status = 403 if isinstance(exc, Forbidden) else 422 if isinstance(exc, ValidationFailed) else 409
            field = ERROR_FIELDS.get(exc.code, "_")
            return _volet_form(request, user_id, uow, uow.dossiers.get(dossier_id), volet, typed=typed,
                               errors=field_errors(exc, field), status=status)
    return see_other(f"/dossiers/{dossier_id}?fait=volet#section-{volet}")


# --- internal note -----------------------------------------------------------------------------------------------

BLOC_NOTE_MAX = 4000


@router.post("/dossiers/{dossier_id}/bloc-note", summary="Enregistrer la note interne")
def bloc_note(dossier_id: int, request: Request, user_id: UserId,
              bloc_note: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        texte = bloc_note.replace("\r\n", "\n").strip()
        if len(texte) > BLOC_NOTE_MAX:
            return _show_page(request, user_id, uow, dossier, status=422, typed={"bloc_note": bloc_note},
                              errors={"bloc_note": f"Note trop longue : {len(texte)} caractères "
                                                   f"({BLOC_NOTE_MAX} au plus)."})
        try:
            dossiers.modifier_bloc_note(uow, c.env, user_id, dossier_id, texte)
        except AiguillageError as exc:
            uow.rollback()
            return _show_page(request, user_id, uow, uow.dossiers.get(dossier_id), status=_status(exc),
                              typed={"bloc_note": bloc_note}, errors=field_errors(exc, "bloc_note"))
    return see_other(f"/dossiers/{dossier_id}?fait=bloc_note#bloc-note")


def _status(exc: AiguillageError) -> int:
    return 403 if isinstance(exc, Forbidden) else 422 if isinstance(exc, ValidationFailed) else 409


# --- attachments -------------------------------------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/pieces-jointes", summary="Ajouter une pièce jointe")
def piece_jointe_ajouter(dossier_id: int, request: Request, user_id: UserId,
                         fichier: Annotated[UploadFile | None, File()] = None,
                         categorie: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        typed = {"categorie": categorie}

        def refuse(message: str, status: int = 422) -> Response:
            return _show_page(request, user_id, uow, uow.dossiers.get(dossier_id), status=status, typed=typed,
                              errors={"fichier": message + " Choisissez à nouveau le fichier."})

        if categorie and categorie not in dict(CATEGORIES):
            return _show_page(request, user_id, uow, dossier, status=422, typed=typed,
                              errors={"categorie": "Choisissez une catégorie de la liste."})
        if fichier is None or not fichier.filename:
            return refuse("Choisissez un fichier à joindre.")
        contenu = fichier.file.read(MAX_ATTACHMENT_BYTES + 1)
        type_mime = (fichier.content_type or "application/octet-stream").split(";")[0].strip().lower()
        if not contenu:
            return refuse("Le fichier est vide.")
        if len(contenu) > MAX_ATTACHMENT_BYTES:
            return refuse("Fichier trop volumineux : 10 Mo au plus.", 413)
        if type_mime in MAGIC and not contenu.startswith(MAGIC[type_mime]):
            return refuse("Le contenu du fichier ne correspond pas à son type.")
        nom = (fichier.filename or "fichier").replace("\\", "/").rsplit("/", 1)[-1][:255]
        try:
            dossiers.ajouter_piece_jointe(uow, c.env, user_id, dossier_id, nom, type_mime, len(contenu),
                                          categorie, contenu=contenu)
        except AiguillageError as exc:
            uow.rollback()
            return refuse(exc.message, _status(exc))
    return see_other(f"/dossiers/{dossier_id}?fait=piece_jointe#pieces-jointes")


@router.get("/dossiers/{dossier_id}/pieces-jointes/{piece_id}", summary="Pièce jointe (aperçu ou téléchargement)")
def piece_jointe_lire(dossier_id: int, piece_id: int, request: Request, user_id: UserId,
                      telechargement: bool = False) -> Response:
    c = container(request)
    with c.uow() as uow:
        piece, contenu = dossiers.lire_piece_jointe(uow, c.env, user_id, dossier_id, piece_id)
    if contenu is None:
        raise NotFound("Le fichier de cette pièce jointe n'est pas conservé (pièce déclarée sans contenu).",
                       code="piece_jointe.sans_contenu")
    inline = not telechargement and piece.type_mime in ALLOWED_MIME
    ascii_name = "".join(ch if ch.isascii() and ch not in '"\\;' else "_" for ch in piece.nom)
    headers = {
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(piece.nom)}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
    }
    if piece.type_mime != "application/pdf":  # Chromium's PDF viewer does not run in a sandboxed document
        headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    media = piece.type_mime + ("; charset=utf-8" if piece.type_mime == "text/plain" else "")
    return Response(contenu, media_type=media, headers=headers)


# --- identity (INS) ----------------------------------------------------------------------------------------------


@router.post("/dossiers/{dossier_id}/identite/{action}", summary="Actions INS sur l'identité du patient")
def identite_action(dossier_id: int, action: str, request: Request, user_id: UserId,
                    piece_identite: Annotated[str, Form()] = "") -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        if action not in INS_ACTIONS:
            raise NotFound("Action inconnue sur l'identité.", code="identite.action_inconnue")
        patient_id = dossier.patient_id
        try:
            if action == "recuperer-ins":
                issue = identite.recuperer_ins(uow, c.env, user_id, patient_id, verifier_for(c))
            elif action == "verifier-ins":
                issue = identite.verifier_ins(uow, c.env, user_id, patient_id, verifier_for(c))
            else:
                if piece_identite not in {p.value for p in PieceIdentite}:
                    return _show_page(request, user_id, uow, dossier, status=422,
                                      typed={"piece_identite": piece_identite},
                                      errors={"piece_identite": "Choisissez le type de pièce d'identité présentée."})
                issue = identite.valider_identite(uow, c.env, user_id, patient_id, PieceIdentite(piece_identite))
        except AiguillageError as exc:
            uow.rollback()
            return _show_page(request, user_id, uow, uow.dossiers.get(dossier_id), status=_status(exc),
                              typed={"piece_identite": piece_identite}, errors={"identite": exc.message})
    fait = f"ins_{issue.issue}" if f"ins_{issue.issue}" in DONE else ""
    return see_other(f"/dossiers/{dossier_id}?fait={fait}#identite" if fait else f"/dossiers/{dossier_id}#identite")


# --- print view and history --------------------------------------------------------------------------------------


@router.get("/dossiers/{dossier_id}/impression", summary="Vue d'impression du dossier", response_class=HTMLResponse)
def impression(dossier_id: int, request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        ctx = _page_context(uow, request, user_id, dossier)
        ctx["volets"] = volets_view(dossier, modifiable=False)
        ctx["imprime_le"] = c.env.clock.now()
        return show(request, user_id, "dossier/impression.html", ctx, uow=uow)


@router.get("/dossiers/{dossier_id}/historique", summary="Historique du dossier", response_class=HTMLResponse)
def historique(dossier_id: int, request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        events = dossiers.historique(uow, c.env, user_id, dossier_id)
        dossier = uow.dossiers.get(dossier_id)
        return show(request, user_id, "dossier/historique.html", {
            "dossier": dossier, "patient": uow.patients.get(dossier.patient_id),
            "lignes": history_rows(uow, dossier, list(reversed(events)))}, uow=uow)



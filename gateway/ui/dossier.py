"""The dossier page (where the DPI launch lands): patient header with the identity status and the INS actions,
the volets with their completion and missing fields, provenance badges, attachments, internal note, print view,
history."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from gateway.api.deps import UserId
from gateway.ui.dossier_view import volets_view
from gateway.ui.pages import container, show
from orientation_core.dossier import service as dossiers

router = APIRouter(include_in_schema=False)


@router.get("/dossiers/{dossier_id}", summary="Page du dossier (atterrissage du lancement DPI)",
            response_class=HTMLResponse)
def dossier_page(dossier_id: int, request: Request, user_id: UserId) -> Response:
    c = container(request)
    with c.uow() as uow:
        dossier, _ = dossiers.load(uow, c.env, user_id, dossier_id)
        patient = uow.patients.get(dossier.patient_id)
        return show(request, user_id, "dossier/page.html",
                    {"dossier": dossier, "patient": patient, "volets": volets_view(dossier)}, uow=uow)

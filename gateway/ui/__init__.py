"""Server-rendered pages (Jinja2, no build step). ``templates/base.html`` is the one base template every page
extends; ``static/`` holds the one stylesheet and the small script; ``pages.py`` what every signed-in page shares.
One module per area (dashboard, dossier, envoi, receveur, grand_age, admin, clients_dpi, exploitation, account,
launch), each with its ``router``, mounted by ``install_pages``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def wants_html(request: Request) -> bool:
    """A browser navigation (not an API or htmx call): an HTML page rather than problem JSON."""
    if request.url.path.startswith(("/api/", "/fhir/", "/oauth/")) or request.headers.get("HX-Request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context or {}, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def install_pages(app: FastAPI) -> None:
    """The page routers of every area, and the static files (public: no patient data in them)."""
    from gateway.ui import (  # the modules import this package's helpers
        admin,
        clients_dpi,
        dashboard,
        dossier,
        envoi,
        exploitation,
        grand_age,
        pages,
        receveur,
    )

    for module in (pages, dashboard, dossier, envoi, receveur, grand_age, admin, clients_dpi, exploitation):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")

"""Server-rendered pages (Jinja2). ``templates/base.html`` is the one base template every page extends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
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

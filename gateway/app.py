"""The FastAPI application: API, health, metrics; starts the in-process task queue when there is no broker."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import errors
from gateway.api import account as account_api
from gateway.api import dossiers, identite, people
from gateway.api import inbox as inbox_api
from gateway.api import liberal as liberal_api
from gateway.auth import otp as auth_otp
from gateway.auth import password as auth_password
from gateway.auth import sessions as auth_sessions
from gateway.container import Container, build_container
from gateway.fhir import router as fhir_router
from gateway.fhir.subscriptions import start as start_fhir_subscriptions
from gateway.settings import Settings
from gateway.ui import account as ui_account
from gateway.ui import install_pages
from gateway.ui import launch as ui_launch

REQUESTS = Counter("aiguillage_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("aiguillage_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


class HttpMetrics:
    """Requests and latency per route template, as a plain ASGI middleware: ``@app.middleware("http")``
    (BaseHTTPMiddleware) costs an extra task and a body stream per request, measurable on the FHIR intake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the application raises before starting a response

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")  # set by the router on this scope
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], template, str(status)).inc()


def create_app(settings: Settings | None = None, container: Container | None = None, *,
               mllp: bool = False) -> FastAPI:
    container = container or build_container(settings or Settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container.tasks.start()
        fhir_subscriptions = start_fhir_subscriptions(container)  # REST-hook delivery after commit
        listener = None
        if mllp:  # same process and loop as the API: its store work runs in the listener's writer thread
            from gateway.mllp import build_listener

            listener = build_listener(container)
            await listener.start()
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            fhir_subscriptions.stop()
            container.tasks.stop()
            container.engine.dispose()

    app = FastAPI(
        title="Aiguillage",
        summary="Passerelle DPI et circuit des demandes d'admission (Sanitaire, Grand Âge)",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.container = container
    errors.install(app)
    app.include_router(people.router)
    app.include_router(dossiers.router)
    app.include_router(fhir_router)  # FHIR R4, base /fhir/r4
    app.include_router(identite.router)
    app.include_router(inbox_api.router)  # operator console of inbound messages (gateway/api/inbox.py)
    app.include_router(auth_sessions.router)  # POST /deconnexion
    app.include_router(account_api.router)  # Mon compte, délégations, référents (gateway/api/account.py)
    app.include_router(liberal_api.router)  # médecin libéral space
    app.include_router(auth_password.router)  # sign-in: identifier + password, then the e-mailed code
    app.include_router(auth_otp.router)
    app.include_router(ui_account.router)  # sign-in choice, PSC, first sign-in, charter, Mon compte pages
    ui_launch.install(app)  # DPI launch, one-time URLs, clients DPI, OAuth token; HTML error pages
    install_pages(app)  # the embedded UI: dashboards, dossier, sending, receveur, Grand Âge, administration

    app.add_middleware(HttpMetrics)

    @app.get("/healthz", tags=["exploitation"])
    def healthz() -> JSONResponse:
        """Ready when the store answers."""
        try:
            with container.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "indisponible", "stockage": "injoignable"}, status_code=503)
        body: dict[str, Any] = {"status": "ok", "profil": container.settings.profile,
                                "taches": "celery" if container.settings.broker_url else "en-processus"}
        return JSONResponse(body)

    @app.get("/metrics", tags=["exploitation"], include_in_schema=False)
    def metrics_endpoint() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app

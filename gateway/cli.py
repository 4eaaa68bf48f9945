"""``aiguillage`` command line: serve, worker, beat, db upgrade, demo load, sweep."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from gateway import cli_mllp, cli_prefill
from gateway.cli_ins import register as register_ins_commands
from gateway.settings import Settings

BEAT_SCHEDULE = Path(tempfile.gettempdir()) / "aiguillage-beat-schedule"
app = typer.Typer(help="Aiguillage : passerelle DPI et circuit des demandes d'admission.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)  # locals may hold patient data
db_app = typer.Typer(help="Base de données.", no_args_is_help=True)
demo_app = typer.Typer(help="Données de démonstration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
cli_mllp.register(app)  # mllp, send
cli_prefill.register(app)  # gir, prefill-report
register_ins_commands(app)  # insi-sim, ins search, ins verify


def _settings() -> Settings:
    from gateway import logging as logs

    settings = Settings()
    logs.configure(settings.log_level, settings.log_json)
    return settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute HTTP")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="Port HTTP (défaut 8000)")] = None,
    mllp_port: Annotated[int | None, typer.Option("--mllp-port", help="Port MLLP (défaut 2575)")] = None,
) -> None:
    """Start the server: API, health, metrics, and in-process tasks when no broker is configured."""
    import uvicorn

    from gateway.app import create_app

    settings = _settings()
    settings.http_host = host or settings.http_host
    settings.http_port = http_port or settings.http_port
    settings.mllp_port = mllp_port or settings.mllp_port
    application = create_app(settings, mllp=True)  # the MLLP listener runs in uvicorn's loop (lifespan)
    base = f"http://{settings.http_host}:{settings.http_port}"
    typer.echo(f"Aiguillage ({settings.profile}) prêt sur {base} — API : {base}/docs — santé : {base}/healthz "
               f"— MLLP : {settings.mllp_host}:{settings.mllp_port}")
    if settings.demo:
        typer.echo("Démo : ajoutez l'en-tête « X-Aiguillage-Utilisateur: 810100000017 » (Dr Claire Martin, "
                   f"prescripteur) ou « jpetit » (receveur SMR), p. ex. :\n  curl -H 'X-Aiguillage-Utilisateur: "
                   f"810100000017' {base}/api/v1/tableau-de-bord/prescripteur")
        from gateway.auth import launch_demo

        with contextlib.suppress(OSError, ValueError):  # no demo key in this install: no link
            signed = launch_demo.launch_url(settings.public_base_url or base, settings.samples_dir)
            typer.echo(f"Bouton « Demande d'admission » d'un DPI (Dr Martin, patient de démonstration) : "
                       f"{base}/demo/bouton-dpi\n  lien signé par le DPI de démonstration (valable 5 minutes ; "
                       f"samples/dpi_simulator.py en refait un) :\n  {signed}")
    uvicorn.run(application, host=settings.http_host, port=settings.http_port, log_level="warning",
                access_log=False)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Processus ou threads de travail")] = 2,
    pool: Annotated[str, typer.Option(help="prefork, threads ou solo")] = "prefork",
    beat: Annotated[bool, typer.Option("--beat/--no-beat", help="Planificateur intégré (un seul par site)")] = False,
) -> None:
    """Start a Celery worker on the configured broker (AIGUILLAGE_BROKER_URL)."""
    settings = _settings()
    if not settings.broker_url:
        raise typer.BadParameter("AIGUILLAGE_BROKER_URL n'est pas défini : sans broker, `serve` exécute les "
                                 "tâches lui-même.")
    from gateway.worker.celery_app import create_celery

    argv = ["worker", f"--concurrency={concurrency}", f"--pool={pool}", "--loglevel=INFO"]
    if beat:
        argv += ["--beat", f"--schedule={BEAT_SCHEDULE}"]
    create_celery(settings).worker_main(argv)


@app.command()
def beat(
    schedule: Annotated[Path | None, typer.Option(help="Fichier d'état du planificateur")] = None,
) -> None:
    """Start Celery beat: the periodic timer sweep and the notification safety net."""
    settings = _settings()
    if not settings.broker_url:
        raise typer.BadParameter("AIGUILLAGE_BROKER_URL n'est pas défini.")
    from gateway.worker.celery_app import create_celery

    schedule = schedule or BEAT_SCHEDULE
    create_celery(settings).start(["beat", f"--schedule={schedule}", "--loglevel=INFO"])


@app.command()
def sweep() -> None:
    """Run the timer sweep once, now, and print what it did (support, cron)."""
    from gateway.container import build_container
    from gateway.worker.tasks import timers_sweep

    container = build_container(_settings(), queue="sync")
    typer.echo(json.dumps(timers_sweep(container)))


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "heads") -> None:
    """Apply the Alembic migrations to AIGUILLAGE_DATABASE_URL."""
    from orientation_core.persistence.migrate import upgrade

    settings = _settings()
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    typer.echo(f"Base à jour ({revision}).")


@demo_app.command("load")
def demo_load(
    path: Annotated[Path | None, typer.Option(help="Fichier JSON (défaut : samples/demo/demo.json)")] = None,
) -> None:
    """Load the demo data set (idempotent: nothing is loaded twice)."""
    from gateway.container import build_container
    from gateway.demo import load

    settings = _settings()
    container = build_container(settings, queue="sync")
    source = path or settings.samples_dir / "demo" / "demo.json"
    summary = load(container, source)
    typer.echo(summary)


def main() -> None:
    app()

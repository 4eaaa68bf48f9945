"""``aiguillage mllp`` (the listener alone) and ``aiguillage send`` (send sample files over MLLP, print the ACKs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer


def register(app: typer.Typer) -> None:
    app.command("mllp")(mllp)
    app.command("send")(send)


def mllp(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (défaut AIGUILLAGE_MLLP_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port MLLP (défaut AIGUILLAGE_MLLP_PORT, 2575)")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Certificat serveur (PEM) : active TLS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Clé privée du certificat serveur (PEM)")] = None,
    tls_ca: Annotated[Path | None, typer.Option(help="AC des certificats clients (PEM)")] = None,
    require_client_cert: Annotated[bool, typer.Option(help="Exiger un certificat client signé par --tls-ca")] = False,
    ack_mode: Annotated[str | None, typer.Option(help="stored (défaut) ou processed")] = None,
) -> None:
    """Start the MLLP listener alone (store before ACK into the inbox; the pipeline task is enqueued)."""
    from gateway.cli import _settings
    from gateway.container import build_container
    from gateway.mllp import run_standalone

    settings = _settings()
    settings.mllp_host = host or settings.mllp_host
    settings.mllp_port = port if port is not None else settings.mllp_port
    settings.mllp_tls_cert = tls_cert or settings.mllp_tls_cert
    settings.mllp_tls_key = tls_key or settings.mllp_tls_key
    settings.mllp_tls_ca = tls_ca or settings.mllp_tls_ca
    settings.mllp_require_client_cert = require_client_cert or settings.mllp_require_client_cert
    if ack_mode is not None:
        if ack_mode not in ("stored", "processed"):
            raise typer.BadParameter("--ack-mode : « stored » ou « processed »")
        mode: Literal["stored", "processed"] = "processed" if ack_mode == "processed" else "stored"
        settings.mllp_ack_mode = mode
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    run_standalone(build_container(settings))


def send(
    files: Annotated[list[Path], typer.Argument(help="Fichiers de messages HL7 (un segment par ligne)")],
    host: Annotated[str, typer.Option(help="Hôte du récepteur MLLP")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port du récepteur MLLP")] = 2575,
    tls: Annotated[bool, typer.Option(help="Se connecter en TLS")] = False,
    tls_ca: Annotated[Path | None, typer.Option(help="AC du certificat serveur (PEM)")] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="Certificat client (PEM)")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="Clé du certificat client (PEM)")] = None,
    timeout: Annotated[float, typer.Option(help="Attente maximale d'un acquittement, en secondes")] = 10.0,
) -> None:
    """Send sample files over MLLP, one message after the other, and print each ACK."""
    from hl7_listeners.client import MllpClient, ack_summary, read_message_file
    from hl7_listeners.tls import client_context

    context = None
    if tls or tls_ca is not None or tls_cert is not None:
        context = client_context(ca=tls_ca, cert=tls_cert, key=tls_key)
    refused = 0
    with MllpClient(host, port, ssl_context=context, timeout=timeout) as client:
        for path in files:
            for number, message in enumerate(read_message_file(path), start=1):
                ack = client.send(message)
                code, control, reason = ack_summary(ack)
                refused += code not in ("AA", "CA")
                typer.echo(f"{path.name} #{number} : {code} (MSH-10 {control})" + (f" — {reason}" if reason else ""))
                typer.echo(ack.decode("latin-1").replace("\r", "\n").rstrip("\n"))
    if refused:
        typer.echo(f"{refused} message(s) non accepté(s).", err=True)
        raise typer.Exit(1)

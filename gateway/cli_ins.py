"""INS commands: ``aiguillage insi-sim`` (the INSi simulator) and ``aiguillage ins search|verify`` (call the
configured INSi endpoint and print the outcome as JSON: integration teams test their INSi access with them)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

ins_app = typer.Typer(help="INS : interroger le téléservice INSi configuré (AIGUILLAGE_INSI_URL).",
                      no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("insi-sim")(insi_sim)
    app.add_typer(ins_app, name="ins")


def insi_sim(
    host: Annotated[str, typer.Option(help="Adresse d'écoute (boucle locale uniquement)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port HTTP")] = 8099,
    personae: Annotated[Path | None, typer.Option(help="Fichier des personae (défaut : samples/insi/personae.json)")]
    = None,
    cert: Annotated[Path | None, typer.Option(help="Certificat serveur (PEM) : HTTPS avec TLS mutuel")] = None,
    key: Annotated[Path | None, typer.Option(help="Clé du certificat serveur (PEM)")] = None,
    client_ca: Annotated[Path | None, typer.Option(help="AC des certificats d'organisation acceptés (PEM)")] = None,
) -> None:
    """Serve the INSi SOAP contract from a persona file, on loopback (faults and delays injectable)."""
    from ins.simulator import InsiSimulator, TlsFiles

    tls = None
    if cert or key or client_ca:
        if not (cert and key and client_ca):
            raise typer.BadParameter("TLS mutuel : --cert, --key et --client-ca sont nécessaires ensemble.")
        tls = TlsFiles(cert, key, client_ca)
    try:
        sim = InsiSimulator(host, port, personae, tls)
    except ValueError as exc:
        raise typer.BadParameter("Le simulateur INSi n'écoute que sur la boucle locale (127.0.0.1).") from exc
    typer.echo(f"Simulateur INSi prêt sur {sim.url} ({len(sim.state.personae)} personae) — "
               f"AIGUILLAGE_INSI_URL={sim.url}")
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


def _client(url: str | None) -> Any:
    from gateway.api.identite import insi_config
    from gateway.settings import Settings
    from ins.client import InsiClient

    settings = Settings()
    if url:
        settings.insi_url = url
    if not settings.insi_url:
        typer.echo(json.dumps({"erreur": "insi.non_configure",
                               "message": "Définissez AIGUILLAGE_INSI_URL ou --url."}, ensure_ascii=False))
        raise typer.Exit(code=2)
    return InsiClient(insi_config(settings))


def _traits(birth_name: str, first_names: list[str], sex: str, birth_date: str, birthplace: str) -> Any:
    from orientation_core.identite.model import TraitsIdentite

    try:
        date = dt.date.fromisoformat(birth_date)
    except ValueError as exc:
        raise typer.BadParameter("Date de naissance attendue au format AAAA-MM-JJ.") from exc
    if sex.upper() not in ("M", "F"):
        raise typer.BadParameter("Sexe attendu : M ou F.")
    names = [n.strip().upper() for part in first_names for n in part.split() if n.strip()]
    return TraitsIdentite(birth_name.strip().upper(), tuple(names), sex.upper(), date, birthplace.strip())


def _ins_json(ref: Any) -> dict[str, Any]:
    from ins.matricule import check_key

    return {"matricule": ref.matricule, "cle": ref.cle, "valeur": ref.valeur, "oid": ref.oid,
            "type": ref.type.value, "cle_valide": check_key(ref.matricule, ref.cle)}


def _result_json(result: Any) -> dict[str, Any]:
    return {"code_cr": result.cr.value, "ins": _ins_json(result.ins) if result.ins else None,
            "historique": [_ins_json(h) for h in result.historique],
            "traits": result.traits.as_dict() if result.traits else None, "appels_insi": result.tentatives}


def _run(call: Any) -> None:
    from orientation_core.errors import AiguillageError

    try:
        out = call()
    except AiguillageError as exc:
        typer.echo(json.dumps({"erreur": exc.code, "message": exc.message, "details": exc.details},
                              ensure_ascii=False, indent=2))
        raise typer.Exit(code=1) from None
    typer.echo(json.dumps(out, ensure_ascii=False, indent=2))


BirthName = Annotated[str, typer.Option("--birth-name", help="Nom de naissance")]
FirstName = Annotated[list[str], typer.Option("--first-name", help="Prénom de naissance (répétable, dans l'ordre)")]
Sex = Annotated[str, typer.Option("--sex", help="M ou F")]
BirthDate = Annotated[str, typer.Option("--birth-date", help="AAAA-MM-JJ")]
Birthplace = Annotated[str, typer.Option("--birthplace", help="Code INSEE du lieu de naissance")]
Url = Annotated[str | None, typer.Option("--url", help="Point d'accès INSi (défaut : AIGUILLAGE_INSI_URL)")]


@ins_app.command("search")
def search(birth_name: BirthName, first_name: FirstName, sex: Sex, birth_date: BirthDate, birthplace: Birthplace = "",
           url: Url = None) -> None:
    """rechercherInsAvecTraitsIdentite with the first-name strategy; prints CR, INS (key, OID), history, traits."""
    traits = _traits(birth_name, first_name, sex, birth_date, birthplace)
    with _client(url) as client:
        _run(lambda: _result_json(client.rechercher(traits)))


@ins_app.command("verify")
def verify(birth_name: BirthName, first_name: FirstName, sex: Sex, birth_date: BirthDate,
           ins: Annotated[str, typer.Option("--ins", help="INS à vérifier : 15 caractères (matricule + clé)")],
           oid: Annotated[str, typer.Option("--oid", help="OID de l'INS")] = "1.2.250.1.213.1.4.8",
           birthplace: Birthplace = "", url: Url = None) -> None:
    """Replay the traits search and compare with the given INS; prints whether it matches, and why not."""
    from ins.errors import InvalidMatricule
    from ins.matricule import Matricule
    from orientation_core.identite.model import InsRef

    traits = _traits(birth_name, first_name, sex, birth_date, birthplace)
    try:
        matricule = Matricule.parse(ins, strict=True)
    except InvalidMatricule as exc:
        raise typer.BadParameter(exc.message) from exc
    ref = InsRef(matricule.valeur, matricule.cle, oid)
    with _client(url) as client:
        def go() -> dict[str, Any]:
            v = client.verifier(traits, ref)
            return {"conforme": v.conforme, "motif": v.motif, "resultat": _result_json(v.resultat)}

        _run(go)

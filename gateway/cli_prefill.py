"""Prefill and AGGIR commands: ``aiguillage gir`` (check a paper grid) and ``aiguillage prefill-report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def gir(
    cotations: Annotated[list[str], typer.Argument(
        metavar="COH ORI TOIL HAB ALIM ELIM TRANSF DEPINT DEPEXT COMM",
        help="Les dix variables AGGIR, chacune A, B ou C, dans l'ordre de la grille.")],
) -> None:
    """Print the GIR of an AGGIR grid (support staff checking a paper grid)."""
    from orientation_core.dossier.aggir import calculer, from_letters
    from orientation_core.errors import ValidationFailed

    try:
        result = calculer(from_letters(cotations))
    except ValidationFailed as exc:
        typer.echo(f"Erreur : {exc.message}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"GIR {result.gir} (groupe {result.groupe}, rang {result.rang}, total {result.total})")


def prefill_report(
    samples: Annotated[Path | None, typer.Option(help="Dossier des exemples (défaut : samples/)")] = None,
) -> None:
    """Share of each volet's fields prefilled from the demo HL7 v2 and FHIR feeds."""
    from gateway.prefill import report_text

    typer.echo(report_text(samples or Path("samples")))


def register(app: typer.Typer) -> None:
    app.command("gir")(gir)
    app.command("prefill-report")(prefill_report)

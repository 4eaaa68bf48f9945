"""Médecin libéral space (DOMAIN.md §6): dossiers that name him médecin traitant, awaiting his acceptance; accept
or "pas mon patient" (declined ones listed apart); search across his dossiers; counters per module.

A dossier names its médecin traitant in the volets (prefilled from the DPI: ROL-3 ODRP / generalPractitioner,
``{"idnps": "8…", "rpps": "…", "nom": …}``): Sanitaire ``administratif_social.medecin_traitant``, Grand Âge
``medical.medecin_traitant``. The store keeps that national id in a column, in step with the volets
(``medecin_traitant_idnps``), so his lists are an index look-up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from orientation_core.dossier.model import Dossier
from orientation_core.dossier.volets import Module
from orientation_core.errors import Forbidden, NotFound
from orientation_core.ports import Env, UnitOfWork

MEDECIN_TRAITANT_FIELD: dict[Module, tuple[str, str]] = {
    Module.SANITAIRE: ("administratif_social", "medecin_traitant"),
    Module.GRAND_AGE: ("medical", "medecin_traitant"),
}


class Reponse(StrEnum):
    EN_ATTENTE = "en_attente"
    ACCEPTEE = "acceptee"
    REFUSEE = "refusee"  # "pas mon patient"


REPONSE_LABELS = {Reponse.EN_ATTENTE: "En attente de votre acceptation", Reponse.ACCEPTEE: "Acceptée",
                  Reponse.REFUSEE: "Pas mon patient"}


def medecin_traitant_idnps(module: Module | str, volets: dict[str, dict[str, Any]]) -> str | None:
    """National id of the médecin traitant a dossier names: ``idnps`` as given, else ``8`` + ``rpps``."""
    volet, name = MEDECIN_TRAITANT_FIELD[Module(module)]
    value = (volets or {}).get(volet, {}).get(name)
    if not isinstance(value, dict):
        return None
    idnps = str(value.get("idnps") or "").strip()
    if idnps:
        return idnps[:12]
    rpps = str(value.get("rpps") or "").strip()
    return f"8{rpps}"[:12] if rpps else None


@dataclass(frozen=True)
class DossierLiberal:
    dossier_id: int
    numero: str
    module: Module
    patient: str
    etat: str
    created_at: dt.datetime | None
    reponse: Reponse


@dataclass(frozen=True)
class EspaceLiberal:
    en_attente: list[DossierLiberal]
    refuses: list[DossierLiberal]
    compteurs: dict[str, int]  # module → dossiers awaiting his answer


def _idnps(uow: UnitOfWork, user_id: int) -> str:
    user = uow.users.get(user_id)
    if not user.est_medecin or not user.identifiant_national:
        raise Forbidden("L'espace médecin libéral est réservé aux médecins identifiés par leur carte CPS.",
                        code="liberal.medecin")
    return user.identifiant_national


def espace(uow: UnitOfWork, user_id: int) -> EspaceLiberal:
    rows = uow.accounts.dossiers_medecin_traitant(_idnps(uow, user_id), user_id)
    en_attente = [r for r in rows if r.reponse is Reponse.EN_ATTENTE]
    compteurs = {m.value: sum(1 for r in en_attente if r.module is m) for m in Module}
    return EspaceLiberal(en_attente=en_attente, refuses=[r for r in rows if r.reponse is Reponse.REFUSEE],
                         compteurs=compteurs)


def rechercher(uow: UnitOfWork, user_id: int, recherche: str) -> list[DossierLiberal]:
    """His dossiers (médecin traitant, or author) by patient name prefix or dossier number."""
    return uow.accounts.dossiers_medecin_traitant(_idnps(uow, user_id), user_id, recherche=recherche,
                                                  include_owned=True)


def repondre(uow: UnitOfWork, env: Env, user_id: int, dossier_id: int, reponse: Reponse) -> Dossier:
    idnps = _idnps(uow, user_id)
    dossier = uow.dossiers.get(dossier_id)
    if medecin_traitant_idnps(dossier.module, dossier.volets) != idnps:
        raise NotFound("Dossier introuvable.")  # not his: say nothing of it
    if reponse is Reponse.EN_ATTENTE:
        raise Forbidden("Réponse invalide.", code="liberal.reponse")
    uow.accounts.set_reponse(dossier_id, user_id, reponse.value, env.clock.now())
    from orientation_core.people.accounts import record

    record(uow, user_id, env.clock.now(), f"medecin_traitant.{reponse.value}", user_id,
           apres={"dossier": dossier.numero})
    return dossier

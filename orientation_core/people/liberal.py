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
    medecin_traitant: bool = True  # the dossier names him médecin traitant (else: one he created, his own)
    owner_user_id: int | None = None  # a médecin libéral's own dossier (None: a unit's dossier)


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


def a_accepte(uow: UnitOfWork, user_id: int, dossier: Dossier) -> bool:
    """The user is the médecin traitant this dossier names and accepted it: he may read it (DOMAIN.md §6)."""
    user = uow.users.get(user_id)
    if not user.est_medecin or not user.identifiant_national or not dossier.numero:
        return False
    if medecin_traitant_idnps(dossier.module, dossier.volets) != user.identifiant_national:
        return False
    rows = uow.accounts.dossiers_medecin_traitant(user.identifiant_national, user_id, recherche=dossier.numero)
    return any(r.dossier_id == dossier.id and r.reponse is Reponse.ACCEPTEE for r in rows)


def mes_dossiers(uow: UnitOfWork, user_id: int) -> list[DossierLiberal]:
    """"Accéder à mes dossiers": those he created and those he accepted as médecin traitant, newest first."""
    rows = uow.accounts.dossiers_medecin_traitant(_idnps(uow, user_id), user_id, include_owned=True)
    return [r for r in rows if r.owner_user_id == user_id or r.reponse is Reponse.ACCEPTEE]


@dataclass(frozen=True)
class DelegationRecue:
    """A délégation received and active now: whose dossiers, until when, and those dossiers."""

    delegation_id: int
    delegant: str
    type: str
    debut: dt.datetime
    fin: dt.datetime
    dossiers: list[DossierLiberal]


def delegations_recues(uow: UnitOfWork, env: Env, user_id: int) -> list[DelegationRecue]:
    """The délégants' own dossiers this user may read now through an active délégation (confrère or assistant
    with the right to read), as the rights check sees them (orientation_core.people.policy)."""
    from orientation_core.people.policy import Action, delegated_actions

    user = uow.users.get(user_id)
    now = env.clock.now()
    out: list[DelegationRecue] = []
    for d in uow.users.delegations_received(user_id):
        if d.id is None or not d.active_at(now) or Action.DOSSIER_LIRE not in delegated_actions(d, user.est_medecin):
            continue
        delegant = uow.users.get(d.delegant_id)
        rows = (uow.accounts.dossiers_medecin_traitant(delegant.identifiant_national, d.delegant_id,
                                                       include_owned=True)
                if delegant.identifiant_national else [])
        out.append(DelegationRecue(delegation_id=d.id, delegant=delegant.nom_complet, type=d.type.value,
                                   debut=d.debut, fin=d.fin,
                                   dossiers=[r for r in rows if r.owner_user_id == d.delegant_id]))
    return out


@dataclass(frozen=True)
class NouveauPatient:
    """"Créer un dossier" from the médecin libéral space: the patient's identity as typed (strings from a form)."""

    module: str
    nom_naissance: str
    prenoms: str
    date_naissance: str
    sexe: str


def creer_dossier(uow: UnitOfWork, env: Env, user_id: int, form: NouveauPatient) -> Dossier:
    """Registers the patient and creates the dossier in the médecin libéral's own space (he is its owner).
    Every field in error is reported at once (``details["champs"]``), in French."""
    from orientation_core.dossier import service as dossiers
    from orientation_core.errors import ValidationFailed
    from orientation_core.patients import service as patients
    from orientation_core.patients.model import Patient, Sexe

    _idnps(uow, user_id)
    errors: dict[str, str] = {}
    module = next((m for m in Module if m.value == form.module), None)
    if module is None:
        errors["module"] = "Choisissez le type de dossier."
    if not form.nom_naissance.strip():
        errors["nom_naissance"] = "Le nom de naissance est obligatoire."
    prenoms = form.prenoms.replace(",", " ").split()
    if not prenoms:
        errors["prenoms"] = "Au moins un prénom de naissance est obligatoire."
    naissance: dt.date | None = None
    try:
        naissance = dt.date.fromisoformat(form.date_naissance.strip())
    except ValueError:
        errors["date_naissance"] = "Saisissez la date de naissance (jour, mois, année)."
    if naissance is not None and naissance > env.clock.now().date():
        errors["date_naissance"] = "La date de naissance ne peut pas être dans le futur."
    sexe = next((x for x in Sexe if x.value == form.sexe), None)
    if sexe is None:
        errors["sexe"] = "Choisissez le sexe."
    if errors or module is None or naissance is None or sexe is None:
        raise ValidationFailed("Le formulaire comporte des erreurs.", code="liberal.dossier",
                               details={"champs": errors})
    patient = patients.register(uow, env, Patient(nom_naissance=form.nom_naissance.strip().upper(),
                                                  prenoms=prenoms, date_naissance=naissance, sexe=sexe))
    assert patient.id is not None
    return dossiers.creer(uow, env, user_id, module, patient.id)
